#pragma once
// Fused optimizer steps: one pass over param/grad/state, PyTorch's formulas in the reference's
// order. Adam on float32 computes in float lanes as torch does (within a few ulps of the
// reference's double math); SGD, and Adam on float64, in double lanes (float state widened on
// load and rounded once on store).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

// Adam/AdamW on elements [lo, hi) of one contiguous float32 parameter, in float lanes with
// PyTorch's float32 operations in its order (torch.optim computes a float32 parameter's step in
// float32): double lanes made the step compute-bound (a double sqrt and divide per element, 2x
// the time of the memory traffic on AVX-512), float lanes leave it memory-bound.
inline void adam_range(float* p, const float* g, float* m, float* v, const AdamArgs& a, std::int64_t lo,
                       std::int64_t hi) {
  using FBatch = Batch<float>;
  constexpr std::int64_t W = kLanes<float>;
  const bool decoupled = a.decoupled_weight_decay;
  const bool l2 = !decoupled && a.weight_decay != 0.0;
  const FBatch decay(static_cast<float>(1.0 - a.lr * a.weight_decay)), wd(static_cast<float>(a.weight_decay));
  const FBatch b1(static_cast<float>(a.beta1)), b2(static_cast<float>(a.beta2));
  const FBatch omb1(static_cast<float>(1.0 - a.beta1)), omb2(static_cast<float>(1.0 - a.beta2));
  const FBatch sqrt_bc2(static_cast<float>(std::sqrt(a.bias_correction2()))), eps(static_cast<float>(a.eps));
  const FBatch neg_step_size(static_cast<float>(-a.lr / a.bias_correction1()));
  const bool scaled = a.grad_coef != 1.0;
  const FBatch coef(static_cast<float>(a.grad_coef));  // g * grad_coef in float, as mul_scalar
  auto update = [&](float* pp, const float* gp, float* mp, float* vp) {
    FBatch pi = FBatch::load_unaligned(pp), gi = FBatch::load_unaligned(gp);
    // The folded clip coefficient rounds as the separate `g *= coef` pass does (opaque: not
    // fused into the fmas below), so clip_grad_norm_and_step's update is bit for bit the same.
    if (scaled) gi = opaque(gi * coef);
    if (decoupled) pi *= decay;
    else if (l2) gi = xsimd::fma(wd, pi, gi);
    const FBatch mo = xsimd::fma(b1, FBatch::load_unaligned(mp), omb1 * gi);
    const FBatch vo = xsimd::fma(b2, FBatch::load_unaligned(vp), omb2 * (gi * gi));
    const FBatch denom = xsimd::sqrt(vo) / sqrt_bc2 + eps;
    xsimd::fma(neg_step_size, mo / denom, pi).store_unaligned(pp);
    mo.store_unaligned(mp);
    vo.store_unaligned(vp);
  };
  std::int64_t i = lo;
  for (; i + W <= hi; i += W) update(p + i, g + i, m + i, v + i);
  if (i < hi) {  // the tail through padded copies, with the same batch code
    const auto k = static_cast<std::size_t>(hi - i);
    alignas(64) float tp[W] = {}, tg[W] = {}, tm[W] = {}, tv[W] = {};
    std::copy_n(p + i, k, tp);
    std::copy_n(g + i, k, tg);
    std::copy_n(m + i, k, tm);
    std::copy_n(v + i, k, tv);
    update(tp, tg, tm, tv);
    std::copy_n(tp, k, p + i);
    std::copy_n(tm, k, m + i);
    std::copy_n(tv, k, v + i);
  }
}

// Adam/AdamW on elements [lo, hi) of one contiguous float64 parameter.
inline void adam_range(double* p, const double* g, double* m, double* v, const AdamArgs& a, std::int64_t lo,
                       std::int64_t hi) {
  const double bc1 = a.bias_correction1();
  const double bc2 = a.bias_correction2();
  const bool decoupled = a.decoupled_weight_decay;
  const bool l2 = !decoupled && a.weight_decay != 0.0;
  const DBatch decay(1.0 - a.lr * a.weight_decay), wd(a.weight_decay);
  const DBatch b1(a.beta1), b2(a.beta2), omb1(1.0 - a.beta1), omb2(1.0 - a.beta2);
  const DBatch sqrt_bc2(std::sqrt(bc2)), eps(a.eps), step_size(a.lr / bc1);
  // g * grad_coef rounded first, as the unary mul_scalar pass it replaces (opaque: not fused into
  // a later fma).
  const bool scaled = a.grad_coef != 1.0;
  const DBatch coef(a.grad_coef);
  const auto load_grad = [&](std::int64_t i, std::int64_t k) {
    const DBatch gi = k == kDLanes ? load_wide(g + i) : load_wide_partial(g + i, k);
    return scaled ? opaque(gi * coef) : gi;
  };
  auto update = [&](DBatch pi, DBatch gi, DBatch mi, DBatch vi, DBatch& po, DBatch& mo, DBatch& vo) {
    if (decoupled) pi *= decay;
    else if (l2) gi += wd * pi;
    mo = b1 * mi + omb1 * gi;
    vo = b2 * vi + omb2 * gi * gi;
    const DBatch denom = xsimd::sqrt(vo) / sqrt_bc2 + eps;
    po = pi - step_size * mo / denom;
  };
  std::int64_t i = lo;
  DBatch po(0.0), mo(0.0), vo(0.0);
  for (; i + kDLanes <= hi; i += kDLanes) {
    update(load_wide(p + i), load_grad(i, kDLanes), load_wide(m + i), load_wide(v + i), po, mo, vo);
    store_wide(p + i, po);
    store_wide(m + i, mo);
    store_wide(v + i, vo);
  }
  if (i < hi) {
    const std::int64_t k = hi - i;
    update(load_wide_partial(p + i, k), load_grad(i, k), load_wide_partial(m + i, k),
           load_wide_partial(v + i, k), po, mo, vo);
    store_wide_partial(p + i, po, k);
    store_wide_partial(m + i, mo, k);
    store_wide_partial(v + i, vo, k);
  }
}

inline void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                      const KernelView& exp_avg_sq, const AdamArgs& a) {
  check_adam_operands(param, grad, exp_avg, exp_avg_sq);
  dispatch_floating(param.dtype, "adam_step", [&]<class T>(type_tag<T>) {
    parallel_for(0, param.numel(), kGrain, [&](std::int64_t lo, std::int64_t hi) {
      adam_range(param.ptr<T>(), grad.ptr<T>(), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(), a, lo, hi);
    });
  });
}

// ---- multi-tensor kernels: the tensors' elements as one range cut into fixed blocks ----------
namespace multi_detail {

// starts[i] = elements of the tensors before i, starts[n] = the total; scratch kept per thread
// (its capacity survives calls: no allocation once warm).
template <class NumelOf>
inline const std::vector<std::int64_t>& element_starts(std::size_t n, NumelOf&& numel_of) {
  thread_local std::vector<std::int64_t> starts;
  starts.resize(n + 1);
  starts[0] = 0;
  for (std::size_t i = 0; i < n; ++i) starts[i + 1] = starts[i] + numel_of(i);
  return starts;
}

// fn(i, lo, hi) for each tensor i overlapping the global range [lo, hi), with local offsets.
template <class Fn>
inline void for_each_segment(const std::vector<std::int64_t>& starts, std::int64_t lo, std::int64_t hi, Fn&& fn) {
  auto i = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end() - 1, lo) - starts.begin()) - 1;
  while (lo < hi) {
    const std::int64_t e = std::min(hi, starts[i + 1]);
    if (e > lo) fn(i, lo - starts[i], e - starts[i]);
    lo = std::max(lo, e);
    ++i;
  }
}

}  // namespace multi_detail

inline void multi_tensor_adam_step(std::span<const AdamParamViews> params) {
  for (const auto& e : params) check_adam_operands(e.param, e.grad, e.exp_avg, e.exp_avg_sq);
  const auto& starts = multi_detail::element_starts(params.size(), [&](std::size_t i) { return params[i].param.numel(); });
  parallel_for(0, starts.back(), kGrain, [&](std::int64_t lo, std::int64_t hi) {
    multi_detail::for_each_segment(starts, lo, hi, [&](std::size_t i, std::int64_t a, std::int64_t b) {
      const AdamParamViews& e = params[i];
      dispatch_floating(e.param.dtype, "adam_step", [&]<class T>(type_tag<T>) {
        adam_range(e.param.ptr<T>(), e.grad.ptr<T>(), e.exp_avg.ptr<T>(), e.exp_avg_sq.ptr<T>(), e.args, a, b);
      });
    });
  });
}

// Sums of fixed 64K-element blocks, combined in block order: the result does not depend on the
// thread count.
inline double sum_squares(std::span<const KernelView> tensors) {
  constexpr std::int64_t kBlock = std::int64_t{1} << 16;
  for (const KernelView& t : tensors)
    TINYXF_CHECK(t.is_contiguous(), "sum_squares: expected contiguous tensors");
  const auto& starts = multi_detail::element_starts(tensors.size(), [&](std::size_t i) { return tensors[i].numel(); });
  const std::int64_t n_blocks = (starts.back() + kBlock - 1) / kBlock;
  static thread_local std::vector<double> scratch;
  std::vector<double>& parts = scratch;  // a reference, so that pool threads write the caller's
  parts.assign(static_cast<std::size_t>(n_blocks), 0.0);
  parallel_for(0, n_blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      double acc = 0;
      multi_detail::for_each_segment(starts, blk * kBlock, std::min(starts.back(), (blk + 1) * kBlock),
                                     [&](std::size_t i, std::int64_t a, std::int64_t b) {
        dispatch_floating(tensors[i].dtype, "sum_squares", [&]<class T>(type_tag<T>) {
          acc += sum_sq_dev_wide(tensors[i].ptr<T>() + a, b - a, 0.0);
        });
      });
      parts[static_cast<std::size_t>(blk)] = acc;
    }
  });
  double total = 0;
  for (double p : parts) total += p;
  return total;
}

inline void sgd_step(const KernelView& param, const KernelView& grad, const KernelView& buf,
                     const SgdArgs& a) {
  check_step_operand("sgd_step", param, grad, "the gradient");
  const bool momentum = a.momentum != 0.0;
  if (momentum) {
    TINYXF_CHECK(buf.data != nullptr, "sgd_step: momentum ", a.momentum,
                 " needs a momentum buffer");
    check_step_operand("sgd_step", param, buf, "the momentum buffer");
  }
  dispatch_floating(param.dtype, "sgd_step", [&]<class T>(type_tag<T>) {
    T* p = param.ptr<T>();
    const T* g = grad.ptr<T>();
    T* b = momentum ? buf.ptr<T>() : nullptr;
    const DBatch wd(a.weight_decay), mom(a.momentum), damp(1.0 - a.dampening), lr(a.lr);
    auto update = [&](const DBatch& pi, const DBatch& gi, const DBatch& bi, DBatch& po, DBatch& bo) {
      DBatch d = gi + wd * pi;
      if (momentum) {
        bo = a.first_step ? d : mom * bi + damp * d;
        d = a.nesterov ? d + mom * bo : bo;
      }
      po = pi - lr * d;
    };
    parallel_for(0, param.numel(), kGrain, [&](std::int64_t lo, std::int64_t hi) {
      std::int64_t i = lo;
      DBatch po(0.0), bo(0.0), zero(0.0);
      for (; i + kDLanes <= hi; i += kDLanes) {
        update(load_wide(p + i), load_wide(g + i), momentum ? load_wide(b + i) : zero, po, bo);
        store_wide(p + i, po);
        if (momentum) store_wide(b + i, bo);
      }
      if (i < hi) {
        const std::int64_t k = hi - i;
        update(load_wide_partial(p + i, k), load_wide_partial(g + i, k),
               momentum ? load_wide_partial(b + i, k) : zero, po, bo);
        store_wide_partial(p + i, po, k);
        if (momentum) store_wide_partial(b + i, bo, k);
      }
    });
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
