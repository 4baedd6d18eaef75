#pragma once
// DistilBERT: configuration, modules (DistilBertModel, DistilBertForSequenceClassification,
// DistilBertForMaskedLM, DistilBertForTokenClassification, DistilBertForQuestionAnswering) and
// Hugging Face checkpoints (from_pretrained / save_pretrained).
// See docs/models.md.
#include "tinyxf/models/distilbert/config.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/models/distilbert/pretrained.hpp"
