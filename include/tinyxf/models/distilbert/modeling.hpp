#pragma once
// DistilBERT (transformers' modeling_distilbert.py) on tinyxf modules, with Hugging Face's
// module tree and parameter names so state dicts map one to one:
//   distilbert.embeddings.{word_embeddings,position_embeddings,LayerNorm}
//   distilbert.transformer.layer.N.{attention.{q,k,v,out}_lin, sa_layer_norm, ffn.lin{1,2},
//                                   output_layer_norm}
//   pre_classifier, classifier                      (sequence classification head)
//   vocab_transform, vocab_layer_norm, vocab_projector (masked-LM head, projector tied)
#include <cmath>
#include <limits>
#include <optional>

#include "tinyxf/models/distilbert/config.hpp"
#include "tinyxf/models/encoder_ops.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/ops/attention.hpp"
#include "tinyxf/ops/fused.hpp"

namespace tinyxf::models {

namespace distilbert_detail {
// PE[pos, j] = sin(pos / 10000^(2*floor(j/2)/dim)) for even j, cos for odd j (float64 -> float32).
inline Tensor sinusoidal_table(std::int64_t positions, std::int64_t dim) {
  std::vector<float> v(static_cast<std::size_t>(positions * dim));
  for (std::int64_t p = 0; p < positions; ++p)
    for (std::int64_t j = 0; j < dim; ++j) {
      const double angle = static_cast<double>(p) /
                           std::pow(10000.0, 2.0 * static_cast<double>(j / 2) / static_cast<double>(dim));
      v[static_cast<std::size_t>(p * dim + j)] = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return Tensor::from_vector(v, {positions, dim});
}
}  // namespace distilbert_detail

class DistilBertEmbeddings : public nn::Module {
 public:
  explicit DistilBertEmbeddings(const DistilBertConfig& c) : config(c) {
    word_embeddings = register_module("word_embeddings",
                                      std::make_shared<nn::Embedding>(c.vocab_size, c.dim, c.pad_token_id));
    position_embeddings = register_module("position_embeddings",
                                          std::make_shared<nn::Embedding>(c.max_position_embeddings, c.dim));
    LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.dim, c.layer_norm_eps));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
    if (c.sinusoidal_pos_embds) {
      NoGradGuard ng;
      position_embeddings->weight.copy_(distilbert_detail::sinusoidal_table(c.max_position_embeddings, c.dim));
      position_embeddings->weight.set_requires_grad(false);  // a fixed table, as HF builds it
    }
  }
  // input_ids [B, S] -> [B, S, dim]; positions are 0..S-1 regardless of padding.
  Tensor forward(const Tensor& input_ids) {
    TINYXF_CHECK(input_ids.dim() == 2, "DistilBertEmbeddings: input_ids must be [batch, seq], got ",
                 shape_str(input_ids.shape()));
    const std::int64_t seq = input_ids.shape()[1];
    TINYXF_CHECK(seq <= config.max_position_embeddings, "DistilBertEmbeddings: sequence length ", seq,
                 " exceeds max_position_embeddings ", config.max_position_embeddings);
    auto positions = position_embeddings->weight.narrow(0, 0, seq);  // [S, dim], broadcast over B
    auto x = word_embeddings->forward(input_ids) + positions;
    return dropout->forward(LayerNorm->forward(x));
  }

  DistilBertConfig config;
  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
  std::shared_ptr<nn::Dropout> dropout;
};

class MultiHeadSelfAttention : public nn::Module {
 public:
  explicit MultiHeadSelfAttention(const DistilBertConfig& c) : n_heads(c.n_heads), dim(c.dim) {
    q_lin = register_module("q_lin", std::make_shared<nn::Linear>(c.dim, c.dim));
    k_lin = register_module("k_lin", std::make_shared<nn::Linear>(c.dim, c.dim));
    v_lin = register_module("v_lin", std::make_shared<nn::Linear>(c.dim, c.dim));
    out_lin = register_module("out_lin", std::make_shared<nn::Linear>(c.dim, c.dim));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.attention_dropout));
  }
  // x [B, S, dim]; attention_mask [B, S] (1 = attend, 0 = padding key) or undefined. Returns
  // [B, S, dim], or [B, 1, dim] for position 0 alone with first_token_only (see
  // encoder_ops::self_attention_context).
  Tensor forward(const Tensor& x, const Tensor& attention_mask, bool with_out_bias = true,
                 const encoder_ops::OutputRows& rows = {}) {
    const auto merged = encoder_ops::self_attention_context(x, attention_mask, *q_lin, *k_lin, *v_lin, n_heads,
                                                            *dropout, {fused_attention, fused_qkv},
                                                            "MultiHeadSelfAttention", rows);
    return with_out_bias ? out_lin->forward(merged) : matmul(merged, out_lin->weight.t());
  }
  // out_lin's product without its bias, for a caller that adds the bias in a fused epilogue
  // (TransformerBlock's bias + residual + LayerNorm).
  Tensor forward_without_out_bias(const Tensor& x, const Tensor& attention_mask, const encoder_ops::OutputRows& rows = {}) {
    return forward(x, attention_mask, false, rows);
  }

  // true: one fused attention op (no [B, H, S, S] tensors kept); false: the composed ops
  // (matmul, masked_fill, softmax, dropout, matmul), the same function computed step by step.
  bool fused_attention = true;
  // true (with fused_attention): q, k and v come from one GEMM against the stacked weights and go
  // into the attention packed ([B, S, 3 dim]); false: three Linear layers.
  bool fused_qkv = false;
  std::int64_t n_heads, dim;
  std::shared_ptr<nn::Linear> q_lin, k_lin, v_lin, out_lin;
  std::shared_ptr<nn::Dropout> dropout;
};

class FFN : public nn::Module {
 public:
  explicit FFN(const DistilBertConfig& c) : activation(c.activation) {
    lin1 = register_module("lin1", std::make_shared<nn::Linear>(c.dim, c.hidden_dim));
    lin2 = register_module("lin2", std::make_shared<nn::Linear>(c.hidden_dim, c.dim));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  }
  Tensor forward(const Tensor& x) {
    const auto h = encoder_ops::intermediate(x, *lin1, activation, fused_bias_gelu);
    return dropout->forward(lin2->forward(h));
  }
  // true: lin1's bias and the GELU are one fused op (bias_gelu); false: Linear, then gelu.
  bool fused_bias_gelu = true;
  std::string activation;
  std::shared_ptr<nn::Linear> lin1, lin2;
  std::shared_ptr<nn::Dropout> dropout;
};

// Post-LN block: x = LN(attn(x) + x); x = LN(ffn(x) + x).
class TransformerBlock : public nn::Module {
 public:
  explicit TransformerBlock(const DistilBertConfig& c) {
    attention = register_module("attention", std::make_shared<MultiHeadSelfAttention>(c));
    sa_layer_norm = register_module("sa_layer_norm", std::make_shared<nn::LayerNorm>(c.dim, c.layer_norm_eps));
    ffn = register_module("ffn", std::make_shared<FFN>(c));
    output_layer_norm = register_module("output_layer_norm", std::make_shared<nn::LayerNorm>(c.dim, c.layer_norm_eps));
  }
  // x [B, S, dim] -> [B, S, dim]; with first_token_only, position 0 alone: [B, 1, dim].
  Tensor forward(const Tensor& x, const Tensor& attention_mask, const encoder_ops::OutputRows& rows = {}) {
    const Tensor residual = encoder_ops::output_rows(x, rows);
    if (!fused_add_layer_norm) {
      auto sa = sa_layer_norm->forward(attention->forward(x, attention_mask, true, rows) + residual);
      return output_layer_norm->forward(ffn->forward(sa) + sa);
    }
    // The same function with each residual add (and out_lin's bias) fused into its LayerNorm.
    auto ln = [](nn::LayerNorm& norm, const Tensor& y, const Tensor& residual, const Tensor& bias) {
      TINYXF_CHECK(norm.normalized_shape.size() == 1, "TransformerBlock: LayerNorm over one dim expected");
      return add_layer_norm(y, residual, norm.weight, norm.bias, norm.eps, bias);
    };
    const bool out_bias = attention->out_lin->bias.defined();
    auto sa = out_bias ? ln(*sa_layer_norm, attention->forward_without_out_bias(x, attention_mask, rows),
                            residual, attention->out_lin->bias)
                       : ln(*sa_layer_norm, attention->forward(x, attention_mask, true, rows), residual,
                            Tensor());
    return ln(*output_layer_norm, ffn->forward(sa), sa, Tensor());
  }
  // true: (bias +) residual + LayerNorm are one fused op each (add_layer_norm); false: composed.
  bool fused_add_layer_norm = true;
  std::shared_ptr<MultiHeadSelfAttention> attention;
  std::shared_ptr<nn::LayerNorm> sa_layer_norm, output_layer_norm;
  std::shared_ptr<FFN> ffn;
};

class Transformer : public nn::Module {
 public:
  explicit Transformer(const DistilBertConfig& c) {
    layer = register_module("layer", std::make_shared<nn::ModuleList<TransformerBlock>>());
    for (std::int64_t i = 0; i < c.n_layers; ++i) layer->push_back(std::make_shared<TransformerBlock>(c));
  }
  // Returns the last hidden state; `all_hidden` (if given) receives the input and every layer's output.
  // first_token_only: the last layer computes position 0 alone ([B, 1, dim]; encoder_ops::run_layers).
  Tensor forward(const Tensor& x, const Tensor& attention_mask,
                        std::vector<Tensor>* all_hidden = nullptr, const encoder_ops::OutputRows& rows = {}) {
    return encoder_ops::run_layers(*layer, x, attention_mask, all_hidden, rows);
  }
  std::shared_ptr<nn::ModuleList<TransformerBlock>> layer;
};

// HF's DistilBertPreTrainedModel._init_weights; a sinusoidal table is left as computed.
inline void init_distilbert_weights(nn::Module& root, const DistilBertConfig& c, Generator& gen) {
  encoder_ops::init_weights(root, c.initializer_range, gen, [&c](const std::string& name) {
    return c.sinusoidal_pos_embds && name.ends_with("position_embeddings");
  });
}

class DistilBertModel : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "DistilBertModel";
  explicit DistilBertModel(const DistilBertConfig& c) : config(c) {
    c.validate();
    embeddings = register_module("embeddings", std::make_shared<DistilBertEmbeddings>(c));
    transformer = register_module("transformer", std::make_shared<Transformer>(c));
  }
  // input_ids [B, S] (int64), attention_mask [B, S] (1 keep / 0 pad; may be undefined). Returns the
  // last hidden state [B, S, dim], or what `rows` asks of the last layer (encoder_ops::OutputRows):
  // [B, 1, dim] (position 0 alone) with `true`, [B, M, dim] for M positions of each sequence.
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask,
                        std::vector<Tensor>* all_hidden = nullptr, const encoder_ops::OutputRows& rows = {}) {
    return transformer->forward(embeddings->forward(input_ids), attention_mask, all_hidden, rows);
  }
  DistilBertConfig config;
  std::shared_ptr<DistilBertEmbeddings> embeddings;
  std::shared_ptr<Transformer> transformer;
};

struct SequenceClassifierOutput {
  Tensor logits;               // [B, num_labels]
  Tensor loss;                 // scalar, when labels were given
  std::vector<Tensor> hidden_states;  // when requested: embeddings + each layer
};

class DistilBertForSequenceClassification : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "DistilBertForSequenceClassification";
  explicit DistilBertForSequenceClassification(const DistilBertConfig& c,
                                               Generator& gen = default_generator())
      : config(c) {
    distilbert = register_module("distilbert", std::make_shared<DistilBertModel>(c));
    pre_classifier = register_module("pre_classifier", std::make_shared<nn::Linear>(c.dim, c.dim));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(c.dim, c.num_labels));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.seq_classif_dropout));
    init_distilbert_weights(*this, c, gen);
  }
  // Logits from the [CLS] (position 0) hidden state; with labels, the loss of config.problem_type
  // as HF's (MSE, cross-entropy or binary cross-entropy with logits; a null problem_type inferred
  // from num_labels and the labels' dtype: encoder_ops::sequence_classification_loss).
  SequenceClassifierOutput forward(const Tensor& input_ids,
                                   const Tensor& attention_mask,
                                   const Tensor& labels = Tensor(),
                                   bool output_hidden_states = false) {
    SequenceClassifierOutput out;
    auto hidden = distilbert->forward(input_ids, attention_mask, output_hidden_states ? &out.hidden_states : nullptr,
                                      last_layer_cls_only && !output_hidden_states);
    auto pooled = hidden.select(1, 0);  // [B, dim]
    pooled = dropout->forward(relu(pre_classifier->forward(pooled)));
    out.logits = classifier->forward(pooled);
    if (labels.defined()) {
      // As transformers: the first labelled forward writes the type it infers into the config, which
      // later batches then use and save_pretrained writes to config.json.
      if (config.problem_type.empty())
        config.problem_type = encoder_ops::classification_problem_type({}, config.num_labels, labels);
      out.loss = encoder_ops::sequence_classification_loss(out.logits, labels, config.num_labels, config.problem_type);
    }
    return out;
  }

  // true: the last layer computes the [CLS] row alone (its keys and values still from every
  // position): the same logits and gradients as the full layer, with about 1/n_layers less of the
  // encoder's work; false: every row, as transformers computes it. Hidden states, when asked for,
  // are always complete.
  bool last_layer_cls_only = true;
  DistilBertConfig config;
  std::shared_ptr<DistilBertModel> distilbert;
  std::shared_ptr<nn::Linear> pre_classifier, classifier;
  std::shared_ptr<nn::Dropout> dropout;
};

// A label per token (named entities, part of speech), as HF's DistilBertForTokenClassification:
// dropout(config.dropout) and a linear classifier on every position's hidden state.
class DistilBertForTokenClassification : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "DistilBertForTokenClassification";
  explicit DistilBertForTokenClassification(const DistilBertConfig& c, Generator& gen = default_generator())
      : config(c) {
    distilbert = register_module("distilbert", std::make_shared<DistilBertModel>(c));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(c.dim, c.num_labels));
    init_distilbert_weights(*this, c, gen);
  }
  // labels [B, S]: -100 where no label applies (encoder_ops::token_classification_loss).
  TokenClassifierOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& labels = Tensor(),
                                bool output_hidden_states = false) {
    TokenClassifierOutput out;
    auto hidden = distilbert->forward(input_ids, attention_mask, output_hidden_states ? &out.hidden_states : nullptr);
    out.logits = classifier->forward(dropout->forward(hidden));
    if (labels.defined()) out.loss = encoder_ops::token_classification_loss(out.logits, labels);
    return out;
  }
  DistilBertConfig config;
  std::shared_ptr<DistilBertModel> distilbert;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> classifier;
};

// Extractive question answering (SQuAD), as HF's DistilBertForQuestionAnswering: dropout(config.
// qa_dropout) and qa_outputs, a linear layer giving each position a start and an end logit.
class DistilBertForQuestionAnswering : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "DistilBertForQuestionAnswering";
  explicit DistilBertForQuestionAnswering(const DistilBertConfig& c, Generator& gen = default_generator())
      : config(c) {
    encoder_ops::check_question_answering_labels("DistilBertForQuestionAnswering", c.num_labels);
    distilbert = register_module("distilbert", std::make_shared<DistilBertModel>(c));
    qa_outputs = register_module("qa_outputs", std::make_shared<nn::Linear>(c.dim, c.num_labels));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.qa_dropout));
    init_distilbert_weights(*this, c, gen);
  }
  // start/end positions [B]: token indices of the answer span (encoder_ops::span_loss).
  QuestionAnsweringOutput forward(const Tensor& input_ids, const Tensor& attention_mask,
                                  const Tensor& start_positions = Tensor(), const Tensor& end_positions = Tensor(),
                                  bool output_hidden_states = false) {
    std::vector<Tensor> hidden_states;
    auto hidden = distilbert->forward(input_ids, attention_mask, output_hidden_states ? &hidden_states : nullptr);
    QuestionAnsweringOutput out = encoder_ops::question_answering_output(qa_outputs->forward(dropout->forward(hidden)),
                                                                         start_positions, end_positions);
    out.hidden_states = std::move(hidden_states);
    return out;
  }
  DistilBertConfig config;
  std::shared_ptr<DistilBertModel> distilbert;
  std::shared_ptr<nn::Linear> qa_outputs;
  std::shared_ptr<nn::Dropout> dropout;
};

// Masked-LM head: vocab_transform -> activation -> vocab_layer_norm -> vocab_projector, whose
// weight is the word-embedding matrix itself (tied), with its own bias.
class DistilBertForMaskedLM : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "DistilBertForMaskedLM";
  explicit DistilBertForMaskedLM(const DistilBertConfig& c, Generator& gen = default_generator())
      : config(c) {
    distilbert = register_module("distilbert", std::make_shared<DistilBertModel>(c));
    vocab_transform = register_module("vocab_transform", std::make_shared<nn::Linear>(c.dim, c.dim));
    vocab_layer_norm = register_module("vocab_layer_norm", std::make_shared<nn::LayerNorm>(c.dim, c.layer_norm_eps));
    vocab_projector = register_module("vocab_projector", std::make_shared<TiedProjector>(
                                                            distilbert->embeddings->word_embeddings->weight));
    init_distilbert_weights(*this, c, gen);
  }
  struct Output {
    Tensor logits;  // [B, S, vocab]; with sparse_prediction and labels: [n, vocab], the labelled positions
    Tensor loss;    // mean CE over labels != -100, when labels were given
  };
  Output forward(const Tensor& input_ids, const Tensor& attention_mask,
                 const Tensor& labels = Tensor()) {
    auto out = encoder_ops::masked_lm_output(
        input_ids.shape(), labels, sparse_prediction, true,
        [&](const encoder_ops::OutputRows& rows) { return distilbert->forward(input_ids, attention_mask, nullptr, rows); },
        [&](const Tensor& hidden) {
          const auto t = vocab_layer_norm->forward(encoder_ops::activation(config.activation, vocab_transform->forward(hidden)));
          return linear(t, vocab_projector->weight, vocab_projector->bias);
        });
    return {out.logits, out.loss};
  }
  // With labels, run the head (and the last layer) on the labelled positions alone (logits
  // [n, vocab]); the loss is the same. Off by default: transformers' logits are [B, S, vocab].
  bool sparse_prediction = false;

  // A Linear-shaped module whose weight is a tied tensor.
  class TiedProjector : public nn::Module {
   public:
    explicit TiedProjector(const Tensor& tied_weight) : weight(tied_weight) {
      tie_parameter("weight", tied_weight);
      bias = register_parameter("bias", Tensor::zeros({tied_weight.shape()[0]}));
    }
    Tensor weight, bias;
  };

  DistilBertConfig config;
  std::shared_ptr<DistilBertModel> distilbert;
  std::shared_ptr<nn::Linear> vocab_transform;
  std::shared_ptr<nn::LayerNorm> vocab_layer_norm;
  std::shared_ptr<TiedProjector> vocab_projector;
};

}  // namespace tinyxf::models
