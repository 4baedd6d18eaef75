#pragma once
// xtensor interop: a zero-copy xtensor view of a contiguous host tensor, and tensors built from
// xtensor expressions.
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "tinyxf/core/tensor.hpp"

namespace tinyxf {

// Views t's memory as an xtensor expression (writes go through to t). t must be contiguous and
// on a host device; the view must not outlive t.
template <Element T>
auto as_xtensor(const Tensor& t) {
  TINYXF_CHECK(t.is_contiguous(), "as_xtensor: tensor of shape ", shape_str(t.shape()),
               " with strides ", shape_str(t.strides()), " is not contiguous; call .contiguous()");
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data<T>(), static_cast<std::size_t>(t.numel()), xt::no_ownership(), shape);
}

// Copies an xtensor expression into a new tensor on `device`.
template <class E>
auto from_xtensor(const xt::xexpression<E>& expr, Device device = Device::cpu()) {
  using T = std::remove_cv_t<typename E::value_type>;
  xt::xarray<T> a = expr.derived_cast();  // evaluate into row-major storage
  Shape shape(a.shape().begin(), a.shape().end());
  std::vector<T> values(a.begin(), a.end());
  return Tensor::from_vector(values, shape, device);
}

}  // namespace tinyxf
