#pragma once
// Tensor: a reference-counted handle to a TensorImpl whose dtype is a run-time property (like
// torch::Tensor). Copies share memory; views (reshape, permute, narrow, expand, ...) share
// storage without copying. Math lives in tinyxf/ops/*.hpp as free functions and operators.
#include <cmath>
#include <concepts>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/core/generator.hpp"
#include "tinyxf/core/mem_overlap.hpp"
#include "tinyxf/core/storage.hpp"

namespace tinyxf {

namespace detail {
// A single dim or shift given as an integer (not bool) to the Tensor methods below.
template <class D>
concept DimIndex = std::integral<D> && !std::same_as<D, bool>;
}  // namespace detail

namespace autograd {
struct Node;  // autograd/node.hpp; the autograd members below are defined in autograd/function.hpp
}

// How a factory makes a tensor (torch::TensorOptions): dtype (default float32), device (default
// cpu), requires_grad. Implicit from a DType and from a Device, so `Tensor::zeros(s, kFloat64)`
// and `Tensor::zeros(s, device)` both work.
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}    // NOLINT(google-explicit-constructor): as torch
  TensorOptions(Device d) : device_(d) {}  // NOLINT(google-explicit-constructor): as torch

  TensorOptions dtype(DType d) const {
    TensorOptions o = *this;
    o.dtype_ = d;
    return o;
  }
  TensorOptions device(Device d) const {
    TensorOptions o = *this;
    o.device_ = d;
    return o;
  }
  TensorOptions requires_grad(bool on) const {
    TensorOptions o = *this;
    o.requires_grad_ = on;
    return o;
  }
  DType dtype() const { return dtype_.value_or(default_dtype()); }
  Device device() const { return device_; }
  bool requires_grad() const { return requires_grad_; }
  bool has_dtype() const { return dtype_.has_value(); }

 private:
  std::optional<DType> dtype_;
  Device device_ = Device::cpu();
  bool requires_grad_ = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(ImplPtr impl) : impl_(std::move(impl)) {}

  // ---- factories (dtype float32 and device cpu unless the options say otherwise) -----------
  static Tensor empty(const Shape& shape, const TensorOptions& options = {}) {
    Tensor t(make_impl(shape, options.dtype(), options.device()));
    return t.finish_factory(options);
  }
  static Tensor full(const Shape& shape, double value, const TensorOptions& options = {}) {
    value = checked_fill_value("full", value, options.dtype());  // torch's overflow error, not a wrap
    Tensor t(make_impl(shape, options.dtype(), options.device()));
    t.impl_->backend().fill(t.impl_->view(), value);  // a new tensor is at version 0
    return t.finish_factory(options);
  }
  static Tensor zeros(const Shape& shape, const TensorOptions& options = {}) { return full(shape, 0.0, options); }
  static Tensor ones(const Shape& shape, const TensorOptions& options = {}) { return full(shape, 1.0, options); }
  static Tensor scalar(double value, const TensorOptions& options = {}) { return full({}, value, options); }
  // Values in row-major order; the dtype is T's (kFloat64 for double, ...) unless the options
  // name one, in which case the values are converted to it.
  template <Element T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, const TensorOptions& options = {}) {
    static_assert(!std::is_same_v<T, bool>, "from_vector: std::vector<bool> is bit-packed; pass uint8_t values "
                                            "and convert with .to(kBool)");
    TINYXF_CHECK_AS(ShapeError, static_cast<std::int64_t>(values.size()) == shape_numel(shape),
                    "Tensor::from_vector: ", values.size(), " values do not fill shape ", shape_str(shape), " (",
                    shape_numel(shape), " elements)");
    Tensor t(make_impl(shape, dtype_v<T>, options.device()));
    t.impl_->backend().copy_from_host(t.impl_->data(), values.data(), values.size() * sizeof(T),
                                      options.device().index);
    if (options.has_dtype() && options.dtype() != t.dtype()) t = t.to(options.dtype());
    return t.finish_factory(options);
  }
  template <Element T>
  static Tensor from_vector(const std::vector<T>& values, const TensorOptions& options = {}) {
    return from_vector(values, {static_cast<std::int64_t>(values.size())}, options);
  }
  // start, start+step, ... < end (torch.arange): ceil((end - start) / step) values, the i-th
  // start + i * step; float32 unless the options name a dtype. For an integer dtype, start and
  // step are truncated to integers first, as torch does (arange(-2.5, 2, 1, kInt64) is -2 .. 2;
  // a step that truncates to 0 repeats start).
  static Tensor arange(double end, const TensorOptions& options = {}) { return arange(0.0, end, 1.0, options); }
  static Tensor arange(double start, double end, double step, const TensorOptions& options = {}) {
    TINYXF_CHECK_AS(DTypeError, options.dtype() != kBool, "arange: not implemented for bool (torch: \"arange_cpu\" "
                    "not implemented for 'Bool')");
    TINYXF_CHECK_AS(ValueError, std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
                    "arange: unsupported range ", start, " -> ", end, " (step ", step, "): not finite");
    TINYXF_CHECK_AS(ValueError, step != 0.0, "arange: step must be non-zero");
    TINYXF_CHECK_AS(ValueError, step > 0 ? end >= start : end <= start, "arange: upper bound ", end,
                    " and lower bound ", start, " are inconsistent with the step's sign (step ", step, ")");
    const double count = std::ceil((end - start) / step);
    TINYXF_CHECK_AS(ValueError, count <= static_cast<double>(std::int64_t{1} << 40), "arange: ", count,
                    " elements (", start, " -> ", end, ", step ", step, ") are too many");
    if (is_integral(options.dtype())) {
      const auto first = static_cast<std::int64_t>(checked_fill_value("arange", start, kInt64));
      const auto stride = static_cast<std::int64_t>(checked_fill_value("arange", step, kInt64));
      std::vector<std::int64_t> v(static_cast<std::size_t>(count));
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = first + static_cast<std::int64_t>(i) * stride;
      return from_vector(v, options);
    }
    std::vector<double> v(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<double>(i) * step;
    return from_vector(v, options.dtype(options.dtype()));  // float32 unless named, not float64
  }
  // arange with integer bounds (arange(0, n, 1, kInt64)): for an integer dtype the count and the
  // values are exact in int64, as torch's int64 arange (through double, bounds above 2^53 would
  // round); other dtypes take the double overload above.
  template <std::integral Start, std::integral End, std::integral Step>
    requires(!std::is_same_v<Start, bool> && !std::is_same_v<End, bool> && !std::is_same_v<Step, bool>)
  static Tensor arange(Start start_in, End end_in, Step step_in, const TensorOptions& options = {}) {
    if (!is_integral(options.dtype()) || options.dtype() == kBool)  // (the double overload refuses bool)
      return arange(static_cast<double>(start_in), static_cast<double>(end_in), static_cast<double>(step_in), options);
    TINYXF_CHECK_AS(ValueError, std::in_range<std::int64_t>(start_in) && std::in_range<std::int64_t>(end_in) &&
                                    std::in_range<std::int64_t>(step_in),
                    "arange: start ", start_in, ", end ", end_in, " and step ", step_in, " must fit int64");
    const auto start = static_cast<std::int64_t>(start_in), end = static_cast<std::int64_t>(end_in),
               step = static_cast<std::int64_t>(step_in);
    TINYXF_CHECK_AS(ValueError, step != 0, "arange: step must be non-zero");
    TINYXF_CHECK_AS(ValueError, step > 0 ? end >= start : end <= start, "arange: upper bound ", end,
                    " and lower bound ", start, " are inconsistent with the step's sign (step ", step, ")");
    // |end - start| and |step| in uint64, where they cannot overflow
    const auto as_unsigned = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
    const std::uint64_t span = step > 0 ? as_unsigned(end) - as_unsigned(start) : as_unsigned(start) - as_unsigned(end);
    const std::uint64_t stride = step > 0 ? as_unsigned(step) : std::uint64_t{0} - as_unsigned(step);
    const std::uint64_t count = span / stride + (span % stride != 0 ? 1 : 0);
    TINYXF_CHECK_AS(ValueError, count <= std::uint64_t{1} << 40, "arange: ", count, " elements (", start, " -> ", end,
                    ", step ", step, ") are too many");
    std::vector<std::int64_t> v(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < v.size(); ++i)  // start + i * step, in range; wrapping uint64 keeps it exact
      v[i] = static_cast<std::int64_t>(as_unsigned(start) + static_cast<std::uint64_t>(i) * as_unsigned(step));
    return from_vector(v, options);
  }
  template <std::integral End>
    requires(!std::is_same_v<End, bool>)
  static Tensor arange(End end, const TensorOptions& options = {}) {
    return arange(End{0}, end, End{1}, options);
  }
  static Tensor rand(const Shape& shape, const TensorOptions& options = {}, Generator& gen = default_generator()) {
    return uniform(shape, 0.0, 1.0, options, gen);
  }
  static Tensor uniform(const Shape& shape, double low, double high, const TensorOptions& options = {},
                        Generator& gen = default_generator()) {
    return random_(RandomKind::uniform, shape, low, high, options, gen);
  }
  static Tensor randn(const Shape& shape, const TensorOptions& options = {}, Generator& gen = default_generator()) {
    return normal(shape, 0.0, 1.0, options, gen);
  }
  static Tensor normal(const Shape& shape, double mean, double std, const TensorOptions& options = {},
                       Generator& gen = default_generator()) {
    return random_(RandomKind::normal, shape, mean, std, options, gen);
  }

  // ---- metadata ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  const Shape& sizes() const { return shape(); }
  const Shape& strides() const { return checked().strides; }
  std::int64_t offset() const { return checked().offset; }
  int dim() const { return checked().dim(); }
  std::int64_t size(std::int64_t d) const {
    TINYXF_CHECK_AS(IndexError, !shape().empty(), "size: dimension specified as ", d,
                    " but the tensor has no dimensions");
    return shape()[static_cast<std::size_t>(normalize_dim(d, shape().size(), "size"))];
  }
  std::int64_t numel() const { return checked().numel(); }
  DType dtype() const { return checked().dtype; }
  DType scalar_type() const { return dtype(); }
  bool is_floating_point() const { return tinyxf::is_floating_point(dtype()); }
  std::size_t element_size() const { return dtype_size(dtype()); }
  TensorOptions options() const { return TensorOptions(device()).dtype(dtype()); }
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
  // Pointer to the first element; host-accessible devices only; T must be the tensor's dtype.
  template <Element T>
  T* data() const {
    check_dtype<T>("data");
    return static_cast<T*>(host_data("data"));
  }
  template <Element T>
  T* data_ptr() const { return data<T>(); }
  // Untyped pointer to the first element (host-accessible devices only).
  void* raw_data() const { return host_data("raw_data"); }
  // One element; T must be the tensor's dtype.
  template <Element T>
  T at(std::initializer_list<std::int64_t> index) const {
    check_dtype<T>("at");
    if (!checked().backend().host_accessible()) return to(Device::cpu()).at<T>(index);
    return static_cast<const T*>(impl_->storage->data())[element_offset(index)];
  }
  // The single element converted to T (any dtype, as torch's item<T>()).
  template <class T = double>
  T item() const {
    TINYXF_CHECK_AS(ValueError, numel() == 1, "Tensor::item: tensor of shape ", shape_str(shape()), " has ", numel(),
                    " elements, expected exactly one");
    Tensor c = contiguous_nograd();
    if (!c.impl_->backend().host_accessible()) c = c.to(Device::cpu());
    return dispatch_storage_dtype(dtype(), [&]<class S>(type_tag<S>) {
      return convert_element<T>(*static_cast<const S*>(c.impl_->data()));
    });
  }
  // All elements in row-major order (from any device, any layout). T must be the tensor's dtype
  // (a DTypeError otherwise: convert explicitly with .to(dtype) first, so that no precision is
  // lost silently). A bool tensor reads as std::uint8_t 0/1 (std::vector<bool> is bit-packed).
  template <Element T>
  std::vector<T> to_vector() const {
    static_assert(!std::is_same_v<T, bool>, "to_vector: use to_vector<uint8_t>() on a bool tensor");
    if (!(std::is_same_v<T, std::uint8_t> && dtype() == kBool)) check_dtype<T>("to_vector");
    Tensor c = contiguous_nograd();
    std::vector<T> out(static_cast<std::size_t>(c.numel()));
    if (!out.empty())
      c.impl_->backend().copy_to_host(out.data(), c.impl_->data(), out.size() * sizeof(T),
                                      c.device().index);
    return out;
  }

  // ---- in-place --------------------------------------------------------------------------
  // Each one bumps the storage's version counter, so a saved tensor overwritten after its op was
  // recorded makes backward throw instead of using the new values. fill_/zero_, uniform_/normal_
  // and the scatters are outside autograd (for initialization and optimizer updates: in grad mode
  // they refuse a tensor in a graph); copy_ and the arithmetic below are recorded. Those torch checks for memory
  // overlap (copy_, uniform_, normal_, the scatters; not fill_/zero_) refuse an expanded
  // destination and a source that partly aliases it (core/mem_overlap.hpp).
  Tensor& fill_(double value) {
    check_inplace("fill_");
    impl_->backend().fill(impl_->view(), checked_fill_value("fill_", value, dtype()));
    impl_->bump_version();
    return *this;
  }
  Tensor& zero_() { return fill_(0.0); }
  // Copies src's values (same shape; any device/layout/dtype, converted) into this tensor's memory.
  // Recorded by autograd like the arithmetic below (defined with it in ops/elementwise.hpp).
  Tensor& copy_(const Tensor& src);
  Tensor& uniform_(double low, double high, Generator& gen = default_generator()) {
    return random_inplace_(RandomKind::uniform, low, high, gen);
  }
  Tensor& normal_(double mean, double std, Generator& gen = default_generator()) {
    return random_inplace_(RandomKind::normal, mean, std, gen);
  }

  // torch's scatter_ / scatter_add_ into this tensor's memory (see the out-of-place scatter and
  // scatter_add; defined in ops/gather_scatter.hpp). Like the ones above, outside autograd.
  Tensor& scatter_(std::int64_t dim, const Tensor& index, const Tensor& src);
  Tensor& scatter_(std::int64_t dim, const Tensor& index, double value);
  Tensor& scatter_add_(std::int64_t dim, const Tensor& index, const Tensor& src);

  // torch's in-place arithmetic (defined in ops/elementwise.hpp): self (op) other written into
  // self's memory, any strides (x.select(1, 0).mul_(2) changes x). `other` broadcasts to self's
  // shape, self's shape never changes, and the result dtype must be castable to self's (torch's
  // "result type float32 can't be cast to the desired output type int64": int64 .div_ raises).
  // Inside autograd as torch: in grad mode, a write into a tensor that requires grad (or of an
  // operand that does) is recorded, self's grad_fn becoming the op's node over its previous history
  // (y = x * 2; y.add_(b) gives AddBackward), and a tensor that did not require grad starts to;
  // a leaf requiring grad raises torch's leaf error. Not supported (refused, naming the out-of-place
  // form): a recorded write into a view, or into a tensor with live views (torch's CopySlices).
  // Under NoGradGuard (EMA of weights, custom optimizer steps) they just write.
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // self += alpha * other
  Tensor& add_(double other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);  // self -= alpha * other
  Tensor& sub_(double other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double other);
  Tensor& div_(const Tensor& other);  // true division: floating self only
  Tensor& div_(double other);
  // `value` where the bool mask (broadcast to self's shape) is true; a 0-dim tensor value too.
  Tensor& masked_fill_(const Tensor& mask, double value);
  Tensor& masked_fill_(const Tensor& mask, const Tensor& value);
  // min(max(self, min), max), either bound optional (not both), as torch's clamp_.
  Tensor& clamp_(std::optional<double> min, std::optional<double> max = std::nullopt);
  Tensor& clamp_min_(double min) { return clamp_(min, std::nullopt); }
  Tensor& clamp_max_(double max) { return clamp_(std::nullopt, max); }
  Tensor& neg_();
  Tensor& exp_();
  Tensor& log_();
  Tensor& sqrt_();
  Tensor& abs_();
  Tensor& relu_();
  Tensor& sigmoid_();
  Tensor& tanh_();

  // ---- autograd (state and definitions in autograd/: meta.hpp, function.hpp, engine.hpp) ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  Tensor& requires_grad_(bool on = true) { return set_requires_grad(on); }
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
  // Device and dtype moves (the same tensor when nothing changes). Conversions between floating
  // dtypes are differentiable.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor to(Device device, DType dtype) const { return to(dtype).to(device); }

  // ---- torch's Tensor methods ----------------------------------------------------------------
  // Each forwards to the free function of the same name in ops/*.hpp (x.f(args) is f(x, args),
  // documented there), defined in that header's "member shortcuts" section. A single integer dim
  // (x.sum(-1), x.var(-1)) is dims {dim}; it is a template so that x.sum({}) still means every dim.
  // reductions (ops/reduce.hpp)
  Tensor sum() const;
  Tensor sum(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  template <detail::DimIndex D>
  Tensor sum(D dim, bool keepdim = false) const { return sum(std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}, keepdim); }
  Tensor mean() const;
  Tensor mean(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  template <detail::DimIndex D>
  Tensor mean(D dim, bool keepdim = false) const { return mean(std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}, keepdim); }
  Tensor max() const;  // torch's x.max(dim) gives (values, indices): use max(x, dim) and argmax
  Tensor min() const;
  Tensor argmax(std::int64_t dim, bool keepdim = false) const;
  Tensor argmin(std::int64_t dim, bool keepdim = false) const;
  // elementwise (ops/elementwise.hpp)
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor log1p() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor abs() const;
  Tensor square() const;
  Tensor pow(double exponent) const;
  Tensor add(const Tensor& other) const;
  Tensor add(double other) const;
  Tensor sub(const Tensor& other) const;
  Tensor sub(double other) const;
  Tensor mul(const Tensor& other) const;
  Tensor mul(double other) const;
  Tensor div(const Tensor& other) const;
  Tensor div(double other) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor eq(const Tensor& other) const;
  Tensor eq(double other) const;
  Tensor ne(const Tensor& other) const;
  Tensor ne(double other) const;
  Tensor lt(const Tensor& other) const;
  Tensor lt(double other) const;
  Tensor le(const Tensor& other) const;
  Tensor le(double other) const;
  Tensor gt(const Tensor& other) const;
  Tensor gt(double other) const;
  Tensor ge(const Tensor& other) const;
  Tensor ge(double other) const;
  Tensor logical_not() const;
  // torch's x.where(condition, y): where(condition, x, y).
  Tensor where(const Tensor& condition, const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, double value) const;
  // softmax and indexing (ops/nn.hpp, ops/gather_scatter.hpp)
  Tensor softmax(std::int64_t dim) const;
  Tensor log_softmax(std::int64_t dim) const;
  Tensor index_select(std::int64_t dim, const Tensor& index) const;
  Tensor gather(std::int64_t dim, const Tensor& index) const;
  Tensor scatter(std::int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor scatter(std::int64_t dim, const Tensor& index, double value) const;
  Tensor scatter_add(std::int64_t dim, const Tensor& index, const Tensor& src) const;
  // composed functions (ops/composite.hpp)
  Tensor logsumexp(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  template <detail::DimIndex D>
  Tensor logsumexp(D dim, bool keepdim = false) const { return logsumexp(std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}, keepdim); }
  Tensor var(const std::vector<std::int64_t>& dims = {}, double correction = 1.0, bool keepdim = false) const;
  template <detail::DimIndex D>
  Tensor var(D dim, double correction = 1.0, bool keepdim = false) const {
    return var(std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}, correction, keepdim);
  }
  Tensor std(const std::vector<std::int64_t>& dims = {}, double correction = 1.0, bool keepdim = false) const;
  template <detail::DimIndex D>
  Tensor std(D dim, double correction = 1.0, bool keepdim = false) const {
    return std(std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}, correction, keepdim);
  }
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  Tensor clamp(const Tensor& min, const Tensor& max = Tensor()) const;  // an undefined bound: none
  Tensor clamp_min(double min) const;
  Tensor clamp_min(const Tensor& min) const;
  Tensor clamp_max(double max) const;
  Tensor clamp_max(const Tensor& max) const;
  Tensor nan_to_num(double nan = 0.0, std::optional<double> posinf = std::nullopt,
                    std::optional<double> neginf = std::nullopt) const;
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor isfinite() const;
  Tensor tril(std::int64_t diagonal = 0) const;
  Tensor triu(std::int64_t diagonal = 0) const;
  Tensor flip(const std::vector<std::int64_t>& dims) const;
  Tensor roll(const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims = {}) const;
  template <detail::DimIndex S>
  Tensor roll(S shift) const { return roll(std::vector<std::int64_t>{static_cast<std::int64_t>(shift)}); }
  template <detail::DimIndex S, detail::DimIndex D>
  Tensor roll(S shift, D dim) const { return roll(std::vector<std::int64_t>{static_cast<std::int64_t>(shift)}, std::vector<std::int64_t>{static_cast<std::int64_t>(dim)}); }
  Tensor repeat(const std::vector<std::int64_t>& repeats) const;
  std::vector<Tensor> chunk(std::int64_t chunks, std::int64_t dim = 0) const;
  Tensor cumsum(std::int64_t dim) const;
  Tensor lerp(const Tensor& end, const Tensor& weight) const;
  Tensor lerp(const Tensor& end, double weight) const;
  // (ops/matmul.hpp)
  Tensor matmul(const Tensor& other) const;

 private:
  const TensorImpl& checked() const {
    TINYXF_CHECK(impl_ != nullptr, "use of an undefined (default-constructed) Tensor");
    return *impl_;
  }
  TensorImpl& checked() {
    TINYXF_CHECK(impl_ != nullptr, "use of an undefined (default-constructed) Tensor");
    return *impl_;
  }
  void* host_data(const char* what) const {
    TINYXF_CHECK_AS(DeviceError, checked().backend().host_accessible(), "Tensor::", what, ": tensor on ",
                    device().str(), " is not host-accessible; use .to(Device::cpu()) first");
    return impl_->data();
  }
  template <Element T>
  void check_dtype(const char* what) const {
    TINYXF_CHECK_AS(DTypeError, dtype() == dtype_v<T>, "Tensor::", what, "<", dtype_name(dtype_v<T>),
                    ">: the tensor's dtype is ", dtype_name(dtype()), " (convert with .to(", dtype_name(dtype_v<T>),
                    ") first)");
  }
  Tensor& finish_factory(const TensorOptions& options) {
    if (options.requires_grad()) set_requires_grad(true);
    return *this;
  }
  // The recorded in-place ops' frame: the autograd checks, write(), the version bump and the node
  // made by make_backward; and a unary op of the op table into self (both in ops/elementwise.hpp).
  template <class Write, class MakeBackward>
  Tensor& write_inplace_(const char* op, const char* out_of_place, const Tensor* operand, bool reads_before,
                         Write&& write, MakeBackward&& make_backward);
  Tensor& unary_inplace_(const char* op, const char* out_of_place, UnaryOp unary);
  // For the in-place ops outside autograd: in grad mode, refuses to write a tensor that requires
  // grad or has a grad_fn, naming `out_of_place`, the form to use instead, if given.
  void check_inplace(const char* op, const char* out_of_place = nullptr) const;
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
  static Tensor random_(RandomKind kind, const Shape& shape, double a, double b, const TensorOptions& options,
                        Generator& gen) {
    TINYXF_CHECK_AS(DTypeError, tinyxf::is_floating_point(options.dtype()),
                    "random tensors are floating point, got dtype ", dtype_name(options.dtype()));
    if (is_reduced_floating_point(options.dtype()))  // drawn in float32, rounded
      return random_(kind, shape, a, b, TensorOptions(options.device()), gen)
          .to(options.dtype())
          .finish_factory(options);
    Tensor t(make_impl(shape, options.dtype(), options.device()));
    auto [seed, first] = gen.reserve(static_cast<std::uint64_t>(t.numel()));
    t.impl_->backend().random(kind, t.impl_->view(), a, b, seed, first);
    return t.finish_factory(options);
  }
  Tensor& random_inplace_(RandomKind kind, double a, double b, Generator& gen) {
    const char* op = kind == RandomKind::normal ? "normal_" : "uniform_";
    check_inplace(op);
    assert_no_internal_overlap(*impl_, op);
    Tensor tmp = random_(kind, shape(), a, b, TensorOptions(device()).dtype(dtype()), gen);
    impl_->backend().copy(impl_->view(), tmp.impl_->view());
    impl_->bump_version();
    return *this;
  }

  ImplPtr impl_;
};

inline Tensor Tensor::contiguous_nograd() const {
  if (is_contiguous()) return *this;
  Tensor out(make_impl(shape(), dtype(), device()));
  impl_->backend().copy(out.impl_->view(), impl_->view());
  return out;
}

// Tensors by name, in order: a module's state_dict, a checkpoint file's contents.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tinyxf
