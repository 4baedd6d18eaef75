#pragma once
// The catalogue of ops the conformance suite and the gradcheck tests run: every op of the
// front end, each with several input layouts (odd sizes, 1000+ elements, empty, transposed and
// sliced views, broadcasting). A case's function is generic so it runs in float and double.
#include <functional>
#include <string>
#include <vector>

#include "tinyxf/tensor.hpp"

namespace tinyxf::testing {

enum class Domain { any, positive, away_from_zero, unit_interval };
enum class Layout { contiguous, transposed, sliced };

struct InputSpec {
  Shape shape;
  Domain domain = Domain::any;
  Layout layout = Layout::contiguous;
};

struct OpCase {
  std::string name;
  std::vector<std::vector<InputSpec>> variants;  // each variant is one set of inputs
  std::function<Tensor(const std::vector<Tensor>&)> f32;
  std::function<Tensor(const std::vector<Tensor>&)> f64;
  bool differentiable = true;
  double tolerance_scale = 1.0;  // loosen for long accumulations (gemm over large K)
  // Why finite differences cannot check this case (empty: they can).
  std::string gradcheck_skip_reason;
  // Ops of the op table (core/ops_enum.hpp) this case runs besides the one its name starts
  // with (see covers_op).
  std::vector<std::string> also_covers = {};
};

// Whether `c` runs the op table's op `op`: its name is the op's or starts with "<op>_", or it
// lists the op in also_covers.
inline bool covers_op(const OpCase& c, const std::string& op) {
  if (c.name == op || c.name.rfind(op + "_", 0) == 0) return true;
  for (const auto& o : c.also_covers)
    if (o == op) return true;
  return false;
}
template <class F>
OpCase make_case(std::string name, std::vector<std::vector<InputSpec>> variants, F f,
                 bool differentiable = true, double tolerance_scale = 1.0);
inline OpCase covering(OpCase c, std::vector<std::string> ops) {
  c.also_covers = std::move(ops);
  return c;
}

template <class F>
OpCase make_case(std::string name, std::vector<std::vector<InputSpec>> variants, F f,
                 bool differentiable, double tolerance_scale) {
  return OpCase{std::move(name), std::move(variants),
                [f](const std::vector<Tensor>& x) { return f(x); },
                [f](const std::vector<Tensor>& x) { return f(x); }, differentiable,
                tolerance_scale, {}, {}};
}

// Deterministic input values, made in double on `device` itself (so the backend under test runs
// its own random kernels; the streams are counter-based, so every backend draws the same
// numbers), then converted.
template <Element T>
Tensor make_input(const InputSpec& spec, Device device, std::uint64_t seed) {
  Generator gen(seed);
  Shape storage_shape = spec.shape;
  if (spec.layout == Layout::transposed && storage_shape.size() >= 2)
    std::swap(storage_shape[storage_shape.size() - 1], storage_shape[storage_shape.size() - 2]);
  if (spec.layout == Layout::sliced && !storage_shape.empty()) storage_shape.back() += 3;
  Tensor base = Tensor::randn(storage_shape, TensorOptions(device).dtype(kFloat64), gen);
  {
    NoGradGuard ng;
    switch (spec.domain) {
      case Domain::any: break;
      case Domain::positive: base = add(abs(base), 0.5); break;
      case Domain::away_from_zero: base = where(lt(base, 0.0), sub(base, 0.5), add(base, 0.5)); break;
      case Domain::unit_interval: base = sigmoid(base); break;
    }
  }
  Tensor t = base.to(dtype_v<T>);
  if (spec.layout == Layout::transposed && spec.shape.size() >= 2) t = t.transpose(-1, -2);
  if (spec.layout == Layout::sliced && !spec.shape.empty())
    t = t.narrow(-1, 1, spec.shape.back());
  return t;
}

// An index for the gather/scatter cases over `x`: x's shape, one smaller in every other dim of
// size > 1 (the index may be smaller than the input there), `along` long in `dim` (0 when x is
// empty there); value (j + 3 s) % size, j its coordinate along `dim`, s its slice's number. So
// `along` <= x.size(dim) gives distinct targets within a slice, and a larger one duplicates.
inline Tensor gather_scatter_index(const Tensor& x, std::int64_t dim, std::int64_t along) {
  const int d = normalize_dim(dim, x.shape().size(), "gather_scatter_index");
  Shape shape = x.shape();
  const std::int64_t bound = shape[static_cast<std::size_t>(d)];
  for (std::size_t k = 0; k < shape.size(); ++k)
    shape[k] = static_cast<int>(k) == d ? (bound ? along : 0) : shape[k] - (shape[k] > 1);
  std::int64_t inner = 1;
  for (std::size_t k = static_cast<std::size_t>(d) + 1; k < shape.size(); ++k) inner *= shape[k];
  const std::int64_t n = shape[static_cast<std::size_t>(d)];
  std::vector<std::int64_t> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::int64_t p = 0; p < static_cast<std::int64_t>(values.size()); ++p) {
    const std::int64_t j = (p / inner) % n, slice = p / (inner * n) * inner + p % inner;
    values[static_cast<std::size_t>(p)] = (j + 3 * slice) % bound;
  }
  return Tensor::from_vector(values, shape, x.device());
}

inline std::vector<OpCase> op_catalog() {
  using D = Domain;
  using L = Layout;
  const std::vector<std::vector<InputSpec>> unary_grid = {
      {{{0}}}, {{{1}}}, {{{3}}}, {{{7, 17}}}, {{{1031}}}, {{{17, 5}, D::any, L::transposed}},
      {{{4, 7}, D::any, L::sliced}}, {{{}}},
      {{{1031}, D::any, L::sliced}}};  // contiguous but one element off alignment (no 16-byte packs)
  auto with_domain = [](std::vector<std::vector<InputSpec>> grid, Domain d) {
    for (auto& v : grid)
      for (auto& s : v) s.domain = d;
    return grid;
  };
  const std::vector<std::vector<InputSpec>> binary_grid = {
      {{{0}}, {{0}}},
      {{{3}}, {{3}}},
      {{{7, 17}}, {{7, 17}}},
      {{{1031}}, {{1031}}},
      {{{4, 1, 5}}, {{3, 1}}},          // broadcast both ways
      {{{6, 5}}, {{5}}},                // row broadcast
      {{{}}, {{2, 3}}},                 // scalar tensor
      {{{5, 6}, D::any, L::transposed}, {{5, 6}, D::any, L::sliced}},
      {{{1031}, D::any, L::sliced}, {{1031}}},  // one contiguous operand off alignment
  };
  std::vector<OpCase> c;
  // ---- unary ----
  c.push_back(make_case("neg", unary_grid, [](const auto& x) { return neg(x[0]); }));
  c.push_back(make_case("exp", unary_grid, [](const auto& x) { return exp(x[0]); }));
  c.push_back(make_case("log", with_domain(unary_grid, D::positive), [](const auto& x) { return log(x[0]); }));
  c.push_back(make_case("log1p", with_domain(unary_grid, D::positive), [](const auto& x) { return log1p(x[0]); }));
  c.push_back(make_case("sqrt", with_domain(unary_grid, D::positive), [](const auto& x) { return sqrt(x[0]); }));
  c.push_back(make_case("rsqrt", with_domain(unary_grid, D::positive), [](const auto& x) { return rsqrt(x[0]); }));
  c.push_back(make_case("pow", with_domain(unary_grid, D::positive), [](const auto& x) { return pow(x[0], 2.5); }));
  c.push_back(make_case("pow_int", unary_grid, [](const auto& x) { return pow(x[0], 3.0); }));
  c.push_back(make_case("tanh", unary_grid, [](const auto& x) { return tanh(x[0]); }));
  c.push_back(make_case("sigmoid", unary_grid, [](const auto& x) { return sigmoid(x[0]); }));
  c.push_back(make_case("relu", with_domain(unary_grid, D::away_from_zero), [](const auto& x) { return relu(x[0]); }));
  c.push_back(make_case("abs", with_domain(unary_grid, D::away_from_zero), [](const auto& x) { return abs(x[0]); }));
  c.push_back(make_case("gelu", unary_grid, [](const auto& x) { return gelu(x[0]); }));
  c.push_back(make_case("gelu_tanh", unary_grid, [](const auto& x) { return gelu(x[0], "tanh"); }));
  c.push_back(make_case("silu", unary_grid, [](const auto& x) { return silu(x[0]); }));
  c.push_back(make_case("add_scalar", unary_grid, [](const auto& x) { return x[0] + 1.5; }));
  c.push_back(make_case("sub_scalar", unary_grid, [](const auto& x) { return x[0] - 0.25; }));
  c.push_back(make_case("rsub_scalar", unary_grid, [](const auto& x) { return 2.0 - x[0]; }));
  c.push_back(make_case("mul_scalar", unary_grid, [](const auto& x) { return x[0] * -3.0; }));
  c.push_back(make_case("div_scalar", unary_grid, [](const auto& x) { return x[0] / 7.0; }));
  c.push_back(make_case("rdiv_scalar", with_domain(unary_grid, D::away_from_zero),
                        [](const auto& x) { return 2.0 / x[0]; }));
  c.push_back(make_case("sin", unary_grid, [](const auto& x) { return sin(x[0]); }));
  c.push_back(make_case("cos", unary_grid, [](const auto& x) { return cos(x[0]); }));
  // The rounding ops on x * 3 (several integers in range); their gradient is zero.
  c.push_back(make_case("floor", unary_grid, [](const auto& x) { return floor(x[0] * 3.0); }));
  c.push_back(make_case("ceil", unary_grid, [](const auto& x) { return ceil(x[0] * 3.0); }));
  c.push_back(make_case("round", unary_grid, [](const auto& x) { return round(x[0] * 3.0); }));
  c.push_back(make_case("trunc", unary_grid, [](const auto& x) { return trunc(x[0] * 3.0); }));
  c.push_back(make_case("expm1", unary_grid, [](const auto& x) { return expm1(x[0]); }));
  c.push_back(make_case("log2", with_domain(unary_grid, D::positive), [](const auto& x) { return log2(x[0]); }));
  c.push_back(make_case("log10", with_domain(unary_grid, D::positive), [](const auto& x) { return log10(x[0]); }));
  c.push_back(make_case("reciprocal", with_domain(unary_grid, D::away_from_zero),
                        [](const auto& x) { return reciprocal(x[0]); }));
  c.push_back(make_case("erf", unary_grid, [](const auto& x) { return erf(x[0]); }));
  // ---- binary ----
  c.push_back(make_case("add", binary_grid, [](const auto& x) { return x[0] + x[1]; }));
  c.push_back(make_case("sub", binary_grid, [](const auto& x) { return x[0] - x[1]; }));
  c.push_back(make_case("mul", binary_grid, [](const auto& x) { return x[0] * x[1]; }));
  {
    auto grid = binary_grid;
    for (auto& v : grid) v[1].domain = D::away_from_zero;
    c.push_back(make_case("div", grid, [](const auto& x) { return x[0] / x[1]; }));
  }
  // Differentiable as torch.maximum/minimum: the larger (smaller) operand gets the gradient, each
  // half of it on a tie (random inputs have no ties; tests/autograd/autograd_safety_test.cpp and
  // tests/tensor/gradcheck_test.cpp test ties).
  c.push_back(make_case("atan2", binary_grid, [](const auto& x) { return atan2(x[0], x[1]); }));
  {
    // Dividends x * 4 against divisors away from zero: several whole quotients of each sign.
    auto grid = binary_grid;
    for (auto& v : grid) v[1].domain = D::away_from_zero;
    c.push_back(make_case("fmod", grid, [](const auto& x) { return fmod(x[0] * 4.0, x[1]); }));
    c.push_back(make_case("remainder", grid, [](const auto& x) { return remainder(x[0] * 4.0, x[1]); }));
    c.push_back(make_case("div_trunc", grid, [](const auto& x) { return div(x[0] * 4.0, x[1], "trunc"); }));
    c.push_back(make_case("div_floor", grid, [](const auto& x) { return div(x[0] * 4.0, x[1], "floor"); }));
  }
  c.push_back(make_case("maximum", binary_grid, [](const auto& x) { return maximum(x[0], x[1]); }));
  c.push_back(make_case("minimum", binary_grid, [](const auto& x) { return minimum(x[0], x[1]); }));
  for (const char* cmp : {"eq", "ne", "lt", "le", "gt", "ge"}) {
    const std::string name = cmp;
    c.push_back(covering(make_case(std::string("compare_") + cmp, binary_grid, [name](const auto& x) {
      // Compare rounded values so that eq/ne see real ties.
      auto a = x[0], b = x[1];
      Tensor r = name == "eq" ? eq(a, b) : name == "ne" ? ne(a, b) : name == "lt" ? lt(a, b)
                               : name == "le" ? le(a, b) : name == "gt" ? gt(a, b) : ge(a, b);
      return r.to(x[0].dtype());
    }, false), {name}));
  }
  c.push_back(make_case("compare_eq_ties", {{{{5, 4}}}}, [](const auto& x) {
    return eq(x[0], x[0].narrow(0, 0, 1)).to(x[0].dtype());
  }, false));
  c.push_back(make_case("where", binary_grid, [](const auto& x) {
    return where(gt(x[0], x[1]), x[0] * x[0], x[1]);
  }));
  c.push_back(make_case("masked_fill", {{{{4, 6}}}, {{{3, 5, 6}}}, {{{0, 6}}}}, [](const auto& x) {
    auto mask = Tensor::from_vector(std::vector<std::int64_t>{1, 0, 1, 1, 0, 1}, {6}, x[0].device());
    return masked_fill(x[0], mask, -1e4);
  }));
  // ---- reductions ----
  const std::vector<std::vector<InputSpec>> reduce_grid = {
      {{{7, 17}}}, {{{3, 1000}}}, {{{5, 4, 3}, D::any, L::transposed}}, {{{2, 3, 9}, D::any, L::sliced}}, {{{1, 1}}}};
  c.push_back(make_case("sum_all", reduce_grid, [](const auto& x) { return sum(x[0]); }, true, 10));
  c.push_back(make_case("sum_dim0", reduce_grid, [](const auto& x) { return sum(x[0], {0}); }, true, 10));
  c.push_back(make_case("sum_dim_last_keep", reduce_grid, [](const auto& x) { return sum(x[0], {-1}, true); }, true, 10));
  c.push_back(make_case("sum_two_dims", {{{{4, 5, 6}}}, {{{2, 3, 1001}}}}, [](const auto& x) { return sum(x[0], {0, 2}); }, true, 10));
  c.push_back(make_case("sum_empty", {{{{0, 3}}}}, [](const auto& x) { return sum(x[0], {0}); }));
  c.push_back(make_case("mean_all", reduce_grid, [](const auto& x) { return mean(x[0]); }, true, 10));
  c.push_back(make_case("mean_dim1", reduce_grid, [](const auto& x) { return mean(x[0], {1}, true); }, true, 10));
  c.push_back(make_case("max_dim", reduce_grid, [](const auto& x) { return max(x[0], -1); }));
  c.push_back(make_case("min_dim0", reduce_grid, [](const auto& x) { return min(x[0], 0, true); }));
  c.push_back(make_case("argmax", reduce_grid, [](const auto& x) {
    return argmax(x[0], -1).to(x[0].dtype());
  }, false));
  c.push_back(make_case("argmin_dim0", reduce_grid, [](const auto& x) {
    return argmin(x[0], 0).to(x[0].dtype());
  }, false));
  // ---- matmul / linear ----
  c.push_back(make_case("matmul_2d", {{{{3, 7}}, {{7, 5}}}, {{{17, 1}}, {{1, 3}}}, {{{1, 33}}, {{33, 1}}},
                                      {{{4, 6}, D::any, L::transposed}, {{6, 5}, D::any, L::transposed}},
                                      {{{4, 6}, D::any, L::sliced}, {{6, 5}}}, {{{0, 4}}, {{4, 3}}}, {{{3, 0}}, {{0, 2}}}},
                        [](const auto& x) { return matmul(x[0], x[1]); }, true, 5));
  c.push_back(make_case("matmul_large", {{{{64, 300}}, {{300, 40}}}}, [](const auto& x) { return matmul(x[0], x[1]); }, true, 50));
  c.back().gradcheck_skip_reason = "too large for finite differences; matmul_2d covers the math";
  c.push_back(make_case("matmul_batched", {{{{2, 3, 4, 5}}, {{2, 3, 5, 6}}}, {{{3, 4, 5}}, {{5, 2}}},
                                           {{{2, 1, 4, 5}}, {{3, 5, 2}}}, {{{2, 3, 4, 5}, D::any, L::transposed}, {{2, 3, 5, 4}, D::any, L::transposed}}},
                        [](const auto& x) { return matmul(x[0], x[1]); }, true, 5));
  c.push_back(make_case("matmul_vector", {{{{5}}, {{5, 3}}}, {{{4, 5}}, {{5}}}, {{{2, 4, 5}}, {{5}}}},
                        [](const auto& x) { return matmul(x[0], x[1]); }, true, 5));
  c.push_back(make_case("linear", {{{{4, 6}}, {{3, 6}}, {{3}}}, {{{2, 5, 6}}, {{7, 6}}, {{7}}}},
                        [](const auto& x) { return linear(x[0], x[1], x[2]); }, true, 5));
  // ---- softmax family ----
  const std::vector<std::vector<InputSpec>> softmax_grid = {
      {{{1, 1}}}, {{{3, 7}}}, {{{4, 1030}}}, {{{5, 6}, D::any, L::transposed}}, {{{2, 3, 17}, D::any, L::sliced}}, {{{0, 4}}}};
  c.push_back(make_case("softmax", softmax_grid, [](const auto& x) { return softmax(x[0], -1); }));
  c.push_back(make_case("softmax_dim0", softmax_grid, [](const auto& x) { return softmax(x[0], 0); }));
  c.push_back(make_case("log_softmax", softmax_grid, [](const auto& x) { return log_softmax(x[0], -1); }));
  c.push_back(make_case("log_softmax_dim0", softmax_grid, [](const auto& x) { return log_softmax(x[0], 0); }));
  c.push_back(make_case("softmax_masked", {{{{2, 3, 4, 4}}}}, [](const auto& x) {
    auto mask = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 1, 0, 0, 0, 1}, {2, 1, 1, 4}, x[0].device());
    return softmax(masked_fill(x[0], mask, ops_detail::lowest_value(x[0].dtype())), -1);
  }));
  // ---- layer_norm ----
  c.push_back(make_case("layer_norm", {{{{4, 7}}, {{7}}, {{7}}}, {{{2, 3, 768}}, {{768}}, {{768}}},
                                       {{{1, 1}}, {{1}}, {{1}}}, {{{5, 6}, D::any, L::transposed}, {{6}}, {{6}}},
                                       {{{0, 5}}, {{5}}, {{5}}}},
                        [](const auto& x) { return layer_norm(x[0], {x[0].shape().back()}, x[1], x[2], 1e-5); }, true, 10));
  c.push_back(make_case("layer_norm_eps12", {{{{3, 9}}, {{9}}, {{9}}}},
                        [](const auto& x) { return layer_norm(x[0], {9}, x[1], x[2], 1e-12); }, true, 10));
  c.push_back(make_case("layer_norm_2d_no_affine", {{{{3, 4, 5}}}},
                        [](const auto& x) { return layer_norm(x[0], {4, 5}); }, true, 10));
  // ---- fused epilogues (rows not a multiple of the SIMD width, odd columns, 1000+, empty) ----
  const std::vector<std::vector<InputSpec>> bias_act_grid = {
      {{{5, 7}}, {{7}}}, {{{2, 3, 17}}, {{17}}}, {{{3, 1030}}, {{1030}}}, {{{1, 1}}, {{1}}},
      {{{6, 5}, D::any, L::transposed}, {{5}, D::any, L::sliced}}, {{{0, 4}}, {{4}}},
      {{{5, 3}}, {{3}}}};  // rows shorter than a 16-byte pack
  c.push_back(make_case("bias_gelu", bias_act_grid, [](const auto& x) { return bias_gelu(x[0], x[1]); }, true, 2));
  c.push_back(make_case("bias_gelu_tanh", bias_act_grid, [](const auto& x) { return bias_gelu(x[0], x[1], "tanh"); }, true, 2));
  c.push_back(make_case("bias_gelu_composed", {{{{5, 7}}, {{7}}}},
                        [](const auto& x) { return bias_gelu_composed(x[0], x[1]); }, true, 2));
  const std::vector<std::vector<InputSpec>> add_ln_grid = {
      {{{4, 7}}, {{4, 7}}, {{7}}, {{7}}, {{7}}},
      {{{2, 3, 17}}, {{2, 3, 17}}, {{17}}, {{17}}, {{17}}},
      {{{3, 1030}}, {{3, 1030}}, {{1030}}, {{1030}}, {{1030}}},
      {{{1, 1}}, {{1, 1}}, {{1}}, {{1}}, {{1}}},
      {{{5, 6}, D::any, L::transposed}, {{5, 6}, D::any, L::sliced}, {{6}}, {{6}}, {{6}}},
      {{{0, 5}}, {{0, 5}}, {{5}}, {{5}}, {{5}}}};
  c.push_back(make_case("add_layer_norm", add_ln_grid, [](const auto& x) {
    return add_layer_norm(x[0], x[1], x[2], x[3], 1e-5);
  }, true, 10));
  c.push_back(make_case("add_layer_norm_bias", add_ln_grid, [](const auto& x) {
    return add_layer_norm(x[0], x[1], x[2], x[3], 1e-12, x[4]);
  }, true, 10));
  c.push_back(make_case("add_layer_norm_no_affine", {{{{3, 9}}, {{3, 9}}}},
                        [](const auto& x) { return add_layer_norm(x[0], x[1]); }, true, 10));
  c.push_back(make_case("add_layer_norm_same_input", {{{{3, 9}}, {{9}}, {{9}}}},
                        [](const auto& x) { return add_layer_norm(x[0], x[0], x[1], x[2]); }, true, 10));
  c.push_back(make_case("add_layer_norm_composed", {{{{4, 7}}, {{4, 7}}, {{7}}, {{7}}, {{7}}}}, [](const auto& x) {
    return add_layer_norm_composed(x[0], x[1], x[2], x[3], 1e-5, x[4]);
  }, true, 10));
  // ---- LSTM: the fused cell step (gates [rows, 4H], c [rows, H] -> h' | c'), and whole packed
  // layers (one node: input GEMM, per-step GEMM + cell, backprop through time) ----
  const std::vector<std::vector<InputSpec>> lstm_cell_grid = {
      {{{5, 28}}, {{5, 7}}}, {{{3, 4136}}, {{3, 1034}}}, {{{1, 4}}, {{1, 1}}}, {{{0, 8}}, {{0, 2}}},
      {{{6, 12}, D::any, L::transposed}, {{6, 3}, D::any, L::sliced}}};
  c.push_back(make_case("lstm_cell", lstm_cell_grid, [](const auto& x) {
    auto [h, c_next] = lstm_cell_gates(x[0], x[1]);
    return cat({h, c_next}, 1);
  }));
  c.push_back(make_case("lstm_cell_composed", {{{{5, 28}}, {{5, 7}}}}, [](const auto& x) {
    auto [h, c_next] = lstm_cell_gates_composed(x[0], x[1]);
    return cat({h, c_next}, 1);
  }));
  const auto lstm_flat = [](const LstmLayerResult& r) {
    return cat({r.output.reshape({-1}), r.h_n.reshape({-1}), r.c_n.reshape({-1})}, 0);
  };
  // Bidirectional, biases, initial state, a shrinking batch (3, 3, 2, 1).
  c.push_back(covering(make_case("lstm_layer_bidirectional",
                                 {{{{9, 2}}, {{12, 2}}, {{12, 3}}, {{12}}, {{12}}, {{12, 2}}, {{12, 3}}, {{12}}, {{12}},
                                   {{2, 3, 3}}, {{2, 3, 3}}}},
                                 [lstm_flat](const auto& x) {
                                   const std::vector<LstmWeights> w{{x[1], x[2], x[3], x[4]}, {x[5], x[6], x[7], x[8]}};
                                   return lstm_flat(lstm_layer(x[0], {3, 3, 2, 1}, x[9], x[10], w));
                                 }, true, 4),
                       {"lstm_cell"}));
  // Two layers, no biases, zero initial state, transposed input.
  c.push_back(covering(make_case("lstm_layer_two_layers",
                                 {{{{6, 2}, D::any, L::transposed}, {{8, 2}}, {{8, 2}}, {{8, 2}}, {{8, 2}}}},
                                 [lstm_flat](const auto& x) {
                                   const std::vector<LstmWeights> w{{x[1], x[2], {}, {}}, {x[3], x[4], {}, {}}};
                                   return lstm_flat(lstm_packed_rows(x[0], {2, 2, 1, 1}, Tensor(), Tensor(), w, 2));
                                 }, true, 4),
                       {"lstm_cell"}));
  // ---- dropout (counter-based RNG: identical masks everywhere) ----
  c.push_back(make_case("dropout", {{{{7, 17}}}, {{{1031}}}, {{{0}}}, {{{1031}, D::any, L::sliced}}}, [](const auto& x) {
    Generator gen(99);
    return dropout(x[0], 0.3, true, gen);
  }));
  // Every random kernel on the backend under test: the streams are counter-based, so the
  // backend's numbers must equal the reference's (bernoulli masks exactly, the others to rounding).
  c.push_back(make_case("random", {{{{0}}}, {{{7, 17}}}, {{{1031}}}}, [](const auto& x) {
    Generator gen(1234);
    const Device device = x[0].device();
    auto u = Tensor::uniform(x[0].shape(), -2, 3, TensorOptions(device).dtype(x[0].dtype()), gen);
    auto n = Tensor::normal(x[0].shape(), 0.5, 2, TensorOptions(device).dtype(x[0].dtype()), gen);
    auto mask = Tensor::empty(x[0].shape(), TensorOptions(device).dtype(x[0].dtype()));
    if (mask.numel())
      mask.impl()->backend().random(RandomKind::bernoulli_scaled, mask.impl()->view(), 0.3, 0.0, 77, 5);
    return (u + n) * mask * x[0];
  }));
  c.push_back(make_case("dropout_eval", {{{{7, 3}}}}, [](const auto& x) { return dropout(x[0], 0.3, false) * x[0]; }));
  // ---- indexing ----
  c.push_back(make_case("index_select_dim0", {{{{5, 3}}}, {{{5, 1001}}}}, [](const auto& x) {
    auto idx = Tensor::from_vector(std::vector<std::int64_t>{4, 0, 4, 2, 1, 4}, x[0].device());
    return index_select(x[0], 0, idx);
  }));
  c.push_back(make_case("index_select_dim1", {{{{3, 5, 2}}}, {{{3, 5, 2}, D::any, L::transposed}}}, [](const auto& x) {
    auto idx = Tensor::from_vector(std::vector<std::int64_t>{1, 1, 3}, x[0].device());
    return index_select(x[0], 1, idx);
  }));
  c.push_back(make_case("embedding", {{{{10, 4}}}, {{{10, 1000}}}}, [](const auto& x) {
    auto ids = Tensor::from_vector(std::vector<std::int64_t>{0, 3, 9, 3, 0, 1}, {2, 3}, x[0].device());
    return embedding(ids, x[0], /*padding_idx=*/0);
  }));
  c.back().gradcheck_skip_reason = "padding_idx deliberately drops the padding row's true gradient";
  c.push_back(make_case("embedding_no_padding", {{{{6, 3}}}}, [](const auto& x) {
    auto ids = Tensor::from_vector(std::vector<std::int64_t>{5, 3, 0, 3}, {4}, x[0].device());
    return embedding(ids, x[0]);
  }));
  // gather / scatter / scatter_add: 1-D to 3-D, dims 0, 1 and -1, transposed and sliced views,
  // 1000+ elements, empty; gather and scatter_add with duplicate targets, scatter without (its
  // src gradient at a lost duplicate is torch's formula, not a derivative). src may be larger
  // than the index (its other elements get zero gradient).
  // (The [*, 5000] variants have more slices than one cpu thread's share: the threads start mid-shape.)
  c.push_back(make_case("gather_dim0", {{{{5, 3}}}, {{{5, 1001}}}, {{{5, 5000}}}, {{{0, 3}}}, {{{1031}}}}, [](const auto& x) {
    return gather(x[0], 0, gather_scatter_index(x[0], 0, 7));
  }));
  c.push_back(make_case("gather_dim1", {{{{3, 5, 2}, D::any, L::transposed}}, {{{4, 2, 6}}}}, [](const auto& x) {
    return gather(x[0], 1, gather_scatter_index(x[0], 1, 4));
  }));
  c.push_back(make_case("gather_last", {{{{7, 17}}}, {{{2, 3, 9}, D::any, L::sliced}}, {{{4, 0}}}}, [](const auto& x) {
    return gather(x[0], -1, gather_scatter_index(x[0], -1, 5));
  }));
  c.push_back(make_case("scatter_dim0", {{{{5, 3}}, {{4, 3}}}, {{{6, 1001}}, {{6, 1001}}}, {{{0, 2}}, {{0, 2}}}},
                        [](const auto& x) { return scatter(x[0], 0, gather_scatter_index(x[0], 0, 4), x[1]); }));
  c.push_back(make_case("scatter_dim1", {{{{3, 5, 2}, D::any, L::transposed}, {{3, 4, 2}, D::any, L::sliced}}},
                        [](const auto& x) { return scatter(x[0], 1, gather_scatter_index(x[0], 1, 3), x[1]); }));
  c.push_back(make_case("scatter_value", {{{{7, 17}}}, {{{2, 3, 9}, D::any, L::sliced}}, {{{1031}}}},
                        [](const auto& x) { return scatter(x[0], -1, gather_scatter_index(x[0], -1, 4), 2.5); }));
  c.push_back(make_case("scatter_add_dim0",
                        {{{{5, 3}}, {{9, 3}}}, {{{6, 1001}}, {{8, 1001}, D::any, L::sliced}}, {{{6, 5000}}, {{8, 5000}}}},
                        [](const auto& x) { return scatter_add(x[0], 0, gather_scatter_index(x[0], 0, 8), x[1]); }));
  c.push_back(make_case("scatter_add_last",
                        {{{{3, 4, 5}, D::any, L::transposed}, {{2, 3, 6}}}, {{{1031}}, {{2000}}}, {{{3, 0}}, {{3, 1}}}},
                        [](const auto& x) { return scatter_add(x[0], -1, gather_scatter_index(x[0], -1, 6), x[1]); }));
  // sort / argsort / topk: values (gather's backward) and indices (as the input's dtype, compared
  // exactly), 1-D to 3-D, dims 0 and -1, transposed and sliced views, empty lines and empty
  // batches, 1000+ long lines, and more lines than one cpu thread's share ([70, 1001]). topk's k
  // takes both of torch's selections: partial_sort (k * 64 <= n) and nth_element.
  c.push_back(make_case("sort_last", {{{{7, 17}}}, {{{2, 3, 1001}}}, {{{5, 4}, D::any, L::transposed}}, {{{3, 9}, D::any, L::sliced}},
                                      {{{0, 3}}}, {{{3, 0}}}, {{{1031}}}},
                        [](const auto& x) { return sort(x[0]).values; }));
  c.push_back(make_case("sort_dim0_descending", {{{{6, 5}}}, {{{4, 3, 2}, D::any, L::sliced}}, {{{1001, 3}}}},
                        [](const auto& x) { return sort(x[0], 0, true).values; }));
  c.push_back(make_case("sort_indices", {{{{7, 17}}}, {{{70, 1001}}}, {{{5, 4}, D::any, L::transposed}}, {{{0, 3}}}},
                        [](const auto& x) {
                          return add(argsort(x[0], -1).to(x[0].dtype()), argsort(x[0], 0, true).to(x[0].dtype()));
                        }, false));
  c.push_back(make_case("sort_topk", {{{{7, 17}}}, {{{2, 3, 1001}}}, {{{5, 4}, D::any, L::transposed}}, {{{3, 9}, D::any, L::sliced}}},
                        [](const auto& x) { return topk(x[0], 3).values; }));
  c.push_back(make_case("sort_topk_smallest_dim0", {{{{6, 5}}}, {{{1001, 3}}}, {{{4, 3, 2}, D::any, L::transposed}}},
                        [](const auto& x) { return topk(x[0], 2, 0, false).values; }));
  c.push_back(make_case("sort_topk_indices", {{{{7, 17}}}, {{{70, 1001}}}, {{{5, 4}, D::any, L::sliced}}, {{{0, 5}}}},
                        [](const auto& x) {
                          return add(topk(x[0], 3).indices.to(x[0].dtype()),
                                     topk(x[0], 3, -1, false, false).indices.to(x[0].dtype()));
                        }, false));
  c.push_back(make_case("cat", {{{{2, 3}}, {{4, 3}}}, {{{3, 2}, D::any, L::transposed}, {{0, 2}}}}, [](const auto& x) {
    return cat(std::vector{x[0], x[1], x[0]}, 0);
  }));
  c.push_back(make_case("cat_dim1", {{{{2, 3}}, {{2, 5}}}}, [](const auto& x) { return cat(std::vector{x[0], x[1]}, -1); }));
  c.push_back(make_case("stack", {{{{2, 3}}, {{2, 3}}}}, [](const auto& x) { return stack(std::vector{x[0], x[1]}, 1); }));
  // ---- views (forward is a copy-free view; backward scatters) ----
  c.push_back(covering(make_case("permute_contiguous", {{{{2, 3, 4}}}},
                                 [](const auto& x) { return x[0].permute({2, 0, 1}).contiguous(); }),
                       {"copy"}));
  c.push_back(make_case("fill", {{{{0}}}, {{{3, 7}}}, {{{1031}}}, {{{5, 6}, D::any, L::transposed}}}, [](const auto& x) {
    return Tensor::full(x[0].shape(), 2.5, TensorOptions(x[0].device()).dtype(x[0].dtype())) * x[0];
  }));
  c.push_back(make_case("reshape_noncontig", {{{{4, 6}, D::any, L::transposed}}}, [](const auto& x) { return x[0].reshape({3, 8}); }));
  c.push_back(make_case("narrow_select", {{{{5, 6}}}}, [](const auto& x) { return x[0].narrow(1, 2, 3).select(0, 4); }));
  c.push_back(make_case("expand", {{{{3, 1}}}}, [](const auto& x) { return x[0].expand({2, 3, 4}) * x[0]; }));
  c.push_back(make_case("unsqueeze_squeeze", {{{{3, 4}}}}, [](const auto& x) { return x[0].unsqueeze(1).squeeze(1).unsqueeze(0); }));
  // ---- losses ----
  c.push_back(make_case("cross_entropy", {{{{4, 3}}}, {{{6, 1000}}}}, [](const auto& x) {
    auto n = x[0].shape()[0];
    std::vector<std::int64_t> t;
    for (std::int64_t i = 0; i < n; ++i) t.push_back((i * 7) % x[0].shape()[1]);
    return cross_entropy(x[0], Tensor::from_vector(t, x[0].device()));
  }));
  c.push_back(make_case("cross_entropy_ignore", {{{{5, 4}}}}, [](const auto& x) {
    auto t = Tensor::from_vector(std::vector<std::int64_t>{1, -100, 3, 0, -100}, x[0].device());
    return cross_entropy(x[0], t);
  }));
  c.push_back(make_case("nll_loss", {{{{3, 5}}}}, [](const auto& x) {
    auto t = Tensor::from_vector(std::vector<std::int64_t>{4, 0, 2}, x[0].device());
    return nll_loss(x[0], t);
  }));
  // input and target both differentiable (d/dy = -x), as torch's.
  c.push_back(make_case("binary_cross_entropy_with_logits", {{{{4, 3}}, {{4, 3}}}, {{{2, 500}}, {{2, 500}}}},
                        [](const auto& x) { return binary_cross_entropy_with_logits(x[0], x[1]); }));
  // ---- fused scaled-dot-product attention (q [B, H, L, E], k [B, H, S, E], v [B, H, S, Ev]) ----
  const auto key_padding = [](const auto& x, std::vector<std::uint8_t> keep) {
    const auto B = x[0].shape()[0], S = x[1].shape()[2];
    return Tensor::from_vector(keep, {B, 1, 1, S}, x[0].device());
  };
  c.push_back(make_case("sdpa", {{{{2, 3, 5, 4}}, {{2, 3, 7, 4}}, {{2, 3, 7, 6}}},
                                 {{{1, 1, 1, 3}}, {{1, 1, 1, 3}}, {{1, 1, 1, 2}}},
                                 {{{1, 2, 3, 4}, D::any, L::sliced}, {{1, 2, 3, 4}, D::any, L::transposed}, {{1, 2, 3, 4}}}},
                        [](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, true, 5));
  c.push_back(make_case("sdpa_heads_view", {{{{2, 5, 3, 4}}, {{2, 4, 3, 4}}, {{2, 4, 3, 4}}},
                                            {{{5, 4, 2, 3}}, {{5, 3, 2, 3}}, {{5, 3, 2, 3}}}}, [](const auto& x) {
    // [B, L, H, E] projections viewed as heads, as the models pass them: no copy on the way in
    // (more batch indices than heads: CUDA batches each head's GEMMs across the batch indices).
    return scaled_dot_product_attention(x[0].transpose(1, 2), x[1].transpose(1, 2), x[2].transpose(1, 2));
  }, true, 5));
  c.push_back(make_case("sdpa_key_padding", {{{{2, 2, 4, 3}}, {{2, 2, 5, 3}}, {{2, 2, 5, 3}}}}, [key_padding](const auto& x) {
    return scaled_dot_product_attention(x[0], x[1], x[2], key_padding(x, {1, 1, 0, 1, 0, 1, 0, 0, 0, 0}));
  }, true, 5));
  // 37 keys: the cpu kernels' whole-vector mask path (16, 8 or 4 lanes) and its tail, with keys
  // masked inside the first vectors (batch 0) and a padded end (batch 1).
  c.push_back(make_case("sdpa_key_padding_long", {{{{2, 1, 3, 2}}, {{2, 1, 37, 2}}, {{2, 1, 37, 2}}}},
                        [key_padding](const auto& x) {
    std::vector<std::uint8_t> keep(2 * 37);
    for (int j = 0; j < 37; ++j) {
      keep[j] = (j * 7) % 5 != 0;
      keep[37 + j] = j < 29;
    }
    return scaled_dot_product_attention(x[0], x[1], x[2], key_padding(x, keep));
  }, true, 5));
  c.push_back(make_case("sdpa_fully_masked_row", {{{{2, 1, 3, 2}}, {{2, 1, 4, 2}}, {{2, 1, 4, 2}}}}, [](const auto& x) {
    // Query 1 of batch 0 sees no key: it attends uniformly (masked_fill(lowest) + softmax).
    std::vector<std::uint8_t> keep(2 * 3 * 4, 1);
    for (int j = 0; j < 4; ++j) keep[static_cast<std::size_t>(4 + j)] = 0;
    keep[static_cast<std::size_t>(12 + 2)] = 0;
    return scaled_dot_product_attention(x[0], x[1], x[2], Tensor::from_vector(keep, {2, 1, 3, 4}, x[0].device()));
  }, true, 5));
  c.push_back(make_case("sdpa_causal_scale", {{{{1, 2, 6, 4}}, {{1, 2, 6, 4}}, {{1, 2, 6, 5}}}}, [](const auto& x) {
    return scaled_dot_product_attention(x[0], x[1], x[2], {}, 0.0, /*is_causal=*/true, /*scale=*/0.3);
  }, true, 5));
  c.push_back(make_case("sdpa_dropout", {{{{2, 2, 5, 4}}, {{2, 2, 6, 4}}, {{2, 2, 6, 4}}}}, [key_padding](const auto& x) {
    Generator gen(31);
    return scaled_dot_product_attention(x[0], x[1], x[2], key_padding(x, {1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0}), 0.25,
                                        false, std::nullopt, gen);
  }, true, 5));
  c.push_back(make_case("sdpa_empty", {{{{2, 1, 0, 3}}, {{2, 1, 4, 3}}, {{2, 1, 4, 2}}}, {{{1, 2, 3, 3}}, {{1, 2, 0, 3}}, {{1, 2, 0, 2}}}},
                        [](const auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }));
  c.push_back(make_case("sdpa_long_rows", {{{{1, 1, 70, 8}}, {{1, 1, 1100, 8}}, {{1, 1, 1100, 8}}}}, [](const auto& x) {
    // 1100 keys: the cpu kernel splits the 70 queries into several blocks of its score tile.
    std::vector<std::uint8_t> keep(1100, 1);
    for (std::size_t j = 0; j < keep.size(); j += 7) keep[j] = 0;
    Generator gen(5);
    return scaled_dot_product_attention(x[0], x[1], x[2], Tensor::from_vector(keep, {1100}, x[0].device()),
                                        0.1, false, std::nullopt, gen);
  }, true, 20));
  c.back().gradcheck_skip_reason = "too large for finite differences; the small sdpa cases cover the math";
  c.push_back(make_case("sdpa_packed", {{{{2, 5, 24}}}, {{{1, 3, 6}}}, {{{5, 3, 12}}}, {{{2, 5, 24}, D::any, L::sliced}}}, [](const auto& x) {
    // q | k | v of 2 heads along the last dim, as one QKV GEMM produces them (sliced: the composed fallback).
    std::vector<std::uint8_t> keep(static_cast<std::size_t>(x[0].shape()[0] * x[0].shape()[1]), 1);
    keep[1] = 0;
    Generator gen(13);
    return scaled_dot_product_attention_packed(
        x[0], 2, Tensor::from_vector(keep, {x[0].shape()[0], 1, 1, x[0].shape()[1]}, x[0].device()), 0.2,
        false, std::nullopt, gen);
  }, true, 5));
  // ---- a composite: one attention head, as DistilBERT uses it ----
  c.push_back(make_case("attention_block", {{{{2, 5, 8}}, {{8, 8}}, {{8, 8}}}}, [](const auto& x) {
    auto q = matmul(x[0], x[1]), k = matmul(x[0], x[2]);
    auto scores = matmul(q, k.transpose(-1, -2)) / Tensor::scalar(std::sqrt(8.0), x[0].dtype()).item();
    return matmul(softmax(scores, -1), x[0]);
  }, true, 5));
  return c;
}

}  // namespace tinyxf::testing
