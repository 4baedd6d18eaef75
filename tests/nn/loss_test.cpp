// Loss functions (ops/loss.hpp) against torch.nn.functional: precision of the stable forms,
// autocast, target dtypes, and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;

namespace {
Tensor f32(std::vector<float> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return Tensor::from_vector(v, {n});
}
Tensor longs(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return Tensor::from_vector(v, {n});
}
}  // namespace

TEST_CASE("log1p keeps arguments below float epsilon, like torch.log1p", "[loss][log1p]") {
  for (const Device device : available_devices()) {
    INFO(device.str());
    // torch.log1p(torch.tensor([1e-10, -0.5, 3.0]))
    const auto y = log1p(f32({1e-10f, -0.5f, 3.0f}).to(device)).to(Device::cpu()).to_vector<float>();
    CHECK(y[0] == Approx(1.000000013351432e-10).epsilon(1e-7));
    CHECK(y[1] == Approx(-0.6931471824645996).epsilon(1e-7));
    CHECK(y[2] == Approx(1.3862943649291992).epsilon(1e-7));
  }
  const auto result = gradcheck([](const std::vector<Tensor>& in) { return log1p(in[0]); },
                                {Tensor::from_vector(std::vector<double>{-0.9, 1e-12, 0.3, 5.0}, {4})});
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("binary_cross_entropy_with_logits keeps per-element losses below 6e-8 (log1p form)", "[loss][bce]") {
  for (const Device device : available_devices()) {
    INFO(device.str());
    // F.binary_cross_entropy_with_logits(torch.tensor([30., -30, 17, 100]), torch.tensor([1., 0, 1, 1]));
    // log(1 + exp(-|x|)) gave 0 here
    const double tiny =
        binary_cross_entropy_with_logits(f32({30, -30, 17, 100}).to(device), f32({1, 0, 1, 1}).to(device)).item<double>();
    CHECK(tiny == Approx(1.0349866741421465e-08).epsilon(1e-5));
    // F.binary_cross_entropy_with_logits(torch.tensor([17., 20, -25, 12]), torch.tensor([1., 1, 0, 1]));
    // log(1 + exp(-|x|)) was 0.18 % off
    const double small =
        binary_cross_entropy_with_logits(f32({17, 20, -25, 12}).to(device), f32({1, 1, 0, 1}).to(device)).item<double>();
    CHECK(small == Approx(1.5469134950762964e-06).epsilon(1e-5));
  }
}

TEST_CASE("binary_cross_entropy_with_logits takes bfloat16 logits under autocast (fp32 list)", "[loss][bce][autocast]") {
  AutocastGuard autocast(DeviceType::cpu, kBFloat16);
  const Tensor logits = linear(Tensor::ones({2, 3}), Tensor::ones({4, 3}));
  REQUIRE(logits.dtype() == kBFloat16);
  // with torch.autocast("cpu", torch.bfloat16):
  //   F.binary_cross_entropy_with_logits(F.linear(torch.ones(2, 3), torch.ones(4, 3)), torch.zeros(2, 4))
  const Tensor loss = binary_cross_entropy_with_logits(logits, Tensor::zeros({2, 4}));
  CHECK(loss.dtype() == kFloat32);
  CHECK(loss.item<float>() == Approx(3.0485875606536865).epsilon(1e-6));
  CHECK(binary_cross_entropy_with_logits(logits, Tensor::zeros({2, 4}).to(kBFloat16)).dtype() == kFloat32);
}

TEST_CASE("nll_loss and cross_entropy take int64 or uint8 class indices, as torch", "[loss][nll]") {
  Generator gen(3);
  const Tensor logits = Tensor::randn({3, 4}, Device::cpu(), gen);
  const Tensor target = longs({0, 3, 2});
  CHECK(cross_entropy(logits, target.to(kUInt8)).item<float>() == cross_entropy(logits, target).item<float>());
  CHECK(nll_loss(log_softmax(logits, 1), target.to(kUInt8)).item<float>() ==
        nll_loss(log_softmax(logits, 1), target).item<float>());
  // torch: "expected target dtype to be Long or Byte, but got Int"
  CHECK_THROWS_WITH(cross_entropy(logits, target.to(kInt32)),
                    Contains("expected target dtype to be int64 (Long) or uint8 (Byte), got int32"));
  CHECK_THROWS_WITH(nll_loss(logits, target.to(kFloat32)),
                    Contains("expected target dtype to be int64 (Long) or uint8 (Byte), got float32"));
}
