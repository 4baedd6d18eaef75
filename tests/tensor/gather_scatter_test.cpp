// torch.gather, torch.scatter, torch.scatter_add and the in-place scatter_ / scatter_add_, against
// values and gradients printed by torch 2.15 (each expression in the comment above its check), and
// their argument errors. Every backend's kernels are also compared with the reference by the
// conformance catalogue (gather_*, scatter_*) and gradchecked there.
#include <catch2/catch.hpp>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Contains;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

namespace {
Tensor f64(const std::vector<double>& v, const Shape& shape, Device d) {
  return Tensor::from_vector(v, shape, d);
}
Tensor ids(const std::vector<std::int64_t>& v, const Shape& shape, Device d) {
  return Tensor::from_vector(v, shape, d);
}
// x = torch.tensor([[0.5, -1.25, 2.0], [3.0, 4.5, -6.0]], dtype=torch.float64, requires_grad=True)
Tensor x_leaf(Device d) { return f64({0.5, -1.25, 2.0, 3.0, 4.5, -6.0}, {2, 3}, d).set_requires_grad(true); }
}  // namespace

TEST_CASE("gather picks along dim and scatter-adds its gradient, as torch", "[parity][gather]") {
  for (const Device d : {dev, Device::reference()}) {
    auto x = x_leaf(d);
    // y = torch.gather(x, 1, torch.tensor([[2, 0], [1, 1]])); y.backward(torch.tensor([[1., 2.], [3., 4.]]))
    auto y = gather(x, 1, ids({2, 0, 1, 1}, {2, 2}, d));
    CHECK(y.to_vector<double>() == std::vector<double>{2.0, 0.5, 4.5, 4.5});
    y.backward(f64({1, 2, 3, 4}, {2, 2}, d));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 0, 1, 0, 7, 0});  // duplicates summed

    // Transposed input and index, dim 0:
    // xt = x.detach().t().requires_grad_(); it = torch.tensor([[2, 0, 1], [0, 0, 2]]).t()
    // y = torch.gather(xt, 0, it); y.backward(torch.arange(6.).reshape(3, 2))
    //   -> y [[2, 3], [0.5, 3], [-1.25, -6]], xt.grad [[2, 4], [4, 0], [0, 5]]
    auto xt = x.detach().t().set_requires_grad(true);
    auto it = ids({2, 0, 1, 0, 0, 2}, {2, 3}, d).t();
    auto yt = gather(xt, 0, it);
    CHECK(yt.shape() == Shape{3, 2});
    CHECK(yt.to_vector<double>() == std::vector<double>{2, 3, 0.5, 3, -1.25, -6});
    yt.backward(Tensor::arange(6.0, TensorOptions(d).dtype(kFloat64)).reshape({3, 2}));
    CHECK(xt.grad().to_vector<double>() == std::vector<double>{2, 4, 4, 0, 0, 5});

    // dim -1 is the last; the index may be smaller than the input apart from dim and longer along it:
    // torch.gather(x, -1, torch.tensor([[0, 0, 1, 1, 2]])) -> [[0.5, 0.5, -1.25, -1.25, 2.0]]
    CHECK(gather(x.detach(), -1, ids({0, 0, 1, 1, 2}, {1, 5}, d)).to_vector<double>() ==
          std::vector<double>{0.5, 0.5, -1.25, -1.25, 2.0});
    // int32 indices are taken, as torch: torch.gather(x, 1, idx.int()) is the int64 result.
    CHECK(gather(x.detach(), 1, ids({2, 0, 1, 1}, {2, 2}, d).to(kInt32)).to_vector<double>() ==
          std::vector<double>{2.0, 0.5, 4.5, 4.5});
    // A top-k pick on bfloat16:
    // torch.gather(torch.tensor([[1.5, -2.25, 3.0, 0.125]], dtype=torch.bfloat16), 1, torch.tensor([[3, 2, 2]]))
    //   -> [[0.125, 3.0, 3.0]]
    auto b = f64({1.5, -2.25, 3.0, 0.125}, {1, 4}, d).to(kBFloat16);
    auto picked = gather(b, 1, ids({3, 2, 2}, {1, 3}, d));
    CHECK(picked.dtype() == kBFloat16);
    CHECK(picked.to(kFloat64).to_vector<double>() == std::vector<double>{0.125, 3.0, 3.0});
    // 0-dim: torch.gather(torch.tensor(5.), 0, torch.tensor(0)) -> tensor(5.);
    // torch.gather(torch.tensor([5., 6.]), 0, torch.tensor(1)) -> tensor(6.)
    auto g0 = gather(Tensor::scalar(5.0, d), 0, Tensor::scalar(0, TensorOptions(d).dtype(kInt64)));
    CHECK(g0.shape() == Shape{});
    CHECK(g0.item<float>() == 5.0f);
    CHECK(gather(Tensor::from_vector<float>({5, 6}, {2}, d), 0, Tensor::scalar(1, TensorOptions(d).dtype(kInt64)))
              .item<float>() == 6.0f);
    // Empty index, empty result (its sizes are not checked): torch.gather(x, 1, torch.zeros(3, 0, dtype=torch.long))
    CHECK(gather(x.detach(), 1, Tensor::zeros({3, 0}, TensorOptions(d).dtype(kInt64))).shape() == Shape{3, 0});
  }
}

TEST_CASE("scatter writes src or a value into a copy; the last duplicate wins", "[parity][scatter]") {
  for (const Device d : {dev, Device::reference()}) {
    auto x = x_leaf(d);
    auto s = f64({10, 20, 30, 40}, {2, 2}, d).set_requires_grad(true);
    // y = torch.scatter(x, 1, torch.tensor([[2, 0], [1, 2]]), s); y.backward(torch.arange(1., 7.).reshape(2, 3))
    //   -> y [[20, -1.25, 10], [3, 30, 40]], x.grad [[0, 2, 0], [4, 0, 0]], s.grad [[3, 1], [5, 6]]
    auto y = scatter(x, 1, ids({2, 0, 1, 2}, {2, 2}, d), s);
    CHECK(y.to_vector<double>() == std::vector<double>{20, -1.25, 10, 3, 30, 40});
    y.backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 2, 0, 4, 0, 0});
    CHECK(s.grad().to_vector<double>() == std::vector<double>{3, 1, 5, 6});

    // y = torch.scatter(x, 0, torch.tensor([[1, 0, 1]]), -2.5); y.backward(torch.arange(1., 7.).reshape(2, 3))
    //   -> y [[0.5, -2.5, 2], [-2.5, 4.5, -2.5]], x.grad [[1, 0, 3], [0, 5, 0]]
    auto x2 = x_leaf(d);
    auto yv = scatter(x2, 0, ids({1, 0, 1}, {1, 3}, d), -2.5);
    CHECK(yv.to_vector<double>() == std::vector<double>{0.5, -2.5, 2, -2.5, 4.5, -2.5});
    yv.backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(x2.grad().to_vector<double>() == std::vector<double>{1, 0, 3, 0, 5, 0});

    // Duplicates: torch.scatter(x, 1, torch.tensor([[0, 0], [1, 0]]), torch.tensor([[10., 20.], [30., 40.]]))
    //   -> [[20, -1.25, 2], [40, 30, -6]] (torch's cpu; tinyxf keeps the last along dim on every backend)
    CHECK(scatter(x.detach(), 1, ids({0, 0, 1, 0}, {2, 2}, d), s.detach()).to_vector<double>() ==
          std::vector<double>{20, -1.25, 2, 40, 30, -6});
    // Label smoothing's one-hot on 3-D, dim -1:
    // torch.scatter(torch.zeros(2, 2, 4), -1, torch.tensor([[[3], [0]], [[1], [2]]]), 0.9)
    auto hot = scatter(Tensor::zeros({2, 2, 4}, d), -1, ids({3, 0, 1, 2}, {2, 2, 1}, d), 0.9);
    CHECK(hot.to_vector<float>() == std::vector<float>{0, 0, 0, 0.9f, 0.9f, 0, 0, 0, 0, 0.9f, 0, 0, 0, 0, 0.9f, 0});
    // A value into an integer tensor is truncated, as torch:
    // torch.scatter(torch.arange(6).reshape(2, 3), 1, torch.tensor([[0, 0], [1, 0]]), 7.5) -> [[7, 1, 2], [7, 7, 5]]
    auto ints = scatter(Tensor::arange(6, TensorOptions(d).dtype(kInt64)).reshape({2, 3}), 1,
                        ids({0, 0, 1, 0}, {2, 2}, d), 7.5);
    CHECK(ints.to_vector<std::int64_t>() == std::vector<std::int64_t>{7, 1, 2, 7, 7, 5});
    // src larger than the index: only its corner is read; torch.scatter(x, 1, torch.tensor([[0, 0, 0, 0]]),
    // torch.ones(1, 5)) -> [[1, -1.25, 2], [3, 4.5, -6]]. Its gradient is zero outside the corner (torch raises
    // "returned an invalid gradient" there).
    auto big = Tensor::ones({1, 5}, TensorOptions(d).dtype(kFloat64)).set_requires_grad(true);
    auto yb = scatter(x.detach(), 1, ids({0, 0, 0, 0}, {1, 4}, d), big);
    CHECK(yb.to_vector<double>() == std::vector<double>{1, -1.25, 2, 3, 4.5, -6});
    yb.backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(big.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 1, 0});
    // 0-dim: torch.scatter(torch.tensor(5.), 0, torch.tensor(0), 2.0) -> tensor(2.)
    auto z = scatter(Tensor::scalar(5.0, d), 0, Tensor::scalar(0, TensorOptions(d).dtype(kInt64)), 2.0);
    CHECK(z.shape() == Shape{});
    CHECK(z.item<float>() == 2.0f);
  }
}

TEST_CASE("scatter_add sums duplicates; its gradients pass grad and gather it", "[parity][scatter]") {
  for (const Device d : {dev, Device::reference()}) {
    auto x = x_leaf(d);
    auto s = f64({10, 20, 30, 40}, {2, 2}, d).set_requires_grad(true);
    // y = torch.scatter_add(x, 1, torch.tensor([[2, 2], [0, 2]]), s); y.backward(torch.arange(1., 7.).reshape(2, 3))
    //   -> y [[0.5, -1.25, 32], [33, 4.5, 34]], x.grad [[1, 2, 3], [4, 5, 6]], s.grad [[3, 3], [4, 6]]
    auto y = scatter_add(x, 1, ids({2, 2, 0, 2}, {2, 2}, d), s);
    CHECK(y.to_vector<double>() == std::vector<double>{0.5, -1.25, 32, 33, 4.5, 34});
    y.backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(s.grad().to_vector<double>() == std::vector<double>{3, 3, 4, 6});

    // Only one side requiring grad (MoE routing into zeros; a constant src): the same gradients.
    auto routed = f64({10, 20, 30, 40}, {2, 2}, d).set_requires_grad(true);
    scatter_add(Tensor::zeros({2, 3}, TensorOptions(d).dtype(kFloat64)), 1, ids({2, 2, 0, 2}, {2, 2}, d), routed)
        .backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(routed.grad().to_vector<double>() == std::vector<double>{3, 3, 4, 6});
    auto x2 = x_leaf(d);
    scatter(x2, 1, ids({2, 0, 1, 2}, {2, 2}, d), s.detach())
        .backward(Tensor::arange(1.0, 7.0, 1.0, TensorOptions(d).dtype(kFloat64)).reshape({2, 3}));
    CHECK(x2.grad().to_vector<double>() == std::vector<double>{0, 2, 0, 4, 0, 0});
  }
}

TEST_CASE("16-bit scatter_add, gather's and index_select's gradients sum in float32, as torch", "[parity][scatter]") {
  // idx = torch.tensor([0, 0, 0, 0, 0, 1])
  // G = torch.tensor([256, 0.75, 1, 1, 1, 0.5, 0.1, 0.2, 3.3, 1e-3, 7, 8]).reshape(6, 2).bfloat16(); g1 = G[:, 0]
  // (a bfloat16 running sum gives 260: 256 + 1 stays 256; torch sums in float32 and rounds once)
  const auto idx = ids({0, 0, 0, 0, 0, 1}, {6}, dev);
  const auto G = f64({256, 0.75, 1, 1, 1, 0.5, 0.1, 0.2, 3.3, 1e-3, 7, 8}, {6, 2}, dev).to(kBFloat16);
  const auto g1 = G.select(1, 0).contiguous();
  const auto bf16_zeros = [](const Shape& shape) { return Tensor::zeros(shape, TensorOptions(dev).dtype(kBFloat16)); };
  const auto values = [](const Tensor& t) { return t.to(kFloat64).to(Device::cpu()).to_vector<double>(); };
  // torch.scatter_add(torch.zeros(2, dtype=torch.bfloat16), 0, idx, g1) -> [262., 7.]
  CHECK(values(scatter_add(bf16_zeros({2}), 0, idx, g1)) == std::vector<double>{262, 7});
  // torch.scatter_add(torch.zeros(2, dtype=torch.half), 0, idx, torch.tensor([2048, 1, 1, 1, 1, 1.]).half()) -> [2052., 1.]
  const auto ones_after_2048 = f64({2048, 1, 1, 1, 1, 1}, {6}, dev).to(kFloat16);
  CHECK(values(scatter_add(Tensor::zeros({2}, TensorOptions(dev).dtype(kFloat16)), 0, idx, ones_after_2048)) ==
        std::vector<double>{2052, 1});
  // s = torch.full((2,), 2048., dtype=torch.half); s.scatter_add_(0, torch.tensor([0, 0, 0, 0]), torch.ones(4).half())
  // -> [2052., 2048.] (in place: the running value starts from self)
  auto s = Tensor::full({2}, 2048.0, TensorOptions(dev).dtype(kFloat16));
  s.scatter_add_(0, ids({0, 0, 0, 0}, {4}, dev), Tensor::ones({4}, TensorOptions(dev).dtype(kFloat16)));
  CHECK(values(s) == std::vector<double>{2052, 2048});
  // x = torch.zeros(2, dtype=torch.bfloat16, requires_grad=True); torch.gather(x, 0, idx).backward(g1) -> [262., 7.]
  auto x = bf16_zeros({2}).set_requires_grad(true);
  gather(x, 0, idx).backward(g1);
  CHECK(x.grad().dtype() == kBFloat16);
  CHECK(values(x.grad()) == std::vector<double>{262, 7});
  // w = torch.zeros(2, 2, dtype=torch.bfloat16, requires_grad=True); torch.index_select(w, 0, idx).backward(G)
  // -> [[262., 2.4531], [7., 8.]]
  auto w = bf16_zeros({2, 2}).set_requires_grad(true);
  index_select(w, 0, idx).backward(G);
  CHECK(values(w.grad()) == std::vector<double>{262, 2.453125, 7, 8});
}

TEST_CASE("scatter_ and scatter_add_ write in place, outside autograd", "[parity][scatter]") {
  for (const Device d : {dev, Device::reference()}) {
    const auto x = [&] { return f64({0.5, -1.25, 2.0, 3.0, 4.5, -6.0}, {2, 3}, d); };
    // x.clone().scatter_(1, torch.tensor([[1], [0]]), torch.tensor([[7.], [8.]])) -> [[0.5, 7, 2], [8, 4.5, -6]]
    auto a = x();
    const auto version = a.version();
    a.scatter_(1, ids({1, 0}, {2, 1}, d), f64({7, 8}, {2, 1}, d));
    CHECK(a.to_vector<double>() == std::vector<double>{0.5, 7, 2, 8, 4.5, -6});
    CHECK(a.version() == version + 1);
    // x.clone().scatter_add_(0, torch.tensor([[1, 1, 0]]), torch.ones(1, 3)) -> [[0.5, -1.25, 3], [4, 5.5, -6]]
    auto b = x();
    b.scatter_add_(0, ids({1, 1, 0}, {1, 3}, d), Tensor::ones({1, 3}, TensorOptions(d).dtype(kFloat64)));
    CHECK(b.to_vector<double>() == std::vector<double>{0.5, -1.25, 3, 4, 5.5, -6});
    // x.clone().scatter_(1, torch.tensor([[2]]), -1.0) -> [[0.5, -1.25, -1], [3, 4.5, -6]]
    auto c = x();
    c.scatter_(1, ids({2}, {1, 1}, d), -1.0);
    CHECK(c.to_vector<double>() == std::vector<double>{0.5, -1.25, -1, 3, 4.5, -6});
    // Into a transposed view: the storage the view covers is written.
    auto e = x();
    e.t().scatter_(0, ids({2, 0}, {1, 2}, d), 9.0);  // e.t()[2][0] and e.t()[0][1]
    CHECK(e.to_vector<double>() == std::vector<double>{0.5, -1.25, 9, 9, 4.5, -6});

    auto leaf = x().set_requires_grad(true);
    CHECK_THROWS_WITH(leaf.scatter_(1, ids({0}, {1, 1}, d), 1.0), Contains("in-place modification"));
    auto plain = x();
    CHECK_THROWS_WITH(plain.scatter_(1, ids({0}, {1, 1}, d), leaf.narrow(1, 0, 1)), Contains("src requires grad"));
    {
      NoGradGuard ng;
      plain.scatter_add_(1, ids({0}, {1, 1}, d), leaf.narrow(1, 0, 1));
    }
    CHECK(plain.to_vector<double>()[0] == 1.0);
  }
}

TEST_CASE("gather and scatter refuse bad arguments with torch's reasons", "[parity][gather][scatter]") {
  auto x = Tensor::arange(6.0, dev).reshape({2, 3});
  // torch.gather(x, 1, torch.tensor([[0, 5], [1, 0]])): "index 5 is out of bounds for dimension 1 with size 3"
  CHECK_THROWS_WITH(gather(x, 1, ids({0, 5, 1, 0}, {2, 2}, dev)),
                    Contains("gather: index 5 is out of bounds for dimension 1 with size 3"));
  CHECK_THROWS_WITH(gather(x, 1, ids({0, -1, 1, 0}, {2, 2}, dev)),
                    Contains("index -1 is out of bounds for dimension 1 with size 3"));
  // torch.scatter(x, 1, torch.tensor([[0, 0], [1, 3]]), 7.5): "index 3 is out of bounds for dimension 1 with size 3"
  CHECK_THROWS_WITH(scatter(x, 1, ids({0, 0, 1, 3}, {2, 2}, dev), 7.5),
                    Contains("scatter: index 3 is out of bounds for dimension 1 with size 3"));
  CHECK_THROWS_WITH(scatter_add(x, 0, ids({0, 2}, {1, 2}, dev), Tensor::ones({1, 2}, dev)),
                    Contains("scatter_add: index 2 is out of bounds for dimension 0 with size 2"));
  // torch: "gather(): Expected dtype int32/int64 for index"
  CHECK_THROWS_AS(gather(x, 1, ids({0, 0, 1, 0}, {2, 2}, dev).to(kUInt8)), DTypeError);
  CHECK_THROWS_WITH(gather(x, 1, ids({0, 0, 1, 0}, {2, 2}, dev).to(kFloat32)), Contains("int64 or int32"));
  // torch: "Index tensor must have the same number of dimensions as input tensor"
  CHECK_THROWS_WITH(gather(x, 1, ids({0, 0}, {2}, dev)), Contains("same number of dimensions"));
  CHECK_THROWS_AS(gather(x, 1, ids({0, 0}, {2}, dev)), ShapeError);
  // torch: "Size does not match at dimension 0 expected index [3, 2] to be no larger than self [2, 3] apart
  // from dimension 1"
  CHECK_THROWS_WITH(gather(x, 1, Tensor::zeros({3, 2}, TensorOptions(dev).dtype(kInt64))),
                    Contains("expected index [3, 2] to be no larger than the input [2, 3] apart from dimension 1"));
  // torch: "Expected index [1, 4] to be no larger than self [2, 3] apart from dimension 1 and to be no larger size
  // than src [1, 2]"
  CHECK_THROWS_WITH(scatter(x, 1, Tensor::zeros({1, 4}, TensorOptions(dev).dtype(kInt64)), Tensor::ones({1, 2}, dev)),
                    Contains("and to be no larger than src [1, 2]"));
  // torch.scatter(x, 0, torch.tensor([[0, 0, 0, 0]]), 1.0): larger than self apart from dim
  CHECK_THROWS_AS(scatter(x, 0, Tensor::zeros({1, 4}, TensorOptions(dev).dtype(kInt64)), 1.0), ShapeError);
  // torch: "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
  CHECK_THROWS_AS(gather(x, 2, ids({0, 0, 1, 0}, {2, 2}, dev)), IndexError);
  CHECK_THROWS_AS(scatter(x, -3, ids({0, 0, 1, 0}, {2, 2}, dev), 1.0), IndexError);
  // torch: "scatter(): Expected self.dtype to be equal to src.dtype"
  CHECK_THROWS_WITH(scatter(x, 1, ids({0, 0, 1, 0}, {2, 2}, dev), Tensor::ones({2, 2}, TensorOptions(dev).dtype(kInt64))),
                    Contains("expected self.dtype to be equal to src.dtype, got float32 and int64"));
  CHECK_THROWS_AS(scatter_add(x, 1, ids({0, 0, 1, 0}, {2, 2}, dev), Tensor::ones({2, 2}, TensorOptions(dev).dtype(kFloat64))),
                  DTypeError);
  // A value that overflows the dtype, as fill_: torch.scatter(torch.zeros(2, dtype=torch.uint8), 0, idx, 300) raises.
  CHECK_THROWS_AS(scatter(Tensor::zeros({2}, TensorOptions(dev).dtype(kUInt8)), 0, ids({0}, {1}, dev), 300.0), ValueError);
  // A bad index writes nothing: the in-place target is unchanged.
  auto y = Tensor::zeros({2, 3}, dev);
  CHECK_THROWS(y.scatter_(1, ids({0, 0, 1, 3}, {2, 2}, dev), 1.0));
  CHECK(y.to_vector<float>() == std::vector<float>(6, 0.0f));
}
