#pragma once
// matmul (PyTorch semantics: 1-D promotion, batched with broadcast batch dims) and linear.
// Operands that are transposed views go to GEMM with a transpose flag instead of a copy.
#include <atomic>
#include <string>
#include <string_view>

#include "tinyxf/ops/elementwise.hpp"

namespace tinyxf {

namespace ops_detail {

inline std::atomic<MatmulPrecision>& float32_matmul_precision_flag() {
  static std::atomic<MatmulPrecision> precision{MatmulPrecision::highest};
  return precision;
}

// The precision a GEMM on `dtype` runs at: the process-wide setting for float32, exact otherwise.
inline MatmulPrecision matmul_precision_for(DType dtype) {
  if (dtype == kFloat32) return float32_matmul_precision_flag().load(std::memory_order_relaxed);
  return MatmulPrecision::highest;
}

}  // namespace ops_detail

// torch.set_float32_matmul_precision: "highest" (the default) multiplies float32 matrices in
// float32; "high" lets CUDA use TF32 tensor cores; "medium" also lets a CPU with AVX512-BF16 round
// the operands to bfloat16 and sum the products in float32 (about 1.6x the GEMM speed; inputs
// keep ~3 significant digits, sums stay float32). Applies to matmul, linear and their backward
// GEMMs, process-wide.
inline void set_float32_matmul_precision(std::string_view precision) {
  MatmulPrecision p;
  if (precision == "highest") p = MatmulPrecision::highest;
  else if (precision == "high") p = MatmulPrecision::high;
  else if (precision == "medium") p = MatmulPrecision::medium;
  else
    throw Error(detail::concat("set_float32_matmul_precision: unknown precision '", precision,
                               "' (expected highest, high or medium)"));
  ops_detail::float32_matmul_precision_flag().store(p, std::memory_order_relaxed);
}

inline std::string get_float32_matmul_precision() {
  switch (ops_detail::float32_matmul_precision_flag().load(std::memory_order_relaxed)) {
    case MatmulPrecision::high: return "high";
    case MatmulPrecision::medium: return "medium";
    default: return "highest";
  }
}

// Sets the float32 matmul precision for a scope and restores the previous one on exit (as a
// Trainer with bf16 = true does around training and evaluation).
class Float32MatmulPrecisionGuard {
 public:
  explicit Float32MatmulPrecisionGuard(std::string_view precision)
      : saved_(get_float32_matmul_precision()) {
    set_float32_matmul_precision(precision);
  }
  ~Float32MatmulPrecisionGuard() { set_float32_matmul_precision(saved_); }
  Float32MatmulPrecisionGuard(const Float32MatmulPrecisionGuard&) = delete;
  Float32MatmulPrecisionGuard& operator=(const Float32MatmulPrecisionGuard&) = delete;

 private:
  std::string saved_;
};

namespace ops_detail {

// How a [..., rows, cols] operand is handed to GEMM: pointer, leading dim, transpose flag and a
// uniform batch stride, or nothing if its layout needs a copy first.
struct GemmOperand {
  bool ok = false;
  bool trans = false;
  std::int64_t ld = 0, batch_stride = 0;
};

inline GemmOperand gemm_layout(const Shape& shape, const Shape& strides) {
  GemmOperand g;
  const std::size_t n = shape.size();
  const std::int64_t rows = shape[n - 2], cols = shape[n - 1];
  const std::int64_t rs = strides[n - 2], cs = strides[n - 1];
  // BLAS needs the leading dimension >= the stored row length.
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<std::int64_t>(cols, 1))) {
    g.trans = false;
    g.ld = rows == 1 ? std::max<std::int64_t>(cols, 1) : rs;
  } else if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<std::int64_t>(rows, 1))) {
    g.trans = true;
    g.ld = cols == 1 ? std::max<std::int64_t>(rows, 1) : cs;
  } else {
    return g;
  }
  // Batch dims must collapse to one uniform stride.
  std::int64_t batch_stride = 0;
  bool first = true;
  for (std::size_t i = n - 2; i-- > 0;) {
    if (shape[i] == 1) continue;
    if (first) {
      batch_stride = strides[i];
      first = false;
    }
    std::int64_t expect = batch_stride;
    for (std::size_t j = i + 1; j < n - 2; ++j)
      if (shape[j] != 1) expect *= shape[j];
    if (strides[i] != expect && !(batch_stride == 0 && strides[i] == 0)) return g;
  }
  g.batch_stride = batch_stride;
  g.ok = true;
  return g;
}

// C = A @ B for A: [batch..., M, K], B: [batch..., K, N] already broadcast to the same batch dims.
inline Tensor batched_gemm(Tensor a, Tensor b, const Shape& batch_shape) {
  const std::size_t na = a.shape().size(), nb = b.shape().size();
  const std::int64_t M = a.shape()[na - 2], K = a.shape()[na - 1], N = b.shape()[nb - 1];
  Shape out_shape = batch_shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.options());
  if (out.numel() == 0) return out;
  if (K == 0) {
    out.impl()->backend().fill(kv(out), 0.0);
    return out;
  }
  GemmOperand la = gemm_layout(a.shape(), a.strides());
  if (!la.ok) {
    a = a.contiguous();
    la = gemm_layout(a.shape(), a.strides());
  }
  GemmOperand lb = gemm_layout(b.shape(), b.strides());
  if (!lb.ok) {
    b = b.contiguous();
    lb = gemm_layout(b.shape(), b.strides());
  }
  GemmArgs args;
  args.dtype = a.dtype();
  args.batch = shape_numel(batch_shape);
  args.m = M;
  args.n = N;
  args.k = K;
  args.a = a.impl()->data();
  args.lda = la.ld;
  args.trans_a = la.trans;
  args.stride_a = la.batch_stride;
  args.b = b.impl()->data();
  args.ldb = lb.ld;
  args.trans_b = lb.trans;
  args.stride_b = lb.batch_stride;
  args.c = out.impl()->data();
  args.ldc = N;
  args.stride_c = M * N;
  args.precision = matmul_precision_for(a.dtype());
  out.impl()->backend().gemm(args);
  return out;
}

}  // namespace ops_detail

// float32, float64 and the 16-bit floats bfloat16/float16 (GEMMs on those read the 16-bit
// values, sum in float32 and round the result once, as PyTorch's CPU bf16 matmul).
inline Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  ops_detail::check_same_device("matmul", a_in, b_in);
  // autocast: lower_precision_fp list (both operands in the autocast dtype, result in it).
  if (const auto d = ops_detail::autocast_lower_dtype({&a_in, &b_in}))
    return matmul(ops_detail::as_dtype(a_in, *d), ops_detail::as_dtype(b_in, *d));
  TINYXF_CHECK_AS(DTypeError, is_floating_point(a_in.dtype()), "matmul: expected a floating point tensor, got ",
                  dtype_name(a_in.dtype()));
  ops_detail::check_same_dtype("matmul", a_in, b_in);
  TINYXF_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: both operands need at least 1 dim, got ",
               shape_str(a_in.shape()), " and ", shape_str(b_in.shape()));
  // 1-D operands are promoted (and the added dim removed afterwards), as in PyTorch.
  if (a_in.dim() == 1) return matmul(a_in.unsqueeze(0), b_in).squeeze(-2);
  if (b_in.dim() == 1) return matmul(a_in, b_in.unsqueeze(-1)).squeeze(-1);
  const std::int64_t K = a_in.shape().back();
  TINYXF_CHECK(b_in.shape()[b_in.shape().size() - 2] == K, "matmul: shapes ",
               shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
               " cannot be multiplied (", K, " != ", b_in.shape()[b_in.shape().size() - 2], ")");
  // [..., M, K] @ [K, N]: fold the batch into M (one big GEMM) when a is contiguous.
  if (b_in.dim() == 2 && a_in.dim() > 2 && a_in.is_contiguous()) {
    Shape out_shape = a_in.shape();
    out_shape.back() = b_in.shape()[1];
    return matmul(a_in.reshape({-1, K}), b_in).reshape(out_shape);
  }
  const Shape ba(a_in.shape().begin(), a_in.shape().end() - 2);
  const Shape bb(b_in.shape().begin(), b_in.shape().end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "matmul (batch dims)");
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), a_in.shape().end() - 2, a_in.shape().end());
  eb.insert(eb.end(), b_in.shape().end() - 2, b_in.shape().end());
  Tensor a = a_in.detach().expand(ea), b = b_in.detach().expand(eb);
  Tensor out = ops_detail::batched_gemm(a, b, batch);
  return autograd::record(
      out, "matmul", {&a_in.impl(), &b_in.impl()},
      [a = autograd::needs_grad(b_in) ? autograd::save_input(a_in, 0) : autograd::SavedTensor(),
       b = autograd::needs_grad(a_in) ? autograd::save_input(b_in, 1) : autograd::SavedTensor(),
       sa = a_in.shape(), sb = b_in.shape()](const Tensor& g) {
        Tensor ga, gb;
        if (b.defined()) ga = sum_to_shape(matmul(g, b.get().transpose(-1, -2)), sa);
        if (a.defined()) gb = sum_to_shape(matmul(a.get().transpose(-1, -2), g), sb);
        return std::vector<Tensor>{ga, gb};
      });
}

inline Tensor Tensor::matmul(const Tensor& other) const {
  return tinyxf::matmul(*this, other);
}

// y = x · Wᵀ + b  (x: [..., in], W: [out, in], b: [out] or undefined), as torch.nn.functional.linear.
// Under autocast x, weight and bias are cast to the autocast dtype (lower_precision_fp list).
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  if (const auto d = ops_detail::autocast_lower_dtype({&x, &weight, &bias}))
    return linear(ops_detail::as_dtype(x, *d), ops_detail::as_dtype(weight, *d), ops_detail::autocast_to(bias, *d));
  TINYXF_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out, in], got ", shape_str(weight.shape()));
  TINYXF_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], "linear: input of shape ",
               shape_str(x.shape()), " does not match weight of shape ", shape_str(weight.shape()),
               " (expected last dim ", weight.shape()[1], ")");
  Tensor y = matmul(x, weight.t());
  if (bias.defined()) {
    TINYXF_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias of shape ",
                 shape_str(bias.shape()), " does not match weight of shape ", shape_str(weight.shape()));
    y = y + bias;
  }
  return y;
}

}  // namespace tinyxf
