#pragma once
// Hugging Face model folders for DistilBERT: from_pretrained / save_pretrained.
//
//   auto [model, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(dir);
//   models::save_pretrained(*model, out_dir, tokenizer.vocab());
//
// A folder holds config.json + model.safetensors (+ vocab.txt for the tokenizer), as transformers'
// save_pretrained writes it. Loading is name-based (var_builder.hpp): each module parameter is
// looked up by its HF name under one of two declared namings:
//   - DistilBERT (model_type "distilbert"): HF names, with or without the "distilbert." prefix (a
//     bare DistilBertModel checkpoint), old LayerNorm names gamma/beta, a stale position_ids.
//   - BERT (model_type "bert", or BERT-style tensor names): a BERT encoder has DistilBERT's post-LN
//     block, so its tensors rename one to one onto the DistilBERT modules (table in docs/models.md);
//     token-type embedding 0 is folded into the position table since DistilBERT has no token types.
//     (The BERT family has its own native models, models/bert/; this path remains for DistilBERT
//     modules initialized from BERT weights.)
// Head tensors the checkpoint lacks (a MaskedLM checkpoint has no pre_classifier/classifier) keep
// transformers' initialization and are listed in the returned LoadReport; tensors the model does not
// use are listed as ignored. Missing or misshaped encoder tensors are errors naming the tensor and file.
#include <algorithm>
#include <concepts>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/models/distilbert/config.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/models/hf_folder.hpp"

namespace tinyxf::models {

template <class M>
concept DistilBertFamily = std::same_as<M, DistilBertModel> || std::same_as<M, DistilBertForSequenceClassification> ||
                           std::same_as<M, DistilBertForMaskedLM> ||
                           std::same_as<M, DistilBertForTokenClassification> ||
                           std::same_as<M, DistilBertForQuestionAnswering>;

// DistilBERT checkpoints: HF's own names, "distilbert." optional, legacy gamma/beta.
inline CheckpointNaming distilbert_naming() { return {{"distilbert."}, legacy_layer_norm_renames()}; }

// BERT checkpoints (BertModel / BertForMaskedLM) onto DistilBERT modules: the renames of the table
// in docs/models.md. Each applies once per key, in this order ("attention.output.dense" before
// "output.dense").
inline CheckpointNaming bert_to_distilbert_naming() {
  CheckpointNaming n{{"bert.", "distilbert."}, legacy_layer_norm_renames()};
  n.renames.insert(n.renames.end(), {{"encoder.layer", "transformer.layer"},
                                     {"attention.self.query", "attention.q_lin"},
                                     {"attention.self.key", "attention.k_lin"},
                                     {"attention.self.value", "attention.v_lin"},
                                     {"attention.output.dense", "attention.out_lin"},
                                     {"attention.output.LayerNorm", "sa_layer_norm"},
                                     {"intermediate.dense", "ffn.lin1"},
                                     {"output.dense", "ffn.lin2"},
                                     {"output.LayerNorm", "output_layer_norm"},
                                     {"cls.predictions.transform.dense", "vocab_transform"},
                                     {"cls.predictions.transform.LayerNorm", "vocab_layer_norm"},
                                     {"cls.predictions.bias", "vocab_projector.bias"}});
  return n;
}

namespace pretrained_detail {

inline bool looks_like_bert(const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    const std::string key = k.starts_with("bert.") ? k.substr(5) : k;
    if (key.starts_with("encoder.layer.") || key.starts_with("embeddings.token_type_embeddings.") ||
        key.starts_with("cls.predictions."))
      return true;
  }
  return false;
}

// Names (without "distilbert.") of the encoder, which must come from the checkpoint.
inline bool is_encoder_name(const std::string& canonical) {
  return canonical.starts_with("embeddings.") || canonical.starts_with("transformer.") ||
         canonical.starts_with("encoder.");
}

// Loads `source` into `model`; `sinusoidal` = the position table may be absent (it is computed).
inline LoadReport load_weights(nn::Module& model, bool sinusoidal, const WeightSource& source, const char* model_class) {
  const bool bert = looks_like_bert(source.names());
  const VarBuilder vb(source, bert ? bert_to_distilbert_naming() : distilbert_naming());
  auto strip = [](const std::string& name) {
    return name.starts_with("distilbert.") ? name.substr(std::string_view("distilbert.").size()) : name;
  };
  auto may_be_missing = [&](const std::string& name) {
    const std::string n = strip(name);
    return !is_encoder_name(n) || (sinusoidal && n == "embeddings.position_embeddings.weight");
  };
  auto unexpected_is_error = [](const std::string& canonical) {
    return is_encoder_name(canonical) && canonical != "embeddings.position_ids" &&
           canonical != "embeddings.token_type_embeddings.weight";
  };
  LoadReport report = load_module(model, vb, model_class, may_be_missing, unexpected_is_error);
  report.layout = bert ? "bert" : "distilbert";

  // DistilBERT has no token types: BERT's type-0 row (every input's) joins the position table.
  const std::string token_type_key = vb.file_key("embeddings.token_type_embeddings.weight");
  if (!bert || token_type_key.empty()) return report;
  std::erase(report.ignored, token_type_key);
  Tensor positions;
  std::string positions_name;
  for (const auto& [name, t] : model.named_parameters())
    if (strip(name) == "embeddings.position_embeddings.weight") std::tie(positions_name, positions) = std::pair(name, t);
  const Shape table = source.info(token_type_key).shape;
  TINYXF_CHECK(table.size() == 2 && table[0] >= 1 && table[1] == positions.shape()[1], "from_pretrained: ",
               source.description(), " does not fit ", model_class, ": tensor '", token_type_key,
               "' should be a [type_vocab_size, ", positions.shape()[1], "] table, got ", shape_str(table));
  const Tensor row0 = vb.get(table, "embeddings.token_type_embeddings.weight").narrow(0, 0, 1);
  NoGradGuard no_grad;
  positions.copy_((positions.to(Device::cpu()) + row0).to(positions.device()));
  report.renamed.emplace_back(token_type_key + "[0]", positions_name);
  return report;
}

}  // namespace pretrained_detail

// A DistilBertConfig from a parsed config.json of a DistilBERT or a BERT model. BERT fields map
// as hidden_size -> dim, num_hidden_layers -> n_layers, num_attention_heads -> n_heads,
// intermediate_size -> hidden_dim, hidden_act -> activation, hidden_dropout_prob -> dropout,
// attention_probs_dropout_prob -> attention_dropout; layer_norm_eps, vocab_size,
// max_position_embeddings, pad_token_id keep their names.
inline DistilBertConfig config_from_json(const json::Value& j) {
  TINYXF_CHECK(j.is_object(), "config.json must hold a JSON object");
  std::string model_type;
  if (const auto* v = j.find("model_type"); v && v->is_string()) model_type = v->as_string();
  if (model_type.empty()) model_type = j.contains("intermediate_size") ? "bert" : "distilbert";
  TINYXF_CHECK(model_type == "distilbert" || model_type == "bert", "unsupported model_type '", model_type,
               "' (supported: distilbert, bert)");
  DistilBertConfig c = DistilBertConfig::from_json(j);  // also reads BERT's aliases hidden_size & co.
  auto number = [&](const char* key, double& field) {
    if (const auto* v = j.find(key); v && v->is_number()) field = v->as_double();
  };
  if (model_type == "bert") {
    if (const auto* v = j.find("position_embedding_type"); v && v->is_string())
      TINYXF_CHECK(v->as_string() == "absolute", "BERT position_embedding_type '", v->as_string(),
                   "' is not supported (only absolute position embeddings map onto DistilBERT)");
    if (const auto* v = j.find("intermediate_size")) c.hidden_dim = v->as_int();
    if (const auto* v = j.find("hidden_act")) c.activation = v->as_string();
    number("hidden_dropout_prob", c.dropout);
    number("attention_probs_dropout_prob", c.attention_dropout);
    number("classifier_dropout", c.seq_classif_dropout);  // null in most BERT configs: DistilBERT's default stays
  }
  c.validate();
  return c;
}

inline DistilBertConfig load_pretrained_config(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  const json::Value j = pretrained_detail::read_config_json(path);
  try {
    return config_from_json(j);
  } catch (const Error& e) {
    throw Error("from_pretrained: " + path.string() + ": " + e.what());
  }
}

// Loads a checkpoint file into an existing model (whose shapes must match the checkpoint's).
template <DistilBertFamily Model>
LoadReport load_pretrained_weights(Model& model, const std::filesystem::path& weights_file) {
  return pretrained_detail::load_weights(model, model.config.sinusoidal_pos_embds, WeightSource(weights_file),
                                         Model::architecture);
}
// ... or from named tensors (a state dict) with checkpoint names.
template <DistilBertFamily Model>
LoadReport load_pretrained_weights(Model& model, const WeightSource& source) {
  return pretrained_detail::load_weights(model, model.config.sinusoidal_pos_embds, source,
                                         Model::architecture);
}

// Builds Model from dir/config.json and loads dir/model.safetensors into it, in eval mode
// (as transformers' from_pretrained), on options.device.
template <DistilBertFamily Model>
Pretrained<Model> from_pretrained(const std::filesystem::path& dir, const PretrainedOptions& options = {}) {
  DistilBertConfig config = load_pretrained_config(dir);
  if (options.num_labels && *options.num_labels != config.num_labels) {
    config.num_labels = *options.num_labels;
    config.id2label.clear();
    config.validate();
  }
  const auto weights = pretrained_weights_file(dir);
  [[maybe_unused]] Generator& gen = options.generator ? *options.generator : default_generator();
  Pretrained<Model> out;
  // Random values only for the tensors the file lacks, the ones eager init would have drawn.
  nn::init::DeferredInit deferred;
  if constexpr (std::same_as<Model, DistilBertModel>)
    out.model = std::make_shared<Model>(config);  // every tensor must come from the file
  else
    out.model = std::make_shared<Model>(config, gen);
  out.report = load_pretrained_weights(*out.model, weights);
  deferred.finish();
  out.model->eval();
  if (options.device != Device::cpu()) out.model->to(options.device);
  if (options.verbose) std::cerr << out.report.str() << '\n';
  return out;
}

// Writes dir/config.json and dir/model.safetensors (HF names, tied tensors stored once, metadata
// {"format": "pt"}) atomically, creating dir; transformers' from_pretrained reads them back.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir) {
  pretrained_detail::save_weights_and_config(model, model.config.to_json(Model::architecture), dir);
}

// ... plus the tokenizer's vocabulary as dir/vocab.txt.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const text::Vocab& vocab) {
  save_pretrained(model, dir);
  pretrained_detail::save_vocab(vocab, dir);
}

// ... plus the tokenizer as transformers' tokenizer.save_pretrained writes it (vocab.txt,
// tokenizer.json, tokenizer_config.json with its padding / truncation sides: save_pretrained_tokenizer).
// A tokenizer save_pretrained_tokenizer refuses is refused before any file is written.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const text::BertTokenizer& tokenizer) {
  const TokenizerFiles tokenizer_files = pretrained_tokenizer_files(tokenizer, "DistilBertTokenizer");  // refused before the model is written
  save_pretrained(model, dir);
  tokenizer_files.write(dir);
}

// ... plus a copy of an existing vocab.txt (one the tokenizer cannot read is refused before any
// file is written).
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const std::filesystem::path& vocab_file) {
  const std::string vocab = pretrained_detail::checked_vocab_file(vocab_file);  // refused before the model is written
  save_pretrained(model, dir);
  io::write_file_atomic(dir / "vocab.txt", vocab);
}

}  // namespace tinyxf::models
