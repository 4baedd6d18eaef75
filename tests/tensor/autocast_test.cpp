// Mixed precision: autocast (op dtypes, gradients, nesting), the bfloat16 GEMM against a float64
// oracle, optimizer steps on bfloat16 parameters, GradScaler, and a small model trained under
// autocast.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bf16_pipeline.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;

namespace {

const Device dev = Device::cpu();

Tensor randn_bf16(const Shape& s, Generator& gen, Device d = dev) {
  return Tensor::randn(s, TensorOptions(d), gen).to(kBFloat16);
}

}  // namespace

TEST_CASE("autocast state: off by default, guards nest and restore, enabled=false turns it off", "[autocast]") {
  CHECK_FALSE(autocast_enabled(DeviceType::cpu));
  CHECK(autocast_dtype(DeviceType::cpu) == kBFloat16);   // torch's cpu default
  CHECK(autocast_dtype(DeviceType::cuda) == kFloat16);   // torch's cuda default
  {
    AutocastGuard outer(DeviceType::cpu, kBFloat16);
    CHECK(autocast_enabled(DeviceType::cpu));
    CHECK_FALSE(autocast_enabled(DeviceType::reference));
    {
      AutocastGuard inner(DeviceType::cpu, kBFloat16, false);
      CHECK_FALSE(autocast_enabled(DeviceType::cpu));
      const Tensor w = Tensor::ones({2, 2});
      CHECK(matmul(w, w).dtype() == kFloat32);
    }
    CHECK(autocast_enabled(DeviceType::cpu));
    {
      AutocastGuard half(DeviceType::cpu, kFloat16);
      CHECK(autocast_dtype(DeviceType::cpu) == kFloat16);
    }
    CHECK(autocast_dtype(DeviceType::cpu) == kBFloat16);
  }
  CHECK_FALSE(autocast_enabled(DeviceType::cpu));
  CHECK_THROWS_AS(AutocastGuard(DeviceType::cpu, kInt64), DTypeError);
}

TEST_CASE("autocast: GEMM ops run in bfloat16, softmax/layer_norm/losses/reductions in float32", "[autocast]") {
  Generator gen(1);
  const Tensor x = Tensor::randn({4, 6}, dev, gen), w = Tensor::randn({5, 6}, dev, gen), b = Tensor::randn({5}, dev, gen);
  const Tensor target = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 4, 2}, dev);
  AutocastGuard autocast(DeviceType::cpu, kBFloat16);
  const Tensor y = linear(x, w, b);
  CHECK(y.dtype() == kBFloat16);
  CHECK(matmul(x, w.t()).dtype() == kBFloat16);
  CHECK(matmul(x.to(kBFloat16), w.t()).dtype() == kBFloat16);
  CHECK(softmax(y, -1).dtype() == kFloat32);
  CHECK(log_softmax(y, -1).dtype() == kFloat32);
  CHECK(layer_norm(y, {5}, Tensor::ones({5}), Tensor::zeros({5})).dtype() == kFloat32);
  CHECK(add_layer_norm(y, Tensor::zeros({4, 5}), Tensor::ones({5}), Tensor::zeros({5})).dtype() == kFloat32);
  CHECK(cross_entropy(y, target).dtype() == kFloat32);
  CHECK(nll_loss(y, target).dtype() == kFloat32);
  CHECK(sum(y).dtype() == kFloat32);
  CHECK(mean(y, {1}).dtype() == kFloat32);
  CHECK(bias_gelu(matmul(x, w.t()), b).dtype() == kBFloat16);
  CHECK((y + b).dtype() == kFloat32);  // other ops: ordinary promotion
  CHECK(gelu(y).dtype() == kBFloat16);
  CHECK(dropout(y, 0.5, true).dtype() == kBFloat16);
  CHECK(dropout(y, 0.5, false).is_same(y));
  CHECK(argmax(y, 1).dtype() == kInt64);
  // The values: linear in bf16 is the f32 linear of the bf16-rounded operands (rounded once).
  NoGradGuard ng;
  const Tensor exact = linear(x.to(kBFloat16).to(kFloat64), w.to(kBFloat16).to(kFloat64), b.to(kBFloat16).to(kFloat64));
  const auto got = y.to(kFloat64).to_vector<double>(), want = exact.to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-2).epsilon(1.0 / 128));
  // float64 operands are never cast.
  CHECK(matmul(x.to(kFloat64), w.to(kFloat64).t()).dtype() == kFloat64);
}

TEST_CASE("linear adds its bias before the one rounding of a 16-bit result, as torch's addmm", "[autocast]") {
  // x·Wᵀ = 257 and 2049 are ties that round down to even (bf16: 256, float16: 2048); adding the bias 1
  // to the rounded product would round down again, to 256 / 2048. torch.nn.functional.linear in
  // bf16 gives 258 (the bias in the GEMM's float32 sum), as does autocast's linear on float32 operands.
  struct Case { DType dtype; float w0, w1, want; };
  for (const Case& c : {Case{kBFloat16, 128, 129, 258}, Case{kFloat16, 2048, 1, 2050}}) {
    for (const Device d : {Device::cpu(), Device::reference()}) {
      CAPTURE(dtype_name(c.dtype), d.str());
      const Tensor x = Tensor::ones({3, 2, 2}, d), w = Tensor::from_vector(std::vector<float>{c.w0, c.w1}, d).reshape({1, 2});
      const Tensor b = Tensor::ones({1}, d);
      const Tensor y = linear(x.to(c.dtype), w.to(c.dtype), b.to(c.dtype));
      REQUIRE(y.dtype() == c.dtype);
      CHECK(y.to(kFloat32).to_vector<float>() == std::vector<float>(6, c.want));
      AutocastGuard autocast(d.type, c.dtype);
      CHECK(linear(x, w, b).to(kFloat32).to_vector<float>() == std::vector<float>(6, c.want));
      CHECK(linear(x.select(0, 0).select(0, 0), w, b).to(kFloat32).to_vector<float>() == std::vector<float>{c.want});  // 1-D x
    }
  }
  // The bias's gradient is the sum of the output's gradient over the rows, in float32 for a float32
  // bias under autocast (through its cast), and the op is recorded as addmm.
  Generator gen(11);
  const Tensor x = Tensor::randn({4, 3, 5}, dev, gen);
  Tensor w = Tensor::randn({6, 5}, dev, gen).set_requires_grad(), b = Tensor::randn({6}, dev, gen).set_requires_grad();
  Tensor y;
  {
    AutocastGuard autocast(DeviceType::cpu, kBFloat16);
    y = linear(x, w, b);
  }
  CHECK(linear(x.select(0, 0), w, b).grad_fn()->backward_name() == "AddmmBackward");
  const Tensor g = Tensor::randn({4, 3, 6}, dev, gen).to(kBFloat16);
  y.backward(g);
  REQUIRE(b.grad().dtype() == kFloat32);
  const std::vector<float> got = b.grad().to_vector<float>();
  const std::vector<double> want = g.to(kFloat64).sum({0, 1}).to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1.0 / 128));
}

TEST_CASE("autocast applies to its device type only", "[autocast]") {
  const Tensor a = Tensor::ones({2, 3}, Device::reference());
  {
    AutocastGuard autocast(DeviceType::cpu, kBFloat16);
    CHECK(matmul(a, a.t()).dtype() == kFloat32);
  }
  AutocastGuard autocast(DeviceType::reference, kBFloat16);
  CHECK(matmul(a, a.t()).dtype() == kBFloat16);
  CHECK(matmul(a, a.t()).to(kFloat32).to_vector<float>() == std::vector<float>{3, 3, 3, 3});
}

TEST_CASE("autocast: float32 leaves get float32 gradients through the casts", "[autocast]") {
  Generator gen(2);
  const Tensor x = Tensor::randn({8, 6}, dev, gen);
  const Tensor target = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1}, dev);
  Tensor w = Tensor::randn({3, 6}, dev, gen).set_requires_grad(), b = Tensor::zeros({3}, dev).set_requires_grad();
  Tensor loss;
  {
    AutocastGuard autocast(DeviceType::cpu, kBFloat16);
    loss = cross_entropy(linear(x, w, b), target);
  }
  CHECK(loss.dtype() == kFloat32);
  loss.backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().dtype() == kFloat32);
  CHECK(b.grad().dtype() == kFloat32);
  // Close to the float32 gradients (bf16 operands: ~3 significant digits).
  Tensor w32 = w.detach().clone().set_requires_grad(), b32 = b.detach().clone().set_requires_grad();
  cross_entropy(linear(x, w32, b32), target).backward();
  const auto g = w.grad().to_vector<float>(), g32 = w32.grad().to_vector<float>();
  for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(g32[i]).margin(2e-2).epsilon(3e-2));
}

TEST_CASE("autocast: fused and packed attention give bf16 and float32 gradients", "[autocast][attention]") {
  Generator gen(3);
  Tensor q = Tensor::randn({2, 2, 5, 4}, dev, gen).set_requires_grad();
  const Tensor k = Tensor::randn({2, 2, 5, 4}, dev, gen), v = Tensor::randn({2, 2, 5, 4}, dev, gen);
  Tensor qkv = Tensor::randn({2, 5, 24}, dev, gen).set_requires_grad();
  Tensor out, packed;
  {
    AutocastGuard autocast(DeviceType::cpu, kBFloat16);
    out = scaled_dot_product_attention(q, k, v);
    packed = scaled_dot_product_attention_packed(qkv, 2);
  }
  CHECK(out.dtype() == kBFloat16);
  CHECK(packed.dtype() == kBFloat16);
  const Tensor ref = scaled_dot_product_attention(q.detach().to(kBFloat16).to(kFloat32), k.to(kBFloat16).to(kFloat32),
                                                  v.to(kBFloat16).to(kFloat32));
  const auto got = out.to(kFloat32).to_vector<float>(), want = ref.to_vector<float>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-2).epsilon(1.0 / 64));
  (sum(out) + sum(packed)).backward();
  CHECK(q.grad().dtype() == kFloat32);
  CHECK(qkv.grad().dtype() == kFloat32);
}

// The yardstick of bf16_pipeline.hpp on the cpu, whichever kernel set runs (the ctest variants
// run avx512 and avx2): the bf16 gradients are within rounding noise of float64, float32 is far
// inside it, and results with a real error in them are not.
TEST_CASE("a bf16 pipeline's gradients stay within bf16 rounding noise of float64", "[autocast][attention]") {
  using testing::beyond_bf16_noise;
  const auto truth = testing::run_bf16_pipeline(dev, kFloat64);
  const auto bf16 = testing::run_bf16_pipeline(dev, kBFloat16);
  const auto f32 = testing::run_bf16_pipeline(dev, kFloat32);
  CHECK(bf16.hidden_dtype == kBFloat16);
  CHECK(bf16.out_dtype == kBFloat16);
  INFO("out: " << beyond_bf16_noise(bf16.out, truth.out, 0.02, 0.05));
  CHECK(beyond_bf16_noise(bf16.out, truth.out, 0.02, 0.05).empty());
  INFO("grad x: " << beyond_bf16_noise(bf16.grad_x, truth.grad_x));
  CHECK(beyond_bf16_noise(bf16.grad_x, truth.grad_x).empty());
  INFO("grad bias: " << beyond_bf16_noise(bf16.grad_bias, truth.grad_bias));
  CHECK(beyond_bf16_noise(bf16.grad_bias, truth.grad_bias).empty());
  for (const auto* part : {&f32.out, &f32.grad_x, &f32.grad_bias}) {
    const auto& want = part == &f32.out ? truth.out : part == &f32.grad_x ? truth.grad_x : truth.grad_bias;
    CHECK(beyond_bf16_noise(*part, want, 1e-5, 1e-5).empty());
  }
  // What a kernel bug looks like fails it: a gradient 8 % too large everywhere, one element with
  // its sign flipped, the columns of one head (16 of the 32 features) without gradient.
  auto scaled = truth.grad_x, flipped = truth.grad_x, one_head = truth.grad_x;
  for (float& v : scaled) v *= 1.08f;
  const auto largest = std::max_element(flipped.begin(), flipped.end(),
                                        [](float a, float b) { return std::abs(a) < std::abs(b); });
  *largest = -*largest;
  for (std::size_t i = 0; i < one_head.size(); ++i)
    if (i % 32 < 16) one_head[i] = 0;
  CHECK_FALSE(beyond_bf16_noise(scaled, truth.grad_x).empty());
  CHECK_FALSE(beyond_bf16_noise(flipped, truth.grad_x).empty());
  CHECK_FALSE(beyond_bf16_noise(one_head, truth.grad_x).empty());
}

// The cpu backend's attention on bf16 q/k/v (its own kernel where the CPU has AVX512-BF16) against
// the reference backend's (which widens to float32): long enough that the queries go in several
// blocks (dK and dV summed across them), with a key-padding mask and dropout.
TEST_CASE("bf16 attention on the cpu matches the reference across query blocks", "[autocast][attention]") {
  const std::int64_t B = 1, H = 2, L = 300, S = 300, E = 16;
  struct Run { std::vector<float> out, gq, gk, gv; };
  const auto run = [&](Device d) {
    Generator gen(9);
    Tensor q = randn_bf16({B, H, L, E}, gen, d).set_requires_grad(), k = randn_bf16({B, H, S, E}, gen, d).set_requires_grad(),
           v = randn_bf16({B, H, S, E}, gen, d).set_requires_grad();
    Tensor keep = Tensor::ones({B, 1, 1, S}, TensorOptions(d).dtype(kBool));
    {
      NoGradGuard ng;
      keep.narrow(3, S - 37, 37).zero_();  // padding keys
    }
    Generator drop_gen(10);
    const Tensor out = scaled_dot_product_attention(q, k, v, keep, 0.1, false, std::nullopt, drop_gen);
    REQUIRE(out.dtype() == kBFloat16);
    Generator wgen(11);
    sum(out.to(kFloat32) * Tensor::randn(out.shape(), TensorOptions(d), wgen)).backward();
    return Run{out.to(kFloat32).to_vector<float>(), q.grad().to(kFloat32).to_vector<float>(),
               k.grad().to(kFloat32).to_vector<float>(), v.grad().to(kFloat32).to_vector<float>()};
  };
  const Run got = run(Device::cpu()), want = run(Device::reference());
  const auto close = [](const std::vector<float>& g, const std::vector<float>& w, const char* what) {
    REQUIRE(g.size() == w.size());
    double scale = 0;
    for (float x : w) scale = std::max(scale, static_cast<double>(std::abs(x)));
    std::int64_t bad = 0;
    for (std::size_t i = 0; i < g.size(); ++i)
      bad += std::abs(static_cast<double>(g[i]) - w[i]) > 1.0 / 64 * std::abs(w[i]) + 1.0 / 128 * scale;
    INFO(what);
    CHECK(bad == 0);
  };
  close(got.out, want.out, "output");
  close(got.gq, want.gq, "grad q");
  close(got.gk, want.gk, "grad k");
  close(got.gv, want.gv, "grad v");
}

// bf16 GEMM: the operands are bf16 values (exact), the products summed in float32 and C rounded
// once. Tolerance: |C - exact| <= 2^-8 |exact| (the final bf16 rounding, half an ulp is 2^-9;
// 2^-8 also covers the float64 -> float32 -> bf16 double rounding of the oracle) plus the float32
// summation error k * 2^-23 * sum |a_i b_i| (generous: blocked sums grow more slowly).
TEST_CASE("16-bit gradients meeting at a node or a leaf are summed in float32 and rounded once", "[autocast]") {
  // The engine sums gradients the way the front end's add does (run_binary, widened 16-bit
  // floats on backends that do not compute them): a bf16 leaf used twice, and .grad
  // accumulated over two backward calls.
  for (Device device : {Device::cpu(), Device::reference()}) {
    INFO(device.str());
    auto x = Tensor::from_vector(std::vector<float>{1, -2, 3}, device).to(kBFloat16).set_requires_grad();
    (x * 1.5 + x).to(kFloat32).sum().backward();  // two paths into x: 1.5 + 1
    REQUIRE(x.grad().defined());
    CHECK(x.grad().dtype() == kBFloat16);
    CHECK(x.grad().to(kFloat32).to_vector<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
    (x * 0.25).to(kFloat32).sum().backward();  // accumulates into .grad
    CHECK(x.grad().to(kFloat32).to_vector<float>() == std::vector<float>{2.75f, 2.75f, 2.75f});
  }
}

TEST_CASE("bf16 GEMM matches the float64 product of the bf16 values on odd shapes", "[autocast][gemm]") {
  Generator gen(4);
  struct Case { std::int64_t batch, m, k, n; bool ta, tb; };
  const std::vector<Case> cases = {{1, 1, 1, 1, false, false}, {1, 3, 5, 7, false, false}, {1, 17, 33, 65, true, false},
                                   {1, 13, 300, 31, false, true}, {1, 5, 777, 9, true, true},
                                   {3, 29, 47, 70, false, false}, {2, 250, 19, 41, true, true}};
  for (const Device d : {Device::cpu(), Device::reference()})
    for (const Case& c : cases) {
      CAPTURE(d.str(), c.batch, c.m, c.k, c.n, c.ta, c.tb);
      const Tensor a = c.ta ? randn_bf16({c.batch, c.k, c.m}, gen, d).transpose(-1, -2) : randn_bf16({c.batch, c.m, c.k}, gen, d);
      const Tensor b = c.tb ? randn_bf16({c.batch, c.n, c.k}, gen, d).transpose(-1, -2) : randn_bf16({c.batch, c.k, c.n}, gen, d);
      const Tensor got = matmul(a, b);
      REQUIRE(got.dtype() == kBFloat16);
      const Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
      const auto exact = matmul(a64, b64).to_vector<double>();
      const auto mag = matmul(abs(a64), abs(b64)).to_vector<double>();
      const auto values = got.to(kFloat64).to_vector<double>();
      for (std::size_t i = 0; i < values.size(); ++i) {
        const double tol = std::ldexp(std::abs(exact[i]), -8) + static_cast<double>(c.k) * std::ldexp(mag[i], -23) + 1e-30;
        if (std::abs(values[i] - exact[i]) > tol) {
          FAIL_CHECK("C[" << i << "] = " << values[i] << ", exact " << exact[i] << ", tolerance " << tol);
          break;
        }
      }
    }
}

TEST_CASE("bf16 GEMM writes float32 C with alpha and beta through the backends", "[autocast][gemm]") {
  Generator gen(5);
  const std::int64_t m = 7, k = 45, n = 11;
  for (const Device d : {Device::cpu(), Device::reference()}) {
    CAPTURE(d.str());
    const Tensor a = randn_bf16({m, k}, gen, d), b = randn_bf16({k, n}, gen, d);
    Tensor c = Tensor::full({m, n}, 2.0, d);
    c.impl()->backend().gemm(GemmArgs{.dtype = kBFloat16, .out_dtype = kFloat32, .m = m, .n = n, .k = k,
                                      .a = a.raw_data(), .lda = k, .b = b.raw_data(), .ldb = n, .c = c.raw_data(),
                                      .ldc = n, .alpha = 0.5, .beta = 3.0});
    const auto exact = (matmul(a.to(kFloat64), b.to(kFloat64)) * 0.5 + 6.0).to_vector<double>();
    const auto got = c.to_vector<float>();
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(exact[i]).margin(1e-4));
  }
}

// GemmArgs::cast_to: a GEMM that rounds float32 operands to bf16 itself and rounds its result
// once (stored as bf16, or as float32 holding a bf16 value), on every combination of operand and
// result dtypes the cpu backend takes, against the float64 product of the rounded operands.
TEST_CASE("cpu GEMM with autocast's casts folded in: every operand and result dtype", "[autocast][gemm]") {
  Generator gen(6);
  Backend& cpu = Tensor::empty({1}, dev).impl()->backend();
  GemmArgs probe;
  probe.dtype = kFloat32;
  probe.cast_to = kBFloat16;
  REQUIRE(cpu.supports_gemm(probe));  // with AVX512-BF16 in the packing, elsewhere in float32 copies
  probe.cast_to = kFloat16;
  CHECK_FALSE(cpu.supports_gemm(probe));  // float16 casts are the front end's
  struct Case { std::int64_t m, k, n; bool ta, tb; double alpha, beta; };
  // k = 1601 spans three k blocks (partial sums in scratch), k = 385 and 64 one; odd edges everywhere;
  // m = 290 spans two A blocks of either kernel (240 or 256 rows) and ends in a partial AMX tile;
  // k = 4500 and 4401 are two AMX k blocks (a bf16 C sums them in float32 scratch), split over the
  // threads by columns (n > m) and by rows; 4401 with op(A) stored by k is five (gemm_amx's
  // k_block_size), so the blocks between the first and the last sum in scratch too.
  const std::vector<Case> cases = {{13, 1601, 37, false, false, 1.0, 0.0}, {5, 64, 70, true, true, 0.5, 2.0},
                                   {29, 385, 33, false, true, 1.0, 1.0}, {1, 1, 1, true, false, 1.0, 0.0},
                                   {290, 801, 50, true, false, 1.0, 0.5}, {40, 4500, 61, false, true, 1.0, 0.5},
                                   {66, 4401, 30, true, false, 2.0, 1.0}};
  for (const Case& c : cases)
    for (const DType a_dtype : {kFloat32, kBFloat16})
      for (const DType b_dtype : {kFloat32, kBFloat16})
        for (const DType c_dtype : {kFloat32, kBFloat16}) {
          CAPTURE(c.m, c.k, c.n, c.ta, c.tb, c.beta, dtype_name(a_dtype), dtype_name(b_dtype), dtype_name(c_dtype));
          const Tensor a32 = Tensor::randn(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, dev, gen);
          const Tensor b32 = Tensor::randn(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, dev, gen);
          const Tensor a = a32.to(a_dtype), b = b32.to(b_dtype);
          const Tensor c0 = Tensor::randn({c.m, c.n}, dev, gen).to(c_dtype);
          Tensor out = c0.clone();
          GemmArgs g;
          g.dtype = a_dtype;
          g.b_dtype = b_dtype;
          g.cast_to = kBFloat16;
          g.out_dtype = c_dtype;
          g.m = c.m, g.n = c.n, g.k = c.k;
          g.a = a.raw_data(), g.lda = c.ta ? c.m : c.k, g.trans_a = c.ta;
          g.b = b.raw_data(), g.ldb = c.tb ? c.k : c.n, g.trans_b = c.tb;
          g.c = out.raw_data(), g.ldc = c.n;
          g.alpha = c.alpha, g.beta = c.beta;
          REQUIRE(cpu.supports_gemm(g));
          cpu.gemm(g);
          // The operands as bf16 values, multiplied exactly.
          Tensor a64 = a32.to(kBFloat16).to(kFloat64), b64 = b32.to(kBFloat16).to(kFloat64);
          if (c.ta) a64 = a64.t();
          if (c.tb) b64 = b64.t();
          const auto exact = (matmul(a64, b64) * c.alpha + c0.to(kFloat64) * c.beta).to_vector<double>();
          const auto mag = (matmul(abs(a64), abs(b64)) * c.alpha + abs(c0.to(kFloat64)) * c.beta).to_vector<double>();
          const auto got = out.to(kFloat32).to_vector<float>();
          std::int64_t bad = 0, unrounded = 0;
          for (std::size_t i = 0; i < got.size(); ++i) {
            // one bf16 rounding of the float32 sum (whose own error grows with k)
            const double tol = std::ldexp(std::abs(exact[i]), -8) + static_cast<double>(c.k + 2) * std::ldexp(mag[i], -23) + 1e-30;
            bad += std::abs(static_cast<double>(got[i]) - exact[i]) > tol;
            unrounded += (std::bit_cast<std::uint32_t>(got[i]) & 0xFFFFu) != 0;  // a float32 C holds bf16 values
          }
          CHECK(bad == 0);
          CHECK(unrounded == 0);
        }
  // k = 0: C = beta * C, rounded to bf16.
  Tensor c = Tensor::full({2, 3}, 1.0 + 0x1p-10, dev);
  GemmArgs g;
  g.dtype = kFloat32;
  g.cast_to = kBFloat16;
  g.m = 2, g.n = 3, g.k = 0, g.lda = 1, g.ldb = 3, g.c = c.raw_data(), g.ldc = 3, g.beta = 3.0;
  cpu.gemm(g);
  CHECK(c.to_vector<float>() == std::vector<float>(6, 3.0f));  // 3 + 3 * 2^-10 rounds to 3
}

// The same values, forward and backward, whether autocast's casts of float32 weights and
// activations fold into the GEMMs (the cpu backend: AVX512-BF16 packing, or float32 copies of
// the bf16 values under tinyxf_autocast_tests_avx2) or are made as copies
// first (bf16 leaves cast by hand): bit for bit, since both multiply the same bf16 values in the
// same order and round the same sums once.
TEST_CASE("autocast linear and matmul: folded casts give the values of explicit casts", "[autocast][gemm]") {
  Generator gen(7);
  struct Case { Shape x, w; bool transposed_x; };
  const std::vector<Case> cases = {{{4, 16, 768}, {3072, 768}, false}, {{2, 7, 33}, {5, 33}, false},
                                   {{3, 9, 40}, {11, 40}, true}, {{1, 500}, {300, 500}, false}};
  for (const Case& c : cases) {
    CAPTURE(shape_str(c.x), shape_str(c.w), c.transposed_x);
    const Tensor x0 = c.transposed_x ? Tensor::randn({c.x[0], c.x[2], c.x[1]}, dev, gen).transpose(1, 2)
                                     : Tensor::randn(c.x, dev, gen);
    const Tensor w0 = Tensor::randn(c.w, dev, gen) * 0.05, b0 = Tensor::randn({c.w[0]}, dev, gen);
    const Tensor v0 = Tensor::randn({c.w[0], 6}, dev, gen);
    Shape y_shape = c.x;
    y_shape.back() = c.w[0];
    const Tensor weight = Tensor::randn(y_shape, dev, gen);
    struct Run { std::vector<float> y, y2, gx, gw, gb, gv; };
    const auto run = [&](bool cast_by_hand) {
      Tensor x = x0.detach().set_requires_grad(), w = w0.detach().set_requires_grad(), b = b0.detach().set_requires_grad();
      Tensor v = v0.detach().set_requires_grad();
      Tensor y, y2;
      {
        AutocastGuard autocast(DeviceType::cpu, kBFloat16);
        const auto cast = [&](const Tensor& t) { return cast_by_hand ? t.to(kBFloat16) : t; };
        y = linear(cast(x), cast(w), cast(b));
        y2 = matmul(y, cast(v));  // bf16 @ float32 (mixed operands)
      }
      REQUIRE(y.dtype() == kBFloat16);
      REQUIRE(y2.dtype() == kBFloat16);
      (sum(y.to(kFloat32) * weight) + sum(y2.to(kFloat32))).backward();
      REQUIRE(x.grad().dtype() == kFloat32);
      REQUIRE(w.grad().dtype() == kFloat32);
      return Run{y.to(kFloat32).to_vector<float>(), y2.to(kFloat32).to_vector<float>(), x.grad().to_vector<float>(),
                 w.grad().to_vector<float>(), b.grad().to_vector<float>(), v.grad().to_vector<float>()};
    };
    const Run folded = run(false), explicit_casts = run(true);
    CHECK(folded.y == explicit_casts.y);
    CHECK(folded.y2 == explicit_casts.y2);
    CHECK(folded.gx == explicit_casts.gx);
    CHECK(folded.gw == explicit_casts.gw);
    CHECK(folded.gb == explicit_casts.gb);
    CHECK(folded.gv == explicit_casts.gv);
  }
}

TEST_CASE("optimizers step bfloat16 parameters in float32 and round back", "[autocast][optim]") {
  Generator gen(6);
  const auto check_optimizer = [&](auto make) {
    Tensor p16 = Tensor::randn({37}, dev, gen).to(kBFloat16).set_requires_grad();
    Tensor p32 = p16.detach().to(kFloat32).set_requires_grad();
    auto opt16 = make(std::vector<Tensor>{p16});
    auto opt32 = make(std::vector<Tensor>{p32});
    for (int step = 0; step < 4; ++step) {
      const Tensor g = Tensor::randn({37}, dev, gen).to(kBFloat16);
      p16.set_grad(g);
      p32.set_grad(g.to(kFloat32));
      opt16.step();
      opt32.step();
      NoGradGuard ng;
      p32.copy_(p32.to(kBFloat16));  // the float32 step, rounded to bf16
      CHECK(p16.dtype() == kBFloat16);
      CHECK(p16.to(kFloat32).to_vector<float>() == p32.to_vector<float>());
    }
  };
  SECTION("Adam") {
    check_optimizer([](std::vector<Tensor> ps) { return optim::Adam(std::move(ps), optim::AdamOptions{.lr = 0.05}); });
  }
  SECTION("AdamW") {
    check_optimizer([](std::vector<Tensor> ps) {
      return optim::AdamW(std::move(ps), optim::AdamWOptions{.lr = 0.05, .weight_decay = 0.1});
    });
  }
  SECTION("SGD with momentum") {
    check_optimizer([](std::vector<Tensor> ps) {
      return optim::SGD(std::move(ps), optim::SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
    });
  }
  SECTION("state is float32") {
    Tensor p = Tensor::ones({3}, dev).to(kBFloat16).set_requires_grad();
    optim::Adam opt(std::vector<Tensor>{p});
    p.set_grad(Tensor::ones({3}, dev).to(kBFloat16));
    opt.step();
    CHECK(opt.state_tensor(p, "exp_avg").dtype() == kFloat32);
    CHECK(opt.state_tensor(p, "exp_avg_sq").dtype() == kFloat32);
  }
}

TEST_CASE("GradScaler: scale, unscale, skipped steps on inf/NaN, growth and backoff", "[autocast][optim]") {
  Tensor w = Tensor::from_vector(std::vector<float>{1.0f, 2.0f}, dev).set_requires_grad();
  optim::SGD opt(std::vector<Tensor>{w}, optim::SgdOptions{.lr = 1.0});
  optim::GradScaler scaler(optim::GradScalerOptions{.growth_interval = 2});
  CHECK(scaler.get_scale() == 65536.0);
  Tensor loss = sum(w * 3.0);
  Tensor scaled = scaler.scale(loss);
  CHECK(scaled.item<double>() == 65536.0 * 9.0);
  scaled.backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3.0f * 65536, 3.0f * 65536});
  scaler.unscale_(opt);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3.0f, 3.0f});
  CHECK_THROWS(scaler.unscale_(opt));  // once per update
  CHECK(scaler.step(opt));
  CHECK(w.to_vector<float>() == std::vector<float>{-2.0f, -1.0f});
  scaler.update();
  CHECK(scaler.get_scale() == 65536.0);  // 1 of 2 good steps
  CHECK(scaler.growth_tracker() == 1);

  // An inf gradient: the step is skipped and the scale backs off.
  opt.zero_grad();
  w.set_grad(Tensor::from_vector(std::vector<float>{std::numeric_limits<float>::infinity(), 1.0f}, dev));
  CHECK_FALSE(scaler.step(opt));
  CHECK(scaler.found_inf(opt));
  CHECK(w.to_vector<float>() == std::vector<float>{-2.0f, -1.0f});
  scaler.update();
  CHECK(scaler.get_scale() == 32768.0);
  CHECK(scaler.growth_tracker() == 0);
  // NaN too.
  w.set_grad(Tensor::from_vector(std::vector<float>{std::nanf(""), 1.0f}, dev));
  CHECK_FALSE(scaler.step(opt));
  scaler.update();
  CHECK(scaler.get_scale() == 16384.0);

  // growth_interval finite steps double the scale.
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    scaler.scale(sum(w)).backward();
    CHECK(scaler.step(opt));
    scaler.update();
  }
  CHECK(scaler.get_scale() == 32768.0);
  CHECK(w.to_vector<float>() == std::vector<float>{-4.0f, -3.0f});
  CHECK_THROWS(scaler.update());  // nothing recorded since the last update

  // A disabled scaler is a pass-through.
  optim::GradScaler off(optim::GradScalerOptions{.enabled = false});
  CHECK(off.scale(loss).is_same(loss));
  CHECK(off.get_scale() == 1.0);
}

// Printed by torch 2.15:
//   w = nn.Parameter(tensor([1., 2.])); opt = SGD([w], lr=1)
//   s = torch.amp.GradScaler("cpu", init_scale=1024., growth_factor=4., backoff_factor=.25, growth_interval=3)
//   for bad in [False, True, False, False, False, nan, False]:   # True: grad[0] = inf; nan: grad[1] = nan
//     opt.zero_grad(); s.scale((w * 3).sum()).backward(); <make bad>; s.step(opt); s.update(); print(s.state_dict())
// scale 1024 → (good) 1024, tracker 1 → (inf) 256, 0 → 256, 1 → 256, 2 → (3rd good) 1024, 0 → (nan) 256, 0 → 256, 1;
// a disabled scaler's state_dict() is {}; load_state_dict({}) raises "The source state dict is empty, ...".
TEST_CASE("GradScaler state_dict / load_state_dict: torch's keys and values, and a resume continues the scale",
          "[autocast][optim]") {
  using Catch::Matchers::Contains;
  const optim::GradScalerOptions options{.init_scale = 1024.0, .growth_factor = 4.0, .backoff_factor = 0.25,
                                         .growth_interval = 3};
  const auto state = [](double scale, double tracker) {
    return std::map<std::string, double>{{"scale", scale},         {"growth_factor", 4.0}, {"backoff_factor", 0.25},
                                         {"growth_interval", 3.0}, {"_growth_tracker", tracker}};
  };
  Tensor w = Tensor::from_vector(std::vector<float>{1.0f, 2.0f}, dev).set_requires_grad();
  optim::SGD opt(std::vector<Tensor>{w}, optim::SgdOptions{.lr = 1.0});
  // One iteration: -1 = finite gradients, 0 = grad[0] inf, 1 = grad[1] NaN.
  const auto iterate = [&](optim::GradScaler& scaler, int bad) {
    opt.zero_grad();
    scaler.scale(sum(w * 3.0)).backward();
    if (bad >= 0) {
      std::vector<float> g = w.grad().to_vector<float>();
      g[static_cast<std::size_t>(bad)] = bad == 0 ? std::numeric_limits<float>::infinity() : std::nanf("");
      w.set_grad(Tensor::from_vector(g, dev));
    }
    scaler.step(opt);
    scaler.update();
  };
  optim::GradScaler scaler(options);
  CHECK(scaler.state_dict() == state(1024, 0));
  const std::vector<int> bad = {-1, 0, -1, -1, -1, 1, -1};
  const std::vector<std::pair<double, double>> expected = {{1024, 1}, {256, 0}, {256, 1}, {256, 2},
                                                           {1024, 0}, {256, 0}, {256, 1}};
  for (std::size_t i = 0; i < bad.size(); ++i) {
    iterate(scaler, bad[i]);
    INFO("iteration " << i);
    CHECK(scaler.state_dict() == state(expected[i].first, expected[i].second));
  }

  // Saved after iteration 3 (scale 256, two good steps counted), restored into a scaler made with
  // other settings: it continues exactly as the uninterrupted one (the 3rd good step grows to 1024).
  optim::GradScaler first(options);
  for (int i = 0; i < 4; ++i) iterate(first, bad[static_cast<std::size_t>(i)]);
  const std::map<std::string, double> saved = first.state_dict();
  REQUIRE(saved == state(256, 2));
  optim::GradScaler resumed;  // torch's defaults: 65536, 2, 0.5, 2000
  resumed.load_state_dict(saved);
  CHECK(resumed.get_scale() == 256.0);
  CHECK(resumed.growth_tracker() == 2);
  CHECK(resumed.state_dict() == saved);
  for (std::size_t i = 4; i < bad.size(); ++i) {
    iterate(resumed, bad[i]);
    CHECK(resumed.state_dict() == state(expected[i].first, expected[i].second));
  }

  // Disabled: an empty state, and loading is a no-op; an empty state into an enabled scaler is an error.
  optim::GradScaler off(optim::GradScalerOptions{.enabled = false});
  CHECK(off.state_dict().empty());
  CHECK_NOTHROW(off.load_state_dict(saved));
  CHECK(off.get_scale() == 1.0);
  optim::GradScaler on;
  CHECK_THROWS_WITH(on.load_state_dict({}), Contains("the source state dict is empty, possibly because it was saved "
                                                     "from a disabled instance of GradScaler"));
  // Bad states are refused before anything changes.
  auto without = saved;
  without.erase("_growth_tracker");
  CHECK_THROWS_WITH(on.load_state_dict(without), Contains("the state has no '_growth_tracker'"));
  auto negative = saved;
  negative["scale"] = -1;
  CHECK_THROWS_WITH(on.load_state_dict(negative), Contains("'scale' must be finite and > 0, got -1"));
  auto fractional = saved;
  fractional["growth_interval"] = 2.5;
  CHECK_THROWS_WITH(on.load_state_dict(fractional), Contains("'growth_interval' must be an integer >= 1, got 2.5"));
  auto backoff = saved;
  backoff["backoff_factor"] = 1.5;
  CHECK_THROWS_WITH(on.load_state_dict(backoff), Contains("backoff_factor must be in (0, 1), got 1.5"));
  CHECK(on.state_dict() == optim::GradScaler().state_dict());
  // torch reads only its five keys: extra ones are ignored (load_state_dict({**sd, "extra": 1}) loads sd).
  auto extra = saved;
  extra["scale_typo"] = 1;
  on.load_state_dict(extra);
  CHECK(on.state_dict() == saved);
}

TEST_CASE("GradScaler unscales float64 gradients in float64, and bf16 ones through float32", "[autocast][optim]") {
  // torch: no rounding to float32, and 1e300 * 65536 (finite in float64) is no inf.
  Tensor w = Tensor::from_vector(std::vector<double>{0.0, 0.0}, dev).set_requires_grad();
  optim::SGD opt(std::vector<Tensor>{w}, optim::SgdOptions{.lr = 1.0});
  optim::GradScaler scaler;
  w.set_grad(Tensor::from_vector(std::vector<double>{1.0000000001 * 65536, 1e300 * 65536}, dev));
  scaler.unscale_(opt);
  CHECK_FALSE(scaler.found_inf(opt));
  CHECK(w.grad().dtype() == kFloat64);
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1.0000000001, 1e300});
  CHECK(scaler.step(opt));
  // bfloat16 gradients: an inf is found, finite ones come back divided.
  Tensor h = Tensor::from_vector(std::vector<float>{0.0f, 0.0f}, dev).to(kBFloat16).set_requires_grad();
  optim::SGD opt16(std::vector<Tensor>{h}, optim::SgdOptions{.lr = 1.0});
  optim::GradScaler scaler16;
  h.set_grad(Tensor::from_vector(std::vector<float>{2.0f * 65536, 4.0f * 65536}, dev).to(kBFloat16));
  scaler16.unscale_(opt16);
  CHECK_FALSE(scaler16.found_inf(opt16));
  CHECK(h.grad().to(kFloat32).to_vector<float>() == std::vector<float>{2.0f, 4.0f});
  optim::GradScaler next;
  h.set_grad(Tensor::from_vector(std::vector<float>{std::numeric_limits<float>::infinity(), 1.0f}, dev).to(kBFloat16));
  CHECK_FALSE(next.step(opt16));
  CHECK(next.found_inf(opt16));
}

TEST_CASE("a small model trains under autocast(bf16) with float32 master weights", "[autocast][train]") {
  Generator gen(8);
  nn::Linear l1(8, 32, true, gen), l2(32, 3, true, gen);
  nn::LayerNorm norm(32);
  std::vector<Tensor> params = l1.parameters();
  for (const auto& p : norm.parameters()) params.push_back(p);
  for (const auto& p : l2.parameters()) params.push_back(p);
  optim::AdamW opt(params, optim::AdamWOptions{.lr = 1e-2});
  const Tensor x = Tensor::randn({64, 8}, dev, gen);
  // Labels from a fixed linear rule, so the loss can fall.
  const Tensor rule = Tensor::randn({8, 3}, dev, gen);
  const Tensor y = argmax(matmul(x, rule), 1);
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step) {
    Tensor loss;
    {
      AutocastGuard autocast(DeviceType::cpu, kBFloat16);
      const Tensor h = gelu(norm(l1(x)));
      loss = cross_entropy(l2(h), y);
    }
    CHECK(loss.dtype() == kFloat32);
    loss.backward();
    opt.step();
    opt.zero_grad();
    losses.push_back(loss.item<double>());
  }
  for (const auto& p : params) CHECK(p.dtype() == kFloat32);
  CHECK(losses.back() < 0.5 * losses.front());
}

// sum of a 16-bit tensor without a graph: the cpu backend sums it block by block
// (supports_16bit_sum) where the front end would widen it whole first; the two agree bit for bit
// on every layout the kernel has (short rows, long rows in blocks, column tiles, several dims,
// keepdim), in and out of autocast (float32 / 16-bit result), for bf16 and f16.
TEST_CASE("16-bit sums without a float32 copy equal the sums of the widened tensor", "[autocast][reduce]") {
  REQUIRE(Tensor::empty({1}, dev).impl()->backend().supports_16bit_sum());
  Generator gen(8);
  struct Case { Shape shape; std::vector<std::int64_t> dims; bool keepdim; };
  const std::vector<Case> cases = {{{5, 300}, {1}, false},        {{3, 70001}, {1}, false},  // two blocks of 65536
                                   {{2048, 77}, {0}, true},       {{4, 6, 300}, {0, 2}, false},
                                   {{7, 513, 3}, {1}, true},      {{9}, {0}, false},
                                   {{2, 3}, {}, false}};
  for (const DType dtype : {kBFloat16, kFloat16})
    for (const Case& c : cases)
      for (const bool autocast : {false, true}) {
        CAPTURE(dtype_name(dtype), shape_str(c.shape), c.dims.size(), c.keepdim, autocast);
        const Tensor x = (Tensor::randn(c.shape, dev, gen) * 3.0).to(dtype);
        AutocastGuard guard(DeviceType::cpu, kBFloat16, autocast);
        const Tensor got = x.sum(c.dims, c.keepdim);
        const Tensor widened = sum(x.to(kFloat32), c.dims, c.keepdim);
        const Tensor want = autocast ? widened : widened.to(dtype);
        REQUIRE(got.dtype() == want.dtype());
        REQUIRE(got.shape() == want.shape());
        const auto a = got.to(kFloat64).to_vector<double>(), b = want.to(kFloat64).to_vector<double>();
        std::int64_t differ = 0;
        for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
        CHECK(differ == 0);
      }
  // With a graph to record, the widening path runs and the gradient reaches the 16-bit leaf.
  Tensor leaf = Tensor::randn({4, 5}, dev, gen).to(kBFloat16).set_requires_grad();
  leaf.sum({0}, false).sum().backward();
  REQUIRE(leaf.grad().defined());
  CHECK(leaf.grad().dtype() == kBFloat16);
  CHECK(leaf.grad().to(kFloat32).sum().item<float>() == 20.0f);
}
