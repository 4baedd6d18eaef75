// The ops composed from differentiable ones (ops/composite.hpp) against torch 2.15: values and
// gradients, kinks and the edge cases torch handles (infinite rows, zero variance, NaN, bounds
// crossing), argument errors, and a float64 gradcheck away from the kinks. Every expected
// number was printed by torch; the expression is in the comment above it.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const TensorOptions f64 = TensorOptions(dev).dtype(kFloat64);

// Elementwise: equal infinities and NaNs where torch has them, |got - want| <= tol * max(|want|,
// floor) elsewhere (a small floor makes tiny values relative).
void check_close(const Tensor& got_t, const std::vector<double>& want, double tol = 1e-12, double floor = 1.0) {
  const auto got = got_t.to(kFloat64).to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", torch " << want[i]);
    if (std::isnan(want[i]))
      CHECK(std::isnan(got[i]));
    else if (std::isinf(want[i]))
      CHECK(got[i] == want[i]);
    else
      CHECK(std::abs(got[i] - want[i]) <= tol * std::max(floor, std::abs(want[i])));
  }
}

// The gradient of sum(f(x)) with respect to x (a float64 copy of `values`).
Tensor grad_of_sum(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in) {
  Tensor x = x_in.detach().clone().set_requires_grad(true);
  sum(f(x)).backward();
  return x.grad();
}

Tensor vec(const std::vector<double>& values, const Shape& shape = {}) {
  return Tensor::from_vector(values, shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape, f64);
}

}  // namespace

TEST_CASE("logsumexp: stable values, softmax gradient, infinite rows as torch", "[parity][composite]") {
  const Tensor x = vec({0.5, -1.25, 2.0, 3.0, 0.0, -0.75}, {2, 3});
  // torch.logsumexp(x, 1) and its gradient (softmax)
  check_close(logsumexp(x, {1}), {2.2326219831020326, 3.0707424999363266});
  check_close(grad_of_sum([](const Tensor& t) { return logsumexp(t, {1}); }, x),
              {0.1768201821074443, 0.030726740326436432, 0.7924530775661193, 0.9317017745076629, 0.04638669994587317,
               0.02191152554646392});
  // torch.logsumexp(x, (0, 1))
  check_close(logsumexp(x, {0, 1}), {3.430179501227656});
  CHECK(logsumexp(x, {}).shape() == Shape{});
  // torch.logsumexp(x, 0, keepdim=True)
  const Tensor kept = logsumexp(x, {0}, true);
  CHECK(kept.shape() == Shape{1, 3});
  check_close(kept, {3.0788897342925496, 0.25192908134537295, 2.0619675890031988});

  // Rows [-inf, -inf], [1, inf], [0, -inf]: -inf, inf, 0; gradients nan nan | 0 nan | 1 0.
  const Tensor rows = vec({-inf, -inf, 1.0, inf, 0.0, -inf}, {3, 2});
  check_close(logsumexp(rows, {1}), {-inf, inf, 0.0});
  check_close(grad_of_sum([](const Tensor& t) { return logsumexp(t, {1}); }, rows), {kNaN, kNaN, 0.0, kNaN, 1.0, 0.0});

  // No overflow in float32: torch.logsumexp(torch.tensor([1000., 1000.5]), 0)
  const Tensor big = Tensor::from_vector<float>({1000.0f, 1000.5f}, dev);
  check_close(logsumexp(big, {0}), {1000.9740600585938}, 1e-7);
  // torch's float32 gradient is exp(x - result), which carries the rounding of result (it sums to
  // 1.000016); this one is the softmax itself, sigmoid(-0.5) and sigmoid(0.5) to float32 precision.
  check_close(grad_of_sum([](const Tensor& t) { return logsumexp(t, {0}); }, big), {0.3775470554828644, 0.6224698424339294},
              2e-5);
  check_close(grad_of_sum([](const Tensor& t) { return logsumexp(t, {0}); }, big), {0.37754066879814546, 0.6224593312018546},
              2e-7);
  // An empty reduction is -inf; an integer input gives float32 (torch.logsumexp(tensor([1, 2, 3]), 0)).
  check_close(logsumexp(Tensor::zeros({0, 3}, f64), {0}), {-inf, -inf, -inf});
  const Tensor ints = logsumexp(Tensor::arange(1.0, 4.0, 1.0, TensorOptions(dev).dtype(kInt64)), {0});
  CHECK(ints.dtype() == kFloat32);
  check_close(ints, {3.4076058864593506}, 1e-7);
  // torch.logsumexp(torch.tensor([1000., 1000.5], dtype=torch.float16), 0)
  const Tensor half = logsumexp(Tensor::from_vector<float>({1000.0f, 1000.5f}, TensorOptions(dev).dtype(kFloat16)), {0});
  CHECK(half.dtype() == kFloat16);
  check_close(half, {1001.0});
  CHECK_THROWS_WITH(logsumexp(x, {2}), Catch::Contains("logsumexp: dim 2 out of range"));
}

TEST_CASE("var and std: correction, keepdim, zero spread, N - correction <= 0, as torch", "[parity][composite]") {
  const Tensor x = vec({0.5, -1.25, 2.0, 3.0, 0.0, -0.75}, {2, 3});
  // torch.var(x, 1) and its gradient
  check_close(var(x, {1}), {2.6458333333333335, 3.9375});
  check_close(grad_of_sum([](const Tensor& t) { return var(t, {1}); }, x),
              {0.08333333333333331, -1.6666666666666667, 1.5833333333333333, 2.25, -0.75, -1.5});
  // torch.var(x, correction=0)
  check_close(var(x, {}, 0.0), {2.2222222222222223});
  check_close(grad_of_sum([](const Tensor& t) { return var(t, {}, 0.0); }, x),
              {-0.02777777777777779, -0.6111111111111112, 0.47222222222222215, 0.8055555555555555, -0.19444444444444445,
               -0.4444444444444445});
  // torch.std(x, 0, keepdim=True)
  const Tensor s = tinyxf::std(x, {0}, 1.0, true);
  CHECK(s.shape() == Shape{1, 3});
  check_close(s, {1.7677669529663689, 0.8838834764831844, 1.9445436482630056});
  check_close(grad_of_sum([](const Tensor& t) { return tinyxf::std(t, {0}, 1.0, true); }, x),
              {-0.7071067811865475, -0.7071067811865475, 0.7071067811865476, 0.7071067811865475, 0.7071067811865475,
               -0.7071067811865476});
  // torch.var_mean(x, 1)
  const auto [v, m] = var_mean(x, {1});
  check_close(v, {2.6458333333333335, 3.9375});
  check_close(m, {0.41666666666666663, 0.75});
  check_close(std_mean(x, {1}).second, {0.41666666666666663, 0.75});

  // torch.var(tensor([3.])): nan, gradient nan; torch.std(tensor([3., 3.])): 0, gradient 0 (not nan).
  check_close(var(vec({3.0})), {kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return var(t); }, vec({3.0})), {kNaN});
  check_close(tinyxf::std(vec({3.0, 3.0})), {0.0});
  check_close(grad_of_sum([](const Tensor& t) { return tinyxf::std(t); }, vec({3.0, 3.0})), {0.0, 0.0});
  // torch.var(tensor([3., 4.]), correction=3): inf (divisor max(0, N - correction) = 0); an empty one: nan
  check_close(var(vec({3.0, 4.0}), {}, 3.0), {inf});
  check_close(var(Tensor::zeros({0}, f64)), {kNaN});
  // 16-bit: torch.var / torch.std of bfloat16 [1.5, 2.25, -3.0, 0.125]
  const Tensor b = Tensor::from_vector<float>({1.5f, 2.25f, -3.0f, 0.125f}, TensorOptions(dev).dtype(kBFloat16));
  CHECK(var(b).dtype() == kBFloat16);
  check_close(var(b), {5.375});
  check_close(tinyxf::std(b), {2.3125});
  CHECK_THROWS_AS(var(Tensor::ones({2}, TensorOptions(dev).dtype(kInt64))), DTypeError);
  CHECK_THROWS_WITH(tinyxf::std(Tensor::ones({2}, TensorOptions(dev).dtype(kInt64))), Catch::Contains("only support floating point"));
}

TEST_CASE("clamp and hardtanh: inclusive vs exclusive gradients at the bounds, NaN, min > max", "[parity][composite]") {
  const Tensor a = vec({-2.0, -0.5, 0.0, 0.5, 1.0, 3.0});
  const auto clamp_fn = [](const Tensor& t) { return clamp(t, -0.5, 1.0); };
  // torch.clamp(a, -0.5, 1.): gradient 1 at both bounds (inclusive)
  check_close(clamp_fn(a), {-0.5, -0.5, 0.0, 0.5, 1.0, 1.0});
  check_close(grad_of_sum(clamp_fn, a), {0.0, 1.0, 1.0, 1.0, 1.0, 0.0});
  // F.hardtanh(a, -0.5, 1.): gradient 0 at the bounds
  const auto hardtanh_fn = [](const Tensor& t) { return hardtanh(t, -0.5, 1.0); };
  check_close(hardtanh_fn(a), {-0.5, -0.5, 0.0, 0.5, 1.0, 1.0});
  check_close(grad_of_sum(hardtanh_fn, a), {0.0, 0.0, 1.0, 1.0, 0.0, 0.0});

  const Tensor c = vec({0.0, 1.0, 2.0, 3.0, kNaN});
  // torch.clamp(c, 1., 2.): [1, 1, 2, 2, nan], gradient [0, 1, 1, 0, 0]
  check_close(clamp(c, 1.0, 2.0), {1.0, 1.0, 2.0, 2.0, kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return clamp(t, 1.0, 2.0); }, c), {0.0, 1.0, 1.0, 0.0, 0.0});
  // torch.clamp(c, 2., 1.): max everywhere, gradient 0
  check_close(clamp(c, 2.0, 1.0), {1.0, 1.0, 1.0, 1.0, kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return clamp(t, 2.0, 1.0); }, c), {0.0, 0.0, 0.0, 0.0, 0.0});
  // torch.clamp(c, min=nan): every element nan, gradient 0
  check_close(clamp(c, kNaN, std::nullopt), {kNaN, kNaN, kNaN, kNaN, kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return clamp(t, kNaN, std::nullopt); }, c), {0.0, 0.0, 0.0, 0.0, 0.0});
  check_close(clamp(c, std::nullopt, 1.0), {0.0, 1.0, 1.0, 1.0, kNaN});
  // F.hardtanh(tensor([-1., 0., 1., nan])): gradient [0, 1, 0, 1]; F.relu6 at 0 and 6: 0, nan: 1
  check_close(grad_of_sum([](const Tensor& t) { return hardtanh(t); }, vec({-1.0, 0.0, 1.0, kNaN})), {0.0, 1.0, 0.0, 1.0});
  check_close(relu6(vec({-1.0, 0.0, 6.0, 7.0, kNaN})), {0.0, 0.0, 6.0, 6.0, kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return relu6(t); }, vec({-1.0, 0.0, 6.0, 7.0, kNaN, 3.0})),
              {0.0, 0.0, 0.0, 0.0, 1.0, 1.0});

  // dtypes: torch.clamp(tensor([1, 2, 3]), min=1.5) is float32; an integral bound keeps int64
  // (torch's Python int); torch.clamp(tensor([True, False]), min=0) is int64 [1, 0]
  const Tensor ints = Tensor::from_vector<std::int64_t>({1, 2, 3}, dev);
  CHECK(clamp(ints, 1.5, std::nullopt).dtype() == kFloat32);
  check_close(clamp(ints, 1.5, std::nullopt), {1.5, 2.0, 3.0});
  CHECK(clamp(ints, 2.0, std::nullopt).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 2, 3});
  CHECK(hardtanh(ints, -1.0, 1.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1});
  const Tensor bools = gt(Tensor::from_vector<float>({1.0f, -1.0f}, dev), 0.0);
  CHECK(clamp(bools, 0.0, std::nullopt).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
  const Tensor h = clamp(Tensor::from_vector<float>({-3.0f, 0.3f, 9.0f}, TensorOptions(dev).dtype(kBFloat16)), -1.0, 1.0);
  CHECK(h.dtype() == kBFloat16);
  check_close(h, {-1.0, 0.30078125, 1.0});

  // torch.clamp(tensor([0.1, -2.], dtype=torch.bfloat16), 0.1): the bound rounded to bfloat16 too;
  // torch.clamp(float16 tensor, 1e5) raises "value cannot be converted to type c10::Half without overflow"
  const TensorOptions bf16 = TensorOptions(dev).dtype(kBFloat16);
  check_close(clamp(Tensor::from_vector<float>({0.1f, -2.0f}, bf16), 0.1, std::nullopt), {0.10009765625, 0.10009765625});
  CHECK_THROWS_WITH(clamp(Tensor::ones({2}, TensorOptions(dev).dtype(kFloat16)), 1e5, std::nullopt),
                    Catch::Contains("cannot be converted to type float16 without overflow"));
  CHECK_THROWS_WITH(clamp(a, std::nullopt, std::nullopt), Catch::Contains("at least one of 'min' or 'max'"));
  CHECK_THROWS_WITH(hardtanh(a, 2.0, 1.0), Catch::Contains("min_val (2) cannot be greater than max_val (1)"));
}

TEST_CASE("activations: torch's values and gradients, kinks included", "[parity][composite]") {
  const Tensor a = vec({-2.0, -0.5, 0.0, 0.5, 1.0, 3.0});
  struct Case {
    const char* torch_expression;
    std::function<Tensor(const Tensor&)> f;
    std::vector<double> values, grads;
  };
  const std::vector<Case> cases = {
      {"F.softplus(a)", [](const Tensor& t) { return softplus(t); },
       {0.1269280110429725, 0.4740769841801067, 0.6931471805599453, 0.9740769841801067, 1.3132616875182228, 3.048587351573742},
       {0.11920292202211755, 0.37754066879814546, 0.5, 0.6224593312018546, 0.7310585786300049, 0.9525741268224333}},
      {"F.softplus(a, 2., 1.)", [](const Tensor& t) { return softplus(t, 2.0, 1.0); },
       {0.009074963958904869, 0.15663084375911143, 0.34657359027997264, 0.6566308437591114, 1.0, 3.0},
       {0.017986209962091555, 0.2689414213699951, 0.5, 0.7310585786300049, 1.0, 1.0}},
      {"F.elu(a)", [](const Tensor& t) { return elu(t); },
       {-0.8646647167633873, -0.3934693402873666, 0.0, 0.5, 1.0, 3.0},
       {0.1353352832366127, 0.6065306597126334, 1.0, 1.0, 1.0, 1.0}},
      {"F.elu(a, 0.5)", [](const Tensor& t) { return elu(t, 0.5); },
       {-0.43233235838169365, -0.1967346701436833, 0.0, 0.5, 1.0, 3.0},
       {0.06766764161830635, 0.3032653298563167, 0.5, 1.0, 1.0, 1.0}},
      {"F.selu(a)", [](const Tensor& t) { return selu(t); },
       {-1.5201664685956948, -0.6917581878028713, 0.0, 0.5253504936777402, 1.0507009873554805, 3.1521029620664414},
       {0.2379328722516818, 1.0663411530445053, 1.7580993408473766, 1.0507009873554805, 1.0507009873554805,
        1.0507009873554805}},
      {"F.celu(a, 2.)", [](const Tensor& t) { return celu(t, 2.0); },
       {-1.2642411176571153, -0.44239843385719024, 0.0, 0.5, 1.0, 3.0},
       {0.36787944117144233, 0.7788007830714049, 1.0, 1.0, 1.0, 1.0}},
      {"F.leaky_relu(a, 0.2)", [](const Tensor& t) { return leaky_relu(t, 0.2); },
       {-0.4, -0.1, 0.0, 0.5, 1.0, 3.0},
       {0.2, 0.2, 0.2, 1.0, 1.0, 1.0}},
      {"F.relu6(a)", [](const Tensor& t) { return relu6(t); },
       {0.0, 0.0, 0.0, 0.5, 1.0, 3.0},
       {0.0, 0.0, 0.0, 1.0, 1.0, 1.0}},
      // torch's float64 gradient is its float32 1/6 (0.1666666716337204)
      {"F.hardsigmoid(a)", [](const Tensor& t) { return hardsigmoid(t); },
       {0.16666666666666666, 0.4166666666666667, 0.5, 0.5833333333333334, 0.6666666666666666, 1.0},
       {0.1666666716337204, 0.1666666716337204, 0.1666666716337204, 0.1666666716337204, 0.1666666716337204, 0.0}},
      {"F.hardswish(a)", [](const Tensor& t) { return hardswish(t); },
       {-0.3333333333333333, -0.20833333333333334, 0.0, 0.2916666666666667, 0.6666666666666666, 3.0},
       {-0.16666666666666663, 0.33333333333333337, 0.5, 0.6666666666666666, 0.8333333333333333, 1.0}},
      {"F.mish(a)", [](const Tensor& t) { return mish(t); },
       {-0.2525014826957089, -0.22074377465173, 0.0, 0.3752452113048951, 0.8650983882673103, 2.9865350049679575},
       {-0.1083550924203939, 0.28951067791351226, 0.6, 0.8864243753577272, 1.0490362200997922, 1.0211069109294435}},
      {"F.logsigmoid(a)", [](const Tensor& t) { return logsigmoid(t); },
       {-2.1269280110429727, -0.9740769841801067, -0.6931471805599453, -0.4740769841801067, -0.31326168751822286,
        -0.04858735157374206},
       {0.8807970779778824, 0.6224593312018545, 0.5, 0.37754066879814546, 0.2689414213699951, 0.04742587317756679}},
      {"F.softsign(a)", [](const Tensor& t) { return softsign(t); },
       {-0.6666666666666666, -0.3333333333333333, 0.0, 0.3333333333333333, 0.5, 0.75},
       {0.1111111111111111, 0.4444444444444444, 1.0, 0.4444444444444444, 0.25, 0.0625}},
  };
  for (const auto& c : cases) {
    INFO(c.torch_expression);
    check_close(c.f(a), c.values);
    check_close(grad_of_sum(c.f, a), c.grads);
  }

  // Kinks and NaN: F.hardsigmoid(tensor([-3., 0., 3., nan])): [0, .5, 1, nan], gradient [0, 1/6, 0, 0];
  // F.hardswish(tensor([-4., -3., 0., 3., nan])): [-0, -0, 0, 3, nan], gradient [0, 0, .5, 1, 1]
  const Tensor k = vec({-3.0, 0.0, 3.0, kNaN});
  check_close(hardsigmoid(k), {0.0, 0.5, 1.0, kNaN});
  check_close(grad_of_sum([](const Tensor& t) { return hardsigmoid(t); }, k), {0.0, 0.1666666716337204, 0.0, 0.0});
  const Tensor k2 = vec({-4.0, -3.0, 0.0, 3.0, kNaN});
  check_close(hardswish(k2), {-0.0, -0.0, 0.0, 3.0, kNaN});
  CHECK(std::signbit(hardswish(k2).to_vector<double>()[0]));
  check_close(grad_of_sum([](const Tensor& t) { return hardswish(t); }, k2), {0.0, 0.0, 0.5, 1.0, 1.0});
  // Far tails, no overflow: F.softplus / F.logsigmoid / F.mish at -100, 0, 100 (float64)
  const Tensor tails = vec({-100.0, 0.0, 100.0});
  check_close(grad_of_sum([](const Tensor& t) { return softplus(t); }, tails), {3.720075976020836e-44, 0.5, 1.0}, 1e-12, 1e-300);
  check_close(grad_of_sum([](const Tensor& t) { return logsigmoid(t); }, tails), {1.0, 0.5, 3.720075976020836e-44}, 1e-12, 1e-300);
  check_close(grad_of_sum([](const Tensor& t) { return mish(t); }, tails), {-3.682875216260627e-42, 0.6, 1.0}, 1e-12, 1e-300);
  check_close(grad_of_sum([](const Tensor& t) { return elu(t); }, tails), {3.720075976020836e-44, 1.0, 1.0}, 1e-12, 1e-300);

  // float32, expm1 accuracy near 0: F.elu / F.logsigmoid / F.mish / F.softplus of tensor([-3., -1e-8, 3.])
  const Tensor s = Tensor::from_vector<float>({-3.0f, -1e-8f, 3.0f}, dev);
  check_close(elu(s), {-0.9502129554748535, -9.99999993922529e-09, 3.0}, 2e-7);
  check_close(logsigmoid(s), {-3.0485873222351074, -0.6931471824645996, -0.04858735203742981}, 2e-7);
  check_close(mish(s), {-0.14564746618270874, -6.000000052353016e-09, 2.98653507232666}, 2e-7);
  check_close(softplus(s), {0.04858735203742981, 0.6931471824645996, 3.0485873222351074}, 2e-7);
  // bfloat16, computed in float32 and rounded once: F.elu / F.hardswish / F.softplus of [-3., -0.5, 1.5]
  const Tensor b = Tensor::from_vector<float>({-3.0f, -0.5f, 1.5f}, TensorOptions(dev).dtype(kBFloat16));
  CHECK(elu(b).dtype() == kBFloat16);
  check_close(elu(b), {-0.94921875, -0.392578125, 1.5});
  check_close(hardswish(b), {-0.0, -0.2080078125, 1.125});
  check_close(softplus(b), {0.048583984375, 0.474609375, 1.703125});

  // torch: "elu_cpu" not implemented for 'Long'; softsign of int64 is float32; celu alpha 0 refused
  const Tensor ints = Tensor::from_vector<std::int64_t>({1, 2}, dev);
  for (const auto& f : std::vector<std::function<Tensor(const Tensor&)>>{
           [](const Tensor& t) { return elu(t); }, [](const Tensor& t) { return softplus(t); },
           [](const Tensor& t) { return leaky_relu(t); }, [](const Tensor& t) { return hardswish(t); },
           [](const Tensor& t) { return logsigmoid(t); }, [](const Tensor& t) { return mish(t); }})
    CHECK_THROWS_AS(f(ints), DTypeError);
  CHECK_THROWS_WITH(elu(ints), Catch::Contains("elu: not implemented for int64"));
  check_close(softsign(ints), {0.5, 0.6666666865348816}, 1e-7);
  CHECK_THROWS_WITH(celu(a, 0.0), Catch::Contains("alpha cannot be 0"));
}

TEST_CASE("composite ops pass a float64 gradcheck away from their kinks", "[parity][composite][gradcheck]") {
  const Device ref = Device::reference();
  // Values at least 0.1 from every kink (0, +-1, +-3, the clamp bounds) and distinct per row.
  const Tensor x = Tensor::from_vector(std::vector<double>{-3.4, -1.7, -0.6, 0.35, 1.3, 2.45, -2.2, 0.8, 4.1, -0.25, 1.9, -1.15},
                                       {3, 4}, ref);
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> unary = {
      {"logsumexp", [](const Tensor& t) { return logsumexp(t, {1}); }},
      {"logsumexp all", [](const Tensor& t) { return logsumexp(t, {0, 1}, true); }},
      {"var", [](const Tensor& t) { return var(t, {0}); }},
      {"std", [](const Tensor& t) { return tinyxf::std(t, {1}, 0.0, true); }},
      {"clamp", [](const Tensor& t) { return clamp(t, -1.0, 2.0); }},
      {"hardtanh", [](const Tensor& t) { return hardtanh(t, -2.0, 1.0); }},
      {"softplus", [](const Tensor& t) { return softplus(t, 1.5, 3.0); }},
      {"elu", [](const Tensor& t) { return elu(t, 0.7); }},
      {"selu", [](const Tensor& t) { return selu(t); }},
      {"celu", [](const Tensor& t) { return celu(t, 1.5); }},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.1); }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); }},
      {"mish", [](const Tensor& t) { return mish(t); }},
      {"logsigmoid", [](const Tensor& t) { return logsigmoid(t); }},
      {"softsign", [](const Tensor& t) { return softsign(t); }},
      {"tril", [](const Tensor& t) { return tril(t, 1); }},
      {"flip", [](const Tensor& t) { return flip(t, {0, 1}); }},
      {"roll", [](const Tensor& t) { return roll(t, {1, -3}, {0, 1}); }},
      {"repeat", [](const Tensor& t) { return repeat(t, {2, 1, 2}); }},
      {"nan_to_num", [](const Tensor& t) { return nan_to_num(t); }},
      {"cumsum", [](const Tensor& t) { return cumsum(t, 1); }},
  };
  for (const auto& [name, f] : unary) {
    // (an init-capture: clang 14 cannot capture a structured binding)
    const auto result = gradcheck([&fn = f](const std::vector<Tensor>& in) { return fn(in[0]); }, {x});
    INFO(name << ": " << result.message);
    CHECK(result.ok);
  }
  const Tensor end = Tensor::from_vector(std::vector<double>{0.3, -2.0, 1.0, 0.5}, {4}, ref);
  const Tensor weight = Tensor::from_vector(std::vector<double>{0.2, 0.9, -0.4, 1.3}, {4}, ref);
  const auto lerp_result =
      gradcheck([](const std::vector<Tensor>& in) { return lerp(in[0], in[1], in[2]); }, {x, end, weight});
  INFO(lerp_result.message);
  CHECK(lerp_result.ok);
}

TEST_CASE("tril, triu, flip, roll, repeat, chunk, one_hot as torch", "[parity][composite]") {
  const Tensor m = Tensor::arange(1.0, 13.0, 1.0, f64).reshape({1, 3, 4});
  // torch.tril(m, -1), torch.triu(m, 1) on a [1, 3, 4] batch
  check_close(tril(m, -1), {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0});
  check_close(triu(m, 1), {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12});
  check_close(grad_of_sum([](const Tensor& t) { return triu(t, 1); }, m), {0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1});
  // torch.triu(torch.arange(8).reshape(2, 2, 2)) keeps int64
  const Tensor tri = triu(Tensor::arange(8.0, TensorOptions(dev).dtype(kInt64)).reshape({2, 2, 2}));
  CHECK(tri.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 0, 3, 4, 5, 0, 7});
  CHECK_THROWS_WITH(tril(Tensor::ones({3}, f64)), Catch::Contains("tril: input tensor must have at least 2 dimensions"));

  const Tensor r = Tensor::arange(6.0, f64).reshape({2, 3});
  const Tensor w = Tensor::arange(6.0, f64).reshape({2, 3});
  // torch.flip(r, (0, 1)), torch.flip(r, (-1,)) and the gradient of (flip(r, (1,)) * w).sum()
  check_close(flip(r, {0, 1}), {5, 4, 3, 2, 1, 0});
  check_close(flip(r, {-1}), {2, 1, 0, 5, 4, 3});
  check_close(grad_of_sum([&w](const Tensor& t) { return mul(flip(t, {1}), w); }, r), {2, 1, 0, 5, 4, 3});
  CHECK_FALSE(flip(r, {}).shares_storage(r));
  CHECK_THROWS_WITH(flip(r, {0, -2}), Catch::Contains("dim 0 appears multiple times in the list of dims"));
  // torch.roll(r, 1, 1), torch.roll(r, (-4, 1), (1, 0)), torch.roll(r, 2); the gradient of (roll(r, 1, 1) * w).sum()
  check_close(roll(r, {1}, {1}), {2, 0, 1, 5, 3, 4});
  check_close(roll(r, {-4, 1}, {1, 0}), {4, 5, 3, 1, 2, 0});
  check_close(roll(r, {2}), {4, 5, 0, 1, 2, 3});
  check_close(grad_of_sum([&w](const Tensor& t) { return mul(roll(t, {1}, {1}), w); }, r), {1, 2, 0, 4, 5, 3});
  CHECK_THROWS_WITH(roll(r, {1, 1}, {0}), Catch::Contains("shifts and dimensions must align. shifts: 2, dims:1"));
  CHECK_THROWS_WITH(roll(r, {}), Catch::Contains("`shifts` required"));

  // torch.tensor([1., 2.]).repeat(2, 3) and the gradient of (that * arange(12).reshape(2, 6)).sum()
  const Tensor two = vec({1.0, 2.0});
  const Tensor tiled = repeat(two, {2, 3});
  CHECK(tiled.shape() == Shape{2, 6});
  check_close(tiled, {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2});
  const Tensor weights = Tensor::arange(12.0, f64).reshape({2, 6});
  check_close(grad_of_sum([&weights](const Tensor& t) { return mul(repeat(t, {2, 3}), weights); }, two), {30, 36});
  CHECK_FALSE(repeat(two, {1}).shares_storage(two));
  CHECK(repeat(two, {0, 2}).shape() == Shape{0, 4});
  CHECK_THROWS_WITH(repeat(r, {2}), Catch::Contains("can not be smaller than number of dimensions of tensor"));
  CHECK_THROWS_WITH(repeat(two, {-1}), Catch::Contains("negative dimension -2"));

  // [t.shape[0] for t in torch.chunk(torch.ones(n), chunks)]
  const auto sizes = [](std::int64_t n, std::int64_t chunks) {
    std::vector<std::int64_t> out;
    for (const auto& t : chunk(Tensor::ones({n}, f64), chunks)) out.push_back(t.size(0));
    return out;
  };
  CHECK(sizes(5, 3) == std::vector<std::int64_t>{2, 2, 1});
  CHECK(sizes(6, 4) == std::vector<std::int64_t>{2, 2, 2});
  CHECK(sizes(7, 3) == std::vector<std::int64_t>{3, 3, 1});
  CHECK(sizes(2, 5) == std::vector<std::int64_t>{1, 1});
  CHECK(sizes(0, 3) == std::vector<std::int64_t>{0, 0, 0});
  CHECK(chunk(r, 2, -1)[1].shape() == Shape{2, 1});
  CHECK_THROWS_WITH(chunk(r, 0), Catch::Contains("expects `chunks` to be greater than 0, got: 0"));
  CHECK_THROWS_WITH(chunk(Tensor::scalar(1.0, f64), 1), Catch::Contains("at least a 1-dimensional tensor"));

  // F.one_hot(tensor([[0, 2], [1, 0]])) and F.one_hot(tensor([1]), 4)
  const TensorOptions i64 = TensorOptions(dev).dtype(kInt64);
  const Tensor labels = Tensor::from_vector<std::int64_t>({0, 2, 1, 0}, {2, 2}, i64);
  const Tensor hot = one_hot(labels);
  CHECK(hot.dtype() == kInt64);
  CHECK(hot.shape() == Shape{2, 2, 3});
  CHECK(hot.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0});
  CHECK(one_hot(Tensor::from_vector<std::int64_t>({1}, i64), 4).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 0, 0});
  CHECK(one_hot(Tensor::zeros({0}, i64), 3).shape() == Shape{0, 3});
  CHECK_THROWS_WITH(one_hot(Tensor::from_vector<std::int64_t>({-1, 2}, i64)), Catch::Contains("non-negative, got -1"));
  CHECK_THROWS_WITH(one_hot(Tensor::from_vector<std::int64_t>({1, 2}, i64), 2),
                    Catch::Contains("smaller than num_classes (2), got 2"));
  CHECK_THROWS_WITH(one_hot(Tensor::zeros({0}, i64)), Catch::Contains("can not infer total number of classes"));
  CHECK_THROWS_AS(one_hot(Tensor::ones({2}, TensorOptions(dev).dtype(kInt32))), DTypeError);
}

TEST_CASE("isnan, isinf, isfinite, nan_to_num, lerp as torch", "[parity][composite]") {
  const Tensor v = vec({kNaN, inf, -inf, 1.5});
  CHECK(isnan(v).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 0});
  CHECK(isinf(v).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 0});
  CHECK(isfinite(v).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 0, 0, 1});
  const Tensor ints = Tensor::from_vector<std::int64_t>({1, 2}, dev);
  CHECK(isinf(ints).dtype() == kBool);
  CHECK(isfinite(ints).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 1});

  // torch.nanto_num(v) in float64 and float32, its gradient (g where finite), custom values
  check_close(nan_to_num(v), {0.0, 1.7976931348623157e308, -1.7976931348623157e308, 1.5});
  check_close(nan_to_num(v.to(kFloat32)), {0.0, 3.4028234663852886e+38, -3.4028234663852886e+38, 1.5});
  check_close(grad_of_sum([](const Tensor& t) { return nan_to_num(t); }, v), {0, 0, 0, 1});
  check_close(nan_to_num(v, 1.0, 2.0, -3.0), {1.0, 2.0, -3.0, 1.5});
  // torch.nanto_num on float16: [0, 65504, -65504]; on bfloat16: +-3.3895e38; nan=1e6 in float16 is inf
  const Tensor half = v.narrow(0, 0, 3).to(kFloat16);
  check_close(nan_to_num(half), {0.0, 65504.0, -65504.0});
  check_close(nan_to_num(v.narrow(0, 0, 3).to(kBFloat16)), {0.0, 3.3895313892515355e38, -3.3895313892515355e38});
  check_close(nan_to_num(half, 1e6), {inf, 65504.0, -65504.0});
  CHECK(nan_to_num(ints, 1.5).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2});

  // torch.lerp(st, en, wt) with per-element weights (both formulas) and its three gradients for g = [1, 2, 3]
  Tensor st = vec({1.0, 2.0, -3.0}).set_requires_grad(true);
  Tensor en = vec({3.0, -2.0, 5.0}).set_requires_grad(true);
  Tensor wt = vec({0.25, 0.75, -1.0}).set_requires_grad(true);
  const Tensor out = lerp(st, en, wt);
  check_close(out, {1.5, -1.0, -11.0});
  sum(mul(out, vec({1.0, 2.0, 3.0}))).backward();
  check_close(st.grad(), {0.75, 0.5, 6.0});
  check_close(en.grad(), {0.25, 1.5, -3.0});
  check_close(wt.grad(), {2.0, -8.0, 24.0});
  // torch.lerp(st, en, 0.7); torch.lerp(tensor([0.1]), tensor([0.3]), 1.) is exactly 0.3
  check_close(lerp(st, en, 0.7), {2.4, -0.7999999999999998, 2.5999999999999996}, 0.0);
  const Tensor end32 = Tensor::from_vector<float>({0.3f}, dev);
  CHECK(lerp(Tensor::from_vector<float>({0.1f}, dev), end32, 1.0).item<float>() == 0.3f);
  // torch.lerp(tensor([1., 2]), tensor([[3.], [4]]), tensor(0.25)) broadcasts
  const Tensor b = lerp(vec({1.0, 2.0}), vec({3.0, 4.0}, {2, 1}), Tensor::scalar(0.25, f64));
  CHECK(b.shape() == Shape{2, 2});
  check_close(b, {1.5, 2.25, 1.75, 2.5});
  CHECK_THROWS_WITH(lerp(vec({1.0}), end32, 0.5), Catch::Contains("expected dtype float64 for `end` but got dtype float32"));
  CHECK_THROWS_WITH(lerp(vec({1.0}), vec({1.0}), end32), Catch::Contains("for `weight`"));
  CHECK_THROWS_AS(lerp(ints, ints, 0.5), DTypeError);
}

TEST_CASE("cumsum: values, reversed-cumsum gradient, integer and bool dtypes, as torch", "[parity][composite]") {
  const Tensor x = Tensor::arange(1.0, 7.0, 1.0, f64).reshape({2, 3});
  // torch.cumsum(x, 1), torch.cumsum(x, 0); the gradient of (cumsum(x, 1) * [[1, 2, 3], [4, 5, 6]]).sum()
  check_close(cumsum(x, 1), {1, 3, 6, 4, 9, 15}, 0.0);
  check_close(cumsum(x, -2), {1, 2, 3, 5, 7, 9}, 0.0);
  const Tensor w = Tensor::arange(1.0, 7.0, 1.0, f64).reshape({2, 3});
  check_close(grad_of_sum([&w](const Tensor& t) { return mul(cumsum(t, 1), w); }, x), {6, 5, 3, 15, 11, 6}, 0.0);
  // A length that is not a power of two, against the running sum
  const Tensor long_row = Tensor::arange(1.0, 38.0, 1.0, f64);
  const auto sums = cumsum(long_row, 0).to_vector<double>();
  for (std::size_t i = 0; i < sums.size(); ++i) CHECK(sums[i] == static_cast<double>((i + 1) * (i + 2) / 2));
  // torch.cumsum(tensor([True, False, True]), 0): int64 [1, 1, 2]; int32 also sums into int64
  const Tensor flags = gt(Tensor::from_vector<float>({1.0f, -1.0f, 1.0f}, dev), 0.0);
  CHECK(cumsum(flags, 0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 2});
  CHECK(cumsum(Tensor::ones({2}, TensorOptions(dev).dtype(kInt32)), 0).dtype() == kInt64);
  // torch.cumsum(tensor(3.), 0) is the 0-dim 3; bfloat16 stays bfloat16
  CHECK(cumsum(Tensor::scalar(3.0, f64), 0).shape() == Shape{});
  CHECK(cumsum(Tensor::ones({3}, TensorOptions(dev).dtype(kBFloat16)), 0).dtype() == kBFloat16);
  CHECK(cumsum(Tensor::zeros({0, 2}, f64), 0).shape() == Shape{0, 2});
  const Tensor one = Tensor::ones({1}, f64);
  CHECK_FALSE(cumsum(one, 0).shares_storage(one));  // a new tensor, as torch, also for one element
  CHECK_THROWS_WITH(cumsum(x, 2), Catch::Contains("cumsum: dim 2 out of range"));
}

TEST_CASE("composite ops on 0-d tensors, celu with a negative alpha, lerp's 0-d weight, as torch",
          "[parity][composite]") {
  // torch.var(torch.tensor(5.), 0) -> nan; torch.std(torch.tensor(5.), -1, keepdim=True) -> nan (0-d);
  // torch.var(torch.tensor(5.), 0, correction=0) -> 0
  const Tensor five = Tensor::scalar(5.0, f64);
  check_close(var(five, {0}), {kNaN});
  const Tensor s = tinyxf::std(five, {-1}, 1.0, true);
  CHECK(s.dim() == 0);
  check_close(s, {kNaN});
  check_close(var(five, {0}, 0.0), {0.0});

  // x = torch.tensor([-20., -1., -0.1, 1.], dtype=torch.float64, requires_grad=True)
  // F.celu(x, alpha=-1.0) and its gradient (the exp side gets positive arguments)
  Tensor x = Tensor::from_vector<double>({-20.0, -1.0, -0.1, 1.0}, f64).set_requires_grad(true);
  Tensor y = celu(x, -1.0);
  check_close(y, {-485165194.4097903, -1.718281828459045, -0.10517091807564763, 1.0}, 1e-12);
  sum(y).backward();
  check_close(x.grad(), {485165195.4097903, 2.718281828459045, 1.1051709180756477, 1.0}, 1e-12);
  // F.celu(torch.tensor([-20., -1., -0.1, 0.3, 1.], dtype=torch.float64), alpha=-2.0)
  check_close(celu(Tensor::from_vector<double>({-20.0, -1.0, -0.1, 0.3, 1.0}, f64), -2.0),
              {-44050.931589613436, -1.2974425414002564, -0.10254219275204808, 0.3, 1.0}, 1e-12);

  // torch.lerp(torch.tensor([1., 2.]), torch.tensor([3., 5.]), torch.tensor(0.25, dtype=torch.float64,
  // requires_grad=True)) -> tensor([1.5, 2.75]) float32; the weight's gradient 5 (float64)
  Tensor w = Tensor::scalar(0.25, f64).set_requires_grad(true);
  const TensorOptions f32 = TensorOptions(dev).dtype(kFloat32);
  Tensor r = lerp(Tensor::from_vector<float>({1.f, 2.f}, f32), Tensor::from_vector<float>({3.f, 5.f}, f32), w);
  CHECK(r.dtype() == kFloat32);
  check_close(r, {1.5, 2.75});
  sum(r).backward();
  CHECK(w.grad().dtype() == kFloat64);
  check_close(w.grad(), {5.0});
  // a non-0-d weight of another dtype stays refused (torch: expected dtype float for `weight`)
  CHECK_THROWS_WITH(lerp(Tensor::from_vector<float>({1.f, 2.f}, f32), Tensor::from_vector<float>({3.f, 5.f}, f32),
                         Tensor::from_vector<double>({0.5, 0.5}, f64)),
                    Catch::Contains("expected dtype float32 for `weight`"));

  // F.one_hot(torch.tensor([], dtype=torch.long), 0): "Can not infer total number of classes from
  // empty tensor."; with 3: shape [0, 3]
  const Tensor no_labels = Tensor::zeros({0}, TensorOptions(dev).dtype(kInt64));
  CHECK_THROWS_WITH(one_hot(no_labels, 0), Catch::Contains("can not infer total number of classes"));
  CHECK(one_hot(no_labels, 3).shape() == Shape{0, 3});
  // torch.roll(torch.tensor(5.), 1, 0): "Dimension specified as 0 but tensor has no dimensions";
  // torch.roll(torch.tensor(5.), 1) -> tensor(5.)
  CHECK_THROWS_WITH(roll(five, {1}, {0}), Catch::Contains("Dimension specified as 0 but tensor has no dimensions"));
  check_close(roll(five, {1}), {5.0});
}
