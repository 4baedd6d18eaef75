#pragma once
// Views and layout ops: reshape/view, permute/transpose, narrow/select, (un)squeeze, expand,
// contiguous, clone, device and dtype moves, cat/stack. Views share storage; every op here is
// differentiable.
#include <algorithm>
#include <optional>

#include "tinyxf/ops/common.hpp"

namespace tinyxf {

namespace autograd {
// Backward of a dtype conversion: the gradient goes back converted to the input's dtype.
struct CastNode final : Node {
  DType input_dtype;
  explicit CastNode(DType d) : input_dtype(d) {}
  const char* name() const override { return "to_dtype"; }
  std::vector<ImplPtr> apply(const ImplPtr& g) override {
    auto out = make_impl(g->shape, input_dtype, g->device());
    g->backend().copy(out->view(), g->view());
    return {out};
  }
};
}  // namespace autograd

namespace ops_detail {
// Strides that let a tensor of (shape, strides) be seen as new_shape without copying, or
// nullopt. Same algorithm as PyTorch's computeStride: match runs of dims with contiguous strides.
inline std::optional<Shape> view_strides(const Shape& shape, const Shape& strides,
                                         const Shape& new_shape) {
  const std::int64_t numel = shape_numel(shape);
  Shape out(new_shape.size());
  if (numel == 0 || shape.empty()) return contiguous_strides(new_shape);
  std::int64_t view_d = static_cast<std::int64_t>(new_shape.size()) - 1;
  std::int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[static_cast<std::size_t>(d)];
    if (d == 0 || (shape[static_cast<std::size_t>(d - 1)] != 1 &&
                   strides[static_cast<std::size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[static_cast<std::size_t>(view_d)] == 1)) {
        out[static_cast<std::size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= new_shape[static_cast<std::size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[static_cast<std::size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Resolves one -1 in a requested shape.
inline Shape infer_shape(Shape shape, std::int64_t numel, const char* op, const Shape& from) {
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TINYXF_CHECK(infer < 0, op, ": only one dimension can be -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      TINYXF_CHECK(shape[i] >= 0, op, ": invalid dimension ", shape[i], " in ", shape_str(shape));
      known = detail::bounded_product(known, shape[i]);
      TINYXF_CHECK(known >= 0, op, ": shape ", shape_str(shape), " has more than 2^62 elements");
    }
  }
  if (infer >= 0) {
    TINYXF_CHECK(known != 0 && numel % known == 0, op, ": cannot view shape ", shape_str(from),
                 " (", numel, " elements) as ", shape_str(shape));
    shape[static_cast<std::size_t>(infer)] = numel / known;
  }
  TINYXF_CHECK(shape_numel(shape) == numel, op, ": cannot view shape ", shape_str(from), " (",
               numel, " elements) as ", shape_str(shape), " (", shape_numel(shape), " elements)");
  return shape;
}

// Every differentiable view goes through here (detach() does not). One made under NoGradGuard of
// a tensor that requires grad is marked, and so are views of it, as torch's creation_meta, so that
// writing it in place in grad mode throws (Tensor::check_inplace) instead of silently changing
// a tensor autograd tracks.
inline Tensor make_view_of(const Tensor& base, Shape shape, Shape strides, std::int64_t offset) {
  check_shape(shape, "view");
  Tensor out(make_view(base.impl(), std::move(shape), std::move(strides), offset));
  if (const ImplPtr& root = autograd::no_grad_view_base(*base.impl()))
    autograd::meta_for(*out.impl()).no_grad_view_base = root;
  else if (!autograd::grad_enabled() && autograd::needs_grad(base))
    autograd::meta_for(*out.impl()).no_grad_view_base = base.impl();
  autograd::track_view(base.impl(), out.impl());  // for the in-place checks (autograd/function.hpp)
  return out;
}
}  // namespace ops_detail

inline Tensor Tensor::view(const Shape& requested) const {
  const Shape shp = ops_detail::infer_shape(requested, numel(), "view", shape());
  auto st = ops_detail::view_strides(shape(), strides(), shp);
  TINYXF_CHECK(st.has_value(), "view: shape ", shape_str(shp), " is incompatible with the layout"
               " of a tensor of shape ", shape_str(shape()), " and strides ", shape_str(strides()),
               "; use reshape() (which copies when needed)");
  Tensor out = ops_detail::make_view_of(*this, shp, *st, offset());
  const Shape in_shape = shape();
  return autograd::record(out, "view", {&impl_}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

inline Tensor Tensor::reshape(const Shape& requested) const {
  const Shape shp = ops_detail::infer_shape(requested, numel(), "reshape", shape());
  if (ops_detail::view_strides(shape(), strides(), shp)) return view(shp);
  return contiguous().view(shp);
}

inline Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int s = normalize_dim(start_dim, shape().size(), "flatten");
  const int e = normalize_dim(end_dim, shape().size(), "flatten");
  TINYXF_CHECK(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shp(shape().begin(), shape().begin() + s);
  std::int64_t merged = 1;
  for (int d = s; d <= e; ++d) merged *= shape()[static_cast<std::size_t>(d)];
  shp.push_back(merged);
  shp.insert(shp.end(), shape().begin() + e + 1, shape().end());
  return reshape(shp);
}

inline Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  TINYXF_CHECK(static_cast<int>(dims.size()) == dim(), "permute: ", dims.size(),
               " dims given for a tensor with ", dim(), " dimensions");
  Shape shp(dims.size()), st(dims.size());
  std::vector<std::int64_t> inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = normalize_dim(dims[i], dims.size(), "permute");
    TINYXF_CHECK(inverse[static_cast<std::size_t>(d)] < 0, "permute: dim ", d, " repeated");
    inverse[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(i);
    shp[i] = shape()[static_cast<std::size_t>(d)];
    st[i] = strides()[static_cast<std::size_t>(d)];
  }
  Tensor out = ops_detail::make_view_of(*this, shp, st, offset());
  return autograd::record(out, "permute", {&impl_}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

inline Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  std::vector<std::int64_t> dims(shape().size());
  std::iota(dims.begin(), dims.end(), 0);
  const int a = normalize_dim(d0, dims.size(), "transpose"), b = normalize_dim(d1, dims.size(), "transpose");
  if (!dims.empty()) std::swap(dims[static_cast<std::size_t>(a)], dims[static_cast<std::size_t>(b)]);
  return permute(dims);  // a 0-dim tensor (dims 0 or -1) is its own transpose, as in torch
}

inline Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  TINYXF_CHECK_AS(IndexError, dim() > 0, "narrow: cannot be applied to a 0-dim tensor");
  const int dd = normalize_dim(d, shape().size(), "narrow");
  const std::int64_t size = shape()[static_cast<std::size_t>(dd)];
  if (start < 0) start += size;
  TINYXF_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow: range [", start, ", ",
               start + length, ") is out of bounds for dim ", dd, " of size ", size, " (shape ",
               shape_str(shape()), ")");
  Shape shp = shape();
  shp[static_cast<std::size_t>(dd)] = length;
  Tensor out = ops_detail::make_view_of(*this, shp, strides(),
                                        offset() + start * strides()[static_cast<std::size_t>(dd)]);
  const Shape in_shape = shape();
  return autograd::record(out, "narrow", {&impl_}, [in_shape, dd, start, length](const Tensor& g) {
    Tensor full = Tensor::zeros(in_shape, g.options());
    Tensor window = full.narrow(dd, start, length);
    window.copy_(g);
    return std::vector<Tensor>{full};
  });
}

inline Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  TINYXF_CHECK_AS(IndexError, dim() > 0, "select: cannot be applied to a 0-dim tensor");
  const int dd = normalize_dim(d, shape().size(), "select");
  const std::int64_t size = shape()[static_cast<std::size_t>(dd)];
  TINYXF_CHECK(index >= -size && index < size, "select: index ", index, " out of range for dim ",
               dd, " of size ", size);
  if (index < 0) index += size;
  return narrow(dd, index, 1).squeeze(dd);
}

inline Tensor Tensor::unsqueeze(std::int64_t d) const {
  const int dd = normalize_dim(d, shape().size() + 1, "unsqueeze");
  Shape shp = shape();
  shp.insert(shp.begin() + dd, 1);
  return view(shp);
}

inline Tensor Tensor::squeeze(std::int64_t d) const {
  const int dd = normalize_dim(d, shape().size(), "squeeze");
  if (shape().empty() || shape()[static_cast<std::size_t>(dd)] != 1) return *this;  // 0-dim: itself
  Shape shp = shape();
  shp.erase(shp.begin() + dd);
  return view(shp);
}

inline Tensor Tensor::squeeze() const {
  Shape shp;
  for (auto s : shape())
    if (s != 1) shp.push_back(s);
  return view(shp);
}

inline Tensor sum_to_shape(const Tensor& g, const Shape& shape);

inline Tensor Tensor::expand(const Shape& requested) const {
  TINYXF_CHECK(requested.size() >= shape().size(), "expand: target ", shape_str(requested),
               " has fewer dims than the tensor's shape ", shape_str(shape()));
  Shape shp = requested;
  const std::size_t lead = shp.size() - shape().size();
  for (std::size_t i = 0; i < shape().size(); ++i) {
    if (shp[lead + i] == -1) shp[lead + i] = shape()[i];
    TINYXF_CHECK(shape()[i] == shp[lead + i] || shape()[i] == 1, "expand: cannot expand shape ",
                 shape_str(shape()), " to ", shape_str(requested));
  }
  Tensor out = ops_detail::make_view_of(*this, shp, broadcast_strides(*impl_, shp), offset());
  const Shape in_shape = shape();
  return autograd::record(out, "expand", {&impl_}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, in_shape)};
  });
}

inline Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

inline Tensor Tensor::clone() const {
  Tensor out = empty(shape(), options());
  impl_->backend().copy(out.impl_->view(), impl_->view());
  return autograd::record(out, "clone", {&impl_}, [](const Tensor& g) {
    return std::vector<Tensor>{g};
  });
}

inline Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor src = contiguous_nograd();
  Tensor out = empty(shape(), TensorOptions(target).dtype(dtype()));
  const std::size_t bytes = static_cast<std::size_t>(numel()) * element_size();
  Backend& from = src.impl_->backend();
  Backend& to_backend = out.impl_->backend();
  if (bytes) {
    if (from.host_accessible()) {
      to_backend.copy_from_host(out.impl_->data(), src.impl_->data(), bytes, target.index);
    } else if (to_backend.host_accessible()) {
      from.copy_to_host(out.impl_->data(), src.impl_->data(), bytes, src.device().index);
    } else {  // device to device through the host
      std::vector<unsigned char> staging(bytes);
      from.copy_to_host(staging.data(), src.impl_->data(), bytes, src.device().index);
      to_backend.copy_from_host(out.impl_->data(), staging.data(), bytes, target.index);
    }
  }
  const Device source = device();
  return autograd::record(out, "to_device", {&impl_}, [source](const Tensor& g) {
    return std::vector<Tensor>{g.to(source)};
  });
}

// Conversion (the backend's copy between views of different dtypes is the cast; non-floating
// results take 0/1 for bool, truncation toward zero for integers). Differentiable between
// floating dtypes.
inline Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), TensorOptions(device()).dtype(target));
  if (numel()) impl_->backend().copy(out.impl()->view(), impl_->view());
  if (tinyxf::is_floating_point(dtype()) && tinyxf::is_floating_point(target) && autograd::grad_enabled() &&
      autograd::requires_grad(*impl_)) {
    auto node = std::make_shared<autograd::CastNode>(dtype());
    node->next.push_back(autograd::Edge{autograd::edge_for(impl_)});
    autograd::set_history(*out.impl(), std::move(node));
  }
  return out;
}

// ---- cat / stack ---------------------------------------------------------------------------
// Mixed dtypes promote as torch.cat: the result has promote_types over the inputs (int64 with
// float32 is float32), and each input's gradient comes back in its own dtype.
inline Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0) {
  TINYXF_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors.front();
  for (std::size_t i = 0; i < tensors.size(); ++i)
    TINYXF_CHECK_AS(ShapeError, tensors[i].dim() > 0, "cat: zero-dimensional tensor (at position ", i,
                    ") cannot be concatenated");
  const int d = normalize_dim(dim, first.shape().size(), "cat");
  Shape out_shape = first.shape();
  out_shape[static_cast<std::size_t>(d)] = 0;
  DType out_dtype = first.dtype();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    ops_detail::check_same_device("cat", first, t);
    out_dtype = promote_types(out_dtype, t.dtype());
    TINYXF_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", shape_str(t.shape()),
                 ", expected ", first.dim(), " dims like ", shape_str(first.shape()));
    for (int k = 0; k < t.dim(); ++k)
      TINYXF_CHECK(k == d || t.shape()[static_cast<std::size_t>(k)] == first.shape()[static_cast<std::size_t>(k)],
                   "cat: tensor ", i, " has shape ", shape_str(t.shape()),
                   ", which differs from ", shape_str(first.shape()), " outside dim ", d);
    out_shape[static_cast<std::size_t>(d)] += t.shape()[static_cast<std::size_t>(d)];
  }
  Tensor out = Tensor::empty(out_shape, first.options().dtype(out_dtype));
  std::vector<std::int64_t> sizes;
  std::vector<DType> dtypes;
  std::int64_t at = 0;
  {
    NoGradGuard no_grad;
    for (const auto& t : tensors) {
      const std::int64_t len = t.shape()[static_cast<std::size_t>(d)];
      out.narrow(d, at, len).copy_(t);
      sizes.push_back(len);
      dtypes.push_back(t.dtype());
      at += len;
    }
  }
  if (!autograd::grad_enabled()) return out;
  bool any = false;
  for (const auto& t : tensors) any = any || t.requires_grad();
  if (!any) return out;
  auto node = std::make_shared<autograd::FunctionNode>("cat", [d, sizes, dtypes](const Tensor& g) {
    std::vector<Tensor> grads;
    std::int64_t pos = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const Tensor part = g.narrow(d, pos, sizes[i]);
      grads.push_back(is_floating_point(dtypes[i]) ? ops_detail::as_dtype(part, dtypes[i]) : Tensor());
      pos += sizes[i];
    }
    return grads;
  });
  for (const auto& t : tensors) node->next.push_back(autograd::Edge{autograd::edge_for(t.impl())});
  autograd::set_history(*out.impl(), std::move(node));
  return out;
}

inline Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0) {
  TINYXF_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int d = normalize_dim(dim, tensors.front().shape().size() + 1, "stack");
  std::vector<Tensor> expanded;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    TINYXF_CHECK(tensors[i].shape() == tensors.front().shape(), "stack: tensor ", i, " has shape ",
                 shape_str(tensors[i].shape()), ", expected ", shape_str(tensors.front().shape()));
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(expanded, d);
}

}  // namespace tinyxf

// sum_to_shape, used by expand's backward above, is defined by reduce.hpp (which includes this
// header first): included last so that this header works alone.
#include "tinyxf/ops/reduce.hpp"
