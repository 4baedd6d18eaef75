// nn::LSTM and nn::LSTMCell against torch.nn.LSTM / torch.nn.LSTMCell computed in float64
// (tests/data/nn/lstm_golden.json, written by tests/reference/make_lstm_golden.py): outputs,
// h_n, c_n and every gradient (parameters, input, initial state) of
// loss = sum(output R) + sum(h_n S) + sum(c_n U), for a packed bidirectional two-layer
// batch_first LSTM with ragged unsorted lengths and an initial state, a padded one-layer LSTM
// without bias or state, and a packed three-layer one. Likewise nn::GRU, nn::RNN (tanh, relu),
// nn::GRUCell and nn::RNNCell against torch (tests/data/nn/rnn_golden.json, make_rnn_golden.py:
// two bidirectional layers, batch_first both ways, packed and padded, with and without bias and
// initial state), and their state_dict keys against torch's. Run on every available backend, in
// float64 (to 1e-10) and float32 (outputs to 1e-5, gradients to 5e-5, relative to each tensor's
// largest magnitude).
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#ifdef TINYXF_LSTM_TEST_CUDA
#include "tinyxf/backends/cuda.hpp"
#endif
#include "golden_json.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
namespace json = tinyxf::json;
using tinyxf::testing::check_close;
using tinyxf::testing::from_json;

namespace {

void load_params(nn::Module& m, const json::Value& params, DType dtype, Device device) {
  NoGradGuard ng;
  std::size_t n = 0;
  for (auto& [name, p] : m.named_parameters()) {
    p.copy_(from_json(params[name], dtype, device));
    ++n;
  }
  CHECK(n == params.size());
}

// The module's state_dict keys equal torch's, in torch's order.
void check_state_dict_keys(const nn::Module& m, const json::Value& torch_keys) {
  std::vector<std::string> ours, theirs;
  for (const auto& [name, t] : m.state_dict()) ours.push_back(name);
  for (const auto& k : torch_keys.as_array()) theirs.push_back(k.as_string());
  CHECK(ours == theirs);
}

// One GRU / RNN case of rnn_golden.json: outputs, h_n and every gradient of sum(out R) + sum(h_n S).
template <class M>
void check_single_state_case(M& m, const json::Value& c, DType dtype, Device device) {
  const double rel_out = dtype == kFloat64 ? 1e-10 : 1e-5, rel_grad = dtype == kFloat64 ? 1e-10 : 5e-5;
  m.to(device, dtype);
  check_state_dict_keys(m, c["state_dict_keys"]);
  load_params(m, c["params"], dtype, device);
  Tensor x = from_json(c["x"], dtype, device).set_requires_grad(true);
  Tensor h0;
  if (c.contains("h0")) h0 = from_json(c["h0"], dtype, device).set_requires_grad(true);
  nn::RNNOutput r;
  if (c["config"].contains("lengths")) {
    std::vector<std::int64_t> lengths;
    for (const auto& v : c["config"]["lengths"].as_array()) lengths.push_back(v.as_int());
    r = m(x, lengths, h0);
  } else {
    r = m(x, h0);
  }
  check_close(r.output, c["output"], rel_out, "output");
  check_close(r.h_n, c["h_n"], rel_out, "h_n");
  (sum(r.output * from_json(c["R"], dtype, device)) + sum(r.h_n * from_json(c["S"], dtype, device))).backward();
  check_close(x.grad(), c["grad_x"], rel_grad, "grad x");
  if (h0.defined()) check_close(h0.grad(), c["grad_h0"], rel_grad, "grad h0");
  for (auto& [pname, p] : m.named_parameters()) check_close(p.grad(), c["grads"][pname], rel_grad, "grad " + pname);
}

template <class Options>
Options options_of(const json::Value& cfg) {
  return Options(cfg["input_size"].as_int(), cfg["hidden_size"].as_int())
      .num_layers(cfg["num_layers"].as_int())
      .bias(cfg["bias"].as_bool())
      .batch_first(cfg["batch_first"].as_bool())
      .bidirectional(cfg["bidirectional"].as_bool());
}

}  // namespace

TEST_CASE("LSTM matches torch.nn.LSTM (float64 golden): outputs, states and every gradient", "[lstm][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      const double rel_out = dtype == kFloat64 ? 1e-10 : 1e-5, rel_grad = dtype == kFloat64 ? 1e-10 : 5e-5;
      for (const auto& c : testing::golden("lstm_golden.json")["lstm"].as_array()) {
        const std::string name = c["name"].as_string();
        INFO(name << " on " << device.str() << " in " << dtype_name(dtype));
        const json::Value& cfg = c["config"];
        Generator gen(1);
        nn::LSTM lstm(nn::LSTMOptions(cfg["input_size"].as_int(), cfg["hidden_size"].as_int())
                          .num_layers(cfg["num_layers"].as_int())
                          .bias(cfg["bias"].as_bool())
                          .batch_first(cfg["batch_first"].as_bool())
                          .bidirectional(cfg["bidirectional"].as_bool()),
                      gen);
        lstm.to(device, dtype);
        load_params(lstm, c["params"], dtype, device);
        Tensor x = from_json(c["x"], dtype, device).set_requires_grad(true);
        const bool has_state = c.contains("h0");
        Tensor h0, c0;
        if (has_state) {
          h0 = from_json(c["h0"], dtype, device).set_requires_grad(true);
          c0 = from_json(c["c0"], dtype, device).set_requires_grad(true);
        }
        nn::LSTMOutput r;
        if (cfg.contains("lengths")) {
          std::vector<std::int64_t> lengths;
          for (const auto& v : cfg["lengths"].as_array()) lengths.push_back(v.as_int());
          r = lstm(x, lengths, h0, c0);
        } else {
          r = lstm(x, h0, c0);
        }
        check_close(r.output, c["output"], rel_out, "output");
        check_close(r.h_n, c["h_n"], rel_out, "h_n");
        check_close(r.c_n, c["c_n"], rel_out, "c_n");
        const Tensor loss = sum(r.output * from_json(c["R"], dtype, device)) +
                            sum(r.h_n * from_json(c["S"], dtype, device)) +
                            sum(r.c_n * from_json(c["U"], dtype, device));
        loss.backward();
        check_close(x.grad(), c["grad_x"], rel_grad, "grad x");
        if (has_state) {
          check_close(h0.grad(), c["grad_h0"], rel_grad, "grad h0");
          check_close(c0.grad(), c["grad_c0"], rel_grad, "grad c0");
        }
        for (auto& [pname, p] : lstm.named_parameters()) check_close(p.grad(), c["grads"][pname], rel_grad, "grad " + pname);
      }
    }
  }
}

TEST_CASE("LSTMCell matches torch.nn.LSTMCell (float64 golden)", "[lstm][golden]") {
  const json::Value& c = testing::golden("lstm_golden.json")["lstm_cell"];
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      INFO(device.str() << " in " << dtype_name(dtype));
      const double rel_out = dtype == kFloat64 ? 1e-10 : 1e-5, rel_grad = dtype == kFloat64 ? 1e-10 : 5e-5;
      nn::LSTMCell cell(3, 4);
      cell.to(device, dtype);
      load_params(cell, c["params"], dtype, device);
      Tensor x = from_json(c["x"], dtype, device).set_requires_grad(true);
      Tensor h = from_json(c["h"], dtype, device).set_requires_grad(true);
      Tensor cs = from_json(c["c"], dtype, device).set_requires_grad(true);
      auto [h1, c1] = cell(x, h, cs);
      check_close(h1, c["h_next"], rel_out, "h'");
      check_close(c1, c["c_next"], rel_out, "c'");
      (sum(h1 * from_json(c["R"], dtype, device)) + sum(c1 * from_json(c["S"], dtype, device))).backward();
      check_close(x.grad(), c["grad_x"], rel_grad, "grad x");
      check_close(h.grad(), c["grad_h"], rel_grad, "grad h");
      check_close(cs.grad(), c["grad_c"], rel_grad, "grad c");
      for (auto& [pname, p] : cell.named_parameters()) check_close(p.grad(), c["grads"][pname], rel_grad, "grad " + pname);
    }
  }
}

TEST_CASE("GRU and RNN match torch.nn.GRU / torch.nn.RNN (float64 golden): outputs, h_n, every gradient, keys",
          "[gru][rnn][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      for (const auto& c : testing::golden("rnn_golden.json")["modules"].as_array()) {
        INFO(c["name"].as_string() << " on " << device.str() << " in " << dtype_name(dtype));
        const json::Value& cfg = c["config"];
        Generator gen(1);
        if (c["kind"].as_string() == "gru") {
          nn::GRU gru(options_of<nn::GRUOptions>(cfg), gen);
          check_single_state_case(gru, c, dtype, device);
        } else {
          nn::RNN rnn(options_of<nn::RNNOptions>(cfg).nonlinearity(cfg["nonlinearity"].as_string()), gen);
          check_single_state_case(rnn, c, dtype, device);
        }
      }
    }
  }
}

TEST_CASE("GRUCell and RNNCell match torch.nn.GRUCell / torch.nn.RNNCell (float64 golden)", "[gru][rnn][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      for (const auto& c : testing::golden("rnn_golden.json")["cells"].as_array()) {
        INFO(c["name"].as_string() << " on " << device.str() << " in " << dtype_name(dtype));
        const double rel_out = dtype == kFloat64 ? 1e-10 : 1e-5, rel_grad = dtype == kFloat64 ? 1e-10 : 5e-5;
        std::unique_ptr<nn::Module> cell;
        if (c["kind"].as_string() == "gru")
          cell = std::make_unique<nn::GRUCell>(3, 4, c["bias"].as_bool());
        else
          cell = std::make_unique<nn::RNNCell>(3, 4, c["bias"].as_bool(), c["nonlinearity"].as_string());
        cell->to(device, dtype);
        check_state_dict_keys(*cell, c["state_dict_keys"]);
        load_params(*cell, c["params"], dtype, device);
        Tensor x = from_json(c["x"], dtype, device).set_requires_grad(true);
        Tensor h = from_json(c["h"], dtype, device).set_requires_grad(true);
        const Tensor h1 = c["kind"].as_string() == "gru" ? static_cast<nn::GRUCell&>(*cell)(x, h)
                                                         : static_cast<nn::RNNCell&>(*cell)(x, h);
        check_close(h1, c["h_next"], rel_out, "h'");
        sum(h1 * from_json(c["R"], dtype, device)).backward();
        check_close(x.grad(), c["grad_x"], rel_grad, "grad x");
        check_close(h.grad(), c["grad_h"], rel_grad, "grad h");
        for (auto& [pname, p] : cell->named_parameters())
          check_close(p.grad(), c["grads"][pname], rel_grad, "grad " + pname);
      }
    }
  }
}
