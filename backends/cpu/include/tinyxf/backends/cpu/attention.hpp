#pragma once
// Fused scaled-dot-product attention (Backend::scaled_dot_product_attention), forward and
// backward, without ever materializing the [B, H, L, S] score tensors: each (batch, head) pair
// is one task on tinyxf's pool, and inside it query rows go in blocks through a tile of
// block x S scores that stays in the thread's cache:
//   forward   scores = scale Q_blk K^T (GEMM) -> mask -> softmax (+ log-sum-exp) -> dropout
//             -> O_blk = P V (GEMM)
//   backward  P is recomputed from the scores and the saved log-sum-exp; the dropout mask is
//             regenerated from its counters (never stored), then
//             dV += (P∘M)^T dO_blk, dP = (dO_blk V^T)∘M, dS = P∘(dP - rowsum(dO∘O)),
//             dQ_blk = scale dS K, dK += scale dS^T Q_blk (five GEMMs per block).
// The GEMMs are single-threaded OpenBLAS calls (the pool already runs one task per thread);
// the tiles are thread-local buffers kept across calls, so the kernel allocates nothing in
// steady state. bf16 q/k/v (autocast) run the same code with float32 tiles and gemm_bf16 on the
// bf16 operands (attention_forward<float, bf16>) where the CPU has AVX512-BF16.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "tinyxf/backends/cpu/aligned.hpp"
#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/backends/cpu/elementwise.hpp"
#include "tinyxf/backends/cpu/gemm.hpp"
#include "tinyxf/backends/cpu/norm.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

namespace attention_detail {

// Row-major C = alpha op(A) op(B) + beta C on one thread's OpenBLAS, or with bf16 products
// (gemm_bf16.hpp) when the caller's matmul precision allows them and the CPU has them.
template <class T>
inline void gemm_rm(bool bf16, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k,
                    T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
                    std::int64_t ldc) {
#ifdef TINYXF_HAVE_BF16_GEMM
  if constexpr (std::is_same_v<T, float>)
    if (bf16) return gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
  (void)bf16;
  const auto op_a = ta ? CblasTrans : CblasNoTrans, op_b = tb ? CblasTrans : CblasNoTrans;
  const auto i = [](std::int64_t v) { return static_cast<int>(v); };
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, op_a, op_b, i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c, i(ldc));
  else
    cblas_dgemm(CblasRowMajor, op_a, op_b, i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c, i(ldc));
}

// Query rows per block: the block x S score tile (and its gradient) stay within ~256 KiB.
inline std::int64_t block_rows(std::int64_t L, std::int64_t S, std::size_t elem) {
  const auto budget = static_cast<std::int64_t>((256 * 1024) / elem);
  const std::int64_t rows = std::clamp<std::int64_t>(budget / std::max<std::int64_t>(S, 1), 16, 256);
  return std::min(rows, std::max<std::int64_t>(L, 1));
}

// The row stride BLAS gets for the [rows, cols] matrix of view `t` at dims 2, 3 (unit column
// stride): a single row's stride is arbitrary, BLAS still wants at least the row length.
inline std::int64_t row_ld(const KernelView& t) {
  return t.shape[2] <= 1 ? std::max<std::int64_t>({t.strides[2], t.shape[3], 1}) : t.strides[2];
}

// A thread's scratch tiles, grown on demand and kept for the next call (cache-line aligned rows
// for the vector loops when S is a multiple of 16).
template <class T>
inline T* scratch(std::size_t slot, std::size_t n) {
  thread_local CacheLineVector<T> buffers[5];
  auto& buf = buffers[slot];
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// The geometry of one (batch, head) task: base pointers and row strides of every operand.
template <class T>
struct Head {
  const T *q, *k, *v;
  std::int64_t ldq, ldk, ldv;
  const std::uint8_t* mask;  // element (i, j) at mask[i * mask_ld_i + j * mask_ld_j]; null: none
  std::int64_t mask_ld_i, mask_ld_j;
  std::uint64_t counter0;  // dropout counter of weight (0, 0)
  bool bf16 = false;       // GEMMs with bf16 products (AttentionArgs::precision "medium")
};

template <class T>
inline Head<T> head_at(const KernelView& q, const KernelView& k, const KernelView& v,
                       const KernelView& mask, const AttentionArgs& a, std::int64_t b,
                       std::int64_t h) {
  const std::int64_t H = q.shape[1], L = q.shape[2], S = k.shape[2];
  const auto base = [b, h](const KernelView& t) { return b * t.strides[0] + h * t.strides[1]; };
  Head<T> hd{q.ptr<const T>() + base(q), k.ptr<const T>() + base(k), v.ptr<const T>() + base(v),
             row_ld(q), row_ld(k), row_ld(v), nullptr, 0, 0,
             a.offset + static_cast<std::uint64_t>((b * H + h) * L * S)};
  if (mask.data) {
    hd.mask = mask.ptr<const std::uint8_t>() + base(mask);
    hd.mask_ld_i = mask.strides[2];
    hd.mask_ld_j = mask.strides[3];
  }
#ifdef TINYXF_HAVE_BF16_GEMM
  hd.bf16 = std::is_same_v<T, float> && a.precision == MatmulPrecision::medium && bf16_products_pay();
#endif
  return hd;
}

// Which of the W mask bytes at m are nonzero, as a lane mask of T. float32 compares the bytes in
// registers (AVX-512BW: straight into a k-mask; AVX2/SSE4.1: widened to int32): the portable
// form below goes through a stack array whose two 32-byte stores the 64-byte reload cannot take
// from the store buffer, a stall that was a fifth of the attention forward's time with a padding
// mask (perf, Xeon model 207).
template <class T>
inline auto mask_lanes(const std::uint8_t* m) {
  using Mask = typename Batch<T>::batch_bool_type;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    if constexpr (kLanes<float> == 16)
      return Mask(_mm_cmpneq_epi8_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m)), _mm_setzero_si128()));
#endif
#if defined(__AVX2__)
    if constexpr (kLanes<float> == 8) {
      const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
      return Mask(_mm256_castsi256_ps(_mm256_cmpgt_epi32(wide, _mm256_setzero_si256())));
    }
#endif
#if defined(__SSE4_1__)
    if constexpr (kLanes<float> == 4) {
      std::int32_t four;
      std::memcpy(&four, m, 4);
      const __m128i wide = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
      return Mask(_mm_castsi128_ps(_mm_cmpgt_epi32(wide, _mm_setzero_si128())));
    }
#endif
  }
  alignas(64) T flags[kLanes<T>];
  for (std::int64_t l = 0; l < kLanes<T>; ++l) flags[l] = m[l] != 0 ? T(1) : T(0);
  return Batch<T>::load_aligned(flags) != Batch<T>(T(0));
}

// Sets masked scores of row i (global query index) to T's lowest value, as the composed
// masked_fill does; returns whether any key is left.
template <class T, class E>
inline bool apply_mask(T* s, std::int64_t S, std::int64_t i, const Head<E>& hd, bool causal) {
  const T lowest = std::numeric_limits<T>::lowest();
  std::int64_t kept_end = S;
  if (causal) {
    kept_end = std::min<std::int64_t>(S, i + 1);
    std::fill(s + kept_end, s + S, lowest);
  }
  bool any = false;
  if (hd.mask) {
    const std::uint8_t* m = hd.mask + i * hd.mask_ld_i;
    std::int64_t j = 0;
    if (hd.mask_ld_j == 1) {  // a contiguous mask row (the padding mask): whole vectors
      constexpr std::int64_t W = kLanes<T>;
      const Batch<T> low(lowest);
      auto kept = Batch<T>(T(0)) != Batch<T>(T(0));
      for (; j + W <= kept_end; j += W) {
        const auto keep = mask_lanes<T>(m + j);
        xsimd::select(keep, Batch<T>::load_unaligned(s + j), low).store_unaligned(s + j);
        kept = kept | keep;
      }
      any = xsimd::any(kept);
    }
    for (; j < kept_end; ++j) {
      const bool keep = m[j * hd.mask_ld_j] != 0;
      s[j] = keep ? s[j] : lowest;
      any = any || keep;
    }
  } else {
    any = kept_end > 0;
  }
  return any;
}

// Row i's dropout multipliers (1/(1-p) kept, 0 dropped) into `mult`, then the weights times
// them: the cpu bernoulli_scaled kernel's own loop, so the mask equals dropout() on
// [B, H, L, S] bit for bit.
template <class T>
inline void apply_dropout(T* w, T* mult, std::int64_t S, std::uint64_t counter, std::uint64_t seed_hash,
                          std::uint64_t threshold, T keep) {
  bernoulli_scaled_range(mult, 0, S, seed_hash, counter, threshold, keep);
  map_contiguous2(w, w, mult, S, [](const Batch<T>& x, const Batch<T>& m) { return x * m; });
}

struct DropoutStream {
  bool on = false;
  std::uint64_t seed_hash = 0, threshold = 0;
  double keep = 1.0;
  explicit DropoutStream(const AttentionArgs& a) {
    if (!(a.dropout_p > 0.0)) return;
    on = true;
    seed_hash = kmath::splitmix64(a.seed);
    threshold = kmath::dropout_threshold(a.dropout_p);
    keep = 1.0 / (1.0 - a.dropout_p);
  }
};

// softmax of one masked score row in place; returns its log-sum-exp. A row with every key
// masked attends uniformly (its scores are all equal), as in the composed path.
template <class T>
inline T softmax_row_lse(T* s, std::int64_t S, bool any_kept) {
  if (!any_kept) {
    std::fill(s, s + S, static_cast<T>(1.0 / static_cast<double>(S)));
    return std::numeric_limits<T>::lowest();
  }
  const T mx = row_max(s, S);
  const double sum = exp_shifted_sum(s, s, S, mx);
  const Batch<T> inv(static_cast<T>(1.0 / sum));
  map_contiguous(s, s, S, [&](const Batch<T>& x) { return x * inv; });
  return static_cast<T>(static_cast<double>(mx) + std::log(sum));
}

// Probabilities of a row from its masked scores and saved log-sum-exp (the forward's values).
template <class T>
inline void probabilities_from_lse(T* s, std::int64_t S, bool any_kept, T lse) {
  if (!any_kept) {
    std::fill(s, s + S, static_cast<T>(1.0 / static_cast<double>(S)));
    return;
  }
  const Batch<T> shift(lse);
  map_contiguous(s, s, S, [&](const Batch<T>& x) { return xsimd::exp(x - shift); });
}

template <class T>
inline T dot(const T* a, const T* b, std::int64_t n) {
  constexpr std::int64_t W = kLanes<T>;
  Batch<T> acc(T(0));
  std::int64_t i = 0;
  for (; i + W <= n; i += W) acc = xsimd::fma(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i), acc);
  T r = xsimd::hadd(acc);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// One head's GEMM: float32/float64 operands through gemm_rm (OpenBLAS, or bf16 products under
// "medium"); with a bf16 operand or result (bf16 attention) through gemm_bf16, which rounds
// float32 tile operands (P∘M, dS) to bf16 as it packs them. k > 0.
template <class T, class EA, class EB, class EC>
inline void head_gemm(bool bf16_products, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                      const EA* a, std::int64_t lda, const EB* b, std::int64_t ldb, T beta, EC* c, std::int64_t ldc) {
  if constexpr (std::is_same_v<EA, T> && std::is_same_v<EB, T> && std::is_same_v<EC, T>) {
    gemm_rm<T>(bf16_products, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
#ifdef TINYXF_HAVE_BF16_GEMM
    gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
  }
}

// scores[n, S] = scale * Q[i0 : i0 + n] K^T (zeros when E == 0).
template <class T, class E>
inline void scores_block(T* scores, const Head<E>& hd, std::int64_t i0, std::int64_t n, std::int64_t S,
                         std::int64_t E_, double scale) {
  if (E_ > 0)
    head_gemm<T>(hd.bf16, false, true, n, S, E_, static_cast<T>(scale), hd.q + i0 * hd.ldq, hd.ldq, hd.k, hd.ldk, T(0),
                 scores, S);
  else
    std::fill(scores, scores + n * S, T(0));
}

// sum a[i] * b[i] in T over operands stored as T or as bf16.
template <class T, class E>
inline T dot_as(const E* a, const E* b, std::int64_t n) {
  if constexpr (std::is_same_v<E, T>) {
    return dot(a, b, n);
  } else {  // widened a vector at a time, through L1
    constexpr std::int64_t W = kLanes<T>;
    alignas(64) T wa[W], wb[W];
    Batch<T> acc(T(0));
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
      bf16_to_float_row(wa, 1, a + i, 1, W);
      bf16_to_float_row(wb, 1, b + i, 1, W);
      acc = xsimd::fma(Batch<T>::load_aligned(wa), Batch<T>::load_aligned(wb), acc);
    }
    T r = xsimd::hadd(acc);
    for (; i < n; ++i) r += bf16_to_float(a[i]) * bf16_to_float(b[i]);
    return r;
  }
}

// dS row = P (dP∘M - rowsum(dO∘O)), M: the dropout multipliers (null: no dropout), then zero
// where the score was masked (masked_fill's constants get no gradient): row gi of the head.
template <class T, class E>
inline void score_grad_row(T* ps, const T* dps, const T* mult, T row_dot, std::int64_t S, std::int64_t gi,
                           const Head<E>& hd, bool causal) {
  constexpr std::int64_t W = kLanes<T>;
  const Batch<T> rd(row_dot);
  std::int64_t j = 0;
  if (mult) {
    for (; j + W <= S; j += W) {
      const Batch<T> g = Batch<T>::load_unaligned(dps + j) * Batch<T>::load_unaligned(mult + j) - rd;
      (Batch<T>::load_unaligned(ps + j) * g).store_unaligned(ps + j);
    }
    for (; j < S; ++j) ps[j] = ps[j] * (dps[j] * mult[j] - row_dot);
  } else {
    for (; j + W <= S; j += W)
      (Batch<T>::load_unaligned(ps + j) * (Batch<T>::load_unaligned(dps + j) - rd)).store_unaligned(ps + j);
    for (; j < S; ++j) ps[j] = ps[j] * (dps[j] - row_dot);
  }
  const std::int64_t kept_end = causal ? std::min<std::int64_t>(S, gi + 1) : S;
  std::fill(ps + kept_end, ps + S, T(0));
  if (!hd.mask) return;
  const std::uint8_t* m = hd.mask + gi * hd.mask_ld_i;
  j = 0;
  if (hd.mask_ld_j == 1)
    for (; j + W <= kept_end; j += W)
      xsimd::select(mask_lanes<T>(m + j), Batch<T>::load_unaligned(ps + j), Batch<T>(T(0))).store_unaligned(ps + j);
  for (; j < kept_end; ++j)
    if (m[j * hd.mask_ld_j] == 0) ps[j] = T(0);
}

// The kernels for tiles, softmax and log-sum-exp in T and q/k/v/out and gradients stored as E:
// E = T (float32, float64), or E = bf16 bit patterns with T = float32 (autocast's attention on a
// CPU with AVX512-BF16: gemm_bf16 multiplies the bf16 operands as they are; dK and dV sum over
// the query blocks in float32 scratch and are rounded once).
template <class T, class E>
void attention_forward(const KernelView& out, const KernelView& lse, const KernelView& q, const KernelView& k,
                       const KernelView& v, const KernelView& mask, const AttentionArgs& a) {
  const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S = k.shape[2], E_ = q.shape[3], Ev = v.shape[3];
  if (B * H * L == 0) return;
  const DropoutStream drop(a);
  const std::int64_t rows = block_rows(L, S, sizeof(T));
  parallel_for(0, B * H, 1, [&](std::int64_t t0, std::int64_t t1) {
    T* tile = scratch<T>(0, static_cast<std::size_t>(rows * std::max<std::int64_t>(S, 1)));
    T* mult = scratch<T>(2, static_cast<std::size_t>(std::max<std::int64_t>(S, 1)));  // a row's dropout multipliers
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t b = t / H, h = t % H;
      const auto hd = head_at<E>(q, k, v, mask, a, b, h);
      E* o = out.ptr<E>() + b * out.strides[0] + h * out.strides[1];
      const std::int64_t ldo = row_ld(out);
      T* lse_row = lse.ptr<T>() + t * L;
      for (std::int64_t i0 = 0; i0 < L; i0 += rows) {
        const std::int64_t n = std::min(rows, L - i0);
        if (S == 0) {  // no keys: the output is 0 (an empty sum), as the composed path gives
          for (std::int64_t i = i0; i < i0 + n; ++i) {
            std::fill(o + i * ldo, o + i * ldo + Ev, E(0));
            lse_row[i] = std::numeric_limits<T>::lowest();
          }
          continue;
        }
        scores_block(tile, hd, i0, n, S, E_, a.scale);
        for (std::int64_t i = 0; i < n; ++i) {
          T* s = tile + i * S;
          const bool any = apply_mask(s, S, i0 + i, hd, a.is_causal);
          lse_row[i0 + i] = softmax_row_lse(s, S, any);
          if (drop.on)
            apply_dropout<T>(s, mult, S, hd.counter0 + static_cast<std::uint64_t>((i0 + i) * S), drop.seed_hash,
                             drop.threshold, static_cast<T>(drop.keep));
        }
        if (Ev > 0) head_gemm<T>(hd.bf16, false, false, n, Ev, S, T(1), tile, S, hd.v, hd.ldv, T(0), o + i0 * ldo, ldo);
      }
    }
  });
}

template <class T, class E>
void attention_backward(const KernelView& gq, const KernelView& gk, const KernelView& gv, const KernelView& gout,
                        const KernelView& q, const KernelView& k, const KernelView& v, const KernelView& out,
                        const KernelView& lse, const KernelView& mask, const AttentionArgs& a) {
  const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S = k.shape[2], E_ = q.shape[3], Ev = v.shape[3];
  if (B * H == 0) return;
  const DropoutStream drop(a);
  const std::int64_t rows = block_rows(L, S, sizeof(T));
  constexpr bool in_place = std::is_same_v<E, T>;  // dK, dV summed in the gradients themselves
  parallel_for(0, B * H, 1, [&](std::int64_t t0, std::int64_t t1) {
    const auto tile_size = static_cast<std::size_t>(rows * std::max<std::int64_t>(S, 1));
    T* p = scratch<T>(0, tile_size);     // probabilities, then dS
    T* dp = scratch<T>(1, tile_size);    // P∘M for dV, then dP
    T* mult = scratch<T>(2, tile_size);  // dropout multipliers
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t b = t / H, h = t % H;
      const auto hd = head_at<E>(q, k, v, mask, a, b, h);
      const auto at = [b, h](const KernelView& x) { return x.ptr<E>() + b * x.strides[0] + h * x.strides[1]; };
      E *dq = at(gq), *dk = at(gk), *dv = at(gv);
      const E *go = at(gout), *o = at(out);
      const std::int64_t ldgq = row_ld(gq), ldgk = row_ld(gk), ldgv = row_ld(gv), ldgo = row_ld(gout), ldo = row_ld(out);
      const T* lse_row = lse.ptr<const T>() + t * L;
      // dK and dV accumulate over the query blocks: the first block's products write them (beta 0),
      // the later ones add; with no query at all they are zero.
      T* dk_sum;
      T* dv_sum;
      std::int64_t ld_dk, ld_dv;
      if constexpr (in_place) {
        dk_sum = dk, dv_sum = dv, ld_dk = ldgk, ld_dv = ldgv;
      } else {
        dk_sum = scratch<T>(3, static_cast<std::size_t>(std::max<std::int64_t>(S * E_, 1)));
        dv_sum = scratch<T>(4, static_cast<std::size_t>(std::max<std::int64_t>(S * Ev, 1)));
        ld_dk = E_, ld_dv = Ev;
      }
      if (L == 0)
        for (std::int64_t j = 0; j < S; ++j) {
          std::fill(dk_sum + j * ld_dk, dk_sum + j * ld_dk + E_, T(0));
          std::fill(dv_sum + j * ld_dv, dv_sum + j * ld_dv + Ev, T(0));
        }
      if (S == 0) {
        for (std::int64_t i = 0; i < L; ++i) std::fill(dq + i * ldgq, dq + i * ldgq + E_, E(0));
        continue;
      }
      for (std::int64_t i0 = 0; i0 < L; i0 += rows) {
        const std::int64_t n = std::min(rows, L - i0);
        const T sum_beta = i0 == 0 ? T(0) : T(1);  // dK, dV: written by the first block, then summed
        scores_block(p, hd, i0, n, S, E_, a.scale);
        for (std::int64_t i = 0; i < n; ++i) {
          T* s = p + i * S;
          const bool any = apply_mask(s, S, i0 + i, hd, a.is_causal);
          probabilities_from_lse(s, S, any, lse_row[i0 + i]);
          if (drop.on) {
            std::copy(s, s + S, dp + i * S);
            apply_dropout<T>(dp + i * S, mult + i * S, S, hd.counter0 + static_cast<std::uint64_t>((i0 + i) * S),
                             drop.seed_hash, drop.threshold, static_cast<T>(drop.keep));
          }
        }
        if (Ev > 0) {
          // dV += (P∘M)^T dO_blk ; dP = (dO_blk V^T)∘M
          head_gemm<T>(hd.bf16, true, false, S, Ev, n, T(1), drop.on ? dp : p, S, go + i0 * ldgo, ldgo, sum_beta,
                       dv_sum, ld_dv);
          head_gemm<T>(hd.bf16, false, true, n, S, Ev, T(1), go + i0 * ldgo, ldgo, hd.v, hd.ldv, T(0), dp, S);
        } else {
          std::fill(dp, dp + n * S, T(0));
        }
        for (std::int64_t i = 0; i < n; ++i) {
          // rowsum(P∘dP) = rowsum(dO∘O): the output already holds P∘M times V.
          const T row_dot = dot_as<T>(go + (i0 + i) * ldgo, o + (i0 + i) * ldo, Ev);
          score_grad_row(p + i * S, dp + i * S, drop.on ? mult + i * S : nullptr, row_dot, S, i0 + i, hd,
                         a.is_causal);
        }
        // dQ_blk = scale dS K ; dK += scale dS^T Q_blk
        if (E_ > 0) {
          head_gemm<T>(hd.bf16, false, false, n, E_, S, static_cast<T>(a.scale), p, S, hd.k, hd.ldk, T(0),
                       dq + i0 * ldgq, ldgq);
          head_gemm<T>(hd.bf16, true, false, S, E_, n, static_cast<T>(a.scale), p, S, hd.q + i0 * hd.ldq, hd.ldq,
                       sum_beta, dk_sum, ld_dk);
        }
      }
      if constexpr (!in_place)
        for (std::int64_t j = 0; j < S; ++j) {  // rounded once into the bf16 gradients
          float_to_bf16_row(dk + j * ldgk, 1, dk_sum + j * ld_dk, 1, E_);
          float_to_bf16_row(dv + j * ldgv, 1, dv_sum + j * ld_dv, 1, Ev);
        }
    }
  });
}

}  // namespace attention_detail

inline void scaled_dot_product_attention(const KernelView& out, const KernelView& lse, const KernelView& q,
                                         const KernelView& k, const KernelView& v, const KernelView& mask,
                                         const AttentionArgs& a) {
#ifdef TINYXF_HAVE_BF16_GEMM
  if (q.dtype == DType::bf16)
    return attention_detail::attention_forward<float, std::uint16_t>(out, lse, q, k, v, mask, a);
#endif
  dispatch_floating(q.dtype, "scaled_dot_product_attention", [&]<class T>(type_tag<T>) {
    attention_detail::attention_forward<T, T>(out, lse, q, k, v, mask, a);
  });
}

inline void scaled_dot_product_attention_backward(const KernelView& gq, const KernelView& gk, const KernelView& gv,
                                                  const KernelView& gout, const KernelView& q, const KernelView& k,
                                                  const KernelView& v, const KernelView& out, const KernelView& lse,
                                                  const KernelView& mask, const AttentionArgs& a) {
#ifdef TINYXF_HAVE_BF16_GEMM
  if (q.dtype == DType::bf16)
    return attention_detail::attention_backward<float, std::uint16_t>(gq, gk, gv, gout, q, k, v, out, lse, mask, a);
#endif
  dispatch_floating(q.dtype, "scaled_dot_product_attention_backward", [&]<class T>(type_tag<T>) {
    attention_detail::attention_backward<T, T>(gq, gk, gv, gout, q, k, v, out, lse, mask, a);
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
