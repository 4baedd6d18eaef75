#pragma once
// scaled_dot_product_attention with torch.nn.functional.scaled_dot_product_attention's
// arguments. On a backend with a fused kernel (reference, cpu) it is one op, forward and
// backward, that never stores the [B, H, L, S] attention weights (backward recomputes them
// from a saved log-sum-exp per row, and regenerates the dropout mask from its counters);
// elsewhere it is composed from matmul / masked_fill / softmax / dropout
// (scaled_dot_product_attention_composed, also the conformance suite's second opinion).
#include <cmath>
#include <limits>
#include <optional>

#include "tinyxf/ops/matmul.hpp"
#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

namespace ops_detail {

struct AttentionShape {
  std::int64_t B, H, L, S, E, Ev;
};

inline AttentionShape attention_shape(const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& mask) {
  check_same_device("scaled_dot_product_attention", q, k);
  check_same_device("scaled_dot_product_attention", q, v);
  TINYXF_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
               "scaled_dot_product_attention: query, key and value must be [batch, heads, seq, dim], got ",
               shape_str(q.shape()), ", ", shape_str(k.shape()), " and ", shape_str(v.shape()));
  const AttentionShape s{q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3]};
  TINYXF_CHECK(k.shape()[0] == s.B && v.shape()[0] == s.B && k.shape()[1] == s.H && v.shape()[1] == s.H &&
                   k.shape()[3] == s.E && v.shape()[2] == s.S,
               "scaled_dot_product_attention: query ", shape_str(q.shape()), ", key ", shape_str(k.shape()),
               " and value ", shape_str(v.shape()), " do not fit [B, H, L, E], [B, H, S, E], [B, H, S, Ev]");
  if (mask.defined()) {
    check_same_device("scaled_dot_product_attention", q, mask);
    TINYXF_CHECK_AS(DTypeError, mask.dtype() == kBool || mask.dtype() == kUInt8,
                    "scaled_dot_product_attention: attn_mask must be bool or uint8, got ", dtype_name(mask.dtype()));
    const Shape full{s.B, s.H, s.L, s.S};
    TINYXF_CHECK(mask.dim() <= 4 && broadcast_shapes(mask.shape(), full, "scaled_dot_product_attention") == full,
                 "scaled_dot_product_attention: attn_mask of shape ", shape_str(mask.shape()),
                 " does not broadcast to the weights' shape ", shape_str(full));
  }
  return s;
}

// The operand as kernels want it: unit stride along the last dim, rows at a stride BLAS takes.
inline Tensor attention_operand(const Tensor& t) {
  const auto& st = t.strides();
  const auto& sh = t.shape();
  const bool ok = (st[3] == 1 || sh[3] <= 1) && (sh[2] <= 1 || st[2] >= std::max<std::int64_t>(sh[3], 1));
  if (ok) return t.detach();
  NoGradGuard ng;
  return t.contiguous().detach();
}

// A [B, H, n, d] tensor stored as [B, n, H, d]: the layout of a [B, n, H*d] projection split
// into heads, so outputs and gradients merge back into [B, n, H*d] without a copy.
inline Tensor empty_heads_last(std::int64_t B, std::int64_t H, std::int64_t n, std::int64_t d,
                               const TensorOptions& options) {
  return Tensor::empty({B, n, H, d}, options).transpose(1, 2);
}

// The lowest finite value of a floating dtype (torch.finfo(dtype).min), for masked scores.
inline double lowest_value(DType dtype) { return -max_finite(dtype); }

// The GEMM precision the fused kernels get while attention on 16-bit inputs runs them in float32
// (see reduced_attention); unset otherwise.
inline std::optional<MatmulPrecision>& attention_precision_override() {
  thread_local std::optional<MatmulPrecision> precision;
  return precision;
}

// Whether the backend's fused attention takes 16-bit q/k/v as they are (16-bit tensor-core GEMMs,
// float32 softmax and log-sum-exp; Backend::computes_16bit_attention).
inline bool native_16bit_attention(const Tensor& t) {
  if (!t.defined() || !is_reduced_floating_point(t.dtype())) return false;
  const Backend& backend = t.impl()->backend();
  return backend.computes_16bit_attention(t.dtype()) && backend.supports_fused_attention();
}

// The dtype of the saved log-sum-exp: float32 for 16-bit operands, else the operands'.
inline DType lse_dtype(DType d) { return is_reduced_floating_point(d) ? kFloat32 : d; }

// Attention on bfloat16/float16 operands elsewhere: the fused kernels exist for float32/float64
// only, so the operands are widened to float32 (exact), attention runs in float32 (autocast off inside)
// and the result is rounded back to the operands' dtype. For bfloat16 the kernels' GEMMs run at
// "medium" precision: products of the bf16 values summed in float32 (AVX512-BF16 where
// available), which is what a native bf16 kernel computes; softmax and its statistics stay
// float32. `run` gets the widened tensors.
template <class Run>
Tensor reduced_attention(DType dtype, Run&& run) {
  struct Scope {
    std::optional<MatmulPrecision> saved = attention_precision_override();
    explicit Scope(DType d) {
      attention_precision_override() = d == kBFloat16 ? MatmulPrecision::medium : MatmulPrecision::highest;
    }
    ~Scope() { attention_precision_override() = saved; }
  } scope(dtype);
  const AutocastOffGuard no_autocast;
  return run().to(dtype);
}

// The fused kernels' arguments; reserves the dropout counters of the [B, H, L, S] weights.
inline AttentionArgs attention_args(DType dtype, const AttentionShape& s, std::optional<double> scale, double dropout_p, bool is_causal,
                             Generator& gen) {
  TINYXF_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0,
               "scaled_dot_product_attention: dropout_p must be in [0, 1], got ", dropout_p);
  AttentionArgs args;
  args.scale = scale.value_or(1.0 / std::sqrt(static_cast<double>(s.E)));
  args.dropout_p = dropout_p;
  args.is_causal = is_causal;
  args.precision = attention_precision_override().value_or(matmul_precision_for(dtype));
  if (dropout_p > 0.0) std::tie(args.seed, args.offset) = gen.reserve(static_cast<std::uint64_t>(s.B * s.H * s.L * s.S));
  return args;
}

}  // namespace ops_detail

// softmax(scale · q kᵀ + mask) v with dropout on the weights, for q [B, H, L, E], k [B, H, S, E],
// v [B, H, S, Ev] -> [B, H, L, Ev]. attn_mask (bool or uint8, broadcastable to [B, H, L, S]) is 1 where
// a query may attend a key (PyTorch's boolean mask); a masked score becomes the lowest finite
// value before the softmax, so a fully masked row attends uniformly (Hugging Face's
// masked_fill(finfo.min) convention, where PyTorch's SDPA would give NaN or zeros). is_causal
// masks key j > query i; scale defaults to 1/sqrt(E). Dropout draws B·H·L·S numbers from `gen`
// in the order dropout() would on the [B, H, L, S] weights, so both paths drop the same weights.
inline Tensor scaled_dot_product_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v,
                                                const Tensor& attn_mask = {},
                                                double dropout_p = 0.0, bool is_causal = false,
                                                std::optional<double> scale = std::nullopt,
                                                Generator& gen = default_generator()) {
  const auto s = ops_detail::attention_shape(q, k, v, attn_mask);
  // The factor rounded to the operands' dtype, as a Python float multiplying a tensor is.
  const double factor = Tensor::scalar(scale.value_or(1.0 / std::sqrt(static_cast<double>(s.E))), q.dtype()).item();
  auto scores = matmul(q * factor, k.transpose(-1, -2));
  if (attn_mask.defined()) scores = masked_fill(scores, eq(attn_mask, 0.0), ops_detail::lowest_value(scores.dtype()));
  if (is_causal) {
    std::vector<std::uint8_t> above(static_cast<std::size_t>(s.L * s.S));
    for (std::int64_t i = 0; i < s.L; ++i)
      for (std::int64_t j = i + 1; j < s.S; ++j) above[static_cast<std::size_t>(i * s.S + j)] = 1;
    scores = masked_fill(scores, Tensor::from_vector(above, {s.L, s.S}, q.device()),
                         ops_detail::lowest_value(scores.dtype()));
  }
  return matmul(dropout(softmax(scores, -1), dropout_p, dropout_p > 0.0, gen), v);
}

inline Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                       const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                       bool is_causal = false, std::optional<double> scale = std::nullopt,
                                       Generator& gen = default_generator()) {
  // autocast: lower_precision_fp list (q, k and v in the autocast dtype, the result in it).
  if (const auto d = ops_detail::autocast_lower_dtype({&query, &key, &value}))
    return scaled_dot_product_attention(ops_detail::as_dtype(query, *d), ops_detail::as_dtype(key, *d),
                                        ops_detail::as_dtype(value, *d), attn_mask, dropout_p, is_causal, scale, gen);
  if (is_reduced_floating_point(query.dtype()) && key.dtype() == query.dtype() && value.dtype() == query.dtype() &&
      !ops_detail::native_16bit_attention(query))
    return ops_detail::reduced_attention(query.dtype(), [&] {
      return scaled_dot_product_attention(query.to(kFloat32), key.to(kFloat32), value.to(kFloat32), attn_mask,
                                          dropout_p, is_causal, scale, gen);
    });
  ops_detail::check_floating_or_16bit("scaled_dot_product_attention", query);
  ops_detail::check_same_dtype("scaled_dot_product_attention", query, key);
  ops_detail::check_same_dtype("scaled_dot_product_attention", query, value);
  TINYXF_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0,
               "scaled_dot_product_attention: dropout_p must be in [0, 1], got ", dropout_p);
  const auto s = ops_detail::attention_shape(query, key, value, attn_mask);
  Backend& backend = query.impl()->backend();
  if (!backend.supports_fused_attention())
    return scaled_dot_product_attention_composed(query, key, value, attn_mask, dropout_p, is_causal, scale, gen);

  using ops_detail::kv;
  const Tensor q = ops_detail::attention_operand(query), k = ops_detail::attention_operand(key),
                  v = ops_detail::attention_operand(value);
  const Shape weights{s.B, s.H, s.L, s.S};
  const KernelView mask_view = attn_mask.defined() ? ops_detail::kv_broadcast(attn_mask, weights) : ops_detail::no_tensor();
  const AttentionArgs args = ops_detail::attention_args(q.dtype(), s, scale, dropout_p, is_causal, gen);

  Tensor out = ops_detail::empty_heads_last(s.B, s.H, s.L, s.Ev, query.options());
  Tensor lse = Tensor::empty({s.B, s.H, s.L}, query.options().dtype(ops_detail::lse_dtype(query.dtype())));
  if (out.numel() || lse.numel()) backend.scaled_dot_product_attention(kv(out), kv(lse), kv(q), kv(k), kv(v), mask_view, args);

  return autograd::record(
      out, "scaled_dot_product_attention", {&query.impl(), &key.impl(), &value.impl()},
      [saved_q = autograd::save_input(q, 0), saved_k = autograd::save_input(k, 1), saved_v = autograd::save_input(v, 2),
       saved_out = autograd::save_output(out), lse, saved_mask = autograd::save_input(attn_mask, 3), weights, args,
       s](const Tensor& g) {
        const Tensor&q = saved_q.get(), &k = saved_k.get(), &v = saved_v.get(), &out = saved_out.get();
        const Tensor& mask = saved_mask.get();
        const Tensor go = ops_detail::attention_operand(g);
        Tensor gq = ops_detail::empty_heads_last(s.B, s.H, s.L, s.E, g.options());
        Tensor gk = ops_detail::empty_heads_last(s.B, s.H, s.S, s.E, g.options());
        Tensor gv = ops_detail::empty_heads_last(s.B, s.H, s.S, s.Ev, g.options());
        const KernelView mask_view = mask.defined() ? ops_detail::kv_broadcast(mask, weights) : ops_detail::no_tensor();
        if (gq.numel() || gk.numel() || gv.numel())
          g.impl()->backend().scaled_dot_product_attention_backward(kv(gq), kv(gk), kv(gv), kv(go), kv(q), kv(k), kv(v),
                                                                    kv(out), kv(lse), mask_view, args);
        return std::vector<Tensor>{gq, gk, gv};
      });
}

// Attention over q, k, v packed in one [B, S, 3·H·E] tensor (q | k | v along the last dim), as
// one GEMM against the concatenated [3·H·E, H·E] projection weights produces them. The heads are
// strided views (no copy in), and backward writes the three gradients into one [B, S, 3·H·E]
// tensor, so the projection's backward stays one GEMM per operand with nothing to add up.
// Same arguments and result as scaled_dot_product_attention on the split heads.
inline Tensor scaled_dot_product_attention_packed(const Tensor& qkv, std::int64_t heads,
                                              const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                              bool is_causal = false, std::optional<double> scale = std::nullopt,
                                              Generator& gen = default_generator()) {
  TINYXF_CHECK(qkv.dim() == 3 && heads > 0 && qkv.shape()[2] % (3 * heads) == 0,
               "scaled_dot_product_attention_packed: expected [batch, seq, 3 * heads * head_dim] with ", heads,
               " heads, got ", shape_str(qkv.shape()));
  if (const auto d = ops_detail::autocast_lower_dtype({&qkv}))  // autocast: lower_precision_fp list
    return scaled_dot_product_attention_packed(ops_detail::as_dtype(qkv, *d), heads, attn_mask, dropout_p, is_causal,
                                               scale, gen);
  if (is_reduced_floating_point(qkv.dtype()) && !ops_detail::native_16bit_attention(qkv))
    return ops_detail::reduced_attention(qkv.dtype(), [&] {
      return scaled_dot_product_attention_packed(qkv.to(kFloat32), heads, attn_mask, dropout_p, is_causal, scale, gen);
    });
  const std::int64_t B = qkv.shape()[0], S = qkv.shape()[1], D = qkv.shape()[2] / 3, E = D / heads;
  const auto split = [=](const Tensor& t, std::int64_t i) {  // [B, S, 3D] -> [B, H, S, E] view
    return t.narrow(2, i * D, D).view({B, S, heads, E}).transpose(1, 2);
  };
  Backend& backend = qkv.impl()->backend();
  if (!backend.supports_fused_attention() || !qkv.is_contiguous())
    return scaled_dot_product_attention(split(qkv, 0), split(qkv, 1), split(qkv, 2), attn_mask, dropout_p, is_causal,
                                        scale, gen);
  const Tensor packed = qkv.detach();
  const Tensor q = split(packed, 0), k = split(packed, 1), v = split(packed, 2);
  const auto s = ops_detail::attention_shape(q, k, v, attn_mask);
  using ops_detail::kv;
  const Shape weights{s.B, s.H, s.L, s.S};
  const KernelView mask_view = attn_mask.defined() ? ops_detail::kv_broadcast(attn_mask, weights) : ops_detail::no_tensor();
  const AttentionArgs args = ops_detail::attention_args(q.dtype(), s, scale, dropout_p, is_causal, gen);
  Tensor out = ops_detail::empty_heads_last(s.B, s.H, s.L, s.Ev, qkv.options());
  Tensor lse = Tensor::empty({s.B, s.H, s.L}, qkv.options().dtype(ops_detail::lse_dtype(qkv.dtype())));
  if (out.numel() || lse.numel()) backend.scaled_dot_product_attention(kv(out), kv(lse), kv(q), kv(k), kv(v), mask_view, args);
  return autograd::record(
      out, "scaled_dot_product_attention_packed", {&qkv.impl()},
      [saved_qkv = autograd::save_input(packed, 0), split, saved_out = autograd::save_output(out), lse,
       saved_mask = autograd::save_input(attn_mask, 1), weights, args, shape = qkv.shape()](const Tensor& g) {
        const Tensor& packed = saved_qkv.get();
        const Tensor q = split(packed, 0), k = split(packed, 1), v = split(packed, 2);
        const Tensor& out = saved_out.get();
        const Tensor& mask = saved_mask.get();
        const Tensor go = ops_detail::attention_operand(g);
        Tensor gqkv = Tensor::empty(shape, g.options());
        const Tensor gq = split(gqkv, 0), gk = split(gqkv, 1), gv = split(gqkv, 2);
        const KernelView mask_view = mask.defined() ? ops_detail::kv_broadcast(mask, weights) : ops_detail::no_tensor();
        if (gqkv.numel())
          g.impl()->backend().scaled_dot_product_attention_backward(kv(gq), kv(gk), kv(gv), kv(go), kv(q), kv(k), kv(v),
                                                                    kv(out), kv(lse), mask_view, args);
        return std::vector<Tensor>{gqkv};
      });
}

}  // namespace tinyxf
