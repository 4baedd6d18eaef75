// ops/conv.hpp and nn/conv.hpp against torch: conv1d (stride, padding incl. "same" with an even
// kernel, dilation, groups, no bias, unbatched), nn.Conv1d's reflect/replicate/circular padding,
// max_pool1d (ties: the gradient goes to a window's first maximum; ceil_mode, padding, dilation),
// avg_pool1d (ceil_mode, count_include_pad) and adaptive_{max,avg}_pool1d, values and the
// gradients of sum(output * R) from tests/data/nn/conv_golden.json (tests/reference/make_conv_golden.py),
// on every available backend in float64 and float32. Plus Conv1d's options, parameters and
// initialization, a text-CNN's layers end to end, and torch's error messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "golden_json.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/nn/nn.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
namespace json = tinyxf::json;
using Catch::Matchers::Contains;
using tinyxf::testing::check_close;
using tinyxf::testing::from_json;

namespace {

std::int64_t int_option(const json::Value& o, const char* key, std::int64_t fallback) {
  return o.contains(key) ? o[key].as_int() : fallback;
}
bool bool_option(const json::Value& o, const char* key, bool fallback) {
  return o.contains(key) ? o[key].as_bool() : fallback;
}
Conv1dPadding padding_option(const json::Value& o) {
  if (!o.contains("padding")) return 0;
  if (o["padding"].is_string()) return Conv1dPadding(o["padding"].as_string());
  return o["padding"].as_int();
}

Tensor run_case(const json::Value& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  const std::string fn = c["fn"].as_string();
  const json::Value& o = c["options"];
  const auto stride = int_option(o, "stride", 1), dilation = int_option(o, "dilation", 1);
  const auto groups = int_option(o, "groups", 1);
  if (fn == "conv1d") return conv1d(x, w, b, stride, padding_option(o), dilation, groups);
  if (fn == "Conv1d") {
    nn::Conv1d conv(nn::Conv1dOptions(w.shape()[1] * groups, w.shape()[0], w.shape()[2])
                        .stride(stride)
                        .padding(padding_option(o))
                        .dilation(dilation)
                        .groups(groups)
                        .bias(b.defined())
                        .padding_mode(o["padding_mode"].as_string()));
    conv.to(x.device());
    conv.to(x.dtype());
    // the golden's parameters, as leaves of the graph so their gradients can be compared
    conv.weight = w;
    conv.bias = b;
    return conv(x);
  }
  const auto kernel = int_option(o, "kernel_size", 0), padding = int_option(o, "padding", 0);
  const auto pool_stride = int_option(o, "stride", kernel);  // torch's default stride: kernel_size
  const bool ceil_mode = bool_option(o, "ceil_mode", false);
  if (fn == "max_pool1d") return max_pool1d(x, kernel, pool_stride, padding, dilation, ceil_mode);
  if (fn == "avg_pool1d")
    return avg_pool1d(x, kernel, pool_stride, padding, ceil_mode, bool_option(o, "count_include_pad", true));
  if (fn == "adaptive_max_pool1d") return adaptive_max_pool1d(x, o["output_size"].as_int());
  if (fn == "adaptive_avg_pool1d") return adaptive_avg_pool1d(x, o["output_size"].as_int());
  FAIL("unknown function " << fn);
  return {};
}

}  // namespace

TEST_CASE("conv1d and 1-D pooling match torch (float64 golden)", "[conv][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      const double rel = dtype == kFloat64 ? 1e-12 : 1e-5, floor = dtype == kFloat64 ? 1e-14 : 1e-6;
      for (const auto& c : testing::golden("conv_golden.json")["cases"].as_array()) {
        const std::string name = c["name"].as_string();
        INFO(name << " on " << device.str() << " in " << dtype_name(dtype));
        auto leaf = [&](const char* key) {
          return c.contains(key) ? from_json(c[key], dtype, device).set_requires_grad(true) : Tensor();
        };
        Tensor x = leaf("x"), w = leaf("weight"), b = leaf("bias");
        const Tensor out = run_case(c, x, w, b);
        CHECK(out.dtype() == dtype);
        check_close(out, c["output"], rel, name + " output");
        sum(out * from_json(c["R"], dtype, device)).backward();
        check_close(x.grad(), c["grad_x"], rel, name + " grad_x", floor);
        if (w.defined()) check_close(w.grad(), c["grad_weight"], rel, name + " grad_weight", floor);
        if (b.defined()) check_close(b.grad(), c["grad_bias"], rel, name + " grad_bias", floor);
      }
    }
  }
}

TEST_CASE("nn::Conv1d: options, state_dict keys and torch's default initialization", "[conv][module]") {
  nn::Conv1d conv(nn::Conv1dOptions(4, 6, 3).groups(2).padding("same"));
  CHECK(conv.options.in_channels() == 4);
  CHECK(conv.options.padding().same);
  CHECK(conv.options.padding_mode() == "zeros");
  const auto state = conv.state_dict();
  REQUIRE(state.size() == 2);
  CHECK(state[0].first == "weight");
  CHECK(state[0].second.shape() == Shape{6, 2, 3});
  CHECK(state[1].first == "bias");
  CHECK(state[1].second.shape() == Shape{6});
  CHECK(conv(Tensor::randn({2, 4, 5})).shape() == Shape{2, 6, 5});
  CHECK(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).bias(false)).state_dict().size() == 1);

  // torch.nn.Conv1d.reset_parameters: kaiming_uniform_(a=sqrt(5)) is U(±1/sqrt(fan_in)), then the
  // bias U(±1/sqrt(fan_in)); fan_in = in_channels / groups * kernel_size = 2 * 3. Drawn in that order.
  Generator gen(11), same(11);
  nn::Conv1d seeded(nn::Conv1dOptions(4, 6, 3).groups(2), gen);
  const double bound = 1.0 / std::sqrt(6.0);
  Tensor w = Tensor::empty({6, 2, 3}), b = Tensor::empty({6});
  nn::init::uniform_(w, -bound, bound, same);
  nn::init::uniform_(b, -bound, bound, same);
  const auto got_w = seeded.weight.to_vector<float>(), want_w = w.to_vector<float>();
  const auto got_b = seeded.bias.to_vector<float>(), want_b = b.to_vector<float>();
  for (std::size_t i = 0; i < want_w.size(); ++i) CHECK(got_w[i] == Approx(want_w[i]).epsilon(1e-6));
  for (std::size_t i = 0; i < want_b.size(); ++i) CHECK(got_b[i] == Approx(want_b[i]).epsilon(1e-6));
}

TEST_CASE("a text CNN's layers: embedding, Conv1d, ReLU, global max pool, linear, backward", "[conv][module]") {
  Generator gen(5);
  nn::Embedding embed(20, 8, std::nullopt, gen);
  nn::Conv1d conv(nn::Conv1dOptions(8, 6, 3).padding(1), gen);
  nn::AdaptiveMaxPool1d pool(1);
  nn::Linear head(6, 2, true, gen);
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{1, 4, 7, 2, 0, 3, 9, 9, 5, 11}, {2, 5});
  const Tensor features = pool(relu(conv(embed(ids).transpose(1, 2)))).squeeze(-1);  // [2, 6]
  CHECK(features.shape() == Shape{2, 6});
  // the global pool is the max over the length
  const Tensor direct = max(relu(conv(embed(ids).transpose(1, 2))), 2);
  CHECK(features.to_vector<float>() == direct.to_vector<float>());
  sum(head(features)).backward();
  CHECK(conv.weight.grad().shape() == Shape{6, 8, 3});
  CHECK(embed.weight.grad().shape() == Shape{20, 8});
  CHECK(nn::MaxPool1d(2)(Tensor::randn({1, 2, 5})).shape() == Shape{1, 2, 2});
  CHECK(nn::AvgPool1d(3, 1, 1)(Tensor::randn({2, 5})).shape() == Shape{2, 5});
  CHECK(nn::AdaptiveAvgPool1d(1)(Tensor::randn({3, 2, 5})).shape() == Shape{3, 2, 1});
  CHECK(adaptive_max_pool1d(Tensor::randn({2, 3, 4}), 0).shape() == Shape{2, 3, 0});
}

TEST_CASE("conv1d and pooling reject bad arguments with torch's messages", "[conv][errors]") {
  const Tensor x = Tensor::randn({2, 4, 5});
  CHECK_THROWS_WITH(conv1d(Tensor::randn({2, 4, 5, 1}), Tensor::randn({3, 4, 2})),
                    "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [2, 4, 5, 1]");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({3, 2, 2}), Tensor(), 1, 0, 1, 2),
                    "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size "
                    "[3, 2, 2] instead");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 3, 2})),
                    "Given groups=1, weight of size [4, 3, 2], expected input[2, 4, 5] to have 3 channels, but got 4 "
                    "channels instead");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 2}), Tensor(), 2, "same"),
                    "padding='same' is not supported for strided convolutions");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 3}), Tensor(), 1, 0, 3),
                    "Calculated padded input size per channel: (5). Kernel size: (7). Kernel size can't be greater "
                    "than actual input size");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 3}), Tensor(), 1, "foo"), "Invalid padding string: 'foo'");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 3}), Tensor(), 0), "non-positive stride is not supported");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 3}), Tensor(), 1, -1), "negative padding is not supported");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4, 3}), Tensor::randn({3})),
                    "Given weight of size [4, 4, 3], expected bias to be 1-dimensional with 4 elements, but got bias "
                    "of size [3] instead");
  CHECK_THROWS_WITH(conv1d(x, Tensor::randn({4, 4})), "weight should have at least three dimensions");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).groups(4)), "out_channels must be divisible by groups");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).padding_mode("foo")),
                    "padding_mode must be one of {'reflect', 'replicate', 'circular', 'zeros'}, but got "
                    "padding_mode='foo'");
  // torch.nn.Conv1d(4, 2, 3, padding=3, padding_mode=mode)(x) with x of length 3 (reflect), 2 (circular)
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 2, 3).padding(3).padding_mode("reflect"))(Tensor::randn({2, 4, 3})),
                    "Argument #4: Padding size should be less than the corresponding input dimension, but got: "
                    "padding (3, 3) at dimension 2 of input [2, 4, 3]");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 2, 3).padding(3).padding_mode("reflect"))(Tensor::randn({4, 2})),
                    "Argument #4: Padding size should be less than the corresponding input dimension, but got: "
                    "padding (3, 3) at dimension 1 of input [4, 2]");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 2, 3).padding(3).padding_mode("circular"))(Tensor::randn({2, 4, 2})),
                    "Padding value causes wrapping around more than once.");
  CHECK(nn::Conv1d(nn::Conv1dOptions(4, 2, 3).padding(3).padding_mode("circular"))(Tensor::randn({2, 4, 3})).shape() ==
        Shape{2, 2, 7});
  CHECK_THROWS_WITH(max_pool1d(x, 3, std::nullopt, 2),
                    "max_pool1d() padding should be at most half of kernel size, but got padding=2 and kernel_size=3");
  CHECK_THROWS_WITH(max_pool1d(x, 7), "max_pool1d() Invalid computed output size: 0");
  CHECK_THROWS_WITH(max_pool1d(Tensor::randn({5}), 2),
                    "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but "
                    "got:[5]");
  CHECK_THROWS_WITH(max_pool1d(x, 0), "max_pool1d() kernel_size must be greater than zero, but got 0");
  CHECK_THROWS_WITH(avg_pool1d(x, 7),
                    "Given input size: (4x1x5). Calculated output size: (4x1x0). Output size is too small");
  CHECK_THROWS_WITH(avg_pool1d(x, 3, std::nullopt, 2),
                    "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1");
  CHECK_THROWS_WITH(avg_pool1d(Tensor::randn({5}), 2),
                    "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking "
                    "arguments for avg_pool1d)");
  CHECK_THROWS_WITH(adaptive_avg_pool1d(Tensor::randn({5}), 1),
                    "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking "
                    "arguments for adaptive_avg_pool1d)");
  CHECK_THROWS_AS(conv1d(x, Tensor::randn({4, 4, 3}), Tensor(), 1, 0, 1, 0), ValueError);
}
