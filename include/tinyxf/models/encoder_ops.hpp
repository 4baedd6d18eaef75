#pragma once
// The computations a post-LN BERT-style encoder layer is made of, shared by the DistilBERT and BERT
// families (whose modules differ only in names): multi-head self-attention, the GELU feed-forward
// input, and residual + LayerNorm, each with its fused fast path and the composed reference path.
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/nn/init.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/ops/attention.hpp"
#include "tinyxf/ops/fused.hpp"

namespace tinyxf::models {

// The outputs of the token classification and question answering heads of both families.
struct TokenClassifierOutput {
  Tensor logits;                      // [B, S, num_labels]
  Tensor loss;                        // scalar, when labels were given
  std::vector<Tensor> hidden_states;  // when requested: embeddings + each layer
};

struct QuestionAnsweringOutput {
  Tensor start_logits, end_logits;    // [B, S] each
  Tensor loss;                        // scalar, when start and end positions were given
  std::vector<Tensor> hidden_states;  // when requested: embeddings + each layer
};

}  // namespace tinyxf::models

namespace tinyxf::models::encoder_ops {

// HF's ACT2FN for the activations the encoders support: "gelu" (erf), "relu", and the tanh
// approximations "gelu_new" / "gelu_pytorch_tanh".
inline Tensor activation(const std::string& name, const Tensor& x) {
  if (name == "gelu") return gelu(x);
  if (name == "relu") return relu(x);
  return gelu(x, "tanh");
}

struct AttentionFlags {
  // true: one fused attention op (no [B, H, S, S] tensors kept); false: the composed ops
  // (matmul, masked_fill, softmax, dropout, matmul), the same function computed step by step.
  bool fused_attention = true;
  // true (with fused_attention): q, k and v come from one GEMM against the stacked weights and go
  // into the attention packed ([B, S, 3 dim]); false: three Linear layers.
  bool fused_qkv = false;
};

// Which rows of x [B, S, dim] a layer computes outputs for (see run_layers): every row (the
// default), position 0 alone (first_token_only, from `true`: [B, 1, dim], a view; what a
// classifier's last layer needs), or `positions`: M positions of each sequence, row-major [B·M]
// (a gather: [B, M, dim]; what a sparse masked-LM head reads).
struct OutputRows {
  OutputRows(bool first_token = false) : first_token_only(first_token) {}  // implicit: `true` = [CLS] only
  OutputRows(std::vector<std::int64_t> row_positions, std::int64_t per_sequence)
      : positions(std::move(row_positions)), per_sequence(per_sequence) {}
  bool all() const { return !first_token_only && per_sequence == 0; }
  bool first_token_only = false;
  std::vector<std::int64_t> positions;
  std::int64_t per_sequence = 0;
};

inline Tensor output_rows(const Tensor& x, const OutputRows& rows) {
  if (rows.first_token_only) return x.narrow(1, 0, 1);
  if (rows.per_sequence == 0) return x;
  const std::int64_t B = x.shape()[0], S = x.shape()[1], D = x.shape()[2], M = rows.per_sequence;
  TINYXF_CHECK(static_cast<std::int64_t>(rows.positions.size()) == B * M, "output_rows: ", rows.positions.size(),
               " positions for ", B, " sequences of ", M);
  std::vector<std::int64_t> flat(rows.positions.size());
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const std::int64_t p = rows.positions[i];
    TINYXF_CHECK(p >= 0 && p < S, "output_rows: position ", p, " outside a sequence of ", S);
    flat[i] = static_cast<std::int64_t>(i) / M * S + p;
  }
  const Tensor index = Tensor::from_vector(flat, {B * M}, TensorOptions().device(x.device()));
  return index_select(x.reshape({B * S, D}), 0, index).view({B, M, D});
}

// Self-attention over x [B, S, dim] with attention_mask [B, S] (1 = attend, 0 = padding key) or
// undefined. Returns the heads merged back to [B, S, dim], before the output projection; with
// `first_token_only`, [B, 1, dim]: the context of position 0 alone (its query against the keys and
// values of every position), all that a classifier reading the [CLS] row needs of the last layer.
inline Tensor self_attention_context(const Tensor& x, const Tensor& attention_mask,
                                            nn::Linear& query, nn::Linear& key, nn::Linear& value,
                                            std::int64_t n_heads, nn::Dropout& dropout, const AttentionFlags& flags,
                                            const char* who, const OutputRows& rows = {}) {
  const std::int64_t B = x.shape()[0], S = x.shape()[1], dim = query.weight.shape()[0], head_dim = dim / n_heads;
  const std::int64_t L = rows.first_token_only ? 1 : rows.all() ? S : rows.per_sequence;  // query positions
  auto heads = [&](const Tensor& t) {  // [B, n, dim] -> [B, H, n, head_dim], a view
    return t.view({B, t.shape()[1], n_heads, head_dim}).transpose(1, 2);
  };
  Tensor keep;
  if (attention_mask.defined()) {
    TINYXF_CHECK(attention_mask.shape() == Shape({B, S}), who, ": attention_mask of shape ",
                 shape_str(attention_mask.shape()), ", expected ", shape_str({B, S}));
    keep = ne(attention_mask, std::int64_t(0)).view({B, 1, 1, S});
  }
  const double p = dropout.is_training() ? dropout.p : 0.0;
  Generator& gen = dropout.generator ? *dropout.generator : default_generator();
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  Tensor context;
  // (The packed q | k | v GEMM needs all three for every row: not for a layer of some rows.)
  if (rows.all() && flags.fused_qkv && flags.fused_attention && query.bias.defined() && key.bias.defined() &&
      value.bias.defined()) {
    // One GEMM against the three weights stacked into [3 dim, dim] (a copy per step; the
    // parameters stay separate, and cat's backward hands each its slice of the gradient).
    const auto w = cat(std::vector{query.weight, key.weight, value.weight}, 0);
    const auto b = cat(std::vector{query.bias, key.bias, value.bias}, 0);
    context = scaled_dot_product_attention_packed(linear(x, w, b), n_heads, keep, p, false, scale, gen);
  } else {
    auto q = heads(query.forward(output_rows(x, rows)));
    auto k = heads(key.forward(x)), v = heads(value.forward(x));
    context = flags.fused_attention ? scaled_dot_product_attention(q, k, v, keep, p, false, scale, gen)
                                    : scaled_dot_product_attention_composed(q, k, v, keep, p, false, scale, gen);
  }
  // [B, H, L, head_dim] -> [B, L, dim]: the fused output is stored heads-last, so no copy.
  return context.transpose(1, 2).reshape({B, L, dim});
}

// activation(x Wᵀ + b) of the feed-forward's first Linear; with `fused` the bias is added in the
// GELU's pass (bias_gelu).
inline Tensor intermediate(const Tensor& x, nn::Linear& dense, const std::string& act, bool fused) {
  if (fused && dense.bias.defined() && act != "relu")
    return bias_gelu(matmul(x, dense.weight.t()), dense.bias, act == "gelu" ? "none" : "tanh");
  return activation(act, dense.forward(x));
}

// LayerNorm(dropout(x·Wᵀ + b) + residual) for a projection `dense` and its residual input (BERT's
// BertSelfOutput / BertOutput). With `fused`, the bias (when dropout is inactive), the residual add
// and the LayerNorm are one op (add_layer_norm).
inline Tensor project_add_norm(const Tensor& x, nn::Linear& dense, nn::Dropout& dropout,
                                      const Tensor& residual, nn::LayerNorm& norm, bool fused) {
  if (!fused) return norm.forward(dropout.forward(dense.forward(x)) + residual);
  TINYXF_CHECK(norm.normalized_shape.size() == 1, "encoder layer: LayerNorm over one dim expected");
  if (dropout.is_training() && dropout.p > 0)
    return add_layer_norm(dropout.forward(dense.forward(x)), residual, norm.weight, norm.bias, norm.eps,
                          Tensor());
  return add_layer_norm(matmul(x, dense.weight.t()), residual, norm.weight, norm.bias, norm.eps, dense.bias);
}

// The problem type of HF's sequence-classification forward: config.json's problem_type, or when it
// is null (empty here) the one transformers infers from the batch: num_labels == 1 -> "regression";
// num_labels > 1 with int64/int32 labels (torch.long/torch.int) -> "single_label_classification";
// any other labels (float, or another integer dtype) -> "multi_label_classification".
inline std::string_view classification_problem_type(std::string_view problem_type, std::int64_t num_labels,
                                                    const Tensor& labels) {
  if (!problem_type.empty()) return problem_type;
  if (num_labels == 1) return "regression";
  if (labels.dtype() == kInt64 || labels.dtype() == kInt32) return "single_label_classification";
  return "multi_label_classification";
}

// HF's sequence-classification loss (BertForSequenceClassification / DistilBert...: forward) for
// logits [B, num_labels]: "regression" = MSE, of logits.squeeze() and labels.squeeze() when
// num_labels == 1 (labels [B] or [B, 1]), else of logits and labels [B, num_labels];
// "single_label_classification" = mean cross-entropy of logits.view(-1, num_labels) at integer
// labels.view(-1) (-100 ignored); "multi_label_classification" = binary_cross_entropy_with_logits
// mean over float labels [B, num_labels]. problem_type empty = inferred (classification_problem_type).
inline Tensor sequence_classification_loss(const Tensor& logits, const Tensor& labels, std::int64_t num_labels,
                                           std::string_view problem_type = {}) {
  const std::string_view type = classification_problem_type(problem_type, num_labels, labels);
  if (type == "regression") {  // autocast: mse_loss is on torch's fp32 list (a bf16 head's output cast up)
    const Tensor x = num_labels == 1 ? ops_detail::autocast_fp32(logits).squeeze() : ops_detail::autocast_fp32(logits);
    const Tensor y = num_labels == 1 ? labels.squeeze() : labels;
    TINYXF_CHECK_AS(ShapeError, x.shape() == y.shape(), "sequence classification (regression): labels of shape ",
                    shape_str(labels.shape()), " do not fit logits of shape ", shape_str(logits.shape()),
                    num_labels == 1 ? " (expected [batch] or [batch, 1])" : " (expected [batch, num_labels])");
    return mse_loss(x, y.to(x.dtype()));
  }
  if (type == "single_label_classification") {
    TINYXF_CHECK_AS(ValueError, !is_floating_point(labels.dtype()) && labels.dtype() != kBool,
                    "sequence classification (single_label_classification): labels must be integer class ids, got ",
                    dtype_name(labels.dtype()), " (float labels per class are multi_label_classification)");
    return cross_entropy(logits.reshape({-1, num_labels}), labels.to(kInt64).reshape({-1}));
  }
  TINYXF_CHECK(type == "multi_label_classification", "sequence classification: unknown problem_type '", type,
               "' (expected regression, single_label_classification or multi_label_classification)");
  TINYXF_CHECK_AS(ShapeError, labels.shape() == logits.shape(),
                  "sequence classification (multi_label_classification): labels of shape ", shape_str(labels.shape()),
                  " do not fit logits of shape ", shape_str(logits.shape()), " (expected [batch, num_labels])");
  TINYXF_CHECK_AS(ValueError, is_floating_point(labels.dtype()),
                  "sequence classification (multi_label_classification): labels must be floating point "
                  "(0/1 or a probability per label, as BCEWithLogitsLoss), got ", dtype_name(labels.dtype()));
  return binary_cross_entropy_with_logits(logits, labels);
}

// HF's token classification loss: mean cross-entropy over the positions whose label is not -100
// (special tokens, padding and a word's later pieces carry -100). logits [B, S, L], labels [B, S].
inline Tensor token_classification_loss(const Tensor& logits, const Tensor& labels) {
  const bool fits = logits.dim() == 3 && labels.dim() == 2 && labels.shape()[0] == logits.shape()[0] &&
                    labels.shape()[1] == logits.shape()[1];
  TINYXF_CHECK_AS(ShapeError, fits,
                  "token classification: labels of shape ", shape_str(labels.shape()), " do not fit logits of shape ",
                  shape_str(logits.shape()), " (expected [batch, sequence])");
  return cross_entropy(logits.reshape({-1, logits.shape()[2]}), labels.reshape({-1}));
}

// A masked-LM head's output with HF's loss: mean cross-entropy over the positions whose label is
// not -100. `encode(rows)` runs the encoder on the batch of shape `input_shape` [B, S], its last
// layer computing `rows` (encoder_ops::OutputRows); `head` maps hidden rows [..., dim] to
// vocabulary logits. Dense (HF's contract): logits [B, S, vocab] for every position. Sparse
// (ModernBERT's sparse_prediction, taken when labels are given): the head runs on the labelled
// rows alone and the logits are [n, vocab] for them in row-major order; the loss is the same
// number, for about 15 % of the head's work (whose vocabulary projection is a third of a
// DistilBERT forward at 128 tokens). With `prune_last_layer` the last layer also computes only
// each sequence's labelled positions (their queries against every key; the sequences padded to
// the most labelled one with position 0, whose outputs are not read), as a classifier's last
// layer computes [CLS] alone. A batch with no labelled position gives logits [0, vocab] and loss
// NaN (0/0) with zero gradients, as the dense loss.
struct MaskedLMOutput {
  Tensor logits, loss;
};
template <class Encode, class Head>
MaskedLMOutput masked_lm_output(const Shape& input_shape, const Tensor& labels, bool sparse_prediction,
                                bool prune_last_layer, Encode&& encode, Head&& head) {
  MaskedLMOutput out;
  if (labels.defined()) {
    const bool fits = labels.dim() == 2 && input_shape.size() == 2 && labels.shape() == input_shape &&
                      !is_floating_point(labels.dtype());
    TINYXF_CHECK_AS(ShapeError, fits, "masked language modeling: labels must be integer ids [batch, sequence] = ",
                    shape_str(input_shape), ", got ", dtype_name(labels.dtype()), " of shape ", shape_str(labels.shape()));
  }
  if (!sparse_prediction || !labels.defined()) {
    out.logits = head(encode(OutputRows{}));
    if (labels.defined())
      out.loss = cross_entropy(out.logits.reshape({-1, out.logits.shape()[2]}), labels.to(kInt64).reshape({-1}), -100);
    return out;
  }
  const std::int64_t B = input_shape[0], S = input_shape[1];
  const std::vector<std::int64_t> all = labels.to(kInt64).to(Device::cpu()).to_vector<std::int64_t>();
  // Each sequence's labelled positions, and the most of them.
  std::vector<std::vector<std::int64_t>> labelled(static_cast<std::size_t>(B));
  std::vector<std::int64_t> targets;
  std::int64_t M = 1;
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t p = 0; p < S; ++p)
      if (const std::int64_t label = all[static_cast<std::size_t>(b * S + p)]; label != -100) {
        labelled[static_cast<std::size_t>(b)].push_back(p);
        targets.push_back(label);
      }
    M = std::max<std::int64_t>(M, static_cast<std::int64_t>(labelled[static_cast<std::size_t>(b)].size()));
  }
  // The rows of the encoder's output the head reads: [B, M] when pruned, [B, S] otherwise.
  const std::int64_t width = prune_last_layer ? M : S;
  std::vector<std::int64_t> picked, positions;
  for (std::int64_t b = 0; b < B; ++b) {
    const std::vector<std::int64_t>& mine = labelled[static_cast<std::size_t>(b)];
    for (std::size_t m = 0; m < mine.size(); ++m) picked.push_back(b * width + (prune_last_layer ? static_cast<std::int64_t>(m) : mine[m]));
    if (prune_last_layer) {
      positions.insert(positions.end(), mine.begin(), mine.end());
      positions.insert(positions.end(), static_cast<std::size_t>(M) - mine.size(), 0);
    }
  }
  const Tensor hidden = encode(prune_last_layer ? OutputRows(std::move(positions), M) : OutputRows{});
  const auto n = static_cast<std::int64_t>(picked.size());
  const TensorOptions on_device = TensorOptions().device(hidden.device());
  out.logits = head(index_select(hidden.reshape({-1, hidden.shape()[2]}), 0, Tensor::from_vector(picked, {n}, on_device)));
  out.loss = cross_entropy(out.logits, Tensor::from_vector(targets, {n}, on_device));
  return out;
}

// HF's extractive question answering loss: the mean of the start and end positions'
// cross-entropies over the sequence, each position clamped to [0, S] and S (outside the sequence)
// ignored. start/end logits [B, S], positions [B] (or [B, 1]).
inline Tensor span_loss(const Tensor& start_logits, const Tensor& end_logits, const Tensor& start_positions,
                        const Tensor& end_positions) {
  const std::int64_t batch = start_logits.shape()[0], length = start_logits.shape()[1];
  const auto targets = [&](const Tensor& positions, const char* name) {
    TINYXF_CHECK_AS(ShapeError, positions.numel() == batch && positions.dim() <= 2 && !is_floating_point(positions.dtype()),
                    "question answering: ", name, " must hold one integer position per sequence (", batch,
                    "), got ", dtype_name(positions.dtype()), " of shape ", shape_str(positions.shape()));
    std::vector<std::int64_t> v = positions.to(kInt64).to(Device::cpu()).to_vector<std::int64_t>();
    for (std::int64_t& p : v) p = std::clamp<std::int64_t>(p, 0, length);
    return Tensor::from_vector(v, {batch}, TensorOptions().device(start_logits.device()));
  };
  const Tensor start = cross_entropy(start_logits, targets(start_positions, "start_positions"), length);
  const Tensor end = cross_entropy(end_logits, targets(end_positions, "end_positions"), length);
  return (start + end) * 0.5;
}

// A question answering head's output from qa_outputs' [B, S, 2]: start and end logits [B, S],
// and span_loss when both positions are given.
inline QuestionAnsweringOutput question_answering_output(const Tensor& logits, const Tensor& start_positions,
                                                         const Tensor& end_positions) {
  QuestionAnsweringOutput out;
  out.start_logits = logits.select(2, 0).contiguous();
  out.end_logits = logits.select(2, 1).contiguous();
  if (start_positions.defined() && end_positions.defined())
    out.loss = span_loss(out.start_logits, out.end_logits, start_positions, end_positions);
  return out;
}

// Question answering heads have one start and one end logit per position (transformers asserts it).
inline void check_question_answering_labels(const char* model_class, std::int64_t num_labels) {
  TINYXF_CHECK_AS(ValueError, num_labels == 2, model_class, ": config.num_labels should be 2 (a start and an end "
                  "logit), but it is ", num_labels);
}

// Runs the layers in order; `all_hidden` (if given) receives the input and every layer's output
// (transformers' output_hidden_states). With `first_token_only` the last layer computes position 0
// alone (its attention still reads every position's keys and values) and the result is [B, 1, dim]:
// the same [CLS] row, without the other rows' query, output projection, feed-forward and
// LayerNorms in that layer, which no classifier head reads (llama.cpp keeps only the rows it
// outputs in its last layer likewise).
template <class Layer>
Tensor run_layers(const nn::ModuleList<Layer>& layers, const Tensor& x,
                         const Tensor& attention_mask, std::vector<Tensor>* all_hidden,
                         const OutputRows& last_rows = {}) {
  Tensor h = x;
  if (all_hidden) all_hidden->push_back(h);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->forward(h, attention_mask, i + 1 == layers.size() ? last_rows : OutputRows{});
    if (all_hidden) all_hidden->push_back(h);
  }
  return h;
}

// HF's _init_weights of the BERT-style models: Linear/Embedding ~ N(0, initializer_range) (an
// embedding's padding row zeroed), biases 0, LayerNorm 1/0. Embeddings for which `keep(name)`
// holds are left as they are (DistilBERT's sinusoidal table).
template <class Keep>
void init_weights(nn::Module& root, double initializer_range, Generator& gen, Keep&& keep) {
  for (auto& [name, m] : root.named_modules()) {
    auto* mut = const_cast<nn::Module*>(m);
    if (auto* lin = dynamic_cast<nn::Linear*>(mut)) {
      nn::init::normal_(lin->weight, 0.0, initializer_range, gen);
      if (lin->bias.defined()) nn::init::zeros_(lin->bias);
    } else if (auto* emb = dynamic_cast<nn::Embedding*>(mut)) {
      if (!keep(name)) emb->reset_parameters(initializer_range, gen);
    } else if (auto* ln = dynamic_cast<nn::LayerNorm*>(mut)) {
      if (ln->weight.defined()) nn::init::ones_(ln->weight);
      if (ln->bias.defined()) nn::init::zeros_(ln->bias);
    }
  }
}

}  // namespace tinyxf::models::encoder_ops
