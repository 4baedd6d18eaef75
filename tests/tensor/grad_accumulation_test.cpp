// Leaf gradients: a gradient buffer that nothing else holds becomes .grad without a copy; one
// that is shared (the caller's gradient, a value passed through by add, a view) is copied, so
// later writes to either side never show up in the other.
#include <catch2/catch.hpp>

#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;

TEST_CASE("leaf gradients are exclusive to the leaf, stolen or copied", "[autograd]") {
  SECTION("a fresh gradient is kept as it is, and the next backward accumulates into it") {
    auto x = Tensor::from_vector(std::vector<float>{1, 2, 3}).set_requires_grad();
    sum(x * 3.0f).backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{3, 3, 3});
    sum(x * 2.0f).backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{5, 5, 5});
  }
  SECTION("the caller's gradient passed straight through by add is copied") {
    auto a = Tensor::from_vector(std::vector<float>{1, 2}).set_requires_grad();
    auto b = Tensor::from_vector(std::vector<float>{3, 4}).set_requires_grad();
    auto g = Tensor::from_vector(std::vector<float>{10, 20});
    (a + b).backward(g);
    {
      NoGradGuard ng;
      g.zero_();
      a.grad().copy_(a.grad() + 1.0f);
    }
    CHECK(a.grad().to_vector<float>() == std::vector<float>{11, 21});
    CHECK(b.grad().to_vector<float>() == std::vector<float>{10, 20});
    CHECK(g.to_vector<float>() == std::vector<float>{0, 0});
  }
  SECTION("a leaf that is its own root copies the given gradient") {
    auto x = Tensor::from_vector(std::vector<float>{1, 2}).set_requires_grad();
    auto g = Tensor::from_vector(std::vector<float>{4, 5});
    x.backward(g);
    {
      NoGradGuard ng;
      g.zero_();
    }
    CHECK(x.grad().to_vector<float>() == std::vector<float>{4, 5});
  }
}
