#pragma once
// Scaled-dot-product attention, forward and backward, as the reference backend states it: one
// query row at a time, every sum in double, the dropout mask drawn with kmath::dropout_keep.
// The contract is Backend::scaled_dot_product_attention (core/backend.hpp).
#include <cmath>
#include <limits>
#include <vector>

#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/kernel_math.hpp"

namespace tinyxf::backends::reference_attention {

// Element (i0, i1, i2, i3) of a 4-D view.
template <class T>
T& at(const KernelView& v, std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3) {
  return v.ptr<T>()[i0 * v.strides[0] + i1 * v.strides[1] + i2 * v.strides[2] + i3 * v.strides[3]];
}

// One query row's probabilities p[j] (before dropout), its log-sum-exp, and whether key j is
// masked. The masked score is T's lowest value, as the composed masked_fill + softmax computes it.
template <class T>
double row_probabilities(const KernelView& q, const KernelView& k, const KernelView& mask,
                         const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i,
                         std::vector<double>& p, std::vector<char>& masked) {
  const std::int64_t S = k.shape[2], E = q.shape[3];
  double mx = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = 0; j < S; ++j) {
    masked[j] = (mask.data && at<std::uint8_t>(mask, b, h, i, j) == 0) || (a.is_causal && j > i);
    double s = 0;
    for (std::int64_t e = 0; e < E; ++e)
      s += static_cast<double>(at<T>(q, b, h, i, e)) * static_cast<double>(at<T>(k, b, h, j, e));
    p[j] = masked[j] ? static_cast<double>(std::numeric_limits<T>::lowest()) : a.scale * s;
    mx = std::max(mx, p[j]);
  }
  double sum = 0;
  for (std::int64_t j = 0; j < S; ++j) sum += std::exp(p[j] - mx);
  for (std::int64_t j = 0; j < S; ++j) p[j] = std::exp(p[j] - mx) / sum;
  return mx + std::log(sum);
}

// The dropout multiplier of weight (b, h, i, j): 1 / (1 - p) if kept, 0 if dropped.
inline double dropout_scale(const AttentionArgs& a, std::int64_t H, std::int64_t L, std::int64_t S,
                            std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) {
  if (a.dropout_p <= 0.0) return 1.0;
  const auto counter = a.offset + static_cast<std::uint64_t>(((b * H + h) * L + i) * S + j);
  return kmath::dropout_keep(a.seed, counter, a.dropout_p) ? 1.0 / (1.0 - a.dropout_p) : 0.0;
}

inline void forward(const KernelView& out, const KernelView& lse, const KernelView& q,
                    const KernelView& k, const KernelView& v, const KernelView& mask,
                    const AttentionArgs& a) {
  dispatch_floating(q.dtype, "scaled_dot_product_attention", [&]<class T>(type_tag<T>) {
    const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S = k.shape[2], Ev = v.shape[3];
    std::vector<double> p(static_cast<std::size_t>(S)), acc(static_cast<std::size_t>(Ev));
    std::vector<char> masked(static_cast<std::size_t>(S));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t i = 0; i < L; ++i) {
          lse.ptr<T>()[(b * H + h) * L + i] =
              static_cast<T>(row_probabilities<T>(q, k, mask, a, b, h, i, p, masked));
          std::fill(acc.begin(), acc.end(), 0.0);
          for (std::int64_t j = 0; j < S; ++j) {
            const double w = p[j] * dropout_scale(a, H, L, S, b, h, i, j);
            for (std::int64_t e = 0; e < Ev; ++e) acc[e] += w * static_cast<double>(at<T>(v, b, h, j, e));
          }
          for (std::int64_t e = 0; e < Ev; ++e) at<T>(out, b, h, i, e) = static_cast<T>(acc[e]);
        }
  });
}

// With P the probabilities, M the dropout multipliers and dO the output gradient:
// dV = (P∘M)^T dO, dP = (dO V^T)∘M, dS = P∘(dP - rowsum(P∘dP)) (0 where masked),
// dQ = scale dS K, dK = scale dS^T Q.
inline void backward(const KernelView& gq, const KernelView& gk, const KernelView& gv,
                     const KernelView& gout, const KernelView& q, const KernelView& k,
                     const KernelView& v, const KernelView& mask, const AttentionArgs& a) {
  dispatch_floating(q.dtype, "scaled_dot_product_attention_backward", [&]<class T>(type_tag<T>) {
    const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S = k.shape[2],
                       E = q.shape[3], Ev = v.shape[3];
    std::vector<double> p(static_cast<std::size_t>(S)), dp(static_cast<std::size_t>(S));
    std::vector<double> dk(static_cast<std::size_t>(S * E)), dv(static_cast<std::size_t>(S * Ev));
    std::vector<char> masked(static_cast<std::size_t>(S));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < H; ++h) {
        std::fill(dk.begin(), dk.end(), 0.0);
        std::fill(dv.begin(), dv.end(), 0.0);
        for (std::int64_t i = 0; i < L; ++i) {
          row_probabilities<T>(q, k, mask, a, b, h, i, p, masked);
          double dot = 0;
          for (std::int64_t j = 0; j < S; ++j) {
            const double m = dropout_scale(a, H, L, S, b, h, i, j);
            double g = 0;
            for (std::int64_t e = 0; e < Ev; ++e) {
              const double go = static_cast<double>(at<T>(gout, b, h, i, e));
              g += go * static_cast<double>(at<T>(v, b, h, j, e));
              dv[j * Ev + e] += p[j] * m * go;
            }
            dp[j] = g * m;
            dot += p[j] * dp[j];
          }
          for (std::int64_t e = 0; e < E; ++e) {
            double dq = 0;
            for (std::int64_t j = 0; j < S; ++j) {
              const double ds = masked[j] ? 0.0 : p[j] * (dp[j] - dot);
              dq += ds * static_cast<double>(at<T>(k, b, h, j, e));
              dk[j * E + e] += a.scale * ds * static_cast<double>(at<T>(q, b, h, i, e));
            }
            at<T>(gq, b, h, i, e) = static_cast<T>(a.scale * dq);
          }
        }
        for (std::int64_t j = 0; j < S; ++j) {
          for (std::int64_t e = 0; e < E; ++e) at<T>(gk, b, h, j, e) = static_cast<T>(dk[j * E + e]);
          for (std::int64_t e = 0; e < Ev; ++e) at<T>(gv, b, h, j, e) = static_cast<T>(dv[j * Ev + e]);
        }
      }
  });
}

}  // namespace tinyxf::backends::reference_attention
