// The CUDA backend beyond the conformance suite: device discovery and errors, the caching
// allocator, host<->device round trips of every dtype, ops on Device::cuda(0) against the CPU
// backend, identical dropout masks, TF32, and the DistilBERT golden checks (forward, gradients,
// three Adam steps) on the GPU.
//
// Without a usable GPU (no device, no driver) the whole run prints "SKIPPED: <reason>" and exits
// with 77, which CTest reports as skipped — never as passed.
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // for the listener below (Catch2's main is shared)
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "../tensor/bf16_pipeline.hpp"
#include "tinyxf/backends/cuda.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {

// Runs before any test case: skip the whole executable when there is no GPU.
struct SkipWithoutGpu : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(Catch::TestRunInfo const&) override {
    Backend* cuda = runtime().backends().find(DeviceType::cuda);
    if (cuda == nullptr) {
      std::cout << "SKIPPED: the CUDA backend is not registered in this build\n";
      std::exit(77);
    }
    if (!cuda->available()) {
      std::cout << "SKIPPED: " << cuda->unavailable_reason() << "\n";
      std::exit(77);
    }
    std::cout << "cuda tests on " << backends::cuda_device_description(0) << "\n";
  }
};
CATCH_REGISTER_LISTENER(SkipWithoutGpu)

const Device kGpu = Device::cuda(0);
const fs::path kGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden";

// |got - want| <= atol + rtol * |want| everywhere; returns a description of the first miss.
template <class T>
std::string mismatch(const std::vector<T>& got, const std::vector<T>& want, double atol, double rtol) {
  if (got.size() != want.size()) return "size " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::isnan(g) && std::isnan(w)) continue;
    if (!(std::abs(g - w) <= atol + rtol * std::abs(w)))
      return "element " + std::to_string(i) + ": " + std::to_string(g) + " vs " + std::to_string(w);
  }
  return {};
}

template <Element T>
std::vector<T> sample_values(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>((i * 37 + 11) % 251);
  if constexpr (std::is_signed_v<T>)
    for (std::size_t i = 0; i < n; i += 3) v[i] = static_cast<T>(-v[i]);
  return v;
}

template <Element T>
void check_round_trip(std::size_t n) {
  INFO(dtype_name(dtype_v<T>) << " x " << n);
  const auto values = sample_values<T>(n);
  auto gpu = Tensor::from_vector(values, kGpu);
  CHECK(gpu.device() == kGpu);
  CHECK(gpu.template to_vector<T>() == values);
  CHECK(gpu.to(Device::cpu()).template to_vector<T>() == values);
  CHECK(Tensor::from_vector(values, Device::cpu()).to(kGpu).template to_vector<T>() == values);
  if (n >= 6) {  // a strided view made contiguous on the device
    auto m = gpu.narrow(0, 0, static_cast<std::int64_t>(n / 2 * 2)).reshape({2, -1}).t().contiguous();
    auto host = Tensor::from_vector(values, Device::cpu())
                    .narrow(0, 0, static_cast<std::int64_t>(n / 2 * 2))
                    .reshape({2, -1})
                    .t()
                    .contiguous();
    CHECK(m.template to_vector<T>() == host.template to_vector<T>());
  }
}

}  // namespace

TEST_CASE("device discovery and device errors", "[cuda]") {
  const int count = backends::cuda_device_count();
  REQUIRE(count >= 1);
  CHECK_FALSE(backends::cuda_device_description(0).empty());
  CHECK_THROWS_WITH(Tensor::zeros({2}, Device::cuda(count)),
                    Catch::Contains("device index " + std::to_string(count)) && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(Tensor::zeros({2}, Device::cuda(-1)), Catch::Contains("out of range"));
  CHECK(Device::parse("cuda:0") == kGpu);
  // Data pointers of device tensors are not host-accessible.
  auto t = Tensor::ones({3}, kGpu);
  CHECK_THROWS_WITH(t.data<float>(), Catch::Contains("not host-accessible"));
  CHECK(t.at<float>({1}) == 1.0f);
}

TEST_CASE("each GPU has its own backend instance, with its own stream", "[cuda][devices]") {
  const int count = backends::cuda_device_count();
  CHECK(device_count(DeviceType::cuda) == count);
  Backend& first = backend_for(kGpu);
  CHECK(first.device() == kGpu);
  CHECK(&backend_for(Device::cuda(0)) == &first);
  CHECK(backends::cuda_stream(0) != nullptr);
  CHECK(backends::cuda_stream(0) == backends::cuda_stream(0));
  CHECK_THROWS_WITH(backend_for(Device::cuda(count)), Catch::Contains("no device cuda:" + std::to_string(count)));
  // One instance per GPU: a second would put that GPU's work on a second stream.
  CHECK_THROWS_WITH(backends::CudaBackend(0), Catch::Contains("already has its instance"));
  if (count < 2) return;
  Backend& second = backend_for(Device::cuda(1));
  CHECK(&second != &first);
  CHECK(second.device() == Device::cuda(1));
  CHECK(backends::cuda_stream(1) != backends::cuda_stream(0));
  // Ops on cuda:1 run there, cuBLAS included, while cuda:0 is the current device.
  Generator gen(5);
  const auto a = Tensor::randn({33, 47}, Device::cpu(), gen), b = Tensor::randn({47, 29}, Device::cpu(), gen);
  const auto on_second = matmul(a.to(Device::cuda(1)), b.to(Device::cuda(1))) + 1.0;
  CHECK(on_second.device() == Device::cuda(1));
  const auto want = (matmul(a, b) + 1.0).to_vector<float>();
  const auto got = on_second.to(Device::cpu()).to_vector<float>();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-4f * (1.0f + std::abs(want[i])));
  CHECK(on_second.to(Device::cuda(0)).device() == kGpu);  // GPU to GPU through the host
}

TEST_CASE("the caching allocator reuses freed blocks", "[cuda][allocator]") {
  backends::cuda_empty_cache();
  const auto before = backends::cuda_memory_stats(0);
  CHECK(before.bytes_cached == 0);
  {
    auto a = Tensor::zeros({1000, 257}, kGpu);  // ~1 MB
    const auto during = backends::cuda_memory_stats(0);
    CHECK(during.bytes_in_use >= before.bytes_in_use + 1000 * 257 * sizeof(float));
  }
  const auto freed = backends::cuda_memory_stats(0);
  CHECK(freed.bytes_cached >= 1000 * 257 * sizeof(float));
  {
    auto b = Tensor::zeros({257, 1000}, kGpu);  // same size: served from the cache
    const auto reused = backends::cuda_memory_stats(0);
    CHECK(reused.device_allocations == freed.device_allocations);
    CHECK(reused.cache_hits > freed.cache_hits);
  }
  backends::cuda_empty_cache();
  CHECK(backends::cuda_memory_stats(0).bytes_cached == 0);
  // Zero-size tensors still get a valid allocation.
  auto empty = Tensor::zeros({0, 4}, kGpu);
  CHECK(empty.to_vector<float>().empty());
}

TEST_CASE("host <-> device round trips of every dtype", "[cuda][copy]") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1031}, std::size_t{1} << 20}) {
    check_round_trip<float>(n);
    check_round_trip<double>(n);
    check_round_trip<std::int64_t>(n);
    check_round_trip<std::int32_t>(n);
    check_round_trip<std::uint8_t>(n);
  }
  // dtype conversion on the device
  auto ints = Tensor::from_vector(std::vector<std::int64_t>{-3, 0, 7, 300}, kGpu);
  CHECK(ints.to(kFloat32).to_vector<float>() == std::vector<float>{-3, 0, 7, 300});
  CHECK(ints.to(kInt32).to_vector<std::int32_t>() == std::vector<std::int32_t>{-3, 0, 7, 300});
  CHECK(Tensor::from_vector(std::vector<float>{1.5f, -2.5f}, kGpu).to(kFloat64).to_vector<double>() == std::vector<double>{1.5, -2.5});
}

TEST_CASE("ops on Device::cuda(0) match the cpu backend, forward and backward", "[cuda][ops]") {
  Generator gen(7);
  auto x_cpu = Tensor::randn({4, 9, 32}, Device::cpu(), gen);
  auto w_cpu = Tensor::randn({32, 48}, Device::cpu(), gen);
  auto g_cpu = Tensor::randn({32}, Device::cpu(), gen);
  auto b_cpu = Tensor::randn({32}, Device::cpu(), gen);
  auto ids_cpu = Tensor::from_vector(std::vector<std::int64_t>{3, 1, 0, 3, 5, 2}, {2, 3}, Device::cpu());
  auto emb_cpu = Tensor::randn({6, 32}, Device::cpu(), gen);
  auto target_cpu = Tensor::from_vector(std::vector<std::int64_t>{1, 47, 3, -100}, Device::cpu());

  struct Result {
    std::vector<float> out, gx, gw, gg, gb, gemb;
  };
  auto run = [&](Device d) {
    auto x = x_cpu.to(d).detach().set_requires_grad(true);
    auto w = w_cpu.to(d).detach().set_requires_grad(true);
    auto g = g_cpu.to(d).detach().set_requires_grad(true);
    auto b = b_cpu.to(d).detach().set_requires_grad(true);
    auto emb = emb_cpu.to(d).detach().set_requires_grad(true);
    auto h = layer_norm(x + embedding(ids_cpu.to(d), emb, 0).reshape({1, 6, 32}).narrow(1, 0, 1), {32}, g, b, 1e-12);
    auto scores = matmul(h, h.transpose(-1, -2)) / 4.0f;           // batched GEMM, transposed operand
    auto mixed = matmul(softmax(scores, -1), gelu(h));                // [4, 9, 32]
    auto logits = matmul(mixed, w).select(1, 0);                      // [4, 48]
    auto loss = cross_entropy(logits, target_cpu.to(d)) + mean(tanh(logits)) + sum(max(logits, -1));
    loss.backward();
    return Result{logits.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(), g.grad().to_vector<float>(),
                  b.grad().to_vector<float>(), emb.grad().to_vector<float>()};
  };
  const Result want = run(Device::cpu()), got = run(kGpu);
  CHECK(mismatch(got.out, want.out, 1e-4, 1e-4).empty());
  CHECK(mismatch(got.gx, want.gx, 1e-4, 1e-3).empty());
  CHECK(mismatch(got.gw, want.gw, 1e-4, 1e-3).empty());
  CHECK(mismatch(got.gg, want.gg, 1e-4, 1e-3).empty());
  CHECK(mismatch(got.gb, want.gb, 1e-4, 1e-3).empty());
  CHECK(mismatch(got.gemb, want.gemb, 1e-4, 1e-3).empty());
}

TEST_CASE("large reductions, softmax rows and layer_norm rows take the split / block paths", "[cuda][ops]") {
  Generator gen(11);
  auto big = Tensor::randn({3, 70000}, TensorOptions(Device::reference()).dtype(kFloat64), gen);
  auto col = Tensor::randn({9000, 130}, TensorOptions(Device::reference()).dtype(kFloat64), gen);
  for (auto* t : {&big, &col}) {
    auto gpu = t->to(kFloat32).to(kGpu);
    auto ref = t->to(kFloat32);
    CHECK(mismatch(sum(gpu, {0}).to_vector<float>(), sum(ref, {0}).to_vector<float>(), 1e-3, 1e-4).empty());
    CHECK(mismatch(sum(gpu).to_vector<float>(), sum(ref).to_vector<float>(), 1e-2, 1e-4).empty());
    CHECK(argmax(gpu, -1).to_vector<std::int64_t>() == argmax(ref, -1).to_vector<std::int64_t>());
    CHECK(argmin(gpu, 0).to_vector<std::int64_t>() == argmin(ref, 0).to_vector<std::int64_t>());
    CHECK(mismatch(softmax(gpu, -1).to_vector<float>(), softmax(ref, -1).to_vector<float>(), 1e-6, 1e-4).empty());
    CHECK(mismatch(layer_norm(gpu, {gpu.shape().back()}).to_vector<float>(), layer_norm(ref, {ref.shape().back()}).to_vector<float>(),
                   1e-4, 1e-4)
              .empty());
  }
  // NaN and ties: first occurrence, NaN wins (as the reference).
  auto special = Tensor::from_vector(std::vector<float>{1, 5, 5, 2, NAN, 3, 7, NAN}, {2, 4}, kGpu);
  CHECK(argmax(special, -1).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
  CHECK(std::isnan(max(special, -1).to_vector<float>()[1]));
}

TEST_CASE("dropout masks and random tensors are identical to the reference backend", "[cuda][random]") {
  for (double p : {0.1, 0.5}) {
    Generator g1(99), g2(99);
    auto ones_gpu = Tensor::ones({37, 129}, kGpu);
    auto ones_ref = Tensor::ones({37, 129}, Device::reference());
    CHECK(dropout(ones_gpu, p, true, g1).to_vector<float>() == dropout(ones_ref, p, true, g2).to_vector<float>());
  }
  Generator g1(5), g2(5);
  CHECK(Tensor::uniform({1000}, -2.0, 3.0, TensorOptions(kGpu).dtype(kFloat64), g1).to_vector<double>() ==
        Tensor::uniform({1000}, -2.0, 3.0, TensorOptions(Device::reference()).dtype(kFloat64), g2).to_vector<double>());
  auto normal_gpu = Tensor::randn({1000}, TensorOptions(kGpu).dtype(kFloat64), g1).to_vector<double>();
  auto normal_ref = Tensor::randn({1000}, TensorOptions(Device::reference()).dtype(kFloat64), g2).to_vector<double>();
  CHECK(mismatch(normal_gpu, normal_ref, 1e-12, 1e-12).empty());
}

TEST_CASE("index and loss errors name the bad value, and the device stays usable", "[cuda][errors]") {
  using Catch::Contains;
  const auto ids = [](std::vector<std::int64_t> v) { return Tensor::from_vector(v, kGpu); };
  auto x = Tensor::ones({4, 3}, kGpu);
  SECTION("checked on the device, raised at the next synchronization") {
    REQUIRE_FALSE(backends::cuda_sync_checks_enabled());
    Tensor y;
    CHECK_NOTHROW(y = index_select(x, 0, ids({0, 4})));  // no stream sync in the op
    CHECK_THROWS_WITH(y.to(Device::cpu()), Contains("index_select: index 4 at position 1") &&
                                               Contains("size 4") && Contains("next synchronization, copy_to_host"));
    // Raised once; the bad row was gathered as zeros, the good one as it is.
    CHECK(y.to_vector<float>() == std::vector<float>{1, 1, 1, 0, 0, 0});
    // Two failures before one synchronization: the first op's first bad position is reported.
    auto a = index_select(x, 0, ids({1, -1, -2}));
    auto b = index_select(x, 0, ids({9}));
    CHECK_THROWS_WITH(runtime().synchronize(kGpu), Contains("index -1 at position 1") && Contains("synchronize"));
    CHECK_NOTHROW(runtime().synchronize(kGpu));
    // Targets of cross_entropy; ignored rows are never range-checked.
    auto loss = cross_entropy(Tensor::zeros({2, 3}, kGpu), ids({0, 3}));
    CHECK_THROWS_WITH(loss.item(), Contains("cross_entropy: Target 3 is out of bounds (row 1, 3 classes)"));
    auto ok = cross_entropy(Tensor::zeros({2, 3}, kGpu), ids({-100, 2}));
    CHECK(std::abs(ok.item() - std::log(3.0f)) < 1e-6);
    // The embedding's backward scatters with the same check (index_add): bad rows add nothing.
    auto weight = Tensor::ones({4, 2}, kGpu).set_requires_grad(true);
    auto out = embedding(ids({3, 5}), weight);
    CHECK_THROWS_WITH(runtime().synchronize(kGpu), Contains("index 5 at position 1"));
    sum(out).backward();
    CHECK_THROWS_WITH(weight.grad().to_vector<float>(), Contains("index_add: index 5 at position 1"));
    CHECK(weight.grad().to_vector<float>() == std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1});
    // More checks between two synchronizations than the record numbers (4096): the earlier
    // ones are read on the way, the failure after them is still reported with its value.
    auto good = ids({2});
    for (int i = 0; i < 5000; ++i) (void)index_select(x, 0, i == 4500 ? ids({7}) : good);
    CHECK_THROWS_WITH(runtime().synchronize(kGpu), Contains("index 7 at position 0"));
    // An empty gather still checks its indices, as on the other backends.
    (void)index_select(Tensor::ones({4, 0}, kGpu), 0, ids({8}));
    CHECK_THROWS_WITH(runtime().synchronize(kGpu), Contains("index 8"));
  }
  SECTION("synchronous checks raise in the op") {
    backends::set_cuda_sync_checks(true);
    struct Restore {
      ~Restore() { backends::set_cuda_sync_checks(false); }
    } restore;
    CHECK_THROWS_WITH(index_select(x, 0, ids({0, 4})),
                      Contains("index 4") && Contains("position 1") && !Contains("synchronization"));
    CHECK_THROWS_WITH(index_select(x, 0, ids({-1})), Contains("index -1"));
    CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3}, kGpu), ids({0, 3})),
                      Contains("Target 3 is out of bounds") && Contains("row 1"));
  }
  CHECK(sum(x).item() == 12.0f);
}

TEST_CASE("TF32 matmul is opt-in", "[cuda][tf32]") {
  Generator gen(3);
  auto a = Tensor::randn({256, 512}, Device::cpu(), gen), b = Tensor::randn({512, 128}, Device::cpu(), gen);
  const auto want = matmul(a, b).to_vector<float>();
  const bool before = backends::cuda_tf32_enabled();
  backends::set_cuda_tf32(false);
  CHECK(mismatch(matmul(a.to(kGpu), b.to(kGpu)).to_vector<float>(), want, 1e-3, 1e-4).empty());
  backends::set_cuda_tf32(true);
  CHECK(mismatch(matmul(a.to(kGpu), b.to(kGpu)).to_vector<float>(), want, 0.5, 2e-2).empty());  // ~10-bit mantissa
  backends::set_cuda_tf32(before);
}

// ---- DistilBERT goldens on the GPU (tolerances as tests/models/distilbert_test.cpp) --------------
namespace {

struct Tolerance {
  double atol, rtol, max_nmse;
};
constexpr Tolerance kLogitsTol{1e-5, 0.0, 1e-10};
constexpr Tolerance kHiddenTol{1e-4, 0.0, 1e-10};
constexpr Tolerance kGradTol{1e-6, 1e-4, 1e-9};

void check_close(const std::string& what, const Tensor& ours, const Tensor& golden, const Tolerance& tol) {
  INFO(what << ": ours " << shape_str(ours.shape()) << ", golden " << shape_str(golden.shape()));
  REQUIRE(ours.shape() == golden.shape());
  const auto a = ours.to_vector<float>(), b = golden.to_vector<float>();
  double num = 0, den = 0, worst = 0;
  bool within = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, d);
    within = within && d <= tol.atol + tol.rtol * std::abs(static_cast<double>(b[i]));
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  const double nmse = den > 0 ? num / den : (num > 0 ? INFINITY : 0.0);
  INFO("max|err| " << worst << ", NMSE " << nmse);
  CHECK(within);
  CHECK(nmse <= tol.max_nmse);
}

std::map<std::string, Tensor> load_named(const fs::path& file) {
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : io::load_float_tensors(file)) out.emplace(name, t);
  return out;
}

struct GoldenBatch {
  Tensor input_ids, attention_mask, labels;
};
GoldenBatch load_golden_batch(const fs::path& dir) {
  const io::SafetensorsFile st(dir / "batch.safetensors");
  return {io::load_int64_tensor(st, "input_ids", kGpu), io::load_int64_tensor(st, "attention_mask", kGpu),
          io::load_int64_tensor(st, "labels", kGpu)};
}

}  // namespace

TEST_CASE("DistilBERT on the GPU matches transformers: logits, loss, hidden states, gradients", "[cuda][golden]") {
  for (const char* name : {"distilbert_tiny", "distilbert_seq128"}) {
    SECTION(name) {
      const fs::path dir = kGolden / name;
      models::PretrainedOptions options;
      options.device = kGpu;
      auto [model, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(dir, options);
      for (const auto& [pname, p] : model->named_parameters()) REQUIRE(p.device() == kGpu);
      const GoldenBatch batch = load_golden_batch(dir);
      const auto expected = load_named(dir / "expected.safetensors");
      auto out = model->forward(batch.input_ids, batch.attention_mask, batch.labels, true);
      check_close("logits", out.logits, expected.at("logits"), kLogitsTol);
      check_close("loss", out.loss.reshape({1}), expected.at("loss"), kLogitsTol);
      REQUIRE(out.hidden_states.size() == 3);
      for (std::size_t i = 0; i < out.hidden_states.size(); ++i)
        check_close("hidden_state." + std::to_string(i), out.hidden_states[i],
                    expected.at("hidden_state." + std::to_string(i)), kHiddenTol);
      out.loss.backward();
      std::size_t compared = 0;
      for (const auto& [pname, param] : model->named_parameters()) {
        INFO("grad." << pname);
        REQUIRE(param.grad().defined());
        REQUIRE(param.grad().device() == kGpu);
        ++compared;
        if (pname.ends_with("attention.k_lin.bias")) {  // mathematically zero: compare absolutely
          double worst = 0;
          for (float v : param.grad().to_vector<float>()) worst = std::max(worst, static_cast<double>(std::abs(v)));
          CHECK(worst <= 1e-6);
        } else {
          check_close("grad." + pname, param.grad(), expected.at("grad." + pname), kGradTol);
        }
      }
      CHECK(compared == 40);
    }
  }
}

TEST_CASE("three Adam steps of DistilBERT on the GPU match torch.optim.Adam", "[cuda][golden][optim]") {
  const fs::path dir = kGolden / "distilbert_tiny";
  models::PretrainedOptions options;
  options.device = kGpu;
  auto [model, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(dir, options);
  const GoldenBatch batch = load_golden_batch(dir);
  const auto expected = load_named(dir / "train_adam.safetensors");
  optim::Adam adam(model->parameters(), optim::AdamOptions{});
  for (int step = 0; step < 3; ++step) {
    model->zero_grad();
    auto out = model->forward(batch.input_ids, batch.attention_mask, batch.labels);
    check_close("loss." + std::to_string(step), out.loss.reshape({1}), expected.at("loss." + std::to_string(step)),
                kLogitsTol);
    out.loss.backward();
    adam.step();
  }
  std::size_t compared = 0;
  for (const auto& [pname, param] : model->named_parameters()) {
    ++compared;
    REQUIRE(param.device() == kGpu);  // the update ran on the device
    if (pname.ends_with("attention.k_lin.bias")) {
      // Its gradient is rounding noise, which Adam normalizes to a step of up to lr each time:
      // only the bound |change| <= 3 * lr is meaningful.
      INFO("param." << pname);
      CHECK(mismatch(param.to_vector<float>(), expected.at("param." + pname).to_vector<float>(), 3e-3, 0.0).empty());
    } else {
      // Updates are 1.5e-3..3e-3; fp32 noise <= 4.2e-7 (tests/reference/README.md).
      check_close("param." + pname, param, expected.at("param." + pname), {2e-6, 0.0, 1e-10});
    }
  }
  CHECK(compared == 40);
}

TEST_CASE("bool, bfloat16 and float16 conversions and fills on the device", "[cuda][dtype]") {
  auto x = Tensor::from_vector(std::vector<float>{0.0f, 0.5f, -2.5f, 1.0f + 0x1p-8f, 65520.0f}, kGpu);
  const auto cpu = x.to(Device::cpu());
  CHECK(x.to(kBool).dtype() == kBool);
  CHECK(x.to(kBool).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 1, 1});
  CHECK(x.to(kBFloat16).to(kFloat32).to_vector<float>() == cpu.to(kBFloat16).to(kFloat32).to_vector<float>());
  CHECK(x.to(kFloat16).to(kFloat64).to_vector<double>() == cpu.to(kFloat16).to(kFloat64).to_vector<double>());
  CHECK(x.to(kBFloat16).to(Device::cpu()).to(kFloat32).to_vector<float>()[3] == 1.0f);  // tie: down to even
  CHECK(Tensor::full({3}, 0.1, TensorOptions(kGpu).dtype(kBFloat16)).to(kFloat32).to_vector<float>() ==
        std::vector<float>(3, float(BFloat16(0.1f))));
  CHECK(Tensor::full({2}, 0.25, TensorOptions(kGpu).dtype(kBool)).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{1, 1});
  auto mask = lt(x, 0.25);
  CHECK(mask.dtype() == kBool);
  CHECK(where(mask, x, Tensor::zeros({}, kGpu)).to_vector<float>() == std::vector<float>{0, 0, -2.5f, 0, 0});
  CHECK((x.to(kBFloat16) * 2.0).to(kFloat32).to_vector<float>() == (cpu.to(kBFloat16) * 2.0).to(kFloat32).to_vector<float>());
}

TEST_CASE("bfloat16/float16 matmul on the tensor cores, and a linear layer under autocast", "[cuda][dtype][autocast]") {
  Generator gen(5);
  auto a = Tensor::randn({3, 64, 96}, Device::cpu(), gen), b = Tensor::randn({3, 96, 40}, Device::cpu(), gen);
  for (DType d : {kBFloat16, kFloat16}) {
    INFO(dtype_name(d));
    // The cpu backend sums the products of the same 16-bit values in float32 and rounds once: the
    // GPU may differ by an ulp of the 16-bit result after a different summation order.
    const auto want = matmul(a.to(d), b.to(d)).to(kFloat32).to_vector<float>();
    const auto got = matmul(a.to(d).to(kGpu), b.to(d).to(kGpu));
    CHECK(got.dtype() == d);
    CHECK(mismatch(got.to(kFloat32).to_vector<float>(), want, 0.25, 1e-2).empty());
    const auto t = matmul(a.to(d).to(kGpu).transpose(1, 2).contiguous().transpose(1, 2), b.to(d).to(kGpu));
    CHECK(mismatch(t.to(kFloat32).to_vector<float>(), want, 0.25, 1e-2).empty());
  }
  nn::Linear linear(96, 40, true, gen);
  const auto x = Tensor::randn({8, 96}, Device::cpu(), gen);
  const auto want = linear.forward(x).to_vector<float>();
  linear.to(kGpu);
  auto xg = x.to(kGpu).requires_grad_(true);
  Tensor y;
  {
    AutocastGuard autocast(DeviceType::cuda, kBFloat16);
    y = linear.forward(xg);
  }
  CHECK(y.dtype() == kBFloat16);
  CHECK(mismatch(y.to(kFloat32).to_vector<float>(), want, 0.1, 2e-2).empty());
  y.to(kFloat32).sum().backward();
  REQUIRE(linear.weight.grad().defined());
  CHECK(linear.weight.grad().dtype() == kFloat32);
  CHECK(xg.grad().dtype() == kFloat32);
}

TEST_CASE("the multi-tensor Adam step equals one adam_step per parameter", "[cuda][optim]") {
  // 30 parameters (two launches of up to 24), sizes from empty to 70k elements, per-parameter
  // arguments (AdamW with decay, Adam with L2, different steps and learning rates).
  Backend& cuda = backend_for(kGpu);
  Generator gen(17);
  std::vector<std::array<Tensor, 4>> multi, single;
  std::vector<AdamArgs> args;
  for (int i = 0; i < 30; ++i) {
    const std::int64_t n = i == 3 ? 0 : (i * 7919) % 70001 + 1;
    std::array<Tensor, 4> t;
    for (int j = 0; j < 4; ++j) t[static_cast<std::size_t>(j)] = Tensor::randn({n}, kGpu, gen);
    t[3] = abs(t[3]);  // exp_avg_sq >= 0
    multi.push_back(t);
    single.push_back({t[0].clone(), t[1].clone(), t[2].clone(), t[3].clone()});
    AdamArgs a;
    a.lr = 1e-3 * (1 + i % 4);
    a.weight_decay = i % 3 == 0 ? 0.0 : 0.01;
    a.decoupled_weight_decay = i % 2 == 0;
    a.step = 1 + i % 5;
    args.push_back(a);
  }
  std::vector<AdamParamViews> views;
  for (std::size_t i = 0; i < multi.size(); ++i)
    views.push_back({multi[i][0].impl()->view(), multi[i][1].impl()->view(), multi[i][2].impl()->view(),
                     multi[i][3].impl()->view(), args[i]});
  cuda.multi_tensor_adam_step(views);
  for (std::size_t i = 0; i < single.size(); ++i)
    cuda.adam_step(single[i][0].impl()->view(), single[i][1].impl()->view(), single[i][2].impl()->view(),
                   single[i][3].impl()->view(), args[i]);
  for (std::size_t i = 0; i < multi.size(); ++i) {
    INFO("parameter " << i);
    for (std::size_t j : {0u, 2u, 3u}) CHECK(multi[i][j].to_vector<float>() == single[i][j].to_vector<float>());
  }
}

TEST_CASE("bfloat16 activations stay 16-bit through elementwise, dropout, bias_gelu and attention", "[cuda][dtype][autocast]") {
  // The GPU computes 16-bit floats itself (no float32 round trip). Its output equals the cpu's
  // widen-compute-round path to within an ulp or two of bfloat16; its gradients sum many rounded
  // terms in another order than the cpu, so they are held to the yardstick of bf16_pipeline.hpp
  // (within bf16 rounding noise of the float64 result), which the cpu's own avx512 and avx2 bf16
  // gradients also pass while differing from each other by more than 5 % in places.
  REQUIRE(backend_for(kGpu).computes_16bit_floats());
  using testing::beyond_bf16_noise;
  const auto truth = testing::run_bf16_pipeline(Device::cpu(), kFloat64);
  const auto cpu = testing::run_bf16_pipeline(Device::cpu(), kBFloat16);
  const auto got = testing::run_bf16_pipeline(kGpu, kBFloat16);
  CHECK(got.hidden_dtype == kBFloat16);
  CHECK(got.out_dtype == kBFloat16);
  const std::string out = mismatch(got.out, cpu.out, 2e-2, 2e-2), gx = beyond_bf16_noise(got.grad_x, truth.grad_x),
                    gb = beyond_bf16_noise(got.grad_bias, truth.grad_bias);
  INFO("output vs cpu: " << out << "; grad x vs float64: " << gx << "; grad bias vs float64: " << gb);
  CHECK(out.empty());
  CHECK(gx.empty());
  CHECK(gb.empty());
}

TEST_CASE("flash attention (bf16, f16, tf32) is within rounding noise of the float64 result", "[cuda][flash]") {
  // Forward and backward through set_cuda_flash_attention(true) with a key-padding mask (one batch
  // fully masked for two heads' rows via a [B, H, L, S] mask), causal and dropout, sequence
  // lengths off the 64-tiles and head dims needing padding; the truth is the cpu's float64
  // attention of the same rounded inputs and the same dropout stream.
  const bool before_flash = backends::cuda_flash_attention_enabled(), before_tf32 = backends::cuda_tf32_enabled();
  backends::set_cuda_flash_attention(true);
  backends::set_cuda_tf32(true);
  struct Shape4 {
    std::int64_t B, H, L, S, E;
  };
  for (const DType dtype : {kBFloat16, kFloat16, kFloat32})
    for (const Shape4 s : {Shape4{2, 3, 70, 90, 40}, Shape4{2, 2, 128, 128, 64}, Shape4{1, 2, 33, 130, 100}})
      for (const bool causal : {false, true}) {
        INFO(dtype_name(dtype) << " B=" << s.B << " H=" << s.H << " L=" << s.L << " S=" << s.S << " E=" << s.E
                               << (causal ? " causal" : ""));
        Generator gen(31);
        const auto q = Tensor::randn({s.B, s.H, s.L, s.E}, Device::cpu(), gen).to(dtype);
        const auto k = Tensor::randn({s.B, s.H, s.S, s.E}, Device::cpu(), gen).to(dtype);
        const auto v = Tensor::randn({s.B, s.H, s.S, s.E}, Device::cpu(), gen).to(dtype);
        const auto go = Tensor::randn({s.B, s.H, s.L, s.E}, Device::cpu(), gen).to(dtype);
        std::vector<std::uint8_t> keep(static_cast<std::size_t>(s.B * s.H * s.L * s.S), 1);
        for (std::int64_t j = s.S - 9; j < s.S; ++j)  // batch 0 pads its last 9 keys
          for (std::int64_t h = 0; h < s.H; ++h)
            for (std::int64_t i = 0; i < s.L; ++i) keep[((0 * s.H + h) * s.L + i) * s.S + j] = 0;
        for (std::int64_t j = 0; j < s.S; ++j) keep[((s.B - 1) * s.H * s.L + 5) * s.S + j] = 0;  // one row fully masked
        const auto mask = Tensor::from_vector(keep, Device::cpu()).reshape({s.B, s.H, s.L, s.S}).to(kBool);
        const auto run = [&](const Device& device, DType compute) {
          auto qd = q.to(compute).to(device).detach().set_requires_grad();
          auto kd = k.to(compute).to(device).detach().set_requires_grad();
          auto vd = v.to(compute).to(device).detach().set_requires_grad();
          Generator drop(8);
          auto out = scaled_dot_product_attention(qd, kd, vd, mask.to(device), 0.1, causal, std::nullopt, drop);
          (out * go.to(compute).to(device)).sum().backward();
          return std::vector<std::vector<float>>{out.to(kFloat32).to_vector<float>(), qd.grad().to(kFloat32).to_vector<float>(),
                                                 kd.grad().to(kFloat32).to_vector<float>(),
                                                 vd.grad().to(kFloat32).to_vector<float>()};
        };
        const auto truth = run(Device::cpu(), kFloat64), got = run(kGpu, dtype);
        // bf16 rounds P∘M and dS to 8 bits for the products, f16 and tf32 to 11.
        const double tolerance = dtype == kBFloat16 ? 2e-2 : 4e-3;
        const char* names[] = {"out", "grad q", "grad k", "grad v"};
        for (int i = 0; i < 4; ++i) {
          const std::string miss = testing::beyond_bf16_noise(got[i], truth[i], tolerance, 4 * tolerance);
          INFO(names[i] << ": " << miss);
          CHECK(miss.empty());
        }
      }
  backends::set_cuda_flash_attention(before_flash);
  backends::set_cuda_tf32(before_tf32);
}
