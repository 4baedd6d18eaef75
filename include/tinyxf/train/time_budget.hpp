#pragma once
// tinyxf::train::TimeBudgetPlanner: how many optimizer steps fit into a wall-clock budget, and the
// learning-rate schedule for that many steps (imdb_distilbert --time-budget; docs/flagship.md).
//
//   TimeBudgetPlanner planner({.budget_seconds = 600}, /*start=*/0);
//   each step:  planner.record_step(step_seconds, forward_seconds, padded_tokens);
//   once ready: T = planner.plan(now, steps_done, batch_tokens, eval_tokens_after_step, final_eval_tokens);
//   then stop exactly at step T; schedule = BudgetSchedule{...}.planned(...)
//
// The cost model: a training step costs train_seconds_per_token x its padded tokens (B x S), an
// evaluation forward_seconds_per_token x its padded tokens; both rates come from the measured
// steps after the first `skip_steps` (allocator and cache warm-up). Evaluation runs the same
// forward without autograd, so the training forward's rate over-estimates it a little: the plan
// errs towards finishing early. The clock is passed in as plain seconds, so tests use a fake one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::train {

struct TimeBudgetOptions {
  double budget_seconds = 0;        // the whole run, from `start`
  std::int64_t measure_steps = 20;  // steps timed before the plan
  std::int64_t skip_steps = 2;      // of those, the first ones left out of the rates (warm-up)
  std::int64_t max_steps = 0;       // an upper bound on the plan (0: none)
  double reserve_fraction = 0.02;   // of the budget kept free for noise
};

class TimeBudgetPlanner {
 public:
  // Upper bound of the step walk when there is no max_steps (a budget of days at tiny steps).
  static constexpr std::int64_t kWalkLimit = std::int64_t{1} << 26;

  TimeBudgetPlanner(TimeBudgetOptions options, double start_seconds) : opt_(options), start_(start_seconds) {
    TINYXF_CHECK(std::isfinite(opt_.budget_seconds) && opt_.budget_seconds > 0,
                 "TimeBudgetPlanner: budget_seconds must be finite and > 0, got ", opt_.budget_seconds);
    TINYXF_CHECK(opt_.measure_steps > opt_.skip_steps && opt_.skip_steps >= 0,
                 "TimeBudgetPlanner: measure_steps (", opt_.measure_steps, ") must exceed skip_steps (",
                 opt_.skip_steps, ")");
    TINYXF_CHECK(opt_.reserve_fraction >= 0 && opt_.reserve_fraction < 1,
                 "TimeBudgetPlanner: reserve_fraction must be in [0, 1), got ", opt_.reserve_fraction);
  }

  const TimeBudgetOptions& options() const { return opt_; }

  // After every training step: its wall time, the time of its forward pass and its padded
  // tokens (B x S).
  void record_step(double step_seconds, double forward_seconds, std::int64_t batch_tokens) {
    ++steps_recorded_;
    if (steps_recorded_ <= opt_.skip_steps) return;
    step_seconds_ += step_seconds;
    forward_seconds_ += forward_seconds;
    tokens_ += static_cast<double>(std::max<std::int64_t>(batch_tokens, 1));
  }

  bool ready_to_plan() const { return !planned_ && steps_recorded_ >= opt_.measure_steps; }
  bool planned() const { return planned_; }
  std::int64_t planned_steps() const { return planned_steps_; }
  std::int64_t plan_step() const { return plan_step_; }

  // Seconds per padded token, over the steps recorded so far (re-estimated as training goes).
  double train_seconds_per_token() const { return tokens_ > 0 ? step_seconds_ / tokens_ : 0.0; }
  double forward_seconds_per_token() const { return tokens_ > 0 ? forward_seconds_ / tokens_ : 0.0; }
  double predicted_eval_seconds(std::int64_t eval_tokens) const {
    return forward_seconds_per_token() * static_cast<double>(eval_tokens);
  }
  // What the plan predicted for the final evaluation.
  double planned_final_eval_seconds() const { return planned_final_eval_seconds_; }

  // Plans at clock time `now`, `steps_done` steps in: walks the coming steps s = steps_done,
  // steps_done + 1, ... adding train_seconds_per_token x batch_tokens(s) and, after step s,
  // forward_seconds_per_token x eval_tokens_after_step(s) (evaluations during training), while
  // the sum fits the budget left after the final evaluation (final_eval_tokens) and the reserve.
  // Returns the planned total step count T >= steps_done (T == steps_done: no time for more).
  std::int64_t plan(double now, std::int64_t steps_done, const std::function<std::int64_t(std::int64_t)>& batch_tokens,
                    const std::function<std::int64_t(std::int64_t)>& eval_tokens_after_step,
                    std::int64_t final_eval_tokens) {
    TINYXF_CHECK(!planned_, "TimeBudgetPlanner::plan: already planned (at step ", plan_step_, ")");
    TINYXF_CHECK(steps_recorded_ > opt_.skip_steps, "TimeBudgetPlanner::plan: no measured steps yet");
    planned_final_eval_seconds_ = predicted_eval_seconds(final_eval_tokens);
    double left = opt_.budget_seconds * (1.0 - opt_.reserve_fraction) - (now - start_) - planned_final_eval_seconds_;
    const std::int64_t limit = opt_.max_steps > 0 ? opt_.max_steps : kWalkLimit;
    std::int64_t total = steps_done;
    for (std::int64_t s = steps_done; s < limit; ++s) {
      double cost = train_seconds_per_token() * static_cast<double>(batch_tokens(s));
      if (s + 1 < limit && eval_tokens_after_step) cost += predicted_eval_seconds(eval_tokens_after_step(s));
      if (cost > left) break;
      left -= cost;
      total = s + 1;
    }
    planned_ = true;
    plan_step_ = steps_done;
    planned_steps_ = std::max(total, steps_done);
    return planned_steps_;
  }

  // The clock time at which the planned run should end (for progress lines): now plus the
  // remaining steps at the current rate (mean_tokens per step) plus the final evaluation.
  double projected_end(double now, std::int64_t steps_done, double mean_batch_tokens) const {
    const double steps_left = static_cast<double>(std::max<std::int64_t>(planned_steps_ - steps_done, 0));
    return now + steps_left * mean_batch_tokens * train_seconds_per_token() + planned_final_eval_seconds_;
  }
  double deadline() const { return start_ + opt_.budget_seconds; }

 private:
  TimeBudgetOptions opt_;
  double start_;
  std::int64_t steps_recorded_ = 0;
  double step_seconds_ = 0, forward_seconds_ = 0, tokens_ = 0;
  bool planned_ = false;
  std::int64_t plan_step_ = -1, planned_steps_ = 0;
  double planned_final_eval_seconds_ = 0;
};

// The lr multiplier of a linear warmup/decay schedule whose length is only known after the first
// steps. Before the plan (and at the plan step itself) it ramps as s / provisional_warmup (capped
// at 1); once planned at step p for T steps with warmup W it continues from that value, linearly
// to 1 at step W (if W > p), then linearly to 0 at step T: continuous, and exactly Hugging Face's
// get_linear_schedule_with_warmup(W, T) when provisional_warmup == W. Use it through
// optim::LambdaLR with a reference (std::ref) so that plan() reaches the scheduler.
struct BudgetSchedule {
  std::int64_t provisional_warmup = 0;
  std::int64_t plan_step = -1;  // -1: not planned
  std::int64_t warmup = 0, total = 0;

  void plan(std::int64_t at_step, std::int64_t warmup_steps, std::int64_t total_steps) {
    TINYXF_CHECK(at_step >= 0 && total_steps >= at_step && warmup_steps >= 0,
                 "BudgetSchedule::plan: needs 0 <= step <= total and warmup >= 0, got step ", at_step, ", total ",
                 total_steps, ", warmup ", warmup_steps);
    plan_step = at_step;
    warmup = warmup_steps;
    total = total_steps;
  }

  double ramp(std::int64_t step) const {
    if (provisional_warmup <= 0) return 1.0;
    return std::min(1.0, static_cast<double>(step) / static_cast<double>(provisional_warmup));
  }

  double operator()(std::int64_t step) const {
    if (plan_step < 0 || step <= plan_step) return ramp(step);
    if (step >= total) return 0.0;
    const double at_plan = ramp(plan_step);
    if (warmup > plan_step && step < warmup)
      return at_plan + (1.0 - at_plan) * static_cast<double>(step - plan_step) / static_cast<double>(warmup - plan_step);
    const std::int64_t decay_from = std::max(warmup, plan_step);
    const double peak = warmup > plan_step ? 1.0 : at_plan;
    return peak * static_cast<double>(total - step) / static_cast<double>(total - decay_from);
  }
};

// The cost of global step s for TimeBudgetPlanner::plan, from a function giving every step's cost
// in one epoch (its padded tokens, from the loader's order): steps_per_epoch steps per epoch, one
// epoch's list cached (the plan walks the steps in order). A step past an epoch's list, or of a
// loader with no batches, costs 0.
class EpochStepCosts {
 public:
  using EpochCosts = std::function<std::vector<std::int64_t>(std::int64_t epoch)>;
  EpochStepCosts(std::int64_t steps_per_epoch, EpochCosts epoch_costs)
      : steps_per_epoch_(steps_per_epoch), epoch_costs_(std::move(epoch_costs)) {}
  std::int64_t operator()(std::int64_t step) {
    if (steps_per_epoch_ <= 0 || step < 0) return 0;
    const std::int64_t epoch = step / steps_per_epoch_;
    if (epoch != cached_epoch_) {
      costs_ = epoch_costs_(epoch);
      cached_epoch_ = epoch;
    }
    const auto i = static_cast<std::size_t>(step % steps_per_epoch_);
    return i < costs_.size() ? costs_[i] : std::int64_t{0};
  }

 private:
  std::int64_t steps_per_epoch_;
  EpochCosts epoch_costs_;
  std::int64_t cached_epoch_ = -1;
  std::vector<std::int64_t> costs_;
};

}  // namespace tinyxf::train
