#pragma once
// Row-wise softmax / log_softmax and layer_norm (+ backward) over contiguous [rows, cols].
// exp runs in native-width batches; sums, means and variances accumulate in double lanes
// (float widened on load) so DistilBERT's eps = 1e-12 and long rows stay accurate. Rows are
// spread over the pool; layer_norm_backward's gamma/beta gradients are summed per fixed block
// of rows and combined in block order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

inline std::int64_t rows_per_chunk(std::int64_t cols) {
  return std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(cols, 1));
}

// Column sums (gamma/beta/bias gradients) go through fixed blocks of rows, independent of the
// thread count: each block sums its rows into its own `cols` doubles, then the blocks are
// combined in block order.
inline std::int64_t column_sum_blocks(std::int64_t rows, std::int64_t cols) {
  const std::int64_t blocks = std::clamp<std::int64_t>(rows * cols / kGrain, 1, std::max<std::int64_t>(rows, 1));
  return std::min<std::int64_t>(blocks, 16);
}
// dst[c] = sum over blocks of parts[blk * cols + c], in block order.
template <class T>
inline void combine_blocks(T* dst, const std::vector<double>& parts, std::int64_t n_blocks, std::int64_t cols) {
  const auto ucols = static_cast<std::size_t>(cols);
  for (std::size_t c = 0; c < ucols; ++c) {
    double acc = 0;
    for (std::int64_t blk = 0; blk < n_blocks; ++blk) acc += parts[static_cast<std::size_t>(blk) * ucols + c];
    dst[c] = static_cast<T>(acc);
  }
}

// fn.template operator()<HasGamma, HasBeta>() for the affine parameters present.
template <class Fn> inline void with_affine(const void* gamma, const void* beta, Fn&& fn) {
  if (gamma && beta) fn.template operator()<true, true>();
  else if (gamma) fn.template operator()<true, false>();
  else if (beta) fn.template operator()<false, true>();
  else fn.template operator()<false, false>();
}

// ---- softmax ---------------------------------------------------------------------------------
template <class T> inline T row_max(const T* x, std::int64_t n) {
  constexpr std::int64_t W = kLanes<T>;
  using B = Batch<T>;
  T mx = -std::numeric_limits<T>::infinity();
  std::int64_t i = 0;
  if (n >= W) {
    B m = B::load_unaligned(x);
    for (i = W; i + W <= n; i += W) m = xsimd::max(m, B::load_unaligned(x + i));
    mx = hmax<T>(m);
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

// y = exp(x - mx); returns the sum of y in double.
template <class T> inline double exp_shifted_sum(const T* x, T* y, std::int64_t n, T mx) {
  constexpr std::int64_t W = kLanes<T>;
  using B = Batch<T>;
  const B shift(mx);
  DBatch acc0(0.0), acc1(0.0);
  std::int64_t i = 0;
  for (; i + W <= n; i += W) {
    xsimd::exp(B::load_unaligned(x + i) - shift).store_unaligned(y + i);
    for (std::int64_t j = 0; j < W; j += 2 * kDLanes) {  // widen what was just stored
      acc0 += load_wide(y + i + j);
      if (j + kDLanes < W) acc1 += load_wide(y + i + j + kDLanes);
    }
  }
  double sum = xsimd::hadd(acc0 + acc1);
  if (i < n) {
    alignas(64) T buf[W];
    std::fill(buf, buf + W, -std::numeric_limits<T>::infinity());  // exp(-inf) = 0
    std::copy(x + i, x + n, buf);
    xsimd::exp(B::load_unaligned(buf) - shift).store_unaligned(buf);
    for (std::int64_t j = 0; j < n - i; ++j) {
      y[i + j] = buf[j];
      sum += static_cast<double>(buf[j]);
    }
  }
  return sum;
}

template <class T> inline void softmax_row(const T* x, T* y, std::int64_t n, bool log) {
  if (n == 0) return;
  const T mx = row_max(x, n);
  const double sum = exp_shifted_sum(x, y, n, mx);
  if (!log) {
    const Batch<T> inv(static_cast<T>(1.0 / sum));
    map_contiguous(y, y, n, [&](const Batch<T>& v) { return v * inv; });
    return;
  }
  // log: y = (x - mx) - log(sum) in double, so outputs near 0 keep their digits. mx comes off
  // first, as torch: mx + log(sum) would lose log(sum) next to a huge mx (|x| >= ~1e16).
  const DBatch shift(static_cast<double>(mx)), log_sum(std::log(sum));
  std::int64_t i = 0;
  for (; i + kDLanes <= n; i += kDLanes) store_wide(y + i, (load_wide(x + i) - shift) - log_sum);
  if (i < n) store_wide_partial(y + i, (load_wide_partial(x + i, n - i) - shift) - log_sum, n - i);
}

template <class T>
inline void softmax_backward_row(T* gx, const T* gy, const T* y, std::int64_t n, bool log) {
  if (n == 0) return;
  std::int64_t i = 0;
  if (log) {  // gx = gy - exp(y) * sum(gy)
    const Batch<T> dot(static_cast<T>(sum_wide(gy, n)));
    map_contiguous2(gx, gy, y, n, [&](const Batch<T>& g, const Batch<T>& yv) {
      return xsimd::fnma(xsimd::exp(yv), dot, g);
    });
    return;
  }
  // gx = y * (gy - sum(gy * y)), in double lanes.
  DBatch acc0(0.0), acc1(0.0);
  for (; i + 2 * kDLanes <= n; i += 2 * kDLanes) {
    acc0 = xsimd::fma(load_wide(gy + i), load_wide(y + i), acc0);
    acc1 = xsimd::fma(load_wide(gy + i + kDLanes), load_wide(y + i + kDLanes), acc1);
  }
  for (; i + kDLanes <= n; i += kDLanes) acc0 = xsimd::fma(load_wide(gy + i), load_wide(y + i), acc0);
  if (i < n) acc1 = xsimd::fma(load_wide_partial(gy + i, n - i), load_wide_partial(y + i, n - i), acc1);
  const DBatch dot(xsimd::hadd(acc0 + acc1));
  for (i = 0; i + kDLanes <= n; i += kDLanes)
    store_wide(gx + i, load_wide(y + i) * (load_wide(gy + i) - dot));
  if (i < n)
    store_wide_partial(gx + i, load_wide_partial(y + i, n - i) * (load_wide_partial(gy + i, n - i) - dot),
                       n - i);
}

inline void softmax(const KernelView& out, const KernelView& in, std::int64_t rows,
                    std::int64_t cols, bool log) {
  dispatch_floating(in.dtype, log ? "log_softmax" : "softmax", [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    T* y = out.ptr<T>();
    parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) softmax_row(x + r * cols, y + r * cols, cols, log);
    });
  });
}

inline void softmax_backward(const KernelView& grad_in, const KernelView& grad_out,
                             const KernelView& out, std::int64_t rows, std::int64_t cols,
                             bool log) {
  dispatch_floating(out.dtype, log ? "log_softmax_backward" : "softmax_backward",
                    [&]<class T>(type_tag<T>) {
    T* gx = grad_in.ptr<T>();
    const T* gy = grad_out.ptr<T>();
    const T* y = out.ptr<T>();
    parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r)
        softmax_backward_row(gx + r * cols, gy + r * cols, y + r * cols, cols, log);
    });
  });
}

// ---- layer_norm ------------------------------------------------------------------------------
template <class T, bool HasGamma, bool HasBeta>
inline void layer_norm_rows(const T* x, T* y, T* mean, T* rstd, const T* gamma, const T* beta,
                            std::int64_t r0, std::int64_t r1, std::int64_t cols, double eps) {
  const double n = static_cast<double>(cols);
  for (std::int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const double mu = sum_wide(xr, cols) / n;
    const double var = sum_sq_dev_wide(xr, cols, mu) / n;
    const double rs = 1.0 / std::sqrt(var + eps);
    mean[r] = static_cast<T>(mu);
    rstd[r] = static_cast<T>(rs);
    const DBatch m(mu), s(rs);
    auto norm = [&](const DBatch& xv, const DBatch& gv, const DBatch& bv) {
      DBatch v = (xv - m) * s;
      if constexpr (HasGamma) v *= gv;
      if constexpr (HasBeta) v += bv;
      return v;
    };
    std::int64_t c = 0;
    for (; c + kDLanes <= cols; c += kDLanes) {
      const DBatch gv = HasGamma ? load_wide(gamma + c) : DBatch(1.0);
      const DBatch bv = HasBeta ? load_wide(beta + c) : DBatch(0.0);
      store_wide(yr + c, norm(load_wide(xr + c), gv, bv));
    }
    if (c < cols) {
      const std::int64_t k = cols - c;
      const DBatch gv = HasGamma ? load_wide_partial(gamma + c, k) : DBatch(1.0);
      const DBatch bv = HasBeta ? load_wide_partial(beta + c, k) : DBatch(0.0);
      store_wide_partial(yr + c, norm(load_wide_partial(xr + c, k), gv, bv), k);
    }
  }
}

inline void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                       const KernelView& in, const KernelView& gamma, const KernelView& beta,
                       std::int64_t rows, std::int64_t cols, double eps) {
  dispatch_floating(in.dtype, "layer_norm", [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    T* y = out.ptr<T>();
    T* mu = mean.ptr<T>();
    T* rs = rstd.ptr<T>();
    const T* g = gamma.ptr<T>();
    const T* bt = beta.ptr<T>();
    with_affine(g, bt, [&]<bool HasGamma, bool HasBeta>() {
      parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t b, std::int64_t e) {
        layer_norm_rows<T, HasGamma, HasBeta>(x, y, mu, rs, g, bt, b, e, cols, eps);
      });
    });
  });
}

// One block of rows: writes grad_in rows and adds this block's gamma/beta gradients into
// dgamma/dbeta (double, `cols` each; null when not wanted).
template <class T, bool HasGamma>
inline void layer_norm_backward_rows(T* gx, const T* gy, const T* x, const T* mean, const T* rstd,
                                     const T* gamma, double* dgamma, double* dbeta,
                                     std::int64_t r0, std::int64_t r1, std::int64_t cols) {
  const double n = static_cast<double>(cols);
  for (std::int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    const DBatch mu(static_cast<double>(mean[r])), rs(static_cast<double>(rstd[r]));
    DBatch sum_g(0.0), sum_gx(0.0);
    auto pass1 = [&](std::int64_t c, const DBatch& xv, const DBatch& gyv, const DBatch& gmv) {
      const DBatch xhat = (xv - mu) * rs;
      const DBatch g = HasGamma ? gyv * gmv : gyv;
      sum_g += g;
      sum_gx = xsimd::fma(g, xhat, sum_gx);
      if (dgamma) {
        double* d = dgamma + c;
        (DBatch::load_unaligned(d) + gyv * xhat).store_unaligned(d);
      }
      if (dbeta) {
        double* d = dbeta + c;
        (DBatch::load_unaligned(d) + gyv).store_unaligned(d);
      }
    };
    std::int64_t c = 0;
    for (; c + kDLanes <= cols; c += kDLanes)
      pass1(c, load_wide(xr + c), load_wide(gr + c),
            HasGamma ? load_wide(gamma + c) : DBatch(1.0));
    const std::int64_t tail = cols - c;
    if (tail > 0) {
      // Padded lanes: gy = 0 contributes nothing; dgamma/dbeta tails are updated lane by lane.
      const DBatch xv = load_wide_partial(xr + c, tail), gyv = load_wide_partial(gr + c, tail);
      const DBatch gmv = HasGamma ? load_wide_partial(gamma + c, tail) : DBatch(1.0);
      const DBatch xhat = (xv - mu) * rs;
      const DBatch g = HasGamma ? gyv * gmv : gyv;
      sum_g += g;
      sum_gx = xsimd::fma(g, xhat, sum_gx);
      alignas(64) double dgl[kDLanes], dbl[kDLanes];
      (gyv * xhat).store_aligned(dgl);
      gyv.store_aligned(dbl);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12 does not see SSE2's _mm_store_pd fill the arrays
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
      for (std::int64_t k = 0; k < tail; ++k) {
        if (dgamma) dgamma[c + k] += dgl[k];
        if (dbeta) dbeta[c + k] += dbl[k];
      }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    }
    if (!gx) continue;
    const DBatch mean_g(xsimd::hadd(sum_g) / n), mean_gx(xsimd::hadd(sum_gx) / n);
    T* gxr = gx + r * cols;
    auto grad = [&](const DBatch& xv, const DBatch& gyv, const DBatch& gmv) {
      const DBatch xhat = (xv - mu) * rs;
      const DBatch g = HasGamma ? gyv * gmv : gyv;
      return rs * (g - mean_g - xhat * mean_gx);
    };
    for (c = 0; c + kDLanes <= cols; c += kDLanes)
      store_wide(gxr + c, grad(load_wide(xr + c), load_wide(gr + c),
                               HasGamma ? load_wide(gamma + c) : DBatch(1.0)));
    if (tail > 0)
      store_wide_partial(gxr + c,
                         grad(load_wide_partial(xr + c, tail), load_wide_partial(gr + c, tail),
                              HasGamma ? load_wide_partial(gamma + c, tail) : DBatch(1.0)),
                         tail);
  }
}

inline void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                                const KernelView& grad_beta, const KernelView& grad_out,
                                const KernelView& in, const KernelView& mean,
                                const KernelView& rstd, const KernelView& gamma,
                                std::int64_t rows, std::int64_t cols) {
  dispatch_floating(in.dtype, "layer_norm_backward", [&]<class T>(type_tag<T>) {
    const bool want_dgamma = grad_gamma.data != nullptr, want_dbeta = grad_beta.data != nullptr;
    const std::int64_t n_blocks = column_sum_blocks(rows, cols);
    const auto ucols = static_cast<std::size_t>(cols);
    std::vector<double> dg(want_dgamma ? static_cast<std::size_t>(n_blocks) * ucols : 0, 0.0);
    std::vector<double> db(want_dbeta ? static_cast<std::size_t>(n_blocks) * ucols : 0, 0.0);
    T* gx = grad_in.ptr<T>();
    const T* gy = grad_out.ptr<T>();
    const T* x = in.ptr<T>();
    const T* mu = mean.ptr<T>();
    const T* rs = rstd.ptr<T>();
    const T* gm = gamma.ptr<T>();
    parallel_for(0, n_blocks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t blk = b; blk < e; ++blk) {
        const std::int64_t r0 = rows * blk / n_blocks, r1 = rows * (blk + 1) / n_blocks;
        double* dgb = want_dgamma ? dg.data() + static_cast<std::size_t>(blk) * ucols : nullptr;
        double* dbb = want_dbeta ? db.data() + static_cast<std::size_t>(blk) * ucols : nullptr;
        if (gm)
          layer_norm_backward_rows<T, true>(gx, gy, x, mu, rs, gm, dgb, dbb, r0, r1, cols);
        else
          layer_norm_backward_rows<T, false>(gx, gy, x, mu, rs, gm, dgb, dbb, r0, r1, cols);
      }
    });
    if (want_dgamma) combine_blocks(grad_gamma.ptr<T>(), dg, n_blocks, cols);
    if (want_dbeta) combine_blocks(grad_beta.ptr<T>(), db, n_blocks, cols);
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
