#pragma once
// clip_grad_norm_: torch.nn.utils.clip_grad_norm_ (error_if_nonfinite = false).
//   total = ‖ [‖g_1‖_p, …, ‖g_n‖_p] ‖_p        over the parameters that have a gradient
//   coef  = min(max_norm / (total + 1e-6), 1)    in float32, like torch
//   g_i  *= coef                                 in place, on each gradient's device
// returns the pre-clip total. A NaN/Inf total is not an error: it propagates into the gradients
// (coef NaN, or 0 for an infinite total), as in torch; the caller decides what to do with it.
// The norms are reduced on the device; only the total comes back to the host. L2 on a backend
// with sum_squares (cpu, reference) is one fused pass over every gradient, without temporaries.
#include <cmath>
#include <limits>

#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

namespace clip_detail {
// ‖x‖_p of all elements as a 0-dim tensor on x's device (p = inf: max |x|).
inline Tensor vector_norm(const Tensor& x, double norm_type) {
  if (x.numel() == 0) return Tensor::zeros({}, x.options());
  const Tensor flat = x.reshape({-1});
  if (std::isinf(norm_type)) return tinyxf::max(tinyxf::abs(flat));
  if (norm_type == 2.0) return tinyxf::sqrt(tinyxf::sum(flat * flat));
  if (norm_type == 1.0) return tinyxf::sum(tinyxf::abs(flat));
  return tinyxf::pow(tinyxf::sum(tinyxf::pow(tinyxf::abs(flat), norm_type)), 1.0 / norm_type);
}

// The total p-norm from per-tensor norms (temporaries per tensor): any norm type, any backend.
inline float composed_total_norm(const std::vector<Tensor>& grads, double norm_type) {
  const Device device = grads.front().device();
  std::vector<Tensor> norms;
  norms.reserve(grads.size());
    DType common = grads.front().dtype();  // per-tensor norms in one dtype so that they stack (as torch)
  for (const auto& g : grads) common = promote_types(common, g.dtype());
  for (const auto& g : grads) norms.push_back(vector_norm(g, norm_type).to(device, common));
  return static_cast<float>(vector_norm(tinyxf::stack(norms), norm_type).item());
}

// L2 through Backend::sum_squares: one pass over all gradients, no temporaries (the backend
// accumulates in double; sqrt of the sum = the norm of the per-tensor norms).
inline bool fused_l2_applies(const std::vector<Tensor>& grads) {
  Backend& backend = grads.front().impl()->backend();
  if (!backend.supports_sum_squares()) return false;
  for (const auto& g : grads)
    if (&g.impl()->backend() != &backend || !g.is_contiguous()) return false;
  return true;
}
inline double fused_sum_squares(const std::vector<Tensor>& grads) {
  thread_local std::vector<KernelView> views;  // capacity reused across steps
  views.clear();
  for (const auto& g : grads) views.push_back(g.impl()->view());
  return grads.front().impl()->backend().sum_squares(views);
}
}  // namespace clip_detail

inline float clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                             double norm_type = 2.0) {
  TINYXF_CHECK(max_norm >= 0.0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  TINYXF_CHECK(norm_type > 0.0, "clip_grad_norm_: norm_type must be > 0 (or infinity), got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < params.size(); ++i) {
    TINYXF_CHECK(params[i].defined(), "clip_grad_norm_: parameter #", i, " is an undefined tensor");
    Tensor g = params[i].grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return 0.0f;

  const float total = norm_type == 2.0 && clip_detail::fused_l2_applies(grads)
                          ? static_cast<float>(std::sqrt(clip_detail::fused_sum_squares(grads)))
                          : clip_detail::composed_total_norm(grads, norm_type);

  // torch: clip_coef = max_norm / (total + 1e-6), evaluated as reciprocal(total + 1e-6) * max_norm
  // in float32, then clamp(max = 1); NaN stays NaN (the comparison below is false for NaN).
  float coef = (1.0f / (total + 1e-6f)) * static_cast<float>(max_norm);
  if (coef > 1.0f) coef = 1.0f;
  // Multiplying by exactly 1 changes no bit (NaN, ±0 and ±Inf included), so skip the kernels.
  if (coef == 1.0f) return total;
  for (auto& g : grads) {
    if (g.numel() == 0) continue;
    // In place (out aliases in), as the autograd engine's gradient accumulation does for `add`.
    run_unary(g.impl()->backend(), g.device().index, UnaryOp::mul_scalar, g.impl()->view(),
              g.impl()->view(), static_cast<double>(coef));
    g.impl()->bump_version();
  }
  return total;
}

}  // namespace tinyxf::optim
