#pragma once
// Recurrent ops with PyTorch's semantics: packed sequences (pack_padded_sequence,
// pad_packed_sequence), the LSTM, GRU and Elman RNN (tanh / relu) cells and their multi-layer,
// optionally bidirectional layers. All three share the layer / direction / packing loops
// (ops_detail::recurrent_layer_steps, recurrent_stack); only the LSTM has a fused path.
//
// Layout: every layer runs over *packed rows*: the rows of time step t are batch_sizes[t]
// consecutive rows, the sequences sorted by decreasing length, so the active batch shrinks as
// sequences end. A padded [T, B, *] input is the special case batch_sizes = [B] * T.
//
// The fast path (a backend with supports_fused_lstm_cell()) runs one layer as ONE autograd node:
//   forward, per direction: G = X W_ihᵀ + (b_ih + b_hh) for all rows in one GEMM; per step one
//   GEMM G_t += h W_hhᵀ and the fused cell kernel (act, c', h' in one pass), every step writing
//   into buffers allocated once ([rows, 4H] gates, [rows, H] saved h and c, the output);
//   backward (backprop through time): per step the cell's backward kernel and one GEMM
//   dh = dG_t W_hh; then dX, dW_ih, dW_hh and the biases over all rows in one GEMM each.
// Without the fused kernel (and as the tests' second opinion) lstm_layer_composed builds the
// same function from differentiable ops, step by step.
#include <algorithm>
#include <array>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tinyxf/ops/fused.hpp"
#include "tinyxf/ops/matmul.hpp"

namespace tinyxf {

// ---- packed sequences --------------------------------------------------------------------------
// torch.nn.utils.rnn.PackedSequence: `data` holds the packed rows [sum(lengths), *] (step t's
// batch_sizes[t] rows, longest sequence first); batch_sizes is an int64 cpu tensor [T];
// sorted_indices[k] is the original batch index of the k-th longest sequence and
// unsorted_indices its inverse (both undefined when the batch was already sorted).
struct PackedSequence {
  Tensor data, batch_sizes, sorted_indices, unsorted_indices;

  std::vector<std::int64_t> batch_sizes_vector() const {
    return batch_sizes.to(Device::cpu()).to(kInt64).to_vector<std::int64_t>();
  }
};

namespace ops_detail {

inline std::vector<std::int64_t> lengths_vector(const Tensor& lengths) {
  TINYXF_CHECK(lengths.dim() == 1, "pack_padded_sequence: lengths must be 1-D, got shape ", shape_str(lengths.shape()));
  return lengths.to(Device::cpu()).to(kInt64).to_vector<std::int64_t>();
}

inline Tensor index_tensor(const std::vector<std::int64_t>& v, Device device) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, TensorOptions(device).dtype(kInt64));
}

// Row offsets of each step in the packed rows.
inline std::vector<std::int64_t> step_offsets(const std::vector<std::int64_t>& batch_sizes) {
  std::vector<std::int64_t> off(batch_sizes.size() + 1, 0);
  for (std::size_t t = 0; t < batch_sizes.size(); ++t) off[t + 1] = off[t] + batch_sizes[t];
  return off;
}

}  // namespace ops_detail

// input: [T, B, *] (batch_first: [B, T, *]); lengths: B positive lengths <= T. With
// enforce_sorted the lengths must be in decreasing order; otherwise the batch is sorted here and
// the permutation kept in the result. Differentiable (one gather of the rows).
inline PackedSequence pack_padded_sequence(const Tensor& input, const std::vector<std::int64_t>& lengths,
                                           bool batch_first = false, bool enforce_sorted = true) {
  TINYXF_CHECK(input.dim() >= 2, "pack_padded_sequence: input must have at least 2 dims, got shape ",
               shape_str(input.shape()));
  const Tensor tm = batch_first ? input.transpose(0, 1) : input;
  const std::int64_t T = tm.shape()[0], B = tm.shape()[1];
  TINYXF_CHECK(static_cast<std::int64_t>(lengths.size()) == B, "pack_padded_sequence: expected ", B,
               " lengths (the batch size), got ", lengths.size());
  std::vector<std::int64_t> order(static_cast<std::size_t>(B));
  std::iota(order.begin(), order.end(), 0);
  if (enforce_sorted) {
    for (std::int64_t b = 1; b < B; ++b)
      TINYXF_CHECK(lengths[b - 1] >= lengths[b],
                   "pack_padded_sequence: `lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                   "true; pass enforce_sorted=false to pack unsorted sequences");
  } else {
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return lengths[a] > lengths[b]; });
  }
  for (std::int64_t len : lengths)
    TINYXF_CHECK(len > 0 && len <= T, "pack_padded_sequence: every length must be in [1, ", T, "] (the padded length), got ",
                 len);
  const std::int64_t steps = B ? lengths[order[0]] : 0;
  std::vector<std::int64_t> batch_sizes, rows;
  for (std::int64_t t = 0; t < steps; ++t) {
    std::int64_t bs = 0;
    while (bs < B && lengths[order[bs]] > t) {
      rows.push_back(t * B + order[bs]);
      ++bs;
    }
    batch_sizes.push_back(bs);
  }
  Shape flat = tm.shape();
  flat.erase(flat.begin());
  flat[0] = T * B;
  PackedSequence out;
  out.data = index_select(tm.reshape(flat), 0, ops_detail::index_tensor(rows, input.device()));
  out.batch_sizes = ops_detail::index_tensor(batch_sizes, Device::cpu());
  if (!enforce_sorted) {
    std::vector<std::int64_t> inverse(order.size());
    for (std::size_t k = 0; k < order.size(); ++k) inverse[static_cast<std::size_t>(order[k])] = static_cast<std::int64_t>(k);
    out.sorted_indices = ops_detail::index_tensor(order, input.device());
    out.unsorted_indices = ops_detail::index_tensor(inverse, input.device());
  }
  return out;
}

inline PackedSequence pack_padded_sequence(const Tensor& input, const Tensor& lengths, bool batch_first = false,
                                           bool enforce_sorted = true) {
  return pack_padded_sequence(input, ops_detail::lengths_vector(lengths), batch_first, enforce_sorted);
}

// The inverse: [T, B, *] (batch_first: [B, T, *]) with `padding_value` after each sequence's end,
// in the original batch order, and the lengths (int64 cpu tensor [B]). T is the longest length or
// total_length. Differentiable (one gather from the packed rows plus a padding row).
inline std::pair<Tensor, Tensor> pad_packed_sequence(const PackedSequence& packed, bool batch_first = false,
                                                     double padding_value = 0.0,
                                                     std::optional<std::int64_t> total_length = std::nullopt) {
  const std::vector<std::int64_t> bs = packed.batch_sizes_vector();
  const std::int64_t steps = static_cast<std::int64_t>(bs.size()), B = steps ? bs[0] : 0;
  const std::int64_t T = total_length.value_or(steps);
  TINYXF_CHECK(T >= steps, "pad_packed_sequence: total_length ", T, " is shorter than the longest sequence (", steps, ")");
  std::vector<std::int64_t> unsorted(static_cast<std::size_t>(B));
  std::iota(unsorted.begin(), unsorted.end(), 0);
  if (packed.unsorted_indices.defined())
    unsorted = packed.unsorted_indices.to(Device::cpu()).to(kInt64).to_vector<std::int64_t>();
  const std::vector<std::int64_t> off = ops_detail::step_offsets(bs);
  const std::int64_t n = off.back();
  std::vector<std::int64_t> rows(static_cast<std::size_t>(T * B), n);  // n: the padding row
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(B), 0);
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t k = unsorted[static_cast<std::size_t>(b)];
    for (std::int64_t t = 0; t < steps && k < bs[static_cast<std::size_t>(t)]; ++t) {
      rows[static_cast<std::size_t>(t * B + b)] = off[static_cast<std::size_t>(t)] + k;
      lengths[static_cast<std::size_t>(b)] = t + 1;
    }
  }
  const Tensor& data = packed.data;
  Shape pad_shape = data.shape();
  pad_shape[0] = 1;
  const Tensor src = cat({data, Tensor::full(pad_shape, padding_value, data.options())}, 0);
  Shape out_shape = data.shape();
  out_shape.erase(out_shape.begin());
  out_shape.insert(out_shape.begin(), {T, B});
  Tensor out = index_select(src, 0, ops_detail::index_tensor(rows, data.device())).view(out_shape);
  if (batch_first) out = out.transpose(0, 1);
  return {out, ops_detail::index_tensor(lengths, Device::cpu())};
}

// ---- the LSTM cell -----------------------------------------------------------------------------
// (h', c') from the pre-activation gates [rows, 4H] (gate order i, f, g, o) and c [rows, H]:
// c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c'). lstm_cell_gates_composed is the same from
// elementwise ops.
inline std::pair<Tensor, Tensor> lstm_cell_gates_composed(const Tensor& gates, const Tensor& c) {
  const std::int64_t H = c.shape().back();
  const Tensor i = sigmoid(gates.narrow(-1, 0, H)), f = sigmoid(gates.narrow(-1, H, H));
  const Tensor g = tanh(gates.narrow(-1, 2 * H, H)), o = sigmoid(gates.narrow(-1, 3 * H, H));
  Tensor c_next = f * c + i * g;
  Tensor h_next = o * tanh(c_next);
  return {h_next, c_next};
}

inline std::pair<Tensor, Tensor> lstm_cell_gates(const Tensor& gates, const Tensor& c) {
  ops_detail::check_floating("lstm_cell", gates);
  ops_detail::check_same_device("lstm_cell", gates, c);
  ops_detail::check_same_dtype("lstm_cell", gates, c);
  TINYXF_CHECK(gates.dim() == 2 && c.dim() == 2 && c.shape()[0] == gates.shape()[0] &&
                   gates.shape()[1] == 4 * c.shape()[1],
               "lstm_cell: gates of shape ", shape_str(gates.shape()), " and cell state of shape ",
               shape_str(c.shape()), " do not match (expected [rows, 4H] and [rows, H])");
  Backend& backend = gates.impl()->backend();
  if (!backend.supports_fused_lstm_cell()) return lstm_cell_gates_composed(gates, c);
  using ops_detail::kv;
  const std::int64_t rows = c.shape()[0], H = c.shape()[1];
  const Tensor gc = ops_detail::contiguous_nograd(gates), cc = ops_detail::contiguous_nograd(c);
  Tensor act = Tensor::empty(gc.shape(), gc.options());
  Tensor hc = Tensor::empty({rows, 2 * H}, gc.options());  // h' | c': one node, two outputs
  if (rows > 0 && H > 0) backend.lstm_cell(kv(act), kv(hc.narrow(1, 0, H)), kv(hc.narrow(1, H, H)), kv(gc), kv(cc), rows, H);
  hc = autograd::record(
      hc, "lstm_cell", {&gates.impl(), &c.impl()},
      [act, saved_c = autograd::save_input(cc, 1), rows, H](const Tensor& g) {
        const Tensor& cc = saved_c.get();
        const Tensor gg = g.contiguous();
        Tensor grad_gates = Tensor::empty({rows, 4 * H}, g.options());
        Tensor grad_c = Tensor::empty({rows, H}, g.options());
        if (rows > 0 && H > 0)
          g.impl()->backend().lstm_cell_backward(kv(grad_gates), kv(grad_c), kv(gg.narrow(1, 0, H)),
                                                 kv(gg.narrow(1, H, H)), kv(act), kv(cc), rows, H);
        return std::vector<Tensor>{grad_gates, grad_c};
      });
  return {hc.narrow(1, 0, H), hc.narrow(1, H, H)};
}

namespace ops_detail {

// torch's cell checks: x [B, in], h [B, H] with the batch sizes agreeing (otherwise the two
// linears would broadcast into a batch of the larger one).
// states: each with its name for the message ({"h", &h}, {"c", &c}).
inline void check_cell_inputs(const char* op, const Tensor& x, const Tensor& w_hh,
                              std::initializer_list<std::pair<const char*, const Tensor*>> states) {
  TINYXF_CHECK_AS(ShapeError, x.dim() == 2 && w_hh.dim() == 2, op,
                  ": expected the input [B, in] and weight_hh [gates·H, H], got ", shape_str(x.shape()), " and ",
                  shape_str(w_hh.shape()));
  const Shape state{x.shape()[0], w_hh.shape()[1]};
  std::string names, got;
  bool ok = true;
  for (const auto& [name, s] : states) {
    names += (names.empty() ? "" : " and ") + std::string(name);
    got += (got.empty() ? "" : " and ") + std::string(name) + " " + shape_str(s->shape());
    ok = ok && s->shape() == state;
  }
  TINYXF_CHECK_AS(ShapeError, ok, op, ": the input's batch size is ", x.shape()[0], " and the hidden size ",
                  w_hh.shape()[1], ": ", names, " must be ", shape_str(state), ", got ", got);
}

}  // namespace ops_detail

// torch's LSTMCell: x [B, in], state (h, c) [B, H]; biases optional.
inline std::pair<Tensor, Tensor> lstm_cell(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                                           const Tensor& w_hh, const Tensor& b_ih = Tensor(),
                                           const Tensor& b_hh = Tensor()) {
  ops_detail::check_cell_inputs("lstm_cell", x, w_hh, {{"h", &h}, {"c", &c}});
  return lstm_cell_gates(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh), c);
}

// ---- the recurrent layers ----------------------------------------------------------------------
// The weights of one direction of one layer (torch's weight_ih_l{k}[_reverse] ...), for LSTM
// (4H rows: i, f, g, o), GRU (3H rows: r, z, n) and RNN (H rows); biases may be undefined
// (bias=false).
struct RnnWeights {
  Tensor w_ih, w_hh, b_ih, b_hh;
};
using LstmWeights = RnnWeights;

// One layer's result over packed rows: output [rows, D H] (direction d in columns [d H, (d+1) H]),
// h_n and c_n [D, B, H] (each sequence's state after its own last step, sorted order).
struct LstmLayerResult {
  Tensor output, h_n, c_n;
};
// The same for GRU and RNN, which carry only h.
struct RnnLayerResult {
  Tensor output, h_n;
};

namespace ops_detail {

// A KernelView of rows [r0, r0 + n) of a 2-D view (no allocation).
inline KernelView kv_rows(const KernelView& v, std::int64_t r0, std::int64_t n) {
  KernelView out = v;
  out.data = static_cast<char*>(v.data) + r0 * v.strides[0] * static_cast<std::int64_t>(dtype_size(v.dtype));
  out.shape[0] = n;
  return out;
}

// C = op(A) op(B) + beta C on 2-D views with unit column stride (op: transpose when t_*).
inline void gemm_views(Backend& backend, const KernelView& c, const KernelView& a, bool t_a, const KernelView& b,
                       bool t_b, double beta) {
  GemmArgs args;
  args.dtype = a.dtype;
  args.m = c.shape[0];
  args.n = c.shape[1];
  args.k = t_a ? a.shape[0] : a.shape[1];
  if (args.m == 0 || args.n == 0) return;
  if (args.k == 0) {
    if (beta == 0.0) backend.fill(c, 0.0);
    return;
  }
  args.a = a.data;
  args.lda = a.strides[0];
  args.trans_a = t_a;
  args.b = b.data;
  args.ldb = b.strides[0];
  args.trans_b = t_b;
  args.c = c.data;
  args.ldc = c.strides[0];
  args.beta = beta;
  args.precision = matmul_precision_for(a.dtype);
  backend.gemm(args);
}

// The buffers one direction's forward keeps for its backward.
struct LstmDirectionSaved {
  Tensor act, h_prev, c_prev;  // [rows, 4H], [rows, H], [rows, H]
};

// One direction over packed rows: out_d [rows, H] (a column block of the output), h_state and
// c_state [B, H] hold the initial state on entry and h_n, c_n on exit.
inline LstmDirectionSaved lstm_direction_forward(Backend& backend, const Tensor& x, const LstmWeights& w,
                                                 const std::vector<std::int64_t>& bs,
                                                 const std::vector<std::int64_t>& off, bool reverse,
                                                 const KernelView& out_d, const KernelView& h_state,
                                                 const KernelView& c_state) {
  const std::int64_t rows = off.back(), H = w.w_hh.shape()[1];
  LstmDirectionSaved s{Tensor::empty({rows, 4 * H}, x.options()), Tensor::empty({rows, H}, x.options()),
                       Tensor::empty({rows, H}, x.options())};
  const KernelView G = kv(s.act), Hp = kv(s.h_prev), Cp = kv(s.c_prev), Whh = kv(w.w_hh);
  // The input projection of every step: one GEMM over all rows, the biases folded in first.
  double beta = 0.0;
  if (w.b_ih.defined() || w.b_hh.defined()) {
    const Tensor bias = w.b_ih.defined() && w.b_hh.defined() ? w.b_ih + w.b_hh : (w.b_ih.defined() ? w.b_ih : w.b_hh);
    if (rows) backend.copy(G, kv_broadcast(bias.contiguous(), {rows, 4 * H}));
    beta = 1.0;
  }
  gemm_views(backend, G, kv(x), false, kv(w.w_ih), true, beta);
  const std::int64_t steps = static_cast<std::int64_t>(bs.size());
  for (std::int64_t k = 0; k < steps; ++k) {
    const std::int64_t t = reverse ? steps - 1 - k : k;
    const std::int64_t o = off[static_cast<std::size_t>(t)], n = bs[static_cast<std::size_t>(t)];
    const KernelView Gt = kv_rows(G, o, n), Hpt = kv_rows(Hp, o, n), Cpt = kv_rows(Cp, o, n);
    const KernelView h_t = kv_rows(h_state, 0, n), c_t = kv_rows(c_state, 0, n);
    backend.copy(Hpt, h_t);
    backend.copy(Cpt, c_t);
    gemm_views(backend, Gt, Hpt, false, Whh, true, 1.0);
    backend.lstm_cell(Gt, h_t, c_t, Gt, Cpt, n, H);
    backend.copy(kv_rows(out_d, o, n), h_t);
  }
  return s;
}

// Backprop through time for one direction. grad_out_d: [rows, H] (data == nullptr: zero);
// dh_state / dc_state [B, H] hold the gradients of h_n / c_n on entry and those of h0 / c0 on
// exit. Writes grad_gates [rows, 4H].
inline void lstm_direction_backward(Backend& backend, const LstmDirectionSaved& s, const LstmWeights& w,
                                    const std::vector<std::int64_t>& bs, const std::vector<std::int64_t>& off,
                                    bool reverse, const KernelView& grad_out_d, const KernelView& dh_state,
                                    const KernelView& dc_state, const KernelView& grad_gates) {
  const std::int64_t H = w.w_hh.shape()[1];
  const KernelView G = kv(s.act), Cp = kv(s.c_prev), Whh = kv(w.w_hh);
  const std::int64_t steps = static_cast<std::int64_t>(bs.size());
  for (std::int64_t k = steps - 1; k >= 0; --k) {  // the forward's steps in reverse
    const std::int64_t t = reverse ? steps - 1 - k : k;
    const std::int64_t o = off[static_cast<std::size_t>(t)], n = bs[static_cast<std::size_t>(t)];
    const KernelView dh = kv_rows(dh_state, 0, n), dc = kv_rows(dc_state, 0, n), dG = kv_rows(grad_gates, o, n);
    if (grad_out_d.data) backend.binary(BinaryOp::add, dh, dh, kv_rows(grad_out_d, o, n));
    backend.lstm_cell_backward(dG, dc, dh, dc, kv_rows(G, o, n), kv_rows(Cp, o, n), n, H);
    gemm_views(backend, dh, dG, false, Whh, false, 0.0);
  }
}

// Fills `dst` [B, H] with src (or zeros when src is undefined).
inline void init_state(Backend& backend, const KernelView& dst, const Tensor& src) {
  if (src.defined())
    backend.copy(dst, kv(src));
  else
    backend.fill(dst, 0.0);
}

// The checks every recurrent layer over packed rows makes (op: "lstm", "gru", "rnn_tanh", ...):
// x [rows, in] matching the batch sizes, weights of `gates` blocks of H rows, states [D, B, H]
// (undefined: zeros), all on x's device and dtype.
inline void check_layer_inputs(const char* op, const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                               std::initializer_list<const Tensor*> states, std::span<const RnnWeights> weights,
                               std::int64_t gates) {
  const std::int64_t D = static_cast<std::int64_t>(weights.size());
  TINYXF_CHECK(D == 1 || D == 2, op, ": expected the weights of 1 or 2 directions, got ", D);
  TINYXF_CHECK(x.dim() == 2, op, ": packed input must be [rows, input_size], got shape ", shape_str(x.shape()));
  check_floating(op, x);
  const std::int64_t H = weights[0].w_hh.shape()[1], B = batch_sizes.empty() ? 0 : batch_sizes[0];
  const std::int64_t rows = std::accumulate(batch_sizes.begin(), batch_sizes.end(), std::int64_t{0});
  TINYXF_CHECK(x.shape()[0] == rows, op, ": the input has ", x.shape()[0], " rows, the batch sizes sum to ", rows);
  for (std::size_t b = 1; b < batch_sizes.size(); ++b)
    TINYXF_CHECK(batch_sizes[b] <= batch_sizes[b - 1] && batch_sizes[b] > 0, op,
                 ": batch sizes must be positive and non-increasing");
  for (const RnnWeights& w : weights) {
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) {
      if (!t->defined()) continue;
      check_same_device(op, x, *t);
      check_same_dtype(op, x, *t);
    }
    TINYXF_CHECK(w.w_ih.shape() == Shape({gates * H, x.shape()[1]}) && w.w_hh.shape() == Shape({gates * H, H}), op,
                 ": weights of shapes ", shape_str(w.w_ih.shape()), " and ", shape_str(w.w_hh.shape()),
                 " do not match input size ", x.shape()[1], " and hidden size ", H, " (", gates, " gate blocks)");
  }
  const Shape state_shape{D, B, H};
  for (const Tensor* t : states) {
    if (!t->defined()) continue;
    check_same_device(op, x, *t);
    check_same_dtype(op, x, *t);
    TINYXF_CHECK(t->shape() == state_shape, op, ": initial state of shape ", shape_str(t->shape()), ", expected ",
                 shape_str(state_shape));
  }
}

// The step-by-step recurrence over packed rows that the composed LSTM, GRU and RNN share:
// per direction, the input projection gi = x W_ihᵀ + b_ih for all rows at once, then per step
// gh = h W_hhᵀ + b_hh on the active rows and `step(gi_t, gh_t, states_t)` -> the new states
// (states[0] is h, the output). s0: the initial states, each [D, B, H] or undefined (zeros).
// Returns the output [rows, D H] and the final states, each [D, B, H].
template <class Step>
std::pair<Tensor, std::vector<Tensor>> recurrent_layer_steps(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                                             const std::vector<Tensor>& s0,
                                                             std::span<const RnnWeights> weights, Step step) {
  const std::int64_t D = static_cast<std::int64_t>(weights.size());
  const std::int64_t H = weights[0].w_hh.shape()[1], B = batch_sizes.empty() ? 0 : batch_sizes[0];
  const std::vector<std::int64_t> off = step_offsets(batch_sizes);
  const std::int64_t steps = static_cast<std::int64_t>(batch_sizes.size());
  std::vector<Tensor> outs;
  std::vector<std::vector<Tensor>> finals(s0.size());
  for (std::int64_t d = 0; d < D; ++d) {
    const RnnWeights& w = weights[static_cast<std::size_t>(d)];
    const Tensor gi = linear(x, w.w_ih, w.b_ih);
    std::vector<Tensor> state;
    for (const Tensor& s : s0) state.push_back(s.defined() ? s.select(0, d) : Tensor::zeros({B, H}, x.options()));
    std::vector<Tensor> step_out(static_cast<std::size_t>(steps));
    for (std::int64_t k = 0; k < steps; ++k) {
      const std::int64_t t = d == 1 ? steps - 1 - k : k;
      const std::int64_t n = batch_sizes[static_cast<std::size_t>(t)];
      std::vector<Tensor> active;  // the states of the sequences still running (the first n)
      for (const Tensor& s : state) active.push_back(s.narrow(0, 0, n));
      const std::vector<Tensor> next =
          step(gi.narrow(0, off[static_cast<std::size_t>(t)], n), linear(active[0], w.w_hh, w.b_hh), active);
      step_out[static_cast<std::size_t>(t)] = next[0];
      for (std::size_t i = 0; i < state.size(); ++i)
        state[i] = n < B ? cat({next[i], state[i].narrow(0, n, B - n)}, 0) : next[i];
    }
    outs.push_back(steps ? cat(step_out, 0) : Tensor::empty({0, H}, x.options()));
    for (std::size_t i = 0; i < state.size(); ++i) finals[i].push_back(state[i]);
  }
  std::vector<Tensor> final_states;
  for (const std::vector<Tensor>& f : finals) final_states.push_back(stack(f, 0));
  return {D == 1 ? outs[0] : cat(outs, 1), final_states};
}

// Stacks num_layers layers over packed rows (torch's _VF.lstm / gru / rnn_*): weights[l D + d];
// each of s0 [L D, B, H] (undefined: zeros) in packed order; dropout on every layer's output but
// the last (training only). layer(x, batch_sizes, states [D, B, H], weights of D directions) ->
// (output, final states). Returns the last layer's output and the final states [L D, B, H].
template <class Layer>
std::pair<Tensor, std::vector<Tensor>> recurrent_stack(const char* op, const Tensor& x,
                                                       const std::vector<std::int64_t>& batch_sizes,
                                                       const std::vector<Tensor>& s0,
                                                       std::span<const RnnWeights> weights, std::int64_t num_layers,
                                                       double dropout_p, bool training, Generator& gen, Layer layer) {
  TINYXF_CHECK(num_layers > 0, op, ": num_layers must be positive, got ", num_layers);
  const std::int64_t D = static_cast<std::int64_t>(weights.size()) / num_layers;
  TINYXF_CHECK(D * num_layers == static_cast<std::int64_t>(weights.size()) && (D == 1 || D == 2), op,
               ": expected num_layers x directions weight sets, got ", weights.size(), " for ", num_layers, " layers");
  Tensor layer_in = x;
  std::vector<std::vector<Tensor>> finals(s0.size());
  for (std::int64_t l = 0; l < num_layers; ++l) {
    std::vector<Tensor> states;
    for (const Tensor& s : s0) states.push_back(s.defined() ? s.narrow(0, l * D, D) : Tensor());
    auto [out, final_states] = layer(layer_in, batch_sizes, states, weights.subspan(l * D, D));
    for (std::size_t i = 0; i < finals.size(); ++i) finals[i].push_back(final_states[i]);
    layer_in = out;
    if (dropout_p > 0.0 && training && l + 1 < num_layers) layer_in = dropout(layer_in, dropout_p, true, gen);
  }
  std::vector<Tensor> final_states;
  for (const std::vector<Tensor>& f : finals) final_states.push_back(num_layers == 1 ? f[0] : cat(f, 0));
  return {layer_in, final_states};
}

}  // namespace ops_detail

// One LSTM layer over packed rows x [rows, in] (see the file comment), both directions when
// `weights` has two entries. h0, c0: [D, B, H] (undefined: zeros), in the packed (sorted) order.
// Gradients flow to x, h0, c0 and every weight. On a backend without the fused cell kernel this
// is lstm_layer_composed.
inline LstmLayerResult lstm_layer_composed(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                           const Tensor& h0, const Tensor& c0, std::span<const LstmWeights> weights);

inline LstmLayerResult lstm_layer(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                  const Tensor& c0, std::span<const LstmWeights> weights) {
  using ops_detail::kv;
  ops_detail::check_layer_inputs("lstm", x, batch_sizes, {&h0, &c0}, weights, 4);
  const std::int64_t D = static_cast<std::int64_t>(weights.size());
  const std::int64_t H = weights[0].w_hh.shape()[1], B = batch_sizes.empty() ? 0 : batch_sizes[0];
  const std::vector<std::int64_t> off = ops_detail::step_offsets(batch_sizes);
  const std::int64_t rows = off.back();
  const Shape state_shape{D, B, H};
  Backend& backend = x.impl()->backend();
  if (!backend.supports_fused_lstm_cell()) return lstm_layer_composed(x, batch_sizes, h0, c0, weights);

  std::vector<LstmWeights> w(weights.begin(), weights.end());
  for (LstmWeights& d : w)
    for (Tensor* t : {&d.w_ih, &d.w_hh, &d.b_ih, &d.b_hh})
      if (t->defined()) *t = ops_detail::contiguous_nograd(*t);
  const Tensor xc = ops_detail::contiguous_nograd(x);
  const auto opt = [](const Tensor& t) { return t.defined() ? ops_detail::contiguous_nograd(t) : Tensor(); };
  const Tensor h0c = opt(h0), c0c = opt(c0);
  // One flat result (output | h_n | c_n): one node with three outputs, returned as views.
  const std::int64_t n_out = rows * D * H, n_state = D * B * H;
  Tensor flat = Tensor::empty({n_out + 2 * n_state}, x.options());
  const Tensor out = flat.narrow(0, 0, n_out).view({rows, D * H});
  const Tensor hn = flat.narrow(0, n_out, n_state).view(state_shape);
  const Tensor cn = flat.narrow(0, n_out + n_state, n_state).view(state_shape);
  std::vector<ops_detail::LstmDirectionSaved> saved;
  {
    NoGradGuard ng;
    for (std::int64_t d = 0; d < D; ++d) {
      const KernelView hs = kv(hn.select(0, d)), cs = kv(cn.select(0, d));
      ops_detail::init_state(backend, hs, h0c.defined() ? h0c.select(0, d) : Tensor());
      ops_detail::init_state(backend, cs, c0c.defined() ? c0c.select(0, d) : Tensor());
      saved.push_back(ops_detail::lstm_direction_forward(backend, xc, w[static_cast<std::size_t>(d)], batch_sizes, off,
                                                         d == 1, kv(out.narrow(1, d * H, H)), hs, cs));
    }
  }
  std::array<LstmWeights, 2> in_w{};  // the node's weight inputs (the second direction's undefined if none)
  std::copy(weights.begin(), weights.end(), in_w.begin());
  const LstmWeights &w0 = in_w[0], &w1 = in_w[1];
  std::vector<std::pair<bool, bool>> has_bias;  // b_ih, b_hh of each direction
  for (const LstmWeights& d : w) has_bias.emplace_back(d.b_ih.defined(), d.b_hh.defined());
  std::vector<autograd::SavedTensor> saved_w;  // w_ih, w_hh of each direction: inputs 3, 4, 7, 8
  for (std::size_t d = 0; d < w.size(); ++d) {
    saved_w.push_back(autograd::save_input(w[d].w_ih, 3 + 4 * static_cast<int>(d)));
    saved_w.push_back(autograd::save_input(w[d].w_hh, 4 + 4 * static_cast<int>(d)));
  }
  flat = autograd::record(
      flat, "lstm",
      {&x.impl(), &h0.impl(), &c0.impl(), &w0.w_ih.impl(), &w0.w_hh.impl(), &w0.b_ih.impl(), &w0.b_hh.impl(),
       &w1.w_ih.impl(), &w1.w_hh.impl(), &w1.b_ih.impl(), &w1.b_hh.impl()},
      [saved_x = autograd::save_input(xc, 0), saved_w, saved, has_bias, batch_sizes, off, rows, B, H, D, n_out, n_state,
       need_x = autograd::needs_grad(x), need_h0 = autograd::needs_grad(h0), need_c0 = autograd::needs_grad(c0)](
          const Tensor& g_flat) {
        using ops_detail::kv;
        const Tensor& xc = saved_x.get();
        Backend& backend = g_flat.impl()->backend();
        const Tensor g = g_flat.contiguous();
        const Tensor g_out = g.narrow(0, 0, n_out).view({rows, D * H});
        const Shape state_shape{D, B, H};
        // dh/dc run through the states in place: they start as the gradients of h_n/c_n and end
        // as those of h0/c0.
        Tensor dh0 = g.narrow(0, n_out, n_state).view(state_shape).clone();
        Tensor dc0 = g.narrow(0, n_out + n_state, n_state).view(state_shape).clone();
        std::vector<Tensor> grads(11);
        Tensor grad_gates = Tensor::empty({rows, 4 * H}, g.options());
        Tensor dx = need_x ? Tensor::empty(xc.shape(), g.options()) : Tensor();
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t di = static_cast<std::size_t>(d);
          const auto [has_b_ih, has_b_hh] = has_bias[di];
          const Tensor w_ih = saved_w[2 * di].get(), w_hh = saved_w[2 * di + 1].get();
          ops_detail::lstm_direction_backward(backend, saved[di], LstmWeights{w_ih, w_hh, {}, {}}, batch_sizes, off,
                                              d == 1, kv(g_out.narrow(1, d * H, H)), kv(dh0.select(0, d)),
                                              kv(dc0.select(0, d)), kv(grad_gates));
          const std::size_t base = 3 + 4 * di;
          if (dx.defined()) ops_detail::gemm_views(backend, kv(dx), kv(grad_gates), false, kv(w_ih), false, d ? 1.0 : 0.0);
          Tensor gw_ih = Tensor::empty(w_ih.shape(), g.options()), gw_hh = Tensor::empty(w_hh.shape(), g.options());
          ops_detail::gemm_views(backend, kv(gw_ih), kv(grad_gates), true, kv(xc), false, 0.0);
          ops_detail::gemm_views(backend, kv(gw_hh), kv(grad_gates), true, kv(saved[di].h_prev), false, 0.0);
          grads[base] = gw_ih;
          grads[base + 1] = gw_hh;
          if (has_b_ih || has_b_hh) {
            Tensor gb = rows ? sum(grad_gates, {0}) : Tensor::zeros({4 * H}, g.options());
            if (has_b_ih) grads[base + 2] = gb;
            if (has_b_hh) grads[base + 3] = has_b_ih ? gb.clone() : gb;
          }
        }
        grads[0] = dx;
        if (need_h0) grads[1] = dh0;
        if (need_c0) grads[2] = dc0;
        return grads;
      });
  return {flat.narrow(0, 0, n_out).view({rows, D * H}), flat.narrow(0, n_out, n_state).view(state_shape),
          flat.narrow(0, n_out + n_state, n_state).view(state_shape)};
}

inline LstmLayerResult lstm_layer_composed(const Tensor& x, const std::vector<std::int64_t>& batch_sizes,
                                           const Tensor& h0, const Tensor& c0, std::span<const LstmWeights> weights) {
  auto [out, states] = ops_detail::recurrent_layer_steps(
      x, batch_sizes, {h0, c0}, weights, [](const Tensor& gi, const Tensor& gh, const std::vector<Tensor>& hc) {
        auto [h, c] = lstm_cell_gates(gi + gh, hc[1]);
        return std::vector<Tensor>{h, c};
      });
  return {out, states[0], states[1]};
}

// The whole multi-layer LSTM over packed rows (torch's _VF.lstm): weights[l * D + d]; h0/c0
// [L D, B, H] in packed order; dropout on every layer's output but the last (training only).
inline LstmLayerResult lstm_packed_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                        const Tensor& c0, std::span<const LstmWeights> weights, std::int64_t num_layers,
                                        double dropout_p = 0.0, bool training = false,
                                        Generator& gen = default_generator()) {
  auto [out, states] = ops_detail::recurrent_stack(
      "lstm", x, batch_sizes, {h0, c0}, weights, num_layers, dropout_p, training, gen,
      [](const Tensor& in, const std::vector<std::int64_t>& bs, const std::vector<Tensor>& s,
         std::span<const RnnWeights> w) {
        const LstmLayerResult r = lstm_layer(in, bs, s[0], s[1], w);
        return std::pair<Tensor, std::vector<Tensor>>{r.output, {r.h_n, r.c_n}};
      });
  return {out, states[0], states[1]};
}

// ---- GRU and the Elman RNN ---------------------------------------------------------------------
// Composed from differentiable ops (no fused kernel): per step two GEMMs and a few pointwise ops.

// The GRU update from the input and hidden projections gi = x W_ihᵀ + b_ih, gh = h W_hhᵀ + b_hh
// (each [rows, 3H], gate order r, z, n) and h [rows, H]: r = σ(gi_r + gh_r), z = σ(gi_z + gh_z),
// n = tanh(gi_n + r (gh_n)), h' = (1 - z) n + z h. b_hn stays inside r's product, as in torch.
inline Tensor gru_cell_gates(const Tensor& gi, const Tensor& gh, const Tensor& h) {
  const std::int64_t H = h.shape().back();
  const Tensor r = sigmoid(gi.narrow(-1, 0, H) + gh.narrow(-1, 0, H));
  const Tensor z = sigmoid(gi.narrow(-1, H, H) + gh.narrow(-1, H, H));
  const Tensor n = tanh(gi.narrow(-1, 2 * H, H) + r * gh.narrow(-1, 2 * H, H));
  return n + z * (h - n);
}

// The Elman RNN's nonlinearity (torch.nn.RNN's nonlinearity='tanh' | 'relu').
enum class RnnNonlinearity { tanh, relu };

inline Tensor rnn_activation(const Tensor& pre, RnnNonlinearity nonlinearity) {
  return nonlinearity == RnnNonlinearity::tanh ? tanh(pre) : relu(pre);
}

namespace ops_detail {

inline const char* rnn_op_name(RnnNonlinearity nonlinearity) {
  return nonlinearity == RnnNonlinearity::tanh ? "rnn_tanh" : "rnn_relu";
}

}  // namespace ops_detail

// torch.gru_cell: x [B, in], h [B, H]; weights [3H, in], [3H, H]; biases optional.
inline Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh,
                       const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor()) {
  ops_detail::check_cell_inputs("gru_cell", x, w_hh, {{"h", &h}});
  return gru_cell_gates(linear(x, w_ih, b_ih), linear(h, w_hh, b_hh), h);
}

// torch.rnn_tanh_cell / rnn_relu_cell: h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).
inline Tensor rnn_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh,
                       const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor(),
                       RnnNonlinearity nonlinearity = RnnNonlinearity::tanh) {
  ops_detail::check_cell_inputs(nonlinearity == RnnNonlinearity::tanh ? "rnn_tanh_cell" : "rnn_relu_cell", x, w_hh,
                                {{"h", &h}});
  return rnn_activation(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh), nonlinearity);
}

// One GRU layer over packed rows x [rows, in] (both directions when `weights` has two entries);
// h0 [D, B, H] (undefined: zeros) in packed order. Gradients flow to x, h0 and every weight.
inline RnnLayerResult gru_layer(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                std::span<const RnnWeights> weights) {
  ops_detail::check_layer_inputs("gru", x, batch_sizes, {&h0}, weights, 3);
  auto [out, states] = ops_detail::recurrent_layer_steps(
      x, batch_sizes, {h0}, weights, [](const Tensor& gi, const Tensor& gh, const std::vector<Tensor>& h) {
        return std::vector<Tensor>{gru_cell_gates(gi, gh, h[0])};
      });
  return {out, states[0]};
}

// One Elman RNN layer over packed rows (as gru_layer; weights [H, in], [H, H]).
inline RnnLayerResult rnn_layer(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                std::span<const RnnWeights> weights,
                                RnnNonlinearity nonlinearity = RnnNonlinearity::tanh) {
  ops_detail::check_layer_inputs(ops_detail::rnn_op_name(nonlinearity), x, batch_sizes, {&h0}, weights, 1);
  auto [out, states] = ops_detail::recurrent_layer_steps(
      x, batch_sizes, {h0}, weights, [nonlinearity](const Tensor& gi, const Tensor& gh, const std::vector<Tensor>&) {
        return std::vector<Tensor>{rnn_activation(gi + gh, nonlinearity)};
      });
  return {out, states[0]};
}

// The multi-layer GRU over packed rows (torch's _VF.gru), as lstm_packed_rows with h0 only.
inline RnnLayerResult gru_packed_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                      std::span<const RnnWeights> weights, std::int64_t num_layers,
                                      double dropout_p = 0.0, bool training = false,
                                      Generator& gen = default_generator()) {
  auto [out, states] = ops_detail::recurrent_stack(
      "gru", x, batch_sizes, {h0}, weights, num_layers, dropout_p, training, gen,
      [](const Tensor& in, const std::vector<std::int64_t>& bs, const std::vector<Tensor>& s,
         std::span<const RnnWeights> w) {
        const RnnLayerResult r = gru_layer(in, bs, s[0], w);
        return std::pair<Tensor, std::vector<Tensor>>{r.output, {r.h_n}};
      });
  return {out, states[0]};
}

// The multi-layer Elman RNN over packed rows (torch's _VF.rnn_tanh / rnn_relu).
inline RnnLayerResult rnn_packed_rows(const Tensor& x, const std::vector<std::int64_t>& batch_sizes, const Tensor& h0,
                                      std::span<const RnnWeights> weights, std::int64_t num_layers,
                                      RnnNonlinearity nonlinearity = RnnNonlinearity::tanh, double dropout_p = 0.0,
                                      bool training = false, Generator& gen = default_generator()) {
  auto [out, states] = ops_detail::recurrent_stack(
      ops_detail::rnn_op_name(nonlinearity), x, batch_sizes, {h0}, weights, num_layers, dropout_p, training, gen,
      [nonlinearity](const Tensor& in, const std::vector<std::int64_t>& bs, const std::vector<Tensor>& s,
                     std::span<const RnnWeights> w) {
        const RnnLayerResult r = rnn_layer(in, bs, s[0], w, nonlinearity);
        return std::pair<Tensor, std::vector<Tensor>>{r.output, {r.h_n}};
      });
  return {out, states[0]};
}

}  // namespace tinyxf
