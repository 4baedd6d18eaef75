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
// precision and supported by this CPU.
inline bool use_bf16(const GemmArgs& g) {
#ifdef TINYXF_HAVE_BF16_GEMM
  return g.dtype == DType::f32 && g.precision == MatmulPrecision::medium && has_bf16_dot();
#else
  (void)g;
  return false;
#endif
}

template <class T>
void one(const GemmArgs& g, const T* a, const T* b, T* c, int lda, int ldb, int ldc) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
#ifdef TINYXF_HAVE_BF16_GEMM
  if constexpr (std::is_same_v<T, float>)
    if (use_bf16(g))
      return gemm_bf16(g.trans_a, g.trans_b, m, n, k, static_cast<float>(g.alpha), a, lda, b, ldb,
                       static_cast<float>(g.beta), c, ldc);
#endif
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(g.alpha), a, lda, b, ldb,
                static_cast<float>(g.beta), c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
}

// Runs one(part, a, b, c) for every product of g on the pool: a batch of small products as
// whole products per thread, otherwise one product at a time with C cut into one block of whole
// rows (or columns when C is short and wide) per thread. A/B/C point at the stored matrices
// (E: operand element, Out: C element); part is g with the block's m or n.
template <class E, class Out, class One>
void run_threaded(const GemmArgs& g, const E* A, const E* B, Out* C, std::int64_t lda, std::int64_t ldb,
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
    const E* a = A + bt * g.stride_a;
    const E* b = B + bt * g.stride_b;
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

// Whether bf16 operands go to gemm_bf16 as they are (gemm_bf16_operands).
inline bool bf16_operands_direct() {
#ifdef TINYXF_HAVE_BF16_GEMM
  return has_bf16_dot();
#else
  return false;
#endif
}

// g with bf16 A and B (bit patterns, the layouts of cblas_sgemm), float32 C, k > 0: gemm_bf16
// packs the operands directly, on the pool like gemm().
inline void gemm_bf16_operands(const GemmArgs& g, GemmBatchMode mode) {
#ifdef TINYXF_HAVE_BF16_GEMM
  const std::int64_t lda = g.trans_a ? leading_dim(g.lda, g.k, g.m, "lda") : leading_dim(g.lda, g.m, g.k, "lda");
  const std::int64_t ldb = g.trans_b ? leading_dim(g.ldb, g.n, g.k, "ldb") : leading_dim(g.ldb, g.k, g.n, "ldb");
  const std::int64_t ldc = leading_dim(g.ldc, g.m, g.n, "ldc");
  run_threaded(g, static_cast<const std::uint16_t*>(g.a), static_cast<const std::uint16_t*>(g.b),
               static_cast<float*>(g.c), lda, ldb, ldc, mode,
               [&](const GemmArgs& part, const std::uint16_t* a, const std::uint16_t* b, float* c) {
                 gemm_bf16(part.trans_a, part.trans_b, part.m, part.n, part.k, static_cast<float>(part.alpha), a,
                           lda, b, ldb, static_cast<float>(part.beta), c, ldc);
               });
#else
  (void)g;
  (void)mode;
  TINYXF_CHECK(false, "gemm: bf16 operands without AVX512-BF16 support in this build");
#endif
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
      const std::int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
      const std::int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
      WideBuffers& wide = wide_buffers();
      GemmArgs f = g;
      f.dtype = kFloat32;
      f.out_dtype.reset();
      f.precision = std::is_same_v<S, BFloat16> ? MatmulPrecision::medium : MatmulPrecision::highest;
      // bf16 operands on a CPU with AVX512-BF16 are packed as they are; otherwise float32 copies.
      const bool direct = std::is_same_v<S, BFloat16> && g.k > 0 && bf16_operands_direct();
      if (!direct) {
        f.a = widen<S>(wide.a, g.a, stored_span(g.batch, g.stride_a, a_rows, g.lda, a_cols));
        f.b = widen<S>(wide.b, g.b, stored_span(g.batch, g.stride_b, b_rows, g.ldb, b_cols));
      }
      const auto multiply = [&](const GemmArgs& h) { direct ? gemm_bf16_operands(h, mode) : gemm(h, mode); };
      if (out == kFloat32) {
        multiply(f);
        return;
      }
      // A 16-bit C: computed in a float32 [batch][m][n] buffer, then rounded into place.
      std::vector<float>& c = wide.c;
      if (c.size() < static_cast<std::size_t>(g.batch * g.m * g.n)) c.resize(static_cast<std::size_t>(g.batch * g.m * g.n));
      S* cs = static_cast<S*>(g.c);
      const auto each_c = [&](auto&& fn) {  // fn(float32 element, C element), rows over the pool
        parallel_for(0, g.batch * g.m, std::max<std::int64_t>(1, (std::int64_t{1} << 14) / std::max<std::int64_t>(g.n, 1)),
                     [&](std::int64_t r0, std::int64_t r1) {
                       for (std::int64_t r = r0; r < r1; ++r) {
                         const std::int64_t bt = r / g.m, i = r % g.m;
                         float* w = c.data() + r * g.n;
                         S* v = cs + bt * g.stride_c + i * g.ldc;
                         for (std::int64_t j = 0; j < g.n; ++j) fn(w[j], v[j]);
                       }
                     });
      };
      if (g.beta != 0.0 && g.k > 0) each_c([](float& w, S& v) { w = static_cast<float>(v); });
      f.c = c.data();
      f.ldc = g.n;
      f.stride_c = g.m * g.n;
      if (g.k == 0) {
        each_c([&](float&, S& v) { v = g.beta == 0.0 ? S(0.0f) : S(static_cast<float>(g.beta) * static_cast<float>(v)); });
        return;
      }
      multiply(f);
      each_c([](float& w, S& v) { v = S(w); });
    }
  });
}

}  // namespace gemm_detail

inline void gemm(const GemmArgs& g, GemmBatchMode mode) {
  TINYXF_CHECK(g.batch >= 0 && g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm: negative size (batch ",
               g.batch, ", m ", g.m, ", n ", g.n, ", k ", g.k, ")");
  if (is_reduced_floating_point(g.dtype)) return gemm_detail::gemm_reduced(g, mode);
  TINYXF_CHECK_AS(DTypeError, g.c_dtype() == g.dtype, "gemm: ", dtype_name(g.dtype), " operands need a ",
                  dtype_name(g.dtype), " result, got ", dtype_name(g.c_dtype()));
  dispatch_floating(g.dtype, "gemm", [&]<class T>(type_tag<T>) {
    if (g.batch == 0 || g.m == 0 || g.n == 0) return;
    const T* A = static_cast<const T*>(g.a);
    const T* B = static_cast<const T*>(g.b);
    T* C = static_cast<T*>(g.c);
    const int ldc = gemm_detail::blas_int(gemm_detail::leading_dim(g.ldc, g.m, g.n, "ldc"), "ldc");
    if (g.k == 0) {  // C = beta * C; beta == 0 overwrites (NaN in C included), as in BLAS
      for (std::int64_t bt = 0; bt < g.batch; ++bt)
        for (std::int64_t i = 0; i < g.m; ++i) {
          T* row = C + bt * g.stride_c + i * ldc;
          for (std::int64_t j = 0; j < g.n; ++j)
            row[j] = g.beta == 0.0 ? T(0) : static_cast<T>(g.beta * static_cast<double>(row[j]));
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
