// torch.sort, torch.argsort, torch.msort and torch.topk against values, indices and gradients
// printed by torch 2.15 (each expression in the comment above its check), and their argument
// errors. Every backend's kernel is also compared with the reference by the conformance catalogue
// (sort_*, topk_*).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Contains;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

namespace {
using I = std::vector<std::int64_t>;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
// x = torch.tensor([3., nan, -inf, 1., -0.0, 0.0, nan, inf, 1.])
Tensor specials(Device d) { return Tensor::from_vector<float>({3, NAN, -INFINITY, 1, -0.0f, 0, NAN, INFINITY, 1}, {9}, d); }
// m = torch.tensor([[0.5, -1.25, 2.0], [3.0, 4.5, -6.0], [2.0, 2.0, -1.0]], dtype=torch.float64)
Tensor m_leaf(Device d) {
  return Tensor::from_vector<double>({0.5, -1.25, 2.0, 3.0, 4.5, -6.0, 2.0, 2.0, -1.0}, {3, 3}, d).set_requires_grad(true);
}
// The values as text, so that NaN compares and -0.0 differs from 0.0.
std::vector<std::string> spelled(const Tensor& t) {
  std::vector<std::string> out;
  for (double v : t.to(kFloat64).to_vector<double>())
    out.push_back(std::isnan(v) ? "nan" : (v == 0 && std::signbit(v)) ? "-0" : std::to_string(v));
  return out;
}
}  // namespace

TEST_CASE("sort puts NaN last ascending and first descending, stably, as torch", "[parity][sort]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    const Tensor x = specials(d);
    // torch.sort(x) -> [-inf, -0., 0., 1., 1., 3., inf, nan, nan], [2, 4, 5, 3, 8, 0, 7, 1, 6]
    auto [v, i] = sort(x);
    CHECK(i.dtype() == kInt64);
    CHECK(i.to_vector<std::int64_t>() == I{2, 4, 5, 3, 8, 0, 7, 1, 6});
    CHECK(spelled(v) == spelled(Tensor::from_vector<float>({-INFINITY, -0.0f, 0, 1, 1, 3, INFINITY, NAN, NAN}, {9}, d)));
    // torch.sort(x, descending=True) -> [nan, nan, inf, 3., 1., 1., -0., 0., -inf], [1, 6, 7, 0, 3, 8, 4, 5, 2]
    auto desc = sort(x, -1, true);
    CHECK(desc.indices.to_vector<std::int64_t>() == I{1, 6, 7, 0, 3, 8, 4, 5, 2});
    CHECK(spelled(desc.values)[6] == "-0");
    // stable=True gives the same (torch's CPU sort is stable either way)
    CHECK(sort(x, 0, true, true).indices.to_vector<std::int64_t>() == I{1, 6, 7, 0, 3, 8, 4, 5, 2});
    // torch.argsort(x) is sort's indices
    CHECK(argsort(x).to_vector<std::int64_t>() == I{2, 4, 5, 3, 8, 0, 7, 1, 6});
  }
}

TEST_CASE("sort along any dim of views, its gradient back to the sources", "[parity][sort]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    auto m = m_leaf(d);
    // v, i = torch.sort(m, dim=0); v.backward(torch.arange(9.).reshape(3, 3))
    auto [v, i] = sort(m, 0);
    CHECK(v.to_vector<double>() == std::vector<double>{0.5, -1.25, -6.0, 2.0, 2.0, -1.0, 3.0, 4.5, 2.0});
    CHECK(i.to_vector<std::int64_t>() == I{0, 0, 1, 2, 2, 2, 1, 1, 0});
    v.backward(Tensor::arange(9.0, TensorOptions(d).dtype(kFloat64)).reshape({3, 3}));
    CHECK(m.grad().to_vector<double>() == std::vector<double>{0, 1, 8, 6, 7, 2, 3, 4, 5});
    // torch.sort(m.t(), dim=1, descending=True).indices -> [[1, 2, 0], [1, 2, 0], [0, 2, 1]]
    CHECK(sort(m.detach().t(), 1, true).indices.to_vector<std::int64_t>() == I{1, 2, 0, 1, 2, 0, 0, 2, 1});
    // torch.argsort(m, dim=-1, descending=True) -> [[2, 0, 1], [1, 0, 2], [0, 1, 2]]
    CHECK(argsort(m.detach(), -1, true).to_vector<std::int64_t>() == I{2, 0, 1, 1, 0, 2, 0, 1, 2});
    // torch.msort(m) -> torch.sort(m, 0).values
    CHECK(msort(m.detach()).to_vector<double>() == std::vector<double>{0.5, -1.25, -6.0, 2.0, 2.0, -1.0, 3.0, 4.5, 2.0});
  }
}

TEST_CASE("sort and topk of integers, bool and 16-bit floats, as torch", "[parity][sort][topk]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    // torch.sort(torch.tensor([9007199254740993, 9007199254740992, -5])).indices -> [2, 1, 0] (exact int64)
    CHECK(argsort(Tensor::from_vector<std::int64_t>({9007199254740993, 9007199254740992, -5}, {3}, d))
              .to_vector<std::int64_t>() == I{2, 1, 0});
    // torch.sort(torch.tensor([3, 255, 2], dtype=torch.uint8), descending=True).indices -> [1, 0, 2]
    auto u8 = Tensor::from_vector<std::int64_t>({3, 255, 2}, {3}, d).to(kUInt8);
    CHECK(sort(u8, -1, true).indices.to_vector<std::int64_t>() == I{1, 0, 2});
    CHECK(sort(u8, -1, true).values.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{255, 3, 2});
    // torch.topk(torch.tensor([4, -7, 4, 9], dtype=torch.int32), 2).indices -> [3, 2]
    CHECK(topk(Tensor::from_vector<std::int64_t>({4, -7, 4, 9}, {4}, d).to(kInt32), 2).indices.to_vector<std::int64_t>() ==
          I{3, 2});
    // torch.sort(torch.tensor([True, False, True, False]), descending=True).indices -> [0, 2, 1, 3]
    auto flags = Tensor::from_vector<std::uint8_t>({1, 0, 1, 0}, {4}, d).to(kBool);
    CHECK(sort(flags, -1, true).indices.to_vector<std::int64_t>() == I{0, 2, 1, 3});
    CHECK(sort(flags, -1, true).values.dtype() == kBool);
    // b = torch.tensor([1.5, nan, -2., 1.5, 0.1], dtype=torch.bfloat16)
    // torch.sort(b) -> [-2.0, 0.10009765625, 1.5, 1.5, nan], [2, 4, 0, 3, 1]; torch.topk(b, 2).indices -> [1, 3]
    auto b = Tensor::from_vector<double>({1.5, kNan, -2.0, 1.5, 0.1}, {5}, d).to(kBFloat16);
    auto sb = sort(b);
    CHECK(sb.values.dtype() == kBFloat16);
    CHECK(sb.indices.to_vector<std::int64_t>() == I{2, 4, 0, 3, 1});
    CHECK(spelled(sb.values) == std::vector<std::string>{std::to_string(-2.0), std::to_string(0.10009765625),
                                                         std::to_string(1.5), std::to_string(1.5), "nan"});
    CHECK(topk(b, 2).indices.to_vector<std::int64_t>() == I{1, 3});
    // torch.sort(b.half(), descending=True).indices -> [1, 0, 3, 4, 2]
    CHECK(sort(b.to(kFloat16), -1, true).indices.to_vector<std::int64_t>() == I{1, 0, 3, 4, 2});
  }
}

TEST_CASE("topk takes NaN as the largest and orders ties as torch's CPU topk", "[parity][topk]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    const Tensor x = specials(d);
    // torch.topk(x, 4) -> [nan, nan, inf, 3.], [1, 6, 7, 0]; torch.topk(x, 4, largest=False).indices -> [2, 4, 5, 8]
    auto t4 = topk(x, 4);
    CHECK(t4.indices.to_vector<std::int64_t>() == I{1, 6, 7, 0});
    CHECK(spelled(t4.values) == spelled(Tensor::from_vector<float>({NAN, NAN, INFINITY, 3}, {4}, d)));
    CHECK(topk(x, 4, -1, false).indices.to_vector<std::int64_t>() == I{2, 4, 5, 8});
    // torch.topk(x, 9).indices -> [1, 6, 7, 0, 8, 3, 4, 5, 2];
    // torch.topk(x, 9, largest=False).indices -> [2, 5, 4, 8, 3, 0, 7, 6, 1]
    CHECK(topk(x, 9).indices.to_vector<std::int64_t>() == I{1, 6, 7, 0, 8, 3, 4, 5, 2});
    CHECK(topk(x, 9, 0, false).indices.to_vector<std::int64_t>() == I{2, 5, 4, 8, 3, 0, 7, 6, 1});
    // y = torch.tensor([2., 1., 2., 1., 2.]): torch.topk(y, 3).indices -> [2, 4, 0];
    // torch.topk(y, 3, largest=False).indices -> [1, 3, 0]; torch.topk(y, 2, sorted=False).indices -> [2, 4]
    auto y = Tensor::from_vector<float>({2, 1, 2, 1, 2}, {5}, d);
    CHECK(topk(y, 3).indices.to_vector<std::int64_t>() == I{2, 4, 0});
    CHECK(topk(y, 3, -1, false).indices.to_vector<std::int64_t>() == I{1, 3, 0});
    CHECK(topk(y, 2, -1, true, false).indices.to_vector<std::int64_t>() == I{2, 4});
    // k * 64 <= n takes torch's partial_sort: z = torch.tensor([float((i * 37) % 11) for i in range(130)])
    // torch.topk(z, 2).indices -> [19, 8]; torch.topk(z, 2, largest=False).indices -> [11, 0];
    // torch.topk(z, 3, sorted=False).indices -> [85, 107, 19]
    std::vector<float> zv;
    for (int i = 0; i < 130; ++i) zv.push_back(static_cast<float>((i * 37) % 11));
    auto z = Tensor::from_vector(zv, {130}, d);
    CHECK(topk(z, 2).indices.to_vector<std::int64_t>() == I{19, 8});
    CHECK(topk(z, 2, -1, false).indices.to_vector<std::int64_t>() == I{11, 0});
    CHECK(topk(z, 3, -1, true, false).indices.to_vector<std::int64_t>() == I{85, 107, 19});
  }
}

TEST_CASE("topk's gradient goes to the picked positions; 0-dim and empty tensors", "[parity][topk]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    auto m = m_leaf(d);
    // v, i = torch.topk(m, 2, dim=1) -> [[2., 0.5], [4.5, 3.], [2., 2.]], [[2, 0], [1, 0], [0, 1]]
    // v.backward(torch.tensor([[1., 2.], [3., 4.], [5., 6.]])) -> m.grad [[2, 0, 1], [4, 3, 0], [5, 6, 0]]
    auto [v, i] = topk(m, 2, 1);
    CHECK(v.to_vector<double>() == std::vector<double>{2.0, 0.5, 4.5, 3.0, 2.0, 2.0});
    CHECK(i.to_vector<std::int64_t>() == I{2, 0, 1, 0, 0, 1});
    v.backward(Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2}, d));
    CHECK(m.grad().to_vector<double>() == std::vector<double>{2, 0, 1, 4, 3, 0, 5, 6, 0});
    // s = torch.tensor(5., requires_grad=True); v, i = torch.topk(s, 1); v.backward() -> 5., 0, s.grad 1.
    // (torch.topk(s, 0) is also tensor(5.): a 0-dim result has its one element.)
    auto s = Tensor::scalar(5.0, TensorOptions(d).dtype(kFloat64)).set_requires_grad(true);
    auto ts = topk(s, 1);
    CHECK(ts.values.shape() == Shape{});
    CHECK(ts.indices.item<std::int64_t>() == 0);
    ts.values.backward();
    CHECK(s.grad().item<double>() == 1.0);
    CHECK(topk(s.detach(), 0).values.item<double>() == 5.0);
    CHECK(sort(s.detach()).indices.shape() == Shape{});
    // torch.sort(torch.empty(2, 0), dim=0 / 1) -> indices of shape (2, 0);
    // torch.topk(torch.empty(0, 3), 2, dim=1).indices.shape -> (0, 2)
    auto e = Tensor::zeros({2, 0}, d);
    CHECK(sort(e, 0).indices.shape() == Shape{2, 0});
    CHECK(sort(e, 1).values.shape() == Shape{2, 0});
    CHECK(topk(Tensor::zeros({0, 3}, d), 2, 1).indices.shape() == Shape{0, 2});
    CHECK(topk(e, 0).values.shape() == Shape{2, 0});
  }
}

TEST_CASE("sort and topk refuse bad arguments with torch's reasons", "[parity][sort][topk]") {
  auto y = Tensor::from_vector<float>({2, 1, 2, 1, 2}, {5}, dev);
  // torch.topk(y, 6) / torch.topk(y, -1): RuntimeError: selected index k out of range
  CHECK_THROWS_WITH(topk(y, 6), Contains("selected index k out of range") && Contains("k = 6"));
  CHECK_THROWS_WITH(topk(y, -1), Contains("selected index k out of range") && Contains("k = -1"));
  CHECK_THROWS_WITH(topk(Tensor::scalar(5.0, dev), 2), Contains("selected index k out of range"));
  CHECK_THROWS_WITH(topk(Tensor::zeros({2, 0}, dev), 1), Contains("selected index k out of range"));
  // torch.sort(y, dim=1): IndexError: Dimension out of range (expected to be in range of [-1, 0], but got 1)
  CHECK_THROWS_AS(sort(y, 1), IndexError);
  CHECK_THROWS_AS(topk(y, 1, 2), IndexError);
  CHECK_THROWS_AS(argsort(Tensor::scalar(5.0, dev), 1), IndexError);
  // torch.topk(torch.tensor([True, False]), 1): topk does not support bool dtypes
  CHECK_THROWS_WITH(topk(Tensor::ones({2}, TensorOptions(dev).dtype(kBool)), 1), Contains("does not support bool"));
}
