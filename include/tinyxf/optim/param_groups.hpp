#pragma once
// The Hugging Face Trainer's weight-decay split (Trainer.get_decay_parameter_names +
// create_optimizer): biases and normalization weights are not decayed, everything else is.
//
// transformers decides "normalization weight" by module type (inside an nn.LayerNorm) and, in
// newer versions, also by name. tinyxf has only names, so it uses the name rule of current
// transformers, matched on the lower-cased full parameter name:
//   contains "bias" | contains "layernorm" | contains "rmsnorm"
//   | a dotted component equal to "norm"     (regex (?:^|\.)norm(?:$|\.), e.g. "encoder.norm.weight")
//   | a component ending in "_norm"          (regex _norm(?:$|\.), e.g. "sa_layer_norm.weight")
// For DistilBERT and BERT this is exactly the module-type rule of transformers 4.44: "LayerNorm",
// "sa_layer_norm", "output_layer_norm", "vocab_layer_norm" and every "*.bias" are not decayed;
// word/position/token-type embeddings are decayed.
#include <cctype>
#include <string>
#include <string_view>

#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

// True when the Trainer would exclude this parameter name from weight decay.
inline bool is_no_decay_parameter(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("bias") != std::string::npos || lower.find("layernorm") != std::string::npos ||
      lower.find("rmsnorm") != std::string::npos)
    return true;
  // Walk the dotted components: "norm" itself, or a component ending in "_norm".
  std::size_t start = 0;
  while (start <= lower.size()) {
    std::size_t end = lower.find('.', start);
    if (end == std::string::npos) end = lower.size();
    const std::string_view component = std::string_view(lower).substr(start, end - start);
    if (component == "norm" || component.ends_with("_norm")) return true;
    start = end + 1;
  }
  return false;
}

// Two groups, in this order: [0] the decayed parameters with weight_decay, [1] the others with
// 0.0. Both keep their names and leave lr unset (the optimizer's default). Parameters that do
// not require grad are left out, as the Trainer does. Either group may be empty; both are always
// present, so group indices (for schedulers and checkpoints) do not depend on the model.
inline std::vector<ParamGroup> decay_parameter_groups(
    const std::vector<std::pair<std::string, Tensor>>& named_params, double weight_decay) {
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  no_decay.weight_decay = 0.0;
  for (const auto& [name, param] : named_params) {
    TINYXF_CHECK(param.defined(), "decay_parameter_groups: parameter '", name, "' is an undefined tensor");
    if (!param.requires_grad()) continue;
    ParamGroup& group = is_no_decay_parameter(name) ? no_decay : decay;
    group.params.push_back(param);
    group.names.push_back(name);
  }
  return {std::move(decay), std::move(no_decay)};
}

}  // namespace tinyxf::optim
