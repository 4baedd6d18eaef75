// scaled_dot_product_attention: the fused op against its composition from matmul / masked_fill /
// softmax / dropout (the conformance suite compares backends against the reference and
// gradchecks it), a DistilBERT layer stack run both ways, and the inference path recording no
// graph.
#include <catch2/catch.hpp>

#include <cmath>

#include "distilbert_twins.hpp"

using namespace tinyxf;
using testing::max_abs_diff;

namespace {

struct Run {
  Tensor out, gq, gk, gv;
};

// One forward + backward through either path on the same inputs, the same dropout stream and
// the same upstream gradient.
template <class F>
Run run_attention(Device device, F attention) {
  Generator init(11);
  auto base = Tensor::randn({2, 9, 3, 8}, device, init);  // [B, S, H, E], as projections
  auto q = Tensor::randn({2, 9, 3, 8}, device, init).set_requires_grad();
  auto k = Tensor::randn({2, 9, 3, 8}, device, init).set_requires_grad();
  auto v = (base * 0.5f).detach().set_requires_grad();
  auto keep = Tensor::from_vector(std::vector<std::uint8_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                                                {2, 1, 1, 9}, device);
  Generator gen(2024);
  Run r;
  r.out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), keep, gen);
  auto weight = Tensor::randn(r.out.shape(), device, init);
  sum(r.out * weight).backward();
  r.gq = q.grad();
  r.gk = k.grad();
  r.gv = v.grad();
  return r;
}

}  // namespace

TEST_CASE("fused attention equals the composed ops, with a padding mask and dropout", "[attention]") {
  for (Device device : {Device::cpu(), Device::reference()}) {
    INFO("device " << device.str());
    for (double p : {0.0, 0.3}) {
      INFO("dropout_p " << p);
      const Run fused = run_attention(device, [p](auto q, auto k, auto v, auto keep, Generator& gen) {
        return scaled_dot_product_attention(q, k, v, keep, p, false, std::nullopt, gen);
      });
      const Run composed = run_attention(device, [p](auto q, auto k, auto v, auto keep, Generator& gen) {
        return scaled_dot_product_attention_composed(q, k, v, keep, p, false, std::nullopt, gen);
      });
      CHECK(max_abs_diff(fused.out, composed.out) < 2e-6);
      CHECK(max_abs_diff(fused.gq, composed.gq) < 1e-5);
      CHECK(max_abs_diff(fused.gk, composed.gk) < 1e-5);
      CHECK(max_abs_diff(fused.gv, composed.gv) < 1e-5);
      // The dropout really drops: with p = 0.3 the output differs from p = 0.
      if (p > 0) {
        const Run plain = run_attention(device, [](auto q, auto k, auto v, auto keep, Generator& gen) {
          return scaled_dot_product_attention(q, k, v, keep, 0.0, false, std::nullopt, gen);
        });
        CHECK(max_abs_diff(fused.out, plain.out) > 1e-2);
      }
    }
  }
}

TEST_CASE("fused attention returns its output heads-last and consumes the generator like dropout", "[attention]") {
  auto q = Tensor::randn({2, 4, 5, 8});
  Generator a(7), b(7);
  auto out = scaled_dot_product_attention(q, q, q, {}, 0.5, false, std::nullopt, a);
  // [B, H, L, E] stored as [B, L, H, E]: merging heads back is a view.
  CHECK(out.transpose(1, 2).is_contiguous());
  auto w = dropout(Tensor::ones({2, 4, 5, 5}), 0.5, true, b);
  CHECK(a.offset() == b.offset());
}

TEST_CASE("attention checks its arguments", "[attention]") {
  auto q = Tensor::randn({2, 3, 4, 8});
  auto k = Tensor::randn({2, 3, 5, 8});
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, Tensor::randn({2, 3, 4, 8})),
                    Catch::Contains("do not fit"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q.reshape({6, 4, 8}), k, k), Catch::Contains("[batch, heads, seq, dim]"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, k, Tensor::ones({2, 1, 1, 4}, kUInt8)),
                    Catch::Contains("[2, 1, 1, 4]"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(q, k, k, {}, 1.5), Catch::Contains("dropout_p"));
}

TEST_CASE("DistilBERT gives the same logits and gradients with fused and composed attention", "[attention][models]") {
  testing::check_distilbert_twins("gelu", [](testing::Classifier& model, bool fused) {
    for (auto& layer : *model.distilbert->transformer->layer) layer->attention->fused_attention = fused;
  });
}

TEST_CASE("DistilBERT gives the same logits and gradients with one QKV GEMM and three", "[attention][models]") {
  testing::check_distilbert_twins("gelu", [](testing::Classifier& model, bool fused) {
    for (auto& layer : *model.distilbert->transformer->layer) layer->attention->fused_qkv = fused;
  });
}

TEST_CASE("under NoGradGuard attention records no graph and keeps nothing for backward", "[attention]") {
  auto q = Tensor::randn({1, 2, 4, 8}).set_requires_grad();
  NoGradGuard no_grad;
  auto out = scaled_dot_product_attention(q, q, q);
  CHECK_FALSE(out.requires_grad());
  CHECK(out.grad_fn() == nullptr);
}

TEST_CASE("fused dropout equals x * the bernoulli_scaled mask, forward and backward, bit for bit", "[dropout]") {
  for (Device device : {Device::cpu(), Device::reference()}) {
    for (double p : {1e-4, 0.3, 0.999, 1.0}) {
      INFO(device.str() << " p " << p);
      Generator init(3);
      // 70,000 elements: several blocks and threads on the cpu; a transposed (strided) input.
      auto x = Tensor::randn({350, 200}, device, init).t().detach().set_requires_grad();
      Generator a(99), b(99);
      auto y = dropout(x, p, true, a);
      auto mask = Tensor::empty(x.shape(), device);
      auto [seed, offset] = b.reserve(static_cast<std::uint64_t>(x.numel()));
      mask.impl()->backend().random(RandomKind::bernoulli_scaled, mask.impl()->view(), p, 0.0, seed, offset);
      CHECK(a.offset() == b.offset());
      std::vector<float> want;
      {
        NoGradGuard ng;
        want = (x * mask).to_vector<float>();
      }
      CHECK(y.to_vector<float>() == want);
      auto g = Tensor::randn(x.shape(), device, init);
      sum(y * g).backward();
      std::vector<float> want_grad;
      {
        NoGradGuard ng;
        want_grad = (g * mask).to_vector<float>();
      }
      CHECK(x.grad().to_vector<float>() == want_grad);
    }
  }
}
