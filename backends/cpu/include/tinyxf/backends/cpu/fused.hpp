#pragma once
// Fused GEMM epilogues: bias + gelu and (bias +) residual + layer_norm, forward and backward,
// over contiguous [rows, cols]. Each is one pass over the rows where the composed ops take two
// or three (and store an intermediate tensor): the sum s is formed in registers (bias_gelu) or
// in the output row itself while it sits in L1 (add_layer_norm), rounded to the dtype exactly
// as the composed `+` would store it, then fed to the same batch formulas as gelu/layer_norm.
// Bias gradients are summed per fixed block of rows in double and combined in block order, so
// they do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/elementwise.hpp"
#include "tinyxf/backends/cpu/norm.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

namespace fused_detail {

// acc[c] += row[c] for c < n, in double lanes.
template <class T> inline void add_row_wide(double* acc, const T* row, std::int64_t n) {
  std::int64_t c = 0;
  for (; c + kDLanes <= n; c += kDLanes)
    (DBatch::load_unaligned(acc + c) + load_wide(row + c)).store_unaligned(acc + c);
  for (; c < n; ++c) acc[c] += static_cast<double>(row[c]);
}

// s[c] = (x[c] + bias[c]) + res[c] (bias may be null), each sum rounded to T.
template <class T>
inline void residual_sum_row(T* s, const T* x, const T* res, const T* bias, std::int64_t n) {
  constexpr std::int64_t W = kLanes<T>;
  using B = Batch<T>;
  std::int64_t c = 0;
  if (bias) {
    for (; c + W <= n; c += W)
      ((B::load_unaligned(x + c) + B::load_unaligned(bias + c)) + B::load_unaligned(res + c)).store_unaligned(s + c);
    for (; c < n; ++c) s[c] = static_cast<T>(x[c] + bias[c]) + res[c];
  } else {
    for (; c + W <= n; c += W) (B::load_unaligned(x + c) + B::load_unaligned(res + c)).store_unaligned(s + c);
    for (; c < n; ++c) s[c] = x[c] + res[c];
  }
}

template <class Fn> inline void with_gelu(bool approximate_tanh, Fn&& fn) {
  if (approximate_tanh)
    fn.template operator()<UnaryOp::gelu_tanh>();
  else
    fn.template operator()<UnaryOp::gelu_erf>();
}

}  // namespace fused_detail

// ---- bias + gelu -----------------------------------------------------------------------------
inline void bias_gelu(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                      std::int64_t cols, bool approximate_tanh) {
  dispatch_floating(in.dtype, "bias_gelu", [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    const T* b = bias.ptr<T>();
    T* y = out.ptr<T>();
    fused_detail::with_gelu(approximate_tanh, [&]<UnaryOp Op>() {
      parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r)
          map_contiguous2(y + r * cols, x + r * cols, b, cols, [](const Batch<T>& v, const Batch<T>& bv) {
            return unary_batch<Op, T>(v + bv, T(0));
          });
      });
    });
  });
}

inline void bias_gelu_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_out,
                               const KernelView& in, const KernelView& bias, std::int64_t rows, std::int64_t cols,
                               bool approximate_tanh) {
  dispatch_floating(in.dtype, "bias_gelu_backward", [&]<class T>(type_tag<T>) {
    constexpr std::int64_t W = kLanes<T>;
    using B = Batch<T>;
    const T* x = in.ptr<T>();
    const T* b = bias.ptr<T>();
    const T* go = grad_out.ptr<T>();
    T* gi = grad_in.ptr<T>();
    const bool want_bias = grad_bias.data != nullptr;
    const std::int64_t n_blocks = column_sum_blocks(rows, cols);
    std::vector<double> parts(want_bias ? static_cast<std::size_t>(n_blocks * cols) : 0, 0.0);
    fused_detail::with_gelu(approximate_tanh, [&]<UnaryOp Op>() {
      const B none(T(0));
      auto grad = [&none](const B& g, const B& v, const B& bv) { return unary_grad_batch<Op, T>(g, v + bv, none, T(0)); };
      parallel_for(0, n_blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t blk = b0; blk < b1; ++blk) {
          double* acc = want_bias ? parts.data() + blk * cols : nullptr;
          for (std::int64_t r = rows * blk / n_blocks, r1 = rows * (blk + 1) / n_blocks; r < r1; ++r) {
            const T* xr = x + r * cols;
            const T* gr = go + r * cols;
            T* dr = gi + r * cols;
            std::int64_t c = 0;
            for (; c + W <= cols; c += W)
              grad(B::load_unaligned(gr + c), B::load_unaligned(xr + c), B::load_unaligned(b + c)).store_unaligned(dr + c);
            if (c < cols) {
              alignas(64) T bg[W] = {}, bx[W] = {}, bb[W] = {};
              std::copy(gr + c, gr + cols, bg);
              std::copy(xr + c, xr + cols, bx);
              std::copy(b + c, b + cols, bb);
              grad(B::load_unaligned(bg), B::load_unaligned(bx), B::load_unaligned(bb)).store_unaligned(bg);
              std::copy(bg, bg + (cols - c), dr + c);
            }
            if (acc) fused_detail::add_row_wide(acc, dr, cols);  // the row just written, from L1
          }
        }
      });
    });
    if (want_bias) combine_blocks(grad_bias.ptr<T>(), parts, n_blocks, cols);
  });
}

// ---- (bias +) residual + layer_norm ----------------------------------------------------------
inline void add_layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd, const KernelView& x,
                           const KernelView& residual, const KernelView& bias, const KernelView& gamma,
                           const KernelView& beta, std::int64_t rows, std::int64_t cols, double eps) {
  dispatch_floating(x.dtype, "add_layer_norm", [&]<class T>(type_tag<T>) {
    const T* xs = x.ptr<T>();
    const T* rs_in = residual.ptr<T>();
    const T* bs = bias.ptr<T>();
    T* y = out.ptr<T>();
    T* mu = mean.ptr<T>();
    T* rs = rstd.ptr<T>();
    const T* g = gamma.ptr<T>();
    const T* bt = beta.ptr<T>();
    with_affine(g, bt, [&]<bool HasGamma, bool HasBeta>() {
      parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          // The sum goes into the output row, which layer_norm then normalizes in place.
          fused_detail::residual_sum_row(y + r * cols, xs + r * cols, rs_in + r * cols, bs, cols);
          layer_norm_rows<T, HasGamma, HasBeta>(y, y, mu, rs, g, bt, r, r + 1, cols, eps);
        }
      });
    });
  });
}

inline void add_layer_norm_backward(const KernelView& grad_in, const KernelView& grad_bias,
                                    const KernelView& grad_gamma, const KernelView& grad_beta,
                                    const KernelView& grad_out, const KernelView& x, const KernelView& residual,
                                    const KernelView& bias, const KernelView& mean, const KernelView& rstd,
                                    const KernelView& gamma, std::int64_t rows, std::int64_t cols) {
  dispatch_floating(x.dtype, "add_layer_norm_backward", [&]<class T>(type_tag<T>) {
    const std::int64_t n_blocks = column_sum_blocks(rows, cols);
    const auto part_size = [&](const KernelView& v) { return v.data ? static_cast<std::size_t>(n_blocks * cols) : 0; };
    std::vector<double> dg(part_size(grad_gamma), 0.0), db(part_size(grad_beta), 0.0), dbias(part_size(grad_bias), 0.0);
    T* gx = grad_in.ptr<T>();
    const T* gy = grad_out.ptr<T>();
    const T* xs = x.ptr<T>();
    const T* res = residual.ptr<T>();
    const T* bs = bias.ptr<T>();
    const T* mu = mean.ptr<T>();
    const T* rs = rstd.ptr<T>();
    const T* gm = gamma.ptr<T>();
    parallel_for(0, n_blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t blk = b0; blk < b1; ++blk) {
        double* dgb = dg.empty() ? nullptr : dg.data() + blk * cols;
        double* dbb = db.empty() ? nullptr : db.data() + blk * cols;
        double* dbias_b = dbias.empty() ? nullptr : dbias.data() + blk * cols;
        for (std::int64_t r = rows * blk / n_blocks, r1 = rows * (blk + 1) / n_blocks; r < r1; ++r) {
          // s recomputed into the gradient row, which the layer_norm backward reads as its input
          // and overwrites element by element with the gradient.
          fused_detail::residual_sum_row(gx + r * cols, xs + r * cols, res + r * cols, bs, cols);
          if (gm)
            layer_norm_backward_rows<T, true>(gx, gy, gx, mu, rs, gm, dgb, dbb, r, r + 1, cols);
          else
            layer_norm_backward_rows<T, false>(gx, gy, gx, mu, rs, gm, dgb, dbb, r, r + 1, cols);
          if (dbias_b) fused_detail::add_row_wide(dbias_b, gx + r * cols, cols);
        }
      }
    });
    if (!dg.empty()) combine_blocks(grad_gamma.ptr<T>(), dg, n_blocks, cols);
    if (!db.empty()) combine_blocks(grad_beta.ptr<T>(), db, n_blocks, cols);
    if (!dbias.empty()) combine_blocks(grad_bias.ptr<T>(), dbias, n_blocks, cols);
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
