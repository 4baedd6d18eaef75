#pragma once
// A small bfloat16 pipeline — elementwise ops, bias_gelu, dropout, packed attention with dropout,
// a squared-sum loss — run by the cpu test (autocast_test.cpp) and the CUDA test on its device,
// and the yardstick both use for its gradients.
//
// Why a yardstick against float64 and not "equal to the cpu's bf16 result": each bf16 op rounds
// its output, and the gradients sum many rounded terms that partly cancel, so two correct
// implementations that round in different places disagree by far more than an ulp. tinyxf's own
// cpu kernel sets do: the avx512 and avx2 bf16 gradients of this pipeline differ in 22 of 768
// input-gradient elements by more than 5 % (the worst: -0.328 vs -0.193), while each stays within
// ~3 % (relative L2) of the float64 result. A wrong kernel (an index, a missing term, a sign) is
// off by tens of percent.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "tinyxf/tinyxf.hpp"

namespace tinyxf::testing {

struct Bf16Pipeline {
  std::vector<float> out, grad_x, grad_bias;
  DType hidden_dtype = kFloat32, out_dtype = kFloat32;
};

// The same bf16 inputs on every call; `dtype` is what the pipeline computes in on `device`
// (kBFloat16, or kFloat64 for the reference result).
inline Bf16Pipeline run_bf16_pipeline(const Device& device, DType dtype) {
  Generator gen(23);
  const auto x = Tensor::randn({4, 6, 32}, Device::cpu(), gen).to(kBFloat16);
  const auto bias = Tensor::randn({32}, Device::cpu(), gen).to(kBFloat16);
  auto xd = x.to(dtype).to(device).detach().set_requires_grad(), bd = bias.to(dtype).to(device).detach().set_requires_grad();
  Generator drop(3);
  auto h = dropout(bias_gelu(xd * 1.5 + xd, bd), 0.2, true, drop);
  auto qkv = cat({h, h * 0.5, h - 0.25}, -1);  // [4, 6, 96]: 2 heads of 16
  auto mask = Tensor::ones({4, 1, 1, 6}, TensorOptions(device).dtype(kBool));
  auto out = scaled_dot_product_attention_packed(qkv, 2, mask, 0.1, false, std::nullopt, drop);
  (out.to(kFloat32) * out.to(kFloat32)).sum().backward();
  return {out.to(kFloat32).to_vector<float>(), xd.grad().to(kFloat32).to_vector<float>(),
          bd.grad().to(kFloat32).to_vector<float>(), h.dtype(), out.dtype()};
}

// "" when `got` is within bf16 rounding noise of the float64 `truth`: relative L2 error at most
// `max_relative_l2`, and no element off by more than `max_element_error` times the largest |truth|;
// otherwise what broke the bound.
inline std::string beyond_bf16_noise(const std::vector<float>& got, const std::vector<float>& truth,
                                     double max_relative_l2 = 0.06, double max_element_error = 0.1) {
  if (got.size() != truth.size()) return "size " + std::to_string(got.size()) + " vs " + std::to_string(truth.size());
  double err2 = 0, norm2 = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    err2 += (static_cast<double>(got[i]) - truth[i]) * (static_cast<double>(got[i]) - truth[i]);
    norm2 += static_cast<double>(truth[i]) * truth[i];
    scale = std::max(scale, std::abs(static_cast<double>(truth[i])));
  }
  const double relative_l2 = std::sqrt(err2 / std::max(norm2, 1e-300));
  if (!(relative_l2 <= max_relative_l2))
    return "relative L2 error " + std::to_string(relative_l2) + " > " + std::to_string(max_relative_l2);
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(static_cast<double>(got[i]) - truth[i]) <= max_element_error * scale))
      return "element " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " + std::to_string(truth[i]) +
             " (largest |value| " + std::to_string(scale) + ")";
  return {};
}

}  // namespace tinyxf::testing
