#pragma once
// xsimd (8.1) helpers shared by the cpu kernels: batch aliases, block loops with a padded tail,
// and loads/stores that widen float to double lanes for accumulations that must stay accurate.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

// GCC 12.2 warns about the deliberately undefined registers of its own AVX-512 intrinsics
// (_mm512_undefined_*, GCC bug 105593) once xsimd inlines them; the warnings are located in
// the intrinsic headers, so silencing them around this include keeps -Wall -Wextra clean.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "tinyxf/backends/cpu/isa.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

// GCC's AVX-512BW headers turn some intrinsics (_mm512_mask_blend_epi8 ...) into macros in
// unoptimized builds, and xsimd 8.1's AVX-512BW kernels (used by xsimd::log) then fail to
// compile; debug builds (-O0, e.g. the sanitizer preset) use AVX2 batches instead.
#if !defined(__OPTIMIZE__) && defined(__AVX512BW__) && defined(__AVX2__) && defined(__FMA__)
using SimdArch = xsimd::fma3<xsimd::avx2>;
#else
using SimdArch = xsimd::default_arch;
#endif

template <class T> using Batch = xsimd::batch<T, SimdArch>;
using DBatch = xsimd::batch<double, SimdArch>;

template <class T> inline constexpr std::int64_t kLanes = static_cast<std::int64_t>(Batch<T>::size);
inline constexpr std::int64_t kDLanes = static_cast<std::int64_t>(DBatch::size);

// Elements processed per parallel chunk: below this, waking a second thread costs more than it
// saves (measured with simple elementwise ops on this machine's cores).
inline constexpr std::int64_t kGrain = 32 * 1024;

// Applies `f(Batch<T>) -> Batch<T>` to n contiguous elements. The tail goes through a padded
// buffer with the same batch code, so element i's result never depends on n or alignment.
template <class T, class F>
inline void map_contiguous(T* out, const T* in, std::int64_t n, F&& f) {
  constexpr std::int64_t W = kLanes<T>;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) f(Batch<T>::load_unaligned(in + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) T buf[W] = {};
    std::copy(in + i, in + n, buf);
    f(Batch<T>::load_unaligned(buf)).store_unaligned(buf);
    std::copy(buf, buf + (n - i), out + i);
  }
}

// Same with two inputs.
template <class T, class F>
inline void map_contiguous2(T* out, const T* a, const T* b, std::int64_t n, F&& f) {
  constexpr std::int64_t W = kLanes<T>;
  std::int64_t i = 0;
  for (; i + W <= n; i += W)
    f(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) T ba[W] = {}, bb[W] = {};
    std::copy(a + i, a + n, ba);
    std::copy(b + i, b + n, bb);
    f(Batch<T>::load_unaligned(ba), Batch<T>::load_unaligned(bb)).store_unaligned(ba);
    std::copy(ba, ba + (n - i), out + i);
  }
}

// Loads kDLanes elements of T (float or double) into double lanes, and back. Float goes through
// the conversion instructions themselves: xsimd 8.1 converts through a scalar loop that only
// becomes vector code when GCC's SLP vectorizer rewrites it, and GCC 12.2 has miscompiled such
// loops at -O3 -march=native (the multi-tensor Adam step computed wrong updates; see also
// tests/train/CMakeLists.txt). Same values: float -> double is exact, double -> float rounds to
// nearest either way.
#if !defined(__OPTIMIZE__) && defined(__AVX512BW__) && defined(__AVX2__) && defined(__FMA__)
#define TINYXF_CPU_WIDE_CVT 256  // SimdArch is avx2 (above)
#elif defined(__AVX512F__)
#define TINYXF_CPU_WIDE_CVT 512
#elif defined(__AVX__)
#define TINYXF_CPU_WIDE_CVT 256
#else
#define TINYXF_CPU_WIDE_CVT 0
#endif
template <class T> inline DBatch load_wide(const T* p) {
#if TINYXF_CPU_WIDE_CVT == 512
  static_assert(DBatch::size == 8);
  // (maskz forms: GCC 12 warns about the plain forms' undefined vectors in -march=native builds)
  if constexpr (std::is_same_v<T, float>) return DBatch(_mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(p)));
#elif TINYXF_CPU_WIDE_CVT == 256
  static_assert(DBatch::size == 4);
  if constexpr (std::is_same_v<T, float>) return DBatch(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#endif
  return DBatch::load_unaligned(p);
}
template <class T> inline void store_wide(T* p, const DBatch& v) {
#if TINYXF_CPU_WIDE_CVT == 512
  if constexpr (std::is_same_v<T, float>) {
    _mm256_storeu_ps(p, _mm512_maskz_cvtpd_ps(0xFF, v));
    return;
  }
#elif TINYXF_CPU_WIDE_CVT == 256
  if constexpr (std::is_same_v<T, float>) {
    _mm_storeu_ps(p, _mm256_cvtpd_ps(v));
    return;
  }
#endif
  v.store_unaligned(p);
}

// Loads the first `n` (< kDLanes) elements into double lanes, padding with `pad`.
template <class T> inline DBatch load_wide_partial(const T* p, std::int64_t n, double pad = 0.0) {
  alignas(64) double buf[kDLanes];
  for (std::int64_t i = 0; i < kDLanes; ++i) buf[i] = i < n ? static_cast<double>(p[i]) : pad;
  return DBatch::load_aligned(buf);
}
template <class T> inline void store_wide_partial(T* p, const DBatch& v, std::int64_t n) {
  alignas(64) double buf[kDLanes];
  v.store_aligned(buf);
  for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(buf[i]);
}

// Sum of n contiguous elements accumulated in double lanes (four independent accumulators).
template <class T> inline double sum_wide(const T* p, std::int64_t n) {
  constexpr std::int64_t W = kDLanes;
  DBatch a0(0.0), a1(0.0), a2(0.0), a3(0.0);
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += load_wide(p + i);
    a1 += load_wide(p + i + W);
    a2 += load_wide(p + i + 2 * W);
    a3 += load_wide(p + i + 3 * W);
  }
  for (; i + W <= n; i += W) a0 += load_wide(p + i);
  if (i < n) a1 += load_wide_partial(p + i, n - i);
  return xsimd::hadd((a0 + a1) + (a2 + a3));
}

// Sum of (p[i] - shift)^2 in double lanes.
template <class T> inline double sum_sq_dev_wide(const T* p, std::int64_t n, double shift) {
  constexpr std::int64_t W = kDLanes;
  const DBatch s(shift);
  DBatch a0(0.0), a1(0.0);
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const DBatch d0 = load_wide(p + i) - s, d1 = load_wide(p + i + W) - s;
    a0 = xsimd::fma(d0, d0, a0);
    a1 = xsimd::fma(d1, d1, a1);
  }
  for (; i + W <= n; i += W) {
    const DBatch d = load_wide(p + i) - s;
    a0 = xsimd::fma(d, d, a0);
  }
  if (i < n) {
    const DBatch d = load_wide_partial(p + i, n - i, shift) - s;  // padding contributes 0
    a1 = xsimd::fma(d, d, a1);
  }
  return xsimd::hadd(a0 + a1);
}

// Horizontal max / min of a batch (xsimd 8.1 has no reduce_max).
template <class T> inline T hmax(const Batch<T>& v) {
  alignas(64) T buf[kLanes<T>];
  v.store_aligned(buf);
  T m = buf[0];
  for (std::int64_t i = 1; i < kLanes<T>; ++i) m = buf[i] > m ? buf[i] : m;
  return m;
}
template <class T> inline T hmin(const Batch<T>& v) {
  alignas(64) T buf[kLanes<T>];
  v.store_aligned(buf);
  T m = buf[0];
  for (std::int64_t i = 1; i < kLanes<T>; ++i) m = buf[i] < m ? buf[i] : m;
  return m;
}

// x as the compiler must see it: a product held in x is rounded here and not fused into a later
// fma by -ffp-contract (GCC does so at -march=x86-64-v4), so the value matches one loaded from
// memory bit for bit.
template <class B> inline B opaque(B x) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+v"(x.data));
#elif defined(__GNUC__)
  asm("" : "+m"(x));
#endif
  return x;
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
