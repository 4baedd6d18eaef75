#pragma once
// Elementwise math with NumPy/PyTorch broadcasting: unary functions, tensor-tensor and
// tensor-scalar arithmetic, comparisons (uint8 results), where/masked_fill.
#include "tinyxf/backend/dispatch.hpp"
#include "tinyxf/ops/reduce.hpp"

namespace tinyxf {

namespace ops_detail {

template <Element T>
Tensor<T> unary_op(UnaryOp op, const Tensor<T>& x, double alpha = 0.0) {
  TINYXF_CHECK(x.defined(), unary_op_name(op), ": undefined tensor argument");
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
  if (out.numel()) run_unary(x.impl()->backend(), x.device().index, op, kv(out), kv(x), alpha);
  if constexpr (FloatElement<T>) {
    return autograd::record<T>(out, unary_op_name(op), {&x.impl()},
                               [op, saved_x = autograd::save_input(x, 0), saved_out = autograd::save_output(out),
                                alpha](const Tensor<T>& g) {
                                 const Tensor<T>& x = saved_x.get();
                                 Tensor<T> gi = Tensor<T>::empty(x.shape(), x.device());
                                 if (gi.numel())
                                   run_unary_backward(x.impl()->backend(), x.device().index, op, kv(gi),
                                                      kv(g), kv(x), kv(saved_out.get()), alpha);
                                 return std::vector<Tensor<T>>{gi};
                               });
  } else {
    return out;
  }
}

// Kernel launch for a broadcast binary op into a fresh output of the broadcast shape.
template <Element O, Element T>
Tensor<O> binary_raw(BinaryOp op, const Tensor<T>& a, const Tensor<T>& b) {
  check_same_device(binary_op_name(op), a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), binary_op_name(op));
  Tensor<O> out = Tensor<O>::empty(shape, a.device());
  if (out.numel())
    run_binary(a.impl()->backend(), a.device().index, op, kv(out), kv_broadcast(a, shape),
               kv_broadcast(b, shape));
  return out;
}

}  // namespace ops_detail

// ---- unary -------------------------------------------------------------------------------------
template <Element T> Tensor<T> neg(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::neg, x); }
template <Element T> Tensor<T> exp(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::exp, x); }
template <Element T> Tensor<T> log(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::log, x); }
template <Element T> Tensor<T> sqrt(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::sqrt, x); }
template <Element T> Tensor<T> rsqrt(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::rsqrt, x); }
template <Element T> Tensor<T> tanh(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::tanh, x); }
template <Element T> Tensor<T> sigmoid(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::sigmoid, x); }
template <Element T> Tensor<T> relu(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::relu, x); }
template <Element T> Tensor<T> abs(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::abs, x); }
// x * sigmoid(x), as torch.nn.functional.silu.
template <Element T> Tensor<T> silu(const Tensor<T>& x) { return ops_detail::unary_op(UnaryOp::silu, x); }
// approximate: "none" (exact, erf) or "tanh", as torch.nn.functional.gelu.
template <Element T>
Tensor<T> gelu(const Tensor<T>& x, std::string_view approximate = "none") {
  TINYXF_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be 'none' "
               "or 'tanh', got '", approximate, "'");
  return ops_detail::unary_op(approximate == "none" ? UnaryOp::gelu_erf : UnaryOp::gelu_tanh, x);
}
template <Element T> Tensor<T> pow(const Tensor<T>& x, double exponent) {
  return ops_detail::unary_op(UnaryOp::pow_scalar, x, exponent);
}
template <Element T> Tensor<T> square(const Tensor<T>& x) { return pow(x, 2.0); }

// ---- tensor (op) tensor ------------------------------------------------------------------------
template <Element T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = ops_detail::binary_raw<T>(BinaryOp::add, a, b);
  return autograd::record<T>(out, "add", {&a.impl(), &b.impl()},
                             [sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
                               return std::vector<Tensor<T>>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
                             });
}
template <Element T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = ops_detail::binary_raw<T>(BinaryOp::sub, a, b);
  return autograd::record<T>(out, "sub", {&a.impl(), &b.impl()},
                             [sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
                               return std::vector<Tensor<T>>{sum_to_shape(g, sa),
                                                             sum_to_shape(neg(g), sb)};
                             });
}
template <Element T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = ops_detail::binary_raw<T>(BinaryOp::mul, a, b);
  const bool need_a = autograd::needs_grad(a), need_b = autograd::needs_grad(b);
  return autograd::record<T>(out, "mul", {&a.impl(), &b.impl()},
                             [a = need_b ? autograd::save_input(a, 0) : autograd::SavedTensor<T>(),
                              b = need_a ? autograd::save_input(b, 1) : autograd::SavedTensor<T>(),
                              sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
                               return std::vector<Tensor<T>>{
                                   b.defined() ? sum_to_shape(mul(g, b.get()), sa) : Tensor<T>(),
                                   a.defined() ? sum_to_shape(mul(g, a.get()), sb) : Tensor<T>()};
                             });
}
template <Element T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = ops_detail::binary_raw<T>(BinaryOp::div, a, b);
  return autograd::record<T>(out, "div", {&a.impl(), &b.impl()},
                             [saved_a = autograd::save_input(a, 0), saved_b = autograd::save_input(b, 1)](const Tensor<T>& g) {
                               const Tensor<T>& a = saved_a.get();
                               const Tensor<T>& b = saved_b.get();
                               Tensor<T> ga = div(g, b);
                               Tensor<T> gb = neg(div(mul(ga, a), b));
                               return std::vector<Tensor<T>>{sum_to_shape(ga, a.shape()),
                                                             sum_to_shape(gb, b.shape())};
                             });
}
namespace ops_detail {
// maximum/minimum with torch's gradient: the selected operand gets g; on a tie each operand gets
// g / 2 (torch.maximum's derivative "grad * where(a == b, 0.5, a > b)").
template <Element T>
Tensor<T> extremum(BinaryOp op, const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = binary_raw<T>(op, a, b);
  if constexpr (!FloatElement<T>) {
    return out;
  } else {
    return autograd::record<T>(
        out, binary_op_name(op), {&a.impl(), &b.impl()},
        [is_max = op == BinaryOp::maximum, saved_a = autograd::save_input(a, 0),
         saved_b = autograd::save_input(b, 1)](const Tensor<T>& g) {
          const Tensor<T>& a = saved_a.get();
          const Tensor<T>& b = saved_b.get();
          const auto half = Tensor<T>::scalar(T(0.5), g.device());
          const auto share = [&](const Tensor<std::uint8_t>& wins) {
            return mul(g, where(eq(a, b), half, wins.template to<T>()));
          };
          return std::vector<Tensor<T>>{sum_to_shape(share(is_max ? gt(a, b) : lt(a, b)), a.shape()),
                                        sum_to_shape(share(is_max ? lt(a, b) : gt(a, b)), b.shape())};
        });
  }
}
}  // namespace ops_detail

template <Element T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::extremum(BinaryOp::maximum, a, b);
}
template <Element T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::extremum(BinaryOp::minimum, a, b);
}

// ---- tensor (op) scalar ------------------------------------------------------------------------
template <Element T> Tensor<T> add(const Tensor<T>& a, T s) { return ops_detail::unary_op(UnaryOp::add_scalar, a, static_cast<double>(s)); }
template <Element T> Tensor<T> sub(const Tensor<T>& a, T s) { return ops_detail::unary_op(UnaryOp::sub_scalar, a, static_cast<double>(s)); }
template <Element T> Tensor<T> mul(const Tensor<T>& a, T s) { return ops_detail::unary_op(UnaryOp::mul_scalar, a, static_cast<double>(s)); }
template <Element T> Tensor<T> div(const Tensor<T>& a, T s) { return ops_detail::unary_op(UnaryOp::div_scalar, a, static_cast<double>(s)); }

template <Element T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <Element T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <Element T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <Element T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <Element T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }
template <Element T> Tensor<T> operator+(const Tensor<T>& a, std::type_identity_t<T> s) { return add(a, s); }
template <Element T> Tensor<T> operator-(const Tensor<T>& a, std::type_identity_t<T> s) { return sub(a, s); }
template <Element T> Tensor<T> operator*(const Tensor<T>& a, std::type_identity_t<T> s) { return mul(a, s); }
template <Element T> Tensor<T> operator/(const Tensor<T>& a, std::type_identity_t<T> s) { return div(a, s); }
template <Element T> Tensor<T> operator+(std::type_identity_t<T> s, const Tensor<T>& a) { return add(a, s); }
template <Element T> Tensor<T> operator*(std::type_identity_t<T> s, const Tensor<T>& a) { return mul(a, s); }
template <Element T> Tensor<T> operator-(std::type_identity_t<T> s, const Tensor<T>& a) {
  return ops_detail::unary_op(UnaryOp::rsub_scalar, a, static_cast<double>(s));
}
template <Element T> Tensor<T> operator/(std::type_identity_t<T> s, const Tensor<T>& a) {
  return ops_detail::unary_op(UnaryOp::rdiv_scalar, a, static_cast<double>(s));
}

// ---- comparisons (uint8 0/1; no gradient) ------------------------------------------------------
template <Element T> Tensor<std::uint8_t> eq(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::eq, a, b); }
template <Element T> Tensor<std::uint8_t> ne(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::ne, a, b); }
template <Element T> Tensor<std::uint8_t> lt(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::lt, a, b); }
template <Element T> Tensor<std::uint8_t> le(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::le, a, b); }
template <Element T> Tensor<std::uint8_t> gt(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::gt, a, b); }
template <Element T> Tensor<std::uint8_t> ge(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw<std::uint8_t>(BinaryOp::ge, a, b); }
template <Element T> Tensor<std::uint8_t> eq(const Tensor<T>& a, std::type_identity_t<T> s) { return eq(a, Tensor<T>::scalar(s, a.device())); }
template <Element T> Tensor<std::uint8_t> ne(const Tensor<T>& a, std::type_identity_t<T> s) { return ne(a, Tensor<T>::scalar(s, a.device())); }
template <Element T> Tensor<std::uint8_t> lt(const Tensor<T>& a, std::type_identity_t<T> s) { return lt(a, Tensor<T>::scalar(s, a.device())); }
template <Element T> Tensor<std::uint8_t> le(const Tensor<T>& a, std::type_identity_t<T> s) { return le(a, Tensor<T>::scalar(s, a.device())); }
template <Element T> Tensor<std::uint8_t> gt(const Tensor<T>& a, std::type_identity_t<T> s) { return gt(a, Tensor<T>::scalar(s, a.device())); }
template <Element T> Tensor<std::uint8_t> ge(const Tensor<T>& a, std::type_identity_t<T> s) { return ge(a, Tensor<T>::scalar(s, a.device())); }

// ---- where / masked_fill -----------------------------------------------------------------------
// out = cond ? a : b, broadcasting all three; differentiable in a and b.
template <Element T>
Tensor<T> where(const Tensor<std::uint8_t>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  ops_detail::check_same_device("where", a, b);
  ops_detail::check_same_device("where", cond, a);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"),
                                       b.shape(), "where");
  Tensor<T> out = Tensor<T>::empty(shape, a.device());
  if (out.numel())
    a.impl()->backend().where(ops_detail::kv(out), ops_detail::kv_broadcast(cond, shape),
                              ops_detail::kv_broadcast(a, shape), ops_detail::kv_broadcast(b, shape));
  return autograd::record<T>(out, "where", {&a.impl(), &b.impl()},
                             [saved_cond = autograd::save_input(cond, 0), sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
                               const Tensor<std::uint8_t>& cond = saved_cond.get();
                               auto zero = Tensor<T>::zeros({}, g.device());
                               return std::vector<Tensor<T>>{sum_to_shape(where(cond, g, zero), sa),
                                                             sum_to_shape(where(cond, zero, g), sb)};
                             });
}

// x with `value` wherever mask != 0 (mask broadcasts to x; any integer dtype).
template <Element T, Element M>
Tensor<T> masked_fill(const Tensor<T>& x, const Tensor<M>& mask, std::type_identity_t<T> value) {
  TINYXF_CHECK(!FloatElement<M>, "masked_fill: mask must be an integer/bool tensor, got ",
               dtype_name(dtype_v<M>));
  Tensor<std::uint8_t> cond;
  if constexpr (std::is_same_v<M, std::uint8_t>)
    cond = mask;
  else
    cond = ne(mask, M(0));
  const Shape shape = broadcast_shapes(x.shape(), cond.shape(), "masked_fill");
  TINYXF_CHECK(shape == x.shape(), "masked_fill: mask of shape ", shape_str(mask.shape()),
               " does not broadcast to the tensor's shape ", shape_str(x.shape()));
  return where(cond, Tensor<T>::scalar(value, x.device()), x);
}

}  // namespace tinyxf
