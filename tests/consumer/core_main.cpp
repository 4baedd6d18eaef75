// The tensor library alone, from an install: tinyxf::core + tinyxf::cpu, no text, no hf (no
// third-party header in this translation unit). A small MLP learns a random linear target with
// AdamW; exits non-zero unless the loss falls.
#include <cstdio>
#include <exception>
#include <memory>

#include <tinyxf/tensor.hpp>  // first: nn/rnn.hpp does not include the ops/rnn.hpp it uses
#include <tinyxf/backends/cpu.hpp>
#include <tinyxf/nn/nn.hpp>
#include <tinyxf/optim/optim.hpp>

using namespace tinyxf;

int main() try {
  std::printf("cpu kernels: %s\n", std::string(backends::cpu_backend_isa()).c_str());
  Generator gen(0);
  const auto x = Tensor::randn({64, 8}, {}, gen);
  const auto y = matmul(x, Tensor::randn({8, 1}, {}, gen));
  nn::Sequential model{std::make_shared<nn::Linear>(8, 32, true, gen), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(32, 1, true, gen)};
  optim::AdamW optimizer(model.parameters(), optim::AdamWOptions{.lr = 1e-2});
  float first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    const auto diff = model.forward(x) - y;
    auto loss = mean(diff * diff);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    last = loss.item<float>();
    if (step == 0) first = last;
  }
  std::printf("training loss %.4f -> %.4f\n", first, last);
  return last < 0.5f * first ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer_core: %s\n", e.what());
  return 1;
}
