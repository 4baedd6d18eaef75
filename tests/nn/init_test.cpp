// nn/init.hpp's torch.nn.init initializers against torch: calculate_gain's table, fan-in/fan-out
// (torch's _calculate_fan_in_and_fan_out), the bounds and stds xavier_*/kaiming_* derive from them
// (drawn through the same Generator as uniform_/normal_ with torch's printed numbers), seeded
// statistics on 1e5+ samples (bounds a correct implementation cannot miss), trunc_normal_'s range
// and moments in both of torch's sampling regimes, dtypes, reproducibility and errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tinyxf/nn/init.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
namespace init = tinyxf::nn::init;
using Catch::Matchers::Contains;

namespace {
std::vector<double> values(const Tensor& t) { return t.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>(); }

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};
Moments moments(const Tensor& t) {
  const auto v = values(t);
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size() - 1));
  m.min = *std::min_element(v.begin(), v.end());
  m.max = *std::max_element(v.begin(), v.end());
  return m;
}
}  // namespace

TEST_CASE("calculate_gain is torch.nn.init.calculate_gain", "[init]") {
  // torch.nn.init.calculate_gain(name, param), printed with repr
  CHECK(init::calculate_gain("linear") == 1.0);
  CHECK(init::calculate_gain("conv2d") == 1.0);
  CHECK(init::calculate_gain("conv_transpose3d") == 1.0);
  CHECK(init::calculate_gain("sigmoid") == 1.0);
  CHECK(init::calculate_gain("tanh") == 1.6666666666666667);
  CHECK(init::calculate_gain("relu") == 1.4142135623730951);
  CHECK(init::calculate_gain("leaky_relu") == 1.4141428569978354);  // default negative slope 0.01
  CHECK(init::calculate_gain("leaky_relu", 0.2) == 1.3867504905630728);
  CHECK(init::calculate_gain("selu") == 0.75);
  CHECK_THROWS_AS(init::calculate_gain("gelu"), ValueError);
  CHECK_THROWS_WITH(init::calculate_gain("gelu"), Contains("Unsupported nonlinearity gelu"));
}

TEST_CASE("fan-in and fan-out are torch's _calculate_fan_in_and_fan_out", "[init]") {
  using Fans = std::pair<std::int64_t, std::int64_t>;
  // torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
  CHECK(init::calculate_fan_in_and_fan_out(Tensor::empty({3, 5})) == Fans{5, 3});
  CHECK(init::calculate_fan_in_and_fan_out(Tensor::empty({8, 4, 3, 3})) == Fans{36, 72});
  CHECK(init::calculate_fan_in_and_fan_out(Tensor::empty({6, 2, 5})) == Fans{10, 30});
  CHECK(init::calculate_fan_in_and_fan_out(Tensor::empty({0, 4})) == Fans{4, 0});
  CHECK_THROWS_AS(init::calculate_fan_in_and_fan_out(Tensor::empty({4})), ValueError);
  CHECK_THROWS_WITH(init::calculate_fan_in_and_fan_out(Tensor::empty({4})),
                    Contains("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions") &&
                        Contains("[4]"));
  Tensor vec = Tensor::empty({4});
  CHECK_THROWS_WITH(init::xavier_uniform_(vec), Contains("fewer than 2 dimensions"));
  CHECK_THROWS_WITH(init::kaiming_normal_(vec), Contains("fewer than 2 dimensions"));
}

TEST_CASE("xavier_* and kaiming_* use torch's bound and std", "[init]") {
  // Each initializer draws exactly what uniform_/normal_ draw with torch's bound/std (printed by
  // python: math.sqrt(3) * gain * math.sqrt(2 / (fan_in + fan_out)) etc.) from the same seed.
  const auto same_as = [](const Shape& shape, const auto& init_fn, bool uniform, double torch_value) {
    Tensor a = Tensor::empty(shape), b = Tensor::empty(shape);
    Generator ga(11), gb(11);
    init_fn(a, ga);
    if (uniform) init::uniform_(b, -torch_value, torch_value, gb);
    else init::normal_(b, 0.0, torch_value, gb);
    CHECK(a.to_vector<float>() == b.to_vector<float>());
    CHECK(ga.offset() == gb.offset());
  };
  same_as({3, 5}, [](Tensor& t, Generator& g) { init::xavier_uniform_(t, 1.0, g); }, true, 0.8660254037844386);
  same_as({8, 4, 3, 3}, [](Tensor& t, Generator& g) { init::xavier_normal_(t, init::calculate_gain("tanh"), g); },
          false, 0.22680460581325723);
  same_as({8, 4, 3, 3}, [](Tensor& t, Generator& g) { init::kaiming_uniform_(t, 0.0, "fan_in", "leaky_relu", g); },
          true, 0.4082482904638631);
  same_as({6, 2, 5}, [](Tensor& t, Generator& g) { init::kaiming_uniform_(t, std::sqrt(5.0), "fan_in", "leaky_relu", g); },
          true, 0.3162277660168379);  // nn.Linear/Conv's default: 1 / sqrt(fan_in)
  same_as({8, 4, 3, 3}, [](Tensor& t, Generator& g) { init::kaiming_normal_(t, 0.0, "fan_out", "relu", g); }, false,
          0.16666666666666669);
  Tensor w = Tensor::empty({3, 4});
  CHECK_THROWS_AS(init::kaiming_uniform_(w, 0.0, "fan_avg"), ValueError);
  CHECK_THROWS_WITH(init::kaiming_uniform_(w, 0.0, "fan_avg"),
                    Contains("Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']"));
  CHECK_THROWS_WITH(init::kaiming_normal_(w, 0.0, "fan_in", "swish"), Contains("Unsupported nonlinearity swish"));
  Tensor empty = Tensor::zeros({0, 4});
  init::kaiming_uniform_(empty);  // a no-op, as torch (which warns)
  CHECK(empty.numel() == 0);
}

TEST_CASE("xavier/kaiming statistics over 1e5 samples (seeded)", "[init]") {
  Generator gen(2026);
  Tensor w = Tensor::empty({1000, 100});
  init::kaiming_normal_(w, 0.0, "fan_in", "relu", gen);  // std sqrt(2) / 10
  Moments m = moments(w);
  CHECK(std::abs(m.mean) < 0.03 * 0.1414);  // standard error 0.0032 std
  CHECK(m.std == Approx(0.1414213562373095).epsilon(0.02));
  init::xavier_uniform_(w, 2.0, gen);  // U(-a, a), a = 2 sqrt(6 / 1100), std a / sqrt(3)
  m = moments(w);
  const double a = 2.0 * std::sqrt(6.0 / 1100.0);
  CHECK(m.min >= -a);
  CHECK(m.max <= a);
  CHECK(m.max > 0.99 * a);
  CHECK(m.std == Approx(a / std::sqrt(3.0)).epsilon(0.02));
}

TEST_CASE("trunc_normal_ stays within [a, b] with torch's truncated-normal moments", "[init]") {
  struct Case {
    double mean, std, a, b, expected_mean, expected_std;  // moments from the truncated normal's formula
  };
  // mu + s (phi(alpha) - phi(beta)) / Z and s sqrt(1 + (alpha phi(alpha) - beta phi(beta)) / Z -
  // ((phi(alpha) - phi(beta)) / Z)^2); torch.nn.init.trunc_normal_ on 1e6 float64 samples gives
  // them to 3 digits (-0.0004 / 0.8788, 0.7344 / 0.1433, 0.0999 / 0.0200, 0.2373 / 0.0338)
  const Case cases[] = {
      {0.0, 1.0, -2.0, 2.0, 0.0, 0.8796256610342398},               // 95% of the mass: normal redraws
      {0.0, 1.0, 0.5, 1.0, 0.7345404588412989, 0.1432410390089919},  // 15%: uniform rejection
      {0.1, 0.02, -0.5, 0.5, 0.1, 0.02},                              // bounds never reached
      {0.0, 0.1, 0.2, 0.5, 0.23731800849531312, 0.03379059070657218}, // the mean outside [a, b]
  };
  for (const Case& c : cases) {
    INFO("mean " << c.mean << " std " << c.std << " [" << c.a << ", " << c.b << "]");
    Generator gen(7);
    Tensor t = Tensor::empty({200000}, kFloat64);
    init::trunc_normal_(t, c.mean, c.std, c.a, c.b, gen);
    const Moments m = moments(t);
    CHECK(m.min >= c.a);
    CHECK(m.max <= c.b);
    CHECK(std::abs(m.mean - c.expected_mean) < 0.02 * c.expected_std);  // standard error 0.0022 std
    CHECK(m.std == Approx(c.expected_std).epsilon(0.02));
  }
}

TEST_CASE("initializers fill float32, float64, bfloat16 and float16 parameters reproducibly", "[init]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat32, kFloat64, kBFloat16, kFloat16}) {
      INFO(device.str() << " " << dtype_name(dtype));
      Tensor p = Tensor::empty({64, 32}, TensorOptions(device).dtype(dtype)).set_requires_grad(true);
      Generator g1(5), g2(5);
      init::trunc_normal_(p, 0.0, 1.0, -0.5, 0.5, g1);  // 38% of the mass: both regimes are exercised below
      const auto first = values(p);
      Tensor q = Tensor::empty({64, 32}, TensorOptions(device).dtype(dtype));
      init::trunc_normal_(q, 0.0, 1.0, -0.5, 0.5, g2);
      CHECK(values(q) == first);
      CHECK(g1.offset() == g2.offset());
      CHECK(*std::min_element(first.begin(), first.end()) >= -0.5);
      CHECK(*std::max_element(first.begin(), first.end()) <= 0.5);
      init::trunc_normal_(p, 0.0, 1.0, 1.0, 1.5, g1);  // 9%: uniform rejection
      const Moments narrow = moments(p);
      CHECK(narrow.min >= 1.0);
      CHECK(narrow.max <= 1.5);
      CHECK(p.is_leaf());
      CHECK(p.requires_grad());

      init::kaiming_uniform_(p, std::sqrt(5.0), "fan_in", "leaky_relu", g1);
      const Moments k = moments(p);
      CHECK(k.max <= 1.0 / std::sqrt(32.0) + 1e-2);  // the bound, rounded to 16 bits at most
      CHECK(k.min >= -1.0 / std::sqrt(32.0) - 1e-2);
      init::xavier_normal_(p, 1.0, g1);
      CHECK(moments(p).std == Approx(std::sqrt(2.0 / 96.0)).epsilon(0.1));
      init::constant_(p, 0.25);
      CHECK(moments(p).min == 0.25);
      CHECK(moments(p).max == 0.25);
    }
  }
}

TEST_CASE("constant_ and eye_ are torch's", "[init]") {
  Tensor t = Tensor::empty({2, 3});
  init::eye_(t);
  // torch.nn.init.eye_(torch.empty(2, 3)) -> [[1, 0, 0], [0, 1, 0]]
  CHECK(t.to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0});
  Tensor tall = Tensor::empty({3, 2}, kBFloat16);
  init::eye_(tall);
  CHECK(values(tall) == std::vector<double>{1, 0, 0, 1, 0, 0});
  Tensor cube = Tensor::empty({2, 2, 2});
  CHECK_THROWS_AS(init::eye_(cube), ValueError);
  CHECK_THROWS_WITH(init::eye_(cube), Contains("Only tensors with 2 dimensions are supported"));
  init::constant_(t, -1.5);
  CHECK(t.to_vector<float>() == std::vector<float>(6, -1.5f));
}

TEST_CASE("trunc_normal_ rejects a bad std or interval", "[init]") {
  Tensor t = Tensor::empty({4});
  CHECK_THROWS_AS(init::trunc_normal_(t, 0.0, -1.0), ValueError);
  CHECK_THROWS_WITH(init::trunc_normal_(t, 0.0, -1.0), Contains("std must be > 0, got -1"));
  CHECK_THROWS_WITH(init::trunc_normal_(t, 0.0, 0.0), Contains("std must be > 0, got 0"));
  CHECK_THROWS_WITH(init::trunc_normal_(t, 0.0, 1.0, 2.0, 2.0), Contains("a < b, got a=2, b=2"));
  CHECK_THROWS_WITH(init::trunc_normal_(t, 0.0, 1.0, 3.0, -3.0), Contains("a < b, got a=3, b=-3"));
  Tensor ints = Tensor::zeros({4}, kInt64);
  CHECK_THROWS_WITH(init::trunc_normal_(ints), Contains("expected a floating point tensor, got int64"));
}

TEST_CASE("xavier/kaiming defer under DeferredInit like normal_/uniform_; trunc_normal_ writes at once", "[init]") {
  Tensor w = Tensor::zeros({4, 6}), v = Tensor::zeros({4, 6});
  Generator gen(3), eager(3);
  {
    init::DeferredInit deferred;
    init::kaiming_uniform_(w, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
    CHECK(deferred.pending() == 1);
    CHECK(moments(w).max == 0.0);  // not written yet
    init::trunc_normal_(v, 0.0, 0.02, -0.04, 0.04, gen);
    CHECK(moments(v).max > 0.0);
  }
  Tensor expected = Tensor::zeros({4, 6});
  init::kaiming_uniform_(expected, std::sqrt(5.0), "fan_in", "leaky_relu", eager);
  CHECK(w.to_vector<float>() == expected.to_vector<float>());
}
