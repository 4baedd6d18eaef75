// torch's Tensor methods (x.clamp(0, 1), x.var(-1), x.flip({0}), ...): each must give exactly
// (bitwise) what the free function it forwards to gives; and torch.clamp with tensor bounds, whose
// values and gradients were printed by torch 2.15 (the expression is in the comment above them).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const TensorOptions f64 = TensorOptions(Device::cpu()).dtype(kFloat64);

// Same dtype, shape and bytes (NaN payloads and the sign of zero included).
void check_same_bits(const Tensor& got, const Tensor& want) {
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  const Tensor g = got.contiguous(), w = want.contiguous();
  CHECK(std::memcmp(g.raw_data(), w.raw_data(), static_cast<std::size_t>(g.numel()) * g.element_size()) == 0);
}

Tensor vec(const std::vector<double>& values, const Shape& shape = {}) {
  return Tensor::from_vector(values, shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape, f64);
}

std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).to_vector<double>(); }

// Equal where torch's value is finite or infinite, NaN where torch's is.
void check_values(const Tensor& got_t, const std::vector<double>& want) {
  const auto got = values_of(got_t);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", torch " << want[i]);
    if (std::isnan(want[i]))
      CHECK(std::isnan(got[i]));
    else
      CHECK(got[i] == want[i]);
  }
}

}  // namespace

TEST_CASE("Tensor methods give exactly their free functions' results", "[parity][methods]") {
  const Tensor x = vec({-2.5, 0.25, 1.75, -0.5, 3.0, -1.25, 0.0, 2.0, -3.5, 0.75, 1.5, -0.125}, {3, 4});
  const Tensor other = vec({1.0, -0.5, 2.0, 0.25, -3.0, 0.5, 1.5, -2.0, 0.125, 4.0, -1.0, 0.75}, {3, 4});
  const Tensor positive = abs(x) + 0.5;
  const Tensor mask = gt(other, 0.0);
  const Tensor index = Tensor::from_vector<std::int64_t>({2, 0, 2}, {3, 1});

  // reductions, a single integer dim meaning {dim} and {} every dim
  check_same_bits(x.sum(-1), sum(x, {-1}));
  check_same_bits(x.sum(1, true), sum(x, {1}, true));
  check_same_bits(x.sum({}), sum(x, {}));
  check_same_bits(x.mean(0), mean(x, {0}));
  check_same_bits(x.max(), max(x));
  check_same_bits(x.min(), min(x));
  check_same_bits(x.argmax(1), argmax(x, 1));
  check_same_bits(x.argmin(0, true), argmin(x, 0, true));
  check_same_bits(x.logsumexp(-1), logsumexp(x, {-1}));
  check_same_bits(x.logsumexp({0, 1}, true), logsumexp(x, {0, 1}, true));
  check_same_bits(x.var(-1), var(x, {-1}));
  check_same_bits(x.var(), var(x));
  check_same_bits(x.var({0}, 0.0, true), var(x, {0}, 0.0, true));
  check_same_bits(x.std(), tinyxf::std(x));
  check_same_bits(x.std(1, 2.0), tinyxf::std(x, {1}, 2.0));

  // elementwise
  check_same_bits(x.neg(), neg(x));
  check_same_bits(x.exp(), exp(x));
  check_same_bits(positive.log(), log(positive));
  check_same_bits(positive.log1p(), log1p(positive));
  check_same_bits(positive.sqrt(), sqrt(positive));
  check_same_bits(positive.rsqrt(), rsqrt(positive));
  check_same_bits(x.tanh(), tanh(x));
  check_same_bits(x.sigmoid(), sigmoid(x));
  check_same_bits(x.relu(), relu(x));
  check_same_bits(x.abs(), abs(x));
  check_same_bits(x.square(), square(x));
  check_same_bits(positive.pow(1.5), pow(positive, 1.5));
  check_same_bits(x.add(other), add(x, other));
  check_same_bits(x.add(2.0), add(x, 2.0));
  check_same_bits(x.sub(other), sub(x, other));
  check_same_bits(x.sub(0.5), sub(x, 0.5));
  check_same_bits(x.mul(other), mul(x, other));
  check_same_bits(x.mul(3.0), mul(x, 3.0));
  check_same_bits(x.div(other), div(x, other));
  check_same_bits(x.div(4.0), div(x, 4.0));
  check_same_bits(x.maximum(other), maximum(x, other));
  check_same_bits(x.minimum(other), minimum(x, other));
  check_same_bits(x.eq(other), eq(x, other));
  check_same_bits(x.eq(0.0), eq(x, 0.0));
  check_same_bits(x.ne(other), ne(x, other));
  check_same_bits(x.ne(2.0), ne(x, 2.0));
  check_same_bits(x.lt(other), lt(x, other));
  check_same_bits(x.lt(0.5), lt(x, 0.5));
  check_same_bits(x.le(other), le(x, other));
  check_same_bits(x.le(0.0), le(x, 0.0));
  check_same_bits(x.gt(other), gt(x, other));
  check_same_bits(x.gt(1.0), gt(x, 1.0));
  check_same_bits(x.ge(other), ge(x, other));
  check_same_bits(x.ge(-0.5), ge(x, -0.5));
  check_same_bits(mask.logical_not(), logical_not(mask));
  // torch's x.where(condition, y) is torch.where(condition, x, y)
  check_same_bits(x.where(mask, other), where(mask, x, other));
  check_same_bits(x.masked_fill(mask, -7.0), masked_fill(x, mask, -7.0));

  // softmax and indexing
  check_same_bits(x.softmax(-1), softmax(x, -1));
  check_same_bits(x.log_softmax(0), log_softmax(x, 0));
  check_same_bits(x.index_select(1, Tensor::from_vector<std::int64_t>({3, 0})),
                  index_select(x, 1, Tensor::from_vector<std::int64_t>({3, 0})));
  check_same_bits(x.gather(1, index), gather(x, 1, index));
  check_same_bits(x.scatter(1, index, other), scatter(x, 1, index, other));
  check_same_bits(x.scatter(1, index, 9.0), scatter(x, 1, index, 9.0));
  check_same_bits(x.scatter_add(1, index, other), scatter_add(x, 1, index, other));

  // composed functions
  check_same_bits(x.clamp(0, 1), clamp(x, 0.0, 1.0));
  check_same_bits(x.clamp(-1.0), clamp(x, -1.0, std::nullopt));
  check_same_bits(x.clamp(std::nullopt, 0.5), clamp(x, std::nullopt, 0.5));
  check_same_bits(x.clamp_min(0.25), clamp(x, 0.25, std::nullopt));
  check_same_bits(x.clamp_max(0.25), clamp(x, std::nullopt, 0.25));
  check_same_bits(x.clamp(other, other + 1.0), clamp(x, other, other + 1.0));
  check_same_bits(x.clamp_min(other), clamp(x, other));
  check_same_bits(x.clamp_max(other), clamp(x, Tensor(), other));
  const Tensor special = vec({kNaN, inf, -inf, 1.5});
  check_same_bits(special.nan_to_num(), nan_to_num(special));
  check_same_bits(special.nan_to_num(1.0, 2.0, -2.0), nan_to_num(special, 1.0, 2.0, -2.0));
  check_same_bits(special.isnan(), isnan(special));
  check_same_bits(special.isinf(), isinf(special));
  check_same_bits(special.isfinite(), isfinite(special));
  check_same_bits(x.tril(), tril(x));
  check_same_bits(x.triu(1), triu(x, 1));
  check_same_bits(x.tril(-1), tril(x, -1));
  check_same_bits(x.flip({0}), flip(x, {0}));
  check_same_bits(x.flip({0, 1}), flip(x, {0, 1}));
  check_same_bits(x.roll(1, 0), roll(x, {1}, {0}));
  check_same_bits(x.roll(-2, -1), roll(x, {-2}, {-1}));
  check_same_bits(x.roll(5), roll(x, {5}));
  check_same_bits(x.roll({1, 2}, {0, 1}), roll(x, {1, 2}, {0, 1}));
  check_same_bits(x.repeat({2, 1}), repeat(x, {2, 1}));
  check_same_bits(x.repeat({2, 1, 3}), repeat(x, {2, 1, 3}));
  const auto pieces = x.chunk(3, -1), free_pieces = chunk(x, 3, -1);
  REQUIRE(pieces.size() == free_pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) check_same_bits(pieces[i], free_pieces[i]);
  check_same_bits(x.cumsum(1), cumsum(x, 1));
  check_same_bits(x.cumsum(0), cumsum(x, 0));
  check_same_bits(x.lerp(other, 0.25), lerp(x, other, 0.25));
  check_same_bits(x.lerp(other, 0.75), lerp(x, other, 0.75));
  const Tensor weight = sigmoid(other);
  check_same_bits(x.lerp(other, weight), lerp(x, other, weight));

  // a method's gradient is the free function's (it is that function)
  Tensor a = x.detach().clone().set_requires_grad(true), b = x.detach().clone().set_requires_grad(true);
  a.var(-1).sum().backward();
  sum(var(b, {-1})).backward();
  check_same_bits(a.grad(), b.grad());
}

TEST_CASE("clamp with tensor bounds: values and gradients as torch", "[parity][methods][composite]") {
  // x, lo, hi = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in the rows below)
  // y = torch.clamp(x, lo, hi); y.sum().backward()
  const std::vector<double> xs{-2, 0.5, 1, kNaN, 3, 0, 5, -3, kNaN}, los{0, 0, 1, 0, 0, 2, kNaN, -1, 2},
      his{1, 1, 1, 1, 2, 1, 1, -1, 1};
  Tensor x = vec(xs).set_requires_grad(true), lo = vec(los).set_requires_grad(true),
         hi = vec(his).set_requires_grad(true);
  Tensor y = x.clamp(lo, hi);
  check_values(y, {0, 0.5, 1, kNaN, 2, 1, kNaN, -1, kNaN});
  y.sum().backward();
  // x: g unless x < min or x > max (NaN included); min where x < min <= max; max where x > max >=
  // min or max < min (even where x is NaN); nobody at x < min == max but min
  check_values(x.grad(), {0, 1, 1, 1, 0, 0, 0, 0, 1});
  check_values(lo.grad(), {1, 0, 0, 0, 0, 0, 0, 1, 0});
  check_values(hi.grad(), {0, 0, 0, 0, 1, 1, 0, 0, 1});

  // ties share g, also infinite ones; x == min == max gives x all of it:
  // torch.clamp(tensor([-inf, 0, 1, 1, inf]), tensor([-inf, 0, 0, 1, 0]), tensor([1, 1, 1, 1, inf]))
  x = vec({-inf, 0, 1, 1, inf}).set_requires_grad(true);
  lo = vec({-inf, 0, 0, 1, 0}).set_requires_grad(true);
  hi = vec({1, 1, 1, 1, inf}).set_requires_grad(true);
  y = clamp(x, lo, hi);
  check_values(y, {-inf, 0, 1, 1, inf});
  y.sum().backward();
  check_values(x.grad(), {0.5, 0.5, 0.5, 1, 0.5});
  check_values(lo.grad(), {0.5, 0.5, 0, 0, 0});
  check_values(hi.grad(), {0, 0, 0.5, 0, 0.5});
  // a tie to -0.0 keeps x's -0.0 (torch.clamp(tensor([-0.]), tensor([-0.]), tensor([1.])))
  CHECK(std::signbit(values_of(clamp(vec({-0.0}), vec({-0.0}), vec({1.0})))[0]));

  // one bound: maximum / minimum, a tie shares g and a NaN gives both g:
  // y = torch.clamp(x, min=lo) (and max=lo) with the first rows above
  x = vec(xs).set_requires_grad(true);
  lo = vec(los).set_requires_grad(true);
  y = x.clamp_min(lo);
  check_values(y, {0, 0.5, 1, kNaN, 3, 2, kNaN, -1, kNaN});
  y.sum().backward();
  check_values(x.grad(), {0, 1, 0.5, 1, 1, 0, 1, 0, 1});
  check_values(lo.grad(), {1, 0, 0.5, 1, 0, 1, 1, 1, 1});
  x = vec(xs).set_requires_grad(true);
  lo = vec(los).set_requires_grad(true);
  y = x.clamp_max(lo);
  check_values(y, {-2, 0, 1, kNaN, 0, 0, kNaN, -3, kNaN});
  y.sum().backward();
  check_values(x.grad(), {1, 0, 0.5, 1, 0, 1, 1, 1, 1});
  check_values(lo.grad(), {0, 1, 0.5, 1, 1, 0, 1, 0, 1});

  // broadcasting; the bounds' gradients summed over the broadcast dims:
  // x = [[-1, .5, 2], [.2, 3, -4]], lo = [0, 0, -1], hi = [[1], [.1]]
  // y = x.clamp(lo, hi); (y * torch.arange(1., 7.).reshape(2, 3)).sum().backward()
  x = vec({-1, 0.5, 2, 0.2, 3, -4}, {2, 3}).set_requires_grad(true);
  lo = vec({0, 0, -1}).set_requires_grad(true);
  hi = vec({1, 0.1}, {2, 1}).set_requires_grad(true);
  y = x.clamp(lo, hi);
  REQUIRE(y.shape() == Shape{2, 3});
  check_values(y, {0, 0.5, 1, 0.1, 0.1, -1});
  sum(y * Tensor::arange(1.0, 7.0, 1.0, f64).reshape({2, 3})).backward();
  check_values(x.grad(), {0, 2, 0, 0, 0, 0});
  check_values(lo.grad(), {1, 0, 6});
  check_values(hi.grad(), {3, 9});

  // dtypes: a 0-d bound ranks below dimensioned tensors.
  // xx = torch.tensor([0., .5, 1.], requires_grad=True); lo0 = torch.tensor(.25, dtype=torch.float64,
  // requires_grad=True); y = xx.clamp_min(lo0): float32 [.25, .5, 1]; y.sum().backward(): lo0.grad 1
  Tensor xx = Tensor::from_vector<float>({0.0f, 0.5f, 1.0f}).set_requires_grad(true);
  Tensor lo0 = Tensor::scalar(0.25, f64).set_requires_grad(true);
  y = xx.clamp_min(lo0);
  CHECK(y.dtype() == kFloat32);
  check_values(y, {0.25, 0.5, 1});
  y.sum().backward();
  check_values(lo0.grad(), {1});
  check_values(xx.grad(), {0, 1, 1});
  // torch.clamp(torch.tensor([1., 5, 9]), torch.tensor(2.5, dtype=torch.float64), torch.tensor([3, 4, 8])):
  // float32; torch.clamp(torch.tensor([1, 5, 9]), torch.tensor(2.5), torch.tensor([3, 4, 8])): float32
  // [2.5, 4, 8]; with torch.tensor([2, 2, 2]) as min: int64 [2, 4, 8]
  const Tensor ints = Tensor::from_vector<std::int64_t>({1, 5, 9}), int_hi = Tensor::from_vector<std::int64_t>({3, 4, 8});
  CHECK(clamp(Tensor::from_vector<float>({1, 5, 9}), Tensor::scalar(2.5, f64), int_hi).dtype() == kFloat32);
  const Tensor mixed = clamp(ints, Tensor::scalar(2.5), int_hi);
  CHECK(mixed.dtype() == kFloat32);
  check_values(mixed, {2.5, 4, 8});
  const Tensor all_int = clamp(ints, Tensor::from_vector<std::int64_t>({2, 2, 2}), int_hi);
  CHECK(all_int.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 4, 8});
  // h.clamp(torch.tensor([-1., .5, 0.], dtype=torch.bfloat16), torch.tensor(1.)): bfloat16
  const TensorOptions bf16 = TensorOptions().dtype(kBFloat16);
  const Tensor h = Tensor::from_vector<float>({-3.0f, 0.3f, 9.0f}, bf16);
  const Tensor hc = h.clamp(Tensor::from_vector<float>({-1.0f, 0.5f, 0.0f}, bf16), Tensor::scalar(1.0));
  CHECK(hc.dtype() == kBFloat16);
  check_values(hc, {-1, 0.5, 1});

  // errors: no bound (torch: "At least one of 'min' or 'max' must not be None"), shapes that do
  // not broadcast (torch: "The size of tensor a (3) must match the size of tensor b (2)")
  CHECK_THROWS_AS(clamp(vec({1, 2, 3}), Tensor(), Tensor()), ValueError);
  CHECK_THROWS_AS(vec({1, 2, 3}).clamp(vec({0, 1})), ShapeError);
  CHECK_THROWS_AS(vec({1, 2, 3}).clamp(vec({0, 0, 0}), vec({1, 1})), ShapeError);
}
