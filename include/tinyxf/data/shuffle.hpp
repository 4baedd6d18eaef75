#pragma once
// Seeded shuffling that gives the same order on every platform and standard library.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::data {

// SplitMix64 (Steele, Lea & Flood 2014; Vigna's reference splitmix64.c): a 64-bit counter
// scrambled by a fixed mix, so its output depends on nothing but the seed. The standard
// library's engines are portable too, but its distributions and std::shuffle are not.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound > 0: draws r until r >= 2^64 mod bound, returns r mod bound
  // (rejecting the lowest 2^64 mod bound values leaves a multiple of bound, so no bias).
  std::uint64_t below(std::uint64_t bound) {
    TINYXF_CHECK_AS(ValueError, bound > 0, "SplitMix64::below: bound must be positive");
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      const std::uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  std::uint64_t state_;
};

// A permutation of 0..n-1: Fisher-Yates from the back, swapping i = n-1 ... 1 with
// j = SplitMix64(seed).below(i + 1).
inline std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  SplitMix64 rng(seed);
  for (std::size_t i = n; i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.below(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

}  // namespace tinyxf::data
