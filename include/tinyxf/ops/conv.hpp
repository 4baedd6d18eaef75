#pragma once
// torch.nn.functional's 1-D convolution and pooling, as text CNNs use them: conv1d, max_pool1d,
// avg_pool1d, adaptive_max_pool1d, adaptive_avg_pool1d. Inputs [N, C, L] or unbatched [C, L].
//
// Composed from differentiable ops, so autograd and every backend work with no kernel of their
// own: the sliding windows are ONE index_select of the input (im2col, laid out [N, C, K, L_out]:
// window element k of output position o), positions outside the input reading one appended
// column of the fill value (0, or -inf for max pooling). conv1d is then one batched GEMM
// (weight [groups, out/groups, in/groups * K] @ windows [N, groups, in/groups * K, L_out]);
// pooling is a max or sum over the window dim (max's gradient goes to the first maximum of the
// window, as torch's max_pool1d). The index_select's backward scatter-adds the windows' gradients
// back onto the input.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/ops/matmul.hpp"
#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

// conv1d's padding: a number of zeros on each side (an int), or torch's strings "valid" (none)
// and "same" (the output as long as the input; an odd total goes one more to the right, as torch).
struct Conv1dPadding {
  template <std::integral T>
  Conv1dPadding(T amount) : amount(static_cast<std::int64_t>(amount)) {}  // NOLINT: implicit, as torch's int
  Conv1dPadding(std::string_view mode) : same(mode == "same") {  // NOLINT: "valid" / "same"
    TINYXF_CHECK_AS(ValueError, mode == "same" || mode == "valid", "Invalid padding string: '", mode, "'");
  }
  Conv1dPadding(const char* mode) : Conv1dPadding(std::string_view(mode)) {}  // NOLINT
  std::int64_t amount = 0;
  bool same = false;
};

// What fills a convolution's padding (torch.nn.Conv1d's padding_mode): zeros, or values of the
// input itself (reflect: mirrored without the edge, replicate: the edge, circular: wrapped around).
enum class PaddingMode { zeros, reflect, replicate, circular };

inline PaddingMode padding_mode_from_string(std::string_view mode) {
  if (mode == "zeros") return PaddingMode::zeros;
  if (mode == "reflect") return PaddingMode::reflect;
  if (mode == "replicate") return PaddingMode::replicate;
  if (mode == "circular") return PaddingMode::circular;
  throw ValueError(detail::concat("padding_mode must be one of {'reflect', 'replicate', 'circular', 'zeros'}, "
                                  "but got padding_mode='", mode, "'"));
}

namespace ops_detail {

// Output length of a pooling window sweep (torch's pooling_output_shape): floor or, with
// ceil_mode, ceil division, dropping a last window that would start in the right padding.
inline std::int64_t pooled_length(std::int64_t length, std::int64_t kernel, std::int64_t pad, std::int64_t stride,
                                  std::int64_t dilation, bool ceil_mode) {
  const std::int64_t span = length + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  std::int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= length + pad) --out;
  return out;
}

// Input position read by window element k of output position o (the sweep starting at -pad_left).
inline std::vector<std::int64_t> sweep_positions(std::int64_t kernel, std::int64_t out_length, std::int64_t stride,
                                                 std::int64_t dilation, std::int64_t pad_left) {
  std::vector<std::int64_t> positions(static_cast<std::size_t>(kernel * out_length));
  for (std::int64_t k = 0; k < kernel; ++k)
    for (std::int64_t o = 0; o < out_length; ++o)
      positions[static_cast<std::size_t>(k * out_length + o)] = o * stride + k * dilation - pad_left;
  return positions;
}

// Where a position outside [0, length) reads from under a padding mode; -1: the fill value.
inline std::int64_t padded_source(std::int64_t p, std::int64_t length, PaddingMode mode) {
  if (p >= 0 && p < length) return p;
  switch (mode) {
    case PaddingMode::reflect: return p < 0 ? -p : 2 * (length - 1) - p;
    case PaddingMode::replicate: return p < 0 ? 0 : length - 1;
    case PaddingMode::circular: return ((p % length) + length) % length;
    case PaddingMode::zeros: break;
  }
  return -1;
}

// The windows of x [N, C, L] as [N, C, K, out_length]: element (k, o) is x at positions[k *
// out_length + o] (sweep_positions or adaptive windows), `fill` outside the input (or the input's
// own values under a non-zeros padding mode). One index_select: differentiable, any backend.
inline Tensor gather_windows(const Tensor& x, const std::vector<std::int64_t>& positions, std::int64_t kernel,
                             std::int64_t out_length, double fill, PaddingMode mode = PaddingMode::zeros) {
  const std::int64_t n = x.shape()[0], c = x.shape()[1], length = x.shape()[2];
  std::vector<std::int64_t> index(positions.size());
  bool reads_fill = false;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const std::int64_t source = padded_source(positions[i], length, mode);
    reads_fill = reads_fill || source < 0;
    index[i] = source < 0 ? length : source;  // the appended fill column
  }
  const Tensor source = reads_fill ? cat({x, Tensor::full({n, c, 1}, fill, x.options())}, 2) : x;
  const Tensor picked = index_select(source, 2, Tensor::from_vector(index, TensorOptions(x.device()).dtype(kInt64)));
  return picked.view({n, c, kernel, out_length});
}

// Runs `batched` on x as [N, C, L], giving an unbatched [C, L] input a batch of one and its
// result back without it (torch's 2-D inputs to the 1-D ops).
template <class F>
Tensor with_batch_dim(const Tensor& x, F&& batched) {
  if (x.dim() == 2) return batched(x.unsqueeze(0)).squeeze(0);
  return batched(x);
}

inline void check_pool_input(const char* op, const Tensor& x) {
  TINYXF_CHECK(x.defined(), op, ": undefined input");
  TINYXF_CHECK_AS(ShapeError, x.dim() == 2 || x.dim() == 3, "Expected 2 to 3 dimensions, but got ", x.dim(),
                  "-dimensional tensor for argument #1 'self' (while checking arguments for ", op, ")");
  TINYXF_CHECK_AS(DTypeError, is_floating_point(x.dtype()), op, ": expected a floating point input, got ",
                  dtype_name(x.dtype()));
}

// conv1d with explicit left/right padding and padding mode (Conv1d's non-zeros modes use it).
inline Tensor conv1d_padded(const Tensor& input, const Tensor& weight, const Tensor& bias, std::int64_t stride,
                            std::int64_t pad_left, std::int64_t pad_right, std::int64_t dilation,
                            std::int64_t groups, PaddingMode mode) {
  const std::int64_t length = input.shape().back();
  // torch's F.pad messages (Conv1d pads with them before convolving)
  if (mode == PaddingMode::reflect)
    TINYXF_CHECK_AS(ShapeError, pad_left < length && pad_right < length, "Argument #4: Padding size should be less "
                    "than the corresponding input dimension, but got: padding (", pad_left, ", ", pad_right,
                    ") at dimension ", input.dim() - 1, " of input ", shape_str(input.shape()));
  if (mode == PaddingMode::circular)
    TINYXF_CHECK_AS(ShapeError, pad_left <= length && pad_right <= length,
                    "Padding value causes wrapping around more than once.");
  return with_batch_dim(input, [&](const Tensor& x) {
    const std::int64_t n = x.shape()[0], c = x.shape()[1];
    const std::int64_t out_channels = weight.shape()[0], kernel = weight.shape()[2];
    const std::int64_t padded = length + pad_left + pad_right, extent = dilation * (kernel - 1) + 1;
    TINYXF_CHECK_AS(ShapeError, padded >= extent, "Calculated padded input size per channel: (", padded,
                    "). Kernel size: (", extent, "). Kernel size can't be greater than actual input size");
    const std::int64_t out_length = (padded - extent) / stride + 1;
    const Tensor windows = gather_windows(x, sweep_positions(kernel, out_length, stride, dilation, pad_left), kernel,
                                          out_length, 0.0, mode);
    const std::int64_t group_in = c / groups, group_out = out_channels / groups;
    // [groups, out/g, in/g * K] @ [N, groups, in/g * K, L_out] -> [N, groups, out/g, L_out]
    const Tensor w = weight.reshape({groups, group_out, group_in * kernel});
    Tensor out = matmul(w, windows.view({n, groups, group_in * kernel, out_length})).view({n, out_channels, out_length});
    if (bias.defined()) out = out + bias.reshape({out_channels, 1});
    return out;
  });
}

}  // namespace ops_detail

namespace ops_detail {
// conv1d's argument checks, with torch's messages.
inline void check_conv1d_args(const Tensor& input, const Tensor& weight, const Tensor& bias, std::int64_t stride,
                              const Conv1dPadding& padding, std::int64_t dilation, std::int64_t groups) {
  TINYXF_CHECK(input.defined() && weight.defined(), "conv1d: undefined input or weight");
  TINYXF_CHECK_AS(ShapeError, weight.dim() >= 3, "weight should have at least three dimensions");
  TINYXF_CHECK_AS(ShapeError, weight.dim() == 3, "conv1d: expected a 3-D weight [out_channels, in_channels / groups, "
                  "kernel_size], got weight of size ", shape_str(weight.shape()));
  TINYXF_CHECK_AS(ShapeError, input.dim() == 2 || input.dim() == 3,
                  "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: ",
                  shape_str(input.shape()));
  TINYXF_CHECK_AS(ValueError, stride > 0, "non-positive stride is not supported");
  TINYXF_CHECK_AS(ValueError, padding.amount >= 0, "negative padding is not supported");
  TINYXF_CHECK_AS(ValueError, dilation > 0, "non-positive dilation is not supported");
  TINYXF_CHECK_AS(ValueError, groups > 0, "non-positive groups is not supported");
  TINYXF_CHECK_AS(ValueError, !padding.same || stride == 1, "padding='same' is not supported for strided convolutions");
  const Shape& ws = weight.shape();
  TINYXF_CHECK_AS(ShapeError, ws[0] % groups == 0, "Given groups=", groups, ", expected weight to be divisible by ",
                  groups, " at dimension 0, but got weight of size ", shape_str(ws), " instead");
  const std::int64_t channels = input.shape()[static_cast<std::size_t>(input.dim() - 2)];
  TINYXF_CHECK_AS(ShapeError, channels == ws[1] * groups, "Given groups=", groups, ", weight of size ", shape_str(ws),
                  ", expected input", shape_str(input.shape()), " to have ", ws[1] * groups,
                  " channels, but got ", channels, " channels instead");
  if (bias.defined())
    TINYXF_CHECK_AS(ShapeError, bias.dim() == 1 && bias.shape()[0] == ws[0], "Given weight of size ", shape_str(ws),
                    ", expected bias to be 1-dimensional with ", ws[0], " elements, but got bias of size ",
                    shape_str(bias.shape()), " instead");
}

// The padding on the left and right; "same" puts an odd total's extra element on the right, as torch.
inline std::pair<std::int64_t, std::int64_t> padding_sides(const Conv1dPadding& padding, std::int64_t kernel,
                                                         std::int64_t dilation) {
  if (!padding.same) return {padding.amount, padding.amount};
  const std::int64_t total = dilation * (kernel - 1);
  return {total / 2, total - total / 2};
}
}  // namespace ops_detail

// torch.nn.functional.conv1d: input [N, C_in, L] (or [C_in, L]), weight [C_out, C_in / groups, K],
// bias [C_out] (optional) -> [N, C_out, L_out], L_out = (L + 2·padding - dilation·(K-1) - 1) / stride + 1.
inline Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), std::int64_t stride = 1,
                     Conv1dPadding padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1) {
  ops_detail::check_conv1d_args(input, weight, bias, stride, padding, dilation, groups);
  const auto [left, right] = ops_detail::padding_sides(padding, weight.shape()[2], dilation);
  return ops_detail::conv1d_padded(input, weight, bias, stride, left, right, dilation, groups, PaddingMode::zeros);
}

// torch.nn.functional.max_pool1d: the largest value of each window of kernel_size elements
// (dilation apart), windows `stride` apart (default: kernel_size), the input padded with -inf by
// `padding` (at most kernel_size / 2) on each side; ceil_mode rounds the output length up (a last,
// partial window, if it starts inside the input or left padding). NaN propagates. The gradient
// goes to each window's first maximum.
inline Tensor max_pool1d(const Tensor& input, std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                         std::int64_t padding = 0, std::int64_t dilation = 1, bool ceil_mode = false) {
  TINYXF_CHECK(input.defined(), "max_pool1d: undefined input");
  TINYXF_CHECK_AS(ShapeError, input.dim() == 2 || input.dim() == 3,
                  "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:",
                  shape_str(input.shape()));
  TINYXF_CHECK_AS(DTypeError, is_floating_point(input.dtype()), "max_pool1d: expected a floating point input, got ",
                  dtype_name(input.dtype()));
  const std::int64_t step = stride.value_or(kernel_size);
  TINYXF_CHECK_AS(ValueError, kernel_size > 0, "max_pool1d() kernel_size must be greater than zero, but got ", kernel_size);
  TINYXF_CHECK_AS(ValueError, step > 0, "max_pool1d() stride must be greater than zero, but got ", step);
  TINYXF_CHECK_AS(ValueError, padding >= 0, "max_pool1d() padding must be non-negative, but got ", padding);
  TINYXF_CHECK_AS(ValueError, padding <= kernel_size / 2, "max_pool1d() padding should be at most half of kernel size, "
                  "but got padding=", padding, " and kernel_size=", kernel_size);
  TINYXF_CHECK_AS(ValueError, dilation > 0, "max_pool1d() dilation must be greater than zero, but got ", dilation);
  const std::int64_t length = input.shape().back();
  const std::int64_t out_length = ops_detail::pooled_length(length, kernel_size, padding, step, dilation, ceil_mode);
  TINYXF_CHECK_AS(ShapeError, out_length >= 1, "max_pool1d() Invalid computed output size: ", out_length);
  return ops_detail::with_batch_dim(input, [&](const Tensor& x) {
    const Tensor windows = ops_detail::gather_windows(
        x, ops_detail::sweep_positions(kernel_size, out_length, step, dilation, padding), kernel_size, out_length,
        -std::numeric_limits<double>::infinity());
    return max(windows, 2);
  });
}

// torch.nn.functional.avg_pool1d: the mean of each window of kernel_size elements, windows
// `stride` apart (default: kernel_size), zero padding of `padding` (at most kernel_size / 2) on
// each side; ceil_mode as max_pool1d. count_include_pad: the padding counts in each window's
// divisor (torch's default); without it only the input's elements do. A window's part past the
// right padding (ceil_mode) never counts.
inline Tensor avg_pool1d(const Tensor& input, std::int64_t kernel_size, std::optional<std::int64_t> stride = std::nullopt,
                         std::int64_t padding = 0, bool ceil_mode = false, bool count_include_pad = true) {
  ops_detail::check_pool_input("avg_pool1d", input);
  const std::int64_t step = stride.value_or(kernel_size);
  TINYXF_CHECK_AS(ValueError, kernel_size > 0, "avg_pool1d: kernel_size must be greater than zero, but got ", kernel_size);
  TINYXF_CHECK_AS(ValueError, step != 0, "stride should not be zero");
  TINYXF_CHECK_AS(ValueError, step > 0, "avg_pool1d: stride must be greater than zero, but got ", step);
  TINYXF_CHECK_AS(ValueError, padding >= 0, "avg_pool1d: padding must be non-negative, but got ", padding);
  TINYXF_CHECK_AS(ValueError, padding <= kernel_size / 2, "pad should be at most half of effective kernel size, but got "
                  "pad=", padding, ", kernel_size=", kernel_size, " and dilation=1");
  const std::int64_t channels = input.shape()[static_cast<std::size_t>(input.dim() - 2)], length = input.shape().back();
  const std::int64_t out_length = ops_detail::pooled_length(length, kernel_size, padding, step, 1, ceil_mode);
  TINYXF_CHECK_AS(ShapeError, out_length >= 1, "Given input size: (", channels, "x1x", length,
                  "). Calculated output size: (", channels, "x1x", out_length, "). Output size is too small");
  std::vector<double> divisors(static_cast<std::size_t>(out_length));
  for (std::int64_t o = 0; o < out_length; ++o) {  // torch's avg_pool2d divide_factor
    const std::int64_t start = o * step - padding, end = std::min(start + kernel_size, length + padding);
    divisors[static_cast<std::size_t>(o)] = static_cast<double>(
        count_include_pad ? end - start : std::min(end, length) - std::max<std::int64_t>(start, 0));
  }
  const Tensor divisor = Tensor::from_vector(divisors, TensorOptions(input.device()).dtype(input.dtype()));
  return ops_detail::with_batch_dim(input, [&](const Tensor& x) {
    const Tensor windows = ops_detail::gather_windows(
        x, ops_detail::sweep_positions(kernel_size, out_length, step, 1, padding), kernel_size, out_length, 0.0);
    return sum(windows, {2}) / divisor;
  });
}

namespace ops_detail {
// torch's adaptive windows: output i covers [floor(i·L/out), ceil((i+1)·L/out)). Laid out as
// gather_windows wants, padded to the longest window with position L (the fill column).
inline Tensor adaptive_windows(const char* op, const Tensor& x, std::int64_t output_size, double fill,
                               std::vector<double>* counts) {
  const std::int64_t length = x.shape()[2];
  TINYXF_CHECK_AS(ValueError, output_size >= 0, op, ": output_size must be non-negative, but got ", output_size);
  TINYXF_CHECK_AS(ShapeError, length > 0 || output_size == 0, op, ": expected input to have non-zero size for "
                  "non-batch dimensions, but input has sizes ", shape_str(x.shape()));
  std::vector<std::int64_t> starts, ends;
  std::int64_t widest = 0;
  for (std::int64_t i = 0; i < output_size; ++i) {
    starts.push_back(i * length / output_size);
    ends.push_back(((i + 1) * length + output_size - 1) / output_size);
    widest = std::max(widest, ends.back() - starts.back());
  }
  std::vector<std::int64_t> positions(static_cast<std::size_t>(widest * output_size));
  for (std::int64_t k = 0; k < widest; ++k)
    for (std::int64_t i = 0; i < output_size; ++i) {
      const std::int64_t p = starts[static_cast<std::size_t>(i)] + k;
      positions[static_cast<std::size_t>(k * output_size + i)] = p < ends[static_cast<std::size_t>(i)] ? p : length;
    }
  if (counts)
    for (std::int64_t i = 0; i < output_size; ++i)
      counts->push_back(static_cast<double>(ends[static_cast<std::size_t>(i)] - starts[static_cast<std::size_t>(i)]));
  return gather_windows(x, positions, widest, output_size, fill);
}
}  // namespace ops_detail

// torch.nn.functional.adaptive_max_pool1d: output_size windows covering the input (output_size 1:
// the global max over the length, a text CNN's pooling). Gradient to each window's first maximum.
inline Tensor adaptive_max_pool1d(const Tensor& input, std::int64_t output_size) {
  ops_detail::check_pool_input("adaptive_max_pool1d", input);
  return ops_detail::with_batch_dim(input, [&](const Tensor& x) {
    if (output_size == 0) return ops_detail::adaptive_windows("adaptive_max_pool1d", x, 0, 0.0, nullptr).sum({2});
    return max(ops_detail::adaptive_windows("adaptive_max_pool1d", x, output_size,
                                            -std::numeric_limits<double>::infinity(), nullptr),
               2);
  });
}

// torch.nn.functional.adaptive_avg_pool1d: the mean over each of output_size windows covering the input.
inline Tensor adaptive_avg_pool1d(const Tensor& input, std::int64_t output_size) {
  ops_detail::check_pool_input("adaptive_avg_pool1d", input);
  return ops_detail::with_batch_dim(input, [&](const Tensor& x) {
    std::vector<double> counts;
    const Tensor windows = ops_detail::adaptive_windows("adaptive_avg_pool1d", x, output_size, 0.0, &counts);
    return sum(windows, {2}) / Tensor::from_vector(counts, TensorOptions(x.device()).dtype(x.dtype()));
  });
}

}  // namespace tinyxf
