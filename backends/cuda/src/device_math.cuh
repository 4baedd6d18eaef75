#pragma once
// Scalar building blocks of the kernels that have a host twin, so tests/cuda/cuda_host_logic_test.cu
// can check them on a machine without a GPU: integer unary ops with the reference's semantics and
// the reduction states with their merge rules.
#include <type_traits>

#include "cuda_common.cuh"

namespace tinyxf::backends::cuda_detail {

// Integer unary ops with the reference's integer semantics (apply_unary<T> for an integral T):
// transcendental functions go through double, the scalar operand is converted to T first.
template <class T>
__host__ __device__ __forceinline__ T integer_unary(UnaryOp op, T x, double alpha) {
  const T a = static_cast<T>(alpha);
  const double xd = static_cast<double>(x);
  switch (op) {
    case UnaryOp::neg: return static_cast<T>(-x);
    case UnaryOp::exp: return static_cast<T>(::exp(xd));
    case UnaryOp::log: return static_cast<T>(::log(xd));
    case UnaryOp::sqrt: return static_cast<T>(::sqrt(xd));
    case UnaryOp::rsqrt: return static_cast<T>(1.0 / ::sqrt(xd));
    case UnaryOp::tanh: return static_cast<T>(::tanh(xd));
    case UnaryOp::sigmoid: return static_cast<T>(1.0 / (1.0 + ::exp(static_cast<double>(-x))));
    case UnaryOp::relu: return x > T(0) ? x : T(0);
    case UnaryOp::gelu_erf:
    case UnaryOp::gelu_tanh: return T(0);  // the formulas' T(0.5) factor is 0 in an integer type
    case UnaryOp::abs:
      if constexpr (std::is_signed_v<T>) return x < T(0) ? static_cast<T>(-x) : x;
      return x;
    case UnaryOp::add_scalar: return static_cast<T>(x + a);
    case UnaryOp::sub_scalar: return static_cast<T>(x - a);
    case UnaryOp::rsub_scalar: return static_cast<T>(a - x);
    case UnaryOp::mul_scalar: return static_cast<T>(x * a);
    case UnaryOp::div_scalar: return static_cast<T>(x / a);
    case UnaryOp::rdiv_scalar: return static_cast<T>(a / x);
    case UnaryOp::pow_scalar: return static_cast<T>(::pow(xd, static_cast<double>(a)));
  }
  return x;
}

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
