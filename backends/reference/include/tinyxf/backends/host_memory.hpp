#pragma once
// Host memory for the backends whose tensors live in RAM (cpu, reference): 64-byte aligned so
// SIMD loads are aligned, zero-size allocations still return a valid pointer.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "tinyxf/core/error.hpp"

namespace tinyxf::host {

inline std::shared_ptr<void> allocate_aligned(std::size_t bytes) {
  const std::size_t rounded = ((bytes + 63) / 64) * 64 + 64 * (bytes == 0);
  void* p = std::aligned_alloc(64, rounded);
  TINYXF_CHECK(p != nullptr, "host allocator: out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

inline void copy_bytes(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

}  // namespace tinyxf::host
