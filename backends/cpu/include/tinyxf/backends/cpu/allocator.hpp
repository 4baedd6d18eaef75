#pragma once
// The cpu backend's allocator for large blocks. A training step frees and re-allocates tensors of
// the same sizes every step; through malloc, glibc keeps some freed chunks in its heap (0.3-0.5 GB
// of a 1.2 GB working set was heap retention) and returns others to the OS, which then faults
// them in again, zeroed, on the next allocation (20 % of the flagship's CPU time was kernel time).
// So blocks of at least kMinCachedBytes are mapped from the OS directly (huge pages where the
// kernel offers them) and kept on free lists keyed by a size class (sizes rounded up to
// 1/8-power-of-two steps, at most 12.5 % slack), reused best-fit: a request takes the smallest
// cached block of its class or larger, up to twice its size, so batches of varying length reuse
// the blocks of longer batches.
//
// How much is kept is bounded by the process's own demand: mapped memory (live + cached) stays
// within the high-water mark of live memory plus kSlackBytes. A request that no cached block fits
// first unmaps the least recently freed blocks until the new mapping fits that bound, so the
// resident set never grows beyond what the program once needed at the same time.
// That bound can be too tight for a loop whose phases need blocks of sizes that cannot stand in
// for each other (an inference layer: 96 MiB FFN blocks, then 24 MiB ones, freed in turn): each
// phase would unmap the other's blocks and map its own again, every layer. So the sizes of
// recently unmapped blocks are remembered, and mapping one of them again (a block evicted that
// was needed after all) widens the bound by that size, up to the high-water mark (at most twice
// the peak of live memory is ever mapped). Only blocks of at least 1/8 of the high-water mark
// count (re-mapping those costs page faults over much of the working set; widening for small
// ones grew a training run's resident set by a quarter for nothing measurable), and only
// evictions under the current mark (while the mark still grows, the bound was tighter).
// TINYXF_CPU_CACHE_MB, when set, caps the cache further (megabytes; 0 disables it).
// Small blocks go straight to host::allocate_aligned (malloc is fast and compact there).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/backends/host_memory.hpp"
#include "tinyxf/core/error.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

class CachingHostAllocator {
 public:
  static constexpr std::size_t kMinCachedBytes = 256 * 1024;
  static constexpr std::size_t kSlackBytes = 32u << 20;
  static constexpr std::size_t kHugePage = 2u << 20;
  static constexpr std::size_t kRememberedEvictions = 32;

  // The process's allocator: no cap on the cache beyond the high-water bound unless
  // TINYXF_CPU_CACHE_MB sets one.
  static CachingHostAllocator& instance() {
    static CachingHostAllocator allocator(capacity_from_env());
    return allocator;
  }

  // Its own cache (tests): at most `capacity` cached bytes, `slack` above the high-water mark.
  explicit CachingHostAllocator(std::size_t capacity = std::numeric_limits<std::size_t>::max(),
                                std::size_t slack = kSlackBytes)
      : state_(std::make_shared<State>()) {  // shared: blocks alive at exit keep it for their deleters
    state_->capacity = capacity;
    state_->slack = slack;
  }

  std::shared_ptr<void> allocate(std::size_t bytes) {
    if (bytes < kMinCachedBytes) return host::allocate_aligned(bytes);
    std::size_t size = size_class(bytes);
    void* p = nullptr;
    std::vector<Block> evicted;
    {
      std::lock_guard lock(state_->mutex);
      p = state_->take_cached(size);
      if (!p) {
        state_->widen_if_evicted_before(size);
        state_->evict_for(size, evicted);
        state_->live += size;
      }
    }
    unmap_all(evicted);
    if (!p) {
      p = map_block(size);
      if (!p) {  // out of memory: give every cached block back and try once more
        release_cached();
        p = map_block(size);
      }
      if (!p) {
        std::lock_guard lock(state_->mutex);
        state_->live -= size;
        throw OutOfMemoryError(::tinyxf::detail::concat("cpu allocator: out of memory allocating ", bytes, " bytes"),
                               bytes, "cpu");
      }
      std::lock_guard lock(state_->mutex);
      ++state_->maps;
      state_->raise_high_water();
    }
    std::shared_ptr<State> state = state_;
    return std::shared_ptr<void>(p, [state, size](void* q) { State::give_back(*state, q, size); });
  }

  // Unmaps every cached block (like torch.cuda.empty_cache()).
  void release_cached() {
    std::vector<Block> blocks;
    {
      std::lock_guard lock(state_->mutex);
      for (const Block& b : state_->lru) blocks.push_back(b);
      state_->lru.clear();
      state_->free_blocks.clear();
      state_->cached = 0;
    }
    unmap_all(blocks);
  }

  std::size_t cached_bytes() const { return stats().cached; }

  struct Stats {
    std::size_t cached = 0;      // bytes on the free lists
    std::size_t live = 0;        // bytes of large blocks handed out and not yet freed
    std::size_t high_water = 0;  // the most live bytes there ever were at once
    std::size_t maps = 0;        // blocks mapped from the OS (a steady training loop stops adding)
    std::size_t bound = 0;       // what live + cached may reach before cached blocks are unmapped
  };
  Stats stats() const {
    std::lock_guard lock(state_->mutex);
    return {state_->cached, state_->live, state_->high_water, state_->maps, state_->bound()};
  }
  std::size_t capacity_bytes() const { return state_->capacity; }

  // Rounds up to a multiple of 1/8 of the highest power of two not above `bytes`, and of the
  // page size (blocks are whole mappings).
  static std::size_t size_class(std::size_t bytes) {
    std::size_t top = 1;
    while (top <= bytes / 2) top *= 2;
    const std::size_t step = std::max<std::size_t>(top / 8, 4096);
    return (bytes + step - 1) / step * step;
  }

 private:
  struct Block {
    void* p;
    std::size_t size;
  };
  using LruList = std::list<Block>;  // least recently freed first

  struct State {
    mutable std::mutex mutex;
    LruList lru;
    std::map<std::size_t, std::vector<LruList::iterator>> free_blocks;  // by size class
    std::size_t cached = 0;
    std::size_t live = 0;
    std::size_t high_water = 0;
    std::size_t maps = 0;
    std::size_t capacity = 0;
    std::size_t slack = 0;
    std::size_t widened = 0;              // added to the bound by re-mapped evicted sizes
    std::deque<std::size_t> evicted_sizes;  // the last kRememberedEvictions, newest last

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      for (const Block& b : lru) ::munmap(b.p, b.size);
    }

    // The smallest cached block of `size` or larger, up to twice `size`; its size in `size`.
    void* take_cached(std::size_t& size) {
      auto it = free_blocks.lower_bound(size);  // lists are erased when they empty
      if (it == free_blocks.end() || it->first > 2 * size) return nullptr;
      size = it->first;
      const LruList::iterator node = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) free_blocks.erase(it);
      void* p = node->p;
      lru.erase(node);
      cached -= size;
      live += size;
      raise_high_water();
      return p;
    }

    void raise_high_water() {
      if (live <= high_water) return;
      high_water = live;
      evicted_sizes.clear();  // evicted under a tighter bound: no evidence against this one
    }

    std::size_t bound() const { return high_water + slack + widened; }

    // A request no cached block fits: if a block that would have fitted it (size to 2·size, at
    // least 1/8 of the high-water mark) was unmapped recently, the bound was too tight for this
    // program's cycle — widen it by that block, up to the high-water mark.
    void widen_if_evicted_before(std::size_t size) {
      const auto it = std::find_if(evicted_sizes.rbegin(), evicted_sizes.rend(), [&](std::size_t s) {
        return s >= size && s <= 2 * size && s >= high_water / 8;
      });
      if (it == evicted_sizes.rend()) return;
      widened = std::min(widened + *it, high_water);
      evicted_sizes.erase(std::next(it).base());
    }

    // Drops the least recently freed blocks until mapping `size` more keeps live + cached within
    // bound() (growing live memory itself is never refused).
    void evict_for(std::size_t size, std::vector<Block>& out) {
      while (!lru.empty() && live + cached + size > bound()) {
        const Block b = lru.front();
        auto list = free_blocks.find(b.size);
        auto& nodes = list->second;
        nodes.erase(std::find(nodes.begin(), nodes.end(), lru.begin()));
        if (nodes.empty()) free_blocks.erase(list);
        lru.pop_front();
        cached -= b.size;
        out.push_back(b);
        evicted_sizes.push_back(b.size);
        if (evicted_sizes.size() > kRememberedEvictions) evicted_sizes.pop_front();
      }
    }

    static void give_back(State& s, void* p, std::size_t size) {
      {
        std::lock_guard lock(s.mutex);
        s.live -= size;
        if (s.cached + size <= s.capacity) {
          s.free_blocks[size].push_back(s.lru.insert(s.lru.end(), Block{p, size}));
          s.cached += size;
          return;
        }
      }
      ::munmap(p, size);
    }
  };

  static void* map_block(std::size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    // One fault per 2 MiB instead of per 4 KiB where transparent huge pages are on "madvise".
    if (size >= kHugePage) ::madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
  }

  static void unmap_all(const std::vector<Block>& blocks) {
    for (const Block& b : blocks) ::munmap(b.p, b.size);
  }

  static std::size_t capacity_from_env() {
    if (const char* env = std::getenv("TINYXF_CPU_CACHE_MB")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0) return static_cast<std::size_t>(v) << 20;
    }
    return std::numeric_limits<std::size_t>::max();
  }

  std::shared_ptr<State> state_;
};

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
