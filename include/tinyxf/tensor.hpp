#pragma once
// The tensor library alone: tensors, autograd, ops and the host backends (reference, cpu),
// without models, text or training. <tinyxf/tinyxf.hpp> includes this and everything else.
// core: tensors, autograd, ops
#include "tinyxf/core/error.hpp"
#include "tinyxf/core/dtype.hpp"
#include "tinyxf/core/device.hpp"
#include "tinyxf/core/parallel.hpp"
#include "tinyxf/core/tensor.hpp"
#include "tinyxf/core/autocast.hpp"
#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/ops/shape.hpp"
#include "tinyxf/ops/reduce.hpp"
#include "tinyxf/ops/elementwise.hpp"
#include "tinyxf/ops/matmul.hpp"
#include "tinyxf/ops/nn.hpp"
#include "tinyxf/ops/gather_scatter.hpp"
#include "tinyxf/ops/sort.hpp"
#include "tinyxf/ops/random.hpp"
#include "tinyxf/ops/einsum.hpp"
#include "tinyxf/ops/loss.hpp"
#include "tinyxf/ops/distance.hpp"
#include "tinyxf/ops/attention.hpp"
#include "tinyxf/ops/fused.hpp"
#include "tinyxf/ops/rnn.hpp"
#include "tinyxf/ops/conv.hpp"
#include "tinyxf/ops/print.hpp"
#include "tinyxf/ops/gradcheck.hpp"
// backends register themselves when included; CUDA's is a plugin loaded on first use of
// Device::cuda(i) (core/plugin.hpp), or linked with <tinyxf/backends/cuda.hpp> + tinyxf::cuda
#include "tinyxf/backends/reference.hpp"
#include "tinyxf/backends/cpu.hpp"
