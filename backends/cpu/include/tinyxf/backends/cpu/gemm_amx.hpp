#pragma once
// The bf16 GEMM on AMX tiles (Sapphire Rapids and later; chosen by gemm_bf16 where has_amx_bf16).
// TDPBF16PS multiplies a 16×32 bf16 tile of op(A) by a 32×16 tile of op(B) (16 k pairs × 16
// columns, the [k pair][column] dwords of a packed B panel) into a 16×16 float32 tile: 8192
// multiply-adds per instruction, sixteen times AVX512-BF16's per cycle.
//
// The same blocking and packing as the AVX512-BF16 kernel (bf16_pack.hpp), with a 32×32 block of
// C per micro-kernel: 2×2 C tiles, two A tiles and two B tiles (the 8 tile registers). op(A) is
// packed [row][k pair] (each A tile is 16 rows of 16 pairs), and both operands' k pairs are
// padded with zeros to a multiple of 16, rows of op(A) to a multiple of 16, so every tile is
// whole. The C block goes through an L1 float32 buffer to the shared epilogue (alpha, beta,
// rounding, masked stores of partial blocks).
#include "tinyxf/backends/cpu/bf16_pack.hpp"
#include "tinyxf/backends/cpu/features.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

#if defined(TINYXF_HAVE_BF16_GEMM) && defined(__linux__)
#define TINYXF_HAVE_AMX_GEMM 1
#define TINYXF_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))

namespace amx_gemm_detail {

inline constexpr int kTile = 16;           // rows of a tile; k pairs of an A/B tile; columns of C
inline constexpr int kMR = 2 * kTile;      // rows of C per micro-kernel (kNR = 2 tiles of columns)
// At most this k per packed block. Each further k block reads and writes all of C again (for a
// float32 C of 2048×768 that is 6 MiB each way, beyond L2), which cost more than streaming longer
// panels from L2: 2048×768 <- 3072 ran at 496, 542, 564, 576 GFLOP/s with blocks of 768, 1024,
// 1536, 3072 (1 thread, Xeon model 207).
inline constexpr std::int64_t kKC = 4096;
// Rows of op(A) per packed block: as many as keep the block within ~768 KiB of L2 (its B panel
// streams past it), a multiple of kMR from 32 to 256.
inline std::int64_t rows_per_block(std::int64_t kc) {
  return std::clamp<std::int64_t>((768 * 1024) / (2 * kc) / kMR * kMR, kMR, 256);
}   // at most this k per packed block (as bf16_pack's kKC)

// The k of each packed block: k_block's split at kKC, with one exception. op(A) stored [k][row]
// (a weight gradient's gy^T) is packed by reading each stored row in pieces of a block's rows;
// below ~192 rows (768 bytes) those reads stop streaming and the packing ran at half the speed of
// the contiguous case. So when the whole k would leave fewer rows per block, k is cut into blocks
// of at most 1024 (256 rows) instead: MiniLM's weight gradients (k = 4096 tokens) 18-27 % faster
// on 2 threads, DistilBERT's (k = 2048, 192 rows) unchanged (Xeon model 207; docs/backends.md).
inline std::int64_t k_block_size(bool a_stored_by_k, std::int64_t k) {
  const std::int64_t kc = bf16_gemm_detail::k_block(k, kKC);
  return a_stored_by_k && rows_per_block(kc) < 192 ? bf16_gemm_detail::k_block(k, 1024) : kc;
}

// How many B panels the micro-kernels take in turn for one 32-row strip of op(A) (a strip has a
// panel's size, 64 bytes per k pair). Where it fits half of L1 (k blocks up to 384), the strip
// stays in L1 while a group of panels (~768 KiB) streams from L2, and C is written in row-major
// sweeps of the group's columns: a float32 C of 4096×1536 <- 384 is stored ~25 % faster that way
// than panel by panel down 256 rows (a /tmp harness), and those GEMMs (MiniLM's k = 384: QKV,
// FFN-in, FFN-out's data gradient) ran 5-7 % faster on 2 threads (Xeon model 207). Longer k
// keeps one panel at a time against the A block (both from L2 either way; grouping was slower).
inline std::int64_t panels_per_group(std::int64_t panel_bytes, std::int64_t panels) {
  if (2 * panel_bytes > 48 * 1024) return 1;
  return std::clamp<std::int64_t>((768 * 1024) / panel_bytes, 1, panels);
}
inline std::int64_t round_up(std::int64_t x, std::int64_t to) { return (x + to - 1) / to * to; }

// Palette 1 with every tile 16 rows × 64 bytes: C tiles 0-3, A tiles 4-5, B tiles 6-7.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};

TINYXF_AMX_TARGET inline void configure_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = kTile;
  }
  _tile_loadconfig(&config);
}

// Where the k pairs [kq, kq + 16) of row r of a packed op(A) block start: per 32 rows, per 16
// k pairs, the two A tiles of a micro-kernel step (rows 0-15, rows 16-31) as 2 KiB in a row,
// so the micro-kernel reads its A block as one sequential stream.
inline std::int64_t a_offset(std::int64_t r, std::int64_t kq, std::int64_t kp_pad) {
  return (r / kMR) * (kp_pad * kMR) + kq * kMR + (r % kMR) * kTile;
}

// Packs rows [r0, r0 + rows) of op(A) and k in [k0, k0 + kc) at a_offset (kp_pad: the block's k
// pairs rounded up to 16); the pairs past the block's and the rows from `rows` to a multiple of
// 32 are zero.
template <class E>
TINYXF_AMX_TARGET inline void pack_rows(std::uint32_t* dst, std::int64_t kp_pad, const bf16_gemm_detail::Operand<E>& x,
                                        std::int64_t r0, std::int64_t rows, std::int64_t k0, std::int64_t kc,
                                        std::int64_t k_total) {
  namespace d = bf16_gemm_detail;
  const std::int64_t kp_count = (kc + 1) / 2;
  if (x.k_contiguous) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const E* src = x.p + (r0 + r) * x.ld + k0;
      for (std::int64_t kq = 0; kq < kp_pad; kq += kTile) {
        const __m512i v = 2 * kq < kc ? d::load_pairs(src + 2 * kq, kc - 2 * kq) : _mm512_setzero_si512();
        _mm512_storeu_si512(dst + a_offset(r, kq, kp_pad), v);
      }
    }
  } else {
    // op(A) stored [k][row]: 16 k pairs × 16 rows interleaved into [pair][row], then transposed;
    // along the stored rows first (k outermost), so each is read once, in order.
    for (std::int64_t kq = 0; kq < kp_pad; kq += kTile) {
      for (std::int64_t r = 0; r < rows; r += 16) {
        const std::int64_t group = std::min<std::int64_t>(16, rows - r);
        const __mmask16 lanes = d::first_lanes(group);
        __m512i v[16];
        for (int p = 0; p < 16; ++p) {
          const std::int64_t kp = kq + p, k = k0 + 2 * kp;
          v[p] = kp < kp_count ? d::interleave16(lanes, x.p + k * x.ld + r0 + r,
                                                 2 * kp + 1 < kc && k + 1 < k_total ? x.p + (k + 1) * x.ld + r0 + r : nullptr)
                               : _mm512_setzero_si512();
        }
        d::transpose_16x16(v);
        for (std::int64_t i = 0; i < group; ++i) _mm512_storeu_si512(dst + a_offset(r + i, kq, kp_pad), v[i]);
      }
    }
  }
  for (std::int64_t r = rows; r < round_up(rows, kMR); ++r)
    for (std::int64_t kq = 0; kq < kp_pad; kq += kTile) _mm512_storeu_si512(dst + a_offset(r, kq, kp_pad), _mm512_setzero_si512());
}

// acc[32][32] (float32, row stride 32) = the A rows (32, or 16 when !TwoRowTiles) · the B panel,
// over kp_pad k pairs. a: one 32-row block packed by pack_rows; b: [k pair][32] dwords.
template <bool TwoRowTiles>
TINYXF_AMX_TARGET inline void tile_product(std::int64_t kp_pad, const std::uint32_t* a, const std::uint32_t* b,
                                           float* acc) {
  constexpr std::size_t a_bytes = kTile * 4, b_bytes = bf16_gemm_detail::kNR * 4;
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (TwoRowTiles) {
    _tile_zero(2);
    _tile_zero(3);
  }
  // Tiles are not renamed: a load into a tile waits until the products reading it are done. So
  // each next-step load is issued right after the last product that reads its tile, and the
  // products in between hide its latency.
  // (Macros, not lambdas: a lambda does not inherit the function's target attribute in clang, and
  // GCC's _tile_loadd needs the tile number as a literal.)
#define TINYXF_AMX_LOAD_A0(kq) _tile_loadd(4, a + (kq) * kMR, a_bytes)
#define TINYXF_AMX_LOAD_A1(kq) _tile_loadd(5, a + (kq) * kMR + kTile * kTile, a_bytes)
#define TINYXF_AMX_LOAD_B0(kq) _tile_loadd(6, b + (kq) * bf16_gemm_detail::kNR, b_bytes)
#define TINYXF_AMX_LOAD_B1(kq) _tile_loadd(7, b + (kq) * bf16_gemm_detail::kNR + kTile, b_bytes)
  TINYXF_AMX_LOAD_A0(0);
  TINYXF_AMX_LOAD_B0(0);
  TINYXF_AMX_LOAD_B1(0);
  if constexpr (TwoRowTiles) TINYXF_AMX_LOAD_A1(0);
  for (std::int64_t kq = 0; kq < kp_pad; kq += kTile) {
    const std::int64_t next = kq + kTile;
    const bool more = next < kp_pad;
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (more) TINYXF_AMX_LOAD_A0(next);
    if constexpr (TwoRowTiles) {
      _tile_dpbf16ps(2, 5, 6);
      if (more) TINYXF_AMX_LOAD_B0(next);
      _tile_dpbf16ps(3, 5, 7);
      if (more) {
        TINYXF_AMX_LOAD_A1(next);
        TINYXF_AMX_LOAD_B1(next);
      }
    } else if (more) {
      TINYXF_AMX_LOAD_B0(next);
      TINYXF_AMX_LOAD_B1(next);
    }
  }
#undef TINYXF_AMX_LOAD_A0
#undef TINYXF_AMX_LOAD_A1
#undef TINYXF_AMX_LOAD_B0
#undef TINYXF_AMX_LOAD_B1
  constexpr std::size_t acc_bytes = kMR * 4;
  _tile_stored(0, acc, acc_bytes);
  _tile_stored(1, acc + kTile, acc_bytes);
  if constexpr (TwoRowTiles) {
    _tile_stored(2, acc + kTile * kMR, acc_bytes);
    _tile_stored(3, acc + kTile * kMR + kTile, acc_bytes);
  }
}

// out[0:mr, 0:nr] = alpha * acc + beta * in (+ bias) (see TileIo), with the TileIo's fields in
// locals and the row loop specialized on whether it reads `in`, scales by alpha and adds a bias
// (bias0/1: the bias of the block's two 16-column halves): read through the
// reference, they were reloaded for every row (a store through `out` may alias them), and the
// epilogue runs while the tile unit waits.
template <bool kLoad, bool kScale, bool kBias, class In, class Out>
TINYXF_AMX_TARGET inline void store_rows(const float* acc, const In* in, std::int64_t ld_in, Out* out,
                                         std::int64_t ld_out, int mr, __mmask16 m0, __mmask16 m1, __m512 va,
                                         __m512 vb, bool round, __m512 bias0, __m512 bias1) {
  namespace d = bf16_gemm_detail;
  for (int i = 0; i < mr; ++i) {
    __m512 r0 = _mm512_load_ps(acc + i * kMR), r1 = _mm512_load_ps(acc + i * kMR + kTile);
    if constexpr (kScale) {
      r0 = _mm512_mul_ps(va, r0);
      r1 = _mm512_mul_ps(va, r1);
    }
    if constexpr (kLoad) {
      r0 = _mm512_fmadd_ps(vb, d::load_tile_row(m0, in + i * ld_in), r0);
      r1 = _mm512_fmadd_ps(vb, d::load_tile_row(m1, in + i * ld_in + 16), r1);
    }
    if constexpr (kBias) {
      r0 = _mm512_add_ps(r0, bias0);
      r1 = _mm512_add_ps(r1, bias1);
    }
    d::store_tile_row(out + i * ld_out, m0, r0, round);
    d::store_tile_row(out + i * ld_out + 16, m1, r1, round);
  }
}

template <bool kLoad, bool kBias, class In, class Out>
TINYXF_AMX_TARGET inline void store_rows_by_alpha(const float* acc, const bf16_gemm_detail::TileIo<In, Out>& io,
                                                  int mr, __mmask16 m0, __mmask16 m1, float alpha, __m512 bias0,
                                                  __m512 bias1) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(io.beta);
  if (alpha != 1.0f)
    store_rows<kLoad, true, kBias>(acc, io.in, io.ld_in, io.out, io.ld_out, mr, m0, m1, va, vb, io.round, bias0, bias1);
  else
    store_rows<kLoad, false, kBias>(acc, io.in, io.ld_in, io.out, io.ld_out, mr, m0, m1, va, vb, io.round, bias0, bias1);
}

template <class In, class Out>
TINYXF_AMX_TARGET inline void store_block(const float* acc, const bf16_gemm_detail::TileIo<In, Out>& io, int mr,
                                          int nr, float alpha) {
  namespace d = bf16_gemm_detail;
  const __mmask16 m0 = d::first_lanes(nr), m1 = d::first_lanes(nr > 16 ? nr - 16 : 0);
  if (io.bias != nullptr) {  // a float32 C's first k block (no C to read there unless beta != 0)
    const __m512 bias0 = _mm512_maskz_loadu_ps(m0, io.bias), bias1 = _mm512_maskz_loadu_ps(m1, io.bias + 16);
    if (io.load) store_rows_by_alpha<true, true>(acc, io, mr, m0, m1, alpha, bias0, bias1);
    else store_rows_by_alpha<false, true>(acc, io, mr, m0, m1, alpha, bias0, bias1);
  } else {
    const __m512 zero = _mm512_setzero_ps();
    if (io.load) store_rows_by_alpha<true, false>(acc, io, mr, m0, m1, alpha, zero, zero);
    else store_rows_by_alpha<false, false>(acc, io, mr, m0, m1, alpha, zero, zero);
  }
}

}  // namespace amx_gemm_detail

// gemm_bf16 (gemm_bf16.hpp: same arguments and results) on AMX tiles; the caller checked
// has_amx_bf16(). Sums in float32 like the AVX512-BF16 kernel, in another order (a tile
// instruction sums 32 products at a time), so the two can differ in the last bits.
template <class EA, class EB, class EC>
TINYXF_AMX_TARGET inline void gemm_amx(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                                       float alpha, const EA* a, std::int64_t lda, const EB* b, std::int64_t ldb,
                                       float beta, EC* c, std::int64_t ldc, bool round_c,
                                       const float* bias = nullptr) {
  namespace d = bf16_gemm_detail;
  namespace x = amx_gemm_detail;
  auto& buf = d::pack_buffers();
  const d::Operand<EA> opa{a, lda, !trans_a};
  const d::Operand<EB> opb{b, ldb, trans_b};  // op(B) columns are the packed rows
  const std::int64_t kc_max = x::k_block_size(trans_a, k), kp_stride = x::round_up(kc_max / 2, x::kTile);
  const std::int64_t mc_max = x::rows_per_block(kc_max);
  const std::int64_t ld_s = std::min(n, d::kNC);
  float* scratch = d::partial_sums<EC>(m, n, k, kc_max);
  alignas(64) float acc[x::kMR * d::kNR];
  x::configure_tiles();
  for (std::int64_t jc = 0; jc < n; jc += d::kNC) {
    const std::int64_t nc = std::min(d::kNC, n - jc);
    const std::int64_t panels = (nc + d::kNR - 1) / d::kNR;
    for (std::int64_t pc = 0; pc < k; pc += kc_max) {
      const std::int64_t kc = std::min(kc_max, k - pc), kp_count = (kc + 1) / 2;
      const std::int64_t kp_pad = x::round_up(kp_count, x::kTile);
      const bool first = pc == 0, last = pc + kc >= k;
      const std::int64_t group = x::panels_per_group(kp_pad * d::kNR * 4, panels);
      if (buf.b.size() < static_cast<std::size_t>(panels * kp_stride * d::kNR))
        buf.b.resize(static_cast<std::size_t>(panels * kp_stride * d::kNR));
      for (std::int64_t p = 0; p < panels; ++p) {
        std::uint32_t* bp = buf.b.data() + p * kp_pad * d::kNR;
        const std::int64_t j0 = p * d::kNR, cols = std::min<std::int64_t>(d::kNR, nc - j0);
        d::pack_pairs(bp, d::kNR, opb, jc + j0, cols, d::kNR, pc, kc, k);
        std::fill(bp + kp_count * d::kNR, bp + kp_pad * d::kNR, 0u);
      }
      for (std::int64_t ic = 0; ic < m; ic += mc_max) {
        const std::int64_t mc = std::min(mc_max, m - ic);
        if (buf.a.size() < static_cast<std::size_t>(kp_stride * mc_max))
          buf.a.resize(static_cast<std::size_t>(kp_stride * mc_max));
        x::pack_rows(buf.a.data(), kp_pad, opa, ic, mc, pc, kc, k);
        for (std::int64_t p0 = 0; p0 < panels; p0 += group) {
          const std::int64_t p1 = std::min(panels, p0 + group);
          for (std::int64_t ir = 0; ir < mc; ir += x::kMR) {
            const int mr = static_cast<int>(std::min<std::int64_t>(x::kMR, mc - ir));
            const std::uint32_t* ap = buf.a.data() + x::a_offset(ir, 0, kp_pad);
            for (std::int64_t p = p0; p < p1; ++p) {
              const std::int64_t j0 = p * d::kNR;
              const int nr = static_cast<int>(std::min<std::int64_t>(d::kNR, nc - j0));
              const std::uint32_t* bp = buf.b.data() + p * kp_pad * d::kNR;
              EC* cp = c + (ic + ir) * ldc + jc + j0;
              float* sp = scratch != nullptr ? scratch + (ic + ir) * ld_s + j0 : nullptr;
              if (mr > x::kTile)
                x::tile_product<true>(kp_pad, ap, bp, acc);
              else
                x::tile_product<false>(kp_pad, ap, bp, acc);
              d::with_tile_io(
                  cp, ldc, sp, ld_s, first, last, beta, round_c,
                  [&](const auto& io) { x::store_block(acc, io, mr, nr, alpha); },
                  bias != nullptr ? bias + jc + j0 : nullptr);
            }
          }
        }
      }
    }
  }
  _tile_release();
}

#endif

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
