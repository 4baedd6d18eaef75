#pragma once
// Classification metrics for the Trainer: accuracy for any number of classes and, for binary
// tasks, precision / recall / F1 of the positive class (label 1), as scikit-learn computes them
// with zero_division = 0 (a ratio with an empty denominator is 0, not NaN).
//
// EvalPrediction carries what the Trainer gathered over a dataset (logits and labels, on the
// host); a ComputeMetrics turns it into named numbers. The Trainer prefixes the names
// ("accuracy" -> "eval_accuracy").
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tinyxf/core/tensor.hpp"

namespace tinyxf::train {

using Metrics = std::map<std::string, double>;

struct EvalPrediction {
  Tensor logits;  // [N, num_labels], on the CPU (question answering: start/end logits [N, S, 2])
  Tensor labels;  // [N], on the CPU (question answering: start/end positions [N, 2]); real-valued
                  // labels are float32: regression [N], multi-label [N, L]
  // Token classification: the labelled tokens of each sample, in dataset order (the rows of
  // logits and labels, sample by sample; entity scores must not join tokens across samples).
  // Empty for other tasks.
  std::vector<std::int64_t> sequence_lengths{};

  std::int64_t num_samples() const { return labels.defined() ? (labels.dim() == 0 ? 1 : labels.shape()[0]) : 0; }
  std::int64_t num_labels() const { return logits.defined() && logits.dim() == 2 ? logits.shape()[1] : 0; }
};

using ComputeMetrics = std::function<Metrics(const EvalPrediction&)>;

// HF's preprocess_logits_for_metrics(logits, labels): applied to each evaluation batch's logits
// on its device before they are gathered, e.g. to keep argmax ids instead of a vocabulary's
// logits per token (run_mlm). What it returns is gathered as logits are: [B, L] per row, per token
// [B, S, L] or the labelled tokens' rows [n, L]; a tensor of the labels' shape ([B] or [B, S]),
// or [n] per labelled token, is one value each (EvalPrediction.logits [N, 1]). Integer results
// come back as int64 (gathered through float32: exact below 2^24).
using PreprocessLogits = std::function<Tensor(const Tensor& logits, const Tensor& labels)>;

// The predicted class of each row of a [N, C] logits tensor (the first maximum on ties, like
// numpy's argmax). NaN logits compare false, so a row of NaNs predicts class 0.
inline std::vector<std::int64_t> argmax_rows(const Tensor& logits) {
  TINYXF_CHECK(logits.defined() && logits.dim() == 2 && logits.shape()[1] > 0,
               "argmax_rows: expected logits of shape [N, C] with C > 0, got ",
               logits.defined() ? shape_str(logits.shape()) : std::string("an undefined tensor"));
  const std::vector<float> values = logits.contiguous().to(kFloat32).to_vector<float>();
  const std::int64_t rows = logits.shape()[0], cols = logits.shape()[1];
  std::vector<std::int64_t> predictions(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * cols;
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < cols; ++c)
      if (row[c] > row[best]) best = c;
    predictions[static_cast<std::size_t>(r)] = best;
  }
  return predictions;
}

// The four cells of a binary confusion matrix, with `positive` as the positive class; every
// other label counts as negative.
struct ConfusionCounts {
  std::int64_t true_positive = 0;
  std::int64_t false_positive = 0;
  std::int64_t true_negative = 0;
  std::int64_t false_negative = 0;

  std::int64_t total() const { return true_positive + false_positive + true_negative + false_negative; }
  bool operator==(const ConfusionCounts&) const = default;
};

inline ConfusionCounts confusion_counts(const std::vector<std::int64_t>& predictions,
                                        const std::vector<std::int64_t>& labels, std::int64_t positive = 1) {
  TINYXF_CHECK(predictions.size() == labels.size(), "confusion_counts: ", predictions.size(),
               " predictions but ", labels.size(), " labels");
  ConfusionCounts c;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const bool predicted_positive = predictions[i] == positive;
    const bool actually_positive = labels[i] == positive;
    if (predicted_positive && actually_positive) ++c.true_positive;
    else if (predicted_positive) ++c.false_positive;
    else if (actually_positive) ++c.false_negative;
    else ++c.true_negative;
  }
  return c;
}

// Fraction of predictions equal to their label; 0 for an empty set.
inline double accuracy(const std::vector<std::int64_t>& predictions, const std::vector<std::int64_t>& labels) {
  TINYXF_CHECK(predictions.size() == labels.size(), "accuracy: ", predictions.size(), " predictions but ",
               labels.size(), " labels");
  if (labels.empty()) return 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

struct BinaryScores {
  double precision = 0;  // TP / (TP + FP)
  double recall = 0;     // TP / (TP + FN)
  double f1 = 0;         // 2·TP / (2·TP + FP + FN), the harmonic mean of the two
};

inline BinaryScores binary_scores(const ConfusionCounts& c) {
  auto ratio = [](std::int64_t num, std::int64_t den) {
    return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
  };
  BinaryScores s;
  s.precision = ratio(c.true_positive, c.true_positive + c.false_positive);
  s.recall = ratio(c.true_positive, c.true_positive + c.false_negative);
  s.f1 = ratio(2 * c.true_positive, 2 * c.true_positive + c.false_positive + c.false_negative);
  return s;
}

// accuracy for every classification task; for two classes also precision, recall and f1 of class
// 1. A regression head (one float column: HF's num_labels = 1) gets "mse", as run_glue's
// compute_metrics. Question answering predictions (start/end logits [N, S, 2]) and multi-label
// ones (float labels [N, L]) get none: their scores need the examples' texts
// (train/question_answering.hpp: squad_compute_metrics) or a threshold, as HF's Trainer reports
// only the loss without a compute_metrics.
inline Metrics default_compute_metrics(const EvalPrediction& p) {
  TINYXF_CHECK(p.logits.defined() && p.labels.defined(), "compute_metrics: the prediction has no logits or labels");
  if (p.logits.dim() == 3) return {};
  if (is_floating_point(p.logits.dtype()) && p.logits.dim() == 2 && p.logits.shape()[1] == 1) {
    const std::vector<double> predicted = p.logits.contiguous().to(kFloat64).to_vector<double>();
    const std::vector<double> targets = p.labels.contiguous().to(kFloat64).to_vector<double>();
    TINYXF_CHECK(predicted.size() == targets.size(), "compute_metrics: ", predicted.size(), " regression predictions for ",
                 targets.size(), " labels");
    double squared = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) squared += (predicted[i] - targets[i]) * (predicted[i] - targets[i]);
    return {{"mse", targets.empty() ? 0.0 : squared / static_cast<double>(targets.size())}};
  }
  if (is_floating_point(p.labels.dtype())) return {};  // multi-label
  // Class ids already (preprocess_logits_for_metrics returned an argmax): [N, 1] integers.
  const bool ids = !is_floating_point(p.logits.dtype()) && p.logits.dim() == 2 && p.logits.shape()[1] == 1;
  const std::vector<std::int64_t> predictions =
      ids ? p.logits.contiguous().to(kInt64).to_vector<std::int64_t>() : argmax_rows(p.logits);
  const std::vector<std::int64_t> labels = p.labels.contiguous().to_vector<std::int64_t>();
  Metrics m;
  m["accuracy"] = accuracy(predictions, labels);
  const bool binary = ids ? std::all_of(labels.begin(), labels.end(), [](std::int64_t l) { return l == 0 || l == 1; })
                          : p.num_labels() == 2;
  if (binary) {
    const BinaryScores s = binary_scores(confusion_counts(predictions, labels, 1));
    m["precision"] = s.precision;
    m["recall"] = s.recall;
    m["f1"] = s.f1;
  }
  return m;
}

}  // namespace tinyxf::train
