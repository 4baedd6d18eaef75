#pragma once
// The persistent thread pool behind parallel_for (core/parallel.hpp). The process has one, owned
// by the Runtime (core/runtime.hpp); kernels reach it through parallel_for only.
//
// Design: chunks are claimed with a compare-and-swap on one word holding (job generation,
// next chunk). A new job first closes that word, then writes its fields, then opens it, so a
// worker that wakes late can never run a chunk of a finished or half-written job; the caller
// claims chunks too and waits only for chunks actually claimed by workers, never for a worker
// still asleep (on a shared machine a descheduled worker must not stall every kernel).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf {

// The most threads a pool may have (TINYXF_NUM_THREADS obeys the same bound): each one is a
// real thread, so a typo like 100000 must be an error, not an attempt to start them all.
inline constexpr int kMaxThreads = 1024;

namespace detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

inline int default_num_threads() {
  if (const char* env = std::getenv("TINYXF_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= kMaxThreads) return static_cast<int>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// True on pool workers always, and on a caller while it runs a region.
inline bool& in_parallel_region_flag() {
  thread_local bool flag = false;
  return flag;
}

}  // namespace detail

class Runtime;

namespace detail {

class ThreadPool {
 public:
  // Runs fn(ctx, b, e) over `chunks` equal pieces of [begin, end) on up to `threads` threads.
  // Returns false (and runs nothing) when another region is active; the caller then runs inline.
  bool try_run(std::int64_t begin, std::int64_t end, std::int64_t chunks, int threads,
               void (*fn)(void*, std::int64_t, std::int64_t), void* ctx) {
    std::unique_lock region(region_mutex_, std::try_to_lock);
    if (!region.owns_lock()) return false;
    ensure_workers(threads - 1);

    const std::uint64_t gen = ++generation_counter_;  // 32 bits; wrapping is harmless
    // Close claiming before touching any job field: a worker still holding the previous job's
    // claim word must fail its CAS rather than claim a chunk of a half-written job. The release
    // on chunks_ pairs with the acquire in run_chunks: whoever sees the new chunk count also
    // sees the closed word.
    claim_.store((gen << 32) | kClosed, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_release);
    begin_.store(begin, std::memory_order_relaxed);
    end_.store(end, std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    active_workers_.store(threads - 1, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    completed_.store(0, std::memory_order_relaxed);
    // Publishing the open claim word releases every job field above to the workers.
    claim_.store(gen << 32, std::memory_order_release);
    {
      // Under the mutex, so a worker between its last check and its wait cannot miss it.
      std::lock_guard lock(sleep_mutex_);
      wake_.fetch_add(1, std::memory_order_release);
      if (sleeping_workers_ > 0) wake_cv_.notify_all();
    }

    bool& flag = in_parallel_region_flag();
    flag = true;
    run_chunks(gen);
    flag = false;

    // Wait for chunks still running on workers: spin briefly, then sleep on the counter.
    std::int64_t done = completed_.load(std::memory_order_acquire);
    for (int spin = 0; done != chunks && spin < 500; ++spin) {
      cpu_relax();
      done = completed_.load(std::memory_order_acquire);
    }
    if (done != chunks) {
      std::unique_lock lock(sleep_mutex_);
      done_cv_.wait(lock, [&] { return completed_.load(std::memory_order_acquire) == chunks; });
    }
    if (error_) {
      std::exception_ptr e = std::exchange(error_, nullptr);
      std::rethrow_exception(e);
    }
    return true;
  }

 private:
  // Only the Runtime makes one, and never destroys it: workers are detached and stay parked
  // until the process exits, and kernels running from static destructors still find the pool.
  friend class tinyxf::Runtime;
  ThreadPool() = default;

  void ensure_workers(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      const int index = static_cast<int>(workers_.size());
      // The wake count before this job is published, so a new worker joins the current job.
      const std::uint32_t seen = wake_.load(std::memory_order_acquire);
      workers_.emplace_back([this, index, seen] { worker_loop(index, seen); });
      workers_.back().detach();
    }
  }

  // Claims and runs chunks of job `gen` until none is left (or the job is gone).
  void run_chunks(std::uint64_t gen) {
    for (;;) {
      std::uint64_t word = claim_.load(std::memory_order_acquire);
      std::int64_t chunk = 0;
      for (;;) {
        if ((word >> 32) != gen) return;
        chunk = static_cast<std::int64_t>(word & 0xFFFFFFFFull);
        // Reading the next job's count here implies the CAS below sees its closed word and fails.
        if (chunk >= chunks_.load(std::memory_order_acquire)) return;
        if (claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel,
                                         std::memory_order_acquire))
          break;
      }
      // The job cannot be replaced before this claimed chunk completes, so these reads are its.
      const std::int64_t first = begin_.load(std::memory_order_relaxed);
      const std::int64_t n = end_.load(std::memory_order_relaxed) - first;
      const std::int64_t chunks = chunks_.load(std::memory_order_relaxed);
      if (!failed_.load(std::memory_order_relaxed)) {
        const std::int64_t b = first + n * chunk / chunks;
        const std::int64_t e = first + n * (chunk + 1) / chunks;
        try {
          fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), b, e);
        } catch (...) {
          std::lock_guard lock(error_mutex_);
          if (!failed_.exchange(true)) error_ = std::current_exception();
        }
      }
      if (completed_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
        std::lock_guard lock(sleep_mutex_);  // pairs with the caller's predicate check
        done_cv_.notify_all();
      }
    }
  }

  void worker_loop(int index, std::uint32_t seen) {
    in_parallel_region_flag() = true;  // kernels called from a worker never fan out again
    for (;;) {
      // Spin a little before sleeping: kernels often come back to back.
      std::uint32_t now = wake_.load(std::memory_order_acquire);
      for (int spin = 0; now == seen && spin < 1000; ++spin) {
        cpu_relax();
        now = wake_.load(std::memory_order_acquire);
      }
      if (now == seen) {
        std::unique_lock lock(sleep_mutex_);
        ++sleeping_workers_;
        wake_cv_.wait(lock, [&] { return wake_.load(std::memory_order_acquire) != seen; });
        --sleeping_workers_;
        now = wake_.load(std::memory_order_acquire);
      }
      seen = now;
      // Workers beyond the configured count stay parked (set_num_threads can shrink the pool).
      if (index >= active_workers_.load(std::memory_order_relaxed)) continue;
      const std::uint64_t word = claim_.load(std::memory_order_acquire);
      run_chunks(word >> 32);
    }
  }

  std::mutex region_mutex_;
  std::vector<std::thread> workers_;
  static constexpr std::uint64_t kClosed = 0xFFFFFFFFull;  // "no chunk to claim" index
  std::uint32_t generation_counter_ = 0;
  std::atomic<std::uint64_t> claim_{kClosed};  // (generation << 32) | next chunk
  std::atomic<std::uint32_t> wake_{0};
  // Sleeping (only after a short spin) uses a mutex and condition variables: the wake count
  // and the completion count are changed or re-checked under sleep_mutex_, so no wake-up is lost.
  std::mutex sleep_mutex_;
  std::condition_variable wake_cv_, done_cv_;
  int sleeping_workers_ = 0;  // guarded by sleep_mutex_
  std::atomic<std::int64_t> completed_{0};
  std::atomic<int> active_workers_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  // Job description; written by the caller before publishing claim_, read by claimers.
  std::atomic<std::int64_t> begin_{0}, end_{0}, chunks_{0};
  std::atomic<void (*)(void*, std::int64_t, std::int64_t)> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
};

}  // namespace detail

}  // namespace tinyxf
