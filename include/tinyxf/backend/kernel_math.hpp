#pragma once
// Formulas shared by every backend (reference and CUDA scalars, cpu xsimd batches), so that
// "what gelu is" or "which random number element i gets" is written once.
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tinyxf/core/ops_enum.hpp"

#if defined(__CUDACC__)
#define TINYXF_HD __host__ __device__ __forceinline__
#else
#define TINYXF_HD inline
#endif

namespace tinyxf::kmath {

// Bring the scalar math functions in explicitly: tinyxf's tensor exp/log/... would otherwise
// hide them inside namespace tinyxf.
using std::atan2;
using std::ceil;
using std::copysign;
using std::cos;
using std::erf;
using std::erfc;
using std::exp;
using std::expm1;
using std::floor;
using std::fma;
using std::fmod;
using std::ldexp;
using std::log;
using std::log10;
using std::log1p;
using std::log2;
using std::nearbyint;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;
using std::trunc;

// ---- counter-based RNG: value i of stream (seed, offset) = hash(seed, offset + i) ------------
// U: std::uint64_t, or a vector of them (GCC vector types: the cpu kernels hash lanes at once).
template <class U> TINYXF_HD U splitmix64_lanes(U x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
TINYXF_HD std::uint64_t splitmix64(std::uint64_t x) { return splitmix64_lanes(x); }
// The counter's odd multiplier (a Weyl step): loops over consecutive counters may add it per
// element instead of multiplying (the same product modulo 2^64).
inline constexpr std::uint64_t kCounterMultiplier = 0xD1B54A32D192ED03ull;
TINYXF_HD std::uint64_t random_bits(std::uint64_t seed, std::uint64_t counter) {
  return splitmix64(splitmix64(seed) ^ (counter * kCounterMultiplier));
}
// Uniform in [0, 1) with 53 random bits.
TINYXF_HD double uniform01(std::uint64_t seed, std::uint64_t counter) {
  return static_cast<double>(random_bits(seed, counter) >> 11) * 0x1.0p-53;
}
// Dropout draws 32 random bits per element (as PyTorch's, whose uniforms have 24 to 32): one
// hash covers the counters 2q (its low half) and 2q + 1 (its high half), half the hashing per
// element; the hash is most of a dropout kernel's time. u = bits * 2^-32 >= p exactly when
// bits >= ceil(p * 2^32), this threshold; 2^32 (p >= 1 or NaN) keeps nothing.
TINYXF_HD std::uint32_t dropout_bits(std::uint64_t seed, std::uint64_t counter) {
  const std::uint64_t bits = random_bits(seed, counter >> 1);
  return static_cast<std::uint32_t>((counter & 1) != 0 ? bits >> 32 : bits);
}
TINYXF_HD std::uint64_t dropout_threshold(double p) {
  if (!(p < 1.0)) return std::uint64_t{1} << 32;
  return p <= 0.0 ? 0 : static_cast<std::uint64_t>(ceil(ldexp(p, 32)));
}
// Dropout's keep decision for element `counter` of stream `seed` (RandomKind::bernoulli_scaled
// keeps it with scale 1 / (1 - p) exactly when this is true).
TINYXF_HD bool dropout_keep(std::uint64_t seed, std::uint64_t counter, double p) {
  return dropout_bits(seed, counter) >= dropout_threshold(p);
}
// Standard normal by Box-Muller on two independent uniforms of one counter.
TINYXF_HD double standard_normal(std::uint64_t seed, std::uint64_t counter) {
  const std::uint64_t bits = random_bits(seed, counter);
  const double u1 = (static_cast<double>(bits >> 40) + 1.0) * 0x1.0p-24;  // (0, 1]
  const double u2 = static_cast<double>((bits >> 8) & 0xFFFFFFull) * 0x1.0p-24;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

// ---- elementwise formulas, each written once for every backend ------------------------------
// V is a scalar (double in the reference, float or double on CUDA) or an xsimd batch (the cpu
// backend): the math calls are unqualified, so a batch finds xsimd's functions by argument-
// dependent lookup and a scalar finds <cmath>'s through the using-declarations above; `select`
// is the scalar form of xsimd::select. Constants are written V(c), so a float kernel computes in
// float like PyTorch's. fwd(x, a) is op(x) (a: the scalar operand); bwd(g, x, y, a) is
// g * d op(x) / dx with y = op(x); kReadsX / kReadsY say which of x and y bwd reads (a backend
// may skip loading the other). The gelu forms avoid the cancellation of 1 + erf(...) and
// 1 + tanh(...) for negative x: erfc(-x/sqrt2) and x * sigmoid(2u) are the same functions.
//
// Integer dtypes: formulas with kIntegerInType compute in the integer type (the scalar operand
// converted to it first); the others compute in double and truncate (unary_forward below).
template <class T> TINYXF_HD T select(bool condition, T a, T b) { return condition ? a : b; }

struct Neg {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V) { return V(-x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V) { return -g; }
};
struct Exp {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return exp(x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * y; }
};
struct Log {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return log(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g * (V(1) / x); }
};
// log(1 + x) without rounding 1 + x first: keeps x below float epsilon (loss terms such as
// log1p(exp(-|z|)) of a confident logit). d/dx = 1 / (1 + x).
struct Log1p {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return log1p(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g / (V(1) + x); }
};
struct Sqrt {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return sqrt(x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * (V(0.5) / y); }
};
struct Rsqrt {  // 1 / sqrt, never an approximate rsqrt instruction
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return V(1) / sqrt(x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * (V(-0.5) * y * y * y); }
};
struct Tanh {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return tanh(x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * (V(1) - y * y); }
};
struct Sigmoid {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V = V(0)) { return V(1) / (V(1) + exp(-x)); }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * (y * (V(1) - y)); }
};
// The pointwise part of one LSTM step (PyTorch's gate order i, f, g, o), written once for every
// backend: from the pre-activations (ai, af, ag, ao) and the previous cell state c, the
// activated gates, c' = f c + i g and h' = o tanh(c'). The backward takes the activated gates
// (c' is recomputed from them and c), dh (of h') and dc (of c', from the next step) and gives
// the gradients of the four pre-activations and of c.
struct LstmCell {
  template <class V>
  static TINYXF_HD void fwd(V ai, V af, V ag, V ao, V c, V& i, V& f, V& g, V& o, V& c_out, V& h_out) {
    i = Sigmoid::fwd(ai);
    f = Sigmoid::fwd(af);
    g = tanh(ag);
    o = Sigmoid::fwd(ao);
    c_out = f * c + i * g;
    h_out = o * tanh(c_out);
  }
  template <class V>
  static TINYXF_HD void bwd(V i, V f, V g, V o, V c, V dh, V dc, V& di, V& df, V& dg, V& d_o, V& dc_prev) {
    const V tc = tanh(f * c + i * g);
    const V dct = dc + dh * o * (V(1) - tc * tc);
    d_o = dh * tc * (o * (V(1) - o));
    di = dct * g * (i * (V(1) - i));
    df = dct * c * (f * (V(1) - f));
    dg = dct * i * (V(1) - g * g);
    dc_prev = dct * f;
  }
};
struct Relu {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V) { return select(x > V(0), x, V(0)); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g * select(x > V(0), V(1), V(0)); }
};
// gelu's erfc. A batch of floats (the cpu backend's kernels, 16-bit data included) takes
// erfc(z) = t exp(-z^2) Q(t) with t = 1 / (1 + |z|/2), reflected for z < 0: Q is a degree-8 fit of
// erfc(z) / (t exp(-z^2)) on t in [0.16, 1] (|z| <= 10.5; relative error 4.4e-8), in the form of
// Numerical Recipes' erfcc (t exp(-z^2 + P(t))) but with the Gaussian exp(-z^2) = exp(-x^2/2) on
// its own: gelu's backward needs it for its pdf too and computes one exp instead of two. The
// exponent is formed from x with its rounding error put back, not from the rounded z = -x/sqrt2
// (z^2 would carry z's relative error, 6e-8, times z^2: 1.4e-5 relative at x = -12.5), so gelu
// and its derivative stay within ~1e-6 relative of double erfc/exp down to gelu ~ 1e-35 (test
// "cpu gelu keeps its relative accuracy in the tails"). About half the work of xsimd 8.1's float
// erfc (two polynomials, an exp, branches), which made gelu's forward and backward ~10 % of a
// bf16 training step. Scalars (the reference in double, CUDA's erfcf) and double batches keep the
// library's erfc.
template <class V> inline constexpr bool kIsFloatBatch = false;
template <class V>
  requires requires { typename V::value_type; }
inline constexpr bool kIsFloatBatch<V> = std::is_same_v<typename V::value_type, float>;

// Float batches only: erfc(-x / sqrt2) (= 2 Phi(x)), and exp(-x^2 / 2) in `gaussian`.
template <class V> inline V gelu_erfc_and_gaussian(V x, V& gaussian) {
  const V t = V(1) / fma(V(0.35355339059327376220), abs(x), V(1));  // 1 / (1 + |z|/2)
  V q = V(-0.0591576024889946f);
  q = fma(q, t, V(0.2850158214569092f));
  q = fma(q, t, V(-0.48813167214393616f));
  q = fma(q, t, V(0.27915674448013306f));
  q = fma(q, t, V(-0.027393896132707596f));
  q = fma(q, t, V(0.203019917011261f));
  q = fma(q, t, V(0.24301744997501373f));
  q = fma(q, t, V(0.28238746523857117f));
  q = fma(q, t, V(0.28208571672439575f));
  // x^2 = a2 + d exactly, with a = |x| split as ah + al (ah: a's 12 high bits, so ah^2 is exact
  // and ah^2 - a2 too; xsimd 8.1 has no fused multiply-subtract on AVX-512 to take d from). Past
  // |x| = 16 the Gaussian underflows to 0 anyway; clamping keeps the split finite there.
  const V a = min(abs(x), V(16));
  const V ah = a & V(std::bit_cast<float>(0xFFFFF000u)), al = a - ah;
  const V a2 = a * a;
  const V d = (ah * ah - a2) + al * (ah + ah + al);
  const V e = exp(V(-0.5) * a2);
  gaussian = e - e * (V(0.5) * d);  // exp(-a2/2 - d/2) to first order in d (|d| <= ulp(a2))
  const V r = t * gaussian * q;
  return select(x > V(0), V(2) - r, r);
}

// PyTorch's gelu(approximate='none'): x * Phi(x) = x erfc(-x / sqrt2) / 2.
struct GeluErf {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) {
    if constexpr (kIsFloatBatch<V>) {
      V gaussian;
      return V(0.5) * x * gelu_erfc_and_gaussian(x, gaussian);
    } else {
      return V(0.5) * x * erfc(x * V(-0.70710678118654752440));
    }
  }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) {
    constexpr double kInvSqrt2Pi = 0.39894228040143267794;
    if constexpr (kIsFloatBatch<V>) {  // pdf's exp(-x^2/2) is erfc's: computed once
      V gaussian;
      const V cdf = V(0.5) * gelu_erfc_and_gaussian(x, gaussian);
      return g * fma(x, gaussian * V(kInvSqrt2Pi), cdf);
    } else {
      const V cdf = V(0.5) * erfc(x * V(-0.70710678118654752440));
      const V pdf = exp(V(-0.5) * x * x) * V(kInvSqrt2Pi);
      return g * fma(x, pdf, cdf);
    }
  }
};
// PyTorch's gelu(approximate='tanh'): 0.5 x (1 + tanh u) = x * sigmoid(2u).
struct GeluTanh {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V inner(V x) {  // u = sqrt(2/pi) (x + 0.044715 x^3)
    return V(0.79788456080286535588) * fma(V(0.044715) * x * x, x, x);
  }
  template <class V> static TINYXF_HD V fwd(V x, V) { return x / (V(1) + exp(V(-2) * inner(x))); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) {
    // With s = sigmoid(2u): 0.5(1 + tanh u) = s and 0.5(1 - tanh^2 u) = 2 s (1 - s).
    const V s = Sigmoid::fwd(V(2) * inner(x));
    const V dinner = V(0.79788456080286535588) * fma(V(3) * V(0.044715) * x, x, V(1));
    return g * (s + V(2) * x * s * (V(1) - s) * dinner);
  }
};
// PyTorch's silu (swish): x * sigmoid(x); d/dx = s (1 + x (1 - s)).
struct Silu {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return x / (V(1) + exp(-x)); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) {
    const V s = Sigmoid::fwd(x);
    return g * (s * (V(1) + x * (V(1) - s)));
  }
};
struct Abs {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V) {
    if constexpr (std::is_unsigned_v<V>) return x;
    else return V(select(x < V(0), V(-x), x) + V(0));  // + 0: abs(-0.0) is +0.0, as torch
  }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) {
    return g * select(x > V(0), V(1), select(x < V(0), V(-1), V(0)));
  }
};
struct AddScalar {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(x + a); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V) { return g; }
};
struct SubScalar {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(x - a); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V) { return g; }
};
struct RsubScalar {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(a - x); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V) { return -g; }
};
struct MulScalar {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(x * a); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V a) { return g * a; }
};
struct DivScalar {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(x / a); }
  template <class V> static TINYXF_HD V bwd(V g, V, V, V a) { return g * (V(1) / a); }
};
struct RdivScalar {
  static constexpr bool kReadsX = true, kReadsY = true, kIntegerInType = true;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return V(a / x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V y, V) { return g * (-y / x); }
};
// Integer dtypes: the exponent is converted to the integer type first, then pow runs in that
// type (integer_pow; exact, wrapping as torch's powi). (The cpu backend's batches use exact forms
// for exponents 0, 1 and 2 only; see its unary().)
struct PowScalar {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V a) { return pow(x, a); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V a) {
    return g * select(a == V(0), V(0), a * pow(x, a - V(1)));
  }
};

// ---- torch's elementwise math (sin ... erf) -------------------------------------------------
// Derivatives as torch's derivatives.yaml writes them (log2: g / (x ln 2), expm1: g (y + 1)).
struct Sin {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return sin(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g * cos(x); }
};
struct Cos {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return cos(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g * -sin(x); }
};
// The rounding ops are piecewise constant: torch's gradient is 0 everywhere (not g * 0, which is
// NaN for an infinite g). An integer tensor never reaches them (the front end copies it).
struct Floor {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return floor(x); }
  template <class V> static TINYXF_HD V bwd(V, V, V, V) { return V(0); }
};
struct Ceil {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return ceil(x); }
  template <class V> static TINYXF_HD V bwd(V, V, V, V) { return V(0); }
};
// Half-way cases to even, as torch.round (nearbyint in the default rounding mode).
struct Round {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return nearbyint(x); }
  template <class V> static TINYXF_HD V bwd(V, V, V, V) { return V(0); }
};
struct Trunc {
  static constexpr bool kReadsX = false, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return trunc(x); }
  template <class V> static TINYXF_HD V bwd(V, V, V, V) { return V(0); }
};
// exp(x) - 1 without the cancellation for small x.
struct Expm1 {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) {
    if constexpr (requires { typename V::value_type; }) {
      // xsimd 8.1's batch expm1 overflows in the dtype's last decade (float from 88.38, double
      // from 709.44) and turns -0.0 into +0.0. Beyond 80 / 700, exp(x) - 1 rounds to exp(x) =
      // exp(x / 2)^2, finite up to the dtype's limit; expm1(+-0) = +-0.
      using S = typename V::value_type;
      const V big = V(std::is_same_v<S, float> ? S(80) : S(700));
      const V half_exp = exp(x * V(S(0.5)));
      return select(x == V(S(0)), x, select(x > big, half_exp * half_exp, expm1(x)));
    } else {
      return expm1(x);
    }
  }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return g * (y + V(1)); }
};
struct Log2 {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return log2(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g / (x * V(0.6931471805599453)); }
};
struct Log10 {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return log10(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return g / (x * V(2.3025850929940456)); }
};
struct Reciprocal {
  static constexpr bool kReadsX = false, kReadsY = true, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return V(1) / x; }
  template <class V> static TINYXF_HD V bwd(V g, V, V y, V) { return -g * (y * y); }
};
// d erf / dx = 2 / sqrt(pi) exp(-x^2).
struct Erf {
  static constexpr bool kReadsX = true, kReadsY = false, kIntegerInType = false;
  template <class V> static TINYXF_HD V fwd(V x, V) { return erf(x); }
  template <class V> static TINYXF_HD V bwd(V g, V x, V, V) { return V(1.1283791670955126) * exp(-(x * x)) * g; }
};

// The formula of each UnaryOp, from the op table (core/ops_enum.hpp).
template <UnaryOp Op> struct UnaryFormula;
#define TINYXF_UNARY_FORMULA(op, name, formula, diff) \
  template <> struct UnaryFormula<UnaryOp::op> : formula {};
TINYXF_UNARY_OPS(TINYXF_UNARY_FORMULA)
#undef TINYXF_UNARY_FORMULA

// Whether an integer tensor keeps its dtype through op (the formula computes in the integer type);
// the others give the default floating dtype, as torch (exp of an int64 tensor is float32).
inline constexpr bool unary_keeps_integer_dtype(UnaryOp op) {
  switch (op) {
#define TINYXF_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return formula::kIntegerInType;
    TINYXF_UNARY_OPS(TINYXF_UNARY_CASE)
#undef TINYXF_UNARY_CASE
  }
  return true;
}

// base^exponent for an integer type by squaring, wrapping on overflow like torch's powi (the
// products in the unsigned type, where wrapping is defined). A negative exponent (only reached
// through a wrapped scalar) gives torch's 1, +-1 or 0.
template <class T> TINYXF_HD T integer_pow(T base, T exponent) {
  if constexpr (std::is_signed_v<T>)
    if (exponent < 0) return base == T(1) ? T(1) : base == T(-1) ? T(exponent % 2 == 0 ? 1 : -1) : T(0);
  using U = std::make_unsigned_t<T>;
  U result = 1, square = static_cast<U>(base);
  for (U e = static_cast<U>(exponent); e != 0; e >>= 1) {
    if (e & 1U) result = static_cast<U>(result * square);
    square = static_cast<U>(square * square);
  }
  return static_cast<T>(result);
}

// ---- one scalar through a formula -----------------------------------------------------------
// op(x) for a scalar of any dtype (integers as described above).
template <UnaryOp Op, class T> TINYXF_HD T unary_forward(T x, double alpha) {
  using F = UnaryFormula<Op>;
  if constexpr (Op == UnaryOp::pow_scalar && std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return integer_pow(x, static_cast<T>(alpha));
  else if constexpr (std::is_floating_point_v<T> || F::kIntegerInType)
    return F::template fwd<T>(x, static_cast<T>(alpha));
  else
    return static_cast<T>(F::template fwd<double>(static_cast<double>(x),
                                                   static_cast<double>(static_cast<T>(alpha))));
}
// g * d op(x) / dx given x and y = op(x); floating T only.
template <UnaryOp Op, class T> TINYXF_HD T unary_backward(T g, T x, T y, double alpha) {
  return UnaryFormula<Op>::template bwd<T>(g, x, y, static_cast<T>(alpha));
}

// The same with the op chosen at run time (one switch per element: the reference and CUDA).
template <class T> TINYXF_HD T apply_unary(UnaryOp op, T x, double alpha) {
  switch (op) {
#define TINYXF_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return unary_forward<UnaryOp::op_, T>(x, alpha);
    TINYXF_UNARY_OPS(TINYXF_UNARY_CASE)
#undef TINYXF_UNARY_CASE
  }
  return x;
}
template <class T> TINYXF_HD T apply_unary_backward(UnaryOp op, T g, T x, T y, double alpha) {
  switch (op) {
#define TINYXF_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return unary_backward<UnaryOp::op_, T>(g, x, y, alpha);
    TINYXF_UNARY_OPS(TINYXF_UNARY_CASE)
#undef TINYXF_UNARY_CASE
  }
  return g;
}

// ---- binary formulas ------------------------------------------------------------------------
// Written once for scalars (reference, CUDA) and xsimd batches (cpu). NaN tests go through
// is_nan: v != v for scalars, xsimd::isnan for batches (found by argument-dependent lookup;
// xsimd 8.1's batch != is an ordered compare on AVX/AVX-512, so NaN != NaN is false there).
template <class V> TINYXF_HD auto is_nan(const V& v) {
  if constexpr (std::is_arithmetic_v<V>)
    return v != v;
  else
    return isnan(v);
}

struct Add {
  template <class V> static TINYXF_HD V fwd(V a, V b) { return a + b; }
};
struct Sub {
  template <class V> static TINYXF_HD V fwd(V a, V b) { return a - b; }
};
struct Mul {
  template <class V> static TINYXF_HD V fwd(V a, V b) { return a * b; }
};
struct Div {
  template <class V> static TINYXF_HD V fwd(V a, V b) { return a / b; }
};
struct Maximum {  // a NaN operand propagates, like torch.maximum
  template <class V> static TINYXF_HD V fwd(V a, V b) { return select((a > b) || is_nan(a), a, b); }
};
struct Minimum {
  template <class V> static TINYXF_HD V fwd(V a, V b) { return select((a < b) || is_nan(a), a, b); }
};
// atan2(a, b): the angle of the point (b, a), as torch.atan2. Integers never reach it (the front
// end computes them in the default float dtype).
struct Atan2 {
  // The scalar loop on the cpu backend: xsimd 8.1's batch atan2 forms |a / b| first, NaN at
  // (+-0, +-0) and (+-inf, +-inf), where std::atan2 (and torch) give +-0, +-pi, +-pi/4, +-3pi/4.
  static constexpr bool kScalarOnly = true;
  template <class V> static TINYXF_HD V fwd(V a, V b) {
    if constexpr (std::is_integral_v<V>) return static_cast<V>(atan2(static_cast<double>(a), static_cast<double>(b)));
    else return atan2(a, b);
  }
};

// Integer division without undefined behaviour: the front end refuses a zero divisor (torch's
// ZeroDivisionError), which gives 0 here; the minimum divided by -1 wraps to itself, as torch.
template <class T> TINYXF_HD bool is_negative(T v) {
  if constexpr (std::is_signed_v<T>) return v < T(0);
  else return false;
}
template <class T> TINYXF_HD T integer_div_trunc(T a, T b) {
  if (b == T(0)) return T(0);
  if constexpr (std::is_signed_v<T>) {
    using U = std::make_unsigned_t<T>;
    if (b == T(-1)) return static_cast<T>(static_cast<U>(U(0) - static_cast<U>(a)));
  }
  return static_cast<T>(a / b);
}
template <class T> TINYXF_HD T integer_fmod(T a, T b) {
  if (b == T(0)) return T(0);
  if constexpr (std::is_signed_v<T>)
    if (b == T(-1)) return T(0);
  return static_cast<T>(a % b);
}

// These take the scalar loops on the cpu backend (kScalarOnly): an xsimd batch has no exact fmod
// (xsimd's is a - trunc(a / b) b, off for large quotients), and they compute in T, as torch's
// float kernels, not in double.
// fmod: C's remainder, the sign of the dividend (torch.fmod).
struct Fmod {
  static constexpr bool kScalarOnly = true;
  template <class V> static TINYXF_HD V fwd(V a, V b) {
    if constexpr (std::is_integral_v<V>) return integer_fmod(a, b);
    else return fmod(a, b);
  }
};
// remainder: Python's %, the sign of the divisor (torch.remainder).
struct Remainder {
  static constexpr bool kScalarOnly = true;
  template <class V> static TINYXF_HD V fwd(V a, V b) {
    V r = Fmod::fwd(a, b);
    if (r != V(0) && is_negative(r) != is_negative(b)) r = static_cast<V>(r + b);
    return r;
  }
};
// torch.div(rounding_mode="trunc"): the quotient rounded toward zero.
struct DivTrunc {
  static constexpr bool kScalarOnly = true;
  template <class V> static TINYXF_HD V fwd(V a, V b) {
    if constexpr (std::is_integral_v<V>) return integer_div_trunc(a, b);
    else return trunc(a / b);
  }
};
// torch.div(rounding_mode="floor") and floor_divide: the quotient rounded down; floats as torch's
// div_floor_floating (from fmod, so that 1 // 0.1 is 9 as in Python, not floor(1 / 0.1) = 10).
struct DivFloor {
  static constexpr bool kScalarOnly = true;
  template <class V> static TINYXF_HD V fwd(V a, V b) {
    if constexpr (std::is_integral_v<V>) {
      const V q = integer_div_trunc(a, b);
      return is_negative(a) != is_negative(b) && integer_fmod(a, b) != V(0) ? static_cast<V>(q - V(1)) : q;
    } else {
      if (b == V(0)) return a / b;
      const V mod = fmod(a, b);
      V div = (a - mod) / b;
      if (mod != V(0) && (b < V(0)) != (mod < V(0))) div -= V(1);
      if (div == V(0)) return copysign(V(0), a / b);
      V floordiv = floor(div);
      if (div - floordiv > V(0.5)) floordiv += V(1);
      return floordiv;
    }
  }
};
// Whether a binary formula has a batch form (the ones above marked kScalarOnly have not).
template <class F> inline constexpr bool kBinaryScalarOnly = requires { F::kScalarOnly; };
struct Eq {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a == b; }
};
struct Ne {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a != b; }
};
struct Lt {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a < b; }
};
struct Le {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a <= b; }
};
struct Gt {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a > b; }
};
struct Ge {
  template <class V> static TINYXF_HD auto fwd(V a, V b) { return a >= b; }
};

// The formula of each BinaryOp, from the op table (core/ops_enum.hpp).
template <BinaryOp Op> struct BinaryFormula;
#define TINYXF_BINARY_FORMULA(op, name, formula, diff) \
  template <> struct BinaryFormula<BinaryOp::op> : formula {};
TINYXF_BINARY_OPS(TINYXF_BINARY_FORMULA)
#undef TINYXF_BINARY_FORMULA

// a op b for scalars with the op chosen at run time (comparisons give 0 or 1).
template <class T> TINYXF_HD T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
#define TINYXF_BINARY_CASE(op_, name, formula, diff) \
  case BinaryOp::op_: return static_cast<T>(formula::fwd(a, b));
    TINYXF_BINARY_OPS(TINYXF_BINARY_CASE)
#undef TINYXF_BINARY_CASE
  }
  return a;
}

}  // namespace tinyxf::kmath
