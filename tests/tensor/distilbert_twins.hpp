#pragma once
// Test helpers of the fused-op tests: element differences, and a tiny DistilBERT run twice with
// one switch flipped (fused ops or their composition) on the same weights and dropout masks, so
// logits and every parameter gradient must agree.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/tinyxf.hpp"

namespace tinyxf::testing {

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.defined());
  REQUIRE(b.defined());
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(static_cast<double>(x[i]) - y[i]));
  return m;
}

using Classifier = models::DistilBertForSequenceClassification;

// set_fused(model, fused) flips the switch under test on a freshly built model.
inline void check_distilbert_twins(const std::string& activation, const std::function<void(Classifier&, bool)>& set_fused) {
  models::DistilBertConfig c;
  c.vocab_size = 50, c.dim = 24, c.n_layers = 2, c.n_heads = 3, c.hidden_dim = 40, c.max_position_embeddings = 16;
  c.dropout = 0.1, c.attention_dropout = 0.2;
  c.activation = activation;
  auto ids = Tensor::from_vector(std::vector<std::int64_t>{5, 7, 9, 11, 2, 0, 0, 3, 4, 5, 6, 7, 8, 9}, {2, 7});
  auto mask = Tensor::from_vector(std::vector<std::int64_t>{1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1}, {2, 7});
  auto labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1});
  std::vector<std::vector<Tensor>> grads;
  std::vector<Tensor> logits;
  for (bool fused : {true, false}) {
    default_generator().set_state(123, 0);
    Classifier model(c);
    set_fused(model, fused);
    model.train();
    default_generator().set_state(77, 0);  // the same dropout masks for both
    auto out = model.forward(ids, mask, labels);
    out.loss.backward();
    logits.push_back(out.logits);
    grads.emplace_back();
    for (auto& p : model.parameters()) grads.back().push_back(p.grad());
  }
  CHECK(max_abs_diff(logits[0], logits[1]) < 1e-5);
  REQUIRE(grads[0].size() == grads[1].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i) {
    INFO("parameter " << i);
    REQUIRE(grads[0][i].defined() == grads[1][i].defined());
    if (grads[0][i].defined()) CHECK(max_abs_diff(grads[0][i], grads[1][i]) < 1e-5);
  }
}

}  // namespace tinyxf::testing
