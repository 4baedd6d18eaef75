// The fused GEMM epilogues (bias_gelu, add_layer_norm) against the ops they replace, forward and
// backward, on the cpu and reference backends (the conformance suite compares backends with the
// reference and gradchecks them), and DistilBERT run with and without them.
#include <catch2/catch.hpp>

#include <cmath>

#include "distilbert_twins.hpp"

using namespace tinyxf;
using testing::max_abs_diff;

namespace {

struct Run {
  Tensor out;
  std::vector<Tensor> grads;
};

// One forward + backward of f on leaves made from `shapes` (seeded), with a random upstream gradient.
template <class F>
Run run(Device device, const std::vector<Shape>& shapes, F f) {
  Generator gen(17);
  std::vector<Tensor> leaves;
  for (const auto& s : shapes) leaves.push_back(Tensor::randn(s, device, gen).set_requires_grad());
  Run r;
  r.out = f(leaves);
  sum(r.out * Tensor::randn(r.out.shape(), device, gen)).backward();
  for (auto& l : leaves) r.grads.push_back(l.grad());
  return r;
}

void check_close(const Run& a, const Run& b, double fwd_tol, double bwd_tol) {
  CHECK(max_abs_diff(a.out, b.out) <= fwd_tol);
  REQUIRE(a.grads.size() == b.grads.size());
  for (std::size_t i = 0; i < a.grads.size(); ++i) {
    INFO("gradient of input " << i);
    REQUIRE(a.grads[i].defined() == b.grads[i].defined());
    if (a.grads[i].defined()) CHECK(max_abs_diff(a.grads[i], b.grads[i]) <= bwd_tol);
  }
}

}  // namespace

TEST_CASE("bias_gelu equals gelu(y + bias), forward and backward", "[fused]") {
  // 37 rows of 1030: several row blocks and threads, rows and columns not multiples of the SIMD width.
  const std::vector<Shape> shapes{{37, 1030}, {1030}};
  for (Device device : {Device::cpu(), Device::reference()}) {
    for (const char* approximate : {"none", "tanh"}) {
      INFO(device.str() << " approximate " << approximate);
      const Run fused = run(device, shapes, [&](const auto& x) { return bias_gelu(x[0], x[1], approximate); });
      const Run composed = run(device, shapes, [&](const auto& x) { return bias_gelu_composed(x[0], x[1], approximate); });
      // The same rounding of y + bias and the same gelu formulas: the activations agree to the bit,
      // grad_y too; grad_bias is a column sum taken in another order.
      CHECK(fused.out.to_vector<float>() == composed.out.to_vector<float>());
      CHECK(fused.grads[0].to_vector<float>() == composed.grads[0].to_vector<float>());
      CHECK(max_abs_diff(fused.grads[1], composed.grads[1]) < 1e-4);
    }
  }
}

TEST_CASE("add_layer_norm equals layer_norm((x + bias) + residual), forward and backward", "[fused]") {
  const std::vector<Shape> shapes{{3, 13, 77}, {3, 13, 77}, {77}, {77}, {77}};
  for (Device device : {Device::cpu(), Device::reference()}) {
    for (bool with_bias : {false, true}) {
      INFO(device.str() << " bias " << with_bias);
      const auto bias = [with_bias](const auto& x) { return with_bias ? x[4] : Tensor(); };
      const Run fused = run(device, shapes, [&](const auto& x) {
        return add_layer_norm(x[0], x[1], x[2], x[3], 1e-12, bias(x));
      });
      const Run composed = run(device, shapes, [&](const auto& x) {
        return add_layer_norm_composed(x[0], x[1], x[2], x[3], 1e-12, bias(x));
      });
      check_close(fused, composed, 1e-6, 1e-5);
      CHECK(fused.grads[0].to_vector<float>() == fused.grads[1].to_vector<float>());  // x and residual alike
      CHECK(fused.grads[4].defined() == with_bias);
    }
  }
}

TEST_CASE("fused epilogues check their arguments and record no graph without grad", "[fused]") {
  auto y = Tensor::randn({4, 6});
  CHECK_THROWS_WITH(bias_gelu(y, Tensor::zeros({5})), Catch::Contains("[5]") && Catch::Contains("[4, 6]"));
  CHECK_THROWS_WITH(bias_gelu(y, Tensor::zeros({6}), "erf"), Catch::Contains("approximate"));
  CHECK_THROWS_WITH(add_layer_norm(y, Tensor::zeros({4, 5})), Catch::Contains("residual of shape [4, 5]"));
  CHECK_THROWS_WITH(add_layer_norm(y, y, Tensor::ones({5})), Catch::Contains("gamma of shape [5]"));
  CHECK_THROWS_WITH(add_layer_norm(y, y, {}, {}, 1e-5, Tensor::ones({4})), Catch::Contains("bias of shape [4]"));
  auto p = Tensor::randn({4, 6}).set_requires_grad();
  NoGradGuard no_grad;
  CHECK(bias_gelu(p, Tensor::zeros({6})).grad_fn() == nullptr);
  CHECK(add_layer_norm(p, p).grad_fn() == nullptr);
}

TEST_CASE("DistilBERT gives the same logits and gradients with fused and composed epilogues", "[fused][models]") {
  for (const char* activation : {"gelu", "gelu_new"}) {
    INFO("activation " << activation);
    testing::check_distilbert_twins(activation, [](testing::Classifier& model, bool fused) {
      for (auto& layer : *model.distilbert->transformer->layer) {
        layer->fused_add_layer_norm = fused;
        layer->ffn->fused_bias_gelu = fused;
      }
    });
  }
}
