#pragma once
// Name-based weight loading (candle's VarBuilder, the lookup half of transformers' from_pretrained).
//
//   models::VarBuilder vb(models::WeightSource(dir / "model.safetensors"), models::bert_naming());
//   auto w = vb.pp("encoder").pp("layer").pp(3).get({out, in}, "attention.self.query.weight");
//   models::LoadReport report = models::load_module(model, vb);   // every parameter by its own name
//
// A WeightSource is a safetensors file, a torch.save file (pytorch_model.bin), a sharded checkpoint
// or a module state dict. A CheckpointNaming holds the only
// architecture-specific part, the renames between checkpoint keys and module names: dotted pieces
// renamed (HF's legacy gamma/beta -> weight/bias, a BERT checkpoint's names onto DistilBERT modules)
// and a base-model prefix ("bert." / "distilbert.") that either side may carry or not. get() checks
// dtype and shape and names the tensor, the file and both shapes when they disagree.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/safetensors.hpp"
#include "tinyxf/io/torch_checkpoint.hpp"
#include "tinyxf/nn/module.hpp"

namespace tinyxf::models {

// Where named tensors come from: a safetensors file (memory-mapped, converted to float32 on get),
// a torch.save file (pytorch_model.bin: each tensor read from the zip on get), a sharded checkpoint
// (an *.index.json naming one of those files per tensor) or an in-memory state dict.
class WeightSource {
 public:
  struct Info {
    Shape shape;
    bool floating = true;
    std::string dtype;
  };

  // A safetensors or torch.save file, told apart by its first bytes (io::is_torch_save_file) or,
  // for a damaged one, by its extension (.bin, .pt, .pth: torch's); or a sharded checkpoint's
  // index (a name ending in ".index.json", transformers' model.safetensors.index.json /
  // pytorch_model.bin.index.json), whose shards lie in the same folder.
  explicit WeightSource(const std::filesystem::path& weights_file) : description_(weights_file.string()) {
    if (weights_file.filename().string().ends_with(".index.json")) {
      open_index(weights_file);
    } else {
      add_shard(weights_file);
    }
  }
  explicit WeightSource(nn::NamedTensors state_dict, std::string description = "state dict")
      : tensors_(std::move(state_dict)), description_(std::move(description)) {
    for (const auto& [name, t] : tensors_) names_.push_back(name);
  }

  const std::vector<std::string>& names() const { return names_; }
  // The file path (the index of a sharded checkpoint, or "state dict"), for messages.
  const std::string& description() const { return description_; }
  // The safetensors file, where the source is exactly one; nullptr otherwise.
  const io::SafetensorsFile* file() const { return shards_.size() == 1 ? shards_.front().safetensors.get() : nullptr; }

  Info info(const std::string& name) const {
    if (shards_.empty()) return {find(name).shape(), true, "F32"};
    const Shard& shard = shard_of(name);
    const auto info_of = [](const auto& i) {
      return Info{Shape(i.shape.begin(), i.shape.end()), io::is_floating_point(i.dtype), std::string(io::dtype_name(i.dtype))};
    };
    return shard.safetensors ? info_of(shard.safetensors->info(name)) : info_of(shard.torch->info(name));
  }
  // The tensor as float32 on the CPU (a new tensor for a file, the state dict's own tensor otherwise).
  Tensor read(const std::string& name) const {
    if (shards_.empty()) return find(name);
    const Shard& shard = shard_of(name);
    return Tensor::from_vector(shard.safetensors ? shard.safetensors->to_float32(name) : shard.torch->to_float32(name),
                               info(name).shape);
  }

 private:
  struct Shard {
    std::shared_ptr<const io::SafetensorsFile> safetensors;
    std::shared_ptr<const io::TorchCheckpoint> torch;
  };

  // Opens one file and records its tensors; a name already held by another shard is an error.
  void add_shard(const std::filesystem::path& path) {
    Shard shard;
    std::vector<std::string> names;
    const auto ext = path.extension();
    if (io::is_torch_save_file(path) || ext == ".bin" || ext == ".pt" || ext == ".pth") {
      shard.torch = std::make_shared<io::TorchCheckpoint>(path);
      names = shard.torch->names();
    } else {
      shard.safetensors = std::make_shared<io::SafetensorsFile>(path);
      names = shard.safetensors->names();
    }
    for (auto& name : names) {
      const auto [it, inserted] = shard_index_.emplace(name, shards_.size());
      TINYXF_CHECK(inserted, "WeightSource: tensor '", name, "' is in two shards of ", description_, ": ",
                   shard_source(shards_[it->second]), " and ", path.string());
      names_.push_back(std::move(name));
    }
    shards_.push_back(std::move(shard));
  }

  static std::string shard_source(const Shard& shard) {
    return shard.safetensors ? shard.safetensors->source() : shard.torch->source();
  }

  // transformers' index: {"metadata": {...}, "weight_map": {"tensor name": "shard file name"}}.
  // Every shard it names is opened (in first-mention order) and must hold the tensors mapped to it.
  void open_index(const std::filesystem::path& index) {
    const json::Value j = json::parse(io::read_file(index, io::limits::json_file));
    const json::Value* map = j.find("weight_map");
    TINYXF_CHECK(map != nullptr && map->is_object(), "WeightSource: ", index.string(),
                 " has no \"weight_map\" object (not a sharded checkpoint index)");
    std::vector<std::string> files;
    for (const auto& [tensor, file] : map->as_object()) {
      TINYXF_CHECK(file.is_string(), "WeightSource: ", index.string(), ": the shard of '", tensor, "' is not a string");
      const std::string& name = file.as_string();
      // A shard is a file next to the index, never a path elsewhere.
      TINYXF_CHECK(!name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
                       name != "." && name != "..",
                   "WeightSource: ", index.string(), ": shard '", name, "' of '", tensor,
                   "' is not a file name in the index's folder");
      if (std::find(files.begin(), files.end(), name) == files.end()) files.push_back(name);
    }
    TINYXF_CHECK(!files.empty(), "WeightSource: ", index.string(), " maps no tensor to a shard");
    for (const auto& name : files) add_shard(index.parent_path() / name);  // shard i is files[i]
    for (const auto& [tensor, file] : map->as_object()) {
      const auto it = shard_index_.find(tensor);
      TINYXF_CHECK(it != shard_index_.end() && files[it->second] == file.as_string(), "WeightSource: ", index.string(),
                   " maps '", tensor, "' to ", file.as_string(), ", which does not hold it");
    }
  }

  const Shard& shard_of(const std::string& name) const {
    const auto it = shard_index_.find(name);
    if (it == shard_index_.end()) throw Error("WeightSource: no tensor '" + name + "' in " + description_);
    return shards_[it->second];
  }
  const Tensor& find(const std::string& name) const {
    for (const auto& [n, t] : tensors_)
      if (n == name) return t;
    throw Error("WeightSource: no tensor '" + name + "' in " + description_);
  }
  std::vector<Shard> shards_;
  std::map<std::string, std::size_t, std::less<>> shard_index_;
  nn::NamedTensors tensors_;
  std::vector<std::string> names_;
  std::string description_;
};

// How an architecture's checkpoint keys relate to its module names.
struct CheckpointNaming {
  // The base model's prefix ("bert.", "distilbert."): a checkpoint of a task model carries it, a
  // bare base model's does not; either loads into either (transformers' base_model_prefix). Both
  // checkpoint keys and module names are compared without it; several are allowed (DistilBERT
  // modules reading a BERT checkpoint strip "distilbert." on the model side, "bert." on the file's).
  std::vector<std::string> base_prefixes;
  // Checkpoint -> module renames of whole dotted pieces, applied in order, each at most once per key
  // (e.g. {"gamma", "weight"}, {"attention.self.query", "attention.q_lin"}).
  std::vector<std::pair<std::string, std::string>> renames;
};

// HF's legacy LayerNorm names, which transformers renames on load in every architecture.
inline std::vector<std::pair<std::string, std::string>> legacy_layer_norm_renames() {
  return {{"gamma", "weight"}, {"beta", "bias"}};
}

// What loading did with each tensor. Parameter names are the model's own (named_parameters()),
// file names the checkpoint's keys.
struct LoadReport {
  std::filesystem::path weights_file;
  std::string layout;                                        // the checkpoint's architecture family
  std::vector<std::string> loaded;                           // model parameters filled from the file
  std::vector<std::string> newly_initialized;                // model parameters the file lacks (fresh init)
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

class VarBuilder {
 public:
  explicit VarBuilder(WeightSource source, CheckpointNaming naming = {})
      : state_(std::make_shared<State>(std::move(source), std::move(naming))) {
    for (const auto& key : state_->source.names()) {
      const std::string canonical = state_->canonical_file_key(key);
      auto [it, inserted] = state_->by_canonical.emplace(canonical, key);
      if (!inserted)
        state_->conflicts.push_back("tensors '" + it->second + "' and '" + key + "' both name '" + canonical + "'");
    }
  }

  // A builder for the names under `name` ("encoder" then "layer" then 3 -> "encoder.layer.3.").
  VarBuilder pp(std::string_view name) const {
    VarBuilder child = *this;
    child.prefix_ += std::string(name) + ".";
    return child;
  }
  VarBuilder pp(std::int64_t index) const { return pp(std::to_string(index)); }
  const std::string& prefix() const { return prefix_; }
  const WeightSource& source() const { return state_->source; }
  const CheckpointNaming& naming() const { return state_->naming; }

  // The checkpoint key that holds module tensor prefix()+name, or "" when there is none.
  std::string file_key(std::string_view name) const {
    const auto it = state_->by_canonical.find(state_->canonical_model_name(prefix_ + std::string(name)));
    return it == state_->by_canonical.end() ? std::string() : it->second;
  }
  bool contains(std::string_view name) const { return !file_key(name).empty(); }

  // The tensor prefix()+name as float32, checked against the shape the module expects; marks it used.
  Tensor get(const Shape& shape, std::string_view name) const {
    const std::string full = prefix_ + std::string(name);
    TINYXF_CHECK(state_->conflicts.empty(), "VarBuilder: ", state_->source.description(), ":",
                 join_lines(state_->conflicts));
    const std::string key = file_key(name);
    TINYXF_CHECK(!key.empty(), "VarBuilder: tensor '", full, "' ", shape_str(shape), " not found in ",
                 state_->source.description());
    const WeightSource::Info info = state_->source.info(key);
    TINYXF_CHECK(info.floating, "VarBuilder: tensor '", key, "' has dtype ", info.dtype, " in ",
                 state_->source.description(), ", expected a floating-point type");
    TINYXF_CHECK(info.shape == shape, "VarBuilder: tensor '", key, "' has shape ", shape_str(info.shape), " in ",
                 state_->source.description(), ", the model (config.json) expects ", shape_str(shape), " for '", full,
                 "'");
    state_->used.insert(key);
    return state_->source.read(key);
  }

  // Checkpoint keys no get() has asked for (yet), in file order.
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& key : state_->source.names())
      if (!state_->used.count(key)) out.push_back(key);
    return out;
  }
  // The key with the base prefix stripped and the renames applied (the name a module would use).
  std::string canonical(const std::string& file_key) const { return state_->canonical_file_key(file_key); }

  static std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    const std::size_t shown = std::min<std::size_t>(lines.size(), 20);
    for (std::size_t i = 0; i < shown; ++i) text += "\n  " + lines[i];
    if (lines.size() > shown) text += "\n  ... and " + std::to_string(lines.size() - shown) + " more";
    return text;
  }

 private:
  struct State {
    State(WeightSource s, CheckpointNaming n) : source(std::move(s)), naming(std::move(n)) {}
    WeightSource source;
    CheckpointNaming naming;
    std::map<std::string, std::string> by_canonical;  // canonical name -> file key
    std::set<std::string> used;
    std::vector<std::string> conflicts;

    std::string strip_base(const std::string& name) const {
      for (const auto& p : naming.base_prefixes)
        if (!p.empty() && name.starts_with(p)) return name.substr(p.size());
      return name;
    }
    std::string canonical_file_key(const std::string& key) const {
      std::string dotted = "." + strip_base(key) + ".";
      for (const auto& [from, to] : naming.renames) {
        const auto at = dotted.find("." + from + ".");
        if (at != std::string::npos) dotted.replace(at + 1, from.size(), to);
      }
      return dotted.substr(1, dotted.size() - 2);
    }
    std::string canonical_model_name(const std::string& name) const { return strip_base(name); }
  };
  std::shared_ptr<State> state_;
  std::string prefix_;
};

// Which parameters may be absent from the checkpoint (they keep the model's fresh initialization).
using MissingPolicy = std::function<bool(const std::string& parameter_name)>;
// Which unused checkpoint keys are errors rather than "ignored" (a tensor of the model's own
// encoder that fits nowhere means config.json does not match the weights).
using UnexpectedPolicy = std::function<bool(const std::string& canonical_key)>;

// Fills every parameter of `module` by its own dotted name through `vb` (tied tensors once, under
// their first name). All problems are collected and reported together, naming each tensor.
inline LoadReport load_module(nn::Module& module, const VarBuilder& vb, const std::string& model_class,
                              const MissingPolicy& may_be_missing = {},
                              const UnexpectedPolicy& unexpected_is_error = {}) {
  LoadReport report;
  report.weights_file = vb.source().description();
  std::vector<std::string> errors;
  std::vector<std::pair<std::string, Tensor>> values;
  for (const auto& [name, parameter] : module.named_parameters()) {
    if (!vb.contains(name)) {
      if (may_be_missing && may_be_missing(name))
        report.newly_initialized.push_back(name);
      else
        errors.push_back("missing tensor '" + name + "' " + shape_str(parameter.shape()));
      continue;
    }
    try {
      values.emplace_back(name, vb.get(parameter.shape(), name));
    } catch (const Error& e) {
      errors.push_back(std::string(e.what()).substr(std::string_view("VarBuilder: ").size()));
      continue;
    }
    report.loaded.push_back(name);
    if (const std::string key = vb.file_key(name); key != name) report.renamed.emplace_back(key, name);
  }
  for (const auto& key : vb.unused()) {
    if (unexpected_is_error && unexpected_is_error(vb.canonical(key)))
      errors.push_back("unexpected tensor '" + key + "': the model built from config.json has no parameter '" +
                       vb.canonical(key) + "' (does config.json match the weights?)");
    else
      report.ignored.push_back(key);
  }
  TINYXF_CHECK(errors.empty(), "from_pretrained: ", vb.source().description(), " does not fit ", model_class, ":",
               VarBuilder::join_lines(errors));
  NoGradGuard no_grad;
  const auto parameters = module.named_parameters();
  for (auto& [name, value] : values)
    for (const auto& [n, target] : parameters)
      if (n == name) {
        Tensor dst = target;
        dst.copy_(value.to(dst.device()));
      }
  return report;
}

}  // namespace tinyxf::models
