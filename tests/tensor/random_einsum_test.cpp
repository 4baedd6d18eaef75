// ops/random.hpp (randint, randperm, bernoulli, multinomial, normal with tensor mean/std,
// rand_like/randn_like) and ops/einsum.hpp. tinyxf's Generator is not torch's, so random values
// cannot equal torch's for a seed: those tests check the distributions' properties for a fixed
// seed (deterministic, so bounds cannot flake) and torch's argument errors. einsum's values and
// gradients are torch 2.15's (kEinsumCases, printed by tests/reference/print_einsum_cases.py).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Contains;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

namespace {
using I = std::vector<std::int64_t>;
I values(const Tensor& t) { return t.to_vector<std::int64_t>(); }
}  // namespace

TEST_CASE("randint draws every value of [low, high), reproducibly for a seed", "[parity][random]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    Generator g1(7), g2(7), g3(8);
    const Tensor a = randint(-3, 4, {2000}, TensorOptions(d), g1);
    CHECK(a.dtype() == kInt64);  // torch's default
    CHECK(a.shape() == Shape{2000});
    CHECK(values(a) == values(randint(-3, 4, {2000}, TensorOptions(d), g2)));
    CHECK(values(a) != values(randint(-3, 4, {2000}, TensorOptions(d), g3)));
    std::vector<int> hits(7);
    for (auto v : values(a)) {
      REQUIRE((v >= -3 && v < 4));
      ++hits[static_cast<std::size_t>(v + 3)];
    }
    for (int h : hits) CHECK((h > 200 && h < 370));  // 2000 / 7 = 286 each
    // randint(high, size), a dtype, randint_like
    const Tensor b = randint(3, {4, 5}, TensorOptions(d).dtype(kInt32), g1);
    CHECK(b.dtype() == kInt32);
    CHECK(b.to(kInt64).max().item<std::int64_t>() <= 2);
    const Tensor f = randint_like(Tensor::zeros({3, 2}, TensorOptions(d)), 10, 20, g1);
    CHECK(f.dtype() == kFloat32);
    CHECK(f.shape() == Shape{3, 2});
    for (double v : f.to(kFloat64).to_vector<double>()) CHECK((v >= 10 && v < 20 && v == std::floor(v)));
    // ranges beyond 2^53 are exact integers over the whole range (torch.randint(0, 2**62, ...))
    const Tensor big = randint(std::int64_t{1} << 62, {1000}, TensorOptions(d), g1);
    const auto bv = values(big);
    CHECK(*std::min_element(bv.begin(), bv.end()) >= 0);
    CHECK(*std::max_element(bv.begin(), bv.end()) > (std::int64_t{1} << 61));  // half of them, by chance
    CHECK(std::count_if(bv.begin(), bv.end(), [](std::int64_t v) { return v % 2 == 1; }) > 400);  // low bits random
    const Tensor wide = randint(-(std::int64_t{1} << 62), std::int64_t{1} << 62, {1000}, TensorOptions(d), g1);
    const auto wv = values(wide);
    CHECK(std::count_if(wv.begin(), wv.end(), [](std::int64_t v) { return v < 0; }) > 400);
  }
}

TEST_CASE("randint's argument errors, as torch's", "[parity][random]") {
  // torch.randint(5, 5, (3,)) -> random_ expects 'from' to be less than 'to', but got from=5 >= to=5
  CHECK_THROWS_WITH(randint(5, 5, {3}), Contains("random_ expects 'from' to be less than 'to', but got from=5 >= to=5"));
  // torch.randint(0, 300, (3,), dtype=torch.uint8) -> to - 1 is out of bounds for unsigned char
  CHECK_THROWS_WITH(randint(0, 300, {3}, TensorOptions(kUInt8)), Contains("to - 1 = 299 is out of bounds for uint8"));
  CHECK_THROWS_WITH(randint(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(), {3}),
                    Contains("exceeds 2^63"));
}

TEST_CASE("randperm is a permutation, reproducible for a seed", "[parity][random]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    Generator g1(3), g2(3);
    const Tensor p = randperm(50, TensorOptions(d), g1);
    CHECK(p.dtype() == kInt64);
    auto v = values(p);
    CHECK(v == values(randperm(50, TensorOptions(d), g2)));
    CHECK(v != values(randperm(50, TensorOptions(d), g2)));  // the stream moved on
    I sorted = v;
    std::sort(sorted.begin(), sorted.end());
    I expected(50);
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(sorted == expected);
    CHECK(v != expected);
    CHECK(randperm(0, TensorOptions(d), g1).numel() == 0);  // torch.randperm(0) -> tensor([])
  }
  // torch.randperm(-1) -> Trying to create tensor with negative dimension -1: [-1]
  CHECK_THROWS_WITH(randperm(-1), Contains("negative dimension -1: [-1]"));
}

TEST_CASE("bernoulli draws 1 with probability p, torch's p errors", "[parity][random]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    Generator g(11), g_again(11);
    const Tensor p = Tensor::from_vector<float>({0.0f, 1.0f, 0.25f, 0.9f}, {4}, d).reshape({4, 1}).expand({4, 2000});
    const Tensor b = bernoulli(p, g);
    CHECK(b.dtype() == kFloat32);
    CHECK(b.shape() == Shape{4, 2000});
    CHECK(b.to_vector<float>() == bernoulli(p, g_again).to_vector<float>());
    const auto rate = mean(b, {1}).to_vector<float>();
    CHECK(rate[0] == 0.0f);  // p = 0 never, p = 1 always
    CHECK(rate[1] == 1.0f);
    CHECK(std::abs(rate[2] - 0.25) < 0.04);  // 5 standard deviations: 5 * sqrt(.25 * .75 / 2000) = 0.048
    CHECK(std::abs(rate[3] - 0.9) < 0.04);
    // torch.bernoulli(x, 0.3): x's shape and dtype
    const Tensor s = bernoulli(Tensor::zeros({5000}, TensorOptions(d).dtype(kFloat64)), 0.3, g);
    CHECK(s.dtype() == kFloat64);
    CHECK(std::abs(s.mean().item() - 0.3) < 0.035);
    for (double v : s.to_vector<double>()) REQUIRE((v == 0.0 || v == 1.0));
  }
  // torch.bernoulli(torch.tensor([0.5, 1.5])) -> Expected p_in >= 0 && p_in <= 1 to be true, but got false.
  CHECK_THROWS_WITH(bernoulli(Tensor::from_vector<float>({0.5f, 1.5f}, {2})), Contains("Expected p_in >= 0 && p_in <= 1"));
  CHECK_THROWS_WITH(bernoulli(Tensor::from_vector<float>({0.5f, -0.5f}, {2})), Contains("Expected p_in >= 0 && p_in <= 1"));
  // torch.bernoulli(torch.tensor([0.5, 0.2]), 1.5) -> bernoulli_ expects p to be in [0, 1], but got p=1.5
  CHECK_THROWS_WITH(bernoulli(Tensor::zeros({2}), 1.5), Contains("bernoulli_ expects p to be in [0, 1], but got p=1.5"));
  CHECK_THROWS_AS(bernoulli(Tensor::zeros({2}, kInt64)), DTypeError);
}

TEST_CASE("multinomial with and without replacement, torch's errors", "[parity][random]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    Generator g(5);
    // without replacement: never repeats, zero weights never drawn while positive ones remain
    const Tensor w = Tensor::from_vector<float>({0.f, 3.f, 1.f, 0.f, 2.f, 4.f}, {6}, d);
    for (int trial = 0; trial < 50; ++trial) {
      const auto s = values(multinomial(w, 4, false, g));
      REQUIRE(std::set<std::int64_t>(s.begin(), s.end()) == std::set<std::int64_t>{1, 2, 4, 5});
    }
    // 2-D, reproducible; the first draw of a race follows the weights
    const Tensor rows = Tensor::from_vector<double>({1, 0, 3, 0, 0, 5, 5, 0}, {2, 4}, d);
    Generator g_rows(6), g_rows_again(6);
    const Tensor s2 = multinomial(rows, 2, false, g_rows);
    CHECK(s2.shape() == Shape{2, 2});
    CHECK(values(multinomial(rows, 2, false, g_rows_again)) == values(s2));
    const auto first = values(multinomial(rows.reshape({1, 8}).expand({3000, 8}).contiguous(), 1, false, g));
    CHECK(std::count(first.begin(), first.end(), 2) > 0);
    const double share2 = static_cast<double>(std::count(first.begin(), first.end(), 2)) / 3000;  // 3 / 14
    CHECK(std::abs(share2 - 3.0 / 14) < 0.04);
    for (auto v : first) REQUIRE((v == 0 || v == 2 || v == 5 || v == 6));
    // with replacement: counts follow the weights, zero weights never drawn
    const auto r = values(multinomial(Tensor::from_vector<float>({1.f, 0.f, 3.f}, {3}, d), 4000, true, g));
    CHECK(std::count(r.begin(), r.end(), 1) == 0);
    CHECK(std::abs(static_cast<double>(std::count(r.begin(), r.end(), 2)) / 4000 - 0.75) < 0.035);
    // more samples than categories, with replacement (torch.multinomial(torch.tensor([1., 2.]), 3, True))
    CHECK(multinomial(Tensor::from_vector<float>({1.f, 2.f}, {2}, d), 3, true, g).shape() == Shape{3});
    // zero weights once the positive ones are used up: torch.multinomial(torch.tensor([1., 0, 0]), 2) -> [0, 1 or 2]
    CHECK(values(multinomial(Tensor::from_vector<float>({1.f, 0.f, 0.f}, {3}, d), 2, false, g))[0] == 0);
    CHECK(multinomial(Tensor::ones({0, 3}, TensorOptions(d)), 1, false, g).shape() == Shape{0, 1});
  }
  const Tensor two = Tensor::from_vector<float>({1.f, 2.f}, {2});
  // messages of torch.multinomial(...)
  CHECK_THROWS_WITH(multinomial(Tensor::zeros({2}), 1), Contains("invalid multinomial distribution (sum of probabilities <= 0)"));
  CHECK_THROWS_WITH(multinomial(two, 3), Contains("cannot sample n_sample > prob_dist.size(-1) samples without replacement"));
  CHECK_THROWS_WITH(multinomial(two, 0), Contains("cannot sample n_sample <= 0 samples"));
  CHECK_THROWS_WITH(multinomial(Tensor::from_vector<float>({1.f, -2.f}, {2}), 1),
                    Contains("probability tensor contains either `inf`, `nan` or element < 0"));
  CHECK_THROWS_WITH(multinomial(Tensor::from_vector<float>({1.f, NAN}, {2}), 1),
                    Contains("probability tensor contains either `inf`, `nan` or element < 0"));
  CHECK_THROWS_WITH(multinomial(Tensor::from_vector<float>({1.f, INFINITY}, {2}), 1),
                    Contains("probability tensor contains either `inf`, `nan` or element < 0"));
  CHECK_THROWS_WITH(multinomial(Tensor::zeros({2, 2, 2}), 1), Contains("prob_dist must be 1 or 2 dim"));
  CHECK_THROWS_WITH(multinomial(Tensor::ones({2}, kInt64), 1),
                    Contains("multinomial only supports floating-point dtypes for input, got: int64"));
}

TEST_CASE("normal with tensor mean and std broadcasts, rand_like and randn_like", "[parity][random]") {
  for (const Device d : {dev, Device::reference()}) {
    INFO(d.str());
    Generator g(9), g_again(9);
    const Tensor mean_t = Tensor::from_vector<double>({-10, 0, 10}, {3, 1}, d);
    const Tensor std_t = Tensor::from_vector<double>({0, 1, 0.5, 2}, {4}, d).reshape({1, 4}).expand({1, 4});
    const Tensor n = normal(mean_t.expand({3, 4}).contiguous().unsqueeze(-1).expand({3, 4, 3000}),
                            std_t.unsqueeze(-1), g);
    CHECK(n.shape() == Shape{3, 4, 3000});
    CHECK(n.to_vector<double>() == normal(mean_t.expand({3, 4}).contiguous().unsqueeze(-1).expand({3, 4, 3000}),
                                          std_t.unsqueeze(-1), g_again).to_vector<double>());
    const auto m = mean(n, {2}).to_vector<double>();
    const auto s = tinyxf::std(n, {2}).to_vector<double>();
    const double sd[] = {0, 1, 0.5, 2};
    for (std::size_t i = 0; i < 12; ++i) {
      CHECK(std::abs(m[i] - (10.0 * (static_cast<double>(i / 4) - 1))) < 0.15);
      CHECK(std::abs(s[i] - sd[i % 4]) < 0.1);
    }
    // torch.normal(torch.zeros(2, 1), torch.ones(3)).shape -> [2, 3]
    CHECK(normal(Tensor::zeros({2, 1}, TensorOptions(d)), Tensor::ones({3}, TensorOptions(d)), g).shape() == Shape{2, 3});
    CHECK(normal(Tensor::zeros({2}, TensorOptions(d)), 2.0, g).shape() == Shape{2});
    CHECK(normal(1.0, Tensor::ones({4}, TensorOptions(d)), g).shape() == Shape{4});
    CHECK(normal(1.0, 2.0, {2, 2}, TensorOptions(d), g).shape() == Shape{2, 2});
    const Tensor x = Tensor::zeros({2, 3}, TensorOptions(d).dtype(kFloat64));
    CHECK(rand_like(x, g).dtype() == kFloat64);
    CHECK(randn_like(x, g).shape() == Shape{2, 3});
  }
  // torch.normal(torch.zeros(2), torch.tensor([1., -1.])) -> normal expects all elements of std >= 0.0
  CHECK_THROWS_WITH(normal(Tensor::zeros({2}), Tensor::from_vector<float>({1.f, -1.f}, {2})),
                    Contains("normal expects all elements of std >= 0.0"));
  // torch.normal(torch.zeros(2), -1.) -> normal expects std >= 0.0, but found std -1
  CHECK_THROWS_WITH(normal(Tensor::zeros({2}), -1.0), Contains("normal expects std >= 0.0, but found std -1"));
  CHECK_THROWS_AS(normal(Tensor::zeros({2}), Tensor::ones({3})), ShapeError);
  CHECK_THROWS_AS(rand_like(Tensor::zeros({2}, kInt64)), DTypeError);
}

namespace {
struct EinsumCase {
  const char* equation;
  std::vector<Shape> shapes;
  std::vector<double> values;
  Shape shape;
  std::vector<std::vector<double>> grads;
};
// print_einsum_cases.py's operands: ops_k = ((torch.arange(n, dtype=torch.float64) * 0.37 + 0.11 * k) % 1.3 - 0.5).reshape(shape)
Tensor einsum_operand(const Shape& shape, int k, Device d) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::fmod(static_cast<double>(i) * 0.37 + 0.11 * k, 1.3) - 0.5;
  return Tensor::from_vector<double>(v, shape, d).set_requires_grad(true);
}
void check_close(const std::vector<double>& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).margin(1e-9));
}
const std::vector<EinsumCase> kEinsumCases = {
    // torch.einsum("ij,jk->ik", *ops): values, shape, then grads of (out * out).sum()
    {"ij,jk->ik", {{2, 3}, {3, 4}}, {0.2151, 0.0708, -0.0735, -0.3608, -0.1722, -0.0464, 0.0794, 0.5562}, {2, 4}, {{-0.741612, 0.143044, 0.08962, 0.99268, -0.30332, -0.1532}, {-0.425184, -0.127408, 0.170368, 1.039364, 0.054282, 0.011288, -0.031706, -0.26216, 0.086028, 0.029344, -0.02734, -0.117564}}},
    // torch.einsum("bij,bjk->bik", *ops): values, shape, then grads of (out * out).sum()
    {"bij,bjk->bik", {{2, 2, 3}, {2, 3, 2}}, {0.0991, -0.0452, -0.3604, -0.2346, 0.0995, 0.1314, -0.1304, 0.1846}, {2, 2, 2}, {{-0.07549, 0.004282, -0.056086, 0.290496, -0.590104, 0.076296, 0.00035, 0.083382, 0.083474, -0.285904, 0.133352, -0.266392}, {-0.538788, -0.241012, 0.20489, 0.161896, 0.011528, -0.045156, 0.023596, 0.195292, 0.00073, 0.429132, 0.058204, -0.158628}}},
    // torch.einsum("ii->i", *ops): values, shape, then grads of (out * out).sum()
    {"ii->i", {{3, 3}}, {-0.5, -0.32, -0.14}, {3}, {{-1.0, 0.0, 0.0, 0.0, -0.64, 0.0, 0.0, 0.0, -0.28}}},
    // torch.einsum("ii", *ops): values, shape, then grads of (out * out).sum()
    {"ii", {{3, 3}}, {-0.96}, {}, {{-1.92, 0.0, 0.0, 0.0, -1.92, 0.0, 0.0, 0.0, -1.92}}},
    // torch.einsum("ij->ji", *ops): values, shape, then grads of (out * out).sum()
    {"ij->ji", {{2, 3}}, {-0.5, 0.61, -0.13, -0.32, 0.24, 0.05}, {3, 2}, {{-1.0, -0.26, 0.48, 1.22, -0.64, 0.1}}},
    // torch.einsum("ij", *ops): values, shape, then grads of (out * out).sum()
    {"ij", {{3, 2}}, {-0.5, -0.13, 0.24, 0.61, -0.32, 0.05}, {3, 2}, {{-1.0, -0.26, 0.48, 1.22, -0.64, 0.1}}},
    // torch.einsum("i,j->ij", *ops): values, shape, then grads of (out * out).sum()
    {"i,j->ij", {{3}, {2}}, {0.195, 0.01, 0.0507, 0.0026, -0.0936, -0.0048}, {3, 2}, {{-0.1525, -0.03965, 0.0732}, {-0.25311, -0.01298}}},
    // torch.einsum("i,i->", *ops): values, shape, then grads of (out * out).sum()
    {"i,i->", {{4}, {4}}, {0.7208}, {}, {{-0.562224, -0.028832, 0.50456, 1.037952}, {-0.7208, -0.187408, 0.345984, 0.879376}}},
    // torch.einsum("...ij,...jk->...ik", *ops): values, shape, then grads of (out * out).sum()
    {"...ij,...jk->...ik", {{2, 1, 2, 3}, {4, 3, 2}}, {0.0991, -0.0452, -0.3604, -0.2346, -0.0907, 0.103, 0.3684, -0.3638, 0.0575, -0.0868, 0.2392, 0.365, 0.0367, 0.0614, -0.306, 0.2358, 0.1421, 0.538, 0.1896, 0.3746, 0.0995, 0.1314, -0.1304, 0.1846, -0.3071, 0.0888, -0.3204, -0.1354, 0.3133, -0.3178, 0.2696, -0.3254}, {2, 4, 2, 2}, {{-0.326744, 0.025416, -0.278144, 1.630184, -1.595128, 1.60988, -0.364888, 1.788808, -0.117136, -0.90084, 1.627384, -0.862392}, {-0.332208, 0.383224, 0.656928, 1.461456, -0.153396, -0.443032, 0.563744, -0.351544, -0.211464, 0.635184, 0.051508, -0.145568, -0.171024, 0.544408, -1.037736, -0.233208, 0.348972, 0.059336, -0.022832, -0.19036, 1.004832, -1.05948, -0.278644, 0.3568}}},
    // torch.einsum("bn,anm,bm->ba", *ops): values, shape, then grads of (out * out).sum()
    {"bn,anm,bm->ba", {{2, 3}, {4, 3, 2}, {2, 2}}, {-0.031816, 0.034666, -0.023912, -0.00475, -0.055522, 0.34045, -0.061518, -0.251586}, {2, 4}, {{-0.0205799528, 0.0012142016, -0.018814412, 0.4208149296, -0.2949838256, 0.4209163632}, {-0.0400674264, 0.0346997548, 0.014029472, -0.0159565232, 0.0017220584, 0.0012350828, 0.20076702, -0.19833397, -0.0977047952, 0.1015961756, 0.0110015896, -0.0145035788, -0.0412192616, 0.0374265012, 0.0163701056, -0.0179450736, 0.0003839448, 0.0018583476, -0.1425200632, 0.1446869124, 0.0737211184, -0.0755659188, -0.010934556, 0.011619342}, {-0.0156928736, 0.0135851856, 0.4154042384, -0.3852165952}}},
    // torch.einsum("ijk->", *ops): values, shape, then grads of (out * out).sum()
    {"ijk->", {{2, 3, 2}}, {1.52}, {}, {{3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04, 3.04}}},
    // torch.einsum("iij->ij", *ops): values, shape, then grads of (out * out).sum()
    {"iij->ij", {{2, 2, 3}}, {-0.5, -0.13, 0.24, 0.23, 0.6, -0.33}, {2, 3}, {{-1.0, -0.26, 0.48, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.46, 1.2, -0.66}}},
    // torch.einsum("ij,ij->ij", *ops): values, shape, then grads of (out * out).sum()
    {"ij,ij->ij", {{2, 3}, {1, 3}}, {0.195, 0.0026, 0.084, -0.2379, 0.0064, 0.0175}, {2, 3}, {{-0.1521, -0.000104, 0.0588, 0.185562, -0.000256, 0.01225}, {-0.485238, -0.004772, 0.04207}}},
    // torch.einsum("...i,i", *ops): values, shape, then grads of (out * out).sum()
    {"...i,i", {{2, 3}, {3}}, {0.2816, -0.214}, {2}, {{-0.219648, -0.011264, 0.19712, 0.16692, 0.00856, -0.1498}, {-0.54268, 0.063744, 0.113768}}},
    // torch.einsum("ba,ab", *ops): values, shape, then grads of (out * out).sum()
    {"ba,ab", {{2, 3}, {3, 2}}, {-0.1355}, {}, {{0.10569, -0.09485, 0.05691, 0.00542, -0.19512, -0.04336}, {0.1355, -0.16531, 0.03523, 0.08672, -0.06504, -0.01355}}},
    // torch.einsum("ijk,ikl,lm->jm", *ops): values, shape, then grads of (out * out).sum()
    {"ijk,ikl,lm->jm", {{2, 3, 2}, {2, 2, 3}, {3, 2}}, {0.070184, -0.252054, -0.071664, 0.02736, -0.317772, 0.244504}, {3, 2}, {{-0.0255587104, -0.1483027492, -0.005551584, 0.0563442816, -0.0076666096, 0.3007658784, -0.1609722, 0.2183084012, 0.0596665152, -0.0561553152, 0.3206464144, -0.3383122496}, {-0.0178781992, -0.0056469672, 0.0194710088, 0.0495901612, -0.121210266, 0.0470536948, 0.0913073352, -0.173849484, 0.0502156248, -0.1297762564, 0.3894264172, -0.1764642172}, {-0.1999158224, -0.100333956, 0.352047024, -0.4460808808, -0.0416307216, 0.1759112264}}},
    // torch.einsum("i j , j k", *ops): values, shape, then grads of (out * out).sum()
    {"i j , j k", {{2, 2}, {2, 3}}, {0.1014, 0.0373, -0.1958, 0.3456, -0.1329, 0.1816}, {2, 3}, {{-0.217644, 0.067694, -0.137132, 0.611594}, {0.064488, -0.101092, 0.282968, 0.395268, -0.171836, 0.27246}}},
    // torch.einsum("iJ,Jk->ki", *ops): values, shape, then grads of (out * out).sum()
    {"iJ,Jk->ki", {{2, 3}, {3, 2}}, {0.0991, -0.3604, -0.0452, -0.2346}, {2, 2}, {{-0.07549, 0.004282, -0.056086, 0.290496, -0.590104, 0.076296}, {-0.538788, -0.241012, 0.20489, 0.161896, 0.011528, -0.045156}}},
    // torch.einsum("bij,bkj->bik", *ops): values, shape, then grads of (out * out).sum()
    {"bij,bkj->bik", {{2, 2, 3}, {1, 2, 3}}, {0.2816, -0.2943, -0.214, 0.5144, -0.2286, 0.1141, -0.2172, -0.0132}, {2, 2, 2}, {{-0.64344, 0.112342, 0.102944, 0.907656, -0.207488, 0.014808, 0.342612, -0.038778, -0.123508, 0.150408, 0.014232, -0.156264}, {-0.834616, -0.558084, 0.321128, 1.01164, -0.08826, -0.11306}}},
    // torch.einsum("ijj,jk->ik", *ops): values, shape, then grads of (out * out).sum()
    {"ijj,jk->ik", {{2, 3, 3}, {3, 2}}, {0.1124, -0.2428, -0.0701, 0.385}, {2, 2}, {{-0.07796, 0.0, 0.0, 0.0, -0.270952, 0.0, 0.0, 0.0, -0.124904, 0.039278, 0.0, 0.0, 0.0, 0.50533, 0.0, 0.0, 0.0, 0.152642}, {-0.144646, 0.4199, -0.129418, 0.471092, -0.11419, 0.522284}}},
    // torch.einsum("i,i->i", *ops): values, shape, then grads of (out * out).sum()
    {"i,i->i", {{3}, {3}}, {0.195, 0.0026, 0.084}, {3}, {{-0.1521, -0.000104, 0.0588}, {-0.195, -0.000676, 0.04032}}},
};

}  // namespace

TEST_CASE("einsum's values and gradients are torch's", "[parity][einsum]") {
  for (const Device d : {dev, Device::reference()}) {
    for (const auto& c : kEinsumCases) {
      INFO(d.str() << " " << c.equation);
      std::vector<Tensor> ops;
      for (std::size_t k = 0; k < c.shapes.size(); ++k) ops.push_back(einsum_operand(c.shapes[k], static_cast<int>(k), d));
      const Tensor out = einsum(c.equation, ops);
      CHECK(out.shape() == c.shape);
      check_close(out.to_vector<double>(), c.values);
      sum(mul(out, out)).backward();
      for (std::size_t k = 0; k < ops.size(); ++k) check_close(ops[k].grad().to_vector<double>(), c.grads[k]);
    }
  }
}

TEST_CASE("einsum on integers, an initializer list, and torch's errors", "[parity][einsum]") {
  const Tensor a = Tensor::arange(std::int64_t{0}, std::int64_t{6}, std::int64_t{1}, kInt64).reshape({2, 3});
  const Tensor b = Tensor::arange(std::int64_t{0}, std::int64_t{6}, std::int64_t{1}, kInt64).reshape({3, 2});
  // torch.einsum('ij,jk', torch.arange(6).reshape(2, 3), torch.arange(6).reshape(3, 2)) -> [[10, 13], [28, 40]]
  const Tensor ab = einsum("ij,jk", {a, b});
  CHECK(ab.dtype() == kInt64);
  CHECK(values(ab) == I{10, 13, 28, 40});
  // torch.einsum('ii', torch.arange(9).reshape(3, 3)) -> 12 (the trace)
  CHECK(einsum("ii", {Tensor::arange(std::int64_t{9}, kInt64).reshape({3, 3})}).item<std::int64_t>() == 12);
  // torch.einsum('i,j', torch.ones(2), torch.ones(2).long()) -> float32 ones (an outer product promotes)
  const Tensor outer = einsum("i,j", {Tensor::ones({2}), Tensor::ones({2}, kInt64)});
  CHECK(outer.dtype() == kFloat32);
  CHECK(outer.shape() == Shape{2, 2});
  // torch.einsum('i,i', torch.ones(2), torch.ones(2).long()) -> expected scalar type Float but found Long
  CHECK_THROWS_WITH(einsum("i,i", {Tensor::ones({2}), Tensor::ones({2}, kInt64)}),
                    Contains("einsum(): expected scalar type float32 but found int64"));
  const Tensor x = Tensor::ones({2, 2});
  // torch.einsum('i...jk', torch.ones(2, 2)) -> ... (3) is more than the number of dimensions (2) for operand 0
  CHECK_THROWS_WITH(einsum("i...jk", {x}), Contains("einsum(): the number of subscripts in the equation (3) is more "
                                                    "than the number of dimensions (2) for operand 0"));
  CHECK_THROWS_WITH(einsum("ij,jk->ik", {x}), Contains("einsum(): fewer operands were provided than specified in the equation"));
  CHECK_THROWS_WITH(einsum("ij->ij", {x, x}), Contains("einsum(): more operands were provided than specified in the equation"));
  CHECK_THROWS_WITH(einsum("ijk->ij", {x}), Contains("einsum(): the number of subscripts in the equation (3) does not match "
                                                     "the number of dimensions (2) for operand 0 and no ellipsis was given"));
  CHECK_THROWS_WITH(einsum("ij,ij->ij", {x, Tensor::ones({2, 3})}),
                    Contains("einsum(): subscript j has size 3 for operand 1 which does not broadcast with previously seen size 2"));
  CHECK_THROWS_WITH(einsum("ij->k", {x}), Contains("einsum(): output subscript k does not appear in the equation for any input operand"));
  CHECK_THROWS_WITH(einsum("ij->ii", {x}), Contains("einsum(): output subscript i appears more than once in the output"));
  CHECK_THROWS_WITH(einsum("i.j->ij", {x}), Contains("einsum(): found '.' for operand 0 that is not part of any ellipsis"));
  CHECK_THROWS_WITH(einsum("i1->i", {x}), Contains("einsum(): invalid subscript given at index 1 in the equation string, "
                                                   "subscripts must be in [a-zA-Z]"));
  CHECK_THROWS_WITH(einsum("ii", {Tensor::ones({2, 3})}),
                    Contains("einsum(): subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"));
  CHECK_THROWS_WITH(einsum("...,...", {Tensor::ones({2, 3}), Tensor::ones({2})}),
                    Contains("einsum(): dimension 0 covered by ellipsis in operand 1has size 2 which does not broadcast "
                             "with previously seen ellipsis with size 3 for the respective dimension"));
}
