// TimeBudgetPlanner and BudgetSchedule (imdb_distilbert --time-budget) on a fake clock: the
// planner only ever sees the seconds it is given, so nothing here depends on the machine's speed.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tinyxf/train/time_budget.hpp"

using namespace tinyxf::train;
using Catch::Matchers::Contains;

namespace {

// A run on a fake clock: step k takes `seconds_per_token` x tokens, its forward 30 % of that.
struct FakeRun {
  double now = 0;
  std::int64_t steps = 0;
  void step(TimeBudgetPlanner& planner, std::int64_t tokens, double seconds_per_token) {
    const double seconds = seconds_per_token * static_cast<double>(tokens);
    now += seconds;
    ++steps;
    planner.record_step(seconds, 0.3 * seconds, tokens);
  }
};

}  // namespace

TEST_CASE("TimeBudgetPlanner: the steps that fit after the final evaluation", "[train][time_budget]") {
  TimeBudgetOptions options;
  options.budget_seconds = 1000;
  options.reserve_fraction = 0;
  TimeBudgetPlanner planner(options, /*start=*/0);
  FakeRun run;
  run.now = 40;  // loading the model and the data before the first step
  // The first two (warm-up) steps are slow and left out of the rates.
  planner.record_step(30, 10, 100);
  planner.record_step(30, 10, 100);
  run.now += 60;
  run.steps = 2;
  for (int i = 0; i < 17; ++i) run.step(planner, 100, 0.01);
  CHECK_FALSE(planner.ready_to_plan());
  run.step(planner, 100, 0.01);
  REQUIRE(planner.ready_to_plan());
  CHECK(planner.train_seconds_per_token() == Approx(0.01));
  CHECK(planner.forward_seconds_per_token() == Approx(0.003));
  // At t = 118 s, 20 steps done: 1000 - 118 - 3 (final evaluation of 1,000 tokens) = 879 s
  // left, 1 s per step of 100 tokens: 879 more steps.
  const std::int64_t planned = planner.plan(run.now, run.steps, [](std::int64_t) { return 100; }, {}, 1000);
  CHECK(planned == 20 + 879);
  CHECK(planner.planned());
  CHECK_FALSE(planner.ready_to_plan());
  CHECK(planner.plan_step() == 20);
  CHECK(planner.planned_final_eval_seconds() == Approx(3.0));
  // Running the plan at that rate ends within the budget.
  while (run.steps < planned) run.step(planner, 100, 0.01);
  CHECK(run.now + 3.0 <= 1000.0);
  CHECK(run.now + 3.0 > 999.0);
  CHECK_THROWS_WITH(planner.plan(run.now, run.steps, [](std::int64_t) { return 100; }, {}, 0),
                    Contains("already planned (at step 20)"));
}

TEST_CASE("TimeBudgetPlanner: batch sizes, evaluations during training, caps", "[train][time_budget]") {
  TimeBudgetOptions options;
  options.budget_seconds = 100;
  options.reserve_fraction = 0.1;  // 10 s kept free
  options.measure_steps = 4;
  options.skip_steps = 0;
  auto measured = [&] {
    TimeBudgetPlanner planner(options, 0);
    for (int i = 0; i < 4; ++i) planner.record_step(1.0, 0.5, 1000);  // 1 ms per token, forward 0.5 ms
    return planner;
  };
  // Bucketed batches alternate 2,000 and 500 tokens (2 s and 0.5 s); 90 - 4 = 86 s left, no
  // final evaluation: 34 pairs (85 s), then a 2 s step does not fit.
  {
    TimeBudgetPlanner planner = measured();
    const auto tokens = [](std::int64_t s) { return s % 2 == 0 ? 2000 : 500; };
    CHECK(planner.plan(4, 4, tokens, {}, 0) == 4 + 68);
  }
  // An evaluation of 10,000 tokens (5 s) after every 10th step.
  {
    TimeBudgetPlanner planner = measured();
    const auto eval = [](std::int64_t s) { return (s + 1) % 10 == 0 ? 10000 : 0; };
    // 86 s: steps 4..9 (6 s) + eval (5 s) = 11; then 10 steps + eval = 15 per block: 11 + 15 x 5
    // = 86 -> step 59 done with its evaluation at exactly 86 s.
    CHECK(planner.plan(4, 4, [](std::int64_t) { return 1000; }, eval, 0) == 60);
  }
  // max_steps caps the plan; a budget already spent plans no further step.
  {
    options.max_steps = 30;
    TimeBudgetPlanner planner = measured();
    CHECK(planner.plan(4, 4, [](std::int64_t) { return 1000; }, {}, 0) == 30);
    options.max_steps = 0;
  }
  {
    TimeBudgetPlanner planner = measured();
    CHECK(planner.plan(95, 4, [](std::int64_t) { return 1000; }, {}, 0) == 4);
  }
  {
    TimeBudgetPlanner planner = measured();
    CHECK(planner.plan(4, 4, [](std::int64_t) { return 1000; }, {}, 200000) == 4);  // the final eval alone is 100 s
  }
  CHECK_THROWS_WITH(TimeBudgetPlanner(TimeBudgetOptions{}, 0), Contains("budget_seconds must be finite and > 0, got 0"));
  options.skip_steps = 4;
  CHECK_THROWS_WITH(TimeBudgetPlanner(options, 0), Contains("measure_steps (4) must exceed skip_steps (4)"));
  options.skip_steps = 0;
  TimeBudgetPlanner unmeasured(options, 0);
  CHECK_THROWS_WITH(unmeasured.plan(0, 0, [](std::int64_t) { return 1; }, {}, 0), Contains("no measured steps yet"));
}

TEST_CASE("BudgetSchedule: a continuous linear warmup/decay reaching 0 at the planned step", "[train][time_budget]") {
  // Provisional warmup equal to the planned one: exactly get_linear_schedule_with_warmup(10, 100).
  BudgetSchedule same;
  same.provisional_warmup = 10;
  CHECK(same(0) == 0.0);
  CHECK(same(5) == 0.5);
  same.plan(5, 10, 100);
  for (std::int64_t s = 0; s <= 110; ++s) {
    const double hf = s < 10 ? static_cast<double>(s) / 10.0 : std::max(0.0, static_cast<double>(100 - s) / 90.0);
    CHECK(same(s) == Approx(hf).margin(1e-12));
  }
  // Provisional warmup 40, planned W = 20 at step 20: the ramp reached 0.5 and decays from there.
  BudgetSchedule late;
  late.provisional_warmup = 40;
  late.plan(20, 20, 60);
  CHECK(late(20) == 0.5);
  CHECK(late(40) == Approx(0.25));
  CHECK(late(60) == 0.0);
  CHECK(late(61) == 0.0);
  // Provisional warmup 40, planned W = 30 at step 20: 0.5 -> 1 at step 30, then 0 at step 130.
  BudgetSchedule ramp;
  ramp.provisional_warmup = 40;
  ramp.plan(20, 30, 130);
  CHECK(ramp(25) == Approx(0.75));
  CHECK(ramp(30) == 1.0);
  CHECK(ramp(80) == Approx(0.5));
  CHECK(ramp(130) == 0.0);
  // Continuity everywhere: no step changes the multiplier by more than one step's slope.
  for (std::int64_t s = 1; s <= 130; ++s) CHECK(std::abs(ramp(s) - ramp(s - 1)) <= 0.05 + 1e-12);
  // No warmup at all: 1 until the plan, then linear to 0.
  BudgetSchedule flat;
  flat.plan(20, 0, 120);
  CHECK(flat(20) == 1.0);
  CHECK(flat(70) == Approx(0.5));
  CHECK(flat(120) == 0.0);
  CHECK_THROWS_WITH(flat.plan(20, 0, 10), Contains("needs 0 <= step <= total"));
}

TEST_CASE("EpochStepCosts: per-epoch lists, one epoch cached, 0 past a list", "[train][time_budget]") {
  std::vector<std::int64_t> asked;
  EpochStepCosts costs(3, [&](std::int64_t epoch) {
    asked.push_back(epoch);
    if (epoch == 1) return std::vector<std::int64_t>{7, 8};  // a shorter epoch (drop_last, sharding)
    return std::vector<std::int64_t>{10 * epoch + 1, 10 * epoch + 2, 10 * epoch + 3};
  });
  CHECK(costs(0) == 1);
  CHECK(costs(2) == 3);
  CHECK(costs(3) == 7);
  CHECK(costs(4) == 8);
  CHECK(costs(5) == 0);
  CHECK(costs(6) == 21);
  CHECK(costs(8) == 23);
  CHECK(asked == std::vector<std::int64_t>{0, 1, 2});  // each epoch's list made once, in order
  CHECK(costs(1) == 2);                                // going back recomputes that epoch
  CHECK(asked.back() == 0);

  EpochStepCosts empty(0, [](std::int64_t) { return std::vector<std::int64_t>{}; });
  CHECK(empty(0) == 0);
}
