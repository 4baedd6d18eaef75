// Row-wise and indexed kernels: softmax/log_softmax and backward, layer_norm and backward,
// index_select (gather), index_add (atomic scatter-add), gather / scatter (torch.gather,
// torch.scatter, torch.scatter_add), nll_loss and backward, and the fused
// Adam/AdamW and SGD updates; sort (torch.sort / torch.topk) as a host pass.
#include <cmath>
#include <vector>

#include "tinyxf/backend/sort_line.hpp"

#include "cuda_common.cuh"
#include "layer_norm.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {

__device__ __forceinline__ float device_log(float x) { return logf(x); }
__device__ __forceinline__ double device_log(double x) { return ::log(x); }

template <class T>
__device__ __forceinline__ T negative_infinity() {
  return -static_cast<T>(INFINITY);
}

// ---- softmax -------------------------------------------------------------------------------------
template <class T, bool kWarpPerRow>
__global__ void softmax_kernel(T* out, const T* in, std::int64_t rows, std::int64_t cols, bool log) {
  __shared__ T shared[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;  // whole warps only: rows are never split across warps
  const T* x = in + at.row * cols;
  T* y = out + at.row * cols;
  T max_value = negative_infinity<T>();
  for (std::int64_t c = at.lane; c < cols; c += at.width) max_value = MaxOp{}(max_value, x[c]);
  max_value = row_allreduce<kWarpPerRow>(max_value, MaxOp{}, negative_infinity<T>(), shared);
  T sum = 0;
  for (std::int64_t c = at.lane; c < cols; c += at.width) sum += device_exp(x[c] - max_value);
  sum = row_allreduce<kWarpPerRow>(sum, SumOp{}, T(0), shared);
  if (log) {
    const T log_sum = device_log(sum);
    for (std::int64_t c = at.lane; c < cols; c += at.width) y[c] = (x[c] - max_value) - log_sum;
  } else {
    for (std::int64_t c = at.lane; c < cols; c += at.width) y[c] = device_exp(x[c] - max_value) / sum;
  }
}

template <class T, bool kWarpPerRow>
__global__ void softmax_backward_kernel(T* grad_in, const T* grad_out, const T* out, std::int64_t rows,
                                        std::int64_t cols, bool log) {
  __shared__ T shared[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;
  const std::int64_t base = at.row * cols;
  T dot = 0;
  for (std::int64_t c = at.lane; c < cols; c += at.width)
    dot += log ? grad_out[base + c] : grad_out[base + c] * out[base + c];
  dot = row_allreduce<kWarpPerRow>(dot, SumOp{}, T(0), shared);
  for (std::int64_t c = at.lane; c < cols; c += at.width) {
    const T y = out[base + c], g = grad_out[base + c];
    grad_in[base + c] = log ? g - device_exp(y) * dot : y * (g - dot);
  }
}

// ---- layer_norm (row kernels in layer_norm.cuh) ---------------------------------------------------
// dgamma[c] = sum_r g[r, c] * xhat[r, c], dbeta[c] = sum_r g[r, c]: 32 columns per block, 8 thread
// rows striding the rows of one split; splits > 1 write partials merged by the kernel below.
constexpr int kParamCols = 32, kParamRows = 8;

template <class T>
__global__ void layer_norm_backward_params_kernel(T* grad_gamma, T* grad_beta, T* partial_gamma, T* partial_beta,
                                                  const T* grad_out, const T* in, const T* mean, const T* rstd,
                                                  std::int64_t rows, std::int64_t cols, std::int64_t chunk) {
  __shared__ T shared_gamma[kParamRows][kParamCols];
  __shared__ T shared_beta[kParamRows][kParamCols];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kParamCols + tx;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunk;
  const std::int64_t end = begin + chunk < rows ? begin + chunk : rows;
  T dg = 0, db = 0;
  if (c < cols) {
    for (std::int64_t r = begin + ty; r < end; r += kParamRows) {
      const T g = grad_out[r * cols + c];
      dg += g * (in[r * cols + c] - mean[r]) * rstd[r];
      db += g;
    }
  }
  shared_gamma[ty][tx] = dg;
  shared_beta[ty][tx] = db;
  for (int half = kParamRows / 2; half > 0; half >>= 1) {
    __syncthreads();
    if (ty < half) {
      shared_gamma[ty][tx] += shared_gamma[ty + half][tx];
      shared_beta[ty][tx] += shared_beta[ty + half][tx];
    }
  }
  if (ty != 0 || c >= cols) return;
  if (gridDim.y == 1) {
    if (grad_gamma) grad_gamma[c] = shared_gamma[0][tx];
    if (grad_beta) grad_beta[c] = shared_beta[0][tx];
  } else {
    partial_gamma[static_cast<std::int64_t>(blockIdx.y) * cols + c] = shared_gamma[0][tx];
    partial_beta[static_cast<std::int64_t>(blockIdx.y) * cols + c] = shared_beta[0][tx];
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) layer_norm_params_splits_kernel(T* grad_gamma, T* grad_beta,
                                                                           const T* partial_gamma,
                                                                           const T* partial_beta, int splits,
                                                                           std::int64_t cols) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  T dg = 0, db = 0;
  for (int k = 0; k < splits; ++k) {  // fixed order: deterministic
    dg += partial_gamma[static_cast<std::int64_t>(k) * cols + c];
    db += partial_beta[static_cast<std::int64_t>(k) * cols + c];
  }
  if (grad_gamma) grad_gamma[c] = dg;
  if (grad_beta) grad_beta[c] = db;
}

// ---- indexing --------------------------------------------------------------------------------------
// Every kernel that reads an index checks it (record_index_error; cuda_common.cuh says how the
// failure is reported) and leaves a bad row alone: zeros out of a gather, nothing added by a scatter.
__device__ __forceinline__ bool index_in_range(std::int64_t v, std::int64_t bound) { return v >= 0 && v < bound; }

__global__ void __launch_bounds__(kThreads) check_indices_kernel(const std::int64_t* index, std::int64_t n,
                                                                std::int64_t bound, IndexErrorRecord* record,
                                                                unsigned long long check) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += step) {
    const std::int64_t v = index[j];
    if (!index_in_range(v, bound)) record_index_error(record, check, j);
  }
}

const std::int64_t* checked_index(const KernelView& index, const char* op) {
  TINYXF_CHECK(index.dtype == DType::i64 && index.is_contiguous(), "cuda ", op,
               ": the index must be a contiguous int64 tensor");
  TINYXF_CHECK(index.numel() <= static_cast<std::int64_t>(kIndexPositionMask), "cuda ", op, ": ", index.numel(),
               " indices are more than the device-side check can name (2^40)");
  return index.ptr<std::int64_t>();
}

// One checked op (cuda_common.cuh: begin_index_check ... finish_index_check) over a contiguous
// int64 index, holding the device's check lock from begin to finish.
class IndexCheck {
 public:
  IndexCheck(OpScope& scope, const char* op, const KernelView& index, std::int64_t bound, IndexCheckKind kind)
      : scope_(scope), lock_(scope.ctx.mutex), op_(op), index_(checked_index(index, op)), bound_(bound),
        key_(begin_index_check(scope, op, bound, kind)) {}
  const std::int64_t* index() const { return index_; }
  IndexErrorRecord* record() const { return scope_.ctx.error_record; }
  unsigned long long key() const { return key_; }
  // For an op with nothing to gather or scatter: its indices are still checked, as elsewhere.
  void check_indices_only(std::int64_t n) {
    check_indices_kernel<<<blocks_for(n, scope_.ctx), kThreads, 0, scope_.stream()>>>(index_, n, bound_, record(),
                                                                                      key_);
    check_launch(op_);
  }
  // Queues the capture of the bad value (unless the kernel captured it) and ends the check.
  void finish(bool kernel_captured_value = false) {
    finish_index_check(scope_, key_, kernel_captured_value ? nullptr : index_);
  }

 private:
  OpScope& scope_;
  std::lock_guard<std::mutex> lock_;
  const char* op_;
  const std::int64_t* index_;
  std::int64_t bound_;
  unsigned long long key_;
};

// Rows are moved as raw bits: the kernel depends on the element size only.
template <class E>
__global__ void __launch_bounds__(kThreads) index_select_kernel(E* out, const E* in, const std::int64_t* index,
                                                               std::int64_t n_index, std::int64_t n_src,
                                                               std::int64_t inner, std::int64_t total,
                                                               IndexErrorRecord* record, unsigned long long check) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const std::int64_t i = k % inner, row = k / inner;
    const std::int64_t j = row % n_index, o = row / n_index;
    const std::int64_t source = index[j];
    if (!index_in_range(source, n_src)) {
      if (i == 0) record_index_error(record, check, j);
      out[k] = E{};
      continue;
    }
    out[k] = in[(o * n_src + source) * inner + i];
  }
}

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(std::int32_t* p, std::int32_t v) { atomicAdd(p, v); }
// bfloat16/float16 gradients of embeddings in 16-bit models (native atomics from sm_80 on).
__device__ __forceinline__ void atomic_add(__nv_bfloat16* p, __nv_bfloat16 v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(__half* p, __half v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(std::int64_t* p, std::int64_t v) {
  // Two's complement: an unsigned add is the signed add.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}
__device__ __forceinline__ void atomic_add(std::uint8_t* p, std::uint8_t v) {
  // No byte atomics: compare-and-swap the aligned word holding the byte (allocations are padded
  // to 512 bytes, so the word is inside the block).
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  auto* word = reinterpret_cast<unsigned int*>(address & ~std::uintptr_t{3});
  const unsigned shift = static_cast<unsigned>(address & 3) * 8;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    const unsigned int byte = ((assumed >> shift) + v) & 0xFFu;
    old = atomicCAS(word, assumed, (assumed & ~(0xFFu << shift)) | (byte << shift));
  } while (assumed != old);
}

template <class T>
__global__ void __launch_bounds__(kThreads) index_add_kernel(T* out, const T* src, const std::int64_t* index,
                                                            std::int64_t n_index, std::int64_t n_dst,
                                                            std::int64_t inner, std::int64_t skip_index,
                                                            std::int64_t total, IndexErrorRecord* record,
                                                            unsigned long long check) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const std::int64_t i = k % inner, row = k / inner;
    const std::int64_t j = row % n_index, o = row / n_index;
    const std::int64_t target = index[j];
    if (!index_in_range(target, n_dst)) {
      if (i == 0) record_index_error(record, check, j);
      continue;
    }
    if (target == skip_index) continue;
    atomic_add(out + (o * n_dst + target) * inner + i, src[k]);
  }
}

// ---- gather / scatter (Backend::gather's contract) -------------------------------------------------
// The index is contiguous; `out`/`in`/`src` are strided views of its shape (the indexed one with its
// own size along `dim`), passed by value.
struct GatherScatterLayout {
  int ndim = 0, dim = 0;
  std::int64_t shape[kMaxDims] = {};          // the index's
  std::int64_t index_strides[kMaxDims] = {};  // contiguous
  std::int64_t out_strides[kMaxDims] = {};
  std::int64_t other_strides[kMaxDims] = {};  // in (gather) or src (scatter)
};

GatherScatterLayout gather_scatter_layout(const KernelView& index, const KernelView& out, const KernelView& other,
                                          int dim) {
  GatherScatterLayout l;
  l.ndim = index.ndim;
  l.dim = dim;
  for (int d = 0; d < index.ndim; ++d) {
    l.shape[d] = index.shape[d];
    l.index_strides[d] = index.strides[d];
    l.out_strides[d] = out.strides[d];
    l.other_strides[d] = other.strides[d];
  }
  return l;
}

// One thread per output element: out[p] = in[p with coordinate dim = index[p]].
template <class E>
__global__ void __launch_bounds__(kThreads) gather_kernel(E* out, const E* in, const std::int64_t* index,
                                                         GatherScatterLayout l, std::int64_t bound, std::int64_t total,
                                                         IndexErrorRecord* record, unsigned long long check) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const std::int64_t v = index[k];
    std::int64_t out_off = 0, in_off = 0;
    for (std::int64_t d = l.ndim - 1, rest = k; d >= 0; --d) {
      const std::int64_t c = rest % l.shape[d];
      rest /= l.shape[d];
      out_off += c * l.out_strides[d];
      in_off += (d == l.dim ? v : c) * l.other_strides[d];
    }
    if (!index_in_range(v, bound)) {
      record_index_error(record, check, k);
      out[out_off] = E{};
      continue;
    }
    out[out_off] = in[in_off];
  }
}

template <class T> __device__ __forceinline__ T scatter_sum(T a, T b, bool is_bool) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return is_bool ? static_cast<T>(a | b) : static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return narrow_to<T>(widen(a) + widen(b));
  }
}

// One thread per slice (a line of the index along dim), in order along it: no atomics, and the
// host backends' result (the last duplicate wins, sums in index order).
template <class T, bool kAccumulate>
__global__ void __launch_bounds__(kThreads) scatter_kernel(T* out, const T* src, const std::int64_t* index,
                                                          GatherScatterLayout l, std::int64_t bound,
                                                          std::int64_t slices, bool is_bool,
                                                          IndexErrorRecord* record, unsigned long long check) {
  const std::int64_t n = l.shape[l.dim];
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t s = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; s < slices; s += step) {
    std::int64_t index_off = 0, out_off = 0, src_off = 0;
    for (std::int64_t d = l.ndim - 1, rest = s; d >= 0; --d) {
      if (d == l.dim) continue;
      const std::int64_t c = rest % l.shape[d];
      rest /= l.shape[d];
      index_off += c * l.index_strides[d];
      out_off += c * l.out_strides[d];
      src_off += c * l.other_strides[d];
    }
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t position = index_off + j * l.index_strides[l.dim];
      const std::int64_t v = index[position];
      if (!index_in_range(v, bound)) {
        record_index_error(record, check, position);
        continue;
      }
      T& o = out[out_off + v * l.out_strides[l.dim]];
      const T x = src[src_off + j * l.other_strides[l.dim]];
      if constexpr (kAccumulate)
        o = scatter_sum(o, x, is_bool);
      else
        o = x;
    }
  }
}

// Every storage dtype with its device type (bool as uint8 0/1).
template <class Fn>
void dispatch_device_storage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::bf16: return fn(type_tag<__nv_bfloat16>{});
    case DType::f16: return fn(type_tag<__half>{});
    default: return dispatch_dtype(dtype, std::forward<Fn>(fn));
  }
}

// ---- losses ----------------------------------------------------------------------------------------
constexpr int kLossThreads = 256;

template <class T>
__global__ void __launch_bounds__(kLossThreads) nll_loss_kernel(T* loss, T* count, const T* logp,
                                                               const std::int64_t* target, std::int64_t rows,
                                                               std::int64_t classes, std::int64_t ignore_index,
                                                               IndexErrorRecord* record, unsigned long long check) {
  __shared__ double shared_sum[32];
  __shared__ long long shared_count[32];
  double acc = 0;  // double like the reference: rows can be many (masked-LM tokens)
  long long n = 0;
  for (std::int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const std::int64_t t = target[r];
    if (t == ignore_index) continue;
    if (!index_in_range(t, classes)) {
      record_index_error(record, check, r);
      continue;
    }
    acc -= static_cast<double>(logp[r * classes + t]);
    ++n;
  }
  acc = block_allreduce(acc, SumOp{}, 0.0, shared_sum);
  n = block_allreduce(n, SumOp{}, 0ll, shared_count);
  if (threadIdx.x == 0) {
    loss[0] = static_cast<T>(acc / static_cast<double>(n));  // all rows ignored: 0/0 = NaN, as PyTorch
    count[0] = static_cast<T>(n);
    // One block: after the reductions' barriers every thread's record_index_error is visible.
    if (index_error_is(record, check)) record->value = target[index_error_position(record->key)];
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) nll_loss_backward_kernel(T* grad_logp, const T* grad_loss,
                                                                    const T* count, const std::int64_t* target,
                                                                    std::int64_t rows, std::int64_t classes,
                                                                    std::int64_t ignore_index) {
  // The scale stays on the device: no host round trip in the backward pass.
  const T value = static_cast<T>(-(static_cast<double>(grad_loss[0]) / static_cast<double>(count[0])));
  const std::int64_t total = rows * classes;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const std::int64_t t = target[k / classes];
    grad_logp[k] = (t != ignore_index && k % classes == t) ? value : T(0);
  }
}

// ---- optimizers ------------------------------------------------------------------------------------
// Scalars precomputed on the host in double, exactly as the reference computes them.
struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  double decay_factor;    // AdamW: 1 - lr * weight_decay
  double step_size;       // lr / (1 - beta1^t)
  double bias2_sqrt;      // sqrt(1 - beta2^t)
  bool decoupled;
};

AdamScalars adam_scalars(const AdamArgs& a) {
  AdamScalars s{};
  s.lr = a.lr;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.eps = a.eps;
  s.weight_decay = a.weight_decay;
  s.decoupled = a.decoupled_weight_decay;
  s.decay_factor = 1.0 - a.lr * a.weight_decay;
  s.step_size = a.lr / a.bias_correction1();
  s.bias2_sqrt = std::sqrt(a.bias_correction2());
  return s;
}

// Element i of one parameter, in double like the reference (memory-bound either way).
template <class T>
__device__ __forceinline__ void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t i,
                                            const AdamScalars& s) {
  double p = param[i], g = grad[i];
  if (s.decoupled)
    p *= s.decay_factor;
  else if (s.weight_decay != 0.0)
    g += s.weight_decay * p;
  const double m = s.beta1 * static_cast<double>(exp_avg[i]) + (1.0 - s.beta1) * g;
  const double v = s.beta2 * static_cast<double>(exp_avg_sq[i]) + (1.0 - s.beta2) * g * g;
  const double denom = ::sqrt(v) / s.bias2_sqrt + s.eps;
  p -= s.step_size * m / denom;
  param[i] = static_cast<T>(p);
  exp_avg[i] = static_cast<T>(m);
  exp_avg_sq[i] = static_cast<T>(v);
}

template <class T>
__global__ void __launch_bounds__(kThreads) adam_kernel(T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                                                       std::int64_t n, AdamScalars s) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    adam_update(param, grad, exp_avg, exp_avg_sq, i, s);
}

// The multi-tensor step: up to kAdamTensorsPerLaunch parameters per launch, passed by value
// (the kernel's parameter space, no host-to-device copy). Each block updates one chunk of
// kAdamChunk elements of one parameter: block b belongs to the parameter whose first_block
// range holds it, so the grid is as large as the total work and no block is idle. The same
// adam_update as adam_kernel, so the results are identical.
constexpr int kAdamTensorsPerLaunch = 24;  // 24 x 104 + 25 x 8 bytes: within 4 KB of kernel parameters
constexpr std::int64_t kAdamChunk = 16 * kThreads;

template <class T>
struct AdamTensor {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  std::int64_t n;
  AdamScalars s;
};

template <class T>
struct AdamTensorList {
  AdamTensor<T> tensors[kAdamTensorsPerLaunch];
  std::int64_t first_block[kAdamTensorsPerLaunch + 1];  // prefix sums of the chunks per parameter
  int count;
};

template <class T>
__global__ void __launch_bounds__(kThreads) multi_adam_kernel(AdamTensorList<T> list) {
  const std::int64_t b = blockIdx.x;
  int t = 0;
  while (t + 1 < list.count && list.first_block[t + 1] <= b) ++t;
  const AdamTensor<T>& p = list.tensors[t];
  const std::int64_t begin = (b - list.first_block[t]) * kAdamChunk;
  const std::int64_t end = begin + kAdamChunk < p.n ? begin + kAdamChunk : p.n;
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    adam_update(p.param, p.grad, p.exp_avg, p.exp_avg_sq, i, p.s);
}

struct SgdScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};

template <class T>
__global__ void __launch_bounds__(kThreads) sgd_kernel(T* param, const T* grad, T* buffer, std::int64_t n,
                                                      SgdScalars s) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    double d = static_cast<double>(grad[i]) + s.weight_decay * static_cast<double>(param[i]);
    if (s.momentum != 0.0) {
      const double b = s.first_step ? d : s.momentum * static_cast<double>(buffer[i]) + (1.0 - s.dampening) * d;
      buffer[i] = static_cast<T>(b);
      d = s.nesterov ? d + s.momentum * b : b;
    }
    param[i] = static_cast<T>(static_cast<double>(param[i]) - s.lr * d);
  }
}

void require_contiguous(const char* op, std::initializer_list<const KernelView*> views) {
  for (const KernelView* v : views)
    TINYXF_CHECK(!v->data || v->is_contiguous(), "cuda ", op, ": expected contiguous operands");
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::softmax(const KernelView& out, const KernelView& in, std::int64_t rows, std::int64_t cols,
                          bool log) {
  dispatch_floating(in.dtype, "softmax", [&]<class T>(type_tag<T>) {
    if (rows * cols == 0) return;
    require_contiguous("softmax", {&out, &in});
    OpScope scope(*this, "softmax");
    launch_rows(scope, "softmax", rows, cols, softmax_kernel<T, true>, softmax_kernel<T, false>, out.ptr<T>(),
                static_cast<const T*>(in.data), rows, cols, log);
  });
}

void CudaBackend::softmax_backward(const KernelView& grad_in, const KernelView& grad_out, const KernelView& out,
                                   std::int64_t rows, std::int64_t cols, bool log) {
  dispatch_floating(out.dtype, "softmax_backward", [&]<class T>(type_tag<T>) {
    if (rows * cols == 0) return;
    require_contiguous("softmax_backward", {&grad_in, &grad_out, &out});
    OpScope scope(*this, "softmax_backward");
    launch_rows(scope, "softmax_backward", rows, cols, softmax_backward_kernel<T, true>,
                softmax_backward_kernel<T, false>, grad_in.ptr<T>(), static_cast<const T*>(grad_out.data),
                static_cast<const T*>(out.data), rows, cols, log);
  });
}

void CudaBackend::layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                             const KernelView& in, const KernelView& gamma, const KernelView& beta,
                             std::int64_t rows, std::int64_t cols, double eps) {
  dispatch_floating(in.dtype, "layer_norm", [&]<class T>(type_tag<T>) {
    if (rows * cols == 0) return;
    require_contiguous("layer_norm", {&out, &mean, &rstd, &in, &gamma, &beta});
    OpScope scope(*this, "layer_norm");
    launch_rows(scope, "layer_norm", rows, cols, norm_rows_kernel<T, true>, norm_rows_kernel<T, false>,
                out.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), static_cast<const T*>(in.data),
                static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), static_cast<const T*>(gamma.data), static_cast<const T*>(beta.data), rows, cols,
                static_cast<T>(eps));
  });
}

void CudaBackend::layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                                      const KernelView& grad_beta, const KernelView& grad_out,
                                      const KernelView& in, const KernelView& mean, const KernelView& rstd,
                                      const KernelView& gamma, std::int64_t rows, std::int64_t cols) {
  dispatch_floating(in.dtype, "layer_norm_backward", [&]<class T>(type_tag<T>) {
    if (cols == 0) return;
    require_contiguous("layer_norm_backward", {&grad_in, &grad_gamma, &grad_beta, &grad_out, &in, &gamma});
    if (!grad_in.data && !grad_gamma.data && !grad_beta.data) return;  // no gradient wanted
    OpScope scope(*this, "layer_norm_backward");
    if (rows == 0) {  // no rows: parameter gradients are zero
      if (grad_gamma.data) fill(grad_gamma, 0.0);
      if (grad_beta.data) fill(grad_beta, 0.0);
      return;
    }
    const auto* gy = static_cast<const T*>(grad_out.data);
    const auto* x = static_cast<const T*>(in.data);
    const auto* mu = static_cast<const T*>(mean.data);
    const auto* rs = static_cast<const T*>(rstd.data);
    if (grad_in.data)
      launch_rows(scope, "layer_norm_backward", rows, cols, norm_rows_backward_kernel<T, true>,
                  norm_rows_backward_kernel<T, false>, grad_in.ptr<T>(), gy, x, static_cast<const T*>(nullptr),
                  static_cast<const T*>(nullptr), mu, rs,
                  static_cast<const T*>(gamma.data), rows, cols);
    if (!grad_gamma.data && !grad_beta.data) return;
    // Split the rows so that the column tiles times the splits fill the GPU a few times over.
    const std::int64_t col_tiles = (cols + kParamCols - 1) / kParamCols;
    const SplitPlan plan = plan_splits(col_tiles, rows, kParamRows * 16, scope.ctx.sm_count);
    const std::int64_t splits = plan.splits, chunk = plan.chunk;
    std::shared_ptr<void> partials;
    T* partial_gamma = nullptr;
    T* partial_beta = nullptr;
    if (splits > 1) {
      partials = scratch(static_cast<std::size_t>(2 * splits * cols) * sizeof(T), scope.ctx.device);
      partial_gamma = static_cast<T*>(partials.get());
      partial_beta = partial_gamma + splits * cols;
    }
    const dim3 grid(static_cast<unsigned>(col_tiles), static_cast<unsigned>(splits));
    const dim3 block(kParamCols, kParamRows);
    layer_norm_backward_params_kernel<T><<<grid, block, 0, scope.stream()>>>(
        static_cast<T*>(grad_gamma.data), static_cast<T*>(grad_beta.data), partial_gamma, partial_beta, gy, x, mu,
        rs, rows, cols, chunk);
    check_launch("layer_norm_backward");
    if (splits > 1) {
      layer_norm_params_splits_kernel<T><<<static_cast<unsigned>((cols + kThreads - 1) / kThreads), kThreads, 0,
                                           scope.stream()>>>(static_cast<T*>(grad_gamma.data),
                                                             static_cast<T*>(grad_beta.data), partial_gamma,
                                                             partial_beta, static_cast<int>(splits), cols);
      check_launch("layer_norm_backward");
    }
  });
}

void CudaBackend::index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                               std::int64_t outer, std::int64_t n_src, std::int64_t inner) {
  const std::int64_t n_index = index.numel();
  if (n_index == 0) return;
  OpScope scope(*this, "index_select");
  const std::int64_t total = outer * n_index * inner;
  if (total != 0) require_contiguous("index_select", {&out, &in});
  IndexCheck check(scope, "index_select", index, n_src, IndexCheckKind::index);
  if (total == 0) {
    check.check_indices_only(n_index);
  } else {
    const unsigned blocks = blocks_for(total, scope.ctx);
    const auto gather = [&]<class E>(type_tag<E>) {
      index_select_kernel<<<blocks, kThreads, 0, scope.stream()>>>(
          out.ptr<E>(), in.ptr<const E>(), check.index(), n_index, n_src, inner, total, check.record(), check.key());
    };
    // Rows are copied as raw bits of the element's width (bf16/f16 as 2 bytes, not 8).
    dispatch_element_bits(in.dtype, gather);
    check_launch("index_select");
  }
  check.finish();
}

void CudaBackend::index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                            std::int64_t outer, std::int64_t n_dst, std::int64_t inner, std::int64_t skip_index) {
  const std::int64_t n_index = index.numel();
  if (n_index == 0) return;
  OpScope scope(*this, "index_add");
  const std::int64_t total = outer * n_index * inner;
  if (total != 0) require_contiguous("index_add", {&out, &src});
  IndexCheck check(scope, "index_add", index, n_dst, IndexCheckKind::index);
  if (total == 0) {
    check.check_indices_only(n_index);
  } else {
    dispatch_device_storage(out.dtype, [&]<class T>(type_tag<T>) {
      index_add_kernel<T><<<blocks_for(total, scope.ctx), kThreads, 0, scope.stream()>>>(
          out.ptr<T>(), static_cast<const T*>(src.data), check.index(), n_index, n_dst, inner, skip_index, total,
          check.record(), check.key());
      check_launch("index_add");
    });
  }
  check.finish();
}

void CudaBackend::gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) {
  const std::int64_t total = index.numel();
  if (total == 0) return;
  OpScope scope(*this, "gather");
  IndexCheck check(scope, "gather", index, in.shape[dim], IndexCheckKind::index);
  const GatherScatterLayout layout = gather_scatter_layout(index, out, in, dim);
  dispatch_element_bits(out.dtype, [&]<class E>(type_tag<E>) {
    gather_kernel<E><<<blocks_for(total, scope.ctx), kThreads, 0, scope.stream()>>>(
        out.ptr<E>(), static_cast<const E*>(in.data), check.index(), layout, in.shape[dim], total, check.record(),
        check.key());
  });
  check_launch("gather");
  check.finish();
}

void CudaBackend::scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
                          bool accumulate) {
  if (index.numel() == 0) return;
  const char* op = accumulate ? "scatter_add" : "scatter";
  OpScope scope(*this, op);
  IndexCheck check(scope, op, index, out.shape[dim], IndexCheckKind::index);
  const GatherScatterLayout layout = gather_scatter_layout(index, out, src, dim);
  const std::int64_t slices = index.numel() / index.shape[dim];
  const unsigned blocks = blocks_for(slices, scope.ctx);
  const auto launch = [&]<class T, bool kAccumulate>(type_tag<T>, std::bool_constant<kAccumulate>) {
    scatter_kernel<T, kAccumulate><<<blocks, kThreads, 0, scope.stream()>>>(
        out.ptr<T>(), static_cast<const T*>(src.data), check.index(), layout, out.shape[dim], slices,
        out.dtype == DType::b8, check.record(), check.key());
  };
  if (accumulate)
    dispatch_device_storage(out.dtype, [&]<class T>(type_tag<T> tag) { launch(tag, std::true_type{}); });
  else
    dispatch_element_bits(out.dtype, [&]<class E>(type_tag<E> tag) { launch(tag, std::false_type{}); });
  check_launch(op);
  check.finish();
}

// sort on the host: the orders are torch's CPU ones (for topk, the tie order that libstdc++'s
// unstable std::nth_element / std::partial_sort leave), which a GPU sort would not reproduce. So
// the bytes the input view spans go to the host, sort_line::order_lines orders them there, and
// the indices come back. Correct, not fast: a device round trip per call.
void CudaBackend::sort(const KernelView& indices, const KernelView& in, const SortArgs& args) {
  const std::int64_t rows = in.shape[0], n = in.shape[1];
  if (rows == 0 || args.k == 0) return;
  TINYXF_CHECK(in.strides[0] >= 0 && in.strides[1] >= 0, "sort: the cuda backend needs non-negative strides, got [",
               in.strides[0], ", ", in.strides[1], "]");
  const std::int64_t span = (rows - 1) * in.strides[0] + (n - 1) * in.strides[1] + 1;
  std::vector<double> host_in(static_cast<std::size_t>((span * dtype_size(in.dtype) + 7) / 8));  // 8-byte aligned
  std::vector<std::int64_t> host_indices(static_cast<std::size_t>(rows * args.k));
  copy_to_host(host_in.data(), in.data, static_cast<std::size_t>(span) * dtype_size(in.dtype), device_index());
  KernelView in_here = in, indices_here = indices;
  in_here.data = host_in.data();
  indices_here.data = host_indices.data();
  sort_line::order_lines(indices_here, in_here, args);
  copy_from_host(indices.data, host_indices.data(), host_indices.size() * sizeof(std::int64_t), device_index());
}

void CudaBackend::nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                           const KernelView& target, std::int64_t rows, std::int64_t classes,
                           std::int64_t ignore_index) {
  dispatch_floating(logp.dtype, "nll_loss", [&]<class T>(type_tag<T>) {
    OpScope scope(*this, "nll_loss");
    require_contiguous("nll_loss", {&logp});  // the target: IndexCheck
    IndexCheck check(scope, "nll_loss", target, classes, IndexCheckKind::target);
    nll_loss_kernel<T><<<1, kLossThreads, 0, scope.stream()>>>(
        loss.ptr<T>(), count.ptr<T>(), static_cast<const T*>(logp.data), check.index(), rows, classes,
        ignore_index, check.record(), check.key());
    check_launch("nll_loss");
    check.finish(/*kernel_captured_value=*/true);
  });
}

void CudaBackend::nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                                    const KernelView& count, const KernelView& target, std::int64_t rows,
                                    std::int64_t classes, std::int64_t ignore_index) {
  dispatch_floating(grad_logp.dtype, "nll_loss_backward", [&]<class T>(type_tag<T>) {
    const std::int64_t total = rows * classes;
    if (total == 0) return;
    require_contiguous("nll_loss_backward", {&grad_logp, &target});
    OpScope scope(*this, "nll_loss_backward");
    nll_loss_backward_kernel<T><<<blocks_for(total, scope.ctx), kThreads, 0, scope.stream()>>>(
        grad_logp.ptr<T>(), static_cast<const T*>(grad_loss.data), static_cast<const T*>(count.data),
        target.ptr<std::int64_t>(), rows, classes, ignore_index);
    check_launch("nll_loss_backward");
  });
}

void CudaBackend::adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                            const KernelView& exp_avg_sq, const AdamArgs& a) {
  check_adam_operands(param, grad, exp_avg, exp_avg_sq);
  dispatch_floating(param.dtype, "adam_step", [&]<class T>(type_tag<T>) {
    const std::int64_t n = param.numel();
    if (n == 0) return;
    require_contiguous("adam_step", {&param, &grad, &exp_avg, &exp_avg_sq});
    OpScope scope(*this, "adam_step");
    const AdamScalars s = adam_scalars(a);
    adam_kernel<T><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(
        param.ptr<T>(), static_cast<const T*>(grad.data), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(), n, s);
    check_launch("adam_step");
  });
}

// Parameters of one dtype (float32 or float64) go in launches of kAdamTensorsPerLaunch; anything
// else takes adam_step one parameter at a time. All are on this instance's GPU (the optimizer
// batches parameters per backend instance, one per device).
void CudaBackend::multi_tensor_adam_step(std::span<const AdamParamViews> params) {
  if (params.empty()) return;
  const DType dtype = params[0].param.dtype;
  bool uniform = dtype == DType::f32 || dtype == DType::f64;
  for (const AdamParamViews& e : params) {
    check_adam_operands(e.param, e.grad, e.exp_avg, e.exp_avg_sq);
    uniform = uniform && e.param.dtype == dtype && e.grad.dtype == dtype && e.exp_avg.dtype == dtype &&
              e.exp_avg_sq.dtype == dtype;
    require_contiguous("adam_step", {&e.param, &e.grad, &e.exp_avg, &e.exp_avg_sq});
  }
  if (!uniform) {
    for (const AdamParamViews& e : params) adam_step(e.param, e.grad, e.exp_avg, e.exp_avg_sq, e.args);
    return;
  }
  dispatch_floating(dtype, "adam_step", [&]<class T>(type_tag<T>) {
    OpScope scope(*this, "adam_step");
    AdamTensorList<T> list{};
    const auto launch = [&] {
      if (list.count == 0) return;
      multi_adam_kernel<T><<<static_cast<unsigned>(list.first_block[list.count]), kThreads, 0, scope.stream()>>>(list);
      check_launch("adam_step");
      list.count = 0;
    };
    for (const AdamParamViews& e : params) {
      const std::int64_t n = e.param.numel();
      if (n == 0) continue;
      const int i = list.count++;
      list.tensors[i] = {e.param.ptr<T>(), static_cast<const T*>(e.grad.data), e.exp_avg.ptr<T>(),
                         e.exp_avg_sq.ptr<T>(), n, adam_scalars(e.args)};
      list.first_block[i + 1] = list.first_block[i] + (n + kAdamChunk - 1) / kAdamChunk;
      if (list.count == kAdamTensorsPerLaunch) launch();
    }
    launch();
  });
}

void CudaBackend::sgd_step(const KernelView& param, const KernelView& grad, const KernelView& buffer,
                           const SgdArgs& a) {
  check_step_operand("sgd_step", param, grad, "the gradient");
  if (buffer.data) check_step_operand("sgd_step", param, buffer, "the momentum buffer");
  dispatch_floating(param.dtype, "sgd_step", [&]<class T>(type_tag<T>) {
    const std::int64_t n = param.numel();
    if (n == 0) return;
    require_contiguous("sgd_step", {&param, &grad, &buffer});
    TINYXF_CHECK(a.momentum == 0.0 || buffer.data, "cuda sgd_step: momentum needs a momentum buffer");
    OpScope scope(*this, "sgd_step");
    const SgdScalars s{a.lr, a.momentum, a.dampening, a.weight_decay, a.nesterov, a.first_step};
    sgd_kernel<T><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(
        param.ptr<T>(), static_cast<const T*>(grad.data), static_cast<T*>(buffer.data), n, s);
    check_launch("sgd_step");
  });
}

}  // namespace tinyxf::backends
