#pragma once
// nn::Module: the PyTorch-style module base. A module registers its parameters, buffers and
// child modules by name; from those it derives dotted names
// ("distilbert.transformer.layer.3.attention.q_lin.weight"), train/eval mode, device moves and
// state dicts. Parameters are float32 tensors unless converted with to(dtype); handles stay valid
// across to(device), to(dtype) and load_state_dict because they change the tensors' contents in place.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/ops/nn.hpp"

namespace tinyxf::nn {

using ::tinyxf::NamedTensors;

// Replaces t's memory (device, layout, dtype) with convert(t)'s, keeping every handle to t
// valid; a gradient goes through convert too (torch's Module._apply), so a move between
// backward and step keeps it.
template <class Convert>
inline void set_data(Tensor& t, Convert&& convert) {
  const Tensor src = convert(t);
  const Tensor grad = t.grad();
  TensorImpl& dst = *t.impl();
  const TensorImpl& s = *src.impl();
  dst.storage = s.storage;
  dst.shape = s.shape;
  dst.strides = s.strides;
  dst.offset = s.offset;
  dst.dtype = s.dtype;
  t.set_grad(grad.defined() ? convert(grad) : Tensor());
}

struct LoadResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- registration ----------------------------------------------------------------------
  // An undefined tensor registers the name without a tensor (torch's register_parameter/
  // register_buffer(name, None)): it is left out of traversals, state dicts and moves.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true) {
    check_new_name(name);
    if (requires_grad && t.defined()) t.set_requires_grad(true);
    parameters_.emplace_back(name, t);
    return t;
  }
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true) {
    check_new_name(name);
    buffers_.push_back({name, t, persistent});
    return t;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    TINYXF_CHECK(module != nullptr, "register_module: module '", name, "' is null");
    children_.emplace_back(name, module);
    return module;
  }

  // ---- traversal -------------------------------------------------------------------------
  // As torch's (remove_duplicate=True): every module once (a module registered under two names
  // appears under its first), every parameter/buffer once (shared/tied tensors under their first
  // name), dotted names; undefined tensors are skipped.
  NamedTensors named_parameters(bool recurse = true) const {
    return named_tensors(recurse, [](const Module& m) -> const NamedTensors& { return m.parameters_; });
  }
  std::vector<Tensor> parameters(bool recurse = true) const {
    std::vector<Tensor> out;
    for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
    return out;
  }
  NamedTensors named_buffers(bool recurse = true) const {
    return named_tensors(recurse, [](const Module& m) {
      NamedTensors buffers;
      for (const auto& b : m.buffers_) buffers.emplace_back(b.name, b.tensor);
      return buffers;
    });
  }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
    std::set<const Module*> seen;
    for (const auto& [n, c] : children_)
      if (seen.insert(c.get()).second) out.emplace_back(n, c);
    return out;
  }
  std::vector<std::pair<std::string, const Module*>> named_modules() const {
    std::vector<std::pair<std::string, const Module*>> out;
    visit_unique("", true, [&](const std::string& prefix, const Module& m) {
      out.emplace_back(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1), &m);
    });
    return out;
  }
  // The module at a dotted path below this one ("distilbert.embeddings"; "" is this module), as
  // torch.nn.Module.get_submodule; a missing step is an error naming it and what exists there.
  std::shared_ptr<Module> get_submodule(const std::string& target) {
    TINYXF_CHECK(!target.empty(), "get_submodule: empty path (the module itself has no shared handle)");
    Module* at = this;
    std::shared_ptr<Module> found;
    std::string walked;
    for (std::size_t begin = 0; begin <= target.size();) {
      const std::size_t end = std::min(target.find('.', begin), target.size());
      const std::string step = target.substr(begin, end - begin);
      found = nullptr;
      for (auto& [n, c] : at->children_)
        if (n == step) found = c;
      if (!found) {
        std::string children;
        for (auto& [n, c] : at->children_) children += (children.empty() ? "" : ", ") + n;
        TINYXF_CHECK(false, "get_submodule: '", walked.empty() ? std::string("the module") : walked,
                     "' has no submodule '", step, "' (it has: ", children.empty() ? "none" : children, ")");
      }
      walked += (walked.empty() ? "" : ".") + step;
      at = found.get();
      begin = end + 1;
    }
    return found;
  }
  // Sets requires_grad on every parameter of this module and its children, as
  // torch.nn.Module.requires_grad_: frozen parameters get no gradient, so optimizers and
  // clip_grad_norm_ skip them, and backward stops where nothing below needs one.
  Module& requires_grad_(bool on = true) {
    visit_mut([&](Module& m) {
      for (auto& [n, t] : m.parameters_)
        if (t.defined()) t.set_requires_grad(on);
    });
    return *this;
  }
  std::int64_t num_parameters(bool only_trainable = false) const {
    std::int64_t n = 0;
    for (auto& [name, t] : named_parameters())
      if (!only_trainable || t.requires_grad()) n += t.numel();
    return n;
  }

  // ---- modes and devices -----------------------------------------------------------------
  virtual void train(bool on = true) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void to(Device device) {
    NoGradGuard ng;
    const auto to_device = [device](const Tensor& x) { return x.to(device); };
    visit_defined_tensors_mut([&](Tensor& t) {
      if (t.device() != device) set_data(t, to_device);
    });
  }
  // Converts the floating parameters and buffers to `dtype` (a floating dtype), in place like
  // to(device): integer buffers keep theirs (torch.nn.Module.to(dtype)).
  void to(DType dtype) {
    TINYXF_CHECK_AS(DTypeError, is_floating_point(dtype), "Module::to: expected a floating dtype, got ",
                    dtype_name(dtype));
    NoGradGuard ng;
    const auto to_dtype = [dtype](const Tensor& x) { return x.to(dtype); };
    visit_defined_tensors_mut([&](Tensor& t) {
      if (t.is_floating_point() && t.dtype() != dtype) set_data(t, to_dtype);
    });
  }
  void to(Device device, DType dtype) {
    to(dtype);
    to(device);
  }
  void zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
  }

  // ---- state dicts -----------------------------------------------------------------------
  // Parameters and persistent buffers, every name (tied tensors and modules registered twice
  // under each of their names, as torch); undefined tensors are left out.
  NamedTensors state_dict() const {
    NamedTensors out;
    visit("", true, [&](const std::string& prefix, const Module& m) {
      for (const auto& [n, t] : m.parameters_)
        if (t.defined()) out.emplace_back(prefix + n, t);
      for (const auto& b : m.buffers_)
        if (b.persistent && b.tensor.defined()) out.emplace_back(prefix + b.name, b.tensor);
    });
    return out;
  }

  // Copies values by name. Shape mismatches always fail; with strict, missing and unexpected
  // keys fail too. The error lists every offending key.
  LoadResult load_state_dict(const NamedTensors& state, bool strict = true) {
    std::map<std::string, const Tensor*> given;
    for (const auto& [n, t] : state) given[n] = &t;
    LoadResult result;
    std::vector<std::string> shape_errors;
    std::set<std::string> used;
    NoGradGuard ng;
    for (auto& [name, target] : state_dict()) {
      auto it = given.find(name);
      if (it == given.end()) {
        result.missing_keys.push_back(name);
        continue;
      }
      used.insert(name);
      const Tensor& src = *it->second;
      if (src.shape() != target.shape()) {
        shape_errors.push_back(name + ": checkpoint shape " + shape_str(src.shape()) +
                               ", model shape " + shape_str(target.shape()));
        continue;
      }
      Tensor t = target;
      t.copy_(src);
    }
    for (const auto& [n, t] : state)
      if (!used.count(n)) result.unexpected_keys.push_back(n);
    std::ostringstream err;
    if (!shape_errors.empty()) {
      err << "load_state_dict: size mismatch for " << shape_errors.size() << " tensor(s):";
      for (auto& e : shape_errors) err << "\n  " << e;
    }
    if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty())) {
      if (err.tellp() == 0) err << "load_state_dict:";
      if (!result.missing_keys.empty()) {
        err << "\n  missing keys:";
        for (auto& k : result.missing_keys) err << ' ' << k;
      }
      if (!result.unexpected_keys.empty()) {
        err << "\n  unexpected keys:";
        for (auto& k : result.unexpected_keys) err << ' ' << k;
      }
    }
    const std::string message = err.str();
    TINYXF_CHECK(message.empty(), message);
    return result;
  }

 protected:
  // Ties `name` to an existing tensor (e.g. an output projection sharing the embedding matrix):
  // the same handle is registered again under this module.
  void tie_parameter(const std::string& name, const Tensor& shared) {
    check_new_name(name);
    parameters_.emplace_back(name, shared);
  }

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };

  void check_new_name(const std::string& name) const {
    TINYXF_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: invalid name '", name,
                 "' (must be non-empty without dots)");
    for (auto& [n, t] : parameters_) TINYXF_CHECK(n != name, "Module: '", name, "' is already registered");
    for (auto& b : buffers_) TINYXF_CHECK(b.name != name, "Module: '", name, "' is already registered");
    for (auto& [n, c] : children_) TINYXF_CHECK(n != name, "Module: '", name, "' is already registered");
  }
  template <class Fn>
  void visit(const std::string& prefix, bool recurse, Fn&& fn) const {
    fn(prefix, *this);
    if (!recurse) return;
    for (const auto& [n, c] : children_) c->visit(prefix + n + ".", true, fn);
  }
  // visit() entering every module once: a module registered under several names is visited (with
  // its children) under the first, as torch's named_modules memo.
  template <class Fn>
  void visit_unique(const std::string& prefix, bool recurse, Fn&& fn) const {
    std::set<const Module*> seen;
    visit_unique(prefix, recurse, fn, seen);
  }
  template <class Fn>
  void visit_unique(const std::string& prefix, bool recurse, Fn& fn, std::set<const Module*>& seen) const {
    if (!seen.insert(this).second) return;
    fn(prefix, *this);
    if (!recurse) return;
    for (const auto& [n, c] : children_) c->visit_unique(prefix + n + ".", true, fn, seen);
  }
  // The defined tensors members(module) lists, over the modules visit_unique reaches, each once.
  template <class Members>
  NamedTensors named_tensors(bool recurse, Members&& members) const {
    NamedTensors out;
    std::set<const TensorImpl*> seen;
    visit_unique("", recurse, [&](const std::string& prefix, const Module& m) {
      for (const auto& [n, t] : members(m))
        if (t.defined() && seen.insert(t.impl().get()).second) out.emplace_back(prefix + n, t);
    });
    return out;
  }
  template <class Fn>
  void visit_mut(Fn&& fn) {
    fn(*this);
    for (auto& [n, c] : children_) c->visit_mut(fn);
  }
  // fn(tensor) for every defined parameter and buffer of this module and its children (undefined
  // ones are torch's None: nothing to move or convert).
  template <class Fn>
  void visit_defined_tensors_mut(Fn&& fn) {
    visit_mut([&](Module& m) {
      for (auto& [n, t] : m.parameters_)
        if (t.defined()) fn(t);
      for (auto& b : m.buffers_)
        if (b.tensor.defined()) fn(b.tensor);
    });
  }

  NamedTensors parameters_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace tinyxf::nn
