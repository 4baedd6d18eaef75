#pragma once
// What every model family's from_pretrained / save_pretrained shares: Hugging Face model folders
// (config.json, model.safetensors or pytorch_model.bin, vocab.txt), loading options, and HF-compatible weight files.
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/var_builder.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"
#include "tinyxf/text/vocab.hpp"

namespace tinyxf::models {

struct PretrainedOptions {
  Device device = Device::cpu();
  // Overrides config.json's num_labels (a new classification head for fine-tuning). A checkpoint
  // whose classifier has another size then fails with a size mismatch.
  std::optional<std::int64_t> num_labels;
  // Draws the initialization of tensors the checkpoint lacks; nullptr = default_generator().
  Generator* generator = nullptr;
  bool verbose = false;  // print the LoadReport to stderr
};

// A model built from a folder and what loading did.
template <class Model>
struct Pretrained {
  std::shared_ptr<Model> model;
  LoadReport report;
};

namespace pretrained_detail {

inline json::Value read_config_json(const std::filesystem::path& path) {
  TINYXF_CHECK(std::filesystem::is_regular_file(path), "from_pretrained: ", path.string(), " not found");
  try {
    return json::parse(io::read_file(path, io::limits::json_file));
  } catch (const Error& e) {
    throw Error("from_pretrained: reading " + path.string() + ": " + e.what());
  }
}

// Writes dir/model.safetensors (tied tensors stored once, under their first name, as HF does;
// metadata {"format": "pt"}) and dir/config.json, atomically, creating dir.
inline void save_weights_and_config(const nn::Module& model, const json::Value& config,
                                    const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nn::NamedTensors unique;
  std::set<const TensorImpl*> seen;
  for (const auto& [name, tensor] : model.state_dict())
    if (seen.insert(tensor.impl().get()).second) unique.emplace_back(name, tensor);
  io::save_float_tensors(dir / "model.safetensors", unique, {{"format", "pt"}});
  io::write_file_atomic(dir / "config.json", json::dump(config, 2) + "\n");
}

inline void save_vocab(const text::Vocab& vocab, const std::filesystem::path& dir) {
  std::string text;
  for (std::size_t id = 0; id < vocab.size(); ++id) (text += vocab.token(static_cast<text::TokenId>(id))) += '\n';
  io::write_file_atomic(dir / "vocab.txt", text);
}

inline void copy_vocab(const std::filesystem::path& vocab_file, const std::filesystem::path& dir) {
  text::Vocab::from_file(vocab_file);  // refuse a file the tokenizer could not read back
  io::write_file_atomic(dir / "vocab.txt", io::read_file(vocab_file, io::limits::vocab_file));
}

}  // namespace pretrained_detail

// The architecture family of a model folder: config.json's model_type ("bert", "distilbert", ...),
// else derived from its first architectures entry ("BertFor…" -> "bert", "DistilBert…" ->
// "distilbert"), else "".
inline std::string pretrained_model_type(const std::filesystem::path& dir) {
  const json::Value j = pretrained_detail::read_config_json(dir / "config.json");
  if (const auto* v = j.find("model_type"); v && v->is_string()) return v->as_string();
  if (const auto* a = j.find("architectures"); a && a->is_array() && !a->as_array().empty() &&
                                               a->as_array().front().is_string()) {
    const std::string& name = a->as_array().front().as_string();
    if (name.starts_with("DistilBert")) return "distilbert";
    if (name.starts_with("Bert")) return "bert";
  }
  return "";
}

// The weights of a model folder, as transformers picks them: model.safetensors, the index of
// sharded safetensors (model.safetensors.index.json), pytorch_model.bin (torch.save's format,
// io/torch_checkpoint.hpp), its sharded index; a helpful error when there is none.
inline std::filesystem::path pretrained_weights_file(const std::filesystem::path& dir) {
  for (const char* name : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                           "pytorch_model.bin.index.json"})
    if (std::filesystem::is_regular_file(dir / name)) return dir / name;
  throw Error("from_pretrained: " + (dir / "model.safetensors").string() +
              " not found (nor pytorch_model.bin, nor a sharded index of either)");
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

}  // namespace tinyxf::models
