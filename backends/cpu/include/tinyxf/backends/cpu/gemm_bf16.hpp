#pragma once
// GEMM with bfloat16 products and float32 sums (the packing: bf16_pack.hpp). float32 operands
// (what PyTorch's set_float32_matmul_precision("medium") allows on a CPU) are rounded to bf16
// (round to nearest even) while they are packed; bf16 operands (autocast) are packed as they are,
// with no float32 copy. C stays float32 (or a bf16 rounded once) and alpha/beta apply in float32.
//
// Two kernels, chosen at run time: AMX tiles where the CPU has them (gemm_amx.hpp, Sapphire
// Rapids and later), otherwise AVX512-BF16's VDPBF16PS, which multiplies pairs and sums in
// float32, twice the multiply-adds per instruction of a float FMA. Goto-style blocking: per
// MC×KC block of op(A), [k pair][MC] dwords (rows k, k+1 of one row of op(A)); the MR×NR
// micro-kernel keeps its B panel (up to 48 KiB) in L1/L2, broadcasts one A dword per row and k
// pair, and accumulates 2·MR float32 vectors. The instructions are compiled with target
// attributes and chosen at run time (has_bf16_dot, has_amx_bf16), so the rest of the program
// needs no -mavx512bf16.
#include "tinyxf/backends/cpu/bf16_pack.hpp"
#include "tinyxf/backends/cpu/features.hpp"
#include "tinyxf/backends/cpu/gemm_amx.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

#ifdef TINYXF_HAVE_BF16_GEMM
namespace bf16_gemm_detail {

inline constexpr int kMR = 12;          // rows of C per micro-kernel
inline constexpr std::int64_t kMC = 240;  // rows of op(A) per packed block (multiple of kMR)

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
  const bool add_bias = io.bias != nullptr;
  const __m512 bias0 = add_bias ? _mm512_maskz_loadu_ps(m0, io.bias) : _mm512_setzero_ps();
  const __m512 bias1 = add_bias ? _mm512_maskz_loadu_ps(m1, io.bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) {
    if (i >= mr) break;
    __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
    if (io.load) {
      const In* in = io.in + i * io.ld_in;
      r0 = _mm512_fmadd_ps(vb, load_tile_row(m0, in), r0);
      r1 = _mm512_fmadd_ps(vb, load_tile_row(m1, in + 16), r1);
    }
    if (add_bias) {
      r0 = _mm512_add_ps(r0, bias0);
      r1 = _mm512_add_ps(r1, bias1);
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
// result). `bias` (float32 C, alpha = 1): n values added to every row, as a C prefilled with them
// and beta = 1 would give. k > 0; the caller splits work over threads.
template <class EA, class EB, class EC>
TINYXF_BF16_TARGET inline void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m,
                                         std::int64_t n, std::int64_t k, float alpha,
                                         const EA* a, std::int64_t lda, const EB* b,
                                         std::int64_t ldb, float beta, EC* c,
                                         std::int64_t ldc, bool round_c = false, const float* bias = nullptr) {
  static_assert(std::is_same_v<EA, float> || std::is_same_v<EA, std::uint16_t>);
  static_assert(std::is_same_v<EB, float> || std::is_same_v<EB, std::uint16_t>);
  static_assert(std::is_same_v<EC, float> || std::is_same_v<EC, std::uint16_t>);
  TINYXF_CHECK((bias == nullptr || (std::is_same_v<EC, float> && alpha == 1.0f)),
               "gemm_bf16: a bias needs a float32 C and alpha = 1");
#ifdef TINYXF_HAVE_AMX_GEMM
  if (has_amx_bf16()) return gemm_amx(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, round_c, bias);
#endif
  namespace d = bf16_gemm_detail;
  auto& buf = d::pack_buffers();
  const d::Operand<EA> opa{a, lda, !trans_a};
  const d::Operand<EB> opb{b, ldb, trans_b};  // op(B) columns are the packed rows
  const std::int64_t kc_max = d::k_block(k), kp_max = kc_max / 2;
  const std::int64_t ld_s = std::min(n, d::kNC);
  float* scratch = d::partial_sums<EC>(m, n, k, kc_max);
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
            d::with_tile_io(
                cp, ldc, sp, ld_s, first, last, beta, round_c,
                [&](const auto& io) { d::run_tile(a_rows, kp_count, ap, a_stride, bp, io, mr, nr, alpha); },
                bias != nullptr ? bias + jc + j0 : nullptr);
          }
        }
      }
    }
  }
}
#endif

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
