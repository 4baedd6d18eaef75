#pragma once
// A bounded, thread-safe cache of large host blocks for the cpu backend. Tensors of a training
// step are freed and re-allocated with the same sizes every step; for large blocks glibc may
// return the pages to the OS and fault them in again (zeroed) on the next allocation. Blocks of
// at least kMinCachedBytes are kept on free lists keyed by a size class (sizes rounded up to
// 1/8-power-of-two steps, at most 12.5% slack) and reused best-fit: a request takes the smallest
// cached block of its class or larger, up to twice its size — batches of varying length
// (length-grouped training, sorted evaluation) then reuse the blocks of longer batches instead of
// filling the cache with classes nobody asks for again. The cache holds at most
// TINYXF_CPU_CACHE_MB megabytes (default 512), beyond which freed blocks go back to malloc.
// Small blocks go straight to host::allocate_aligned (malloc is already fast there).
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "tinyxf/backends/host_memory.hpp"
#include "tinyxf/core/error.hpp"

namespace tinyxf::backends::cpu {

class CachingHostAllocator {
 public:
  static constexpr std::size_t kMinCachedBytes = 256 * 1024;

  static CachingHostAllocator& instance() {
    // Shared ownership: blocks still alive at exit keep the cache alive for their deleters.
    static std::shared_ptr<State> state = make_state();
    static CachingHostAllocator allocator(state);
    return allocator;
  }

  std::shared_ptr<void> allocate(std::size_t bytes) {
    if (bytes < kMinCachedBytes) return host::allocate_aligned(bytes);
    std::size_t size = size_class(bytes);
    void* p = nullptr;
    {
      std::lock_guard lock(state_->mutex);
      // Lists are erased when they empty, so the first class >= size holds a block.
      auto it = state_->free_blocks.lower_bound(size);
      if (it != state_->free_blocks.end() && it->first <= 2 * size) {
        size = it->first;
        p = it->second.back();
        it->second.pop_back();
        if (it->second.empty()) state_->free_blocks.erase(it);
        state_->cached_bytes -= size;
      }
    }
    if (!p) p = std::aligned_alloc(64, size);
    if (!p) {  // out of memory: give the cached blocks back and try once more
      release_cached();
      p = std::aligned_alloc(64, size);
    }
    if (!p)
      throw OutOfMemoryError(::tinyxf::detail::concat("cpu allocator: out of memory allocating ", bytes, " bytes"),
                             bytes, "cpu");
    std::shared_ptr<State> state = state_;
    return std::shared_ptr<void>(p, [state, size](void* q) { State::give_back(*state, q, size); });
  }

  // Frees every cached block (like torch.cuda.empty_cache()).
  void release_cached() {
    std::map<std::size_t, std::vector<void*>> blocks;
    {
      std::lock_guard lock(state_->mutex);
      blocks.swap(state_->free_blocks);
      state_->cached_bytes = 0;
    }
    for (auto& [size, list] : blocks)
      for (void* p : list) std::free(p);
  }

  std::size_t cached_bytes() const {
    std::lock_guard lock(state_->mutex);
    return state_->cached_bytes;
  }
  std::size_t capacity_bytes() const { return state_->capacity; }

  // Rounds up to a multiple of 1/8 of the highest power of two not above `bytes` (and of 64).
  static std::size_t size_class(std::size_t bytes) {
    std::size_t top = 1;
    while (top <= bytes / 2) top *= 2;
    const std::size_t step = std::max<std::size_t>(top / 8, 64);
    return (bytes + step - 1) / step * step;
  }

 private:
  struct State {
    mutable std::mutex mutex;
    std::map<std::size_t, std::vector<void*>> free_blocks;
    std::size_t cached_bytes = 0;
    std::size_t capacity = 0;

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      for (auto& [size, list] : free_blocks)
        for (void* p : list) std::free(p);
    }

    static void give_back(State& s, void* p, std::size_t size) {
      {
        std::lock_guard lock(s.mutex);
        if (s.cached_bytes + size <= s.capacity) {
          s.free_blocks[size].push_back(p);
          s.cached_bytes += size;
          return;
        }
      }
      std::free(p);
    }
  };

  static std::shared_ptr<State> make_state() {
    auto s = std::make_shared<State>();
    std::size_t mb = 512;
    if (const char* env = std::getenv("TINYXF_CPU_CACHE_MB")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0) mb = static_cast<std::size_t>(v);
    }
    s->capacity = mb * 1024 * 1024;
    return s;
  }

  explicit CachingHostAllocator(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace tinyxf::backends::cpu
