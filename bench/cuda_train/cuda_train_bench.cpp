// tinyxf-bench-cuda-train: times one DistilBERT training step on Device::cuda(0) — forward with
// labels, backward, AdamW update — at distilbert-base size (6 layers, dim 768, 12 heads, hidden
// 3072, vocab 30522), in train mode (dropout on). torch_train_step.py is the PyTorch twin; both
// print one JSON line per run so scripts/gpu-check.sh can put them side by side.
//
//   tinyxf-bench-cuda-train --batch 16 --seq 512 [--steps 10] [--warmup 3] [--tf32 | --bf16] [--layers 6]
//
// --bf16 runs forward and loss under AutocastGuard(cuda, bfloat16) with float32 parameters and
// AdamW state, like torch_train_step.py --precision bf16 (torch.autocast("cuda", torch.bfloat16)).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tinyxf/backends/cuda.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/tinyxf.hpp"

#include "../common/step_options.hpp"

using namespace tinyxf;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const bench::StepOptions opt =
      bench::parse_step_options(argc, argv, "tinyxf-bench-cuda-train", bench::StepOptions{}, /*takes_tf32=*/true);
  try {
    const Device gpu = Device::cuda(0);
    Backend& backend = backend_for(gpu);  // a clear error without a GPU
    backends::set_cuda_tf32(opt.tf32);

    models::DistilBertConfig config;  // distilbert-base-uncased
    config.n_layers = opt.layers;
    config.num_labels = 2;
    Generator init(1234);
    models::DistilBertForSequenceClassification model(config, init);
    model.to(gpu);
    model.train();
    optim::AdamW optimizer(model.parameters(), optim::AdamWOptions{5e-5, 0.9, 0.999, 1e-8, 0.01});

    Generator data(42);
    const auto ids = Tensor::uniform({opt.batch, opt.seq}, 1.0, static_cast<double>(config.vocab_size) - 1, TensorOptions(Device::cpu()).dtype(kFloat64), data)
                         .to(kInt64)
                         .to(gpu);
    const auto mask = Tensor::ones({opt.batch, opt.seq}, TensorOptions(gpu).dtype(kInt64));
    const auto labels = Tensor::uniform({opt.batch}, 0.0, 1.999, TensorOptions(Device::cpu()).dtype(kFloat64), data).to(kInt64).to(gpu);

    double forward_ms = 0, backward_ms = 0, optimizer_ms = 0, total_ms = 0;
    float last_loss = 0;
    for (int step = 0; step < opt.warmup + opt.steps; ++step) {
      const bool timed = step >= opt.warmup;
      backend.synchronize(0);
      const auto t0 = Clock::now();
      model.zero_grad();
      auto out = [&] {
        AutocastGuard autocast(DeviceType::cuda, kBFloat16, opt.bf16);
        return model.forward(ids, mask, labels);
      }();
      backend.synchronize(0);
      const double f = ms_since(t0);
      out.loss.backward();
      backend.synchronize(0);
      const double b = ms_since(t0) - f;
      optimizer.step();
      backend.synchronize(0);
      const double all = ms_since(t0);
      if (timed) {
        forward_ms += f;
        backward_ms += b;
        optimizer_ms += all - f - b;
        total_ms += all;
      }
      if (step == opt.warmup + opt.steps - 1) last_loss = out.loss.item();
    }
    const double n = opt.steps;
    const auto stats = backends::cuda_memory_stats(0);
    std::printf(
        "{\"impl\": \"tinyxf\", \"precision\": \"%s\", \"batch\": %lld, \"seq\": %lld, \"layers\": %lld, "
        "\"steps\": %d, \"step_ms\": %.3f, \"forward_ms\": %.3f, \"backward_ms\": %.3f, \"optimizer_ms\": %.3f, "
        "\"tokens_per_s\": %.0f, \"peak_mem_gib\": %.2f, \"loss\": %.5f, \"device\": \"%s\"}\n",
        opt.bf16 ? "bf16" : opt.tf32 ? "tf32" : "fp32", static_cast<long long>(opt.batch), static_cast<long long>(opt.seq),
        static_cast<long long>(opt.layers), opt.steps, total_ms / n, forward_ms / n, backward_ms / n,
        optimizer_ms / n, static_cast<double>(opt.batch * opt.seq) / (total_ms / n / 1000.0),
        static_cast<double>(stats.peak_bytes_in_use) / (1 << 30), last_loss,
        backends::cuda_device_description(0).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyxf-bench-cuda-train: %s\n", e.what());
    return 1;
  }
}
