#pragma once
// Elementwise kernels of the cpu backend: fill, copy, unary (+ backward), binary, where, random.
// Floating unary/binary math runs in xsimd batches (contiguous rows directly, broadcast rows
// with a splatted operand, other strides through small gather buffers); integer dtypes and
// mixed-dtype cases take scalar loops with the op fixed at compile time.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/backend/strided.hpp"
#include "tinyxf/backends/cpu/layout.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

// ---- compile-time op dispatch (once per call), generated from the op table -----------------
template <class Fn> decltype(auto) dispatch_unary_op(UnaryOp op, Fn&& fn) {
  switch (op) {
#define TINYXF_CPU_UNARY_CASE(op_, name, formula, diff) \
  case UnaryOp::op_: return fn.template operator()<UnaryOp::op_>();
    TINYXF_UNARY_OPS(TINYXF_CPU_UNARY_CASE)
#undef TINYXF_CPU_UNARY_CASE
  }
  throw Error(detail::concat("cpu backend: unknown unary op ", static_cast<int>(op)));
}

template <class Fn> decltype(auto) dispatch_binary_op(BinaryOp op, Fn&& fn) {
  switch (op) {
#define TINYXF_CPU_BINARY_CASE(op_, name, formula, diff) \
  case BinaryOp::op_: return fn.template operator()<BinaryOp::op_>();
    TINYXF_BINARY_OPS(TINYXF_CPU_BINARY_CASE)
#undef TINYXF_CPU_BINARY_CASE
  }
  throw Error(detail::concat("cpu backend: unknown binary op ", static_cast<int>(op)));
}

// ---- vectorized formulas: kmath's formula structs on batches --------------------------------
// pow's batch form exists only for exponents 0, 1, 2 (exact like std::pow, NaN and inf
// included); other exponents take the scalar formula (see unary()).
template <UnaryOp Op, class T> inline Batch<T> unary_batch(const Batch<T>& x, T a) {
  if constexpr (Op == UnaryOp::pow_scalar) {
    if (a == T(0)) return Batch<T>(T(1));
    if (a == T(1)) return x;
    return x * x;
  } else {
    return kmath::UnaryFormula<Op>::fwd(x, Batch<T>(a));
  }
}

// grad_out * d op(x)/dx given x and y = op(x).
template <UnaryOp Op, class T>
inline Batch<T> unary_grad_batch(const Batch<T>& g, const Batch<T>& x, const Batch<T>& y, T a) {
  if constexpr (Op == UnaryOp::pow_scalar) {  // exponents 0, 1, 2 (see unary_backward())
    if (a == T(0)) return g * Batch<T>(T(0));
    if (a == T(1)) return g;
    return g * (Batch<T>(T(2)) * x);
  } else {
    return kmath::UnaryFormula<Op>::bwd(g, x, y, Batch<T>(a));
  }
}

// Which of x and y = op(x) a derivative reads (see unary_grad_batch).
template <UnaryOp Op> constexpr bool grad_reads_y() { return kmath::UnaryFormula<Op>::kReadsY; }
template <UnaryOp Op> constexpr bool grad_reads_x() { return kmath::UnaryFormula<Op>::kReadsX; }

template <BinaryOp Op, class T> inline Batch<T> binary_batch(const Batch<T>& a, const Batch<T>& b) {
  return kmath::BinaryFormula<Op>::fwd(a, b);
}

// ---- rows of K inputs through batches -------------------------------------------------------
inline constexpr std::int64_t kGatherBlock = 256;

// out[i * so] = f(in[k][i * si[k]] ...) for i < count. All-contiguous rows load directly; any
// other stride pattern gathers blocks into contiguous buffers first.
template <class T, std::size_t K, class F>
inline void map_row(T* out, std::int64_t so, const std::array<const T*, K>& in,
                    const std::array<std::int64_t, K>& si, std::int64_t count, F&& f) {
  constexpr std::int64_t W = kLanes<T>;
  bool contiguous = so == 1;
  for (std::size_t k = 0; k < K; ++k) contiguous = contiguous && si[k] == 1;
  auto run = [&](T* o, const std::array<const T*, K>& p, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
      std::array<Batch<T>, K> v;
      for (std::size_t k = 0; k < K; ++k) v[k] = Batch<T>::load_unaligned(p[k] + i);
      std::apply(f, v).store_unaligned(o + i);
    }
    if (i < n) {
      alignas(64) T buf[K][W] = {};
      std::array<Batch<T>, K> v;
      for (std::size_t k = 0; k < K; ++k) {
        std::copy(p[k] + i, p[k] + n, buf[k]);
        v[k] = Batch<T>::load_unaligned(buf[k]);
      }
      std::apply(f, v).store_unaligned(buf[0]);
      std::copy(buf[0], buf[0] + (n - i), o + i);
    }
  };
  if (contiguous) {
    run(out, in, count);
    return;
  }
  alignas(64) T gathered[K][kGatherBlock];
  alignas(64) T result[kGatherBlock];
  for (std::int64_t base = 0; base < count; base += kGatherBlock) {
    const std::int64_t n = std::min(kGatherBlock, count - base);
    std::array<const T*, K> p;
    for (std::size_t k = 0; k < K; ++k) {
      if (si[k] == 1) {
        p[k] = in[k] + base;
      } else {
        const T* src = in[k] + base * si[k];
        for (std::int64_t i = 0; i < n; ++i) gathered[k][i] = src[i * si[k]];
        p[k] = gathered[k];
      }
    }
    if (so == 1) {
      run(out + base, p, n);
    } else {
      run(result, p, n);
      T* dst = out + base * so;
      for (std::int64_t i = 0; i < n; ++i) dst[i * so] = result[i];
    }
  }
}

// ---- fill / copy -----------------------------------------------------------------------------
inline void fill(const KernelView& out, double value) {
  if (out.dtype == DType::b8 || is_reduced_floating_point(out.dtype)) return strided::fill_any(out, value);
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    const T v = static_cast<T>(value);
    const auto L = coalesce<1>({&out});
    T* base = out.ptr<T>();
    parallel_rows(L, 4 * kGrain, [&](const std::array<std::int64_t, 1>& off, std::int64_t n,
                                     const std::array<std::int64_t, 1>& s) {
      T* p = base + off[0];
      if (s[0] == 1)
        std::fill_n(p, n, v);
      else
        for (std::int64_t i = 0; i < n; ++i) p[i * s[0]] = v;
    });
  });
}

// out[..., r, c] = in[..., r, c] where out's c stride is 1 and in's r stride is 1. Square tiles
// go through a small buffer so cache lines are read and written in whole runs; each task owns a
// strip of columns and walks down the rows (measured 2-3x faster than row strips or 16-wide
// tiles on [2048, 3072] floats, whose power-of-two strides put a tile's lines in one L1 set).
template <class O, class I>
inline void copy_transposed_tiles(const Layout<2>& L, O* o, const I* x) {
  constexpr std::int64_t kTile = 32;
  const int nd = L.ndim;
  const std::int64_t rows = L.shape[nd - 2], cols = L.shape[nd - 1];
  const std::int64_t out_row = L.strides[0][nd - 2], in_col = L.strides[1][nd - 1];
  const std::int64_t col_tiles = (cols + kTile - 1) / kTile;
  const std::int64_t outer = L.numel / (rows * cols);
  parallel_for(0, outer * col_tiles, std::max<std::int64_t>(1, kGrain / (kTile * rows)),
               [&](std::int64_t b, std::int64_t e) {
                 O tile[kTile][kTile];  // [c][r]
                 for (std::int64_t t = b; t < e; ++t) {
                   // Offsets of this matrix from its index over the leading dims.
                   std::int64_t rest = t / col_tiles, o_off = 0, i_off = 0;
                   for (int d = nd - 3; d >= 0; --d) {
                     const std::int64_t id = rest % L.shape[d];
                     rest /= L.shape[d];
                     o_off += id * L.strides[0][d];
                     i_off += id * L.strides[1][d];
                   }
                   const std::int64_t c0 = (t % col_tiles) * kTile, nc = std::min(kTile, cols - c0);
                   for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
                     const std::int64_t nr = std::min(kTile, rows - r0);
                     const I* src = x + i_off + c0 * in_col + r0;
                     O* dst = o + o_off + r0 * out_row + c0;
                     if (nr == kTile && nc == kTile) {  // fixed trip counts vectorize
                       for (std::int64_t c = 0; c < kTile; ++c)
                         for (std::int64_t r = 0; r < kTile; ++r) tile[c][r] = convert_element<O>(src[c * in_col + r]);
                       for (std::int64_t r = 0; r < kTile; ++r)
                         for (std::int64_t c = 0; c < kTile; ++c) dst[r * out_row + c] = tile[c][r];
                     } else {
                       for (std::int64_t c = 0; c < nc; ++c)
                         for (std::int64_t r = 0; r < nr; ++r) tile[c][r] = convert_element<O>(src[c * in_col + r]);
                       for (std::int64_t r = 0; r < nr; ++r)
                         for (std::int64_t c = 0; c < nc; ++c) dst[r * out_row + c] = tile[c][r];
                     }
                   }
                 }
               });
}

// float32 <-> bfloat16 rows (autocast's casts, 16-bit kernels' blocks): float_to_bf16 has no
// branches, so the contiguous loops vectorize.
inline void float_to_bf16_row(std::uint16_t* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
                              std::int64_t n) {
  if (dst_stride == 1 && src_stride == 1)
    for (std::int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
  else
    for (std::int64_t i = 0; i < n; ++i)
      dst[i * dst_stride] = float_to_bf16(src[i * src_stride]);
}
inline void bf16_to_float_row(float* dst, std::int64_t dst_stride, const std::uint16_t* src, std::int64_t src_stride,
                              std::int64_t n) {
  if (dst_stride == 1 && src_stride == 1)
    for (std::int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(static_cast<std::uint32_t>(src[i]) << 16);
  else
    for (std::int64_t i = 0; i < n; ++i)
      dst[i * dst_stride] = std::bit_cast<float>(static_cast<std::uint32_t>(src[i * src_stride]) << 16);
}

inline void copy(const KernelView& out, const KernelView& in) {
  const auto L = coalesce<2>({&out, &in});
  if (L.numel == 0) return;
  if (out.dtype == in.dtype && L.ndim == 1 && L.strides[0][0] == 1 && L.strides[1][0] == 1) {
    const std::size_t esize = dtype_size(out.dtype);
    auto* dst = static_cast<unsigned char*>(out.data);
    const auto* src = static_cast<const unsigned char*>(in.data);
    parallel_for(0, L.numel, 16 * kGrain, [&](std::int64_t b, std::int64_t e) {
      std::memcpy(dst + b * esize, src + b * esize, static_cast<std::size_t>(e - b) * esize);
    });
    return;
  }
  if ((out.dtype == DType::bf16 && in.dtype == DType::f32) || (out.dtype == DType::f32 && in.dtype == DType::bf16)) {
    const bool narrowing = out.dtype == DType::bf16;
    parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                                 const std::array<std::int64_t, 2>& s) {
      if (narrowing)
        float_to_bf16_row(static_cast<std::uint16_t*>(out.data) + off[0], s[0],
                          static_cast<const float*>(in.data) + off[1], s[1], n);
      else
        bf16_to_float_row(static_cast<float*>(out.data) + off[0], s[0],
                          static_cast<const std::uint16_t*>(in.data) + off[1], s[1], n);
    });
    return;
  }
  // bool outputs (nonzero is true) and the other 16-bit cases: the portable strided conversion.
  if ((out.dtype == DType::b8 && in.dtype != DType::b8) || !is_compute_dtype(out.dtype) || !is_compute_dtype(in.dtype))
    return strided::convert_copy(out, in);
  const int nd = L.ndim;
  // A transpose (the input walks its last dim with a stride and the dim before with stride 1):
  // copy in square tiles so both sides stay within a few cache lines.
  const bool transposed = nd >= 2 && L.strides[0][nd - 1] == 1 && L.strides[1][nd - 1] != 1 &&
                          L.strides[1][nd - 2] == 1 && L.shape[nd - 2] >= 8 && L.shape[nd - 1] >= 8;
  dispatch_dtype(out.dtype, [&]<class O>(type_tag<O>) {
    dispatch_dtype(in.dtype, [&]<class I>(type_tag<I>) {
      O* o = out.ptr<O>();
      const I* x = in.ptr<I>();
      if (transposed) {
        copy_transposed_tiles(L, o, x);
        return;
      }
      parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                                   const std::array<std::int64_t, 2>& s) {
        O* dst = o + off[0];
        const I* src = x + off[1];
        if (s[0] == 1 && s[1] == 1)
          for (std::int64_t i = 0; i < n; ++i) dst[i] = convert_element<O>(src[i]);
        else
          for (std::int64_t i = 0; i < n; ++i) dst[i * s[0]] = convert_element<O>(src[i * s[1]]);
      });
    });
  });
}

// ---- unary -----------------------------------------------------------------------------------
// The reference's scalar formula (double for floating T), for the cases without a batch form.
template <UnaryOp Op, class T> inline T unary_scalar(T x, double alpha) {
  if constexpr (FloatElement<T>)
    return static_cast<T>(kmath::unary_forward<Op, double>(static_cast<double>(x), alpha));
  else
    return kmath::unary_forward<Op, T>(x, alpha);
}

inline bool pow_has_batch_form(double alpha) { return alpha == 0.0 || alpha == 1.0 || alpha == 2.0; }

template <class T, class ScalarFn>
inline void unary_scalar_rows(const KernelView& out, const KernelView& in, std::int64_t grain,
                              ScalarFn&& f) {
  const auto L = coalesce<2>({&out, &in});
  T* o = out.ptr<T>();
  const T* x = in.ptr<T>();
  parallel_rows(L, grain, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                              const std::array<std::int64_t, 2>& s) {
    T* dst = o + off[0];
    const T* src = x + off[1];
    if (s[0] == 1 && s[1] == 1)
      for (std::int64_t i = 0; i < n; ++i) dst[i] = f(src[i]);
    else
      for (std::int64_t i = 0; i < n; ++i) dst[i * s[0]] = f(src[i * s[1]]);
  });
}

inline void unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) {
  TINYXF_CHECK(out.dtype == in.dtype, "unary ", unary_op_name(op), ": output dtype ",
               dtype_name(out.dtype), " differs from input dtype ", dtype_name(in.dtype));
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    dispatch_unary_op(op, [&]<UnaryOp Op>() {
      if constexpr (FloatElement<T>) {
        if (Op == UnaryOp::pow_scalar && !pow_has_batch_form(alpha)) {
          unary_scalar_rows<T>(out, in, kGrain / 8,
                               [&](T x) { return unary_scalar<UnaryOp::pow_scalar>(x, alpha); });
          return;
        }
        const T a = static_cast<T>(alpha);
        const auto L = coalesce<2>({&out, &in});
        T* o = out.ptr<T>();
        const T* x = in.ptr<T>();
        parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                                     const std::array<std::int64_t, 2>& s) {
          map_row<T, 1>(o + off[0], s[0], {x + off[1]}, {s[1]}, n,
                        [a](const Batch<T>& v) { return unary_batch<Op, T>(v, a); });
        });
      } else {
        unary_scalar_rows<T>(out, in, kGrain, [&](T x) { return unary_scalar<Op>(x, alpha); });
      }
    });
  });
}

inline void unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                           const KernelView& in, const KernelView& out, double alpha) {
  dispatch_floating(grad_in.dtype, "unary_backward", [&]<class T>(type_tag<T>) {
    // A missing `out` reads as zeros, like the reference (ops that need y always pass it).
    static const T zero = T(0);
    KernelView y = out;
    if (!y.data) {
      y = in;
      y.data = const_cast<T*>(&zero);
      y.strides.fill(0);
    }
    const auto L = coalesce<4>({&grad_in, &grad_out, &in, &y});
    T* gi = grad_in.ptr<T>();
    const T* go = grad_out.ptr<T>();
    const T* xs = in.ptr<T>();
    const T* ys = y.ptr<T>();
    dispatch_unary_op(op, [&]<UnaryOp Op>() {
      if (Op == UnaryOp::pow_scalar && !pow_has_batch_form(alpha)) {
        parallel_rows(L, kGrain / 8, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                                         const std::array<std::int64_t, 4>& s) {
          for (std::int64_t i = 0; i < n; ++i) {
            const double x = xs[off[2] + i * s[2]], yv = ys[off[3] + i * s[3]];
            gi[off[0] + i * s[0]] = static_cast<T>(kmath::unary_backward<UnaryOp::pow_scalar, double>(
                static_cast<double>(go[off[1] + i * s[1]]), x, yv, alpha));
          }
        });
        return;
      }
      const T a = static_cast<T>(alpha);
      const Batch<T> none(T(0));  // stands in for an operand the derivative does not read
      parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                                   const std::array<std::int64_t, 4>& s) {
        // Only the operands the derivative reads are loaded (gelu's backward is memory-bound).
        if constexpr (grad_reads_x<Op>() && grad_reads_y<Op>())
          map_row<T, 3>(gi + off[0], s[0], {go + off[1], xs + off[2], ys + off[3]},
                        {s[1], s[2], s[3]}, n,
                        [a](const Batch<T>& g, const Batch<T>& x, const Batch<T>& yv) {
                          return unary_grad_batch<Op, T>(g, x, yv, a);
                        });
        else if constexpr (grad_reads_x<Op>())
          map_row<T, 2>(gi + off[0], s[0], {go + off[1], xs + off[2]}, {s[1], s[2]}, n,
                        [a, &none](const Batch<T>& g, const Batch<T>& x) {
                          return unary_grad_batch<Op, T>(g, x, none, a);
                        });
        else if constexpr (grad_reads_y<Op>())
          map_row<T, 2>(gi + off[0], s[0], {go + off[1], ys + off[3]}, {s[1], s[3]}, n,
                        [a, &none](const Batch<T>& g, const Batch<T>& yv) {
                          return unary_grad_batch<Op, T>(g, none, yv, a);
                        });
        else
          map_row<T, 1>(gi + off[0], s[0], {go + off[1]}, {s[1]}, n,
                        [a, &none](const Batch<T>& g) {
                          return unary_grad_batch<Op, T>(g, none, none, a);
                        });
      });
    });
  });
}

// ---- binary ----------------------------------------------------------------------------------
template <BinaryOp Op, class T> inline void binary_simd_row(T* o, std::int64_t so, const T* a,
                                                            std::int64_t sa, const T* b,
                                                            std::int64_t sb, std::int64_t n) {
  constexpr std::int64_t W = kLanes<T>;
  auto f = [](const Batch<T>& x, const Batch<T>& y) { return binary_batch<Op, T>(x, y); };
  if (so == 1 && ((sa == 1 && sb == 0) || (sa == 0 && sb == 1))) {
    // One operand is constant along the row (bias add, scaling by a per-row factor ...).
    const bool a_const = sa == 0;
    const Batch<T> c(a_const ? *a : *b);
    const T* v = a_const ? b : a;
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
      const Batch<T> x = Batch<T>::load_unaligned(v + i);
      (a_const ? f(c, x) : f(x, c)).store_unaligned(o + i);
    }
    if (i < n) {
      alignas(64) T buf[W] = {};
      std::copy(v + i, v + n, buf);
      const Batch<T> x = Batch<T>::load_unaligned(buf);
      (a_const ? f(c, x) : f(x, c)).store_unaligned(buf);
      std::copy(buf, buf + (n - i), o + i);
    }
    return;
  }
  map_row<T, 2>(o, so, {a, b}, {sa, sb}, n, f);
}

// The reference's scalar result: comparisons give 0/1; arithmetic runs in double for floating
// inputs (so float inputs written to a double output keep double precision) and in T otherwise.
template <class T> using BinaryCompute = std::conditional_t<FloatElement<T>, double, T>;

template <BinaryOp Op, class T> inline BinaryCompute<T> binary_scalar(T x, T y) {
  if constexpr (FloatElement<T> && kmath::kBinaryScalarOnly<kmath::BinaryFormula<Op>>) {
    return kmath::BinaryFormula<Op>::fwd(x, y);  // in T, as torch's float kernels
  } else if constexpr (FloatElement<T>) {
    return kmath::apply_binary<double>(Op, x, y);
  } else {
    if constexpr (Op == BinaryOp::div) TINYXF_CHECK(y != T(0), "div: integer division by zero");
    return kmath::apply_binary<T>(Op, x, y);
  }
}

// Writes n values of R to an O row with stride; chosen once per call for the output dtype, so
// each op's loop is compiled once per input dtype rather than once per (input, output) pair.
template <class R, class O>
inline void store_row_as(void* dst, std::int64_t stride, const R* src, std::int64_t n) {
  O* d = static_cast<O*>(dst);
  if (stride == 1)
    for (std::int64_t i = 0; i < n; ++i) d[i] = convert_element<O>(src[i]);
  else
    for (std::int64_t i = 0; i < n; ++i) d[i * stride] = convert_element<O>(src[i]);
}
template <class R> using RowStore = void (*)(void*, std::int64_t, const R*, std::int64_t);
template <class R> inline RowStore<R> row_store_for(DType out) {
  return dispatch_dtype(out, []<class O>(type_tag<O>) -> RowStore<R> { return &store_row_as<R, O>; });
}

// out[i] = f(a[i], b[i]) for one row; the common stride patterns get their own loops.
template <class O, class T, class F>
inline void scalar_binary_row(O* dst, std::int64_t so, const T* p, std::int64_t sp, const T* q,
                              std::int64_t sq, std::int64_t n, F&& f) {
  if (so == 1 && sp == 1 && sq == 1)
    for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<O>(f(p[i], q[i]));
  else if (so == 1 && sp == 1 && sq == 0)
    for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<O>(f(p[i], *q));
  else
    for (std::int64_t i = 0; i < n; ++i) dst[i * so] = static_cast<O>(f(p[i * sp], q[i * sq]));
}

inline void binary(BinaryOp op, const KernelView& out, const KernelView& a, const KernelView& b) {
  TINYXF_CHECK(a.dtype == b.dtype, "binary ", binary_op_name(op), ": operand dtypes differ (",
               dtype_name(a.dtype), " vs ", dtype_name(b.dtype), ")");
  const auto L = coalesce<3>({&out, &a, &b});
  dispatch_dtype(a.dtype, [&]<class T>(type_tag<T>) {
    dispatch_binary_op(op, [&]<BinaryOp Op>() {
      const T* x = a.ptr<T>();
      const T* y = b.ptr<T>();
      constexpr bool comparison = Op >= BinaryOp::eq;
      // Comparisons produce bool (or uint8) bytes; arithmetic produces T.
      using Direct = std::conditional_t<comparison, std::uint8_t, T>;
      if (out.dtype == dtype_v<Direct> || (comparison && out.dtype == DType::b8)) {
        Direct* o = static_cast<Direct*>(out.data);
        parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                                     const std::array<std::int64_t, 3>& s) {
          if constexpr (FloatElement<T> && !comparison && !kmath::kBinaryScalarOnly<kmath::BinaryFormula<Op>>)
            binary_simd_row<Op, T>(o + off[0], s[0], x + off[1], s[1], y + off[2], s[2], n);
          else
            scalar_binary_row(o + off[0], s[0], x + off[1], s[1], y + off[2], s[2], n,
                              [](T p, T q) { return binary_scalar<Op, T>(p, q); });
        });
        return;
      }
      // Any other output dtype: compute a block in the reference's precision, then convert.
      using R = BinaryCompute<T>;
      const RowStore<R> store = row_store_for<R>(out.dtype);
      const std::size_t out_size = dtype_size(out.dtype);
      auto* o = static_cast<unsigned char*>(out.data);
      parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                                   const std::array<std::int64_t, 3>& s) {
        R buf[kGatherBlock];
        for (std::int64_t base = 0; base < n; base += kGatherBlock) {
          const std::int64_t m = std::min(kGatherBlock, n - base);
          scalar_binary_row(buf, 1, x + off[1] + base * s[1], s[1], y + off[2] + base * s[2], s[2],
                            m, [](T p, T q) { return binary_scalar<Op, T>(p, q); });
          store(o + static_cast<std::size_t>(off[0] + base * s[0]) * out_size, s[0], buf, m);
        }
      });
    });
  });
}

// ---- where -----------------------------------------------------------------------------------
inline void where(const KernelView& out, const KernelView& cond, const KernelView& a,
                  const KernelView& b) {
  TINYXF_CHECK(cond.dtype == DType::u8 || cond.dtype == DType::b8, "where: condition must be bool or uint8, got ",
               dtype_name(cond.dtype));
  TINYXF_CHECK(a.dtype == out.dtype && b.dtype == out.dtype, "where: operand dtypes (",
               dtype_name(a.dtype), ", ", dtype_name(b.dtype), ") differ from the output's ",
               dtype_name(out.dtype));
  const auto L = coalesce<4>({&out, &cond, &a, &b});
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    T* o = out.ptr<T>();
    const std::uint8_t* c = cond.ptr<std::uint8_t>();
    const T* x = a.ptr<T>();
    const T* y = b.ptr<T>();
    parallel_rows(L, kGrain, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                                 const std::array<std::int64_t, 4>& s) {
      T* dst = o + off[0];
      const std::uint8_t* cp = c + off[1];
      const T* p = x + off[2];
      const T* q = y + off[3];
      if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1)
        for (std::int64_t i = 0; i < n; ++i) dst[i] = cp[i] ? p[i] : q[i];
      else
        for (std::int64_t i = 0; i < n; ++i)
          dst[i * s[0]] = cp[i * s[1]] ? p[i * s[2]] : q[i * s[3]];
    });
  });
}

// ---- random ----------------------------------------------------------------------------------
// Element i = f(seed, offset + i) with kmath's formulas, so chunks can run on any thread.
//
// Dropout masks (bernoulli_scaled): kmath::dropout_keep's 32 bits per element, half of one hash
// each (the hash is most of dropout's and attention dropout's time). The hashes of a piece of the
// range go to a stack buffer, then their uint32 halves (on a little-endian CPU, low half = even
// counter) are compared with the threshold. Both loops are written with GCC vector types, so they
// are SIMD whatever the compiler's cost model says (at -march=native GCC kept splitmix64's 64-bit
// multiplies scalar: 1.9 ns per element), with vpmullq on AVX-512 and its emulation on AVX2. The
// counters' products advance by adding the multiplier (one 64-bit multiply of three saved).
namespace random_detail {
#if defined(__AVX512F__)
inline constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
inline constexpr int kVectorBytes = 32;
#else
inline constexpr int kVectorBytes = 16;  // the register width: wider vectors change the call ABI
#endif
using U64s = std::uint64_t __attribute__((vector_size(kVectorBytes)));
using U32s = std::uint32_t __attribute__((vector_size(kVectorBytes)));
inline constexpr int kHashLanes = kVectorBytes / 8, kBitLanes = kVectorBytes / 4;

// hashes[q] = splitmix64(seed_hash ^ (pair0 + q) * multiplier) for q < count rounded up to
// kHashLanes (kmath::random_bits(seed, pair0 + q) when seed_hash = splitmix64(seed)).
inline void hash_pairs(std::uint64_t* hashes, std::int64_t count, std::uint64_t seed_hash, std::uint64_t pair0) {
  U64s product{};
  for (int l = 0; l < kHashLanes; ++l) product[l] = (pair0 + static_cast<std::uint64_t>(l)) * kmath::kCounterMultiplier;
  const U64s step = U64s{} + static_cast<std::uint64_t>(kHashLanes) * kmath::kCounterMultiplier;
  for (std::int64_t q = 0; q < count; q += kHashLanes, product += step) {
    const U64s x = kmath::splitmix64_lanes(product ^ seed_hash);
    std::memcpy(hashes + q, &x, sizeof x);
  }
}
}  // namespace random_detail

template <class T>
inline void bernoulli_scaled_range(T* p, std::int64_t lo, std::int64_t hi, std::uint64_t seed_hash,
                                   std::uint64_t offset, std::uint64_t threshold, T keep) {
  namespace r = random_detail;
  static_assert(std::endian::native == std::endian::little);
  if (threshold > std::numeric_limits<std::uint32_t>::max()) {  // keeps nothing (p >= 1)
    std::fill(p + lo, p + hi, T(0));
    return;
  }
  const auto cut = static_cast<std::uint32_t>(threshold);
  constexpr std::int64_t kHashes = 256;  // per piece: 512 elements, 2 KiB of hashes
  alignas(64) std::uint64_t hashes[kHashes + r::kHashLanes];
  for (std::int64_t b = lo, n = 0; b < hi; b += n) {
    const std::uint64_t first = offset + static_cast<std::uint64_t>(b);
    // A piece ends where the counter wraps to 0 (its pairs restart there too).
    const std::uint64_t before_wrap = std::uint64_t{0} - first;
    n = std::min(2 * kHashes, hi - b);
    if (before_wrap != 0 && before_wrap < static_cast<std::uint64_t>(n)) n = static_cast<std::int64_t>(before_wrap);
    const std::int64_t skip = static_cast<std::int64_t>(first & 1);  // an odd first counter: its pair's high half
    r::hash_pairs(hashes, (skip + n + 1) / 2, seed_hash, first >> 1);
    T* out = p + b;
    const char* piece = reinterpret_cast<const char*>(hashes) + 4 * skip;  // the halves, read by memcpy
    std::int64_t i = 0;
    if constexpr (std::is_same_v<T, float>) {
      const r::U32s keep_bits = r::U32s{} + std::bit_cast<std::uint32_t>(keep);
      for (; i + r::kBitLanes <= n; i += r::kBitLanes) {
        r::U32s v;
        std::memcpy(&v, piece + 4 * i, sizeof v);
        const r::U32s kept = (r::U32s)(v >= cut) & keep_bits;
        std::memcpy(out + i, &kept, sizeof kept);
      }
    }
    for (; i < n; ++i) {
      std::uint32_t v;
      std::memcpy(&v, piece + 4 * i, sizeof v);
      out[i] = v >= cut ? keep : T(0);
    }
  }
}

// out = in * mask, the mask of bernoulli_scaled generated on the fly and never stored.
inline void dropout(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
                    std::uint64_t offset) {
  TINYXF_CHECK(out.is_contiguous() && in.is_contiguous(), "dropout: operands must be contiguous");
  dispatch_floating(in.dtype, "dropout", [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    T* y = out.ptr<T>();
    const std::uint64_t seed_hash = kmath::splitmix64(seed), threshold = kmath::dropout_threshold(p);
    const T keep = static_cast<T>(1.0 / (1.0 - p));
    parallel_for(0, in.numel(), kGrain, [=](std::int64_t lo, std::int64_t hi) {
      constexpr std::int64_t kBlock = 1024;  // the mask of one block lives on the stack
      alignas(64) T mask[kBlock];
      for (std::int64_t b = lo; b < hi; b += kBlock) {
        const std::int64_t n = std::min(kBlock, hi - b);
        bernoulli_scaled_range(mask, 0, n, seed_hash, offset + static_cast<std::uint64_t>(b), threshold, keep);
        map_contiguous2(y + b, x + b, mask, n, [](const Batch<T>& v, const Batch<T>& m) { return v * m; });
      }
    });
  });
}

inline void random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
                   std::uint64_t offset) {
  if (out.numel() == 0) return;  // an empty view's strides need not be contiguous ones
  TINYXF_CHECK(out.is_contiguous(), "random: the output must be contiguous");
  dispatch_floating(out.dtype, "random", [&]<class T>(type_tag<T>) {
    T* const p = out.ptr<T>();
    const std::int64_t n = out.numel();
    if (kind == RandomKind::bernoulli_scaled) {
      // kmath::random_bits(seed, c) == splitmix64(splitmix64(seed) ^ c * constant).
      const std::uint64_t seed_hash = kmath::splitmix64(seed);
      const std::uint64_t threshold = kmath::dropout_threshold(a);
      const T keep = static_cast<T>(1.0 / (1.0 - a));
      parallel_for(0, n, kGrain, [=](std::int64_t lo, std::int64_t hi) {
        bernoulli_scaled_range(p, lo, hi, seed_hash, offset, threshold, keep);
      });
      return;
    }
    parallel_for(0, n, kGrain / 8, [=](std::int64_t lo, std::int64_t hi) {
      if (kind == RandomKind::uniform) {
        for (std::int64_t i = lo; i < hi; ++i) {
          const std::uint64_t c = offset + static_cast<std::uint64_t>(i);
          const double v = a + (b - a) * kmath::uniform01(seed, c);
          p[i] = static_cast<T>(v);
        }
      } else {
        for (std::int64_t i = lo; i < hi; ++i) {
          const std::uint64_t c = offset + static_cast<std::uint64_t>(i);
          const double v = a + b * kmath::standard_normal(seed, c);
          p[i] = static_cast<T>(v);
        }
      }
    });
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
