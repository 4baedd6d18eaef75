#pragma once
// GEMM with bfloat16 products and float32 sums. float32 operands (what PyTorch's
// set_float32_matmul_precision("medium") allows on a CPU) are rounded to bf16 (round to nearest
// even) while they are packed; bf16 operands (autocast) are packed as they are, with no float32
// copy. AVX512-BF16's VDPBF16PS multiplies pairs of them and sums in float32, twice the
// multiply-adds per instruction of a float FMA. C stays float32 and alpha/beta apply in float32.
//
// Goto-style blocking. Per KC×NC block of op(B): panels of NR columns, each [k pair][NR] dwords
// (a dword = the bf16 values of rows k and k+1 of one column). Per MC×KC block of op(A):
// [k pair][MC] dwords (rows k, k+1 of one row of op(A)). The MR×NR micro-kernel keeps its
// B panel (up to 48 KiB) in L1/L2, broadcasts one A dword per row and k pair, and accumulates 2·MR
// float32 vectors. The instructions are compiled with target attributes and chosen at run time
// (has_bf16_dot), so the rest of the program needs no -mavx512bf16.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/features.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TINYXF_HAVE_BF16_GEMM 1
#define TINYXF_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace bf16_gemm_detail {

inline constexpr int kMR = 12;          // rows of C per micro-kernel
inline constexpr int kNR = 32;          // columns of C per micro-kernel (two vectors)
inline constexpr std::int64_t kKC = 768;  // at most this k per packed block (even)
inline constexpr std::int64_t kMC = 240;  // rows of op(A) per packed block (multiple of kMR)
inline constexpr std::int64_t kNC = 2048; // columns of op(B) per packed block (multiple of kNR)

// The k of each packed block: k split into equal even blocks of at most kKC. One block for the
// hidden size 768 means C is written once, not summed over two passes (bf16 C: through
// scratch); that was worth 8-15 % on those GEMMs, more than keeping a B panel of 384 k (24 KiB)
// in L1 instead of streaming 48 KiB from L2 (blocks of 384: 347-367 GFLOP/s on
// 2048x3072 <- 768 with a bf16 C, blocks of 768: 417-429, 2 threads, Zen 4).
inline std::int64_t k_block(std::int64_t k) {
  const std::int64_t blocks = (k + kKC - 1) / kKC;
  return ((k + blocks - 1) / blocks + 1) / 2 * 2;
}

// Per-thread packing buffers, grown on demand and kept (no allocation once warm).
struct PackBuffers {
  std::vector<std::uint32_t> a, b;
  std::vector<float> c;  // partial sums of a rounded C (gemm_bf16)
};
inline PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

inline __mmask16 first_lanes(std::int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1u);
}

// dst[j] = (bf16(row0[j]), bf16(row1[j])) for j < count; row1 == nullptr means zeros (odd k).
TINYXF_BF16_TARGET inline void interleave_rows(std::uint32_t* dst, const float* row0,
                                               const float* row1, std::int64_t count) {
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (std::int64_t j = 0; j < count; j += 16) {
    const __mmask16 m = first_lanes(count - j);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, row0 + j);
    const __m512 x1 = row1 != nullptr ? _mm512_maskz_loadu_ps(m, row1 + j) : _mm512_setzero_ps();
    // low half bf16(x0), high half bf16(x1); then pairs (x0[j], x1[j]).
    const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
    _mm512_mask_storeu_epi32(dst + j, m, _mm512_permutexvar_epi16(order, both));
  }
}

// The pairs (src[2p], src[2p + 1]) for p < 16 of src[0, left) as bf16 dwords; pairs at or past
// `left` are zero (an odd `left` leaves its last pair's high half zero). float32 is rounded to
// nearest even; bf16 bit patterns need no rounding: a pair along k is the 32-bit word at src + 2p.
TINYXF_BF16_TARGET inline __m512i load_pairs(const float* src, std::int64_t left) {
  const __m512 x0 = _mm512_maskz_loadu_ps(first_lanes(left), src);
  const __m512 x1 = left > 16 ? _mm512_maskz_loadu_ps(first_lanes(left - 16), src + 16) : _mm512_setzero_ps();
  return (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
}
TINYXF_BF16_TARGET inline __m512i load_pairs(const std::uint16_t* src, std::int64_t left) {
  const __mmask32 m = left >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((1u << left) - 1u);
  return _mm512_maskz_loadu_epi16(m, src);
}

// dst[p] = (bf16(src[2p]), bf16(src[2p + 1])) for the pairs of src[0, count).
template <class E>
TINYXF_BF16_TARGET inline void pairs_along(std::uint32_t* dst, const E* src, std::int64_t count) {
  for (std::int64_t k = 0; k < count; k += 32) {
    const std::int64_t left = count - k;
    _mm512_mask_storeu_epi32(dst + k / 2, first_lanes((left + 1) / 2), load_pairs(src + k, left));
  }
}

// In place: v[j][i] = old v[i][j] for the 16×16 dwords of v (4 rounds of 16 shuffles).
TINYXF_BF16_TARGET inline void transpose_16x16(__m512i v[16]) {
  // maskz forms with every lane set: GCC 12 warns about the plain forms' undefined vectors.
  const __mmask16 all16 = 0xFFFF;
  const __mmask8 all8 = 0xFF;
  __m512i t[16];
  for (int q = 0; q < 4; ++q) {  // within 128-bit lanes: 2×2 of dwords, then of qwords
    t[4 * q + 0] = _mm512_maskz_unpacklo_epi32(all16, v[4 * q], v[4 * q + 1]);
    t[4 * q + 1] = _mm512_maskz_unpackhi_epi32(all16, v[4 * q], v[4 * q + 1]);
    t[4 * q + 2] = _mm512_maskz_unpacklo_epi32(all16, v[4 * q + 2], v[4 * q + 3]);
    t[4 * q + 3] = _mm512_maskz_unpackhi_epi32(all16, v[4 * q + 2], v[4 * q + 3]);
    v[4 * q + 0] = _mm512_maskz_unpacklo_epi64(all8, t[4 * q + 0], t[4 * q + 2]);
    v[4 * q + 1] = _mm512_maskz_unpackhi_epi64(all8, t[4 * q + 0], t[4 * q + 2]);
    v[4 * q + 2] = _mm512_maskz_unpacklo_epi64(all8, t[4 * q + 1], t[4 * q + 3]);
    v[4 * q + 3] = _mm512_maskz_unpackhi_epi64(all8, t[4 * q + 1], t[4 * q + 3]);
  }
  // v[4q + c], lane L now holds rows 4q..4q+3 of column 4L + c: transpose the 4×4 lanes.
  for (int c = 0; c < 4; ++c) {
    const __m512i a0 = _mm512_maskz_shuffle_i32x4(all16, v[c], v[4 + c], 0x88);
    const __m512i a1 = _mm512_maskz_shuffle_i32x4(all16, v[c], v[4 + c], 0xDD);
    const __m512i b0 = _mm512_maskz_shuffle_i32x4(all16, v[8 + c], v[12 + c], 0x88);
    const __m512i b1 = _mm512_maskz_shuffle_i32x4(all16, v[8 + c], v[12 + c], 0xDD);
    t[c] = _mm512_maskz_shuffle_i32x4(all16, a0, b0, 0x88);       // column c
    t[4 + c] = _mm512_maskz_shuffle_i32x4(all16, a1, b1, 0x88);   // column 4 + c
    t[8 + c] = _mm512_maskz_shuffle_i32x4(all16, a0, b0, 0xDD);   // column 8 + c
    t[12 + c] = _mm512_maskz_shuffle_i32x4(all16, a1, b1, 0xDD);  // column 12 + c
  }
  for (int i = 0; i < 16; ++i) v[i] = t[i];
}

// dst[p * stride + r] = the pair p of row r0 + r, k from k0 (count values), for r < rows: 16 rows
// at a time, as one 16×16 dword transpose per 32 values of k (no scalar scatter).
template <class E>
TINYXF_BF16_TARGET inline void pairs_across_rows(std::uint32_t* dst, std::int64_t stride, const E* src,
                                                 std::int64_t ld, std::int64_t rows, std::int64_t count) {
  for (std::int64_t r = 0; r < rows; r += 16) {
    const int group = static_cast<int>(std::min<std::int64_t>(16, rows - r));
    const __mmask16 lanes = first_lanes(group);
    for (std::int64_t k = 0; k < count; k += 32) {
      const std::int64_t left = count - k;
      __m512i v[16];
      for (int i = 0; i < 16; ++i)
        v[i] = i < group ? load_pairs(src + (r + i) * ld + k, left) : _mm512_setzero_si512();
      transpose_16x16(v);
      const std::int64_t pairs = std::min<std::int64_t>(16, (left + 1) / 2);
      for (std::int64_t p = 0; p < pairs; ++p) _mm512_mask_storeu_epi32(dst + (k / 2 + p) * stride + r, lanes, v[p]);
    }
  }
}

// The same for bf16 operands (bit patterns), which need no rounding: two rows interleave by
// widening each 16-bit value to a dword.
TINYXF_BF16_TARGET inline void interleave_rows(std::uint32_t* dst, const std::uint16_t* row0,
                                               const std::uint16_t* row1, std::int64_t count) {
  for (std::int64_t j = 0; j < count; j += 16) {
    const __mmask16 m = first_lanes(count - j);
    // (maskz forms: GCC 12 warns about the unmasked ones' undefined vectors under target attributes)
    const __m512i x0 = _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, row0 + j));
    const __m512i x1 = row1 != nullptr ? _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, row1 + j))
                                       : _mm512_setzero_si512();
    _mm512_mask_storeu_epi32(dst + j, m, _mm512_or_si512(x0, _mm512_maskz_slli_epi32(m, x1, 16)));
  }
}
// Element (r, k) of a row-major operand that is stored as [r][k] (along) or [k][r] (across);
// E is float (rounded while packed) or std::uint16_t (bf16 bit patterns).
template <class E>
struct Operand {
  const E* p;
  std::int64_t ld;
  bool k_contiguous;  // op(X)[r][k] = p[r * ld + k]; otherwise p[k * ld + r]
};

// Packs rows [r0, r0 + rows) and k in [k0, k0 + kc) of an operand as [k pair][dst_stride]
// dwords (rows beyond `rows` up to `rows_padded` are zero).
template <class E>
TINYXF_BF16_TARGET inline void pack_pairs(std::uint32_t* dst, std::int64_t dst_stride,
                                          const Operand<E>& x, std::int64_t r0, std::int64_t rows,
                                          std::int64_t rows_padded, std::int64_t k0,
                                          std::int64_t kc, std::int64_t k_total) {
  const std::int64_t kp_count = (kc + 1) / 2;
  if (x.k_contiguous) {
    pairs_across_rows(dst, dst_stride, x.p + r0 * x.ld + k0, x.ld, rows, kc);
  } else {
    for (std::int64_t kp = 0; kp < kp_count; ++kp) {
      const std::int64_t k = k0 + 2 * kp;
      interleave_rows(dst + kp * dst_stride, x.p + k * x.ld + r0,
                      k + 1 < k_total && 2 * kp + 1 < kc ? x.p + (k + 1) * x.ld + r0 : nullptr,
                      rows);
    }
  }
  if (rows_padded > rows)
    for (std::int64_t kp = 0; kp < kp_count; ++kp)
      std::fill(dst + kp * dst_stride + rows, dst + kp * dst_stride + rows_padded, 0u);
}

// Where a micro-kernel's tile of C comes from and goes to: `in` is read (when `load`) and scaled
// by beta; the sum is stored to `out` as float32 (rounded to bf16 precision when `round`: the
// value of a bf16 result cast back to float32) or as bf16. In and out are C itself, or the
// float32 partial sums of the k blocks before the last (see gemm_bf16).
template <class In, class Out>
struct TileIo {
  const In* in;
  std::int64_t ld_in;
  Out* out;
  std::int64_t ld_out;
  bool load;
  float beta;
  bool round;
};

TINYXF_BF16_TARGET inline __m512 load_tile_row(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
TINYXF_BF16_TARGET inline __m512 load_tile_row(__mmask16 m, const std::uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, p)), 16));
}
// float_to_bf16 (core/half.hpp) on 16 lanes: the bf16 in the high half of each dword, the low
// half zero. Rounds to nearest even and keeps subnormal results (the conversion instruction
// would flush them); NaNs stay quiet NaNs.
TINYXF_BF16_TARGET inline __m512i round_to_bf16_bits(__m512 x) {
  const __mmask16 all = 0xFFFF;
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_maskz_and_epi32(all, _mm512_maskz_srli_epi32(all, bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_maskz_add_epi32(all, bits, _mm512_maskz_add_epi32(all, lsb, _mm512_set1_epi32(0x7FFF)));
  const __m512i quiet_nan = _mm512_maskz_or_epi32(all, bits, _mm512_set1_epi32(0x00400000));
  const __m512i chosen = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), rounded, quiet_nan);
  return _mm512_maskz_and_epi32(all, chosen, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
}
TINYXF_BF16_TARGET inline void store_tile_row(float* p, __mmask16 m, __m512 v, bool round) {
  _mm512_mask_storeu_ps(p, m, round ? _mm512_castsi512_ps(round_to_bf16_bits(v)) : v);
}
TINYXF_BF16_TARGET inline void store_tile_row(std::uint16_t* p, __mmask16 m, __m512 v, bool /*round*/) {
  _mm512_mask_cvtepi32_storeu_epi16(p, m, _mm512_maskz_srli_epi32(0xFFFF, round_to_bf16_bits(v), 16));
}

// Asks for the cache lines of one row of a C tile (kNR elements).
template <class C>
TINYXF_BF16_TARGET inline void prefetch_row(const C* row) {
  const char* p = reinterpret_cast<const char*>(row);
  for (std::size_t b = 0; b < kNR * sizeof(C); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
  if constexpr (sizeof(C) < 4) _mm_prefetch(p + kNR * sizeof(C) - 1, _MM_HINT_T0);  // a row across two lines
}

// out[0:mr, 0:nr] = alpha * (A panel · B panel) + beta * in (see TileIo). The A dword of row i
// and k pair kp is a[kp * a_stride + i] (RowsAdjacent) or a[i * a_stride + kp].
template <bool RowsAdjacent, class In, class Out>
TINYXF_BF16_TARGET inline void micro_kernel(std::int64_t kp_count, const std::uint32_t* a,
                                            std::int64_t a_stride, const std::uint32_t* b,
                                            const TileIo<In, Out>& io, int mr, int nr, float alpha) {
  // The tile of C read and written at the end is fetched now, while the products run (it is
  // rarely cached: a thread's C is megabytes, each tile revisited once per k block); waiting for
  // it in the epilogue cost about a tenth of the kernel's time.
  for (int i = 0; i < mr; ++i) {
    if (io.load) prefetch_row(io.in + i * io.ld_in);
    if (!io.load || static_cast<const void*>(io.out) != static_cast<const void*>(io.in))
      prefetch_row(io.out + i * io.ld_out);
  }
  __m512 acc[kMR][2];
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (std::int64_t kp = 0; kp < kp_count; ++kp) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + kp * kNR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + kp * kNR + 16);
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i) {
      const std::uint32_t dword = RowsAdjacent ? a[kp * a_stride + i] : a[i * a_stride + kp];
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(dword));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
  const __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr > 16 ? nr - 16 : 0);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(io.beta);
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) {
    if (i >= mr) break;
    __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
    if (io.load) {
      const In* in = io.in + i * io.ld_in;
      r0 = _mm512_fmadd_ps(vb, load_tile_row(m0, in), r0);
      r1 = _mm512_fmadd_ps(vb, load_tile_row(m1, in + 16), r1);
    }
    Out* out = io.out + i * io.ld_out;
    store_tile_row(out, m0, r0, io.round);
    store_tile_row(out + 16, m1, r1, io.round);
  }
}

template <class In, class Out>
TINYXF_BF16_TARGET inline void run_tile(bool a_rows, std::int64_t kp_count, const std::uint32_t* a,
                                        std::int64_t a_stride, const std::uint32_t* b, const TileIo<In, Out>& io,
                                        int mr, int nr, float alpha) {
  if (a_rows)
    micro_kernel<false>(kp_count, a, a_stride, b, io, mr, nr, alpha);
  else
    micro_kernel<true>(kp_count, a, a_stride, b, io, mr, nr, alpha);
}

}  // namespace bf16_gemm_detail

// One product, single-threaded: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with the
// layouts of cblas_sgemm (row-major; trans_a: A stored [k][m]; trans_b: B stored [n][k]).
// A and B are each float32 (rounded to bf16 as they are packed) or bf16 bit patterns
// (std::uint16_t); C is float32, or bf16 bit patterns rounded once from the float32 sum, and
// `round_c` makes a float32 C hold that rounded value too (autocast's cast back of a bf16
// result). k > 0; the caller splits work over threads.
template <class EA, class EB, class EC>
TINYXF_BF16_TARGET inline void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m,
                                         std::int64_t n, std::int64_t k, float alpha,
                                         const EA* a, std::int64_t lda, const EB* b,
                                         std::int64_t ldb, float beta, EC* c,
                                         std::int64_t ldc, bool round_c = false) {
  static_assert(std::is_same_v<EA, float> || std::is_same_v<EA, std::uint16_t>);
  static_assert(std::is_same_v<EB, float> || std::is_same_v<EB, std::uint16_t>);
  static_assert(std::is_same_v<EC, float> || std::is_same_v<EC, std::uint16_t>);
  namespace d = bf16_gemm_detail;
  auto& buf = d::pack_buffers();
  const d::Operand<EA> opa{a, lda, !trans_a};
  const d::Operand<EB> opb{b, ldb, trans_b};  // op(B) columns are the packed rows
  const std::int64_t kc_max = d::k_block(k), kp_max = kc_max / 2;
  // A float32 C sums the k blocks in place (round_c: the last block's epilogue rounds the sum). A
  // bf16 C only takes the final sum: the k blocks before the last one sum into float32 scratch
  // rows ([m][min(n, NC)] per thread, kept), which the last block's epilogue reads and rounds.
  const std::int64_t ld_s = std::min(n, d::kNC);
  float* scratch = nullptr;
  if (std::is_same_v<EC, std::uint16_t> && k > kc_max) {
    if (buf.c.size() < static_cast<std::size_t>(m * ld_s)) buf.c.resize(static_cast<std::size_t>(m * ld_s));
    scratch = buf.c.data();
  }
  for (std::int64_t jc = 0; jc < n; jc += d::kNC) {
    const std::int64_t nc = std::min(d::kNC, n - jc);
    const std::int64_t panels = (nc + d::kNR - 1) / d::kNR;
    for (std::int64_t pc = 0; pc < k; pc += kc_max) {
      const std::int64_t kc = std::min(kc_max, k - pc), kp_count = (kc + 1) / 2;
      const bool first = pc == 0, last = pc + kc >= k;
      if (buf.b.size() < static_cast<std::size_t>(panels * kp_max * d::kNR))
        buf.b.resize(static_cast<std::size_t>(panels * kp_max * d::kNR));
      for (std::int64_t p = 0; p < panels; ++p) {
        const std::int64_t j0 = p * d::kNR, cols = std::min<std::int64_t>(d::kNR, nc - j0);
        d::pack_pairs(buf.b.data() + p * kp_count * d::kNR, d::kNR, opb, jc + j0, cols, d::kNR,
                      pc, kc, k);
      }
      for (std::int64_t ic = 0; ic < m; ic += d::kMC) {
        const std::int64_t mc = std::min(d::kMC, m - ic);
        const std::int64_t mc_pad = (mc + d::kMR - 1) / d::kMR * d::kMR;
        if (buf.a.size() < static_cast<std::size_t>(kp_max * d::kMC))
          buf.a.resize(static_cast<std::size_t>(kp_max * d::kMC));
        // k-contiguous A: each row converted in place, [row][k pair] (a plain vector
        // conversion); otherwise [k pair][row] from pairs of stored rows.
        const bool a_rows = opa.k_contiguous;
        if (a_rows) {
          for (std::int64_t r = 0; r < mc; ++r)
            d::pairs_along(buf.a.data() + r * kp_max, opa.p + (ic + r) * opa.ld + pc, kc);
          std::fill(buf.a.data() + mc * kp_max, buf.a.data() + mc_pad * kp_max, 0u);
        } else {
          d::pack_pairs(buf.a.data(), mc_pad, opa, ic, mc, mc_pad, pc, kc, k);
        }
        for (std::int64_t p = 0; p < panels; ++p) {
          const std::int64_t j0 = p * d::kNR;
          const int nr = static_cast<int>(std::min<std::int64_t>(d::kNR, nc - j0));
          const std::uint32_t* bp = buf.b.data() + p * kp_count * d::kNR;
          for (std::int64_t ir = 0; ir < mc; ir += d::kMR) {
            const int mr = static_cast<int>(std::min<std::int64_t>(d::kMR, mc - ir));
            const std::uint32_t* ap = a_rows ? buf.a.data() + ir * kp_max : buf.a.data() + ir;
            const std::int64_t a_stride = a_rows ? kp_max : mc_pad;
            EC* cp = c + (ic + ir) * ldc + jc + j0;
            float* sp = scratch != nullptr ? scratch + (ic + ir) * ld_s + j0 : nullptr;
            const auto tile = [&](const auto& io) { d::run_tile(a_rows, kp_count, ap, a_stride, bp, io, mr, nr, alpha); };
            if constexpr (std::is_same_v<EC, float>)
              tile(d::TileIo<float, float>{cp, ldc, cp, ldc, !(first && beta == 0.0f), first ? beta : 1.0f,
                                           round_c && last});
            else if (first && last)
              tile(d::TileIo<EC, EC>{cp, ldc, cp, ldc, beta != 0.0f, beta, false});
            else if (first)
              tile(d::TileIo<EC, float>{cp, ldc, sp, ld_s, beta != 0.0f, beta, false});
            else if (!last)
              tile(d::TileIo<float, float>{sp, ld_s, sp, ld_s, true, 1.0f, false});
            else
              tile(d::TileIo<float, EC>{sp, ld_s, cp, ldc, true, 1.0f, false});
          }
        }
      }
    }
  }
}

#undef TINYXF_BF16_TARGET
#endif

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
