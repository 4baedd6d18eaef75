#pragma once
// torch.gather, torch.scatter (a tensor or a scalar value) and torch.scatter_add, with their
// backwards, and the in-place Tensor::scatter_ / scatter_add_. Each backend has the two kernels
// Backend::gather and Backend::scatter (core/backend.hpp); the front end checks the arguments as
// torch does and hands the kernels strided views, so transposed or sliced operands are not copied.
//
// Duplicate indices: torch calls scatter's result nondeterministic; here every backend applies the
// writes to one element in increasing order along `dim`, so the last one wins, and scatter_add
// sums them in that order (the same bits on every run and thread count). `reduce=` is not offered.
#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

namespace ops_detail {

// The operands of gather / scatter after torch's checks: 0-dim tensors as 1-D, the dim normalized,
// the index contiguous int64.
struct GatherScatterOperands {
  Tensor self, index, src;  // src: undefined for gather and for a scalar value
  int dim = 0;
};

// torch's rules: the index has self's number of dims (a 0-dim tensor counts as 1-D), and a
// non-empty index is no larger than self in any dim but `dim`, nor than src in any dim.
inline GatherScatterOperands gather_scatter_operands(const char* op, const Tensor& self, std::int64_t dim,
                                                     const Tensor& index_in, const Tensor* src) {
  check_same_device(op, self, index_in);
  if (src) check_same_device(op, self, *src);
  const auto as_1d = [](const Tensor& t) { return t.dim() == 0 ? t.reshape({1}) : t; };
  GatherScatterOperands r;
  r.dim = normalize_dim(dim, self.shape().size(), op);
  r.self = as_1d(self);
  r.index = as_1d(index_as_int64(op, "an index", index_in)).contiguous();
  if (src) r.src = as_1d(*src);
  TINYXF_CHECK_AS(ShapeError, r.index.dim() == r.self.dim(), op,
                  ": index tensor must have the same number of dimensions as the input tensor, got index of shape ",
                  shape_str(index_in.shape()), " and input of shape ", shape_str(self.shape()));
  TINYXF_CHECK_AS(ShapeError, !src || r.src.dim() == r.index.dim(), op,
                  ": index tensor must have the same number of dimensions as src, got index of shape ",
                  shape_str(index_in.shape()), " and src of shape ", shape_str(src->shape()));
  if (r.index.numel() == 0) return r;
  for (int d = 0; d < r.index.dim(); ++d) {
    const std::int64_t n = r.index.size(d);
    const bool fits = (d == r.dim || n <= r.self.size(d)) && (!src || n <= r.src.size(d));
    TINYXF_CHECK_AS(ShapeError, fits, op, ": expected index ", shape_str(r.index.shape()),
                    " to be no larger than the input ", shape_str(r.self.shape()), " apart from dimension ", r.dim,
                    src ? " and to be no larger than src " + shape_str(r.src.shape()) : std::string(),
                    " (dimension ", d, " of the index has size ", n, ")");
  }
  return r;
}

// A kernel view of `t` cut to the index's shape, except along `dim` when `keep_dim` (the indexed
// operand keeps its own size there: the bound of the indices).
inline KernelView kv_cut_to_index(const Tensor& t, const Tensor& index, int dim, bool keep_dim) {
  KernelView v = kv(t);
  for (int d = 0; d < v.ndim; ++d)
    if (d != dim || !keep_dim) v.shape[d] = index.size(d);
  return v;
}

inline void check_scatter_src_dtype(const char* op, const Tensor& self, const Tensor& src) {
  TINYXF_CHECK(self.defined() && src.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(DTypeError, src.dtype() == self.dtype(), op, ": expected self.dtype to be equal to src.dtype, got ",
                  dtype_name(self.dtype()), " and ", dtype_name(src.dtype()));
}

// Writes `src` (or `value` when src is null) into `out` (self's shape) at the index's positions.
// A bfloat16/float16 scatter_add sums in float32 and rounds once, as torch's (16-bit running sums
// would drop small terms next to a large one: f16 2048 + five 1s stays 2048, torch gives 2052).
inline void scatter_into(const Tensor& out, const GatherScatterOperands& a, const Tensor* src, double value,
                         bool accumulate, const char* op) {
  if (a.index.numel() == 0) return;
  if (accumulate && is_reduced_floating_point(out.dtype())) {
    NoGradGuard no_grad;
    const Tensor wide = out.to(kFloat32);
    GatherScatterOperands widened = a;
    widened.self = wide;
    if (src) widened.src = a.src.to(kFloat32);
    scatter_into(wide, widened, src ? &widened.src : nullptr, value, true, op);
    out.impl()->backend().copy(kv(out), kv(wide.to(out.dtype())));
    return;
  }
  const Tensor scalar = src ? Tensor() : Tensor::scalar(checked_fill_value(op, value, out.dtype()), out.options());
  out.impl()->backend().scatter(kv(out), kv(a.index),
                                src ? kv_cut_to_index(a.src, a.index, a.dim, false)
                                    : kv_broadcast(scalar, a.index.shape()),
                                a.dim, accumulate);
}

// The gradient of src (src_shape; only the index's corner of it is read): grad at the index's
// positions, zero elsewhere. (torch raises when src is larger than the index.)
inline Tensor gather_into_shape(const Tensor& g, const Tensor& index, int dim, const Shape& src_shape) {
  Tensor out = src_shape == index.shape() ? Tensor::empty(src_shape, g.options()) : Tensor::zeros(src_shape, g.options());
  if (index.numel())
    g.impl()->backend().gather(kv_cut_to_index(out, index, dim, false), kv_cut_to_index(g, index, dim, true),
                               kv(index), dim);
  return out;
}

inline Tensor scatter_impl(const char* op, const Tensor& input, std::int64_t dim, const Tensor& index,
                           const Tensor* src, double value, bool accumulate) {
  if (src) check_scatter_src_dtype(op, input, *src);
  const GatherScatterOperands a = gather_scatter_operands(op, input, dim, index, src);
  Tensor out = Tensor::empty(a.self.shape(), input.options());
  if (out.numel()) out.impl()->backend().copy(kv(out), kv(a.self));
  scatter_into(out, a, src, value, accumulate, op);
  out = Tensor(make_view(out.impl(), input.shape(), contiguous_strides(input.shape()), 0));
  // grad of input: grad, with the overwritten positions zeroed (scatter); grad of src: grad at
  // the index's positions.
  const auto grad_input = [saved_index = autograd::save_input(a.index, 2), d = a.dim, accumulate,
                           self_shape = a.self.shape(), in_shape = input.shape()](const Tensor& g) {
    if (accumulate) return g;
    const Tensor& ix = saved_index.get();
    Tensor gx = Tensor::empty(self_shape, g.options());
    g.impl()->backend().copy(kv(gx), kv(g.reshape(self_shape)));
    if (ix.numel())
      g.impl()->backend().scatter(kv(gx), kv(ix), kv_broadcast(Tensor::zeros({}, g.options()), ix.shape()), d, false);
    return gx.reshape(in_shape);
  };
  if (!src) return autograd::record(out, op, {&input.impl()}, [grad_input](const Tensor& g) {
    return std::vector<Tensor>{grad_input(g)};
  });
  // Only the wanted gradients are made (MoE routing: src requires grad, the zeros it lands in not).
  return autograd::record(out, op, {&input.impl(), &src->impl()},
                          [grad_input, saved_index = autograd::save_input(a.index, 2), d = a.dim,
                           self_shape = a.self.shape(), src_shape = a.src.shape(), src_in_shape = src->shape(),
                           input_wanted = autograd::needs_grad(input),
                           src_wanted = autograd::needs_grad(*src)](const Tensor& g) {
                            Tensor gsrc;
                            if (src_wanted)
                              gsrc = gather_into_shape(g.reshape(self_shape), saved_index.get(), d, src_shape)
                                         .reshape(src_in_shape);
                            return std::vector<Tensor>{input_wanted ? grad_input(g) : Tensor(), gsrc};
                          });
}

}  // namespace ops_detail

// torch.gather: out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on), shaped as the
// index (int64, or int32 as torch; the same number of dims as input, no larger than it apart from
// `dim`). Backward: the gradient scatter-added into zeros, in index order on every backend.
inline Tensor gather(const Tensor& input, std::int64_t dim, const Tensor& index) {
  const ops_detail::GatherScatterOperands a = ops_detail::gather_scatter_operands("gather", input, dim, index, nullptr);
  Tensor out = Tensor::empty(a.index.shape(), input.options());
  if (out.numel())
    input.impl()->backend().gather(ops_detail::kv(out), ops_detail::kv_cut_to_index(a.self, a.index, a.dim, true),
                                   ops_detail::kv(a.index), a.dim);
  out = Tensor(make_view(out.impl(), index.shape(), contiguous_strides(index.shape()), 0));
  return autograd::record(out, "gather", {&input.impl()}, [saved_index = autograd::save_input(a.index, 2), d = a.dim,
                                                          self_shape = a.self.shape(),
                                                          in_shape = input.shape()](const Tensor& g) {
    const Tensor& ix = saved_index.get();
    // 16-bit gradients summed in float32, rounded once (torch's gather backward, as scatter_add).
    const DType sum_dtype = is_reduced_floating_point(g.dtype()) ? kFloat32 : g.dtype();
    Tensor gx = Tensor::zeros(self_shape, g.options().dtype(sum_dtype));
    if (ix.numel())
      g.impl()->backend().scatter(ops_detail::kv(gx), ops_detail::kv(ix),
                                  ops_detail::kv(g.reshape(ix.shape()).to(sum_dtype)), d, true);
    return std::vector<Tensor>{gx.to(g.dtype()).reshape(in_shape)};
  });
}

// torch.scatter: a copy of input with src[i][j][k] written at [index[i][j][k]][j][k] for dim 0 (and
// so on); src has input's dtype and is no smaller than the index in any dim. Duplicate indices:
// the last along `dim` wins (see the top of this file). Backward: grad with the written positions
// zeroed for input; grad at the index's positions for src (zero where src is not read).
inline Tensor scatter(const Tensor& input, std::int64_t dim, const Tensor& index, const Tensor& src) {
  return ops_detail::scatter_impl("scatter", input, dim, index, &src, 0.0, false);
}
// torch.scatter with a scalar value (converted to input's dtype, as torch: 7.5 into int64 is 7).
inline Tensor scatter(const Tensor& input, std::int64_t dim, const Tensor& index, double value) {
  return ops_detail::scatter_impl("scatter", input, dim, index, nullptr, value, false);
}
// torch.scatter_add: input with src added at the index's positions (duplicates summed in order
// along `dim`; bool as logical or). Backward: grad for input, grad at the index's positions for src.
inline Tensor scatter_add(const Tensor& input, std::int64_t dim, const Tensor& index, const Tensor& src) {
  return ops_detail::scatter_impl("scatter_add", input, dim, index, &src, 0.0, true);
}

// ---- Tensor's in-place scatters (declared in core/tensor.hpp) ---------------------------------
namespace ops_detail {
inline void scatter_in_place(Tensor& self, const char* op, std::int64_t dim, const Tensor& index, const Tensor* src,
                             double value, bool accumulate) {
  TINYXF_CHECK(!src || !autograd::grad_enabled() || !src->requires_grad(), op,
               ": src requires grad, and in-place scatters are outside autograd; use the out-of-place function or "
               "wrap the call in a NoGradGuard");
  if (src) check_scatter_src_dtype(op, self, *src);
  const GatherScatterOperands a = gather_scatter_operands(op, self, dim, index, src);
  assert_no_internal_overlap(*self.impl(), op);  // after the shape checks, as torch's order
  assert_no_overlap(*self.impl(), *index.impl(), op);
  if (src) assert_no_overlap(*self.impl(), *src->impl(), op);
  scatter_into(a.self, a, src, value, accumulate, op);
}
}  // namespace ops_detail

inline Tensor& Tensor::scatter_(std::int64_t dim, const Tensor& index, const Tensor& src) {
  check_inplace("scatter_");
  ops_detail::scatter_in_place(*this, "scatter_", dim, index, &src, 0.0, false);
  impl_->bump_version();
  return *this;
}
inline Tensor& Tensor::scatter_(std::int64_t dim, const Tensor& index, double value) {
  check_inplace("scatter_");
  ops_detail::scatter_in_place(*this, "scatter_", dim, index, nullptr, value, false);
  impl_->bump_version();
  return *this;
}
inline Tensor& Tensor::scatter_add_(std::int64_t dim, const Tensor& index, const Tensor& src) {
  check_inplace("scatter_add_");
  ops_detail::scatter_in_place(*this, "scatter_add_", dim, index, &src, 0.0, true);
  impl_->bump_version();
  return *this;
}

// ---- member shortcuts (declared in core/tensor.hpp) ---------------------------------------------
inline Tensor Tensor::gather(std::int64_t dim, const Tensor& index) const { return tinyxf::gather(*this, dim, index); }
inline Tensor Tensor::scatter(std::int64_t dim, const Tensor& index, const Tensor& src) const {
  return tinyxf::scatter(*this, dim, index, src);
}
inline Tensor Tensor::scatter(std::int64_t dim, const Tensor& index, double value) const {
  return tinyxf::scatter(*this, dim, index, value);
}
inline Tensor Tensor::scatter_add(std::int64_t dim, const Tensor& index, const Tensor& src) const {
  return tinyxf::scatter_add(*this, dim, index, src);
}

}  // namespace tinyxf
