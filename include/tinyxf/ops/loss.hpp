#pragma once
// Loss functions, as torch.nn.functional: nll_loss, cross_entropy, binary_cross_entropy(_with_logits),
// mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, with the options of PyTorch's C++ frontend
// (CrossEntropyOptions{.weight, .ignore_index, .reduction, .label_smoothing}, ...).
//
// nll_loss / cross_entropy in their default form (2-D input, mean, no class weights, no label
// smoothing) run the backends' fused nll kernel. Every other form, and the other losses, are
// composed from differentiable ops: a class-index loss builds a [..., C] mask (target one-hot
// times the class weight), one extra pass over the input, and reads the targets on the host once
// to range-check them. Each loss computes torch's formula in torch's order, so values match to
// rounding; all of them are on autocast's float32 list (a 16-bit input is cast up first).
#include <limits>
#include <string>

#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

// torch's reduction='none' | 'mean' | 'sum'.
enum class Reduction { none, mean, sum };
// kl_div's reductions: batchmean divides the sum by the batch size (the KL divergence's definition).
enum class KLDivReduction { none, batchmean, sum, mean };

struct NLLLossOptions {
  Tensor weight{};  // [C] rescaling per class, or undefined
  std::int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
};
struct CrossEntropyOptions {
  Tensor weight{};  // [C] rescaling per class, or undefined
  std::int64_t ignore_index = -100;  // class-index targets only
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;  // in [0, 1]
};
struct BCELossOptions {
  Tensor weight{};  // broadcasts to the input
  Reduction reduction = Reduction::mean;
};
struct BCEWithLogitsLossOptions {
  Tensor weight{};      // broadcasts to the input
  Tensor pos_weight{};  // weight of the positive term, broadcasts along the last dim ([num_labels])
  Reduction reduction = Reduction::mean;
};
struct KLDivLossOptions {
  KLDivReduction reduction = KLDivReduction::mean;
  bool log_target = false;
};

namespace ops_detail {

inline Tensor reduce_loss(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return mean(loss);
  }
  return loss;
}

// The composed losses need only a floating dtype: 16-bit tensors run where their elementwise ops do
// (torch computes bf16 losses on the CPU without autocast too).
inline void check_floating_dtype(const char* op, const Tensor& t) {
  TINYXF_CHECK_AS(DTypeError, is_floating_point(t.dtype()), op, ": expected a floating point tensor, got ",
                  dtype_name(t.dtype()));
}

// torch's losses take no gradient for their class/element weights.
inline void check_no_grad(const char* op, const Tensor& t, const char* what) {
  TINYXF_CHECK(!autograd::needs_grad(t), op, ": not differentiable with respect to argument '", what,
               "'; this input cannot have requires_grad true (as torch)");
}

// A per-class weight [C] on the input's device.
inline void check_class_weight(const char* op, const Tensor& input, const Tensor& weight, std::int64_t classes) {
  check_same_device(op, input, weight);
  TINYXF_CHECK_AS(ShapeError, weight.dim() == 1 && weight.numel() == classes, op,
                  ": weight tensor should be defined either for all ", classes,
                  " classes or no classes but got weight tensor of shape: ", shape_str(weight.shape()));
}

// A class-index target for input [C] (target []), [N, C] (target [N]) or [N, C, d1, ...] (target
// [N, d1, ...]): checks shapes, dtype (torch: Long, or Byte for inputs up to 2-D), the weight and
// the range of every target that is not ignore_index.
inline void check_class_target(const char* op, const Tensor& input, const Tensor& target, const Tensor& weight,
                               std::int64_t ignore_index) {
  TINYXF_CHECK(input.defined() && target.defined(), op, ": undefined tensor argument");
  check_same_device(op, input, target);
  TINYXF_CHECK_AS(ShapeError, input.dim() >= 1, op, ": expected an input of at least 1 dimension ([C], [N, C] or ",
                  "[N, C, d1, ...]), got a 0-dim tensor");
  if (input.dim() == 1) {
    TINYXF_CHECK_AS(ShapeError, target.dim() == 0, op, ": an input [C] takes a 0-dim target, got ",
                    shape_str(target.shape()));
  } else {
    TINYXF_CHECK_AS(ShapeError, target.dim() >= 1 && target.shape()[0] == input.shape()[0], op,
                    ": expected input batch_size (", input.shape()[0], ") to match target batch_size (",
                    target.dim() ? target.shape()[0] : 0, ")");
    Shape want = input.shape();
    want.erase(want.begin() + 1);
    TINYXF_CHECK_AS(ShapeError, target.shape() == want, op, ": expected target size ", shape_str(want), " for input ",
                    shape_str(input.shape()), ", got ", shape_str(target.shape()));
  }
  TINYXF_CHECK_AS(DTypeError, target.dtype() == kInt64 || (target.dtype() == kUInt8 && input.dim() <= 2), op,
                  ": expected target dtype to be int64 (Long)", input.dim() <= 2 ? " or uint8 (Byte)" : "",
                  input.dim() <= 2 ? "" : " for an input of more than 2 dimensions", ", got ",
                  dtype_name(target.dtype()));
  const std::int64_t classes = input.shape()[input.dim() == 1 ? 0 : 1];
  if (weight.defined()) {
    check_class_weight(op, input, weight, classes);
    check_no_grad(op, weight, "weight");
  }
  for (const std::int64_t t : target.to(kInt64).to(Device::cpu()).contiguous().to_vector<std::int64_t>())
    TINYXF_CHECK_AS(IndexError, t == ignore_index || (t >= 0 && t < classes), op, ": Target ", t,
                    " is out of bounds (", classes, " classes)");
}

// input [N, C, d1, ...] as [N, d1, ..., C] (a view); [C] and [N, C] as they are.
inline Tensor classes_last(const Tensor& input) {
  if (input.dim() <= 2) return input;
  std::vector<std::int64_t> perm{0};
  for (std::int64_t d = 2; d < input.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return input.permute(perm);
}

// The per-element weight of a class-index target, [target..., C]: weight[t] (1 without weights)
// in column t, 0 elsewhere and on the whole row of an ignored target.
inline Tensor target_weight_mask(const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                                 std::int64_t classes, const TensorOptions& options) {
  const Tensor t = target.to(kInt64).unsqueeze(-1);
  const Tensor columns = Tensor::arange(static_cast<double>(classes), TensorOptions(target.device()).dtype(kInt64));
  Tensor mask = eq(t, columns).to(options.dtype()) * ne(t, static_cast<double>(ignore_index)).to(options.dtype());
  return weight.defined() ? mask * weight.to(options.dtype()) : mask;
}

// The fused kernel: log-probabilities [N, C], mean over the rows whose target is not ignore_index.
inline Tensor fused_nll_loss(const Tensor& logp, const Tensor& target, std::int64_t ignore_index) {
  const std::int64_t rows = logp.shape()[0], classes = logp.shape()[1];
  Tensor lc = [&] { NoGradGuard ng; return logp.contiguous(); }();
  Tensor tc = target.to(kInt64).contiguous();
  Tensor loss = Tensor::empty({}, logp.options());
  Tensor count = Tensor::empty({}, logp.options());
  logp.impl()->backend().nll_loss(kv(loss), kv(count), kv(lc), kv(tc), rows, classes, ignore_index);
  return autograd::record(loss, "nll_loss", {&logp.impl()}, [saved_target = autograd::save_input(tc, 1), count, rows,
                                                                 classes, ignore_index](const Tensor& g) {
    const Tensor& tc = saved_target.get();
    Tensor gl = Tensor::empty({rows, classes}, g.options());
    Tensor gc = g.contiguous();
    g.impl()->backend().nll_loss_backward(kv(gl), kv(gc), kv(count), kv(tc), rows, classes, ignore_index);
    return std::vector<Tensor>{gl};
  });
}

}  // namespace ops_detail

// torch.nn.functional.nll_loss(input, target, weight, ignore_index, reduction): input holds
// log-probabilities [C], [N, C] or [N, C, d1, ...]; target the class indices [], [N] or
// [N, d1, ...] (int64; uint8 up to 2-D input). Per element l = -weight[t] * input[t] (0 where
// t == ignore_index); mean divides the sum by the summed weight of the targets not ignored (NaN
// when all are ignored, as torch).
inline Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options) {
  if (ops_detail::autocast_fp32_needed({&input}))  // autocast: fp32 list
    return nll_loss(ops_detail::autocast_fp32(input), target, options);
  const bool fast_path = input.defined() && target.defined() && input.dim() == 2 && target.dim() == 1 &&
                         !options.weight.defined() && options.reduction == Reduction::mean;
  if (fast_path) {
    TINYXF_CHECK_AS(ShapeError, target.shape()[0] == input.shape()[0],
                    "nll_loss: expected input batch_size (", input.shape()[0], ") to match target batch_size (",
                    target.shape()[0], ")");
    ops_detail::check_same_device("nll_loss", input, target);
    ops_detail::check_floating("nll_loss", input);
    TINYXF_CHECK_AS(DTypeError, target.dtype() == kInt64 || target.dtype() == kUInt8,
                    "nll_loss: expected target dtype to be int64 (Long) or uint8 (Byte), got ",
                    dtype_name(target.dtype()));
    return ops_detail::fused_nll_loss(input, target, options.ignore_index);  // range-checked by the kernel
  }
  ops_detail::check_class_target("nll_loss", input, target, options.weight, options.ignore_index);
  ops_detail::check_floating("nll_loss", input);
  const Tensor x = ops_detail::classes_last(input);
  const Tensor mask = ops_detail::target_weight_mask(target, options.weight, options.ignore_index,
                                                     x.shape().back(), x.options());
  const Tensor loss = -sum(x * mask, {-1});
  switch (options.reduction) {
    case Reduction::none: return loss;
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return sum(loss) / sum(mask);
  }
  return loss;
}
inline Tensor nll_loss(const Tensor& logp, const Tensor& target, std::int64_t ignore_index = -100) {
  return nll_loss(logp, target, NLLLossOptions{.ignore_index = ignore_index});
}

// torch.nn.functional.cross_entropy(input, target, weight, ignore_index, reduction,
// label_smoothing): log_softmax over the class dim (1; 0 for an input [C]) then
//  - class-index target (int64/uint8, shapes as nll_loss): nll_loss; with label smoothing ε,
//    (1 - ε) nll + ε/C · smooth, smooth = -Σ_c weight[c] logp[c] per element (0 where ignored),
//    its mean divided by the summed weight of the targets not ignored (their count without weights);
//  - probability target (floating, the input's shape): -Σ_c weight[c] p[c] logp[c] with
//    p = (1 - ε) target + ε/C; mean divides by the number of elements N·d1·..., not by weights.
inline Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options) {
  TINYXF_CHECK(input.defined() && target.defined(), "cross_entropy: undefined tensor argument");
  TINYXF_CHECK_AS(ValueError, options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0,
                  "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: ", options.label_smoothing);
  TINYXF_CHECK_AS(ShapeError, input.dim() >= 1,
                  "cross_entropy: expected an input of at least 1 dimension, got a 0-dim tensor");
  const Tensor x = ops_detail::autocast_fp32(input);  // autocast: fp32 list
  const std::int64_t class_dim = x.dim() == 1 ? 0 : 1, classes = x.shape()[static_cast<std::size_t>(class_dim)];
  const double eps = options.label_smoothing;
  if (is_floating_point(target.dtype())) {
    TINYXF_CHECK_AS(ShapeError, target.shape() == x.shape(), "cross_entropy: probability targets must have the "
                    "input's shape ", shape_str(x.shape()), ", got ", shape_str(target.shape()));
    TINYXF_CHECK_AS(ValueError, options.ignore_index < 0,
                    "cross_entropy: ignore_index is not supported for floating point target");
    ops_detail::check_same_device("cross_entropy", x, target);
    ops_detail::check_floating("cross_entropy", x);
    const Tensor logp = log_softmax(x, class_dim);
    const Tensor p = eps > 0 ? ops_detail::autocast_fp32(target) * (1.0 - eps) + eps / static_cast<double>(classes)
                             : ops_detail::autocast_fp32(target);
    Tensor terms = logp * p;
    if (options.weight.defined()) {  // differentiable here, as torch's composition
      ops_detail::check_class_weight("cross_entropy", x, options.weight, classes);
      Shape view(static_cast<std::size_t>(x.dim() - class_dim), 1);
      view[0] = classes;
      terms = terms * ops_detail::autocast_fp32(options.weight).reshape(view);
    }
    switch (options.reduction) {
      case Reduction::none: return -sum(terms, {class_dim});
      case Reduction::sum: return -sum(terms);
      case Reduction::mean:  // NaN for an empty input, as torch
        return -sum(terms) / static_cast<double>(x.numel() ? x.numel() / classes : 0);
    }
  }
  const Tensor logp = log_softmax(x, class_dim);
  if (eps == 0.0) return nll_loss(logp, target, NLLLossOptions{options.weight, options.ignore_index, options.reduction});
  // label smoothing (torch's cross_entropy_loss_label_smoothing): the nll term and the mean's
  // denominator (the summed weight of the targets not ignored) come from one target mask
  ops_detail::check_class_target("cross_entropy", x, target, options.weight, options.ignore_index);
  const Tensor lp = ops_detail::classes_last(logp);
  const Tensor mask = ops_detail::target_weight_mask(target, options.weight, options.ignore_index, classes, lp.options());
  const Tensor nll = -sum(lp * mask, {-1});
  const Tensor valid = ne(target.to(kInt64), static_cast<double>(options.ignore_index)).to(lp.dtype());
  const Tensor smooth =
      (options.weight.defined() ? -sum(lp * options.weight.to(lp.dtype()), {-1}) : -sum(lp, {-1})) * valid;
  const double keep = 1.0 - eps, spread = eps / static_cast<double>(classes);
  switch (options.reduction) {
    case Reduction::none: return nll * keep + smooth * spread;
    case Reduction::sum: return sum(nll) * keep + sum(smooth) * spread;
    case Reduction::mean: {
      const Tensor total = sum(mask);
      return (sum(nll) / total) * keep + (sum(smooth) / total) * spread;
    }
  }
  return nll;
}
inline Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::int64_t ignore_index = -100) {
  return cross_entropy(logits, target, CrossEntropyOptions{.ignore_index = ignore_index});
}

namespace ops_detail {
// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), torch's log_sigmoid: exp never overflows and
// log1p keeps the tail below float epsilon that log(1 + ·) would round to 0.
inline Tensor log_sigmoid(const Tensor& x) {
  return minimum(x, Tensor::zeros({}, x.options())) - log1p(exp(-abs(x)));
}
}  // namespace ops_detail

// torch.nn.functional.binary_cross_entropy_with_logits(input, target, weight, reduction,
// pos_weight): per element (1 - y) x - lw · log_sigmoid(x), lw = 1 + (pos_weight - 1) y, times
// weight, in torch's order. The backward is torch's closed form, not the composition's (whose
// 1 - (1 - sigmoid) cancels in float): d/dx = w ((pos_weight y + 1 - y) sigmoid(x) - pos_weight y)
// (sigmoid(x) - y without pos_weight), d/dy = w (log_sigmoid(-x) - pos_weight log_sigmoid(x))
// (-x without). As torch, weight and pos_weight take no gradient (an error if they require it).
// Target and input have one shape and are floating point (torch refuses integer targets).
inline Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                               const BCEWithLogitsLossOptions& options) {
  const char* op = "binary_cross_entropy_with_logits";
  TINYXF_CHECK(logits.defined() && target.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(ShapeError, logits.shape() == target.shape(), op, ": target of shape ", shape_str(target.shape()),
                  " does not match input of shape ", shape_str(logits.shape()));
  ops_detail::check_same_device(op, logits, target);
  const Tensor x = ops_detail::autocast_fp32(logits);  // autocast: fp32 list, as torch (before the dtype check)
  ops_detail::check_floating(op, x);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(target.dtype()), op, ": target must be floating point (probabilities "
                  "or 0/1 per label), got ", dtype_name(target.dtype()));
  const Tensor y = target.to(x.dtype());
  const auto extra = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return t;
    ops_detail::check_same_device(op, x, t);
    ops_detail::check_no_grad(op, t, what);
    return t.to(x.dtype());
  };
  const Tensor weight = extra(options.weight, "weight"), pos_weight = extra(options.pos_weight, "pos_weight");
  Tensor loss = [&] {
    NoGradGuard ng;
    const Tensor ls = ops_detail::log_sigmoid(x);
    Tensor l = (1.0 - y) * x - (pos_weight.defined() ? ls * ((pos_weight - 1.0) * y + 1.0) : ls);
    return weight.defined() ? l * weight : l;
  }();
  loss = autograd::record(loss, op, {&x.impl(), &y.impl()},
                          [saved_x = autograd::save_input(x, 0), saved_y = autograd::save_input(y, 1), weight,
                           pos_weight](const Tensor& g) {
                            const Tensor &x = saved_x.get(), &y = saved_y.get();
                            Tensor gx, gy;
                            if (pos_weight.defined()) {
                              const Tensor t = pos_weight * y;
                              gx = (t + 1.0 - y) * sigmoid(x) - t;
                              gy = ops_detail::log_sigmoid(-x) - ops_detail::log_sigmoid(x) * pos_weight;
                            } else {
                              gx = sigmoid(x) - y;
                              gy = -x;
                            }
                            if (weight.defined()) gx = gx * weight, gy = gy * weight;
                            return std::vector<Tensor>{sum_to_shape(g * gx, x.shape()),
                                                       sum_to_shape(g * gy, y.shape())};
                          });
  return ops_detail::reduce_loss(loss, options.reduction);
}
inline Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target) {
  return binary_cross_entropy_with_logits(logits, target, BCEWithLogitsLossOptions{});
}

// torch.nn.functional.binary_cross_entropy(input, target, weight, reduction): input holds
// probabilities; per element -w (y log x + (1 - y) log(1 - x)) with each log clamped at -100 (so
// 0 and 1 give finite losses), as torch: (y - 1) max(log1p(-x), -100) - y max(log x, -100). Input
// and target have one shape, and both lie in [0, 1].
inline Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCELossOptions& options = {}) {
  const char* op = "binary_cross_entropy";
  TINYXF_CHECK(input.defined() && target.defined(), op, ": undefined tensor argument");
  TINYXF_CHECK_AS(ShapeError, input.shape() == target.shape(), op, ": target of shape ", shape_str(target.shape()),
                  " does not match input of shape ", shape_str(input.shape()), " (torch refuses different sizes)");
  ops_detail::check_same_device(op, input, target);
  const Tensor x = ops_detail::autocast_fp32(input);  // autocast: fp32 list
  ops_detail::check_floating_dtype(op, x);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(target.dtype()), op, ": target must be floating point, got ",
                  dtype_name(target.dtype()));
  const Tensor y = target.to(x.dtype());
  const auto outside_unit = [](const Tensor& t) {
    NoGradGuard ng;
    return (sum(lt(t, 0.0)) + sum(gt(t, 1.0)) + sum(ne(t, t))).item<std::int64_t>() != 0;  // NaN too
  };
  TINYXF_CHECK_AS(ValueError, !outside_unit(x), op, ": all elements of input should be between 0 and 1");
  TINYXF_CHECK_AS(ValueError, !outside_unit(y), op, ": all elements of target should be between 0 and 1");
  const Tensor floor = Tensor::full({}, -100.0, x.options());
  Tensor loss = (y - 1.0) * maximum(log1p(-x), floor) - y * maximum(log(x), floor);
  if (options.weight.defined()) {
    ops_detail::check_same_device(op, x, options.weight);
    ops_detail::check_no_grad(op, options.weight, "weight");
    loss = loss * ops_detail::autocast_fp32(options.weight);
  }
  return ops_detail::reduce_loss(loss, options.reduction);
}

namespace ops_detail {
// input - target for the regression losses: broadcast as torch (which warns on differing shapes),
// floating point, autocast's fp32 list.
inline Tensor regression_difference(const char* op, const Tensor& input, const Tensor& target) {
  TINYXF_CHECK(input.defined() && target.defined(), op, ": undefined tensor argument");
  check_same_device(op, input, target);
  const Tensor x = autocast_fp32(input), y = autocast_fp32(target);
  TINYXF_CHECK_AS(DTypeError, is_floating_point(result_type(x, y)), op,
                  ": expected floating point input or target, got ", dtype_name(x.dtype()), " and ",
                  dtype_name(y.dtype()));
  return x - y;
}
}  // namespace ops_detail

// torch.nn.functional.mse_loss(input, target, reduction): (x - y)².
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean) {
  const Tensor d = ops_detail::regression_difference("mse_loss", input, target);
  return ops_detail::reduce_loss(d * d, reduction);
}

// torch.nn.functional.l1_loss(input, target, reduction): |x - y| (gradient sign(x - y), 0 at 0).
inline Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean) {
  return ops_detail::reduce_loss(abs(ops_detail::regression_difference("l1_loss", input, target)), reduction);
}

// torch.nn.functional.smooth_l1_loss(input, target, reduction, beta): 0.5 d²/beta where |d| < beta,
// |d| - 0.5 beta elsewhere (the two meet at |d| = beta); beta = 0 is l1_loss.
inline Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                             double beta = 1.0) {
  TINYXF_CHECK_AS(ValueError, beta >= 0.0, "smooth_l1_loss does not support negative values for beta, got ", beta);
  if (beta == 0.0) return l1_loss(input, target, reduction);
  const Tensor d = ops_detail::regression_difference("smooth_l1_loss", input, target);
  const Tensor z = abs(d);
  return ops_detail::reduce_loss(where(lt(z, beta), d * d * (0.5 / beta), z - 0.5 * beta), reduction);
}

// torch.nn.functional.huber_loss(input, target, reduction, delta): 0.5 d² where |d| < delta,
// delta (|d| - 0.5 delta) elsewhere.
inline Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                         double delta = 1.0) {
  TINYXF_CHECK_AS(ValueError, delta > 0.0, "huber_loss does not support non-positive values for delta, got ", delta);
  const Tensor d = ops_detail::regression_difference("huber_loss", input, target);
  const Tensor z = abs(d);
  return ops_detail::reduce_loss(where(lt(z, delta), d * d * 0.5, (z - 0.5 * delta) * delta), reduction);
}

namespace ops_detail {
// torch.xlogy(y, y): y log y, 0 where y = 0, with torch's gradient xlogy(y != 0, y) + y / y (the
// second term, xlogy's gradient through its log argument, is NaN where y = 0, as in torch).
inline Tensor xlogy_self(const Tensor& y) {
  const auto where_zero = [](const Tensor& y, const Tensor& value, const Tensor& otherwise) {
    return where(eq(y, 0.0), value, otherwise);
  };
  Tensor out;
  {
    NoGradGuard forward_only;
    out = y * log(where_zero(y, Tensor::ones({}, y.options()), y));
  }
  return autograd::record(out, "xlogy", {&y.impl()},
                          [where_zero, saved_y = autograd::save_input(y, 0)](const Tensor& g) {
                            const Tensor& y = saved_y.get();
                            const Tensor log_y = where_zero(y, Tensor::zeros({}, y.options()), log(y));
                            return std::vector<Tensor>{g * (log_y + y / y)};
                          });
}
}  // namespace ops_detail

// torch.nn.functional.kl_div(input, target, reduction, log_target): input holds log-probabilities;
// per element target (log target - input) as xlogy(target, target) - target·input (0 where target
// is 0, where the target's gradient is NaN as torch's), or exp(target) (target - input) with log_target. batchmean divides the sum by the batch
// size input.shape[0] (the KL divergence); mean by the number of elements.
inline Tensor kl_div(const Tensor& input, const Tensor& target, const KLDivLossOptions& options = {}) {
  const char* op = "kl_div";
  TINYXF_CHECK(input.defined() && target.defined(), op, ": undefined tensor argument");
  ops_detail::check_same_device(op, input, target);
  const Tensor x = ops_detail::autocast_fp32(input), y = ops_detail::autocast_fp32(target);
  ops_detail::check_floating_dtype(op, x);
  ops_detail::check_floating_dtype(op, y);
  Tensor loss;
  if (options.log_target) {
    loss = exp(y) * (y - x);
  } else {
    loss = ops_detail::xlogy_self(y) - y * x;
  }
  switch (options.reduction) {
    case KLDivReduction::none: return loss;
    case KLDivReduction::sum: return sum(loss);
    case KLDivReduction::mean: return mean(loss);
    case KLDivReduction::batchmean:
      return x.dim() == 0 ? sum(loss) : sum(loss) / static_cast<double>(x.shape()[0]);
  }
  return loss;
}

}  // namespace tinyxf
