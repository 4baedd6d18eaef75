#pragma once
// Neural-network ops: softmax/log_softmax, layer_norm, dropout, index_select/embedding. Each has a
// dedicated forward and backward kernel in every backend. The losses are in ops/loss.hpp
// (included at the end).
#include <limits>
#include <optional>

#include "tinyxf/ops/matmul.hpp"

namespace tinyxf {

namespace ops_detail {
// Moves `dim` last and makes the tensor contiguous: kernels work on [rows, cols].
inline Tensor dim_last_contiguous(const Tensor& x, int d) {
  NoGradGuard ng;
  if (d == x.dim() - 1) return x.contiguous();
  return x.transpose(d, -1).contiguous();
}

inline Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  if (autocast_fp32_needed({&x})) return softmax_impl(autocast_fp32(x), dim, log);  // autocast: fp32 list
  check_floating(name, x);
  if (x.dim() == 0) {  // a 0-dim tensor takes dim 0 or -1 only, as torch (IndexError otherwise)
    normalize_dim(dim, 0, name);
    return softmax_impl(x.reshape({1}), 0, log).reshape({});
  }
  const int d = normalize_dim(dim, x.shape().size(), name);
  const bool moved = d != x.dim() - 1;
  Tensor xc = dim_last_contiguous(x, d);
  const std::int64_t cols = xc.shape().back();
  const std::int64_t rows = cols ? xc.numel() / cols : 0;
  Tensor y = Tensor::empty(xc.shape(), x.options());
  if (y.numel()) x.impl()->backend().softmax(kv(y), kv(xc), rows, cols, log);
  Tensor out = moved ? Tensor(make_view(y.impl(), x.shape(), [&] {
                            Shape st = y.strides();
                            std::swap(st[static_cast<std::size_t>(d)], st.back());
                            return st;
                          }(), 0))
                        : y;
  return autograd::record(out, name, {&x.impl()}, [saved_y = autograd::save_output(y), rows, cols, log, d,
                                                      moved](const Tensor& g) {
    Tensor gc = dim_last_contiguous(g, d);
    Tensor gi = Tensor::empty(gc.shape(), g.options());
    if (gi.numel()) g.impl()->backend().softmax_backward(kv(gi), kv(gc), kv(saved_y.get()), rows, cols, log);
    return std::vector<Tensor>{moved ? gi.transpose(d, -1) : gi};
  });
}
}  // namespace ops_detail

inline Tensor softmax(const Tensor& x, std::int64_t dim) {
  return ops_detail::softmax_impl(x, dim, false);
}
inline Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return ops_detail::softmax_impl(x, dim, true);
}

// Normalizes over the trailing dims given by normalized_shape; weight/bias optional (affine).
// Statistics use the biased variance, as torch.nn.functional.layer_norm.
inline Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                     const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                     double eps = 1e-5) {
  if (ops_detail::autocast_fp32_needed({&x, &weight, &bias}))  // autocast: fp32 list
    return layer_norm(ops_detail::autocast_fp32(x), normalized_shape, ops_detail::autocast_fp32(weight),
                      ops_detail::autocast_fp32(bias), eps);
  ops_detail::check_floating("layer_norm", x);
  ops_detail::check_same_dtype("layer_norm", x, weight);
  ops_detail::check_same_dtype("layer_norm", x, bias);
  const std::size_t k = normalized_shape.size();
  TINYXF_CHECK(k >= 1 && k <= x.shape().size() &&
                   std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - static_cast<std::ptrdiff_t>(k)),
               "layer_norm: normalized_shape ", shape_str(normalized_shape),
               " does not match the trailing dims of input shape ", shape_str(x.shape()));
  if (weight.defined()) {
    ops_detail::check_same_device("layer_norm", x, weight);
    TINYXF_CHECK(weight.shape() == normalized_shape, "layer_norm: weight of shape ",
                 shape_str(weight.shape()), ", expected ", shape_str(normalized_shape));
  }
  if (bias.defined()) {
    ops_detail::check_same_device("layer_norm", x, bias);
    TINYXF_CHECK(bias.shape() == normalized_shape, "layer_norm: bias of shape ",
                 shape_str(bias.shape()), ", expected ", shape_str(normalized_shape));
  }
  const std::int64_t cols = shape_numel(normalized_shape);
  const std::int64_t rows = cols ? x.numel() / cols : 0;
  Tensor xc = [&] { NoGradGuard ng; return x.contiguous(); }();
  Tensor wc = weight.defined() ? [&] { NoGradGuard ng; return weight.contiguous(); }() : Tensor();
  Tensor bc = bias.defined() ? [&] { NoGradGuard ng; return bias.contiguous(); }() : Tensor();
  Tensor out = Tensor::empty(x.shape(), x.options());
  Tensor mean = Tensor::empty({rows}, x.options());
  Tensor rstd = Tensor::empty({rows}, x.options());
  using ops_detail::kv;
  const auto opt_kv = [](const Tensor& t) { return t.defined() ? kv(t) : ops_detail::no_tensor(); };
  if (out.numel())
    x.impl()->backend().layer_norm(kv(out), kv(mean), kv(rstd), kv(xc), opt_kv(wc), opt_kv(bc), rows, cols, eps);
  const bool need_x = autograd::needs_grad(x), need_w = autograd::needs_grad(weight),
             need_b = autograd::needs_grad(bias);
  return autograd::record(
      out, "layer_norm", {&x.impl(), &weight.impl(), &bias.impl()},
      [saved_x = autograd::save_input(xc, 0), saved_w = autograd::save_input(wc, 1), mean, rstd, rows, cols,
       need_x, need_w, need_b, opt_kv, nshape = normalized_shape](const Tensor& g) {
        const Tensor& xc = saved_x.get();
        const Tensor& wc = saved_w.get();
        Tensor gc = g.contiguous();
        Tensor gx = need_x ? Tensor::empty(xc.shape(), g.options()) : Tensor();
        Tensor gw = need_w ? Tensor::empty(nshape, g.options()) : Tensor();
        Tensor gb = need_b ? Tensor::empty(nshape, g.options()) : Tensor();
        if (rows == 0) {  // empty batch: parameter gradients are zero
          if (gw.defined()) gw.zero_();
          if (gb.defined()) gb.zero_();
        } else {
          g.impl()->backend().layer_norm_backward(opt_kv(gx), opt_kv(gw), opt_kv(gb), kv(gc), kv(xc),
                                                  kv(mean), kv(rstd), opt_kv(wc), rows, cols);
        }
        return std::vector<Tensor>{gx, gw, gb};
      });
}

// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1/(1-p); identity in eval mode. The mask comes from the counter-based RNG of `gen`, so it is
// identical on every backend. A backend with a fused kernel draws the mask on the fly and never
// stores it: backward regenerates it from the same counters; elsewhere the mask is a tensor.
inline Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator()) {
  // A 16-bit floating x: computed in float32 and rounded back (as the elementwise ops), by the
  // fused kernel itself where the backend can.
  if (x.defined() && is_reduced_floating_point(x.dtype()) &&
      !ops_detail::runs_16bit_natively(x, &Backend::supports_fused_dropout))
    return training && p != 0.0 ? dropout(x.to(kFloat32), p, training, gen).to(x.dtype()) : x;
  ops_detail::check_floating_or_16bit("dropout", x);
  TINYXF_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  const auto stream = gen.reserve(static_cast<std::uint64_t>(x.numel()));
  const std::uint64_t seed = stream.first, first = stream.second;  // (named: lambdas capture them)
  Backend& backend = x.impl()->backend();
  if (!backend.supports_fused_dropout()) {
    Tensor mask = Tensor::empty(x.shape(), x.options());
    if (mask.numel()) backend.random(RandomKind::bernoulli_scaled, ops_detail::kv(mask), p, 0.0, seed, first);
    return x * mask;
  }
  const auto apply = [p, seed, first](const Tensor& in) {
    Tensor ic = [&] { NoGradGuard ng; return in.contiguous(); }();
    Tensor out = Tensor::empty(in.shape(), in.options());
    if (out.numel()) in.impl()->backend().dropout(ops_detail::kv(out), ops_detail::kv(ic), p, seed, first);
    return out;
  };
  return autograd::record(apply(x), "dropout", {&x.impl()},
                             [apply](const Tensor& g) { return std::vector<Tensor>{apply(g)}; });
}

namespace ops_detail {
// An index argument as the backends take it (int64): torch also accepts int32 indices, converted
// here; other dtypes raise a DTypeError.
inline Tensor index_as_int64(const char* op, const char* what, const Tensor& index) {
  TINYXF_CHECK(index.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, index.dtype() == kInt64 || index.dtype() == kInt32, op, ": expected ", what,
                  " of dtype int64 or int32, got ", dtype_name(index.dtype()));
  return as_dtype(index, kInt64);
}
}  // namespace ops_detail

// Rows of x along dim picked by a 1-D int64 (or int32) index; backward scatter-adds.
inline Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index_in) {
  ops_detail::check_same_device("index_select", x, index_in);
  const Tensor index = ops_detail::index_as_int64("index_select", "an index", index_in);
  TINYXF_CHECK(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ",
               shape_str(index.shape()));
  const int d = normalize_dim(dim, x.shape().size(), "index_select");
  if (x.dim() == 0) {  // torch: one index (0 or -1), the scalar itself
    TINYXF_CHECK_AS(IndexError, index.numel() == 1, "index_select: an index into a 0-dim tensor can have only 1 "
                    "value, got ", index.numel());
    return index_select(x.reshape({1}), 0, index.reshape({1})).reshape({});
  }
  Tensor xc = [&] { NoGradGuard ng; return x.contiguous(); }();
  Tensor ic = index.contiguous().reshape({-1});
  const Shape& s = x.shape();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= s[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(d) + 1; i < s.size(); ++i) inner *= s[i];
  const std::int64_t n_src = s[static_cast<std::size_t>(d)];
  Shape out_shape = s;
  out_shape[static_cast<std::size_t>(d)] = ic.numel();
  Tensor out = Tensor::empty(out_shape, x.options());
  if (ic.numel())  // bounds are checked by the kernel even when the output is empty
    x.impl()->backend().index_select(ops_detail::kv(out), ops_detail::kv(xc), ops_detail::kv(ic), outer, n_src, inner);
  return autograd::record(out, "index_select", {&x.impl()}, [saved_index = autograd::save_input(ic, 1), s, outer,
                                                                n_src, inner](const Tensor& g) {
    const Tensor& ic = saved_index.get();
    // 16-bit gradients summed in float32 and rounded once, as torch's index_add on a matrix (its
    // 1-D and some 3-D paths round after each add; embedding's backward below does too).
    const DType sum_dtype = is_reduced_floating_point(g.dtype()) ? kFloat32 : g.dtype();
    Tensor gx = Tensor::zeros(s, g.options().dtype(sum_dtype));
    Tensor gc = g.contiguous().to(sum_dtype);
    if (ic.numel())
      g.impl()->backend().index_add(ops_detail::kv(gx), ops_detail::kv(gc), ops_detail::kv(ic), outer, n_src,
                                    inner, std::numeric_limits<std::int64_t>::min());
    return std::vector<Tensor>{gx.to(g.dtype())};
  });
}

namespace ops_detail {
// torch's padding_idx: nullopt for none, a negative index counts from the end (-1: last row).
inline std::optional<std::int64_t> resolve_padding_idx(std::optional<std::int64_t> padding_idx,
                                                       std::int64_t num_embeddings, const char* op) {
  if (!padding_idx) return std::nullopt;
  TINYXF_CHECK(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings, op, ": padding_idx ",
               *padding_idx, " is out of range for ", num_embeddings, " embeddings (expected ", -num_embeddings,
               " to ", num_embeddings - 1, ", or none)");
  return *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
}
}  // namespace ops_detail

// weight[indices] for an int64 (or int32) index tensor of any shape -> [..., dim]; the row `padding_idx`
// (none by default; negative counts from the end) receives no gradient, as
// torch.nn.functional.embedding.
inline Tensor embedding(const Tensor& indices_in, const Tensor& weight,
                    std::optional<std::int64_t> padding_idx = std::nullopt) {
  TINYXF_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got ",
               shape_str(weight.shape()));
  ops_detail::check_same_device("embedding", weight, indices_in);
  const Tensor indices = ops_detail::index_as_int64("embedding", "indices", indices_in);
  const std::int64_t num = weight.shape()[0], dim = weight.shape()[1];
  const std::int64_t skip_row = ops_detail::resolve_padding_idx(padding_idx, num, "embedding")
                                    .value_or(std::numeric_limits<std::int64_t>::min());
  Tensor flat = indices.contiguous().reshape({-1});
  Tensor w = [&] { NoGradGuard ng; return weight.contiguous(); }();
  Tensor out = Tensor::empty({flat.numel(), dim}, weight.options());
  if (flat.numel())
    weight.impl()->backend().index_select(ops_detail::kv(out), ops_detail::kv(w), ops_detail::kv(flat), 1, num, dim);
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  out = Tensor(make_view(out.impl(), out_shape, contiguous_strides(out_shape), 0));
  return autograd::record(out, "embedding", {&weight.impl()}, [saved_indices = autograd::save_input(flat, 0), num,
                                                                 dim, skip_row](const Tensor& g) {
    const Tensor& flat = saved_indices.get();
    Tensor gw = Tensor::zeros({num, dim}, g.options());
    Tensor gc = g.contiguous();
    if (flat.numel())
      g.impl()->backend().index_add(ops_detail::kv(gw), ops_detail::kv(gc), ops_detail::kv(flat), 1, num, dim,
                                    skip_row);
    return std::vector<Tensor>{gw};
  });
}

// ---- member shortcuts (declared in core/tensor.hpp) ---------------------------------------------
inline Tensor Tensor::softmax(std::int64_t dim) const { return tinyxf::softmax(*this, dim); }
inline Tensor Tensor::log_softmax(std::int64_t dim) const { return tinyxf::log_softmax(*this, dim); }
inline Tensor Tensor::index_select(std::int64_t dim, const Tensor& index) const {
  return tinyxf::index_select(*this, dim, index);
}

}  // namespace tinyxf

// The losses (nll_loss, cross_entropy, ...) build on log_softmax above; every caller of this header
// has them.
#include "tinyxf/ops/loss.hpp"
// The ops composed from the ones above (logsumexp, var, clamp, the activations, tril, flip, ...:
// ops/composite.hpp); every caller of this header has them too.
#include "tinyxf/ops/composite.hpp"
