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

// Autocast's casts folded into a GEMM (GemmArgs::cast_to): operands rounded to `to`, the
// product rounded to `to` and stored as `out`.
struct GemmCast {
  DType to, out;
};

// The GemmArgs of a GEMM on these dtypes (for Backend::supports_gemm).
inline GemmArgs gemm_dtypes(DType a, DType b, const std::optional<GemmCast>& cast) {
  GemmArgs args;
  args.dtype = a;
  if (b != a) args.b_dtype = b;
  if (cast) {
    args.cast_to = cast->to;
    if (cast->out != a) args.out_dtype = cast->out;
  }
  return args;
}

// C = A @ B for A: [batch..., M, K], B: [batch..., K, N] already broadcast to the same batch dims
// (detached: nothing is recorded). With `cast`, A and B (float32 or `cast->to`) are multiplied
// as their casts to cast->to, the result rounded to it and stored as cast->out: by the backend's
// GEMM where it takes the casts (Backend::supports_gemm), else through cast copies.
// `bias` (defined: broadcastable to C, of C's dtype) is C's initial value and the GEMM adds the
// product to it (beta = 1), as torch's addmm: the sum is rounded once, no separate add pass. A
// bias row [N] goes to the GEMM itself where the backend takes GemmArgs::bias (added in its
// epilogue, the same sums), saving the prefill's pass over C.
inline Tensor batched_gemm(Tensor a, Tensor b, const Shape& batch_shape, const std::optional<GemmCast>& cast = std::nullopt,
                           const Tensor& bias = Tensor()) {
  TINYXF_CHECK(!bias.defined() || !cast || cast->out == cast->to, "matmul: a bias needs the product in its cast dtype");
  if (cast && !a.impl()->backend().supports_gemm(gemm_dtypes(a.dtype(), b.dtype(), cast))) {
    const Tensor r = batched_gemm(as_dtype(a, cast->to), as_dtype(b, cast->to), batch_shape, std::nullopt, bias);
    return as_dtype(r, cast->out);
  }
  const std::size_t na = a.shape().size(), nb = b.shape().size();
  const std::int64_t M = a.shape()[na - 2], K = a.shape()[na - 1], N = b.shape()[nb - 1];
  Shape out_shape = batch_shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.options().dtype(cast ? cast->out : a.dtype()));
  if (out.numel() == 0) return out;
  if (bias.defined()) {
    TINYXF_CHECK(bias.dtype() == out.dtype(), "matmul: bias of dtype ", dtype_name(bias.dtype()),
                 " does not match the product's dtype ", dtype_name(out.dtype()));
    if (K == 0) {
      out.impl()->backend().copy(kv(out), kv(bias.expand(out_shape)));
      return out;
    }
  } else if (K == 0) {
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
  if (cast) {
    const GemmArgs dtypes = gemm_dtypes(a.dtype(), b.dtype(), cast);
    args.b_dtype = dtypes.b_dtype;
    args.cast_to = dtypes.cast_to;
    args.out_dtype = dtypes.out_dtype;
    args.precision = MatmulPrecision::highest;
  }
  Backend& backend = out.impl()->backend();
  if (bias.defined()) {
    // A bias row (linear's [N]) goes to a GEMM that adds it in its epilogue; otherwise C is
    // prefilled with the broadcast bias and the GEMM adds to it (beta = 1). The same sums.
    const Tensor row = bias.dim() >= 1 && bias.numel() == N && bias.shape().back() == N ? bias.contiguous() : Tensor();
    args.bias = row.defined() ? row.impl()->data() : nullptr;
    if (args.bias == nullptr || !backend.supports_gemm(args)) {
      args.bias = nullptr;
      backend.copy(kv(out), kv(bias.expand(out_shape)));
      args.beta = 1.0;
    }
    backend.gemm(args);
    return out;
  }
  backend.gemm(args);
  return out;
}

// Whether autocast's casts of a and b to d fold into the backend's GEMMs, forward and backward.
inline bool gemm_folds_casts(const Tensor& a, const Tensor& b, DType d) {
  const Backend& backend = a.impl()->backend();
  return backend.supports_gemm(gemm_dtypes(a.dtype(), b.dtype(), GemmCast{d, d})) &&
         backend.supports_gemm(gemm_dtypes(d, b.dtype(), GemmCast{d, a.dtype()})) &&
         backend.supports_gemm(gemm_dtypes(a.dtype(), d, GemmCast{d, b.dtype()}));
}

inline Tensor matmul_impl(const Tensor& a_in, const Tensor& b_in, const std::optional<GemmCast>& cast,
                          const Tensor& bias = Tensor());

}  // namespace ops_detail

// float32, float64 and the 16-bit floats bfloat16/float16 (GEMMs on those read the 16-bit
// values, sum in float32 and round the result once, as PyTorch's CPU bf16 matmul).
inline Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  ops_detail::check_same_device("matmul", a_in, b_in);
  // autocast: lower_precision_fp list (both operands in the autocast dtype, result in it). Where
  // the backend's GEMM rounds the operands and the result itself, the casts fold into it (no
  // 16-bit copies of weights and activations, forward or backward); otherwise they are made.
  if (const auto d = ops_detail::autocast_lower_dtype({&a_in, &b_in})) {
    if (ops_detail::gemm_folds_casts(a_in, b_in, *d)) return ops_detail::matmul_impl(a_in, b_in, ops_detail::GemmCast{*d, *d});
    return matmul(ops_detail::as_dtype(a_in, *d), ops_detail::as_dtype(b_in, *d));
  }
  return ops_detail::matmul_impl(a_in, b_in, std::nullopt);
}

namespace ops_detail {

// matmul, optionally with autocast's casts folded into its GEMMs (batched_gemm's `cast`): its
// backward then multiplies the gradient (in cast->to) with the saved operands as they are, each
// result rounded to cast->to and stored in its operand's dtype, as the casts' backward would.
// With `bias` (of the result's dtype, broadcast over its rows) it is torch's addmm: bias + a @ b,
// the bias as the GEMM's initial C (batched_gemm), its gradient the sum of g over the rows.
inline Tensor matmul_impl(const Tensor& a_in, const Tensor& b_in, const std::optional<GemmCast>& cast,
                          const Tensor& bias) {
  TINYXF_CHECK_AS(DTypeError, is_floating_point(a_in.dtype()), "matmul: expected a floating point tensor, got ",
                  dtype_name(a_in.dtype()));
  if (cast)
    TINYXF_CHECK_AS(DTypeError, is_floating_point(b_in.dtype()), "matmul: expected a floating point tensor, got ",
                    dtype_name(b_in.dtype()));
  else
    check_same_dtype("matmul", a_in, b_in);
  TINYXF_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: both operands need at least 1 dim, got ",
               shape_str(a_in.shape()), " and ", shape_str(b_in.shape()));
  TINYXF_CHECK(b_in.dim() > 1 || !bias.defined(), "matmul: a bias needs a 2-D right operand");
  // 1-D operands are promoted (and the added dim removed afterwards), as in PyTorch; two 1-D
  // operands give their dot product, a 0-dim tensor.
  if (a_in.dim() == 1 && b_in.dim() == 1)
    return matmul_impl(a_in.unsqueeze(0), b_in.unsqueeze(-1), cast).reshape({});
  if (a_in.dim() == 1) return matmul_impl(a_in.unsqueeze(0), b_in, cast, bias).squeeze(-2);
  if (b_in.dim() == 1) return matmul_impl(a_in, b_in.unsqueeze(-1), cast).squeeze(-1);
  const std::int64_t K = a_in.shape().back();
  TINYXF_CHECK(b_in.shape()[b_in.shape().size() - 2] == K, "matmul: shapes ",
               shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
               " cannot be multiplied (", K, " != ", b_in.shape()[b_in.shape().size() - 2], ")");
  // [..., M, K] @ [K, N]: fold the batch into M (one big GEMM) when a is contiguous, or when the
  // GEMM casts a (a strided a is copied, as its cast would have been).
  if (b_in.dim() == 2 && a_in.dim() > 2 && (a_in.is_contiguous() || cast)) {
    Shape out_shape = a_in.shape();
    out_shape.back() = b_in.shape()[1];
    // The row count spelled out: with K == 0 a -1 could not be inferred.
    const std::int64_t rows = shape_numel(Shape(a_in.shape().begin(), a_in.shape().end() - 1));
    return matmul_impl(a_in.reshape({rows, K}), b_in, cast, bias).reshape(out_shape);
  }
  const Shape ba(a_in.shape().begin(), a_in.shape().end() - 2);
  const Shape bb(b_in.shape().begin(), b_in.shape().end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "matmul (batch dims)");
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), a_in.shape().end() - 2, a_in.shape().end());
  eb.insert(eb.end(), b_in.shape().end() - 2, b_in.shape().end());
  Tensor a = a_in.detach().expand(ea), b = b_in.detach().expand(eb);
  Tensor out = batched_gemm(a, b, batch, cast, bias.defined() ? bias.detach() : Tensor());
  return autograd::record(
      out, bias.defined() ? "addmm" : "matmul", {&a_in.impl(), &b_in.impl(), &bias.impl()},
      [a = autograd::needs_grad(b_in) ? autograd::save_input(a_in, 0) : autograd::SavedTensor(),
       b = autograd::needs_grad(a_in) ? autograd::save_input(b_in, 1) : autograd::SavedTensor(),
       sa = a_in.shape(), sb = b_in.shape(), cast, a_dtype = a_in.dtype(), b_dtype = b_in.dtype(),
       b_in_transposed = a_in.dim() == 2 && b_in.dim() == 2 && b_in.strides()[0] == 1 && b_in.shape()[1] > 1 &&
                         b_in.shape()[0] > 1,
       bias_shape = bias.defined() ? std::optional<Shape>(bias.shape()) : std::nullopt](const Tensor& g) {
        // A gradient summed over broadcast batch dims is summed in cast->to and cast after, as
        // the casts' backward would; otherwise it is stored in its operand's dtype directly.
        const auto grad_of = [&](const Tensor& x, const Tensor& y, const Shape& shape, DType dtype) {
          if (!cast) return sum_to_shape(matmul(x, y), shape);
          const std::int64_t rows = x.shape()[x.shape().size() - 2], cols = y.shape().back();
          const Shape xb(x.shape().begin(), x.shape().end() - 2), yb(y.shape().begin(), y.shape().end() - 2);
          const bool summed = shape_numel(broadcast_shapes(xb, yb, "matmul (batch dims)")) * rows * cols != shape_numel(shape);
          const Tensor r = matmul_impl(x, y, GemmCast{cast->to, summed ? cast->to : dtype});
          return summed ? as_dtype(sum_to_shape(r, shape), dtype) : sum_to_shape(r, shape);
        };
        Tensor ga, gb;
        if (b.defined()) ga = grad_of(g, b.get().transpose(-1, -2), sa, a_dtype);
        if (a.defined()) {
          if (b_in_transposed)  // b = W.t() (linear): the gradient made in W's own layout, g^T a, then viewed as b
            gb = grad_of(g.transpose(-1, -2), a.get(), {sb[1], sb[0]}, b_dtype).transpose(-1, -2);
          else
            gb = grad_of(a.get().transpose(-1, -2), g, sb, b_dtype);
        }
        // The bias's gradient in g's dtype (bias has it), as an add's backward would give it.
        return std::vector<Tensor>{ga, gb, bias_shape ? sum_to_shape(g, *bias_shape) : Tensor()};
      });
}

}  // namespace ops_detail

inline Tensor Tensor::matmul(const Tensor& other) const {
  return tinyxf::matmul(*this, other);
}

// y = x · Wᵀ + b  (x: [..., in], W: [out, in], b: [out] or undefined), as torch.nn.functional.linear.
// Under autocast x, weight and bias are cast to the autocast dtype (lower_precision_fp list).
// Where the backend's GEMM takes the casts (matmul), x and weight are not copied.
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  const auto d = ops_detail::autocast_lower_dtype({&x, &weight, &bias});
  if (d && x.defined() && weight.defined() && !ops_detail::gemm_folds_casts(x, weight, *d))
    return linear(ops_detail::as_dtype(x, *d), ops_detail::as_dtype(weight, *d), ops_detail::autocast_to(bias, *d));
  TINYXF_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out, in], got ", shape_str(weight.shape()));
  TINYXF_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], "linear: input of shape ",
               shape_str(x.shape()), " does not match weight of shape ", shape_str(weight.shape()),
               " (expected last dim ", weight.shape()[1], ")");
  if (!bias.defined()) return matmul(x, weight.t());  // under autocast: in d, the casts folded into the GEMM
  TINYXF_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias of shape ",
               shape_str(bias.shape()), " does not match weight of shape ", shape_str(weight.shape()));
  ops_detail::check_same_device("linear", x, bias);
  // As torch's addmm: the bias is the GEMM's initial C (one rounding of the sum, no add pass).
  if (d) return ops_detail::matmul_impl(x, weight.t(), ops_detail::GemmCast{*d, *d}, ops_detail::as_dtype(bias, *d));
  // No promotion, as torch ("self and mat2 must have the same dtype"): a float64 bias on a
  // float32 layer is an error, not a float64 output.
  ops_detail::check_same_dtype("linear (input and weight)", x, weight);
  ops_detail::check_same_dtype("linear (input and bias)", x, bias);
  return ops_detail::matmul_impl(x, weight.t(), std::nullopt, bias);
}

}  // namespace tinyxf
