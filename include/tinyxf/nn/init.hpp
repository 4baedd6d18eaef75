#pragma once
// Parameter initializers (torch.nn.init), drawing from a Generator so runs are reproducible.
#include <cmath>

#include "tinyxf/nn/module.hpp"

namespace tinyxf::nn::init {

inline void normal_(Tensor& t, double mean, double std, Generator& gen = default_generator()) {
  NoGradGuard ng;
  t.normal_(static_cast<float>(mean), static_cast<float>(std), gen);
}
inline void uniform_(Tensor& t, double low, double high, Generator& gen = default_generator()) {
  NoGradGuard ng;
  t.uniform_(static_cast<float>(low), static_cast<float>(high), gen);
}
inline void zeros_(Tensor& t) {
  NoGradGuard ng;
  t.zero_();
}
inline void ones_(Tensor& t) {
  NoGradGuard ng;
  t.fill_(1.0f);
}
// kaiming_uniform_(a=sqrt(5)) as nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
inline void linear_default_(Tensor& weight, Tensor* bias, Generator& gen = default_generator()) {
  const double fan_in = static_cast<double>(weight.shape()[1]);
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
  uniform_(weight, -bound, bound, gen);
  if (bias && bias->defined()) uniform_(*bias, -bound, bound, gen);
}

}  // namespace tinyxf::nn::init
