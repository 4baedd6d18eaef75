#pragma once
// Hugging Face model folders for DistilBERT: from_pretrained / save_pretrained.
//
//   auto [model, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(dir);
//   models::save_pretrained(*model, out_dir, tokenizer.vocab());
//
// A folder holds config.json + model.safetensors (+ vocab.txt for the tokenizer), as transformers'
// save_pretrained writes it. Two checkpoint layouts load:
//   - DistilBERT (model_type "distilbert"): HF names, with or without the "distilbert." prefix (a
//     bare DistilBertModel checkpoint), old LayerNorm names gamma/beta, a stale position_ids.
//   - BERT (model_type "bert", or BERT-style tensor names): a BERT encoder has DistilBERT's post-LN
//     block, so its tensors map one to one onto the DistilBERT modules (table in docs/models.md);
//     token-type embedding 0 is folded into the position table since DistilBERT has no token types.
// Head tensors the checkpoint lacks (a MaskedLM checkpoint has no pre_classifier/classifier) keep
// transformers' initialization and are listed in the returned LoadReport; tensors the model does not
// use are listed as ignored. Missing or misshaped encoder tensors are errors naming the tensor and file.
#include <algorithm>
#include <concepts>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/safetensors.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/distilbert/config.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"
#include "tinyxf/text/vocab.hpp"

namespace tinyxf::models {

template <class M>
concept DistilBertFamily = std::same_as<M, DistilBertModel> || std::same_as<M, DistilBertForSequenceClassification> ||
                           std::same_as<M, DistilBertForMaskedLM>;

// What from_pretrained did with each tensor. Names are the model's own parameter names
// (named_parameters()), file names are the checkpoint's keys.
struct LoadReport {
  std::filesystem::path weights_file;
  std::string layout;                                        // "distilbert" or "bert"
  std::vector<std::string> loaded;                           // model parameters filled from the file
  std::vector<std::string> newly_initialized;                // model parameters the file lacks (HF init)
  std::vector<std::string> ignored;                          // file tensors the model does not use
  std::vector<std::pair<std::string, std::string>> renamed;  // file name -> model name, where they differ

  // Human-readable summary, in the spirit of transformers' loading warnings.
  std::string str() const {
    std::ostringstream os;
    os << "loaded " << loaded.size() << " tensors from " << weights_file.string() << " (" << layout << " layout)";
    auto list = [&os](const char* title, const std::vector<std::string>& names) {
      if (names.empty()) return;
      os << "\n  " << title << " (" << names.size() << "):";
      for (const auto& n : names) os << ' ' << n;
    };
    list("newly initialized, not in the checkpoint", newly_initialized);
    list("ignored, not used by the model", ignored);
    return os.str();
  }
};

struct PretrainedOptions {
  Device device = Device::cpu();
  // Overrides config.json's num_labels (a new classification head for fine-tuning). A checkpoint
  // whose classifier has another size then fails with a size mismatch.
  std::optional<std::int64_t> num_labels;
  // Draws the initialization of tensors the checkpoint lacks; nullptr = default_generator().
  Generator* generator = nullptr;
  bool verbose = false;  // print the LoadReport to stderr
};

template <DistilBertFamily Model>
struct Pretrained {
  std::shared_ptr<Model> model;
  LoadReport report;
};

namespace pretrained_detail {

inline constexpr std::string_view kEncoderPrefix = "distilbert.";

template <DistilBertFamily M>
constexpr const char* class_name() {
  if constexpr (std::same_as<M, DistilBertModel>) return "DistilBertModel";
  if constexpr (std::same_as<M, DistilBertForSequenceClassification>) return "DistilBertForSequenceClassification";
  if constexpr (std::same_as<M, DistilBertForMaskedLM>) return "DistilBertForMaskedLM";
}

// A bare encoder's parameters carry no "distilbert." prefix; the loader works with prefixed names.
template <DistilBertFamily M>
constexpr bool is_bare_encoder() {
  return std::same_as<M, DistilBertModel>;
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) { return shape_str(Shape(shape.begin(), shape.end())); }

// TF-era checkpoints name LayerNorm parameters gamma/beta (transformers renames them on load).
inline std::string fix_legacy_name(std::string key) {
  const auto dot = key.rfind('.');
  const std::size_t last = dot == std::string::npos ? 0 : dot + 1;
  if (key.compare(last, std::string::npos, "gamma") == 0) key.replace(last, 5, "weight");
  if (key.compare(last, std::string::npos, "beta") == 0) key.replace(last, 4, "bias");
  return key;
}

inline std::string strip_bert_prefix(const std::string& key) {
  return key.starts_with("bert.") ? key.substr(5) : key;
}

inline bool looks_like_bert(const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    const std::string key = strip_bert_prefix(k);
    if (key.starts_with("encoder.layer.") || key.starts_with("embeddings.token_type_embeddings.") ||
        key.starts_with("cls.predictions."))
      return true;
  }
  return false;
}

// Where a checkpoint tensor goes: `canonical` is the DistilBERT name with the "distilbert." prefix
// (as in DistilBertFor* models); empty = ignored.
struct Mapping {
  std::string canonical;
  bool fold_into_positions = false;  // BERT's token_type_embeddings (row 0 joins the position table)
  bool unmappable = false;           // an encoder tensor with no DistilBERT counterpart
};

// BERT (BertModel / BertForMaskedLM) name, without "bert.", onto DistilBERT (docs/models.md has the table).
inline Mapping map_bert_key(const std::string& key) {
  static const std::pair<std::string_view, std::string_view> layer_parts[] = {
      {"attention.self.query.", "attention.q_lin."},       {"attention.self.key.", "attention.k_lin."},
      {"attention.self.value.", "attention.v_lin."},       {"attention.output.dense.", "attention.out_lin."},
      {"attention.output.LayerNorm.", "sa_layer_norm."}, {"intermediate.dense.", "ffn.lin1."},
      {"output.dense.", "ffn.lin2."},                      {"output.LayerNorm.", "output_layer_norm."}};
  static const std::pair<std::string_view, std::string_view> head_parts[] = {
      {"cls.predictions.transform.dense.", "vocab_transform."},
      {"cls.predictions.transform.LayerNorm.", "vocab_layer_norm."}};
  auto is_param_suffix = [](std::string_view s) { return s == "weight" || s == "bias"; };

  if (key == "embeddings.position_ids") return {};
  if (key == "embeddings.token_type_embeddings.weight") return {"", true, false};
  if (key == "embeddings.word_embeddings.weight" || key == "embeddings.position_embeddings.weight" ||
      key == "embeddings.LayerNorm.weight" || key == "embeddings.LayerNorm.bias")
    return {"distilbert." + key};
  if (key.starts_with("encoder.layer.")) {
    const std::string rest = key.substr(std::string_view("encoder.layer.").size());
    const auto dot = rest.find('.');
    const std::string index = rest.substr(0, dot);
    const bool numeric = !index.empty() && std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && dot != std::string::npos) {
      const std::string part = rest.substr(dot + 1);
      for (const auto& [from, to] : layer_parts)
        if (part.starts_with(from) && is_param_suffix(std::string_view(part).substr(from.size())))
          return {"distilbert.transformer.layer." + index + "." + std::string(to) + part.substr(from.size())};
    }
    return {"", false, true};
  }
  if (key.starts_with("embeddings.")) return {"", false, true};
  for (const auto& [from, to] : head_parts)
    if (key.starts_with(from) && is_param_suffix(std::string_view(key).substr(from.size())))
      return {std::string(to) + key.substr(from.size())};
  if (key == "cls.predictions.bias" || key == "cls.predictions.decoder.bias") return {"vocab_projector.bias"};
  return {};  // pooler, NSP head, other task heads, cls.predictions.decoder.weight (tied to word embeddings)
}

inline Mapping map_distilbert_key(const std::string& key, bool file_has_prefix) {
  std::string canonical = key;
  if (!file_has_prefix && (key.starts_with("embeddings.") || key.starts_with("transformer.")))
    canonical = "distilbert." + key;
  if (canonical == "distilbert.embeddings.position_ids") return {};
  return {canonical};
}

inline std::string join_errors(const std::vector<std::string>& errors) {
  std::string text;
  const std::size_t shown = std::min<std::size_t>(errors.size(), 20);
  for (std::size_t i = 0; i < shown; ++i) text += "\n  " + errors[i];
  if (errors.size() > shown) text += "\n  ... and " + std::to_string(errors.size() - shown) + " more";
  return text;
}

// Loads `file` into `model`. `bare` = the model is a DistilBertModel (names without "distilbert.").
inline LoadReport load_weights(nn::Module& model, bool bare, bool sinusoidal, const std::filesystem::path& file,
                               const char* model_class) {
  const io::SafetensorsFile st(file);
  const std::string source = st.source();
  LoadReport report;
  report.weights_file = file;
  const bool bert = looks_like_bert(st.names());
  report.layout = bert ? "bert" : "distilbert";

  // Model parameters by canonical (prefixed) name; tied tensors appear once, as HF stores them.
  std::map<std::string, std::pair<std::string, Tensor<float>>> targets;  // canonical -> (model name, tensor)
  for (auto& [name, tensor] : model.named_parameters())
    targets.emplace(bare ? std::string(kEncoderPrefix) + name : name, std::make_pair(name, tensor));

  bool file_has_prefix = false;
  for (const auto& k : st.names()) file_has_prefix = file_has_prefix || k.starts_with(kEncoderPrefix);

  // Pass 1: names only, so that every naming problem is reported at once before any copying.
  std::map<std::string, std::string> source_of;  // canonical -> file key
  std::string token_type_key;
  std::vector<std::string> errors;
  for (const auto& key : st.names()) {
    const std::string fixed = fix_legacy_name(key);
    const Mapping m = bert ? map_bert_key(strip_bert_prefix(fixed)) : map_distilbert_key(fixed, file_has_prefix);
    if (m.unmappable) {
      errors.push_back("tensor '" + key + "' has no DistilBERT counterpart (unsupported BERT variant?)");
      continue;
    }
    if (m.fold_into_positions) {
      token_type_key = key;
      continue;
    }
    if (m.canonical.empty() || !targets.count(m.canonical)) {
      if (m.canonical.starts_with(kEncoderPrefix))
        errors.push_back("unexpected tensor '" + key + "': the model built from config.json has no parameter '" +
                         m.canonical + "' (does config.json match the weights?)");
      else
        report.ignored.push_back(key);
      continue;
    }
    if (m.canonical == "vocab_projector.bias" && key.ends_with("cls.predictions.decoder.bias") &&
        st.contains(key.substr(0, key.size() - std::string_view("decoder.bias").size()) + "bias")) {
      report.ignored.push_back(key);  // transformers ties decoder.bias to predictions.bias
      continue;
    }
    auto [it, inserted] = source_of.emplace(m.canonical, key);
    if (!inserted)
      errors.push_back("tensors '" + it->second + "' and '" + key + "' both map to '" + m.canonical + "'");
  }

  // Pass 2: missing tensors. Encoder tensors are required; heads keep their fresh initialization.
  for (const auto& [canonical, target] : targets) {
    if (source_of.count(canonical)) continue;
    const bool encoder = canonical.starts_with(kEncoderPrefix);
    if (encoder && !(sinusoidal && canonical == "distilbert.embeddings.position_embeddings.weight"))
      errors.push_back("missing tensor '" + target.first + "' " + shape_str(target.second.shape()));
    else
      report.newly_initialized.push_back(target.first);
  }

  // Pass 3: dtypes and shapes, then copy.
  std::vector<float> token_type_row;
  if (!token_type_key.empty()) {
    const auto& info = st.info(token_type_key);
    if (!io::is_floating_point(info.dtype) || info.shape.size() != 2 || info.shape[0] < 1)
      errors.push_back("tensor '" + token_type_key + "' should be a floating [type_vocab_size, dim] table, got " +
                       std::string(io::dtype_name(info.dtype)) + " " + shape_text(info.shape));
    else {
      token_type_row = st.to_float32(token_type_key);
      token_type_row.resize(static_cast<std::size_t>(info.shape[1]));
    }
  }
  for (const auto& [canonical, key] : source_of) {
    const auto& info = st.info(key);
    const Tensor<float>& target = targets.at(canonical).second;
    const Shape shape(info.shape.begin(), info.shape.end());
    if (!io::is_floating_point(info.dtype))
      errors.push_back("tensor '" + key + "' has dtype " + std::string(io::dtype_name(info.dtype)) +
                       ", expected a floating-point type");
    else if (shape != target.shape())
      errors.push_back("tensor '" + key + "' has shape " + shape_str(shape) + ", the model (config.json) expects " +
                       shape_str(target.shape()) + " for " + targets.at(canonical).first);
    else if (!token_type_row.empty() && canonical == "distilbert.embeddings.position_embeddings.weight" &&
             static_cast<std::int64_t>(token_type_row.size()) != shape[1])
      errors.push_back("tensor '" + token_type_key + "' has width " + std::to_string(token_type_row.size()) +
                       ", the position table " + std::to_string(shape[1]));
  }
  TINYXF_CHECK(errors.empty(), "from_pretrained: ", source, " does not fit ", model_class, ":", join_errors(errors));

  NoGradGuard no_grad;
  for (const auto& [canonical, key] : source_of) {
    const auto& [name, target] = targets.at(canonical);
    std::vector<float> values = st.to_float32(key);
    if (!token_type_row.empty() && canonical == "distilbert.embeddings.position_embeddings.weight") {
      const std::size_t width = token_type_row.size();
      for (std::size_t i = 0; i < values.size(); ++i) values[i] += token_type_row[i % width];
      report.renamed.emplace_back(token_type_key + "[0]", name);
    }
    Tensor<float> dst = target;
    dst.copy_(Tensor<float>::from_vector(values, target.shape()));
    report.loaded.push_back(name);
    if (key != name) report.renamed.emplace_back(key, name);
  }
  // Order the report as the model orders its parameters.
  std::map<std::string, std::size_t> position;
  for (const auto& [name, t] : model.named_parameters()) position.emplace(name, position.size());
  auto by_model_order = [&](const std::string& a, const std::string& b) { return position.at(a) < position.at(b); };
  std::sort(report.loaded.begin(), report.loaded.end(), by_model_order);
  std::sort(report.newly_initialized.begin(), report.newly_initialized.end(), by_model_order);
  return report;
}

inline json::Value read_config_json(const std::filesystem::path& path) {
  TINYXF_CHECK(std::filesystem::is_regular_file(path), "from_pretrained: ", path.string(), " not found");
  try {
    return json::parse(io::read_file(path, io::limits::json_file));
  } catch (const Error& e) {
    throw Error("from_pretrained: reading " + path.string() + ": " + e.what());
  }
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

// The weights file of a model folder, with a helpful error when there is none.
inline std::filesystem::path pretrained_weights_file(const std::filesystem::path& dir) {
  const auto path = dir / "model.safetensors";
  if (std::filesystem::is_regular_file(path)) return path;
  TINYXF_CHECK(!std::filesystem::exists(dir / "model.safetensors.index.json"), "from_pretrained: ", dir.string(),
               " holds a sharded checkpoint (model.safetensors.index.json), which is not supported");
  TINYXF_CHECK(!std::filesystem::exists(dir / "pytorch_model.bin"), "from_pretrained: ", dir.string(),
               " holds only pytorch_model.bin; convert it to model.safetensors (transformers: "
               "model.save_pretrained(dir, safe_serialization=True))");
  throw Error("from_pretrained: " + path.string() + " not found");
}

// Loads a checkpoint file into an existing model (whose shapes must match the checkpoint's).
template <DistilBertFamily Model>
LoadReport load_pretrained_weights(Model& model, const std::filesystem::path& weights_file) {
  return pretrained_detail::load_weights(model, pretrained_detail::is_bare_encoder<Model>(),
                                         model.config.sinusoidal_pos_embds, weights_file,
                                         pretrained_detail::class_name<Model>());
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
  if constexpr (std::same_as<Model, DistilBertModel>)
    out.model = std::make_shared<Model>(config);  // every tensor must come from the file: no init needed
  else
    out.model = std::make_shared<Model>(config, gen);
  out.report = load_pretrained_weights(*out.model, weights);
  out.model->eval();
  if (options.device != Device::cpu()) out.model->to(options.device);
  if (options.verbose) std::cerr << out.report.str() << '\n';
  return out;
}

// The WordPiece tokenizer of a model folder (vocab.txt). tinyxf's tokenizer is the uncased one.
inline text::BertTokenizer load_pretrained_tokenizer(const std::filesystem::path& dir) {
  const auto vocab = dir / "vocab.txt";
  TINYXF_CHECK(std::filesystem::is_regular_file(vocab), "load_pretrained_tokenizer: ", vocab.string(), " not found");
  if (const auto cfg = dir / "tokenizer_config.json"; std::filesystem::is_regular_file(cfg)) {
    const json::Value j = pretrained_detail::read_config_json(cfg);
    if (const auto* lower = j.find("do_lower_case"); lower && lower->is_bool())
      TINYXF_CHECK(lower->as_bool(), "load_pretrained_tokenizer: ", cfg.string(),
                   " asks for a cased tokenizer (do_lower_case false); tinyxf's BertTokenizer is uncased");
  }
  return text::BertTokenizer::from_file(vocab);
}

// Writes dir/config.json and dir/model.safetensors (HF names, tied tensors stored once, metadata
// {"format": "pt"}) atomically, creating dir; transformers' from_pretrained reads them back.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nn::NamedTensors unique;  // tied tensors (vocab_projector.weight) are stored once, as HF does
  std::set<const TensorImpl*> seen;
  for (const auto& [name, tensor] : model.state_dict())
    if (seen.insert(tensor.impl().get()).second) unique.emplace_back(name, tensor);
  io::save_float_tensors(dir / "model.safetensors", unique, {{"format", "pt"}});
  const json::Value config = model.config.to_json(pretrained_detail::class_name<Model>());
  io::write_file_atomic(dir / "config.json", json::dump(config, 2) + "\n");
}

// ... plus the tokenizer's vocabulary as dir/vocab.txt.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const text::Vocab& vocab) {
  save_pretrained(model, dir);
  std::string text;
  for (std::size_t id = 0; id < vocab.size(); ++id) (text += vocab.token(static_cast<text::TokenId>(id))) += '\n';
  io::write_file_atomic(dir / "vocab.txt", text);
}

// ... plus a copy of an existing vocab.txt.
template <DistilBertFamily Model>
void save_pretrained(const Model& model, const std::filesystem::path& dir, const std::filesystem::path& vocab_file) {
  text::Vocab::from_file(vocab_file);  // refuse a file the tokenizer could not read back
  const std::string text = io::read_file(vocab_file, io::limits::vocab_file);
  save_pretrained(model, dir);
  io::write_file_atomic(dir / "vocab.txt", text);
}

}  // namespace tinyxf::models
