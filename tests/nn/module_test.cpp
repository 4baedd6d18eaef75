// nn::Module's traversals, state dicts and moves in the cases torch.nn.Module handles specially:
// a module registered under two names and undefined (torch: None) parameters and buffers.
// Every expected list was printed by torch 2.x.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tinyxf/nn/nn.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;

namespace {
template <class Named>
std::vector<std::string> names(const Named& named) {
  std::vector<std::string> out;
  for (const auto& [n, x] : named) out.push_back(n);
  return out;
}
using Names = std::vector<std::string>;
}  // namespace

TEST_CASE("a module registered under several names is listed once, as torch's memo", "[nn][module]") {
  // r = nn.Module(); x = X() (x.lin = nn.Linear(2, 2)); r.a = x; r.c = x.lin; r.d = x; r.e = nn.Linear(1, 1)
  // r.register_buffer('buf', torch.zeros(1)); x.lin.register_buffer('bb', torch.zeros(1))
  Generator gen(0);
  auto root = std::make_shared<nn::Module>();
  auto x = std::make_shared<nn::Module>();
  auto lin = x->register_module("lin", std::make_shared<nn::Linear>(2, 2, true, gen));
  lin->register_buffer("bb", Tensor::zeros({1}));
  root->register_buffer("buf", Tensor::zeros({1}));
  root->register_module("a", x);
  root->register_module("c", lin);
  root->register_module("d", x);
  root->register_module("e", std::make_shared<nn::Linear>(1, 1, true, gen));

  CHECK(names(root->named_modules()) == Names{"", "a", "a.lin", "e"});
  CHECK(names(root->named_children()) == Names{"a", "c", "e"});
  CHECK(names(root->named_parameters()) == Names{"a.lin.weight", "a.lin.bias", "e.weight", "e.bias"});
  CHECK(root->parameters().size() == 4);
  CHECK(root->num_parameters() == 2 * 2 + 2 + 1 + 1);
  CHECK(names(root->named_buffers()) == Names{"buf", "a.lin.bb"});
  // state_dict keeps every name, as torch's.
  CHECK(names(root->state_dict()) == Names{"buf", "a.lin.weight", "a.lin.bias", "a.lin.bb", "c.weight", "c.bias",
                                           "c.bb", "d.lin.weight", "d.lin.bias", "d.lin.bb", "e.weight", "e.bias"});
  CHECK(root->load_state_dict(root->state_dict()).missing_keys.empty());
}

TEST_CASE("undefined parameters and buffers (torch's None) are left out of traversals, state dicts and moves",
          "[nn][module]") {
  // register_parameter('w', ones(2)); register_buffer('b', None); register_parameter('p', None);
  // register_buffer('c', zeros(1)): state_dict ['w', 'c'], named_buffers ['c'], named_parameters ['w'].
  nn::Module m;
  m.register_parameter("w", Tensor::ones({2}));
  m.register_buffer("b", Tensor());
  m.register_parameter("p", Tensor());
  m.register_buffer("c", Tensor::zeros({1}));
  CHECK(names(m.state_dict()) == Names{"w", "c"});
  CHECK(names(m.named_buffers()) == Names{"c"});
  CHECK(names(m.named_parameters()) == Names{"w"});

  // Strict load: all keys matched; a tensor for 'b' is unexpected ("Unexpected key(s) in state_dict: "b"").
  const NamedTensors state = {{"w", Tensor::full({2}, 3.0f)}, {"c", Tensor::ones({1})}};
  const auto loaded = m.load_state_dict(state);
  CHECK(loaded.missing_keys.empty());
  CHECK(loaded.unexpected_keys.empty());
  NamedTensors with_b = state;
  with_b.emplace_back("b", Tensor::ones({1}));
  CHECK_THROWS_WITH(m.load_state_dict(with_b), Contains("unexpected keys: b"));
  CHECK(m.load_state_dict(with_b, false).unexpected_keys == Names{"b"});

  // Moves and freezing skip them (torch's Module._apply skips None).
  m.to(kFloat64);
  CHECK(m.named_parameters()[0].second.dtype() == kFloat64);
  CHECK(m.named_buffers()[0].second.dtype() == kFloat64);
  m.to(Device::reference());
  CHECK(m.named_parameters()[0].second.device() == Device::reference());
  m.requires_grad_(false);
  CHECK(m.num_parameters(true) == 0);
  m.zero_grad();
  CHECK(names(m.state_dict()) == Names{"w", "c"});
}
