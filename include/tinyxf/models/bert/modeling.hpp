#pragma once
// BERT (transformers' modeling_bert.py) on tinyxf modules, with Hugging Face's module tree and
// parameter names, so state dicts map one to one onto checkpoints:
//   embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}
//   encoder.layer.N.{attention.{self.{query,key,value}, output.{dense,LayerNorm}},
//                    intermediate.dense, output.{dense,LayerNorm}}
//   pooler.dense                                   (BertModel with a pooling layer)
//   bert.*, classifier                             (BertForSequenceClassification)
//   bert.*, cls.predictions.{transform.{dense,LayerNorm}, bias, decoder}  (BertForMaskedLM; decoder
//                                                   weight tied to the word embeddings)
// The layer computations are encoder_ops', the ones DistilBERT uses (fused attention, bias_gelu,
// add_layer_norm), so both families run equally fast.
#include <memory>
#include <vector>

#include "tinyxf/models/bert/config.hpp"
#include "tinyxf/models/encoder_ops.hpp"
#include "tinyxf/nn/init.hpp"
#include "tinyxf/nn/layers.hpp"

namespace tinyxf::models {

class BertEmbeddings : public nn::Module {
 public:
  explicit BertEmbeddings(const BertConfig& c) : config(c) {
    word_embeddings = register_module("word_embeddings",
                                      std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, c.pad_token_id));
    position_embeddings = register_module(
        "position_embeddings", std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size));
    token_type_embeddings =
        register_module("token_type_embeddings", std::make_shared<nn::Embedding>(c.type_vocab_size, c.hidden_size));
    LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.hidden_dropout_prob));
  }
  // input_ids [B, S]; token_type_ids [B, S] or undefined (all 0, as HF's default); positions 0..S-1.
  Tensor forward(const Tensor& input_ids, const Tensor& token_type_ids) {
    TINYXF_CHECK(input_ids.dim() == 2, "BertEmbeddings: input_ids must be [batch, seq], got ",
                 shape_str(input_ids.shape()));
    const std::int64_t seq = input_ids.shape()[1];
    TINYXF_CHECK(seq <= config.max_position_embeddings, "BertEmbeddings: sequence length ", seq,
                 " exceeds max_position_embeddings ", config.max_position_embeddings);
    Tensor token_types;
    if (token_type_ids.defined()) {
      TINYXF_CHECK(token_type_ids.shape() == input_ids.shape(), "BertEmbeddings: token_type_ids of shape ",
                   shape_str(token_type_ids.shape()), ", expected ", shape_str(input_ids.shape()));
      token_types = token_type_embeddings->forward(token_type_ids);
    } else {
      token_types = token_type_embeddings->weight.narrow(0, 0, 1);  // row 0, broadcast over [B, S]
    }
    // HF's order of the sums: (words + token types) + positions.
    auto x = word_embeddings->forward(input_ids) + token_types + position_embeddings->weight.narrow(0, 0, seq);
    return dropout->forward(LayerNorm->forward(x));
  }

  BertConfig config;
  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
  std::shared_ptr<nn::Dropout> dropout;
};

class BertSelfAttention : public nn::Module {
 public:
  explicit BertSelfAttention(const BertConfig& c) : num_attention_heads(c.num_attention_heads) {
    query = register_module("query", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    key = register_module("key", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    value = register_module("value", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.attention_probs_dropout_prob));
  }
  // x [B, S, hidden]; attention_mask [B, S] (1 = attend, 0 = padding key) or undefined. Returns
  // the heads' context merged to [B, S, hidden] ([B, 1, hidden], position 0 alone, with
  // first_token_only: encoder_ops::self_attention_context).
  Tensor forward(const Tensor& x, const Tensor& attention_mask, const encoder_ops::OutputRows& rows = {}) {
    return encoder_ops::self_attention_context(x, attention_mask, *query, *key, *value, num_attention_heads, *dropout,
                                               flags, "BertSelfAttention", rows);
  }
  encoder_ops::AttentionFlags flags;
  std::int64_t num_attention_heads;
  std::shared_ptr<nn::Linear> query, key, value;
  std::shared_ptr<nn::Dropout> dropout;
};

// dense -> dropout -> LayerNorm(· + residual): BERT's BertSelfOutput and BertOutput.
class BertResidualOutput : public nn::Module {
 public:
  BertResidualOutput(const BertConfig& c, std::int64_t in_features) {
    dense = register_module("dense", std::make_shared<nn::Linear>(in_features, c.hidden_size));
    LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.hidden_dropout_prob));
  }
  Tensor forward(const Tensor& x, const Tensor& residual) {
    return encoder_ops::project_add_norm(x, *dense, *dropout, residual, *LayerNorm, fused_add_layer_norm);
  }
  // true: (bias +) residual + LayerNorm are one fused op (add_layer_norm); false: composed.
  bool fused_add_layer_norm = true;
  std::shared_ptr<nn::Linear> dense;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
  std::shared_ptr<nn::Dropout> dropout;
};

class BertAttention : public nn::Module {
 public:
  explicit BertAttention(const BertConfig& c) {
    self = register_module("self", std::make_shared<BertSelfAttention>(c));
    output = register_module("output", std::make_shared<BertResidualOutput>(c, c.hidden_size));
  }
  Tensor forward(const Tensor& x, const Tensor& attention_mask, const encoder_ops::OutputRows& rows = {}) {
    return output->forward(self->forward(x, attention_mask, rows),
                           encoder_ops::output_rows(x, rows));
  }
  std::shared_ptr<BertSelfAttention> self;
  std::shared_ptr<BertResidualOutput> output;
};

class BertIntermediate : public nn::Module {
 public:
  explicit BertIntermediate(const BertConfig& c) : hidden_act(c.hidden_act) {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size));
  }
  Tensor forward(const Tensor& x) {
    return encoder_ops::intermediate(x, *dense, hidden_act, fused_bias_gelu);
  }
  // true: dense's bias and the GELU are one fused op (bias_gelu); false: Linear, then the activation.
  bool fused_bias_gelu = true;
  std::string hidden_act;
  std::shared_ptr<nn::Linear> dense;
};

// Post-LN block: x = LN(attn(x) + x); x = LN(ffn(x) + x).
class BertLayer : public nn::Module {
 public:
  explicit BertLayer(const BertConfig& c) {
    attention = register_module("attention", std::make_shared<BertAttention>(c));
    intermediate = register_module("intermediate", std::make_shared<BertIntermediate>(c));
    output = register_module("output", std::make_shared<BertResidualOutput>(c, c.intermediate_size));
  }
  // x [B, S, hidden] -> [B, S, hidden]; with first_token_only, position 0 alone: [B, 1, hidden].
  Tensor forward(const Tensor& x, const Tensor& attention_mask, const encoder_ops::OutputRows& rows = {}) {
    const auto h = attention->forward(x, attention_mask, rows);
    return output->forward(intermediate->forward(h), h);
  }
  std::shared_ptr<BertAttention> attention;
  std::shared_ptr<BertIntermediate> intermediate;
  std::shared_ptr<BertResidualOutput> output;
};

class BertEncoder : public nn::Module {
 public:
  explicit BertEncoder(const BertConfig& c) {
    layer = register_module("layer", std::make_shared<nn::ModuleList<BertLayer>>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(std::make_shared<BertLayer>(c));
  }
  // Returns the last hidden state; `all_hidden` (if given) receives the input and every layer's output.
  // first_token_only: the last layer computes position 0 alone ([B, 1, hidden]; encoder_ops::run_layers).
  Tensor forward(const Tensor& x, const Tensor& attention_mask,
                        std::vector<Tensor>* all_hidden = nullptr, const encoder_ops::OutputRows& rows = {}) {
    return encoder_ops::run_layers(*layer, x, attention_mask, all_hidden, rows);
  }
  std::shared_ptr<nn::ModuleList<BertLayer>> layer;
};

// tanh(dense(hidden[:, 0])): the [CLS] token's pooled representation.
class BertPooler : public nn::Module {
 public:
  explicit BertPooler(const BertConfig& c) {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
  }
  Tensor forward(const Tensor& hidden) { return tanh(dense->forward(hidden.select(1, 0))); }
  std::shared_ptr<nn::Linear> dense;
};

// HF's BertPreTrainedModel._init_weights.
inline void init_bert_weights(nn::Module& root, const BertConfig& c, Generator& gen) {
  encoder_ops::init_weights(root, c.initializer_range, gen, [](const std::string&) { return false; });
}

struct BertModelOutput {
  Tensor last_hidden_state;           // [B, S, hidden] ([B, 1, hidden] with rows)
  Tensor pooler_output;               // [B, hidden], when the model has a pooler
  std::vector<Tensor> hidden_states;  // when requested: embeddings + each layer
};

class BertModel : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "BertModel";
  explicit BertModel(const BertConfig& c, bool add_pooling_layer = true, Generator& gen = default_generator())
      : config(c) {
    c.validate();
    embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(c));
    encoder = register_module("encoder", std::make_shared<BertEncoder>(c));
    if (add_pooling_layer) pooler = register_module("pooler", std::make_shared<BertPooler>(c));
    init_bert_weights(*this, c, gen);
  }
  // input_ids [B, S] (int64), attention_mask [B, S] (1 keep / 0 pad) and token_type_ids [B, S]
  // (undefined = all 0). rows: what the last layer computes (encoder_ops::OutputRows): `true`,
  // position 0 alone, all the pooler reads (last_hidden_state is then [B, 1, hidden]); given
  // positions, [B, M, hidden] and no pooler output.
  BertModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask,
                          const Tensor& token_type_ids = Tensor(),
                          bool output_hidden_states = false, const encoder_ops::OutputRows& rows = {}) {
    BertModelOutput out;
    out.last_hidden_state = encoder->forward(embeddings->forward(input_ids, token_type_ids), attention_mask,
                                             output_hidden_states ? &out.hidden_states : nullptr, rows);
    if (pooler && (rows.all() || rows.first_token_only)) out.pooler_output = pooler->forward(out.last_hidden_state);
    return out;
  }
  BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  std::shared_ptr<BertEncoder> encoder;
  std::shared_ptr<BertPooler> pooler;  // null without a pooling layer
};

struct BertSequenceClassifierOutput {
  Tensor logits;                      // [B, num_labels]
  Tensor loss;                        // scalar, when labels were given
  std::vector<Tensor> hidden_states;  // when requested: embeddings + each layer
};

// pooler output -> dropout -> classifier, as HF's BertForSequenceClassification.
class BertForSequenceClassification : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "BertForSequenceClassification";
  explicit BertForSequenceClassification(const BertConfig& c, Generator& gen = default_generator()) : config(c) {
    bert = register_module("bert", std::make_shared<BertModel>(c, true, gen));
    dropout = register_module("dropout",
                              std::make_shared<nn::Dropout>(c.classifier_dropout.value_or(c.hidden_dropout_prob)));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(c.hidden_size, c.num_labels));
    init_bert_weights(*classifier, c, gen);
  }
  // With labels, the loss of config.problem_type as HF's (encoder_ops::sequence_classification_loss).
  BertSequenceClassifierOutput forward(const Tensor& input_ids,
                                       const Tensor& attention_mask,
                                       const Tensor& labels = Tensor(),
                                       bool output_hidden_states = false,
                                       const Tensor& token_type_ids = Tensor()) {
    auto encoded = bert->forward(input_ids, attention_mask, token_type_ids, output_hidden_states,
                                 last_layer_cls_only && !output_hidden_states);
    BertSequenceClassifierOutput out;
    out.logits = classifier->forward(dropout->forward(encoded.pooler_output));
    out.hidden_states = std::move(encoded.hidden_states);
    if (labels.defined()) {
      // As transformers: the first labelled forward writes the type it infers into the config, which
      // later batches then use and save_pretrained writes to config.json.
      if (config.problem_type.empty())
        config.problem_type = encoder_ops::classification_problem_type({}, config.num_labels, labels);
      out.loss = encoder_ops::sequence_classification_loss(out.logits, labels, config.num_labels, config.problem_type);
    }
    return out;
  }
  // true: the last layer computes the [CLS] row alone, all the pooler reads (its keys and values
  // still from every position): the same logits and gradients as the full layer, with about
  // 1/num_hidden_layers less of the encoder's work; false: every row, as transformers computes it.
  // Hidden states, when asked for, are always complete.
  bool last_layer_cls_only = true;
  BertConfig config;
  std::shared_ptr<BertModel> bert;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> classifier;
};

// A label per token, as HF's BertForTokenClassification: no pooler, dropout (classifier_dropout,
// else hidden_dropout_prob) and a linear classifier on every position's hidden state.
class BertForTokenClassification : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "BertForTokenClassification";
  explicit BertForTokenClassification(const BertConfig& c, Generator& gen = default_generator()) : config(c) {
    bert = register_module("bert", std::make_shared<BertModel>(c, false, gen));
    dropout = register_module("dropout",
                              std::make_shared<nn::Dropout>(c.classifier_dropout.value_or(c.hidden_dropout_prob)));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(c.hidden_size, c.num_labels));
    init_bert_weights(*classifier, c, gen);
  }
  // labels [B, S]: -100 where no label applies (encoder_ops::token_classification_loss).
  TokenClassifierOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& labels = Tensor(),
                                bool output_hidden_states = false, const Tensor& token_type_ids = Tensor()) {
    auto encoded = bert->forward(input_ids, attention_mask, token_type_ids, output_hidden_states);
    TokenClassifierOutput out;
    out.logits = classifier->forward(dropout->forward(encoded.last_hidden_state));
    out.hidden_states = std::move(encoded.hidden_states);
    if (labels.defined()) out.loss = encoder_ops::token_classification_loss(out.logits, labels);
    return out;
  }
  BertConfig config;
  std::shared_ptr<BertModel> bert;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> classifier;
};

// Extractive question answering (SQuAD), as HF's BertForQuestionAnswering: no pooler, no dropout,
// qa_outputs giving each position a start and an end logit.
class BertForQuestionAnswering : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "BertForQuestionAnswering";
  explicit BertForQuestionAnswering(const BertConfig& c, Generator& gen = default_generator()) : config(c) {
    encoder_ops::check_question_answering_labels("BertForQuestionAnswering", c.num_labels);
    bert = register_module("bert", std::make_shared<BertModel>(c, false, gen));
    qa_outputs = register_module("qa_outputs", std::make_shared<nn::Linear>(c.hidden_size, c.num_labels));
    init_bert_weights(*qa_outputs, c, gen);
  }
  // start/end positions [B]: token indices of the answer span (encoder_ops::span_loss).
  QuestionAnsweringOutput forward(const Tensor& input_ids, const Tensor& attention_mask,
                                  const Tensor& start_positions = Tensor(), const Tensor& end_positions = Tensor(),
                                  bool output_hidden_states = false, const Tensor& token_type_ids = Tensor()) {
    auto encoded = bert->forward(input_ids, attention_mask, token_type_ids, output_hidden_states);
    QuestionAnsweringOutput out = encoder_ops::question_answering_output(
        qa_outputs->forward(encoded.last_hidden_state), start_positions, end_positions);
    out.hidden_states = std::move(encoded.hidden_states);
    return out;
  }
  BertConfig config;
  std::shared_ptr<BertModel> bert;
  std::shared_ptr<nn::Linear> qa_outputs;
};

// cls.predictions: transform (dense -> activation -> LayerNorm), then the decoder, whose weight is
// the word-embedding matrix (tied) and whose bias is predictions.bias (tied, as in HF).
class BertLMPredictionHead : public nn::Module {
 public:
  BertLMPredictionHead(const BertConfig& c, const Tensor& word_embeddings) : hidden_act(c.hidden_act) {
    bias = register_parameter("bias", Tensor::zeros({c.vocab_size}));
    transform = register_module("transform", std::make_shared<Transform>(c));
    decoder = register_module("decoder", std::make_shared<Decoder>(word_embeddings, bias));
  }
  Tensor forward(const Tensor& hidden) {
    const auto& t = *transform;
    const auto h = t.LayerNorm->forward(encoder_ops::activation(hidden_act, t.dense->forward(hidden)));
    return linear(h, decoder->weight, bias);
  }
  struct Transform : nn::Module {
    explicit Transform(const BertConfig& c) {
      dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
      LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
    }
    std::shared_ptr<nn::Linear> dense;
    std::shared_ptr<nn::LayerNorm> LayerNorm;
  };
  struct Decoder : nn::Module {
    Decoder(const Tensor& tied_weight, const Tensor& tied_bias) : weight(tied_weight) {
      tie_parameter("weight", tied_weight);
      tie_parameter("bias", tied_bias);
    }
    Tensor weight;
  };
  std::string hidden_act;
  Tensor bias;
  std::shared_ptr<Transform> transform;
  std::shared_ptr<Decoder> decoder;
};

class BertForMaskedLM : public nn::Module {
 public:
  // transformers' class name: config.json's "architectures" (save_pretrained, Trainer checkpoints).
  static constexpr const char* architecture = "BertForMaskedLM";
  explicit BertForMaskedLM(const BertConfig& c, Generator& gen = default_generator()) : config(c) {
    bert = register_module("bert", std::make_shared<BertModel>(c, false, gen));  // no pooler, as HF
    cls = register_module("cls", std::make_shared<Cls>(c, bert->embeddings->word_embeddings->weight));
    init_bert_weights(*cls, c, gen);
  }
  struct Output {
    Tensor logits;  // [B, S, vocab]; with sparse_prediction and labels: [n, vocab], the labelled positions
    Tensor loss;    // mean cross-entropy over labels != -100, when labels were given
    std::vector<Tensor> hidden_states;
  };
  Output forward(const Tensor& input_ids, const Tensor& attention_mask,
                 const Tensor& labels = Tensor(),
                 const Tensor& token_type_ids = Tensor(),
                 bool output_hidden_states = false) {
    std::vector<Tensor> hidden_states;
    // With output_hidden_states every layer stays whole (they are returned).
    auto head = encoder_ops::masked_lm_output(
        input_ids.shape(), labels, sparse_prediction, !output_hidden_states,
        [&](const encoder_ops::OutputRows& rows) {
          auto encoded = bert->forward(input_ids, attention_mask, token_type_ids, output_hidden_states, rows);
          hidden_states = std::move(encoded.hidden_states);
          return encoded.last_hidden_state;
        },
        [&](const Tensor& hidden) { return cls->predictions->forward(hidden); });
    return {head.logits, head.loss, std::move(hidden_states)};
  }
  // With labels, run the head (and the last layer, without output_hidden_states) on the labelled
  // positions alone (logits [n, vocab]); the loss is the same. Off by default: transformers'
  // logits are [B, S, vocab].
  bool sparse_prediction = false;
  struct Cls : nn::Module {
    Cls(const BertConfig& c, const Tensor& word_embeddings) {
      predictions = register_module("predictions", std::make_shared<BertLMPredictionHead>(c, word_embeddings));
    }
    std::shared_ptr<BertLMPredictionHead> predictions;
  };
  BertConfig config;
  std::shared_ptr<BertModel> bert;
  std::shared_ptr<Cls> cls;
};

}  // namespace tinyxf::models
