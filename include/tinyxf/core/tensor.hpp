#pragma once
// Tensor<T>: a typed, reference-counted handle to a TensorImpl. Copies share memory (like
// torch.Tensor); views (reshape, permute, narrow, expand, ...) share storage without copying.
// Math lives in tinyxf/ops/*.hpp as free functions and operators.
#include <cstring>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <ostream>
#include <span>
#include <vector>

#include "tinyxf/core/generator.hpp"
#include "tinyxf/core/storage.hpp"

namespace tinyxf {

template <Element T>
class Tensor;

namespace autograd {
struct Node;  // autograd/node.hpp; the autograd members below are defined in autograd/function.hpp
}

template <Element T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;
  explicit Tensor(ImplPtr impl) : impl_(std::move(impl)) {
    TINYXF_CHECK_AS(DTypeError, !impl_ || impl_->dtype == dtype_v<T>, "Tensor<", dtype_name(dtype_v<T>),
                    ">: handle built from a tensor of dtype ", dtype_name(impl_->dtype));
  }

  // ---- factories ---------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, Device device = Device::cpu()) {
    return Tensor(make_impl(shape, dtype_v<T>, device));
  }
  static Tensor full(const Shape& shape, T value, Device device = Device::cpu()) {
    Tensor t = empty(shape, device);
    t.impl_->backend().fill(t.impl_->view(), static_cast<double>(value));  // a new tensor is at version 0
    return t;
  }
  static Tensor zeros(const Shape& shape, Device device = Device::cpu()) {
    return full(shape, T(0), device);
  }
  static Tensor ones(const Shape& shape, Device device = Device::cpu()) {
    return full(shape, T(1), device);
  }
  static Tensor scalar(T value, Device device = Device::cpu()) { return full({}, value, device); }
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu()) {
    TINYXF_CHECK_AS(ShapeError, static_cast<std::int64_t>(values.size()) == shape_numel(shape),
                    "Tensor::from_vector: ", values.size(), " values do not fill shape ", shape_str(shape), " (",
                    shape_numel(shape), " elements)");
    Tensor t = empty(shape, device);
    t.impl_->backend().copy_from_host(t.impl_->data(), values.data(), values.size() * sizeof(T),
                                      device.index);
    return t;
  }
  static Tensor from_vector(const std::vector<T>& values, Device device = Device::cpu()) {
    return from_vector(values, {static_cast<std::int64_t>(values.size())}, device);
  }
  // 0, 1, ..., n-1 (or start, start+step, ... < end).
  static Tensor arange(T end, Device device = Device::cpu()) { return arange(T(0), end, T(1), device); }
  static Tensor arange(T start, T end, T step, Device device = Device::cpu()) {
    TINYXF_CHECK_AS(ValueError, step != T(0), "arange: step must be non-zero");
    std::vector<T> v;
    for (T x = start; step > T(0) ? x < end : x > end; x = static_cast<T>(x + step)) v.push_back(x);
    return from_vector(v, device);
  }
  static Tensor rand(const Shape& shape, Device device = Device::cpu(),
                     Generator& gen = default_generator()) {
    return uniform(shape, T(0), T(1), device, gen);
  }
  static Tensor uniform(const Shape& shape, T low, T high, Device device = Device::cpu(),
                        Generator& gen = default_generator()) {
    return random_(RandomKind::uniform, shape, static_cast<double>(low), static_cast<double>(high),
                   device, gen);
  }
  static Tensor randn(const Shape& shape, Device device = Device::cpu(),
                      Generator& gen = default_generator()) {
    return normal(shape, T(0), T(1), device, gen);
  }
  static Tensor normal(const Shape& shape, T mean, T std, Device device = Device::cpu(),
                       Generator& gen = default_generator()) {
    return random_(RandomKind::normal, shape, static_cast<double>(mean), static_cast<double>(std),
                   device, gen);
  }

  // ---- metadata ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  const Shape& strides() const { return checked().strides; }
  std::int64_t offset() const { return checked().offset; }
  int dim() const { return checked().dim(); }
  std::int64_t size(std::int64_t d) const {
    return shape()[static_cast<std::size_t>(normalize_dim(d, shape().size(), "size"))];
  }
  std::int64_t numel() const { return checked().numel(); }
  DType dtype() const { return dtype_v<T>; }
  Device device() const { return checked().device(); }
  bool is_contiguous() const { return checked().is_contiguous(); }
  // How many in-place writes its storage has seen (torch.Tensor._version); views share it.
  std::uint64_t version() const { return checked().storage->version; }
  const ImplPtr& impl() const { return impl_; }
  // Two handles to the same tensor (not equal values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage(const Tensor& other) const {
    return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
  }

  // ---- element access (host devices; copies for others) ------------------------------------
  // Pointer to the first element; host-accessible devices only.
  T* data() const {
    TINYXF_CHECK_AS(DeviceError, checked().backend().host_accessible(), "Tensor::data: tensor on ", device().str(),
                    " is not host-accessible; use .to(Device::cpu()) first");
    return static_cast<T*>(impl_->data());
  }
  T at(std::initializer_list<std::int64_t> index) const {
    if (!checked().backend().host_accessible()) return to(Device::cpu()).at(index);
    return static_cast<const T*>(impl_->storage->data())[element_offset(index)];
  }
  T item() const {
    TINYXF_CHECK_AS(ValueError, numel() == 1, "Tensor::item: tensor of shape ", shape_str(shape()), " has ", numel(),
                    " elements, expected exactly one");
    return to_vector()[0];
  }
  // All elements in row-major order (from any device, any layout).
  std::vector<T> to_vector() const {
    Tensor c = contiguous_nograd();
    std::vector<T> out(static_cast<std::size_t>(c.numel()));
    if (!out.empty())
      c.impl_->backend().copy_to_host(out.data(), c.impl_->data(), out.size() * sizeof(T),
                                      c.device().index);
    return out;
  }

  // ---- in-place (no autograd; for initialization and optimizer updates) --------------------
  // Each one bumps the storage's version counter, so a saved tensor overwritten after its op was
  // recorded makes backward throw instead of using the new values.
  Tensor& fill_(T value) {
    check_inplace("fill_");
    impl_->backend().fill(impl_->view(), static_cast<double>(value));
    impl_->bump_version();
    return *this;
  }
  Tensor& zero_() { return fill_(T(0)); }
  // Copies src's values (same shape; any device/layout) into this tensor's memory.
  Tensor& copy_(const Tensor& src) {
    check_inplace("copy_");
    TINYXF_CHECK_AS(ShapeError, src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()),
                    " differs from destination shape ", shape_str(shape()));
    Tensor s = src.device() == device() ? src : src.to(device());
    impl_->backend().copy(impl_->view(), s.impl_->view());
    impl_->bump_version();
    return *this;
  }
  Tensor& uniform_(T low, T high, Generator& gen = default_generator()) {
    return random_inplace_(RandomKind::uniform, low, high, gen);
  }
  Tensor& normal_(T mean, T std, Generator& gen = default_generator()) {
    return random_inplace_(RandomKind::normal, mean, std, gen);
  }

  // ---- autograd (state and definitions in autograd/: meta.hpp, function.hpp, engine.hpp) ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  // Accumulated gradient of a leaf; undefined Tensor until a backward reached it.
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad(bool set_to_none = true);
  // d self / d leaves; a scalar needs no gradient argument, other shapes do.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // Same memory, no history.
  Tensor detach() const {
    auto v = make_view(impl_, checked().shape, impl_->strides, impl_->offset);
    return Tensor(v);
  }

  // ---- views and layout (differentiable; defined in ops/shape.hpp) -------------------------
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor transpose(std::int64_t d0, std::int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end) const {
    return narrow(dim, start, end - start);
  }
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;
  template <Element U>
  Tensor<U> to() const;  // dtype conversion (differentiable between floating types)

  // ---- a few math shortcuts (see ops/*.hpp for everything) ---------------------------------
  Tensor sum() const;
  Tensor sum(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;

 private:
  template <Element U>
  friend class Tensor;

  const TensorImpl& checked() const {
    TINYXF_CHECK(impl_ != nullptr, "use of an undefined (default-constructed) Tensor");
    return *impl_;
  }
  TensorImpl& checked() {
    TINYXF_CHECK(impl_ != nullptr, "use of an undefined (default-constructed) Tensor");
    return *impl_;
  }
  // In grad mode, refuses to write a tensor that requires grad or has a grad_fn.
  void check_inplace(const char* op) const;
  std::int64_t element_offset(std::initializer_list<std::int64_t> index) const {
    TINYXF_CHECK_AS(IndexError, static_cast<int>(index.size()) == dim(), "Tensor::at: ", index.size(),
                    " indices for a tensor with ", dim(), " dimensions");
    std::int64_t off = impl_->offset;
    std::size_t d = 0;
    for (auto i : index) {
      TINYXF_CHECK_AS(IndexError, i >= 0 && i < impl_->shape[d], "Tensor::at: index ", i, " out of range for dim ", d,
                      " of size ", impl_->shape[d], " (shape ", shape_str(impl_->shape), ")");
      off += i * impl_->strides[d++];
    }
    return off;
  }
  Tensor contiguous_nograd() const;
  static Tensor random_(RandomKind kind, const Shape& shape, double a, double b, Device device,
                        Generator& gen) {
    static_assert(FloatElement<T>, "random tensors are floating point");
    Tensor t = empty(shape, device);
    auto [seed, first] = gen.reserve(static_cast<std::uint64_t>(t.numel()));
    t.impl_->backend().random(kind, t.impl_->view(), a, b, seed, first);
    return t;
  }
  Tensor& random_inplace_(RandomKind kind, T a, T b, Generator& gen) {
    check_inplace("random_");
    Tensor tmp = random_(kind, shape(), static_cast<double>(a), static_cast<double>(b), device(), gen);
    impl_->backend().copy(impl_->view(), tmp.impl_->view());
    impl_->bump_version();
    return *this;
  }

  ImplPtr impl_;
};

template <Element T>
Tensor<T> Tensor<T>::contiguous_nograd() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), device());
  impl_->backend().copy(out.impl_->view(), impl_->view());
  return out;
}

}  // namespace tinyxf
