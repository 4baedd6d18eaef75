#pragma once
// Element types. Kernels receive a DType and raw pointers; dispatch_dtype turns the runtime tag
// back into a C++ type once per kernel call (never per element).
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "tinyxf/core/error.hpp"

namespace tinyxf {

// u8 doubles as bool (comparison results, masks). Room is left for bf16/f16 storage.
enum class DType : std::uint8_t { f32, f64, i64, i32, u8 };

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };
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
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::f32 || d == DType::f64; }

template <class T> struct type_tag { using type = T; };

// Calls fn(type_tag<T>{}) with T matching d.
template <class Fn>
decltype(auto) dispatch_dtype(DType d, Fn&& fn) {
  switch (d) {
    case DType::f32: return fn(type_tag<float>{});
    case DType::f64: return fn(type_tag<double>{});
    case DType::i64: return fn(type_tag<std::int64_t>{});
    case DType::i32: return fn(type_tag<std::int32_t>{});
    case DType::u8: return fn(type_tag<std::uint8_t>{});
  }
  throw DTypeError("dispatch_dtype: unknown dtype");
}

// Floating types only; names the op in the error for anything else.
template <class Fn>
decltype(auto) dispatch_floating(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::f32: return fn(type_tag<float>{});
    case DType::f64: return fn(type_tag<double>{});
    default: break;
  }
  throw DTypeError(detail::concat(op, ": expected a floating dtype (float32/float64), got ", dtype_name(d)));
}

}  // namespace tinyxf
