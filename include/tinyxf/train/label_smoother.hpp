#pragma once
// train::label_smoothed_loss: Hugging Face's LabelSmoother (transformers/trainer_pt_utils.py), the
// loss the Trainer trains and evaluates on when TrainingArguments::label_smoothing_factor ε > 0:
//   (1 − ε) · (−log p[label]) + ε · (mean over the C classes of −log p),
// averaged over the positions whose label is not -100 — torch's
// cross_entropy(logits, labels, ignore_index=-100, label_smoothing=ε), which computes it.
#include <cstdint>
#include <vector>

#include "tinyxf/ops/loss.hpp"

namespace tinyxf::train {

// logits [..., C] with class-index labels [...] (sequence classification [B, C] with [B]; token
// classification or a dense masked-LM head [B, S, C] with [B, S]), or the labelled rows of a
// sparse masked-LM head [n, C] with labels [B, S] holding n labels other than -100 (the rows HF's
// dense logits would count, in row-major order: the same number). A batch without a labelled
// position gives NaN (0/0), as HF's. Real-valued labels (regression, multi-label) have no class to
// smooth towards: an error, where HF's LabelSmoother fails in gather().
inline Tensor label_smoothed_loss(const Tensor& logits, const Tensor& labels, double epsilon) {
  const char* where = "label_smoothed_loss: ";
  TINYXF_CHECK(epsilon >= 0 && epsilon < 1, where, "epsilon (label_smoothing_factor) must be in [0, 1), got ", epsilon);
  TINYXF_CHECK(logits.defined() && labels.defined(), where, "undefined logits or labels");
  TINYXF_CHECK_AS(ValueError, !is_floating_point(labels.dtype()) && labels.dtype() != kBool, where,
                  "label smoothing needs class-index labels (integers, -100 ignored), got ", dtype_name(labels.dtype()),
                  " labels of shape ", shape_str(labels.shape()),
                  " (regression or multi-label targets have no class to smooth towards; set label_smoothing_factor to 0)");
  TINYXF_CHECK_AS(ShapeError, logits.dim() >= 2, where, "expected logits [..., num_classes], got ", shape_str(logits.shape()));
  CrossEntropyOptions options;  // ignore_index -100, mean over the labelled positions
  options.label_smoothing = epsilon;
  const std::int64_t classes = logits.shape().back();
  const Tensor ids = labels.to(kInt64);
  Shape leading = logits.shape();
  leading.pop_back();
  if (ids.shape() == leading) return cross_entropy(logits.reshape({-1, classes}), ids.reshape({-1}), options);
  // A sparse masked-LM head: its rows are the labelled positions, in order.
  std::vector<std::int64_t> labelled;
  if (logits.dim() == 2 && ids.dim() == 2)
    for (const std::int64_t id : ids.to(Device::cpu()).contiguous().to_vector<std::int64_t>())
      if (id != options.ignore_index) labelled.push_back(id);
  TINYXF_CHECK_AS(ShapeError, logits.dim() == 2 && ids.dim() == 2 && static_cast<std::int64_t>(labelled.size()) == logits.shape()[0],
                  where, "labels of shape ", shape_str(labels.shape()), " do not fit logits of shape ",
                  shape_str(logits.shape()), " (expected logits [..., C] with labels [...], or a masked-LM head's "
                  "labelled rows [n, C] with labels [B, S] holding n labels other than -100)");
  const auto n = static_cast<std::int64_t>(labelled.size());
  return cross_entropy(logits, Tensor::from_vector(labelled, {n}, TensorOptions().device(logits.device())), options);
}

}  // namespace tinyxf::train
