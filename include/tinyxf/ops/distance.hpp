#pragma once
// Vector norms and the functionals built on them, as torch: vector_norm (torch.linalg.vector_norm
// over dims), and torch.nn.functional's normalize, pairwise_distance and cosine_similarity.
// Composed from differentiable ops; vector_norm records torch's norm backward, which is 0 (not
// NaN) where the norm is 0, so a zero vector has finite gradients as in torch.
#include <cmath>
#include <vector>

#include "tinyxf/ops/elementwise.hpp"

namespace tinyxf {

namespace ops_detail {
// sign(x) in x's dtype (-1, 0, 1).
inline Tensor sign(const Tensor& x) {
  return gt(x, 0.0).to(x.dtype()) - lt(x, 0.0).to(x.dtype());
}
// torch's norm_backward (FunctionsManual.cpp): the gradient of ‖x‖_ord over the reduced dims,
// given g and the norm with the reduced dims kept. A zero norm gives 0; ord 0 (a count) gives 0.
inline Tensor vector_norm_backward(const Tensor& g, const Tensor& x, const Tensor& norm, double ord) {
  const auto where_norm_zero_0 = [&](const Tensor& v) { return masked_fill(v, eq(norm, 0.0), 0.0); };
  if (ord == 0.0) return Tensor::zeros(x.shape(), x.options());
  if (ord == 1.0) return sign(x) * g;
  if (ord == 2.0) return g * where_norm_zero_0(x / norm);
  if (std::isinf(ord)) {  // the elements of the largest (-inf: smallest) |x| share g; a NaN counts as one (torch)
    const Tensor a = abs(x);
    const Tensor at_max = where(ne(a, a), Tensor::scalar(1.0, x.options()), eq(a, norm).to(x.dtype()));
    return sign(x) * (g / sum_to_shape(at_max, norm.shape()) * at_max);
  }
  if (ord < 1.0) {  // negative ord included: a zero norm makes norm^(1 - ord) 0
    const Tensor scaled = sign(x) * masked_fill(pow(abs(x), ord - 1.0), eq(x, 0.0), 0.0);
    return scaled * g * pow(norm, 1.0 - ord);
  }
  // |x|^(ord-1) with x's sign; below ord 2 as sign(x) |x|^(ord-1), which is 0 (not NaN) at x = 0
  const Tensor scaled = ord < 2.0 ? sign(x) * pow(abs(x), ord - 1.0) : x * pow(abs(x), ord - 2.0);
  return scaled * where_norm_zero_0(g / pow(norm, ord - 1.0));
}

// torch.clamp_min(x, lo): lo where x < lo (NaN stays NaN); the gradient reaches x where x >= lo.
inline Tensor clamp_min(const Tensor& x, double lo) {
  return where(lt(x, lo), Tensor::scalar(lo, x.options()), x);
}
}  // namespace ops_detail

// torch.linalg.vector_norm(x, ord, dim=dims, keepdim): (Σ |x|^ord)^(1/ord) over `dims` (every
// dim when empty), negative ord included (a zero element makes it 0); ord = inf: max |x|;
// -inf: min |x|; 0: the count of nonzero elements (NaN counts), whose gradient is 0. inf, -inf and
// negative ords have no identity, so an empty reduction is an error, as in torch. A
// bfloat16/float16 x is reduced in float32 and rounded once, as torch.
inline Tensor vector_norm(const Tensor& x, double ord, const std::vector<std::int64_t>& dims = {},
                          bool keepdim = false) {
  TINYXF_CHECK(x.defined(), "vector_norm: undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, is_floating_point(x.dtype()),
                  "vector_norm: expected a floating point tensor as input, got ", dtype_name(x.dtype()));
  TINYXF_CHECK_AS(ValueError, !std::isnan(ord), "vector_norm: ord must be a number or +-inf, got nan");
  if (is_reduced_floating_point(x.dtype())) return vector_norm(x.to(kFloat32), ord, dims, keepdim).to(x.dtype());
  std::vector<std::int64_t> reduced = dims;
  if (reduced.empty())
    for (std::int64_t d = 0; d < x.dim(); ++d) reduced.push_back(d);
  const std::vector<int> reduced_dims = ops_detail::normalize_dims(reduced, x.shape().size(), "vector_norm");
  if (ord < 0.0 || std::isinf(ord)) {  // torch's words
    TINYXF_CHECK_AS(ValueError, !dims.empty() || x.numel() > 0, "vector_norm: cannot compute the ", ord,
                    " norm on an empty tensor because the operation does not have an identity");
    for (const int d : reduced_dims)  // a 0-d tensor (dim 0 or -1 allowed) has one element
      TINYXF_CHECK_AS(ValueError, x.dim() == 0 || x.shape()[static_cast<std::size_t>(d)] > 0, "vector_norm: cannot compute the ", ord,
                      " norm on the dimension ", d, " because this dimension is empty and the operation does not "
                      "have an identity");
  }
  Tensor norm_kept;
  {
    NoGradGuard forward_only;  // the backward is torch's, below
    const Tensor a = abs(x);
    if (std::isinf(ord)) {
      norm_kept = a;
      for (const int d : reduced_dims) norm_kept = ord > 0 ? max(norm_kept, d, true) : min(norm_kept, d, true);
    } else if (ord == 0.0) {
      norm_kept = sum(ne(x, 0.0).to(x.dtype()), reduced, true);
    } else if (ord == 1.0) {
      norm_kept = sum(a, reduced, true);
    } else if (ord == 2.0) {
      norm_kept = sqrt(sum(x * x, reduced, true));
    } else {
      norm_kept = pow(sum(pow(a, ord), reduced, true), 1.0 / ord);
    }
  }
  Tensor out = keepdim ? norm_kept : norm_kept.reshape(ops_detail::reduced_shape(x.shape(), reduced_dims, false));
  return autograd::record(out, "linalg_vector_norm", {&x.impl()},
                          [ord, saved_x = autograd::save_input(x, 0), norm = norm_kept.detach()](const Tensor& g) {
                            return std::vector<Tensor>{
                                ops_detail::vector_norm_backward(g.reshape(norm.shape()), saved_x.get(), norm, ord)};
                          });
}

// torch.nn.functional.normalize(x, p, dim, eps): x / max(‖x‖_p over dim, eps).
inline Tensor normalize(const Tensor& x, double p = 2.0, std::int64_t dim = 1, double eps = 1e-12) {
  TINYXF_CHECK(x.defined(), "normalize: undefined tensor argument");
  normalize_dim(dim, x.shape().size(), "normalize");
  return x / ops_detail::clamp_min(vector_norm(x, p, {dim}, true), eps);
}

// torch.nn.functional.pairwise_distance(x1, x2, p, eps, keepdim): ‖x1 - x2 + eps‖_p over the
// last dim of the broadcast shape.
inline Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p = 2.0, double eps = 1e-6,
                                bool keepdim = false) {
  TINYXF_CHECK(x1.defined() && x2.defined(), "pairwise_distance: undefined tensor argument");
  const std::int64_t last = std::max(x1.dim(), x2.dim()) - 1;
  return vector_norm(x1 - x2 + eps, p, {last}, keepdim);
}

namespace ops_detail {
// max(norm, eps) whose gradient passes through unclamped: torch's cosine_similarity clamps its
// norms in place under no_grad, so the graph sees the norm itself.
inline Tensor clamp_min_straight_through(const Tensor& norm, double eps) {
  Tensor clamped;
  {
    NoGradGuard values_only;
    clamped = clamp_min(norm, eps);
  }
  return autograd::record(clamped, "clone", {&norm.impl()}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}
}  // namespace ops_detail

// torch.nn.functional.cosine_similarity(x1, x2, dim, eps): Σ (x1 / max(‖x1‖, eps)) (x2 / max(‖x2‖, eps))
// over `dim` of the broadcast shape (torch's formula since 1.12: each input normalized first, the
// clamp invisible to autograd). Integer inputs take the floating result_type; two integer inputs
// are an error, as in torch.
inline Tensor cosine_similarity(const Tensor& x1_in, const Tensor& x2_in, std::int64_t dim = 1, double eps = 1e-8) {
  TINYXF_CHECK(x1_in.defined() && x2_in.defined(), "cosine_similarity: undefined tensor argument");
  const DType common = result_type(x1_in, x2_in);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(common),
                  "cosine_similarity: expected common dtype to be floating point, yet common dtype is ",
                  dtype_name(common));
  const Shape shape = broadcast_shapes(x1_in.shape(), x2_in.shape(), "cosine_similarity");
  const int d = normalize_dim(dim, shape.size(), "cosine_similarity");
  const auto prepared = [&](const Tensor& x) {
    const Tensor floating = is_floating_point(x.dtype()) ? x : x.to(common);
    return floating.shape() == shape ? floating : floating.expand(shape);
  };
  const Tensor x1 = prepared(x1_in), x2 = prepared(x2_in);
  const auto unit = [&](const Tensor& x) {
    return x / ops_detail::clamp_min_straight_through(vector_norm(x, 2.0, {d}, true), eps);
  };
  return sum(unit(x1) * unit(x2), {d});
}

}  // namespace tinyxf
