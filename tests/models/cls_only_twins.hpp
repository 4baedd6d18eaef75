#pragma once
// The [CLS]-only last layer of a sequence classifier (last_layer_cls_only) against the full layer:
// the same model run both ways on one batch must give the same logits and gradients.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tinyxf/tinyxf.hpp"

namespace tinyxf::testing {

// Runs out = forward(model) (an output with logits and loss) with last_layer_cls_only false, then
// true, backward each time; checks that logits and every parameter's gradient agree to 1e-12
// (float64 models: the same function, summed in another order) and returns the gradients of the
// [CLS]-only run by parameter name.
template <class Model, class Forward>
std::map<std::string, std::vector<double>> check_cls_only_matches_full(Model& model, Forward&& forward) {
  std::map<std::string, std::vector<double>> grads[2];
  std::vector<double> logits[2];
  for (const bool cls_only : {false, true}) {
    model.last_layer_cls_only = cls_only;
    model.zero_grad();
    auto out = forward(model);
    out.loss.backward();
    logits[cls_only] = out.logits.template to_vector<double>();
    for (const auto& [name, p] : model.named_parameters())
      if (p.grad().defined()) grads[cls_only][name] = p.grad().template to_vector<double>();
  }
  const auto max_diff = [](const std::vector<double>& x, const std::vector<double>& y) {
    REQUIRE(x.size() == y.size());
    double m = 0;
    for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
    return m;
  };
  CHECK(max_diff(logits[0], logits[1]) <= 1e-12);
  REQUIRE(grads[0].size() == grads[1].size());
  for (const auto& [name, g] : grads[0]) {
    INFO(name);
    REQUIRE(grads[1].count(name) == 1);
    CHECK(max_diff(g, grads[1].at(name)) <= 1e-12);
  }
  return grads[1];
}

}  // namespace tinyxf::testing
