#pragma once
// torch's random sampling beyond rand/randn/uniform/normal (core/tensor.hpp): randint,
// randint_like, randperm, bernoulli, multinomial, normal with tensor mean/std, rand_like and
// randn_like. All are composed from uniform/normal draws (Backend::random) and existing ops, on
// the operands' device, and take a Generator like the factories.
//
// Values differ from torch's for the same seed: tinyxf's Generator is a counter-based
// (seed, offset) stream (core/generator.hpp), not torch's mt19937/Philox, so only the
// distributions match. A fixed seed gives the same values on every call and every backend.
// None of these records a gradient (torch's normal(mean, std) gradient is zero as well).
#include <cstdint>
#include <limits>

#include "tinyxf/ops/sort.hpp"

namespace tinyxf {

namespace ops_detail {

// torch's "from/to - 1 is out of bounds" check for an integral result dtype; floating results
// take any int64 value (rounded, as torch's).
inline void check_random_bound(const char* op, const char* what, std::int64_t value, DType dtype) {
  std::int64_t lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
  if (dtype == kInt32) lo = std::numeric_limits<std::int32_t>::min(), hi = std::numeric_limits<std::int32_t>::max();
  if (dtype == kUInt8) lo = 0, hi = 255;
  if (dtype == kBool) lo = 0, hi = 1;
  TINYXF_CHECK_AS(ValueError, value >= lo && value <= hi, op, ": ", what, " = ", value, " is out of bounds for ",
                  dtype_name(dtype), " (allowed: [", lo, ", ", hi, "])");
}

inline Tensor int64_scalar(std::int64_t v, Device device) {
  return Tensor::from_vector<std::int64_t>({v}, {}, TensorOptions(device).dtype(kInt64));
}

// Uniform int64 in [0, range), range >= 1. Up to 2^53 it is floor(range * u) of one float64
// uniform u (53 random bits: exact, bias below range / 2^53); beyond, a 63-bit integer made of
// two uniforms' top 32 and 31 bits, modulo range (as torch's 64-bit `random % range` for ranges
// of 2^32 and more; it favours low values by up to range / 2^63).
inline Tensor random_offsets(std::uint64_t range, const Shape& size, Device device, Generator& gen) {
  const TensorOptions f64 = TensorOptions(device).dtype(kFloat64);
  if (range <= (std::uint64_t{1} << 53))
    return floor(Tensor::uniform(size, 0.0, static_cast<double>(range), f64, gen)).to(kInt64);
  const Tensor high_bits = floor(Tensor::uniform(size, 0.0, 0x1.0p32, f64, gen)).to(kInt64);
  const Tensor low_bits = floor(Tensor::uniform(size, 0.0, 0x1.0p31, f64, gen)).to(kInt64);
  const Tensor bits63 = add(mul(high_bits, int64_scalar(std::int64_t{1} << 31, device)), low_bits);
  if (range == (std::uint64_t{1} << 63)) return bits63;  // (2^63 does not fit an int64 divisor)
  return remainder(bits63, int64_scalar(static_cast<std::int64_t>(range), device));
}

}  // namespace ops_detail

// torch.randint(low, high, size): integers uniform in [low, high), int64 unless `options` names a
// dtype. high - low may be up to 2^63 (torch: 2^64 - 1); see ops_detail::random_offsets.
inline Tensor randint(std::int64_t low, std::int64_t high, const Shape& size, const TensorOptions& options = {},
                      Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, low < high, "random_ expects 'from' to be less than 'to', but got from=", low,
                  " >= to=", high);
  const DType dtype = options.has_dtype() ? options.dtype() : kInt64;
  ops_detail::check_random_bound("randint", "from", low, dtype);
  ops_detail::check_random_bound("randint", "to - 1", high - 1, dtype);
  const std::uint64_t range = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  TINYXF_CHECK_AS(ValueError, range <= (std::uint64_t{1} << 63),
                  "randint: the range to - from = ", range, " (from=", low, ", to=", high,
                  ") exceeds 2^63, the largest tinyxf draws");
  const Device device = options.device();
  Tensor out = add(ops_detail::random_offsets(range, size, device, gen), ops_detail::int64_scalar(low, device));
  if (dtype != kInt64) out = out.to(dtype);
  return options.requires_grad() ? out.set_requires_grad(true) : out;
}
// torch.randint(high, size): integers uniform in [0, high).
inline Tensor randint(std::int64_t high, const Shape& size, const TensorOptions& options = {},
                      Generator& gen = default_generator()) {
  return randint(0, high, size, options, gen);
}
// torch.randint_like: x's shape, dtype and device.
inline Tensor randint_like(const Tensor& x, std::int64_t low, std::int64_t high, Generator& gen = default_generator()) {
  return randint(low, high, x.shape(), x.options(), gen);
}
inline Tensor randint_like(const Tensor& x, std::int64_t high, Generator& gen = default_generator()) {
  return randint(0, high, x.shape(), x.options(), gen);
}

// torch.rand_like / torch.randn_like: x's shape, dtype (floating) and device.
inline Tensor rand_like(const Tensor& x, Generator& gen = default_generator()) {
  return Tensor::rand(x.shape(), x.options(), gen);
}
inline Tensor randn_like(const Tensor& x, Generator& gen = default_generator()) {
  return Tensor::randn(x.shape(), x.options(), gen);
}

// torch.randperm(n): a random permutation of 0 .. n-1, int64 unless `options` names a dtype; the
// order that sorts n float64 uniforms.
inline Tensor randperm(std::int64_t n, const TensorOptions& options = {}, Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, n >= 0, "randperm: n must be >= 0, got n=", n,
                  " (torch: Trying to create tensor with negative dimension ", n, ": [", n, "])");
  const DType dtype = options.has_dtype() ? options.dtype() : kInt64;
  if (n > 0) ops_detail::check_random_bound("randperm", "n - 1", n - 1, dtype);
  Tensor out = argsort(Tensor::rand({n}, TensorOptions(options.device()).dtype(kFloat64), gen));
  return dtype == kInt64 ? out : out.to(dtype);
}

// torch.bernoulli(p): 1 with probability p[i], else 0, in p's (floating) dtype. Every p must be in
// [0, 1]. The uniforms are float64, below 1, so p = 1 always gives 1 and p = 0 never does.
inline Tensor bernoulli(const Tensor& p, Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(DTypeError, p.is_floating_point(), "bernoulli: \"bernoulli_tensor_cpu_p_\" not implemented for ",
                  dtype_name(p.dtype()), " (p must be a floating point tensor)");
  NoGradGuard no_grad;
  const Tensor outside = add(add(sum(lt(p, 0.0)), sum(gt(p, 1.0))), sum(isnan(p)));
  TINYXF_CHECK_AS(ValueError, outside.item<std::int64_t>() == 0, "bernoulli: Expected p_in >= 0 && p_in <= 1 to be "
                  "true, but got false (", outside.item<std::int64_t>(), " probabilities of ", shape_str(p.shape()),
                  " outside [0, 1])");
  return lt(Tensor::rand(p.shape(), TensorOptions(p.device()).dtype(kFloat64), gen), p).to(p.dtype());
}
// torch.bernoulli(x, p): x's shape and dtype, each element 1 with probability p.
inline Tensor bernoulli(const Tensor& x, double p, Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, p >= 0 && p <= 1, "bernoulli_ expects p to be in [0, 1], but got p=", p);
  NoGradGuard no_grad;
  return lt(Tensor::rand(x.shape(), TensorOptions(x.device()).dtype(kFloat64), gen), p).to(x.dtype());
}

// torch.multinomial(probs, num_samples, replacement): int64 category indices drawn from each row
// of probs (1-D: one distribution; 2-D: one per row) with weights proportional to probs, shape
// [num_samples] or [rows, num_samples]. A category of weight 0 is drawn only without replacement
// once the positive ones are used up (as torch).
//
// Both draw by torch's exponential race: the argmax of w / E over categories, with E ~
// Exponential(1) independent per category, falls on category i with probability w_i / sum(w).
// Without replacement the top num_samples of one race are the draws in order (torch's CPU
// method); with replacement every sample runs its own race, so that costs num_samples x
// categories draws (torch: a binary search of the CDF per sample).
inline Tensor multinomial(const Tensor& probs, std::int64_t num_samples, bool replacement = false,
                          Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ShapeError, probs.dim() == 1 || probs.dim() == 2, "multinomial: prob_dist must be 1 or 2 dim, got ",
                  shape_str(probs.shape()));
  TINYXF_CHECK_AS(DTypeError, probs.is_floating_point(),
                  "multinomial only supports floating-point dtypes for input, got: ", dtype_name(probs.dtype()));
  TINYXF_CHECK_AS(ValueError, num_samples > 0, "multinomial: cannot sample n_sample <= 0 samples (num_samples=",
                  num_samples, ")");
  const std::int64_t categories = probs.size(-1);
  TINYXF_CHECK_AS(ValueError, replacement || num_samples <= categories,
                  "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement (num_samples=",
                  num_samples, ", prob_dist.size(-1)=", categories, ")");
  NoGradGuard no_grad;
  const Tensor weights = probs.detach().to(kFloat64).reshape({-1, categories});
  const std::int64_t rows = weights.size(0);
  if (rows == 0) return Tensor::empty({0, num_samples}, TensorOptions(probs.device()).dtype(kInt64));
  const Tensor bad = add(sum(lt(weights, 0.0)), sum(logical_not(isfinite(weights))));
  TINYXF_CHECK_AS(ValueError, bad.item<std::int64_t>() == 0,
                  "multinomial: probability tensor contains either `inf`, `nan` or element < 0");
  TINYXF_CHECK_AS(ValueError, categories > 0 && min(sum(weights, {-1})).item() > 0,
                  "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
  // Exponential(1) as -log(1 - u), u in [0, 1): finite, and 0 only where u = 0, where a positive
  // weight's score is inf; a zero weight scores 0 whatever E (no 0 / 0).
  const auto race = [&](const Tensor& w, const Shape& shape) {
    const Tensor e = neg(log1p(neg(Tensor::rand(shape, weights.options(), gen))));
    return where(gt(w, 0.0), div(w, e), Tensor::zeros({}, weights.options()));
  };
  Tensor out = replacement ? argmax(race(weights.unsqueeze(1), {rows, num_samples, categories}), -1)
                           : topk(race(weights, {rows, categories}), num_samples, -1).indices;
  return probs.dim() == 1 ? out.reshape({num_samples}) : out;
}

// torch.normal(mean, std): one normal draw per element of the broadcast of mean and std (std >= 0).
inline Tensor normal(const Tensor& mean, const Tensor& std, Generator& gen = default_generator()) {
  ops_detail::check_same_device("normal", mean, std);
  NoGradGuard no_grad;
  TINYXF_CHECK_AS(ValueError, sum(lt(std.detach(), 0.0)).item<std::int64_t>() == 0,
                  "normal expects all elements of std >= 0.0");
  const DType dtype = promote_types(mean.dtype(), std.dtype());
  const Shape shape = broadcast_shapes(mean.shape(), std.shape(), "normal");
  return add(mean.detach(), mul(std.detach(), Tensor::randn(shape, TensorOptions(mean.device()).dtype(dtype), gen)));
}
inline Tensor normal(const Tensor& mean, double std, Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, std >= 0, "normal expects std >= 0.0, but found std ", std);
  NoGradGuard no_grad;
  return add(mean.detach(), Tensor::randn(mean.shape(), mean.options(), gen).mul(std));
}
inline Tensor normal(double mean, const Tensor& std, Generator& gen = default_generator()) {
  NoGradGuard no_grad;
  TINYXF_CHECK_AS(ValueError, sum(lt(std.detach(), 0.0)).item<std::int64_t>() == 0,
                  "normal expects all elements of std >= 0.0");
  return add(mul(std.detach(), Tensor::randn(std.shape(), std.options(), gen)), mean);
}
// torch.normal(mean, std, size).
inline Tensor normal(double mean, double std, const Shape& size, const TensorOptions& options = {},
                     Generator& gen = default_generator()) {
  TINYXF_CHECK_AS(ValueError, std >= 0, "normal expects std >= 0.0, but found std ", std);
  return Tensor::normal(size, mean, std, options, gen);
}

}  // namespace tinyxf
