#pragma once
// Elementwise math with NumPy/PyTorch broadcasting and type promotion: unary functions,
// tensor-tensor and tensor-scalar arithmetic, comparisons (bool results), where/masked_fill.
// Mixed dtypes are cast to the result dtype (result_type) before the kernel runs; bfloat16 and
// float16 operands are computed in float32 and rounded back.
#include "tinyxf/backend/dispatch.hpp"
#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/ops/reduce.hpp"

namespace tinyxf {

namespace ops_detail {

// The dtype an op is computed in: result_type, with 16-bit floats computed in float32.
inline DType compute_dtype(DType result) { return is_reduced_floating_point(result) ? kFloat32 : result; }

// Whether 16-bit operands already of the result dtype go to the kernels as they are: the backend
// computes them in float32 itself (Backend::computes_16bit_floats), which saves the widening
// casts and float32 temporaries with the same values.
inline bool native_16bit(DType result, std::initializer_list<const Tensor*> operands) {
  if (!is_reduced_floating_point(result)) return false;
  for (const Tensor* t : operands)
    if (t->dtype() != result || !t->impl()->backend().computes_16bit_floats()) return false;
  return true;
}

// Whether op's derivative reads its input x (else only the result y and the scalar).
inline constexpr bool unary_backward_reads_x(UnaryOp op) {
  switch (op) {
#define TINYXF_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return kmath::formula::kReadsX;
    TINYXF_UNARY_OPS(TINYXF_UNARY_CASE)
#undef TINYXF_UNARY_CASE
  }
  return true;
}
inline constexpr bool unary_backward_reads_y(UnaryOp op) {
  switch (op) {
#define TINYXF_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return kmath::formula::kReadsY;
    TINYXF_UNARY_OPS(TINYXF_UNARY_CASE)
#undef TINYXF_UNARY_CASE
  }
  return true;
}

// g * d op(x) / dx from the saved x and y = op(x), each read (and version-checked) only where the
// formula uses it, so an op saves (and a later in-place write breaks) only that, as torch. Computed
// in float32 for 16-bit g (by the kernel itself where the backend can).
inline Tensor unary_grad(UnaryOp op, double alpha, const Tensor& g, const autograd::SavedTensor& before,
                         const autograd::SavedTensor& after) {
  const DType compute = native_16bit(g.dtype(), {&g}) ? g.dtype() : compute_dtype(g.dtype());
  const Tensor gc = as_dtype(g, compute);
  const Tensor x = unary_backward_reads_x(op) ? as_dtype(before.get(), compute) : Tensor();
  const Tensor y = unary_backward_reads_y(op) ? as_dtype(after.get(), compute) : Tensor();
  const Tensor& x_or_y = x.defined() ? x : y.defined() ? y : gc;  // an unread argument: any tensor
  Tensor gi = Tensor::empty(gc.shape(), gc.options());
  if (gi.numel())
    run_unary_backward(backend_of(gi), gi.device().index, op, kv(gi), kv(gc), kv(x.defined() ? x : x_or_y),
                       kv(y.defined() ? y : x_or_y), alpha);
  return as_dtype(gi, g.dtype());
}

inline Tensor unary_op_as(UnaryOp op, const Tensor& x_in, DType result, double alpha = 0.0) {
  TINYXF_CHECK(x_in.defined(), unary_op_name(op), ": undefined tensor argument");
  // bfloat16/float16 compute in float32 and are rounded back at the end (by the kernel itself
  // where the backend can).
  const Tensor x = as_dtype(x_in, native_16bit(result, {&x_in}) ? result : compute_dtype(result));
  Tensor out = Tensor::empty(x.shape(), x.options());
  if (out.numel()) run_unary(x.impl()->backend(), x.device().index, op, kv(out), kv(x), alpha);
  if (is_floating_point(out.dtype()))
    out = autograd::record(
        out, unary_op_name(op), {&x.impl()},
        [op, alpha, saved_x = unary_backward_reads_x(op) ? autograd::save_input(x, 0) : autograd::SavedTensor(),
         saved_out = unary_backward_reads_y(op) ? autograd::save_output(out) : autograd::SavedTensor()](const Tensor& g) {
          return std::vector<Tensor>{unary_grad(op, alpha, g, saved_x, saved_out)};
        });
  return as_dtype(out, result);
}

// The dtype of op(x): x's, or the default float dtype for an integer x and an op without integers.
inline DType unary_result_dtype(UnaryOp op, DType x) {
  return !kmath::unary_keeps_integer_dtype(op) && !is_floating_point(x) ? default_dtype() : x;
}

inline Tensor unary_op(UnaryOp op, const Tensor& x, double alpha = 0.0) {
  TINYXF_CHECK(x.defined(), unary_op_name(op), ": undefined tensor argument");
  return unary_op_as(op, x, unary_result_dtype(op, x.dtype()), alpha);
}

// s rounded to the floating dtype d (double -> float -> d, as torch converts a Python float;
// beyond d's range: inf); s itself for float64 and non-floating d.
inline double round_scalar_to(double s, DType d) {
  const auto f = static_cast<float>(s);
  switch (d) {
    case DType::f32: return f;
    case DType::bf16: return static_cast<float>(BFloat16(f));
    case DType::f16: return static_cast<float>(Half(f));
    default: return s;
  }
}

// tensor (op) scalar: the result dtype follows result_type(tensor, scalar). As in torch, an
// integer result takes the scalar wrapped through int64 (int32 + 3e9 adds -1294967296), and a
// 16-bit float result rounds the scalar of an add or subtraction to that dtype first
// (bfloat16 1 + (2^-8 + 2^-20) is 1); mul and div use its unrounded value.
inline double scalar_operand(UnaryOp op, double s, DType result) {
  if (is_integral(result)) s = wrap_integer_scalar(unary_op_name(op), s, result);
  if (op == UnaryOp::add_scalar || op == UnaryOp::sub_scalar || op == UnaryOp::rsub_scalar) s = round_scalar_to(s, result);
  return s;
}
inline Tensor scalar_op(UnaryOp op, const Tensor& x, double s) {
  TINYXF_CHECK(x.defined(), unary_op_name(op), ": undefined tensor argument");
  const DType result = result_type(x, s);
  return unary_op_as(op, x, result, scalar_operand(op, s, result));
}

// Kernel launch for a broadcast binary op on operands already of one compute dtype into a fresh
// output of dtype `out_dtype` and the broadcast shape.
inline Tensor binary_raw(BinaryOp op, DType out_dtype, const Tensor& a, const Tensor& b) {
  check_same_device(binary_op_name(op), a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), binary_op_name(op));
  Tensor out = Tensor::empty(shape, TensorOptions(a.device()).dtype(out_dtype));
  if (out.numel())
    run_binary(a.impl()->backend(), a.device().index, op, kv(out), kv_broadcast(a, shape), kv_broadcast(b, shape));
  return out;
}

// An operand in the compute dtype after rounding it to the result dtype, as torch casts every
// operand to the result dtype first (a float32 0-dim tensor added to a bfloat16 one is rounded
// to bfloat16; without this, bfloat16 0.1 == 0.1 would be false).
inline Tensor through_result_dtype(const Tensor& t, DType result, DType compute) {
  return as_dtype(as_dtype(t, result), compute);
}

// Differentiable binary arithmetic: casts both operands to the compute dtype (through the result
// dtype), runs the kernel, records `backward` (given the cast operands) and rounds to the result
// dtype. mul and div keep a 0-dim second operand's value unrounded, as torch's cpu-scalar path.
template <class Backward>
Tensor binary_arith(BinaryOp op, const Tensor& a_in, const Tensor& b_in, DType result, Backward&& backward) {
  const DType compute = native_16bit(result, {&a_in, &b_in}) ? result : compute_dtype(result);
  const bool b_unrounded = (op == BinaryOp::mul || op == BinaryOp::div || op == BinaryOp::div_trunc ||
                            op == BinaryOp::div_floor) && b_in.dim() == 0;
  const Tensor a = through_result_dtype(a_in, result, compute);
  const Tensor b = b_unrounded ? as_dtype(b_in, compute) : through_result_dtype(b_in, result, compute);
  Tensor out = binary_raw(op, compute, a, b);
  if (is_floating_point(compute)) out = backward(out, a, b);
  return as_dtype(out, result);
}

// Comparisons: both operands in their promoted dtype, a bool result.
inline Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType result = result_type(a, b), compute = compute_dtype(result);
  return binary_raw(op, kBool, through_result_dtype(a, result, compute), through_result_dtype(b, result, compute));
}

}  // namespace ops_detail

// ---- unary -------------------------------------------------------------------------------------
namespace ops_detail {
inline void check_no_bool_neg(const char* op, const Tensor& x) {
  TINYXF_CHECK_AS(DTypeError, !x.defined() || x.dtype() != kBool, op, ": negation, the `-` operator, on a bool "
                  "tensor is not supported; to invert a mask use logical_not");
}
}  // namespace ops_detail
inline Tensor neg(const Tensor& x) {
  ops_detail::check_no_bool_neg("neg", x);
  return ops_detail::unary_op(UnaryOp::neg, x);
}
inline Tensor exp(const Tensor& x) { return ops_detail::unary_op(UnaryOp::exp, x); }
inline Tensor log(const Tensor& x) { return ops_detail::unary_op(UnaryOp::log, x); }
// torch.log1p: log(1 + x), accurate where 1 + x would round (|x| < float epsilon).
inline Tensor log1p(const Tensor& x) { return ops_detail::unary_op(UnaryOp::log1p, x); }
inline Tensor sqrt(const Tensor& x) { return ops_detail::unary_op(UnaryOp::sqrt, x); }
inline Tensor rsqrt(const Tensor& x) { return ops_detail::unary_op(UnaryOp::rsqrt, x); }
inline Tensor tanh(const Tensor& x) { return ops_detail::unary_op(UnaryOp::tanh, x); }
inline Tensor sigmoid(const Tensor& x) { return ops_detail::unary_op(UnaryOp::sigmoid, x); }
namespace ops_detail {
// torch has no bool kernels for these ("abs_cpu" not implemented for 'Bool').
inline void check_not_bool(const char* op, const Tensor& x) {
  TINYXF_CHECK_AS(DTypeError, !x.defined() || x.dtype() != kBool, op, ": not supported for bool tensors");
}
}  // namespace ops_detail
inline Tensor relu(const Tensor& x) {
  ops_detail::check_not_bool("relu", x);
  return ops_detail::unary_op(UnaryOp::relu, x);
}
inline Tensor abs(const Tensor& x) {
  ops_detail::check_not_bool("abs", x);
  return ops_detail::unary_op(UnaryOp::abs, x);
}
// x * sigmoid(x), as torch.nn.functional.silu.
inline Tensor silu(const Tensor& x) { return ops_detail::unary_op(UnaryOp::silu, x); }
// approximate: "none" (exact, erf) or "tanh", as torch.nn.functional.gelu.
inline Tensor gelu(const Tensor& x, std::string_view approximate = "none") {
  TINYXF_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be 'none' "
               "or 'tanh', got '", approximate, "'");
  return ops_detail::unary_op(approximate == "none" ? UnaryOp::gelu_erf : UnaryOp::gelu_tanh, x);
}
inline Tensor pow(const Tensor& x, double exponent) {
  TINYXF_CHECK_AS(ValueError, !x.defined() || is_floating_point(result_type(x, exponent)) || exponent >= 0,
                  "pow: integers to negative integer powers are not allowed (", dtype_name(x.dtype()),
                  " tensor, exponent ", exponent, ")");
  return ops_detail::scalar_op(UnaryOp::pow_scalar, x, exponent);
}
inline Tensor square(const Tensor& x) { return pow(x, 2.0); }

// ---- tensor (op) tensor ------------------------------------------------------------------------
namespace ops_detail {
// torch refuses a subtraction with a bool operand (it would not be a bool, nor a mask's inverse).
inline void check_no_bool_sub(const Tensor& a, const Tensor* b) {
  TINYXF_CHECK(a.defined() && (b == nullptr || b->defined()), "sub: undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, a.dtype() != kBool && (b == nullptr || b->dtype() != kBool),
                  "sub: subtraction, the `-` operator, with ", b != nullptr && a.dtype() == b->dtype() ? "two bool tensors" : "a bool tensor",
                  " is not supported; use logical_not (or a xor) on masks");
}
}  // namespace ops_detail

// bool + bool is a logical or (the sum saturates at true) and bool * bool a logical and, as in torch.
inline Tensor add(const Tensor& a, const Tensor& b) {
  if (a.defined() && b.defined() && result_type(a, b) == kBool)
    return ops_detail::binary_raw(BinaryOp::maximum, kBool, a, b);
  return ops_detail::binary_arith(BinaryOp::add, a, b, result_type(a, b), [](Tensor out, const Tensor& a, const Tensor& b) {
    return autograd::record(out, "add", {&a.impl(), &b.impl()}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
    });
  });
}
inline Tensor sub(const Tensor& a, const Tensor& b) {
  ops_detail::check_no_bool_sub(a, &b);
  return ops_detail::binary_arith(BinaryOp::sub, a, b, result_type(a, b), [](Tensor out, const Tensor& a, const Tensor& b) {
    return autograd::record(out, "sub", {&a.impl(), &b.impl()}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(neg(g), sb)};
    });
  });
}
inline Tensor mul(const Tensor& a, const Tensor& b) {
  return ops_detail::binary_arith(BinaryOp::mul, a, b, result_type(a, b), [](Tensor out, const Tensor& a, const Tensor& b) {
    const bool need_a = autograd::needs_grad(a), need_b = autograd::needs_grad(b);
    return autograd::record(out, "mul", {&a.impl(), &b.impl()},
                            [a = need_b ? autograd::save_input(a, 0) : autograd::SavedTensor(),
                             b = need_a ? autograd::save_input(b, 1) : autograd::SavedTensor(), sa = a.shape(),
                             sb = b.shape()](const Tensor& g) {
                              return std::vector<Tensor>{b.defined() ? sum_to_shape(mul(g, b.get()), sa) : Tensor(),
                                                         a.defined() ? sum_to_shape(mul(g, a.get()), sb) : Tensor()};
                            });
  });
}
// True division (torch.div): integer operands give the default float dtype.
inline Tensor div(const Tensor& a, const Tensor& b) {
  const DType r = result_type(a, b);
  return ops_detail::binary_arith(BinaryOp::div, a, b, is_floating_point(r) ? r : default_dtype(),
                                  [](Tensor out, const Tensor& a, const Tensor& b) {
    return autograd::record(out, "div", {&a.impl(), &b.impl()},
                            [saved_a = autograd::save_input(a, 0), saved_b = autograd::save_input(b, 1)](const Tensor& g) {
                              const Tensor& a = saved_a.get();
                              const Tensor& b = saved_b.get();
                              Tensor ga = div(g, b);
                              Tensor gb = neg(div(mul(ga, a), b));
                              return std::vector<Tensor>{sum_to_shape(ga, a.shape()), sum_to_shape(gb, b.shape())};
                            });
  });
}

// ---- comparisons (bool results; no gradient) ---------------------------------------------------
inline Tensor eq(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::eq, a, b); }
inline Tensor ne(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::ne, a, b); }
inline Tensor lt(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::lt, a, b); }
inline Tensor le(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::le, a, b); }
inline Tensor gt(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::gt, a, b); }
inline Tensor ge(const Tensor& a, const Tensor& b) { return ops_detail::compare(BinaryOp::ge, a, b); }
namespace ops_detail {
// A scalar operand (of a comparison, fmod, remainder ...) as a 0-dim tensor of result_type(a, s):
// rounded there for a floating one (bfloat16 0.1 == 0.1 is true; a value beyond the dtype's range becomes inf, as a cast), wrapped
// through int64 for an integer one (int32 1 == 2^32 + 1 is true), as torch.
inline Tensor scalar_operand_tensor(const char* name, const Tensor& a, double s) {
  TINYXF_CHECK(a.defined(), name, ": undefined tensor argument");
  const DType result = result_type(a, s);
  const TensorOptions options(a.device());
  if (is_floating_point(result)) return Tensor::scalar(round_scalar_to(s, result), options.dtype(result));
  return Tensor::scalar(wrap_integer_scalar(name, s, result), options.dtype(result));
}
inline Tensor compare_scalar(const Tensor& a, double s) { return scalar_operand_tensor("comparison", a, s); }
}  // namespace ops_detail
inline Tensor eq(const Tensor& a, double s) { return eq(a, ops_detail::compare_scalar(a, s)); }
inline Tensor ne(const Tensor& a, double s) { return ne(a, ops_detail::compare_scalar(a, s)); }
inline Tensor lt(const Tensor& a, double s) { return lt(a, ops_detail::compare_scalar(a, s)); }
inline Tensor le(const Tensor& a, double s) { return le(a, ops_detail::compare_scalar(a, s)); }
inline Tensor gt(const Tensor& a, double s) { return gt(a, ops_detail::compare_scalar(a, s)); }
inline Tensor ge(const Tensor& a, double s) { return ge(a, ops_detail::compare_scalar(a, s)); }
// Elementwise not of a bool (or any: nonzero is true) tensor, as torch.logical_not.
inline Tensor logical_not(const Tensor& x) { return eq(x, 0.0); }

namespace ops_detail {
// maximum/minimum with torch's gradient: the selected operand gets g; on a tie each operand gets
// g / 2; where either is NaN both get g (torch's derivatives.yaml: where(a == b, g / 2, g) with
// the loser masked to 0, and NaN loses no comparison).
inline Tensor extremum(BinaryOp op, const Tensor& a, const Tensor& b) {
  return binary_arith(op, a, b, result_type(a, b), [op](Tensor out, const Tensor& a, const Tensor& b) {
    return autograd::record(
        out, binary_op_name(op), {&a.impl(), &b.impl()},
        [is_max = op == BinaryOp::maximum, saved_a = autograd::save_input(a, 0),
         saved_b = autograd::save_input(b, 1)](const Tensor& g) {
          const Tensor& a = saved_a.get();
          const Tensor& b = saved_b.get();
          const auto half = Tensor::scalar(0.5, g.options());
          const auto share = [&](const Tensor& wins) { return mul(g, where(eq(a, b), half, wins.to(g.dtype()))); };
          return std::vector<Tensor>{sum_to_shape(share(logical_not(is_max ? lt(a, b) : gt(a, b))), a.shape()),
                                     sum_to_shape(share(logical_not(is_max ? gt(a, b) : lt(a, b))), b.shape())};
        });
  });
}
}  // namespace ops_detail

inline Tensor maximum(const Tensor& a, const Tensor& b) { return ops_detail::extremum(BinaryOp::maximum, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return ops_detail::extremum(BinaryOp::minimum, a, b); }

// ---- tensor (op) scalar (a double scalar; see result_type(tensor, scalar)) ---------------------
inline Tensor add(const Tensor& a, double s) { return ops_detail::scalar_op(UnaryOp::add_scalar, a, s); }
inline Tensor sub(const Tensor& a, double s) {
  ops_detail::check_no_bool_sub(a, nullptr);
  return ops_detail::scalar_op(UnaryOp::sub_scalar, a, s);
}
inline Tensor mul(const Tensor& a, double s) { return ops_detail::scalar_op(UnaryOp::mul_scalar, a, s); }
inline Tensor div(const Tensor& a, double s) {
  const DType r = result_type(a, s);
  return ops_detail::unary_op_as(UnaryOp::div_scalar, a, is_floating_point(r) ? r : default_dtype(), s);
}

// ---- torch's elementwise math: trigonometry, logarithms, rounding, rounded division -----------
// Integer inputs give the default float dtype (sin of an int64 tensor is float32), as torch.
inline Tensor sin(const Tensor& x) { return ops_detail::unary_op(UnaryOp::sin, x); }
inline Tensor cos(const Tensor& x) { return ops_detail::unary_op(UnaryOp::cos, x); }
// exp(x) - 1, accurate for small x.
inline Tensor expm1(const Tensor& x) { return ops_detail::unary_op(UnaryOp::expm1, x); }
inline Tensor log2(const Tensor& x) { return ops_detail::unary_op(UnaryOp::log2, x); }
inline Tensor log10(const Tensor& x) { return ops_detail::unary_op(UnaryOp::log10, x); }
inline Tensor reciprocal(const Tensor& x) { return ops_detail::unary_op(UnaryOp::reciprocal, x); }
inline Tensor erf(const Tensor& x) { return ops_detail::unary_op(UnaryOp::erf, x); }

namespace ops_detail {
// floor/ceil/round/trunc: an integer tensor is returned as a copy, as torch; torch has no bool
// kernels for them.
inline Tensor rounding_op(UnaryOp op, const Tensor& x) {
  TINYXF_CHECK(x.defined(), unary_op_name(op), ": undefined tensor argument");
  check_not_bool(unary_op_name(op), x);
  return is_integral(x.dtype()) ? x.clone() : unary_op(op, x);
}
}  // namespace ops_detail
inline Tensor floor(const Tensor& x) { return ops_detail::rounding_op(UnaryOp::floor, x); }
inline Tensor ceil(const Tensor& x) { return ops_detail::rounding_op(UnaryOp::ceil, x); }
inline Tensor trunc(const Tensor& x) { return ops_detail::rounding_op(UnaryOp::trunc, x); }
// Half-way cases to the even neighbour (round(2.5) is 2), as torch.round. With `decimals` (a
// floating tensor only, as torch): nearbyint(x * 10^d) / 10^d, or nearbyint(x / 10^-d) * 10^-d
// for d < 0, in x's dtype as torch's kernel.
inline Tensor round(const Tensor& x) { return ops_detail::rounding_op(UnaryOp::round, x); }
inline Tensor round(const Tensor& x, std::int64_t decimals) {
  if (decimals == 0) return round(x);
  TINYXF_CHECK(x.defined(), "round: undefined tensor argument");
  TINYXF_CHECK_AS(NotImplementedError, is_floating_point(x.dtype()), "round: decimals=", decimals,
                  " is not implemented for ", dtype_name(x.dtype()), " tensors (floating dtypes only, as torch)");
  const double scale = std::pow(10.0, static_cast<double>(decimals < 0 ? -decimals : decimals));
  // 16-bit x: in float32, rounded once (torch's kernel computes in its opmath float; rounding
  // x * 10^d to bfloat16 first moved 7.46875 to 7.40625 at one decimal)
  const Tensor xc = is_reduced_floating_point(x.dtype()) ? x.to(kFloat32) : x;
  const Tensor r = decimals > 0 ? div(round(mul(xc, scale)), scale) : mul(round(div(xc, scale)), scale);
  return r.to(x.dtype());
}
// x - trunc(x) (the sign of x), with gradient 1, as torch.frac; floating tensors only.
inline Tensor frac(const Tensor& x) {
  TINYXF_CHECK(x.defined(), "frac: undefined tensor argument");
  TINYXF_CHECK_AS(NotImplementedError, is_floating_point(x.dtype()), "frac: not implemented for ",
                  dtype_name(x.dtype()), " tensors (floating dtypes only, as torch)");
  return sub(x, trunc(x));
}

// atan2(a, b): the angle of the point (b, a) in (-pi, pi], as torch.atan2; integer operands give
// the default float dtype.
inline Tensor atan2(const Tensor& a, const Tensor& b) {
  TINYXF_CHECK(a.defined() && b.defined(), "atan2: undefined tensor argument");
  return ops_detail::binary_arith(
      BinaryOp::atan2, a, b, is_floating_point(result_type(a, b)) ? result_type(a, b) : default_dtype(), [](Tensor out, const Tensor& a, const Tensor& b) {
        return autograd::record(out, "atan2", {&a.impl(), &b.impl()},
                                [saved_a = autograd::save_input(a, 0), saved_b = autograd::save_input(b, 1)](const Tensor& g) {
                                  const Tensor& a = saved_a.get();
                                  const Tensor& b = saved_b.get();
                                  // 0 at (0, 0), as torch 2.15 (1 / 0 would make g * 0 * inf NaN there)
                                  const Tensor denominator = add(mul(a, a), mul(b, b));
                                  const Tensor recip = where(eq(denominator, 0.0), Tensor::zeros({}, denominator.options()),
                                                             reciprocal(denominator));
                                  return std::vector<Tensor>{sum_to_shape(mul(mul(g, b), recip), a.shape()),
                                                             sum_to_shape(mul(mul(g, neg(a)), recip), b.shape())};
                                });
      });
}

namespace ops_detail {
// fmod, remainder and the rounded divisions: result_type's dtype (integers stay integers and are
// divided exactly, in their own type). An integer divisor of zero raises torch's
// ZeroDivisionError instead of reaching a kernel. Gradients as torch's derivatives.yaml: fmod and
// remainder pass g to a and give b -g * trunc(a / b) (fmod) or -g * floor(a / b) (remainder); the
// rounded divisions give zeros; floor_divide has none (torch raises in backward).
inline Tensor rounded_division(BinaryOp op, const char* name, const Tensor& a, const Tensor& b,
                               bool differentiable = true) {
  TINYXF_CHECK(a.defined() && b.defined(), name, ": undefined tensor argument");
  const DType result = result_type(a, b);
  TINYXF_CHECK_AS(DTypeError, result != kBool, name, ": not supported for bool tensors");
  if (!is_floating_point(result) && b.numel() != 0 && shape_numel(broadcast_shapes(a.shape(), b.shape(), name)) != 0) {
    NoGradGuard no_grad;
    TINYXF_CHECK(sum(eq(b, 0.0).to(kInt64)).item<std::int64_t>() == 0, name,
                 ": ZeroDivisionError (an integer divisor `other` of ", dtype_name(b.dtype()), " holds 0)");
  }
  return binary_arith(op, a, b, result, [op, name, differentiable](Tensor out, const Tensor& a, const Tensor& b) {
    return autograd::record(out, name, {&a.impl(), &b.impl()},
                            [op, name, differentiable, saved_a = autograd::save_input(a, 0),
                             saved_b = autograd::save_input(b, 1)](const Tensor& g) {
                              TINYXF_CHECK_AS(NotImplementedError, differentiable, "the derivative for ", name,
                                              " is not implemented (as torch); use div(a, b, \"floor\")");
                              const Tensor& a = saved_a.get();
                              const Tensor& b = saved_b.get();
                              if (op != BinaryOp::fmod && op != BinaryOp::remainder)
                                return std::vector<Tensor>{Tensor::zeros(a.shape(), g.options()),
                                                           Tensor::zeros(b.shape(), g.options())};
                              const Tensor quotient = rounded_division(
                                  op == BinaryOp::fmod ? BinaryOp::div_trunc : BinaryOp::div_floor, "div", a, b);
                              return std::vector<Tensor>{sum_to_shape(g, a.shape()),
                                                         sum_to_shape(neg(mul(g, quotient)), b.shape())};
                            });
  });
}
}  // namespace ops_detail

// C's fmod: the remainder has the sign of a (torch.fmod).
inline Tensor fmod(const Tensor& a, const Tensor& b) { return ops_detail::rounded_division(BinaryOp::fmod, "fmod", a, b); }
inline Tensor fmod(const Tensor& a, double s) { return fmod(a, ops_detail::scalar_operand_tensor("fmod", a, s)); }
// Python's %: the remainder has the sign of b (torch.remainder).
inline Tensor remainder(const Tensor& a, const Tensor& b) {
  return ops_detail::rounded_division(BinaryOp::remainder, "remainder", a, b);
}
inline Tensor remainder(const Tensor& a, double s) {
  return remainder(a, ops_detail::scalar_operand_tensor("remainder", a, s));
}
// torch.div with rounding_mode "trunc" (toward zero) or "floor" (down); integers stay integers.
// The mode None is the two-argument div.
inline Tensor div(const Tensor& a, const Tensor& b, std::string_view rounding_mode) {
  TINYXF_CHECK_AS(ValueError, rounding_mode == "trunc" || rounding_mode == "floor",
                  "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", rounding_mode, "'");
  return ops_detail::rounded_division(rounding_mode == "trunc" ? BinaryOp::div_trunc : BinaryOp::div_floor, "div", a, b);
}
namespace ops_detail {
// The scalar divisor of a rounded division: a 16-bit result divides by it in float32, unrounded
// to 16 bits, as torch (bfloat16 1 divided by 0.1 truncates to 10, not to the 9 of 1 / bf16(0.1)).
inline Tensor scalar_divisor(const char* name, const Tensor& a, double s) {
  if (is_reduced_floating_point(result_type(a, s))) return Tensor::scalar(s, TensorOptions(a.device()).dtype(kFloat32));
  return scalar_operand_tensor(name, a, s);
}
}  // namespace ops_detail
inline Tensor div(const Tensor& a, double s, std::string_view rounding_mode) {
  return div(a, ops_detail::scalar_divisor("div", a, s), rounding_mode);
}
// Python's //: div(a, b, "floor") without a derivative, as torch.floor_divide.
inline Tensor floor_divide(const Tensor& a, const Tensor& b) {
  return ops_detail::rounded_division(BinaryOp::div_floor, "floor_divide", a, b, false);
}
inline Tensor floor_divide(const Tensor& a, double s) {
  return floor_divide(a, ops_detail::scalar_divisor("floor_divide", a, s));
}

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator-(double s, const Tensor& a) {
  ops_detail::check_no_bool_sub(a, nullptr);
  return ops_detail::scalar_op(UnaryOp::rsub_scalar, a, s);
}
inline Tensor operator/(double s, const Tensor& a) {
  const DType r = result_type(a, s);
  return ops_detail::unary_op_as(UnaryOp::rdiv_scalar, a, is_floating_point(r) ? r : default_dtype(), s);
}

// ---- where / masked_fill -----------------------------------------------------------------------
// out = cond ? a : b, broadcasting all three; cond is bool or uint8 (nonzero: true); a and b are
// promoted to their result_type. Differentiable in a and b.
inline Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in) {
  ops_detail::check_same_device("where", a_in, b_in);
  ops_detail::check_same_device("where", cond, a_in);
  TINYXF_CHECK_AS(DTypeError, cond.dtype() == kBool || cond.dtype() == kUInt8,
                  "where: expected a condition of dtype bool or uint8, got ", dtype_name(cond.dtype()));
  const DType result = result_type(a_in, b_in);
  const DType compute = ops_detail::compute_dtype(result);
  const Tensor a = ops_detail::as_dtype(a_in, compute), b = ops_detail::as_dtype(b_in, compute);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.options());
  if (out.numel())
    a.impl()->backend().where(ops_detail::kv(out), ops_detail::kv_broadcast(cond, shape),
                              ops_detail::kv_broadcast(a, shape), ops_detail::kv_broadcast(b, shape));
  if (is_floating_point(compute))
    out = autograd::record(out, "where", {&a.impl(), &b.impl()},
                           [saved_cond = autograd::save_input(cond, 0), sa = a.shape(), sb = b.shape()](const Tensor& g) {
                             const Tensor& cond = saved_cond.get();
                             auto zero = Tensor::zeros({}, g.options());
                             return std::vector<Tensor>{sum_to_shape(where(cond, g, zero), sa),
                                                        sum_to_shape(where(cond, zero, g), sb)};
                           });
  return ops_detail::as_dtype(out, result);
}

// x with `value` wherever mask is true (bool, or any integer dtype: nonzero is true). x and mask
// broadcast together, so a mask larger than x gives a larger result, as torch's out-of-place
// masked_fill. A value that overflows x's dtype raises, as torch (float16 with -1e9).
inline Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  TINYXF_CHECK(x.defined() && mask.defined(), "masked_fill: undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, !is_floating_point(mask.dtype()), "masked_fill: mask must be a bool or integer tensor, got ",
                  dtype_name(mask.dtype()));
  const Tensor cond = mask.dtype() == kBool || mask.dtype() == kUInt8 ? mask : ne(mask, 0.0);
  broadcast_shapes(x.shape(), cond.shape(), "masked_fill");  // an error naming this op, not where
  return where(cond, Tensor::scalar(checked_fill_value("masked_fill", value, x.dtype()), x.options()), x);
}

// ---- Tensor's in-place arithmetic (declared in core/tensor.hpp) ---------------------------------
// Each checks what torch checks (autograd, the result dtype's cast to self's, the broadcast shape,
// memory overlap), then writes straight into self's memory when the kernel computes in self's
// dtype: the op runs with out = self (any strides; every elementwise kernel reads an element before
// writing it, so an operand that is exactly self is fine). Otherwise (bfloat16/float16 computed in
// float32, an int32 self with an int64 other) the out-of-place op's result is copied in: the
// allocation the out-of-place op makes anyway.
namespace ops_detail {

// torch's canCast: no floating result into an integer or bool tensor, no integer one into bool.
inline void check_inplace_cast(const char* op, DType result, DType self) {
  const bool castable = (!is_floating_point(result) || is_floating_point(self)) && (result == kBool || self != kBool);
  TINYXF_CHECK_AS(DTypeError, castable, op, ": result type ", dtype_name(result),
                  " can't be cast to the desired output type ", dtype_name(self));
}

// An operand broadcasts to self's shape; self never grows.
inline void check_inplace_shape(const char* op, const Tensor& self, const Shape& operand) {
  const Shape shape = broadcast_shapes(self.shape(), operand, op);
  TINYXF_CHECK_AS(ShapeError, shape == self.shape(), op, ": output with shape ", shape_str(self.shape()),
                  " doesn't match the broadcast shape ", shape_str(shape));
}

// Whether the kernel can compute `result` straight into self's memory.
inline bool computes_in_self(DType result, const Tensor& self, std::initializer_list<const Tensor*> operands) {
  if (result != self.dtype()) return false;
  if (compute_dtype(result) == result) return true;
  bool native = native_16bit(result, {&self});
  for (const Tensor* t : operands) native = native && native_16bit(result, {t});
  return native;
}

inline void copy_into(const Tensor& self, const Tensor& value) { backend_of(self).copy(kv(self), kv(value)); }

// self = self (op) other, other broadcast; `out_of_place()` computes the same as a new tensor.
template <class OutOfPlace>
void binary_into(const char* name, BinaryOp op, const Tensor& self, const Tensor& other, DType result,
                 OutOfPlace&& out_of_place) {
  check_same_device(name, self, other);
  check_inplace_shape(name, self, other.shape());
  check_inplace_cast(name, result, self.dtype());
  assert_no_internal_overlap(*self.impl(), name);
  assert_no_partial_overlap(*self.impl(), *other.impl(), name);
  if (self.numel() == 0) return;
  NoGradGuard no_grad;
  if (computes_in_self(result, self, {&other}))
    run_binary(backend_of(self), self.device().index, op, kv(self), kv(self),
               kv_broadcast(as_dtype(other, result), self.shape()));
  else
    copy_into(self, out_of_place());
}

// self = op(self, s): a scalar op (s prepared as the out-of-place op does) or a plain unary one.
inline void unary_into(const char* name, UnaryOp op, const Tensor& self, DType result, double s = 0.0) {
  check_inplace_cast(name, result, self.dtype());
  assert_no_internal_overlap(*self.impl(), name);
  if (self.numel() == 0) return;
  NoGradGuard no_grad;
  if (computes_in_self(result, self, {}))
    run_unary(backend_of(self), self.device().index, op, kv(self), kv(self), s);
  else
    copy_into(self, unary_op_as(op, self, result, s));
}

// torch: an integer result takes an integral alpha only (a C++ double counts as integral when its
// value is, as result_type(tensor, double) does).
inline void check_integral_alpha(const char* name, DType result, double alpha) {
  TINYXF_CHECK_AS(ValueError, is_floating_point(result) || std::trunc(alpha) == alpha, name,
                  ": for integral input tensors, argument alpha must not be a floating point number, got ", alpha);
}

// add_/sub_: self (+|-)= alpha * other. torch computes self + alpha * other in one kernel; here a
// non-1 alpha scales other first (in float32 for 16-bit operands), so float results may differ
// from torch's fused multiply-add in the last bit.
inline void add_into(const char* name, const Tensor& self, const Tensor& other, double alpha, bool subtract) {
  if (subtract) check_no_bool_sub(self, &other);
  const DType result = result_type(self, other);
  check_inplace_cast(name, result, self.dtype());
  check_integral_alpha(name, result, alpha);
  Tensor operand = other;
  if (result == kBool) {  // alpha as a bool: other && alpha
    if (alpha == 0.0) operand = Tensor::zeros(other.shape(), other.options());
  } else if (alpha != 1.0) {
    check_inplace_shape(name, self, other.shape());  // before the scaling's work, on other itself
    assert_no_partial_overlap(*self.impl(), *other.impl(), name);
    NoGradGuard no_grad;
    operand = mul(as_dtype(other, compute_dtype(result)), alpha);
  }
  const BinaryOp op = subtract ? BinaryOp::sub : result == kBool ? BinaryOp::maximum : BinaryOp::add;
  binary_into(name, op, self, operand, result_type(self, operand),
              [&] { return subtract ? sub(self, operand) : add(self, operand); });
}

// self += alpha * s, with the out-of-place add's scalar rules.
inline void add_scalar_into(const char* name, const Tensor& self, double s, double alpha) {
  check_integral_alpha(name, result_type(self, s), alpha);
  const DType result = result_type(self, s * alpha);
  unary_into(name, UnaryOp::add_scalar, self, result, scalar_operand(UnaryOp::add_scalar, s * alpha, result));
}

inline DType div_result_dtype(DType r) { return is_floating_point(r) ? r : default_dtype(); }

// The bound of clamp_ as a 0-dim tensor of self's dtype (rounded or wrapped as the scalar ops do).
inline Tensor clamp_bound(const Tensor& self, double bound) {
  const double v = is_integral(self.dtype()) ? wrap_integer_scalar("clamp_", bound, self.dtype())
                                             : round_scalar_to(bound, self.dtype());
  return Tensor::scalar(v, self.options());
}

// torch's masked_fill_: a bool mask only (the out-of-place masked_fill takes integer masks too),
// broadcast to self's shape. As torch (which warns that it is deprecated), an expanded self is
// written, not refused.
inline void masked_fill_into(const Tensor& self, const Tensor& mask, double value) {
  check_same_device("masked_fill_", self, mask);
  TINYXF_CHECK_AS(DTypeError, mask.dtype() == kBool, "masked_fill_: only supports boolean masks, but got mask with dtype ",
                  dtype_name(mask.dtype()));
  check_inplace_shape("masked_fill_", self, mask.shape());
  assert_no_partial_overlap(*self.impl(), *mask.impl(), "masked_fill_");
  value = checked_fill_value("masked_fill_", value, self.dtype());
  if (self.numel() == 0) return;
  NoGradGuard no_grad;
  if (compute_dtype(self.dtype()) != self.dtype()) return copy_into(self, masked_fill(self, mask, value));
  const Tensor filler = Tensor::scalar(value, self.options());
  backend_of(self).where(kv(self), kv_broadcast(mask, self.shape()), kv_broadcast(filler, self.shape()), kv(self));
}

// clamp_: maximum with min, then minimum with max, each computed into self (so min > max gives
// max everywhere, and a NaN element or bound gives NaN, as torch).
inline void clamp_into(const Tensor& self, std::optional<double> min, std::optional<double> max) {
  TINYXF_CHECK_AS(ValueError, min || max, "clamp_: at least one of 'min' or 'max' must not be None");
  DType result = self.dtype();
  for (const auto& bound : {min, max})
    if (bound) result = promote_types(result, result_type(self, *bound));
  check_inplace_cast("clamp_", result, self.dtype());
  const auto extremum_into = [&](BinaryOp op, double bound) {
    const Tensor b = clamp_bound(self, bound);
    binary_into("clamp_", op, self, b, self.dtype(), [&] { return extremum(op, self, b); });
  };
  if (min) extremum_into(BinaryOp::maximum, *min);
  if (max) extremum_into(BinaryOp::minimum, *max);
}

}  // namespace ops_detail

// ---- in-place ops inside autograd -----------------------------------------------------------
// A write recorded in the graph (grad mode, self or the operand requires grad) makes self the
// result of a new node whose inputs are self's previous history and the operand, as torch's
// rebase_history. What the node saves is what torch's in-place derivative saves: self's values
// before the write (a copy, torch's original_self) only where the derivative reads them, self
// itself (the result) where it reads the result (exp_, sqrt_, relu_, sigmoid_, tanh_), so a later
// write into self makes that backward raise the version-counter error, as in torch.
namespace ops_detail {

// The previous values of self, for a derivative that reads them.
inline Tensor values_before_write(const Tensor& self) {
  NoGradGuard no_grad;
  return self.clone();
}

// A gradient of an operand: summed over the dims it was broadcast along, in its dtype.
inline Tensor operand_grad(const Tensor& g, const Shape& shape, DType dtype) {
  return as_dtype(sum_to_shape(g, shape), dtype);
}

}  // namespace ops_detail

// Every in-place method: the autograd checks, the write, the version bump and, when the write is
// recorded, the node (named `op`: "add_" reads AddBackward). `make_backward(before, after)` gives
// the node's backward from the saved previous self (defined when `reads_before`) and self after
// the write; it returns one gradient for self's previous history, then one for `operand` if given.
template <class Write, class MakeBackward>
Tensor& Tensor::write_inplace_(const char* op, const char* out_of_place, const Tensor* operand, bool reads_before,
                               Write&& write, MakeBackward&& make_backward) {
  checked();
  TINYXF_CHECK(!operand || operand->defined(), op, ": undefined tensor argument");
  if (!autograd::records_inplace(*this, op, out_of_place, {operand})) {
    write();
    impl_->bump_version();
    return *this;
  }
  const Tensor before = reads_before ? ops_detail::values_before_write(*this) : Tensor();
  write();
  impl_->bump_version();
  auto backward = make_backward(autograd::save_input(before, 0), autograd::save_output(*this));
  if (operand)
    autograd::record(*this, op, {&impl_, &operand->impl()}, std::move(backward));
  else
    autograd::record(*this, op, {&impl_}, std::move(backward));
  return *this;
}

namespace ops_detail {
// The node of self (+|-)= alpha * other: the identity for self, sign * alpha * g for other.
inline auto add_inplace_backward(const Tensor& other, double scale) {
  return [scale, shape = other.shape(), dtype = other.dtype()](const autograd::SavedTensor&, const autograd::SavedTensor&) {
    return [scale, shape, dtype](const Tensor& g) {
      return std::vector<Tensor>{g, operand_grad(scale == 1.0 ? g : mul(g, scale), shape, dtype)};
    };
  };
}
// The node of a scalar or unary op written in place (self = op(self, alpha)).
inline auto unary_inplace_backward(UnaryOp op, double alpha) {
  return [op, alpha](autograd::SavedTensor before, autograd::SavedTensor after) {
    return [op, alpha, before = std::move(before), after = std::move(after)](const Tensor& g) {
      return std::vector<Tensor>{unary_grad(op, alpha, g, before, after)};
    };
  };
}
}  // namespace ops_detail

inline Tensor& Tensor::add_(const Tensor& other, double alpha) {
  return write_inplace_("add_", "x = x + y", &other, false,
                        [&] { ops_detail::add_into("add_", *this, other, alpha, false); },
                        ops_detail::add_inplace_backward(other, alpha));
}
inline Tensor& Tensor::sub_(const Tensor& other, double alpha) {
  return write_inplace_("sub_", "x = x - y", &other, false,
                        [&] { ops_detail::add_into("sub_", *this, other, alpha, true); },
                        ops_detail::add_inplace_backward(other, -alpha));
}
// mul_ saves other for self's gradient and self's previous values for other's, each only when that
// gradient is needed (as torch).
inline Tensor& Tensor::mul_(const Tensor& other) {
  const bool need_self = requires_grad(), need_other = autograd::needs_grad(other);
  return write_inplace_(
      "mul_", "x = x * y", &other, need_other,
      [&] {
        ops_detail::binary_into("mul_", BinaryOp::mul, *this, other, result_type(*this, other),
                                [&] { return tinyxf::mul(*this, other); });
      },
      [&](autograd::SavedTensor before, const autograd::SavedTensor&) {
        return [before = std::move(before), saved_other = need_self ? autograd::save_input(other, 1) : autograd::SavedTensor(),
                self_dtype = dtype(), shape = other.shape(), dtype = other.dtype()](const Tensor& g) {
          return std::vector<Tensor>{
              saved_other.defined() ? ops_detail::as_dtype(tinyxf::mul(g, saved_other.get()), self_dtype) : Tensor(),
              before.defined() ? ops_detail::operand_grad(tinyxf::mul(g, before.get()), shape, dtype) : Tensor()};
        };
      });
}
// div_: g / other for self; -g * self_before / other^2 for other (torch's div_ derivative).
inline Tensor& Tensor::div_(const Tensor& other) {
  const bool need_other = autograd::needs_grad(other);
  return write_inplace_(
      "div_", "x = x / y", &other, need_other,
      [&] {
        ops_detail::binary_into("div_", BinaryOp::div, *this, other,
                                ops_detail::div_result_dtype(result_type(*this, other)), [&] { return tinyxf::div(*this, other); });
      },
      [&](autograd::SavedTensor before, const autograd::SavedTensor&) {
        return [before = std::move(before), saved_other = autograd::save_input(other, 1), self_dtype = dtype(),
                shape = other.shape(), dtype = other.dtype()](const Tensor& g) {
          const Tensor& o = saved_other.get();
          const Tensor gs = tinyxf::div(g, o);
          return std::vector<Tensor>{
              ops_detail::as_dtype(gs, self_dtype),
              before.defined() ? ops_detail::operand_grad(tinyxf::neg(tinyxf::div(tinyxf::mul(gs, before.get()), o)), shape, dtype) : Tensor()};
        };
      });
}

// The scalar forms: self (op)= s with the out-of-place scalar op's dtype rules (an integral s keeps
// an integer self's dtype, a fractional one makes the result float32: refused for an integer self).
// Recorded, their derivative is the scalar op's (the scalar as the floating result uses it).
inline Tensor& Tensor::add_(double other, double alpha) {
  return write_inplace_("add_", "x = x + s", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::add_scalar),
                        [&] { ops_detail::add_scalar_into("add_", *this, other, alpha); },
                        ops_detail::unary_inplace_backward(UnaryOp::add_scalar, other * alpha));
}
inline Tensor& Tensor::sub_(double other, double alpha) {
  return write_inplace_(
      "sub_", "x = x - s", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::add_scalar),
      [&] {
        ops_detail::check_no_bool_sub(*this, nullptr);
        ops_detail::add_scalar_into("sub_", *this, -other, alpha);
      },
      ops_detail::unary_inplace_backward(UnaryOp::add_scalar, -other * alpha));
}
inline Tensor& Tensor::mul_(double other) {
  return write_inplace_(
      "mul_", "x = x * s", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::mul_scalar),
      [&] {
        const DType result = result_type(*this, other);
        ops_detail::unary_into("mul_", UnaryOp::mul_scalar, *this, result,
                               ops_detail::scalar_operand(UnaryOp::mul_scalar, other, result));
      },
      ops_detail::unary_inplace_backward(UnaryOp::mul_scalar, other));
}
inline Tensor& Tensor::div_(double other) {
  return write_inplace_(
      "div_", "x = x / s", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::div_scalar),
      [&] {
        ops_detail::unary_into("div_", UnaryOp::div_scalar, *this,
                               ops_detail::div_result_dtype(result_type(*this, other)), other);
      },
      ops_detail::unary_inplace_backward(UnaryOp::div_scalar, other));
}

// masked_fill_: no gradient where the mask is set; a 0-dim value tensor gets the sum of the rest.
namespace ops_detail {
inline auto masked_fill_inplace_backward(const Tensor& mask, const Tensor* value) {
  return [mask, value_dtype = value ? std::optional<DType>(value->dtype()) : std::nullopt](
             const autograd::SavedTensor&, const autograd::SavedTensor&) {
    return [mask, value_dtype](const Tensor& g) {
      std::vector<Tensor> grads{masked_fill(g, mask, 0.0)};
      if (value_dtype) grads.push_back(as_dtype(sum(sub(g, grads[0])), *value_dtype));
      return grads;
    };
  };
}
}  // namespace ops_detail
inline Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  return write_inplace_("masked_fill_", "x = masked_fill(x, mask, value)", nullptr, false,
                        [&] { ops_detail::masked_fill_into(*this, mask, value); },
                        ops_detail::masked_fill_inplace_backward(mask, nullptr));
}
inline Tensor& Tensor::masked_fill_(const Tensor& mask, const Tensor& value) {
  return write_inplace_(
      "masked_fill_", "x = masked_fill(x, mask, value)", &value, false,
      [&] {
        TINYXF_CHECK_AS(ShapeError, value.dim() == 0,
                        "masked_fill_: only supports a 0-dimensional value tensor, but got tensor with ", value.dim(),
                        " dimension(s).");
        ops_detail::masked_fill_into(*this, mask, value.item<double>());
      },
      ops_detail::masked_fill_inplace_backward(mask, &value));
}

// clamp_: the gradient passes where the previous self was within [min, max] (torch's clamp_backward;
// a NaN element gets none).
inline Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) {
  return write_inplace_("clamp_", "x = minimum(maximum(x, min), max)", nullptr, true,
                        [&] { ops_detail::clamp_into(*this, min, max); },
                        [&](autograd::SavedTensor before, const autograd::SavedTensor&) {
                          return [before = std::move(before), min, max](const Tensor& g) {
                            const Tensor& x = before.get();
                            Tensor gi = g;
                            if (min) gi = tinyxf::masked_fill(gi, tinyxf::logical_not(tinyxf::ge(x, *min)), 0.0);
                            if (max) gi = tinyxf::masked_fill(gi, tinyxf::logical_not(tinyxf::le(x, *max)), 0.0);
                            return std::vector<Tensor>{gi};
                          };
                        });
}

// The unary ones: the op's kernel run with out = self.
inline Tensor& Tensor::neg_() {
  return write_inplace_(
      "neg_", "x = -x", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::neg),
      [&] {
        ops_detail::check_no_bool_neg("neg_", *this);
        ops_detail::unary_into("neg_", UnaryOp::neg, *this, dtype());
      },
      ops_detail::unary_inplace_backward(UnaryOp::neg, 0.0));
}
inline Tensor& Tensor::abs_() {
  return write_inplace_(
      "abs_", "x = abs(x)", nullptr, ops_detail::unary_backward_reads_x(UnaryOp::abs),
      [&] {
        ops_detail::check_not_bool("abs_", *this);
        ops_detail::unary_into("abs_", UnaryOp::abs, *this, dtype());
      },
      ops_detail::unary_inplace_backward(UnaryOp::abs, 0.0));
}
inline Tensor& Tensor::relu_() { return unary_inplace_("relu_", "x = relu(x)", UnaryOp::relu); }
// exp_, log_, sqrt_, sigmoid_, tanh_: float results, so an integer self raises torch's cast error
// (relu keeps an integer self's dtype; a bool one is refused).
inline Tensor& Tensor::unary_inplace_(const char* op, const char* out_of_place, UnaryOp unary) {
  return write_inplace_(
      op, out_of_place, nullptr, ops_detail::unary_backward_reads_x(unary),
      [&] {
        if (unary == UnaryOp::relu) ops_detail::check_not_bool(op, *this);
        ops_detail::unary_into(op, unary, *this, ops_detail::unary_result_dtype(unary, dtype()));
      },
      ops_detail::unary_inplace_backward(unary, 0.0));
}
inline Tensor& Tensor::exp_() { return unary_inplace_("exp_", "x = exp(x)", UnaryOp::exp); }
inline Tensor& Tensor::log_() { return unary_inplace_("log_", "x = log(x)", UnaryOp::log); }
inline Tensor& Tensor::sqrt_() { return unary_inplace_("sqrt_", "x = sqrt(x)", UnaryOp::sqrt); }
inline Tensor& Tensor::sigmoid_() { return unary_inplace_("sigmoid_", "x = sigmoid(x)", UnaryOp::sigmoid); }
inline Tensor& Tensor::tanh_() { return unary_inplace_("tanh_", "x = tanh(x)", UnaryOp::tanh); }

// copy_: self takes src's values (converted to self's dtype and device); recorded, self's previous
// history gets a zero gradient and src the incoming one, back in src's dtype and on its device
// (torch's CopyBackwards).
inline Tensor& Tensor::copy_(const Tensor& src) {
  return write_inplace_(
      "copy_", "x = y.clone() (or y.to(...))", &src, false,
      [&] {
        assert_no_internal_overlap(*impl_, "copy_");
        assert_no_partial_overlap(*impl_, src.checked(), "copy_");
        TINYXF_CHECK_AS(ShapeError, src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()),
                        " differs from destination shape ", shape_str(shape()));
        NoGradGuard no_grad;
        const Tensor s = src.device() == device() ? src : src.to(device());
        impl_->backend().copy(impl_->view(), s.impl()->view());
      },
      [&](const autograd::SavedTensor&, const autograd::SavedTensor&) {
        return [device = src.device(), dtype = src.dtype()](const Tensor& g) {
          return std::vector<Tensor>{Tensor::zeros(g.shape(), g.options()), g.to(device).to(dtype)};
        };
      });
}

// ---- member shortcuts (declared in core/tensor.hpp): the free functions above ------------------
inline Tensor Tensor::neg() const { return tinyxf::neg(*this); }
inline Tensor Tensor::exp() const { return tinyxf::exp(*this); }
inline Tensor Tensor::log() const { return tinyxf::log(*this); }
inline Tensor Tensor::log1p() const { return tinyxf::log1p(*this); }
inline Tensor Tensor::sqrt() const { return tinyxf::sqrt(*this); }
inline Tensor Tensor::rsqrt() const { return tinyxf::rsqrt(*this); }
inline Tensor Tensor::tanh() const { return tinyxf::tanh(*this); }
inline Tensor Tensor::sigmoid() const { return tinyxf::sigmoid(*this); }
inline Tensor Tensor::relu() const { return tinyxf::relu(*this); }
inline Tensor Tensor::abs() const { return tinyxf::abs(*this); }
inline Tensor Tensor::square() const { return tinyxf::square(*this); }
inline Tensor Tensor::logical_not() const { return tinyxf::logical_not(*this); }
inline Tensor Tensor::pow(double exponent) const { return tinyxf::pow(*this, exponent); }
inline Tensor Tensor::add(const Tensor& other) const { return tinyxf::add(*this, other); }
inline Tensor Tensor::add(double other) const { return tinyxf::add(*this, other); }
inline Tensor Tensor::sub(const Tensor& other) const { return tinyxf::sub(*this, other); }
inline Tensor Tensor::sub(double other) const { return tinyxf::sub(*this, other); }
inline Tensor Tensor::mul(const Tensor& other) const { return tinyxf::mul(*this, other); }
inline Tensor Tensor::mul(double other) const { return tinyxf::mul(*this, other); }
inline Tensor Tensor::div(const Tensor& other) const { return tinyxf::div(*this, other); }
inline Tensor Tensor::div(double other) const { return tinyxf::div(*this, other); }
inline Tensor Tensor::eq(const Tensor& other) const { return tinyxf::eq(*this, other); }
inline Tensor Tensor::eq(double other) const { return tinyxf::eq(*this, other); }
inline Tensor Tensor::ne(const Tensor& other) const { return tinyxf::ne(*this, other); }
inline Tensor Tensor::ne(double other) const { return tinyxf::ne(*this, other); }
inline Tensor Tensor::lt(const Tensor& other) const { return tinyxf::lt(*this, other); }
inline Tensor Tensor::lt(double other) const { return tinyxf::lt(*this, other); }
inline Tensor Tensor::le(const Tensor& other) const { return tinyxf::le(*this, other); }
inline Tensor Tensor::le(double other) const { return tinyxf::le(*this, other); }
inline Tensor Tensor::gt(const Tensor& other) const { return tinyxf::gt(*this, other); }
inline Tensor Tensor::gt(double other) const { return tinyxf::gt(*this, other); }
inline Tensor Tensor::ge(const Tensor& other) const { return tinyxf::ge(*this, other); }
inline Tensor Tensor::ge(double other) const { return tinyxf::ge(*this, other); }
inline Tensor Tensor::maximum(const Tensor& other) const { return tinyxf::maximum(*this, other); }
inline Tensor Tensor::minimum(const Tensor& other) const { return tinyxf::minimum(*this, other); }
inline Tensor Tensor::where(const Tensor& condition, const Tensor& other) const {
  return tinyxf::where(condition, *this, other);
}
inline Tensor Tensor::masked_fill(const Tensor& mask, double value) const {
  return tinyxf::masked_fill(*this, mask, value);
}

}  // namespace tinyxf
