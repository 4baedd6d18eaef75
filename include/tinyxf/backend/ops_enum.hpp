#pragma once
// The op vocabulary shared by the front end and every backend (no other dependencies, so CUDA
// translation units can include it).
#include <cstdint>

namespace tinyxf {

enum class UnaryOp : std::uint8_t {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu_erf, gelu_tanh, abs,
  // ops with a scalar operand `alpha`:
  add_scalar,   // x + a
  sub_scalar,   // x - a
  rsub_scalar,  // a - x
  mul_scalar,   // x * a
  div_scalar,   // x / a
  rdiv_scalar,  // a / x
  pow_scalar,   // x ^ a
};
inline const char* unary_op_name(UnaryOp op) {
  static constexpr const char* names[] = {
      "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "abs",
      "add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar", "pow"};
  return names[static_cast<int>(op)];
}

enum class BinaryOp : std::uint8_t {
  add, sub, mul, div, maximum, minimum,
  // comparisons write 0/1 into an output of any dtype (the front end uses uint8):
  eq, ne, lt, le, gt, ge,
};
inline const char* binary_op_name(BinaryOp op) {
  static constexpr const char* names[] = {"add", "sub", "mul", "div", "maximum", "minimum",
                                          "eq",  "ne",  "lt",  "le",  "gt",      "ge"};
  return names[static_cast<int>(op)];
}
inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

// Reductions run over the middle axis of a contiguous [outer, reduced, inner] input into a
// contiguous [outer, inner] output (any single-dim or adjacent-dims reduction has this form).
enum class ReduceOp : std::uint8_t { sum, mean, max, min, argmax, argmin };
inline const char* reduce_op_name(ReduceOp op) {
  static constexpr const char* names[] = {"sum", "mean", "max", "min", "argmax", "argmin"};
  return names[static_cast<int>(op)];
}

enum class RandomKind : std::uint8_t { uniform, normal, bernoulli_scaled };

}  // namespace tinyxf
