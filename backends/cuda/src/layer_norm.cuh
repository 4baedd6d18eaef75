#pragma once
// The row kernels of layer_norm (nn.cu) and of the fused (bias +) residual + layer_norm
// (fused.cu): one warp or one block per row (launch_rows), two passes in T (the mean, then the
// squared deviations from it). Plain layer_norm is the case residual == bias == nullptr.
#include "cuda_common.cuh"

namespace tinyxf::backends::cuda_detail {
namespace {

// The normalized row's input: s = (x + bias) + residual, each sum rounded to T; bias and residual
// may be null (then s = x for layer_norm).
template <class T>
__device__ __forceinline__ T residual_sum(const T* x, const T* residual, const T* bias, std::int64_t i,
                                          std::int64_t c) {
  const T xb = bias ? T(x[i] + bias[c]) : x[i];
  return residual ? T(xb + residual[i]) : xb;
}

// s goes into the output row first (each thread rereads only its own elements, so no barrier is
// needed) and is normalized there.
template <class T, bool kWarpPerRow>
__global__ void norm_rows_kernel(T* out, T* mean, T* rstd, const T* x, const T* residual, const T* bias,
                                 const T* gamma, const T* beta, std::int64_t rows, std::int64_t cols, T eps) {
  __shared__ T shared[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;
  const std::int64_t base = at.row * cols;
  T* y = out + base;
  const T n = static_cast<T>(cols);
  T sum = 0;
  for (std::int64_t c = at.lane; c < cols; c += at.width) {
    const T s = residual_sum(x, residual, bias, base + c, c);
    y[c] = s;
    sum += s;
  }
  const T mu = row_allreduce<kWarpPerRow>(sum, SumOp{}, T(0), shared) / n;
  T squares = 0;
  for (std::int64_t c = at.lane; c < cols; c += at.width) squares += (y[c] - mu) * (y[c] - mu);
  const T var = row_allreduce<kWarpPerRow>(squares, SumOp{}, T(0), shared) / n;
  const T rs = T(1) / sqrt(var + eps);
  if (at.lane == 0) {
    mean[at.row] = mu;
    rstd[at.row] = rs;
  }
  for (std::int64_t c = at.lane; c < cols; c += at.width) {
    T v = (y[c] - mu) * rs;
    if (gamma) v *= gamma[c];
    if (beta) v += beta[c];
    y[c] = v;
  }
}

// grad_in = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = grad_out * gamma and s
// recomputed (never stored, so grad_in may alias grad_out).
template <class T, bool kWarpPerRow>
__global__ void norm_rows_backward_kernel(T* grad_in, const T* grad_out, const T* x, const T* residual,
                                          const T* bias, const T* mean, const T* rstd, const T* gamma,
                                          std::int64_t rows, std::int64_t cols) {
  __shared__ T shared[32];
  const RowLayout<kWarpPerRow> at;
  if (at.row >= rows) return;
  const std::int64_t base = at.row * cols;
  const T mu = mean[at.row], rs = rstd[at.row];
  T sum_g = 0, sum_gx = 0;  // over g * gamma and g * gamma * xhat
  for (std::int64_t c = at.lane; c < cols; c += at.width) {
    const T g = mul_rn(grad_out[base + c], gamma ? gamma[c] : T(1));
    sum_g += g;
    sum_gx += g * (residual_sum(x, residual, bias, base + c, c) - mu) * rs;
  }
  sum_g = row_allreduce<kWarpPerRow>(sum_g, SumOp{}, T(0), shared);
  sum_gx = row_allreduce<kWarpPerRow>(sum_gx, SumOp{}, T(0), shared);
  const T n = static_cast<T>(cols);
  for (std::int64_t c = at.lane; c < cols; c += at.width) {
    const T xhat = (residual_sum(x, residual, bias, base + c, c) - mu) * rs;
    const T g = mul_rn(grad_out[base + c], gamma ? gamma[c] : T(1));
    grad_in[base + c] = rs * (g - sum_g / n - xhat * sum_gx / n);
  }
}

}  // namespace
}  // namespace tinyxf::backends::cuda_detail
