#pragma once
// Learning-rate schedules: torch.optim.lr_scheduler.LambdaLR and the transformers schedule
// factories built on it (transformers/optimization.py); get_scheduler also builds
// ReduceLROnPlateau (reduce_lr_on_plateau.hpp), returning either as an LRScheduler.
//
// LambdaLR keeps each group's base lr (its initial_lr: the lr the optimizer's first scheduler
// found, as torch's group.setdefault("initial_lr", lr)) and sets
//   group.lr = base_lr · λ(s)
// where s is the scheduler's step counter. Like PyTorch with last_epoch = −1, the constructor
// already performs step s = 0, so the loop `optimizer.step(); scheduler.step();` makes the k-th
// update (k = 1, 2, ...) use λ(k−1), and get_last_lr() is the lr of the *next* update.
//
// The scheduler holds a reference to the optimizer: it must not outlive it (or a moved-from one).
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "tinyxf/optim/optimizer.hpp"
#include "tinyxf/optim/reduce_lr_on_plateau.hpp"

namespace tinyxf::optim {

class LambdaLR {
 public:
  using Multiplier = std::function<double(std::int64_t step)>;

  // One multiplier for every group.
  LambdaLR(Optimizer& optimizer, Multiplier multiplier)
      : LambdaLR(optimizer, std::vector<Multiplier>(optimizer.param_groups().size(), multiplier)) {}
  // One multiplier per group.
  LambdaLR(Optimizer& optimizer, std::vector<Multiplier> multipliers)
      : optimizer_(&optimizer), multipliers_(std::move(multipliers)) {
    auto& groups = optimizer.param_groups();
    TINYXF_CHECK(multipliers_.size() == groups.size(), "LambdaLR: ", multipliers_.size(),
                 " multipliers for ", groups.size(), " param groups (give one, or one per group)");
    for (std::size_t g = 0; g < groups.size(); ++g) {
      TINYXF_CHECK(multipliers_[g] != nullptr, "LambdaLR: the multiplier for group ", g, " is empty");
      TINYXF_CHECK(groups[g].lr.has_value(), "LambdaLR: param group ", g, " has no lr");
    }
    for (auto& group : groups) {
      if (!group.initial_lr) group.initial_lr = *group.lr;
      base_lrs_.push_back(*group.initial_lr);
    }
    step();  // PyTorch's initial step (last_epoch −1 → 0)
  }

  // Advances the counter and writes base_lr · λ(counter) into every group.
  void step() {
    ++last_step_;
    apply();
  }

  // The lr of every group as last set (the lr the next optimizer.step() uses).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  // The scheduler's step counter (0 right after construction).
  std::int64_t last_step() const { return last_step_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  // {"last_step": s, "base_lr.<g>": ...}; the multipliers are code and are not saved.
  std::map<std::string, double> state_dict() const {
    std::map<std::string, double> out{{"last_step", static_cast<double>(last_step_)}};
    for (std::size_t g = 0; g < base_lrs_.size(); ++g) out["base_lr." + std::to_string(g)] = base_lrs_[g];
    return out;
  }

  // Restores the counter and base lrs and sets every group's lr to base_lr · λ(last_step), i.e.
  // what the scheduler had written when the state was saved (so the order relative to the
  // optimizer's load_state_dict does not matter).
  void load_state_dict(const std::map<std::string, double>& state) {
    auto it = state.find("last_step");
    TINYXF_CHECK(it != state.end(), "LambdaLR::load_state_dict: the state has no 'last_step'");
    const double step = it->second;
    TINYXF_CHECK(step >= 0 && step == std::floor(step) && step < 9.0e15,
                 "LambdaLR::load_state_dict: 'last_step' must be a non-negative integer, got ", step);
    std::vector<double> base(base_lrs_.size());
    for (std::size_t g = 0; g < base.size(); ++g) {
      const std::string key = "base_lr." + std::to_string(g);
      auto b = state.find(key);
      TINYXF_CHECK(b != state.end(), "LambdaLR::load_state_dict: the state has no '", key, "' (",
                   base.size(), " param groups here)");
      TINYXF_CHECK(b->second >= 0 && std::isfinite(b->second), "LambdaLR::load_state_dict: '", key,
                   "' must be finite and >= 0, got ", b->second);
      base[g] = b->second;
    }
    TINYXF_CHECK(state.size() == base.size() + 1, "LambdaLR::load_state_dict: the state has ",
                 state.size() - 1, " base lrs, this scheduler's optimizer has ", base.size(),
                 " param groups");
    base_lrs_ = std::move(base);
    last_step_ = static_cast<std::int64_t>(step);
    apply();
  }

 private:
  void apply() {
    auto& groups = optimizer_->param_groups();
    TINYXF_CHECK(groups.size() == base_lrs_.size(), "LambdaLR: the optimizer now has ", groups.size(),
                 " param groups, the scheduler was built for ", base_lrs_.size());
    last_lr_.resize(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      last_lr_[g] = base_lrs_[g] * multipliers_[g](last_step_);
      groups[g].lr = last_lr_[g];
    }
  }

  Optimizer* optimizer_;
  std::vector<Multiplier> multipliers_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  std::int64_t last_step_ = -1;
};

namespace schedule_detail {
inline void check_steps(const char* name, std::int64_t warmup, std::int64_t total) {
  TINYXF_CHECK(warmup >= 0, name, ": num_warmup_steps must be >= 0, got ", warmup);
  TINYXF_CHECK(total >= 0, name, ": num_training_steps must be >= 0, got ", total);
}
// s / max(1, W) during warmup (the same expression in every transformers schedule).
inline double warmup_ramp(std::int64_t step, std::int64_t warmup) {
  return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
}
}  // namespace schedule_detail

// λ(s) = s / max(1, W) for s < W, then max(0, (T − s) / max(1, T − W)).
inline LambdaLR get_linear_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                                std::int64_t num_training_steps) {
  schedule_detail::check_steps("get_linear_schedule_with_warmup", num_warmup_steps, num_training_steps);
  return LambdaLR(optimizer, [w = num_warmup_steps, t = num_training_steps](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    return std::max(0.0, static_cast<double>(t - s) / static_cast<double>(std::max<std::int64_t>(1, t - w)));
  });
}

// λ(s) = s / max(1, W) for s < W, then 1.
inline LambdaLR get_constant_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps) {
  schedule_detail::check_steps("get_constant_schedule_with_warmup", num_warmup_steps, 0);
  return LambdaLR(optimizer, [w = num_warmup_steps](std::int64_t s) {
    return s < w ? schedule_detail::warmup_ramp(s, w) : 1.0;
  });
}

// λ(s) = s / max(1, W) for s < W, then with p = (s − W) / max(1, T − W):
// max(0, 0.5·(1 + cos(π · num_cycles · 2 · p))). num_cycles 0.5 decays from 1 to 0 over T − W.
inline LambdaLR get_cosine_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                                std::int64_t num_training_steps, double num_cycles = 0.5) {
  schedule_detail::check_steps("get_cosine_schedule_with_warmup", num_warmup_steps, num_training_steps);
  TINYXF_CHECK(std::isfinite(num_cycles), "get_cosine_schedule_with_warmup: num_cycles must be finite, got ",
               num_cycles);
  return LambdaLR(optimizer, [w = num_warmup_steps, t = num_training_steps, num_cycles](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    const double progress =
        static_cast<double>(s - w) / static_cast<double>(std::max<std::int64_t>(1, t - w));
    return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * num_cycles * 2.0 * progress)));
  });
}

// λ(s) = 1.
inline LambdaLR get_constant_schedule(Optimizer& optimizer) {
  return LambdaLR(optimizer, [](std::int64_t) { return 1.0; });
}

namespace schedule_detail {
// Python's x % 1.0 (never negative, unlike fmod).
inline double python_mod1(double x) {
  const double r = std::fmod(x, 1.0);
  return r < 0 ? r + 1.0 : r;
}
// (s − W) / max(1, T − W): the decay progress of the cosine schedules.
inline double decay_progress(std::int64_t step, std::int64_t warmup, std::int64_t total) {
  return static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
}
// The optimizer's default lr (torch's optimizer.defaults["lr"]), which min_lr is divided by.
inline double positive_default_lr(const char* name, const Optimizer& optimizer, const char* why) {
  TINYXF_CHECK_AS(ValueError, optimizer.default_lr() > 0, name, ": ", why, " needs the optimizer's lr > 0, got ",
                  optimizer.default_lr());
  return optimizer.default_lr();
}
// get_wsd_schedule's warmup_type / decay_type (transformers' message).
inline void check_wsd_shape(const char* phase, std::string_view type) {
  TINYXF_CHECK_AS(ValueError, type == "linear" || type == "cosine" || type == "1-sqrt", "Unknown ", phase, " type: ",
                  type, ", expected 'linear', 'cosine' or '1-sqrt'");
}
}  // namespace schedule_detail

// λ(s) = s / max(1, W) for s < W; then with p = (s − W) / max(1, T − W): 0 once p >= 1, else
// max(0, 0.5·(1 + cos(π · ((num_cycles · p) mod 1)))) — num_cycles cosine decays to 0, each
// restarting at 1.
inline LambdaLR get_cosine_with_hard_restarts_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                                                   std::int64_t num_training_steps,
                                                                   double num_cycles = 1) {
  const char* name = "get_cosine_with_hard_restarts_schedule_with_warmup";
  schedule_detail::check_steps(name, num_warmup_steps, num_training_steps);
  TINYXF_CHECK_AS(ValueError, std::isfinite(num_cycles), name, ": num_cycles must be finite, got ", num_cycles);
  return LambdaLR(optimizer, [w = num_warmup_steps, t = num_training_steps, num_cycles](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    const double progress = schedule_detail::decay_progress(s, w, t);
    if (progress >= 1.0) return 0.0;
    return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * schedule_detail::python_mod1(num_cycles * progress))));
  });
}

// With lr_init the optimizer's default lr (torch's optimizer.defaults["lr"], as transformers;
// every group's lr is its own base lr times λ): λ(s) = s / max(1, W) for s < W; lr_end / lr_init
// for s > T; else ((lr_init − lr_end)·(1 − (s − W) / (T − W))^power + lr_end) / lr_init.
// lr_end must be smaller than lr_init. With W == T, step T divides by T − W = 0: transformers
// raises ZeroDivisionError there, and so does this (an Error naming the step).
inline LambdaLR get_polynomial_decay_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                                          std::int64_t num_training_steps, double lr_end = 1e-7,
                                                          double power = 1.0) {
  const char* name = "get_polynomial_decay_schedule_with_warmup";
  schedule_detail::check_steps(name, num_warmup_steps, num_training_steps);
  const double lr_init = optimizer.default_lr();
  TINYXF_CHECK_AS(ValueError, lr_init > lr_end, "lr_end (", lr_end, ") must be smaller than initial lr (", lr_init,
                  ")");
  TINYXF_CHECK_AS(ValueError, std::isfinite(lr_end) && std::isfinite(power), name,
                  ": lr_end and power must be finite, got lr_end ", lr_end, ", power ", power);
  return LambdaLR(optimizer, [w = num_warmup_steps, t = num_training_steps, lr_end, power, lr_init](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    if (s > t) return lr_end / lr_init;
    TINYXF_CHECK_AS(ValueError, t > w, "get_polynomial_decay_schedule_with_warmup: step ", s,
                    " divides by zero decay steps (num_warmup_steps == num_training_steps == ", t, ")");
    const double pct_remaining = 1.0 - static_cast<double>(s - w) / static_cast<double>(t - w);
    return ((lr_init - lr_end) * std::pow(pct_remaining, power) + lr_end) / lr_init;
  });
}

// λ(s) = s / max(1, W) for s < W, then 1 / sqrt((s + timescale − W) / timescale).
// timescale defaults to W, or 10 000 when W is 0 (transformers' `num_warmup_steps or 10_000`).
inline LambdaLR get_inverse_sqrt_schedule(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                          std::optional<std::int64_t> timescale = std::nullopt) {
  const char* name = "get_inverse_sqrt_schedule";
  schedule_detail::check_steps(name, num_warmup_steps, 0);
  const std::int64_t scale = timescale.value_or(num_warmup_steps != 0 ? num_warmup_steps : 10'000);
  TINYXF_CHECK_AS(ValueError, scale > 0, name, ": timescale must be > 0, got ", scale);
  return LambdaLR(optimizer, [w = num_warmup_steps, scale](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    const std::int64_t shift = scale - w;
    return 1.0 / std::sqrt(static_cast<double>(s + shift) / static_cast<double>(scale));
  });
}

// The cosine schedule decaying to min_lr_rate instead of 0: λ(s) = s / max(1, W) for s < W,
// then max(0, c·(1 − min_lr_rate) + min_lr_rate) with c the cosine factor of
// get_cosine_schedule_with_warmup. Exactly one of min_lr (an lr, divided by the optimizer's
// default lr) and min_lr_rate is given.
inline LambdaLR get_cosine_with_min_lr_schedule_with_warmup(Optimizer& optimizer, std::int64_t num_warmup_steps,
                                                            std::int64_t num_training_steps, double num_cycles = 0.5,
                                                            std::optional<double> min_lr = std::nullopt,
                                                            std::optional<double> min_lr_rate = std::nullopt) {
  const char* name = "get_cosine_with_min_lr_schedule_with_warmup";
  schedule_detail::check_steps(name, num_warmup_steps, num_training_steps);
  TINYXF_CHECK_AS(ValueError, !(min_lr && min_lr_rate), "Only one of min_lr or min_lr_rate should be set");
  TINYXF_CHECK_AS(ValueError, min_lr || min_lr_rate,
                  "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`");
  const double rate =
      min_lr ? *min_lr / schedule_detail::positive_default_lr(name, optimizer, "min_lr") : *min_lr_rate;
  TINYXF_CHECK_AS(ValueError, std::isfinite(num_cycles) && std::isfinite(rate), name,
                  ": num_cycles and the min lr rate must be finite, got num_cycles ", num_cycles, ", min_lr_rate ",
                  rate);
  return LambdaLR(optimizer, [w = num_warmup_steps, t = num_training_steps, num_cycles, rate](std::int64_t s) {
    if (s < w) return schedule_detail::warmup_ramp(s, w);
    const double progress = schedule_detail::decay_progress(s, w, t);
    const double factor = 0.5 * (1.0 + std::cos(std::numbers::pi * num_cycles * 2.0 * progress));
    return std::max(0.0, factor * (1.0 - rate) + rate);
  });
}

// The shapes of get_wsd_schedule's warmup and decay.
struct WsdOptions {
  std::optional<std::int64_t> num_training_steps;  // the stable phase is T − W − num_decay_steps ...
  std::optional<std::int64_t> num_stable_steps;    // ... unless this is given (it wins, as in transformers)
  std::string warmup_type = "linear";              // linear | cosine | 1-sqrt
  std::string decay_type = "cosine";               // linear | cosine | 1-sqrt
  double min_lr_ratio = 0;
  double num_cycles = 0.5;                         // of the cosine decay
};

// Warmup–stable–decay: for s < W, p = s / max(1, W) and f = p (linear), 0.5·(1 − cos(π·p))
// (cosine) or 1 − sqrt(1 − p) (1-sqrt), λ = max(0, f·(1 − m) + m); 1 during the stable steps; then
// for D decay steps p = (s − W − S) / max(1, D) and f = 1 − p, 0.5·(1 + cos(2π·num_cycles·p)) or
// 1 − sqrt(p), λ = max(0, f·(1 − m) + m); m = min_lr_ratio afterwards.
inline LambdaLR get_wsd_schedule(Optimizer& optimizer, std::int64_t num_warmup_steps, std::int64_t num_decay_steps,
                                 const WsdOptions& o = {}) {
  const char* name = "get_wsd_schedule";
  schedule_detail::check_steps(name, num_warmup_steps, o.num_training_steps.value_or(0));
  TINYXF_CHECK_AS(ValueError, num_decay_steps >= 0, name, ": num_decay_steps must be >= 0, got ", num_decay_steps);
  TINYXF_CHECK_AS(ValueError, o.num_training_steps || o.num_stable_steps,
                  "Either num_training_steps or num_stable_steps must be specified.");
  schedule_detail::check_wsd_shape("warmup", o.warmup_type);
  schedule_detail::check_wsd_shape("decay", o.decay_type);
  TINYXF_CHECK_AS(ValueError, std::isfinite(o.min_lr_ratio) && std::isfinite(o.num_cycles), name,
                  ": min_lr_ratio and num_cycles must be finite, got ", o.min_lr_ratio, " and ", o.num_cycles);
  const std::int64_t stable = o.num_stable_steps ? *o.num_stable_steps
                                                 : *o.num_training_steps - num_warmup_steps - num_decay_steps;
  TINYXF_CHECK_AS(ValueError, !o.num_stable_steps || stable >= 0, name, ": num_stable_steps must be >= 0, got ", stable);
  return LambdaLR(optimizer, [w = num_warmup_steps, stable, d = num_decay_steps, o](std::int64_t s) {
    const double m = o.min_lr_ratio;
    if (s < w) {
      const double p = schedule_detail::warmup_ramp(s, w);
      const double f = o.warmup_type == "linear"   ? p
                       : o.warmup_type == "cosine" ? 0.5 * (1.0 - std::cos(std::numbers::pi * p))
                                                   : 1.0 - std::sqrt(1.0 - p);
      return std::max(0.0, f * (1.0 - m) + m);
    }
    if (s < w + stable) return 1.0;
    if (s < w + stable + d) {
      const double p = static_cast<double>(s - w - stable) / static_cast<double>(std::max<std::int64_t>(1, d));
      const double f = o.decay_type == "linear"   ? 1.0 - p
                       : o.decay_type == "cosine" ? 0.5 * (1.0 + std::cos(std::numbers::pi * o.num_cycles * 2.0 * p))
                                                  : 1.0 - std::sqrt(p);
      return std::max(0.0, f * (1.0 - m) + m);
    }
    return m;
  });
}

// ---- get_scheduler ----------------------------------------------------------------------------

// transformers' get_reduce_on_plateau_schedule: torch's ReduceLROnPlateau, torch's defaults.
inline ReduceLROnPlateau get_reduce_on_plateau_schedule(Optimizer& optimizer,
                                                        const ReduceLROnPlateauOptions& options = {}) {
  return ReduceLROnPlateau(optimizer, options);
}

// What get_scheduler returns (torch's LRScheduler, the base class of both): a LambdaLR, stepped
// after every optimizer step, or a ReduceLROnPlateau, stepped with a metric after every
// evaluation. It converts (once, from a temporary) to the LambdaLR it holds, so that
// `LambdaLR s = get_scheduler(...)` keeps working for the step schedules.
class LRScheduler {
 public:
  LRScheduler(LambdaLR scheduler) : scheduler_(std::move(scheduler)) {}           // NOLINT: implicit on purpose
  LRScheduler(ReduceLROnPlateau scheduler) : scheduler_(std::move(scheduler)) {}  // NOLINT: implicit on purpose

  // True for ReduceLROnPlateau: step(metric) after each evaluation instead of step() per update.
  bool steps_on_metric() const { return std::holds_alternative<ReduceLROnPlateau>(scheduler_); }
  void step() {
    LambdaLR* s = lambda_lr();
    TINYXF_CHECK_AS(ValueError, s != nullptr,
                    "ReduceLROnPlateau.step() needs the monitored metric: call step(metric) after each evaluation");
    s->step();
  }
  void step(double metric) {
    ReduceLROnPlateau* s = plateau();
    TINYXF_CHECK_AS(ValueError, s != nullptr, "LambdaLR.step() takes no metric (its lr follows the step count, ",
                    metric, " was given): call step()");
    s->step(metric);
  }
  const std::vector<double>& get_last_lr() const {
    return std::visit([](const auto& s) -> const std::vector<double>& { return s.get_last_lr(); }, scheduler_);
  }
  // The scheduler held, or null when it is the other kind.
  LambdaLR* lambda_lr() { return std::get_if<LambdaLR>(&scheduler_); }
  const LambdaLR* lambda_lr() const { return std::get_if<LambdaLR>(&scheduler_); }
  ReduceLROnPlateau* plateau() { return std::get_if<ReduceLROnPlateau>(&scheduler_); }
  const ReduceLROnPlateau* plateau() const { return std::get_if<ReduceLROnPlateau>(&scheduler_); }

  operator LambdaLR() && {  // NOLINT: implicit on purpose (see above)
    TINYXF_CHECK_AS(ValueError, !steps_on_metric(),
                    "get_scheduler(\"reduce_lr_on_plateau\") made a ReduceLROnPlateau, not a LambdaLR: keep it as "
                    "an optim::LRScheduler (or an optim::ReduceLROnPlateau from get_reduce_on_plateau_schedule)");
    return std::get<LambdaLR>(std::move(scheduler_));
  }

 private:
  std::variant<LambdaLR, ReduceLROnPlateau> scheduler_;
};

// One schedule-specific argument (transformers' scheduler_specific_kwargs values): a number; a
// string for get_wsd_schedule's warmup_type / decay_type and ReduceLROnPlateau's mode /
// threshold_mode; a list of numbers for ReduceLROnPlateau's per-group min_lr.
using ScheduleArg = std::variant<double, std::string, std::vector<double>>;
using ScheduleKwargs = std::map<std::string, ScheduleArg, std::less<>>;

// The names get_scheduler knows (transformers' SchedulerType, in its order), and the keyword
// arguments each takes besides num_warmup_steps / num_training_steps. The constant schedules take
// none (transformers silently ignores their kwargs; here a key is an error, like every other
// unexpected key). reduce_lr_on_plateau takes ReduceLROnPlateau's arguments (transformers passes
// them through). cosine_warmup_with_min_lr and greedy are transformers names tinyxf does not have.
struct ScheduleName {
  std::string_view name;
  std::string_view function;               // transformers' factory, named in errors
  std::array<std::string_view, 8> kwargs{};  // the unused slots are empty
  bool supported = true;

  bool takes(std::string_view key) const {
    return !key.empty() && std::find(kwargs.begin(), kwargs.end(), key) != kwargs.end();
  }
};
inline constexpr ScheduleName kScheduleNames[] = {
    {"linear", "get_linear_schedule_with_warmup", {}},
    {"cosine", "get_cosine_schedule_with_warmup", {"num_cycles"}},
    {"cosine_with_restarts", "get_cosine_with_hard_restarts_schedule_with_warmup", {"num_cycles"}},
    {"polynomial", "get_polynomial_decay_schedule_with_warmup", {"lr_end", "power"}},
    {"constant", "get_constant_schedule", {}},
    {"constant_with_warmup", "get_constant_schedule_with_warmup", {}},
    {"inverse_sqrt", "get_inverse_sqrt_schedule", {"timescale"}},
    {"reduce_lr_on_plateau",
     "get_reduce_on_plateau_schedule",
     {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"}},
    {"cosine_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup", {"num_cycles", "min_lr", "min_lr_rate"}},
    {"cosine_warmup_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate", {}, false},
    {"warmup_stable_decay",
     "get_wsd_schedule",
     {"num_decay_steps", "num_stable_steps", "warmup_type", "decay_type", "min_lr_ratio", "num_cycles"}},
    {"greedy", "get_greedy_schedule", {}, false},
};

// The entry of `name`; unknown names and the transformers schedules tinyxf lacks are errors
// (transformers' "... is not a valid SchedulerType" message, with tinyxf's list).
inline const ScheduleName& schedule_name(std::string_view name) {
  std::string valid;
  for (const ScheduleName& s : kScheduleNames) {
    if (s.name == name) {
      TINYXF_CHECK_AS(NotImplementedError, s.supported, "lr scheduler \"", name, "\" (transformers' ", s.function,
                      ") is not supported by tinyxf");
      return s;
    }
    if (s.supported) valid += (valid.empty() ? "'" : ", '") + std::string(s.name) + "'";
  }
  throw ValueError(detail::concat(name, " is not a valid SchedulerType, please select one of [", valid, "]"));
}

// Checks that schedule `name` takes keyword argument `key` (transformers' TypeError otherwise).
inline void check_schedule_kwarg_key(std::string_view name, std::string_view key) {
  const ScheduleName& entry = schedule_name(name);
  if (entry.takes(key)) return;
  std::string takes;
  for (std::string_view k : entry.kwargs)
    if (!k.empty()) takes += (takes.empty() ? "" : ", ") + std::string(k);
  throw ValueError(detail::concat(entry.function, "() got an unexpected keyword argument '", key,
                                  "' (lr scheduler \"", name, "\" takes ",
                                  takes.empty() ? "no keyword arguments" : "only " + takes, ")"));
}

namespace schedule_detail {
// reduce_lr_on_plateau's kwargs (already checked by check_schedule_kwargs) as ReduceLROnPlateau's options.
inline ReduceLROnPlateauOptions plateau_options(const ScheduleKwargs& kwargs) {
  ReduceLROnPlateauOptions o;
  for (const auto& [key, value] : kwargs) {
    const auto* number = std::get_if<double>(&value);
    if (key == "mode") o.mode = std::get<std::string>(value);
    else if (key == "threshold_mode") o.threshold_mode = std::get<std::string>(value);
    else if (key == "min_lr") o.min_lr = number ? decltype(o.min_lr)(*number) : std::get<std::vector<double>>(value);
    else if (key == "factor") o.factor = *number;
    else if (key == "patience") o.patience = static_cast<std::int64_t>(*number);
    else if (key == "threshold") o.threshold = *number;
    else if (key == "cooldown") o.cooldown = static_cast<std::int64_t>(*number);
    else if (key == "eps") o.eps = *number;
  }
  return o;
}
}  // namespace schedule_detail

// Checks that every key of `kwargs` is an argument of schedule `name` and has the right type
// (strings for warmup_type / decay_type / mode / threshold_mode, whole numbers for step counts,
// a number or a list for the plateau's min_lr, numbers otherwise), and that the arguments a
// schedule needs are there.
inline void check_schedule_kwargs(std::string_view name, const ScheduleKwargs& kwargs) {
  const ScheduleName& entry = schedule_name(name);
  for (const auto& [key, value] : kwargs) {
    check_schedule_kwarg_key(name, key);
    const bool wants_string = key == "warmup_type" || key == "decay_type" || key == "mode" || key == "threshold_mode";
    const bool takes_list = name == "reduce_lr_on_plateau" && key == "min_lr";  // torch's per-group min_lr
    const bool ok = wants_string ? std::holds_alternative<std::string>(value)
                                 : std::holds_alternative<double>(value) ||
                                       (takes_list && std::holds_alternative<std::vector<double>>(value));
    TINYXF_CHECK_AS(ValueError, ok, entry.function, ": ", key, " must be a ",
                    wants_string ? "string" : takes_list ? "number or a list of numbers" : "number");
    if (key == "warmup_type" || key == "decay_type")
      schedule_detail::check_wsd_shape(key == "warmup_type" ? "warmup" : "decay", std::get<std::string>(value));
    if (key == "timescale" || key == "num_decay_steps" || key == "num_stable_steps" || key == "patience" ||
        key == "cooldown") {
      const double v = std::get<double>(value);
      TINYXF_CHECK_AS(ValueError, v == std::floor(v) && std::abs(v) < 9.0e15, entry.function, ": ", key,
                      " must be a whole number, got ", v);
    }
  }
  // The arguments these schedules cannot do without (checked here too so that
  // TrainingArguments::validate reports them before training).
  const auto given = [&](std::string_view key) { return kwargs.find(key) != kwargs.end(); };
  if (name == "cosine_with_min_lr") {
    TINYXF_CHECK_AS(ValueError, !(given("min_lr") && given("min_lr_rate")), "Only one of min_lr or min_lr_rate should be set");
    TINYXF_CHECK_AS(ValueError, given("min_lr") || given("min_lr_rate"),
                    "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`");
  }
  if (name == "warmup_stable_decay")
    TINYXF_CHECK_AS(ValueError, given("num_decay_steps"),
                    "get_wsd_schedule() missing 1 required positional argument: 'num_decay_steps' (give it in the "
                    "lr scheduler kwargs)");
  if (name == "reduce_lr_on_plateau") ReduceLROnPlateau::check_options(schedule_detail::plateau_options(kwargs));
}

// transformers.get_scheduler: the schedule called `name` (see kScheduleNames) with
// num_warmup_steps, num_training_steps and the schedule's own keyword arguments. As there, the
// constant schedule and reduce_lr_on_plateau (a ReduceLROnPlateau with the kwargs) need neither
// step count, every other one num_warmup_steps, and all but constant_with_warmup, inverse_sqrt
// and warmup_stable_decay num_training_steps.
inline LRScheduler get_scheduler(std::string_view name, Optimizer& optimizer,
                              std::optional<std::int64_t> num_warmup_steps = std::nullopt,
                              std::optional<std::int64_t> num_training_steps = std::nullopt,
                              const ScheduleKwargs& kwargs = {}) {
  check_schedule_kwargs(name, kwargs);
  const auto number = [&](std::string_view key) -> std::optional<double> {
    auto it = kwargs.find(key);
    return it == kwargs.end() ? std::nullopt : std::optional<double>(std::get<double>(it->second));
  };
  const auto steps = [&](std::string_view key) -> std::optional<std::int64_t> {
    auto v = number(key);
    return v ? std::optional<std::int64_t>(static_cast<std::int64_t>(*v)) : std::nullopt;
  };
  if (name == "constant") return get_constant_schedule(optimizer);
  if (name == "reduce_lr_on_plateau")
    return get_reduce_on_plateau_schedule(optimizer, schedule_detail::plateau_options(kwargs));
  TINYXF_CHECK_AS(ValueError, num_warmup_steps.has_value(), name,
                  " requires `num_warmup_steps`, please provide that argument.");
  const std::int64_t w = *num_warmup_steps;
  if (name == "constant_with_warmup") return get_constant_schedule_with_warmup(optimizer, w);
  if (name == "inverse_sqrt") return get_inverse_sqrt_schedule(optimizer, w, steps("timescale"));
  if (name == "warmup_stable_decay") {
    WsdOptions o;
    o.num_training_steps = num_training_steps;
    o.num_stable_steps = steps("num_stable_steps");
    if (auto it = kwargs.find("warmup_type"); it != kwargs.end()) o.warmup_type = std::get<std::string>(it->second);
    if (auto it = kwargs.find("decay_type"); it != kwargs.end()) o.decay_type = std::get<std::string>(it->second);
    o.min_lr_ratio = number("min_lr_ratio").value_or(0.0);
    o.num_cycles = number("num_cycles").value_or(0.5);
    return get_wsd_schedule(optimizer, w, *steps("num_decay_steps"), o);
  }
  TINYXF_CHECK_AS(ValueError, num_training_steps.has_value(), name,
                  " requires `num_training_steps`, please provide that argument.");
  const std::int64_t t = *num_training_steps;
  if (name == "linear") return get_linear_schedule_with_warmup(optimizer, w, t);
  if (name == "cosine") return get_cosine_schedule_with_warmup(optimizer, w, t, number("num_cycles").value_or(0.5));
  if (name == "cosine_with_restarts")
    return get_cosine_with_hard_restarts_schedule_with_warmup(optimizer, w, t, number("num_cycles").value_or(1.0));
  if (name == "polynomial")
    return get_polynomial_decay_schedule_with_warmup(optimizer, w, t, number("lr_end").value_or(1e-7),
                                                     number("power").value_or(1.0));
  // cosine_with_min_lr: the last name schedule_name lets through.
  return get_cosine_with_min_lr_schedule_with_warmup(optimizer, w, t, number("num_cycles").value_or(0.5),
                                                     number("min_lr"), number("min_lr_rate"));
}

}  // namespace tinyxf::optim
