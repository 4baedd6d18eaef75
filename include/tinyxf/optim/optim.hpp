#pragma once
// tinyxf::optim: optimizers (SGD, Adam, AdamW), learning-rate schedules, gradient clipping and
// the Hugging Face Trainer's weight-decay parameter groups. See docs/optim.md.
#include "tinyxf/optim/optimizer.hpp"
#include "tinyxf/optim/sgd.hpp"
#include "tinyxf/optim/adam.hpp"
#include "tinyxf/optim/lr_scheduler.hpp"
#include "tinyxf/optim/reduce_lr_on_plateau.hpp"
#include "tinyxf/optim/clip_grad.hpp"
#include "tinyxf/optim/param_groups.hpp"
#include "tinyxf/optim/grad_scaler.hpp"
