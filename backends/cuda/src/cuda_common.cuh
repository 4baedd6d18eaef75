#pragma once
// Shared internals of the CUDA backend (only included by its .cu files): error checks that turn
// CUDA/cuBLAS failures into tinyxf::Error, the per-device context (stream, cuBLAS handle, error
// slot), scratch memory, launch sizing, strided-offset arithmetic and block/warp reductions.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/backends/cuda.hpp"

namespace tinyxf::backends::cuda_detail {

// ---- errors ------------------------------------------------------------------------------------
[[noreturn]] void throw_cuda_error(const char* op, const char* what, cudaError_t err);
[[noreturn]] void throw_cublas_error(const char* op, cublasStatus_t status);

inline void check_cuda(cudaError_t err, const char* op, const char* what) {
  if (err != cudaSuccess) throw_cuda_error(op, what, err);
}
inline void check_cublas(cublasStatus_t status, const char* op) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(op, status);
}
// After a kernel launch: configuration errors show up here, faults at the next synchronization.
inline void check_launch(const char* op) { check_cuda(cudaGetLastError(), op, "kernel launch"); }

// ---- device-side index checks: the record -------------------------------------------------------
// Index ops and nll_loss check their indices inside their own kernels and go on (a bad index
// reads nothing and writes zero or nothing); the first failure is recorded on the device and
// raised as an Error by the next synchronization of the device (copy_to_host, item(),
// synchronize, sum_squares). So a training step has no stream sync per embedding or loss, as in
// PyTorch, whose device-side asserts are reported the same way. With TINYXF_CUDA_SYNC_CHECKS=1
// (or set_cuda_sync_checks(true)) each check is read back in its op instead.
//
// `key` = check number << kIndexPositionBits | position: atomicMin keeps the earliest check's
// lowest bad position; all ones = no failure. `value` is the bad index itself, captured by the
// check's own stream-ordered follow-up (the index tensor may be freed by the next sync).
struct IndexErrorRecord {
  unsigned long long key;
  long long value;
};
inline constexpr int kIndexPositionBits = 40;  // positions < 2^40; check numbers < 2^24
inline constexpr unsigned long long kIndexPositionMask = (1ull << kIndexPositionBits) - 1;
inline constexpr unsigned long long kNoIndexError = ~0ull;
// Checks launched between two reads of the record; one more reads it first (a sync).
inline constexpr std::size_t kMaxPendingIndexChecks = 4096;

enum class IndexCheckKind { index, target };
struct PendingIndexCheck {
  const char* op;
  std::int64_t bound;  // the dimension size, or the class count of a target
  IndexCheckKind kind;
};

// ---- per-device state --------------------------------------------------------------------------
struct DeviceContext {
  int device = 0;
  int sm_count = 1;
  int max_shared_per_block = 48 << 10;  // with the opt-in (cudaFuncAttributeMaxDynamicSharedMemorySize)
  cudaStream_t stream = nullptr;  // every kernel and copy of this device runs on it, in order
  cublasHandle_t cublas = nullptr;
  bool cublas_tf32 = false;       // the math mode currently set on `cublas`
  // Where the device-side index checks record the first bad index (see "device-side index checks").
  IndexErrorRecord* error_record = nullptr;
  // The checks launched since the error record was last read, in launch order.
  std::vector<PendingIndexCheck> pending_checks;
  // Serializes users of the cuBLAS handle's mode and of the index checks across host threads.
  std::mutex mutex;
};

// Makes the context of GPU `device_index` (an Error naming `op` when there is no such GPU).
DeviceContext* make_context(int device_index, const char* op);
// Releases what make_context made; errors are ignored (the device may be gone).
void destroy_context(DeviceContext* ctx) noexcept;

// One op on a CudaBackend instance: its context, with its device current for the op (set only
// when another is current, and restored afterwards).
class OpScope {
 public:
  OpScope(CudaBackend& backend, const char* op);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

  DeviceContext& ctx;
  cudaStream_t stream() const { return ctx.stream; }

 private:
  int previous_ = -1;
};

// Temporary device memory from the caching allocator. Freed blocks are only reused by later work
// on the same stream, so a scratch buffer may be released while its kernels are still queued.
std::shared_ptr<void> scratch(std::size_t bytes, int device_index);

// ---- device-side index checks: the host side -----------------------------------------------------
// A checked op, holding ctx.mutex from before begin_index_check until after finish_index_check:
//   const unsigned long long check = begin_index_check(scope, "index_select", n_src, IndexCheckKind::index);
//   kernel<<<...>>>(..., scope.ctx.error_record, check);   // record_index_error on a bad index
//   finish_index_check(scope, check, index_ptr);
// begin returns the check's key base (its number in the high bits).
unsigned long long begin_index_check(OpScope& scope, const char* op, std::int64_t bound, IndexCheckKind kind);
// Queues the capture of the bad value (from `index`, still alive in stream order; nullptr when
// the kernel captured it itself) and, in synchronous mode, reads the record at once.
void finish_index_check(OpScope& scope, unsigned long long check, const std::int64_t* index);
// Waits for the stream (reading the record in the same wait) and throws the Error of the first
// failed check since the last read, naming the op that found it and `at`, the op that
// synchronized; then forgets it. Every host wait on the stream goes through here. The caller
// holds ctx.mutex.
void synchronize_and_raise(OpScope& scope, const char* at);
// Whether every check reads its record in its op (TINYXF_CUDA_SYNC_CHECKS=1, set_cuda_sync_checks).
bool sync_index_checks();

// The key arithmetic (host and device; tinyxf_cuda_host_logic_test checks the order it gives).
__host__ __device__ constexpr unsigned long long index_check_base(std::size_t number) {
  return static_cast<unsigned long long>(number) << kIndexPositionBits;
}
__host__ __device__ constexpr unsigned long long index_error_key(unsigned long long check, std::int64_t position) {
  return check | static_cast<unsigned long long>(position);
}
__host__ __device__ constexpr std::size_t index_check_number(unsigned long long key) {
  return static_cast<std::size_t>(key >> kIndexPositionBits);
}
__host__ __device__ constexpr std::int64_t index_error_position(unsigned long long key) {
  return static_cast<std::int64_t>(key & kIndexPositionMask);
}

__device__ __forceinline__ void record_index_error(IndexErrorRecord* record, unsigned long long check,
                                                   std::int64_t position) {
  atomicMin(&record->key, index_error_key(check, position));
}
// Whether the record's failure is this check's (its first bad position is then the key's low bits).
__device__ __forceinline__ bool index_error_is(const IndexErrorRecord* record, unsigned long long check) {
  const unsigned long long key = *static_cast<const volatile unsigned long long*>(&record->key);
  return key != kNoIndexError && (key & ~kIndexPositionMask) == check;
}

// ---- 16-bit floats: storage types computed in float32 --------------------------------------------
// Kernels over bfloat16/float16 load each element to float, compute, and round once on store
// (round to nearest even): the values the front end's widen-compute-round path would give,
// without its casts and float32 temporaries. Other element types compute as themselves.
template <class S> struct ComputeType { using type = S; };
template <> struct ComputeType<__nv_bfloat16> { using type = float; };
template <> struct ComputeType<__half> { using type = float; };
template <class S> using compute_t = typename ComputeType<S>::type;

template <class T> __host__ __device__ __forceinline__ T widen(T v) { return v; }
__host__ __device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
__host__ __device__ __forceinline__ float widen(__half v) { return __half2float(v); }

template <class S> __host__ __device__ __forceinline__ S narrow_to(compute_t<S> v) { return static_cast<S>(v); }
template <> __host__ __device__ __forceinline__ __nv_bfloat16 narrow_to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __host__ __device__ __forceinline__ __half narrow_to<__half>(float v) { return __float2half_rn(v); }

// The floating dtypes with their device storage types: float, double, __nv_bfloat16, __half.
template <class Fn>
decltype(auto) dispatch_floating_storage(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::bf16: return fn(type_tag<__nv_bfloat16>{});
    case DType::f16: return fn(type_tag<__half>{});
    default: return dispatch_floating(d, op, std::forward<Fn>(fn));
  }
}

// ---- cuBLAS GEMM ---------------------------------------------------------------------------------
// Whether a GEMM of `dtype` at `precision` may use TF32 tensor cores: float32 only, when
// TINYXF_CUDA_TF32 / set_cuda_tf32 or the caller's matmul precision allows it.
bool tf32_allowed(DType dtype, MatmulPrecision precision);
// Puts the handle in TF32 or default math mode if it is not already; the caller holds ctx.mutex.
void set_cublas_tf32(DeviceContext& ctx, bool tf32, const char* op);

// One overload per element type, so that callers have one code path: a plain GEMM for one
// matrix, a strided-batched GEMM for several. Column-major, cuBLAS's own argument order.
inline cublasStatus_t gemm_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n,
                                int k, float alpha, const float* a, int lda, long long stride_a, const float* b,
                                int ldb, long long stride_b, float beta, float* c, int ldc, long long stride_c,
                                int batch) {
  return batch == 1 ? cublasSgemm(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc)
                    : cublasSgemmStridedBatched(handle, op_a, op_b, m, n, k, &alpha, a, lda, stride_a, b, ldb,
                                                stride_b, &beta, c, ldc, stride_c, batch);
}
inline cublasStatus_t gemm_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n,
                                int k, double alpha, const double* a, int lda, long long stride_a, const double* b,
                                int ldb, long long stride_b, double beta, double* c, int ldc, long long stride_c,
                                int batch) {
  return batch == 1 ? cublasDgemm(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc)
                    : cublasDgemmStridedBatched(handle, op_a, op_b, m, n, k, &alpha, a, lda, stride_a, b, ldb,
                                                stride_b, &beta, c, ldc, stride_c, batch);
}

// bfloat16/float16 operands on the tensor cores: products summed in float32
// (CUBLAS_COMPUTE_32F), C (16-bit or float32) rounded once, as torch's bf16 matmul. The handle's
// TF32 math mode does not apply.
template <class T> inline constexpr cudaDataType_t kCudaDataType = CUDA_R_32F;
template <> inline constexpr cudaDataType_t kCudaDataType<__nv_bfloat16> = CUDA_R_16BF;
template <> inline constexpr cudaDataType_t kCudaDataType<__half> = CUDA_R_16F;
template <class T, class C>
  requires(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>)
inline cublasStatus_t gemm_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m, int n,
                                int k, float alpha, const T* a, int lda, long long stride_a, const T* b, int ldb,
                                long long stride_b, float beta, C* c, int ldc, long long stride_c, int batch) {
  return cublasGemmStridedBatchedEx(handle, op_a, op_b, m, n, k, &alpha, a, kCudaDataType<T>, lda, stride_a, b,
                                    kCudaDataType<T>, ldb, stride_b, &beta, c, kCudaDataType<C>, ldc, stride_c, batch,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// The pointer-array forms (cublas{S,D}gemmBatched, cublasGemmBatchedEx): matrix i of each
// operand at a[i], b[i], c[i] (device arrays).
inline cublasStatus_t gemm_batched_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m,
                                        int n, int k, float alpha, const float* const* a, int lda,
                                        const float* const* b, int ldb, float beta, float* const* c, int ldc,
                                        int batch) {
  return cublasSgemmBatched(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc, batch);
}
inline cublasStatus_t gemm_batched_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m,
                                        int n, int k, double alpha, const double* const* a, int lda,
                                        const double* const* b, int ldb, double beta, double* const* c, int ldc,
                                        int batch) {
  return cublasDgemmBatched(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc, batch);
}
template <class T, class C>
  requires(std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>)
inline cublasStatus_t gemm_batched_call(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, int m,
                                        int n, int k, float alpha, const T* const* a, int lda, const T* const* b,
                                        int ldb, float beta, C* const* c, int ldc, int batch) {
  return cublasGemmBatchedEx(handle, op_a, op_b, m, n, k, &alpha, reinterpret_cast<const void* const*>(a),
                             kCudaDataType<T>, lda, reinterpret_cast<const void* const*>(b), kCudaDataType<T>, ldb,
                             &beta, reinterpret_cast<void* const*>(c), kCudaDataType<C>, ldc, batch,
                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// What both GEMM forms below share: cuBLAS's 32-bit sizes checked, the transpose flags, and batches
// split at 65535 (some cuBLAS kernels put the batch on a 16-bit grid dimension): fn(op_a, op_b,
// first, count) per slice.
template <class Fn>
void for_each_cublas_batch(const char* op, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                           std::int64_t k, std::int64_t lda, std::int64_t ldb, std::int64_t ldc, std::int64_t batch,
                           Fn&& fn) {
  if (batch == 0 || m == 0 || n == 0) return;
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  for (std::int64_t v : {m, n, k, lda, ldb, ldc})
    TINYXF_CHECK(v <= kIntMax, "cuda ", op, ": GEMM dimension or leading dimension ", v,
                 " exceeds cuBLAS's 32-bit limit");
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  constexpr std::int64_t kMaxBatch = 65535;
  for (std::int64_t first = 0; first < batch; first += kMaxBatch)
    fn(op_a, op_b, first, static_cast<int>(std::min(kMaxBatch, batch - first)));
}

// A batch of row-major GEMMs as GemmArgs states them: C[i] = alpha op(A[i]) op(B[i]) + beta C[i],
// op(A) [m, k], op(B) [k, n], C [m, n]; `trans_a` means A is stored [k, m]; leading dimensions
// are row strides and batch strides are in elements (0: a shared operand). T is the operands'
// element type, C the result's (T, or float32 for 16-bit operands).
//
// cuBLAS is column-major. A row-major [r, c] matrix with row stride ld is the column-major [c, r]
// matrix with leading dim ld, i.e. its transpose, so the row-major C = op(A) op(B) is computed as
// the column-major C^T = op(B)^T op(A)^T: operands swapped, same transpose flags, m and n swapped.
// The caller has set the handle's math mode (under ctx.mutex).
template <class T, class C = T>
void gemm_row_major(DeviceContext& ctx, const char* op, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                    std::int64_t k, compute_t<T> alpha, const T* a, std::int64_t lda, std::int64_t stride_a,
                    const T* b, std::int64_t ldb, std::int64_t stride_b, compute_t<T> beta, C* c, std::int64_t ldc,
                    std::int64_t stride_c, std::int64_t batch) {
  for_each_cublas_batch(op, trans_a, trans_b, m, n, k, lda, ldb, ldc, batch,
                        [&](cublasOperation_t op_a, cublasOperation_t op_b, std::int64_t first, int count) {
                          check_cublas(gemm_call(ctx.cublas, op_b, op_a, static_cast<int>(n), static_cast<int>(m),
                                                 static_cast<int>(k), alpha, b + first * stride_b,
                                                 static_cast<int>(ldb), stride_b, a + first * stride_a,
                                                 static_cast<int>(lda), stride_a, beta, c + first * stride_c,
                                                 static_cast<int>(ldc), stride_c, count),
                                       op);
                        });
}

// gemm_row_major with the matrices given by device arrays of pointers (a[i], b[i], c[i]: matrix i
// of each operand, all with the same shape and leading dimension): the same swap to column-major.
template <class T, class C = T>
void gemm_row_major_pointers(DeviceContext& ctx, const char* op, bool trans_a, bool trans_b, std::int64_t m,
                             std::int64_t n, std::int64_t k, compute_t<T> alpha, const T* const* a, std::int64_t lda,
                             const T* const* b, std::int64_t ldb, compute_t<T> beta, C* const* c, std::int64_t ldc,
                             std::int64_t batch) {
  for_each_cublas_batch(op, trans_a, trans_b, m, n, k, lda, ldb, ldc, batch,
                        [&](cublasOperation_t op_a, cublasOperation_t op_b, std::int64_t first, int count) {
                          check_cublas(gemm_batched_call(ctx.cublas, op_b, op_a, static_cast<int>(n),
                                                         static_cast<int>(m), static_cast<int>(k), alpha, b + first,
                                                         static_cast<int>(ldb), a + first, static_cast<int>(lda), beta,
                                                         c + first, static_cast<int>(ldc), count),
                                       op);
                        });
}

// ---- launch sizing -----------------------------------------------------------------------------
inline constexpr int kThreads = 256;

// Enough blocks to fill the device a few times over; kernels use grid-stride loops beyond that.
inline unsigned blocks_for(std::int64_t work_items, const DeviceContext& ctx, int threads = kThreads) {
  const std::int64_t needed = (work_items + threads - 1) / threads;
  const std::int64_t cap = static_cast<std::int64_t>(ctx.sm_count) * 16;
  const std::int64_t blocks = needed < cap ? needed : cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

inline int next_pow2(std::int64_t v) {
  int p = 1;
  while (p < v && p < (1 << 30)) p <<= 1;
  return p;
}

// How many pieces to cut a long axis into when `tiles` blocks alone would leave most of the GPU
// idle: about 4 blocks per SM, each piece at least `min_rows` long. Pieces are `chunk` rows.
struct SplitPlan {
  std::int64_t splits = 1, chunk = 0;
};
inline SplitPlan plan_splits(std::int64_t tiles, std::int64_t rows, std::int64_t min_rows, int sm_count) {
  SplitPlan p;
  const std::int64_t target_blocks = static_cast<std::int64_t>(sm_count) * 4;
  if (tiles < target_blocks && rows > min_rows)
    p.splits = std::min<std::int64_t>({(target_blocks + tiles - 1) / tiles, (rows + min_rows - 1) / min_rows, 65535});
  p.chunk = rows > 0 ? (rows + p.splits - 1) / p.splits : 1;
  if (rows > 0) p.splits = (rows + p.chunk - 1) / p.chunk;
  return p;
}

// Launch shape of a reduction over [outer, reduced, inner]: blocks of bx x by threads, bx
// consecutive inner positions (coalesced loads; bx = 1 when inner == 1) times by threads
// striding the reduced axis; blockIdx.x = (o, inner tile), blockIdx.y = split of the reduced axis.
struct ReducePlan {
  int bx = 1, by = 1;
  std::int64_t outer = 0, reduced = 0, inner = 0, inner_tiles = 0, blocks_x = 0;
  SplitPlan split;
};
inline ReducePlan plan_reduction(std::int64_t outer, std::int64_t reduced, std::int64_t inner, int sm_count) {
  ReducePlan p;
  p.outer = outer;
  p.reduced = reduced;
  p.inner = inner;
  p.bx = inner == 1 ? 1 : std::min(32, next_pow2(inner));
  p.by = inner == 1 ? std::max(32, std::min(kThreads, next_pow2(reduced)))
                    : std::min(kThreads / p.bx, next_pow2(reduced));
  p.inner_tiles = (inner + p.bx - 1) / p.bx;
  p.blocks_x = outer * p.inner_tiles;
  p.split = plan_splits(p.blocks_x, reduced, static_cast<std::int64_t>(p.by) * 32, sm_count);
  return p;
}

// The part of a reduction one thread handles: output column i of row o, reduced positions
// begin + ty, begin + ty + by, ... < end.
struct ReduceSlice {
  std::int64_t o, i, begin, end;
};
__host__ __device__ __forceinline__ ReduceSlice reduce_slice(const ReducePlan& p, std::int64_t block_x,
                                                             std::int64_t block_y, int tx) {
  ReduceSlice s;
  const std::int64_t tile = block_x % p.inner_tiles;
  s.o = block_x / p.inner_tiles;
  s.i = tile * p.bx + tx;
  s.begin = block_y * p.split.chunk;
  s.end = s.begin + p.split.chunk < p.reduced ? s.begin + p.split.chunk : p.reduced;
  return s;
}

// The caching allocator's size classes: 512-byte steps up to 1 MiB, above that steps of an eighth
// of the largest power of two not above the request (at most 12.5% waste), so that similar sizes
// share a free list.
inline std::size_t round_block_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t{1} << 20;
  if (bytes <= kSmall) return kSmall;
  if (bytes <= kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  std::size_t pow2 = kLarge;
  while (pow2 <= bytes / 2) pow2 <<= 1;
  const std::size_t granule = pow2 / 8;
  return (bytes + granule - 1) / granule * granule;
}

// ---- strided element offsets -------------------------------------------------------------------
// N views of one shape after dropping size-1 dims and merging dims that are contiguous in every
// view; a contiguous op becomes one dim, so its offsets need no division at all.
template <int N>
struct Offsets {
  int ndim = 1;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t strides[N][kMaxDims] = {};

  // Offsets (in elements) of the element with row-major position `linear`.
  template <class Index>
  __host__ __device__ __forceinline__ void at(Index linear, std::int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const Index size = static_cast<Index>(shape[d]);
      const Index q = linear / size;
      const std::int64_t coord = static_cast<std::int64_t>(linear - q * size);
      linear = q;
      for (int k = 0; k < N; ++k) off[k] += coord * strides[k][d];
    }
    for (int k = 0; k < N; ++k) off[k] += static_cast<std::int64_t>(linear) * strides[k][0];
  }
};

// `views[0]` gives the shape; a view with data == nullptr (an absent optional operand) gets
// stride 0 everywhere.
template <int N>
Offsets<N> collapse_dims(const KernelView* const (&views)[N]) {
  const KernelView& ref = *views[0];
  Offsets<N> o;
  int nd = 0;
  for (int d = 0; d < ref.ndim; ++d) {
    if (ref.shape[d] == 1) continue;
    std::int64_t st[N];
    for (int k = 0; k < N; ++k)
      st[k] = (views[k]->data && d < views[k]->ndim) ? views[k]->strides[d] : 0;
    bool mergeable = nd > 0;
    for (int k = 0; k < N && mergeable; ++k)
      mergeable = o.strides[k][nd - 1] == st[k] * ref.shape[d];
    if (mergeable) {  // the previous (outer) dim continues this one in every view
      o.shape[nd - 1] *= ref.shape[d];
      for (int k = 0; k < N; ++k) o.strides[k][nd - 1] = st[k];
    } else {
      o.shape[nd] = ref.shape[d];
      for (int k = 0; k < N; ++k) o.strides[k][nd] = st[k];
      ++nd;
    }
  }
  if (nd == 0) {  // a scalar or all-ones shape: one element at offset 0
    o.shape[0] = 1;
    for (int k = 0; k < N; ++k) o.strides[k][0] = 0;
    nd = 1;
  }
  o.ndim = nd;
  return o;
}

template <int N, class Index, class Fn>
__global__ void __launch_bounds__(kThreads) strided_kernel(Offsets<N> offsets, Index n, Fn fn) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t off[N];
    offsets.at(i, off);
    fn(off);
  }
}

// ---- packs: 128-bit loads and stores over contiguous views ---------------------------------------
// A functor with kPack > 1 (elements per pack: 16 bytes of its widest operand; the floating-point
// functors of packed_functors.cuh) also handles V = kPack consecutive elements at once,
// fn.template pack<V>(i) for elements i .. i + V - 1, with one vector load or store per operand
// instead of V scalar ones, and computes each element exactly as its scalar operator() does.
// launch_strided takes that path when every view is one contiguous run whose data is aligned to a
// whole pack (packable), the scalar one otherwise.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};
template <int V, class T>
__host__ __device__ __forceinline__ Pack<T, V> load_pack(const T* p, std::int64_t i) {
  return *reinterpret_cast<const Pack<T, V>*>(p + i);
}
template <int V, class T>
__host__ __device__ __forceinline__ void store_pack(T* p, std::int64_t i, const Pack<T, V>& pack) {
  *reinterpret_cast<Pack<T, V>*>(p + i) = pack;
}

// Fn::kPack, 0 for a functor without packs.
template <class Fn>
constexpr int pack_of() {
  if constexpr (requires { Fn::kPack; })
    return Fn::kPack;
  else
    return 0;
}

// Only floating-point kernels get a packed twin (integer elementwise ops are rare in training,
// and every twin is one more kernel for nvcc to compile per architecture): kPack = pack_width<T>.
template <class T>
inline constexpr int pack_width = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                          std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>
                                      ? static_cast<int>(16 / sizeof(T))
                                      : 0;

// Whether packs of `pack` elements fit the collapsed views: one dim, stride 1 in every present
// view (an absent optional operand, data == nullptr, is skipped by its functor), each view's data
// aligned to `pack` of its elements. tinyxf_cuda_host_logic_test checks the cases.
template <int N>
bool pack_aligned(const KernelView* const (&views)[N], int pack) {
  for (const KernelView* v : views)
    if (v->data && reinterpret_cast<std::uintptr_t>(v->data) % (static_cast<std::size_t>(pack) * dtype_size(v->dtype)))
      return false;
  return true;
}
template <int N>
bool packable(const Offsets<N>& offsets, const KernelView* const (&views)[N], int pack) {
  if (pack <= 1 || offsets.ndim != 1) return false;
  for (int k = 0; k < N; ++k)
    if (views[k]->data && offsets.strides[k][0] != 1) return false;
  return pack_aligned(views, pack);
}

// Packs over n contiguous elements, then the last n % V one element per thread.
template <int N, class Fn>
__global__ void __launch_bounds__(kThreads) packed_kernel(std::int64_t n, Fn fn) {
  constexpr int V = Fn::kPack;
  const std::int64_t packs = n / V;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t p = first; p < packs; p += step) fn.template pack<V>(p * V);
  if (const std::int64_t i = packs * V + first; i < n) {
    std::int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = i;
    fn(off);
  }
}

// For functors over contiguous views only, whose offsets are the element index itself (the fused
// dropout and bias_gelu): packs where every view is aligned to one, else one element per thread;
// two kernels per functor instead of launch_strided's three.
template <int N, class Fn>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(std::int64_t n, Fn fn) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = i;
    fn(off);
  }
}

template <int N, class Fn>
void launch_contiguous(OpScope& scope, const char* op, const KernelView* const (&views)[N], const Fn& fn) {
  const std::int64_t n = views[0]->numel();
  if (n == 0) return;
  constexpr int V = pack_of<Fn>();
  if constexpr (V > 1) {
    if (pack_aligned(views, V)) {
      packed_kernel<N><<<blocks_for((n + V - 1) / V, scope.ctx), kThreads, 0, scope.stream()>>>(n, fn);
      check_launch(op);
      return;
    }
  }
  contiguous_kernel<N><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(n, fn);
  check_launch(op);
}

// Runs fn(offsets) for every element of the views (32-bit index math when it fits), in packs
// where the functor and the views allow.
template <int N, class Fn>
void launch_strided(OpScope& scope, const char* op, const KernelView* const (&views)[N], const Fn& fn) {
  const std::int64_t n = views[0]->numel();
  if (n == 0) return;
  const Offsets<N> offsets = collapse_dims(views);
  if constexpr (pack_of<Fn>() > 1) {
    if (packable(offsets, views, Fn::kPack)) {
      packed_kernel<N><<<blocks_for((n + Fn::kPack - 1) / Fn::kPack, scope.ctx), kThreads, 0, scope.stream()>>>(n,
                                                                                                                 fn);
      check_launch(op);
      return;
    }
  }
  const unsigned blocks = blocks_for(n, scope.ctx);
  if (n <= std::numeric_limits<std::int32_t>::max())
    strided_kernel<N, std::uint32_t><<<blocks, kThreads, 0, scope.stream()>>>(
        offsets, static_cast<std::uint32_t>(n), fn);
  else
    strided_kernel<N, std::uint64_t><<<blocks, kThreads, 0, scope.stream()>>>(
        offsets, static_cast<std::uint64_t>(n), fn);
  check_launch(op);
}

// ---- dtype-converting loads and stores (the dtype is uniform across a launch) ------------------
template <class O>
__host__ __device__ __forceinline__ O load_as(const void* p, DType dtype, std::int64_t i) {
  switch (dtype) {
    case DType::f32: return static_cast<O>(static_cast<const float*>(p)[i]);
    case DType::f64: return static_cast<O>(static_cast<const double*>(p)[i]);
    case DType::i64: return static_cast<O>(static_cast<const std::int64_t*>(p)[i]);
    case DType::i32: return static_cast<O>(static_cast<const std::int32_t*>(p)[i]);
    case DType::u8:
    case DType::b8: return static_cast<O>(static_cast<const std::uint8_t*>(p)[i]);
    case DType::bf16: return static_cast<O>(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]));
    case DType::f16: return static_cast<O>(__half2float(static_cast<const __half*>(p)[i]));
  }
  return O(0);
}

template <class V>
__host__ __device__ __forceinline__ void store_as(void* p, DType dtype, std::int64_t i, V v) {
  switch (dtype) {
    case DType::f32: static_cast<float*>(p)[i] = static_cast<float>(v); return;
    case DType::f64: static_cast<double*>(p)[i] = static_cast<double>(v); return;
    case DType::i64: static_cast<std::int64_t*>(p)[i] = static_cast<std::int64_t>(v); return;
    case DType::i32: static_cast<std::int32_t*>(p)[i] = static_cast<std::int32_t>(v); return;
    case DType::u8: static_cast<std::uint8_t*>(p)[i] = static_cast<std::uint8_t>(v); return;
    case DType::b8: static_cast<std::uint8_t*>(p)[i] = static_cast<std::uint8_t>(v != V(0)); return;
    case DType::bf16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(static_cast<float>(v)); return;
    case DType::f16: static_cast<__half*>(p)[i] = __float2half_rn(static_cast<float>(v)); return;
  }
}

// exp at the operand's precision (expf for float: the softmax rows).
__device__ __forceinline__ float device_exp(float x) { return expf(x); }
__device__ __forceinline__ double device_exp(double x) { return ::exp(x); }

// ---- reductions within a warp / block ----------------------------------------------------------
struct SumOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
// NaN-ignoring max, like std::max(acc, x) with the NaN on the right (the reference's softmax).
struct MaxOp {
  template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a < b ? b : a; }
};

template <class T, class Op>
__device__ __forceinline__ T warp_allreduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread of the block gets the result. `shared` holds 32 values; blockDim.x % 32 == 0.
template <class T, class Op>
__device__ __forceinline__ T block_allreduce(T v, Op op, T identity, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_allreduce(v, op);
  __syncthreads();  // the previous use of `shared` is complete
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x >> 5);
  v = lane < warps ? shared[lane] : identity;
  return warp_allreduce(v, op);
}

// A product rounded on its own, never contracted into an FMA with a later add: where a kernel
// subtracts a sum of such products from the product again (g - mean(g) in layer_norm's backward),
// an FMA would leave the product's rounding error, which rstd then magnifies (1e6 at eps 1e-12).
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// Row-wise kernels run one warp per row (short rows) or one block per row (long rows).
inline constexpr std::int64_t kWarpRowLimit = 1024;
inline constexpr int kWarpsPerBlock = 4;
inline constexpr int kRowBlockThreads = 512;

template <bool kWarpPerRow>
struct RowLayout {
  std::int64_t row;
  int lane, width;  // position within the row's threads and their count
  __device__ __forceinline__ RowLayout() {
    if constexpr (kWarpPerRow) {
      row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
      lane = threadIdx.x & 31;
      width = 32;
    } else {
      row = blockIdx.x;
      lane = threadIdx.x;
      width = blockDim.x;
    }
  }
};

template <bool kWarpPerRow, class T, class Op>
__device__ __forceinline__ T row_allreduce(T v, Op op, T identity, T* shared) {
  if constexpr (kWarpPerRow)
    return warp_allreduce(v, op);
  else
    return block_allreduce(v, op, identity, shared);
}

// Launch shape of a row-wise kernel.
struct RowLaunch {
  bool warp_per_row;
  unsigned blocks, threads;
};
inline RowLaunch row_launch(std::int64_t rows, std::int64_t cols) {
  if (cols <= kWarpRowLimit)
    return {true, static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock),
            static_cast<unsigned>(32 * kWarpsPerBlock)};
  return {false, static_cast<unsigned>(rows), static_cast<unsigned>(kRowBlockThreads)};
}

// Launches a row-wise kernel in the shape row_launch picks: its warp-per-row or block-per-row
// instantiation.
template <class Kernel, class... Args>
void launch_rows(OpScope& scope, const char* op, std::int64_t rows, std::int64_t cols, Kernel warp_kernel,
                 Kernel block_kernel, Args... args) {
  const RowLaunch l = row_launch(rows, cols);
  (l.warp_per_row ? warp_kernel : block_kernel)<<<l.blocks, l.threads, 0, scope.stream()>>>(args...);
  check_launch(op);
}

}  // namespace tinyxf::backends::cuda_detail
