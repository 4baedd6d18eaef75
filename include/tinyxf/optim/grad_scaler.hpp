#pragma once
// GradScaler: torch.amp.GradScaler's dynamic loss scaling, for any optimizer of optim/.
//
//   optim::GradScaler scaler;
//   scaler.scale(loss).backward();   // gradients of loss * scale
//   scaler.unscale_(opt);            // optional: gradients / scale (e.g. before clip_grad_norm_)
//   scaler.step(opt);                // unscales if needed; skips opt.step() on inf/NaN gradients
//   scaler.update();                 // backoff on inf/NaN, growth after growth_interval good steps
//   auto state = scaler.state_dict(); // checkpoints: {scale, growth_factor, backoff_factor,
//   scaler.load_state_dict(state);    //   growth_interval, _growth_tracker}, torch's keys
//
// Needed with float16 (whose range is small); bfloat16 has float32's range and trains without it,
// as in PyTorch. A disabled scaler passes everything through (scale(loss) is loss, step() is
// opt.step()).
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;
  bool enabled = true;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {}) : options_(options), scale_(options.init_scale) {
    TINYXF_CHECK(options.init_scale > 0 && std::isfinite(options.init_scale), "GradScaler: init_scale must be finite "
                 "and > 0, got ", options.init_scale);
    check_factors(options, "GradScaler: ");
  }

  bool is_enabled() const { return options_.enabled; }
  double get_scale() const { return options_.enabled ? scale_ : 1.0; }
  std::int64_t growth_tracker() const { return growth_tracker_; }

  // loss * scale (differentiable; in loss's dtype).
  Tensor scale(const Tensor& loss) const {
    if (!options_.enabled) return loss;
    return loss * scale_;
  }

  // Divides the gradients of the optimizer's parameters by the scale, in place, and records
  // whether any of them holds an inf or NaN. At most once per optimizer between update()s.
  void unscale_(Optimizer& optimizer) {
    if (!options_.enabled) return;
    PerOptimizer& st = per_optimizer_[&optimizer];
    TINYXF_CHECK(!st.unscaled, "GradScaler: unscale_() has already been called on this optimizer since the last "
                 "update()");
    TINYXF_CHECK(!st.stepped, "GradScaler: unscale_() is being called after step()");
    const double inv = 1.0 / scale_;
    bool found_inf = false;
    NoGradGuard no_grad;
    for (const ParamGroup& group : optimizer.param_groups())
      for (const Tensor& p : group.params) {
        Tensor g = p.grad();
        if (!g.defined() || g.numel() == 0) continue;
        found_inf = unscale_one(g, inv) || found_inf;
      }
    st.unscaled = true;
    st.found_inf = found_inf;
  }

  // optimizer.step() unless the (unscaled) gradients hold an inf or NaN; returns whether it ran.
  bool step(Optimizer& optimizer) {
    if (!options_.enabled) {
      optimizer.step();
      return true;
    }
    PerOptimizer& st = per_optimizer_[&optimizer];
    TINYXF_CHECK(!st.stepped, "GradScaler: step() has already been called since the last update()");
    if (!st.unscaled) unscale_(optimizer);
    st.stepped = true;
    if (st.found_inf) return false;
    optimizer.step();
    return true;
  }

  // Adjusts the scale after the step(s) of this iteration: times backoff_factor when an
  // optimizer saw inf/NaN (and the growth count restarts), times growth_factor after
  // growth_interval consecutive finite iterations. new_scale sets it directly instead.
  void update(std::optional<double> new_scale = std::nullopt) {
    if (!options_.enabled) return;
    if (new_scale) {
      TINYXF_CHECK(*new_scale > 0 && std::isfinite(*new_scale), "GradScaler: new_scale must be finite and > 0");
      scale_ = *new_scale;
    } else {
      bool found_inf = false, any = false;
      for (const auto& [opt, st] : per_optimizer_)
        if (st.unscaled) {
          any = true;
          found_inf = found_inf || st.found_inf;
        }
      TINYXF_CHECK(any, "GradScaler: no inf checks were recorded prior to update() (call step() or unscale_() first)");
      if (found_inf) {
        scale_ *= options_.backoff_factor;
        growth_tracker_ = 0;
      } else if (++growth_tracker_ == options_.growth_interval) {
        const double grown = scale_ * options_.growth_factor;
        if (std::isfinite(grown)) scale_ = grown;  // as torch: no growth past the float range
        growth_tracker_ = 0;
      }
    }
    per_optimizer_.clear();
  }

  // torch.amp.GradScaler.state_dict(): {"scale", "growth_factor", "backoff_factor",
  // "growth_interval", "_growth_tracker"} (torch's keys; the integers as doubles, as LambdaLR's
  // state), or an empty map for a disabled scaler. The per-optimizer inf checks of an iteration
  // in progress are not saved (torch's neither).
  std::map<std::string, double> state_dict() const {
    if (!options_.enabled) return {};
    return {{"scale", scale_},
            {"growth_factor", options_.growth_factor},
            {"backoff_factor", options_.backoff_factor},
            {"growth_interval", static_cast<double>(options_.growth_interval)},
            {"_growth_tracker", static_cast<double>(growth_tracker_)}};
  }

  // Restores a state_dict(): the scale, the growth count and the three factors, as torch. A
  // disabled scaler ignores it (torch's no-op); an empty state (saved by a disabled scaler) is an
  // error, as in torch. Other keys are ignored (torch reads only its five; a missing one is its
  // KeyError). Every value is checked before anything changes.
  void load_state_dict(const std::map<std::string, double>& state) {
    if (!options_.enabled) return;
    const char* where = "GradScaler::load_state_dict: ";
    TINYXF_CHECK(!state.empty(), where, "the source state dict is empty, possibly because it was saved from a "
                 "disabled instance of GradScaler");
    const auto value = [&](const char* key) {
      const auto it = state.find(key);
      TINYXF_CHECK(it != state.end(), where, "the state has no '", key, "' (expected scale, growth_factor, "
                   "backoff_factor, growth_interval, _growth_tracker)");
      return it->second;
    };
    const auto count = [&](const char* key, double min) {
      const double v = value(key);
      TINYXF_CHECK(v >= min && v == std::floor(v) && v < 9.0e15, where, "'", key, "' must be an integer >= ", min,
                   ", got ", v);
      return static_cast<std::int64_t>(v);
    };
    const double scale = value("scale");
    TINYXF_CHECK(scale > 0 && std::isfinite(scale), where, "'scale' must be finite and > 0, got ", scale);
    GradScalerOptions options = options_;
    options.growth_factor = value("growth_factor");
    options.backoff_factor = value("backoff_factor");
    options.growth_interval = count("growth_interval", 1);
    check_factors(options, where);
    const std::int64_t tracker = count("_growth_tracker", 0);
    options.init_scale = scale;  // torch sets _init_scale too
    options_ = options;
    scale_ = scale;
    growth_tracker_ = tracker;
  }

  // Whether the last unscale_ of this optimizer found an inf or NaN.
  bool found_inf(const Optimizer& optimizer) const {
    auto it = per_optimizer_.find(&optimizer);
    return it != per_optimizer_.end() && it->second.found_inf;
  }

 private:
  struct PerOptimizer {
    bool unscaled = false, stepped = false, found_inf = false;
  };

  static void check_factors(const GradScalerOptions& options, const char* where) {
    TINYXF_CHECK(options.growth_factor > 1.0, where, "growth_factor must be > 1, got ", options.growth_factor);
    TINYXF_CHECK(options.backoff_factor > 0.0 && options.backoff_factor < 1.0, where,
                 "backoff_factor must be in (0, 1), got ", options.backoff_factor);
    TINYXF_CHECK(options.growth_interval > 0, where, "growth_interval must be > 0, got ", options.growth_interval);
  }

  // g *= inv in place; true when g has an inf or NaN (checked before the product, as torch's
  // _amp_foreach_non_finite_check_and_unscale_). float32 host gradients in one pass; any other
  // dtype or device through tensors: 16-bit gradients in float32 (torch's opmath), float64 in
  // float64 (not rounded to float32).
  static bool unscale_one(Tensor& g, double inv) {
    if (g.dtype() == kFloat32 && g.is_contiguous() && g.impl()->backend().host_accessible()) {
      float* d = g.data<float>();
      const auto f = static_cast<float>(inv);
      bool bad = false;
      for (std::int64_t i = 0, n = g.numel(); i < n; ++i) {
        bad = bad || !std::isfinite(d[i]);
        d[i] *= f;
      }
      g.impl()->bump_version();
      return bad;
    }
    const Tensor values = is_reduced_floating_point(g.dtype()) ? g.to(kFloat32) : g;
    bool bad = false;
    for (double v : values.to(Device::cpu()).to(kFloat64).to_vector<double>()) bad = bad || !std::isfinite(v);
    // torch multiplies by the float32 inverse scale.
    g.copy_(values * static_cast<double>(static_cast<float>(inv)));
    return bad;
  }

  GradScalerOptions options_;
  double scale_;
  std::int64_t growth_tracker_ = 0;
  std::map<const Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace tinyxf::optim
