// Tensor core: factories, views, layout, devices and dtypes, element access, printing, xtensor
// interop, error messages, and the autograd engine's contract.
#include <catch2/catch.hpp>

#include <sstream>

#include "tinyxf/tensor.hpp"
#include "tinyxf/interop/xtensor.hpp"

using namespace tinyxf;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

TEST_CASE("factories and element access", "[tensor]") {
  auto z = Tensor::zeros({2, 3}, dev);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones({4}, TensorOptions(dev).dtype(kFloat64)).to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(Tensor::full({2}, 7, TensorOptions(dev).dtype(kInt64)).to_vector<std::int64_t>() == std::vector<std::int64_t>{7, 7});
  CHECK(Tensor::arange(4, TensorOptions(dev).dtype(kInt64)).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(Tensor::arange(1.0f, 2.0f, 0.25f, dev).numel() == 4);
  auto v = Tensor::from_vector(std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}, {2, 3}, dev);
  CHECK(v.at<std::int32_t>({1, 2}) == 6);
  CHECK(Tensor::scalar(2.5f, dev).item() == 2.5f);
  CHECK_THROWS_WITH(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}, dev), Catch::Contains("3 values") && Catch::Contains("[2, 2]"));
  CHECK_THROWS_WITH(v.at<std::int32_t>({2, 0}), Catch::Contains("index 2 out of range"));
  CHECK_THROWS_WITH(z.item(), Catch::Contains("6 elements"));
}

TEST_CASE("random factories are seedable and identical across backends", "[tensor]") {
  Generator g1(42), g2(42), g3(43);
  auto a = Tensor::randn({1000}, dev, g1);
  auto b = Tensor::randn({1000}, Device::reference(), g2);
  auto c = Tensor::randn({1000}, dev, g3);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  const auto values = a.to_vector<float>();
  double mean_v = 0, var = 0;
  for (float x : values) mean_v += x;
  mean_v /= 1000;
  for (float x : values) var += (x - mean_v) * (x - mean_v);
  var /= 1000;
  CHECK(std::abs(mean_v) < 0.1);
  CHECK(std::abs(var - 1.0) < 0.15);
  auto u = Tensor::uniform({500}, -2.0, 3.0, TensorOptions(dev).dtype(kFloat64), g1).to_vector<double>();
  CHECK(*std::min_element(u.begin(), u.end()) >= -2.0);
  CHECK(*std::max_element(u.begin(), u.end()) < 3.0);
  manual_seed(7);
  auto r1 = Tensor::rand({5}, dev);
  manual_seed(7);
  CHECK(Tensor::rand({5}, dev).to_vector<float>() == r1.to_vector<float>());
}

TEST_CASE("views share storage; contiguous and reshape copy only when needed", "[tensor]") {
  auto x = Tensor::arange(12.0f, dev).reshape({3, 4});
  auto t = x.t();
  CHECK(t.shares_storage(x));
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.at<float>({1, 2}) == 9.0f);
  CHECK(t.contiguous().to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK_FALSE(t.contiguous().shares_storage(x));
  auto n = x.narrow(1, 1, 2);
  CHECK(n.shares_storage(x));
  CHECK(n.to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10});
  CHECK(x.slice(0, 1, 3).select(1, 0).to_vector<float>() == std::vector<float>{4, 8});
  CHECK(x.unsqueeze(0).shape() == Shape{1, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{3, 4, 1});
  CHECK(x.unsqueeze(0).squeeze().shape() == Shape{3, 4});
  auto e = Tensor::arange(3.0f, dev).reshape({3, 1}).expand({2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.at<float>({1, 2, 3}) == 2.0f);
  CHECK(x.reshape({2, -1}).shares_storage(x));
  CHECK_FALSE(t.reshape({12}).shares_storage(x));  // a transposed view cannot be flattened in place
  CHECK(t.reshape({12}).to_vector<float>() == t.contiguous().to_vector<float>());
  CHECK(x.permute({1, 0}).to_vector<float>() == t.to_vector<float>());
  CHECK(x.flatten().shape() == Shape{12});
  CHECK_THROWS_WITH(t.view({12}), Catch::Contains("view") && Catch::Contains("reshape"));
  CHECK_THROWS_WITH(x.reshape({5, -1}), Catch::Contains("[3, 4]"));
  CHECK_THROWS_WITH(x.narrow(1, 3, 2), Catch::Contains("out of bounds for dim 1"));
  CHECK_THROWS_WITH(x.expand({3, 5}), Catch::Contains("cannot expand"));
  CHECK_THROWS_WITH(x.permute({0, 0}), Catch::Contains("repeated"));
  CHECK_THROWS_WITH(x.sum({2}), Catch::Contains("dim 2 out of range"));
}

TEST_CASE("cat, stack, dtype and device moves", "[tensor]") {
  auto a = Tensor::ones({2, 2}, dev), b = Tensor::zeros({1, 2}, dev);
  CHECK(cat(std::vector{a, b}, 0).to_vector<float>() == std::vector<float>{1, 1, 1, 1, 0, 0});
  CHECK(stack(std::vector{b, b}, 0).shape() == Shape{2, 1, 2});
  CHECK_THROWS_WITH(cat(std::vector{a, b}, 1), Catch::Contains("cat") && Catch::Contains("[1, 2]"));
  auto d = Tensor::from_vector(std::vector<float>{1.5f, -2.5f}, dev).to(kFloat64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.5});
  CHECK(Tensor::from_vector(std::vector<float>{1.9f, -2.9f}, dev).to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, -2});
  auto moved = a.to(Device::reference());
  CHECK(moved.device() == Device::reference());
  CHECK(moved.to_vector<float>() == a.to_vector<float>());
  CHECK_THROWS_WITH(a + moved, Catch::Contains("different devices"));
  CHECK_THROWS_WITH(a.to(Device::cuda(0)).numel(), Catch::Contains("cuda:0"));
}

TEST_CASE("broadcasting and errors that name the op and shapes", "[tensor]") {
  auto a = Tensor::ones({4, 1, 3}, dev), b = Tensor::ones({5, 1}, dev);
  CHECK((a + b).shape() == Shape{4, 5, 3});
  auto c = Tensor::ones({2, 3}, dev);
  auto d = Tensor::ones({2, 4}, dev);
  CHECK_THROWS_WITH(a + d, Catch::Contains("add") && Catch::Contains("[4, 1, 3]") && Catch::Contains("[2, 4]"));
  CHECK_THROWS_WITH(matmul(c, c), Catch::Contains("matmul") && Catch::Contains("3 != 2"));
  CHECK_THROWS_WITH(linear(c, Tensor::ones({4, 5}, dev)), Catch::Contains("linear"));
  CHECK_THROWS_WITH(layer_norm(c, {4}), Catch::Contains("normalized_shape [4]"));
  CHECK_THROWS_WITH(softmax(c, 2), Catch::Contains("softmax") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(gelu(c, "fast"), Catch::Contains("approximate"));
  CHECK_THROWS_WITH(dropout(c, 1.5, true), Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(masked_fill(c, Tensor::ones({3, 3}, TensorOptions(dev).dtype(kInt64)), 0.0f), Catch::Contains("masked_fill"));
  Tensor undefined;
  CHECK_THROWS_WITH(undefined.shape(), Catch::Contains("undefined"));
}

TEST_CASE("ops compute the right values", "[tensor]") {
  auto x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, dev);
  CHECK(sum(x, {1}).to_vector<double>() == std::vector<double>{6, 15});
  CHECK(mean(x, {0}, true).shape() == Shape{1, 3});
  CHECK(mean(x).item() == 3.5);
  CHECK(max(x, 1).to_vector<double>() == std::vector<double>{3, 6});
  CHECK(argmax(x, 0).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1, 1});
  auto s = softmax(x, 1).to_vector<double>();
  CHECK(s[0] + s[1] + s[2] == Approx(1.0));
  CHECK(std::exp(log_softmax(x, 1).to_vector<double>()[2]) == Approx(s[2]));
  auto y = gelu(Tensor::from_vector(std::vector<double>{1.0}, dev)).item();
  CHECK(y == Approx(0.8413447460685429));  // 0.5 * (1 + erf(1/sqrt(2)))
  CHECK(gelu(Tensor::from_vector(std::vector<double>{1.0}, dev), "tanh").item() == Approx(0.8411919906082768));
  {  // silu = x * sigmoid(x) and its derivative s (1 + x (1 - s)), values from PyTorch
    auto sx = Tensor::from_vector(std::vector<double>{1.0, -2.0, 0.0, -20.0}, dev);
    sx.set_requires_grad(true);
    auto sy = silu(sx);
    const auto v = sy.to_vector<double>();
    CHECK(v[0] == Approx(0.7310585786300049));
    CHECK(v[1] == Approx(-0.2384058440442351));
    CHECK(v[2] == 0.0);
    CHECK(v[3] == Approx(-4.122307236380407e-08));
    sum(sy).backward();
    const auto g = sx.grad().to_vector<double>();
    CHECK(g[0] == Approx(0.9276705118714869));
    CHECK(g[1] == Approx(-0.09078424878489547));
    CHECK(g[2] == 0.5);
    CHECK(g[3] == Approx(-3.9161918660646786e-08));
  }
  auto ln = layer_norm(x, {3}).to_vector<double>();
  CHECK(ln[0] == Approx(-1.0 / std::sqrt(2.0 / 3.0 + 1e-5)));  // biased variance, eps 1e-5
  auto logits = Tensor::from_vector(std::vector<double>{2.0, 0.0, 0.0, 1.0}, {2, 2}, dev);
  auto loss = cross_entropy(logits, Tensor::from_vector(std::vector<std::int64_t>{0, 1}, dev)).item();
  CHECK(loss == Approx((std::log(1 + std::exp(-2.0)) + std::log(1 + std::exp(-1.0))) / 2));
}

TEST_CASE("autograd: accumulation, zero_grad, detach, no_grad, freed graphs", "[autograd]") {
  auto w = Tensor::from_vector(std::vector<double>{1, 2, 3}, dev).set_requires_grad();
  CHECK(w.is_leaf());
  auto y = sum(w * w);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  y.backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  sum(w * 3.0).backward();  // accumulates
  CHECK(w.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  // A value used twice gets both contributions (diamond graph).
  auto h = w * 2.0;
  sum(h * h + h).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{10, 18, 26});  // d/dw (4w^2 + 2w)
  w.zero_grad();
  // The graph is freed after backward unless retained.
  auto z = sum(exp(w));
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  CHECK(w.grad().to_vector<double>()[0] == Approx(2 * std::exp(1.0)));
  CHECK_THROWS_WITH(z.backward(), Catch::Contains("second time"));
  // detach and NoGradGuard cut the graph.
  CHECK_FALSE((w.detach() * 2.0).requires_grad());
  {
    NoGradGuard ng;
    CHECK_FALSE((w * 2.0).requires_grad());
  }
  CHECK((w * 2.0).requires_grad());
  // Non-scalar outputs need an explicit gradient.
  auto v = w * 2.0;
  CHECK_THROWS_WITH(v.backward(), Catch::Contains("non-scalar"));
  w.zero_grad();
  v.backward(Tensor::from_vector(std::vector<double>{1, 0, -1}, dev));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{2, 0, -2});
  // In-place writes to graph tensors are refused outside NoGradGuard.
  CHECK_THROWS_WITH(w.fill_(0.0), Catch::Contains("NoGradGuard"));
  CHECK_THROWS_WITH(Tensor::ones({2}, TensorOptions(dev).dtype(kInt64)).set_requires_grad(), Catch::Contains("floating"));
  CHECK_THROWS_WITH(sum(w.detach()).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("autograd through views, device moves and dtype casts", "[autograd]") {
  auto w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}, dev).set_requires_grad();
  auto r = w.t().reshape({6}).narrow(0, 1, 3);  // elements w[1,0], w[0,1], w[1,1]
  sum(r * r).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{0, 4, 0, 8, 10, 0});
  w.zero_grad();
  sum(w.to(Device::reference()).to(kFloat64) * 2.0).backward();
  CHECK(w.grad().dtype() == DType::f32);
  CHECK(w.grad().device() == dev);
  CHECK(w.grad().to_vector<float>() == std::vector<float>(6, 2.0f));
  w.zero_grad();
  auto e = embedding(Tensor::from_vector(std::vector<std::int64_t>{1, 0, 1}, dev), w, /*padding_idx=*/0);
  sum(e).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{0, 0, 0, 2, 2, 2});  // padding row gets nothing
}

TEST_CASE("printing", "[tensor]") {
  std::ostringstream os;
  os << Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}, dev);
  CHECK(os.str() == "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=" + dev.str() + ")");
  std::ostringstream big;
  big << Tensor::arange(100, TensorOptions(dev).dtype(kInt64));
  CHECK_THAT(big.str(), Catch::Contains("[0, 1, 2, ..., 97, 98, 99]"));
  std::ostringstream g;
  g << sum(Tensor::ones({2}, TensorOptions(dev).dtype(kFloat64)).set_requires_grad());
  CHECK_THAT(g.str(), Catch::Contains("grad_fn=<sum>"));
}

TEST_CASE("xtensor interop", "[tensor]") {
  auto t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}, dev);
  auto view = as_xtensor<float>(t);
  CHECK(view(1, 2) == 6.0f);
  view(0, 0) = 10.0f;  // zero-copy: writes reach the tensor
  CHECK(t.at<float>({0, 0}) == 10.0f);
  xt::xarray<double> arr = {{1.0, 2.0}, {3.0, 4.0}};
  auto from = from_xtensor(arr * 2.0, dev);
  CHECK(from.shape() == Shape{2, 2});
  CHECK(from.to_vector<double>() == std::vector<double>{2, 4, 6, 8});
  CHECK_THROWS_WITH(as_xtensor<float>(t.t()), Catch::Contains("not contiguous"));
}

// Issue 11, items 1 and 2: element x dtype size wrapped to a tiny allocation that Embedding's
// initialization then overran, and zero-element shapes overflowed their strides. Every size now
// goes through one checked path (core/shape.hpp): elements, strides and bytes at most 2^62.
TEST_CASE("tensor sizes are overflow-checked", "[tensor][sizes]") {
  constexpr std::int64_t two31 = std::int64_t{1} << 31, two62 = std::int64_t{1} << 62;
  // vocab_size x dim of the config.json: 2^62 floats = 2^64 bytes, which wrapped to 0.
  CHECK_THROWS_WITH(Tensor::randn({two31, two31}, dev),
                    Catch::Contains("4611686018427387904 elements of 4 bytes exceed the size limit of 2^62 bytes"));
  CHECK_THROWS_WITH(Tensor::empty({two62, 4}, dev),
                    Catch::Contains("tensor: shape [4611686018427387904, 4] exceeds 2^62 elements"));
  // Zero elements, but strides of 2^62 x 2^62.
  CHECK_THROWS_WITH(Tensor::empty({0, two62, two62}, dev),
                    Catch::Contains("shape [0, 4611686018427387904, 4611686018427387904] exceeds 2^62"));
  CHECK_THROWS_WITH(contiguous_strides({0, two62, two62}), Catch::Contains("strides exceed 2^62"));
  CHECK_THROWS_WITH(shape_numel({two62, two62, 0}), Catch::Contains("more than 2^62 elements"));
  CHECK_THROWS_WITH(shape_numel({3, -1}), Catch::Contains("negative dimension"));
  CHECK(shape_numel({two62, 1}) == two62);
  CHECK(contiguous_strides({0, 3, 5}) == Shape{15, 5, 1});
  CHECK(Tensor::empty({0, 1 << 20, 1 << 20}, dev).numel() == 0);  // large but valid zero-element tensor
  CHECK_THROWS_WITH(checked_byte_count(two62, 8, "storage"), Catch::Contains("storage: "));
  CHECK(checked_byte_count(two62 / 8, 8, "storage") == static_cast<std::size_t>(two62));
  // view/reshape with -1: the product of the known dims used to overflow before the check.
  CHECK_THROWS_WITH(Tensor::zeros({4}, dev).view({two62, two62, -1}), Catch::Contains("more than 2^62 elements"));
}

TEST_CASE("a view cannot reach outside its storage", "[tensor][sizes]") {
  auto t = Tensor::zeros({4}, dev);
  CHECK_NOTHROW(make_view(t.impl(), {2, 2}, {2, 1}, 0));
  CHECK_NOTHROW(make_view(t.impl(), {2}, {1}, 2));
  CHECK_NOTHROW(make_view(t.impl(), {0, 7}, {7, 1}, 100));  // reaches no element
  CHECK_THROWS_WITH(make_view(t.impl(), {2}, {1}, 3), Catch::Contains("reaches outside its storage of 4 elements"));
  CHECK_THROWS_WITH(make_view(t.impl(), {3, 2}, {2, 1}, 0), Catch::Contains("reaches outside"));
  CHECK_THROWS_WITH(make_view(t.impl(), {2}, {1}, -1), Catch::Contains("reaches outside"));
  CHECK_THROWS_WITH(make_view(t.impl(), {2, 2}, {std::int64_t{1} << 62, 1}, 0), Catch::Contains("reaches outside"));
  CHECK_THROWS_WITH(make_view(t.impl(), {2}, {1, 1}, 0), Catch::Contains("2 strides for shape [2]"));
}

// Issue 11, item 9: set_num_threads accepted any positive count.
TEST_CASE("set_num_threads is bounded", "[tensor][threads]") {
  const int before = num_threads();
  CHECK_THROWS_WITH(set_num_threads(0), Catch::Contains("expected a thread count in [1, 1024], got 0"));
  CHECK_THROWS_WITH(set_num_threads(100000), Catch::Contains("got 100000"));
  CHECK(num_threads() == before);
  set_num_threads(kMaxThreads);
  CHECK(num_threads() == kMaxThreads);
  set_num_threads(before);
}

TEST_CASE("set_float32_matmul_precision: PyTorch's names, 'medium' allows bf16 products", "[tensor][matmul][bf16]") {
  CHECK(get_float32_matmul_precision() == "highest");
  CHECK_THROWS_WITH(set_float32_matmul_precision("low"), Catch::Contains("'low'") && Catch::Contains("highest, high or medium"));
  Generator gen(3);
  auto x = Tensor::randn({37, 300}, Device::cpu(), gen).set_requires_grad();
  auto w = Tensor::randn({50, 300}, Device::cpu(), gen).set_requires_grad();
  auto run = [&](const char* precision) {
    set_float32_matmul_precision(precision);
    x.zero_grad();
    w.zero_grad();
    auto y = linear(x, w);
    (y * y).sum().backward();
    set_float32_matmul_precision("highest");
    return std::tuple{y.detach(), x.grad(), w.grad()};
  };
  const auto [y32, gx32, gw32] = run("highest");
  const auto [y16, gx16, gw16] = run("medium");
  CHECK(get_float32_matmul_precision() == "highest");
  // bf16 operands keep 8 significant bits: relative error ~ 2^-8 per product, averaging out
  // over 300 terms; the forward and both backward GEMMs stay close to float32.
  auto rel_err = [](const Tensor& a, const Tensor& b) {
    return tinyxf::max(tinyxf::abs(a - b)).item() / tinyxf::max(tinyxf::abs(b)).item();
  };
  CHECK(rel_err(y16, y32) < 1e-2);
  CHECK(rel_err(gx16, gx32) < 1e-2);
  CHECK(rel_err(gw16, gw32) < 1e-2);
  if (backends::cpu::bf16_products_pay())
    CHECK(rel_err(y16, y32) > 1e-5);  // it did round (float32 products agree to ~1e-6)
  else
    CHECK(rel_err(y16, y32) == 0.0);  // bf16 products would not pay here: float32 products, same kernel

  // The fused attention's GEMMs follow the setting too, forward and backward.
  auto q = Tensor::randn({2, 3, 40, 16}, Device::cpu(), gen).set_requires_grad();
  auto k = Tensor::randn({2, 3, 40, 16}, Device::cpu(), gen).set_requires_grad();
  auto v = Tensor::randn({2, 3, 40, 16}, Device::cpu(), gen).set_requires_grad();
  auto attend = [&](const char* precision) {
    set_float32_matmul_precision(precision);
    for (auto* t : {&q, &k, &v}) t->zero_grad();
    auto o = scaled_dot_product_attention(q, k, v);
    (o * o).sum().backward();
    set_float32_matmul_precision("highest");
    return std::tuple{o.detach(), q.grad(), k.grad(), v.grad()};
  };
  const auto [o32, gq32, gk32, gv32] = attend("highest");
  const auto [o16, gq16, gk16, gv16] = attend("medium");
  CHECK(rel_err(o16, o32) < 2e-2);
  CHECK(rel_err(gq16, gq32) < 2e-2);
  CHECK(rel_err(gk16, gk32) < 2e-2);
  CHECK(rel_err(gv16, gv32) < 2e-2);
  CHECK((rel_err(o16, o32) > 1e-5) == backends::cpu::bf16_products_pay());

  // The packed-QKV entry point runs the same kernels with the same arguments, precision included.
  const auto packed = [&](const char* precision) {
    const Float32MatmulPrecisionGuard guard(precision);
    NoGradGuard no_grad;
    auto qkv = cat(std::vector<Tensor>{q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)}, 2).contiguous().view({2, 40, 3 * 3 * 16});
    return scaled_dot_product_attention_packed(qkv, 3);
  };
  CHECK(rel_err(packed("highest"), o32) < 1e-6);
  CHECK(rel_err(packed("medium"), o16) < 1e-6);
}
