#pragma once
// DistilBertConfig: Hugging Face's field names and defaults, read from and written to
// config.json (transformers' configuration_distilbert.py).
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"

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
  double layer_norm_eps = 1e-12;  // fixed in DistilBERT; BERT checkpoints carry their own
  std::map<std::int64_t, std::string> id2label;  // optional label names

  void validate() const {
    TINYXF_CHECK(dim > 0 && n_heads > 0 && dim % n_heads == 0, "DistilBertConfig: dim ", dim,
                 " must be a positive multiple of n_heads ", n_heads);
    TINYXF_CHECK(vocab_size > 0 && n_layers >= 0 && hidden_dim > 0 && max_position_embeddings > 0,
                 "DistilBertConfig: vocab_size, hidden_dim, max_position_embeddings must be positive "
                 "and n_layers non-negative");
    TINYXF_CHECK(num_labels >= 1, "DistilBertConfig: num_labels must be >= 1, got ", num_labels);
    TINYXF_CHECK(activation == "gelu" || activation == "relu" || activation == "gelu_new" ||
                     activation == "gelu_pytorch_tanh",
                 "DistilBertConfig: unsupported activation '", activation, "'");
    TINYXF_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size, "DistilBertConfig: pad_token_id ",
                 pad_token_id, " outside the vocabulary of ", vocab_size);
    for (double p : {dropout, attention_dropout, seq_classif_dropout, qa_dropout})
      TINYXF_CHECK(p >= 0 && p < 1, "DistilBertConfig: dropout probabilities must be in [0, 1), got ", p);
  }

  // From a parsed config.json. Accepts HF's aliases (hidden_size, num_attention_heads,
  // num_hidden_layers) and derives num_labels from id2label like transformers does.
  static DistilBertConfig from_json(const json::Value& j) {
    DistilBertConfig c;
    TINYXF_CHECK(j.is_object(), "DistilBertConfig: config.json must hold a JSON object");
    auto get_int = [&](const char* key, std::int64_t& field) {
      if (auto* v = j.find(key)) field = v->as_int();
    };
    auto get_double = [&](const char* key, double& field) {
      if (auto* v = j.find(key)) field = v->as_double();
    };
    get_int("vocab_size", c.vocab_size);
    get_int("max_position_embeddings", c.max_position_embeddings);
    if (auto* v = j.find("sinusoidal_pos_embds")) c.sinusoidal_pos_embds = v->as_bool();
    get_int("n_layers", c.n_layers);
    get_int("num_hidden_layers", c.n_layers);
    get_int("n_heads", c.n_heads);
    get_int("num_attention_heads", c.n_heads);
    get_int("dim", c.dim);
    get_int("hidden_size", c.dim);
    get_int("hidden_dim", c.hidden_dim);
    get_double("dropout", c.dropout);
    get_double("attention_dropout", c.attention_dropout);
    if (auto* v = j.find("activation")) c.activation = v->as_string();
    get_double("initializer_range", c.initializer_range);
    get_double("qa_dropout", c.qa_dropout);
    get_double("seq_classif_dropout", c.seq_classif_dropout);
    if (auto* v = j.find("pad_token_id"); v && !v->is_null()) c.pad_token_id = v->as_int();
    if (auto* v = j.find("id2label"); v && v->is_object()) {
      for (const auto& [k, name] : v->as_object()) {
        std::int64_t id = 0;
        try {
          id = std::stoll(k);
        } catch (const std::exception&) {
          throw Error("DistilBertConfig: id2label key '" + k + "' is not an integer");
        }
        c.id2label[id] = name.as_string();
      }
      c.num_labels = static_cast<std::int64_t>(c.id2label.size());
    }
    get_int("num_labels", c.num_labels);
    get_double("layer_norm_eps", c.layer_norm_eps);  // BERT-derived models carry their own
    c.validate();
    return c;
  }

  // `architecture` names the model class, as transformers records it.
  json::Value to_json(std::string_view architecture = "DistilBertForSequenceClassification") const {
    json::Object id2, label2;
    for (std::int64_t i = 0; i < num_labels; ++i) {
      const auto it = id2label.find(i);
      const std::string name = it != id2label.end() ? it->second : "LABEL_" + std::to_string(i);
      id2.push_back(std::to_string(i), name);
      label2.push_back(name, i);
    }
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
    o.push_back("tie_weights_", true);
    o.push_back("torch_dtype", "float32");
    return json::Value(std::move(o));
  }

  static DistilBertConfig load(const std::filesystem::path& path) {
    try {
      return from_json(json::parse(io::read_file(path)));
    } catch (const Error& e) {
      throw Error("reading " + path.string() + ": " + e.what());
    }
  }
  void save(const std::filesystem::path& path) const {
    io::write_file_atomic(path, json::dump(to_json(), 2) + "\n");
  }
};

}  // namespace tinyxf::models
