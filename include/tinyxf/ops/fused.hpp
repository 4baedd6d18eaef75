#pragma once
// Fused epilogues of a GEMM, each one backend op with a one-pass backward:
//   bias_gelu(y, bias)                        = gelu(y + bias)                 (FFN: lin1 -> GELU)
//   add_layer_norm(x, residual, γ, β, eps, b) = layer_norm((x + b) + residual)  (post-LN residual)
// The sum is never stored: backward recomputes it from the saved operands. On a backend without
// the fused kernels (supports_fused_*() false) they are composed from the ops they replace
// (the *_composed functions, also the tests' second opinion), computing the same function.
#include <string_view>

#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

namespace ops_detail {
inline Tensor contiguous_nograd(const Tensor& t) {
  NoGradGuard ng;
  return t.contiguous().detach();
}
}  // namespace ops_detail

// gelu(y + bias) for y [..., n] and bias [n]; approximate "none" (erf) or "tanh", as
// torch.nn.functional.gelu.
inline Tensor bias_gelu_composed(const Tensor& y, const Tensor& bias, std::string_view approximate = "none") {
  return gelu(y + bias, approximate);
}

// Under autocast y comes from a lower-precision GEMM (matmul/linear) and bias is cast to y's
// dtype, as linear(x, W, b) would give; 16-bit floats compute in float32, rounded back after the
// add and after gelu, as PyTorch's linear + gelu in bf16: in the fused kernel where the backend
// computes 16-bit floats (Backend::computes_16bit_floats), else through the composed ops.
inline Tensor bias_gelu(const Tensor& y, const Tensor& bias, std::string_view approximate = "none") {
  if (y.defined() && bias.defined() && is_reduced_floating_point(y.dtype()) && bias.dtype() != y.dtype() &&
      bias.dtype() != kFloat64 && autocast_enabled(y.device().type))
    return bias_gelu(y, bias.to(y.dtype()), approximate);
  if (y.defined() && is_reduced_floating_point(y.dtype()) && bias.defined() && bias.dtype() == y.dtype() &&
      !ops_detail::runs_16bit_natively(y, &Backend::supports_fused_bias_gelu))
    return bias_gelu_composed(y, bias, approximate);
  ops_detail::check_floating_or_16bit("bias_gelu", y);
  ops_detail::check_same_dtype("bias_gelu", y, bias);
  TINYXF_CHECK(approximate == "none" || approximate == "tanh",
               "bias_gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  ops_detail::check_same_device("bias_gelu", y, bias);
  TINYXF_CHECK(y.dim() >= 1 && bias.dim() == 1 && bias.shape()[0] == y.shape().back(), "bias_gelu: bias of shape ",
               shape_str(bias.shape()), " does not match the last dim of input shape ", shape_str(y.shape()));
  Backend& backend = y.impl()->backend();
  if (!backend.supports_fused_bias_gelu()) return bias_gelu_composed(y, bias, approximate);
  using ops_detail::kv;
  const bool tanh_form = approximate == "tanh";
  const std::int64_t cols = y.shape().back();
  const std::int64_t rows = cols ? y.numel() / cols : 0;
  const Tensor yc = ops_detail::contiguous_nograd(y), bc = ops_detail::contiguous_nograd(bias);
  Tensor out = Tensor::empty(y.shape(), y.options());
  if (out.numel()) backend.bias_gelu(kv(out), kv(yc), kv(bc), rows, cols, tanh_form);
  return autograd::record(
      out, "bias_gelu", {&y.impl(), &bias.impl()},
      [saved_y = autograd::save_input(yc, 0), saved_bias = autograd::save_input(bc, 1), rows, cols, tanh_form,
       need_bias = autograd::needs_grad(bias)](const Tensor& g) {
        const Tensor& yc = saved_y.get();
        const Tensor& bc = saved_bias.get();
        const Tensor gc = g.contiguous();
        Tensor gy = Tensor::empty(yc.shape(), g.options());
        Tensor gb = need_bias ? Tensor::empty({cols}, g.options()) : Tensor();
        if (rows == 0) {
          if (gb.defined()) gb.zero_();
        } else {
          g.impl()->backend().bias_gelu_backward(kv(gy), gb.defined() ? kv(gb) : ops_detail::no_tensor(), kv(gc),
                                                 kv(yc), kv(bc), rows, cols, tanh_form);
        }
        return std::vector<Tensor>{gy, gb};
      });
}

// layer_norm over the last dim of s = (x + bias) + residual (bias [n] optional, x and residual
// of one shape [..., n]; gamma/beta [n] optional), as the post-LN transformer's
// LayerNorm(sublayer(x) + x) with the sublayer's output bias folded in.
inline Tensor add_layer_norm_composed(const Tensor& x, const Tensor& residual, const Tensor& gamma = Tensor(),
                                  const Tensor& beta = Tensor(), double eps = 1e-5,
                                  const Tensor& bias = Tensor()) {
  const Tensor s = bias.defined() ? (x + bias) + residual : x + residual;
  return layer_norm(s, {s.shape().back()}, gamma, beta, eps);
}

inline Tensor add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& gamma = Tensor(),
                         const Tensor& beta = Tensor(), double eps = 1e-5, const Tensor& bias = Tensor()) {
  if (ops_detail::autocast_fp32_needed({&x, &residual, &gamma, &beta, &bias})) {  // autocast: fp32 list (layer_norm)
    using ops_detail::autocast_fp32;
    return add_layer_norm(autocast_fp32(x), autocast_fp32(residual), autocast_fp32(gamma), autocast_fp32(beta), eps,
                          autocast_fp32(bias));
  }
  ops_detail::check_floating("add_layer_norm", x);
  ops_detail::check_same_device("add_layer_norm", x, residual);
  ops_detail::check_same_dtype("add_layer_norm", x, residual);
  TINYXF_CHECK(x.dim() >= 1 && x.shape() == residual.shape(), "add_layer_norm: input of shape ", shape_str(x.shape()),
               " and residual of shape ", shape_str(residual.shape()), " differ");
  const std::int64_t cols = x.shape().back();
  const Shape row_shape{cols};
  for (const Tensor* t : {&gamma, &beta, &bias}) {
    if (!t->defined()) continue;
    ops_detail::check_same_device("add_layer_norm", x, *t);
    ops_detail::check_same_dtype("add_layer_norm", x, *t);
    TINYXF_CHECK(t->shape() == row_shape, "add_layer_norm: ", t == &gamma ? "gamma" : t == &beta ? "beta" : "bias",
                 " of shape ", shape_str(t->shape()), ", expected ", shape_str(row_shape));
  }
  Backend& backend = x.impl()->backend();
  if (!backend.supports_fused_add_layer_norm()) return add_layer_norm_composed(x, residual, gamma, beta, eps, bias);
  using ops_detail::kv;
  const auto opt = [](const Tensor& t) { return t.defined() ? ops_detail::contiguous_nograd(t) : Tensor(); };
  const auto opt_kv = [](const Tensor& t) { return t.defined() ? kv(t) : ops_detail::no_tensor(); };
  const std::int64_t rows = cols ? x.numel() / cols : 0;
  const Tensor xc = ops_detail::contiguous_nograd(x), rc = ops_detail::contiguous_nograd(residual);
  const Tensor gc = opt(gamma), bc = opt(beta), biasc = opt(bias);
  Tensor out = Tensor::empty(x.shape(), x.options());
  Tensor mean = Tensor::empty({rows}, x.options());
  Tensor rstd = Tensor::empty({rows}, x.options());
  if (out.numel())
    backend.add_layer_norm(kv(out), kv(mean), kv(rstd), kv(xc), kv(rc), opt_kv(biasc), opt_kv(gc), opt_kv(bc), rows,
                           cols, eps);
  return autograd::record(
      out, "add_layer_norm", {&x.impl(), &residual.impl(), &gamma.impl(), &beta.impl(), &bias.impl()},
      [saved_x = autograd::save_input(xc, 0), saved_residual = autograd::save_input(rc, 1),
       saved_gamma = autograd::save_input(gc, 2), saved_bias = autograd::save_input(biasc, 4), mean, rstd, rows, cols,
       opt_kv, need_gamma = autograd::needs_grad(gamma), need_beta = autograd::needs_grad(beta),
       need_bias = autograd::needs_grad(bias)](const Tensor& g) {
        const Tensor& xc = saved_x.get();
        const Tensor& rc = saved_residual.get();
        const Tensor& gc = saved_gamma.get();
        const Tensor& biasc = saved_bias.get();
        const Tensor go = g.contiguous();
        Tensor gs = Tensor::empty(xc.shape(), g.options());
        const auto param_grad = [&](bool need) { return need ? Tensor::empty({cols}, g.options()) : Tensor(); };
        Tensor ggamma = param_grad(need_gamma), gbeta = param_grad(need_beta), gbias = param_grad(need_bias);
        if (rows == 0) {  // empty batch: parameter gradients are zero
          for (Tensor* t : {&ggamma, &gbeta, &gbias})
            if (t->defined()) t->zero_();
        } else {
          g.impl()->backend().add_layer_norm_backward(kv(gs), opt_kv(gbias), opt_kv(ggamma), opt_kv(gbeta), kv(go),
                                                      kv(xc), kv(rc), opt_kv(biasc), kv(mean), kv(rstd), opt_kv(gc),
                                                      rows, cols);
        }
        // x and residual enter the sum alike: one gradient tensor serves both.
        return std::vector<Tensor>{gs, gs, ggamma, gbeta, gbias};
      });
}

}  // namespace tinyxf
