#pragma once
#include "tinyxf/nn/module.hpp"
#include "tinyxf/nn/init.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/nn/rnn.hpp"
#include "tinyxf/nn/conv.hpp"
