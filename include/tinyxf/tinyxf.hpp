#pragma once
// tinyxf: a header-only C++20 tensor and autograd framework with backend plugins.
// This header brings in everything a user needs.
#include "tinyxf/core/error.hpp"
#include "tinyxf/core/dtype.hpp"
#include "tinyxf/core/device.hpp"
#include "tinyxf/core/tensor.hpp"
#include "tinyxf/core/print.hpp"
#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/autograd/gradcheck.hpp"
#include "tinyxf/ops/shape.hpp"
#include "tinyxf/ops/reduce.hpp"
#include "tinyxf/ops/elementwise.hpp"
#include "tinyxf/ops/matmul.hpp"
#include "tinyxf/ops/nn.hpp"
#include "tinyxf/interop/xtensor.hpp"
// Backends register themselves when included.
#include "tinyxf/backends/reference.hpp"
#include "tinyxf/backends/cpu.hpp"
