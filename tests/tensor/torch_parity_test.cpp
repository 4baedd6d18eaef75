// Core ops against PyTorch's results in their corner cases: 1-D and empty matmuls, integer sums,
// arange's length, 0-dim tensors, bool arithmetic, the gradient of a full max/min with ties.
// Every expected value was printed by torch.
#include <catch2/catch.hpp>

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
