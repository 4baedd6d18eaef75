// torch's elementwise math (sin, cos, floor, ceil, round, trunc, frac, expm1, log2, log10,
// reciprocal, erf, atan2, fmod, remainder, div with rounding_mode, floor_divide) against torch
// 2.15: float32 values incl. NaN, inf, -0.0 and half-way cases, integer ops in their own dtype,
// integer division by zero, dtypes and gradients. Every expected number was printed by torch; the
// expression is in the comment above it.
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
const TensorOptions f32 = TensorOptions(dev).dtype(kFloat32);
const TensorOptions f64 = TensorOptions(dev).dtype(kFloat64);

// Elementwise: NaN where torch has NaN, the same sign of zero, |got - want| <= tol * max(|want|,
// 1) elsewhere (tol 0: bit-equal values).
void check_values(const Tensor& got_t, const std::vector<double>& want, double tol = 0.0) {
  const auto got = got_t.to(kFloat64).to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", torch " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(want[i]) || tol == 0.0) {
      CHECK(got[i] == want[i]);
      CHECK(std::signbit(got[i]) == std::signbit(want[i]));
    } else {
      CHECK(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i])));
    }
  }
}

Tensor f32_vec(const std::vector<double>& v) { return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, f64).to(kFloat32); }
Tensor f64_vec(const std::vector<double>& v) { return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, f64); }
Tensor i64_vec(const std::vector<std::int64_t>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, dev);
}
std::vector<std::int64_t> ints(const Tensor& t) { return t.to(kInt64).to_vector<std::int64_t>(); }

Tensor grad_of_sum(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in) {
  Tensor x = x_in.detach().clone().set_requires_grad(true);
  sum(f(x)).backward();
  return x.grad();
}

}  // namespace

TEST_CASE("floor, ceil, round (half to even), trunc, frac match torch at the edges", "[parity][math]") {
  const Tensor x = f32_vec({0.5, 1.5, 2.5, -0.5, -2.5, -0.0, kNaN, inf, -inf, 1e20, 0.49999997, -1.7});
  // torch.floor(x) (x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, -0.0, nan, inf, -inf, 1e20, 0.49999997, -1.7]))
  check_values(floor(x), {0.0, 1.0, 2.0, -1.0, -3.0, -0.0, kNaN, inf, -inf, 1.0000000200408773e+20, 0.0, -2.0});
  // torch.ceil(x)
  check_values(ceil(x), {1.0, 2.0, 3.0, -0.0, -2.0, -0.0, kNaN, inf, -inf, 1.0000000200408773e+20, 1.0, -1.0});
  // torch.round(x)
  check_values(round(x), {0.0, 2.0, 2.0, -0.0, -2.0, -0.0, kNaN, inf, -inf, 1.0000000200408773e+20, 0.0, -2.0});
  // torch.trunc(x)
  check_values(trunc(x), {0.0, 1.0, 2.0, -0.0, -2.0, -0.0, kNaN, inf, -inf, 1.0000000200408773e+20, 0.0, -1.0});
  // torch.frac(x)
  check_values(frac(x), {0.5, 0.5, 0.5, -0.5, -0.5, 0.0, kNaN, kNaN, kNaN, 0.0, 0.4999999701976776, -0.7000000476837158});
  CHECK(floor(x).dtype() == kFloat32);
  // torch.round(torch.tensor([2.5, 3.5, -0.5, 100.5], dtype=torch.bfloat16))
  check_values(round(f32_vec({2.5, 3.5, -0.5, 100.5}).to(kBFloat16)), {2.0, 4.0, -0.0, 100.0});

  // torch.round(torch.tensor([1.2345, 2.675, -0.125, 0.5]), decimals=2)
  check_values(round(f32_vec({1.2345, 2.675, -0.125, 0.5}), 2),
               {1.2300000190734863, 2.680000066757202, -0.11999999731779099, 0.5});
  // torch.round(torch.tensor([1.25, -15.0, 1234.5, 25.0]), decimals=-1)
  check_values(round(f32_vec({1.25, -15.0, 1234.5, 25.0}), -1), {0.0, -20.0, 1230.0, 20.0});
}

TEST_CASE("rounding ops keep integer tensors and refuse bool, as torch", "[parity][math]") {
  const Tensor i = i64_vec({3, -7, 5});
  for (const Tensor& r : {floor(i), ceil(i), round(i), trunc(i)}) {
    CHECK(r.dtype() == kInt64);  // torch.floor(torch.tensor([3, -7, 5])): int64, the same values
    CHECK(ints(r) == std::vector<std::int64_t>{3, -7, 5});
  }
  CHECK_THROWS_AS(floor(Tensor::from_vector(std::vector<std::uint8_t>{1}, {1}, dev).to(kBool)), DTypeError);
  // torch.frac / torch.round(decimals=1) of int64: NotImplementedError
  CHECK_THROWS_AS(frac(i), NotImplementedError);
  CHECK_THROWS_AS(round(i, 1), NotImplementedError);
}

TEST_CASE("sin, cos, expm1, erf, reciprocal, log2, log10 match torch in float32", "[parity][math]") {
  const Tensor x = f32_vec({0.3, -1.2, 2.0, 0.0, 1e-10, -0.0, inf, kNaN});
  const double tol = 2e-7;  // float32 libm differences (1 ulp)
  // torch.sin(x) (x = torch.tensor([0.3, -1.2, 2.0, 0.0, 1e-10, -0.0, inf, nan]))
  check_values(sin(x), {0.29552021622657776, -0.9320390820503235, 0.9092974066734314, 0.0, 1.000000013351432e-10, -0.0, kNaN, kNaN}, tol);
  // torch.cos(x)
  check_values(cos(x), {0.9553365111351013, 0.3623577058315277, -0.416146844625473, 1.0, 1.0, 1.0, kNaN, kNaN}, tol);
  // torch.expm1(x)
  check_values(expm1(x), {0.349858820438385, -0.6988058090209961, 6.389056205749512, 0.0, 1.000000013351432e-10, -0.0, inf, kNaN}, tol);
  // torch.erf(x)
  check_values(erf(x), {0.3286267817020416, -0.9103139638900757, 0.9953222870826721, 0.0, 1.1283791956362421e-10, -0.0, 1.0, kNaN}, tol);
  // torch.reciprocal(x)
  check_values(reciprocal(x), {3.3333332538604736, -0.8333333134651184, 0.5, inf, 10000000000.0, -inf, 0.0, kNaN});
  const Tensor l = f32_vec({0.3, 1.2, 8.0, 1000.0, 0.0, -1.0, inf});
  // torch.log2(l) (l = torch.tensor([0.3, 1.2, 8.0, 1000.0, 0.0, -1.0, inf]))
  check_values(log2(l), {-1.736965537071228, 0.263034462928772, 3.0, 9.965784072875977, -inf, kNaN, inf}, tol);
  // torch.log10(l)
  check_values(log10(l), {-0.5228787064552307, 0.0791812613606453, 0.9030900001525879, 3.0, -inf, kNaN, inf}, tol);
  // torch.sin(torch.tensor([3])).dtype, torch.reciprocal(torch.tensor([0, 2])): float32 [inf, 0.5]
  CHECK(sin(i64_vec({3})).dtype() == kFloat32);
  check_values(reciprocal(i64_vec({0, 2})), {inf, 0.5});
}

TEST_CASE("gradients of the unary math ops match torch", "[parity][math][autograd]") {
  const Tensor x = f64_vec({0.3, -1.2, 2.0, 0.5});
  const double tol = 1e-14;
  // x = torch.tensor([0.3, -1.2, 2.0, 0.5], dtype=torch.float64, requires_grad=True); f(x).sum().backward(); x.grad
  check_values(grad_of_sum([](const Tensor& t) { return sin(t); }, x), {0.955336489125606, 0.3623577544766736, -0.4161468365471424, 0.8775825618903728}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return cos(t); }, x), {-0.29552020666133955, 0.9320390859672263, -0.9092974268256817, -0.479425538604203}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return expm1(t); }, x), {1.3498588075760032, 0.3011942119122021, 7.38905609893065, 1.6487212707001282}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return erf(t); }, x), {1.031260909618963, 0.26734434700353915, 0.020666985354092053, 0.8787825789354448}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return reciprocal(t); }, x), {-11.111111111111112, -0.6944444444444445, -0.25, -4.0}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return frac(t); }, x), {1.0, 1.0, 1.0, 1.0});
  for (auto f : {+[](const Tensor& t) { return floor(t); }, +[](const Tensor& t) { return ceil(t); },
                 +[](const Tensor& t) { return round(t); }, +[](const Tensor& t) { return trunc(t); }})
    check_values(grad_of_sum(f, x), {0.0, 0.0, 0.0, 0.0});
  const Tensor p = f64_vec({0.3, 1.2, 2.0, 0.5});
  // the same with p = torch.tensor([0.3, 1.2, 2.0, 0.5], ...)
  check_values(grad_of_sum([](const Tensor& t) { return log2(t); }, p), {4.808983469629878, 1.2022458674074694, 0.7213475204444817, 2.8853900817779268}, tol);
  check_values(grad_of_sum([](const Tensor& t) { return log10(t); }, p), {1.4476482730108393, 0.36191206825270983, 0.21714724095162588, 0.8685889638065035}, tol);
}

TEST_CASE("fmod, remainder, rounded division and atan2 of floats match torch", "[parity][math]") {
  const Tensor a = f32_vec({5.0, -5.0, 5.0, -5.0, 0.0, -0.0, 1.0, inf, 5.0, 3.0, 1.0, -7.5, kNaN});
  const Tensor b = f32_vec({3.0, 3.0, -3.0, -3.0, 3.0, 3.0, 0.0, 3.0, inf, -inf, 0.1, 2.0, 1.0});
  // torch.remainder(a, b) (a = torch.tensor([5., -5., 5., -5., 0., -0., 1., inf, 5., 3., 1., -7.5, nan]),
  // b = torch.tensor([3., 3., -3., -3., 3., 3., 0., 3., inf, -inf, 0.1, 2., 1.]))
  check_values(remainder(a, b), {2.0, 1.0, -1.0, -2.0, 0.0, -0.0, kNaN, kNaN, 5.0, -inf, 0.09999998658895493, 0.5, kNaN});
  // torch.fmod(a, b)
  check_values(fmod(a, b), {2.0, -2.0, 2.0, -2.0, 0.0, -0.0, kNaN, kNaN, 5.0, 3.0, 0.09999998658895493, -1.5, kNaN});
  // torch.floor_divide(a, b) == torch.div(a, b, rounding_mode="floor") (1 // 0.1 is 9, from fmod)
  const std::vector<double> floor_quotient = {1.0, -2.0, -2.0, 1.0, 0.0, -0.0, inf, kNaN, 0.0, -1.0, 9.0, -4.0, kNaN};
  check_values(floor_divide(a, b), floor_quotient);
  check_values(div(a, b, "floor"), floor_quotient);
  // torch.div(a, b, rounding_mode="trunc") (trunc of the float32 quotient: 1 / 0.1 gives 10)
  check_values(div(a, b, "trunc"), {1.0, -1.0, -1.0, 1.0, 0.0, -0.0, inf, inf, 0.0, -0.0, 10.0, -3.0, kNaN});
  // torch.atan2(a, b)
  check_values(atan2(a, b), {1.0303767919540405, -1.0303767919540405, 2.111215829849243, -2.111215829849243, 0.0, -0.0,
                             1.5707963705062866, 1.5707963705062866, 0.0, 3.1415927410125732, 1.4711276292800903,
                             -1.3101938962936401, kNaN}, 2e-7);
  // torch.remainder(torch.tensor([5., -5.]), -inf), torch.remainder(torch.tensor([-5.]), inf)
  check_values(remainder(f32_vec({5.0, -5.0}), -inf), {-inf, -5.0});
  check_values(remainder(f32_vec({-5.0}), inf), {inf});
  CHECK_THROWS_AS(div(a, b, "round"), ValueError);
}

TEST_CASE("integer fmod, remainder and rounded division stay exact integers", "[parity][math]") {
  const Tensor a = i64_vec({7, -7, 7, -7, 0}), b = i64_vec({2, 2, -2, -2, 3});
  // torch.remainder(a, b), torch.fmod(a, b), torch.floor_divide(a, b), torch.div(a, b, rounding_mode="trunc")
  // (a = torch.tensor([7, -7, 7, -7, 0]), b = torch.tensor([2, 2, -2, -2, 3]))
  CHECK(ints(remainder(a, b)) == std::vector<std::int64_t>{1, 1, -1, -1, 0});
  CHECK(ints(fmod(a, b)) == std::vector<std::int64_t>{1, -1, 1, -1, 0});
  CHECK(ints(floor_divide(a, b)) == std::vector<std::int64_t>{3, -4, -4, 3, 0});
  CHECK(ints(div(a, b, "trunc")) == std::vector<std::int64_t>{3, -3, -3, 3, 0});
  CHECK(div(a, b, "floor").dtype() == kInt64);
  // torch.div(int32 [-128, 100], int32 [3, -7], rounding_mode="floor"), torch.remainder(...)
  const Tensor a32 = i64_vec({-128, 100}).to(kInt32), b32 = i64_vec({3, -7}).to(kInt32);
  CHECK(div(a32, b32, "floor").dtype() == kInt32);
  CHECK(ints(div(a32, b32, "floor")) == std::vector<std::int64_t>{-43, -15});
  CHECK(ints(remainder(a32, b32)) == std::vector<std::int64_t>{1, -5});
  // The minimum divided by -1 wraps to itself (torch's int64 kernel traps there, SIGFPE; no UB here).
  const Tensor lowest = i64_vec({std::numeric_limits<std::int64_t>::min()}), minus_one = i64_vec({-1});
  CHECK(ints(floor_divide(lowest, minus_one)) == std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min()});
  CHECK(ints(remainder(lowest, minus_one)) == std::vector<std::int64_t>{0});
  // uint8: torch.remainder(uint8 [200, 7], uint8 [7, 200]), torch.floor_divide(...)
  const Tensor au = i64_vec({200, 7}).to(kUInt8), bu = i64_vec({7, 200}).to(kUInt8);
  CHECK(ints(remainder(au, bu)) == std::vector<std::int64_t>{4, 7});
  CHECK(ints(floor_divide(au, bu)) == std::vector<std::int64_t>{28, 0});
  // Scalars: torch.remainder(a, 2.5) is float32; torch.remainder(a, 3), torch.fmod(a, -3) int64
  check_values(remainder(a, 2.5), {2.0, 0.5, 2.0, 0.5, 0.0});
  CHECK(remainder(a, 2.5).dtype() == kFloat32);
  CHECK(remainder(a, 3).dtype() == kInt64);
  CHECK(ints(remainder(a, 3)) == std::vector<std::int64_t>{1, 2, 1, 2, 0});
  CHECK(ints(fmod(a, -3)) == std::vector<std::int64_t>{1, -1, 1, -1, 0});
  // torch.atan2(torch.tensor([1, -1]), torch.tensor([2, 0])): float32
  check_values(atan2(i64_vec({1, -1}), i64_vec({2, 0})), {0.46364760398864746, -1.5707963705062866}, 2e-7);
}

TEST_CASE("integer division by zero raises ZeroDivisionError; bool is refused", "[parity][math]") {
  const Tensor a = i64_vec({7, -7}), zero = i64_vec({0});
  // torch.remainder(torch.tensor([7, -7]), torch.tensor(0)): RuntimeError: ZeroDivisionError (all four)
  CHECK_THROWS_WITH(remainder(a, zero), Catch::Contains("ZeroDivisionError"));
  CHECK_THROWS_WITH(fmod(a, 0), Catch::Contains("ZeroDivisionError"));
  CHECK_THROWS_WITH(floor_divide(a, zero), Catch::Contains("ZeroDivisionError"));
  CHECK_THROWS_WITH(div(a, i64_vec({1, 0}), "trunc"), Catch::Contains("ZeroDivisionError"));
  // A float divisor promotes: IEEE results, no error (torch.remainder(torch.tensor([7, -7]), torch.tensor(0.)):
  // [nan, nan]). A double scalar of integral value counts as an integer (result_type), so fmod(a, 0) above raises.
  check_values(remainder(a, Tensor::scalar(0.0, f32)), {kNaN, kNaN});
  const Tensor t = Tensor::from_vector(std::vector<std::uint8_t>{1, 0}, {2}, dev).to(kBool);
  // torch.remainder(bool, bool): NotImplementedError "remainder_cpu" not implemented for 'Bool'
  CHECK_THROWS_AS(remainder(t, t), DTypeError);
  CHECK_THROWS_AS(div(t, t, "floor"), DTypeError);
}

TEST_CASE("gradients of fmod, remainder, rounded division and atan2 match torch", "[parity][math][autograd]") {
  const Tensor a0 = f64_vec({5.0, -5.0, 2.5, -1.0}), b0 = f64_vec({3.0, 3.0, -2.0, 0.7});
  auto grads = [&](const std::function<Tensor(const Tensor&, const Tensor&)>& f) {
    Tensor a = a0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
    sum(f(a, b)).backward();
    return std::pair{a.grad(), b.grad()};
  };
  // a = torch.tensor([5., -5., 2.5, -1.], dtype=torch.float64, requires_grad=True),
  // b = torch.tensor([3., 3., -2., 0.7], ...); f(a, b).sum().backward(); a.grad, b.grad
  auto [ra, rb] = grads([](const Tensor& a, const Tensor& b) { return remainder(a, b); });
  check_values(ra, {1.0, 1.0, 1.0, 1.0});
  check_values(rb, {-1.0, 2.0, 2.0, 2.0});
  auto [fa, fb] = grads([](const Tensor& a, const Tensor& b) { return fmod(a, b); });
  check_values(fa, {1.0, 1.0, 1.0, 1.0});
  check_values(fb, {-1.0, 1.0, 1.0, 1.0});
  auto [ta, tb] = grads([](const Tensor& a, const Tensor& b) { return atan2(a, b); });
  check_values(ta, {0.08823529411764705, 0.08823529411764705, -0.1951219512195122, 0.4697986577181208}, 1e-15);
  check_values(tb, {-0.14705882352941177, 0.14705882352941177, -0.24390243902439024, 0.6711409395973155}, 1e-15);
  auto [da, db] = grads([](const Tensor& a, const Tensor& b) { return div(a, b, "floor"); });
  check_values(da, {0.0, 0.0, 0.0, 0.0});
  check_values(db, {0.0, 0.0, 0.0, 0.0});
  // torch: floor_divide(a, b).sum().backward() raises "derivative for aten::floor_divide is not implemented"
  Tensor a = a0.clone().set_requires_grad(true);
  CHECK_THROWS_AS(sum(floor_divide(a, b0)).backward(), NotImplementedError);
  // Broadcast: a = [[5., -5.], [2.5, -1.]], b = torch.tensor([0.6]); torch.remainder(a, b).sum().backward()
  Tensor m = Tensor::from_vector(std::vector<double>{5.0, -5.0, 2.5, -1.0}, {2, 2}, f64).set_requires_grad(true);
  Tensor s = f64_vec({0.6}).set_requires_grad(true);
  sum(remainder(m, s)).backward();
  check_values(m.grad(), {1.0, 1.0, 1.0, 1.0});
  check_values(s.grad(), {-1.0});
}

TEST_CASE("the reference backend divides integers as the cpu backend does", "[parity][math]") {
  // The same torch values as above, through the reference's scalar loops (no batches there).
  const Device ref = Device::reference();
  const Tensor a = i64_vec({7, -7, 7, -7, 0}).to(ref), b = i64_vec({2, 2, -2, -2, 3}).to(ref);
  CHECK(ints(remainder(a, b)) == std::vector<std::int64_t>{1, 1, -1, -1, 0});
  CHECK(ints(fmod(a, b)) == std::vector<std::int64_t>{1, -1, 1, -1, 0});
  CHECK(ints(floor_divide(a, b)) == std::vector<std::int64_t>{3, -4, -4, 3, 0});
  CHECK(ints(div(a, b, "trunc")) == std::vector<std::int64_t>{3, -3, -3, 3, 0});
  CHECK_THROWS_WITH(remainder(a, Tensor::scalar(0, TensorOptions(ref).dtype(kInt64))), Catch::Contains("ZeroDivisionError"));
  // torch.floor_divide(torch.tensor([1.]), torch.tensor([0.1])): 9, from fmod
  check_values(floor_divide(f32_vec({1.0}).to(ref), f32_vec({0.1}).to(ref)), {9.0});
}

TEST_CASE("atan2's special points, expm1's last decade, 16-bit rounded division and round(decimals) as torch",
          "[parity][math]") {
  // torch.atan2(torch.tensor([0., -0., 0., -0., inf, inf, -inf, -inf]), torch.tensor([0., 0., -0., -0., inf,
  // -inf, inf, -inf])) in float32 and float64
  const std::vector<double> a{0., -0., 0., -0., inf, inf, -inf, -inf}, b{0., 0., -0., -0., inf, -inf, inf, -inf};
  check_values(atan2(f32_vec(a), f32_vec(b)), {0.0, -0.0, 3.1415927410125732, -3.1415927410125732, 0.7853981852531433,
                                              2.356194496154785, -0.7853981852531433, -2.356194496154785});
  check_values(atan2(f64_vec(a), f64_vec(b)), {0.0, -0.0, 3.141592653589793, -3.141592653589793, 0.7853981633974483,
                                              2.356194490192345, -0.7853981633974483, -2.356194490192345});
  // x = torch.tensor([0., -0., 1e-3], requires_grad=True); y = torch.tensor([0., 0., -1.], requires_grad=True)
  // torch.atan2(x, y).sum().backward() -> x.grad [0, 0, -0.9999990463256836], y.grad [-0, 0, -0.0009999991161748767]
  Tensor x = f32_vec({0., -0., 1e-3}).set_requires_grad(true), y = f32_vec({0., 0., -1.}).set_requires_grad(true);
  sum(atan2(x, y)).backward();
  check_values(x.grad(), {0.0, 0.0, -0.9999990463256836}, 1e-7);
  check_values(y.grad(), {-0.0, 0.0, -0.0009999991161748767}, 1e-7);

  // torch.expm1(torch.tensor([88.0, 88.5, 88.7, 88.7228, 88.73, -0.0])) and the float64 tail
  check_values(expm1(f32_vec({88.0, 88.5, 88.7, 88.7228, 88.73, -0.0})),
               {1.6516362661361307e+38, 2.723087918012828e+38, 3.325976864406685e+38, 3.4026946730843054e+38, inf, -0.0},
               1e-6);
  check_values(expm1(f64_vec({709.0, 709.7, 709.78, 709.79, -0.0})),
               {8.218407461554972e+307, 1.6549840276802644e+308, 1.7928227943945155e+308, inf, -0.0}, 1e-14);

  // c = torch.tensor([1., 3., 7., -5., 100., 0.5], dtype=torch.bfloat16)
  // torch.div(c, 0.1, rounding_mode='trunc') -> [10, 30, 70, -50, 1000, 5] (the scalar stays float32);
  // torch.floor_divide(c, 0.1) -> [9, 29, 69, -50, 1000, 4]; torch.div(c.half(), 0.3, rounding_mode='trunc')
  // -> [3, 10, 23, -16, 333, 1]
  const Tensor c = f32_vec({1., 3., 7., -5., 100., 0.5}).to(kBFloat16);
  const Tensor trunc_bf = div(c, 0.1, "trunc");
  CHECK(trunc_bf.dtype() == kBFloat16);
  check_values(trunc_bf, {10, 30, 70, -50, 1000, 5});
  check_values(floor_divide(c, 0.1), {9, 29, 69, -50, 1000, 4});
  check_values(div(c.to(kFloat16), 0.3, "trunc"), {3, 10, 23, -16, 333, 1});

  // torch.round(torch.tensor([7.46875, 7.34375, 8.9375], dtype=torch.bfloat16), decimals=1) -> [7.5, 7.3125, 8.875];
  // torch.round(torch.tensor([7.65234375, 3.349609375, 7.94921875], dtype=torch.float16), decimals=1)
  // -> [7.69921875, 3.30078125, 7.8984375]
  const Tensor rb = round(f32_vec({7.46875, 7.34375, 8.9375}).to(kBFloat16), 1);
  CHECK(rb.dtype() == kBFloat16);
  check_values(rb, {7.5, 7.3125, 8.875});
  check_values(round(f32_vec({7.65234375, 3.349609375, 7.94921875}).to(kFloat16), 1), {7.69921875, 3.30078125, 7.8984375});

  // torch.remainder(torch.zeros(0, dtype=torch.long), torch.zeros(3, 1, dtype=torch.long)) -> an empty [3, 0]
  // (nothing is divided, so no ZeroDivisionError)
  CHECK(remainder(Tensor::zeros({0}, TensorOptions(dev).dtype(kInt64)), Tensor::zeros({3, 1}, TensorOptions(dev).dtype(kInt64)))
            .shape() == Shape{3, 0});
}
