// A 2-layer MLP learns a nonlinear toy problem (two interleaved spirals) with plain SGD written
// against the public API: forward, loss, backward, manual parameter update.
//   tinyxf_mlp [--steps N] [--lr X] [--device cpu|reference]
#include <tinyxf/tinyxf.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

using namespace tinyxf;

int main(int argc, char** argv) {
  int steps = 1000;
  float lr = 1.0f;
  Device device = Device::cpu();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (arg == "--lr" && i + 1 < argc) lr = std::strtof(argv[++i], nullptr);
    else if (arg == "--device" && i + 1 < argc) device = Device::parse(argv[++i]);
    else {
      std::cerr << "usage: tinyxf_mlp [--steps N] [--lr X] [--device cpu|reference]\n";
      return 2;
    }
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
