#pragma once
// Element types. A tensor's dtype is a run-time property (DType); kernels receive a DType and raw
// pointers, and dispatch_dtype turns the tag back into a C++ type once per kernel call (never per
// element). Names and promotion rules follow PyTorch.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/half.hpp"

namespace tinyxf {

// b8 is bool (one byte holding 0 or 1: comparison results, masks). bf16 and f16 are storage
// dtypes: tensors can be created, filled, printed, saved and converted with .to(); compute
// kernels are written for the "compute dtypes" only (see dispatch_dtype).
enum class DType : std::uint8_t { f32, f64, i64, i32, u8, b8, bf16, f16 };

// torch-style constants.
inline constexpr DType kFloat32 = DType::f32, kFloat = DType::f32;
inline constexpr DType kFloat64 = DType::f64, kDouble = DType::f64;
inline constexpr DType kBFloat16 = DType::bf16;
inline constexpr DType kFloat16 = DType::f16, kHalf = DType::f16;
inline constexpr DType kInt64 = DType::i64, kLong = DType::i64;
inline constexpr DType kInt32 = DType::i32, kInt = DType::i32;
inline constexpr DType kUInt8 = DType::u8, kByte = DType::u8;
inline constexpr DType kBool = DType::b8;

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::b8; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::f16; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

template <class T>
concept Element = requires { dtype_of<T>::value; };
template <class T>
concept FloatElement = std::is_same_v<T, float> || std::is_same_v<T, double>;

inline constexpr std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::i32: return 4;
    case DType::u8: return 1;
    case DType::b8: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
  }
  return 0;
}

// PyTorch's names without the "torch." prefix.
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
    case DType::b8: return "bool";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "float16";
  }
  return "?";
}

inline constexpr bool is_floating_point(DType d) {
  return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16;
}
inline constexpr bool is_floating(DType d) { return is_floating_point(d); }
// 16-bit floating dtypes: storage only (no compute kernels yet).
inline constexpr bool is_reduced_floating_point(DType d) { return d == DType::bf16 || d == DType::f16; }
inline constexpr bool is_integral(DType d, bool include_bool = false) {
  return d == DType::i64 || d == DType::i32 || d == DType::u8 || (include_bool && d == DType::b8);
}
// Whether compute kernels exist for d (everything but the 16-bit floats).
inline constexpr bool is_compute_dtype(DType d) { return !is_reduced_floating_point(d); }

// The dtype of float tensors made without an explicit dtype (torch.get_default_dtype()).
inline constexpr DType default_dtype() { return kFloat32; }

// torch.promote_types: bool < uint8 < int32 < int64 < floating; among floats the wider wins;
// float16 with bfloat16 gives float32.
inline constexpr DType promote_types(DType a, DType b) {
  if (a == b) return a;
  const bool fa = is_floating_point(a), fb = is_floating_point(b);
  if (fa && fb) {
    if (a == DType::f64 || b == DType::f64) return DType::f64;
    return DType::f32;  // f32 with a 16-bit float, or f16 with bf16
  }
  if (fa) return a;
  if (fb) return b;
  const auto rank = [](DType d) {
    switch (d) {
      case DType::b8: return 0;
      case DType::u8: return 1;
      case DType::i32: return 2;
      default: return 3;  // i64
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

template <class T> struct type_tag { using type = T; };

namespace detail {
[[noreturn]] inline void throw_no_kernel(DType d, const char* op) {
  throw DTypeError(concat(op ? op : "kernel", ": not implemented for ", dtype_name(d),
                          " (a storage-only dtype here; convert with .to(kFloat32) first)"));
}
}  // namespace detail

// Calls fn(type_tag<T>{}) with T matching d, for the compute dtypes (bool is handed to kernels as
// uint8_t: its bytes are 0/1). bfloat16/float16 have no kernels: DTypeError naming op and dtype.
template <class Fn>
decltype(auto) dispatch_dtype(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::f32: return fn(type_tag<float>{});
    case DType::f64: return fn(type_tag<double>{});
    case DType::i64: return fn(type_tag<std::int64_t>{});
    case DType::i32: return fn(type_tag<std::int32_t>{});
    case DType::u8:
    case DType::b8: return fn(type_tag<std::uint8_t>{});
    case DType::bf16:
    case DType::f16: break;
  }
  detail::throw_no_kernel(d, op);
}
template <class Fn>
decltype(auto) dispatch_dtype(DType d, Fn&& fn) {
  return dispatch_dtype(d, static_cast<const char*>(nullptr), std::forward<Fn>(fn));
}

// Every storage dtype, the 16-bit floats as BFloat16/Half (for copies, fills, I/O, printing).
template <class Fn>
decltype(auto) dispatch_storage_dtype(DType d, Fn&& fn) {
  switch (d) {
    case DType::bf16: return fn(type_tag<BFloat16>{});
    case DType::f16: return fn(type_tag<Half>{});
    default: break;
  }
  return dispatch_dtype(d, std::forward<Fn>(fn));
}

// An unsigned integer type of d's element size (1, 2, 4 or 8 bytes), for kernels that move
// elements as raw bits whatever they mean (gather, scatter).
template <class Fn>
decltype(auto) dispatch_element_bits(DType d, Fn&& fn) {
  switch (dtype_size(d)) {
    case 1: return fn(type_tag<std::uint8_t>{});
    case 2: return fn(type_tag<std::uint16_t>{});
    case 4: return fn(type_tag<std::uint32_t>{});
    default: return fn(type_tag<std::uint64_t>{});
  }
}

// Floating compute types only; names the op in the error for anything else.
template <class Fn>
decltype(auto) dispatch_floating(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::f32: return fn(type_tag<float>{});
    case DType::f64: return fn(type_tag<double>{});
    default: break;
  }
  if (is_reduced_floating_point(d)) detail::throw_no_kernel(d, op);
  throw DTypeError(detail::concat(op, ": expected a floating dtype (float32/float64), got ", dtype_name(d)));
}

// ---- scalars headed for an integer or 16-bit dtype --------------------------------------------
// An integral scalar operand of integer dtype d as torch applies it (a Python int): converted to
// int64, then wrapped to d, so int32 + 3e9 adds -1294967296 and int32 == 2^32 + 1 compares with 1.
// Values in [2^63, 2^64) wrap through uint64 as torch's do; anything outside raises (torch:
// "int too big to convert"). The result is exact in a double and in range for d.
inline double wrap_integer_scalar(const char* op, double value, DType d) {
  constexpr double two_63 = 9223372036854775808.0, two_64 = 2 * two_63;
  TINYXF_CHECK_AS(ValueError, std::trunc(value) == value && value >= -two_63 && value < two_64, op, ": scalar ",
                  value, " does not fit in int64");
  const std::int64_t wide =
      value >= two_63 ? static_cast<std::int64_t>(static_cast<std::uint64_t>(value)) : static_cast<std::int64_t>(value);
  switch (d) {
    case DType::i32: return static_cast<std::int32_t>(wide);
    case DType::u8: return static_cast<std::uint8_t>(wide);
    case DType::b8: return wide != 0;
    default: return static_cast<double>(wide);
  }
}

// The largest finite value of floating dtype d.
inline constexpr double max_finite(DType d) {
  switch (d) {
    case DType::f16: return 65504.0;
    case DType::bf16: return 3.3895313892515355e38;  // 0x7f7f
    case DType::f32: return std::numeric_limits<float>::max();
    default: return std::numeric_limits<double>::max();
  }
}

// A value for fill_/full/masked_fill checked as torch's checked_convert does: a ValueError
// ("cannot be converted to type uint8 without overflow") where it does not fit d. Integer dtypes
// take a fractional value in [lowest, max + 1) (truncated later) and an integral one in
// [lowest, max], where an unsigned dtype also takes -max..-1 (torch wraps a negative Python int:
// uint8 -1 is 255); NaN and infinities overflow. Floating dtypes refuse finite values beyond
// their largest finite one (float16: 65519 too, which would round to 65504). Bool takes
// anything (nonzero is true). Returns the value to store, in range for d.
inline double checked_fill_value(const char* op, double value, DType d) {
  if (d == DType::b8) return value;
  if (is_floating_point(d)) {
    TINYXF_CHECK_AS(ValueError, !std::isfinite(value) || std::fabs(value) <= max_finite(d), op, ": value ", value,
                    " cannot be converted to type ", dtype_name(d), " without overflow");
    return value;
  }
  const double lowest = d == DType::i64 ? -9223372036854775808.0 : d == DType::i32 ? -2147483648.0 : 0.0;
  const double max = d == DType::i64 ? 9223372036854775807.0 : d == DType::i32 ? 2147483647.0 : 255.0;
  const bool integral = std::isfinite(value) && std::trunc(value) == value;
  const bool wraps_negative = d == DType::u8 && integral && value < 0 && value >= -max;
  // max + 1 for int64 is 2^63 (max itself rounds to 2^63 in a double, so compare with <).
  const bool fits = value >= lowest && (integral && d != DType::i64 ? value <= max : std::trunc(value) < max + 1);
  TINYXF_CHECK_AS(ValueError, fits || wraps_negative, op, ": value ", value, " cannot be converted to type ",
                  dtype_name(d), " without overflow");
  return wraps_negative ? value + max + 1 : value;
}

// A floating value converted to integer type T with a defined result for every input (a C++
// static_cast of NaN, an infinity or an out-of-range value is undefined behaviour). The results
// are torch's CPU ones on x86: truncation toward zero where the value fits; otherwise int64's
// (int32's) lowest value, the hardware's "integer indefinite". uint8 wraps the int64 conversion,
// as torch's static_cast_with_inter_type: 300.0 -> 44, -1.0 -> 255, NaN or 1e10 -> 0,
// 4294967297.0 -> 1.
template <class T, class F>
  requires std::is_integral_v<T> && std::is_floating_point_v<F> && (!std::is_same_v<T, bool>)
inline T float_to_integer(F v) {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    return v >= F(-0x1p63) && v < F(0x1p63) ? static_cast<T>(v) : std::numeric_limits<T>::min();
  } else if constexpr (sizeof(T) == sizeof(std::int32_t)) {
    return v >= F(-0x1p31) && v < F(0x1p31) ? static_cast<T>(v) : static_cast<T>(std::numeric_limits<std::int32_t>::min());
  } else if constexpr (std::is_same_v<T, std::uint8_t>) {
    return static_cast<T>(float_to_integer<std::int64_t>(v));  // modular (C++20)
  } else {  // other narrow types (none is a tinyxf dtype today) wrap the int32 one, as torch's int8
    static_assert(sizeof(T) < sizeof(std::int32_t), "float_to_integer: int64 or up to 32-bit integers");
    return static_cast<T>(float_to_integer<std::int32_t>(v));
  }
}

// One element of storage dtype S converted to T (16-bit floats and bool through their meaning;
// floating to integer through float_to_integer, defined for NaN, inf and out-of-range values).
template <class T, class S>
inline T convert_element(S v) {
  if constexpr (std::is_same_v<S, BFloat16> || std::is_same_v<S, Half>) {
    return convert_element<T>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>) {
    return T(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return float_to_integer<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

}  // namespace tinyxf
