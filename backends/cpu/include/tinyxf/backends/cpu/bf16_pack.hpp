#pragma once
// Packing and tile I/O shared by the bf16 GEMM kernels (gemm_bf16.hpp: AVX512-BF16 VDPBF16PS;
// gemm_amx.hpp: AMX tiles). Both multiply bf16 pairs along k: a dword holds the bf16 values of
// k and k + 1 of one row of op(A) or one column of op(B). float32 operands are rounded to bf16
// (round to nearest even) while they are packed; bf16 operands are copied as they are. op(B) is
// packed per KC×NC block in panels of kNR columns, [k pair][kNR] dwords (the layout of an AMX B
// tile, two tiles wide). C tiles are read and written in float32 with alpha/beta (TileIo).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/backends/cpu/aligned.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TINYXF_HAVE_BF16_GEMM 1
#define TINYXF_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace bf16_gemm_detail {

inline constexpr int kNR = 32;          // columns of C per micro-kernel (two vectors, two AMX tiles)
inline constexpr std::int64_t kKC = 768;  // at most this k per packed block (even)
inline constexpr std::int64_t kNC = 2048; // columns of op(B) per packed block (multiple of kNR)

// The k of each packed block: k split into equal even blocks of at most kKC. One block for the
// hidden size 768 means C is written once, not summed over two passes (bf16 C: through
// scratch); that was worth 8-15 % on those GEMMs, more than keeping a B panel of 384 k (24 KiB)
// in L1 instead of streaming 48 KiB from L2 (blocks of 384: 347-367 GFLOP/s on
// 2048x3072 <- 768 with a bf16 C, blocks of 768: 417-429, 2 threads, Zen 4).
inline std::int64_t k_block(std::int64_t k, std::int64_t kc_limit = kKC) {
  const std::int64_t blocks = (k + kc_limit - 1) / kc_limit;
  return ((k + blocks - 1) / blocks + 1) / 2 * 2;
}

// Per-thread packing buffers, grown on demand and kept (no allocation once warm); cache-line
// aligned, so that no tile row or vector of a panel straddles two lines.
struct PackBuffers {
  CacheLineVector<std::uint32_t> a, b;
  CacheLineVector<float> c;  // partial sums of a rounded C (gemm_bf16)
};
inline PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

inline __mmask16 first_lanes(std::int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1u);
}

// dst[j] = (bf16(row0[j]), bf16(row1[j])) for j < count; row1 == nullptr means zeros (odd k).
TINYXF_BF16_TARGET inline __m512i interleave16(__mmask16 m, const float* row0, const float* row1) {
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512 x0 = _mm512_maskz_loadu_ps(m, row0);
  const __m512 x1 = row1 != nullptr ? _mm512_maskz_loadu_ps(m, row1) : _mm512_setzero_ps();
  // low half bf16(x0), high half bf16(x1); then pairs (x0[j], x1[j]).
  const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
  return _mm512_maskz_permutexvar_epi16(0xFFFFFFFFu, order, both);
}
// The same for bf16 operands (bit patterns), which need no rounding: two rows interleave by
// widening each 16-bit value to a dword.
TINYXF_BF16_TARGET inline __m512i interleave16(__mmask16 m, const std::uint16_t* row0, const std::uint16_t* row1) {
  // (maskz forms: GCC 12 warns about the unmasked ones' undefined vectors under target attributes)
  const __m512i x0 = _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, row0));
  const __m512i x1 = row1 != nullptr ? _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, row1))
                                     : _mm512_setzero_si512();
  return _mm512_or_si512(x0, _mm512_maskz_slli_epi32(m, x1, 16));
}
// dst[j] = (row0[j], row1[j]) as bf16 for j < count; row1 == nullptr means zeros (odd k).
template <class E>
TINYXF_BF16_TARGET inline void interleave_rows(std::uint32_t* dst, const E* row0, const E* row1, std::int64_t count) {
  for (std::int64_t j = 0; j < count; j += 16) {
    const __mmask16 m = first_lanes(count - j);
    _mm512_mask_storeu_epi32(dst + j, m, interleave16(m, row0 + j, row1 != nullptr ? row1 + j : nullptr));
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
  const float* bias = nullptr;  // the tile's first column's bias, added after beta * in (first k block)
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

// Where the k blocks of a bf16 C sum before its last block rounds them: float32 rows
// [m][min(n, kNC)] per thread, kept (no allocation once warm). Null where C is float32 (it sums
// in place) or k fits one block of kc.
template <class EC>
inline float* partial_sums(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t kc) {
  if (!std::is_same_v<EC, std::uint16_t> || k <= kc) return nullptr;
  auto& c = pack_buffers().c;
  const std::size_t size = static_cast<std::size_t>(m * std::min(n, kNC));
  if (c.size() < size) c.resize(size);
  return c.data();
}

// tile(io) with the TileIo of one tile of C (at cp) in the k block that is the first and/or the
// last: a float32 C sums the blocks in place (round_c: the last block's epilogue rounds the
// sum); a bf16 C only takes the final sum, earlier blocks summing into the partial sums at sp.
// A float32 C's bias (bias: at the tile's first column, or null) goes in with the first k block,
// where a C prefilled with it would have been read: the same sums, bit for bit.
template <class EC, class F>
inline void with_tile_io(EC* cp, std::int64_t ldc, float* sp, std::int64_t ld_s, bool first, bool last,
                         float beta, bool round_c, F&& tile, const float* bias = nullptr) {
  if constexpr (std::is_same_v<EC, float>)
    tile(TileIo<float, float>{cp, ldc, cp, ldc, !(first && beta == 0.0f), first ? beta : 1.0f, round_c && last,
                              first ? bias : nullptr});
  else if (first && last)
    tile(TileIo<EC, EC>{cp, ldc, cp, ldc, beta != 0.0f, beta, false});
  else if (first)
    tile(TileIo<EC, float>{cp, ldc, sp, ld_s, beta != 0.0f, beta, false});
  else if (!last)
    tile(TileIo<float, float>{sp, ld_s, sp, ld_s, true, 1.0f, false});
  else
    tile(TileIo<float, EC>{sp, ld_s, cp, ldc, true, 1.0f, false});
}

}  // namespace bf16_gemm_detail
#endif

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
