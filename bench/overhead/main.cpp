// tinyxf_bench_overhead: what the front end costs per op, without the kernels. At 32 x 128 a
// distilbert-base training step on a GPU is launch-bound on both tinyxf and PyTorch eager
// (docs/cuda.md): the step takes as long as the host needs to issue its ~2,000 kernels. This
// program runs the step of tinyxf-bench-cuda-train (forward with labels, backward, AdamW; the
// same fused ops the CUDA backend declares) on a "null" device whose backend does nothing but
// count its calls, with a caching allocator like CUDA's whose blocks are never touched, and
// reports the host time per step and per backend call: the front end's share of a launch-bound
// step (a CUDA launch adds its own few microseconds per kernel).
//
//   tinyxf_bench_overhead [--batch 32] [--seq 128] [--layers 6] [--steps 20] [--warmup 3] [--bf16]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/tinyxf.hpp"

#include "../common/step_options.hpp"

using namespace tinyxf;

namespace {

// Every kernel a no-op; memory from per-size free lists (as the CUDA caching allocator), never
// read or written, so a 66 M-parameter model costs no resident memory.
class NullBackend final : public Backend {
 public:
  static DeviceType type() {
    static const DeviceType t = register_device_type("null");
    return t;
  }
  NullBackend() : Backend(0) {}
  ~NullBackend() override {
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
  }

  std::string_view name() const override { return "null"; }
  DeviceType device_type() const override { return type(); }
  bool host_accessible() const override { return false; }
  std::int64_t calls() const { return calls_; }  // kernels and copies
  std::int64_t allocations() const { return allocations_; }

  std::shared_ptr<void> allocate(std::size_t bytes, int) override {
    ++allocations_;
    const std::size_t size = (std::max<std::size_t>(bytes, 1) + 511) / 512 * 512;
    void* p = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto& list = free_[size];
      if (!list.empty()) {
        p = list.back();
        list.pop_back();
      }
    }
    if (!p) p = std::malloc(size);  // untouched: large blocks stay unmapped
    return std::shared_ptr<void>(p, [this, size](void* q) {
      std::lock_guard lock(mutex_);
      free_[size].push_back(q);
    });
  }
  void copy_from_host(void*, const void*, std::size_t, int) override { ++calls_; }
  void copy_to_host(void* dst, const void*, std::size_t bytes, int) override {
    ++calls_;
    std::memset(dst, 0, bytes);
  }

  bool computes_16bit_floats() const override { return true; }
  void fill(const KernelView&, double) override { ++calls_; }
  void copy(const KernelView&, const KernelView&) override { ++calls_; }
  void unary(UnaryOp, const KernelView&, const KernelView&, double) override { ++calls_; }
  void unary_backward(UnaryOp, const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                      double) override {
    ++calls_;
  }
  void binary(BinaryOp, const KernelView&, const KernelView&, const KernelView&) override { ++calls_; }
  void where(const KernelView&, const KernelView&, const KernelView&, const KernelView&) override { ++calls_; }
  void random(RandomKind, const KernelView&, double, double, std::uint64_t, std::uint64_t) override { ++calls_; }
  void reduce(ReduceOp, const KernelView&, const KernelView&, std::int64_t, std::int64_t, std::int64_t) override {
    ++calls_;
  }
  void gemm(const GemmArgs&) override { ++calls_; }
  void softmax(const KernelView&, const KernelView&, std::int64_t, std::int64_t, bool) override { ++calls_; }
  void softmax_backward(const KernelView&, const KernelView&, const KernelView&, std::int64_t, std::int64_t,
                        bool) override {
    ++calls_;
  }
  void layer_norm(const KernelView&, const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                  const KernelView&, std::int64_t, std::int64_t, double) override {
    ++calls_;
  }
  void layer_norm_backward(const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                           const KernelView&, const KernelView&, const KernelView&, const KernelView&, std::int64_t,
                           std::int64_t) override {
    ++calls_;
  }
  void index_select(const KernelView&, const KernelView&, const KernelView&, std::int64_t, std::int64_t,
                    std::int64_t) override {
    ++calls_;
  }
  void index_add(const KernelView&, const KernelView&, const KernelView&, std::int64_t, std::int64_t, std::int64_t,
                 std::int64_t) override {
    ++calls_;
  }
  void gather(const KernelView&, const KernelView&, const KernelView&, int) override { ++calls_; }
  void scatter(const KernelView&, const KernelView&, const KernelView&, int, bool) override { ++calls_; }
  void sort(const KernelView&, const KernelView&, const SortArgs&) override { ++calls_; }
  void nll_loss(const KernelView&, const KernelView&, const KernelView&, const KernelView&, std::int64_t,
                std::int64_t, std::int64_t) override {
    ++calls_;
  }
  void nll_loss_backward(const KernelView&, const KernelView&, const KernelView&, const KernelView&, std::int64_t,
                         std::int64_t, std::int64_t) override {
    ++calls_;
  }
  bool supports_fused_dropout() const override { return true; }
  void dropout(const KernelView&, const KernelView&, double, std::uint64_t, std::uint64_t) override { ++calls_; }
  bool supports_fused_attention() const override { return true; }
  void scaled_dot_product_attention(const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                                    const KernelView&, const KernelView&, const AttentionArgs&) override {
    ++calls_;
  }
  void scaled_dot_product_attention_backward(const KernelView&, const KernelView&, const KernelView&,
                                             const KernelView&, const KernelView&, const KernelView&,
                                             const KernelView&, const KernelView&, const KernelView&,
                                             const KernelView&, const AttentionArgs&) override {
    ++calls_;
  }
  bool supports_fused_bias_gelu() const override { return true; }
  void bias_gelu(const KernelView&, const KernelView&, const KernelView&, std::int64_t, std::int64_t,
                 bool) override {
    ++calls_;
  }
  void bias_gelu_backward(const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                          const KernelView&, std::int64_t, std::int64_t, bool) override {
    ++calls_;
  }
  bool supports_fused_add_layer_norm() const override { return true; }
  void add_layer_norm(const KernelView&, const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                      const KernelView&, const KernelView&, const KernelView&, std::int64_t, std::int64_t,
                      double) override {
    ++calls_;
  }
  void add_layer_norm_backward(const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                               const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                               const KernelView&, const KernelView&, const KernelView&, std::int64_t,
                               std::int64_t) override {
    ++calls_;
  }
  void adam_step(const KernelView&, const KernelView&, const KernelView&, const KernelView&,
                 const AdamArgs&) override {
    ++calls_;
  }
  void multi_tensor_adam_step(std::span<const AdamParamViews> params) override {
    calls_ += static_cast<std::int64_t>((params.size() + 23) / 24);  // CUDA: 24 parameters per launch
  }
  void sgd_step(const KernelView&, const KernelView&, const KernelView&, const SgdArgs&) override { ++calls_; }
  bool supports_sum_squares() const override { return true; }
  double sum_squares(std::span<const KernelView> tensors) override {
    calls_ += static_cast<std::int64_t>(tensors.size()) + 1;
    return 0.0;
  }

 private:
  std::int64_t calls_ = 0, allocations_ = 0;
  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
};

}  // namespace

int main(int argc, char** argv) try {
  const bench::StepOptions opt = bench::parse_step_options(
      argc, argv, "tinyxf_bench_overhead", bench::StepOptions{.batch = 32, .seq = 128, .steps = 20},
      /*takes_tf32=*/false);
  const DeviceType type = NullBackend::type();
  register_backend_type(type, [] { return 1; }, [](int) { return std::make_shared<NullBackend>(); });
  const Device device{type, 0};
  auto& backend = static_cast<NullBackend&>(backend_for(device));

  models::DistilBertConfig config;  // distilbert-base-uncased, as tinyxf-bench-cuda-train
  config.n_layers = opt.layers;
  config.num_labels = 2;
  Generator init(1234);
  models::DistilBertForSequenceClassification model(config, init);
  model.to(device);
  model.train();
  optim::AdamW optimizer(model.parameters(), optim::AdamWOptions{5e-5, 0.9, 0.999, 1e-8, 0.01});
  const auto ids = Tensor::ones({opt.batch, opt.seq}, TensorOptions(device).dtype(kInt64));
  const auto mask = Tensor::ones({opt.batch, opt.seq}, TensorOptions(device).dtype(kInt64));
  const auto labels = Tensor::zeros({opt.batch}, TensorOptions(device).dtype(kInt64));

  using Clock = std::chrono::steady_clock;
  std::vector<double> step_us;
  std::int64_t calls_per_step = 0, allocations_per_step = 0;
  for (int step = 0; step < opt.warmup + opt.steps; ++step) {
    const std::int64_t calls0 = backend.calls(), allocations0 = backend.allocations();
    const auto t0 = Clock::now();
    model.zero_grad();
    auto out = [&] {
      AutocastGuard autocast(type, kBFloat16, opt.bf16);
      return model.forward(ids, mask, labels);
    }();
    out.loss.backward();
    optimizer.step();
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (step >= opt.warmup) {
      step_us.push_back(us);
      calls_per_step = backend.calls() - calls0;
      allocations_per_step = backend.allocations() - allocations0;
    }
  }
  std::sort(step_us.begin(), step_us.end());
  const double median = step_us[step_us.size() / 2];
  std::printf("tinyxf front end, distilbert-base step (%lld layers, batch %lld x seq %lld, %s) on a null device: "
              "median %.2f ms, min %.2f ms of host time per step; %lld kernel calls and %lld allocations per "
              "step: %.2f us per kernel call\n",
              static_cast<long long>(opt.layers), static_cast<long long>(opt.batch), static_cast<long long>(opt.seq),
              opt.bf16 ? "bf16 autocast" : "fp32", median / 1000, step_us.front() / 1000,
              static_cast<long long>(calls_per_step), static_cast<long long>(allocations_per_step),
              median / static_cast<double>(calls_per_step));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "tinyxf_bench_overhead: %s\n", e.what());
  return 1;
}
