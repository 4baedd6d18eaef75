// Loss functions (ops/loss.hpp) against torch.nn.functional: precision of the stable forms,
// autocast, target dtypes, and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
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

TEST_CASE("losses: float64 gradcheck of every option path", "[loss][gradcheck]") {
  Generator gen(7);
  const auto randn = [&](Shape s) { return Tensor::randn(s, TensorOptions(Device::cpu()).dtype(kFloat64), gen); };
  const auto unit = [&](Shape s) { return Tensor::uniform(s, 0.05, 0.95, TensorOptions(Device::cpu()).dtype(kFloat64), gen); };
  const Tensor weight = unit({3}) + 0.5;
  const Tensor classes = longs({0, 2, -100, 1, 2, 0}).reshape({2, 3});  // targets for [2, 3, 3]
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<std::string, std::pair<Fn, std::vector<Tensor>>>> cases = {
      {"nll kdim weight mean", {[&](const auto& in) { return nll_loss(in[0], classes, {.weight = weight}); }, {randn({2, 3, 3})}}},
      {"ce smoothing weight mean", {[&](const auto& in) {
         return cross_entropy(in[0], classes, {.weight = weight, .label_smoothing = 0.2});
       }, {randn({2, 3, 3})}}},
      {"ce smoothing none", {[&](const auto& in) {
         return cross_entropy(in[0], classes, {.reduction = Reduction::none, .label_smoothing = 0.1});
       }, {randn({2, 3, 3})}}},
      {"ce probabilities", {[&](const auto& in) {
         return cross_entropy(in[0], in[1], {.weight = weight, .label_smoothing = 0.1});
       }, {randn({4, 3}), unit({4, 3})}}},
      {"bce", {[&](const auto& in) { return binary_cross_entropy(in[0], in[1], {.weight = weight}); }, {unit({2, 3}), unit({2, 3})}}},
      {"bce with logits", {[&](const auto& in) {
         return binary_cross_entropy_with_logits(in[0], in[1], {.weight = weight, .pos_weight = weight * 2.0,
                                                                .reduction = Reduction::sum});
       }, {randn({2, 3}), unit({2, 3})}}},
      {"mse", {[](const auto& in) { return mse_loss(in[0], in[1], Reduction::none); }, {randn({2, 3}), randn({3})}}},
      {"l1", {[](const auto& in) { return l1_loss(in[0], in[1]); }, {randn({5}), randn({5})}}},
      {"smooth_l1", {[](const auto& in) { return smooth_l1_loss(in[0], in[1], Reduction::sum, 0.7); }, {randn({6}), randn({6})}}},
      {"huber", {[](const auto& in) { return huber_loss(in[0], in[1], Reduction::none, 0.6); }, {randn({6}), randn({6})}}},
      {"kl_div", {[](const auto& in) { return kl_div(in[0], in[1], {.reduction = KLDivReduction::batchmean}); },
                  {randn({3, 4}), unit({3, 4})}}},
      {"kl_div log_target", {[](const auto& in) { return kl_div(in[0], in[1], {.log_target = true}); },
                             {randn({3, 4}), randn({3, 4})}}},
  };
  for (const auto& [name, c] : cases) {
    const auto result = gradcheck(c.first, c.second);
    INFO(name << ": " << result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("losses: shape, dtype and value errors name what was wrong", "[loss][errors]") {
  const Tensor x = Tensor::zeros({3, 4}), probs = Tensor::full({3, 4}, 0.5);
  CHECK_THROWS_WITH(cross_entropy(x, longs({0, 1})), Contains("expected input batch_size (3) to match target batch_size (2)"));
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 5}).to(kInt64)),
                    Contains("expected target size [2, 4] for input [2, 3, 4], got [2, 5]"));
  // the fused default path's kernel checks the range; the composed paths check it up front
  CHECK_THROWS_WITH(cross_entropy(x, longs({0, 1, 7})), Contains("cross_entropy: Target 7 is out of bounds (row 2, 4 classes)"));
  CHECK_THROWS_AS(cross_entropy(x, longs({0, 1, 7})), IndexError);  // torch: IndexError "Target 7 is out of bounds."
  CHECK_THROWS_AS(cross_entropy(x, longs({0, 1, 7}), {.reduction = Reduction::sum}), IndexError);
  CHECK_THROWS_WITH(cross_entropy(x, longs({0, 1, 7}), {.reduction = Reduction::none}), Contains("Target 7 is out of bounds"));
  CHECK_THROWS_WITH(nll_loss(x, longs({0, -3, 1}), {.reduction = Reduction::sum}), Contains("Target -3 is out of bounds"));
  CHECK_THROWS_WITH(cross_entropy(x, longs({0, 1, 2}), {.weight = Tensor::ones({3})}),
                    Contains("weight tensor should be defined either for all 4 classes or no classes but got weight "
                             "tensor of shape: [3]"));
  CHECK_THROWS_WITH(cross_entropy(x, longs({0, 1, 2}), {.label_smoothing = 1.5}),
                    Contains("label_smoothing must be between 0.0 and 1.0. Got: 1.5"));
  CHECK_THROWS_WITH(cross_entropy(x, Tensor::zeros({3, 5})), Contains("probability targets must have the input's shape [3, 4], got [3, 5]"));
  CHECK_THROWS_WITH(cross_entropy(x, probs, {.ignore_index = 1}), Contains("ignore_index is not supported for floating point target"));
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 4}).to(kUInt8)),
                    Contains("expected target dtype to be int64 (Long) for an input of more than 2 dimensions, got uint8"));
  CHECK_THROWS_WITH(binary_cross_entropy(probs, Tensor::full({3, 4, 1}, 0.5)),
                    Contains("target of shape [3, 4, 1] does not match input of shape [3, 4]"));
  CHECK_THROWS_WITH(binary_cross_entropy(probs + 1.0, probs), Contains("all elements of input should be between 0 and 1"));
  CHECK_THROWS_WITH(binary_cross_entropy(probs, probs - 1.0), Contains("all elements of target should be between 0 and 1"));
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(x, probs, {.pos_weight = Tensor::ones({3})}), Contains("[3]"));
  Tensor trainable = Tensor::ones({4});
  trainable.set_requires_grad(true);
  // torch: "... is not differentiable with respect to argument 'weight'"
  for (const auto& call : std::vector<std::function<Tensor()>>{
           [&] { return binary_cross_entropy_with_logits(x, probs, {.weight = trainable}); },
           [&] { return binary_cross_entropy(probs, probs, {.weight = trainable}); },
           [&] { return nll_loss(x, longs({0, 1, 2}), {.weight = trainable}); },
           [&] { return cross_entropy(x, longs({0, 1, 2}), {.weight = trainable, .label_smoothing = 0.1}); }})
    CHECK_THROWS_WITH(call(), Contains("not differentiable with respect to argument 'weight'"));
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(x, probs, {.pos_weight = trainable}),
                    Contains("not differentiable with respect to argument 'pos_weight'"));
  CHECK(cross_entropy(x, probs, {.weight = trainable}).requires_grad());  // probability targets: composed, as torch
  CHECK_THROWS_WITH(smooth_l1_loss(x, x, Reduction::mean, -1.0), Contains("smooth_l1_loss does not support negative values for beta"));
  CHECK_THROWS_WITH(huber_loss(x, x, Reduction::mean, 0.0), Contains("huber_loss does not support non-positive values for delta"));
  CHECK_THROWS_WITH(mse_loss(x, Tensor::zeros({2, 4})), Contains("[2, 4]"));
  CHECK_THROWS_WITH(mse_loss(x.to(kInt64), x.to(kInt64)), Contains("expected floating point input or target, got int64 and int64"));
  CHECK_THROWS_WITH(kl_div(x, x.to(kInt64)), Contains("kl_div: expected a floating point tensor, got int64"));
}

TEST_CASE("losses: values torch gives at the edges", "[loss]") {
  Generator gen(5);
  const Tensor x = Tensor::randn({3, 4}, Device::cpu(), gen);
  // all targets ignored: mean is NaN, sum 0 (F.cross_entropy(x, torch.full((3,), -100)), reduction='sum')
  CHECK(std::isnan(cross_entropy(x, longs({-100, -100, -100})).item<float>()));
  CHECK(std::isnan(cross_entropy(x, longs({-100, -100, -100}), {.label_smoothing = 0.1}).item<float>()));
  CHECK(cross_entropy(x, longs({-100, -100, -100}), {.reduction = Reduction::sum}).item<float>() == 0.0f);
  // x = torch.tensor([-1., -2., -.5, -3.], dtype=torch.float64, requires_grad=True); y = torch.tensor([0., .5, 0., .25], ...)
  // F.kl_div(x, y, reduction='sum').backward() -> 1.0568528194400546; x.grad [-0, -0.5, -0, -0.25];
  // y.grad [nan, 2.3068528194400546, nan, 2.613705638880109] (xlogy's gradient y / y is NaN at 0)
  Tensor kx = Tensor::from_vector(std::vector<double>{-1, -2, -0.5, -3}).set_requires_grad(true);
  Tensor ky = Tensor::from_vector(std::vector<double>{0, 0.5, 0, 0.25}).set_requires_grad(true);
  const Tensor kl = kl_div(kx, ky, {.reduction = KLDivReduction::sum});
  CHECK(kl.item<double>() == Approx(1.0568528194400546).epsilon(1e-15));
  kl.backward();
  CHECK(kx.grad().to_vector<double>() == std::vector<double>{0, -0.5, 0, -0.25});
  const std::vector<double> ky_grad = ky.grad().to_vector<double>();
  CHECK(std::isnan(ky_grad[0]));
  CHECK(ky_grad[1] == Approx(2.3068528194400546).epsilon(1e-15));
  CHECK(std::isnan(ky_grad[2]));
  CHECK(ky_grad[3] == Approx(2.613705638880109).epsilon(1e-15));
  // mse_loss broadcasts a target of another shape, as torch (which warns)
  CHECK(mse_loss(Tensor::ones({2, 3}), Tensor::zeros({3}), Reduction::none).shape() == Shape{2, 3});
  // without autocast, a bfloat16 regression loss stays bfloat16, as torch
  const Tensor b = Tensor::full({3, 4}, 0.5).to(kBFloat16);
  CHECK(mse_loss(b, b.to(kFloat32) * 0.0, Reduction::sum).dtype() == kFloat32);  // promotion
  const Tensor l1 = l1_loss(b, Tensor::zeros({3, 4}).to(kBFloat16), Reduction::sum);
  CHECK(l1.dtype() == kBFloat16);
  CHECK(l1.to(kFloat32).item<float>() == 6.0f);
  // the losses on autocast's fp32 list return float32 for bfloat16 inputs
  AutocastGuard autocast(DeviceType::cpu, kBFloat16);
  const Tensor h = Tensor::full({3, 4}, 0.25).to(kBFloat16);
  CHECK(mse_loss(h, h).dtype() == kFloat32);
  CHECK(l1_loss(h, h).dtype() == kFloat32);
  CHECK(smooth_l1_loss(h, h).dtype() == kFloat32);
  CHECK(huber_loss(h, h).dtype() == kFloat32);
  CHECK(binary_cross_entropy(h, h).dtype() == kFloat32);
  CHECK(kl_div(h, h).dtype() == kFloat32);
  CHECK(cross_entropy(h, h).dtype() == kFloat32);
  CHECK(nll_loss(h, longs({0, 1, 2}), {.weight = Tensor::ones({4})}).dtype() == kFloat32);
}
