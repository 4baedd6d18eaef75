// The optional fused ops of the Backend interface that are not attention: dropout without a
// stored mask, bias + gelu and (bias +) residual + layer_norm with their backwards, and the
// multi-tensor sum of squares of clip_grad_norm_. Same numerics as the cpu backend's fused.hpp:
// the sums s are rounded to the dtype exactly as the composed `+` would store them, the gelu
// formulas are kmath's, and column sums (bias/gamma/beta gradients) accumulate in double over a
// fixed split of the rows, combined in split order, so they are deterministic.
#include <cmath>
#include <vector>

#include "cuda_common.cuh"
#include "layer_norm.cuh"
#include "packed_functors.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {

void require_contiguous(const char* op, std::initializer_list<const KernelView*> views) {
  for (const KernelView* v : views)
    TINYXF_CHECK(!v->data || v->is_contiguous(), "cuda ", op, ": expected contiguous operands");
}

template <class Fn>
void with_gelu(bool approximate_tanh, Fn&& fn) {
  if (approximate_tanh)
    fn(type_tag<kmath::GeluTanh>{});
  else
    fn(type_tag<kmath::GeluErf>{});
}

// ---- deterministic column sums ---------------------------------------------------------------------
// kSums column sums of values(r, c) over the rows of [rows, cols]: blocks of 32 columns x 8
// thread rows, the rows cut into `splits` chunks (blockIdx.y) so that small column counts still
// fill the GPU; each block writes its double partial sums to partial[(split * kSums + s) * cols + c]
// and column_sums_finish_kernel adds the splits in order: the result does not depend on timing.
constexpr int kSumCols = 32, kSumRows = 8;

template <int kSums, class Values>
__global__ void column_sums_kernel(Values values, double* partial, std::int64_t rows, std::int64_t cols,
                                   std::int64_t chunk) {
  __shared__ double shared[kSums][kSumRows][kSumCols];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kSumCols + tx;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunk;
  const std::int64_t end = begin + chunk < rows ? begin + chunk : rows;
  double acc[kSums] = {};
  if (c < cols) {
    for (std::int64_t r = begin + ty; r < end; r += kSumRows) {
      double v[kSums];
      values(r, c, v);
      for (int s = 0; s < kSums; ++s) acc[s] += v[s];
    }
  }
  for (int s = 0; s < kSums; ++s) shared[s][ty][tx] = acc[s];
  for (int half = kSumRows / 2; half > 0; half >>= 1) {  // a fixed tree: deterministic
    __syncthreads();
    if (ty < half)
      for (int s = 0; s < kSums; ++s) shared[s][ty][tx] += shared[s][ty + half][tx];
  }
  if (ty != 0 || c >= cols) return;
  for (int s = 0; s < kSums; ++s)
    partial[(static_cast<std::int64_t>(blockIdx.y) * kSums + s) * cols + c] = shared[s][0][tx];
}

template <class T, int kSums>
struct ColumnSumOutputs {
  T* out[kSums];  // null: that sum is not wanted
};

template <class T, int kSums>
__global__ void __launch_bounds__(kThreads) column_sums_finish_kernel(ColumnSumOutputs<T, kSums> outputs,
                                                                     const double* partial, std::int64_t splits,
                                                                     std::int64_t cols) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  for (int s = 0; s < kSums; ++s) {
    if (!outputs.out[s]) continue;
    double total = 0;
    for (std::int64_t k = 0; k < splits; ++k) total += partial[(k * kSums + s) * cols + c];
    outputs.out[s][c] = narrow_to<T>(static_cast<compute_t<T>>(total));
  }
}

template <class T, int kSums, class Values>
void column_sums(OpScope& scope, const char* op, ColumnSumOutputs<T, kSums> outputs, const Values& values,
                 std::int64_t rows, std::int64_t cols) {
  const std::int64_t col_tiles = (cols + kSumCols - 1) / kSumCols;
  const SplitPlan plan = plan_splits(col_tiles, rows, kSumRows * 16, scope.ctx.sm_count);
  const std::int64_t splits = rows > 0 ? plan.splits : 1;
  std::shared_ptr<void> partials =
      scratch(static_cast<std::size_t>(splits * kSums * cols) * sizeof(double), scope.ctx.device);
  auto* partial = static_cast<double*>(partials.get());
  if (rows > 0) {
    const dim3 grid(static_cast<unsigned>(col_tiles), static_cast<unsigned>(splits));
    column_sums_kernel<kSums><<<grid, dim3(kSumCols, kSumRows), 0, scope.stream()>>>(values, partial, rows, cols,
                                                                                     plan.chunk);
    check_launch(op);
  } else {  // no rows: the sums are zero
    check_cuda(cudaMemsetAsync(partial, 0, static_cast<std::size_t>(kSums * cols) * sizeof(double), scope.stream()),
               op, "cudaMemsetAsync");
  }
  column_sums_finish_kernel<T, kSums><<<static_cast<unsigned>((cols + kThreads - 1) / kThreads), kThreads, 0,
                                        scope.stream()>>>(outputs, partial, splits, cols);
  check_launch(op);
}

// A gradient as stored, for bias gradients.
template <class T>
struct StoredValues {
  const T* data;
  std::int64_t cols;
  __device__ void operator()(std::int64_t r, std::int64_t c, double (&v)[1]) const {
    v[0] = static_cast<double>(widen(data[r * cols + c]));
  }
};

// The three column sums of the backward: grad_gamma (g * xhat, s recomputed), grad_beta (g) and
// grad_bias (grad_in as stored by the kernel above).
template <class T>
struct AddLayerNormParamValues {
  const T *grad_out, *x, *residual, *bias, *mean, *rstd, *grad_in;
  std::int64_t cols;
  __device__ void operator()(std::int64_t r, std::int64_t c, double (&v)[3]) const {
    const std::int64_t i = r * cols + c;
    const T g = grad_out[i];
    const T xhat = (residual_sum(x, residual, bias, i, c) - mean[r]) * rstd[r];
    v[0] = static_cast<double>(g * xhat);
    v[1] = static_cast<double>(g);
    v[2] = grad_in ? static_cast<double>(grad_in[i]) : 0.0;
  }
};

// ---- sum of squares --------------------------------------------------------------------------------
// One launch per tensor, each block writing its double partial sum to its own slot; a last
// one-block kernel adds the slots in order (deterministic) into total.
template <class T>
__global__ void __launch_bounds__(kThreads) sum_squares_kernel(const T* data, std::int64_t n, double* partial) {
  __shared__ double shared[32];
  double acc = 0;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const double v = static_cast<double>(data[i]);
    acc += v * v;
  }
  acc = block_allreduce(acc, SumOp{}, 0.0, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kThreads) sum_partials_kernel(const double* partial, std::int64_t n, double* total) {
  __shared__ double shared[32];
  double acc = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
  acc = block_allreduce(acc, SumOp{}, 0.0, shared);
  if (threadIdx.x == 0) *total = acc;
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::dropout(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
                          std::uint64_t offset) {
  dispatch_floating_storage(in.dtype, "dropout", [&]<class T>(type_tag<T>) {
    const std::int64_t n = in.numel();
    if (n == 0) return;
    require_contiguous("dropout", {&out, &in});
    OpScope scope(*this, "dropout");
    const KernelView* views[2] = {&out, &in};
    launch_contiguous(scope, "dropout", views,
                   DropoutFn<T>{out.ptr<T>(), static_cast<const T*>(in.data), p, seed, offset,
                                static_cast<compute_t<T>>(1.0 / (1.0 - p))});
  });
}

void CudaBackend::bias_gelu(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                            std::int64_t cols, bool approximate_tanh) {
  dispatch_floating_storage(in.dtype, "bias_gelu", [&]<class T>(type_tag<T>) {
    const std::int64_t n = rows * cols;
    if (n == 0) return;
    require_contiguous("bias_gelu", {&out, &in, &bias});
    OpScope scope(*this, "bias_gelu");
    const KernelView* views[2] = {&out, &in};
    with_gelu(approximate_tanh, [&]<class Gelu>(type_tag<Gelu>) {
      launch_contiguous(scope, "bias_gelu", views,
                     BiasGeluFn<Gelu, T>{out.ptr<T>(), static_cast<const T*>(in.data), static_cast<const T*>(bias.data),
                                         cols});
    });
  });
}

void CudaBackend::bias_gelu_backward(const KernelView& grad_in, const KernelView& grad_bias,
                                     const KernelView& grad_out, const KernelView& in, const KernelView& bias,
                                     std::int64_t rows, std::int64_t cols, bool approximate_tanh) {
  dispatch_floating_storage(in.dtype, "bias_gelu_backward", [&]<class T>(type_tag<T>) {
    if (cols == 0) return;
    require_contiguous("bias_gelu_backward", {&grad_in, &grad_bias, &grad_out, &in, &bias});
    if (!grad_in.data && !grad_bias.data) return;  // no gradient wanted
    OpScope scope(*this, "bias_gelu_backward");
    const std::int64_t n = rows * cols;
    // grad_bias sums grad_in as stored: without a grad_in to write, it goes to scratch.
    std::shared_ptr<void> grad_in_scratch;
    T* gi = static_cast<T*>(grad_in.data);
    if (!gi && n > 0) {
      grad_in_scratch = scratch(static_cast<std::size_t>(n) * sizeof(T), scope.ctx.device);
      gi = static_cast<T*>(grad_in_scratch.get());
    }
    if (n > 0) {
      KernelView grad_in_view = grad_out;  // the same contiguous shape, at gi
      grad_in_view.data = gi;
      const KernelView* views[3] = {&grad_in_view, &grad_out, &in};
      with_gelu(approximate_tanh, [&]<class Gelu>(type_tag<Gelu>) {
        launch_contiguous(scope, "bias_gelu_backward", views,
                       BiasGeluBackwardFn<Gelu, T>{gi, static_cast<const T*>(grad_out.data),
                                                   static_cast<const T*>(in.data), static_cast<const T*>(bias.data),
                                                   cols});
      });
    }
    if (grad_bias.data)
      column_sums<T, 1>(scope, "bias_gelu_backward", {{grad_bias.ptr<T>()}}, StoredValues<T>{gi, cols}, rows, cols);
  });
}

void CudaBackend::add_layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                                 const KernelView& x, const KernelView& residual, const KernelView& bias,
                                 const KernelView& gamma, const KernelView& beta, std::int64_t rows,
                                 std::int64_t cols, double eps) {
  dispatch_floating(x.dtype, "add_layer_norm", [&]<class T>(type_tag<T>) {
    if (rows * cols == 0) return;
    require_contiguous("add_layer_norm", {&out, &mean, &rstd, &x, &residual, &bias, &gamma, &beta});
    OpScope scope(*this, "add_layer_norm");
    launch_rows(scope, "add_layer_norm", rows, cols, norm_rows_kernel<T, true>, norm_rows_kernel<T, false>,
                out.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), static_cast<const T*>(x.data),
                static_cast<const T*>(residual.data), static_cast<const T*>(bias.data),
                static_cast<const T*>(gamma.data), static_cast<const T*>(beta.data), rows, cols, static_cast<T>(eps));
  });
}

void CudaBackend::add_layer_norm_backward(const KernelView& grad_in, const KernelView& grad_bias,
                                          const KernelView& grad_gamma, const KernelView& grad_beta,
                                          const KernelView& grad_out, const KernelView& x, const KernelView& residual,
                                          const KernelView& bias, const KernelView& mean, const KernelView& rstd,
                                          const KernelView& gamma, std::int64_t rows, std::int64_t cols) {
  dispatch_floating(x.dtype, "add_layer_norm_backward", [&]<class T>(type_tag<T>) {
    if (cols == 0) return;
    require_contiguous("add_layer_norm_backward", {&grad_in, &grad_bias, &grad_gamma, &grad_beta, &grad_out, &x,
                                                   &residual, &bias, &mean, &rstd, &gamma});
    if (!grad_in.data && !grad_bias.data && !grad_gamma.data && !grad_beta.data) return;  // no gradient wanted
    OpScope scope(*this, "add_layer_norm_backward");
    const auto* gy = static_cast<const T*>(grad_out.data);
    const auto* xs = static_cast<const T*>(x.data);
    const auto* res = static_cast<const T*>(residual.data);
    const auto* bs = static_cast<const T*>(bias.data);
    const auto* mu = static_cast<const T*>(mean.data);
    const auto* rs = static_cast<const T*>(rstd.data);
    // grad_bias sums grad_in as stored: without a grad_in to write, it goes to scratch.
    std::shared_ptr<void> grad_in_scratch;
    T* gi = static_cast<T*>(grad_in.data);
    if (!gi && grad_bias.data && rows > 0) {
      grad_in_scratch = scratch(static_cast<std::size_t>(rows * cols) * sizeof(T), scope.ctx.device);
      gi = static_cast<T*>(grad_in_scratch.get());
    }
    if (gi && rows > 0)
      launch_rows(scope, "add_layer_norm_backward", rows, cols, norm_rows_backward_kernel<T, true>,
                  norm_rows_backward_kernel<T, false>, gi, gy, xs, res, bs, mu, rs,
                  static_cast<const T*>(gamma.data), rows, cols);
    if (!grad_gamma.data && !grad_beta.data && !grad_bias.data) return;
    column_sums<T, 3>(scope, "add_layer_norm_backward",
                      {{static_cast<T*>(grad_gamma.data), static_cast<T*>(grad_beta.data), static_cast<T*>(grad_bias.data)}},
                      AddLayerNormParamValues<T>{gy, xs, res, bs, mu, rs, gi, cols}, rows, cols);
  });
}

double CudaBackend::sum_squares(std::span<const KernelView> tensors) {
  bool any_elements = false;
  std::int64_t slots = 0;
  std::vector<unsigned> blocks(tensors.size(), 0);
  for (const KernelView& t : tensors) {
    if (t.numel() == 0) continue;  // an empty view's strides need not be contiguous ones
    TINYXF_CHECK(t.is_contiguous(), "cuda sum_squares: expected contiguous tensors");
    any_elements = true;
  }
  if (!any_elements) return 0.0;
  OpScope scope(*this, "sum_squares");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::int64_t n = tensors[i].numel();
    if (n == 0) continue;
    blocks[i] = blocks_for(n, scope.ctx);
    slots += blocks[i];
  }
  // The partial sums, then the total in the slot after them.
  std::shared_ptr<void> buffer = scratch(static_cast<std::size_t>(slots + 1) * sizeof(double), scope.ctx.device);
  auto* partial = static_cast<double*>(buffer.get());
  std::int64_t next = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (blocks[i] == 0) continue;
    const KernelView& t = tensors[i];
    dispatch_floating(t.dtype, "sum_squares", [&]<class T>(type_tag<T>) {
      sum_squares_kernel<T><<<blocks[i], kThreads, 0, scope.stream()>>>(static_cast<const T*>(t.data), t.numel(),
                                                                         partial + next);
      check_launch("sum_squares");
    });
    next += blocks[i];
  }
  sum_partials_kernel<<<1, kThreads, 0, scope.stream()>>>(partial, slots, partial + slots);
  check_launch("sum_squares");
  double total = 0;
  check_cuda(cudaMemcpyAsync(&total, partial + slots, sizeof total, cudaMemcpyDeviceToHost, scope.stream()),
             "sum_squares", "cudaMemcpyAsync");
  std::lock_guard lock(scope.ctx.mutex);
  synchronize_and_raise(scope, "sum_squares");
  return total;
}

}  // namespace tinyxf::backends
