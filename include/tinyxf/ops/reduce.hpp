#pragma once
// Reductions: sum, mean, max/min (values and indices), argmax/argmin, over any dims with
// keepdim, and sum_to_shape (the adjoint of broadcasting). Kernels reduce the middle axis of a
// contiguous [outer, reduced, inner] layout, so a single-dim reduction of a contiguous tensor
// needs no copy.
#include <algorithm>
#include <limits>

#include "tinyxf/backend/dispatch.hpp"
#include "tinyxf/ops/shape.hpp"

namespace tinyxf {

// Defined in ops/elementwise.hpp.
inline Tensor div(const Tensor& a, double s);

namespace ops_detail {

// Reduces one dim (kept as size 1) with the backend kernel; no autograd.
// The output has dtype `out_dtype` (the input's for values, int64 for indices).
inline Tensor reduce_dim_raw(ReduceOp op, DType out_dtype, const Tensor& x, int d) {
  if (is_reduced_floating_point(x.dtype()) && !is_reduced_floating_point(out_dtype))
    TINYXF_CHECK(x.impl()->backend().supports_16bit_sum() && (op == ReduceOp::sum || op == ReduceOp::mean),
                 reduce_op_name(op), ": backend ", x.impl()->backend().name(), " does not reduce ",
                 dtype_name(x.dtype()), " into ", dtype_name(out_dtype));
  else
    check_compute(reduce_op_name(op), x);
  Tensor c = x.is_contiguous() ? x : [&] {
    NoGradGuard ng;
    return x.contiguous();
  }();
  const Shape& s = c.shape();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= s[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(d) + 1; i < s.size(); ++i) inner *= s[i];
  const std::int64_t reduced = s[static_cast<std::size_t>(d)];
  Shape out_shape = s;
  out_shape[static_cast<std::size_t>(d)] = 1;
  Tensor out = Tensor::empty(out_shape, TensorOptions(x.device()).dtype(out_dtype));
  if (reduced == 0) {
    TINYXF_CHECK(op == ReduceOp::sum || op == ReduceOp::mean, reduce_op_name(op),
                 ": cannot reduce an empty dimension (dim ", d, " of shape ", shape_str(s), ")");
    out.impl()->backend().fill(out.impl()->view(),
                               op == ReduceOp::sum ? 0.0 : std::numeric_limits<double>::quiet_NaN());
    return out;
  }
  if (out.numel() == 0) return out;
  c.impl()->backend().reduce(op, out.impl()->view(), c.impl()->view(), outer, reduced, inner);
  return out;
}

inline std::vector<int> normalize_dims(const std::vector<std::int64_t>& dims, std::size_t ndim,
                                       const char* op) {
  std::vector<int> out;
  for (auto d : dims) out.push_back(normalize_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  TINYXF_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": repeated dim");
  return out;
}

// Every dim of x: 0, 1, ..., x.dim() - 1 (none for a 0-dim tensor).
inline std::vector<std::int64_t> all_dims(const Tensor& x) {
  std::vector<std::int64_t> all(x.shape().size());
  std::iota(all.begin(), all.end(), 0);
  return all;
}

inline Shape reduced_shape(const Shape& s, const std::vector<int>& dims, bool keepdim) {
  Shape out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool r = std::find(dims.begin(), dims.end(), static_cast<int>(i)) != dims.end();
    if (!r)
      out.push_back(s[i]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

// The reduction of x over dims, one dim at a time (last first), into out_dtype (x's, or float32
// for a 16-bit x on a backend with supports_16bit_sum: the first reduction widens).
inline Tensor sum_raw(const Tensor& x, const std::vector<int>& dims, bool keepdim, ReduceOp op,
                      std::optional<DType> out_dtype = std::nullopt) {
  Tensor cur = x;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) cur = reduce_dim_raw(op, out_dtype.value_or(x.dtype()), cur, *it);
  if (dims.empty()) {
    NoGradGuard ng;
    cur = out_dtype ? x.to(*out_dtype) : x.clone();
  }
  if (!keepdim) cur = Tensor(make_view(cur.impl(), reduced_shape(x.shape(), dims, false),
                                          contiguous_strides(reduced_shape(x.shape(), dims, false)),
                                          cur.offset()));
  return cur;
}

}  // namespace ops_detail

// Sums g over the dims that broadcasting stretched, giving a tensor of `shape`.
inline Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::size_t lead = g.shape().size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < g.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(static_cast<std::int64_t>(i));
  Tensor s = g.sum(dims, true);
  return s.reshape(shape);
}

// A 16-bit floating x sums in float32: the result is float32 under autocast (fp32 list) and
// rounded back to x's dtype otherwise (as PyTorch's sum on bf16).
inline Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false) {
  if (dims.empty() && x.defined() && x.dim() > 0) return sum(x, ops_detail::all_dims(x), keepdim);  // torch's dim=[]
  if (x.defined() && is_reduced_floating_point(x.dtype())) {
    // Without a graph to record, a backend that sums 16-bit inputs widens block by block (the
    // same float32 values) instead of through a float32 copy of x.
    Tensor s = x.impl()->backend().supports_16bit_sum() && !autograd::needs_grad(x)
                   ? ops_detail::sum_raw(x, ops_detail::normalize_dims(dims, x.shape().size(), "sum"), keepdim,
                                         ReduceOp::sum, kFloat32)
                   : sum(x.to(kFloat32), dims, keepdim);
    return autocast_enabled(x.device().type) ? s : s.to(x.dtype());
  }
  const auto d = ops_detail::normalize_dims(dims, x.shape().size(), "sum");
  if (x.dim() == 0 && !d.empty()) return sum(x.reshape({1}), {0}, false);  // dim 0 or -1 of a 0-dim tensor
  // Integer and bool tensors sum into int64, as in torch (no wrapping in the input's dtype).
  Tensor out = ops_detail::sum_raw(x, d, keepdim, ReduceOp::sum,
                                   is_floating_point(x.dtype()) ? std::nullopt : std::optional<DType>(kInt64));
  const Shape in_shape = x.shape();
  const Shape kept = ops_detail::reduced_shape(in_shape, d, true);
  return autograd::record(out, "sum", {&x.impl()}, [in_shape, kept](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(kept).expand(in_shape).contiguous()};
  });
}
inline Tensor sum(const Tensor& x) { return sum(x, ops_detail::all_dims(x), false); }

inline Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false) {
  if (dims.empty() && x.defined() && x.dim() > 0) return mean(x, ops_detail::all_dims(x), keepdim);  // as sum
  if (x.defined() && is_reduced_floating_point(x.dtype())) {  // as sum
    Tensor m = mean(x.to(kFloat32), dims, keepdim);
    return autocast_enabled(x.device().type) ? m : m.to(x.dtype());
  }
  ops_detail::check_floating("mean", x);
  const auto d = ops_detail::normalize_dims(dims, x.shape().size(), "mean");
  if (x.dim() == 0 && !d.empty()) return mean(x.reshape({1}), {0}, false);  // as sum
  std::int64_t count = 1;
  for (int i : d) count *= x.shape()[static_cast<std::size_t>(i)];
  Tensor out = d.size() == 1 ? ops_detail::sum_raw(x, d, keepdim, ReduceOp::mean)
                                : [&] {
                                    Tensor s = ops_detail::sum_raw(x, d, keepdim, ReduceOp::sum);
                                    Tensor o = Tensor::empty(s.shape(), s.options());
                                    run_unary(s.impl()->backend(), s.device().index, UnaryOp::div_scalar,
                                              o.impl()->view(), s.impl()->view(), static_cast<double>(count));
                                    return o;
                                  }();
  const Shape in_shape = x.shape();
  const Shape kept = ops_detail::reduced_shape(in_shape, d, true);
  return autograd::record(out, "mean", {&x.impl()}, [in_shape, kept, count](const Tensor& g) {
    return std::vector<Tensor>{div(g, static_cast<double>(count)).reshape(kept).expand(in_shape).contiguous()};
  });
}
inline Tensor mean(const Tensor& x) { return mean(x, ops_detail::all_dims(x), false); }

// Index of the largest (smallest) value along dim; first occurrence on ties; NaN counts as largest.
// bfloat16/float16 compare as their float32 values (exact).
inline Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false) {
  if (x.defined() && is_reduced_floating_point(x.dtype())) return argmax(x.to(kFloat32), dim, keepdim);
  const int d = normalize_dim(dim, x.shape().size(), "argmax");
  if (x.dim() == 0) return argmax(x.reshape({1}), 0, false);  // 0, a 0-dim tensor even with keepdim
  auto out = ops_detail::reduce_dim_raw(ReduceOp::argmax, kInt64, x, d);
  return keepdim ? out : out.squeeze(d);
}
inline Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false) {
  if (x.defined() && is_reduced_floating_point(x.dtype())) return argmin(x.to(kFloat32), dim, keepdim);
  const int d = normalize_dim(dim, x.shape().size(), "argmin");
  if (x.dim() == 0) return argmin(x.reshape({1}), 0, false);
  auto out = ops_detail::reduce_dim_raw(ReduceOp::argmin, kInt64, x, d);
  return keepdim ? out : out.squeeze(d);
}

inline Tensor eq(const Tensor& a, const Tensor& b);
inline Tensor ne(const Tensor& a, const Tensor& b);
inline Tensor div(const Tensor& a, const Tensor& b);
inline Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

namespace ops_detail {
inline Tensor max_min(const Tensor& x, std::int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  if (x.defined() && is_reduced_floating_point(x.dtype()))  // exact through float32
    return max_min(x.to(kFloat32), dim, keepdim, is_max).to(x.dtype());
  const int d = normalize_dim(dim, x.shape().size(), name);
  if (x.dim() == 0) return max_min(x.reshape({1}), 0, false, is_max);  // the value itself, 0-dim
  Tensor values = reduce_dim_raw(is_max ? ReduceOp::max : ReduceOp::min, x.dtype(), x, d);
  Tensor idx = reduce_dim_raw(is_max ? ReduceOp::argmax : ReduceOp::argmin, kInt64, x, d);
  if (!keepdim) values = values.squeeze(d);
  const Shape in_shape = x.shape();
  const Shape kept = values.dim() == x.dim() ? values.shape() : idx.shape();
  // Gradient goes to the selected element only (like torch.max(dim)).
  return autograd::record(values, name, {&x.impl()}, [in_shape, kept, idx, d](const Tensor& g) {
    Shape pos_shape(in_shape.size(), 1);
    pos_shape[static_cast<std::size_t>(d)] = in_shape[static_cast<std::size_t>(d)];
    auto positions = Tensor::arange(in_shape[static_cast<std::size_t>(d)], TensorOptions(g.device()).dtype(kInt64))
                         .reshape(pos_shape);
    auto onehot = eq(positions.expand(in_shape), idx.expand(in_shape));
    auto zero = Tensor::zeros({}, g.options());
    return std::vector<Tensor>{where(onehot, g.reshape(kept).expand(in_shape), zero)};
  });
}
}  // namespace ops_detail

inline Tensor max(const Tensor& x, std::int64_t dim, bool keepdim = false) {
  return ops_detail::max_min(x, dim, keepdim, true);
}
inline Tensor min(const Tensor& x, std::int64_t dim, bool keepdim = false) {
  return ops_detail::max_min(x, dim, keepdim, false);
}
namespace ops_detail {
// The largest (smallest) element of x, 0-dim, as torch.max(x) / torch.amax: the gradient is shared
// evenly among the elements equal to it (NaN counting as equal to a NaN result).
inline Tensor extremum_all(const Tensor& x, bool is_max) {
  Tensor out = [&] {
    NoGradGuard ng;
    return max_min(x.detach().reshape({-1}), 0, false, is_max);
  }();
  if (!is_floating_point(x.dtype())) return out;
  return autograd::record(out, is_max ? "max" : "min", {&x.impl()},
                          [saved_x = autograd::save_input(x, 0), saved_out = autograd::save_output(out)](const Tensor& g) {
                            const Tensor& x = saved_x.get();
                            const Tensor& value = saved_out.get();
                            const Tensor hit = where(ne(value, value), ne(x, x), eq(x, value));
                            const Tensor share = div(g, sum(hit).to(g.dtype()));
                            return std::vector<Tensor>{where(hit, share, Tensor::zeros({}, g.options()))};
                          });
}
}  // namespace ops_detail

inline Tensor max(const Tensor& x) { return ops_detail::extremum_all(x, true); }
inline Tensor min(const Tensor& x) { return ops_detail::extremum_all(x, false); }

// ---- member shortcuts --------------------------------------------------------------------------
inline Tensor Tensor::sum() const { return tinyxf::sum(*this); }
inline Tensor Tensor::sum(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tinyxf::sum(*this, dims, keepdim);
}
inline Tensor Tensor::mean() const { return tinyxf::mean(*this); }
inline Tensor Tensor::mean(const std::vector<std::int64_t>& dims, bool keepdim) const {
  return tinyxf::mean(*this, dims, keepdim);
}
inline Tensor Tensor::max() const { return tinyxf::max(*this); }
inline Tensor Tensor::min() const { return tinyxf::min(*this); }
inline Tensor Tensor::argmax(std::int64_t dim, bool keepdim) const { return tinyxf::argmax(*this, dim, keepdim); }
inline Tensor Tensor::argmin(std::int64_t dim, bool keepdim) const { return tinyxf::argmin(*this, dim, keepdim); }

}  // namespace tinyxf

// div, eq and where, used above, are defined by elementwise.hpp (which includes this header
// first): included last so that this header works alone.
#include "tinyxf/ops/elementwise.hpp"
