// Every differentiable op of the conformance catalogue passes a finite-difference gradcheck in
// double on the reference backend (the catalogue's small variants; large ones are covered by
// the cross-backend comparison).
#include <catch2/catch.hpp>

#include "../conformance/op_catalog.hpp"

using namespace tinyxf;
using namespace tinyxf::testing;

TEST_CASE("gradcheck: every differentiable op", "[gradcheck]") {
  int checked_ops = 0;
  for (const auto& op : op_catalog()) {
    if (!op.differentiable) continue;
    if (!op.gradcheck_skip_reason.empty()) {
      WARN("gradcheck skips " << op.name << ": " << op.gradcheck_skip_reason);
      continue;
    }
    bool any_variant = false;
    for (std::size_t v = 0; v < op.variants.size(); ++v) {
      const auto& specs = op.variants[v];
      std::int64_t total = 0;
      for (const auto& s : specs) total += shape_numel(s.shape);
      if (total > 400) continue;  // finite differences cost one forward per element
      std::vector<Tensor> inputs;
      for (std::size_t i = 0; i < specs.size(); ++i)
        inputs.push_back(make_input<double>(specs[i], Device::reference(), 1000 + i));
      auto result = gradcheck(op.f64, inputs);
      INFO(op.name << " variant " << v << ": " << result.message);
      CHECK(result.ok);
      any_variant = true;
    }
    INFO(op.name << " has no variant small enough for gradcheck");
    CHECK(any_variant);
    ++checked_ops;
  }
  CHECK(checked_ops >= 50);
}

TEST_CASE("gradcheck reports a wrong gradient", "[gradcheck]") {
  // A function whose backward is deliberately wrong: detach() hides half of the dependence.
  auto wrong = [](const std::vector<Tensor>& x) { return mul(x[0], x[0].detach()); };
  auto result = gradcheck(wrong, {Tensor::from_vector(std::vector<double>{1.0, 2.0, -3.0}, Device::reference())});
  CHECK_FALSE(result.ok);
  CHECK_THAT(result.message, Catch::Contains("input 0"));
}

TEST_CASE("gradcheck: maximum and minimum, ties split half/half as torch", "[gradcheck]") {
  // Exact ties: central differences there give 1/2 to each operand, torch's split.
  const Device dev = Device::reference();
  const auto a = Tensor::from_vector(std::vector<double>{0.3, -1.2, 2.0, 0.5, -0.7, 1.1}, {2, 3}, dev);
  const auto b = Tensor::from_vector(std::vector<double>{0.9, -1.2, 1.4, 0.5, -2.0, 1.1}, {2, 3}, dev);
  const auto row = Tensor::from_vector(std::vector<double>{0.5, -1.2, 1.1}, {3}, dev);  // broadcast, ties in both rows
  for (const bool is_max : {true, false}) {
    const auto f = [is_max](const std::vector<Tensor>& x) {
      return is_max ? maximum(x[0], x[1]) : minimum(x[0], x[1]);
    };
    for (const auto& other : {b, row}) {
      const auto result = gradcheck(f, {a, other});
      INFO((is_max ? "maximum" : "minimum") << " with " << shape_str(other.shape()) << ": " << result.message);
      CHECK(result.ok);
    }
  }
}
