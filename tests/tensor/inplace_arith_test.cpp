// The in-place arithmetic Tensor methods (add_, sub_, mul_, div_, masked_fill_, clamp_, the unary
// ones; ops/elementwise.hpp) against torch 2.15: each expected value or message has the torch
// expression that produced it in the comment above the check.
#include <catch2/catch.hpp>

#include <cmath>

#include "overlap_messages.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Contains;

namespace {
using testing::kInput;
using testing::kInternal;
const char* const kLeaf = "a leaf Variable that requires grad is being used in an in-place operation.";

Tensor f32(const std::vector<float>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }
Tensor f32(const std::vector<float>& v) { return Tensor::from_vector(v); }
Tensor i64(const std::vector<std::int64_t>& v) { return Tensor::from_vector(v); }
Tensor bools(const std::vector<std::uint8_t>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape).to(kBool);
}
// x = torch.tensor([0.5, -1.25, 2.0, 3.0]); y = torch.tensor([1.0, 2.0, -4.0, 0.5])
Tensor x() { return f32({0.5f, -1.25f, 2.0f, 3.0f}); }
Tensor y() { return f32({1.0f, 2.0f, -4.0f, 0.5f}); }
std::vector<float> vals(const Tensor& t) { return t.to(kFloat32).to_vector<float>(); }
void check_close(const Tensor& t, const std::vector<float>& expected, double eps = 1e-6) {
  const std::vector<float> got = vals(t);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(eps));
}
}  // namespace

TEST_CASE("add_, sub_, mul_, div_ write self (op) other into self as torch", "[parity][inplace]") {
  Tensor a = x();
  const std::uint64_t v0 = a.version();
  // x.add_(y) -> [1.5, 0.75, -2.0, 3.5], the same tensor, _version + 1
  Tensor& r = a.add_(y());
  CHECK(&r == &a);
  CHECK(vals(a) == std::vector<float>{1.5f, 0.75f, -2.0f, 3.5f});
  CHECK(a.version() == v0 + 1);
  // x.sub_(y) -> [-0.5, -3.25, 6.0, 2.5]; x.mul_(y) -> [0.5, -2.5, -8.0, 1.5]; x.div_(y) -> [0.5, -0.625, -0.5, 6.0]
  CHECK(vals(x().sub_(y())) == std::vector<float>{-0.5f, -3.25f, 6.0f, 2.5f});
  CHECK(vals(x().mul_(y())) == std::vector<float>{0.5f, -2.5f, -8.0f, 1.5f});
  CHECK(vals(x().div_(y())) == std::vector<float>{0.5f, -0.625f, -0.5f, 6.0f});
  // x.add_(y, alpha=-0.5) -> [0.0, -2.25, 4.0, 2.75]; x.sub_(y, alpha=0.25) -> [0.25, -1.75, 3.0, 2.875]
  CHECK(vals(x().add_(y(), -0.5)) == std::vector<float>{0.0f, -2.25f, 4.0f, 2.75f});
  CHECK(vals(x().sub_(y(), 0.25)) == std::vector<float>{0.25f, -1.75f, 3.0f, 2.875f});
  // scalars: x.add_(0.1) -> [0.6000000238418579, -1.149999976158142, 2.0999999046325684, 3.0999999046325684]
  CHECK(vals(x().add_(0.1)) == std::vector<float>{0.6000000238418579f, -1.149999976158142f, 2.0999999046325684f,
                                                  3.0999999046325684f});
  // x.sub_(0.1, alpha=2) -> [0.30000001192092896, -1.4500000476837158, 1.7999999523162842, 2.799999952316284]
  CHECK(vals(x().sub_(0.1, 2.0)) == std::vector<float>{0.30000001192092896f, -1.4500000476837158f,
                                                       1.7999999523162842f, 2.799999952316284f});
  // x.mul_(0.9) -> [0.44999998807907104, -1.125, 1.7999999523162842, 2.6999998092651367]
  CHECK(vals(x().mul_(0.9)) == std::vector<float>{0.44999998807907104f, -1.125f, 1.7999999523162842f,
                                                  2.6999998092651367f});
  // x.div_(3) -> [0.1666666716337204, -0.4166666567325592, 0.6666666865348816, 1.0]
  CHECK(vals(x().div_(3.0)) == std::vector<float>{0.1666666716337204f, -0.4166666567325592f, 0.6666666865348816f, 1.0f});

  // broadcasting other: m = torch.arange(6.).reshape(2, 3)
  const auto m = [] { return Tensor::arange(6.0).reshape({2, 3}); };
  // m.div_(torch.tensor([1., 2., 4.])) -> [[0, 0.5, 0.5], [3, 2, 1.25]]
  CHECK(vals(m().div_(f32({1, 2, 4}))) == std::vector<float>{0, 0.5f, 0.5f, 3, 2, 1.25f});
  // m.mul_(torch.tensor([[2.], [3.]])) -> [[0, 2, 4], [9, 12, 15]]
  CHECK(vals(m().mul_(f32({2, 3}, {2, 1}))) == std::vector<float>{0, 2, 4, 9, 12, 15});
  // m.mul_(torch.tensor(3.)) (a 0-dim other) -> [[0, 3, 6], [9, 12, 15]]
  CHECK(vals(m().mul_(Tensor::scalar(3.0))) == std::vector<float>{0, 3, 6, 9, 12, 15});
  // mixed dtypes, cast to self's: m.add_(torch.full((2, 3), 0.1, dtype=torch.float64)) computes in
  // float64 -> [[0.10000000149011612, 1.100000023841858, 2.0999999046325684], [3.0999999046325684, ...]]
  CHECK(vals(m().add_(Tensor::full({2, 3}, 0.1, kFloat64))) ==
        std::vector<float>{0.10000000149011612f, 1.100000023841858f, 2.0999999046325684f, 3.0999999046325684f,
                           4.099999904632568f, 5.099999904632568f});
  // m.double().add_(torch.tensor([[0.1], [0.2]])) -> [[0.10000000149011612, 1.1000000014901161, ...]]
  const Tensor md = m().to(kFloat64).add_(f32({0.1f, 0.2f}, {2, 1}));
  CHECK(md.dtype() == kFloat64);
  CHECK(md.to_vector<double>() == std::vector<double>{0.10000000149011612, 1.1000000014901161, 2.100000001490116,
                                                      3.2000000029802322, 4.200000002980232, 5.200000002980232});
  // x.add_(torch.tensor([1, 2, 3, 4])) -> [1.5, 0.75, 5.0, 7.0]; ..., alpha=0.5) -> [1.0, -0.25, 3.5, 5.0]
  CHECK(vals(x().add_(i64({1, 2, 3, 4}))) == std::vector<float>{1.5f, 0.75f, 5.0f, 7.0f});
  CHECK(vals(x().add_(i64({1, 2, 3, 4}), 0.5)) == std::vector<float>{1.0f, -0.25f, 3.5f, 5.0f});
  // empty tensors: nothing to write, the version still moves (torch: t._version 0 -> 1)
  Tensor e = Tensor::zeros({0, 3});
  e.add_(Tensor::ones({3}));
  CHECK(e.version() == 1);
}

TEST_CASE("integer and bool in-place arithmetic follow torch's dtype rules", "[parity][inplace]") {
  const auto i = [] { return i64({7, -3, 10, 0}); };
  // i = torch.tensor([7, -3, 10, 0]); i.add_(3) -> [10, 0, 13, 3]
  CHECK(i().add_(3.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{10, 0, 13, 3});
  // i.mul_(torch.tensor([2, 2, 2, 2])) -> [14, -6, 20, 0]
  CHECK(i().mul_(i64({2, 2, 2, 2})).to_vector<std::int64_t>() == std::vector<std::int64_t>{14, -6, 20, 0});
  // i.sub_(torch.tensor([1, 2, 3, 4]), alpha=2) -> [5, -7, 4, -8]
  CHECK(i().sub_(i64({1, 2, 3, 4}), 2.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{5, -7, 4, -8});
  // torch.tensor([1, 2], dtype=torch.int32).add_(torch.tensor([2**32 + 1, 1])) -> [2, 3] (int64 result, wrapped)
  Tensor i32 = Tensor::from_vector(std::vector<std::int32_t>{1, 2});
  CHECK(i32.add_(i64({(std::int64_t{1} << 32) + 1, 1})).to_vector<std::int32_t>() == std::vector<std::int32_t>{2, 3});
  // torch.tensor([1, 2], dtype=torch.int32).add_(2**31) -> [-2147483647, -2147483646]
  CHECK(Tensor::from_vector(std::vector<std::int32_t>{1, 2}).add_(2147483648.0).to_vector<std::int32_t>() ==
        std::vector<std::int32_t>{-2147483647, -2147483646});
  // torch.tensor([1, 200], dtype=torch.uint8).sub_(3) -> [254, 197]; .mul_(2) -> [2, 144]
  CHECK(Tensor::from_vector(std::vector<std::uint8_t>{1, 200}).sub_(3.0).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{254, 197});
  CHECK(Tensor::from_vector(std::vector<std::uint8_t>{1, 200}).mul_(2.0).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{2, 144});
  // torch.tensor([1, 2]).mul_(torch.tensor([True, False])) -> [1, 0]
  CHECK(i64({1, 2}).mul_(bools({1, 0}, {2})).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
  // torch.tensor([-1, 2]).relu_() -> [0, 2]; .abs_() -> [1, 2]; .neg_() -> [1, -2]
  CHECK(i64({-1, 2}).relu_().to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2});
  CHECK(i64({-1, 2}).abs_().to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2});
  CHECK(i64({-1, 2}).neg_().to_vector<std::int64_t>() == std::vector<std::int64_t>{1, -2});
  // torch.tensor([True, False, True]).mul_(torch.tensor([True, True, False])) -> [True, False, False]
  CHECK(bools({1, 0, 1}, {3}).mul_(bools({1, 1, 0}, {3})).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0});
  // torch.tensor([True, False]).add_(torch.tensor([True, True])) -> [True, True]; alpha=0 -> [True, False]
  CHECK(bools({1, 0}, {2}).add_(bools({1, 1}, {2})).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 1});
  CHECK(bools({1, 0}, {2}).add_(bools({1, 1}, {2}), 0.0).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0});

  // torch.tensor([1, 2]).add_(2.5) -> RuntimeError "result type Float can't be cast to the desired output type Long"
  const char* const float_to_long = "result type float32 can't be cast to the desired output type int64";
  CHECK_THROWS_WITH(i64({1, 2}).add_(2.5), Contains("add_: ") && Contains(float_to_long));
  // torch.tensor([1, 2]).add_(torch.tensor([1., 2.])) -> the same
  CHECK_THROWS_AS(i64({1, 2}).add_(f32({1, 2})), DTypeError);
  // torch.tensor([1, 2]).div_(2), .div_(torch.tensor([1, 2])), .div_(2.0) -> the same (true division)
  CHECK_THROWS_WITH(i64({1, 2}).div_(2.0), Contains("div_: ") && Contains(float_to_long));
  CHECK_THROWS_WITH(i64({1, 2}).div_(i64({1, 2})), Contains(float_to_long));
  // torch.tensor([1, 2]).exp_() / .sqrt_() -> the same
  CHECK_THROWS_WITH(i64({1, 2}).exp_(), Contains("exp_: ") && Contains(float_to_long));
  CHECK_THROWS_WITH(i64({4}).sqrt_(), Contains(float_to_long));
  // torch.tensor([True, False]).mul_(2) -> "result type Long can't be cast to the desired output type Bool"
  CHECK_THROWS_WITH(bools({1, 0}, {2}).mul_(2.0),
                    Contains("result type int64 can't be cast to the desired output type bool"));
  // torch.tensor([1, 2]).add_(torch.tensor([1, 2]), alpha=0.5) -> "For integral input tensors, argument
  // alpha must not be a floating point number."
  CHECK_THROWS_WITH(i64({1, 2}).add_(i64({1, 2}), 0.5),
                    Contains("alpha must not be a floating point number"));
  CHECK_THROWS_WITH(i64({1, 2}).add_(1.0, 0.5), Contains("alpha must not be a floating point number"));
  // torch.tensor([True, False]).sub_(torch.tensor([True, True])) -> "Subtraction, the `-` operator,
  // with two bool tensors is not supported."
  CHECK_THROWS_WITH(bools({1, 0}, {2}).sub_(bools({1, 1}, {2})), Contains("with two bool tensors is not supported"));
  // torch.tensor([True]).neg_() -> "Negation, the `-` operator, on a bool tensor is not supported."
  CHECK_THROWS_WITH(bools({1}, {1}).neg_(), Contains("neg_: negation") && Contains("bool"));
  // torch.tensor([True]).abs_() -> NotImplementedError "abs_cpu" not implemented for 'Bool'
  CHECK_THROWS_AS(bools({1}, {1}).abs_(), DTypeError);
}

TEST_CASE("16-bit in-place arithmetic computes in float32 and rounds once, as torch", "[parity][inplace]") {
  const auto b = [] { return f32({1.0f, 2.0f, 3.0f, 100.0f}).to(kBFloat16); };
  // b = torch.tensor([1., 2., 3., 100.], dtype=torch.bfloat16)
  // b.add_(torch.tensor([0.001, 0.5, 0.01, 0.3])) -> [1.0, 2.5, 3.015625, 100.5]
  Tensor s = b();
  s.add_(f32({0.001f, 0.5f, 0.01f, 0.3f}));
  CHECK(s.dtype() == kBFloat16);
  CHECK(vals(s) == std::vector<float>{1.0f, 2.5f, 3.015625f, 100.5f});
  // b.add_(torch.tensor([1., 2., 3., 4.], dtype=torch.bfloat16), alpha=-0.01) -> [0.98828125, 1.9765625, 2.96875, 100.0]
  CHECK(vals(b().add_(f32({1, 2, 3, 4}).to(kBFloat16), -0.01)) ==
        std::vector<float>{0.98828125f, 1.9765625f, 2.96875f, 100.0f});
  // b.mul_(0.9) -> [0.8984375, 1.796875, 2.703125, 90.0]; b.div_(3) -> [0.333984375, 0.66796875, 1.0, 33.25]
  CHECK(vals(b().mul_(0.9)) == std::vector<float>{0.8984375f, 1.796875f, 2.703125f, 90.0f});
  CHECK(vals(b().div_(3.0)) == std::vector<float>{0.333984375f, 0.66796875f, 1.0f, 33.25f});
  // torch.tensor([0.3, 1.0], dtype=torch.bfloat16).exp_() -> [1.3515625, 2.71875]
  CHECK(vals(f32({0.3f, 1.0f}).to(kBFloat16).exp_()) == std::vector<float>{1.3515625f, 2.71875f});
  // torch.tensor([0.3], dtype=torch.bfloat16).sigmoid_() -> [0.57421875]
  CHECK(vals(f32({0.3f}).to(kBFloat16).sigmoid_()) == std::vector<float>{0.57421875f});
  // b.clamp_(1.5, 2.5) -> [1.5, 2.0, 2.5, 2.5]
  CHECK(vals(b().clamp_(1.5, 2.5)) == std::vector<float>{1.5f, 2.0f, 2.5f, 2.5f});
  // b.masked_fill_(torch.tensor([True, False, True, False]), 0.1) -> [0.10009765625, 2.0, 0.10009765625, 100.0]
  CHECK(vals(b().masked_fill_(bools({1, 0, 1, 0}, {4}), 0.1)) ==
        std::vector<float>{0.10009765625f, 2.0f, 0.10009765625f, 100.0f});
  // torch.tensor([1.0], dtype=torch.bfloat16).add_(2**-8 + 2**-20) -> [1.0] (the scalar rounded first)
  CHECK(vals(f32({1.0f}).to(kBFloat16).add_(std::ldexp(1.0, -8) + std::ldexp(1.0, -20))) == std::vector<float>{1.0f});
  // torch.tensor([1.1, 3.3], dtype=torch.half).mul_(0.9) -> [0.98974609375, 2.970703125]
  CHECK(vals(f32({1.1f, 3.3f}).to(kFloat16).mul_(0.9)) == std::vector<float>{0.98974609375f, 2.970703125f});
}

TEST_CASE("unary in-place ops run the op table's kernels into self", "[parity][inplace]") {
  // x.exp_() -> [1.6487212181091309, 0.2865048050880432, 7.389056205749512, 20.08553695678711]
  check_close(x().exp_(), {1.6487212181091309f, 0.2865048050880432f, 7.389056205749512f, 20.08553695678711f});
  // x.abs().log_() -> [-0.6931471824645996, 0.2231435477733612, 0.6931471824645996, 1.0986123085021973]
  check_close(abs(x()).log_(), {-0.6931471824645996f, 0.2231435477733612f, 0.6931471824645996f, 1.0986123085021973f});
  // x.abs().sqrt_() -> [0.7071067690849304, 1.1180340051651, 1.4142135381698608, 1.7320507764816284]
  check_close(abs(x()).sqrt_(), {0.7071067690849304f, 1.1180340051651f, 1.4142135381698608f, 1.7320507764816284f});
  // x.tanh_() -> [0.46211716532707214, -0.8482836484909058, 0.9640275835990906, 0.9950547814369202]
  check_close(x().tanh_(), {0.46211716532707214f, -0.8482836484909058f, 0.9640275835990906f, 0.9950547814369202f});
  // x.sigmoid_() -> [0.622459352016449, 0.22270013391971588, 0.8807970285415649, 0.9525741338729858]
  check_close(x().sigmoid_(), {0.622459352016449f, 0.22270013391971588f, 0.8807970285415649f, 0.9525741338729858f});
  // x.relu_() -> [0.5, 0.0, 2.0, 3.0]; x.neg_() -> [-0.5, 1.25, -2.0, -3.0]; x.abs_() -> [0.5, 1.25, 2.0, 3.0]
  CHECK(vals(x().relu_()) == std::vector<float>{0.5f, 0.0f, 2.0f, 3.0f});
  CHECK(vals(x().neg_()) == std::vector<float>{-0.5f, 1.25f, -2.0f, -3.0f});
  CHECK(vals(x().abs_()) == std::vector<float>{0.5f, 1.25f, 2.0f, 3.0f});
  Tensor t = x();
  t.exp_().log_();  // chained, as torch returns self
  check_close(t, {0.5f, -1.25f, 2.0f, 3.0f});
  CHECK(t.version() == 2);
}

TEST_CASE("clamp_, clamp_min_, clamp_max_ as torch", "[parity][inplace]") {
  // torch.tensor([-1., 2., 0.5]).clamp_(1, 0) -> [0, 0, 0] (min > max: max everywhere)
  CHECK(vals(f32({-1, 2, 0.5f}).clamp_(1.0, 0.0)) == std::vector<float>{0, 0, 0});
  // torch.tensor([-1., nan, 0.5]).clamp_(0, 0.7) -> [0.0, nan, 0.5]
  const std::vector<float> n = vals(f32({-1, NAN, 0.5f}).clamp_(0.0, 0.7));
  CHECK(n[0] == 0.0f);
  CHECK(std::isnan(n[1]));
  CHECK(n[2] == 0.5f);
  // torch.tensor([-1., 2.]).clamp_(min=nan) -> [nan, nan]
  for (float v : vals(f32({-1, 2}).clamp_(NAN))) CHECK(std::isnan(v));
  // .clamp_min_(0.5) -> [0.5, 2.0]; .clamp_max_(0.5) -> [-1.0, 0.5]
  CHECK(vals(f32({-1, 2}).clamp_min_(0.5)) == std::vector<float>{0.5f, 2.0f});
  CHECK(vals(f32({-1, 2}).clamp_max_(0.5)) == std::vector<float>{-1.0f, 0.5f});
  // torch.tensor([7, -3, 10, 0]).clamp_(-1, 5) -> [5, -1, 5, 0]
  CHECK(i64({7, -3, 10, 0}).clamp_(-1.0, 5.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{5, -1, 5, 0});
  // torch.tensor([1.]).clamp_() -> "torch.clamp: At least one of 'min' or 'max' must not be None"
  CHECK_THROWS_WITH(f32({1}).clamp_(std::nullopt, std::nullopt), Contains("at least one of 'min' or 'max'"));
  // torch.tensor([1, 2]).clamp_(0.5) -> "result type Float can't be cast to the desired output type long int"
  CHECK_THROWS_WITH(i64({1, 2}).clamp_(0.5), Contains("clamp_: result type float32 can't be cast to the desired "
                                                      "output type int64"));
  // torch.tensor([True]).clamp_(0, 1) -> "result type Long can't be cast to the desired output type bool"
  CHECK_THROWS_WITH(bools({1}, {1}).clamp_(0.0, 1.0), Contains("result type int64 can't be cast"));
  // torch.zeros(1).expand(3).clamp_(0, 1) -> kInternal
  CHECK_THROWS_WITH(Tensor::zeros({1}).expand({3}).clamp_(0.0, 1.0), Contains(kInternal));
}

TEST_CASE("masked_fill_ as torch", "[parity][inplace]") {
  // torch.zeros(2, 3).masked_fill_(torch.tensor([True, False, True]), 5.) -> [[5, 0, 5], [5, 0, 5]]
  CHECK(vals(Tensor::zeros({2, 3}).masked_fill_(bools({1, 0, 1}, {3}), 5.0)) == std::vector<float>{5, 0, 5, 5, 0, 5});
  // torch.zeros(2).masked_fill_(torch.tensor([True, False]), torch.tensor(7.)) -> [7, 0]
  CHECK(vals(Tensor::zeros({2}).masked_fill_(bools({1, 0}, {2}), Tensor::scalar(7.0))) == std::vector<float>{7, 0});
  // ..., torch.tensor(0.1, dtype=torch.float64)) -> [0.1 (as float32), 0]
  CHECK(vals(Tensor::zeros({2}).masked_fill_(bools({1, 0}, {2}), Tensor::scalar(0.1, kFloat64))) ==
        std::vector<float>{0.1f, 0});
  // torch.zeros(2, dtype=torch.long).masked_fill_(torch.tensor([True, False]), 2.5) -> [2, 0]
  CHECK(Tensor::zeros({2}, kInt64).masked_fill_(bools({1, 0}, {2}), 2.5).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{2, 0});
  // torch.zeros(1).expand(3).masked_fill_(torch.tensor([True, False, True]), 1.) -> [1, 1, 1] (a
  // deprecation warning in torch, not an error)
  Tensor base = Tensor::zeros({1});
  base.expand({3}).masked_fill_(bools({1, 0, 1}, {3}), 1.0);
  CHECK(vals(base) == std::vector<float>{1});

  // torch.zeros(2).masked_fill_(torch.tensor([1, 0]), 1.) -> "masked_fill_ only supports boolean
  // masks, but got mask with dtype long int" (uint8 too)
  CHECK_THROWS_WITH(Tensor::zeros({2}).masked_fill_(i64({1, 0}), 1.0),
                    Contains("masked_fill_: only supports boolean masks, but got mask with dtype int64"));
  CHECK_THROWS_AS(Tensor::zeros({2}).masked_fill_(Tensor::ones({2}, kUInt8), 1.0), DTypeError);
  // torch.zeros(3).masked_fill_(torch.ones(2, 3, dtype=torch.bool), 1.) -> "output with shape [3]
  // doesn't match the broadcast shape [2, 3]"
  CHECK_THROWS_WITH(Tensor::zeros({3}).masked_fill_(Tensor::ones({2, 3}, kBool), 1.0),
                    Contains("masked_fill_: output with shape [3] doesn't match the broadcast shape [2, 3]"));
  // torch.zeros(2).masked_fill_(mask, torch.tensor([1.])) -> "masked_fill_ only supports a
  // 0-dimensional value tensor, but got tensor with 1 dimension(s)."
  CHECK_THROWS_WITH(Tensor::zeros({2}).masked_fill_(bools({1, 0}, {2}), f32({1})),
                    Contains("only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)."));
  // torch.zeros(2, dtype=torch.half).masked_fill_(mask, -1e9) -> "value cannot be converted to type
  // c10::Half without overflow"
  CHECK_THROWS_WITH(Tensor::zeros({2}, kFloat16).masked_fill_(bools({1, 0}, {2}), -1e9),
                    Contains("cannot be converted to type float16 without overflow"));
}

TEST_CASE("in-place arithmetic keeps self's shape and checks memory overlap where torch does", "[parity][inplace]") {
  // torch.zeros(3).add_(torch.ones(2, 3)) -> "output with shape [3] doesn't match the broadcast shape [2, 3]"
  CHECK_THROWS_WITH(Tensor::zeros({3}).add_(Tensor::ones({2, 3})),
                    Contains("add_: output with shape [3] doesn't match the broadcast shape [2, 3]"));
  // torch.tensor(1.).add_(torch.ones(1)) -> "output with shape [] doesn't match the broadcast shape [1]"
  CHECK_THROWS_WITH(Tensor::scalar(1.0).add_(Tensor::ones({1})),
                    Contains("output with shape [] doesn't match the broadcast shape [1]"));
  CHECK_THROWS_AS(Tensor::zeros({3}).mul_(Tensor::ones({2})), ShapeError);

  // Views write their base: x = torch.arange(6.).reshape(2, 3); x[:, 0].mul_(2) -> [[0, 1, 2], [6, 4, 5]]
  Tensor m = Tensor::arange(6.0).reshape({2, 3});
  m.select(1, 0).mul_(2.0);
  CHECK(vals(m) == std::vector<float>{0, 1, 2, 6, 4, 5});
  // x.t().add_(torch.tensor([1., 2.])) -> [[1, 2, 3], [5, 6, 7]]
  Tensor m2 = Tensor::arange(6.0).reshape({2, 3});
  m2.t().add_(f32({1, 2}));
  CHECK(vals(m2) == std::vector<float>{1, 2, 3, 5, 6, 7});
  // ... and through the fallback path (16-bit): the same values
  Tensor m3 = Tensor::arange(6.0).reshape({2, 3}).to(kBFloat16);
  m3.t().add_(f32({1, 2}));
  CHECK(vals(m3) == std::vector<float>{1, 2, 3, 5, 6, 7});
  Tensor m4 = Tensor::arange(6.0).reshape({2, 3});
  m4.select(1, 2).exp_();
  check_close(m4, {0, 1, 7.389056205749512f, 3, 4, 148.4131591025766f});

  // torch.zeros(1).expand(3).add_(1) / .add_(torch.ones(3)) / .mul_(1) / .exp_() -> kInternal
  const auto expanded = [] { return Tensor::zeros({1}).expand({3}); };
  CHECK_THROWS_WITH(expanded().add_(1.0), Contains("add_: ") && Contains(kInternal));
  CHECK_THROWS_WITH(expanded().add_(Tensor::ones({3})), Contains(kInternal));
  CHECK_THROWS_WITH(expanded().mul_(1.0), Contains("mul_: ") && Contains(kInternal));
  CHECK_THROWS_WITH(expanded().exp_(), Contains("exp_: ") && Contains(kInternal));
  // a = torch.arange(5.); a[1:].add_(a[:-1]) -> kInput
  Tensor a = Tensor::arange(5.0);
  CHECK_THROWS_WITH(a.narrow(0, 1, 4).add_(a.narrow(0, 0, 4)), Contains("add_: ") && Contains(kInput));
  // a[1:].add_(a[:-1], alpha=2) -> the same
  CHECK_THROWS_WITH(a.narrow(0, 1, 4).add_(a.narrow(0, 0, 4), 2.0), Contains(kInput));
  CHECK(vals(a) == std::vector<float>{0, 1, 2, 3, 4});  // refused before writing
  // a.add_(a) -> [0, 2, 4, 6, 8] (the same memory: fine)
  a.add_(a);
  CHECK(vals(a) == std::vector<float>{0, 2, 4, 6, 8});
  // b = torch.arange(4.); b[:2].add_(b[2:]) -> [2., 4.] (disjoint)
  Tensor b = Tensor::arange(4.0);
  b.narrow(0, 0, 2).add_(b.narrow(0, 2, 2));
  CHECK(vals(b) == std::vector<float>{2, 4, 2, 3});
}

TEST_CASE("in-place arithmetic and autograd", "[parity][inplace][autograd]") {
  // torch.ones(2, requires_grad=True).add_(1) -> "a leaf Variable that requires grad is being used
  // in an in-place operation."
  Tensor leaf = Tensor::ones({2}).set_requires_grad(true);
  CHECK_THROWS_WITH(leaf.add_(1.0), Contains("add_: ") && Contains(kLeaf));
  CHECK_THROWS_WITH(leaf.mul_(Tensor::ones({2})), Contains(kLeaf));
  CHECK_THROWS_WITH(leaf.clamp_(0.0, 1.0), Contains(kLeaf));
  CHECK_THROWS_WITH(leaf.exp_(), Contains(kLeaf));
  CHECK_THROWS_WITH(leaf.fill_(0.0), Contains(kLeaf));  // the other in-place methods say so too
  CHECK(leaf.version() == 0);
  // Neither requires grad: the write is outside the graph and allowed in grad mode.
  Tensor plain = Tensor::ones({2});
  plain.mul_(leaf.detach());
  CHECK(vals(plain) == std::vector<float>{1, 1});
  // Under no_grad torch writes: with torch.no_grad(): w.add_(1), w.mul_(other_requiring_grad)
  {
    NoGradGuard no_grad;
    leaf.add_(1.0).mul_(leaf);
  }
  CHECK(vals(leaf) == std::vector<float>{4, 4});
  CHECK(leaf.version() == 2);
  CHECK(leaf.requires_grad());
  // A tensor saved for backward and then written in place: backward refuses (the version counter).
  Tensor w = Tensor::ones({2}).set_requires_grad(true);
  Tensor e = exp(w);  // saves its output
  {
    NoGradGuard no_grad;
    e.mul_(2.0);
  }
  CHECK_THROWS(sum(e).backward());
}

// ---- in-place ops recorded by autograd (torch's rebase_history) ----------------------------------
namespace {
// x = torch.tensor([0.5, -1.25, 2.0, 3.0], requires_grad=True)
// b = torch.tensor([1.0, 2.0, -4.0, 0.5], requires_grad=True)
Tensor x_leaf() { return x().set_requires_grad(true); }
Tensor b_leaf() { return y().set_requires_grad(true); }
// weights: torch.tensor([1., 2, 3, 4])
Tensor weights() { return f32({1, 2, 3, 4}); }
}  // namespace

TEST_CASE("in-place arithmetic inside autograd is recorded as torch's", "[parity][inplace][autograd]") {
  Tensor xl = x_leaf(), bl = b_leaf();
  SECTION("add_ with alpha: AddBackward over y's history and b") {
    // y = x * 2; y.add_(b, alpha=3); y.grad_fn.name() -> AddBackward0
    // y.sum().backward() -> x.grad [2, 2, 2, 2], b.grad [3, 3, 3, 3]
    Tensor yv = xl * 2.0;
    yv.add_(bl, 3.0);
    CHECK(yv.grad_fn()->backward_name() == "AddBackward");
    CHECK_FALSE(yv.is_leaf());
    sum(yv).backward();
    CHECK(vals(xl.grad()) == std::vector<float>{2, 2, 2, 2});
    CHECK(vals(bl.grad()) == std::vector<float>{3, 3, 3, 3});
  }
  SECTION("a chain of in-place ops") {
    // y = x * 2; y.mul_(b); y.sub_(1.5); y.div_(b); y.tanh_(); y.grad_fn.name() -> TanhBackward0
    // (y * torch.tensor([1., 2, 3, 4])).sum().backward()
    Tensor yv = xl * 2.0;
    yv.mul_(bl).sub_(1.5).div_(bl).tanh_();
    CHECK(yv.grad_fn()->backward_name() == "TanhBackward");
    CHECK(yv.version() == 4);
    check_close(yv, {-0.46211716532707214f, -0.9969976544380188f, 0.999683141708374f, 0.9950547814369202f});
    sum(yv * weights()).backward();
    check_close(xl.grad(), {1.5728954076766968f, 0.023982707411050797f, 0.0038016969338059425f, 0.07892785221338272f},
                1e-5);
    check_close(bl.grad(), {1.1796715259552002f, 0.004496758803725243f, 0.0001782046165317297f, 0.23678356409072876f},
                1e-4);
  }
  SECTION("the scalar forms") {
    // y = x * 2; y.add_(3, alpha=2); y.mul_(-0.5); y.div_(4); y.sum().backward() -> x.grad all -0.25
    Tensor yv = xl * 2.0;
    yv.add_(3.0, 2.0).mul_(-0.5).div_(4.0).sub_(1.0);
    sum(yv).backward();
    CHECK(vals(xl.grad()) == std::vector<float>{-0.25f, -0.25f, -0.25f, -0.25f});
  }
  SECTION("a broadcast operand of another dtype gets its gradient summed, in its dtype") {
    // bb = torch.tensor([2.0], dtype=torch.float64, requires_grad=True); y = x * 2; y.mul_(bb)
    // y.dtype -> float32; (y * w).sum().backward() -> x.grad [4, 8, 12, 16], bb.grad [32.] (float64)
    Tensor bb = Tensor::from_vector(std::vector<double>{2.0}).set_requires_grad(true);
    Tensor yv = xl * 2.0;
    yv.mul_(bb);
    CHECK(yv.dtype() == kFloat32);
    sum(yv * weights()).backward();
    CHECK(vals(xl.grad()) == std::vector<float>{4, 8, 12, 16});
    CHECK(bb.grad().dtype() == kFloat64);
    CHECK(bb.grad().shape() == Shape{1});
    CHECK(bb.grad().item() == 32.0);
  }
  SECTION("clamp_ and masked_fill_") {
    // y = x * 2; y.clamp_(-1.0, 4.5); (y * w).sum().backward() -> x.grad [2, 0, 6, 0]
    Tensor yv = xl * 2.0;
    yv.clamp_(-1.0, 4.5);
    sum(yv * weights()).backward();
    CHECK(vals(xl.grad()) == std::vector<float>{2, 0, 6, 0});
    // y = x * 2; y.clamp_(min=0.0); y.sum().backward() -> x.grad [2, 0, 2, 2]
    Tensor x2 = x_leaf();
    Tensor y2 = x2 * 2.0;
    y2.clamp_min_(0.0);
    sum(y2).backward();
    CHECK(vals(x2.grad()) == std::vector<float>{2, 0, 2, 2});
    // m = torch.tensor([True, False, True, False]); v = torch.tensor(2.5, requires_grad=True)
    // y = x * 2; y.masked_fill_(m, v); (y * w).sum().backward() -> x.grad [0, 4, 0, 8], v.grad 4.
    Tensor x3 = x_leaf(), v = Tensor::scalar(2.5).set_requires_grad(true);
    Tensor y3 = x3 * 2.0;
    y3.masked_fill_(bools({1, 0, 1, 0}, {4}), v);
    CHECK(y3.grad_fn()->backward_name() == "MaskedFillBackward");
    sum(y3 * weights()).backward();
    CHECK(vals(x3.grad()) == std::vector<float>{0, 4, 0, 8});
    CHECK(v.grad().item() == 4.0);
  }
}

TEST_CASE("unary in-place ops inside autograd", "[parity][inplace][autograd]") {
  // for op in neg_ exp_ log_ sqrt_ abs_ relu_ sigmoid_ tanh_: y = xx * 1.5; getattr(y, op)();
  // (y * torch.tensor([1., 2, 3, 4])).sum().backward(); xx.grad  (xx = x, or [0.5, 1.25, 2, 3] for
  // log_ and sqrt_)
  struct Case {
    const char* name;
    Tensor& (Tensor::*op)();
    bool positive;
    std::vector<float> grad;
  };
  const std::vector<Case> cases{
      {"NegBackward", &Tensor::neg_, false, {-1.5f, -3.0f, -4.5f, -6.0f}},
      {"ExpBackward", &Tensor::exp_, false, {3.1755001544952393f, 0.46006491780281067f, 90.38491821289062f, 540.102783203125f}},
      {"LogBackward", &Tensor::log_, true, {2.0f, 1.6000001430511475f, 1.5f, 1.3333333730697632f}},
      {"SqrtBackward", &Tensor::sqrt_, true, {0.8660253882408142f, 1.095445156097412f, 1.2990381717681885f, 1.4142136573791504f}},
      {"AbsBackward", &Tensor::abs_, false, {1.5f, -3.0f, 4.5f, 6.0f}},
      {"ReluBackward", &Tensor::relu_, false, {1.5f, 0.0f, 4.5f, 6.0f}},
      {"SigmoidBackward", &Tensor::sigmoid_, false, {0.3268424868583679f, 0.345854252576828f, 0.20329494774341583f, 0.06519727408885956f}},
      {"TanhBackward", &Tensor::tanh_, false, {0.8948787450790405f, 0.26939308643341064f, 0.04439691826701164f, 0.0029607934411615133f}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor xx = (c.positive ? f32({0.5f, 1.25f, 2.0f, 3.0f}) : x()).set_requires_grad(true);
    Tensor yv = xx * 1.5;
    (yv.*c.op)();
    CHECK(yv.grad_fn()->backward_name() == c.name);
    sum(yv * weights()).backward();
    check_close(xx.grad(), c.grad, 1e-5);
  }
}

TEST_CASE("in-place writes into tensors that did not require grad, and copy_", "[parity][inplace][autograd]") {
  Tensor bl = b_leaf();
  // z = torch.zeros(4); z.add_(1); z.mul_(b); z.requires_grad -> True, z.grad_fn -> MulBackward0
  // (z * z).sum().backward() -> b.grad [2, 4, -8, 1]
  Tensor z = Tensor::zeros({4});
  z.add_(1.0).mul_(bl);
  CHECK(z.requires_grad());
  CHECK(z.grad_fn()->backward_name() == "MulBackward");
  sum(z * z).backward();
  CHECK(vals(bl.grad()) == std::vector<float>{2, 4, -8, 1});
  // z = torch.zeros(4); z.copy_(b); z.sum().backward() -> b.grad ones (CopyBackwards)
  Tensor b2 = b_leaf();
  Tensor zc = Tensor::zeros({4});
  zc.copy_(b2);
  CHECK(zc.requires_grad());
  sum(zc).backward();
  CHECK(vals(b2.grad()) == std::vector<float>{1, 1, 1, 1});
  // y = x * 2; y.copy_(b * 3); (y * w).sum().backward() -> x.grad zeros, b.grad [3, 6, 9, 12]
  Tensor xl = x_leaf(), b3 = b_leaf();
  Tensor yv = xl * 2.0;
  yv.copy_(b3 * 3.0);
  sum(yv * weights()).backward();
  CHECK(vals(xl.grad()) == std::vector<float>{0, 0, 0, 0});
  CHECK(vals(b3.grad()) == std::vector<float>{3, 6, 9, 12});
  // A float64 source into a float32 destination: the gradient comes back in float64.
  Tensor b64 = Tensor::from_vector(std::vector<double>{1, 2}).set_requires_grad(true);
  Tensor z32 = Tensor::zeros({2});
  z32.copy_(b64);
  sum(z32 * 2.0).backward();
  CHECK(b64.grad().dtype() == kFloat64);
  CHECK(b64.grad().to_vector<double>() == std::vector<double>{2, 2});
}

TEST_CASE("in-place autograd and saved tensors: the version counter", "[parity][inplace][autograd]") {
  Tensor xl = x_leaf();
  // exp_ saves its result: y = x * 1; y.exp_(); y.sum().backward() -> x.grad = exp(x)
  Tensor y1 = xl * 1.0;
  y1.exp_();
  sum(y1).backward();
  check_close(xl.grad(), {1.6487212181091309f, 0.2865048050880432f, 7.389056205749512f, 20.08553695678711f});
  // y = x.exp(); y.add_(1); y.sum().backward() -> "one of the variables needed for gradient
  // computation has been modified by an inplace operation: [torch.FloatTensor [4]], which is
  // output 0 of Exp, is at version 1; expected version 0 instead."
  Tensor y2 = exp(xl);
  y2.add_(1.0);
  CHECK_THROWS_WITH(sum(y2).backward(), Contains("modified by an inplace operation: [float [4]], which is output 0 of "
                                                 "ExpBackward, is at version 1; expected version 0 instead"));
  // y = x * 1; y.exp_(); y.mul_(2); y.sum().backward() -> the same error, "is at version 2;
  // expected version 1 instead" (exp_'s saved result was overwritten)
  Tensor y3 = xl * 1.0;
  y3.exp_().mul_(2.0);
  CHECK_THROWS_WITH(sum(y3).backward(), Contains("is at version 2; expected version 1 instead"));
  // neg_ saves nothing: y.neg_(); y.mul_(2) backs through (x.grad -2 each).
  Tensor x4 = x_leaf();
  Tensor y4 = x4 * 1.0;
  y4.neg_().mul_(2.0);
  sum(y4).backward();
  CHECK(vals(x4.grad()) == std::vector<float>{-2, -2, -2, -2});
  // A tensor used twice: y = x * 2; z = y * 3; y.add_(1); z.sum().backward() -> x.grad all 6
  // (mul by a scalar saved nothing of y).
  Tensor x5 = x_leaf();
  Tensor y5 = x5 * 2.0;
  Tensor z5 = y5 * 3.0;
  y5.add_(1.0);
  sum(z5).backward();
  CHECK(vals(x5.grad()) == std::vector<float>{6, 6, 6, 6});
  // y = x * 2; z = y * b; y.add_(1); z.sum().backward() -> the version error (MulBackward saved y)
  Tensor x6 = x_leaf(), b6 = b_leaf();
  Tensor y6 = x6 * 2.0;
  Tensor z6 = y6 * b6;
  y6.add_(1.0);
  CHECK_THROWS_WITH(sum(z6).backward(), Contains("is at version 1; expected version 0 instead"));
  // mul_ saves its operand: w = torch.tensor([1., 2, 3, 4]); y = x * 2; y.mul_(w); w.add_(1);
  // y.sum().backward() -> "... [torch.FloatTensor [4]] is at version 1; expected version 0 instead"
  Tensor x7 = x_leaf(), w7 = weights();
  Tensor y7 = x7 * 2.0;
  y7.mul_(w7);
  w7.add_(1.0);
  CHECK_THROWS_WITH(sum(y7).backward(), Contains("is at version 1; expected version 0 instead"));
}

TEST_CASE("in-place autograd: what is refused", "[parity][inplace][autograd]") {
  Tensor xl = x_leaf();
  // x.add_(1) -> "a leaf Variable that requires grad is being used in an in-place operation."
  CHECK_THROWS_WITH(xl.add_(1.0), Contains(kLeaf));
  CHECK_THROWS_WITH(xl.copy_(y()), Contains("copy_: ") && Contains(kLeaf));
  CHECK_THROWS_WITH(Tensor::ones({2}).masked_fill_(bools({1, 0}, {2}), Tensor::ones({2})),
                    Contains("only supports a 0-dimensional value tensor"));
  // torch rebases a view's base through CopySlices; tinyxf refuses a recorded write into a view of a
  // tensor still in use, and into a tensor with live views, instead of leaving a wrong history.
  Tensor yv = xl * 2.0;
  Tensor part = yv.narrow(0, 0, 2);
  CHECK_THROWS_WITH(part.mul_(3.0), Contains("mul_: in-place operations inside autograd on a view") &&
                                        Contains("use x = x * s"));
  CHECK_THROWS_WITH(yv.add_(1.0), Contains("on a tensor with live views (1 made by"));
  Tensor plain = Tensor::zeros({4});
  Tensor window = plain.narrow(0, 1, 2);
  // A view of a tensor outside autograd is not tracked: its shared memory is what refuses, and the
  // base refuses as well.
  CHECK_THROWS_WITH(window.copy_(xl.narrow(0, 0, 2)),
                    Contains("copy_: in-place operations inside autograd on a tensor that shares its memory"));
  CHECK_THROWS_WITH(plain.mul_(xl), Contains("mul_: in-place operations inside autograd on a tensor that shares"));
  CHECK(plain.version() == 0);
  // The view of a temporary, that nothing else reaches, is rebased alone (torch: the same gradient):
  // y = (x * 2).view(2, 2); y.mul_(3); y.sum().backward() -> x.grad all 6
  Tensor x2 = x_leaf();
  Tensor v2 = (x2 * 2.0).view({2, 2});
  v2.mul_(3.0);
  sum(v2).backward();
  CHECK(vals(x2.grad()) == std::vector<float>{6, 6, 6, 6});
  // Once the views are gone the base may be written.
  {
    Tensor y3 = xl * 2.0;
    { Tensor gone = y3.narrow(0, 0, 1); }
    y3.add_(1.0);
    CHECK(y3.grad_fn()->backward_name() == "AddBackward");
  }
  // fill_ stays outside autograd: refused on a tensor in a graph (torch records it).
  CHECK_THROWS_WITH((xl * 2.0).fill_(0.0), Contains("fill_: in-place operations on tensors that are part of an "
                                                    "autograd graph are not supported"));
  // Under no_grad a leaf that requires grad is written, and nothing is recorded (optimizer steps).
  {
    NoGradGuard no_grad;
    xl.mul_(2.0).add_(y());
  }
  CHECK(xl.is_leaf());
  CHECK(vals(xl) == std::vector<float>{2, -0.5f, 0, 6.5f});
}

TEST_CASE("EMA of parameters under NoGradGuard, as torch's no_grad loop", "[parity][inplace]") {
  // w = [torch.tensor([1., 2., 3.]), torch.tensor([[0.5, -0.5]])]; ema = [t.clone() for t in w]
  // for step in range(3):
  //   with torch.no_grad():
  //     for t in w: t.mul_(1.5).add_(1.0)
  //     for e, t in zip(ema, w): e.mul_(0.9).add_(t, alpha=0.1)
  // -> ema[0] = [2.1714999675750732, 3.562000036239624, 4.952499866485596],
  //    ema[1] = [[1.4762499332427979, 0.0857500433921814]]
  std::vector<Tensor> params{f32({1, 2, 3}).set_requires_grad(true), f32({0.5f, -0.5f}, {1, 2}).set_requires_grad(true)};
  std::vector<Tensor> ema;
  for (const Tensor& p : params) ema.push_back(p.detach().clone());
  for (int step = 0; step < 3; ++step) {
    NoGradGuard no_grad;
    for (Tensor& p : params) p.mul_(1.5).add_(1.0);
    for (std::size_t i = 0; i < ema.size(); ++i) ema[i].mul_(0.9).add_(params[i], 0.1);
  }
  // add_ with alpha scales then adds (torch fuses them): within float32 rounding of torch's values
  check_close(ema[0], {2.1714999675750732f, 3.562000036239624f, 4.952499866485596f});
  check_close(ema[1], {1.4762499332427979f, 0.0857500433921814f}, 1e-5);
  CHECK(ema[1].shape() == Shape{1, 2});
  CHECK(params[0].requires_grad());
  CHECK(params[0].is_leaf());
}
