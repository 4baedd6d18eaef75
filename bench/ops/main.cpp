// tinyxf_bench_ops: times the cpu backend's kernels on DistilBERT-sized operands (batch 16,
// sequence 128, hidden 768, 12 heads, FFN 3072), calling CpuBackend directly.
//
//   tinyxf_bench_ops [--threads N] [--min-time SECONDS] [--filter SUBSTRING] [--tsv]
//
// Each case runs until --min-time has passed (at least 5 runs, after 2 warm-up runs) and
// reports the median time. --tsv prints "name<TAB>median_ms<TAB>metric<TAB>unit" lines for
// run.sh, which joins them with compare_torch.py's identical names.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tinyxf/backends/cpu.hpp"
#include "tinyxf/backends/cpu/backend.hpp"  // the kernels, compiled here at -march=native
#include "tinyxf/core/parallel.hpp"

using namespace tinyxf;
namespace cpu = tinyxf::backends::cpu;

namespace {

struct Options {
  int threads = 0;
  double min_time = 0.5;
  std::string filter;
  bool tsv = false;
};

// A float buffer with a contiguous KernelView over it.
struct Buf {
  std::shared_ptr<void> mem;
  KernelView view;
  std::int64_t n = 0;
  Buf() = default;
  Buf(std::vector<std::int64_t> shape, DType dtype = DType::f32) {
    n = 1;
    for (auto d : shape) n *= d;
    mem = host::allocate_aligned(static_cast<std::size_t>(n) * dtype_size(dtype));
    view.data = mem.get();
    view.dtype = dtype;
    view.ndim = static_cast<int>(shape.size());
    std::int64_t stride = 1;
    for (int i = view.ndim - 1; i >= 0; --i) {
      view.shape[i] = shape[i];
      view.strides[i] = stride;
      stride *= shape[i];
    }
  }
  float* f() const { return static_cast<float*>(mem.get()); }
  void randomize(std::uint64_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    std::uniform_real_distribution<float> d(lo, hi);
    for (std::int64_t i = 0; i < n; ++i) f()[i] = d(rng);
  }
};

double median_ms(const std::function<void()>& fn, double min_time) {
  fn();
  fn();
  std::vector<double> times;
  const auto start = std::chrono::steady_clock::now();
  while (times.size() < 5 ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < min_time) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (times.size() >= 1000) break;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Case {
  std::string name;
  double work;       // flops or bytes per run
  const char* unit;  // "GFLOP/s" or "GB/s"
  std::function<void()> fn;
};

// c[m, n] = op(a) op(b), row-major, every leading dimension the stored row's length.
GemmArgs gemm_args(const Buf& a, bool trans_a, const Buf& b, bool trans_b, Buf& c, std::int64_t m, std::int64_t n,
                   std::int64_t k) {
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.view.data;
  g.lda = trans_a ? m : k;
  g.trans_a = trans_a;
  g.b = b.view.data;
  g.ldb = trans_b ? k : n;
  g.trans_b = trans_b;
  g.c = c.view.data;
  g.ldc = n;
  return g;
}
// y[m, n] = x[m, k] * w[n, k]^T, as nn.Linear
GemmArgs linear_args(const Buf& x, const Buf& w, Buf& y, std::int64_t m, std::int64_t n, std::int64_t k) {
  return gemm_args(x, false, w, true, y, m, n, k);
}
// gw[m, n] = gy[k, m]^T * x[k, n]
GemmArgs weight_grad_args(const Buf& gy, const Buf& x, Buf& gw, std::int64_t m, std::int64_t n, std::int64_t k) {
  return gemm_args(gy, true, x, false, gw, m, n, k);
}
// gx[m, n] = gy[m, k] * w[k, n]
GemmArgs data_grad_args(const Buf& gy, const Buf& w, Buf& gx, std::int64_t m, std::int64_t n, std::int64_t k) {
  return gemm_args(gy, false, w, false, gx, m, n, k);
}

// The cores' arithmetic peak, the roofline the GEMM rows are read against: every thread of the
// pool runs `iters` rounds of 12 independent multiply-adds (more chains than FMA latency × issue
// width), registers only. Returns false where this build's ISA lacks the instruction.
constexpr int kPeakChains = 12;
constexpr std::int64_t kPeakIters = 2'000'000;
volatile float peak_sink = 0;
double peak_lanes_fp32() {
#if defined(__AVX512F__)
  return 16;
#elif defined(__FMA__)
  return 8;
#else
  return 0;
#endif
}
// Every pool thread runs kPeakIters rounds of `step` on kPeakChains independent accumulators,
// chain c starting from init(c).
template <class Acc, class Init, class Step, class FirstLane>
void run_peak(Init init, Step step, FirstLane first_lane) {
  parallel_for(0, num_threads(), 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      // Unrolled, so that the accumulators live in registers (else GCC keeps them on the stack);
      // each starts from its own value, so that the compiler cannot merge the chains.
      Acc acc[kPeakChains];
#pragma GCC unroll 16
      for (int c = 0; c < kPeakChains; ++c) acc[c] = init(static_cast<float>(c));
      for (std::int64_t i = 0; i < kPeakIters; ++i)
#pragma GCC unroll 16
        for (auto& a : acc) a = step(a);
      float sink = 0;
      for (auto& a : acc) sink += first_lane(a);
      peak_sink = sink;  // keeps the loop
    }
  });
}
void peak_fp32_fma() {
#if defined(__AVX512F__)
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  run_peak<__m512>([](float v) { return _mm512_set1_ps(v); }, [&](__m512 a) { return _mm512_fmadd_ps(a, x, y); },
                   [](__m512 a) { return _mm512_cvtss_f32(a); });
#elif defined(__FMA__)
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
  run_peak<__m256>([](float v) { return _mm256_set1_ps(v); }, [&](__m256 a) { return _mm256_fmadd_ps(a, x, y); },
                   [](__m256 a) { return _mm256_cvtss_f32(a); });
#endif
}
#if defined(__AVX512BF16__)
void peak_bf16_dot() {
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3a803a80);
  run_peak<__m512>([](float v) { return _mm512_set1_ps(v); }, [&](__m512 a) { return _mm512_dpbf16_ps(a, x, y); },
                   [](__m512 a) { return _mm512_cvtss_f32(a); });
}
#endif

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") opt.threads = std::atoi(next().c_str());
    else if (a == "--min-time") opt.min_time = std::atof(next().c_str());
    else if (a == "--filter") opt.filter = next();
    else if (a == "--tsv") opt.tsv = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--min-time S] [--filter SUBSTRING] [--tsv]\n", argv[0]);
      return 2;
    }
  }
  if (opt.threads > 0) set_num_threads(opt.threads);
  backends::CpuBackend be;

  const std::int64_t B = 16, T = 128, C = 768, H = 12, F = 3072, D = C / H, N = B * T;
  const double f4 = 4.0;  // bytes per float
  std::vector<Case> cases;

  // ---- the machine's peak (all threads): GEMM rows divided by these are their efficiency ----
  const double peak_work = 2.0 * num_threads() * static_cast<double>(kPeakIters) * kPeakChains;
  if (peak_lanes_fp32() > 0)
    cases.push_back({"peak float32 FMA (registers only, all threads)", peak_work * peak_lanes_fp32(), "GFLOP/s",
                     peak_fp32_fma});
#if defined(__AVX512BF16__)
  cases.push_back({"peak bf16 VDPBF16PS (registers only, all threads)", peak_work * 32, "GFLOP/s", peak_bf16_dot});
#endif

  // ---- GEMM: the linear layers of one DistilBERT block (forward and weight gradients) -------
  Buf x({N, C}), w_qkv({C, C}), w_up({F, C}), w_down({C, F}), h({N, F}), y({N, C}), y_up({N, F});
  Buf gw_cc({C, C}), gw_fc({F, C});
  for (Buf* b : {&x, &w_qkv, &w_up, &w_down, &h}) b->randomize(1);
  auto gemm_case = [&](std::string name, GemmArgs g, cpu::GemmBatchMode mode = cpu::GemmBatchMode::automatic) {
    const double flops = 2.0 * static_cast<double>(g.batch) * g.m * g.n * g.k;
    cases.push_back({std::move(name), flops, "GFLOP/s", [g, mode] { cpu::gemm(g, mode); }});
  };
  gemm_case("gemm linear 2048x768 <- 768 (x W^T)", linear_args(x, w_qkv, y, N, C, C));
  gemm_case("gemm linear 2048x3072 <- 768 (x W^T)", linear_args(x, w_up, y_up, N, F, C));
  gemm_case("gemm linear 2048x768 <- 3072 (x W^T)", linear_args(h, w_down, y, N, C, F));
  gemm_case("gemm weight-grad 768x768x2048 (gy^T x)", weight_grad_args(y, x, gw_cc, C, C, N));
  gemm_case("gemm weight-grad 3072x768x2048 (gy^T x)", weight_grad_args(h, x, gw_fc, F, C, N));
  // The same products under MatmulPrecision::medium: bf16 multiplies (AMX or VDPBF16PS) where
  // they pay (cpu::bf16_products_pay), otherwise the float32 path above; the label says which.
  auto medium = [](GemmArgs g) {
    g.precision = MatmulPrecision::medium;
    return g;
  };
  const std::string products = cpu::bf16_products_pay() ? " [medium: bf16 products]" : " [medium: float32 products here]";
  gemm_case("gemm linear 2048x768 <- 768" + products, medium(linear_args(x, w_qkv, y, N, C, C)));
  gemm_case("gemm linear 2048x3072 <- 768" + products, medium(linear_args(x, w_up, y_up, N, F, C)));
  gemm_case("gemm linear 2048x768 <- 3072" + products, medium(linear_args(h, w_down, y, N, C, F)));
  gemm_case("gemm weight-grad 3072x768x2048" + products, medium(weight_grad_args(h, x, gw_fc, F, C, N)));
  // The flagship's (all-MiniLM-L6-v2 at 16×256, "medium"): a narrower model, so k is 384 for most
  // products and the float32 activations' packing weighs more. Data gradients are gy · W.
  const std::int64_t mN = 16 * 256, mC = 384, mF = 1536;
  Buf mx({mN, mC}), mh({mN, mF}), my({mN, mC}), my_up({mN, mF}), mw_cc({mC, mC}), mw_up({mF, mC}), mw_down({mC, mF});
  Buf mgw_cc({mC, mC}), mgw_fc({mF, mC});
  for (Buf* b : {&mx, &mh, &mw_cc, &mw_up, &mw_down}) b->randomize(5);
  gemm_case("gemm minilm linear 4096x384 <- 384" + products, medium(linear_args(mx, mw_cc, my, mN, mC, mC)));
  gemm_case("gemm minilm linear 4096x1536 <- 384" + products, medium(linear_args(mx, mw_up, my_up, mN, mF, mC)));
  {
    // linear's bias: added in the GEMM's epilogue (GemmArgs::bias) against a C prefilled with it
    // (a broadcast copy, then beta = 1: what the front end did before, and still does elsewhere).
    static const Buf bias_up({mF});
    GemmArgs with_bias = medium(linear_args(mx, mw_up, my_up, mN, mF, mC));
    with_bias.bias = bias_up.view.data;
    gemm_case("gemm minilm linear 4096x1536 <- 384 + bias in the epilogue" + products, with_bias);
    GemmArgs prefilled = medium(linear_args(mx, mw_up, my_up, mN, mF, mC));
    prefilled.beta = 1.0;
    KernelView rows = bias_up.view;
    rows.ndim = 2, rows.shape = {mN, mF}, rows.strides = {0, 1};
    const double flops = 2.0 * mN * mF * mC;
    cases.push_back({"gemm minilm linear 4096x1536 <- 384 + bias prefilled in C" + products, flops, "GFLOP/s",
                     [&be, rows, prefilled, out = my_up.view] {
                       be.copy(out, rows);
                       cpu::gemm(prefilled);
                     }});
  }
  gemm_case("gemm minilm linear 4096x384 <- 1536" + products, medium(linear_args(mh, mw_down, my, mN, mC, mF)));
  gemm_case("gemm minilm data-grad 4096x384 <- 1536 (gy W)" + products, medium(data_grad_args(mh, mw_up, my, mN, mC, mF)));
  gemm_case("gemm minilm data-grad 4096x1536 <- 384 (gy W)" + products, medium(data_grad_args(mx, mw_down, my_up, mN, mF, mC)));
  gemm_case("gemm minilm weight-grad 384x384x4096" + products, medium(weight_grad_args(mx, mx, mgw_cc, mC, mC, mN)));
  gemm_case("gemm minilm weight-grad 1536x384x4096" + products, medium(weight_grad_args(mh, mx, mgw_fc, mF, mC, mN)));
  gemm_case("gemm minilm weight-grad 384x1536x4096" + products, medium(weight_grad_args(mx, mh, mgw_fc, mC, mF, mN)));
  // autocast's GEMMs: bf16 operands (packed as they are on AVX512-BF16, else widened), float32 C.
  Buf x16({N, C}, DType::bf16), w16({F, C}, DType::bf16), h16({N, F}, DType::bf16);
  for (auto [dst, src] : {std::pair{&x16, &x}, std::pair{&w16, &w_up}, std::pair{&h16, &h}})
    for (std::int64_t i = 0; i < src->n; ++i) static_cast<BFloat16*>(dst->mem.get())[i] = BFloat16(src->f()[i]);
  auto bf16_operands = [](GemmArgs g, const Buf& a, const Buf& b) {
    g.dtype = DType::bf16;
    g.out_dtype = DType::f32;
    g.a = a.view.data;
    g.b = b.view.data;
    return g;
  };
  gemm_case("gemm linear 2048x3072 <- 768 [bf16 operands]", bf16_operands(linear_args(x, w_up, y_up, N, F, C), x16, w16));
  gemm_case("gemm weight-grad 3072x768x2048 [bf16 operands]", bf16_operands(weight_grad_args(h, x, gw_fc, F, C, N), h16, x16));
  // autocast's forward linears as the step runs them: float32 (LayerNorm output) or bf16 (GELU
  // output) activations, float32 master weights rounded while packed, a bf16 result.
  Buf y16({N, C}, DType::bf16), y_up16({N, F}, DType::bf16);
  auto autocast_linear = [](GemmArgs g, const Buf* a16, Buf& c16) {
    if (a16 != nullptr) {
      g.dtype = DType::bf16;
      g.a = a16->view.data;
      g.b_dtype = DType::f32;
    }
    g.cast_to = DType::bf16;
    g.out_dtype = DType::bf16;
    g.c = c16.view.data;
    return g;
  };
  gemm_case("gemm linear 2048x768 <- 768 [autocast, f32 x, bf16 C]", autocast_linear(linear_args(x, w_qkv, y, N, C, C), nullptr, y16));
  gemm_case("gemm linear 2048x3072 <- 768 [autocast, f32 x, bf16 C]", autocast_linear(linear_args(x, w_up, y_up, N, F, C), nullptr, y_up16));
  gemm_case("gemm linear 2048x768 <- 3072 [autocast, bf16 x, bf16 C]", autocast_linear(linear_args(h, w_down, y, N, C, F), &h16, y16));

  // ---- batched attention products: [B*H] x (128x64 @ 64x128) and (128x128 @ 128x64) ----------
  Buf q({B * H, T, D}), k({B * H, T, D}), scores({B * H, T, T}), ctx({B * H, T, D});
  q.randomize(2);
  k.randomize(3);
  scores.randomize(4);
  GemmArgs qk;
  qk.batch = B * H;
  qk.m = T;
  qk.n = T;
  qk.k = D;
  qk.a = q.view.data;
  qk.lda = D;
  qk.stride_a = T * D;
  qk.b = k.view.data;
  qk.ldb = D;
  qk.stride_b = T * D;
  qk.trans_b = true;
  qk.c = scores.view.data;
  qk.ldc = T;
  qk.stride_c = T * T;
  GemmArgs pv;
  pv.batch = B * H;
  pv.m = T;
  pv.n = D;
  pv.k = T;
  pv.a = scores.view.data;
  pv.lda = T;
  pv.stride_a = T * T;
  pv.b = k.view.data;
  pv.ldb = D;
  pv.stride_b = T * D;
  pv.c = ctx.view.data;
  pv.ldc = D;
  pv.stride_c = T * D;
  gemm_case("bmm scores 192x(128x64 @ 64x128)", qk);
  gemm_case("bmm context 192x(128x128 @ 128x64)", pv);
  gemm_case("bmm scores 192x(128x64 @ 64x128) [split products]", qk, cpu::GemmBatchMode::split_products);
  gemm_case("bmm context 192x(128x128 @ 128x64) [split products]", pv, cpu::GemmBatchMode::split_products);

  // ---- softmax over attention rows ----------------------------------------------------------
  const std::int64_t srows = B * H * T, scols = T;
  Buf s_in({srows, scols}), s_out({srows, scols}), s_gy({srows, scols}), s_gx({srows, scols});
  s_in.randomize(5, -5, 5);
  s_gy.randomize(6);
  const double s_bytes = f4 * srows * scols;
  cases.push_back({"softmax [24576, 128]", 2 * s_bytes, "GB/s",
                   [&] { be.softmax(s_out.view, s_in.view, srows, scols, false); }});
  cases.push_back({"softmax backward [24576, 128]", 3 * s_bytes, "GB/s",
                   [&] { be.softmax_backward(s_gx.view, s_gy.view, s_out.view, srows, scols, false); }});
  cases.push_back({"log_softmax [24576, 128]", 2 * s_bytes, "GB/s",
                   [&] { be.softmax(s_out.view, s_in.view, srows, scols, true); }});

  // ---- layer_norm over [2048, 768] -----------------------------------------------------------
  Buf ln_x({N, C}), ln_y({N, C}), ln_mean({N}), ln_rstd({N}), ln_g({C}), ln_b({C}), ln_gy({N, C}),
      ln_gx({N, C}), ln_gg({C}), ln_gb({C});
  ln_x.randomize(7, -2, 2);
  ln_g.randomize(8, 0.5, 1.5);
  ln_b.randomize(9);
  ln_gy.randomize(10);
  const double ln_bytes = f4 * N * C;
  cases.push_back({"layer_norm [2048, 768]", 2 * ln_bytes, "GB/s", [&] {
                     be.layer_norm(ln_y.view, ln_mean.view, ln_rstd.view, ln_x.view, ln_g.view, ln_b.view, N, C, 1e-12);
                   }});
  cases.push_back({"layer_norm backward [2048, 768]", 3 * ln_bytes, "GB/s", [&] {
                     be.layer_norm_backward(ln_gx.view, ln_gg.view, ln_gb.view, ln_gy.view, ln_x.view, ln_mean.view,
                                            ln_rstd.view, ln_g.view, N, C);
                   }});

  // ---- elementwise over the FFN activation [2048, 3072] --------------------------------------
  Buf e_x({N, F}), e_y({N, F}), e_gy({N, F}), e_gx({N, F}), bias({F});
  e_x.randomize(11, -4, 4);
  e_gy.randomize(12);
  bias.randomize(13);
  const double e_bytes = f4 * N * F;
  cases.push_back({"gelu [2048, 3072]", 2 * e_bytes, "GB/s",
                   [&] { be.unary(UnaryOp::gelu_erf, e_y.view, e_x.view, 0); }});
  cases.push_back({"gelu backward [2048, 3072]", 3 * e_bytes, "GB/s",
                   [&] { be.unary_backward(UnaryOp::gelu_erf, e_gx.view, e_gy.view, e_x.view, e_y.view, 0); }});
  cases.push_back({"gelu_tanh [2048, 3072]", 2 * e_bytes, "GB/s",
                   [&] { be.unary(UnaryOp::gelu_tanh, e_y.view, e_x.view, 0); }});
  cases.push_back({"exp [2048, 3072]", 2 * e_bytes, "GB/s", [&] { be.unary(UnaryOp::exp, e_y.view, e_x.view, 0); }});
  cases.push_back({"add [2048, 3072] + [2048, 3072]", 3 * e_bytes, "GB/s",
                   [&] { be.binary(BinaryOp::add, e_y.view, e_x.view, e_gy.view); }});
  KernelView bias_b = e_x.view;  // [3072] broadcast over rows
  bias_b.data = bias.view.data;
  bias_b.strides[0] = 0;
  cases.push_back({"add bias [2048, 3072] + [3072]", 2 * e_bytes, "GB/s",
                   [&, bias_b] { be.binary(BinaryOp::add, e_y.view, e_x.view, bias_b); }});
  cases.push_back({"mul scalar [2048, 3072] * 0.125", 2 * e_bytes, "GB/s",
                   [&] { be.unary(UnaryOp::mul_scalar, e_y.view, e_x.view, 0.125); }});
  KernelView x_t = e_x.view;  // [3072, 2048] view of [2048, 3072] (a transpose)
  x_t.shape = {F, N};
  x_t.strides = {1, F};
  KernelView y_t = e_y.view;
  y_t.shape = {F, N};
  y_t.strides = {N, 1};
  cases.push_back({"copy transpose [2048, 3072] -> [3072, 2048]", 2 * e_bytes, "GB/s",
                   [&, x_t, y_t] { be.copy(y_t, x_t); }});
  Buf e_bf16({N, F}, DType::bf16);
  cases.push_back({"copy float32 -> bfloat16 [2048, 3072]", 1.5 * e_bytes, "GB/s",
                   [&] { be.copy(e_bf16.view, e_x.view); }});
  cases.push_back({"copy bfloat16 -> float32 [2048, 3072]", 1.5 * e_bytes, "GB/s",
                   [&] { be.copy(e_y.view, e_bf16.view); }});
  Buf e_sum({N});
  cases.push_back({"sum last dim [2048, 3072]", e_bytes, "GB/s",
                   [&] { be.reduce(ReduceOp::sum, e_sum.view, e_x.view, N, F, 1); }});
  Buf e_colsum({F});
  cases.push_back({"sum first dim [2048, 3072]", e_bytes, "GB/s",
                   [&] { be.reduce(ReduceOp::sum, e_colsum.view, e_x.view, 1, N, F); }});
  Buf e_amax({N}, DType::i64);
  cases.push_back({"argmax last dim [2048, 3072]", e_bytes, "GB/s",
                   [&] { be.reduce(ReduceOp::argmax, e_amax.view, e_x.view, N, F, 1); }});
  cases.push_back({"dropout mask [2048, 3072] (bernoulli_scaled)", e_bytes, "GB/s",
                   [&] { be.random(RandomKind::bernoulli_scaled, e_y.view, 0.1, 0, 1234, 0); }});
  cases.push_back({"dropout [2048, 3072] (fused, p 0.1)", 2 * e_bytes, "GB/s",
                   [&] { be.dropout(e_y.view, e_x.view, 0.1, 1234, 0); }});

  // ---- embedding lookup and its gradient ----------------------------------------------------
  const std::int64_t vocab = 30522;
  Buf table({vocab, C}), emb({N, C}), idx({N}, DType::i64), gtable({vocab, C});
  table.randomize(14);
  {
    std::mt19937 rng(15);
    auto* p = static_cast<std::int64_t*>(idx.view.data);
    for (std::int64_t i = 0; i < N; ++i) p[i] = std::uniform_int_distribution<std::int64_t>(0, vocab - 1)(rng);
  }
  cases.push_back({"embedding index_select 2048 of [30522, 768]", 2 * ln_bytes, "GB/s",
                   [&] { be.index_select(emb.view, table.view, idx.view, 1, vocab, C); }});
  cases.push_back({"embedding index_add 2048 into [30522, 768]", 3 * ln_bytes, "GB/s",
                   [&] { be.index_add(gtable.view, emb.view, idx.view, 1, vocab, C, -1); }});

  // ---- optimizer over 4M parameters ----------------------------------------------------------
  const std::int64_t P = 4 * 1024 * 1024;
  Buf p({P}), g({P}), m({P}), v({P});
  p.randomize(16);
  g.randomize(17);
  std::memset(m.view.data, 0, P * 4);
  std::memset(v.view.data, 0, P * 4);
  AdamArgs adam;
  adam.lr = 1e-4;
  adam.weight_decay = 0.01;
  adam.decoupled_weight_decay = true;
  cases.push_back({"adamw step 4M params", 7 * f4 * P, "GB/s",
                   [&] { be.adam_step(p.view, g.view, m.view, v.view, adam); }});

  // ---- zeros of a 24 MiB activation: allocation + fill (caching allocator vs malloc) ---------
  const std::size_t act_bytes = static_cast<std::size_t>(N * F) * 4;
  cases.push_back({"zeros [2048, 3072] (allocate + fill)", static_cast<double>(act_bytes), "GB/s", [&] {
                     auto mem = be.allocate(act_bytes, 0);
                     KernelView z = e_x.view;
                     z.data = mem.get();
                     be.fill(z, 0.0);
                   }});
  cases.push_back({"zeros [2048, 3072] (allocate + fill) [aligned_alloc, no cache]", static_cast<double>(act_bytes),
                   "GB/s", [&] {
                     auto mem = host::allocate_aligned(act_bytes);
                     KernelView z = e_x.view;
                     z.data = mem.get();
                     be.fill(z, 0.0);
                   }});

  if (!opt.tsv)
    std::printf("tinyxf cpu backend, %d threads (xsimd %s, %zu float lanes)\n%-58s %10s %12s\n", num_threads(),
                xsimd::default_arch::name(), static_cast<std::size_t>(cpu::kLanes<float>), "case", "median ms",
                "throughput");
  for (const Case& c : cases) {
    if (!opt.filter.empty() && c.name.find(opt.filter) == std::string::npos) continue;
    const double ms = median_ms(c.fn, opt.min_time);
    const double rate = c.work / (ms * 1e-3) / 1e9;
    if (opt.tsv)
      std::printf("%s\t%.4f\t%.2f\t%s\n", c.name.c_str(), ms, rate, c.unit);
    else
      std::printf("%-58s %10.3f %8.1f %s\n", c.name.c_str(), ms, rate, c.unit);
    std::fflush(stdout);
  }
  return 0;
}
