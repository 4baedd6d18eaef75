#pragma once
// BERT: configuration, modules (BertModel, BertForSequenceClassification, BertForMaskedLM,
// BertForTokenClassification, BertForQuestionAnswering) and Hugging Face checkpoints (from_pretrained / save_pretrained). See docs/models.md.
#include "tinyxf/models/bert/config.hpp"
#include "tinyxf/models/bert/modeling.hpp"
#include "tinyxf/models/bert/pretrained.hpp"
