#pragma once
// Storage: one allocation on one device, shared by every tensor that views it.
// TensorImpl: the untyped tensor (storage + shape + strides + offset + dtype + an opaque pointer
// to its autograd state); Tensor is a handle to one (its dtype is the impl's, known at run time).
#include <cstddef>
#include <memory>

#include "tinyxf/core/runtime.hpp"
#include "tinyxf/core/device.hpp"
#include "tinyxf/core/dtype.hpp"
#include "tinyxf/core/shape.hpp"

namespace tinyxf {

struct Storage {
  std::shared_ptr<void> memory;
  std::size_t bytes = 0;
  Device device;
  // Bumped by every in-place write (PyTorch's _version); every view of the storage shares it, so
  // autograd can tell that a tensor saved for backward was overwritten after it was saved.
  std::uint64_t version = 0;
  Backend* backend = nullptr;  // resolved once at allocation: ops never look the device up again
  void* data() const { return memory.get(); }
};

// `bytes` is bounded (checked_byte_count) so that no backend's rounding or header arithmetic wraps.
inline std::shared_ptr<Storage> allocate_storage(std::size_t bytes, Device device) {
  if (bytes > static_cast<std::size_t>(kMaxElements))
    throw OutOfMemoryError(::tinyxf::detail::concat("allocate_storage: ", bytes, " bytes on ", device.str(),
                                                    " exceed the size limit of 2^62 bytes"),
                           bytes, device.str());
  auto s = std::make_shared<Storage>();
  s->backend = &backend_for(device);
  s->memory = s->backend->allocate(bytes, device.index);
  s->bytes = bytes;
  s->device = device;
  return s;
}

// A tensor's autograd state is defined by autograd/ (autograd::AutogradMeta); core only owns it
// through this interface, so core never depends on autograd.
struct AutogradMetaInterface {
  virtual ~AutogradMetaInterface() = default;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // requires_grad, grad_fn, grad: null until the tensor gets any (see autograd/meta.hpp)
  std::unique_ptr<AutogradMetaInterface> autograd_meta;

  Device device() const { return storage->device; }
  std::int64_t numel() const { return shape_numel(shape); }
  int dim() const { return static_cast<int>(shape.size()); }
  void* data() const {
    return static_cast<char*>(storage->data()) + offset * static_cast<std::int64_t>(dtype_size(dtype));
  }
  bool is_contiguous() const {
    std::int64_t expected = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  KernelView view() const {
    KernelView v;
    v.data = numel() ? data() : nullptr;
    v.dtype = dtype;
    v.ndim = dim();
    for (int i = 0; i < v.ndim; ++i) {
      v.shape[static_cast<std::size_t>(i)] = shape[static_cast<std::size_t>(i)];
      v.strides[static_cast<std::size_t>(i)] = strides[static_cast<std::size_t>(i)];
    }
    return v;
  }
  // The same memory seen with another shape/strides (broadcast views for kernels).
  KernelView view_as(const Shape& shp, const Shape& str) const {
    KernelView v = view();
    v.ndim = static_cast<int>(shp.size());
    for (int i = 0; i < v.ndim; ++i) {
      v.shape[static_cast<std::size_t>(i)] = shp[static_cast<std::size_t>(i)];
      v.strides[static_cast<std::size_t>(i)] = str[static_cast<std::size_t>(i)];
    }
    return v;
  }
  Backend& backend() const { return *storage->backend; }
  // Called by every front-end in-place write (fill_, copy_, optimizer steps, ...).
  void bump_version() const { ++storage->version; }
};

using ImplPtr = std::shared_ptr<TensorImpl>;

inline ImplPtr make_impl(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, "tensor");  // bounds every stride and the element count
  const std::size_t bytes = checked_byte_count(shape_numel(shape), dtype_size(dtype), "tensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = allocate_storage(bytes, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

namespace detail {
// A view must stay inside its storage: the element at offset + sum((shape[i] - 1) * strides[i])
// is the last one it can reach (negative strides are not used by any view op).
inline void check_view_bounds(const Storage& storage, DType dtype, const Shape& shape, const Shape& strides,
                              std::int64_t offset) {
  check_shape(shape, "view");
  TINYXF_CHECK_AS(ShapeError, strides.size() == shape.size(), "view: ", strides.size(), " strides for shape ",
                  shape_str(shape));
  if (shape_numel(shape) == 0) return;  // reaches no element
  const auto storage_elements = static_cast<std::int64_t>(storage.bytes / dtype_size(dtype));
  std::int64_t last = offset;
  bool in_range = offset >= 0;
  for (std::size_t i = 0; i < shape.size() && in_range; ++i) {
    const std::int64_t reach = strides[i] < 0 ? -1 : detail::bounded_product(shape[i] - 1, strides[i]);
    in_range = reach >= 0 && !__builtin_add_overflow(last, reach, &last);
  }
  TINYXF_CHECK_AS(IndexError, in_range && last < storage_elements, "view: shape ", shape_str(shape), " with strides ",
                  shape_str(strides), " at offset ", offset, " reaches outside its storage of ", storage_elements,
                  " elements");
}
}  // namespace detail

// A new impl sharing storage (a view); autograd state is not copied. The view's reach is checked
// against the storage, so no view can read or write outside its allocation.
inline ImplPtr make_view(const ImplPtr& base, Shape shape, Shape strides, std::int64_t offset) {
  detail::check_view_bounds(*base->storage, base->dtype, shape, strides, offset);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base->dtype;
  return impl;
}

// Broadcast strides of `impl` seen as `target` shape (trailing alignment, stride 0 on stretch).
inline Shape broadcast_strides(const TensorImpl& impl, const Shape& target) {
  Shape st(target.size(), 0);
  const std::size_t lead = target.size() - impl.shape.size();
  for (std::size_t i = 0; i < impl.shape.size(); ++i)
    st[lead + i] = impl.shape[i] == 1 ? 0 : impl.strides[i];
  return st;
}

}  // namespace tinyxf
