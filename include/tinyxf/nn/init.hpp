#pragma once
// Parameter initializers (torch.nn.init), drawing from a Generator so runs are reproducible:
// normal_, uniform_, trunc_normal_, constant_, zeros_, ones_, eye_, xavier_uniform_/normal_,
// kaiming_uniform_/normal_ with torch's defaults, calculate_gain and calculate_fan_in_and_fan_out.
// The fills run without recording a graph. Under DeferredInit the ones drawn by normal_/uniform_
// (xavier_*, kaiming_*) are deferred; trunc_normal_ (data-dependent redraws), constant_ and eye_
// write at once.
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
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
// torch.nn.init.calculate_gain(nonlinearity, param): the recommended gain for a nonlinearity
// (torch.nn.functional name). leaky_relu's param is its negative slope (default 0.01).
inline double calculate_gain(std::string_view nonlinearity, std::optional<double> param = std::nullopt) {
  for (const std::string_view linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                        "conv_transpose2d", "conv_transpose3d", "sigmoid"})
    if (nonlinearity == linear) return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double negative_slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1 + negative_slope * negative_slope));
  }
  TINYXF_CHECK_AS(ValueError, nonlinearity == "selu", "Unsupported nonlinearity ", nonlinearity,
                  " (expected linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu)");
  return 3.0 / 4;  // selu's, found empirically (pytorch#50664)
}

// torch.nn.init._calculate_fan_in_and_fan_out: {size(1), size(0)} times the receptive field (the
// product of the dims after the first two: a conv kernel's [out, in, kh, kw] has fan_in in*kh*kw).
inline std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TINYXF_CHECK_AS(ValueError, t.dim() >= 2,
                  "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape ",
                  shape_str(t.shape()), ")");
  std::int64_t receptive_field = 1;
  for (std::size_t d = 2; d < t.shape().size(); ++d) receptive_field *= t.shape()[d];
  return {t.shape()[1] * receptive_field, t.shape()[0] * receptive_field};
}

namespace init_detail {
// torch's _calculate_correct_fan: mode "fan_in" (preserves the forward pass's variance) or
// "fan_out" (the backward pass's).
inline double fan(const Tensor& t, std::string_view mode) {
  TINYXF_CHECK_AS(ValueError, mode == "fan_in" || mode == "fan_out", "Mode ", mode,
                  " not supported, please use one of ['fan_in', 'fan_out']");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return static_cast<double>(mode == "fan_in" ? fan_in : fan_out);
}
// gain * sqrt(2 / (fan_in + fan_out)), the std of xavier (Glorot) initialization.
inline double xavier_std(const Tensor& t, double gain) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  TINYXF_CHECK_AS(ValueError, fan_in + fan_out > 0, "xavier init: fan_in + fan_out is 0 for a tensor of shape ",
                  shape_str(t.shape()));
  return gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
}
// gain(nonlinearity, a) / sqrt(fan), the std of kaiming (He) initialization.
inline double kaiming_std(const Tensor& t, double a, std::string_view mode, std::string_view nonlinearity) {
  return calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
}
inline bool has_zero_dim(const Tensor& t) {
  for (const auto n : t.shape())
    if (n == 0) return true;
  return false;
}
}  // namespace init_detail

// torch.nn.init.constant_: every element `value`.
inline void constant_(Tensor& t, double value) {
  NoGradGuard ng;
  t.fill_(value);
}

// torch.nn.init.eye_: the identity matrix (ones on the main diagonal) in a 2-D tensor.
inline void eye_(Tensor& t) {
  TINYXF_CHECK_AS(ValueError, t.dim() == 2, "eye_: Only tensors with 2 dimensions are supported (got shape ",
                  shape_str(t.shape()), ")");
  NoGradGuard ng;
  const TensorOptions on_device = TensorOptions(t.device()).dtype(kInt64);
  const Tensor rows = Tensor::arange(static_cast<double>(t.shape()[0]), on_device).unsqueeze(1);
  const Tensor cols = Tensor::arange(static_cast<double>(t.shape()[1]), on_device).unsqueeze(0);
  t.copy_(eq(rows, cols).to(t.dtype()));
}

// torch.nn.init.xavier_uniform_: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
inline void xavier_uniform_(Tensor& t, double gain = 1.0, Generator& gen = default_generator()) {
  const double bound = std::sqrt(3.0) * init_detail::xavier_std(t, gain);
  uniform_(t, -bound, bound, gen);
}
// torch.nn.init.xavier_normal_: N(0, std²), std = gain * sqrt(2 / (fan_in + fan_out)).
inline void xavier_normal_(Tensor& t, double gain = 1.0, Generator& gen = default_generator()) {
  normal_(t, 0.0, init_detail::xavier_std(t, gain), gen);
}

// torch.nn.init.kaiming_uniform_: U(-bound, bound), bound = gain * sqrt(3 / fan), gain from
// calculate_gain(nonlinearity, a) (a: leaky_relu's negative slope), fan by mode ("fan_in" or
// "fan_out"). A tensor with no elements is left as it is (torch warns it is a no-op).
inline void kaiming_uniform_(Tensor& t, double a = 0.0, std::string_view mode = "fan_in",
                             std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  if (init_detail::has_zero_dim(t)) return;
  const double bound = std::sqrt(3.0) * init_detail::kaiming_std(t, a, mode, nonlinearity);
  uniform_(t, -bound, bound, gen);
}
// torch.nn.init.kaiming_normal_: N(0, std²), std = gain / sqrt(fan) (as kaiming_uniform_).
inline void kaiming_normal_(Tensor& t, double a = 0.0, std::string_view mode = "fan_in",
                            std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  if (init_detail::has_zero_dim(t)) return;
  normal_(t, 0.0, init_detail::kaiming_std(t, a, mode, nonlinearity), gen);
}

// torch.nn.init.trunc_normal_: N(mean, std²) restricted to [a, b], by torch's rejection sampling.
// When [a, b] holds more than 30% of the normal's mass, values outside it are redrawn from the
// normal until none is left; otherwise candidates are drawn uniformly on [a, b] and each accepted
// with probability pdf(x) / pdf(mode) (redrawing the rejected ones). As in torch, the redraws
// compare with the bounds rounded to t's dtype, and a 16-bit t stores the uniform candidates
// rounded (next to a bound its dtype cannot represent, one may land just outside). Unlike torch,
// no warning when mean is more than 2 std outside [a, b]. Each round draws t.numel() values
// from gen; the same seed gives the same values.
inline void trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                          Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, std > 0.0, "trunc_normal_: std must be > 0, got ", std);
  TINYXF_CHECK_AS(ValueError, a < b, "trunc_normal_: the interval [a, b] must have a < b, got a=", a, ", b=", b);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(t.dtype()), "trunc_normal_: expected a floating point tensor, got ",
                  dtype_name(t.dtype()));
  if (t.numel() == 0) return;
  NoGradGuard ng;
  const auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double mass = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std);
  const auto none = [](const Tensor& mask) { return sum(mask).item<std::int64_t>() == 0; };
  const auto fresh = [&](RandomKind kind, double p, double q) {
    Tensor r = Tensor::empty(t.shape(), t.options());
    return kind == RandomKind::normal ? r.normal_(p, q, gen) : r.uniform_(p, q, gen);
  };
  Tensor result = Tensor::empty(t.shape(), t.options());
  if (mass > 0.3) {
    result.normal_(mean, std, gen);
    const auto outside = [&](const Tensor& x) { return masked_fill(gt(x, b), lt(x, a), 1.0); };
    for (Tensor redraw = outside(result); !none(redraw); redraw = outside(result))
      result = where(redraw, fresh(RandomKind::normal, mean, std), result);
  } else {
    const double mode = std::max(a, std::min(mean, b));
    const double log_peak = -0.5 * ((mode - mean) / std) * ((mode - mean) / std);
    // Whether a candidate is rejected: log u > log(pdf(x) / pdf(mode)) for u ~ U(0, 1).
    const auto rejected = [&](const Tensor& x) {
      const Tensor log_ratio = square((x - mean) / std) * -0.5 - log_peak;
      return gt(log(fresh(RandomKind::uniform, 0.0, 1.0)), log_ratio);
    };
    result.uniform_(a, b, gen);
    for (Tensor pending = rejected(result); !none(pending);) {
      const Tensor candidates = fresh(RandomKind::uniform, a, b);
      result = where(pending, candidates, result);
      pending = masked_fill(rejected(candidates), logical_not(pending), 0.0);  // accepted stay accepted
    }
  }
  t.copy_(result);
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
