#pragma once
// DistilBertConfig: Hugging Face's field names and defaults, read from and written to
// config.json (transformers' configuration_distilbert.py).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <utility>
#include <string>
#include <string_view>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/models/config_file.hpp"
#include "tinyxf/models/labels.hpp"

namespace tinyxf::models {

struct DistilBertConfig {
  std::int64_t vocab_size = 30522;
  std::int64_t max_position_embeddings = 512;
  bool sinusoidal_pos_embds = false;
  std::int64_t n_layers = 6;
  std::int64_t n_heads = 12;
  std::int64_t dim = 768;
  std::int64_t hidden_dim = 3072;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  std::string activation = "gelu";
  double initializer_range = 0.02;
  double qa_dropout = 0.1;
  double seq_classif_dropout = 0.2;
  std::int64_t pad_token_id = 0;
  std::int64_t num_labels = 2;
  // HF's problem_type: "regression", "single_label_classification", "multi_label_classification",
  // or empty (config.json's null: the sequence classifier's first forward with labels infers it from
  // num_labels and the labels' dtype, encoder_ops::classification_problem_type, and sets it here).
  std::string problem_type;
  double layer_norm_eps = 1e-12;  // fixed in DistilBERT; BERT checkpoints carry their own
  std::map<std::int64_t, std::string> id2label;  // optional label names

  // Upper bounds of validate(): far above every published DistilBERT/BERT checkpoint, low enough
  // that no size computed from a config can overflow (docs/reliability.md).
  struct Limits {
    static constexpr std::int64_t vocab_size = std::int64_t{1} << 24;
    static constexpr std::int64_t max_position_embeddings = std::int64_t{1} << 20;
    static constexpr std::int64_t n_layers = 1024;
    static constexpr std::int64_t dim = std::int64_t{1} << 16;
    static constexpr std::int64_t hidden_dim = std::int64_t{1} << 18;
    static constexpr std::int64_t num_labels = std::int64_t{1} << 20;
    static constexpr std::int64_t parameters = std::int64_t{1} << 32;  // 16 GiB of float32
  };

  // Parameters of a DistilBertForSequenceClassification with this configuration (the MaskedLM
  // model differs by a few dim-sized tensors). Exact for valid configurations.
  std::int64_t classification_parameter_count() const {
    const std::int64_t embeddings = (vocab_size + max_position_embeddings) * dim + 2 * dim;
    const std::int64_t attention = 4 * (dim * dim + dim) + 2 * dim;
    const std::int64_t ffn = dim * hidden_dim + hidden_dim + hidden_dim * dim + dim + 2 * dim;
    const std::int64_t head = dim * dim + dim + dim * num_labels + num_labels;
    return embeddings + n_layers * (attention + ffn) + head;
  }

  // Throws tinyxf::Error naming the first field that is out of range.
  void validate() const {
    const ConfigChecks check("DistilBertConfig");
    const auto in_range = [&](const char* field, std::int64_t value, std::int64_t low, std::int64_t high) {
      check.in_range(field, value, low, high);
    };
    in_range("vocab_size", vocab_size, 1, Limits::vocab_size);
    in_range("max_position_embeddings", max_position_embeddings, 1, Limits::max_position_embeddings);
    in_range("n_layers", n_layers, 0, Limits::n_layers);
    in_range("dim", dim, 1, Limits::dim);
    in_range("n_heads", n_heads, 1, dim);
    TINYXF_CHECK(dim % n_heads == 0, "DistilBertConfig: dim ", dim, " must be a multiple of n_heads ", n_heads);
    in_range("hidden_dim", hidden_dim, 1, Limits::hidden_dim);
    in_range("num_labels", num_labels, 1, Limits::num_labels);
    in_range("pad_token_id", pad_token_id, 0, vocab_size - 1);
    check.activation("activation", activation);
    check.probability("dropout", dropout);
    check.probability("attention_dropout", attention_dropout);
    check.probability("seq_classif_dropout", seq_classif_dropout);
    check.probability("qa_dropout", qa_dropout);
    check.problem_type(problem_type);
    check.norms_init_and_labels(layer_norm_eps, initializer_range, id2label, num_labels);
    const std::int64_t parameters = classification_parameter_count();
    TINYXF_CHECK(parameters <= Limits::parameters, "DistilBertConfig: the model would have ", parameters,
                 " parameters (", parameters / (std::int64_t{1} << 28), " GiB of float32), more than the limit of ",
                 Limits::parameters, " (check vocab_size, dim, hidden_dim, n_layers)");
  }

  // From a parsed config.json. Accepts HF's aliases (hidden_size, num_attention_heads,
  // num_hidden_layers) and derives num_labels from id2label like transformers does. Errors name
  // the field (a wrong type, a non-integral or out-of-range number, a malformed id2label key).
  static DistilBertConfig from_json(const json::Value& j) {
    DistilBertConfig c;
    TINYXF_CHECK(j.is_object(), "DistilBertConfig: config.json must hold a JSON object");
    const ConfigFields fields(j);
    fields.get("vocab_size", c.vocab_size);
    fields.get("max_position_embeddings", c.max_position_embeddings);
    if (j.find("sinusoidal_pos_embds")) c.sinusoidal_pos_embds = j.get<bool>("sinusoidal_pos_embds");
    fields.get("n_layers", c.n_layers);
    fields.get("num_hidden_layers", c.n_layers);
    fields.get("n_heads", c.n_heads);
    fields.get("num_attention_heads", c.n_heads);
    fields.get("dim", c.dim);
    fields.get("hidden_size", c.dim);
    fields.get("hidden_dim", c.hidden_dim);
    fields.get("dropout", c.dropout);
    fields.get("attention_dropout", c.attention_dropout);
    if (j.find("activation")) c.activation = j.get<std::string>("activation");
    fields.get("initializer_range", c.initializer_range);
    fields.get("qa_dropout", c.qa_dropout);
    fields.get("seq_classif_dropout", c.seq_classif_dropout);
    fields.get("pad_token_id", c.pad_token_id);
    if (const std::int64_t named = labels::read_id2label(j, c.id2label, "DistilBertConfig")) c.num_labels = named;
    fields.get("num_labels", c.num_labels);
    fields.get("layer_norm_eps", c.layer_norm_eps);  // BERT-derived models carry their own
    fields.get("problem_type", c.problem_type);
    c.validate();
    return c;
  }

  static std::int64_t parse_label_id(std::string_view key) { return labels::parse_label_id(key, "DistilBertConfig"); }

  // `architecture` names the model class, as transformers records it (the model's
  // Model::architecture: save_pretrained and Trainer checkpoints pass it).
  json::Value to_json(std::string_view architecture) const {
    auto [id2, label2] = labels::to_json(id2label, num_labels);
    json::Object o;
    o.push_back("architectures", json::Array{json::Value(architecture)});
    o.push_back("model_type", "distilbert");
    o.push_back("vocab_size", vocab_size);
    o.push_back("max_position_embeddings", max_position_embeddings);
    o.push_back("sinusoidal_pos_embds", sinusoidal_pos_embds);
    o.push_back("n_layers", n_layers);
    o.push_back("n_heads", n_heads);
    o.push_back("dim", dim);
    o.push_back("hidden_dim", hidden_dim);
    o.push_back("dropout", dropout);
    o.push_back("attention_dropout", attention_dropout);
    o.push_back("activation", activation);
    o.push_back("initializer_range", initializer_range);
    o.push_back("qa_dropout", qa_dropout);
    o.push_back("seq_classif_dropout", seq_classif_dropout);
    o.push_back("pad_token_id", pad_token_id);
    // transformers' DistilBERT hard-codes 1e-12; another eps only comes from BERT-derived models.
    if (layer_norm_eps != DistilBertConfig{}.layer_norm_eps) o.push_back("layer_norm_eps", layer_norm_eps);
    o.push_back("id2label", std::move(id2));
    o.push_back("label2id", std::move(label2));
    if (!problem_type.empty()) o.push_back("problem_type", problem_type);  // transformers omits a null one
    o.push_back("tie_weights_", true);
    o.push_back("torch_dtype", "float32");
    return json::Value(std::move(o));
  }

  static DistilBertConfig load(const std::filesystem::path& path) { return load_config_file<DistilBertConfig>(path); }
  // config.json naming the model class `architecture` (Model::architecture), atomically.
  void save(const std::filesystem::path& path, std::string_view architecture) const {
    save_config_file(path, to_json(architecture));
  }
};

}  // namespace tinyxf::models
