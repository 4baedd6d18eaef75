#pragma once
// Recurrent layers with PyTorch's names, semantics and initialization: nn::LSTM, nn::GRU, nn::RNN
// (tanh or relu) and their cells nn::LSTMCell, nn::GRUCell, nn::RNNCell (the computations are
// ops/rnn.hpp: packed sequences, the fused LSTM cell kernel, one autograd node per LSTM layer).
// detail::RecurrentBase holds what torch's RNNBase shares: parameters, options, padded /
// unbatched / packed / lengths input handling and the state checks.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/nn/init.hpp"
#include "tinyxf/ops/rnn.hpp"

namespace tinyxf::nn {

namespace detail {

// The options torch.nn.LSTM / GRU / RNN share: Options(input_size, hidden_size).num_layers(2)
// .bidirectional(true).batch_first(true); each option reads back with its name and no argument.
template <class Self>
class RecurrentOptions {
 public:
  RecurrentOptions(std::int64_t input_size, std::int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
#define TINYXF_RECURRENT_OPTION(type, name)     \
  Self& name(type value) {                      \
    name##_ = value;                            \
    return static_cast<Self&>(*this);           \
  }                                             \
  type name() const { return name##_; }
  TINYXF_RECURRENT_OPTION(std::int64_t, input_size)
  TINYXF_RECURRENT_OPTION(std::int64_t, hidden_size)
  TINYXF_RECURRENT_OPTION(std::int64_t, num_layers)
  TINYXF_RECURRENT_OPTION(bool, bias)
  TINYXF_RECURRENT_OPTION(bool, batch_first)
  TINYXF_RECURRENT_OPTION(double, dropout)
  TINYXF_RECURRENT_OPTION(bool, bidirectional)
#undef TINYXF_RECURRENT_OPTION

 private:
  std::int64_t input_size_, hidden_size_, num_layers_ = 1;
  bool bias_ = true, batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
};

}  // namespace detail

// torch::nn::LSTMOptions, GRUOptions, RNNOptions.
class LSTMOptions : public detail::RecurrentOptions<LSTMOptions> {
 public:
  using RecurrentOptions::RecurrentOptions;
};
class GRUOptions : public detail::RecurrentOptions<GRUOptions> {
 public:
  using RecurrentOptions::RecurrentOptions;
};
// RNNOptions(in, hidden).nonlinearity("relu"): torch's nonlinearity='tanh' (default) | 'relu'.
class RNNOptions : public detail::RecurrentOptions<RNNOptions> {
 public:
  using RecurrentOptions::RecurrentOptions;
  RNNOptions& nonlinearity(std::string value) {
    nonlinearity_ = std::move(value);
    return *this;
  }
  const std::string& nonlinearity() const { return nonlinearity_; }

 private:
  std::string nonlinearity_ = "tanh";
};

// torch's check: ValueError "Unknown nonlinearity 'x'. Select from 'tanh' or 'relu'."
inline RnnNonlinearity parse_rnn_nonlinearity(const std::string& name) {
  if (name == "tanh") return RnnNonlinearity::tanh;
  TINYXF_CHECK_AS(ValueError, name == "relu", "Unknown nonlinearity '", name, "'. Select from 'tanh' or 'relu'.");
  return RnnNonlinearity::relu;
}

// What LSTM::forward returns (torch: output, (h_n, c_n)); `auto [out, h_n, c_n] = lstm(x);`.
struct LSTMOutput {
  Tensor output, h_n, c_n;
};
struct PackedLSTMOutput {
  PackedSequence output;
  Tensor h_n, c_n;
};
// What GRU::forward and RNN::forward return (torch: output, h_n); `auto [out, h_n] = gru(x);`.
struct RNNOutput {
  Tensor output, h_n;
};
struct PackedRNNOutput {
  PackedSequence output;
  Tensor h_n;
};

namespace detail {

// torch.nn.RNNBase for a layer with `gates` blocks of H rows per weight (LSTM 4, GRU 3, RNN 1)
// and one state (h) or two (h, c). Parameters weight_ih_l{k} [gates·H, in], weight_hh_l{k}
// [gates·H, H], bias_ih_l{k}, bias_hh_l{k} [gates·H] (+ "_reverse" for the second direction), all
// initialized U(±1/√H) in registration order. Input [T, B, in] ([B, T, in] with batch_first;
// [T, in] unbatched) or a PackedSequence; states [layers·D, B, H] (optional, zeros). Output
// [T, B, D·H] (batch_first: [B, T, D·H]) or packed, and the final states [layers·D, B, H].
template <class Options>
class RecurrentBase : public Module {
 public:
  // U(±1/√H) for every parameter, in torch's order.
  void reset_parameters(Generator& gen = default_generator()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.hidden_size()));
    for (RnnWeights& w : weights_)
      for (Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh})
        if (t->defined()) init::uniform_(*t, -bound, bound, gen);
  }

  // The weights of layer l, direction d (1: reverse).
  const RnnWeights& weights(std::int64_t layer, std::int64_t direction = 0) const {
    return weights_.at(static_cast<std::size_t>(layer * (options.bidirectional() ? 2 : 1) + direction));
  }

  Options options;
  Generator* generator = nullptr;  // dropout's randomness (default: the global generator)

 protected:
  // The padded result, and the packed one: output and the final states (h_n[, c_n]).
  struct Padded {
    Tensor output;
    std::vector<Tensor> states;
  };
  struct Packed {
    PackedSequence output;
    std::vector<Tensor> states;
  };

  RecurrentBase(const char* name, Options o, std::int64_t gates, Generator& gen) : options(std::move(o)), name_(name) {
    TINYXF_CHECK(options.input_size() > 0 && options.hidden_size() > 0 && options.num_layers() > 0, name_,
                 ": input_size, hidden_size and num_layers must be positive, got ", options.input_size(), ", ",
                 options.hidden_size(), " and ", options.num_layers());
    TINYXF_CHECK(options.dropout() >= 0.0 && options.dropout() <= 1.0, name_, ": dropout must be in [0, 1], got ",
                 options.dropout());
    const std::int64_t H = options.hidden_size(), D = directions();
    for (std::int64_t l = 0; l < options.num_layers(); ++l)
      for (std::int64_t d = 0; d < D; ++d) {
        const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
        const std::int64_t in = l == 0 ? options.input_size() : D * H;
        RnnWeights w;
        w.w_ih = register_parameter("weight_ih" + sfx, Tensor::empty({gates * H, in}));
        w.w_hh = register_parameter("weight_hh" + sfx, Tensor::empty({gates * H, H}));
        if (options.bias()) {
          w.b_ih = register_parameter("bias_ih" + sfx, Tensor::empty({gates * H}));
          w.b_hh = register_parameter("bias_hh" + sfx, Tensor::empty({gates * H}));
        }
        weights_.push_back(w);
      }
    reset_parameters(gen);
  }

  // The stacked layers over packed rows; `states` [layers·D, B, H] (or undefined) in packed order.
  virtual std::pair<Tensor, std::vector<Tensor>> run_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                                          const std::vector<Tensor>& states) = 0;

  // Padded input: every sequence runs to T.
  Padded forward_padded(const Tensor& input, const std::vector<Tensor>& s0) {
    const bool unbatched = input.dim() == 2;
    TINYXF_CHECK(input.dim() == 3 || unbatched, name_, ": expected a 2-D (unbatched) or 3-D input, got shape ",
                 shape_str(input.shape()));
    const Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first() ? input.transpose(0, 1) : input;
    const std::int64_t T = x.shape()[0], B = x.shape()[1];
    TINYXF_CHECK_AS(ShapeError, T > 0, name_, ": expected a sequence length larger than 0, got input of shape ",
                    shape_str(input.shape()));
    if (B == 0) {  // an empty batch: empty results of torch's shapes (nothing to run)
      check_input_size(x);
      const std::int64_t D = directions(), H = options.hidden_size();
      const Tensor out = Tensor::zeros({T, 0, D * H}, x.options());
      std::vector<Tensor> states;
      for (std::size_t i = 0; i < s0.size(); ++i) states.push_back(Tensor::zeros({options.num_layers() * D, 0, H}, x.options()));
      return {options.batch_first() ? out.transpose(0, 1) : out, states};
    }
    std::vector<Tensor> batched;
    for (const Tensor& s : s0) batched.push_back(unbatched && s.defined() ? s.unsqueeze(1) : s);
    auto [rows_out, states] = run(x.reshape({T * B, x.shape()[2]}),
                                  std::vector<std::int64_t>(static_cast<std::size_t>(T), B), batched, Tensor());
    const Tensor out = rows_out.view({T, B, rows_out.shape()[1]});
    if (unbatched) {
      for (Tensor& s : states) s = s.squeeze(1);
      return {out.squeeze(1), states};
    }
    return {options.batch_first() ? out.transpose(0, 1) : out, states};
  }

  // Packed input (pack_padded_sequence): each sequence stops at its own length; the reverse
  // direction starts at each one's last token; the final states hold each sequence's state after
  // its last step, in the original batch order (as are the initial ones).
  Packed forward_packed(const PackedSequence& input, const std::vector<Tensor>& s0) {
    auto [rows_out, states] = run(input.data, input.batch_sizes_vector(), s0, input.sorted_indices);
    if (input.unsorted_indices.defined())
      for (Tensor& s : states) s = index_select(s, 1, input.unsorted_indices);
    return {PackedSequence{rows_out, input.batch_sizes, input.sorted_indices, input.unsorted_indices}, states};
  }

  // Padded input with its lengths (any order): packs, runs and pads back; positions past a
  // sequence's length are zero in the output, and padding values never change the result.
  Padded forward_lengths(const Tensor& input, const std::vector<std::int64_t>& lengths, const std::vector<Tensor>& s0) {
    TINYXF_CHECK(input.dim() == 3, name_, ": forward with lengths expects a 3-D input, got shape ",
                 shape_str(input.shape()));
    const PackedSequence packed = pack_padded_sequence(input, lengths, options.batch_first(), false);
    Packed r = forward_packed(packed, s0);
    const std::int64_t T = input.shape()[options.batch_first() ? 1 : 0];
    return {pad_packed_sequence(r.output, options.batch_first(), 0.0, T).first, r.states};
  }

  std::int64_t directions() const { return options.bidirectional() ? 2 : 1; }
  Generator& dropout_generator() const { return generator ? *generator : default_generator(); }

  std::vector<RnnWeights> weights_;

 private:
  void check_input_size(const Tensor& x) const {
    TINYXF_CHECK(x.shape().back() == options.input_size(), name_, ": input size ", x.shape().back(),
                 " does not match input_size ", options.input_size());
  }

  // Checks the states (h0, c0) against [layers·D, B, H] and sorts them into packed order.
  std::pair<Tensor, std::vector<Tensor>> run(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                             const std::vector<Tensor>& s0, const Tensor& sorted_indices) {
    const std::int64_t B = batch_sizes.empty() ? 0 : batch_sizes[0];
    check_input_size(x);
    const Shape state_shape{options.num_layers() * directions(), B, options.hidden_size()};
    std::vector<Tensor> states;
    for (std::size_t i = 0; i < s0.size(); ++i) {
      const Tensor& s = s0[i];
      if (s.defined()) {
        TINYXF_CHECK(s.shape() == state_shape, name_, ": expected ", i == 0 ? "h0" : "c0", " of shape ",
                     shape_str(state_shape), ", got ", shape_str(s.shape()));
      }
      states.push_back(s.defined() && sorted_indices.defined() ? index_select(s, 1, sorted_indices) : s);
    }
    return run_rows(x, batch_sizes, states);
  }

  const char* name_;
};

}  // namespace detail

// torch.nn.LSTM: gate order i, f, g, o (weights [4H, *]); states h and c (see RecurrentBase).
class LSTM : public detail::RecurrentBase<LSTMOptions> {
 public:
  explicit LSTM(LSTMOptions options, Generator& gen = default_generator()) : RecurrentBase("LSTM", options, 4, gen) {}
  LSTM(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers = 1)
      : LSTM(LSTMOptions(input_size, hidden_size).num_layers(num_layers)) {}

  LSTMOutput forward(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) {
    Padded r = forward_padded(input, {h0, c0});
    return {r.output, r.states[0], r.states[1]};
  }
  PackedLSTMOutput forward(const PackedSequence& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) {
    Packed r = forward_packed(input, {h0, c0});
    return {r.output, r.states[0], r.states[1]};
  }
  LSTMOutput forward(const Tensor& input, const std::vector<std::int64_t>& lengths, const Tensor& h0 = Tensor(),
                     const Tensor& c0 = Tensor()) {
    Padded r = forward_lengths(input, lengths, {h0, c0});
    return {r.output, r.states[0], r.states[1]};
  }
  template <class... Args> auto operator()(Args&&... args) { return forward(std::forward<Args>(args)...); }

 private:
  std::pair<Tensor, std::vector<Tensor>> run_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                                  const std::vector<Tensor>& s) override {
    const LstmLayerResult r = lstm_packed_rows(x, batch_sizes, s[0], s[1], weights_, options.num_layers(),
                                               options.dropout(), is_training(), dropout_generator());
    return {r.output, {r.h_n, r.c_n}};
  }
};

// The modules whose only state is h (GRU, RNN): forward(input, h0) -> RNNOutput{output, h_n}.
namespace detail {
template <class Options>
class SingleStateRecurrent : public RecurrentBase<Options> {
 public:
  using Base = RecurrentBase<Options>;
  RNNOutput forward(const Tensor& input, const Tensor& h0 = Tensor()) {
    typename Base::Padded r = this->forward_padded(input, {h0});
    return {r.output, r.states[0]};
  }
  PackedRNNOutput forward(const PackedSequence& input, const Tensor& h0 = Tensor()) {
    typename Base::Packed r = this->forward_packed(input, {h0});
    return {r.output, r.states[0]};
  }
  RNNOutput forward(const Tensor& input, const std::vector<std::int64_t>& lengths, const Tensor& h0 = Tensor()) {
    typename Base::Padded r = this->forward_lengths(input, lengths, {h0});
    return {r.output, r.states[0]};
  }
  template <class... Args> auto operator()(Args&&... args) { return forward(std::forward<Args>(args)...); }

 protected:
  using Base::Base;
};
}  // namespace detail

// torch.nn.GRU: gate order r, z, n (weights [3H, *]), n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
// h' = (1 - z) n + z h; the rest as LSTM without c (see RecurrentBase).
class GRU : public detail::SingleStateRecurrent<GRUOptions> {
 public:
  explicit GRU(GRUOptions options, Generator& gen = default_generator())
      : SingleStateRecurrent("GRU", options, 3, gen) {}
  GRU(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers = 1)
      : GRU(GRUOptions(input_size, hidden_size).num_layers(num_layers)) {}

 private:
  std::pair<Tensor, std::vector<Tensor>> run_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                                  const std::vector<Tensor>& s) override {
    const RnnLayerResult r = gru_packed_rows(x, batch_sizes, s[0], weights_, options.num_layers(), options.dropout(),
                                             is_training(), dropout_generator());
    return {r.output, {r.h_n}};
  }
};

// torch.nn.RNN (Elman): h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu (weights [H, *]).
class RNN : public detail::SingleStateRecurrent<RNNOptions> {
 public:
  explicit RNN(RNNOptions options, Generator& gen = default_generator())
      : SingleStateRecurrent("RNN", options, 1, gen), nonlinearity_(parse_rnn_nonlinearity(options.nonlinearity())) {}
  RNN(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers = 1)
      : RNN(RNNOptions(input_size, hidden_size).num_layers(num_layers)) {}

 private:
  std::pair<Tensor, std::vector<Tensor>> run_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                                  const std::vector<Tensor>& s) override {
    const RnnLayerResult r = rnn_packed_rows(x, batch_sizes, s[0], weights_, options.num_layers(), nonlinearity_,
                                             options.dropout(), is_training(), dropout_generator());
    return {r.output, {r.h_n}};
  }
  RnnNonlinearity nonlinearity_;
};

namespace detail {

// torch.nn.RNNCellBase: weight_ih [gates·H, in], weight_hh [gates·H, H], bias_ih, bias_hh
// [gates·H], U(±1/√H); inputs [B, in] or unbatched [in], states [B, H] or [H] (absent: zeros).
class RecurrentCellBase : public Module {
 public:
  std::int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  RecurrentCellBase(const char* name, std::int64_t input_size, std::int64_t hidden_size, std::int64_t gates, bool bias,
                    Generator& gen)
      : input_size(input_size), hidden_size(hidden_size), name_(name) {
    TINYXF_CHECK(input_size > 0 && hidden_size > 0, name_, ": input_size and hidden_size must be positive, got ",
                 input_size, " and ", hidden_size);
    weight_ih = register_parameter("weight_ih", Tensor::empty({gates * hidden_size, input_size}));
    weight_hh = register_parameter("weight_hh", Tensor::empty({gates * hidden_size, hidden_size}));
    if (bias) {
      bias_ih = register_parameter("bias_ih", Tensor::empty({gates * hidden_size}));
      bias_hh = register_parameter("bias_hh", Tensor::empty({gates * hidden_size}));
    }
    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
    for (Tensor* t : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
      if (t->defined()) init::uniform_(*t, -bound, bound, gen);
  }

  // torch's check: the input is 1-D (unbatched) or 2-D.
  bool check_unbatched(const Tensor& x) const {
    TINYXF_CHECK_AS(ShapeError, x.dim() == 1 || x.dim() == 2, name_, ": Expected input to be 1D or 2D, got ", x.dim(),
                    "D input instead");
    return x.dim() == 1;
  }
  // A state in batched form ([B, H]): given, or zeros for the batch of xb.
  Tensor batched_state(const Tensor& s, const Tensor& xb, bool unbatched) const {
    if (!s.defined()) return Tensor::zeros({xb.shape()[0], hidden_size}, xb.options());
    return unbatched ? s.unsqueeze(0) : s;
  }

 private:
  const char* name_;
};

}  // namespace detail

// torch.nn.LSTMCell (gates i, f, g, o): forward(x, h, c) -> (h', c').
class LSTMCell : public detail::RecurrentCellBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, Generator& gen = default_generator())
      : RecurrentCellBase("LSTMCell", input_size, hidden_size, 4, bias, gen) {}
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    const bool unbatched = check_unbatched(x);
    const Tensor xb = unbatched ? x.unsqueeze(0) : x;
    auto [h1, c1] = lstm_cell(xb, batched_state(h, xb, unbatched), batched_state(c, xb, unbatched), weight_ih,
                              weight_hh, bias_ih, bias_hh);
    if (unbatched) return {h1.squeeze(0), c1.squeeze(0)};
    return {h1, c1};
  }
  std::pair<Tensor, Tensor> operator()(const Tensor& x, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    return forward(x, h, c);
  }
};

// torch.nn.GRUCell (gates r, z, n): forward(x, h) -> h'.
class GRUCell : public detail::RecurrentCellBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, Generator& gen = default_generator())
      : RecurrentCellBase("GRUCell", input_size, hidden_size, 3, bias, gen) {}
  Tensor forward(const Tensor& x, const Tensor& h = Tensor()) {
    const bool unbatched = check_unbatched(x);
    const Tensor xb = unbatched ? x.unsqueeze(0) : x;
    const Tensor h1 = gru_cell(xb, batched_state(h, xb, unbatched), weight_ih, weight_hh, bias_ih, bias_hh);
    return unbatched ? h1.squeeze(0) : h1;
  }
  Tensor operator()(const Tensor& x, const Tensor& h = Tensor()) { return forward(x, h); }
};

// torch.nn.RNNCell(input_size, hidden_size, bias, nonlinearity "tanh" | "relu"): forward(x, h) -> h'.
class RNNCell : public detail::RecurrentCellBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true,
          const std::string& nonlinearity_name = "tanh", Generator& gen = default_generator())
      : RecurrentCellBase("RNNCell", input_size, hidden_size, 1, bias, gen),
        nonlinearity(parse_rnn_nonlinearity(nonlinearity_name)) {}
  Tensor forward(const Tensor& x, const Tensor& h = Tensor()) {
    const bool unbatched = check_unbatched(x);
    const Tensor xb = unbatched ? x.unsqueeze(0) : x;
    const Tensor h1 =
        rnn_cell(xb, batched_state(h, xb, unbatched), weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity);
    return unbatched ? h1.squeeze(0) : h1;
  }
  Tensor operator()(const Tensor& x, const Tensor& h = Tensor()) { return forward(x, h); }

  RnnNonlinearity nonlinearity;
};

}  // namespace tinyxf::nn
