#pragma once
// BertConfig: Hugging Face's field names and defaults (transformers' configuration_bert.py), read
// from and written to config.json.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/models/config_file.hpp"
#include "tinyxf/models/labels.hpp"

namespace tinyxf::models {

struct BertConfig {
  std::int64_t vocab_size = 30522;
  std::int64_t hidden_size = 768;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  std::int64_t pad_token_id = 0;
  std::optional<double> classifier_dropout;  // null: the classifier uses hidden_dropout_prob
  std::int64_t num_labels = 2;
  // HF's problem_type: "regression", "single_label_classification", "multi_label_classification",
  // or empty (config.json's null: the sequence classifier's first forward with labels infers it from
  // num_labels and the labels' dtype, encoder_ops::classification_problem_type, and sets it here).
  std::string problem_type;
  std::map<std::int64_t, std::string> id2label;  // optional label names

  // Upper bounds of validate(), far above every published BERT checkpoint, low enough that no size
  // computed from a config can overflow (docs/reliability.md).
  struct Limits {
    static constexpr std::int64_t vocab_size = std::int64_t{1} << 24;
    static constexpr std::int64_t max_position_embeddings = std::int64_t{1} << 20;
    static constexpr std::int64_t type_vocab_size = std::int64_t{1} << 16;
    static constexpr std::int64_t num_hidden_layers = 1024;
    static constexpr std::int64_t hidden_size = std::int64_t{1} << 16;
    static constexpr std::int64_t intermediate_size = std::int64_t{1} << 18;
    static constexpr std::int64_t num_labels = std::int64_t{1} << 20;
    static constexpr std::int64_t parameters = std::int64_t{1} << 32;  // 16 GiB of float32
  };

  // Parameters of a BertForSequenceClassification (with pooler). Exact for valid configurations.
  std::int64_t classification_parameter_count() const {
    const std::int64_t h = hidden_size;
    const std::int64_t embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * h + 2 * h;
    const std::int64_t layer = 4 * (h * h + h) + 2 * h + 2 * h * intermediate_size + intermediate_size + h + 2 * h;
    const std::int64_t pooler = h * h + h;
    return embeddings + num_hidden_layers * layer + pooler + h * num_labels + num_labels;
  }

  // Throws tinyxf::Error naming the first field that is out of range.
  void validate() const {
    const ConfigChecks check("BertConfig");
    const auto in_range = [&](const char* field, std::int64_t value, std::int64_t low, std::int64_t high) {
      check.in_range(field, value, low, high);
    };
    in_range("vocab_size", vocab_size, 1, Limits::vocab_size);
    in_range("hidden_size", hidden_size, 1, Limits::hidden_size);
    in_range("num_hidden_layers", num_hidden_layers, 0, Limits::num_hidden_layers);
    in_range("num_attention_heads", num_attention_heads, 1, hidden_size);
    TINYXF_CHECK(hidden_size % num_attention_heads == 0, "BertConfig: hidden_size ", hidden_size,
                 " must be a multiple of num_attention_heads ", num_attention_heads);
    in_range("intermediate_size", intermediate_size, 1, Limits::intermediate_size);
    in_range("max_position_embeddings", max_position_embeddings, 1, Limits::max_position_embeddings);
    in_range("type_vocab_size", type_vocab_size, 1, Limits::type_vocab_size);
    in_range("num_labels", num_labels, 1, Limits::num_labels);
    in_range("pad_token_id", pad_token_id, 0, vocab_size - 1);
    check.activation("hidden_act", hidden_act);
    check.probability("hidden_dropout_prob", hidden_dropout_prob);
    check.probability("attention_probs_dropout_prob", attention_probs_dropout_prob);
    check.probability("classifier_dropout", classifier_dropout.value_or(0.0));
    check.problem_type(problem_type);
    check.norms_init_and_labels(layer_norm_eps, initializer_range, id2label, num_labels);
    const std::int64_t parameters = classification_parameter_count();
    TINYXF_CHECK(parameters <= Limits::parameters, "BertConfig: the model would have ", parameters,
                 " parameters, more than the limit of ", Limits::parameters,
                 " (check vocab_size, hidden_size, intermediate_size, num_hidden_layers)");
  }

  // From a parsed config.json. Errors name the field (a wrong type, a non-integral or out-of-range
  // number, a malformed id2label key, a position_embedding_type other than "absolute").
  static BertConfig from_json(const json::Value& j) {
    BertConfig c;
    TINYXF_CHECK(j.is_object(), "BertConfig: config.json must hold a JSON object");
    if (const auto* v = j.find("model_type"); v && v->is_string())
      TINYXF_CHECK(v->as_string() == "bert", "BertConfig: model_type is '", v->as_string(), "', not 'bert'");
    const ConfigFields fields(j);
    fields.get("vocab_size", c.vocab_size);
    fields.get("hidden_size", c.hidden_size);
    fields.get("num_hidden_layers", c.num_hidden_layers);
    fields.get("num_attention_heads", c.num_attention_heads);
    fields.get("intermediate_size", c.intermediate_size);
    fields.get("hidden_act", c.hidden_act);
    fields.get("hidden_dropout_prob", c.hidden_dropout_prob);
    fields.get("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
    fields.get("max_position_embeddings", c.max_position_embeddings);
    fields.get("type_vocab_size", c.type_vocab_size);
    fields.get("initializer_range", c.initializer_range);
    fields.get("layer_norm_eps", c.layer_norm_eps);
    fields.get("pad_token_id", c.pad_token_id);
    if (const auto* v = j.find("classifier_dropout"); v && !v->is_null())
      c.classifier_dropout = j.get<double>("classifier_dropout");
    if (const auto* v = j.find("position_embedding_type"); v && !v->is_null())
      TINYXF_CHECK(j.get<std::string>("position_embedding_type") == "absolute",
                   "BertConfig: position_embedding_type '", v->as_string(),
                   "' is not supported (only absolute position embeddings)");
    if (const std::int64_t named = labels::read_id2label(j, c.id2label, "BertConfig")) c.num_labels = named;
    fields.get("num_labels", c.num_labels);
    fields.get("problem_type", c.problem_type);
    c.validate();
    return c;
  }

  // `architecture` names the model class, as transformers records it (the model's
  // Model::architecture: save_pretrained and Trainer checkpoints pass it).
  json::Value to_json(std::string_view architecture) const {
    auto [id2, label2] = labels::to_json(id2label, num_labels);
    json::Object o;
    o.push_back("architectures", json::Array{json::Value(architecture)});
    o.push_back("model_type", "bert");
    o.push_back("vocab_size", vocab_size);
    o.push_back("hidden_size", hidden_size);
    o.push_back("num_hidden_layers", num_hidden_layers);
    o.push_back("num_attention_heads", num_attention_heads);
    o.push_back("intermediate_size", intermediate_size);
    o.push_back("hidden_act", hidden_act);
    o.push_back("hidden_dropout_prob", hidden_dropout_prob);
    o.push_back("attention_probs_dropout_prob", attention_probs_dropout_prob);
    o.push_back("max_position_embeddings", max_position_embeddings);
    o.push_back("type_vocab_size", type_vocab_size);
    o.push_back("initializer_range", initializer_range);
    o.push_back("layer_norm_eps", layer_norm_eps);
    o.push_back("pad_token_id", pad_token_id);
    o.push_back("position_embedding_type", "absolute");
    o.push_back("classifier_dropout", classifier_dropout ? json::Value(*classifier_dropout) : json::Value());
    o.push_back("id2label", std::move(id2));
    o.push_back("label2id", std::move(label2));
    if (!problem_type.empty()) o.push_back("problem_type", problem_type);  // transformers omits a null one
    o.push_back("torch_dtype", "float32");
    return json::Value(std::move(o));
  }

  static BertConfig load(const std::filesystem::path& path) { return load_config_file<BertConfig>(path); }
  // config.json naming the model class `architecture` (Model::architecture), atomically.
  void save(const std::filesystem::path& path, std::string_view architecture) const {
    save_config_file(path, to_json(architecture));
  }
};

}  // namespace tinyxf::models
