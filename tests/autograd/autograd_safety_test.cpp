// Autograd safety: the version counter of a storage (bumped by every in-place write, shared by
// its views), backward refusing a saved tensor that was overwritten after it was saved (with
// PyTorch's message naming the op), no false alarms on the usual training patterns, and
// nn::Embedding's padding_idx as torch has it.
#include <limits>
#include <catch2/catch.hpp>

#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;

namespace {
Tensor leaf(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::uniform(shape, -1.0f, 1.0f, Device::reference(), gen).set_requires_grad();
}
Tensor constant(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::uniform(shape, 0.5f, 1.5f, Device::reference(), gen);
}
void modify_in_place(Tensor t) {
  NoGradGuard no_grad;  // how a saved tensor gets overwritten without check_inplace objecting
  t.fill_(2.0f);
}
}  // namespace

TEST_CASE("version counter: every in-place write bumps it, views share it", "[autograd][version]") {
  auto t = Tensor::zeros({3, 4});
  CHECK(t.version() == 0);  // factories write no version
  t.fill_(1.0f);
  CHECK(t.version() == 1);
  t.zero_();
  CHECK(t.version() == 2);
  t.copy_(Tensor::ones({3, 4}));
  CHECK(t.version() == 3);
  t.uniform_(0.0f, 1.0f);
  t.normal_(0.0f, 1.0f);
  CHECK(t.version() == 5);

  auto row = t.narrow(0, 1, 1);
  auto transposed = t.t();
  auto detached = t.detach();
  CHECK(row.version() == 5);
  row.fill_(7.0f);
  CHECK(t.version() == 6);
  CHECK(transposed.version() == 6);
  CHECK(detached.version() == 6);
  auto copy = t.clone();  // new storage, own counter
  CHECK(copy.version() == 0);
  copy.zero_();
  CHECK(t.version() == 6);
  // Out-of-place ops leave their inputs' version alone.
  auto sum_of_two = t + t;
  CHECK(t.version() == 6);
  CHECK(sum_of_two.version() == 0);
}

TEST_CASE("version counter: optimizer steps, gradient accumulation and clipping bump it", "[autograd][version]") {
  auto w = leaf({4}, 1);
  optim::SGD sgd({w}, {.lr = 0.1});
  sum(w * w).backward();
  const auto before = w.version();
  sgd.step();
  CHECK(w.version() == before + 1);
  optim::AdamW adam({w});
  adam.step();
  CHECK(w.version() == before + 2);
  const auto grad_version = w.grad().version();
  sum(w * 3.0f).backward();  // accumulates into .grad in place, once
  CHECK(w.grad().version() == grad_version + 1);
  optim::clip_grad_norm_({w}, 1e-3);
  CHECK(w.grad().version() == grad_version + 2);
}

TEST_CASE("backward refuses a saved tensor modified in place, naming the op", "[autograd][version]") {
  SECTION("mul: the full message, PyTorch's shape") {
    auto a = leaf({3, 4}, 1);
    auto b = constant({3, 4}, 2);
    auto y = sum(a * b);
    modify_in_place(b);
    CHECK_THROWS_WITH(y.backward(), "one of the variables needed for gradient computation has been modified by an "
                                    "inplace operation: [float [3, 4]], which is input 1 of MulBackward, is at "
                                    "version 1; expected version 0 instead");
  }
  SECTION("matmul") {
    auto a = constant({3, 4}, 3);
    auto b = leaf({4, 2}, 4);
    auto y = sum(matmul(a, b));
    modify_in_place(a);
    CHECK_THROWS_WITH(y.backward(), Contains("[float [3, 4]], which is input 0 of MatmulBackward"));
  }
  SECTION("softmax saves its output") {
    auto x = leaf({2, 5}, 5);
    auto p = softmax(x, -1);
    auto y = sum(p * constant({2, 5}, 6));
    modify_in_place(p);
    CHECK_THROWS_WITH(y.backward(), Contains("which is output 0 of SoftmaxBackward, is at version 1"));
  }
  SECTION("layer_norm saves its input") {
    auto x = leaf({2, 6}, 7);
    auto y = sum(layer_norm(x, {6}) * constant({2, 6}, 8));
    modify_in_place(x);
    CHECK_THROWS_WITH(y.backward(), Contains("which is input 0 of LayerNormBackward"));
  }
  SECTION("writing through another view of a saved tensor's storage") {
    auto base = constant({4, 3}, 9);
    auto a = leaf({3, 4}, 10);
    auto y = sum(a * base.t());  // saves a view of base
    modify_in_place(base.narrow(0, 2, 1));
    CHECK_THROWS_WITH(y.backward(), Contains("[float [3, 4]], which is input 1 of MulBackward, is at version 1"));
  }
  SECTION("an optimizer step before the backward of a graph that saved the parameter") {
    auto w = leaf({3}, 11);
    auto x = leaf({3}, 12);
    auto y = sum(exp(w * x));
    optim::SGD sgd({w}, {.lr = 0.1});
    w.set_grad(Tensor::ones({3}, Device::reference()));
    sgd.step();
    CHECK_THROWS_WITH(y.backward(), Contains("which is input 0 of MulBackward"));
  }
  SECTION("a tensor saved only for another input's gradient is not checked when that gradient is not needed") {
    auto a = constant({3}, 13);
    auto b = leaf({3}, 14);
    auto y = sum(a * b);  // b needs grad: a is saved; b is not
    modify_in_place(b);
    CHECK_NOTHROW(y.backward());
  }
}

TEST_CASE("no false alarms on training patterns", "[autograd][version]") {
  Generator gen(21);
  nn::Linear layer(4, 3, true, gen);
  nn::Embedding table(10, 4, 0, gen);
  optim::AdamW opt(layer.parameters());
  const auto ids = Tensor::from_vector(std::vector<std::int64_t>{1, 0, 3, 3, 9, 2}, {2, 3});
  const auto targets = Tensor::from_vector(std::vector<std::int64_t>{0, 2, 1, 1, 0, 2});
  for (int step = 0; step < 3; ++step) {
    for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation over two micro-batches
      auto logits = layer(dropout(table(ids), 0.1, true, gen)).reshape({6, 3});
      cross_entropy(logits, targets).backward();
    }
    optim::clip_grad_norm_(layer.parameters(), 1.0);
    opt.step();
    opt.zero_grad();
  }
  // Loading a state dict into the parameters between steps is an in-place write too.
  layer.load_state_dict(layer.state_dict());
  auto loss = sum(layer(table(ids)));
  CHECK_NOTHROW(loss.backward());
}

TEST_CASE("maximum and minimum propagate gradients, ties split half/half", "[autograd]") {
  auto a = Tensor::from_vector(std::vector<float>{1, 5, 3}).set_requires_grad();
  auto b = Tensor::from_vector(std::vector<float>{2, 4, 3}).set_requires_grad();
  sum(maximum(a, b)).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{0, 1, 0.5f});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1, 0, 0.5f});
  a.zero_grad();
  b.zero_grad();
  sum(minimum(a, b)).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{1, 0, 0.5f});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{0, 1, 0.5f});
  // Broadcast operand: its gradient sums over the stretched dim.
  auto row = Tensor::from_vector(std::vector<float>{3}, {1}).set_requires_grad();
  sum(maximum(a.detach(), row)).backward();
  CHECK(row.grad().to_vector<float>() == std::vector<float>{1.5f});
}

TEST_CASE("maximum and minimum give both operands the gradient where either is NaN", "[autograd]") {
  // torch: a = [nan, 1, 2, 3], b = [1, nan, 2, nan]; maximum(a, b).sum().backward() (and minimum):
  // a.grad = b.grad = [1, 1, 0.5, 1] (NaN neither wins nor loses a comparison).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto a = Tensor::from_vector(std::vector<float>{nan, 1, 2, 3}).set_requires_grad();
  auto b = Tensor::from_vector(std::vector<float>{1, nan, 2, nan}).set_requires_grad();
  for (const bool is_max : {true, false}) {
    a.zero_grad();
    b.zero_grad();
    sum(is_max ? maximum(a, b) : minimum(a, b)).backward();
    CHECK(a.grad().to_vector<float>() == std::vector<float>{1, 1, 0.5f, 1});
    CHECK(b.grad().to_vector<float>() == std::vector<float>{1, 1, 0.5f, 1});
  }
}

TEST_CASE("requires_grad_(true) on a non-leaf is a no-op; turning it off is refused", "[autograd]") {
  // torch: y = x * 2; y.requires_grad_(True) is fine; y.requires_grad_(False) raises
  // "you can only change requires_grad flags of leaf variables".
  auto x = Tensor::from_vector(std::vector<float>{1, 2}).set_requires_grad();
  auto y = x * 2.0;
  CHECK(&y.requires_grad_(true) == &y);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->name() == std::string("mul_scalar"));
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 2});
  CHECK_THROWS_WITH(y.requires_grad_(false), Contains("only leaf tensors can turn requires_grad off") &&
                                                 Contains("mul_scalar") && Contains("detach()"));
  CHECK(y.requires_grad());
}

TEST_CASE("nn::Embedding padding_idx: none, counted from the end, validated", "[nn][embedding]") {
  Generator gen(3);
  SECTION("none: every row is initialized and trained") {
    nn::Embedding table(5, 2, std::nullopt, gen);
    CHECK_FALSE(table.padding_idx.has_value());
    sum(table(Tensor::from_vector(std::vector<std::int64_t>{0, 4}))).backward();
    CHECK(table.weight.grad().to_vector<float>() == std::vector<float>{1, 1, 0, 0, 0, 0, 0, 0, 1, 1});
  }
  SECTION("-1 is the last row: zero at init, no gradient") {
    nn::Embedding table(5, 2, -1, gen);
    REQUIRE(table.padding_idx == 4);
    CHECK(table.weight.narrow(0, 4, 1).to_vector<float>() == std::vector<float>{0, 0});
    sum(table(Tensor::from_vector(std::vector<std::int64_t>{0, 4, 4}))).backward();
    CHECK(table.weight.grad().to_vector<float>() == std::vector<float>{1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  }
  SECTION("out of range either way is an error naming it") {
    CHECK_THROWS_WITH(nn::Embedding(5, 2, 5, gen), Contains("Embedding: padding_idx 5 is out of range for 5 embeddings"));
    CHECK_THROWS_WITH(nn::Embedding(5, 2, -6, gen), Contains("padding_idx -6 is out of range"));
    auto w = Tensor::zeros({5, 2});
    CHECK_THROWS_WITH(embedding(Tensor::from_vector(std::vector<std::int64_t>{0}), w, 7), Contains("embedding: padding_idx 7"));
  }
}
