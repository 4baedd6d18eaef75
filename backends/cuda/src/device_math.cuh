#pragma once
// Scalar building blocks of the kernels that have a host twin, so tests/cuda/cuda_host_logic_test.cu
// can check them on a machine without a GPU: the reduction states with their merge rules. (Unary
// ops, integer dtypes included, run kmath's formulas, the same code as the reference's.)
#include <type_traits>

#include "cuda_common.cuh"

namespace tinyxf::backends::cuda_detail {

template <class T>
struct SumReducer {
  // float32 sums in float (compensated), float64 in double, integers exactly in int64.
  using State = std::conditional_t<std::is_floating_point_v<T>, T, std::int64_t>;
  static constexpr bool kCompensated = std::is_floating_point_v<T>;
  bool mean;

  __host__ __device__ State identity() const { return State(0); }
  __host__ __device__ State make(T v, std::int64_t) const { return static_cast<State>(v); }
  __host__ __device__ State merge(State a, State b) const { return a + b; }
  __host__ __device__ void store(void* out, DType dtype, std::int64_t q, State s, std::int64_t reduced) const {
    if (mean)
      store_as(out, dtype, q, static_cast<double>(s) / static_cast<double>(reduced));
    else
      store_as(out, dtype, q, s);
  }
};

template <class T>
struct ExtremumState {
  T value;
  std::int64_t index;  // < 0: no element seen
};

template <class T>
struct ExtremumReducer {
  using State = ExtremumState<T>;
  static constexpr bool kCompensated = false;
  bool want_max;
  bool want_index;

  __host__ __device__ State identity() const { return {T(0), -1}; }
  __host__ __device__ State make(T v, std::int64_t index) const { return {v, index}; }
  // A total order, so any merge tree gives the reference's sequential answer: the first NaN if
  // there is one, else the first occurrence of the extreme value.
  __host__ __device__ State merge(State a, State b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan || b_nan) {
      if (a_nan && b_nan) return a.index < b.index ? a : b;
      return a_nan ? a : b;
    }
    if (a.value == b.value) return a.index < b.index ? a : b;
    return (want_max ? a.value > b.value : a.value < b.value) ? a : b;
  }
  __host__ __device__ void store(void* out, DType dtype, std::int64_t q, State s, std::int64_t) const {
    if (want_index)
      store_as(out, dtype, q, s.index);
    else
      store_as(out, dtype, q, s.value);
  }
};

}  // namespace tinyxf::backends::cuda_detail
