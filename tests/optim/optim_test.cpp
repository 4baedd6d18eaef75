// tinyxf::optim against PyTorch 1.13 / transformers 4.44 numbers (tests/data/optim/optim_golden.json,
// written by tests/reference/make_optim_golden.py), plus the mechanics PyTorch does not print:
// scheduler stepping, checkpoint round trips, error messages. Every test runs on every backend
// registered in this program that is available (reference, cpu, and cuda when built with it and a
// GPU is present).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "tinyxf/backends/cpu.hpp"
#include "tinyxf/backends/reference.hpp"
#ifdef TINYXF_OPTIM_TEST_CUDA
#include "tinyxf/backends/cuda.hpp"
#endif
#include "tinyxf/io/json.hpp"
#include "tinyxf/nn/nn.hpp"
#include "tinyxf/optim/optim.hpp"

using namespace tinyxf;
using namespace tinyxf::optim;
namespace json = tinyxf::json;
using Catch::Matchers::Contains;

namespace {

// float32 golden tolerance: |actual − expected| <= kRelTol·|expected| + kAbsTol. PyTorch computes
// in float32 in its own op order; tinyxf's Adam in float32 lanes with fmas, its SGD in double
// with one rounding: measured differences after 5 steps use at most 26 % (Adam) and 37 % (SGD)
// of this tolerance, the absolute term covering values small after cancellation (~1 ulp of the
// O(1) operands). A wrong rule (decay order, eps placement, step count of a skipped parameter,
// an lr off by one step) moves values by 1e-4 or more.
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-7;

const json::Value& golden() {
  static const json::Value value = [] {
    const std::string path = std::string(TINYXF_SOURCE_DIR) + "/tests/data/optim/optim_golden.json";
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return json::parse(text.str());
  }();
  return value;
}

std::vector<float> floats(const json::Value& array) {
  std::vector<float> out;
  for (const auto& v : array.as_array()) out.push_back(static_cast<float>(v.as_double()));
  return out;
}

Shape shape_of(const json::Value& array) {
  Shape out;
  for (const auto& v : array.as_array()) out.push_back(v.as_int());
  return out;
}

// One CHECK per tensor; on failure the message names the worst element.
void check_close(const std::vector<float>& actual, const std::vector<float>& expected, const std::string& what,
                 double rel = kRelTol, double abs = kAbsTol) {
  REQUIRE(actual.size() == expected.size());
  std::size_t worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double excess = std::isnan(a) ? 1.0 : std::fabs(a - e) - (rel * std::fabs(e) + abs);
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  INFO(what << ": element " << worst << " is " << actual[worst] << ", expected " << expected[worst]);
  CHECK(worst_excess <= 0.0);
}

Tensor leaf(const std::vector<float>& values, const Shape& shape, Device device) {
  Tensor t = Tensor::from_vector(values, shape, device);
  t.set_requires_grad(true);
  return t;
}

// The four golden parameters ("weight", "bias", "sometimes", "unused") at their initial values.
std::map<std::string, Tensor> golden_params(Device device) {
  const auto& params = golden()["params"];
  std::map<std::string, Tensor> out;
  for (const auto& [name, values] : params["initial"].as_object())
    out[name] = leaf(floats(values), shape_of(params["shapes"][name]), device);
  return out;
}

// Gives every golden parameter the gradient of step k (none where the golden has null).
void set_golden_grads(std::map<std::string, Tensor>& params, std::size_t k) {
  const auto& grads = golden()["params"]["grads"][k];
  for (auto& [name, p] : params) {
    const auto& g = grads[name];
    p.set_grad(g.is_null() ? Tensor() : Tensor::from_vector(floats(g), p.shape(), p.device()));
  }
}

std::unique_ptr<Optimizer> make_optimizer(const json::Value& spec, std::vector<ParamGroup> groups) {
  const auto& o = spec["options"];
  const std::string kind = spec["optimizer"].as_string();
  if (kind == "SGD") {
    SgdOptions options;
    options.lr = o.get_or("lr", options.lr);
    options.momentum = o.get_or("momentum", options.momentum);
    options.dampening = o.get_or("dampening", options.dampening);
    options.weight_decay = o.get_or("weight_decay", options.weight_decay);
    options.nesterov = o.get_or("nesterov", options.nesterov);
    return std::make_unique<SGD>(std::move(groups), options);
  }
  auto fill = [&](auto options) {
    options.lr = o.get_or("lr", options.lr);
    options.beta1 = o.get_or("beta1", options.beta1);
    options.beta2 = o.get_or("beta2", options.beta2);
    options.eps = o.get_or("eps", options.eps);
    options.weight_decay = o.get_or("weight_decay", options.weight_decay);
    return options;
  };
  if (kind == "Adam") return std::make_unique<Adam>(std::move(groups), fill(AdamOptions{}));
  REQUIRE(kind == "AdamW");
  return std::make_unique<AdamW>(std::move(groups), fill(AdamWOptions{}));
}

std::optional<LambdaLR> make_schedule(Optimizer& opt, const json::Value& spec) {
  if (!spec.contains("schedule")) return std::nullopt;
  const auto& s = spec["schedule"];
  const std::string kind = s["kind"].as_string();
  if (kind == "linear") return get_linear_schedule_with_warmup(opt, s["warmup"].as_int(), s["total"].as_int());
  if (kind == "cosine") return get_cosine_schedule_with_warmup(opt, s["warmup"].as_int(), s["total"].as_int());
  REQUIRE(kind == "constant");
  return get_constant_schedule_with_warmup(opt, s["warmup"].as_int());
}

// Scheduled lrs are computed with the same double operations as Python: equal up to libm's cos.
void check_lr(double actual, double expected) { CHECK(actual == Approx(expected).epsilon(1e-14).margin(0)); }

}  // namespace

// ---- golden: optimizers --------------------------------------------------------------------------

TEST_CASE("optim golden: SGD, Adam, AdamW (+ schedules, clipping) match torch step by step", "[optim][golden]") {
  const auto& scenarios = golden()["optimizers"].as_object();
  REQUIRE(scenarios.size() == 12);
  for (const Device device : available_devices()) {
    for (const auto& [name, spec] : scenarios) {
      INFO("device " << device.str() << ", scenario " << name);
      auto params = golden_params(device);
      std::vector<ParamGroup> groups;
      for (const auto& g : spec["groups"].as_array()) {
        ParamGroup group;
        for (const auto& pname : g["params"].as_array()) {
          group.params.push_back(params.at(pname.as_string()));
          group.names.push_back(pname.as_string());
        }
        if (g.contains("lr")) group.lr = g["lr"].as_double();
        if (g.contains("weight_decay")) group.weight_decay = g["weight_decay"].as_double();
        groups.push_back(std::move(group));
      }
      auto opt = make_optimizer(spec, std::move(groups));
      CHECK(opt->kind() == spec["optimizer"].as_string());
      auto schedule = make_schedule(*opt, spec);

      const auto& steps = spec["steps"].as_array();
      REQUIRE(steps.size() == 5);
      for (std::size_t k = 0; k < steps.size(); ++k) {
        INFO("step " << k);
        const auto& expected = steps[k];
        set_golden_grads(params, k);
        for (std::size_t g = 0; g < opt->param_groups().size(); ++g)
          check_lr(*opt->param_groups()[g].lr, expected["lr"][g].as_double());
        if (spec.contains("clip_max_norm")) {
          const float total = clip_grad_norm_(opt->params(), spec["clip_max_norm"].as_double());
          check_close({total}, {static_cast<float>(expected["grad_norm"].as_double())}, "grad_norm");
        }
        opt->step();
        if (schedule) schedule->step();
        for (const auto& [pname, values] : expected["params"].as_object())
          check_close(params.at(pname).to_vector<float>(), floats(values), pname);
      }

      // A parameter that never had a gradient was neither decayed nor given state.
      CHECK(params.at("unused").to_vector<float>() == floats(golden()["params"]["initial"]["unused"]));
      const auto& final_state = spec["final_state"];
      // The state buffer every stepped parameter has (SGD without momentum keeps none).
      const std::string first_buffer = opt->kind() != "SGD" ? "exp_avg"
                                       : spec["options"].get_or("momentum", 0.0) != 0.0 ? "momentum_buffer"
                                                                                         : "";
      for (const auto& [pname, p] : params) {
        INFO("state of " << pname);
        if (!final_state.contains(pname)) {
          CHECK(opt->step_count(p) == 0);
          if (!first_buffer.empty()) CHECK_FALSE(opt->state_tensor(p, first_buffer).defined());
          continue;
        }
        for (const auto& [key, value] : final_state[pname].as_object()) {
          if (key == "step") {
            CHECK(opt->step_count(p) == value.as_int());
            continue;
          }
          const Tensor buffer = opt->state_tensor(p, key);
          REQUIRE(buffer.defined());
          CHECK(buffer.device() == device);
          check_close(buffer.to_vector<float>(), floats(value), pname + "." + key);
        }
      }
    }
  }
}

// ---- golden: schedules, clipping, parameter groups ------------------------------------------------

TEST_CASE("optim golden: LR schedules match transformers' get_last_lr()", "[optim][golden][lr_scheduler]") {
  const std::map<std::string, std::function<LambdaLR(Optimizer&)>> factories = {
      {"linear_warmup_2_total_5", [](Optimizer& o) { return get_linear_schedule_with_warmup(o, 2, 5); }},
      {"linear_warmup_0_total_4", [](Optimizer& o) { return get_linear_schedule_with_warmup(o, 0, 4); }},
      {"cosine_warmup_1_total_5", [](Optimizer& o) { return get_cosine_schedule_with_warmup(o, 1, 5); }},
      {"cosine_warmup_2_total_10_cycles_2",
       [](Optimizer& o) { return get_cosine_schedule_with_warmup(o, 2, 10, 2.0); }},
      {"constant_warmup_2", [](Optimizer& o) { return get_constant_schedule_with_warmup(o, 2); }},
      {"constant_warmup_3", [](Optimizer& o) { return get_constant_schedule_with_warmup(o, 3); }},
      {"constant", [](Optimizer& o) { return get_constant_schedule(o); }},
  };
  const auto& schedules = golden()["schedules"].as_object();
  REQUIRE(schedules.size() == factories.size());
  for (const auto& [name, spec] : schedules) {
    INFO("schedule " << name);
    REQUIRE(factories.count(name) == 1);
    ParamGroup a{{leaf({0.0f}, {1}, Device::reference())}, {}, spec["base_lrs"][0].as_double(), {}};
    ParamGroup b{{leaf({0.0f}, {1}, Device::reference())}, {}, spec["base_lrs"][1].as_double(), {}};
    SGD opt({a, b});
    LambdaLR schedule = factories.at(name)(opt);
    const auto& last_lr = spec["last_lr"].as_array();
    for (std::size_t s = 0; s < last_lr.size(); ++s) {
      INFO("after " << s << " scheduler steps");
      CHECK(schedule.last_step() == static_cast<std::int64_t>(s));
      for (std::size_t g = 0; g < 2; ++g) {
        check_lr(schedule.get_last_lr()[g], last_lr[s][g].as_double());
        CHECK(*opt.param_groups()[g].lr == schedule.get_last_lr()[g]);
      }
      schedule.step();
    }
  }
}

TEST_CASE("optim golden: clip_grad_norm_ matches torch (L2, L1, L3, inf, no-clip, missing grad)",
          "[optim][golden][clip]") {
  const auto& cases = golden()["clip"].as_object();
  REQUIRE(cases.size() == 6);
  for (const Device device : available_devices()) {
    for (const auto& [name, spec] : cases) {
      INFO("device " << device.str() << ", case " << name);
      std::vector<Tensor> params;
      const auto& shapes = spec["shapes"].as_array();
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        const Shape shape = shape_of(shapes[i]);
        Tensor p = leaf(std::vector<float>(static_cast<std::size_t>(shape_numel(shape)), 0.0f), shape, device);
        if (!spec["grads"][i].is_null())
          p.set_grad(Tensor::from_vector(floats(spec["grads"][i]), shape, device));
        params.push_back(p);
      }
      const double norm_type = spec["norm_type"].is_string() ? std::numeric_limits<double>::infinity()
                                                             : spec["norm_type"].as_double();
      const float total = clip_grad_norm_(params, spec["max_norm"].as_double(), norm_type);
      check_close({total}, {static_cast<float>(spec["total_norm"].as_double())}, "total norm");
      for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& expected = spec["clipped"][i];
        CHECK(params[i].grad().defined() == !expected.is_null());
        if (!expected.is_null()) check_close(params[i].grad().to_vector<float>(), floats(expected), "grad " + std::to_string(i));
      }
      if (name == "no_clip_l2")  // coef clamps to exactly 1: the gradients are untouched
        for (std::size_t i = 0; i < params.size(); ++i)
          CHECK(params[i].grad().to_vector<float>() == floats(spec["grads"][i]));
    }
  }
}

TEST_CASE("optim golden: decay_parameter_groups reproduces Trainer.get_decay_parameter_names",
          "[optim][golden][param_groups]") {
  const auto& models = golden()["param_groups"].as_object();
  REQUIRE(models.size() == 3);
  for (const auto& [model, spec] : models) {
    INFO("model " << model);
    std::vector<std::pair<std::string, Tensor>> named;
    std::vector<std::string> decay, no_decay;
    for (const auto& n : spec["decay"].as_array()) decay.push_back(n.as_string());
    for (const auto& n : spec["no_decay"].as_array()) no_decay.push_back(n.as_string());
    // Interleave the two lists so that the split (not the input order) is what is tested.
    for (std::size_t i = 0; i < std::max(decay.size(), no_decay.size()); ++i) {
      if (i < no_decay.size()) named.emplace_back(no_decay[i], leaf({0.0f}, {1}, Device::reference()));
      if (i < decay.size()) named.emplace_back(decay[i], leaf({0.0f}, {1}, Device::reference()));
    }
    const auto groups = decay_parameter_groups(named, 0.01);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].names == decay);
    CHECK(groups[1].names == no_decay);
    CHECK(*groups[0].weight_decay == 0.01);
    CHECK(*groups[1].weight_decay == 0.0);
    CHECK_FALSE(groups[0].lr.has_value());
    for (std::size_t g = 0; g < 2; ++g) {
      REQUIRE(groups[g].params.size() == groups[g].names.size());
      for (std::size_t i = 0; i < groups[g].params.size(); ++i) {
        auto it = std::find_if(named.begin(), named.end(), [&](const auto& np) { return np.first == groups[g].names[i]; });
        REQUIRE(it != named.end());
        CHECK(groups[g].params[i].is_same(it->second));  // the name travels with its own tensor
      }
    }
  }
}

// ---- parameter groups: name rule and frozen parameters -------------------------------------------

TEST_CASE("decay_parameter_groups: name patterns and frozen parameters", "[optim][param_groups]") {
  CHECK(is_no_decay_parameter("encoder.norm.weight"));
  CHECK(is_no_decay_parameter("norm.weight"));
  CHECK(is_no_decay_parameter("model.layers.0.input_layernorm.weight"));
  CHECK(is_no_decay_parameter("layers.0.post_attention_RMSNorm.weight"));
  CHECK(is_no_decay_parameter("decoder.final_layer_norm.weight"));
  CHECK(is_no_decay_parameter("q_norm.weight"));
  CHECK(is_no_decay_parameter("classifier.bias"));
  CHECK_FALSE(is_no_decay_parameter("normalizer.weight"));
  CHECK_FALSE(is_no_decay_parameter("enormous.weight"));
  CHECK_FALSE(is_no_decay_parameter("layer_norm_scale.weight"));  // "_norm" not at a component end
  CHECK_FALSE(is_no_decay_parameter("distilbert.embeddings.word_embeddings.weight"));

  Tensor frozen = Tensor::zeros({2}, Device::reference());  // requires_grad false
  Tensor w = leaf({1, 2}, {2}, Device::reference());
  Tensor b = leaf({3}, {1}, Device::reference());
  const auto groups = decay_parameter_groups({{"emb.weight", frozen}, {"lin.weight", w}, {"lin.bias", b}}, 0.1);
  CHECK(groups[0].names == std::vector<std::string>{"lin.weight"});
  CHECK(groups[1].names == std::vector<std::string>{"lin.bias"});
  // Feeds straight into an optimizer: the groups keep their weight decay, lr comes from the options.
  AdamW opt(groups, {.lr = 5e-5});
  CHECK(*opt.param_groups()[0].lr == 5e-5);
  CHECK(*opt.param_groups()[0].weight_decay == 0.1);
  CHECK(*opt.param_groups()[1].weight_decay == 0.0);
}

// ---- LambdaLR mechanics ----------------------------------------------------------------------------

TEST_CASE("LambdaLR: initial step, first update at lr 0 with warmup, lr 0 after total steps",
          "[optim][lr_scheduler]") {
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    Tensor p = leaf({1.0f, -2.0f}, {2}, device);
    SGD opt({p}, {.lr = 0.5});
    LambdaLR schedule = get_linear_schedule_with_warmup(opt, 2, 5);
    // The constructor already performed step 0: the first update uses λ(0) = 0.
    CHECK(schedule.last_step() == 0);
    CHECK(schedule.base_lrs() == std::vector<double>{0.5});
    CHECK(schedule.get_last_lr() == std::vector<double>{0.0});
    CHECK(*opt.param_groups()[0].lr == 0.0);
    p.set_grad(Tensor::from_vector(std::vector<float>{1.0f, 1.0f}, {2}, device));
    opt.step();
    CHECK(p.to_vector<float>() == std::vector<float>{1.0f, -2.0f});  // lr 0: no movement at all
    // Updates 2..5 use base·λ(1..4) = 0.25, 0.5, 0.333.., 0.1666..; get_last_lr is the next one.
    // λ(5) = 0 after the T-th scheduler step, and past T it stays clamped at 0 (not negative).
    const std::vector<double> expected_next = {0.25, 0.5, 0.5 * 2.0 / 3.0, 0.5 * 1.0 / 3.0, 0.0, 0.0, 0.0};
    for (std::size_t k = 0; k < expected_next.size(); ++k) {
      schedule.step();
      CHECK(schedule.last_step() == static_cast<std::int64_t>(k + 1));
      CHECK(schedule.get_last_lr()[0] == Approx(expected_next[k]).epsilon(1e-15).margin(0));
      CHECK(*opt.param_groups()[0].lr == schedule.get_last_lr()[0]);
    }

    // Without warmup the first update already uses the full base lr.
    Tensor q = leaf({1.0f}, {1}, device);
    SGD opt2({q}, {.lr = 0.5});
    LambdaLR no_warmup = get_linear_schedule_with_warmup(opt2, 0, 4);
    CHECK(no_warmup.get_last_lr() == std::vector<double>{0.5});
  }
}

TEST_CASE("LambdaLR: per-group multipliers, base lrs, state round trip", "[optim][lr_scheduler]") {
  Tensor a = leaf({1.0f}, {1}, Device::reference());
  Tensor b = leaf({1.0f}, {1}, Device::reference());
  SGD opt({ParamGroup{{a}, {}, 1.0, {}}, ParamGroup{{b}, {}, 0.1, {}}});
  LambdaLR schedule(opt, std::vector<LambdaLR::Multiplier>{[](std::int64_t s) { return 1.0 / double(s + 1); },
                                                           [](std::int64_t s) { return double(s); }});
  CHECK(schedule.get_last_lr() == std::vector<double>{1.0, 0.0});
  schedule.step();
  schedule.step();
  CHECK(schedule.get_last_lr() == std::vector<double>{1.0 / 3.0, 0.2});
  const auto saved = schedule.state_dict();
  CHECK(saved.at("last_step") == 2.0);
  CHECK(saved.at("base_lr.0") == 1.0);
  CHECK(saved.at("base_lr.1") == 0.1);

  // A fresh scheduler (step 0) restores step 2 and writes the lrs back into the optimizer.
  LambdaLR resumed(opt, std::vector<LambdaLR::Multiplier>{[](std::int64_t s) { return 1.0 / double(s + 1); },
                                                          [](std::int64_t s) { return double(s); }});
  CHECK(*opt.param_groups()[1].lr == 0.0);
  resumed.load_state_dict(saved);
  CHECK(resumed.last_step() == 2);
  CHECK(resumed.get_last_lr() == std::vector<double>{1.0 / 3.0, 0.2});
  CHECK(*opt.param_groups()[0].lr == 1.0 / 3.0);
  CHECK(*opt.param_groups()[1].lr == 0.2);

  CHECK_THROWS_WITH(LambdaLR(opt, std::vector<LambdaLR::Multiplier>{[](std::int64_t) { return 1.0; }}),
                    Contains("1 multipliers for 2 param groups"));
  CHECK_THROWS_WITH(resumed.load_state_dict({{"last_step", 1.0}, {"base_lr.0", 1.0}}),
                    Contains("no 'base_lr.1'"));
  CHECK_THROWS_WITH(resumed.load_state_dict({{"last_step", -1.0}, {"base_lr.0", 1.0}, {"base_lr.1", 1.0}}),
                    Contains("'last_step' must be a non-negative integer"));
  CHECK_THROWS_WITH(get_linear_schedule_with_warmup(opt, -1, 5), Contains("num_warmup_steps must be >= 0"));
  CHECK(resumed.last_step() == 2);  // failed loads changed nothing
}

TEST_CASE("LambdaLR: a second schedule on the same optimizer starts from initial_lr, as torch's", "[optim][lr_scheduler]") {
  Tensor a = leaf({1.0f}, {1}, Device::reference());
  AdamW opt({a}, {.lr = 1e-3});
  {
    const LambdaLR first = get_linear_schedule_with_warmup(opt, 10, 100);
    CHECK(*opt.param_groups()[0].lr == 0.0);  // warmup's step 0 wrote lr 0
  }
  LambdaLR second = get_linear_schedule_with_warmup(opt, 10, 100);
  CHECK(second.base_lrs() == std::vector<double>{1e-3});  // torch: base_lrs [0.001], not the 0 left
  for (int i = 0; i < 5; ++i) second.step();
  CHECK(*opt.param_groups()[0].lr == Approx(5e-4));

  // The optimizer's state keeps initial_lr (torch's param_groups do): a fresh optimizer loading it
  // starts its schedules there too.
  const OptimizerState saved = opt.state_dict();
  CHECK(saved.scalars.at("group.0.initial_lr") == 1e-3);
  AdamW restored({leaf({1.0f}, {1}, Device::reference())}, {.lr = 7.0});
  restored.load_state_dict(saved);
  CHECK(restored.param_groups()[0].initial_lr == 1e-3);
  CHECK(*restored.param_groups()[0].lr == Approx(5e-4));
  CHECK(get_constant_schedule(restored).base_lrs() == std::vector<double>{1e-3});

  // Counts in a state are integers: 1.5 or -1 parameters are refused, not cast.
  OptimizerState bad = saved;
  bad.scalars["groups"] = -1.0;
  CHECK_THROWS_WITH(restored.load_state_dict(bad), Contains("'groups' must be a non-negative integer count, got -1"));
  bad = saved;
  bad.scalars["group.0.params"] = 1.5;
  CHECK_THROWS_WITH(restored.load_state_dict(bad), Contains("'group.0.params' must be a non-negative integer count, got 1.5"));
}

TEST_CASE("Module::to keeps gradients; a step after the move names the state it no longer fits", "[optim][errors]") {
  for (const Device dev : {Device::reference(), Device::cpu()}) {
    INFO(dev.str());
    Generator gen(1);
    nn::Linear lin(4, 3, true, gen);
    lin.to(dev);
    const auto backward = [&] { sum(lin.forward(Tensor::ones({2, 4}, dev).to(lin.weight.dtype()))).backward(); };
    Adam adam(lin.parameters(), {.lr = 1e-3});
    SGD sgd(lin.parameters(), {.lr = 1e-3, .momentum = 0.9});
    backward();
    adam.step();
    sgd.step();
    // torch's Module._apply converts .grad with the parameter: a move between backward and step keeps it.
    const std::vector<float> grad = lin.weight.grad().to_vector<float>();
    lin.to(kFloat64);
    REQUIRE(lin.weight.grad().defined());
    CHECK(lin.weight.grad().dtype() == kFloat64);
    CHECK(lin.weight.grad().to(kFloat32).to_vector<float>() == grad);
    // The float32 state no longer fits the float64 parameters: an error, not float32 memory read as doubles.
    CHECK_THROWS_WITH(adam.step(), Contains("state 'exp_avg'") && Contains("float32 [3, 4]") &&
                                       Contains("the parameter is now float64 [3, 4]"));
    CHECK_THROWS_WITH(sgd.step(), Contains("state 'momentum_buffer'") && Contains("now float64"));
    // A new optimizer loading the state converts it and steps.
    Adam moved(lin.parameters(), {.lr = 1e-3});
    moved.load_state_dict(adam.state_dict());
    moved.step();
    CHECK(moved.state_tensor(lin.weight, "exp_avg").dtype() == kFloat64);
    CHECK(moved.step_count(lin.weight) == 2);
  }
}

// ---- checkpoint round trip -------------------------------------------------------------------------

namespace {

// A small model-like setup: two groups, one parameter without a gradient at some steps.
struct TrainingRun {
  std::vector<Tensor> params;
  std::unique_ptr<Optimizer> opt;
  std::optional<LambdaLR> schedule;

  TrainingRun(Device device, bool adam) {
    params = {leaf({0.5f, -1.5f, 2.0f, 0.25f, -0.75f, 1.0f}, {2, 3}, device),
              leaf({0.1f, -0.2f, 0.3f}, {3}, device), leaf({1.0f, 2.0f}, {2}, device)};
    std::vector<ParamGroup> groups = {ParamGroup{{params[0], params[2]}, {"w", "rare"}, {}, 0.1},
                                      ParamGroup{{params[1]}, {"b"}, {}, 0.0}};
    if (adam)
      opt = std::make_unique<AdamW>(groups, AdamWOptions{.lr = 0.05, .beta1 = 0.8, .eps = 1e-6});
    else
      opt = std::make_unique<SGD>(groups, SgdOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
    schedule = get_linear_schedule_with_warmup(*opt, 1, 5);
  }

  // Deterministic gradients per step; "rare" gets one only at even steps.
  void step(int k) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      Tensor& p = params[i];
      if (i == 2 && k % 2 == 1) {
        p.set_grad(Tensor());
        continue;
      }
      std::vector<float> g(static_cast<std::size_t>(p.numel()));
      for (std::size_t j = 0; j < g.size(); ++j) g[j] = std::sin(float(3 * k + 7 * i + j)) * 2.0f;
      p.set_grad(Tensor::from_vector(g, p.shape(), p.device()));
    }
    clip_grad_norm_(opt->params(), 1.0);
    opt->step();
    schedule->step();
  }
};

// What a checkpoint writer does: tensors through host memory (safetensors), scalars through JSON.
OptimizerState through_checkpoint(const OptimizerState& state) {
  OptimizerState out;
  out.optimizer = state.optimizer;
  for (const auto& [name, t] : state.tensors)
    out.tensors.emplace_back(name, Tensor::from_vector(t.to_vector<float>(), t.shape(), Device::reference()));
  json::Value scalars;
  for (const auto& [key, value] : state.scalars) scalars[key] = value;
  const json::Value parsed = json::parse(json::dump(scalars));
  for (const auto& [key, value] : parsed.as_object()) out.scalars[key] = value.as_double();
  return out;
}

}  // namespace

TEST_CASE("state_dict round trip: 2 steps + save/load + 3 steps == 5 straight steps, bit for bit",
          "[optim][state_dict]") {
  for (const Device device : available_devices()) {
    for (const bool adam : {true, false}) {
      INFO("device " << device.str() << (adam ? ", AdamW" : ", SGD nesterov"));
      TrainingRun straight(device, adam);
      for (int k = 0; k < 5; ++k) straight.step(k);

      TrainingRun first(device, adam);
      first.step(0);
      first.step(1);
      const OptimizerState saved = through_checkpoint(first.opt->state_dict());
      const auto saved_schedule = first.schedule->state_dict();
      CHECK(saved.optimizer == (adam ? "AdamW" : "SGD"));
      if (adam) {
        // "rare" (group 0, index 1) had a gradient only at step 0.
        CHECK(saved.scalars.at("state.0.0.step") == 2.0);
        CHECK(saved.scalars.at("state.0.1.step") == 1.0);
        CHECK(saved.scalars.at("beta1") == 0.8);
        CHECK(saved.tensors.size() == 6);
      } else {
        CHECK(saved.scalars.at("momentum") == 0.9);
        CHECK(saved.tensors.size() == 3);
      }
      CHECK(saved.scalars.at("group.1.weight_decay") == 0.0);
      CHECK(saved.tensors.front().first == (adam ? "state.0.0.exp_avg" : "state.0.0.momentum_buffer"));

      // A new process: the model weights come from the checkpoint, the optimizer and the
      // scheduler are built from scratch and then loaded (the load must restore the group values).
      TrainingRun resumed(device, adam);
      {
        NoGradGuard no_grad;
        for (std::size_t i = 0; i < resumed.params.size(); ++i) resumed.params[i].copy_(first.params[i]);
      }
      resumed.opt->param_groups()[0].weight_decay = 0.7;
      resumed.opt->param_groups()[1].lr = 123.0;
      resumed.opt->load_state_dict(saved);
      resumed.schedule->load_state_dict(saved_schedule);
      for (int k = 2; k < 5; ++k) resumed.step(k);

      for (std::size_t i = 0; i < straight.params.size(); ++i) {
        INFO("parameter " << i);
        CHECK(resumed.params[i].to_vector<float>() == straight.params[i].to_vector<float>());
        CHECK(resumed.opt->step_count(resumed.params[i]) == straight.opt->step_count(straight.params[i]));
        const char* buffer = adam ? "exp_avg_sq" : "momentum_buffer";
        CHECK(resumed.opt->state_tensor(resumed.params[i], buffer).to_vector<float>() ==
              straight.opt->state_tensor(straight.params[i], buffer).to_vector<float>());
        CHECK(resumed.opt->state_tensor(resumed.params[i], buffer).device() == device);
      }
      CHECK(resumed.schedule->get_last_lr() == straight.schedule->get_last_lr());
    }
  }
}

TEST_CASE("load_state_dict: mismatches are errors that name the key and parameter", "[optim][state_dict]") {
  auto w = leaf({1, 2, 3, 4}, {2, 2}, Device::reference());
  auto b = leaf({1, 2}, {2}, Device::reference());
  AdamW source({ParamGroup{{w, b}, {"classifier.weight", "classifier.bias"}, {}, {}}}, {.beta1 = 0.5});
  w.set_grad(Tensor::ones({2, 2}, Device::reference()));
  b.set_grad(Tensor::ones({2}, Device::reference()));
  source.step();
  const OptimizerState good = source.state_dict();

  auto w2 = leaf({1, 2, 3, 4, 5, 6}, {2, 3}, Device::reference());
  auto b2 = leaf({1, 2}, {2}, Device::reference());
  AdamW target({ParamGroup{{w2, b2}, {"classifier.weight", "classifier.bias"}, {}, {}}});
  CHECK_THROWS_WITH(target.load_state_dict(good),
                    Contains("'state.0.0.exp_avg' for parameter 'classifier.weight'") &&
                        Contains("shape [2, 2], the parameter has shape [2, 3]"));
  // The failed load left everything as it was: hyperparameters, lr, state.
  CHECK(target.options().beta1 == 0.9);
  CHECK(target.step_count(w2) == 0);

  AdamW same_shapes({ParamGroup{{leaf({0, 0, 0, 0}, {2, 2}, Device::reference()), b2},
                                {"classifier.weight", "classifier.bias"}, {}, {}}});
  OptimizerState missing = good;
  missing.tensors.erase(missing.tensors.begin() + 3);  // state.0.1.exp_avg_sq
  CHECK_THROWS_WITH(same_shapes.load_state_dict(missing),
                    Contains("parameter 'classifier.bias'") && Contains("no 'state.0.1.exp_avg_sq'"));
  OptimizerState extra = good;
  extra.tensors.emplace_back("state.0.5.exp_avg", Tensor::zeros({2}, Device::reference()));
  CHECK_THROWS_WITH(same_shapes.load_state_dict(extra), Contains("'state.0.5.exp_avg' refers to parameter 5 of group 0"));
  OptimizerState unknown = good;
  unknown.tensors.emplace_back("state.0.1.momentum_buffer", Tensor::zeros({2}, Device::reference()));
  CHECK_THROWS_WITH(same_shapes.load_state_dict(unknown), Contains("unexpected tensor 'state.0.1.momentum_buffer'"));
  OptimizerState no_step = good;
  no_step.scalars.erase("state.0.0.step");
  CHECK_THROWS_WITH(same_shapes.load_state_dict(no_step), Contains("no 'state.0.0.step'"));
  OptimizerState bad_beta = good;
  bad_beta.scalars["beta2"] = 1.0;
  CHECK_THROWS_WITH(same_shapes.load_state_dict(bad_beta), Contains("invalid beta2 1"));

  SGD sgd({leaf({0, 0, 0, 0}, {2, 2}, Device::reference()), b2});
  CHECK_THROWS_WITH(sgd.load_state_dict(good), Contains("saved by AdamW, this optimizer is SGD"));
  AdamW two_groups({ParamGroup{{leaf({0, 0, 0, 0}, {2, 2}, Device::reference())}, {}, {}, {}},
                    ParamGroup{{b2}, {}, {}, {}}});
  CHECK_THROWS_WITH(two_groups.load_state_dict(good), Contains("the state has 1 param groups, this AdamW has 2"));
  AdamW fewer({leaf({0, 0, 0, 0}, {2, 2}, Device::reference())});
  CHECK_THROWS_WITH(fewer.load_state_dict(good), Contains("param group 0 has 1 parameters here but 2 in the saved state"));

  // The successful load also restores the hyperparameters, like torch.
  same_shapes.load_state_dict(good);
  CHECK(same_shapes.options().beta1 == 0.5);
  CHECK(same_shapes.step_count(b2) == 1);
}

// ---- errors ----------------------------------------------------------------------------------------

TEST_CASE("optimizer construction and step errors", "[optim][errors]") {
  const Device dev = Device::reference();
  auto p = leaf({1, 2}, {2}, dev);
  CHECK_THROWS_WITH(SGD({p}, {.lr = -0.1}), Contains("SGD: invalid learning rate -0.1"));
  CHECK_THROWS_WITH(SGD({p}, {.lr = 0.1, .nesterov = true}),
                    Contains("Nesterov momentum requires a momentum > 0 and zero dampening"));
  CHECK_THROWS_WITH(SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                    Contains("Nesterov momentum requires"));
  CHECK_THROWS_WITH(SGD({p}, {.momentum = -1.0}), Contains("invalid momentum value -1"));
  CHECK_THROWS_WITH(Adam({p}, {.beta1 = 1.0}), Contains("Adam: invalid beta1 1"));
  CHECK_THROWS_WITH(AdamW({p}, {.eps = -1.0}), Contains("AdamW: invalid epsilon value -1"));
  CHECK_THROWS_WITH(AdamW({p}, {.weight_decay = -0.01}), Contains("invalid weight_decay value -0.01"));
  CHECK_THROWS_WITH(Adam({p}, {.lr = std::nan("")}), Contains("invalid learning rate nan"));
  CHECK_THROWS_WITH(AdamW(std::vector<Tensor>{}), Contains("AdamW: optimizer got an empty parameter list"));
  CHECK_THROWS_WITH(AdamW({ParamGroup{{p}, {}, {}, {}}, ParamGroup{{p}, {}, {}, {}}}),
                    Contains("already belongs to a parameter group"));
  CHECK_THROWS_WITH(AdamW({ParamGroup{{p}, {"a", "b"}, {}, {}}}), Contains("has 1 parameters but 2 names"));
  CHECK_THROWS_WITH(AdamW({ParamGroup{{p}, {}, -1.0, {}}}), Contains("invalid learning rate -1 in param group 0"));
  CHECK_THROWS_WITH(AdamW({p * 2.0f}), Contains("can't optimize a non-leaf tensor"));
  auto wide = leaf({1, 2, 3, 4, 5, 6}, {2, 3}, dev);
  auto strided = wide.detach().t();
  CHECK_THROWS_WITH(AdamW({strided}), Contains("is not contiguous"));

  // lr is checked at every step too: schedulers and users write it between steps.
  AdamW opt({ParamGroup{{p}, {"embeddings.weight"}, {}, {}}});
  opt.param_groups()[0].lr = -1.0;
  p.set_grad(Tensor::ones({2}, dev));
  CHECK_THROWS_WITH(opt.step(), Contains("invalid learning rate -1 in param group 0"));
  opt.param_groups()[0].lr = 1e-3;
  p.set_grad(Tensor::ones({3}, dev));
  CHECK_THROWS_WITH(opt.step(), Contains("gradient of parameter 'embeddings.weight'") && Contains("shape [3]"));
  CHECK_THROWS_WITH(opt.state_tensor(p, "momentum"), Contains("no state buffer named 'momentum'"));
  CHECK_THROWS_WITH(clip_grad_norm_({p}, -1.0), Contains("max_norm must be >= 0"));
  CHECK_THROWS_WITH(clip_grad_norm_({p}, 1.0, 0.0), Contains("norm_type must be > 0"));
}

// ---- semantics not covered by the goldens --------------------------------------------------------

TEST_CASE("AdamW decays a parameter whose gradient is zero, Adam does not", "[optim][adam]") {
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    auto pw = leaf({2.0f, -4.0f}, {2}, device);
    auto pa = leaf({2.0f, -4.0f}, {2}, device);
    AdamW adamw({pw}, {.lr = 0.1, .weight_decay = 0.5});
    Adam adam({pa}, {.lr = 0.1, .weight_decay = 0.5});
    pw.set_grad(Tensor::zeros({2}, device));
    pa.set_grad(Tensor::zeros({2}, device));
    adamw.step();
    adam.step();
    // AdamW: θ·(1 − lr·λ) = θ·0.95 and m = v = 0 move nothing else.
    check_close(pw.to_vector<float>(), {1.9f, -3.8f}, "AdamW", 1e-7, 0.0);
    // Adam folds λ·θ into the gradient, so the "zero" gradient is not zero: θ moves by ≈ lr.
    check_close(pa.to_vector<float>(), {1.9f, -3.9f}, "Adam", 1e-6, 0.0);
    CHECK(adamw.step_count(pw) == 1);
  }
}

TEST_CASE("optimizers accept non-contiguous gradients", "[optim]") {
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    const std::vector<float> init = {0.5f, -1.0f, 1.5f, -2.0f, 2.5f, -3.0f};
    const std::vector<float> grad_t = {1.0f, 4.0f, -2.0f, 5.0f, 3.0f, -6.0f};  // [3, 2], transposed below
    auto a = leaf(init, {2, 3}, device), b = leaf(init, {2, 3}, device);
    AdamW opt_a({a}, {.lr = 0.1}), opt_b({b}, {.lr = 0.1});
    Tensor strided = Tensor::from_vector(grad_t, {3, 2}, device).t();
    REQUIRE_FALSE(strided.is_contiguous());
    a.set_grad(strided);
    b.set_grad(strided.contiguous());
    opt_a.step();
    opt_b.step();
    CHECK(a.to_vector<float>() == b.to_vector<float>());
  }
}

TEST_CASE("zero_grad drops or zeroes gradients", "[optim]") {
  const Device dev = Device::reference();
  auto p = leaf({1, 2}, {2}, dev);
  SGD opt({p}, {.lr = 0.1});
  p.set_grad(Tensor::ones({2}, dev));
  const Tensor g = p.grad();
  opt.zero_grad(false);
  REQUIRE(p.grad().defined());
  CHECK(p.grad().is_same(g));  // the same buffer, zeroed (set_to_none = false)
  CHECK(g.to_vector<float>() == std::vector<float>{0.0f, 0.0f});
  opt.zero_grad();
  CHECK_FALSE(p.grad().defined());
  opt.step();  // nothing to do without gradients
  CHECK(p.to_vector<float>() == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("clip_grad_norm_: NaN and Inf propagate, no gradients gives 0", "[optim][clip]") {
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    auto a = leaf({0, 0}, {2}, device), b = leaf({0}, {1}, device);
    a.set_grad(Tensor::from_vector(std::vector<float>{1.0f, nan}, {2}, device));
    b.set_grad(Tensor::from_vector(std::vector<float>{3.0f}, {1}, device));
    CHECK(std::isnan(clip_grad_norm_({a, b}, 1.0)));
    for (float v : b.grad().to_vector<float>()) CHECK(std::isnan(v));  // coef is NaN

    a.set_grad(Tensor::from_vector(std::vector<float>{1.0f, inf}, {2}, device));
    b.set_grad(Tensor::from_vector(std::vector<float>{3.0f}, {1}, device));
    CHECK(std::isinf(clip_grad_norm_({a, b}, 1.0)));
    // coef = 1 / inf = 0: finite entries become 0, infinite ones inf·0 = NaN (as torch).
    const auto ga = a.grad().to_vector<float>();
    CHECK(ga[0] == 0.0f);
    CHECK(std::isnan(ga[1]));
    CHECK(b.grad().to_vector<float>() == std::vector<float>{0.0f});

    a.set_grad(Tensor());
    b.set_grad(Tensor());
    CHECK(clip_grad_norm_({a, b}, 1.0) == 0.0f);
  }
}

TEST_CASE("clip_grad_norm_ of float64 gradients: the total and the coefficient in float64, as torch's", "[optim][clip]") {
  // a.grad = [3., 4.], b.grad = [[.1, -.2], [.3, 1e-3]] (float64); t = torch.nn.utils.clip_grad_norm_([a, b], 1.0)
  // -> 5.01398055440984; a.grad [0.5983268920009237, 0.797769189334565], b.grad [0.019944229733364127,
  // -0.039888459466728254, 0.05983268920009237, 0.00019944229733364125] (a float32 coefficient is off by ~1e-8)
  // With a float32 a.grad = [3., 4.] and a float64 b.grad = [.5, -.25]: t is float64 5.031152949374527; a.grad
  // [0.5962846279144287, 0.7950462102890015] (the coefficient as float32), b.grad [0.09938077924690815,
  // -0.049690389623454075].
  const auto f64 = [](std::vector<double> v, const Device device) {
    Tensor p = Tensor::zeros({static_cast<std::int64_t>(v.size())}, TensorOptions(device).dtype(kFloat64));
    p.set_requires_grad(true);
    p.set_grad(Tensor::from_vector(v, device));
    return p;
  };
  const auto check_near = [](const Tensor& t, const std::vector<double>& expected) {
    const std::vector<double> got = t.to(kFloat64).to_vector<double>();
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-14));
  };
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    for (const bool folded : {false, true}) {
      INFO("clip_grad_norm_and_step " << folded);
      Tensor a = f64({3, 4}, device), b = f64({0.1, -0.2, 0.3, 1e-3}, device);
      SGD opt(std::vector<Tensor>{a, b}, SgdOptions{.lr = 0.0});
      const double total = folded ? clip_grad_norm_and_step({a, b}, 1.0, opt) : clip_grad_norm_({a, b}, 1.0);
      CHECK(total == Approx(5.01398055440984).epsilon(1e-15));
      check_near(a.grad(), {0.5983268920009237, 0.797769189334565});
      check_near(b.grad(), {0.019944229733364127, -0.039888459466728254, 0.05983268920009237, 0.00019944229733364125});
    }
    Tensor a = leaf({0, 0}, {2}, device), b = f64({0.5, -0.25}, device);
    a.set_grad(Tensor::from_vector(std::vector<float>{3, 4}, device));
    CHECK(clip_grad_norm_({a, b}, 1.0) == Approx(5.031152949374527).epsilon(1e-15));
    CHECK(a.grad().to_vector<float>() == std::vector<float>{0.5962846279144287f, 0.7950462102890015f});
    check_near(b.grad(), {0.09938077924690815, -0.049690389623454075});
    // p1.grad float64 [3., 4., 12.], p2.grad float32 [1., 2.]: torch takes p2's norm in float32
    // (2.2360680103302) before the float64 norm of norms -> 13.190905963838196, p1.grad[0]
    // 0.22742939573633997 (a float64 sum of every square gives 13.19090595827292)
    Tensor p1 = f64({3, 4, 12}, device), p2 = leaf({0, 0}, {2}, device);
    p2.set_grad(Tensor::from_vector(std::vector<float>{1, 2}, device));
    CHECK(clip_grad_norm_({p1, p2}, 1.0) == Approx(13.190905963838196).epsilon(1e-15));
    CHECK(p1.grad().to_vector<double>()[0] == Approx(0.22742939573633997).epsilon(1e-14));
  }
}

TEST_CASE("clip_grad_value_ clamps each gradient in place as torch.nn.utils.clip_grad_value_", "[optim][clip]") {
  for (const Device device : available_devices()) {
    INFO("device " << device.str());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto a = leaf({0, 0, 0, 0}, {4}, device), no_grad = leaf({0, 0}, {2}, device);
    Tensor b = Tensor::zeros({2, 2}, TensorOptions(device).dtype(kFloat64)).set_requires_grad(true);
    Tensor c = Tensor::zeros({3}, TensorOptions(device).dtype(kBFloat16)).set_requires_grad(true);
    a.set_grad(Tensor::from_vector(std::vector<float>{0.5f, -2.0f, 3.0f, -0.1f}, {4}, device));
    b.set_grad(Tensor::from_vector(std::vector<double>{1.5, -1.5, 0.99, nan}, {2, 2}, device));
    c.set_grad(Tensor::from_vector(std::vector<float>{1.0078125f, -0.3f, -5.0f}, {3}, device).to(kBFloat16));
    const Tensor a_grad = a.grad();
    clip_grad_value_({a, no_grad, b, c}, 1.0);
    // torch.nn.utils.clip_grad_value_([a, no_grad, b, c], 1.0) with those grads -> a.grad
    // [0.5, -1.0, 1.0, -0.10000000149011612], no_grad.grad None, b.grad [[1.0, -1.0], [0.99, nan]],
    // c.grad (bfloat16) [1.0, -0.30078125, -1.0]
    CHECK(a.grad().to_vector<float>() == std::vector<float>{0.5f, -1.0f, 1.0f, -0.1f});
    CHECK(a_grad.to_vector<float>() == a.grad().to_vector<float>());  // in place
    CHECK_FALSE(no_grad.grad().defined());
    const auto gb = b.grad().to(Device::cpu()).to_vector<double>();
    CHECK(std::vector<double>(gb.begin(), gb.begin() + 3) == std::vector<double>{1.0, -1.0, 0.99});
    CHECK(std::isnan(gb[3]));
    CHECK(c.grad().dtype() == kBFloat16);
    CHECK(c.grad().to(kFloat32).to_vector<float>() == std::vector<float>{1.0f, -0.30078125f, -1.0f});

    // A negative clip_value: clamp_min(1) then clamp_max(-1) sets everything but NaN to -1 (torch:
    // [-1.0, -1.0, -1.0, nan] for [0.5, -2, 3, nan]).
    a.set_grad(Tensor::from_vector(std::vector<float>{0.5f, -2.0f, 3.0f, static_cast<float>(nan)}, {4}, device));
    clip_grad_value_({a}, -1.0);
    const auto ga = a.grad().to_vector<float>();
    CHECK(std::vector<float>(ga.begin(), ga.begin() + 3) == std::vector<float>{-1.0f, -1.0f, -1.0f});
    CHECK(std::isnan(ga[3]));
    CHECK_THROWS_WITH(clip_grad_value_({a, Tensor()}, 1.0), Contains("clip_grad_value_: parameter #1 is an undefined tensor"));
  }
}

TEST_CASE("clip_grad_norm_ with 16-bit gradients: the coefficient has their dtype, as torch's", "[optim][clip]") {
  // ps = [torch.zeros(5, dtype=dt, requires_grad=True) for _ in range(3)], p.grad = torch.tensor(values[5i:5i+5]).to(dt),
  // torch.nn.utils.clip_grad_norm_(ps, max_norm): max_norm / (total + 1e-6) is a tensor op in dt, so
  // the coefficient is rounded to dt (a float32 coefficient misses the second gradient's [2], [4]).
  const std::vector<float> values = {0.37f, 1.91f, -2.53f, 3.3f, 0.011f, 5.7f, -0.9f, 1.3f,
                                     2.2f,  -7.1f, 0.5f,  0.25f, 9.9f, -1.7f, 0.33f};
  struct Case { DType dtype; double max_norm; float total; std::vector<float> second_grad; };
  const std::vector<Case> cases = {
      {kBFloat16, 1.0, 14.5625f, {0.390625f, -0.061767578125f, 0.08935546875f, 0.1513671875f, -0.48828125f}},
      {kBFloat16, 0.3, 14.5625f, {0.1171875f, -0.0185546875f, 0.0267333984375f, 0.04541015625f, -0.146484375f}},
      {kFloat16, 1.0, 14.578125f,
       {0.390869140625f, -0.061737060546875f, 0.08917236328125f, 0.15087890625f, -0.4873046875f}},
      {kFloat16, 0.3, 14.578125f,
       {0.1173095703125f, -0.018524169921875f, 0.0267486572265625f, 0.045257568359375f, -0.146240234375f}}};
  for (const Device device : available_devices())
    for (const Case& c : cases) {
      INFO("device " << device.str() << ", " << dtype_name(c.dtype) << ", max_norm " << c.max_norm);
      std::vector<Tensor> ps;
      for (std::size_t i = 0; i < 3; ++i) {
        ps.push_back(Tensor::zeros({5}, TensorOptions(device).dtype(c.dtype)).set_requires_grad());
        const std::vector<float> g(values.begin() + 5 * static_cast<std::ptrdiff_t>(i),
                                   values.begin() + 5 * static_cast<std::ptrdiff_t>(i + 1));
        ps.back().set_grad(Tensor::from_vector(g, {5}, device).to(c.dtype));
      }
      CHECK(clip_grad_norm_(ps, c.max_norm) == c.total);
      CHECK(ps[1].grad().dtype() == c.dtype);
      CHECK(ps[1].grad().to(kFloat32).to_vector<float>() == c.second_grad);
    }
}

TEST_CASE("clip_grad_norm_and_step: the update of clip_grad_norm_ then step, bit for bit", "[optim][clip]") {
  // Gradients ~N(0, 25) over 1,000+ elements: the total norm is far above max_norm, so the
  // coefficient is < 1 and (for Adam/AdamW on float32/float64) folded into the step.
  struct Setup { std::string optimizer; DType dtype; bool subset; };
  const std::vector<Setup> setups = {{"AdamW", kFloat32, false}, {"Adam", kFloat32, false}, {"AdamW", kFloat64, false},
                                     {"AdamW", kBFloat16, false}, {"SGD", kFloat32, false}, {"AdamW", kFloat32, true}};
  for (const Device device : available_devices()) {
    for (const Setup& setup : setups) {
      CAPTURE(device.str(), setup.optimizer, dtype_name(setup.dtype), setup.subset);
      const auto make_params = [&] {
        Generator gen(5);
        std::vector<Tensor> ps;
        for (const Shape& s : std::vector<Shape>{{37, 29}, {29}, {5}, {3, 7}})
          ps.push_back(Tensor::randn(s, TensorOptions(device), gen).to(setup.dtype).set_requires_grad());
        return ps;
      };
      const auto make_optimizer = [&](const std::vector<Tensor>& ps) -> std::unique_ptr<Optimizer> {
        std::vector<ParamGroup> groups = {ParamGroup{{ps[0], ps[1]}, {}, 1e-2, 0.1}, ParamGroup{{ps[2], ps[3]}, {}, 3e-3, 0.0}};
        if (setup.optimizer == "SGD") return std::make_unique<SGD>(groups, SgdOptions{0.1, 0.9});
        if (setup.optimizer == "Adam") return std::make_unique<Adam>(groups, AdamOptions{});
        return std::make_unique<AdamW>(groups, AdamWOptions{});
      };
      std::vector<Tensor> separate = make_params(), folded = make_params();
      auto opt_separate = make_optimizer(separate), opt_folded = make_optimizer(folded);
      Generator grads(9);
      for (int step = 0; step < 3; ++step) {
        for (std::size_t i = 0; i < separate.size(); ++i) {
          if (step == 1 && i == 2) {  // a parameter without a gradient this step
            separate[i].set_grad(Tensor());
            folded[i].set_grad(Tensor());
            continue;
          }
          const Tensor g = (Tensor::randn(separate[i].shape(), TensorOptions(device), grads) * 5.0).to(setup.dtype);
          separate[i].set_grad(g.clone());
          folded[i].set_grad(g.clone());
        }
        const std::vector<Tensor> before = [&] {
          std::vector<Tensor> gs;
          for (const Tensor& p : folded) gs.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
          return gs;
        }();
        // subset: the clip sees only some of the optimizer's parameters (so nothing is folded).
        const std::vector<Tensor> clip_separate = setup.subset ? std::vector<Tensor>{separate[0], separate[1]} : separate;
        const std::vector<Tensor> clip_folded = setup.subset ? std::vector<Tensor>{folded[0], folded[1]} : folded;
        const float total_separate = clip_grad_norm_(clip_separate, 1.0);
        opt_separate->step();
        const float total_folded = clip_grad_norm_and_step(clip_folded, 1.0, *opt_folded);
        CHECK(total_folded == total_separate);
        CHECK(total_folded > 1.0f);
        const bool folds = setup.optimizer != "SGD" && !setup.subset && setup.dtype != kBFloat16;
        for (std::size_t i = 0; i < separate.size(); ++i) {
          CAPTURE(step, i);
          CHECK(folded[i].to(kFloat64).to_vector<double>() == separate[i].to(kFloat64).to_vector<double>());
          if (!folded[i].grad().defined()) continue;
          // Folded: the gradients are left as backward made them; otherwise scaled in place.
          const Tensor want_grad = folds ? before[i] : separate[i].grad();
          CHECK(folded[i].grad().to(kFloat64).to_vector<double>() == want_grad.to(kFloat64).to_vector<double>());
        }
      }
    }
  }
}
