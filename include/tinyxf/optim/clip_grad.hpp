#pragma once
// clip_grad_value_: torch.nn.utils.clip_grad_value_ (below).
// clip_grad_norm_: torch.nn.utils.clip_grad_norm_ (error_if_nonfinite = false).
//   total = ‖ [‖g_1‖_p, …, ‖g_n‖_p] ‖_p        over the parameters that have a gradient
//   coef  = min(max_norm / (total + 1e-6), 1)    in the total's dtype, like torch: float32 (in
//                                                bfloat16/float16 when every gradient has that
//                                                dtype; in float64 when any gradient is float64)
//   g_i  *= coef                                 in place, on each gradient's device
// returns the pre-clip total (a float32 value unless a gradient is float64). A NaN/Inf total is not an error: it propagates into the gradients
// (coef NaN, or 0 for an infinite total), as in torch; the caller decides what to do with it.
// clip_grad_norm_and_step (below) also steps an optimizer, folding the scaling into its update
// where it can.
// The norms are reduced on the device; only the total comes back to the host. L2 on a backend
// with sum_squares (cpu, reference) is one fused pass over every gradient, without temporaries.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tinyxf/ops/distance.hpp"
#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

namespace clip_detail {
// ‖x‖_p of all elements as a 0-dim tensor on x's device (p = inf: max |x|): torch's
// linalg.vector_norm, so a 16-bit x is reduced in float32 and rounded once to x's dtype (a 16-bit
// model's total norm has its gradients' precision, as in torch).
inline Tensor flat_norm(const Tensor& x, double norm_type) {
  if (x.numel() == 0) return Tensor::zeros({}, x.options());
  return tinyxf::vector_norm(x.reshape({-1}), norm_type);
}

// The dtype of torch's total norm: the per-tensor norms are stacked, so the gradients' promoted dtype.
inline DType total_norm_dtype(const std::vector<Tensor>& grads) {
  DType common = grads.front().dtype();
  for (const auto& g : grads) common = promote_types(common, g.dtype());
  return common;
}

// The total p-norm from per-tensor norms (temporaries per tensor): any norm type, any backend.
inline double composed_total_norm(const std::vector<Tensor>& grads, double norm_type) {
  const Device device = grads.front().device();
  std::vector<Tensor> norms;
  norms.reserve(grads.size());
  const DType common = total_norm_dtype(grads);  // per-tensor norms in one dtype so that they stack (as torch)
  for (const auto& g : grads) norms.push_back(flat_norm(g, norm_type).to(device, common));
  return flat_norm(tinyxf::stack(norms), norm_type).item();
}

// L2 through Backend::sum_squares: one pass over all gradients, no temporaries (the backend
// accumulates in double; sqrt of the sum = the norm of the per-tensor norms). float32/float64
// gradients: 16-bit ones take the composed path, whose norms are rounded to their dtype as torch's.
inline bool fused_l2_applies(const std::vector<Tensor>& grads) {
  Backend& backend = grads.front().impl()->backend();
  if (!backend.supports_sum_squares()) return false;
  for (const auto& g : grads)
    if (&g.impl()->backend() != &backend || !g.is_contiguous() || (g.dtype() != kFloat32 && g.dtype() != kFloat64) ||
        g.dtype() != grads.front().dtype())  // mixed dtypes: torch takes each norm in its own dtype first
      return false;
  return true;
}
inline double fused_sum_squares(const std::vector<Tensor>& grads) {
  thread_local std::vector<KernelView> views;  // capacity reused across steps
  views.clear();
  for (const auto& g : grads) views.push_back(g.impl()->view());
  return grads.front().impl()->backend().sum_squares(views);
}

// v rounded to `dtype` when that is bfloat16/float16 (the value of one of torch's 16-bit tensor ops).
inline float round_to_16bit(float v, DType dtype) {
  if (dtype == kBFloat16) return BFloat16(v);
  if (dtype == kFloat16) return Half(v);
  return v;
}

// The pre-clip total norm of the gradients of `params` (collected into `grads`) and torch's
// coefficient for it: min(max_norm / (total + 1e-6), 1), evaluated as torch's tensor ops
// reciprocal(total + 1e-6) * max_norm in the total's dtype: float64 when a gradient is float64,
// else float32, each op rounded to the total's dtype when that is 16-bit (all gradients
// bfloat16, or all float16); NaN stays NaN.
struct Clip {
  double total = 0.0, coef = 1.0;
};
inline Clip total_and_coef(const std::vector<Tensor>& params, double max_norm, double norm_type, std::vector<Tensor>& grads) {
  TINYXF_CHECK(max_norm >= 0.0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  TINYXF_CHECK(norm_type > 0.0, "clip_grad_norm_: norm_type must be > 0 (or infinity), got ", norm_type);
  for (std::size_t i = 0; i < params.size(); ++i) {
    TINYXF_CHECK(params[i].defined(), "clip_grad_norm_: parameter #", i, " is an undefined tensor");
    Tensor g = params[i].grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return {};
  Clip c;
  const DType dtype = total_norm_dtype(grads);
  c.total = norm_type == 2.0 && fused_l2_applies(grads) ? std::sqrt(fused_sum_squares(grads))
                                                        : composed_total_norm(grads, norm_type);
  if (dtype == kFloat64) {
    c.coef = 1.0 / (c.total + 1e-6) * max_norm;
  } else {
    const auto in_total_dtype = [dtype](float v) { return round_to_16bit(v, dtype); };
    const auto total = static_cast<float>(c.total);
    c.total = total;
    c.coef = in_total_dtype(in_total_dtype(1.0f / in_total_dtype(total + 1e-6f)) * static_cast<float>(max_norm));
  }
  if (c.coef > 1.0) c.coef = 1.0;  // NaN stays NaN (the comparison is false)
  return c;
}
// The coefficient as a gradient of `dtype` is multiplied by it: torch's g.mul_(coef) takes a
// float64 coefficient as a float32 scalar for float32 and 16-bit gradients.
inline double coef_for(double coef, DType dtype) {
  return dtype == kFloat64 ? coef : static_cast<double>(static_cast<float>(coef));
}
// g *= coef in place for every gradient (out aliases in, as the autograd engine's gradient
// accumulation does for `add`).
inline void scale(const std::vector<Tensor>& grads, double total_dtype_coef) {
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    const double coef = coef_for(total_dtype_coef, g.dtype());
    Backend& backend = g.impl()->backend();
    if (is_reduced_floating_point(g.dtype()) && !backend.computes_16bit_floats()) {
      // A backend that stores 16-bit floats only: the front end's g * coef (in float32, rounded
      // once to g's dtype), copied into g.
      const Tensor scaled = g * coef;
      backend.copy(g.impl()->view(), scaled.impl()->view());
      g.impl()->bump_version();
      continue;
    }
    run_unary(backend, g.device().index, UnaryOp::mul_scalar, g.impl()->view(), g.impl()->view(), coef);
    g.impl()->bump_version();
  }
}
// Whether the parameters with a gradient are the same set in `params` and in the optimizer (a
// parameter listed twice in `params` is scaled twice by clip_grad_norm_, as in torch: not folded).
inline bool same_params_with_grad(const std::vector<Tensor>& params, const Optimizer& optimizer) {
  std::vector<const void*> a, b;
  for (const Tensor& p : params)
    if (p.grad().defined()) a.push_back(p.impl().get());
  for (const ParamGroup& group : optimizer.param_groups())
    for (const Tensor& p : group.params)
      if (p.grad().defined()) b.push_back(p.impl().get());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return a == b;
}
}  // namespace clip_detail

inline double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                              double norm_type = 2.0) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  const clip_detail::Clip c = clip_detail::total_and_coef(params, max_norm, norm_type, grads);
  // Multiplying by exactly 1 changes no bit (NaN, ±0 and ±Inf included), so skip the kernels.
  if (c.coef != 1.0) clip_detail::scale(grads, c.coef);
  return c.total;
}

// clip_grad_norm_(params, max_norm, norm_type) followed by optimizer.step(), with the clip's
// scaling folded into the step where the optimizer takes it (Adam/AdamW, float32/float64
// gradients, cpu and reference backends: Optimizer::fold_grad_coef_into_next_step) and
// `params` are the optimizer's parameters: the update is bit for bit the same, one pass over
// every gradient fewer, and the .grad tensors are left unscaled (as torch's fused optimizers
// leave the gradients they unscale themselves). Otherwise it is exactly the two calls.
// Returns the pre-clip total norm.
inline double clip_grad_norm_and_step(const std::vector<Tensor>& params, double max_norm, Optimizer& optimizer,
                                      double norm_type = 2.0) {
  double total = 0.0;
  {
    NoGradGuard no_grad;
    std::vector<Tensor> grads;
    const clip_detail::Clip c = clip_detail::total_and_coef(params, max_norm, norm_type, grads);
    total = c.total;
    // one coefficient for every gradient: the fold needs them all in one dtype
    const bool one_dtype = std::all_of(grads.begin(), grads.end(), [&](const Tensor& g) {
      return g.dtype() == grads.front().dtype();
    });
    if (c.coef != 1.0 && !(one_dtype && clip_detail::same_params_with_grad(params, optimizer) &&
                           optimizer.fold_grad_coef_into_next_step(
                               clip_detail::coef_for(c.coef, grads.front().dtype()))))
      clip_detail::scale(grads, c.coef);
  }
  optimizer.step();
  return total;
}

// torch.nn.utils.clip_grad_value_: clamps each gradient in place to [-clip_value, clip_value]
// (as clamp_min(-v) then clamp_max(v): a negative clip_value sets every element to it, NaN stays
// NaN); parameters without a gradient are skipped.
inline void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    TINYXF_CHECK(params[i].defined(), "clip_grad_value_: parameter #", i, " is an undefined tensor");
    Tensor g = params[i].grad();
    if (!g.defined() || g.numel() == 0) continue;
    const auto bound = [&](double v) { return Tensor::scalar(v, g.options()); };
    g.copy_(tinyxf::minimum(tinyxf::maximum(g, bound(-clip_value)), bound(clip_value)));
  }
}

}  // namespace tinyxf::optim
