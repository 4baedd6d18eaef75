// nn::LSTM / nn::LSTMCell and packed sequences (ops/rnn.hpp): parameter names and init, the
// fused one-node layer against the step-by-step composition (values and every gradient), packed
// batches against each sequence run alone, padding invariance, pack/pad round trips, gradcheck
// through the module, and (lstm_golden_test.cpp) PyTorch's numbers. nn::GRU / nn::RNN and their
// cells: names, shapes, errors, packing, dropout and cell = one step (goldens: lstm_golden_test.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;

namespace {

double max_rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
  const auto y = b.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::abs(x[i] - y[i]) / std::max(1.0, std::abs(y[i])));
  return worst;
}

Tensor randn(const Shape& s, std::uint64_t seed, DType dtype = kFloat64) {
  Generator gen(seed);
  return Tensor::randn(s, TensorOptions().dtype(dtype), gen);
}

// sum(out * R) + sum(h_n * S) + sum(c_n * U) with fixed random R, S, U.
Tensor loss_of(const Tensor& out, const Tensor& h_n, const Tensor& c_n) {
  return sum(out * randn(out.shape(), 7, out.dtype())) + sum(h_n * randn(h_n.shape(), 8, out.dtype())) +
         sum(c_n * randn(c_n.shape(), 9, out.dtype()));
}

std::map<std::string, Tensor> param_grads(nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (auto& [name, p] : m.named_parameters()) out[name] = p.grad().clone();
  return out;
}

std::unique_ptr<nn::LSTM> make_lstm(nn::LSTMOptions o, DType dtype = kFloat64, std::uint64_t seed = 3) {
  Generator gen(seed);
  auto lstm = std::make_unique<nn::LSTM>(o, gen);
  lstm->to(dtype);
  return lstm;
}

}  // namespace

TEST_CASE("LSTM: PyTorch's parameter names, shapes and U(+-1/sqrt(H)) init", "[lstm]") {
  nn::LSTM lstm(nn::LSTMOptions(5, 4).num_layers(2).bidirectional(true));
  const auto params = lstm.named_parameters();
  std::vector<std::string> names;
  for (auto& [name, p] : params) names.push_back(name);
  const std::vector<std::string> expected{
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  CHECK(names == expected);
  CHECK(lstm.weights(0).w_ih.shape() == Shape{16, 5});
  CHECK(lstm.weights(1, 1).w_ih.shape() == Shape{16, 8});
  CHECK(lstm.weights(1, 1).w_hh.shape() == Shape{16, 4});
  for (auto& [name, p] : params) {
    CHECK(p.requires_grad());
    CHECK(max(abs(p)).item() <= 0.5);
    CHECK(max(abs(p)).item() > 0.3);  // uniform over the whole range
  }
  nn::LSTM no_bias(nn::LSTMOptions(3, 2).bias(false));
  CHECK(no_bias.named_parameters().size() == 2);
  const nn::LSTMOptions o = nn::LSTMOptions(3, 2).num_layers(3).dropout(0.25).batch_first(true);
  CHECK(o.num_layers() == 3);
  CHECK(o.dropout() == 0.25);
  CHECK(o.batch_first());
  CHECK_FALSE(o.bidirectional());
  nn::LSTMCell cell(3, 2);
  std::vector<std::string> cell_names;
  for (auto& [name, p] : cell.named_parameters()) cell_names.push_back(name);
  CHECK(cell_names == std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"});
}

TEST_CASE("pack_padded_sequence / pad_packed_sequence: torch's layout and a round trip", "[lstm]") {
  // [T=4, B=3, 1], values 10 t + b.
  std::vector<double> v;
  for (int t = 0; t < 4; ++t)
    for (int b = 0; b < 3; ++b) v.push_back(10 * t + b);
  const Tensor x = Tensor::from_vector(v, {4, 3, 1});
  const PackedSequence p = pack_padded_sequence(x, std::vector<std::int64_t>{2, 4, 1}, false, false);
  CHECK(p.batch_sizes.to_vector<std::int64_t>() == std::vector<std::int64_t>{3, 2, 1, 1});
  CHECK(p.sorted_indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 2});
  CHECK(p.unsorted_indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 2});
  CHECK(p.data.reshape({-1}).to_vector<double>() == std::vector<double>{1, 0, 2, 11, 10, 21, 31});
  auto [padded, lengths] = pad_packed_sequence(p, true, -1.0);
  CHECK(padded.shape() == Shape{3, 4, 1});
  CHECK(lengths.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 4, 1});
  CHECK(padded.contiguous().reshape({-1}).to_vector<double>() ==
        std::vector<double>{0, 10, -1, -1, 1, 11, 21, 31, 2, -1, -1, -1});
  CHECK_THROWS_WITH(pack_padded_sequence(x, std::vector<std::int64_t>{2, 4, 1}),
                    Catch::Contains("sorted in decreasing order"));
  auto [padded_long, lengths2] = pad_packed_sequence(p, false, 0.0, 6);
  CHECK(padded_long.shape() == Shape{6, 3, 1});
}

TEST_CASE("LSTM: the fused one-node layer equals the step-by-step composition (values and gradients)", "[lstm]") {
  for (DType dtype : {kFloat64, kFloat32}) {
    for (bool bidirectional : {false, true}) {
      INFO((dtype == kFloat64 ? "float64" : "float32") << (bidirectional ? " bidirectional" : ""));
      const auto lstm_holder1 = make_lstm(nn::LSTMOptions(3, 5).num_layers(2).bidirectional(bidirectional), dtype);
      nn::LSTM& lstm = *lstm_holder1;
      const std::int64_t D = bidirectional ? 2 : 1, T = 6, B = 4;
      Tensor x = randn({T, B, 3}, 11, dtype).set_requires_grad(true);
      Tensor h0 = randn({2 * D, B, 5}, 12, dtype).set_requires_grad(true);
      Tensor c0 = randn({2 * D, B, 5}, 13, dtype).set_requires_grad(true);
      const std::vector<std::int64_t> lengths{3, 6, 1, 4};
      auto [out, h_n, c_n] = lstm(x, lengths, h0, c0);
      loss_of(out, h_n, c_n).backward();
      const auto grads = param_grads(lstm);
      const Tensor gx = x.grad().clone(), gh = h0.grad().clone(), gc = c0.grad().clone();

      // The composition, by hand: pack, lstm_layer_composed per layer, unsort, pad.
      lstm.zero_grad();
      x.zero_grad();
      h0.zero_grad();
      c0.zero_grad();
      const PackedSequence p = pack_padded_sequence(x, lengths, false, false);
      Tensor in = p.data;
      std::vector<Tensor> hs, cs;
      for (std::int64_t l = 0; l < 2; ++l) {
        std::vector<LstmWeights> w;
        for (std::int64_t d = 0; d < D; ++d) w.push_back(lstm.weights(l, d));
        const auto sorted = [&](const Tensor& s) { return index_select(s.narrow(0, l * D, D), 1, p.sorted_indices); };
        const LstmLayerResult r = lstm_layer_composed(in, p.batch_sizes_vector(), sorted(h0), sorted(c0), w);
        in = r.output;
        hs.push_back(index_select(r.h_n, 1, p.unsorted_indices));
        cs.push_back(index_select(r.c_n, 1, p.unsorted_indices));
      }
      PackedSequence po = p;
      po.data = in;
      const Tensor out2 = pad_packed_sequence(po, false, 0.0, T).first;
      const Tensor h2 = cat(hs, 0), c2 = cat(cs, 0);
      const double tol = dtype == kFloat64 ? 1e-12 : 2e-6;
      CHECK(max_rel_diff(out, out2) < tol);
      CHECK(max_rel_diff(h_n, h2) < tol);
      CHECK(max_rel_diff(c_n, c2) < tol);
      loss_of(out2, h2, c2).backward();
      for (auto& [name, g] : param_grads(lstm)) {
        INFO(name);
        CHECK(max_rel_diff(grads.at(name), g) < tol * 10);
      }
      CHECK(max_rel_diff(gx, x.grad()) < tol * 10);
      CHECK(max_rel_diff(gh, h0.grad()) < tol * 10);
      CHECK(max_rel_diff(gc, c0.grad()) < tol * 10);
    }
  }
}

TEST_CASE("LSTM: a packed batch equals each sequence run alone; padding never changes the result", "[lstm]") {
  const auto lstm_holder2 = make_lstm(nn::LSTMOptions(2, 3).num_layers(2).bidirectional(true).batch_first(true));
  nn::LSTM& lstm = *lstm_holder2;
  const std::vector<std::int64_t> lengths{2, 5, 3};
  const std::int64_t B = 3, T = 5;
  const Tensor x = randn({B, T, 2}, 21);
  const Tensor h0 = randn({4, B, 3}, 22), c0 = randn({4, B, 3}, 23);
  auto [out, h_n, c_n] = lstm(x, lengths, h0, c0);
  CHECK(out.shape() == Shape{B, T, 6});
  for (std::int64_t b = 0; b < B; ++b) {
    INFO("sequence " << b);
    const std::int64_t len = lengths[static_cast<std::size_t>(b)];
    auto [o1, h1, c1] = lstm(x.narrow(0, b, 1).narrow(1, 0, len), h0.narrow(1, b, 1), c0.narrow(1, b, 1));
    CHECK(max_rel_diff(out.narrow(0, b, 1).narrow(1, 0, len), o1) < 1e-13);
    CHECK(max_rel_diff(h_n.narrow(1, b, 1), h1) < 1e-13);
    CHECK(max_rel_diff(c_n.narrow(1, b, 1), c1) < 1e-13);
    if (len < T) CHECK(max(abs(out.narrow(0, b, 1).narrow(1, len, T - len))).item() == 0.0);
  }
  // Other pad values and extra padding: same outputs and same gradients.
  Tensor x_a = x.clone().set_requires_grad(true);
  auto ra = lstm(x_a, lengths, h0, c0);
  loss_of(ra.output, ra.h_n, ra.c_n).backward();
  const auto grads_a = param_grads(lstm);
  lstm.zero_grad();
  Tensor x_b = cat({x, Tensor::full({B, 3, 2}, 1e3, kFloat64)}, 1).clone();
  {
    NoGradGuard ng;
    x_b.narrow(0, 0, 1).narrow(1, 2, 6).fill_(-77.0);
    x_b.narrow(0, 2, 1).narrow(1, 3, 5).fill_(123.0);
  }
  x_b.set_requires_grad(true);
  auto rb = lstm(x_b, lengths, h0, c0);
  CHECK(max_rel_diff(rb.output.narrow(1, 0, T), ra.output) < 1e-14);
  CHECK(max(abs(rb.output.narrow(1, T, 3))).item() == 0.0);
  CHECK(max_rel_diff(rb.h_n, ra.h_n) < 1e-14);
  CHECK(max_rel_diff(rb.c_n, ra.c_n) < 1e-14);
  loss_of(rb.output.narrow(1, 0, T), rb.h_n, rb.c_n).backward();
  for (auto& [name, g] : param_grads(lstm)) {
    INFO(name);
    CHECK(max_rel_diff(grads_a.at(name), g) < 1e-13);
  }
  CHECK(max_rel_diff(x_b.grad().narrow(1, 0, T), x_a.grad()) < 1e-13);
  CHECK(max(abs(x_b.grad().narrow(1, T, 3))).item() == 0.0);
}

TEST_CASE("LSTM: forward shapes (batch_first, unbatched, packed output, no initial state)", "[lstm]") {
  const auto lstm_holder3 = make_lstm(nn::LSTMOptions(4, 3).bidirectional(true));
  nn::LSTM& lstm = *lstm_holder3;
  auto [out, h_n, c_n] = lstm(randn({7, 2, 4}, 1));
  CHECK(out.shape() == Shape{7, 2, 6});
  CHECK(h_n.shape() == Shape{2, 2, 3});
  CHECK(c_n.shape() == Shape{2, 2, 3});
  // The last step of the forward direction and the first of the reverse are h_n.
  CHECK(max_rel_diff(out.select(0, 6).narrow(1, 0, 3), h_n.select(0, 0)) == 0.0);
  CHECK(max_rel_diff(out.select(0, 0).narrow(1, 3, 3), h_n.select(0, 1)) == 0.0);
  auto unbatched = lstm(randn({7, 4}, 1));
  CHECK(unbatched.output.shape() == Shape{7, 6});
  CHECK(unbatched.h_n.shape() == Shape{2, 3});
  const PackedSequence p = pack_padded_sequence(randn({5, 3, 4}, 2), std::vector<std::int64_t>{5, 2, 4}, false, false);
  auto packed = lstm(p);
  CHECK(packed.output.data.shape() == Shape{11, 6});
  CHECK(packed.h_n.shape() == Shape{2, 3, 3});
  CHECK_THROWS_WITH(lstm(randn({7, 2, 5}, 1)), Catch::Contains("input_size"));
  CHECK_THROWS_WITH(lstm(randn({7, 2, 4}, 1), randn({1, 2, 3}, 1), randn({1, 2, 3}, 1)), Catch::Contains("h0"));
  // torch: an empty batch gives empty results of the usual shapes; an empty sequence is an error.
  auto empty_batch = lstm(Tensor::zeros({7, 0, 4}));
  CHECK(empty_batch.output.shape() == Shape{7, 0, 6});
  CHECK(empty_batch.h_n.shape() == Shape{2, 0, 3});
  CHECK(empty_batch.c_n.shape() == Shape{2, 0, 3});
  CHECK_THROWS_AS(lstm(Tensor::zeros({7, 0, 5})), Error);
  CHECK_THROWS_WITH(lstm(Tensor::zeros({0, 2, 4})), Catch::Contains("sequence length larger than 0"));
}

TEST_CASE("LSTM: dropout between layers only in training", "[lstm]") {
  const auto lstm_holder4 = make_lstm(nn::LSTMOptions(3, 4).num_layers(2).dropout(0.5));
  nn::LSTM& lstm = *lstm_holder4;
  const Tensor x = randn({5, 2, 3}, 3);
  lstm.eval();
  auto a = lstm(x), b = lstm(x);
  CHECK(max_rel_diff(a.output, b.output) == 0.0);
  lstm.train();
  auto c = lstm(x);
  CHECK(max_rel_diff(a.output, c.output) > 1e-6);
}

TEST_CASE("LSTMCell: one step equals a one-step LSTM; unbatched input; fused equals composed", "[lstm]") {
  Generator gen(5);
  nn::LSTMCell cell(3, 4, true, gen);
  cell.to(kFloat64);
  const Tensor x = randn({2, 3}, 31), h = randn({2, 4}, 32), c = randn({2, 4}, 33);
  auto [h1, c1] = cell(x, h, c);
  const auto lstm_holder5 = make_lstm(nn::LSTMOptions(3, 4));
  nn::LSTM& lstm = *lstm_holder5;
  {
    NoGradGuard ng;
    LstmWeights w = lstm.weights(0);
    w.w_ih.copy_(cell.weight_ih);
    w.w_hh.copy_(cell.weight_hh);
    w.b_ih.copy_(cell.bias_ih);
    w.b_hh.copy_(cell.bias_hh);
  }
  auto r = lstm(x.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0));
  CHECK(max_rel_diff(h1, r.h_n.squeeze(0)) < 1e-14);
  CHECK(max_rel_diff(c1, r.c_n.squeeze(0)) < 1e-14);
  auto [hu, cu] = cell(x.select(0, 1), h.select(0, 1), c.select(0, 1));
  CHECK(hu.shape() == Shape{4});
  CHECK(max_rel_diff(hu, h1.select(0, 1)) < 1e-15);
  const Tensor gates = randn({3, 16}, 34);
  auto [hf, cf] = lstm_cell_gates(gates, c.narrow(0, 0, 1).expand({3, 4}));
  auto [hc, cc] = lstm_cell_gates_composed(gates, c.narrow(0, 0, 1).expand({3, 4}));
  CHECK(max_rel_diff(hf, hc) < 1e-15);
  CHECK(max_rel_diff(cf, cc) < 1e-15);
  // Batch sizes that disagree are an error (torch's), not a broadcast into the larger batch.
  const Tensor x5 = randn({5, 3}, 35), h5 = randn({5, 4}, 36), c5 = randn({5, 4}, 37);
  CHECK_THROWS_WITH(cell(x5, h, c5), Catch::Contains("the input's batch size is 5") && Catch::Contains("got h [2, 4] and c [5, 4]"));
  CHECK_THROWS_WITH(cell(x.narrow(0, 0, 1), h5, c5), Catch::Contains("h and c must be [1, 4]"));
  CHECK_THROWS_WITH(cell(x5, h5, c), Catch::Contains("got h [5, 4] and c [2, 4]"));
}

TEST_CASE("LSTM: gradcheck through the module (packing, sorting, both directions, two layers)", "[lstm]") {
  const auto lstm_holder6 = make_lstm(nn::LSTMOptions(2, 2).num_layers(2).bidirectional(true));
  nn::LSTM& lstm = *lstm_holder6;
  const std::vector<std::int64_t> lengths{2, 3, 1};
  std::vector<Tensor> inputs{randn({3, 3, 2}, 41), randn({4, 3, 2}, 42), randn({4, 3, 2}, 43),
                             lstm.weights(0, 1).w_hh.detach().clone(), lstm.weights(1, 0).b_ih.detach().clone()};
  const auto f = [&](const std::vector<Tensor>& in) {
    // The parameters under test replace the module's for this call (gradcheck perturbs copies).
    const auto m_holder7 = make_lstm(nn::LSTMOptions(2, 2).num_layers(2).bidirectional(true));
    nn::LSTM& m = *m_holder7;
    std::vector<LstmWeights> w;
    for (std::int64_t l = 0; l < 2; ++l)
      for (std::int64_t d = 0; d < 2; ++d) w.push_back(m.weights(l, d));
    w[1].w_hh = in[3];
    w[2].b_ih = in[4];
    const PackedSequence p = pack_padded_sequence(in[0], lengths, false, false);
    const auto sorted = [&](const Tensor& s) { return index_select(s, 1, p.sorted_indices); };
    const LstmLayerResult r = lstm_packed_rows(p.data, p.batch_sizes_vector(), sorted(in[1]), sorted(in[2]), w, 2);
    return cat({r.output.reshape({-1}), r.h_n.reshape({-1}), r.c_n.reshape({-1})}, 0);
  };
  const auto result = gradcheck(f, inputs);
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("GRU / RNN: parameter names, shapes, U(+-1/sqrt(H)) init and option errors", "[gru][rnn]") {
  nn::GRU gru(nn::GRUOptions(5, 4).num_layers(2).bidirectional(true));
  CHECK(gru.weights(0).w_ih.shape() == Shape{12, 5});
  CHECK(gru.weights(1, 1).w_ih.shape() == Shape{12, 8});
  CHECK(gru.weights(1, 1).w_hh.shape() == Shape{12, 4});
  CHECK(gru.named_parameters().size() == 16);
  nn::RNN rnn(nn::RNNOptions(5, 4).num_layers(2).bidirectional(true).nonlinearity("relu"));
  CHECK(rnn.options.nonlinearity() == "relu");
  CHECK(rnn.weights(1, 1).w_ih.shape() == Shape{4, 8});
  CHECK(rnn.named_parameters().front().first == "weight_ih_l0");
  CHECK(rnn.named_parameters().back().first == "bias_hh_l1_reverse");
  for (nn::Module* m : std::initializer_list<nn::Module*>{&gru, &rnn})
    for (auto& [name, p] : m->named_parameters()) {
      CHECK(p.requires_grad());
      CHECK(max(abs(p)).item() <= 0.5);
    }
  CHECK(nn::GRU(nn::GRUOptions(3, 2).bias(false)).named_parameters().size() == 2);
  CHECK(nn::GRUCell(3, 2).weight_hh.shape() == Shape{6, 2});
  CHECK(nn::RNNCell(3, 2, false).named_parameters().size() == 2);
  // torch's messages: the bad value and what is allowed.
  CHECK_THROWS_WITH(nn::RNN(nn::RNNOptions(3, 2).nonlinearity("sigmoid")),
                    Catch::Contains("Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."));
  CHECK_THROWS_WITH(nn::RNNCell(3, 2, true, "gelu"), Catch::Contains("Unknown nonlinearity 'gelu'"));
  CHECK_THROWS_WITH(nn::GRU(nn::GRUOptions(3, 2).dropout(1.5)), Catch::Contains("GRU: dropout must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(nn::RNN(3, 0), Catch::Contains("RNN: input_size, hidden_size and num_layers must be positive"));
}

TEST_CASE("GRU / RNN: forward shapes (batch_first, unbatched, packed, empty batch) and state checks", "[gru][rnn]") {
  Generator gen(4);
  nn::GRU gru(nn::GRUOptions(4, 3).bidirectional(true).batch_first(true), gen);
  gru.to(kFloat64);
  auto [out, h_n] = gru(randn({2, 7, 4}, 1));
  CHECK(out.shape() == Shape{2, 7, 6});
  CHECK(h_n.shape() == Shape{2, 2, 3});
  // The last step of the forward direction and the first of the reverse are h_n.
  CHECK(max_rel_diff(out.select(1, 6).narrow(1, 0, 3), h_n.select(0, 0)) == 0.0);
  CHECK(max_rel_diff(out.select(1, 0).narrow(1, 3, 3), h_n.select(0, 1)) == 0.0);
  auto unbatched = gru(randn({7, 4}, 1), randn({2, 3}, 2));
  CHECK(unbatched.output.shape() == Shape{7, 6});
  CHECK(unbatched.h_n.shape() == Shape{2, 3});
  const PackedSequence p = pack_padded_sequence(randn({3, 5, 4}, 2), std::vector<std::int64_t>{5, 2, 4}, true, false);
  auto packed = gru(p);
  CHECK(packed.output.data.shape() == Shape{11, 6});
  CHECK(packed.h_n.shape() == Shape{2, 3, 3});
  CHECK(gru(Tensor::zeros({0, 7, 4}, TensorOptions().dtype(kFloat64))).h_n.shape() == Shape{2, 0, 3});
  CHECK_THROWS_WITH(gru(randn({2, 7, 5}, 1)), Catch::Contains("GRU: input size 5 does not match input_size 4"));
  CHECK_THROWS_WITH(gru(randn({2, 7, 4}, 1), randn({1, 2, 3}, 1)),
                    Catch::Contains("GRU: expected h0 of shape [2, 2, 3], got [1, 2, 3]"));
  nn::RNN rnn(nn::RNNOptions(4, 3).num_layers(2), gen);
  rnn.to(kFloat64);
  auto r = rnn(randn({7, 2, 4}, 1));
  CHECK(r.output.shape() == Shape{7, 2, 3});
  CHECK(max_rel_diff(r.output.select(0, 6), r.h_n.select(0, 1)) == 0.0);
  CHECK_THROWS_WITH(rnn(randn({2, 2, 7, 4}, 1)), Catch::Contains("RNN: expected a 2-D (unbatched) or 3-D input"));
  nn::RNNCell cell(4, 3);
  CHECK_THROWS_WITH(cell(Tensor::zeros({1, 2, 4})), Catch::Contains("RNNCell: Expected input to be 1D or 2D, got 3D"));
  CHECK_THROWS_WITH(cell(Tensor::zeros({5, 4}), Tensor::zeros({2, 3})),
                    Catch::Contains("rnn_tanh_cell: the input's batch size is 5 and the hidden size 3: h must be [5, 3]"));
}

TEST_CASE("GRU / RNN: a packed batch equals each sequence alone; dropout only in training; cell = one step",
          "[gru][rnn]") {
  Generator gen(6);
  nn::GRU gru(nn::GRUOptions(2, 3).num_layers(2).bidirectional(true), gen);
  gru.to(kFloat64);
  const Tensor x = randn({4, 3, 2}, 11);
  const std::vector<std::int64_t> lengths{2, 4, 3};
  auto all = gru(x, lengths);
  for (std::int64_t b = 0; b < 3; ++b) {
    auto alone = gru(x.narrow(1, b, 1).narrow(0, 0, lengths[static_cast<std::size_t>(b)]));
    CHECK(max_rel_diff(all.h_n.narrow(1, b, 1), alone.h_n) < 1e-14);
    CHECK(max_rel_diff(all.output.narrow(1, b, 1).narrow(0, 0, lengths[static_cast<std::size_t>(b)]), alone.output) <
          1e-14);
  }
  nn::RNN rnn(nn::RNNOptions(3, 4).num_layers(2).dropout(0.5), gen);
  const Tensor xr = randn({5, 2, 3}, 3, kFloat32);
  rnn.eval();
  CHECK(max_rel_diff(rnn(xr).output, rnn(xr).output) == 0.0);
  const Tensor eval_out = rnn(xr).output;
  rnn.train();
  CHECK(max_rel_diff(eval_out, rnn(xr).output) > 1e-6);
  // A cell's step equals a one-layer, one-step module with the same weights (both nonlinearities).
  for (const char* act : {"tanh", "relu"}) {
    nn::RNNCell cell(3, 4, true, act, gen);
    nn::RNN one(nn::RNNOptions(3, 4).nonlinearity(act), gen);
    nn::GRUCell gcell(3, 4, true, gen);
    nn::GRU gone(nn::GRUOptions(3, 4), gen);
    for (nn::Module* m : std::initializer_list<nn::Module*>{&cell, &one, &gcell, &gone}) m->to(kFloat64);
    {
      NoGradGuard ng;
      const auto copy = [](RnnWeights w, const auto& c) {  // w: handles of the module's parameters
        w.w_ih.copy_(c.weight_ih);
        w.w_hh.copy_(c.weight_hh);
        w.b_ih.copy_(c.bias_ih);
        w.b_hh.copy_(c.bias_hh);
      };
      copy(one.weights(0), cell);
      copy(gone.weights(0), gcell);
    }
    const Tensor xc = randn({2, 3}, 41), h = randn({2, 4}, 42);
    CHECK(max_rel_diff(cell(xc, h), one(xc.unsqueeze(0), h.unsqueeze(0)).h_n.squeeze(0)) < 1e-14);
    CHECK(max_rel_diff(gcell(xc, h), gone(xc.unsqueeze(0), h.unsqueeze(0)).h_n.squeeze(0)) < 1e-14);
    CHECK(max_rel_diff(gcell(xc.select(0, 1), h.select(0, 1)), gcell(xc, h).select(0, 1)) < 1e-15);
  }
}
