#pragma once
// GEMM through OpenBLAS (row-major cblas, transposes as CblasTrans flags, never copies), with
// OpenBLAS itself always single-threaded: all parallelism is tinyxf's pool. A large product is
// split into one block of C per thread (rows, or columns when C has few rows), a batch of small
// products (attention) into whole products per thread. OpenBLAS's own threads would otherwise
// share the cores with tinyxf's pool and busy-wait in sched_yield between calls: on 2 cores
// that was a third of a training step's CPU time, spent in the kernel (docs/backends.md).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/blas_core.hpp"
#include "tinyxf/backends/cpu/gemm_bf16.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

// Per-matrix multiply-adds (m*n*k) at or below which a batch is split into whole products.
inline constexpr std::int64_t kSmallGemmMacs = std::int64_t{1} << 22;
// Below this many multiply-adds a single product is not worth waking the pool for.
inline constexpr std::int64_t kParallelGemmMacs = std::int64_t{1} << 19;

// How a batch is spread over the pool: automatic picks split_batch for batches of small
// products, split_products (each product in blocks over all threads) otherwise.
enum class GemmBatchMode { automatic, split_products, split_batch };

namespace gemm_detail {

// cblas wants ld >= max(1, columns stored); a single stored row makes ld irrelevant.
inline std::int64_t leading_dim(std::int64_t ld, std::int64_t rows, std::int64_t cols,
                                const char* name) {
  if (rows <= 1) return std::max<std::int64_t>({ld, cols, 1});
  TINYXF_CHECK(ld >= std::max<std::int64_t>(cols, 1), "gemm: ", name, " = ", ld,
               " is smaller than the ", cols, " columns of the stored matrix");
  return ld;
}

inline int blas_int(std::int64_t v, const char* what) {
  TINYXF_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v,
               " does not fit OpenBLAS's 32-bit integers");
  return static_cast<int>(v);
}

// Whether a float32 GEMM runs with bfloat16 products (gemm_bf16.hpp): allowed by the caller's
// precision, and faster than float32 products on this CPU (bf16_products_pay).
inline bool use_bf16(const GemmArgs& g) {
#ifdef TINYXF_HAVE_BF16_GEMM
  return g.dtype == DType::f32 && g.precision == MatmulPrecision::medium && bf16_products_pay();
#else
  (void)g;
  return false;
#endif
}

// Whether gemm() takes g's bias (GemmArgs::bias): a float32 GEMM (any precision) with beta = 0.
inline bool supports_bias_gemm(const GemmArgs& g) {
  return !g.cast_to && g.dtype == DType::f32 && g.b_operand_dtype() == DType::f32 && g.c_dtype() == DType::f32 &&
         g.beta == 0.0;
}

template <class T>
void one(const GemmArgs& g, const T* a, const T* b, T* c, int lda, int ldb, int ldc) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  if constexpr (std::is_same_v<T, float>) {
    const auto* bias = static_cast<const float*>(g.bias);
    const auto alpha = static_cast<float>(g.alpha);
    auto beta = static_cast<float>(g.beta);
    // The bf16 kernels add a bias in their epilogue, while C's block is in registers (alpha = 1:
    // with alpha != 1 the compiler may contract alpha * sum + bias into one rounding). Otherwise
    // this block of C is prefilled with it and beta = 1.
    if (bias != nullptr && (alpha != 1.0f || !use_bf16(g))) {
      for (int i = 0; i < m; ++i) std::copy(bias, bias + n, c + static_cast<std::int64_t>(i) * ldc);
      bias = nullptr;
      beta = 1.0f;
    }
#ifdef TINYXF_HAVE_BF16_GEMM
    if (use_bf16(g)) return gemm_bf16(g.trans_a, g.trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false, bias);
#endif
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
  }
}

// Runs one(part, a, b, c) for every product of g on the pool: a batch of small products as
// whole products per thread, otherwise one product at a time with C cut into one block of whole
// rows (or columns when C is short and wide) per thread. A/B/C point at the stored matrices
// (EA, EB: operand elements, Out: C element); part is g with the block's m or n.
template <class EA, class EB, class Out, class One>
void run_threaded(const GemmArgs& g, const EA* A, const EB* B, Out* C, std::int64_t lda, std::int64_t ldb,
                  std::int64_t ldc, GemmBatchMode mode, One&& one) {
  const int threads = in_parallel_region() ? 1 : num_threads();
  bool split = false;
  if (mode == GemmBatchMode::automatic)
    split = g.batch >= 2 && threads > 1 && g.m * g.n * g.k <= kSmallGemmMacs;
  else
    split = mode == GemmBatchMode::split_batch && g.batch >= 2 && threads > 1;

  if (split) {
    parallel_for(0, g.batch, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t bt = b; bt < e; ++bt)
        one(g, A + bt * g.stride_a, B + bt * g.stride_b, C + bt * g.stride_c);
    });
    return;
  }
  // op(A) rows / op(B) columns of a block start at these offsets.
  const bool by_rows = g.m >= g.n;
  const std::int64_t extent = by_rows ? g.m : g.n, align = by_rows ? 8 : 64;
  const std::int64_t pieces =
      threads > 1 && g.m * g.n * g.k >= kParallelGemmMacs ? std::min<std::int64_t>(threads, (extent + align - 1) / align) : 1;
  const std::int64_t block = ((extent + pieces - 1) / pieces + align - 1) / align * align;
  const auto a_row = [&](std::int64_t r) { return g.trans_a ? r : r * lda; };
  const auto b_col = [&](std::int64_t c) { return g.trans_b ? c * ldb : c; };
  for (std::int64_t bt = 0; bt < g.batch; ++bt) {
    const EA* a = A + bt * g.stride_a;
    const EB* b = B + bt * g.stride_b;
    Out* c = C + bt * g.stride_c;
    parallel_for(0, pieces, 1, [&](std::int64_t p0, std::int64_t p1) {
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::int64_t lo = p * block, hi = std::min(extent, lo + block);
        if (lo >= hi) continue;
        GemmArgs part = g;
        if (by_rows) {
          part.m = hi - lo;
          one(part, a + a_row(lo), b, c + lo * ldc);
        } else {
          part.n = hi - lo;
          if (part.bias != nullptr) part.bias = static_cast<const float*>(part.bias) + lo;  // float32 only
          one(part, a, b + b_col(lo), c + lo);
        }
      }
    });
  }
}

}  // namespace gemm_detail

inline void gemm(const GemmArgs& g, GemmBatchMode mode = GemmBatchMode::automatic);

namespace gemm_detail {

// Elements from the first to the last one a batch of stored [rows][cols] matrices (row stride
// ld, batch stride `stride`) touches.
inline std::int64_t stored_span(std::int64_t batch, std::int64_t stride, std::int64_t rows, std::int64_t ld,
                                std::int64_t cols) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

// The elements the stored A and B of g span.
inline std::int64_t a_span(const GemmArgs& g) {
  return stored_span(g.batch, g.stride_a, g.trans_a ? g.k : g.m, g.lda, g.trans_a ? g.m : g.k);
}
inline std::int64_t b_span(const GemmArgs& g) {
  return stored_span(g.batch, g.stride_b, g.trans_b ? g.n : g.k, g.ldb, g.trans_b ? g.k : g.n);
}
// g as a float32 GEMM (float32 operands and C, no casts, highest precision), for float32 copies
// of its operands.
inline GemmArgs float32_args(const GemmArgs& g) {
  GemmArgs f = g;
  f.dtype = kFloat32;
  f.b_dtype.reset();
  f.cast_to.reset();
  f.out_dtype.reset();
  f.precision = MatmulPrecision::highest;
  return f;
}

// float32 copies of 16-bit operands and C, per thread, grown on demand and kept (a training step
// runs hundreds of these GEMMs: no allocation, no page faults once warm).
struct WideBuffers {
  std::vector<float> a, b, c;
};
inline WideBuffers& wide_buffers() {
  thread_local WideBuffers buffers;
  return buffers;
}

// out[0, count) = the 16-bit values p[0, count) as float32 (exact).
template <class S>
const float* widen(std::vector<float>& out, const void* p, std::int64_t count) {
  const S* s = static_cast<const S*>(p);
  if (out.size() < static_cast<std::size_t>(count)) out.resize(static_cast<std::size_t>(count));
  float* o = out.data();
  parallel_for(0, count, std::int64_t{1} << 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) o[i] = static_cast<float>(s[i]);
  });
  return o;
}

// Whether bf16 operands go to gemm_bf16 as they are (gemm_bf16_operands) rather than widened to
// float32 for sgemm: where bf16 products pay (bf16_products_pay).
inline bool bf16_operands_direct() {
#ifdef TINYXF_HAVE_BF16_GEMM
  return bf16_products_pay();
#else
  return false;
#endif
}

#ifdef TINYXF_HAVE_BF16_GEMM
// g on gemm_bf16, on the pool like gemm(): A, B of element EA, EB (float32, or bf16 bit patterns
// as std::uint16_t), C of EC (float32 or bf16; round_c: a float32 C holds bf16-rounded values),
// the layouts of cblas_sgemm, k > 0.
template <class EA, class EB, class EC>
void gemm_bf16_threaded(const GemmArgs& g, GemmBatchMode mode, bool round_c) {
  const std::int64_t lda = g.trans_a ? leading_dim(g.lda, g.k, g.m, "lda") : leading_dim(g.lda, g.m, g.k, "lda");
  const std::int64_t ldb = g.trans_b ? leading_dim(g.ldb, g.n, g.k, "ldb") : leading_dim(g.ldb, g.k, g.n, "ldb");
  const std::int64_t ldc = leading_dim(g.ldc, g.m, g.n, "ldc");
  run_threaded(g, static_cast<const EA*>(g.a), static_cast<const EB*>(g.b), static_cast<EC*>(g.c), lda, ldb, ldc,
               mode, [&](const GemmArgs& part, const EA* a, const EB* b, EC* c) {
                 gemm_bf16(part.trans_a, part.trans_b, part.m, part.n, part.k, static_cast<float>(part.alpha), a,
                           lda, b, ldb, static_cast<float>(part.beta), c, ldc, round_c);
               });
}

// f(type_tag<element>) for a float32 or bfloat16 matrix of gemm_bf16.
template <class F>
void with_bf16_gemm_element(DType dtype, F&& f) {
  if (dtype == DType::bf16) f(type_tag<std::uint16_t>{});
  else f(type_tag<float>{});
}
#endif

// g with bf16 A and B (bit patterns), float32 or bf16 C, k > 0: gemm_bf16 packs the operands
// directly and rounds a bf16 C once in its epilogue.
inline void gemm_bf16_operands(const GemmArgs& g, GemmBatchMode mode) {
#ifdef TINYXF_HAVE_BF16_GEMM
  with_bf16_gemm_element(g.c_dtype(), [&]<class EC>(type_tag<EC>) {
    gemm_bf16_threaded<std::uint16_t, std::uint16_t, EC>(g, mode, false);
  });
#else
  (void)g;
  (void)mode;
  TINYXF_CHECK(false, "gemm: bf16 operands without AVX512-BF16 support in this build");
#endif
}

// Whether gemm_cast runs g: casts to bfloat16 of float32/bfloat16 operands and results (float16
// casts are left to the front end).
inline bool supports_cast_gemm(const GemmArgs& g) {
  const auto f32_or_bf16 = [](DType d) { return d == DType::f32 || d == DType::bf16; };
  return g.cast_to == kBFloat16 && f32_or_bf16(g.dtype) && f32_or_bf16(g.b_operand_dtype()) &&
         f32_or_bf16(g.c_dtype());
}

// x rounded to the nearest bf16 value, as float32 (autocast's cast and its cast back). Branch-free,
// so loops over it vectorize.
inline float bf16_rounded(float x) { return bf16_to_float(float_to_bf16(x)); }

// out[0, count) = the bf16 values of a float32 operand (rounded as autocast's cast rounds) or of
// a bf16 one (widened, exact), as float32.
inline const float* bf16_values(std::vector<float>& out, DType dtype, const void* p, std::int64_t count) {
  if (dtype == DType::bf16) return widen<BFloat16>(out, p, count);
  const float* s = static_cast<const float*>(p);
  if (out.size() < static_cast<std::size_t>(count)) out.resize(static_cast<std::size_t>(count));
  float* o = out.data();
  parallel_for(0, count, std::int64_t{1} << 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) o[i] = bf16_rounded(s[i]);
  });
  return o;
}

// Runs f (g as a float32 GEMM on float32 copies of its operands) and gives g's C the result: a
// float32 C is f's own C (rounded in place to bf16 values when round_c); a 16-bit C of S gets the
// float32 sums of a per-thread [batch][m][n] buffer (holding C's values first when beta != 0),
// rounded once.
template <class S>
void gemm_float32_into_c(const GemmArgs& g, GemmArgs f, GemmBatchMode mode, bool round_c) {
  // fn(offset of row i of matrix bt in C, r = bt * m + i) for every row of C, rows over the pool.
  const auto each_row = [&](auto&& fn) {
    parallel_for(0, g.batch * g.m, std::max<std::int64_t>(1, (std::int64_t{1} << 14) / std::max<std::int64_t>(g.n, 1)),
                 [&](std::int64_t r0, std::int64_t r1) {
                   for (std::int64_t r = r0; r < r1; ++r) fn(r / g.m * g.stride_c + r % g.m * g.ldc, r);
                 });
  };
  if (g.c_dtype() == kFloat32) {
    gemm(f, mode);
    if (round_c)
      each_row([&](std::int64_t offset, std::int64_t) {
        float* row = static_cast<float*>(g.c) + offset;
        for (std::int64_t j = 0; j < g.n; ++j) row[j] = bf16_rounded(row[j]);
      });
    return;
  }
  std::vector<float>& sums = wide_buffers().c;
  if (sums.size() < static_cast<std::size_t>(g.batch * g.m * g.n)) sums.resize(static_cast<std::size_t>(g.batch * g.m * g.n));
  f.c = sums.data();
  f.ldc = g.n;
  f.stride_c = g.m * g.n;
  S* c = static_cast<S*>(g.c);
  if (g.beta != 0.0)
    each_row([&](std::int64_t offset, std::int64_t r) {
      for (std::int64_t j = 0; j < g.n; ++j) sums[static_cast<std::size_t>(r * g.n + j)] = static_cast<float>(c[offset + j]);
    });
  gemm(f, mode);
  each_row([&](std::int64_t offset, std::int64_t r) {
    for (std::int64_t j = 0; j < g.n; ++j) c[offset + j] = S(sums[static_cast<std::size_t>(r * g.n + j)]);
  });
}

// gemm_cast without AVX512-BF16: each operand's bf16 values in one float32 copy (a cast and a
// widening in one pass, no bf16 intermediate tensor), the float32 GEMM (the products of bf16
// values are exact in float32), and C rounded once — the result of the front end's explicit
// casts (cast, widen, sgemm, round), bit for bit, with fewer passes and no saved bf16 copies.
inline void gemm_cast_widened(const GemmArgs& g, GemmBatchMode mode) {
  WideBuffers& wide = wide_buffers();
  GemmArgs f = float32_args(g);
  f.a = bf16_values(wide.a, g.dtype, g.a, a_span(g));
  f.b = bf16_values(wide.b, g.b_operand_dtype(), g.b, b_span(g));
  gemm_float32_into_c<BFloat16>(g, f, mode, true);
}

// A GEMM with autocast's casts folded in (GemmArgs::cast_to = bfloat16): the values of casting the
// operands, multiplying in bf16 and casting the result, without the casts' passes over memory.
// With AVX512-BF16, float32 operands are rounded to bf16 as they are packed, bf16 ones packed as
// they are, and C (bf16, or float32 holding bf16 values) rounded once in the epilogue; elsewhere
// gemm_cast_widened.
inline void gemm_cast(const GemmArgs& g, GemmBatchMode mode) {
  TINYXF_CHECK_AS(DTypeError, supports_cast_gemm(g), "gemm: casts of ", dtype_name(g.dtype), " and ",
                  dtype_name(g.b_operand_dtype()), " operands to ",
                  g.cast_to ? dtype_name(*g.cast_to) : "none", " with a ",
                  dtype_name(g.c_dtype()), " result are not supported by the cpu backend (see Backend::supports_gemm)");
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
#ifdef TINYXF_HAVE_BF16_GEMM
  if (g.k > 0 && bf16_operands_direct()) {
    const bool round_c = g.c_dtype() == DType::f32;
    with_bf16_gemm_element(g.dtype, [&]<class EA>(type_tag<EA>) {
      with_bf16_gemm_element(g.b_operand_dtype(), [&]<class EB>(type_tag<EB>) {
        with_bf16_gemm_element(g.c_dtype(), [&]<class EC>(type_tag<EC>) {
          gemm_bf16_threaded<EA, EB, EC>(g, mode, round_c);
        });
      });
    });
    return;
  }
#endif
  gemm_cast_widened(g, mode);  // k == 0 too: C = beta * C, rounded
}

// A GEMM with bfloat16/float16 operands, summing in float32. bfloat16 on a CPU with AVX512-BF16:
// gemm_bf16 packs the bf16 operands as they are and multiplies them natively. Elsewhere (and for
// float16) the 16-bit values are widened to float32 (exact) and multiplied by the float32 GEMM
// (OpenBLAS's sgemm). C (float32, or the 16-bit dtype rounded once at the end) gets alpha/beta
// in float32.
inline void gemm_reduced(const GemmArgs& g, GemmBatchMode mode) {
  const DType out = g.c_dtype();
  TINYXF_CHECK_AS(DTypeError, out == g.dtype || out == kFloat32, "gemm: ", dtype_name(g.dtype),
                  " operands give a ", dtype_name(g.dtype), " or float32 result, not ", dtype_name(out));
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  dispatch_storage_dtype(g.dtype, [&]<class S>(type_tag<S>) {
    if constexpr (std::is_same_v<S, BFloat16> || std::is_same_v<S, Half>) {
      // bf16 operands on a CPU with AVX512-BF16 are packed as they are (a float32 or bf16 C
      // straight from gemm_bf16's epilogue); otherwise float32 copies.
      if (std::is_same_v<S, BFloat16> && g.k > 0 && bf16_operands_direct()) return gemm_bf16_operands(g, mode);
      WideBuffers& wide = wide_buffers();
      GemmArgs f = float32_args(g);
      f.precision = std::is_same_v<S, BFloat16> ? MatmulPrecision::medium : MatmulPrecision::highest;
      f.a = widen<S>(wide.a, g.a, a_span(g));
      f.b = widen<S>(wide.b, g.b, b_span(g));
      gemm_float32_into_c<S>(g, f, mode, false);  // k == 0 included: C = beta * C
    }
  });
}

}  // namespace gemm_detail

inline void gemm(const GemmArgs& g, GemmBatchMode mode) {
  TINYXF_CHECK(g.batch >= 0 && g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm: negative size (batch ",
               g.batch, ", m ", g.m, ", n ", g.n, ", k ", g.k, ")");
  TINYXF_CHECK(g.bias == nullptr || gemm_detail::supports_bias_gemm(g), "gemm: a bias needs float32 operands and "
               "result and beta = 0 on the cpu backend (see Backend::supports_gemm), got ", dtype_name(g.dtype),
               " operands, a ", dtype_name(g.c_dtype()), " result, beta ", g.beta);
  if (g.cast_to) return gemm_detail::gemm_cast(g, mode);
  if (is_reduced_floating_point(g.dtype)) return gemm_detail::gemm_reduced(g, mode);
  TINYXF_CHECK_AS(DTypeError, g.c_dtype() == g.dtype, "gemm: ", dtype_name(g.dtype), " operands need a ",
                  dtype_name(g.dtype), " result, got ", dtype_name(g.c_dtype()));
  dispatch_floating(g.dtype, "gemm", [&]<class T>(type_tag<T>) {
    if (g.batch == 0 || g.m == 0 || g.n == 0) return;
    const T* A = static_cast<const T*>(g.a);
    const T* B = static_cast<const T*>(g.b);
    T* C = static_cast<T*>(g.c);
    const int ldc = gemm_detail::blas_int(gemm_detail::leading_dim(g.ldc, g.m, g.n, "ldc"), "ldc");
    if (g.k == 0) {  // C = beta * C (+ bias); beta == 0 overwrites (NaN in C included), as in BLAS
      const auto* bias = static_cast<const T*>(g.bias);
      for (std::int64_t bt = 0; bt < g.batch; ++bt)
        for (std::int64_t i = 0; i < g.m; ++i) {
          T* row = C + bt * g.stride_c + i * ldc;
          for (std::int64_t j = 0; j < g.n; ++j)
            row[j] = g.beta == 0.0 ? (bias != nullptr ? bias[j] : T(0)) : static_cast<T>(g.beta * static_cast<double>(row[j]));
        }
      return;
    }
    gemm_detail::blas_int(g.m, "m");
    gemm_detail::blas_int(g.n, "n");
    gemm_detail::blas_int(g.k, "k");
    const int lda = gemm_detail::blas_int(
        g.trans_a ? gemm_detail::leading_dim(g.lda, g.k, g.m, "lda")
                  : gemm_detail::leading_dim(g.lda, g.m, g.k, "lda"), "lda");
    const int ldb = gemm_detail::blas_int(
        g.trans_b ? gemm_detail::leading_dim(g.ldb, g.n, g.k, "ldb")
                  : gemm_detail::leading_dim(g.ldb, g.k, g.n, "ldb"), "ldb");

    gemm_detail::run_threaded(g, A, B, C, lda, ldb, ldc, mode,
                              [&](const GemmArgs& part, const T* a, const T* b, T* c) {
                                gemm_detail::one<T>(part, a, b, c, lda, ldb, ldc);
                              });
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
