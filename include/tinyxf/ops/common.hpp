#pragma once
// Helpers shared by the ops: argument checks with op-named errors, output allocation and
// PyTorch's type promotion (result_type).
#include <cmath>
#include <initializer_list>
#include <optional>

#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/autograd/saved_tensor.hpp"
#include "tinyxf/core/autocast.hpp"
#include "tinyxf/core/tensor.hpp"

namespace tinyxf {

// torch.result_type for two tensors: promote_types of their dtypes (0-dim tensors are not given
// lower priority here: every tensor operand counts fully).
// torch.result_type(a, b): a zero-dimensional tensor takes part only when its category (bool <
// integer < floating) is higher than the other operand's, as in PyTorch (float32[n] with a float64
// scalar tensor stays float32; int32[n] with a float64 scalar tensor is float64).
inline DType result_type(const Tensor& a, const Tensor& b) {
  if ((a.dim() == 0) != (b.dim() == 0)) {
    const auto category = [](DType d) { return d == DType::b8 ? 0 : is_floating_point(d) ? 2 : 1; };
    const DType dimensioned = (a.dim() == 0 ? b : a).dtype(), zero_dim = (a.dim() == 0 ? a : b).dtype();
    return category(zero_dim) > category(dimensioned) ? zero_dim : dimensioned;
  }
  return promote_types(a.dtype(), b.dtype());
}

// torch.result_type(tensor, scalar) for a C++ double scalar: a floating tensor keeps its dtype;
// an integer or bool tensor keeps its dtype for an integral value (an integer tensor with an
// integral-valued scalar, as torch with a Python int; bool becomes int64) and becomes the default
// float32 for a fractional (or non-finite) one.
inline DType result_type(const Tensor& a, double scalar) {
  const DType d = a.dtype();
  if (is_floating_point(d)) return d;
  const bool integral = std::isfinite(scalar) && std::trunc(scalar) == scalar;
  if (!integral) return default_dtype();
  return d == DType::b8 ? DType::i64 : d;
}

namespace ops_detail {

inline void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TINYXF_CHECK(a.defined() && b.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK(a.device() == b.device(), op, ": tensors are on different devices (",
               a.device().str(), " and ", b.device().str(), ")");
}

// A DTypeError naming the op, the dtype and the backend unless kernels exist for t's dtype.
inline void check_compute(const char* op, const Tensor& t) {
  TINYXF_CHECK_AS(DTypeError, is_compute_dtype(t.dtype()), op, ": not implemented for ", dtype_name(t.dtype()),
                  " on backend ", t.impl()->backend().name(), " (", dtype_name(t.dtype()),
                  " is a storage dtype here; convert with .to(kFloat32) first)");
}

// Floating compute dtypes only (float32/float64).
inline void check_floating(const char* op, const Tensor& t) {
  TINYXF_CHECK(t.defined(), op, ": undefined tensor argument");
  check_compute(op, t);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(t.dtype()), op, ": expected a floating point tensor, got ",
                  dtype_name(t.dtype()));
}

// check_floating that also lets bfloat16/float16 through to a backend whose kernels compute them
// (Backend::computes_16bit_floats: elementwise, dropout, bias_gelu).
inline void check_floating_or_16bit(const char* op, const Tensor& t) {
  if (t.defined() && is_reduced_floating_point(t.dtype()) && t.impl()->backend().computes_16bit_floats()) return;
  check_floating(op, t);
}

// Whether t is bfloat16/float16 and its backend's fused kernel (the `supports_fused` query:
// attention, dropout, bias_gelu) takes it as it is, computing in float32 inside
// (Backend::computes_16bit_floats); otherwise the front end widens to float32 around the op.
inline bool runs_16bit_natively(const Tensor& t, bool (Backend::*supports_fused)() const) {
  if (!t.defined() || !is_reduced_floating_point(t.dtype())) return false;
  const Backend& backend = t.impl()->backend();
  return backend.computes_16bit_floats() && (backend.*supports_fused)();
}

// Operands of ops without type promotion (matmul, layer_norm, attention, ...) share one dtype.
inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return;
  TINYXF_CHECK_AS(DTypeError, a.dtype() == b.dtype(), op, ": expected both tensors to have the same dtype, got ",
                  dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

// An argument of one required dtype (indices, targets: int64).
inline void check_dtype(const char* op, const char* what, const Tensor& t, DType expected) {
  TINYXF_CHECK(t.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, t.dtype() == expected, op, ": expected ", what, " of dtype ", dtype_name(expected),
                  ", got ", dtype_name(t.dtype()));
}

// t in dtype d (differentiable between floating dtypes; the same handle when it already is).
inline Tensor as_dtype(const Tensor& t, DType d) { return t.dtype() == d ? t : t.to(d); }

// ---- autocast (core/autocast.hpp) ----------------------------------------------------------
// The lower-precision dtype an op of autocast's lower_precision_fp list runs in for these
// operands (undefined ones ignored), or nullopt: autocast off on their device, an operand that
// is not floating, or a float64 one (never cast).
inline std::optional<DType> autocast_lower_dtype(std::initializer_list<const Tensor*> operands) {
  const Tensor* first = nullptr;
  for (const Tensor* t : operands)
    if (t->defined()) {
      if (!is_floating_point(t->dtype()) || t->dtype() == kFloat64) return std::nullopt;
      if (!first) first = t;
    }
  if (!first || !autocast_enabled(first->device().type)) return std::nullopt;
  const DType d = autocast_dtype(first->device().type);
  for (const Tensor* t : operands)
    if (t->defined() && t->dtype() != d) return d;
  return std::nullopt;  // all operands already in the autocast dtype: nothing to cast
}
// t cast (differentiably) to d when defined; the same handle otherwise.
inline Tensor autocast_to(const Tensor& t, DType d) { return t.defined() ? as_dtype(t, d) : t; }
// An operand of an op of autocast's fp32 list: a 16-bit floating t cast up to float32 while
// autocast is on for its device; t itself otherwise.
inline Tensor autocast_fp32(const Tensor& t) {
  if (!t.defined() || !is_reduced_floating_point(t.dtype()) || !autocast_enabled(t.device().type)) return t;
  return t.to(kFloat32);
}
// Whether autocast_fp32 would cast any of these operands.
inline bool autocast_fp32_needed(std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (t->defined() && is_reduced_floating_point(t->dtype()) && autocast_enabled(t->device().type)) return true;
  return false;
}

inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.options()); }

inline Backend& backend_of(const Tensor& t) { return t.impl()->backend(); }

inline KernelView kv(const Tensor& t) { return t.impl()->view(); }

// A view of `t` broadcast to `shape` (stride 0 on stretched dims), for kernels.
inline KernelView kv_broadcast(const Tensor& t, const Shape& shape) {
  return t.impl()->view_as(shape, broadcast_strides(*t.impl(), shape));
}

inline KernelView no_tensor() { return KernelView{}; }

template <Element T>
std::vector<T> as_vector_or_empty(const Tensor& t) {
  return t.defined() ? t.template to_vector<T>() : std::vector<T>{};
}

}  // namespace ops_detail
}  // namespace tinyxf
