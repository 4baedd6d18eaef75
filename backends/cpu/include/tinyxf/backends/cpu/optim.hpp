#pragma once
// Fused optimizer steps: one pass over param/grad/state, PyTorch's formulas in the reference's
// order, computed in double lanes (float state is widened on load and rounded once on store),
// so a step matches the reference to the last bit or so while staying memory-bound.
#include <cmath>
#include <cstdint>

#include "tinyxf/backend/backend.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu {

inline void check_same_size(const char* op, const KernelView& a, const KernelView& b,
                            const char* what) {
  TINYXF_CHECK(a.numel() == b.numel() && a.dtype == b.dtype, op, ": ", what, " has ", b.numel(),
               " ", dtype_name(b.dtype), " elements, the parameter ", a.numel(), " ",
               dtype_name(a.dtype));
}

inline void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                      const KernelView& exp_avg_sq, const AdamArgs& a) {
  check_same_size("adam_step", param, grad, "the gradient");
  check_same_size("adam_step", param, exp_avg, "exp_avg");
  check_same_size("adam_step", param, exp_avg_sq, "exp_avg_sq");
  dispatch_floating(param.dtype, "adam_step", [&]<class T>(type_tag<T>) {
    T* p = param.ptr<T>();
    const T* g = grad.ptr<T>();
    T* m = exp_avg.ptr<T>();
    T* v = exp_avg_sq.ptr<T>();
    const double bc1 = a.bias_correction1();
    const double bc2 = a.bias_correction2();
    const bool decoupled = a.decoupled_weight_decay;
    const bool l2 = !decoupled && a.weight_decay != 0.0;
    const DBatch decay(1.0 - a.lr * a.weight_decay), wd(a.weight_decay);
    const DBatch b1(a.beta1), b2(a.beta2), omb1(1.0 - a.beta1), omb2(1.0 - a.beta2);
    const DBatch sqrt_bc2(std::sqrt(bc2)), eps(a.eps), step_size(a.lr / bc1);
    auto update = [&](DBatch pi, DBatch gi, DBatch mi, DBatch vi, DBatch& po, DBatch& mo, DBatch& vo) {
      if (decoupled) pi *= decay;
      else if (l2) gi += wd * pi;
      mo = b1 * mi + omb1 * gi;
      vo = b2 * vi + omb2 * gi * gi;
      const DBatch denom = xsimd::sqrt(vo) / sqrt_bc2 + eps;
      po = pi - step_size * mo / denom;
    };
    parallel_for(0, param.numel(), kGrain, [&](std::int64_t lo, std::int64_t hi) {
      std::int64_t i = lo;
      DBatch po(0.0), mo(0.0), vo(0.0);
      for (; i + kDLanes <= hi; i += kDLanes) {
        update(load_wide(p + i), load_wide(g + i), load_wide(m + i), load_wide(v + i), po, mo, vo);
        store_wide(p + i, po);
        store_wide(m + i, mo);
        store_wide(v + i, vo);
      }
      if (i < hi) {
        const std::int64_t k = hi - i;
        update(load_wide_partial(p + i, k), load_wide_partial(g + i, k),
               load_wide_partial(m + i, k), load_wide_partial(v + i, k), po, mo, vo);
        store_wide_partial(p + i, po, k);
        store_wide_partial(m + i, mo, k);
        store_wide_partial(v + i, vo, k);
      }
    });
  });
}

inline void sgd_step(const KernelView& param, const KernelView& grad, const KernelView& buf,
                     const SgdArgs& a) {
  check_same_size("sgd_step", param, grad, "the gradient");
  const bool momentum = a.momentum != 0.0;
  if (momentum) {
    TINYXF_CHECK(buf.data != nullptr, "sgd_step: momentum ", a.momentum,
                 " needs a momentum buffer");
    check_same_size("sgd_step", param, buf, "the momentum buffer");
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

}  // namespace tinyxf::backends::cpu
