#pragma once
// tinyxf: a header-only C++20 tensor and autograd framework with backend plugins.
// This header brings in everything a user needs (distributed training, which needs MPI or NCCL,
// has its own headers: docs/distributed.md); the per-layer headers can be included alone.

#include "tinyxf/tensor.hpp"
// modules, models, checkpoints
#include "tinyxf/nn/nn.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/safetensors.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/bert/bert.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/models/fill_mask.hpp"
// text, data, training
#include "tinyxf/text/bert_tokenizer.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/data/language_modeling.hpp"
#include "tinyxf/data/conll.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/train/trainer.hpp"
#include "tinyxf/train/question_answering.hpp"
#include "tinyxf/train/seqeval.hpp"
