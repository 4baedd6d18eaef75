#pragma once
// Parameter initializers (torch.nn.init), drawing from a Generator so runs are reproducible.
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <vector>

#include "tinyxf/nn/module.hpp"

namespace tinyxf::nn::init {

// Deferred initialization, for building a model whose weights a checkpoint is about to overwrite
// (transformers' no_init_weights + _initialize_missing_keys). While a DeferredInit is alive on
// this thread, normal_ and uniform_ take their counters from the generator — so the stream
// advances exactly as it would — but write nothing. finish() (or the end of the scope) then fills
// the tensors nothing has written to since (their version counter has not moved: not loaded) with
// exactly the values the eager initialization would have given them, followed by their deferred
// partial writes (an embedding's zeroed padding row, after_init below). A whole-tensor write
// (a load's copy_, zeros_, ones_) replaces the deferred fill. finish() comes before moving the
// model (Module::to gives tensors new memory; a deferred one moved is an error). Drawing
// DistilBERT's 66 M random values twice over (each layer's default init, then the model's) was
// most of what loading it cost.
class DeferredInit {
 public:
  DeferredInit() : outer_(active()), exceptions_(std::uncaught_exceptions()) { active() = this; }
  DeferredInit(const DeferredInit&) = delete;
  DeferredInit& operator=(const DeferredInit&) = delete;
  ~DeferredInit() {
    if (!finished_ && std::uncaught_exceptions() == exceptions_) finish();
    if (active() == this) active() = outer_;
  }

  // Fills what was not written since it was deferred; later inits run eagerly again.
  void finish() {
    if (active() == this) active() = outer_;
    finished_ = true;
    for (auto& [impl, fill] : pending_) {
      TINYXF_CHECK(fill.tensor.impl()->storage == fill.storage, "DeferredInit: a tensor ",
                   shape_str(fill.tensor.shape()), " whose initialization is deferred was moved or converted (e.g. by "
                   "Module::to) before finish(); call finish() first");
      if (!untouched(fill)) continue;  // overwritten (loaded) since
      Generator at;
      at.set_state(fill.seed, fill.first);
      NoGradGuard ng;
      if (fill.kind == RandomKind::normal) fill.tensor.normal_(fill.a, fill.b, at);
      else fill.tensor.uniform_(fill.a, fill.b, at);
      for (auto& then : fill.then) then(fill.tensor);
    }
    pending_.clear();
  }
  // How many tensors finish() would fill now.
  std::size_t pending() const {
    std::size_t n = 0;
    for (const auto& [impl, fill] : pending_) n += untouched(fill);
    return n;
  }

  // The DeferredInit in effect on this thread, or nullptr.
  static DeferredInit* current() { return active(); }

  void defer(Tensor& t, RandomKind kind, double a, double b, Generator& gen) {
    const auto [seed, first] = gen.reserve(static_cast<std::uint64_t>(t.numel()));
    pending_[t.impl().get()] = Fill{t, t.impl()->storage, kind, a, b, seed, first, t.version(), {}};
  }
  // Whether t has a deferred fill that nothing has overwritten.
  bool defers(const Tensor& t) const {
    const auto it = pending_.find(t.impl().get());
    return it != pending_.end() && untouched(it->second);
  }
  void after(const Tensor& t, std::function<void(Tensor&)> write) { pending_.at(t.impl().get()).then.push_back(std::move(write)); }

 private:
  struct Fill {
    Tensor tensor;
    std::shared_ptr<Storage> storage;  // its memory when deferred (version counters are per storage)
    RandomKind kind;
    double a, b;
    std::uint64_t seed, first, version;
    std::vector<std::function<void(Tensor&)>> then;
  };
  // Nothing wrote to the tensor since its fill was deferred (the same memory, the same version).
  static bool untouched(const Fill& fill) {
    return fill.tensor.impl()->storage == fill.storage && fill.tensor.version() == fill.version;
  }
  static DeferredInit*& active() {
    thread_local DeferredInit* current = nullptr;
    return current;
  }

  DeferredInit* outer_;
  int exceptions_;
  bool finished_ = false;
  std::map<const TensorImpl*, Fill> pending_;
};

// The parameters are rounded to float first (the values torch.nn.init draws for a float32 tensor).
inline void normal_(Tensor& t, double mean, double std, Generator& gen = default_generator()) {
  const double m = static_cast<float>(mean), s = static_cast<float>(std);
  if (auto* deferred = DeferredInit::current()) return deferred->defer(t, RandomKind::normal, m, s, gen);
  NoGradGuard ng;
  t.normal_(m, s, gen);
}
inline void uniform_(Tensor& t, double low, double high, Generator& gen = default_generator()) {
  const double lo = static_cast<float>(low), hi = static_cast<float>(high);
  if (auto* deferred = DeferredInit::current()) return deferred->defer(t, RandomKind::uniform, lo, hi, gen);
  NoGradGuard ng;
  t.uniform_(lo, hi, gen);
}
// A partial write that belongs to t's initialization (an embedding's padding row): now, or after
// t's deferred fill.
inline void after_init(Tensor& t, const std::function<void(Tensor&)>& write) {
  if (auto* deferred = DeferredInit::current(); deferred && deferred->defers(t)) return deferred->after(t, write);
  NoGradGuard ng;
  write(t);
}
inline void zeros_(Tensor& t) {
  NoGradGuard ng;
  t.zero_();
}
inline void ones_(Tensor& t) {
  NoGradGuard ng;
  t.fill_(1.0f);
}
// kaiming_uniform_(a=sqrt(5)) as nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
inline void linear_default_(Tensor& weight, Tensor* bias, Generator& gen = default_generator()) {
  const double fan_in = static_cast<double>(weight.shape()[1]);
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
  uniform_(weight, -bound, bound, gen);
  if (bias && bias->defined()) uniform_(*bias, -bound, bound, gen);
}

}  // namespace tinyxf::nn::init
