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
