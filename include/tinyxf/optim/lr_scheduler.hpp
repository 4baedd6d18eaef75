#pragma once
// Learning-rate schedules: torch.optim.lr_scheduler.LambdaLR and the transformers schedule
// factories built on it (transformers/optimization.py).
//
// LambdaLR keeps each group's base lr (its initial_lr: the lr the optimizer's first scheduler
// found, as torch's group.setdefault("initial_lr", lr)) and sets
//   group.lr = base_lr · λ(s)
// where s is the scheduler's step counter. Like PyTorch with last_epoch = −1, the constructor
// already performs step s = 0, so the loop `optimizer.step(); scheduler.step();` makes the k-th
// update (k = 1, 2, ...) use λ(k−1), and get_last_lr() is the lr of the *next* update.
//
// The scheduler holds a reference to the optimizer: it must not outlive it (or a moved-from one).
#include <cmath>
#include <functional>
#include <numbers>

#include "tinyxf/optim/optimizer.hpp"

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

}  // namespace tinyxf::optim
