#pragma once
// Seedable random streams. A Generator is (seed, offset): each draw of n numbers takes the
// counter range [offset, offset + n) and advances offset, so results are reproducible and
// identical on every backend (see kmath::random_bits).
#include <cstdint>
#include <mutex>
#include <utility>

namespace tinyxf {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0x5EED) : seed_(seed) {}
  void manual_seed(std::uint64_t seed) {
    std::lock_guard lock(mutex_);
    seed_ = seed;
    offset_ = 0;
  }
  // Reserves n counters; returns {seed, first counter}.
  std::pair<std::uint64_t, std::uint64_t> reserve(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    const auto first = offset_;
    offset_ += n;
    return {seed_, first};
  }
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  // Full state, for checkpoints.
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    std::lock_guard lock(mutex_);
    seed_ = seed;
    offset_ = offset;
  }

 private:
  std::mutex mutex_;
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

// The default generator and manual_seed() belong to the Runtime (core/runtime.hpp).

}  // namespace tinyxf
