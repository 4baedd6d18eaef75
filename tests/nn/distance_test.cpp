// ops/distance.hpp against torch.nn.functional computed in float64 (tests/data/nn/distance_golden.json,
// written by tests/reference/make_distance_golden.py): cosine_similarity (broadcast [N,D] vs [1,D],
// zero and tiny vectors, where torch's formula since 1.12 and the older one differ), normalize
// (p = 1, 1.5, 2, 3, 0.5, inf, zero rows and elements), pairwise_distance (p, eps, keepdim,
// broadcasting); values and the gradients of sum(output * R). Every available backend, float64
// (to 1e-10) and float32 (1e-5 of each tensor's largest magnitude), plus an absolute floor for
// gradients that are 0 up to rounding (an input stretched along the reduced dim).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "golden_json.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
namespace json = tinyxf::json;
using Catch::Matchers::Contains;
using tinyxf::testing::check_close;
using tinyxf::testing::from_json;

namespace {

double option(const json::Value& options, const char* key, double fallback) {
  if (!options.contains(key)) return fallback;
  const json::Value& v = options[key];
  return v.is_string() ? std::numeric_limits<double>::infinity() : v.as_double();  // "inf"
}

Tensor run_functional(const json::Value& c, const Tensor& x1, const Tensor& x2) {
  const std::string fn = c["fn"].as_string();
  const json::Value& o = c["options"];
  const auto dim = static_cast<std::int64_t>(option(o, "dim", 1));
  if (fn == "cosine_similarity") return cosine_similarity(x1, x2, dim, option(o, "eps", 1e-8));
  if (fn == "normalize") return normalize(x1, option(o, "p", 2.0), dim, option(o, "eps", 1e-12));
  if (fn == "pairwise_distance")
    return pairwise_distance(x1, x2, option(o, "p", 2.0), option(o, "eps", 1e-6),
                             o.contains("keepdim") && o["keepdim"].as_bool());
  FAIL("unknown function " << fn);
  return {};
}

}  // namespace

TEST_CASE("cosine_similarity, normalize, pairwise_distance match torch (float64 golden)", "[distance][golden]") {
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      const double rel = dtype == kFloat64 ? 1e-10 : 1e-5, floor = dtype == kFloat64 ? 1e-14 : 1e-6;
      for (const auto& c : testing::golden("distance_golden.json")["cases"].as_array()) {
        const std::string name = c["name"].as_string();
        INFO(name << " on " << device.str() << " in " << dtype_name(dtype));
        Tensor x1 = from_json(c["x1"], dtype, device).set_requires_grad(true);
        Tensor x2 = c.contains("x2") ? from_json(c["x2"], dtype, device).set_requires_grad(true) : Tensor();
        const Tensor out = run_functional(c, x1, x2);
        CHECK(out.dtype() == dtype);
        check_close(out, c["output"], rel, name + " output");
        sum(out * from_json(c["R"], dtype, device)).backward();
        check_close(x1.grad(), c["grad_x1"], rel, name + " grad_x1", floor);
        if (x2.defined()) check_close(x2.grad(), c["grad_x2"], rel, name + " grad_x2", floor);
      }
    }
  }
}

TEST_CASE("vector_norm has torch's gradient: finite at a zero vector, gradcheck elsewhere", "[distance][norm]") {
  // torch.linalg.vector_norm(torch.zeros(3, dtype=torch.float64, requires_grad=True)).backward() -> grad [0, 0, 0]
  Tensor zero = Tensor::zeros({3}, kFloat64).set_requires_grad(true);
  vector_norm(zero, 2.0).backward();
  CHECK(zero.grad().to_vector<double>() == std::vector<double>{0, 0, 0});
  // torch.linalg.vector_norm(torch.tensor([[3., -4.], [1., 2.]]), 2, dim=1) -> [5.0, 2.2360679...]
  const auto rows = vector_norm(Tensor::from_vector(std::vector<float>{3, -4, 1, 2}, {2, 2}), 2.0, {1});
  CHECK(rows.shape() == Shape{2});
  CHECK(rows.to_vector<float>()[0] == 5.0f);
  CHECK(rows.to_vector<float>()[1] == Approx(2.2360679774997896).epsilon(1e-7));
  // torch.linalg.vector_norm(torch.tensor(-3.)) -> 3.0 (a 0-dim input)
  CHECK(vector_norm(Tensor::scalar(-3.0), 2.0).item<float>() == 3.0f);
  // torch.nn.functional.cosine_similarity(torch.tensor([1., 0.]), torch.tensor([1., 1.]), dim=0) -> 0.7071067690849304
  CHECK(cosine_similarity(Tensor::from_vector(std::vector<float>{1, 0}), Tensor::from_vector(std::vector<float>{1, 1}), 0)
            .item<float>() == Approx(0.7071067690849304).epsilon(1e-7));
  // torch.linalg.vector_norm(torch.tensor([[1., nan], [3., 2.]]), inf, dim=1) -> [nan, 3.]: NaN propagates
  const auto with_nan = vector_norm(Tensor::from_vector(std::vector<float>{1, NAN, 3, 2}, {2, 2}),
                                    std::numeric_limits<double>::infinity(), {1})
                            .to_vector<float>();
  CHECK(std::isnan(with_nan[0]));
  CHECK(with_nan[1] == 3.0f);
  // x = torch.tensor([1, nan, -3], dtype=torch.float64, requires_grad=True)
  // torch.linalg.vector_norm(x, inf).backward() -> x.grad [0, 0, -0] (the NaN counts as a maximum;
  // sgn(nan) = 0); and [1, -3, 3] -> [0, -0.5, 0.5] (ties share the gradient)
  const double inf = std::numeric_limits<double>::infinity();
  Tensor nan_x = Tensor::from_vector(std::vector<double>{1, NAN, -3}).set_requires_grad(true);
  vector_norm(nan_x, inf).backward();
  CHECK(nan_x.grad().to_vector<double>() == std::vector<double>{0, 0, 0});
  Tensor tie_x = Tensor::from_vector(std::vector<double>{1, -3, 3}).set_requires_grad(true);
  vector_norm(tie_x, inf).backward();
  CHECK(tie_x.grad().to_vector<double>() == std::vector<double>{0, -0.5, 0.5});
  for (const double ord : {1.0, 2.0, 3.0, 1.5, 0.5, inf, -1.0, -2.5, -inf}) {
    INFO("ord " << ord);
    const auto result = gradcheck(
        [ord](const std::vector<Tensor>& in) { return vector_norm(in[0], ord, {-1}, true); },
        {Tensor::from_vector(std::vector<double>{0.3, -1.2, 0.7, 2.0, -0.4, 0.9}, {2, 3})});
    INFO(result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("vector_norm with ord 0, negative ord and -inf: torch's values and gradients", "[distance][norm]") {
  const double inf = std::numeric_limits<double>::infinity();
  // x = torch.tensor([[1.5, -0., 2., -3.], [0., 0., -0.5, 4.]], dtype=torch.float64, requires_grad=True)
  // y = torch.linalg.vector_norm(x, ord, dim=dim, keepdim=keepdim); y.backward(torch.arange(1., y.numel() + 1).reshape(y.shape))
  const std::vector<double> values{1.5, -0.0, 2, -3, 0, 0, -0.5, 4};
  struct Case {
    double ord;
    std::vector<std::int64_t> dims;
    bool keepdim;
    std::vector<double> out, grad;
  };
  const std::vector<Case> cases{
      {0.0, {}, false, {5}, {0, 0, 0, 0, 0, 0, 0, 0}},  // a count: x.grad stays zeros
      {0.0, {1}, true, {3, 2}, {0, 0, 0, 0, 0, 0, 0, 0}},
      {0.0, {0}, false, {1, 0, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0}},
      {-1.0, {}, false, {0}, {0, 0, 0, 0, 0, 0, 0, 0}},  // a zero element: the norm is 0, and so is its gradient
      {-1.0, {1}, true, {0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}},
      {-1.0, {0}, false, {0, 0, 0.4, 1.7142857142857144},
       {0, 0, 0.12000000000000002, -1.306122448979592, 0, 0, -1.9200000000000004, 0.7346938775510206}},
      {-2.5, {0}, false, {0, 0, 0.49388338914259583, 2.5596500624757756},
       {0, 0, 0.022449244961027084, -2.2949207070036444, 0, 0, -2.873503355011467, 0.8384595322230424}},
      {-inf, {}, false, {0}, {0, 0, 0, 0, 0, 0, 0, 0}},
      {-inf, {1}, true, {0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}},
      {-inf, {0}, false, {0, 0, 0.5, 3}, {0, 0, 0, -4, 0, 0, -3, 0}},
  };
  for (const Case& c : cases) {
    INFO("ord " << c.ord << ", " << c.dims.size() << " dims, keepdim " << c.keepdim);
    Tensor x = Tensor::from_vector(values, {2, 4}).set_requires_grad(true);
    const Tensor y = vector_norm(x, c.ord, c.dims, c.keepdim);
    CHECK(y.shape() == (c.dims.empty() ? Shape{} : c.keepdim ? Shape{2, 1} : Shape{4}));
    const std::vector<double> out = y.to_vector<double>();
    REQUIRE(out.size() == c.out.size());
    for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i] == Approx(c.out[i]).epsilon(1e-14));
    Tensor weights = Tensor::arange(1.0, static_cast<double>(y.numel() + 1), 1.0, TensorOptions().dtype(kFloat64)).reshape(y.shape());
    sum(y * weights).backward();
    const std::vector<double> grad = x.grad().to_vector<double>();
    for (std::size_t i = 0; i < grad.size(); ++i) CHECK(grad[i] == Approx(c.grad[i]).epsilon(1e-14).margin(1e-300));
  }
  // torch.linalg.vector_norm(torch.tensor([2., -1., 1., 3.], requires_grad=True), -inf).backward()
  // -> 1.0, grad [0, -0.5, 0.5, 0] (ties share); with a nan at [1]: nan, grad [0, 0, 0, 0]
  Tensor tie = Tensor::from_vector(std::vector<float>{2, -1, 1, 3}).set_requires_grad(true);
  const Tensor tie_norm = vector_norm(tie, -inf);
  CHECK(tie_norm.item<float>() == 1.0f);
  tie_norm.backward();
  CHECK(tie.grad().to_vector<float>() == std::vector<float>{0, -0.5f, 0.5f, 0});
  Tensor nan_x = Tensor::from_vector(std::vector<float>{2, NAN, 1, 3}).set_requires_grad(true);
  const Tensor nan_norm = vector_norm(nan_x, -inf);
  CHECK(std::isnan(nan_norm.item<float>()));
  nan_norm.backward();
  CHECK(nan_x.grad().to_vector<float>() == std::vector<float>{0, 0, 0, 0});
  // torch.abs(torch.tensor(-0.)) -> 0. (+0: the -0. in x above gives |x|^-1 = inf, not -inf)
  for (const Device device : available_devices())
    CHECK_FALSE(std::signbit(abs(Tensor::scalar(-0.0, TensorOptions(device).dtype(kFloat64))).item<double>()));
  // torch.linalg.vector_norm(torch.tensor([2., nan, 0., 3.]), 0) -> 3.0 (NaN is nonzero)
  CHECK(vector_norm(Tensor::from_vector(std::vector<float>{2, NAN, 0, 3}), 0.0).item<float>() == 3.0f);
  // x = torch.tensor([2., -1., 0.5, 3.], requires_grad=True); torch.linalg.vector_norm(x, -1.5).backward()
  // -> 0.37386858463287354, grad [0.015108536928892136, -0.08546679466962814, 0.48347318172454834, 0.005482697393745184]
  Tensor neg = Tensor::from_vector(std::vector<float>{2, -1, 0.5f, 3}).set_requires_grad(true);
  const Tensor neg_norm = vector_norm(neg, -1.5);
  CHECK(neg_norm.item<float>() == Approx(0.37386858463287354).epsilon(1e-6));
  neg_norm.backward();
  const std::vector<double> neg_grad{0.015108536928892136, -0.08546679466962814, 0.48347318172454834,
                                     0.005482697393745184};
  for (std::size_t i = 0; i < 4; ++i) CHECK(neg.grad().to_vector<float>()[i] == Approx(neg_grad[i]).epsilon(1e-5));
  // 16-bit: torch.linalg.vector_norm(torch.tensor([1., 0., 3.], dtype=torch.bfloat16), 0) -> 2;
  // (torch.tensor([1., .5, 3.], dtype=torch.bfloat16), -1) -> 0.30078125
  const Tensor bf = vector_norm(Tensor::from_vector(std::vector<float>{1, 0, 3}).to(kBFloat16), 0.0);
  CHECK(bf.dtype() == kBFloat16);
  CHECK(bf.to(kFloat32).item<float>() == 2.0f);
  CHECK(vector_norm(Tensor::from_vector(std::vector<float>{1, 0.5f, 3}).to(kBFloat16), -1.0).to(kFloat32).item<float>() ==
        0.30078125f);
  // torch: linalg.vector_norm cannot compute the -1 norm on an empty tensor because the operation does not have an
  // identity; ... on the dimension 1because this dimension is empty ...; ord 0 of an empty tensor is 0; an empty
  // result (dim 0 of a [2, 0]) is fine
  CHECK_THROWS_WITH(vector_norm(Tensor::zeros({0}), -1.0),
                    Contains("cannot compute the -1 norm on an empty tensor because the operation does not have an "
                             "identity"));
  CHECK_THROWS_WITH(vector_norm(Tensor::zeros({2, 0}), -inf, {1}),
                    Contains("cannot compute the -inf norm on the dimension 1 because this dimension is empty"));
  CHECK_THROWS_WITH(vector_norm(Tensor::zeros({0}), inf), Contains("cannot compute the inf norm on an empty tensor"));
  CHECK(vector_norm(Tensor::zeros({0}), 0.0).item<float>() == 0.0f);
  CHECK(vector_norm(Tensor::zeros({2, 0}), -1.0, {0}).shape() == Shape{0});
  // a 0-d tensor with an explicit dim: torch.linalg.vector_norm(torch.tensor(5.), -1, dim=0) -> 5;
  // (torch.tensor(-5.), inf, dim=-1, keepdim=True) -> 5 (0-d)
  CHECK(vector_norm(Tensor::scalar(5.0), -1.0, {0}).item<float>() == 5.0f);
  const Tensor kept = vector_norm(Tensor::scalar(-5.0), inf, {-1}, true);
  CHECK(kept.dim() == 0);
  CHECK(kept.item<float>() == 5.0f);
  CHECK(vector_norm(Tensor::scalar(-5.0), -inf, {0}).item<float>() == 5.0f);
}

TEST_CASE("cosine_similarity and friends: dtypes, shapes and errors as torch", "[distance][errors]") {
  const Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  // torch.nn.functional.cosine_similarity(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1., 0.]])) -> [0.4472136, 0.6]
  const Tensor ints = Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {2, 2});
  const Tensor mixed = cosine_similarity(ints, Tensor::from_vector(std::vector<float>{1, 0}, {1, 2}));
  CHECK(mixed.dtype() == kFloat32);
  CHECK(mixed.to_vector<float>()[0] == Approx(0.4472135901451111).epsilon(1e-6));
  CHECK(mixed.to_vector<float>()[1] == Approx(0.6).epsilon(1e-6));
  CHECK_THROWS_WITH(cosine_similarity(ints, ints), Contains("expected common dtype to be floating point") &&
                                                      Contains("int64"));
  CHECK_THROWS_WITH(cosine_similarity(a, a, 2), Contains("cosine_similarity: dim 2 out of range"));
  CHECK_THROWS_WITH(cosine_similarity(a, Tensor::zeros({3})), Contains("cosine_similarity"));
  CHECK_THROWS_WITH(normalize(Tensor::zeros({3}), 2.0, 1), Contains("normalize: dim 1 out of range"));
  CHECK_THROWS_WITH(vector_norm(ints, 2.0), Contains("expected a floating point tensor"));
  // torch.nn.functional.pairwise_distance(torch.zeros(2, 3), torch.zeros(3), keepdim=True).shape -> [2, 1]
  CHECK(pairwise_distance(Tensor::zeros({2, 3}), Tensor::zeros({3}), 2.0, 1e-6, true).shape() == Shape{2, 1});
  // bfloat16 in, bfloat16 out (torch: the norm reduced in float32, each op rounded to bfloat16)
  const Tensor half = cosine_similarity(a.to(kBFloat16), a.to(kBFloat16));
  CHECK(half.dtype() == kBFloat16);
  CHECK(half.to(kFloat32).to_vector<float>() == std::vector<float>{1.0f, 1.0f});
}
