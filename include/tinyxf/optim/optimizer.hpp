#pragma once
// tinyxf::optim::Optimizer: the base of SGD, Adam and AdamW (PyTorch's torch.optim.Optimizer
// model). Parameters live in param groups, each with its own lr and weight_decay (schedulers
// write group.lr); per-parameter state (moment buffers, step counts) is created lazily at the
// first step() that sees a gradient for that parameter, on the parameter's device.
//
// Checkpoints: state_dict() flattens everything into named tensors (for safetensors) plus scalars
// (for JSON); load_state_dict() validates the whole state before changing anything.
//   tensors  "state.<group>.<index>.<buffer>"   e.g. state.0.3.exp_avg
//   scalars  "groups", "group.<g>.params", "group.<g>.lr", "group.<g>.weight_decay",
//            "state.<g>.<i>.step" (optimizers that count steps), optimizer hyperparameters
//            ("beta1", "momentum", ...)
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/ops/elementwise.hpp"

namespace tinyxf::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  // Empty, or one name per parameter; names only appear in error messages.
  std::vector<std::string> names;
  // Unset means "the optimizer's default"; the optimizer's constructor fills both in, so after
  // construction they always hold a value (schedulers overwrite lr before every update).
  std::optional<double> lr;
  std::optional<double> weight_decay;
  // torch's "initial_lr": the lr the first scheduler found, set once (a later scheduler on this
  // optimizer starts from it, not from the lr the earlier one left).
  std::optional<double> initial_lr = std::nullopt;

  // "'classifier.weight'" or "#3", for messages.
  std::string describe(std::size_t index) const {
    // Appends rather than "'" + name + "'": GCC 12 warns falsely (-Wrestrict) on the latter.
    std::string out(1, index < names.size() ? '\'' : '#');
    if (index >= names.size()) return out + std::to_string(index);
    out += names[index];
    out += '\'';
    return out;
  }
};

// A checkpointable snapshot. The tensors are the optimizer's live buffers (no copy): save them
// before the next step(), or clone them.
struct OptimizerState {
  std::string optimizer;  // "SGD", "Adam", "AdamW": loading into another kind is an error
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, double> scalars;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // The state holds tensor handles: a copy would silently share buffers with the original.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  // One update of every parameter that has a gradient (others are skipped entirely).
  virtual void step() = 0;
  // "SGD", "Adam", "AdamW".
  virtual std::string_view kind() const = 0;
  // Makes the next step() read every gradient multiplied by `coef` (rounded as an in-place
  // `g *= coef` would round it) without writing the gradients, and returns true; false where
  // this optimizer cannot, and nothing changes. clip_grad_norm_and_step folds the clip's scaling
  // into the step this way: one pass over the gradients fewer.
  virtual bool fold_grad_coef_into_next_step(double /*coef*/) { return false; }

  // Clears every parameter's gradient: drops it (set_to_none, PyTorch's default) or zeroes it.
  void zero_grad(bool set_to_none = true) {
    for (auto& group : groups_)
      for (auto& p : group.params) p.zero_grad(set_to_none);
  }

  // Mutable so that schedulers (and users) can change lr and weight_decay between steps. State is
  // kept per parameter tensor, so reordering is harmless; add parameters with add_param_group.
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }

  // Every parameter, in group order (e.g. for clip_grad_norm_).
  std::vector<Tensor> params() const {
    std::vector<Tensor> all;
    for (const auto& group : groups_) all.insert(all.end(), group.params.begin(), group.params.end());
    return all;
  }

  // The lr a group gets when it names none (torch's optimizer.defaults["lr"]; transformers'
  // polynomial and min-lr schedules read it).
  double default_lr() const { return default_lr_; }

  void add_param_group(ParamGroup group) {
    fill_in_defaults(group);
    check_group(group, groups_.size());
    std::set<const TensorImpl*> seen;
    for (const auto& g : groups_)
      for (const auto& p : g.params) seen.insert(p.impl().get());
    for (std::size_t i = 0; i < group.params.size(); ++i)
      TINYXF_CHECK(seen.insert(group.params[i].impl().get()).second, kind(), ": parameter ",
                   group.describe(i), " of group ", groups_.size(),
                   " already belongs to a parameter group (a parameter can be in only one)");
    groups_.push_back(std::move(group));
  }

  // Number of updates this parameter has received (0 before its first gradient, and always 0
  // for optimizers that do not count steps, such as SGD).
  std::int64_t step_count(const Tensor& param) const {
    const ParamState* st = find_state(param);
    return st ? st->step : 0;
  }
  // A per-parameter state tensor ("exp_avg", "exp_avg_sq", "momentum_buffer"); undefined when the
  // parameter has no state yet.
  Tensor state_tensor(const Tensor& param, std::string_view buffer) const {
    const auto names = buffer_names();
    std::size_t b = 0;
    while (b < names.size() && names[b] != buffer) ++b;
    TINYXF_CHECK(b < names.size(), kind(), ": no state buffer named '", buffer, "'",
                 names.empty() ? std::string(" (it keeps none)") : " (it keeps '" + join(names) + "')");
    const ParamState* st = find_state(param);
    return st ? st->buffers[b] : Tensor();
  }

  OptimizerState state_dict() const {
    OptimizerState out;
    out.optimizer = std::string(kind());
    save_hyperparameters(out.scalars);
    out.scalars["groups"] = static_cast<double>(groups_.size());
    const auto names = buffer_names();
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const ParamGroup& group = groups_[g];
      const std::string gk = "group." + std::to_string(g) + ".";
      out.scalars[gk + "params"] = static_cast<double>(group.params.size());
      out.scalars[gk + "lr"] = group.lr.value();
      out.scalars[gk + "weight_decay"] = group.weight_decay.value();
      if (group.initial_lr) out.scalars[gk + "initial_lr"] = *group.initial_lr;
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        const ParamState* st = find_state(group.params[i]);
        if (!st) continue;
        const std::string sk = state_key(g, i);
        if (counts_steps()) out.scalars[sk + "step"] = static_cast<double>(st->step);
        for (std::size_t b = 0; b < names.size(); ++b) out.tensors.emplace_back(sk + names[b], st->buffers[b]);
      }
    }
    return out;
  }

  // Restores a state_dict() of an optimizer of the same kind over parameters of the same shapes,
  // grouped the same way. Hyperparameters, group lr/weight_decay and per-parameter state are all
  // replaced (like torch); tensors are copied onto each parameter's device. On any mismatch this
  // throws an Error naming the key and the parameter, and the optimizer is left unchanged.
  void load_state_dict(const OptimizerState& state) {
    TINYXF_CHECK(state.optimizer == kind(), "load_state_dict: the state was saved by ",
                 state.optimizer.empty() ? std::string("an unnamed optimizer") : state.optimizer,
                 ", this optimizer is ", kind());
    std::map<std::string, double> previous;
    save_hyperparameters(previous);
    load_hyperparameters(state.scalars);  // validates before it assigns
    try {
      load_validated(state);
    } catch (...) {
      load_hyperparameters(previous);
      throw;
    }
  }

 protected:
  struct ParamState {
    std::int64_t step = 0;
    std::vector<Tensor> buffers;  // in buffer_names() order
  };

  Optimizer(double default_lr, double default_weight_decay)
      : default_lr_(default_lr), default_weight_decay_(default_weight_decay) {}
  // Called by the derived constructor after it validated its options (kind() is virtual, so the
  // base constructor cannot check groups itself).
  void adopt_param_groups(std::vector<ParamGroup> groups) {
    std::size_t total = 0;
    for (const auto& g : groups) total += g.params.size();
    TINYXF_CHECK(total > 0, kind(), ": optimizer got an empty parameter list");
    for (auto& g : groups) add_param_group(std::move(g));
  }

  // Names of the per-parameter state tensors (may depend on hyperparameters, e.g. SGD momentum).
  virtual std::vector<std::string> buffer_names() const = 0;
  virtual bool counts_steps() const = 0;
  virtual void save_hyperparameters(std::map<std::string, double>& scalars) const = 0;
  // Reads every hyperparameter key from `scalars`, validates, then assigns (all or nothing).
  virtual void load_hyperparameters(const std::map<std::string, double>& scalars) = 0;
  // Every hyperparameter key that save_hyperparameters writes (unknown keys are an error).
  virtual std::vector<std::string> hyperparameter_keys() const = 0;

  // The group's lr and weight_decay: checked at construction and before every step, because
  // schedulers and users write them in between.
  void check_group_hyperparameters(const ParamGroup& group, std::size_t index) const {
    TINYXF_CHECK(group.lr.has_value() && group.weight_decay.has_value(), kind(), ": param group ",
                 index, " has no ", group.lr ? "weight_decay" : "lr",
                 " (groups added after construction go through add_param_group)");
    const double lr = *group.lr, wd = *group.weight_decay;
    TINYXF_CHECK(lr >= 0.0 && std::isfinite(lr), kind(), ": invalid learning rate ", lr,
                 " in param group ", index, " (must be finite and >= 0)");
    TINYXF_CHECK(wd >= 0.0 && std::isfinite(wd), kind(), ": invalid weight_decay ", wd,
                 " in param group ", index, " (must be finite and >= 0)");
  }

  // Everything about a group that add_param_group and load_state_dict require.
  void check_group(const ParamGroup& group, std::size_t index) const {
    check_group_hyperparameters(group, index);
    TINYXF_CHECK(group.names.empty() || group.names.size() == group.params.size(), kind(),
                 ": param group ", index, " has ", group.params.size(), " parameters but ",
                 group.names.size(), " names (give one name per parameter, or none)");
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const Tensor& p = group.params[i];
      TINYXF_CHECK(p.defined(), kind(), ": parameter ", group.describe(i), " of group ", index,
                   " is an undefined tensor");
      TINYXF_CHECK(p.is_leaf(), kind(), ": can't optimize a non-leaf tensor (parameter ",
                   group.describe(i), " of group ", index, " was produced by ", p.grad_fn()->name(), ")");
      TINYXF_CHECK_AS(DTypeError, is_floating_point(p.dtype()), kind(), ": parameter ", group.describe(i),
                      " of group ", index, " has dtype ", dtype_name(p.dtype()),
                      "; optimizers update floating point parameters");
      TINYXF_CHECK(p.is_contiguous(), kind(), ": parameter ", group.describe(i), " of group ", index,
                   " is not contiguous (shape ", shape_str(p.shape()), ", strides ",
                   shape_str(p.strides()), "); optimizer kernels update contiguous memory");
    }
  }

  // Validates the group (the user may have changed lr/weight_decay or swapped parameters since
  // construction) and returns the gradient of parameter i in the layout the kernels need, or an
  // undefined tensor when it has none.
  Tensor contiguous_grad(const ParamGroup& group, std::size_t group_index, std::size_t i) const {
    const Tensor& p = group.params[i];
    Tensor grad = p.grad();
    if (!grad.defined()) return grad;
    TINYXF_CHECK(grad.shape() == p.shape(), kind(), ": gradient of parameter ", group.describe(i),
                 " in group ", group_index, " has shape ", shape_str(grad.shape()),
                 ", the parameter has shape ", shape_str(p.shape()));
    TINYXF_CHECK(grad.device() == p.device(), kind(), ": gradient of parameter ", group.describe(i),
                 " in group ", group_index, " is on ", grad.device().str(), ", the parameter on ",
                 p.device().str());
    TINYXF_CHECK(p.is_contiguous(), kind(), ": parameter ", group.describe(i), " of group ",
                 group_index, " is not contiguous; optimizer kernels update contiguous memory");
    return grad.is_contiguous() ? grad : grad.contiguous();  // callers hold a NoGradGuard
  }

  // The loop every step() runs: each group validated, then fn(group, param, grad) for every
  // parameter that has a gradient (contiguous, checked against the parameter), without autograd.
  // bfloat16/float16 parameters: fn gets a float32 gradient, the kernels update a float32 copy of
  // the parameter (kernel_param) with float32 state, and finish_reduced() rounds the copy back
  // into the parameter, so the step is the float32 step rounded once (PyTorch keeps the
  // parameter's dtype and no master copy; its state follows the parameter's dtype, tinyxf's is
  // float32).
  template <class Fn>
  void for_each_param_with_grad(Fn&& fn) {
    NoGradGuard no_grad;
    staged_.clear();
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const ParamGroup& group = groups_[g];
      check_group_hyperparameters(group, g);
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        const Tensor grad = contiguous_grad(group, g, i);
        if (!grad.defined()) continue;
        const Tensor& param = group.params[i];
        if (!is_reduced_floating_point(param.dtype())) {
          fn(group, param, grad);
          continue;
        }
        if (!find_staged(param).defined()) staged_.emplace_back(param, param.to(kFloat32));
        fn(group, param, grad.dtype() == kFloat32 ? grad : grad.to(kFloat32));
      }
    }
  }
  // The tensor the kernels update for `param`: its float32 copy when it is bfloat16/float16.
  Tensor kernel_param(const Tensor& param) const {
    const Tensor staged = find_staged(param);
    return staged.defined() ? staged : param;
  }
  // Rounds the updated float32 copies back into the bfloat16/float16 parameters.
  void finish_reduced() {
    for (auto& [param, work] : staged_) {
      param.impl()->backend().copy(param.impl()->view(), work.impl()->view());
      param.impl()->bump_version();
    }
    staged_.clear();
  }
  // float32 state for 16-bit parameters, the parameter's dtype otherwise.
  static DType state_dtype(const Tensor& param) {
    return is_reduced_floating_point(param.dtype()) ? kFloat32 : param.dtype();
  }

  const ParamState* find_state(const Tensor& param) const {
    auto it = state_.find(param.impl());
    return it == state_.end() ? nullptr : &it->second;
  }
  // The parameter's state; on first use (`created`) its buffers are zero-filled tensors on the
  // parameter's device. Later the buffers must still fit the parameter: a model moved to another
  // dtype or device after a step would have the kernels read them as the wrong type (torch
  // refuses the mixed step too).
  ParamState& state_for(const Tensor& param, bool& created) {
    auto [it, inserted] = state_.try_emplace(param.impl());
    created = inserted;
    if (inserted) {
      for (std::size_t b = 0, n = buffer_names().size(); b < n; ++b)
        it->second.buffers.push_back(Tensor::zeros(param.shape(), param.options().dtype(state_dtype(param))));
      return it->second;
    }
    for (std::size_t b = 0; b < it->second.buffers.size(); ++b) {
      const Tensor& buffer = it->second.buffers[b];
      if (!buffer.defined()) continue;
      TINYXF_CHECK(buffer.shape() == param.shape() && buffer.dtype() == state_dtype(param) && buffer.device() == param.device(),
                   "optimizer: the state '", buffer_names()[b], "' of a parameter is ", dtype_name(buffer.dtype()), " ",
                   shape_str(buffer.shape()), " on ", buffer.device().str(), " but the parameter is now ",
                   dtype_name(param.dtype()), " ", shape_str(param.shape()), " on ", param.device().str(),
                   " (moved or resized after the optimizer's first step?): move the model before creating the "
                   "optimizer, or load_state_dict into a new one");
    }
    return it->second;
  }

  static KernelView view_of(const Tensor& t) { return t.impl()->view(); }

  std::vector<ParamGroup> groups_;

 private:
  Tensor find_staged(const Tensor& param) const {
    for (const auto& [p, work] : staged_)
      if (p.is_same(param)) return work;
    return Tensor();
  }
  std::vector<std::pair<Tensor, Tensor>> staged_;  // (16-bit parameter, its float32 copy) during a step

  static std::string state_key(std::size_t g, std::size_t i) {
    return "state." + std::to_string(g) + "." + std::to_string(i) + ".";
  }

  void fill_in_defaults(ParamGroup& group) const {
    if (!group.lr) group.lr = default_lr_;
    if (!group.weight_decay) group.weight_decay = default_weight_decay_;
  }

  // Looks up a required scalar, naming it when it is missing.
  static double required(const std::map<std::string, double>& scalars, const std::string& key) {
    auto it = scalars.find(key);
    TINYXF_CHECK(it != scalars.end(), "load_state_dict: the state has no scalar '", key, "'");
    return it->second;
  }
  // A required count (groups, parameters): a non-negative integer, not cast from 1.5 or -1.
  static std::size_t required_count(const std::map<std::string, double>& scalars, const std::string& key) {
    const double value = required(scalars, key);
    TINYXF_CHECK(value >= 0 && value == std::floor(value) && value < 9.0e15, "load_state_dict: '", key,
                 "' must be a non-negative integer count, got ", value);
    return static_cast<std::size_t>(value);
  }

  // Parses "state.<g>.<i>.<rest>" into (g, i, rest); false when the key has another form.
  static bool parse_state_key(const std::string& key, std::size_t& g, std::size_t& i, std::string& rest) {
    if (key.rfind("state.", 0) != 0) return false;
    std::size_t pos = 6;
    auto number = [&](std::size_t& out) {
      const std::size_t start = pos;
      while (pos < key.size() && key[pos] >= '0' && key[pos] <= '9') ++pos;
      if (pos == start || pos - start > 9 || pos >= key.size() || key[pos] != '.') return false;
      out = std::stoul(key.substr(start, pos - start));
      ++pos;
      return true;
    };
    if (!number(g) || !number(i) || pos >= key.size()) return false;
    rest = key.substr(pos);
    return true;
  }

  void load_validated(const OptimizerState& state) {
    const std::size_t saved_groups = required_count(state.scalars, "groups");
    TINYXF_CHECK(saved_groups == groups_.size(), "load_state_dict: the state has ", saved_groups,
                 " param groups, this ", kind(), " has ", groups_.size());
    std::vector<ParamGroup> groups = groups_;  // lr/weight_decay are committed only at the end
    std::set<std::string> known;
    for (const auto& k : hyperparameter_keys()) known.insert(k);
    known.insert("groups");
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::string gk = "group." + std::to_string(g) + ".";
      const std::size_t saved_params = required_count(state.scalars, gk + "params");
      TINYXF_CHECK(saved_params == groups[g].params.size(), "load_state_dict: param group ", g,
                   " has ", groups[g].params.size(), " parameters here but ", saved_params,
                   " in the saved state");
      groups[g].lr = required(state.scalars, gk + "lr");
      groups[g].weight_decay = required(state.scalars, gk + "weight_decay");
      // As torch, the saved groups replace these: initial_lr only where a scheduler had set it.
      const auto initial = state.scalars.find(gk + "initial_lr");
      groups[g].initial_lr.reset();
      if (initial != state.scalars.end()) {
        TINYXF_CHECK(std::isfinite(initial->second) && initial->second >= 0, "load_state_dict: '", gk,
                     "initial_lr' must be finite and >= 0, got ", initial->second);
        groups[g].initial_lr = initial->second;
      }
      check_group(groups[g], g);
      known.insert({gk + "params", gk + "lr", gk + "weight_decay", gk + "initial_lr"});
    }

    // Per-parameter entries, checked against the parameters they belong to.
    const auto names = buffer_names();
    struct Pending {
      std::optional<double> step;
      std::vector<Tensor> buffers;
    };
    std::map<std::pair<std::size_t, std::size_t>, Pending> pending;
    struct Located {
      std::size_t group = 0, index = 0;
      std::string field;  // "step", "exp_avg", ...
      Pending* entry = nullptr;
    };
    auto locate = [&](const std::string& key, const char* what) {
      Located at;
      TINYXF_CHECK(parse_state_key(key, at.group, at.index, at.field), "load_state_dict: unexpected ",
                   what, " '", key, "' in the state of ", kind());
      TINYXF_CHECK(at.group < groups.size() && at.index < groups[at.group].params.size(),
                   "load_state_dict: '", key, "' refers to parameter ", at.index, " of group ",
                   at.group, ", which does not exist here");
      at.entry = &pending[{at.group, at.index}];
      if (at.entry->buffers.empty()) at.entry->buffers.resize(names.size());
      return at;
    };
    for (const auto& [key, value] : state.scalars) {
      if (known.count(key)) continue;
      const Located at = locate(key, "scalar");
      TINYXF_CHECK(counts_steps() && at.field == "step", "load_state_dict: unexpected scalar '", key,
                   "' in the state of ", kind());
      TINYXF_CHECK(value >= 0 && value == std::floor(value), "load_state_dict: '", key,
                   "' must be a non-negative integer step count, got ", value);
      at.entry->step = value;
    }
    for (const auto& [key, tensor] : state.tensors) {
      const Located at = locate(key, "tensor");
      const ParamGroup& group = groups[at.group];
      const Tensor& param = group.params[at.index];
      std::size_t b = 0;
      while (b < names.size() && names[b] != at.field) ++b;
      TINYXF_CHECK(b < names.size(), "load_state_dict: unexpected tensor '", key, "' for parameter ",
                   group.describe(at.index), " (", kind(), " keeps ",
                   names.empty() ? std::string("no state tensors") : "'" + join(names) + "'", ")");
      TINYXF_CHECK(!at.entry->buffers[b].defined(), "load_state_dict: tensor '", key, "' appears twice");
      TINYXF_CHECK(tensor.defined(), "load_state_dict: tensor '", key, "' is undefined");
      TINYXF_CHECK(tensor.shape() == param.shape(), "load_state_dict: '", key, "' for parameter ",
                   group.describe(at.index), " of group ", at.group, " has shape ",
                   shape_str(tensor.shape()), ", the parameter has shape ", shape_str(param.shape()));
      at.entry->buffers[b] = tensor;
    }
    std::map<ImplPtr, ParamState> new_state;
    NoGradGuard no_grad;
    for (auto& [where, entry] : pending) {
      const auto [g, i] = where;
      const Tensor& param = groups[g].params[i];
      const std::string sk = state_key(g, i);
      TINYXF_CHECK(!counts_steps() || entry.step.has_value(), "load_state_dict: parameter ",
                   groups[g].describe(i), " of group ", g, " has state tensors but no '", sk, "step'");
      ParamState st;
      st.step = static_cast<std::int64_t>(entry.step.value_or(0));
      for (std::size_t b = 0; b < names.size(); ++b) {
        TINYXF_CHECK(entry.buffers[b].defined(), "load_state_dict: parameter ", groups[g].describe(i),
                     " of group ", g, " has no '", sk, names[b], "' in the saved state");
        Tensor own = Tensor::empty(param.shape(), param.options().dtype(state_dtype(param)));
        own.copy_(entry.buffers[b]);
        st.buffers.push_back(own);
      }
      new_state.emplace(param.impl(), std::move(st));
    }
    groups_ = std::move(groups);
    state_ = std::move(new_state);
  }

  static std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : "', '") + n;
    return out;
  }

  double default_lr_;
  double default_weight_decay_;
  // Keyed by the parameter's impl (held, so an address is never reused while its state lives).
  std::map<ImplPtr, ParamState> state_;
};

}  // namespace tinyxf::optim
