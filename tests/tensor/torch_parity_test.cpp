// Core ops against PyTorch's results in their corner cases: 1-D and empty matmuls, integer sums,
// arange's length, 0-dim tensors, bool arithmetic, the gradient of a full max/min with ties, and
// dtype corners (16-bit comparisons and scalars, out-of-range fills, integer pow, cat promotion).
// Every expected value was printed by torch.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

TEST_CASE("matmul: 1-D by 1-D is a 0-dim dot product; K == 0 gives zeros", "[parity][matmul]") {
  for (const Device d : {dev, Device::reference()}) {
    auto a = Tensor::arange(3, TensorOptions(d).dtype(kFloat64)).set_requires_grad(true);
    auto b = Tensor::from_vector<double>({1, 2, 4}, TensorOptions(d)).set_requires_grad(true);
    auto s = matmul(a, b);
    CHECK(s.shape() == Shape{});
    CHECK(s.item<double>() == 10.0);
    s.backward();
    CHECK(a.grad().to_vector<double>() == std::vector<double>{1, 2, 4});
    CHECK(b.grad().to_vector<double>() == std::vector<double>{0, 1, 2});

    auto x = Tensor::ones({1, 1, 0}, d).set_requires_grad(true);
    auto w = Tensor::ones({0, 4}, d).set_requires_grad(true);
    auto y = matmul(x, w);
    CHECK(y.shape() == Shape{1, 1, 4});
    CHECK(y.to_vector<float>() == std::vector<float>(4, 0.0f));
    y.sum().backward();
    CHECK(x.grad().shape() == Shape{1, 1, 0});
    CHECK(w.grad().shape() == Shape{0, 4});
  }
}

TEST_CASE("sum of bool and integer tensors is int64", "[parity][sum]") {
  auto mask = gt(Tensor::arange(300, dev), -1.0);
  auto s = mask.sum();
  CHECK(s.dtype() == kInt64);
  CHECK(s.item<std::int64_t>() == 300);
  CHECK(Tensor::full({300}, 1, TensorOptions(dev).dtype(kUInt8)).sum().item<std::int64_t>() == 300);
  auto big = Tensor::full({3}, 2e9, TensorOptions(dev).dtype(kInt32));
  CHECK(big.sum({0}).dtype() == kInt64);
  CHECK(big.sum({0}).item<std::int64_t>() == 6000000000);
  CHECK(big.sum(std::vector<std::int64_t>{0}, true).shape() == Shape{1});
  CHECK(Tensor::full({2, 3}, 2e9, TensorOptions(Device::reference()).dtype(kInt32)).sum({1}).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{6000000000, 6000000000});
  CHECK(Tensor::ones({2}, dev).sum().dtype() == kFloat32);
  CHECK_THROWS_WITH(Tensor::ones({2}, TensorOptions(dev).dtype(kInt64)).mean(), Catch::Contains("mean"));
}

TEST_CASE("arange: ceil((end - start) / step) values start + i * step", "[parity][arange]") {
  auto a = Tensor::arange(0.0, 1.0, 0.1, TensorOptions(dev).dtype(kFloat64));
  REQUIRE(a.numel() == 10);
  CHECK(a.to_vector<double>()[3] == 3 * 0.1);
  CHECK(Tensor::arange(1.0, 2.0, 0.1, dev).numel() == 10);
  CHECK(Tensor::arange(0.0, 0.9, 0.3, dev).numel() == 3);
  const auto down = Tensor::arange(1.0, 0.0, -0.3, TensorOptions(dev).dtype(kFloat64)).to_vector<double>();
  REQUIRE(down.size() == 4);  // 1, 0.7, 0.4, 0.1 (the last may be fused: torch's is)
  for (std::size_t i = 0; i < down.size(); ++i) CHECK(down[i] == Approx(1.0 - 0.3 * static_cast<double>(i)).epsilon(1e-15));
  CHECK(Tensor::arange(5, 0, -2, TensorOptions(dev).dtype(kInt64)).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{5, 3, 1});
  CHECK(Tensor::arange(1, 1, 1, dev).numel() == 0);
  CHECK_THROWS_WITH(Tensor::arange(0, 1, 0, dev), Catch::Contains("step must be non-zero"));
  CHECK_THROWS_WITH(Tensor::arange(0, 1, -1, dev), Catch::Contains("inconsistent with the step's sign"));
  CHECK_THROWS_WITH(Tensor::arange(1, 0, 1, dev), Catch::Contains("inconsistent with the step's sign"));
}

TEST_CASE("0-dim tensors: dims 0 and -1 give the scalar or a clear error, as torch", "[parity][zero-dim]") {
  auto s = Tensor::scalar(2.0, TensorOptions(dev).dtype(kFloat64)).set_requires_grad(true);
  CHECK_THROWS_AS(s.size(0), IndexError);
  CHECK_THROWS_WITH(s.size(-1), Catch::Contains("no dimensions"));
  CHECK(s.transpose(0, 0).shape() == Shape{});
  CHECK(s.transpose(-1, 0).item<double>() == 2.0);
  CHECK(s.squeeze(0).shape() == Shape{});
  CHECK_THROWS_WITH(s.narrow(0, 0, 1), Catch::Contains("narrow") && Catch::Contains("0-dim"));
  CHECK_THROWS_WITH(s.select(0, 0), Catch::Contains("select") && Catch::Contains("0-dim"));
  CHECK_THROWS_WITH(cat({s, s}, 0), Catch::Contains("zero-dimensional tensor (at position 0)"));
  CHECK_THROWS_WITH(cat({Tensor::ones({1}, dev), Tensor::scalar(1.0f, dev)}, 0), Catch::Contains("at position 1"));
  CHECK(stack({s, s}, 0).shape() == Shape{2});
  for (const bool keep : {false, true}) {
    CHECK(sum(s, {0}, keep).shape() == Shape{});
    CHECK(sum(s, {-1}, keep).item<double>() == 2.0);
    CHECK(mean(s, {0}, keep).item<double>() == 2.0);
    CHECK(argmax(s, 0, keep).shape() == Shape{});
    CHECK(argmin(s, -1, keep).item<std::int64_t>() == 0);
    CHECK(max(s, 0, keep).item<double>() == 2.0);
    CHECK(min(s, -1, keep).shape() == Shape{});
  }
  CHECK_THROWS_AS(sum(s, {1}), IndexError);
  auto y = sum(s, {0}) + max(s, 0) + mean(s, {-1});
  y.backward();
  CHECK(s.grad().shape() == Shape{});
  CHECK(s.grad().item<double>() == 3.0);
  auto picked = index_select(s, 0, Tensor::from_vector<std::int64_t>({0}, dev));
  CHECK(picked.shape() == Shape{});
  CHECK(picked.item<double>() == 2.0);
  CHECK(index_select(s, 0, Tensor::scalar(0, TensorOptions(dev).dtype(kInt64))).item<double>() == 2.0);
  CHECK_THROWS_WITH(index_select(s, 0, Tensor::from_vector<std::int64_t>({0, 0}, dev)), Catch::Contains("only 1 value"));
  CHECK_THROWS(index_select(s, 0, Tensor::from_vector<std::int64_t>({1}, dev)));
  // F.softmax(torch.tensor(3.), 1): IndexError "Dimension out of range (expected to be in range of [-1, 0], but got 1)"
  CHECK(softmax(s, 0).item<double>() == 1.0);
  CHECK(log_softmax(s, -1).item<double>() == 0.0);
  CHECK_THROWS_AS(softmax(s, 1), IndexError);
  CHECK_THROWS_AS(softmax(s, -2), IndexError);
  CHECK_THROWS_WITH(log_softmax(s, 7), Catch::Contains("log_softmax: dim 7 out of range"));
}

TEST_CASE("log_softmax keeps log(sum(exp)) next to a huge row max", "[parity][softmax]") {
  // F.log_softmax(torch.tensor([[1e17, 1e17], [3e38, 3e38]]), 1) == -log(2) everywhere;
  // (float64: torch.tensor([[1e300, 1e300, 1e300]], dtype=torch.float64) gives -log(3)).
  for (const Device d : {dev, Device::reference()}) {
    const auto x = Tensor::from_vector<float>({1e17f, 1e17f, 3e38f, 3e38f}, {2, 2}, TensorOptions(d));
    for (const float v : log_softmax(x, 1).to_vector<float>()) CHECK(v == Approx(-std::log(2.0f)));
    for (const float v : log_softmax(x.t(), 0).to_vector<float>()) CHECK(v == Approx(-std::log(2.0f)));
    const auto wide = Tensor::from_vector<double>({1e300, 1e300, 1e300}, {1, 3}, TensorOptions(d));
    for (const double v : log_softmax(wide, 1).to_vector<double>()) CHECK(v == Approx(-std::log(3.0)));
  }
}

TEST_CASE("bool arithmetic: + is or, * is and, - refused", "[parity][bool]") {
  for (const Device d : {dev, Device::reference()}) {
    auto a = gt(Tensor::from_vector<float>({1, 0, 1, 0}, d), 0.5);
    auto b = gt(Tensor::from_vector<float>({1, 1, 0, 0}, d), 0.5);
    auto sum_ab = add(a, b);
    CHECK(sum_ab.dtype() == kBool);
    CHECK(sum_ab.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 1, 1, 0});
    CHECK(eq(a + a, 1.0).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 1, 0});
    auto prod = mul(a, b);
    CHECK(prod.dtype() == kBool);
    CHECK(prod.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 0});
    CHECK_THROWS_WITH(sub(a, b), Catch::Contains("two bool tensors"));
    CHECK_THROWS_AS(a - 1.0, DTypeError);
    CHECK_THROWS_AS(1.0 - a, DTypeError);
    CHECK_THROWS_WITH(-a, Catch::Contains("on a bool tensor is not supported"));
    CHECK((a + 1.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 1, 2, 1});
  }
}

TEST_CASE("gradient of a full max/min is shared among ties; max(x, dim) keeps the index", "[parity][max]") {
  auto x = Tensor::from_vector<double>({1, 3, 3}, TensorOptions(dev)).set_requires_grad(true);
  max(x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 0.5, 0.5});
  auto m = Tensor::from_vector<double>({1, 1, 3}, TensorOptions(dev)).set_requires_grad(true);
  auto lo = min(m);
  CHECK(lo.shape() == Shape{});
  CHECK(lo.item<double>() == 1.0);
  lo.backward();
  CHECK(m.grad().to_vector<double>() == std::vector<double>{0.5, 0.5, 0});
  auto z = Tensor::from_vector<double>({1, 3, 3}, TensorOptions(dev)).set_requires_grad(true);
  max(z, 0).backward();
  CHECK(z.grad().to_vector<double>() == std::vector<double>{0, 1, 0});
  CHECK(max(Tensor::from_vector<std::int64_t>({4, 9, 2}, dev)).item<std::int64_t>() == 9);
}

TEST_CASE("pow of an integer tensor to a negative integer is refused", "[parity][pow]") {
  auto i = Tensor::from_vector<std::int64_t>({1, 2, 3}, dev);
  CHECK_THROWS_WITH(pow(i, -1.0), Catch::Contains("negative integer powers"));
  CHECK(pow(i, 2.0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 4, 9});
  CHECK(pow(i, -0.5).dtype() == kFloat32);
}

TEST_CASE("sum and mean over an empty dim list reduce every dim, as torch's dim=[]", "[parity][sum]") {
  auto x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}, dev);
  CHECK(sum(x, {}).shape() == Shape{});
  CHECK(sum(x, {}).item<float>() == 21.0f);
  CHECK(sum(x, {}, true).shape() == Shape{1, 1});
  CHECK(mean(x, {}).item<float>() == 3.5f);
  CHECK(sum(Tensor::scalar(2.0f, dev), {}).item<float>() == 2.0f);
}

// ---- dtype corner cases (review r1 #2-#10, r3 #5-#6); values printed by torch 2.15 on the cpu ----
namespace {
std::vector<std::uint8_t> bools(const Tensor& t) { return t.to_vector<std::uint8_t>(); }
Tensor ints(std::vector<std::int64_t> v, DType d, Device device = dev) {
  return Tensor::from_vector(v, TensorOptions(device).dtype(d));
}
}  // namespace

TEST_CASE("bf16/f16 compared with a scalar or a 0-dim float32 tensor: the scalar is rounded first", "[parity][dtype]") {
  for (const Device d : {dev, Device::reference()}) {
    // b = torch.tensor([0.1, 1.0, 1.0078125]).bfloat16(); h = torch.tensor([0.1, 1.0]).half()
    const auto b = Tensor::from_vector<float>({0.1f, 1.0f, 1.0078125f}, d).to(kBFloat16);
    const auto h = Tensor::from_vector<float>({0.1f, 1.0f}, d).to(kFloat16);
    using V = std::vector<std::uint8_t>;
    CHECK(bools(eq(b, 0.1)) == V{1, 0, 0});                           // b == 0.1
    CHECK(bools(eq(b, 1.001)) == V{0, 1, 0});                         // b == 1.001
    CHECK(bools(lt(b, 1.001)) == V{1, 0, 0});                         // b < 1.001
    CHECK(bools(ge(b, 1.01)) == V{0, 0, 1});                          // b >= 1.01
    CHECK(bools(eq(b, Tensor::scalar(0.1, d))) == V{1, 0, 0});        // b == torch.tensor(0.1)
    CHECK(bools(eq(h, 0.1)) == V{1, 0});                              // h == 0.1
    CHECK(bools(eq(h, 1.0001)) == V{0, 1});                           // h == 1.0001
    CHECK(bools(lt(b, 1e39)) == V{1, 1, 1});                          // b < 1e39 (inf as bf16: no error)
    CHECK(bools(eq(ints({257}, kInt64, d), Tensor::scalar(256.0, TensorOptions(d).dtype(kBFloat16)))) == V{1});
    CHECK(eq(b, 0.1).sum().item<std::int64_t>() == 1);  // (b == 0.1).sum()
    // add/sub round the scalar (or 0-dim operand) to bf16 first; mul/div with a 0-dim second
    // operand use its value: torch.tensor([1.], dtype=torch.bfloat16) + (2**-8 + 2**-20) -> 1.0
    const double tie = std::ldexp(1.0, -8) + std::ldexp(1.0, -20);
    const auto one = Tensor::ones({1}, TensorOptions(d).dtype(kBFloat16));
    CHECK((one + tie).item<float>() == 1.0f);
    CHECK((one - (-tie)).item<float>() == 1.0f);
    CHECK(((1.0 + tie) - one).item<float>() == 0.0078125f);  // (1 + tie) - b
    CHECK((one + Tensor::scalar(tie, d)).item<float>() == 1.0f);
    CHECK((one - Tensor::scalar(-tie, d)).item<float>() == 1.0f);
    const double s = 1 + std::ldexp(1.0, -8) - std::ldexp(1.0, -12);
    const auto three = Tensor::full({1}, 3.0, TensorOptions(d).dtype(kBFloat16));
    CHECK((three * s).item<float>() == 3.015625f);                         // b3 * s
    CHECK((three * Tensor::scalar(s, d)).item<float>() == 3.015625f);      // b3 * torch.tensor(s)
    CHECK((Tensor::scalar(s, d) * three).item<float>() == 3.0f);           // torch.tensor(s) * b3: rounded
    CHECK((three / Tensor::scalar(1 / s, d)).item<float>() == 3.015625f);  // b3 / torch.tensor(1/s)
    // torch.tensor([257]) + torch.tensor(0.5, dtype=torch.bfloat16) -> 256 (257 rounds to bf16 first)
    CHECK((ints({257}, kInt64, d) + Tensor::scalar(0.5, TensorOptions(d).dtype(kBFloat16))).item<float>() == 256.0f);
  }
  // maximum(b, 3.001 0-dim) ties after rounding: torch shares the gradient, 0.5 each
  auto x = Tensor::full({1}, 3.0, TensorOptions(dev).dtype(kBFloat16)).set_requires_grad(true);
  maximum(x, Tensor::scalar(3.001, dev)).sum().backward();
  CHECK(x.grad().item<float>() == 0.5f);
}

TEST_CASE("arange with an integer dtype truncates start and step first, as torch", "[parity][arange]") {
  const auto i64 = TensorOptions(dev).dtype(kInt64);
  using V = std::vector<std::int64_t>;
  CHECK(Tensor::arange(-2.5, 2, 1, i64).to_vector<std::int64_t>() == V{-2, -1, 0, 1, 2});
  CHECK(Tensor::arange(0, 5, 1.5, TensorOptions(dev).dtype(kInt32)).to(kInt64).to_vector<std::int64_t>() ==
        V{0, 1, 2, 3});
  CHECK(Tensor::arange(0, 2, 0.5, i64).to_vector<std::int64_t>() == V{0, 0, 0, 0});   // step truncates to 0
  CHECK(Tensor::arange(5, 0, -1.5, i64).to_vector<std::int64_t>() == V{5, 4, 3, 2});
  CHECK(Tensor::arange(0.5, 3, 1, TensorOptions(dev).dtype(kUInt8)).to(kInt64).to_vector<std::int64_t>() ==
        V{0, 1, 2});
}

TEST_CASE("linear refuses a bias or weight of another dtype, as torch", "[parity][linear]") {
  // torch: "self and mat2 must have the same dtype, but got Double and Float"
  CHECK_THROWS_AS(linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, dev), Tensor::ones({2}, TensorOptions(dev).dtype(kFloat64))),
                  DTypeError);
  CHECK_THROWS_WITH(linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, dev), Tensor::ones({2}, TensorOptions(dev).dtype(kFloat64))),
                    Catch::Contains("input and bias") && Catch::Contains("float32 and float64"));
  CHECK_THROWS_AS(linear(Tensor::ones({1, 3}, TensorOptions(dev).dtype(kBFloat16)),
                         Tensor::ones({2, 3}, TensorOptions(dev).dtype(kBFloat16)), Tensor::ones({2}, dev)),
                  DTypeError);
  CHECK_THROWS_AS(linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, TensorOptions(dev).dtype(kFloat64)),
                         Tensor::ones({2}, dev)),
                  DTypeError);
  {  // under autocast an f64 bias is not cast, and the op then refuses it (torch: the same error)
    AutocastGuard guard(dev.type, kBFloat16);
    CHECK_THROWS_AS(linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, dev), Tensor::ones({2}, TensorOptions(dev).dtype(kFloat64))),
                    DTypeError);
    const auto y = linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, dev), Tensor::ones({2}, dev));
    CHECK(y.dtype() == kBFloat16);
  }
  CHECK(linear(Tensor::ones({1, 3}, dev), Tensor::ones({2, 3}, dev), Tensor::ones({2}, dev)).to_vector<float>() ==
        std::vector<float>{4, 4});
}

TEST_CASE("cat and stack promote mixed dtypes; gradients return in each input's dtype", "[parity][cat]") {
  const auto f64 = TensorOptions(dev).dtype(kFloat64);
  CHECK(cat({Tensor::ones({2}, dev), Tensor::ones({2}, f64)}).dtype() == kFloat64);  // torch.cat([f32, f64])
  const auto mixed = cat({ints({1, 2}, kInt64), Tensor::full({2}, 0.5, dev)});      // torch.cat([int64, f32])
  CHECK(mixed.dtype() == kFloat32);
  CHECK(mixed.to_vector<float>() == std::vector<float>{1, 2, 0.5f, 0.5f});
  CHECK(stack({Tensor::ones({2}, dev), Tensor::ones({2}, f64)}).dtype() == kFloat64);
  const auto bi = cat({ints({1}, kBool), ints({2}, kInt32)});                          // bool, int32 -> int32
  CHECK(bi.dtype() == kInt32);
  CHECK(bi.to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2});
  CHECK(cat({Tensor::ones({1}, TensorOptions(dev).dtype(kBFloat16)), Tensor::ones({1}, TensorOptions(dev).dtype(kFloat16))})
            .dtype() == kFloat32);
  auto a = Tensor::ones({2}, dev).set_requires_grad(true);
  auto b = Tensor::ones({1}, TensorOptions(dev).dtype(kBFloat16)).set_requires_grad(true);
  auto c = Tensor::ones({1}, f64).set_requires_grad(true);
  auto out = cat({a, b, c});
  CHECK(out.dtype() == kFloat64);
  (out * 3.0).sum().backward();
  CHECK(a.grad().dtype() == kFloat32);
  CHECK(b.grad().dtype() == kBFloat16);
  CHECK(c.grad().dtype() == kFloat64);
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 3});
  CHECK(b.grad().to(kFloat32).item<float>() == 3.0f);
}

TEST_CASE("fill_, full and masked_fill refuse a value that overflows the dtype, as torch", "[parity][fill]") {
  for (const Device d : {dev, Device::reference()}) {
    const auto opt = [d](DType t) { return TensorOptions(d).dtype(t); };
    const auto overflow = Catch::Contains("without overflow");
    // torch: RuntimeError: value cannot be converted to type uint8_t without overflow
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kUInt8)).fill_(300), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kInt32)).fill_(std::nan("")), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kInt32)).fill_(1e10), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kFloat16)).fill_(1e5), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kFloat16)).fill_(65519), overflow);   // would round to 65504: torch refuses
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kBFloat16)).fill_(3.39e38), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kFloat32)).fill_(1e39), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kUInt8)).fill_(-256), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kUInt8)).fill_(-0.5), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kInt32)).fill_(-2147483648.5), overflow);
    CHECK_THROWS_WITH(Tensor::zeros({2}, opt(kInt64)).fill_(9223372036854775808.0), overflow);
    CHECK_THROWS_AS(Tensor::full({2}, 300, opt(kUInt8)), ValueError);
    CHECK_THROWS_AS(Tensor::full({2}, 1e5, opt(kFloat16)), ValueError);
    const auto mask = ints({1, 0}, kBool, d);
    CHECK_THROWS_WITH(masked_fill(ints({1, 2}, kUInt8, d), mask, 300), Catch::Contains("masked_fill") && overflow);
    CHECK_THROWS_WITH(masked_fill(Tensor::ones({2}, opt(kFloat16)), mask, 1e6), overflow);
    CHECK_THROWS_WITH(masked_fill(Tensor::ones({2}, opt(kFloat16)), mask, -1e9), overflow);
    CHECK_THROWS_WITH(masked_fill(ints({1, 2}, kInt32, d), mask, std::nan("")), overflow);
    // accepted, as torch: uint8 -1 and -255 wrap, fractions truncate, inf/NaN fit floats, bool takes anything
    using V = std::vector<std::int64_t>;
    CHECK(Tensor::zeros({1}, opt(kUInt8)).fill_(-1).to(kInt64).to_vector<std::int64_t>() == V{255});
    CHECK(Tensor::zeros({1}, opt(kUInt8)).fill_(-255).to(kInt64).to_vector<std::int64_t>() == V{1});
    CHECK(Tensor::zeros({1}, opt(kUInt8)).fill_(255.5).to(kInt64).to_vector<std::int64_t>() == V{255});
    CHECK(Tensor::zeros({1}, opt(kInt32)).fill_(2147483647.5).to(kInt64).to_vector<std::int64_t>() == V{2147483647});
    CHECK(Tensor::zeros({1}, opt(kInt64)).fill_(-9223372036854775808.0).to_vector<std::int64_t>() ==
          V{std::numeric_limits<std::int64_t>::min()});
    CHECK(Tensor::zeros({1}, opt(kFloat16)).fill_(65504).to(kFloat32).item<float>() == 65504.0f);
    CHECK(std::isinf(Tensor::zeros({1}, opt(kFloat16)).fill_(INFINITY).to(kFloat32).item<float>()));
    CHECK(Tensor::zeros({1}, opt(kBool)).fill_(1e300).to(kInt64).to_vector<std::int64_t>() == V{1});
    CHECK(masked_fill(ints({1, 2}, kUInt8, d), mask, -1).to(kInt64).to_vector<std::int64_t>() == V{255, 2});
  }
}

TEST_CASE("integer tensor with a large integral scalar wraps it through int64, as torch", "[parity][dtype]") {
  for (const Device d : {dev, Device::reference()}) {
    const auto one = ints({1}, kInt32, d);
    using V = std::vector<std::int64_t>;
    const auto i64 = [](const Tensor& t) { return t.to(kInt64).to_vector<std::int64_t>(); };
    CHECK(i64(one + 3e9) == V{-1294967295});   // torch.tensor([1], dtype=torch.int32) + 3000000000
    CHECK(i64(one * 3e9) == V{-1294967296});
    CHECK(i64(one - 3e9) == V{1294967297});
    CHECK(i64(3e9 - one) == V{-1294967297});
    CHECK(bools(eq(one, 4294967297.0)) == std::vector<std::uint8_t>{1});  // == 2**32 + 1
    CHECK(bools(lt(one, 4294967297.0)) == std::vector<std::uint8_t>{0});
    CHECK(i64(ints({1}, kUInt8, d) + 1099511627779.0) == V{4});             // uint8 + (2**40 + 3)
    CHECK(i64(ints({1}, kInt64, d) + 9223372036854775808.0) == V{-9223372036854775807});  // + 2**63
    CHECK_THROWS_AS(ints({1}, kInt64, d) + 18446744073709551616.0, ValueError);          // 2**64: too big
  }
}

TEST_CASE("integer pow is exact and wraps, as torch", "[parity][pow]") {
  for (const Device d : {dev, Device::reference()}) {
    using V = std::vector<std::int64_t>;
    const auto i64 = [](const Tensor& t) { return t.to(kInt64).to_vector<std::int64_t>(); };
    CHECK(i64(pow(ints({3037000499LL}, kInt64, d), 2.0)) == V{9223372030926249001LL});
    CHECK(i64(pow(ints({(1LL << 53) + 1}, kInt64, d), 1.0)) == V{(1LL << 53) + 1});
    CHECK(i64(pow(ints({2, 3, -2}, kInt64, d), 63.0)) ==
          V{std::numeric_limits<std::int64_t>::min(), -3237885987332494933LL, std::numeric_limits<std::int64_t>::min()});
    CHECK(i64(pow(ints({100000}, kInt32, d), 2.0)) == V{1410065408});
    CHECK(i64(pow(ints({7}, kUInt8, d), 3.0)) == V{87});
    CHECK(i64(pow(ints({0, 5}, kInt64, d), 0.0)) == V{1, 1});
    CHECK(i64(pow(ints({1, 0}, kBool, d), 2.0)) == V{1, 0});
  }
}

TEST_CASE("abs and relu refuse bool tensors, as torch", "[parity][bool]") {
  // torch: "abs_cpu" not implemented for 'Bool'; Boolean inputs not supported for relu
  CHECK_THROWS_AS(abs(ints({1, 0}, kBool)), DTypeError);
  CHECK_THROWS_AS(relu(ints({1, 0}, kBool)), DTypeError);
  CHECK(relu(ints({-1, 2}, kInt32)).dtype() == kInt32);
}

TEST_CASE("index_select and embedding take int32 indices, as torch", "[parity][index]") {
  CHECK(index_select(Tensor::arange(4.0, dev), 0, ints({2, 1}, kInt32)).to_vector<float>() == std::vector<float>{2, 1});
  auto w = Tensor::arange(8.0, dev).reshape({4, 2}).set_requires_grad(true);
  auto e = embedding(ints({2, 1}, kInt32), w);
  CHECK(e.to_vector<float>() == std::vector<float>{4, 5, 2, 3});
  e.sum().backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{0, 0, 1, 1, 1, 1, 0, 0});
  CHECK_THROWS_WITH(index_select(Tensor::arange(4.0, dev), 0, ints({1}, kUInt8)), Catch::Contains("int64 or int32"));
}

TEST_CASE("embedding of a bfloat16 table trains: its gradient sums in bfloat16, as torch's", "[parity][index]") {
  // torch: w = zeros(3, 2, bfloat16, requires_grad); ids = [1] * 300 + [2];
  // F.embedding(ids, w).sum().backward() -> w.grad rows [0, 0], [256, 256], [1, 1] (each add
  // rounded to bfloat16: 256 + 1 stays 256); with .mul(0.1): [32, 32] and [0.1001, 0.1001].
  std::vector<std::int64_t> id_values(300, 1);
  id_values.push_back(2);
  const auto ids = Tensor::from_vector(id_values, {301}).to(dev);
  for (const double scale : {1.0, 0.1}) {
    auto w = Tensor::zeros({3, 2}, TensorOptions(dev).dtype(kBFloat16)).set_requires_grad(true);
    (embedding(ids, w) * scale).sum().backward();
    REQUIRE(w.grad().dtype() == kBFloat16);
    const float row1 = scale == 1.0 ? 256.0f : 32.0f, row2 = static_cast<float>(BFloat16(0.1f));
    CHECK(w.grad().to(kFloat32).to_vector<float>() ==
          std::vector<float>{0, 0, row1, row1, scale == 1.0 ? 1.0f : row2, scale == 1.0 ? 1.0f : row2});
  }
}

TEST_CASE("masked_fill broadcasts x to a larger mask, as torch's out-of-place masked_fill", "[parity][fill]") {
  // torch.tensor([1., 2, 3]).masked_fill(torch.tensor([[1, 0, 0], [0, 0, 1]], dtype=torch.bool), 0)
  const auto out = masked_fill(Tensor::from_vector<float>({1, 2, 3}, dev), ints({1, 0, 0, 0, 0, 1}, kBool).reshape({2, 3}), 0);
  CHECK(out.shape() == Shape{2, 3});
  CHECK(out.to_vector<float>() == std::vector<float>{0, 2, 3, 1, 2, 0});
}

TEST_CASE("autocast with dtype float32 on the cpu is off, as torch", "[parity][autocast]") {
  AutocastGuard guard(DeviceType::cpu, kFloat32);
  CHECK_FALSE(autocast_enabled(DeviceType::cpu));
  // torch.autocast("cpu", dtype=torch.float32): F.linear(bf16, bf16) stays bfloat16
  const auto y = linear(Tensor::ones({1, 3}, TensorOptions().dtype(kBFloat16)), Tensor::ones({2, 3}, TensorOptions().dtype(kBFloat16)));
  CHECK(y.dtype() == kBFloat16);
}
