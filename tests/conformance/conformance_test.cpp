// Backend conformance: every op of the catalogue, forward and backward, on the backend named by
// TINYXF_BACKEND (cpu, cuda, ...), compared with the reference backend on identical inputs.
// A backend that is not compiled in or cannot run here (no GPU) makes the whole run exit with
// code 77, which CTest reports as skipped — never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <span>
#include <iostream>
#include <optional>
#include <sstream>

#include "debug_backend/debug_backend.hpp"
#include "op_catalog.hpp"
#include "reference_oracle.hpp"
#ifdef TINYXF_HAVE_CUDA
#include "tinyxf/backends/cuda.hpp"
#endif

using namespace tinyxf;
using namespace tinyxf::testing;

namespace {

Device g_device = Device::cpu();

// Tolerances (documented in docs/backends.md): |x - ref| <= scale * (atol + rtol * |ref|). The
// 16-bit floats allow a few units in the last place (bfloat16 keeps 8 significant bits, float16
// 11): a backend computing them itself rounds at other points than the reference's float32 path.
template <class T>
constexpr double kAtol = std::is_same_v<T, float> ? 2e-5 : std::is_same_v<T, BFloat16> ? 1.0 / 128
                         : std::is_same_v<T, Half> ? 1.0 / 1024 : 1e-11;
template <class T>
constexpr double kRtol = std::is_same_v<T, float> ? 1e-4 : std::is_same_v<T, BFloat16> ? 1.0 / 64
                         : std::is_same_v<T, Half> ? 1.0 / 512 : 1e-9;

// Tol: the dtype whose tolerances apply (float32 values that hold bf16 results: BFloat16).
template <Element T, class Tol = T>
std::string compare(const std::vector<T>& got, const std::vector<T>& want, double scale) {
  if (got.size() != want.size())
    return "size " + std::to_string(got.size()) + " vs reference " + std::to_string(want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    const double tol = scale * (kAtol<Tol> + kRtol<Tol> * std::abs(w));
    if (!(std::abs(g - w) <= tol))
      return "element " + std::to_string(i) + ": " + std::to_string(g) + " vs reference " +
             std::to_string(w) + " (tolerance " + std::to_string(tol) + ")";
  }
  return {};
}

template <Element T>
struct RunResult {
  std::vector<std::vector<T>> inputs;
  Shape shape;
  std::vector<T> output;
  std::vector<std::vector<T>> grads;
};

template <Element T>
RunResult<T> run_case(const OpCase& op, const std::vector<InputSpec>& specs, Device device, bool autocast = false) {
  RunResult<T> r;
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Tensor t = make_input<T>(specs[i], device, 1000 + i);
    r.inputs.push_back(t.to_vector<T>());
    // Leaves for autograd: the (possibly non-contiguous) view itself requires grad via a
    // detached leaf underneath, so the op sees the strided layout.
    inputs.push_back(t);
  }
  std::vector<Tensor> leaves;
  if (op.differentiable) {
    for (auto& t : inputs) {
      Tensor leaf = t.detach();
      leaf.set_requires_grad(true);
      leaves.push_back(leaf);
    }
    inputs = leaves;
  }
  Tensor out;
  {
    std::optional<AutocastGuard> guard;  // the forward under autocast(device, bfloat16)
    if (autocast) guard.emplace(device.type, kBFloat16);
    if constexpr (std::is_same_v<T, float>)
      out = op.f32(inputs);
    else
      out = op.f64(inputs);
    if (autocast) out = out.to(dtype_v<T>);
  }
  r.shape = out.shape();
  r.output = out.to_vector<T>();
  if (op.differentiable && out.requires_grad()) {
    Generator gen(4242);
    auto weight = Tensor::uniform(out.shape(), -1.0, 1.0, TensorOptions(device).dtype(kFloat64), gen).to(dtype_v<T>);
    sum(mul(out, weight)).backward();
    for (auto& leaf : leaves)
      r.grads.push_back(leaf.grad().defined() ? leaf.grad().to_vector<T>()
                                              : std::vector<T>(static_cast<std::size_t>(leaf.numel()), T(0)));
  }
  return r;
}

template <Element T, class Tol = T>
void check_case(const OpCase& op, bool autocast = false) {
  for (std::size_t v = 0; v < op.variants.size(); ++v) {
    const auto& specs = op.variants[v];
    std::ostringstream desc;  // (a stream: GCC 12 warns falsely on chained string +)
    desc << op.name << " [" << dtype_name(dtype_v<T>) << (autocast ? ", autocast bfloat16" : "") << "] variant " << v
         << " inputs";
    for (const auto& s : specs) desc << ' ' << shape_str(s.shape);
    INFO(desc.str());
    RunResult<T> want = run_case<T>(op, specs, Device::reference(), autocast);
    RunResult<T> got = run_case<T>(op, specs, g_device, autocast);
    // Each side made its inputs on its own device: the backend's randn (and the domain ops on
    // it) must give the reference's values before the op itself is compared.
    REQUIRE(got.inputs.size() == want.inputs.size());
    for (std::size_t i = 0; i < got.inputs.size(); ++i) {
      const std::string in = compare(got.inputs[i], want.inputs[i], 1.0);
      INFO("input " << i << " made on the backend differs from the reference's: " << in);
      REQUIRE(in.empty());
    }
    REQUIRE(got.shape == want.shape);
    const std::string fwd = compare<T, Tol>(got.output, want.output, op.tolerance_scale);
    INFO("forward: " << fwd);
    CHECK(fwd.empty());
    REQUIRE(got.grads.size() == want.grads.size());
    for (std::size_t i = 0; i < got.grads.size(); ++i) {
      const std::string bwd = compare<T, Tol>(got.grads[i], want.grads[i], op.tolerance_scale);
      INFO("backward, gradient of input " << i << ": " << bwd);
      CHECK(bwd.empty());
    }
  }
}

}  // namespace

TEST_CASE("every op matches the reference backend (float32 and float64)", "[conformance]") {
  const auto catalog = op_catalog();
  for (const auto& op : catalog) {
    SECTION(op.name) {
      check_case<float>(op);
      check_case<double>(op);
    }
  }
}

// The catalogue's cases whose ops take bfloat16/float16: elementwise math, dropout, bias_gelu,
// GEMMs, attention, row gathers and scatters. The reference widens 16-bit operands to float32
// around its kernels; a backend that computes 16-bit floats itself (Backend::computes_16bit_floats:
// cuda) runs its own 16-bit kernels here, so this is where they are checked.
const std::vector<std::string> k16BitCases = {
    "neg", "exp", "log", "log1p", "sqrt", "rsqrt", "pow", "tanh", "sigmoid", "relu", "abs", "gelu", "gelu_tanh", "silu",
    "add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar", "add", "sub", "mul", "div",
    "maximum", "dropout", "bias_gelu", "bias_gelu_tanh", "matmul_2d", "matmul_batched", "linear", "sdpa",
    "sdpa_heads_view", "sdpa_key_padding", "sdpa_key_padding_long", "sdpa_fully_masked_row", "sdpa_causal_scale",
    "sdpa_dropout", "sdpa_empty", "sdpa_packed", "index_select_dim0", "index_select_dim1", "embedding",
    "embedding_no_padding", "gather_dim1", "gather_last", "scatter_dim1", "scatter_value", "scatter_add_dim0",
    "scatter_add_last", "sort_last", "sort_indices", "sort_topk", "sort_topk_indices"};

TEST_CASE("16-bit floats match the reference (bfloat16 and float16)", "[conformance][16bit]") {
  const auto catalog = op_catalog();
  for (const std::string& name : k16BitCases) {
    const auto op = std::find_if(catalog.begin(), catalog.end(), [&](const OpCase& c) { return c.name == name; });
    INFO("16-bit case " << name << " is not in the catalogue");
    REQUIRE(op != catalog.end());
    SECTION(name) {
      check_case<BFloat16>(*op);
      check_case<Half>(*op);
    }
  }
}

// Autocast on float32 inputs: the GEMM ops run in bfloat16 with float32 gradients. The reference
// casts the operands first; a backend whose GEMM takes the casts itself (Backend::supports_gemm:
// cpu with AVX512-BF16) folds them in, so this checks the folded GEMMs, forward and backward.
TEST_CASE("autocast GEMMs on float32 inputs match the reference (bfloat16)", "[conformance][16bit][autocast]") {
  const auto catalog = op_catalog();
  for (const std::string name : {"matmul_2d", "matmul_batched", "matmul_vector", "matmul_large", "linear"}) {
    const auto op = std::find_if(catalog.begin(), catalog.end(), [&](const OpCase& c) { return c.name == name; });
    INFO("case " << name << " is not in the catalogue");
    REQUIRE(op != catalog.end());
    SECTION(name) { check_case<float, BFloat16>(*op, true); }
  }
}

TEST_CASE("every op of the op table has a conformance case", "[conformance][catalogue]") {
  const auto catalog = op_catalog();
  // Kernels checked by their own test cases below rather than through the catalogue.
  const std::vector<std::string> checked_below = {"adam_step", "sgd_step", "sum_squares"};
  std::vector<std::string> missing;
  for (std::span<const OpInfo> table : {std::span<const OpInfo>(kUnaryOps), std::span<const OpInfo>(kBinaryOps),
                                        std::span<const OpInfo>(kReduceOps), std::span<const OpInfo>(kKernelOps)})
    for (const OpInfo& info : table) {
      const std::string op = info.name;
      bool covered = std::find(checked_below.begin(), checked_below.end(), op) != checked_below.end();
      for (const auto& c : catalog) covered = covered || covers_op(c, op);
      if (!covered) missing.push_back(op);
    }
  INFO("ops of core/ops_enum.hpp without a case in tests/conformance/op_catalog.hpp: "
       << Catch::Detail::stringify(missing));
  CHECK(missing.empty());
}

TEST_CASE("every differentiable op of the op table has its gradient checked", "[conformance][catalogue]") {
  const auto catalog = op_catalog();
  std::vector<std::string> unchecked;
  for (std::span<const OpInfo> table : {std::span<const OpInfo>(kUnaryOps), std::span<const OpInfo>(kBinaryOps),
                                        std::span<const OpInfo>(kReduceOps)})
    for (const OpInfo& info : table) {
      if (!info.differentiable) continue;
      bool checked = false;
      for (const auto& c : catalog) checked = checked || (c.differentiable && covers_op(c, info.name));
      if (!checked) unchecked.push_back(info.name);
    }
  INFO("differentiable ops whose catalogue cases all skip the backward: " << Catch::Detail::stringify(unchecked));
  CHECK(unchecked.empty());
}

TEST_CASE("the catalogue check notices an op without a case", "[conformance][catalogue]") {
  const auto catalog = op_catalog();
  auto covered = [&](const std::string& op) {
    for (const auto& c : catalog)
      if (covers_op(c, op)) return true;
    return false;
  };
  CHECK(covered("gelu"));
  CHECK(covered("eq"));             // through also_covers
  CHECK_FALSE(covered("gel"));      // a prefix of a case name is not a match
  CHECK_FALSE(covered("no_such_op"));
}

// The open registry: a backend outside the library, with its own device type.
TEST_CASE("the debug backend registers at run time and sees every kernel call", "[conformance][registry]") {
  DebugBackend& debug = debug_backend();
  const Device device = DebugBackend::device();
  CHECK(device.type != DeviceType::cpu);
  CHECK(Device::parse("debug") == device);
  CHECK(Device::parse("debug:0").str() == "debug:0");
  CHECK(&backend_for(device) == &debug);
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH(Device::parse("tpu:0"), Catch::Contains("unknown device 'tpu:0'") && Catch::Contains("debug"));
  CHECK_THROWS_WITH(register_device_type("Bad Name"), Catch::Contains("invalid name"));
  CHECK(register_device_type("debug") == device.type);  // registering a name twice gives its id

  auto x = Tensor::from_vector(std::vector<float>{1, -2, 3}, device);
  debug.reset_counts();
  auto y = exp(x) + x;
  CHECK(debug.calls("unary") == 1);
  CHECK(debug.calls("binary") == 1);
  CHECK(debug.calls("allocate") == 2);
  CHECK(y.device() == device);
  CHECK(y.to(Device::cpu()).to_vector<float>() == (exp(x.to(Device::cpu())) + x.to(Device::cpu())).to_vector<float>());
}

TEST_CASE("an op the backend does not support runs on the cpu backend", "[conformance][registry]") {
  DebugBackend& debug = debug_backend();
  const Device device = DebugBackend::device();
  Generator gen(3);
  auto base = Tensor::randn({5, 7}, TensorOptions(Device::cpu()).dtype(kFloat64), gen);
  auto on_cpu = base.detach();
  on_cpu.set_requires_grad(true);
  auto want = silu(on_cpu.t());
  sum(want * want).backward();

  debug.set_unsupported(UnaryOp::silu, true);
  auto on_debug = base.to(device).detach();
  on_debug.set_requires_grad(true);
  debug.reset_counts();
  auto got = silu(on_debug.t());  // a transposed (strided) input
  sum(got * got).backward();
  const std::int64_t silu_calls = debug.calls("unary silu") + debug.calls("unary_backward silu");
  const std::int64_t copies_out = debug.calls("copy_to_host");
  debug.set_unsupported(UnaryOp::silu, false);

  CHECK(got.device() == device);
  CHECK(silu_calls == 0);       // silu never reached the debug backend's kernels ...
  CHECK(copies_out >= 3);       // ... its operands went to the cpu backend instead
  CHECK(got.to(Device::cpu()).to_vector<double>() == want.to_vector<double>());
  CHECK(on_debug.grad().to(Device::cpu()).to_vector<double>() == on_cpu.grad().to_vector<double>());
  // A supported op still runs on the backend itself.
  debug.reset_counts();
  (void)sigmoid(on_debug);
  CHECK(debug.calls("unary sigmoid") == 1);
}

// ---- the reference itself, against direct float64 formulas (reference_oracle.hpp) -----------
namespace {
void check_close(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs direct " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= 1e-12 * (1.0 + std::abs(want[i])));
  }
}
}  // namespace

TEST_CASE("the reference backend matches direct float64 formulas", "[conformance][oracle]") {
  Backend& ref = backend_for(Device::reference());
  const Device dev = Device::reference();
  const std::vector<double> values = {-2.5, -1.1, -0.3, 0.2, 0.7, 1.9, 3.1};
  SECTION("unary ops and their derivatives") {
    for (std::size_t k = 0; k < std::size(kUnaryOps); ++k) {
      const std::string name = kUnaryOps[k].name;
      const auto it = unary_oracles().find(name);
      INFO("unary op " << name << " needs its formula in tests/conformance/reference_oracle.hpp");
      REQUIRE(it != unary_oracles().end());
      const UnaryOracle& o = it->second;
      std::vector<double> xs = values, want_y, want_g;
      if (o.positive_only)
        for (double& x : xs) x = std::abs(x) + 0.1;
      for (double x : xs) {
        want_y.push_back(o.value(x, o.alpha));
        want_g.push_back(0.75 * o.derivative(x, o.alpha));
      }
      auto x = Tensor::from_vector(xs, dev);
      auto y = Tensor::empty(x.shape(), TensorOptions(dev).dtype(kFloat64)), gi = Tensor::empty(x.shape(), TensorOptions(dev).dtype(kFloat64));
      auto g = Tensor::full(x.shape(), 0.75, TensorOptions(dev).dtype(kFloat64));
      const auto op = static_cast<UnaryOp>(k);
      ref.unary(op, y.impl()->view(), x.impl()->view(), o.alpha);
      ref.unary_backward(op, gi.impl()->view(), g.impl()->view(), x.impl()->view(), y.impl()->view(), o.alpha);
      check_close(y.to_vector<double>(), want_y, name + " forward");
      check_close(gi.to_vector<double>(), want_g, name + " backward");
    }
  }
  SECTION("binary ops") {
    const std::vector<double> bs = {1.3, -1.1, 0.4, 0.2, -0.9, 2.0, -3.0};
    auto a = Tensor::from_vector(values, dev), b = Tensor::from_vector(bs, dev);
    for (std::size_t k = 0; k < std::size(kBinaryOps); ++k) {
      const std::string name = kBinaryOps[k].name;
      const auto it = binary_oracles().find(name);
      INFO("binary op " << name << " needs its formula in tests/conformance/reference_oracle.hpp");
      REQUIRE(it != binary_oracles().end());
      std::vector<double> want;
      for (std::size_t i = 0; i < values.size(); ++i) want.push_back(it->second(values[i], bs[i]));
      auto out = Tensor::empty(a.shape(), TensorOptions(dev).dtype(kFloat64));
      ref.binary(static_cast<BinaryOp>(k), out.impl()->view(), a.impl()->view(), b.impl()->view());
      check_close(out.to_vector<double>(), want, name);
    }
  }
  SECTION("reductions over the middle axis") {
    const std::int64_t outer = 2, reduced = 5, inner = 3;
    Generator gen(21);
    auto x = Tensor::randn({outer, reduced, inner}, TensorOptions(dev).dtype(kFloat64), gen);
    const auto xs = x.to_vector<double>();
    for (std::size_t k = 0; k < std::size(kReduceOps); ++k) {
      const std::string name = kReduceOps[k].name;
      const auto op = static_cast<ReduceOp>(k);
      const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
      std::vector<double> want;
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t i = 0; i < inner; ++i) want.push_back(reduce_oracle(name, xs, o, reduced, inner, i));
      std::vector<double> got;
      if (arg) {
        auto out = Tensor::empty({outer, inner}, TensorOptions(dev).dtype(kInt64));
        ref.reduce(op, out.impl()->view(), x.impl()->view(), outer, reduced, inner);
        for (auto v : out.to_vector<std::int64_t>()) got.push_back(static_cast<double>(v));
      } else {
        auto out = Tensor::empty({outer, inner}, TensorOptions(dev).dtype(kFloat64));
        ref.reduce(op, out.impl()->view(), x.impl()->view(), outer, reduced, inner);
        got = out.to_vector<double>();
      }
      check_close(got, want, std::string("reduce ") + name);
    }
  }
  SECTION("matmul, softmax, log_softmax, layer_norm, cross_entropy") {
    Generator gen(22);
    const std::int64_t m = 3, kk = 4, n = 5;
    auto a = Tensor::randn({m, kk}, TensorOptions(dev).dtype(kFloat64), gen), b = Tensor::randn({kk, n}, TensorOptions(dev).dtype(kFloat64), gen);
    const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
    std::vector<double> want(static_cast<std::size_t>(m * n), 0.0);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t p = 0; p < kk; ++p)
          want[static_cast<std::size_t>(i * n + j)] +=
              av[static_cast<std::size_t>(i * kk + p)] * bv[static_cast<std::size_t>(p * n + j)];
    check_close(matmul(a, b).to_vector<double>(), want, "matmul");

    // Row r of b as [rows = 4, cols = 5].
    auto row = [&](std::int64_t r) {
      return std::vector<double>(bv.begin() + r * n, bv.begin() + (r + 1) * n);
    };
    std::vector<double> want_softmax, want_log_softmax, want_ln;
    double want_ce = 0;
    const std::vector<std::int64_t> targets = {1, 4, 0, 2};
    for (std::int64_t r = 0; r < kk; ++r) {
      const auto v = row(r);
      const double mx = *std::max_element(v.begin(), v.end());
      double z = 0, mean = 0, var = 0;
      for (double e : v) z += std::exp(e - mx), mean += e / static_cast<double>(n);
      for (double e : v) var += (e - mean) * (e - mean) / static_cast<double>(n);  // biased, as torch
      for (double e : v) {
        want_softmax.push_back(std::exp(e - mx) / z);
        want_log_softmax.push_back(e - mx - std::log(z));
        want_ln.push_back((e - mean) / std::sqrt(var + 1e-5));
      }
      want_ce -= (v[static_cast<std::size_t>(targets[static_cast<std::size_t>(r)])] - mx - std::log(z)) /
                 static_cast<double>(kk);
    }
    check_close(softmax(b, 1).to_vector<double>(), want_softmax, "softmax");
    check_close(log_softmax(b, 1).to_vector<double>(), want_log_softmax, "log_softmax");
    check_close(layer_norm(b, {n}).to_vector<double>(), want_ln, "layer_norm");
    check_close({cross_entropy(b, Tensor::from_vector(targets, dev)).item()}, {want_ce},
                "cross_entropy");
  }
}

TEST_CASE("backend errors name the op and the bad index", "[conformance]") {
  // A backend may check indices on the device and raise at the next synchronization (cuda), so
  // each op is followed by one.
  const auto synchronized = [](auto op) {
    return [op] {
      Tensor result = op();
      runtime().synchronize(g_device);
    };
  };
  auto x = Tensor::ones({4, 3}, g_device);
  auto bad = Tensor::from_vector(std::vector<std::int64_t>{0, 4}, g_device);
  CHECK_THROWS_WITH(synchronized([&] { return index_select(x, 0, bad); })(),
                    Catch::Contains("index 4") && Catch::Contains("size 4"));
  CHECK_THROWS_WITH(synchronized([&] { return embedding(bad, x); })(), Catch::Contains("out of range"));
  auto logits = Tensor::zeros({2, 3}, g_device);
  CHECK_THROWS_WITH(synchronized([&] {
                      return cross_entropy(logits, Tensor::from_vector(std::vector<std::int64_t>{0, 3}, g_device));
                    })(),
                    Catch::Contains("Target 3 is out of bounds"));
  // gather / scatter name the value, the dim and its size (the cuda backend adds the position).
  auto bad_2d = Tensor::from_vector(std::vector<std::int64_t>{0, 2, 1, 3}, {2, 2}, g_device);
  CHECK_THROWS_WITH(synchronized([&] { return gather(x, 1, bad_2d); })(),
                    Catch::Contains("gather: index 3") && Catch::Contains("size 3"));
  CHECK_THROWS_WITH(synchronized([&] { return scatter(x, 1, bad_2d, 1.0); })(),
                    Catch::Contains("scatter: index 3") && Catch::Contains("size 3"));
  CHECK_THROWS_WITH(synchronized([&] { return scatter_add(x, 1, bad_2d, Tensor::ones({2, 2}, g_device)); })(),
                    Catch::Contains("scatter_add: index 3") && Catch::Contains("size 3"));
  // The device stays usable: no stale error at the next synchronization.
  CHECK(sum(x).item() == 12.0f);
}

TEST_CASE("optimizer kernels match the reference backend", "[conformance]") {
  for (bool decoupled : {false, true}) {
    std::vector<std::vector<float>> results;
    for (Device dev : {Device::reference(), g_device}) {
      Generator gen(5);
      auto p = Tensor::randn({1031}, dev, gen), g = Tensor::randn({1031}, dev, gen);
      auto m = Tensor::zeros({1031}, dev), v = Tensor::zeros({1031}, dev);
      AdamArgs args;
      args.lr = 1e-2;
      args.weight_decay = 0.1;
      args.decoupled_weight_decay = decoupled;
      for (int step = 1; step <= 3; ++step) {
        args.step = step;
        p.impl()->backend().adam_step(p.impl()->view(), g.impl()->view(), m.impl()->view(), v.impl()->view(), args);
      }
      results.push_back(p.to_vector<float>());
    }
    CHECK(compare(results[1], results[0], 1.0).empty());
  }
  std::vector<std::vector<double>> results;
  for (Device dev : {Device::reference(), g_device}) {
    Generator gen(6);
    auto p = Tensor::randn({77}, TensorOptions(dev).dtype(kFloat64), gen), g = Tensor::randn({77}, TensorOptions(dev).dtype(kFloat64), gen);
    auto buf = Tensor::zeros({77}, TensorOptions(dev).dtype(kFloat64));
    SgdArgs args;
    args.momentum = 0.9;
    args.nesterov = true;
    args.weight_decay = 0.01;
    for (int step = 0; step < 3; ++step) {
      args.first_step = step == 0;
      p.impl()->backend().sgd_step(p.impl()->view(), g.impl()->view(), buf.impl()->view(), args);
    }
    results.push_back(p.to_vector<double>());
  }
  CHECK(compare(results[1], results[0], 1.0).empty());
}

TEST_CASE("multi-tensor kernels match the reference backend", "[conformance]") {
  // Sizes around the cpu's block boundaries (32K grain, 64K sum blocks), empty and tiny tensors.
  const std::vector<std::int64_t> sizes{70001, 0, 1, 17, 65536, 3, 40000};
  std::vector<std::vector<float>> params;
  std::vector<double> sums;
  for (Device dev : {Device::reference(), g_device}) {
    Generator gen(8);
    std::vector<Tensor> p, g, m, v;
    std::vector<AdamParamViews> views;
    std::vector<KernelView> grads;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      p.push_back(Tensor::randn({sizes[i]}, dev, gen));
      g.push_back(Tensor::randn({sizes[i]}, dev, gen) * (1.0f + static_cast<float>(i)));
      m.push_back(Tensor::zeros({sizes[i]}, dev));
      v.push_back(Tensor::zeros({sizes[i]}, dev));
      AdamArgs args;
      args.lr = 1e-2 * static_cast<double>(i + 1);
      args.weight_decay = i % 2 ? 0.1 : 0.0;
      args.decoupled_weight_decay = i % 3 == 0;
      args.step = static_cast<std::int64_t>(i) + 1;
      views.push_back({p[i].impl()->view(), g[i].impl()->view(), m[i].impl()->view(), v[i].impl()->view(), args});
      grads.push_back(g[i].impl()->view());
    }
    Backend& backend = p[0].impl()->backend();
    for (int step = 0; step < 2; ++step) backend.multi_tensor_adam_step(views);
    std::vector<float> all;
    for (const auto& t : p) {
      const auto x = t.to_vector<float>();
      all.insert(all.end(), x.begin(), x.end());
    }
    params.push_back(all);
    if (backend.supports_sum_squares()) sums.push_back(backend.sum_squares(grads));
  }
  CHECK(compare(params[1], params[0], 1.0).empty());
  if (sums.size() == 2) CHECK(sums[1] == Approx(sums[0]).epsilon(1e-12));
}

TEST_CASE("integer tensors: fill, copy, compare, index and reduce", "[conformance]") {
  std::vector<std::vector<std::int64_t>> results;
  for (Device dev : {Device::reference(), g_device}) {
    auto a = Tensor::from_vector(std::vector<std::int64_t>{5, -2, 7, 7, 0, 3}, {2, 3}, dev);
    auto s = sum(a, {1});
    auto am = argmax(a, 1);
    auto sel = index_select(a, 1, Tensor::from_vector(std::vector<std::int64_t>{2, 0}, dev));
    auto cmp = gt(a, std::int64_t(2)).to(kInt64);
    auto casted = a.to(kInt32).to(kInt64);
    std::vector<std::int64_t> all;
    for (const auto& t : {s, am, sel.reshape({-1}), cmp.reshape({-1}), casted.reshape({-1}), a.t().contiguous().reshape({-1})}) {
      auto v = t.to_vector<std::int64_t>();
      all.insert(all.end(), v.begin(), v.end());
    }
    results.push_back(all);
  }
  CHECK(results[0] == results[1]);
  CHECK(results[0][0] == 10);  // 5 - 2 + 7
}

// gather / scatter move any dtype's elements, and scatter_add sums integers (wrapping as torch's
// uint8) and bools (logical or): every storage dtype against the reference, with torch's values.
TEST_CASE("gather and scatter on integer, bool and 16-bit tensors", "[conformance][index]") {
  const auto run = [](Device dev, DType dtype) {
    auto x = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}, {2, 3}, dev).to(dtype);
    auto idx = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 0}, {2, 2}, dev);
    auto src = Tensor::from_vector(std::vector<std::int64_t>{10, 20, 30, 40}, {2, 2}, dev).to(dtype);
    std::vector<Tensor> results{gather(x, 1, idx), gather(x.t(), 0, idx), scatter(x, 1, idx, src),
                                scatter(x, 0, idx.t(), 1.0), scatter_add(x, 1, idx, src),
                                scatter_add(x.t(), 0, idx, src.t())};
    std::vector<double> all;
    for (const auto& t : results) {
      const auto v = t.to(kFloat64).to_vector<double>();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  // torch.gather(x, 1, idx)                 -> [[0, 0], [4, 3]]
  // torch.gather(x.t(), 0, idx)             -> [[0, 3], [1, 3]]
  // torch.scatter(x, 1, idx, src)           -> [[20, 1, 2], [40, 30, 5]]
  // torch.scatter(x, 0, idx.t(), 1.0)       -> [[1, 1, 2], [3, 1, 5]]
  // torch.scatter_add(x, 1, idx, src)       -> [[30, 1, 2], [43, 34, 5]]
  // torch.scatter_add(x.t(), 0, idx, src.t()) -> [[10, 73], [21, 4], [2, 5]]
  // with x = torch.arange(6).reshape(2, 3), idx = [[0, 0], [1, 0]], src = [[10, 20], [30, 40]].
  const std::vector<double> want{0, 0, 4, 3, 0, 3, 1, 3, 20, 1, 2, 40, 30, 5, 1, 1, 2, 3, 1, 5,
                                 30, 1, 2, 43, 34, 5, 10, 73, 21, 4, 2, 5};
  for (DType dtype : {kInt64, kInt32, kBFloat16, kFloat16, kFloat32}) {
    INFO(dtype_name(dtype));
    CHECK(run(g_device, dtype) == want);
    CHECK(run(Device::reference(), dtype) == want);
  }
  // uint8 wraps (x + src modulo 256) and bool sums as or, as torch's scatter_add:
  // torch.scatter_add(torch.full((2, 3), 250, dtype=torch.uint8), 1, idx, torch.full((2, 2), 3, dtype=torch.uint8))
  //   -> [[0, 250, 250], [253, 253, 250]]
  // torch.scatter_add(torch.tensor([[True, False, False], [False, False, True]]), 1, idx, torch.ones(2, 2, dtype=torch.bool))
  //   -> [[True, False, False], [True, True, True]]
  for (Device dev : {g_device, Device::reference()}) {
    auto idx = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 0}, {2, 2}, dev);
    auto bytes = scatter_add(Tensor::full({2, 3}, 250, TensorOptions(dev).dtype(kUInt8)), 1, idx,
                             Tensor::full({2, 2}, 3, TensorOptions(dev).dtype(kUInt8)));
    CHECK(bytes.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 250, 250, 253, 253, 250});
    auto flags = Tensor::from_vector(std::vector<std::uint8_t>{1, 0, 0, 0, 0, 1}, {2, 3}, dev).to(kBool);
    auto ored = scatter_add(flags, 1, idx, Tensor::ones({2, 2}, TensorOptions(dev).dtype(kBool)));
    CHECK(ored.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0, 1, 1, 1});
    // torch.gather(flags, 1, idx) -> [[True, True], [False, False]]
    CHECK(gather(flags, 1, idx).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 1, 0, 0});
  }
}

int main(int argc, char** argv) {
  const char* name = std::getenv("TINYXF_BACKEND");
  const std::string backend_name = name ? name : "cpu";
  try {
    g_device = Device::parse(backend_name);
    Backend* b = runtime().backends().find(g_device.type);
    if (!b) {
      std::cout << "SKIPPED: backend '" << backend_name << "' is not compiled into this build\n";
      return 77;
    }
    if (!b->available()) {
      std::cout << "SKIPPED: backend '" << backend_name << "' is not available here: "
                << b->unavailable_reason() << "\n";
      return 77;
    }
  } catch (const std::exception& e) {
    std::cout << "conformance: " << e.what() << "\n";
    return 2;
  }
  std::cout << "conformance: backend " << g_device.str() << " against reference\n";
  return Catch::Session().run(argc, argv);
}
