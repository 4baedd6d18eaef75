// Fused scaled-dot-product attention (Backend::scaled_dot_product_attention), forward and
// backward, as strided-batched cuBLAS GEMMs around one row kernel per step. The (b, h) pairs go
// in chunks whose [pairs, L, S] score tiles fit a scratch budget; within a chunk each GEMM is
// one batched cuBLAS call over the chunk's pairs (head_batches.cuh: strided-batched when every
// operand spaces its pairs evenly, else with pointer arrays made on the device), reading and
// writing q/k/v/out and the gradients in their own strided layouts (no head-transpose copies):
//   forward   S = scale Q K^T -> [row kernel: mask, softmax, log-sum-exp, dropout] -> O = P V
//   backward  S = scale Q K^T -> [row kernel: P = exp(S - lse), Pd = P∘M] -> dV = Pd^T dO,
//             dPd = dO V^T -> [row kernel: dP = dPd∘M, dS = P∘(dP - rowsum(P∘dP)), 0 where
//             masked] -> dQ = scale dS K, dK = scale dS^T Q
// with M the dropout multipliers, regenerated from (seed, offset) with kmath::dropout_keep. The
// numerics follow the cpu backend's attention.hpp: masked scores become T's lowest value, a
// fully masked row attends uniformly, sums of exponentials are accumulated in double.
// bfloat16/float16 operands (q, k, v, out and their gradients) stay 16-bit: the GEMMs run on the
// tensor cores with float32 sums into float32 score tiles, the row kernels compute in float32
// and also write the GEMM operands P∘M and dS rounded to the 16-bit dtype into a third tile
// (torch's autocast does the same: float32 softmax, its result cast for the bf16 matmul).
// With flash attention on (set_cuda_flash_attention), 16-bit and TF32 problems with head dims up
// to 128 go to the kernels of flash_attention.cuh instead, whose score tiles stay on chip.
#include <algorithm>
#include <atomic>
#include <limits>
#include <type_traits>

#include <mma.h>

#include "cuda_common.cuh"
#include "flash_attention.cuh"
#include "head_batches.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {

// Scratch for the score tiles of one chunk of (b, h) pairs.
constexpr std::size_t kTileBudgetBytes = std::size_t{256} << 20;

// What the row kernels know of a chunk: its score rows form a contiguous [pairs, L, S] tile whose
// row r is query i = r % L of pair t = first_pair + r / L, with t = b * H + h.
struct RowGeometry {
  std::int64_t first_pair = 0;
  std::int64_t H = 0, L = 0, S = 0;
  flash::Masking masking;  // mask, causal and dropout stream: the flash kernels' description
};

struct RowPosition {
  std::int64_t pair, query;
  const std::uint8_t* mask_row;  // null: no mask
  std::uint64_t counter;         // dropout counter of key 0
};

__device__ __forceinline__ RowPosition row_position(const RowGeometry& g, std::int64_t row) {
  RowPosition p;
  p.pair = g.first_pair + row / g.L;
  p.query = row % g.L;
  const flash::Masking& m = g.masking;
  p.mask_row = m.mask ? m.mask + (p.pair / g.H) * m.strides[0] + (p.pair % g.H) * m.strides[1] + p.query * m.strides[2]
                      : nullptr;
  // Weight (b, h, i, j) draws counter offset + ((b * H + h) * L + i) * S + j.
  p.counter = m.offset + static_cast<std::uint64_t>((p.pair * g.L + p.query) * g.S);
  return p;
}

__device__ __forceinline__ bool is_masked(const RowGeometry& g, const RowPosition& p, std::int64_t j) {
  return (g.masking.causal && j > p.query) || (p.mask_row && p.mask_row[j * g.masking.strides[3]] == 0);
}

// The dropout multiplier of key j: 1/(1-p) kept, 0 dropped (1 without dropout).
template <class T>
__device__ __forceinline__ T dropout_multiplier(const RowGeometry& g, const RowPosition& p, std::int64_t j,
                                                T keep_scale) {
  const flash::Masking& m = g.masking;
  if (!m.dropout) return T(1);
  return kmath::dropout_keep(m.seed, p.counter + static_cast<std::uint64_t>(j), m.dropout_p) ? keep_scale : T(0);
}

// Forward: the scores of a row (scale q k^T) become the dropped-out probabilities in place, and
// lse[pair * L + query] their log-sum-exp (T's lowest for a fully masked row, as the cpu backend).
// When P is not T, `copy` gets the same values rounded to P (the next GEMM's 16-bit operand).
template <class P, class T>
__device__ __forceinline__ void store_copy(P* copy, std::int64_t i, T value) {
  if constexpr (!std::is_same_v<P, T>) copy[i] = narrow_to<P>(value);
}

template <class T, class P, bool kWarpPerRow>
__global__ void attention_softmax_kernel(T* tile, P* copy, T* lse, RowGeometry g, std::int64_t rows, T lowest,
                                         T keep_scale) {
  __shared__ T shared_max[32];
  __shared__ double shared_sum[32];
  __shared__ int shared_kept[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;  // whole warps only: rows are never split across warps
  const RowPosition pos = row_position(g, at.row);
  T* s = tile + at.row * g.S;
  T max_value = -static_cast<T>(INFINITY);
  int kept = 0;
  for (std::int64_t j = at.lane; j < g.S; j += at.width) {
    if (is_masked(g, pos, j))
      s[j] = lowest;  // masked_fill(lowest), as the composed path
    else
      ++kept;
    max_value = MaxOp{}(max_value, s[j]);
  }
  kept = row_allreduce<kWarpPerRow>(kept, SumOp{}, 0, shared_kept);
  T row_lse;
  if (kept == 0) {  // every key masked: equal scores, uniform weights
    const T uniform = static_cast<T>(1.0 / static_cast<double>(g.S));
    for (std::int64_t j = at.lane; j < g.S; j += at.width) {
      s[j] = uniform * dropout_multiplier(g, pos, j, keep_scale);
      store_copy(copy, at.row * g.S + j, s[j]);
    }
    row_lse = lowest;
  } else {
    max_value = row_allreduce<kWarpPerRow>(max_value, MaxOp{}, -static_cast<T>(INFINITY), shared_max);
    double sum = 0;
    for (std::int64_t j = at.lane; j < g.S; j += at.width) {
      const T e = device_exp(s[j] - max_value);
      s[j] = e;
      sum += static_cast<double>(e);
    }
    sum = row_allreduce<kWarpPerRow>(sum, SumOp{}, 0.0, shared_sum);
    const T inverse = static_cast<T>(1.0 / sum);
    for (std::int64_t j = at.lane; j < g.S; j += at.width) {
      const T p = s[j] * inverse;
      s[j] = g.masking.dropout ? p * dropout_multiplier(g, pos, j, keep_scale) : p;
      store_copy(copy, at.row * g.S + j, s[j]);
    }
    row_lse = static_cast<T>(static_cast<double>(max_value) + ::log(sum));
  }
  if (at.lane == 0) lse[pos.pair * g.L + pos.query] = row_lse;
}

// Backward, first step: the scores of a row become the probabilities P = exp(masked score - lse)
// in place (uniform for a fully masked row), and `dropped` (when dropout is on) gets P∘M; with a
// 16-bit P, `copy` gets P∘M rounded to it instead.
template <class T, class P, bool kWarpPerRow>
__global__ void attention_probabilities_kernel(T* tile, T* dropped, P* copy, const T* lse, RowGeometry g,
                                               std::int64_t rows, T lowest, T keep_scale) {
  __shared__ int shared_kept[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;
  const RowPosition pos = row_position(g, at.row);
  T* s = tile + at.row * g.S;
  bool any_kept = true;  // without a mask, key 0 is always kept (causal or not)
  if (g.masking.mask) {
    int kept = 0;
    for (std::int64_t j = at.lane; j < g.S; j += at.width) kept += is_masked(g, pos, j) ? 0 : 1;
    any_kept = row_allreduce<kWarpPerRow>(kept, SumOp{}, 0, shared_kept) > 0;
  }
  const T row_lse = lse[pos.pair * g.L + pos.query];
  const T uniform = static_cast<T>(1.0 / static_cast<double>(g.S));
  for (std::int64_t j = at.lane; j < g.S; j += at.width) {
    const T p = any_kept ? device_exp((is_masked(g, pos, j) ? lowest : s[j]) - row_lse) : uniform;
    s[j] = p;
    if (dropped) dropped[at.row * g.S + j] = p * dropout_multiplier(g, pos, j, keep_scale);
    store_copy(copy, at.row * g.S + j, g.masking.dropout ? p * dropout_multiplier(g, pos, j, keep_scale) : p);
  }
}

// Backward, second step: with P in `tile` and dPd = dO V^T in `grad`, dP = dPd∘M goes into
// `grad` and dS = P∘(dP - rowsum(P∘dP)) into `tile`; masked scores were constants, so their
// dS is 0. With a 16-bit P, `copy` gets dS rounded to it.
template <class T, class P, bool kWarpPerRow>
__global__ void attention_score_grad_kernel(T* tile, T* grad, P* copy, RowGeometry g, std::int64_t rows,
                                            T keep_scale) {
  __shared__ double shared_sum[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;
  const RowPosition pos = row_position(g, at.row);
  T* p = tile + at.row * g.S;
  T* dp = grad + at.row * g.S;
  double dot = 0;
  for (std::int64_t j = at.lane; j < g.S; j += at.width) {
    const T d = g.masking.dropout ? dp[j] * dropout_multiplier(g, pos, j, keep_scale) : dp[j];
    dp[j] = d;
    dot += static_cast<double>(p[j]) * static_cast<double>(d);
  }
  const T row_dot = static_cast<T>(row_allreduce<kWarpPerRow>(dot, SumOp{}, 0.0, shared_sum));
  for (std::int64_t j = at.lane; j < g.S; j += at.width) {
    p[j] = is_masked(g, pos, j) ? T(0) : p[j] * (dp[j] - row_dot);
    store_copy(copy, at.row * g.S + j, p[j]);
  }
}

// The row stride cuBLAS gets for the [n, d] matrices of a view (unit column stride): a single
// row's stride is arbitrary, cuBLAS still wants at least the row length.
std::int64_t row_ld(const KernelView& t) {
  return t.shape[2] <= 1 ? std::max<std::int64_t>({t.strides[2], t.shape[3], 1}) : t.strides[2];
}

template <class T>
HeadMatrices<T> head_matrices(const KernelView& t) {
  return {static_cast<T*>(t.data), t.strides[0], t.strides[1], row_ld(t)};
}

void check_operands(const char* op, std::initializer_list<const KernelView*> views) {
  for (const KernelView* v : views)
    TINYXF_CHECK(v->ndim == 4 && (v->strides[3] == 1 || v->shape[3] <= 1), "cuda ", op,
                 ": expected [B, H, n, d] operands with a unit last stride");
}

// The mask, causal flag and dropout stream of a call, for the composed and the flash kernels.
flash::Masking attention_masking(const KernelView& mask, const AttentionArgs& a) {
  flash::Masking m;
  if (mask.data) {
    TINYXF_CHECK(mask.ndim == 4, "cuda scaled_dot_product_attention: expected a mask viewed as [B, H, L, S]");
    m.mask = static_cast<const std::uint8_t*>(mask.data);
    for (int d = 0; d < 4; ++d) m.strides[d] = mask.strides[d];
  }
  m.causal = a.is_causal;
  m.dropout = a.dropout_p > 0.0;
  m.dropout_p = a.dropout_p;
  m.seed = a.seed;
  m.offset = a.offset;
  m.keep_scale = static_cast<float>(1.0 / (1.0 - a.dropout_p));
  return m;
}

RowGeometry row_geometry(const KernelView& mask, const AttentionArgs& a, std::int64_t H, std::int64_t L,
                         std::int64_t S) {
  return {0, H, L, S, attention_masking(mask, a)};
}

// Pairs per chunk: the chunk's score tiles of [L, S] (bytes_per_score over all tiles) stay within
// the budget.
std::int64_t pairs_per_chunk(std::int64_t pairs, std::int64_t L, std::int64_t S, std::size_t bytes_per_score) {
  const auto per_pair = static_cast<std::size_t>(L * S) * bytes_per_score;
  const auto fit = static_cast<std::int64_t>(kTileBudgetBytes / std::max<std::size_t>(per_pair, 1));
  return std::clamp<std::int64_t>(fit, 1, pairs);
}

// The pointer arrays of one batched GEMM over the pairs [first, first + count).
template <class TA, class TB, class TC>
__global__ void __launch_bounds__(kThreads) pair_pointers_kernel(const TA** a, const TB** b, TC** c,
                                                                HeadMatrices<const TA> ha, HeadMatrices<const TB> hb,
                                                                HeadMatrices<TC> hc, std::int64_t first,
                                                                std::int64_t count, std::int64_t H) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) {
    a[i] = ha.at(first + i, H);
    b[i] = hb.at(first + i, H);
    c[i] = hc.at(first + i, H);
  }
}

// C(t) = alpha op(A(t)) op(B(t)) + beta C(t) for the pairs t of [first, first + count)
// (head_batches.cuh): one strided-batched call when every operand spaces its pairs evenly, else
// one pointer-array batched call with the pointers made on the device.
template <class S, class C>
void pair_gemm(OpScope& scope, const char* op, bool even, std::int64_t first, std::int64_t count, std::int64_t H,
               bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, compute_t<S> alpha,
               const HeadMatrices<const S>& a, const HeadMatrices<const S>& b, compute_t<S> beta,
               const HeadMatrices<C>& c) {
  if (even) {
    gemm_row_major<S, C>(scope.ctx, op, trans_a, trans_b, m, n, k, alpha, a.at(first, H), a.ld, a.pair_stride(H),
                         b.at(first, H), b.ld, b.pair_stride(H), beta, c.at(first, H), c.ld, c.pair_stride(H), count);
    return;
  }
  // Freed blocks are reused only by later work on this stream, so the arrays may go when this returns.
  const std::shared_ptr<void> memory = scratch(static_cast<std::size_t>(3 * count) * sizeof(void*), scope.ctx.device);
  char* const arrays = static_cast<char*>(memory.get());
  const std::size_t array_bytes = static_cast<std::size_t>(count) * sizeof(void*);
  const auto** pa = reinterpret_cast<const S**>(arrays);
  const auto** pb = reinterpret_cast<const S**>(arrays + array_bytes);
  auto** pc = reinterpret_cast<C**>(arrays + 2 * array_bytes);
  pair_pointers_kernel<S, S, C><<<blocks_for(count, scope.ctx), kThreads, 0, scope.stream()>>>(pa, pb, pc, a, b, c,
                                                                                                first, count, H);
  check_launch(op);
  gemm_row_major_pointers<S, C>(scope.ctx, op, trans_a, trans_b, m, n, k, alpha, pa, a.ld, pb, b.ld, beta, pc, c.ld,
                                count);
}

void zero_async(OpScope& scope, void* p, std::size_t bytes, const char* op) {
  check_cuda(cudaMemsetAsync(p, 0, bytes, scope.stream()), op, "cudaMemsetAsync");
}

// ---- flash attention on the device ------------------------------------------------------------------
namespace wmma = nvcuda::wmma;

template <class S>
struct WmmaOperand {
  using type = S;
};
template <>
struct WmmaOperand<float> {
  using type = wmma::precision::tf32;
};

// The Block of flash_attention.cuh's kernel bodies on the GPU: CUDA threads, __syncthreads and
// warp-wide 16x16 products on the tensor cores with float32 accumulators.
struct DeviceBlock {
  template <class S>
  using Acc = wmma::fragment<wmma::accumulator, 16, 16, flash::kMmaDepth<S>, float>;
  __device__ int thread() const { return static_cast<int>(threadIdx.x); }
  __device__ int warp() const { return static_cast<int>(threadIdx.x) / 32; }
  __device__ void sync() const { __syncthreads(); }
  template <class F>
  __device__ static void zero(F& c) {
    wmma::fill_fragment(c, 0.0f);
  }
  template <class F>
  __device__ static void load(F& c, const float* p, int ld) {
    wmma::load_matrix_sync(c, p, ld, wmma::mem_row_major);
  }
  template <class F>
  __device__ static void store(float* p, int ld, const F& c) {
    wmma::store_matrix_sync(p, c, ld, wmma::mem_row_major);
  }
  // c += A [16 x depth] B [depth x 16]; A row-major at a (lda), or stored transposed (kATrans);
  // B row-major at b (ldb), or stored transposed (kBTrans).
  template <class S, bool kATrans, bool kBTrans, class F>
  __device__ static void mma(F& c, const S* a, int lda, const S* b, int ldb, int depth) {
    constexpr int K = flash::kMmaDepth<S>;
    using Op = typename WmmaOperand<S>::type;
    wmma::fragment<wmma::matrix_a, 16, 16, K, Op, std::conditional_t<kATrans, wmma::col_major, wmma::row_major>> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, K, Op, std::conditional_t<kBTrans, wmma::col_major, wmma::row_major>> fb;
    for (int kk = 0; kk < depth; kk += K) {
      wmma::load_matrix_sync(fa, flash::fragment_at<kATrans>(a, lda, kk), lda);
      wmma::load_matrix_sync(fb, flash::fragment_at<!kBTrans>(b, ldb, kk), ldb);
      if constexpr (std::is_same_v<S, float>) {
        for (int i = 0; i < fa.num_elements; ++i) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
        for (int i = 0; i < fb.num_elements; ++i) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
      }
      wmma::mma_sync(c, fa, fb, c);
    }
  }
};

// One kernel per pass of flash_attention.cuh, a block per tile of 64 queries (forward, dQ) or keys (dK/dV).
enum class FlashPass { forward, grad_query, grad_key_value };

template <FlashPass kPass, class S, int kD>
__global__ void __launch_bounds__(flash::kBlockThreads) flash_kernel(flash::Problem<S> p) {
  extern __shared__ __align__(128) char flash_shared[];
  DeviceBlock blk;
  if constexpr (kPass == FlashPass::forward)
    flash::forward_tile<DeviceBlock, S, kD>(blk, p, blockIdx.x, flash_shared);
  else if constexpr (kPass == FlashPass::grad_query)
    flash::grad_query_tile<DeviceBlock, S, kD>(blk, p, blockIdx.x, flash_shared);
  else
    flash::grad_key_value_tile<DeviceBlock, S, kD>(blk, p, blockIdx.x, flash_shared);
}

// One pass over `blocks` tiles. Its shared memory beyond the default 48 KiB is opted into once per
// kernel and device (the kernel's size never changes), not at every launch.
template <FlashPass kPass, class S, int kD>
void launch_flash(OpScope& scope, const char* op, std::int64_t blocks, const flash::Problem<S>& p) {
  constexpr auto kernel = flash_kernel<kPass, S, kD>;
  const std::size_t bytes = kPass == FlashPass::forward ? flash::ForwardLayout<S, kD>(nullptr).bytes
                                                        : flash::BackwardLayout<S, kD>(nullptr).bytes;
  static std::atomic<std::uint64_t> opted_in{0};  // a bit per device (kMaxDevices <= 64)
  const std::uint64_t bit = std::uint64_t{1} << scope.ctx.device;
  if (!(opted_in.load(std::memory_order_acquire) & bit)) {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), op,
               "cudaFuncSetAttribute");
    opted_in.fetch_or(bit, std::memory_order_release);
  }
  kernel<<<static_cast<unsigned>(blocks), flash::kBlockThreads, bytes, scope.stream()>>>(p);
  check_launch(op);
}

// Whether flash attention takes this problem: switched on, a tensor-core operand (16-bit, or
// float32 with TF32 allowed), head dims 1..128, and the kernels' shared memory fits the device.
template <class S>
bool flash_takes(const DeviceContext& ctx, DType dtype, MatmulPrecision precision, std::int64_t E, std::int64_t Ev) {
  if (!cuda_flash_attention_enabled() || E <= 0 || Ev <= 0 || std::max(E, Ev) > flash::kMaxHeadDim) return false;
  if (std::is_same_v<S, float> && !tf32_allowed(dtype, precision)) return false;
  const auto fits = [&]<int kD>() {
    return std::max(flash::ForwardLayout<S, kD>(nullptr).bytes, flash::BackwardLayout<S, kD>(nullptr).bytes) <=
           static_cast<std::size_t>(ctx.max_shared_per_block);
  };
  return flash::with_tile_head_dim(E, Ev, fits);
}

template <class S>
flash::Problem<S> flash_problem(const KernelView& q, const KernelView& k, const KernelView& v, const KernelView& mask,
                                const AttentionArgs& a) {
  flash::Problem<S> p;
  p.q = head_matrices<const S>(q);
  p.k = head_matrices<const S>(k);
  p.v = head_matrices<const S>(v);
  p.H = q.shape[1];
  p.pairs = q.shape[0] * p.H;
  p.L = q.shape[2];
  p.S_len = k.shape[2];
  p.E = q.shape[3];
  p.Ev = v.shape[3];
  p.scale = static_cast<float>(a.scale);
  p.masking = attention_masking(mask, a);
  return p;
}

template <class S>
void flash_forward(OpScope& scope, const char* op, const KernelView& out, const KernelView& lse, const KernelView& q,
                   const KernelView& k, const KernelView& v, const KernelView& mask, const AttentionArgs& a) {
  flash::Problem<S> p = flash_problem<S>(q, k, v, mask, a);
  p.out_w = head_matrices<S>(out);
  p.lse = lse.ptr<float>();
  const auto run = [&]<int kD>() {
    launch_flash<FlashPass::forward, S, kD>(scope, op, p.pairs * p.query_tiles(), p);
  };
  flash::with_tile_head_dim(p.E, p.Ev, run);
}

template <class S>
void flash_backward(OpScope& scope, const char* op, const KernelView& grad_q, const KernelView& grad_k,
                    const KernelView& grad_v, const KernelView& grad_out, const KernelView& q, const KernelView& k,
                    const KernelView& v, const KernelView& out, const KernelView& lse, const KernelView& mask,
                    const AttentionArgs& a) {
  flash::Problem<S> p = flash_problem<S>(q, k, v, mask, a);
  TINYXF_CHECK(out.data != nullptr && out.ndim == 4, "cuda ", op, ": flash attention's backward needs the forward's output");
  p.out = head_matrices<const S>(out);
  p.grad_out = head_matrices<const S>(grad_out);
  p.grad_q = head_matrices<S>(grad_q);
  p.grad_k = head_matrices<S>(grad_k);
  p.grad_v = head_matrices<S>(grad_v);
  p.lse = static_cast<float*>(lse.data);
  // D = rowsum(dO∘O) per query: written by the dQ kernel, read by the dK/dV kernel (same stream).
  const std::shared_ptr<void> row_dot =
      scratch(static_cast<std::size_t>(p.pairs * p.L) * sizeof(float), scope.ctx.device);
  p.row_dot = static_cast<float*>(row_dot.get());
  const auto run = [&]<int kD>() {
    launch_flash<FlashPass::grad_query, S, kD>(scope, op, p.pairs * p.query_tiles(), p);
    launch_flash<FlashPass::grad_key_value, S, kD>(scope, op, p.pairs * p.key_tiles(), p);
  };
  flash::with_tile_head_dim(p.E, p.Ev, run);
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::scaled_dot_product_attention(const KernelView& out, const KernelView& lse, const KernelView& q,
                                               const KernelView& k, const KernelView& v, const KernelView& mask,
                                               const AttentionArgs& a) {
  constexpr const char* op = "scaled_dot_product_attention";
  dispatch_floating_storage(q.dtype, op, [&]<class S>(type_tag<S>) {
    using T = compute_t<S>;  // score tiles, softmax and lse
    constexpr bool kHalf = !std::is_same_v<S, T>;
    check_operands(op, {&out, &q, &k, &v});
    TINYXF_CHECK(lse.dtype == (kHalf ? DType::f32 : q.dtype), "cuda ", op, ": lse must be ",
                 kHalf ? "float32" : dtype_name(q.dtype), ", got ", dtype_name(lse.dtype));
    const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S_len = k.shape[2], E = q.shape[3],
                       Ev = v.shape[3];
    if (B * H * L == 0) return;
    const T lowest = std::numeric_limits<T>::lowest();
    if (S_len == 0) {  // no keys: the output is 0 (an empty sum), as the cpu backend gives
      fill(out, 0.0);
      fill(lse, static_cast<double>(lowest));
      return;
    }
    OpScope scope(*this, op);
    if constexpr (!std::is_same_v<S, double>) {  // no tensor-core operand for float64
      if (flash_takes<S>(scope.ctx, q.dtype, a.precision, E, Ev)) {
        flash_forward<S>(scope, op, out, lse, q, k, v, mask, a);
        return;
      }
    }
    const auto Q = head_matrices<const S>(q), K = head_matrices<const S>(k), V = head_matrices<const S>(v);
    const auto O = head_matrices<S>(out);
    // One strided-batched GEMM per chunk when every operand spaces its pairs evenly.
    const bool even = Q.evenly_spaced(B, H) && K.evenly_spaced(B, H) && V.evenly_spaced(B, H) &&
                      O.evenly_spaced(B, H);
    RowGeometry geometry = row_geometry(mask, a, H, L, S_len);
    const T keep_scale = static_cast<T>(1.0 / (1.0 - a.dropout_p));
    const std::int64_t pairs = B * H, tile_elems = L * S_len;  // one pair's scores
    const std::int64_t chunk = pairs_per_chunk(pairs, L, S_len, sizeof(T) + (kHalf ? sizeof(S) : 0));
    std::shared_ptr<void> tile_memory =
        scratch(static_cast<std::size_t>(chunk * tile_elems) * (sizeof(T) + (kHalf ? sizeof(S) : 0)),
                scope.ctx.device);
    T* const tile = static_cast<T*>(tile_memory.get());
    // The probabilities rounded to S for the second GEMM (16-bit operands only).
    S* const copy = kHalf ? reinterpret_cast<S*>(tile + chunk * tile_elems) : nullptr;
    std::lock_guard lock(scope.ctx.mutex);  // the handle's math mode
    set_cublas_tf32(scope.ctx, tf32_allowed(q.dtype, a.precision), op);
    for (std::int64_t first = 0; first < pairs; first += chunk) {
      const std::int64_t count = std::min(chunk, pairs - first);
      const auto scores = score_tiles(tile, first, H, L, S_len);
      // Scores [L, S] = scale * Q [L, E] K^T (K stored [S, E]).
      if (E > 0)
        pair_gemm<S, T>(scope, op, even, first, count, H, false, true, L, S_len, E, static_cast<T>(a.scale), Q, K,
                        T(0), scores);
      else  // no features: every score is 0
        zero_async(scope, tile, static_cast<std::size_t>(count * tile_elems) * sizeof(T), op);
      geometry.first_pair = first;
      launch_rows(scope, op, count * L, S_len, attention_softmax_kernel<T, S, true>,
                  attention_softmax_kernel<T, S, false>, tile, copy, lse.ptr<T>(), geometry, count * L, lowest,
                  keep_scale);
      // Out [L, Ev] = P [L, S] V [S, Ev], written into out's strided layout; P rounded to S for
      // 16-bit operands.
      if (Ev > 0) {
        HeadMatrices<const S> probs{};
        if constexpr (kHalf)
          probs = score_tiles<const S>(copy, first, H, L, S_len);
        else
          probs = scores.as_const();
        pair_gemm<S, S>(scope, op, even, first, count, H, false, false, L, Ev, S_len, T(1), probs, V, T(0), O);
      }
    }
  });
}

void CudaBackend::scaled_dot_product_attention_backward(const KernelView& grad_q, const KernelView& grad_k,
                                                        const KernelView& grad_v, const KernelView& grad_out,
                                                        const KernelView& q, const KernelView& k, const KernelView& v,
                                                        const KernelView& out, const KernelView& lse,
                                                        const KernelView& mask, const AttentionArgs& a) {
  constexpr const char* op = "scaled_dot_product_attention_backward";
  dispatch_floating_storage(q.dtype, op, [&]<class S>(type_tag<S>) {
    using T = compute_t<S>;  // score tiles
    constexpr bool kHalf = !std::is_same_v<S, T>;
    // The composed kernels sum rowsum(P∘dP) from the recomputed tiles; flash attention takes it
    // as rowsum(dO∘O) from the forward's output.
    check_operands(op, {&grad_q, &grad_k, &grad_v, &grad_out, &q, &k, &v});
    TINYXF_CHECK(lse.dtype == (kHalf ? DType::f32 : q.dtype), "cuda ", op, ": lse must be ",
                 kHalf ? "float32" : dtype_name(q.dtype), ", got ", dtype_name(lse.dtype));
    const std::int64_t B = q.shape[0], H = q.shape[1], L = q.shape[2], S_len = k.shape[2], E = q.shape[3],
                       Ev = v.shape[3];
    if (B * H == 0) return;
    if (L == 0) {  // no queries: nothing reaches the keys and values
      fill(grad_k, 0.0);
      fill(grad_v, 0.0);
      return;
    }
    if (S_len == 0) {  // no keys: the output was a constant 0
      fill(grad_q, 0.0);
      return;
    }
    OpScope scope(*this, op);
    if constexpr (!std::is_same_v<S, double>) {
      if (flash_takes<S>(scope.ctx, q.dtype, a.precision, E, Ev)) {
        flash_backward<S>(scope, op, grad_q, grad_k, grad_v, grad_out, q, k, v, out, lse, mask, a);
        return;
      }
    }
    const auto Q = head_matrices<const S>(q), K = head_matrices<const S>(k), V = head_matrices<const S>(v);
    const auto GO = head_matrices<const S>(grad_out);
    const auto GQ = head_matrices<S>(grad_q), GK = head_matrices<S>(grad_k), GV = head_matrices<S>(grad_v);
    const bool even = Q.evenly_spaced(B, H) && K.evenly_spaced(B, H) && V.evenly_spaced(B, H) &&
                      GO.evenly_spaced(B, H) && GQ.evenly_spaced(B, H) && GK.evenly_spaced(B, H) &&
                      GV.evenly_spaced(B, H);
    RowGeometry geometry = row_geometry(mask, a, H, L, S_len);
    const T lowest = std::numeric_limits<T>::lowest();
    const T keep_scale = static_cast<T>(1.0 / (1.0 - a.dropout_p));
    const std::size_t bytes_per_score = 2 * sizeof(T) + (kHalf ? sizeof(S) : 0);
    const std::int64_t pairs = B * H, chunk = pairs_per_chunk(pairs, L, S_len, bytes_per_score);
    const std::int64_t tile_elems = L * S_len;
    // Two tiles per pair: P (then dS), and P∘M (then dP); 16-bit operands add a third, the
    // second operand of the GEMMs rounded to S: P∘M (for dV), then dS (for dQ and dK).
    std::shared_ptr<void> tile_memory =
        scratch(static_cast<std::size_t>(chunk * tile_elems) * bytes_per_score, scope.ctx.device);
    T* const probs = static_cast<T*>(tile_memory.get());
    T* const grads = probs + chunk * tile_elems;
    S* const copy = kHalf ? reinterpret_cast<S*>(grads + chunk * tile_elems) : nullptr;
    std::lock_guard lock(scope.ctx.mutex);  // the handle's math mode
    set_cublas_tf32(scope.ctx, tf32_allowed(q.dtype, a.precision), op);
    for (std::int64_t first = 0; first < pairs; first += chunk) {
      const std::int64_t count = std::min(chunk, pairs - first);
      const auto probs_tiles = score_tiles(probs, first, H, L, S_len), grads_tiles = score_tiles(grads, first, H, L, S_len);
      // The GEMM operand of a tile: its S copy (16-bit), else the tile itself.
      const auto operand = [&](const HeadMatrices<T>& tiles) -> HeadMatrices<const S> {
        if constexpr (kHalf)
          return score_tiles<const S>(copy, first, H, L, S_len);
        else
          return tiles.as_const();
      };
      const std::size_t chunk_bytes = static_cast<std::size_t>(count * tile_elems) * sizeof(T);
      // Scores [L, S] = scale * Q [L, E] K^T (K stored [S, E]), as in the forward.
      if (E > 0)
        pair_gemm<S, T>(scope, op, even, first, count, H, false, true, L, S_len, E, static_cast<T>(a.scale), Q, K,
                        T(0), probs_tiles);
      else
        zero_async(scope, probs, chunk_bytes, op);
      geometry.first_pair = first;
      launch_rows(scope, op, count * L, S_len, attention_probabilities_kernel<T, S, true>,
                  attention_probabilities_kernel<T, S, false>, probs,
                  geometry.masking.dropout && !kHalf ? grads : nullptr, copy, static_cast<const T*>(lse.data), geometry,
                  count * L, lowest, keep_scale);
      if (Ev > 0) {
        // dV [S, Ev] = Pd^T dO, Pd stored [L, S] (trans_a), dO [L, Ev].
        pair_gemm<S, S>(scope, op, even, first, count, H, true, false, S_len, Ev, L, T(1),
                        operand(geometry.masking.dropout ? grads_tiles : probs_tiles), GO, T(0), GV);
        // dPd [L, S] = dO [L, Ev] V^T (V stored [S, Ev]); overwrites Pd, which dV has consumed
        // (same stream).
        pair_gemm<S, T>(scope, op, even, first, count, H, false, true, L, S_len, Ev, T(1), GO, V, T(0), grads_tiles);
      } else {  // no value features: the output, hence dP, is 0
        zero_async(scope, grads, chunk_bytes, op);
      }
      launch_rows(scope, op, count * L, S_len, attention_score_grad_kernel<T, S, true>,
                  attention_score_grad_kernel<T, S, false>, probs, grads, copy, geometry, count * L, keep_scale);
      if (E > 0) {
        // dQ [L, E] = scale * dS [L, S] K [S, E].
        pair_gemm<S, S>(scope, op, even, first, count, H, false, false, L, E, S_len, static_cast<T>(a.scale),
                        operand(probs_tiles), K, T(0), GQ);
        // dK [S, E] = scale * dS^T Q, dS stored [L, S] (trans_a), Q [L, E].
        pair_gemm<S, S>(scope, op, even, first, count, H, true, false, S_len, E, L, static_cast<T>(a.scale),
                        operand(probs_tiles), Q, T(0), GK);
      }
    }
  });
}

}  // namespace tinyxf::backends
