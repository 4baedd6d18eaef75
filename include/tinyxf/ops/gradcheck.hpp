#pragma once
// gradcheck: compares autograd's gradients with central finite differences, in double.
// f maps the inputs to one output; we check d<f, w>/d input for a fixed random weight w, which
// exercises every output element's backward at once.
#include <cmath>
#include <functional>
#include <sstream>

#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // names the input and element of the worst mismatch
  double max_abs_error = 0;
};

inline GradcheckResult gradcheck(
    const std::function<Tensor(const std::vector<Tensor>&)>& f,
    std::vector<Tensor> inputs, GradcheckOptions opt = {}) {
  GradcheckResult result;
  for (auto& in : inputs) {
    in = in.detach().contiguous().clone();  // own, contiguous storage we can perturb
    in.set_requires_grad(true);
  }
  Tensor out = f(inputs);
  const Device dev = out.device();
  Generator gen(1234);
  Tensor weight = Tensor::uniform(out.shape(), -1.0, 1.0, TensorOptions(dev).dtype(kFloat64), gen);
  auto objective = [&](const std::vector<Tensor>& xs) {
    NoGradGuard ng;
    const auto y = f(xs).to_vector<double>();
    const auto w = weight.to_vector<double>();
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * w[i];
    return s;
  };
  if (out.requires_grad()) sum(mul(out, weight)).backward();
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    const std::vector<double> analytic =
        x.grad().defined() ? x.grad().to_vector<double>() : std::vector<double>(static_cast<std::size_t>(x.numel()), 0.0);
    std::vector<double> values = x.to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double orig = values[i];
      auto eval_at = [&](double v) {
        values[i] = v;
        NoGradGuard ng;
        x.copy_(Tensor::from_vector(values, x.shape(), x.device()));
        return objective(inputs);
      };
      const double numeric = (eval_at(orig + opt.eps) - eval_at(orig - opt.eps)) / (2 * opt.eps);
      eval_at(orig);
      const double err = std::abs(numeric - analytic[i]);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (err > opt.atol + opt.rtol * std::abs(numeric) && result.ok) {
        result.ok = false;
        std::ostringstream os;
        os << "gradcheck: input " << k << " element " << i << ": analytic " << analytic[i]
           << " vs numeric " << numeric << " (shape " << shape_str(x.shape()) << ")";
        result.message = os.str();
      }
    }
  }
  return result;
}

}  // namespace tinyxf
