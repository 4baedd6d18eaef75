// A 2-layer MLP learns a nonlinear toy problem (two interleaved spirals) with plain SGD written
// against the public API: forward, loss, backward, manual parameter update.
//   tinyxf_mlp [--steps N] [--lr X] [--device cpu|reference]
#include <tinyxf/tinyxf.hpp>

#include "tinyxf/io/cli_numbers.hpp"

#include <cmath>
#include <iostream>
#include <string>

using namespace tinyxf;

int main(int argc, char** argv) {
  const char* usage = "usage: tinyxf_mlp [--steps N (1000)] [--lr X (1.0)] [--device cpu|reference|cuda]\n";
  if (cli::asks_for_help(argc, argv)) {
    std::cout << usage;
    return 0;
  }
  int steps = 1000;
  float lr = 1.0f;
  Device device = Device::cpu();
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw cli::UsageError(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--steps") steps = cli::parse_integer<int>(arg, value(), 0, 1'000'000'000);
      else if (arg == "--lr") lr = static_cast<float>(cli::parse_real(arg, value(), 0.0, 100.0));
      else if (arg == "--device") device = Device::parse(value());
      else throw cli::UsageError("unknown argument " + arg);
    }
  } catch (const std::exception& e) {  // a bad number or device name
    std::cerr << "tinyxf_mlp: " << e.what() << "\n" << usage;
    return 2;
  }
  try {
    // Data: 2 spirals of 200 points each, label = spiral index.
    const int per_class = 200;
    std::vector<float> xs;
    std::vector<std::int64_t> ys;
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < per_class; ++i) {
        const float r = static_cast<float>(i) / per_class;
        const float t = 3.0f * r * 3.14159f + static_cast<float>(c) * 3.14159f;
        xs.push_back(r * std::cos(t));
        xs.push_back(r * std::sin(t));
        ys.push_back(c);
      }
    auto x = Tensor::from_vector(xs, {2 * per_class, 2}, device);
    auto y = Tensor::from_vector(ys, device);

    // Parameters of a 2 -> 64 -> 2 MLP.
    Generator gen(0);
    auto w1 = Tensor::normal({64, 2}, 0.0f, 4.0f, device, gen).set_requires_grad();
    auto b1 = Tensor::zeros({64}, device).set_requires_grad();
    auto w2 = Tensor::normal({2, 64}, 0.0f, 0.125f, device, gen).set_requires_grad();
    auto b2 = Tensor::zeros({2}, device).set_requires_grad();
    std::vector<Tensor> params = {w1, b1, w2, b2};

    for (int step = 0; step <= steps; ++step) {
      auto hidden = tanh(linear(x, w1, b1));
      auto logits = linear(hidden, w2, b2);
      auto loss = cross_entropy(logits, y);
      for (auto& p : params) p.zero_grad();
      loss.backward();
      {
        NoGradGuard no_grad;  // the update itself is not part of the graph
        for (auto& p : params) p.copy_(p - p.grad() * lr);
      }
      if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0) {
        const auto predicted = argmax(logits, 1);
        const double accuracy = mean(eq(predicted, y).to(kFloat32)).item();
        std::cout << "step " << step << "  loss " << loss.item() << "  accuracy " << accuracy << "\n";
      }
    }
  } catch (const Error& e) {
    std::cerr << "tinyxf_mlp: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
