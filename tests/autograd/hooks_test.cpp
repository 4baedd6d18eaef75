// Engine hooks: register_post_accumulate_grad_hook (after each accumulation into a leaf's .grad,
// in backward order, removable) and queue_callback (once, after the backward), plus the shared
// AccumulateGrad node that makes a leaf used twice accumulate once.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;

TEST_CASE("post-accumulate-grad hooks run after .grad is written, in backward order", "[autograd][hooks]") {
  auto a = Tensor::from_vector(std::vector<float>{1, 2, 3}).set_requires_grad();
  auto b = Tensor::from_vector(std::vector<float>{4, 5, 6}).set_requires_grad();
  std::vector<std::string> events;
  std::vector<float> seen_grad;
  auto ha = autograd::register_post_accumulate_grad_hook(a, [&](const Tensor& t) {
    events.push_back("a");
    seen_grad = t.grad().to_vector<float>();
  });
  auto hb = autograd::register_post_accumulate_grad_hook(b, [&](const Tensor&) { events.push_back("b"); });
  // b is used last in the forward, so its gradient is ready first.
  auto y = sum(mul(a, 2.0) * b);
  y.backward();
  REQUIRE(events == std::vector<std::string>{"b", "a"});
  CHECK(seen_grad == std::vector<float>{8, 10, 12});
  ha.remove();
  events.clear();
  sum(mul(a, 2.0) * b).backward();
  CHECK(events == std::vector<std::string>{"b"});  // a's hook is gone
  { auto moved = std::move(hb); }                   // and b's with its handle
  events.clear();
  sum(a * b).backward();
  CHECK(events.empty());
}

TEST_CASE("a leaf used twice gets one accumulation and one hook call", "[autograd][hooks]") {
  auto w = Tensor::from_vector(std::vector<float>{1, 2}).set_requires_grad();
  int calls = 0;
  auto h = autograd::register_post_accumulate_grad_hook(w, [&](const Tensor&) { ++calls; });
  sum(w * w + w).backward();
  CHECK(calls == 1);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3, 5});
}

TEST_CASE("queue_callback runs once after the backward, only during one", "[autograd][hooks]") {
  auto a = Tensor::from_vector(std::vector<float>{1, 2}).set_requires_grad();
  auto b = Tensor::from_vector(std::vector<float>{3, 4}).set_requires_grad();
  std::vector<std::string> events;
  auto ha = autograd::register_post_accumulate_grad_hook(a, [&](const Tensor&) {
    events.push_back("a");
    autograd::queue_callback([&] { events.push_back("end"); });
  });
  auto hb = autograd::register_post_accumulate_grad_hook(b, [&](const Tensor&) { events.push_back("b"); });
  sum(a * b).backward();
  CHECK(events.size() == 3);
  CHECK(events.back() == "end");
  CHECK_THROWS_WITH(autograd::queue_callback([] {}), Catch::Matchers::Contains("no backward is running"));
}
