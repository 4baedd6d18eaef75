#pragma once
// GEMM through OpenBLAS (row-major cblas, transposes as CblasTrans flags, never copies).
// OpenBLAS keeps its own threads for one big GEMM, sized to tinyxf::num_threads(). A batch of
// small GEMMs (attention scores and contexts) is instead spread over tinyxf's pool with
// OpenBLAS pinned to one thread for that call: OpenBLAS would otherwise fork-join each tiny
// product, which costs more than the product itself (see docs/backends.md for the numbers).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>

#include "tinyxf/backend/backend.hpp"
#include "tinyxf/backends/cpu/blas_core.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu {

// Per-matrix multiply-adds (m*n*k) at or below which a batch is split over tinyxf's threads.
inline constexpr std::int64_t kSmallGemmMacs = std::int64_t{1} << 22;

// OpenBLAS's thread count is process-wide state; every change goes through here.
class BlasThreads {
 public:
  // Makes OpenBLAS use `n` threads (a cheap no-op when it already does).
  static void set(int n) {
    if (state().current.load(std::memory_order_relaxed) == n) return;
    std::lock_guard lock(state().mutex);
    apply(n);
  }

  // OpenBLAS runs single-threaded for this guard's lifetime (then gets `restore_to` threads).
  class SingleThreaded {
   public:
    explicit SingleThreaded(int restore_to) : lock_(state().mutex), restore_to_(restore_to) {
      apply(1);
    }
    ~SingleThreaded() { apply(restore_to_); }
    SingleThreaded(const SingleThreaded&) = delete;
    SingleThreaded& operator=(const SingleThreaded&) = delete;

   private:
    std::lock_guard<std::mutex> lock_;
    int restore_to_;
  };

 private:
  struct State {
    std::mutex mutex;
    std::atomic<int> current{-1};
  };
  static State& state() {
    static State s;
    return s;
  }
  static void apply(int n) {  // with the mutex held
    if (state().current.load(std::memory_order_relaxed) == n) return;
    openblas_set_num_threads(n);
    state().current.store(n, std::memory_order_relaxed);
  }
};

enum class GemmBatchMode { automatic, blas_threads, split_batch };

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

template <class T>
void one(const GemmArgs& g, const T* a, const T* b, T* c, int lda, int ldb, int ldc) {
  const auto ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(g.alpha), a, lda, b, ldb,
                static_cast<float>(g.beta), c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
}

}  // namespace gemm_detail

inline void gemm(const GemmArgs& g, GemmBatchMode mode = GemmBatchMode::automatic) {
  TINYXF_CHECK(g.batch >= 0 && g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm: negative size (batch ",
               g.batch, ", m ", g.m, ", n ", g.n, ", k ", g.k, ")");
  dispatch_floating(g.dtype, "gemm", [&]<class T>(type_tag<T>) {
    if (g.batch == 0 || g.m == 0 || g.n == 0) return;
    select_blas_core();
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

    const int threads = num_threads();
    bool split = false;
    if (mode == GemmBatchMode::automatic)
      split = g.batch >= 2 && threads > 1 && !in_parallel_region() &&
              g.m * g.n * g.k <= kSmallGemmMacs;
    else
      split = mode == GemmBatchMode::split_batch && g.batch >= 2 && threads > 1;

    if (!split) {
      // Inside someone else's parallel region OpenBLAS must not fan out again.
      BlasThreads::set(in_parallel_region() ? 1 : threads);
      for (std::int64_t bt = 0; bt < g.batch; ++bt)
        gemm_detail::one<T>(g, A + bt * g.stride_a, B + bt * g.stride_b, C + bt * g.stride_c,
                            lda, ldb, ldc);
      return;
    }
    const BlasThreads::SingleThreaded single(threads);
    parallel_for(0, g.batch, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t bt = b; bt < e; ++bt)
        gemm_detail::one<T>(g, A + bt * g.stride_a, B + bt * g.stride_b, C + bt * g.stride_c,
                            lda, ldb, ldc);
    });
  });
}

}  // namespace tinyxf::backends::cpu
