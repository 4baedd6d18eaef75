#pragma once
// Scalar formulas shared by every backend (host and CUDA device code), so that "what gelu is"
// or "which random number element i gets" is written once.
#include <cmath>
#include <cstdint>

#include "tinyxf/backend/ops_enum.hpp"

#if defined(__CUDACC__)
#define TINYXF_HD __host__ __device__ __forceinline__
#else
#define TINYXF_HD inline
#endif

namespace tinyxf::kmath {

// Bring the scalar math functions in explicitly: tinyxf's tensor exp/log/... would otherwise
// hide them inside namespace tinyxf.
using std::cos;
using std::erf;
using std::exp;
using std::log;
using std::pow;
using std::sqrt;
using std::tanh;

// ---- counter-based RNG: value i of stream (seed, offset) = hash(seed, offset + i) ------------
TINYXF_HD std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
TINYXF_HD std::uint64_t random_bits(std::uint64_t seed, std::uint64_t counter) {
  return splitmix64(splitmix64(seed) ^ (counter * 0xD1B54A32D192ED03ull));
}
// Uniform in [0, 1) with 53 random bits.
TINYXF_HD double uniform01(std::uint64_t seed, std::uint64_t counter) {
  return static_cast<double>(random_bits(seed, counter) >> 11) * 0x1.0p-53;
}
// Dropout's keep decision for element `counter` of stream `seed` (RandomKind::bernoulli_scaled
// keeps it with scale 1 / (1 - p) exactly when this is true).
TINYXF_HD bool dropout_keep(std::uint64_t seed, std::uint64_t counter, double p) {
  return uniform01(seed, counter) >= p;
}
// Standard normal by Box-Muller on two independent uniforms of one counter.
TINYXF_HD double standard_normal(std::uint64_t seed, std::uint64_t counter) {
  const std::uint64_t bits = random_bits(seed, counter);
  const double u1 = (static_cast<double>(bits >> 40) + 1.0) * 0x1.0p-24;  // (0, 1]
  const double u2 = static_cast<double>((bits >> 8) & 0xFFFFFFull) * 0x1.0p-24;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

// ---- activations ------------------------------------------------------------------------------
template <class T> TINYXF_HD T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }
template <class T> TINYXF_HD T gelu_erf(T x) { return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440))); }
template <class T> TINYXF_HD T gelu_erf_grad(T x) {
  const T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
  const T pdf = exp(T(-0.5) * x * x) * T(0.39894228040143267794);
  return cdf + x * pdf;
}
// PyTorch's gelu(approximate='tanh').
template <class T> TINYXF_HD T gelu_tanh(T x) {
  const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return T(0.5) * x * (T(1) + tanh(inner));
}
template <class T> TINYXF_HD T gelu_tanh_grad(T x) {
  const T k = T(0.79788456080286535588);
  const T inner = k * (x + T(0.044715) * x * x * x);
  const T t = tanh(inner);
  const T dinner = k * (T(1) + T(3) * T(0.044715) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
}


// ---- the scalar meaning of each UnaryOp / BinaryOp ----------------------------------------
// Integer dtypes go through the same formulas in their own type (neg, abs, relu, scalar ops).
template <class T> TINYXF_HD T apply_unary(UnaryOp op, T x, double alpha) {
  const T a = static_cast<T>(alpha);
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return static_cast<T>(exp(x));
    case UnaryOp::log: return static_cast<T>(log(x));
    case UnaryOp::sqrt: return static_cast<T>(sqrt(x));
    case UnaryOp::rsqrt: return static_cast<T>(T(1) / sqrt(x));
    case UnaryOp::tanh: return static_cast<T>(tanh(x));
    case UnaryOp::sigmoid: return sigmoid(x);
    case UnaryOp::relu: return x > T(0) ? x : T(0);
    case UnaryOp::gelu_erf: return gelu_erf(x);
    case UnaryOp::gelu_tanh: return gelu_tanh(x);
    case UnaryOp::abs: return x < T(0) ? -x : x;
    case UnaryOp::add_scalar: return x + a;
    case UnaryOp::sub_scalar: return x - a;
    case UnaryOp::rsub_scalar: return a - x;
    case UnaryOp::mul_scalar: return x * a;
    case UnaryOp::div_scalar: return x / a;
    case UnaryOp::rdiv_scalar: return a / x;
    case UnaryOp::pow_scalar: return static_cast<T>(pow(x, a));
  }
  return x;
}

// d op(x)/dx, given x and y = op(x).
template <class T> TINYXF_HD T unary_derivative(UnaryOp op, T x, T y, double alpha) {
  const T a = static_cast<T>(alpha);
  switch (op) {
    case UnaryOp::neg: return T(-1);
    case UnaryOp::exp: return y;
    case UnaryOp::log: return T(1) / x;
    case UnaryOp::sqrt: return T(0.5) / y;
    case UnaryOp::rsqrt: return T(-0.5) * y * y * y;
    case UnaryOp::tanh: return T(1) - y * y;
    case UnaryOp::sigmoid: return y * (T(1) - y);
    case UnaryOp::relu: return x > T(0) ? T(1) : T(0);
    case UnaryOp::gelu_erf: return gelu_erf_grad(x);
    case UnaryOp::gelu_tanh: return gelu_tanh_grad(x);
    case UnaryOp::abs: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::add_scalar:
    case UnaryOp::sub_scalar: return T(1);
    case UnaryOp::rsub_scalar: return T(-1);
    case UnaryOp::mul_scalar: return a;
    case UnaryOp::div_scalar: return T(1) / a;
    case UnaryOp::rdiv_scalar: return -y / x;
    case UnaryOp::pow_scalar:
      return a == T(0) ? T(0) : static_cast<T>(a * pow(x, a - T(1)));
  }
  return T(0);
}

template <class T> TINYXF_HD T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::maximum: return a > b || a != a ? a : b;  // NaN propagates like torch
    case BinaryOp::minimum: return a < b || a != a ? a : b;
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
  }
  return a;
}

}  // namespace tinyxf::kmath
