#pragma once
// IEEE binary16 (F16) and bfloat16 (BF16) <-> float conversions on raw 16-bit patterns, and the
// element types tinyxf::Half and tinyxf::BFloat16 (storage types of kFloat16 / kBFloat16).
// Widening is exact; narrowing rounds to nearest, ties to even; NaNs stay (quiet) NaNs.
#include <bit>
#include <cstdint>

namespace tinyxf {

inline float bf16_to_float(std::uint16_t bits) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

inline std::uint16_t float_to_bf16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;  // to nearest, ties to even
  // Rounding could carry a NaN's payload into infinity, so NaNs are kept apart and made quiet (a
  // select rather than a branch: loops over this function vectorize).
  const std::uint32_t quiet_nan = (bits >> 16) | 0x0040u;
  return static_cast<std::uint16_t>((bits & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
}

inline float f16_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  std::uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);  // signed zero
  // Subnormal: shift the leading one up to the implicit-bit position to make a normal float.
  std::uint32_t float_exponent = 113;  // 127 - 15 + 1
  do {
    mantissa <<= 1;
    --float_exponent;
  } while ((mantissa & 0x400u) == 0);
  return std::bit_cast<float>(sign | (float_exponent << 23) | ((mantissa & 0x3FFu) << 13));
}

inline std::uint16_t float_to_f16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u)  // NaN: keep the top payload bits, force quiet
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to infinity
  if (magnitude >= 0x38800000u) {                       // >= 2^-14: normal half
    // Re-bias the exponent (127 -> 15) and drop 13 mantissa bits; a carry out of the mantissa
    // correctly bumps the exponent.
    std::uint32_t result = (magnitude - 0x38000000u) >> 13;
    const std::uint32_t dropped = magnitude & 0x1FFFu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (result & 1u))) ++result;
    return static_cast<std::uint16_t>(sign | result);
  }
  // Subnormal half: count units of 2^-24. Below 2^-25 everything rounds to zero.
  const std::uint32_t float_exponent = magnitude >> 23;
  if (float_exponent < 102) return sign;
  const std::uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126 - float_exponent;  // 14..24
  std::uint32_t result = mantissa >> shift;
  const std::uint32_t dropped = mantissa & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (result & 1u))) ++result;  // may reach 0x400: smallest normal
  return static_cast<std::uint16_t>(sign | result);
}

// 16-bit floating element types: stored as their bit pattern, converted through float
// (implicitly, like c10::BFloat16 / c10::Half).
namespace detail {
template <std::uint16_t (*Encode)(float) noexcept, float (*Decode)(std::uint16_t) noexcept>
struct Float16Bits {
  std::uint16_t bits = 0;
  Float16Bits() = default;
  Float16Bits(float value) noexcept : bits(Encode(value)) {}  // NOLINT(google-explicit-constructor)
  static Float16Bits from_bits(std::uint16_t b) noexcept {
    Float16Bits h;
    h.bits = b;
    return h;
  }
  operator float() const noexcept { return Decode(bits); }  // NOLINT(google-explicit-constructor)
};
}  // namespace detail

using BFloat16 = detail::Float16Bits<float_to_bf16, bf16_to_float>;
using Half = detail::Float16Bits<float_to_f16, f16_to_float>;

static_assert(sizeof(BFloat16) == 2 && sizeof(Half) == 2);

// The io layer's historical names for the same conversions.
namespace io {
using tinyxf::bf16_to_float;
using tinyxf::f16_to_float;
using tinyxf::float_to_bf16;
using tinyxf::float_to_f16;
}  // namespace io

}  // namespace tinyxf
