#pragma once
// Recurrent layers with PyTorch's names, semantics and initialization: nn::LSTM and nn::LSTMCell
// (the computations are ops/rnn.hpp: packed sequences, the fused cell kernel, one autograd node
// per layer).
#include <cmath>
#include <string>
#include <vector>

#include "tinyxf/nn/init.hpp"
#include "tinyxf/ops/rnn.hpp"

namespace tinyxf::nn {

// torch::nn::LSTMOptions: LSTMOptions(input_size, hidden_size).num_layers(2).bidirectional(true)
// .batch_first(true); each option reads back with its name and no argument.
class LSTMOptions {
 public:
  LSTMOptions(std::int64_t input_size, std::int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
#define TINYXF_LSTM_OPTION(type, name)          \
  LSTMOptions& name(type value) {               \
    name##_ = value;                            \
    return *this;                               \
  }                                             \
  type name() const { return name##_; }
  TINYXF_LSTM_OPTION(std::int64_t, input_size)
  TINYXF_LSTM_OPTION(std::int64_t, hidden_size)
  TINYXF_LSTM_OPTION(std::int64_t, num_layers)
  TINYXF_LSTM_OPTION(bool, bias)
  TINYXF_LSTM_OPTION(bool, batch_first)
  TINYXF_LSTM_OPTION(double, dropout)
  TINYXF_LSTM_OPTION(bool, bidirectional)
#undef TINYXF_LSTM_OPTION

 private:
  std::int64_t input_size_, hidden_size_, num_layers_ = 1;
  bool bias_ = true, batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
};

// What LSTM::forward returns (torch: output, (h_n, c_n)); `auto [out, h_n, c_n] = lstm(x);`.
struct LSTMOutput {
  Tensor output, h_n, c_n;
};
struct PackedLSTMOutput {
  PackedSequence output;
  Tensor h_n, c_n;
};

// torch.nn.LSTM. Parameters weight_ih_l{k} [4H, in], weight_hh_l{k} [4H, H], bias_ih_l{k},
// bias_hh_l{k} [4H] (+ "_reverse" for the second direction), gate order i, f, g, o, all
// initialized U(±1/√H) in registration order. Input [T, B, in] ([B, T, in] with batch_first;
// [T, in] unbatched) or a PackedSequence; state h0/c0 [layers·D, B, H] (optional, zeros).
// Output [T, B, D·H] (batch_first: [B, T, D·H]) or packed, and h_n, c_n [layers·D, B, H].
class LSTM : public Module {
 public:
  explicit LSTM(LSTMOptions options, Generator& gen = default_generator()) : options(options) {
    TINYXF_CHECK(options.input_size() > 0 && options.hidden_size() > 0 && options.num_layers() > 0,
                 "LSTM: input_size, hidden_size and num_layers must be positive");
    TINYXF_CHECK(options.dropout() >= 0.0 && options.dropout() <= 1.0, "LSTM: dropout must be in [0, 1], got ",
                 options.dropout());
    const std::int64_t H = options.hidden_size(), D = options.bidirectional() ? 2 : 1;
    for (std::int64_t l = 0; l < options.num_layers(); ++l)
      for (std::int64_t d = 0; d < D; ++d) {
        const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
        const std::int64_t in = l == 0 ? options.input_size() : D * H;
        LstmWeights w;
        w.w_ih = register_parameter("weight_ih" + sfx, Tensor::empty({4 * H, in}));
        w.w_hh = register_parameter("weight_hh" + sfx, Tensor::empty({4 * H, H}));
        if (options.bias()) {
          w.b_ih = register_parameter("bias_ih" + sfx, Tensor::empty({4 * H}));
          w.b_hh = register_parameter("bias_hh" + sfx, Tensor::empty({4 * H}));
        }
        weights_.push_back(w);
      }
    reset_parameters(gen);
  }
  LSTM(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers = 1)
      : LSTM(LSTMOptions(input_size, hidden_size).num_layers(num_layers)) {}

  // U(±1/√H) for every parameter, in torch's order.
  void reset_parameters(Generator& gen = default_generator()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.hidden_size()));
    for (LstmWeights& w : weights_)
      for (Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh})
        if (t->defined()) init::uniform_(*t, -bound, bound, gen);
  }

  // Padded input: every sequence runs to T.
  LSTMOutput forward(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) {
    const bool unbatched = input.dim() == 2;
    TINYXF_CHECK(input.dim() == 3 || unbatched, "LSTM: expected a 2-D (unbatched) or 3-D input, got shape ",
                 shape_str(input.shape()));
    const Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first() ? input.transpose(0, 1) : input;
    const std::int64_t T = x.shape()[0], B = x.shape()[1];
    TINYXF_CHECK_AS(ShapeError, T > 0, "LSTM: expected a sequence length larger than 0, got input of shape ",
                    shape_str(input.shape()));
    if (B == 0) {  // an empty batch: empty results of torch's shapes (nothing to run)
      TINYXF_CHECK(x.shape()[2] == options.input_size(), "LSTM: input size ", x.shape()[2],
                   " does not match input_size ", options.input_size());
      const std::int64_t D = options.bidirectional() ? 2 : 1, H = options.hidden_size();
      const Tensor out = Tensor::zeros({T, 0, D * H}, x.options());
      const Tensor state = Tensor::zeros({options.num_layers() * D, 0, H}, x.options());
      return {options.batch_first() ? out.transpose(0, 1) : out, state, state.clone()};
    }
    const auto batched = [&](const Tensor& s) { return unbatched && s.defined() ? s.unsqueeze(1) : s; };
    const LstmLayerResult r =
        run(x.reshape({T * B, x.shape()[2]}), std::vector<std::int64_t>(static_cast<std::size_t>(T), B), batched(h0),
            batched(c0), Tensor());
    Tensor out = r.output.view({T, B, r.output.shape()[1]});
    if (unbatched) return {out.squeeze(1), r.h_n.squeeze(1), r.c_n.squeeze(1)};
    return {options.batch_first() ? out.transpose(0, 1) : out, r.h_n, r.c_n};
  }

  // Packed input (pack_padded_sequence): each sequence stops at its own length; the reverse
  // direction starts at each one's last token; h_n/c_n hold each sequence's state after its last
  // step, in the original batch order (as are h0/c0).
  PackedLSTMOutput forward(const PackedSequence& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) {
    const LstmLayerResult r =
        run(input.data, input.batch_sizes_vector(), h0, c0, input.sorted_indices);
    PackedSequence out{r.output, input.batch_sizes, input.sorted_indices, input.unsorted_indices};
    const auto unsort = [&](const Tensor& s) {
      return input.unsorted_indices.defined() ? index_select(s, 1, input.unsorted_indices) : s;
    };
    return {out, unsort(r.h_n), unsort(r.c_n)};
  }

  // Padded input with its lengths (any order): packs, runs and pads back; positions past a
  // sequence's length are zero in the output, and padding values never change the result.
  LSTMOutput forward(const Tensor& input, const std::vector<std::int64_t>& lengths, const Tensor& h0 = Tensor(),
                     const Tensor& c0 = Tensor()) {
    TINYXF_CHECK(input.dim() == 3, "LSTM: forward with lengths expects a 3-D input, got shape ",
                 shape_str(input.shape()));
    const PackedSequence packed = pack_padded_sequence(input, lengths, options.batch_first(), false);
    PackedLSTMOutput r = forward(packed, h0, c0);
    const std::int64_t T = input.shape()[options.batch_first() ? 1 : 0];
    return {pad_packed_sequence(r.output, options.batch_first(), 0.0, T).first, r.h_n, r.c_n};
  }

  template <class... Args> auto operator()(Args&&... args) { return forward(std::forward<Args>(args)...); }

  // The weights of layer l, direction d (1: reverse).
  const LstmWeights& weights(std::int64_t layer, std::int64_t direction = 0) const {
    return weights_.at(static_cast<std::size_t>(layer * (options.bidirectional() ? 2 : 1) + direction));
  }

  LSTMOptions options;
  Generator* generator = nullptr;  // dropout's randomness (default: the global generator)

 private:
  LstmLayerResult run(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0, const Tensor& c0,
                      const Tensor& sorted_indices) {
    const std::int64_t D = options.bidirectional() ? 2 : 1, L = options.num_layers(), H = options.hidden_size();
    const std::int64_t B = batch_sizes.empty() ? 0 : batch_sizes[0];
    TINYXF_CHECK(x.shape().back() == options.input_size(), "LSTM: input size ", x.shape().back(),
                 " does not match input_size ", options.input_size());
    const Shape state_shape{L * D, B, H};
    const auto state = [&](const Tensor& s, const char* what) {
      if (!s.defined()) return s;
      TINYXF_CHECK(s.shape() == state_shape, "LSTM: expected ", what, " of shape ", shape_str(state_shape), ", got ",
                   shape_str(s.shape()));
      return sorted_indices.defined() ? index_select(s, 1, sorted_indices) : s;
    };
    const Tensor h0s = state(h0, "h0"), c0s = state(c0, "c0");
    return lstm_packed_rows(x, batch_sizes, h0s, c0s, weights_, L, options.dropout(),
                            is_training(), generator ? *generator : default_generator());
  }

  std::vector<LstmWeights> weights_;
};

// torch.nn.LSTMCell: weight_ih [4H, in], weight_hh [4H, H], bias_ih, bias_hh [4H], U(±1/√H).
// forward(x [B, in] or [in], h, c) -> (h', c'); without a state it starts from zeros.
class LSTMCell : public Module {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, Generator& gen = default_generator())
      : input_size(input_size), hidden_size(hidden_size) {
    weight_ih = register_parameter("weight_ih", Tensor::empty({4 * hidden_size, input_size}));
    weight_hh = register_parameter("weight_hh", Tensor::empty({4 * hidden_size, hidden_size}));
    if (bias) {
      bias_ih = register_parameter("bias_ih", Tensor::empty({4 * hidden_size}));
      bias_hh = register_parameter("bias_hh", Tensor::empty({4 * hidden_size}));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
    for (Tensor* t : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
      if (t->defined()) init::uniform_(*t, -bound, bound, gen);
  }
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    const bool unbatched = x.dim() == 1;
    const Tensor xb = unbatched ? x.unsqueeze(0) : x;
    const auto state = [&](const Tensor& s) {
      if (!s.defined()) return Tensor::zeros({xb.shape()[0], hidden_size}, xb.options());
      return unbatched ? s.unsqueeze(0) : s;
    };
    auto [h1, c1] = lstm_cell(xb, state(h), state(c), weight_ih, weight_hh, bias_ih, bias_hh);
    if (unbatched) return {h1.squeeze(0), c1.squeeze(0)};
    return {h1, c1};
  }
  std::pair<Tensor, Tensor> operator()(const Tensor& x, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    return forward(x, h, c);
  }

  std::int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

}  // namespace tinyxf::nn
