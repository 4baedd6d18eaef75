#pragma once
// parallel_for for the CPU kernels, on the Runtime's thread pool (core/thread_pool.hpp).
//
//   tinyxf::parallel_for(begin, end, grain, [&](std::int64_t b, std::int64_t e) { ... });
//
// splits [begin, end) into chunks of at least `grain` indices and runs them on num_threads()
// threads (the caller is one of them). It runs inline when the range is at most `grain`, when
// only one thread is configured, when called from inside a parallel region (no nested
// oversubscription), or when another thread of the program is already running a region. The
// first exception thrown by a chunk is re-thrown in the caller once every chunk has finished.
//
// Thread count: TINYXF_NUM_THREADS from the environment, else std::thread::hardware_concurrency();
// tinyxf::set_num_threads(n) changes it at run time (core/runtime.hpp).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "tinyxf/core/runtime.hpp"
#include "tinyxf/core/thread_pool.hpp"

namespace tinyxf {

inline bool in_parallel_region() { return detail::in_parallel_region_flag(); }

template <class Fn>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, Fn&& fn) {
  if (end <= begin) return;
  const std::int64_t n = end - begin;
  grain = std::max<std::int64_t>(grain, 1);
  const int threads = num_threads();
  if (n <= grain || threads <= 1 || in_parallel_region()) {
    fn(begin, end);
    return;
  }
  // A few chunks per thread balance the load when a core is busy with someone else's work.
  const std::int64_t max_chunks = std::min<std::int64_t>(std::int64_t{4} * threads, 0xFFFFFFFF);
  const std::int64_t chunks = std::min((n + grain - 1) / grain, max_chunks);
  using F = std::remove_reference_t<Fn>;
  auto trampoline = [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); };
  void* ctx = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
  if (!runtime().thread_pool().try_run(begin, end, chunks, threads, trampoline, ctx))
    fn(begin, end);
}

}  // namespace tinyxf
