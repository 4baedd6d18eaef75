#pragma once
// Hugging Face model folders for the BERT family: from_pretrained / save_pretrained.
//
//   auto [model, report] = models::from_pretrained<models::BertForSequenceClassification>(dir);
//   models::save_pretrained(*model, out_dir, tokenizer.vocab());
//
// Loading is name-based (var_builder.hpp): every module parameter is looked up by its HF name; the
// only renames are the legacy gamma/beta and the "bert." prefix, which a checkpoint of any BERT
// class may carry or not. Head tensors the checkpoint lacks (a BertModel checkpoint has no
// classifier) keep transformers' initialization and are listed in the report; tensors the model
// does not use (a pooler for BertForMaskedLM, NSP heads, a stale position_ids) are listed as ignored.
#include <concepts>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "tinyxf/models/bert/config.hpp"
#include "tinyxf/models/bert/modeling.hpp"
#include "tinyxf/models/hf_folder.hpp"

namespace tinyxf::models {

template <class M>
concept BertFamily = std::same_as<M, BertModel> || std::same_as<M, BertForSequenceClassification> ||
                     std::same_as<M, BertForMaskedLM> || std::same_as<M, BertForTokenClassification> ||
                     std::same_as<M, BertForQuestionAnswering>;

inline CheckpointNaming bert_naming() { return {{"bert."}, legacy_layer_norm_renames()}; }

namespace bert_detail {
// The encoder (embeddings, layers, pooler) must come from the checkpoint; heads may be fresh.
inline bool is_encoder_name(const std::string& name) {
  const std::string n = name.starts_with("bert.") ? name.substr(5) : name;
  return n.starts_with("embeddings.") || n.starts_with("encoder.");
}
}  // namespace bert_detail

inline BertConfig load_bert_config(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  const json::Value j = pretrained_detail::read_config_json(path);
  try {
    return BertConfig::from_json(j);
  } catch (const Error& e) {
    throw Error("from_pretrained: " + path.string() + ": " + e.what());
  }
}

// Loads named tensors (a checkpoint file or a state dict) into an existing model by name.
template <BertFamily Model>
LoadReport load_bert_weights(Model& model, const WeightSource& source) {
  const VarBuilder vb(source, bert_naming());
  // A pooler the checkpoint lacks is fresh, as HF (a BertForMaskedLM checkpoint has none).
  auto may_be_missing = [](const std::string& name) {
    return !bert_detail::is_encoder_name(name);
  };
  auto unexpected_is_error = [](const std::string& canonical) {
    return canonical.starts_with("encoder.layer.") || (canonical.starts_with("embeddings.") &&
                                                       canonical != "embeddings.position_ids");
  };
  LoadReport report =
      load_module(model, vb, Model::architecture, may_be_missing, unexpected_is_error);
  report.layout = "bert";
  return report;
}

// Builds Model from dir/config.json and loads dir/model.safetensors into it, in eval mode (as
// transformers' from_pretrained), on options.device.
template <BertFamily Model>
Pretrained<Model> from_pretrained(const std::filesystem::path& dir, const PretrainedOptions& options = {}) {
  BertConfig config = load_bert_config(dir);
  if (options.num_labels && *options.num_labels != config.num_labels) {
    config.num_labels = *options.num_labels;
    config.id2label.clear();
    config.validate();
  }
  const WeightSource source(pretrained_weights_file(dir));
  Generator& gen = options.generator ? *options.generator : default_generator();
  Pretrained<Model> out;
  // Random values only for the tensors the file lacks, the ones eager init would have drawn.
  nn::init::DeferredInit deferred;
  if constexpr (std::same_as<Model, BertModel>)
    out.model = std::make_shared<Model>(config, true, gen);
  else
    out.model = std::make_shared<Model>(config, gen);
  out.report = load_bert_weights(*out.model, source);
  deferred.finish();
  out.report.weights_file = source.description();
  out.model->eval();
  if (options.device != Device::cpu()) out.model->to(options.device);
  if (options.verbose) std::cerr << out.report.str() << '\n';
  return out;
}

// Writes dir/config.json and dir/model.safetensors (HF names, the tied decoder stored once,
// metadata {"format": "pt"}) atomically, creating dir; transformers' from_pretrained reads them back.
template <BertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir) {
  pretrained_detail::save_weights_and_config(model, model.config.to_json(Model::architecture), dir);
}
// ... plus the tokenizer's vocabulary as dir/vocab.txt.
template <BertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const text::Vocab& vocab) {
  save_pretrained(model, dir);
  pretrained_detail::save_vocab(vocab, dir);
}
// ... plus the tokenizer as transformers' tokenizer.save_pretrained writes it (vocab.txt,
// tokenizer.json, tokenizer_config.json with its padding / truncation sides: save_pretrained_tokenizer).
// A tokenizer save_pretrained_tokenizer refuses is refused before any file is written.
template <BertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const text::BertTokenizer& tokenizer) {
  const TokenizerFiles tokenizer_files = pretrained_tokenizer_files(tokenizer, "BertTokenizer");  // refused before the model is written
  save_pretrained(model, dir);
  tokenizer_files.write(dir);
}
// ... plus a copy of an existing vocab.txt (one the tokenizer cannot read is refused before any
// file is written).
template <BertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const std::filesystem::path& vocab_file) {
  const std::string vocab = pretrained_detail::checked_vocab_file(vocab_file);  // refused before the model is written
  save_pretrained(model, dir);
  io::write_file_atomic(dir / "vocab.txt", vocab);
}

}  // namespace tinyxf::models
