#pragma once
// Neural-network ops: softmax/log_softmax, layer_norm, dropout, index_select/embedding,
// cross_entropy. Each has a dedicated forward and backward kernel in every backend.
#include <limits>
#include <optional>

#include "tinyxf/ops/matmul.hpp"

namespace tinyxf {

namespace ops_detail {
// Moves `dim` last and makes the tensor contiguous: kernels work on [rows, cols].
template <Element T>
Tensor<T> dim_last_contiguous(const Tensor<T>& x, int d) {
  NoGradGuard ng;
  if (d == x.dim() - 1) return x.contiguous();
  return x.transpose(d, -1).contiguous();
}

template <Element T>
Tensor<T> softmax_impl(const Tensor<T>& x, std::int64_t dim, bool log) {
  static_assert(FloatElement<T>, "softmax: floating tensors only");
  const char* name = log ? "log_softmax" : "softmax";
  if (x.dim() == 0) return softmax_impl(x.reshape({1}), 0, log).reshape({});
  const int d = normalize_dim(dim, x.shape().size(), name);
  const bool moved = d != x.dim() - 1;
  Tensor<T> xc = dim_last_contiguous(x, d);
  const std::int64_t cols = xc.shape().back();
  const std::int64_t rows = cols ? xc.numel() / cols : 0;
  Tensor<T> y = Tensor<T>::empty(xc.shape(), x.device());
  if (y.numel()) x.impl()->backend().softmax(kv(y), kv(xc), rows, cols, log);
  Tensor<T> out = moved ? Tensor<T>(make_view(y.impl(), x.shape(), [&] {
                            Shape st = y.strides();
                            std::swap(st[static_cast<std::size_t>(d)], st.back());
                            return st;
                          }(), 0))
                        : y;
  return autograd::record<T>(out, name, {&x.impl()}, [saved_y = autograd::save_output(y), rows, cols, log, d,
                                                      moved](const Tensor<T>& g) {
    Tensor<T> gc = dim_last_contiguous(g, d);
    Tensor<T> gi = Tensor<T>::empty(gc.shape(), g.device());
    if (gi.numel()) g.impl()->backend().softmax_backward(kv(gi), kv(gc), kv(saved_y.get()), rows, cols, log);
    return std::vector<Tensor<T>>{moved ? gi.transpose(d, -1) : gi};
  });
}
}  // namespace ops_detail

template <Element T>
Tensor<T> softmax(const Tensor<T>& x, std::int64_t dim) {
  return ops_detail::softmax_impl(x, dim, false);
}
template <Element T>
Tensor<T> log_softmax(const Tensor<T>& x, std::int64_t dim) {
  return ops_detail::softmax_impl(x, dim, true);
}

// Normalizes over the trailing dims given by normalized_shape; weight/bias optional (affine).
// Statistics use the biased variance, as torch.nn.functional.layer_norm.
template <Element T>
Tensor<T> layer_norm(const Tensor<T>& x, const Shape& normalized_shape,
                     const Tensor<T>& weight = Tensor<T>(), const Tensor<T>& bias = Tensor<T>(),
                     double eps = 1e-5) {
  static_assert(FloatElement<T>, "layer_norm: floating tensors only");
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
  Tensor<T> xc = [&] { NoGradGuard ng; return x.contiguous(); }();
  Tensor<T> wc = weight.defined() ? [&] { NoGradGuard ng; return weight.contiguous(); }() : Tensor<T>();
  Tensor<T> bc = bias.defined() ? [&] { NoGradGuard ng; return bias.contiguous(); }() : Tensor<T>();
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
  Tensor<T> mean = Tensor<T>::empty({rows}, x.device());
  Tensor<T> rstd = Tensor<T>::empty({rows}, x.device());
  using ops_detail::kv;
  const auto opt_kv = [](const Tensor<T>& t) { return t.defined() ? kv(t) : ops_detail::no_tensor(); };
  if (out.numel())
    x.impl()->backend().layer_norm(kv(out), kv(mean), kv(rstd), kv(xc), opt_kv(wc), opt_kv(bc), rows, cols, eps);
  const bool need_x = autograd::needs_grad(x), need_w = autograd::needs_grad(weight),
             need_b = autograd::needs_grad(bias);
  return autograd::record<T>(
      out, "layer_norm", {&x.impl(), &weight.impl(), &bias.impl()},
      [saved_x = autograd::save_input(xc, 0), saved_w = autograd::save_input(wc, 1), mean, rstd, rows, cols,
       need_x, need_w, need_b, opt_kv, nshape = normalized_shape](const Tensor<T>& g) {
        const Tensor<T>& xc = saved_x.get();
        const Tensor<T>& wc = saved_w.get();
        Tensor<T> gc = g.contiguous();
        Tensor<T> gx = need_x ? Tensor<T>::empty(xc.shape(), g.device()) : Tensor<T>();
        Tensor<T> gw = need_w ? Tensor<T>::empty(nshape, g.device()) : Tensor<T>();
        Tensor<T> gb = need_b ? Tensor<T>::empty(nshape, g.device()) : Tensor<T>();
        if (rows == 0) {  // empty batch: parameter gradients are zero
          if (gw.defined()) gw.zero_();
          if (gb.defined()) gb.zero_();
        } else {
          g.impl()->backend().layer_norm_backward(opt_kv(gx), opt_kv(gw), opt_kv(gb), kv(gc), kv(xc),
                                                  kv(mean), kv(rstd), opt_kv(wc), rows, cols);
        }
        return std::vector<Tensor<T>>{gx, gw, gb};
      });
}

// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1/(1-p); identity in eval mode. The mask comes from the counter-based RNG of `gen`, so it is
// identical on every backend. A backend with a fused kernel draws the mask on the fly and never
// stores it: backward regenerates it from the same counters; elsewhere the mask is a tensor.
template <Element T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training, Generator& gen = default_generator()) {
  static_assert(FloatElement<T>, "dropout: floating tensors only");
  TINYXF_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  const auto stream = gen.reserve(static_cast<std::uint64_t>(x.numel()));
  const std::uint64_t seed = stream.first, first = stream.second;  // (named: lambdas capture them)
  Backend& backend = x.impl()->backend();
  if (!backend.supports_fused_dropout()) {
    Tensor<T> mask = Tensor<T>::empty(x.shape(), x.device());
    if (mask.numel()) backend.random(RandomKind::bernoulli_scaled, ops_detail::kv(mask), p, 0.0, seed, first);
    return x * mask;
  }
  const auto apply = [p, seed, first](const Tensor<T>& in) {
    Tensor<T> ic = [&] { NoGradGuard ng; return in.contiguous(); }();
    Tensor<T> out = Tensor<T>::empty(in.shape(), in.device());
    if (out.numel()) in.impl()->backend().dropout(ops_detail::kv(out), ops_detail::kv(ic), p, seed, first);
    return out;
  };
  return autograd::record<T>(apply(x), "dropout", {&x.impl()},
                             [apply](const Tensor<T>& g) { return std::vector<Tensor<T>>{apply(g)}; });
}

// Rows of x along dim picked by a 1-D int64 index; backward scatter-adds.
template <Element T>
Tensor<T> index_select(const Tensor<T>& x, std::int64_t dim, const Tensor<std::int64_t>& index) {
  ops_detail::check_same_device("index_select", x, index);
  TINYXF_CHECK(index.dim() <= 1, "index_select: index must be 0-D or 1-D, got shape ",
               shape_str(index.shape()));
  const int d = normalize_dim(dim, x.shape().size(), "index_select");
  Tensor<T> xc = [&] { NoGradGuard ng; return x.contiguous(); }();
  Tensor<std::int64_t> ic = index.contiguous().reshape({-1});
  const Shape& s = x.shape();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= s[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(d) + 1; i < s.size(); ++i) inner *= s[i];
  const std::int64_t n_src = s[static_cast<std::size_t>(d)];
  Shape out_shape = s;
  out_shape[static_cast<std::size_t>(d)] = ic.numel();
  Tensor<T> out = Tensor<T>::empty(out_shape, x.device());
  if (ic.numel())  // bounds are checked by the kernel even when the output is empty
    x.impl()->backend().index_select(ops_detail::kv(out), ops_detail::kv(xc), ops_detail::kv(ic), outer, n_src, inner);
  return autograd::record<T>(out, "index_select", {&x.impl()}, [saved_index = autograd::save_input(ic, 1), s, outer,
                                                                n_src, inner](const Tensor<T>& g) {
    const Tensor<std::int64_t>& ic = saved_index.get();
    Tensor<T> gx = Tensor<T>::zeros(s, g.device());
    Tensor<T> gc = g.contiguous();
    if (ic.numel())
      g.impl()->backend().index_add(ops_detail::kv(gx), ops_detail::kv(gc), ops_detail::kv(ic), outer, n_src,
                                    inner, std::numeric_limits<std::int64_t>::min());
    return std::vector<Tensor<T>>{gx};
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

// weight[indices] for an int64 index tensor of any shape -> [..., dim]; the row `padding_idx`
// (none by default; negative counts from the end) receives no gradient, as
// torch.nn.functional.embedding.
template <Element T>
Tensor<T> embedding(const Tensor<std::int64_t>& indices, const Tensor<T>& weight,
                    std::optional<std::int64_t> padding_idx = std::nullopt) {
  TINYXF_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got ",
               shape_str(weight.shape()));
  ops_detail::check_same_device("embedding", weight, indices);
  const std::int64_t num = weight.shape()[0], dim = weight.shape()[1];
  const std::int64_t skip_row = ops_detail::resolve_padding_idx(padding_idx, num, "embedding")
                                    .value_or(std::numeric_limits<std::int64_t>::min());
  Tensor<std::int64_t> flat = indices.contiguous().reshape({-1});
  Tensor<T> w = [&] { NoGradGuard ng; return weight.contiguous(); }();
  Tensor<T> out = Tensor<T>::empty({flat.numel(), dim}, weight.device());
  if (flat.numel())
    weight.impl()->backend().index_select(ops_detail::kv(out), ops_detail::kv(w), ops_detail::kv(flat), 1, num, dim);
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  out = Tensor<T>(make_view(out.impl(), out_shape, contiguous_strides(out_shape), 0));
  return autograd::record<T>(out, "embedding", {&weight.impl()}, [saved_indices = autograd::save_input(flat, 0), num,
                                                                 dim, skip_row](const Tensor<T>& g) {
    const Tensor<std::int64_t>& flat = saved_indices.get();
    Tensor<T> gw = Tensor<T>::zeros({num, dim}, g.device());
    Tensor<T> gc = g.contiguous();
    if (flat.numel())
      g.impl()->backend().index_add(ops_detail::kv(gw), ops_detail::kv(gc), ops_detail::kv(flat), 1, num, dim,
                                    skip_row);
    return std::vector<Tensor<T>>{gw};
  });
}

// Mean negative log-likelihood of log-probabilities [N, C] at int64 targets [N]; rows whose
// target is ignore_index are left out of the mean (all ignored gives NaN, as PyTorch).
template <Element T>
Tensor<T> nll_loss(const Tensor<T>& logp, const Tensor<std::int64_t>& target, std::int64_t ignore_index = -100) {
  TINYXF_CHECK(logp.dim() == 2 && target.dim() == 1 && target.shape()[0] == logp.shape()[0],
               "nll_loss: expected input [N, C] and target [N], got ", shape_str(logp.shape()), " and ",
               shape_str(target.shape()));
  ops_detail::check_same_device("nll_loss", logp, target);
  const std::int64_t rows = logp.shape()[0], classes = logp.shape()[1];
  Tensor<T> lc = [&] { NoGradGuard ng; return logp.contiguous(); }();
  Tensor<std::int64_t> tc = target.contiguous();
  Tensor<T> loss = Tensor<T>::empty({}, logp.device());
  Tensor<T> count = Tensor<T>::empty({}, logp.device());
  logp.impl()->backend().nll_loss(ops_detail::kv(loss), ops_detail::kv(count), ops_detail::kv(lc),
                                  ops_detail::kv(tc), rows, classes, ignore_index);
  return autograd::record<T>(loss, "nll_loss", {&logp.impl()}, [saved_target = autograd::save_input(tc, 1), count, rows,
                                                                 classes, ignore_index](const Tensor<T>& g) {
    const Tensor<std::int64_t>& tc = saved_target.get();
    Tensor<T> gl = Tensor<T>::empty({rows, classes}, g.device());
    Tensor<T> gc = g.contiguous();
    g.impl()->backend().nll_loss_backward(ops_detail::kv(gl), ops_detail::kv(gc), ops_detail::kv(count),
                                          ops_detail::kv(tc), rows, classes, ignore_index);
    return std::vector<Tensor<T>>{gl};
  });
}

// torch.nn.functional.cross_entropy(logits [N, C], target [N], reduction='mean', ignore_index).
template <Element T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Tensor<std::int64_t>& target,
                        std::int64_t ignore_index = -100) {
  TINYXF_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got ", shape_str(logits.shape()));
  return nll_loss(log_softmax(logits, -1), target, ignore_index);
}

}  // namespace tinyxf
