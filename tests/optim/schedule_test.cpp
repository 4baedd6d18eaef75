// optim::get_scheduler and the transformers schedules beyond linear / cosine / constant against
// transformers 5.25's get_scheduler (tests/data/optim/schedule_golden.json, written by
// tests/reference/make_schedule_golden.py): every group's lr after every scheduler step, warmup 0,
// warmup == total and steps past the end included, and transformers' argument errors;
// get_scheduler("reduce_lr_on_plateau") / ReduceLROnPlateau against torch's ReduceLROnPlateau.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "tinyxf/backends/reference.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/optim/optim.hpp"

using namespace tinyxf;
using namespace tinyxf::optim;
namespace json = tinyxf::json;
using Catch::Matchers::Contains;

namespace {

const json::Value& golden() {
  static const json::Value value =
      json::parse_file(std::string(TINYXF_SOURCE_DIR) + "/tests/data/optim/schedule_golden.json");
  return value;
}

// The golden's dummy optimizer: torch.optim.SGD(default lr, two groups with their own lrs).
SGD golden_optimizer() {
  const auto& o = golden()["optimizer"];
  std::vector<ParamGroup> groups;
  for (const auto& lr : o["group_lrs"].as_array())
    groups.push_back(ParamGroup{{Tensor::from_vector(std::vector<float>{0.0f, 0.0f}, {2}, Device::reference())}, {}, lr.as_double(), {}});
  return SGD(std::move(groups), SgdOptions{.lr = o["default_lr"].as_double()});
}

ScheduleKwargs kwargs_of(const json::Value& object) {
  ScheduleKwargs out;
  for (const auto& [key, value] : object.as_object()) {
    if (value.is_string()) {
      out.emplace(key, value.as_string());
    } else if (value.is_array()) {
      std::vector<double> numbers;
      for (const auto& v : value.as_array()) numbers.push_back(v.as_double());
      out.emplace(key, std::move(numbers));
    } else {
      out.emplace(key, value.as_double());
    }
  }
  return out;
}

// The golden's numbers: "inf" / "-inf" / "nan" (Python's float() spellings) where not finite.
double golden_number(const json::Value& v) {
  if (!v.is_string()) return v.as_double();
  if (v.as_string() == "nan") return std::numeric_limits<double>::quiet_NaN();
  return (v.as_string() == "inf" ? 1.0 : -1.0) * std::numeric_limits<double>::infinity();
}

// The same value: NaN equals NaN; lrs and bests are the same double operations as torch's, so exact.
bool same_number(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Compares a state_dict() with the golden's (torch's) one, key for key.
void check_plateau_state(const ReduceLROnPlateau::State& state, const json::Value& golden_state) {
  REQUIRE(state.size() == golden_state.as_object().size());
  for (const auto& [key, expected] : golden_state.as_object()) {
    INFO("state_dict key " << key);
    REQUIRE(state.count(key) == 1);
    const ReduceLROnPlateau::StateValue& value = state.at(key);
    if (expected.is_null()) {
      CHECK(std::holds_alternative<std::monostate>(value));
    } else if (expected.is_array()) {
      REQUIRE(std::holds_alternative<std::vector<double>>(value));
      const auto& numbers = std::get<std::vector<double>>(value);
      REQUIRE(numbers.size() == expected.as_array().size());
      for (std::size_t i = 0; i < numbers.size(); ++i) CHECK(same_number(numbers[i], golden_number(expected[i])));
    } else if (key == "mode" || key == "threshold_mode") {
      CHECK(std::get<std::string>(value) == expected.as_string());
    } else {
      REQUIRE(std::holds_alternative<double>(value));
      CHECK(same_number(std::get<double>(value), golden_number(expected)));
    }
  }
}

// Steps `scheduler` with the golden case's metrics from step `from` and checks each step.
void follow_plateau_case(ReduceLROnPlateau& scheduler, Optimizer& optimizer, const json::Value& spec,
                         std::size_t from = 0) {
  const auto& metrics = spec["metrics"].as_array();
  const auto& steps = spec["steps"].as_array();
  for (std::size_t s = from; s < metrics.size(); ++s) {
    INFO("step " << s + 1);
    scheduler.step(metrics[s].is_null() ? std::numeric_limits<double>::quiet_NaN() : metrics[s].as_double());
    const json::Value& expected = steps[s];
    REQUIRE(scheduler.get_last_lr().size() == 2);
    for (std::size_t g = 0; g < 2; ++g) {
      CHECK(scheduler.get_last_lr()[g] == expected["lrs"][g].as_double());
      CHECK(*optimizer.param_groups()[g].lr == expected["lrs"][g].as_double());
    }
    CHECK(same_number(scheduler.best(), golden_number(expected["best"])));
    CHECK(scheduler.num_bad_epochs() == expected["num_bad_epochs"].as_int());
    CHECK(scheduler.cooldown_counter() == expected["cooldown_counter"].as_int());
    CHECK(scheduler.last_epoch() == expected["last_epoch"].as_int());
  }
}

std::optional<std::int64_t> optional_steps(const json::Value& v) {
  return v.is_null() ? std::nullopt : std::optional<std::int64_t>(v.as_int());
}

LambdaLR scheduler_of(const json::Value& spec, Optimizer& optimizer) {
  return get_scheduler(spec["name"].as_string(), optimizer, optional_steps(spec["num_warmup_steps"]),
                       optional_steps(spec["num_training_steps"]), kwargs_of(spec["kwargs"]));
}

}  // namespace

TEST_CASE("get_scheduler: every schedule's lr per group and step matches transformers", "[optim][lr_scheduler][golden]") {
  const auto& cases = golden()["schedules"].as_object();
  REQUIRE(cases.size() == 23);
  for (const auto& [name, spec] : cases) {
    INFO("case " << name);
    SGD optimizer = golden_optimizer();
    LambdaLR scheduler = scheduler_of(spec, optimizer);
    const auto& lrs = spec["lrs"].as_array();
    for (std::size_t s = 0; s < lrs.size(); ++s) {
      INFO("after " << s << " scheduler steps");
      REQUIRE(scheduler.get_last_lr().size() == 2);
      for (std::size_t g = 0; g < 2; ++g) {
        // Same formula in double: transformers' Python floats up to libm's last bit.
        CHECK(scheduler.get_last_lr()[g] == Approx(lrs[s][g].as_double()).epsilon(1e-14).margin(1e-300));
        CHECK(*optimizer.param_groups()[g].lr == scheduler.get_last_lr()[g]);
      }
      if (s + 1 < lrs.size()) scheduler.step();
    }
    if (spec.contains("error_at_step")) {
      // transformers' ZeroDivisionError (polynomial, num_warmup_steps == num_training_steps).
      REQUIRE(static_cast<std::int64_t>(lrs.size()) == spec["error_at_step"].as_int());
      CHECK_THROWS_WITH(scheduler.step(), Contains("divides by zero decay steps"));
    }
  }
}

TEST_CASE("get_scheduler: transformers' argument errors", "[optim][lr_scheduler][golden]") {
  for (const json::Value& spec : golden()["errors"].as_array()) {
    const std::string message = spec["message"].as_string();
    INFO(spec["name"].as_string() << ": " << message);
    SGD optimizer = golden_optimizer();
    CHECK_THROWS_WITH(scheduler_of(spec, optimizer), Contains(message));
  }
  SGD optimizer = golden_optimizer();
  // transformers' messages, with the name instead of Python's "SchedulerType.COSINE".
  CHECK_THROWS_WITH(get_scheduler("cosine", optimizer, 2),
                    Contains("cosine requires `num_training_steps`, please provide that argument."));
  CHECK_THROWS_WITH(get_scheduler("polynomial", optimizer),
                    Contains("polynomial requires `num_warmup_steps`, please provide that argument."));
  CHECK_NOTHROW(get_scheduler("constant", optimizer));
  CHECK_NOTHROW(get_scheduler("inverse_sqrt", optimizer, 0));
  CHECK_THROWS_AS(get_scheduler("step", optimizer, 0, 10), ValueError);
  CHECK_THROWS_WITH(get_scheduler("step", optimizer, 0, 10),
                    Contains("step is not a valid SchedulerType, please select one of ['linear', 'cosine', "
                             "'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup', "
                             "'inverse_sqrt', 'reduce_lr_on_plateau', 'cosine_with_min_lr', 'warmup_stable_decay']"));
  CHECK_THROWS_AS(get_scheduler("greedy", optimizer, 0, 10), NotImplementedError);
  // tinyxf refuses keys transformers would silently drop for the constant schedules.
  CHECK_THROWS_WITH(get_scheduler("constant", optimizer, 0, 10, {{"num_cycles", 1.0}}),
                    Contains("get_constant_schedule() got an unexpected keyword argument 'num_cycles' (lr scheduler "
                             "\"constant\" takes no keyword arguments)"));
  CHECK_THROWS_WITH(get_scheduler("polynomial", optimizer, 0, 10, {{"timescale", 1.0}}),
                    Contains("(lr scheduler \"polynomial\" takes only lr_end, power)"));
  CHECK_THROWS_WITH(get_scheduler("warmup_stable_decay", optimizer, 0, 10, {{"num_decay_steps", 2.5}}),
                    Contains("get_wsd_schedule: num_decay_steps must be a whole number, got 2.5"));
  CHECK_THROWS_WITH(get_scheduler("warmup_stable_decay", optimizer, 0, 10, {{"num_decay_steps", 2.0}, {"decay_type", 1.0}}),
                    Contains("get_wsd_schedule: decay_type must be a string"));
  CHECK_THROWS_WITH(get_scheduler("polynomial", optimizer, 0, 10, {{"power", std::string("2")}}),
                    Contains("get_polynomial_decay_schedule_with_warmup: power must be a number"));
  CHECK_THROWS_WITH(get_scheduler("inverse_sqrt", optimizer, 0, {}, {{"timescale", 0.0}}),
                    Contains("get_inverse_sqrt_schedule: timescale must be > 0, got 0"));
  CHECK_THROWS_WITH(get_scheduler("linear", optimizer, -1, 10), Contains("num_warmup_steps must be >= 0, got -1"));
}

TEST_CASE("The new schedule factories take transformers' argument names and defaults", "[optim][lr_scheduler]") {
  // Each factory called with its defaults follows the golden case that passed no kwargs (or the
  // same ones), step for step.
  const auto follows = [](const char* case_name, auto make) {
    INFO("case " << case_name);
    const json::Value& spec = golden()["schedules"][case_name];
    SGD optimizer = golden_optimizer();
    LambdaLR made = make(optimizer);
    const auto& lrs = spec["lrs"].as_array();
    for (std::size_t s = 0; s < lrs.size(); ++s, made.step())
      for (std::size_t g = 0; g < 2; ++g)
        CHECK(made.get_last_lr()[g] == Approx(lrs[s][g].as_double()).epsilon(1e-14).margin(1e-300));
  };
  follows("restarts_w2_t10", [](Optimizer& o) { return get_cosine_with_hard_restarts_schedule_with_warmup(o, 2, 10); });
  follows("polynomial_w2_t10", [](Optimizer& o) { return get_polynomial_decay_schedule_with_warmup(o, 2, 10); });
  follows("inverse_sqrt_w3", [](Optimizer& o) { return get_inverse_sqrt_schedule(o, 3); });
  follows("inverse_sqrt_w0", [](Optimizer& o) { return get_inverse_sqrt_schedule(o, 0); });  // timescale 10 000
  follows("wsd_w2_t10_d3", [](Optimizer& o) {
    return get_wsd_schedule(o, 2, 3, WsdOptions{.num_training_steps = 10, .num_stable_steps = std::nullopt});
  });
  follows("min_lr_rate_w2_t10", [](Optimizer& o) {
    return get_cosine_with_min_lr_schedule_with_warmup(o, 2, 10, 0.5, std::nullopt, 0.1);
  });
}

// ---- ReduceLROnPlateau ----------------------------------------------------------------------------

TEST_CASE("get_scheduler(\"reduce_lr_on_plateau\"): every rule of torch's ReduceLROnPlateau",
          "[optim][lr_scheduler][plateau][golden]") {
  const auto& cases = golden()["plateau"].as_object();
  REQUIRE(cases.size() == 7);
  for (const auto& [name, spec] : cases) {
    INFO("case " << name);
    SGD optimizer = golden_optimizer();
    // As transformers: the step counts are ignored, the kwargs are ReduceLROnPlateau's.
    LRScheduler scheduler = get_scheduler("reduce_lr_on_plateau", optimizer, 3, 10, kwargs_of(spec["kwargs"]));
    REQUIRE(scheduler.steps_on_metric());
    ReduceLROnPlateau& plateau = *scheduler.plateau();
    // torch's construction: no initial step, last_epoch 0, the lrs as found, no initial_lr.
    CHECK(plateau.last_epoch() == 0);
    CHECK(plateau.get_last_lr() == std::vector<double>{0.1, 0.03});
    CHECK_FALSE(optimizer.param_groups()[0].initial_lr.has_value());
    follow_plateau_case(plateau, optimizer, spec);
    check_plateau_state(plateau.state_dict(), spec["state_dict"]);
  }
}

TEST_CASE("ReduceLROnPlateau: options struct, state_dict round trip mid-run", "[optim][lr_scheduler][plateau][golden]") {
  {
    SGD optimizer = golden_optimizer();
    ReduceLROnPlateau scheduler(optimizer, {.mode = "max", .factor = 0.1, .patience = 1, .threshold = 0.5,
                                            .threshold_mode = "abs", .min_lr = 1e-3});
    follow_plateau_case(scheduler, optimizer, golden()["plateau"]["max_abs_nan_min_lr"]);
  }
  for (const char* name : {"min_rel_cooldown_min_lr_per_group", "min_abs_cooldown2", "max_rel_nan_first"}) {
    INFO("case " << name);
    const json::Value& c = golden()["plateau"][name];
    SGD optimizer = golden_optimizer();
    LRScheduler scheduler = get_scheduler("reduce_lr_on_plateau", optimizer, {}, {}, kwargs_of(c["kwargs"]));
    const std::size_t half = c["metrics"].as_array().size() / 2;
    for (std::size_t s = 0; s < half; ++s)
      scheduler.step(c["metrics"][s].is_null() ? std::nan("") : c["metrics"][s].as_double());
    const ReduceLROnPlateau::State saved = scheduler.plateau()->state_dict();
    const OptimizerState saved_optimizer = optimizer.state_dict();
    // A fresh run with torch's defaults takes everything from the states (the optimizer's has the lrs).
    SGD resumed_optimizer = golden_optimizer();
    ReduceLROnPlateau resumed(resumed_optimizer);
    resumed_optimizer.load_state_dict(saved_optimizer);
    resumed.load_state_dict(saved);
    CHECK(resumed.last_epoch() == static_cast<std::int64_t>(half));
    follow_plateau_case(resumed, resumed_optimizer, c, half);
    check_plateau_state(resumed.state_dict(), c["state_dict"]);
  }
}

TEST_CASE("ReduceLROnPlateau: errors", "[optim][lr_scheduler][plateau]") {
  SGD optimizer = golden_optimizer();
  // torch's constructor errors are checked against the golden in "transformers' argument errors";
  // these are tinyxf's own: keys, types and whole numbers.
  CHECK_THROWS_WITH(get_scheduler("reduce_lr_on_plateau", optimizer, {}, {}, {{"num_cycles", 1.0}}),
                    Contains("get_reduce_on_plateau_schedule() got an unexpected keyword argument 'num_cycles' (lr "
                             "scheduler \"reduce_lr_on_plateau\" takes only mode, factor, patience, threshold, "
                             "threshold_mode, cooldown, min_lr, eps)"));
  CHECK_THROWS_WITH(get_scheduler("reduce_lr_on_plateau", optimizer, {}, {}, {{"patience", 2.5}}),
                    Contains("get_reduce_on_plateau_schedule: patience must be a whole number, got 2.5"));
  CHECK_THROWS_WITH(get_scheduler("reduce_lr_on_plateau", optimizer, {}, {}, {{"mode", 1.0}}),
                    Contains("get_reduce_on_plateau_schedule: mode must be a string"));
  CHECK_THROWS_WITH(get_scheduler("reduce_lr_on_plateau", optimizer, {}, {}, {{"factor", std::vector<double>{0.5}}}),
                    Contains("get_reduce_on_plateau_schedule: factor must be a number"));
  CHECK_THROWS_WITH(get_scheduler("cosine_with_min_lr", optimizer, 0, 10, {{"min_lr", std::vector<double>{0.1, 0.1}}}),
                    Contains("min_lr must be a number"));
  CHECK_THROWS_WITH(check_schedule_kwargs("reduce_lr_on_plateau", {{"factor", 2.0}}), Contains("Factor should be < 1.0."));

  // A ReduceLROnPlateau is stepped with a metric, a LambdaLR without; neither converts to the other.
  LRScheduler plateau = get_scheduler("reduce_lr_on_plateau", optimizer);
  CHECK_THROWS_WITH(plateau.step(), Contains("ReduceLROnPlateau.step() needs the monitored metric"));
  CHECK_THROWS_WITH(LambdaLR(get_scheduler("reduce_lr_on_plateau", optimizer)),
                    Contains("made a ReduceLROnPlateau, not a LambdaLR"));
  LRScheduler constant = get_scheduler("constant", optimizer);
  CHECK_FALSE(constant.steps_on_metric());
  CHECK_THROWS_WITH(constant.step(1.0), Contains("LambdaLR.step() takes no metric"));

  // load_state_dict: unknown keys, wrong types, torch's mode check; nothing changes on an error.
  ReduceLROnPlateau& p = *plateau.plateau();
  using State = ReduceLROnPlateau::State;
  CHECK_THROWS_WITH(p.load_state_dict(State{{"patience_", 1.0}}), Contains("unknown key 'patience_'"));
  CHECK_THROWS_WITH(p.load_state_dict(State{{"best", std::string("low")}}),
                    Contains("'best' must be a number, got a string"));
  CHECK_THROWS_WITH(p.load_state_dict(State{{"min_lrs", 0.0}}),
                    Contains("'min_lrs' must be a list of numbers, got a number"));
  CHECK_THROWS_WITH(p.load_state_dict(State{{"num_bad_epochs", 1.5}}),
                    Contains("'num_bad_epochs' must be a whole number, got 1.5"));
  CHECK_THROWS_WITH(p.load_state_dict(State{{"patience", 3.0}, {"mode", std::string("median")}}),
                    Contains("mode median is unknown!"));
  CHECK(std::get<double>(p.state_dict().at("patience")) == 10);
  // A partial state replaces only its keys (torch's __dict__.update); mode_worse follows mode.
  p.load_state_dict(State{{"mode", std::string("max")}});
  CHECK(std::get<double>(p.state_dict().at("mode_worse")) == -std::numeric_limits<double>::infinity());

  // A group added after construction: a scalar min_lr extends to it, per-group ones are torch's error.
  const auto add_group = [](SGD& o) {
    o.add_param_group(ParamGroup{{Tensor::from_vector(std::vector<float>{0.0f}, {1}, Device::reference())}, {}, 0.2, {}});
  };
  {
    SGD o = golden_optimizer();
    ReduceLROnPlateau s(o, {.patience = 0});
    add_group(o);
    s.step(1.0);
    s.step(2.0);
    CHECK(s.get_last_lr() == std::vector<double>{0.1 * 0.1, 0.03 * 0.1, 0.2 * 0.1});
    CHECK(s.min_lrs().size() == 3);
  }
  {
    SGD o = golden_optimizer();
    ReduceLROnPlateau s(o, {.patience = 0, .min_lr = std::vector<double>{0.0, 0.0}});
    add_group(o);
    s.step(1.0);
    CHECK_THROWS_WITH(s.step(2.0), Contains("The number of param groups in the `optimizer` (3) differs from when "
                                            "`ReduceLROnPlateau` was initialized (2)"));
  }
}
