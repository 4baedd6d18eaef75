#pragma once
// 1-D convolution and pooling layers with PyTorch's names, options and initialization
// (the computations are ops/conv.hpp): nn::Conv1d, MaxPool1d, AvgPool1d, AdaptiveMaxPool1d,
// AdaptiveAvgPool1d.
#include <cmath>
#include <optional>
#include <string>

#include "tinyxf/nn/init.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/ops/conv.hpp"

namespace tinyxf::nn {

// torch::nn::Conv1dOptions: Conv1dOptions(in_channels, out_channels, kernel_size).stride(2)
// .padding("same").groups(2).bias(false).padding_mode("reflect"); each option reads back with
// its name and no argument.
class Conv1dOptions {
 public:
  Conv1dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
#define TINYXF_CONV_OPTION(type, name) \
  Conv1dOptions& name(type value) {    \
    name##_ = value;                   \
    return *this;                      \
  }                                    \
  type name() const { return name##_; }
  TINYXF_CONV_OPTION(std::int64_t, in_channels)
  TINYXF_CONV_OPTION(std::int64_t, out_channels)
  TINYXF_CONV_OPTION(std::int64_t, kernel_size)
  TINYXF_CONV_OPTION(std::int64_t, stride)
  TINYXF_CONV_OPTION(Conv1dPadding, padding)
  TINYXF_CONV_OPTION(std::int64_t, dilation)
  TINYXF_CONV_OPTION(std::int64_t, groups)
  TINYXF_CONV_OPTION(bool, bias)
  TINYXF_CONV_OPTION(std::string, padding_mode)
#undef TINYXF_CONV_OPTION

 private:
  std::int64_t in_channels_, out_channels_, kernel_size_, stride_ = 1;
  Conv1dPadding padding_ = 0;
  std::int64_t dilation_ = 1, groups_ = 1;
  bool bias_ = true;
  std::string padding_mode_ = "zeros";
};

// torch.nn.Conv1d: weight [out_channels, in_channels / groups, kernel_size], bias [out_channels];
// init as torch's reset_parameters: kaiming_uniform_(a = sqrt(5)) on the weight (U(±1/sqrt(fan_in))),
// bias U(±1/sqrt(fan_in)), fan_in = in_channels / groups · kernel_size. Input [N, C_in, L] or [C_in, L].
class Conv1d : public UnaryModule {
 public:
  explicit Conv1d(Conv1dOptions options, Generator& gen = default_generator())
      : options(options), padding_mode(padding_mode_from_string(options.padding_mode())) {
    const std::int64_t in = options.in_channels(), out = options.out_channels(), groups = options.groups();
    TINYXF_CHECK_AS(ValueError, groups > 0, "groups must be a positive integer, got ", groups);
    TINYXF_CHECK_AS(ValueError, in % groups == 0, "in_channels must be divisible by groups");
    TINYXF_CHECK_AS(ValueError, out % groups == 0, "out_channels must be divisible by groups");
    TINYXF_CHECK_AS(ValueError, options.kernel_size() > 0 && options.stride() > 0 && options.dilation() > 0,
                    "Conv1d: kernel_size, stride and dilation must be positive, got ", options.kernel_size(), ", ",
                    options.stride(), " and ", options.dilation());
    TINYXF_CHECK_AS(ValueError, !options.padding().same || options.stride() == 1,
                    "padding='same' is not supported for strided convolutions");
    TINYXF_CHECK_AS(ValueError, options.padding().amount >= 0, "negative padding is not supported");
    weight = register_parameter("weight", Tensor::empty({out, in / groups, options.kernel_size()}));
    if (options.bias()) bias = register_parameter("bias", Tensor::empty({out}));
    reset_parameters(gen);
  }
  Conv1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : Conv1d(Conv1dOptions(in_channels, out_channels, kernel_size)) {}

  void reset_parameters(Generator& gen = default_generator()) {
    init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
    if (!bias.defined()) return;
    const double fan_in = static_cast<double>(calculate_fan_in(weight));
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }

  // torch pads by padding_mode (F.pad) then convolves: the same windows, read from the input's own values
  Tensor forward(const Tensor& x) override {
    ops_detail::check_conv1d_args(x, weight, bias, options.stride(), options.padding(), options.dilation(),
                                  options.groups());
    const auto [left, right] = ops_detail::padding_sides(options.padding(), options.kernel_size(), options.dilation());
    return ops_detail::conv1d_padded(x, weight, bias, options.stride(), left, right, options.dilation(),
                                     options.groups(), padding_mode);
  }

  Conv1dOptions options;
  PaddingMode padding_mode;
  Tensor weight, bias;

 private:
  static std::int64_t calculate_fan_in(const Tensor& w) { return init::calculate_fan_in_and_fan_out(w).first; }
};

// torch.nn.MaxPool1d(kernel_size, stride = kernel_size, padding = 0, dilation = 1, ceil_mode = false).
class MaxPool1d : public UnaryModule {
 public:
  explicit MaxPool1d(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0, std::int64_t dilation = 1, bool ceil_mode = false)
      : kernel_size(kernel_size), stride(stride.value_or(kernel_size)), padding(padding), dilation(dilation),
        ceil_mode(ceil_mode) {}
  Tensor forward(const Tensor& x) override { return max_pool1d(x, kernel_size, stride, padding, dilation, ceil_mode); }
  std::int64_t kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

// torch.nn.AvgPool1d(kernel_size, stride = kernel_size, padding = 0, ceil_mode = false, count_include_pad = true).
class AvgPool1d : public UnaryModule {
 public:
  explicit AvgPool1d(std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                     std::int64_t padding = 0, bool ceil_mode = false, bool count_include_pad = true)
      : kernel_size(kernel_size), stride(stride.value_or(kernel_size)), padding(padding), ceil_mode(ceil_mode),
        count_include_pad(count_include_pad) {}
  Tensor forward(const Tensor& x) override {
    return avg_pool1d(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
  }
  std::int64_t kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
};

// torch.nn.AdaptiveMaxPool1d(output_size) / AdaptiveAvgPool1d(output_size); output_size 1 is
// global pooling over the length.
class AdaptiveMaxPool1d : public UnaryModule {
 public:
  explicit AdaptiveMaxPool1d(std::int64_t output_size) : output_size(output_size) {}
  Tensor forward(const Tensor& x) override { return adaptive_max_pool1d(x, output_size); }
  std::int64_t output_size;
};
class AdaptiveAvgPool1d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool1d(std::int64_t output_size) : output_size(output_size) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool1d(x, output_size); }
  std::int64_t output_size;
};

}  // namespace tinyxf::nn
