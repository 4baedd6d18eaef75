// ops/loss.hpp against torch.nn.functional computed in float64 (tests/data/nn/loss_golden.json,
// written by tests/reference/make_loss_golden.py): every loss with its options (class weights,
// ignore_index, label smoothing, reductions, K-dim and probability targets, pos_weight, beta/delta
// at the boundary, batchmean, log_target), forward values and the gradients of sum(output * R)
// for the input (and a floating target). Run on every available backend, in float64 (to 1e-10)
// and float32 (1e-5 of each tensor's largest magnitude, plus 2e-7).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "golden_json.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
namespace json = tinyxf::json;
using tinyxf::testing::check_close;
using tinyxf::testing::from_json;

namespace {

Reduction reduction_of(const json::Value& options) {
  if (!options.contains("reduction")) return Reduction::mean;
  const std::string r = options["reduction"].as_string();
  return r == "none" ? Reduction::none : r == "sum" ? Reduction::sum : Reduction::mean;
}

double number_or(const json::Value& options, const char* key, double fallback) {
  return options.contains(key) ? options[key].as_double() : fallback;
}

// The case's loss through tinyxf's options structs.
Tensor run_loss(const json::Value& c, const Tensor& x, const Tensor& y, const Tensor& weight, const Tensor& pos_weight) {
  const std::string loss = c["loss"].as_string();
  const json::Value& o = c["options"];
  const Reduction reduction = reduction_of(o);
  const auto ignore_index = static_cast<std::int64_t>(number_or(o, "ignore_index", -100));
  if (loss == "nll_loss")
    return nll_loss(x, y, {.weight = weight, .ignore_index = ignore_index, .reduction = reduction});
  if (loss == "cross_entropy")
    return cross_entropy(x, y, {.weight = weight, .ignore_index = ignore_index, .reduction = reduction,
                                .label_smoothing = number_or(o, "label_smoothing", 0.0)});
  if (loss == "binary_cross_entropy") return binary_cross_entropy(x, y, {.weight = weight, .reduction = reduction});
  if (loss == "binary_cross_entropy_with_logits")
    return binary_cross_entropy_with_logits(x, y, {.weight = weight, .pos_weight = pos_weight, .reduction = reduction});
  if (loss == "mse_loss") return mse_loss(x, y, reduction);
  if (loss == "l1_loss") return l1_loss(x, y, reduction);
  if (loss == "smooth_l1_loss") return smooth_l1_loss(x, y, reduction, number_or(o, "beta", 1.0));
  if (loss == "huber_loss") return huber_loss(x, y, reduction, number_or(o, "delta", 1.0));
  if (loss == "kl_div") {
    const std::string r = o.contains("reduction") ? o["reduction"].as_string() : "mean";
    const KLDivReduction kr = r == "none"        ? KLDivReduction::none
                              : r == "sum"       ? KLDivReduction::sum
                              : r == "batchmean" ? KLDivReduction::batchmean
                                                 : KLDivReduction::mean;
    return kl_div(x, y, {.reduction = kr, .log_target = o.contains("log_target") && o["log_target"].as_bool()});
  }
  FAIL("unknown loss " << loss);
  return {};
}

}  // namespace

TEST_CASE("losses match torch.nn.functional (float64 golden): values and gradients", "[loss][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      // floor: float32's rounding of order-1 intermediates (sigmoid(17) is 1 in float32, so
      // sigmoid(x) - y loses its 4e-8 there, in torch's float32 too)
      const double rel = dtype == kFloat64 ? 1e-10 : 1e-5, floor = dtype == kFloat64 ? 0.0 : 2e-7;
      for (const auto& c : testing::golden("loss_golden.json")["cases"].as_array()) {
        const std::string name = c["name"].as_string();
        INFO(name << " on " << device.str() << " in " << dtype_name(dtype));
        Tensor x = from_json(c["input"], dtype, device);
        const std::string target_dtype = c["target"]["dtype"].as_string();
        Tensor y = from_json(c["target"], target_dtype == "int64" ? kInt64 : target_dtype == "uint8" ? kUInt8 : dtype,
                             device);
        const Tensor weight = c.contains("weight") ? from_json(c["weight"], dtype, device) : Tensor();
        const Tensor pos_weight = c.contains("pos_weight") ? from_json(c["pos_weight"], dtype, device) : Tensor();
        const bool with_grad = c.contains("grad_input");
        x.set_requires_grad(with_grad);
        if (c.contains("grad_target")) y.set_requires_grad(true);
        const Tensor out = run_loss(c, x, y, weight, pos_weight);
        CHECK(out.dtype() == dtype);
        check_close(out, c["output"], rel, name + " output", floor);
        if (!with_grad) continue;
        sum(out * from_json(c["R"], dtype, device)).backward();
        check_close(x.grad(), c["grad_input"], rel, name + " grad_input", floor);
        if (c.contains("grad_target")) check_close(y.grad(), c["grad_target"], rel, name + " grad_target", floor);
      }
    }
  }
}
