#pragma once
// torch functions composed from the differentiable ops (elementwise, reductions, views, where,
// index_select, cat): no kernel or autograd node of their own, so every backend runs them and
// their gradients come from the ops they are made of. Each is arranged so that those gradients
// are torch's, kinks included (the `where` picks the branch torch's backward formula picks), and
// a branch `where` does not select gets an input it cannot overflow on (its zero gradient would
// otherwise meet an inf and give NaN).
//   reductions:  logsumexp, var, std, var_mean, std_mean
//   clamping:    clamp (double or tensor bounds), hardtanh, relu6, nan_to_num
//   activations: softplus, elu, selu, celu, leaky_relu, hardsigmoid, hardswish, mish, logsigmoid,
//                softsign
//   layout:      tril, triu, flip, roll, chunk, repeat, one_hot
//   tests:       isnan, isinf, isfinite
//   blending:    lerp
//   scans:       cumsum (O(n log n): see there)
// 16-bit floating inputs are computed in float32 and rounded once at the end, as torch's opmath.
// The Tensor methods of the same names (x.clamp(0, 1), x.var(-1), ...) are defined at the end.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "tinyxf/ops/elementwise.hpp"
#include "tinyxf/ops/nn.hpp"
#include "tinyxf/ops/reduce.hpp"
#include "tinyxf/ops/shape.hpp"

namespace tinyxf {

namespace ops_detail {

// A DTypeError for a non-floating x, as torch's "not implemented for 'Long'".
inline void require_floating(const char* op, const Tensor& x) {
  TINYXF_CHECK(x.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, is_floating_point(x.dtype()), op, ": not implemented for ", dtype_name(x.dtype()),
                  " (expected a floating point tensor)");
}

// x in the dtype it is computed in: float32 for bfloat16/float16 (rounded back by the caller).
inline Tensor widened(const Tensor& x) { return is_reduced_floating_point(x.dtype()) ? x.to(kFloat32) : x; }

inline Tensor scalar_like(double value, const Tensor& x) { return Tensor::scalar(value, x.options()); }

// x clamped to [lo, hi] (either optional) with no gradient; NaN stays NaN, and lo > hi gives hi
// everywhere, as torch.clamp's forward.
inline Tensor clamp_values(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  NoGradGuard ng;
  Tensor v = x.detach();
  if (lo) v = where(lt(v, *lo), scalar_like(*lo, v), v);
  if (hi) v = where(gt(v, *hi), scalar_like(*hi, v), v);
  return v;
}

// Sorted, distinct dims of x (every dim for an empty list, as sum's dim=[]).
inline std::vector<int> reduction_dims(const Tensor& x, const std::vector<std::int64_t>& dims, const char* op) {
  return normalize_dims(dims.empty() ? all_dims(x) : dims, x.shape().size(), op);
}

// elu's exp(x) - 1, composed so that its slope is exp(x) as torch's elu_backward (torch's expm1
// kernel, tinyxf::expm1, has the slope y + 1, which is 0 in the tails where y rounds to -1): near
// 0 (|x| < 1/2), where exp(x) - 1 would cancel, 2t / (1 - t) with t = tanh(x / 2); elsewhere
// exp(x) - 1 itself, whose slope exp(x) does not vanish in the tails as tanh's does (celu with a
// negative alpha feeds it positive x). Each branch gets inputs it is accurate and finite on.
inline Tensor elu_expm1(const Tensor& x) {
  const Tensor near_zero = lt(abs(x), 0.5);
  const Tensor t = tanh(mul(where(near_zero, x, scalar_like(0.0, x)), 0.5));
  const Tensor far = where(near_zero, scalar_like(-1.0, x), x);
  return where(near_zero, div(mul(t, 2.0), 1.0 - t), sub(exp(far), 1.0));
}

// torch's elu family: x > 0 ? x * scale : expm1(x * input_scale) * alpha * scale. The kink at 0
// takes the negative side's slope, as torch's elu_backward (x <= 0).
inline Tensor elu_family(const char* op, const Tensor& x_in, double alpha, double scale, double input_scale) {
  require_floating(op, x_in);
  const Tensor x = widened(x_in);
  const Tensor positive = gt(x, 0.0);
  const Tensor safe = where(positive, scalar_like(0.0, x), x);  // exp never sees a large x
  const Tensor negative_side = mul(elu_expm1(mul(safe, input_scale)), alpha * scale);
  return where(positive, mul(x, scale), negative_side).to(x_in.dtype());
}

// x where keep is true, `fallback` (no gradient) elsewhere: the gradient is g * keep.
inline Tensor keep_or(const Tensor& keep, const Tensor& x, const Tensor& fallback) {
  return where(keep, x, fallback.detach());
}

}  // namespace ops_detail

// ---- reductions --------------------------------------------------------------------------------

// torch.logsumexp: log(sum(exp(x))) over dims (every dim for {}), stable: the max is subtracted
// first (an infinite max is replaced by 0, so a row of -inf gives -inf and one with +inf gives
// +inf, as torch). Integer and bool inputs give float32. Gradient: softmax over dims (NaN on a
// row of -inf, as torch's exp(x - result)).
inline Tensor logsumexp(const Tensor& x_in, const std::vector<std::int64_t>& dims, bool keepdim = false) {
  TINYXF_CHECK(x_in.defined(), "logsumexp: undefined tensor argument");
  const Tensor x = is_floating_point(x_in.dtype()) ? ops_detail::widened(x_in) : x_in.to(default_dtype());
  const auto d = ops_detail::reduction_dims(x, dims, "logsumexp");
  Tensor m = x.detach();  // the shift is a constant: its gradient cancels
  if (x.numel() == 0) {
    m = Tensor::zeros(ops_detail::reduced_shape(x.shape(), d, true), x.options());
  } else {
    NoGradGuard ng;
    for (int i : d) m = max(m, i, true);
    m = masked_fill(m, eq(abs(m), std::numeric_limits<double>::infinity()), 0.0);
  }
  Tensor out = add(log(sum(exp(sub(x, m)), std::vector<std::int64_t>(d.begin(), d.end()), true)), m);
  if (!keepdim) out = out.reshape(ops_detail::reduced_shape(x.shape(), d, false));
  return is_floating_point(x_in.dtype()) ? out.to(x_in.dtype()) : out;
}

// torch.var over dims (every dim for {}): sum((x - mean)^2) / max(0, N - correction), N the
// number of reduced elements; N - correction <= 0 gives inf (or NaN for 0 / 0), as torch.
// Floating inputs only. Gradient 2 (x - mean) / (N - correction); where that divisor is <= 0
// it is non-finite (torch: inf everywhere; here inf of the sign of x - mean, or NaN).
inline Tensor var(const Tensor& x_in, const std::vector<std::int64_t>& dims = {}, double correction = 1.0,
                  bool keepdim = false) {
  TINYXF_CHECK(x_in.defined(), "var: undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, is_floating_point(x_in.dtype()), "var: std and var only support floating point dtypes, got ",
                  dtype_name(x_in.dtype()));
  const Tensor x = ops_detail::widened(x_in);
  const auto d = ops_detail::reduction_dims(x, dims, "var");
  const std::vector<std::int64_t> d64(d.begin(), d.end());
  std::int64_t count = 1;
  for (int i : d) count *= x.dim() == 0 ? 1 : x.shape()[static_cast<std::size_t>(i)];  // 0-d: dim 0 or -1
  // The mean's own gradient sums to zero over the reduced dims, so it is left out (detached).
  const Tensor centered = sub(x, mean(x, d64, true).detach());
  const Tensor out = div(sum(mul(centered, centered), d64, keepdim), std::max(0.0, static_cast<double>(count) - correction));
  return out.to(x_in.dtype());
}

// torch.std: sqrt(var). Where the std is 0 its gradient is 0 (torch's std_backward masks it),
// not the NaN of sqrt's slope at 0. With `using namespace tinyxf`, call it as tinyxf::std(x): a
// bare std(x) is ambiguous with namespace std.
inline Tensor std(const Tensor& x, const std::vector<std::int64_t>& dims = {}, double correction = 1.0,
                  bool keepdim = false) {
  const Tensor v = var(x, dims, correction, keepdim);
  const Tensor zero = eq(v, 0.0);
  return where(zero, ops_detail::scalar_like(0.0, v), sqrt(where(zero, ops_detail::scalar_like(1.0, v), v)));
}

// torch.var_mean / torch.std_mean: (var or std, mean) over the same dims.
inline std::pair<Tensor, Tensor> var_mean(const Tensor& x, const std::vector<std::int64_t>& dims, double correction = 1.0,
                                          bool keepdim = false) {
  return {var(x, dims, correction, keepdim), mean(x, dims.empty() ? ops_detail::all_dims(x) : dims, keepdim)};
}
inline std::pair<Tensor, Tensor> std_mean(const Tensor& x, const std::vector<std::int64_t>& dims, double correction = 1.0,
                                          bool keepdim = false) {
  return {std(x, dims, correction, keepdim), mean(x, dims.empty() ? ops_detail::all_dims(x) : dims, keepdim)};
}

// ---- clamping ----------------------------------------------------------------------------------

// torch.clamp with scalar bounds (either may be absent, not both: clamp(x, lo, std::nullopt) is
// torch.clamp_min): min(max(x, min), max); min >
// max gives max everywhere; NaN in x stays NaN and a NaN bound makes every element NaN, as torch.
// Gradient: 1 where min <= x <= max (inclusive; 0 for NaN), 0 elsewhere. The result dtype is
// result_type(x, bound): an integer x with a fractional bound gives float32 (an integral double
// counts as torch's Python int, so int64 stays int64).
inline Tensor clamp(const Tensor& x_in, std::optional<double> min, std::optional<double> max) {
  TINYXF_CHECK(x_in.defined(), "clamp: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, min || max, "clamp: at least one of 'min' or 'max' must not be None");
  DType result = x_in.dtype();
  for (const auto& b : {min, max})
    if (b) result = promote_types(result, result_type(x_in, *b));
  const Tensor x = ops_detail::as_dtype(x_in, result);
  if ((min && std::isnan(*min)) || (max && std::isnan(*max)))
    return ops_detail::keep_or(Tensor::zeros(x.shape(), x.options().dtype(kBool)), x,
                               Tensor::full(x.shape(), std::numeric_limits<double>::quiet_NaN(), x.options()));
  Tensor inside = Tensor::ones(x.shape(), x.options().dtype(kBool));
  if (min) inside = mul(inside, ge(x, *min));  // bool * bool: and
  if (max) inside = mul(inside, le(x, *max));
  return ops_detail::keep_or(inside, x, ops_detail::clamp_values(x, min, max));
}

namespace ops_detail {
// torch.result_type of the defined tensors among `operands`: the dimensioned ones decide, unless
// the 0-d ones promote to a higher category (bool < integer < floating), as torch's 0-d rule.
inline DType result_type_of(std::initializer_list<const Tensor*> operands) {
  std::optional<DType> dimensioned, zero_dim;
  for (const Tensor* t : operands) {
    if (!t->defined()) continue;
    auto& slot = t->dim() == 0 ? zero_dim : dimensioned;
    slot = slot ? promote_types(*slot, t->dtype()) : t->dtype();
  }
  if (!dimensioned || !zero_dim) return dimensioned ? *dimensioned : *zero_dim;
  const auto category = [](DType d) { return d == kBool ? 0 : is_floating_point(d) ? 2 : 1; };
  return category(*zero_dim) > category(*dimensioned) ? *zero_dim : *dimensioned;
}
}  // namespace ops_detail

namespace ops_detail {
// a where a == b, with half of the gradient to each (torch's tie rule): a - (a - b) / 2, exactly
// a since a - b is +0; an infinite tie as a / 2 + b / 2. Each branch gets inputs it is finite on.
inline Tensor shared_tie(const Tensor& a, const Tensor& b) {
  const Tensor finite = lt(abs(a), std::numeric_limits<double>::infinity()), zero = scalar_like(0.0, a);
  const Tensor a_finite = where(finite, a, zero), b_finite = where(finite, b, zero);
  const Tensor a_inf = where(finite, zero, a), b_inf = where(finite, zero, b);
  return where(finite, sub(a_finite, mul(sub(a_finite, b_finite), 0.5)), add(mul(a_inf, 0.5), mul(b_inf, 0.5)));
}
}  // namespace ops_detail

// torch.clamp with tensor bounds (torch.clamp(x, min=lo, max=hi), x.clamp_min(lo)): x, min and
// max broadcast together, an undefined Tensor is an absent bound (not both), and the result dtype
// is their result_type (a 0-d bound counts less than a dimensioned tensor, as torch). Values as
// the scalar clamp: a NaN in x or in a bound gives NaN, min > max gives max. With one bound it is
// maximum(x, min) / minimum(x, max), gradients included (a tie shares g, a NaN gives both g), as
// torch 2.15. With both, torch 2.15's gradients: x gets g unless x < min or x > max (so also
// where x or a bound is NaN), min where x < min <= max, max where x > max >= min or max < min;
// x == min < max or x == max > min shares g between x and that bound.
inline Tensor clamp(const Tensor& x_in, const Tensor& min_in, const Tensor& max_in = Tensor()) {
  TINYXF_CHECK(x_in.defined(), "clamp: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, min_in.defined() || max_in.defined(),
                  "clamp: at least one of 'min' or 'max' must not be None");
  if (!max_in.defined()) return maximum(x_in, min_in);
  if (!min_in.defined()) return minimum(x_in, max_in);
  const DType result = ops_detail::result_type_of({&x_in, &min_in, &max_in});
  for (const Tensor* bound : {&min_in, &max_in}) {
    ops_detail::check_same_device("clamp", x_in, *bound);
    broadcast_shapes(x_in.shape(), bound->shape(), "clamp");  // an error naming clamp, not where
  }
  broadcast_shapes(min_in.shape(), max_in.shape(), "clamp");
  const Tensor x = ops_detail::as_dtype(x_in, result), lo = ops_detail::as_dtype(min_in, result),
               hi = ops_detail::as_dtype(max_in, result);
  Tensor value;  // the clamped values, no gradient: NaN from x or a bound, max where min > max
  {
    NoGradGuard ng;
    value = where(add(lt(x, lo), ne(lo, lo)), lo.detach(), x.detach());  // bool + bool: or
    value = where(add(gt(value, hi), ne(hi, hi)), hi.detach(), value);
  }
  if (!is_floating_point(result)) return value;  // no gradient to route (and no NaN)
  const Tensor ordered = le(lo, hi), crossed = gt(lo, hi), below = lt(x, lo), above = gt(x, hi);
  const Tensor x_gets = logical_not(add(below, above));
  const Tensor to_min = mul(below, ordered);  // bool * bool: and
  const Tensor to_max = add(mul(above, ordered), crossed);
  const Tensor strictly = lt(lo, hi);
  // where x gets g and the value is NaN (from x or a bound): x + NaN, or x + max where max gets g too
  const Tensor nan = ops_detail::scalar_like(std::numeric_limits<double>::quiet_NaN(), x);
  const Tensor x_value = where(ne(value, value), add(x, where(crossed, hi, nan)), x);
  Tensor out = where(to_max, hi, value);
  out = where(to_min, lo, out);
  out = where(x_gets, x_value, out);
  out = where(mul(eq(x, hi), strictly), ops_detail::shared_tie(x, hi), out);
  return where(mul(eq(x, lo), strictly), ops_detail::shared_tie(x, lo), out);
}

// torch.nn.functional.hardtanh: clamp to [min_val, max_val] with torch's hardtanh gradient: 0 at
// and beyond the bounds (clamp's is 1 at them), g for NaN. Integer inputs keep their dtype.
inline Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0) {
  TINYXF_CHECK(x.defined(), "hardtanh: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, min_val <= max_val, "hardtanh: min_val (", min_val, ") cannot be greater than max_val (",
                  max_val, ")");
  const Tensor outside = add(le(x, min_val), ge(x, max_val));  // bool + bool: or
  return ops_detail::keep_or(logical_not(outside), x, ops_detail::clamp_values(x, min_val, max_val));
}
// torch.nn.functional.relu6: hardtanh(x, 0, 6) (gradient 0 at 0 and 6).
inline Tensor relu6(const Tensor& x) { return hardtanh(x, 0.0, 6.0); }

// torch.isnan / isinf / isfinite: bool, x's shape; integer and bool tensors have neither NaN nor inf.
inline Tensor isnan(const Tensor& x) {
  if (!is_floating_point(x.dtype())) return Tensor::zeros(x.shape(), x.options().dtype(kBool));
  return ne(x, x);
}
inline Tensor isinf(const Tensor& x) {
  if (!is_floating_point(x.dtype())) return Tensor::zeros(x.shape(), x.options().dtype(kBool));
  return eq(abs(x), std::numeric_limits<double>::infinity());
}
inline Tensor isfinite(const Tensor& x) { return logical_not(add(isnan(x), isinf(x))); }

// torch.nan_to_num: NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (by default 0 and
// the dtype's largest and lowest finite values); a replacement beyond the dtype's range rounds to
// inf, as torch. Integer and bool tensors come back as copies. Gradient: g where x is finite.
inline Tensor nan_to_num(const Tensor& x, double nan = 0.0, std::optional<double> posinf = std::nullopt,
                         std::optional<double> neginf = std::nullopt) {
  TINYXF_CHECK(x.defined(), "nan_to_num: undefined tensor argument");
  if (!is_floating_point(x.dtype())) return x.clone();
  const DType d = x.dtype();
  const auto value = [&](double v) { return ops_detail::scalar_like(ops_detail::round_scalar_to(v, d), x); };
  const double inf = std::numeric_limits<double>::infinity();
  Tensor out = where(eq(x, -inf), value(neginf.value_or(-max_finite(d))), x);
  out = where(eq(x, inf), value(posinf.value_or(max_finite(d))), out);
  return where(ne(x, x), value(nan), out);
}

// ---- activations (torch.nn.functional) --------------------------------------------------------

// softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (gradient 1 there).
inline Tensor softplus(const Tensor& x_in, double beta = 1.0, double threshold = 20.0) {
  ops_detail::require_floating("softplus", x_in);
  const Tensor x = ops_detail::widened(x_in);
  const Tensor scaled = mul(x, beta);
  const Tensor linear = gt(scaled, threshold);
  const Tensor safe = where(linear, ops_detail::scalar_like(0.0, x), scaled);
  return where(linear, x, div(log1p(exp(safe)), beta)).to(x_in.dtype());
}

// elu: x for x > 0, alpha (exp(x) - 1) otherwise; the slope at 0 is alpha's side, as torch.
inline Tensor elu(const Tensor& x, double alpha = 1.0) { return ops_detail::elu_family("elu", x, alpha, 1.0, 1.0); }

// selu: scale * elu(x, alpha) with torch's constants (slope scale * alpha at 0, as torch).
inline Tensor selu(const Tensor& x) {
  return ops_detail::elu_family("selu", x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1.0);
}

// celu: x for x > 0, alpha (exp(x / alpha) - 1) otherwise; alpha 0 is refused, as torch.
inline Tensor celu(const Tensor& x, double alpha = 1.0) {
  TINYXF_CHECK_AS(ValueError, alpha != 0.0, "celu: alpha cannot be 0 (ZeroDivisionError in torch)");
  return ops_detail::elu_family("celu", x, alpha, 1.0, 1.0 / alpha);
}

// leaky_relu: x for x > 0, negative_slope * x otherwise (slope negative_slope at 0, as torch).
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) {
  ops_detail::require_floating("leaky_relu", x);
  return where(gt(x, 0.0), x, mul(x, negative_slope));
}

// hardsigmoid: min(max(x + 3, 0), 6) / 6; gradient 1/6 strictly inside (-3, 3), 0 elsewhere
// (at -3, at 3 and for NaN), as torch.
inline Tensor hardsigmoid(const Tensor& x_in) {
  ops_detail::require_floating("hardsigmoid", x_in);
  const Tensor x = ops_detail::widened(x_in);
  const Tensor inside = mul(gt(x, -3.0), lt(x, 3.0));
  const Tensor clamped = div(ops_detail::clamp_values(add(x, 3.0), 0.0, 6.0), 6.0);
  // torch's backward multiplies by a float32 1/6 (0.1666666716 also for float64): the values of
  // `clamped`, with that slope through x - x.detach() (which is 0).
  const Tensor sloped = add(clamped.detach(), mul(sub(x, x.detach()), static_cast<double>(1.0f / 6.0f)));
  return ops_detail::keep_or(inside, sloped, clamped).to(x_in.dtype());
}

// hardswish: x * min(max(x + 3, 0), 6) / 6; gradient 0 for x <= -3, x / 3 + 1/2 inside (-3, 3),
// 1 from 3 on and for NaN, as torch's hardswish_backward.
inline Tensor hardswish(const Tensor& x_in) {
  ops_detail::require_floating("hardswish", x_in);
  const Tensor x = ops_detail::widened(x_in);
  const Tensor inside = mul(gt(x, -3.0), lt(x, 3.0));
  const Tensor xm = where(inside, x, ops_detail::scalar_like(0.0, x));  // no NaN * 0 in its gradient
  const Tensor middle = div(mul(xm, add(xm, 3.0)), 6.0);
  const Tensor upper = where(lt(x, 3.0), middle, x);
  return where(le(x, -3.0), mul(x.detach(), 0.0), upper).to(x_in.dtype());  // x * 0: -0 below, as torch
}

// mish: x * tanh(softplus(x)).
inline Tensor mish(const Tensor& x_in) {
  ops_detail::require_floating("mish", x_in);
  const Tensor x = ops_detail::widened(x_in);
  return mul(x, tanh(softplus(x))).to(x_in.dtype());
}

// logsigmoid: log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), in two branches so that neither
// overflows and the slope at 0 is sigmoid(0) = 1/2.
inline Tensor logsigmoid(const Tensor& x_in) {
  ops_detail::require_floating("logsigmoid", x_in);
  const Tensor x = ops_detail::widened(x_in);
  const Tensor negative = lt(x, 0.0);
  const Tensor zero = ops_detail::scalar_like(0.0, x);
  const Tensor below = where(negative, x, zero), above = where(negative, zero, x);
  return where(negative, sub(below, log1p(exp(below))), neg(log1p(exp(neg(above))))).to(x_in.dtype());
}

// softsign: x / (1 + |x|) (integer inputs give float32, as torch).
inline Tensor softsign(const Tensor& x) { return div(x, add(abs(x), 1.0)); }

// ---- layout ------------------------------------------------------------------------------------

namespace ops_detail {
// Whether element (row, col) of the last two dims is kept: col - row <= diagonal (tril) or >= (triu).
inline Tensor triangle_mask(const char* op, const Tensor& x, std::int64_t diagonal, bool lower) {
  TINYXF_CHECK(x.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(ShapeError, x.dim() >= 2, op, ": input tensor must have at least 2 dimensions, got shape ",
                  shape_str(x.shape()));
  const TensorOptions index_options = TensorOptions(x.device()).dtype(kInt64);
  const Tensor rows = Tensor::arange(static_cast<double>(x.size(-2)), index_options).unsqueeze(1);
  const Tensor cols = Tensor::arange(static_cast<double>(x.size(-1)), index_options);
  const Tensor offset = sub(cols, rows);
  return lower ? le(offset, static_cast<double>(diagonal)) : ge(offset, static_cast<double>(diagonal));
}
}  // namespace ops_detail

// torch.tril / torch.triu on the last two dims (a batch before them): elements above (below) the
// `diagonal`-th diagonal set to 0 (diagonal > 0: above the main one, < 0: below). Any dtype.
inline Tensor tril(const Tensor& x, std::int64_t diagonal = 0) {
  return masked_fill(x, logical_not(ops_detail::triangle_mask("tril", x, diagonal, true)), 0.0);
}
inline Tensor triu(const Tensor& x, std::int64_t diagonal = 0) {
  return masked_fill(x, logical_not(ops_detail::triangle_mask("triu", x, diagonal, false)), 0.0);
}

// torch.flip: x reversed along each of dims (a copy, also for no dims).
inline Tensor flip(const Tensor& x, const std::vector<std::int64_t>& dims) {
  TINYXF_CHECK(x.defined(), "flip: undefined tensor argument");
  std::vector<int> seen;
  for (auto d : dims) {
    const int n = normalize_dim(d, x.shape().size(), "flip");
    TINYXF_CHECK_AS(IndexError, std::find(seen.begin(), seen.end(), n) == seen.end(), "flip: dim ", n,
                    " appears multiple times in the list of dims");
    seen.push_back(n);
  }
  Tensor out = x.clone();
  if (x.dim() == 0) return out;
  for (int d : seen) {
    const auto n = static_cast<double>(x.size(d));
    out = index_select(out, d, Tensor::arange(n - 1, -1, -1, TensorOptions(x.device()).dtype(kInt64)));
  }
  return out;
}

// torch.roll: elements shifted by shifts[i] along dims[i] (wrapping around); with no dims, x is
// flattened, rolled by the single shift and reshaped back.
inline Tensor roll(const Tensor& x, const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims = {}) {
  TINYXF_CHECK(x.defined(), "roll: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, !shifts.empty(), "roll: `shifts` required");
  if (dims.empty()) {
    TINYXF_CHECK_AS(ValueError, shifts.size() == 1, "roll: shifts and dimensions must align. shifts: ", shifts.size(),
                    ", dims:0");
    return roll(x.flatten(), shifts, {0}).reshape(x.shape());
  }
  TINYXF_CHECK_AS(ValueError, shifts.size() == dims.size(), "roll: shifts and dimensions must align. shifts: ",
                  shifts.size(), ", dims:", dims.size());
  // torch: an explicit dim of a 0-d tensor is an error (roll(x, 1) without dims is fine).
  TINYXF_CHECK_AS(IndexError, x.dim() > 0, "roll: Dimension specified as ", dims.front(),
                  " but tensor has no dimensions");
  Tensor out = x;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = normalize_dim(dims[i], x.shape().size(), "roll");
    const std::int64_t n = x.dim() == 0 ? 1 : x.size(d);
    if (n == 0 || x.dim() == 0) continue;
    const std::int64_t s = ((shifts[i] % n) + n) % n;
    if (s != 0) out = cat({out.narrow(d, n - s, s), out.narrow(d, 0, n - s)}, d);
  }
  return out.is_same(x) ? x.clone() : out;
}

// torch.chunk: ceil(size / chunks)-sized views along dim, the last one smaller, so there may be
// fewer than `chunks` (6 in 4 chunks: 2, 2, 2); an empty dim gives `chunks` empty views.
inline std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0) {
  TINYXF_CHECK(x.defined(), "chunk: undefined tensor argument");
  TINYXF_CHECK_AS(ShapeError, x.dim() > 0, "chunk: expects at least a 1-dimensional tensor");
  TINYXF_CHECK_AS(ValueError, chunks > 0, "chunk: expects `chunks` to be greater than 0, got: ", chunks);
  const int d = normalize_dim(dim, x.shape().size(), "chunk");
  const std::int64_t size = x.size(d);
  std::vector<Tensor> out;
  if (size == 0) {
    for (std::int64_t i = 0; i < chunks; ++i) out.push_back(x.narrow(d, 0, 0));
    return out;
  }
  const std::int64_t step = (size + chunks - 1) / chunks;
  for (std::int64_t start = 0; start < size; start += step) out.push_back(x.narrow(d, start, std::min(step, size - start)));
  return out;
}

// torch.Tensor.repeat: x tiled repeats[i] times along dim i; more repeats than dims put x behind
// new leading dims of size 1 first. Gradient: the tiles summed back (through expand).
inline Tensor repeat(const Tensor& x, const std::vector<std::int64_t>& repeats) {
  TINYXF_CHECK(x.defined(), "repeat: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, repeats.size() >= x.shape().size(),
                  "repeat: number of dimensions of repeat dims (", repeats.size(),
                  ") can not be smaller than number of dimensions of tensor (", x.dim(), ")");
  Shape padded(repeats.size() - x.shape().size(), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  Shape interleaved, tiled, result;
  for (std::size_t i = 0; i < repeats.size(); ++i) {
    interleaved.insert(interleaved.end(), {1, padded[i]});
    tiled.insert(tiled.end(), {repeats[i], padded[i]});
    result.push_back(repeats[i] * padded[i]);
  }
  for (std::size_t i = 0; i < repeats.size(); ++i)
    TINYXF_CHECK_AS(ValueError, repeats[i] >= 0, "repeat: trying to create tensor with negative dimension ", result[i],
                    ": ", shape_str(result), " (repeats ", shape_str(Shape(repeats.begin(), repeats.end())), ")");
  const Tensor out = x.reshape(interleaved).expand(tiled).reshape(result);
  return out.shares_storage(x) ? out.clone() : out;
}

// torch.nn.functional.one_hot: int64 labels of any shape -> int64 [..., num_classes], 1 at each
// label; num_classes -1 infers max(labels) + 1 (not from an empty tensor).
inline Tensor one_hot(const Tensor& labels, std::int64_t num_classes = -1) {
  TINYXF_CHECK(labels.defined(), "one_hot: undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, labels.dtype() == kInt64,
                  "one_hot: is only applicable to index tensor of type LongTensor (int64), got ",
                  dtype_name(labels.dtype()));
  if (labels.numel() == 0) {
    // torch: num_classes <= 0 cannot size an empty tensor's classes (0 included).
    TINYXF_CHECK_AS(ValueError, num_classes > 0, "one_hot: can not infer total number of classes from empty tensor");
  } else {
    const auto lowest = min(labels).item<std::int64_t>(), highest = max(labels).item<std::int64_t>();
    TINYXF_CHECK_AS(ValueError, lowest >= 0, "one_hot: class values must be non-negative, got ", lowest);
    if (num_classes == -1) num_classes = highest + 1;
    TINYXF_CHECK_AS(ValueError, highest < num_classes, "one_hot: class values must be smaller than num_classes (",
                    num_classes, "), got ", highest);
  }
  const Tensor classes =
      Tensor::arange(static_cast<double>(num_classes), TensorOptions(labels.device()).dtype(kInt64));
  return eq(labels.unsqueeze(-1), classes).to(kInt64);
}

// ---- scans -------------------------------------------------------------------------------------

// torch.cumsum along dim: out[i] = x[0] + ... + x[i]. Bool and integer inputs sum into int64, as
// torch; 16-bit floats in float32, rounded once. Composed as a Hillis-Steele scan: ceil(log2 n)
// passes, each adding the running result shifted by 1, 2, 4, ... along dim, so O(n log n) work
// and temporaries (torch: one O(n) pass). The floating sums are taken in that tree order, not
// left to right, so they can differ from torch's in the last bits. Gradient: the reversed
// cumulative sum of g, through the same adds.
inline Tensor cumsum(const Tensor& x, std::int64_t dim) {
  TINYXF_CHECK(x.defined(), "cumsum: undefined tensor argument");
  const int d = normalize_dim(dim, x.shape().size(), "cumsum");
  if (x.dim() == 0) return cumsum(x.reshape({1}), 0).reshape({});
  Tensor out = is_floating_point(x.dtype()) ? ops_detail::widened(x) : x.to(kInt64);
  const std::int64_t n = x.size(d);
  for (std::int64_t shift = 1; shift < n; shift *= 2) {
    Shape lead = out.shape();
    lead[static_cast<std::size_t>(d)] = shift;
    out = add(out, cat({Tensor::zeros(lead, out.options()), out.narrow(d, 0, n - shift)}, d));
  }
  if (out.is_same(x)) out = x.clone();
  return is_reduced_floating_point(x.dtype()) ? out.to(x.dtype()) : out;
}

// ---- blending ----------------------------------------------------------------------------------

namespace ops_detail {
inline void check_lerp_operand(const Tensor& start, const Tensor& t, const char* name) {
  check_same_device("lerp", start, t);
  TINYXF_CHECK_AS(DTypeError, t.dtype() == start.dtype(), "lerp: expected dtype ", dtype_name(start.dtype()), " for `",
                  name, "` but got dtype ", dtype_name(t.dtype()));
}
// torch's lerp formula, in float32 for 16-bit operands: start + weight (end - start) where
// |weight| < 1/2, else end - (end - start)(1 - weight), which is exactly end at weight 1.
inline Tensor lerp_formula(const Tensor& start, const Tensor& end, const Tensor& weight) {
  const Tensor s = widened(start), e = widened(end), w = widened(weight);
  const Tensor diff = sub(e, s);
  const Tensor near_start = add(s, mul(w, diff)), near_end = sub(e, mul(diff, 1.0 - w));
  return where(lt(abs(w), 0.5), near_start, near_end).to(start.dtype());
}
}  // namespace ops_detail

// torch.lerp: start + weight (end - start), broadcasting; start, end (and a tensor weight) share
// one floating dtype. Gradients: (1 - weight) g, weight g and (end - start) g.
inline Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  ops_detail::require_floating("lerp", start);
  ops_detail::check_lerp_operand(start, end, "end");
  // A 0-d floating weight of another dtype is converted, as torch's (a wrapped-number-like scalar).
  if (weight.defined() && weight.dim() == 0 && is_floating_point(weight.dtype()) && weight.dtype() != start.dtype()) {
    ops_detail::check_same_device("lerp", start, weight);
    return ops_detail::lerp_formula(start, end, weight.to(start.dtype()));
  }
  ops_detail::check_lerp_operand(start, weight, "weight");
  return ops_detail::lerp_formula(start, end, weight);
}
inline Tensor lerp(const Tensor& start, const Tensor& end, double weight) {
  ops_detail::require_floating("lerp", start);
  ops_detail::check_lerp_operand(start, end, "end");
  const Tensor s = ops_detail::widened(start), e = ops_detail::widened(end);
  const Tensor diff = sub(e, s);
  const Tensor out = std::abs(weight) < 0.5 ? add(s, mul(diff, weight)) : sub(e, mul(diff, 1.0 - weight));
  return out.to(start.dtype());
}

// ---- member shortcuts (declared in core/tensor.hpp) ---------------------------------------------
inline Tensor Tensor::logsumexp(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tinyxf::logsumexp(*this, dims, keepdim);
}
inline Tensor Tensor::var(const std::vector<std::int64_t>& dims, double correction, bool keepdim) const {
  return tinyxf::var(*this, dims, correction, keepdim);
}
inline Tensor Tensor::std(const std::vector<std::int64_t>& dims, double correction, bool keepdim) const {
  return tinyxf::std(*this, dims, correction, keepdim);
}
inline Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max) const {
  return tinyxf::clamp(*this, min, max);
}
inline Tensor Tensor::clamp(const Tensor& min, const Tensor& max) const { return tinyxf::clamp(*this, min, max); }
inline Tensor Tensor::clamp_min(double min) const { return tinyxf::clamp(*this, min, std::nullopt); }
inline Tensor Tensor::clamp_min(const Tensor& min) const { return tinyxf::clamp(*this, min, Tensor()); }
inline Tensor Tensor::clamp_max(double max) const { return tinyxf::clamp(*this, std::nullopt, max); }
inline Tensor Tensor::clamp_max(const Tensor& max) const { return tinyxf::clamp(*this, Tensor(), max); }
inline Tensor Tensor::nan_to_num(double nan, std::optional<double> posinf, std::optional<double> neginf) const {
  return tinyxf::nan_to_num(*this, nan, posinf, neginf);
}
inline Tensor Tensor::isnan() const { return tinyxf::isnan(*this); }
inline Tensor Tensor::isinf() const { return tinyxf::isinf(*this); }
inline Tensor Tensor::isfinite() const { return tinyxf::isfinite(*this); }
inline Tensor Tensor::tril(std::int64_t diagonal) const { return tinyxf::tril(*this, diagonal); }
inline Tensor Tensor::triu(std::int64_t diagonal) const { return tinyxf::triu(*this, diagonal); }
inline Tensor Tensor::flip(const std::vector<std::int64_t>& dims) const { return tinyxf::flip(*this, dims); }
inline Tensor Tensor::roll(const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims) const {
  return tinyxf::roll(*this, shifts, dims);
}
inline Tensor Tensor::repeat(const std::vector<std::int64_t>& repeats) const { return tinyxf::repeat(*this, repeats); }
inline std::vector<Tensor> Tensor::chunk(std::int64_t chunks, std::int64_t dim) const {
  return tinyxf::chunk(*this, chunks, dim);
}
inline Tensor Tensor::cumsum(std::int64_t dim) const { return tinyxf::cumsum(*this, dim); }
inline Tensor Tensor::lerp(const Tensor& end, const Tensor& weight) const { return tinyxf::lerp(*this, end, weight); }
inline Tensor Tensor::lerp(const Tensor& end, double weight) const { return tinyxf::lerp(*this, end, weight); }

}  // namespace tinyxf
