// optim::get_scheduler and the transformers schedules beyond linear / cosine / constant against
// transformers 5.25's get_scheduler (tests/data/optim/schedule_golden.json, written by
// tests/reference/make_schedule_golden.py): every group's lr after every scheduler step, warmup 0,
// warmup == total and steps past the end included, and transformers' argument errors.
#include <catch2/catch.hpp>

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
    if (value.is_string()) out.emplace(key, value.as_string());
    else out.emplace(key, value.as_double());
  }
  return out;
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
                             "'inverse_sqrt', 'cosine_with_min_lr', 'warmup_stable_decay']"));
  CHECK_THROWS_AS(get_scheduler("reduce_lr_on_plateau", optimizer, 0, 10), NotImplementedError);
  CHECK_THROWS_WITH(get_scheduler("reduce_lr_on_plateau", optimizer, 0, 10),
                    Contains("lr scheduler \"reduce_lr_on_plateau\" (transformers' get_reduce_on_plateau_schedule) "
                             "is not supported by tinyxf"));
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
