#pragma once
// Helpers shared by the ops: argument checks with op-named errors and output allocation.
#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/autograd/saved_tensor.hpp"
#include "tinyxf/core/tensor.hpp"

namespace tinyxf::ops_detail {

template <Element T, Element U>
void check_same_device(const char* op, const Tensor<T>& a, const Tensor<U>& b) {
  TINYXF_CHECK(a.defined() && b.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK(a.device() == b.device(), op, ": tensors are on different devices (",
               a.device().str(), " and ", b.device().str(), ")");
}

template <Element T>
Tensor<T> empty_like(const Tensor<T>& t) {
  return Tensor<T>::empty(t.shape(), t.device());
}

template <Element T>
Backend& backend_of(const Tensor<T>& t) {
  return t.impl()->backend();
}

template <Element T>
KernelView kv(const Tensor<T>& t) {
  return t.impl()->view();
}

// A view of `t` broadcast to `shape` (stride 0 on stretched dims), for kernels.
template <Element T>
KernelView kv_broadcast(const Tensor<T>& t, const Shape& shape) {
  return t.impl()->view_as(shape, broadcast_strides(*t.impl(), shape));
}

inline KernelView no_tensor() { return KernelView{}; }

template <Element T>
std::vector<T> as_vector_or_empty(const Tensor<T>& t) {
  return t.defined() ? t.to_vector() : std::vector<T>{};
}

}  // namespace tinyxf::ops_detail
