#pragma once
// The op table: the op vocabulary shared by the front end and every backend, one row per op.
// The enums, the names, the OpInfo tables, each backend's compile-time dispatch and the check
// that the conformance catalogue covers every op are all generated from these rows, so adding
// an elementwise op is: its row here, its formula struct in backend/kernel_math.hpp, and its
// front-end function (docs/architecture.md, "Adding an op"). No other dependencies, so CUDA
// translation units can include it.
#include <cstdint>

// X(op, "name", Formula, differentiable): Formula is the struct of backend/kernel_math.hpp that
// writes the op's forward and backward once for every backend. `alpha` is the scalar operand.
#define TINYXF_UNARY_OPS(X)                                     \
  X(neg, "neg", Neg, true)                                      \
  X(exp, "exp", Exp, true)                                      \
  X(log, "log", Log, true)                                      \
  X(log1p, "log1p", Log1p, true) /* log(1 + x) */              \
  X(sqrt, "sqrt", Sqrt, true)                                   \
  X(rsqrt, "rsqrt", Rsqrt, true)                                \
  X(tanh, "tanh", Tanh, true)                                   \
  X(sigmoid, "sigmoid", Sigmoid, true)                          \
  X(relu, "relu", Relu, true)                                   \
  X(gelu_erf, "gelu", GeluErf, true)                            \
  X(gelu_tanh, "gelu_tanh", GeluTanh, true)                     \
  X(silu, "silu", Silu, true)                                   \
  X(abs, "abs", Abs, true)                                      \
  X(add_scalar, "add_scalar", AddScalar, true)   /* x + a */    \
  X(sub_scalar, "sub_scalar", SubScalar, true)   /* x - a */    \
  X(rsub_scalar, "rsub_scalar", RsubScalar, true) /* a - x */   \
  X(mul_scalar, "mul_scalar", MulScalar, true)   /* x * a */    \
  X(div_scalar, "div_scalar", DivScalar, true)   /* x / a */    \
  X(rdiv_scalar, "rdiv_scalar", RdivScalar, true) /* a / x */   \
  X(pow_scalar, "pow", PowScalar, true)          /* x ^ a */    \
  X(sin, "sin", Sin, true)                                      \
  X(cos, "cos", Cos, true)                                      \
  X(floor, "floor", Floor, true) /* zero gradient, as torch */  \
  X(ceil, "ceil", Ceil, true)                                   \
  X(round, "round", Round, true) /* half to even */             \
  X(trunc, "trunc", Trunc, true)                                \
  X(expm1, "expm1", Expm1, true) /* exp(x) - 1 */               \
  X(log2, "log2", Log2, true)                                   \
  X(log10, "log10", Log10, true)                                \
  X(reciprocal, "reciprocal", Reciprocal, true)                 \
  X(erf, "erf", Erf, true)

// X(op, "name", Formula, differentiable): Formula is the struct of backend/kernel_math.hpp that
// writes the op once for every backend. Comparisons write 0/1 into an output of any dtype (the
// front end asks for bool) and come last (is_comparison).
#define TINYXF_BINARY_OPS(X)             \
  X(add, "add", Add, true)               \
  X(sub, "sub", Sub, true)               \
  X(mul, "mul", Mul, true)               \
  X(div, "div", Div, true)               \
  X(maximum, "maximum", Maximum, true)   \
  X(minimum, "minimum", Minimum, true)   \
  X(atan2, "atan2", Atan2, true)         \
  X(fmod, "fmod", Fmod, true)            \
  X(remainder, "remainder", Remainder, true) /* Python's sign */ \
  X(div_trunc, "div_trunc", DivTrunc, true)                      \
  X(div_floor, "div_floor", DivFloor, true)                      \
  X(eq, "eq", Eq, false)                 \
  X(ne, "ne", Ne, false)                 \
  X(lt, "lt", Lt, false)                 \
  X(le, "le", Le, false)                 \
  X(gt, "gt", Gt, false)                 \
  X(ge, "ge", Ge, false)

// Reductions run over the middle axis of a contiguous [outer, reduced, inner] input into a
// contiguous [outer, inner] output (any single-dim or adjacent-dims reduction has this form).
#define TINYXF_REDUCE_OPS(X) \
  X(sum, "sum", true)        \
  X(mean, "mean", true)      \
  X(max, "max", true)        \
  X(min, "min", true)        \
  X(argmax, "argmax", false) \
  X(argmin, "argmin", false)

// The other kernels of Backend, one row each: X(op, "name", arity, differentiable), arity
// counting tensor inputs. Fused ops are listed too: a backend may leave them out (the front end
// composes them), but the conformance suite must still run them.
#define TINYXF_KERNEL_OPS(X)                                              \
  X(fill, "fill", 0, false)                                               \
  X(copy, "copy", 1, true)                                                \
  X(where, "where", 3, true)                                              \
  X(random, "random", 0, false)                                           \
  X(gemm, "matmul", 2, true)                                              \
  X(softmax, "softmax", 1, true)                                          \
  X(log_softmax, "log_softmax", 1, true)                                  \
  X(layer_norm, "layer_norm", 3, true)                                    \
  X(index_select, "index_select", 2, true)                                \
  X(index_add, "embedding", 2, true) /* embedding's backward */           \
  X(gather, "gather", 2, true)                                            \
  X(scatter, "scatter", 3, true) /* and scatter_add */                    \
  X(nll_loss, "nll_loss", 2, true)                                        \
  X(dropout, "dropout", 1, true)                                          \
  X(scaled_dot_product_attention, "sdpa", 4, true)                        \
  X(bias_gelu, "bias_gelu", 2, true)                                      \
  X(add_layer_norm, "add_layer_norm", 5, true)                            \
  X(lstm_cell, "lstm_cell", 2, true) /* LSTM gates -> (h, c), per step */  \
  X(adam_step, "adam_step", 4, false)                                     \
  X(sgd_step, "sgd_step", 3, false)                                       \
  X(sum_squares, "sum_squares", 1, false)                                 \
  TINYXF_SORT_OPS(X)

// Sorting, its own rows: Backend::sort gives the indices of sort, argsort, msort and topk.
#define TINYXF_SORT_OPS(X) X(sort, "sort", 1, true)

namespace tinyxf {

#define TINYXF_OP_ENUMERATOR(op, ...) op,
enum class UnaryOp : std::uint8_t { TINYXF_UNARY_OPS(TINYXF_OP_ENUMERATOR) };
enum class BinaryOp : std::uint8_t { TINYXF_BINARY_OPS(TINYXF_OP_ENUMERATOR) };
enum class ReduceOp : std::uint8_t { TINYXF_REDUCE_OPS(TINYXF_OP_ENUMERATOR) };
enum class KernelOp : std::uint8_t { TINYXF_KERNEL_OPS(TINYXF_OP_ENUMERATOR) };
#undef TINYXF_OP_ENUMERATOR

// One row of the op table as data (what tests and tools iterate over).
struct OpInfo {
  const char* name;
  int arity;  // tensor inputs
  bool differentiable;
};

#define TINYXF_UNARY_INFO(op, name, formula, diff) OpInfo{name, 1, diff},
#define TINYXF_BINARY_INFO(op, name, formula, diff) OpInfo{name, 2, diff},
#define TINYXF_REDUCE_INFO(op, name, diff) OpInfo{name, 1, diff},
#define TINYXF_KERNEL_INFO(op, name, arity, diff) OpInfo{name, arity, diff},
inline constexpr OpInfo kUnaryOps[] = {TINYXF_UNARY_OPS(TINYXF_UNARY_INFO)};
inline constexpr OpInfo kBinaryOps[] = {TINYXF_BINARY_OPS(TINYXF_BINARY_INFO)};
inline constexpr OpInfo kReduceOps[] = {TINYXF_REDUCE_OPS(TINYXF_REDUCE_INFO)};
inline constexpr OpInfo kKernelOps[] = {TINYXF_KERNEL_OPS(TINYXF_KERNEL_INFO)};
#undef TINYXF_UNARY_INFO
#undef TINYXF_BINARY_INFO
#undef TINYXF_REDUCE_INFO
#undef TINYXF_KERNEL_INFO

inline constexpr const OpInfo& op_info(UnaryOp op) { return kUnaryOps[static_cast<int>(op)]; }
inline constexpr const OpInfo& op_info(BinaryOp op) { return kBinaryOps[static_cast<int>(op)]; }
inline constexpr const OpInfo& op_info(ReduceOp op) { return kReduceOps[static_cast<int>(op)]; }
inline constexpr const OpInfo& op_info(KernelOp op) { return kKernelOps[static_cast<int>(op)]; }

inline const char* unary_op_name(UnaryOp op) { return op_info(op).name; }
inline const char* binary_op_name(BinaryOp op) { return op_info(op).name; }
inline const char* reduce_op_name(ReduceOp op) { return op_info(op).name; }
inline const char* kernel_op_name(KernelOp op) { return op_info(op).name; }
inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

enum class RandomKind : std::uint8_t { uniform, normal, bernoulli_scaled };

}  // namespace tinyxf
