#pragma once
// std::vector storage aligned to a cache line, for the buffers the kernels read as whole 64-byte
// rows (packed GEMM panels: an AMX tile row, an AVX-512 vector). malloc aligns to 16 bytes, so
// every such row of a plain vector straddles two cache lines: the AMX micro-kernel ran 2.5x
// slower on panels 16 bytes off a line (770-960 vs 1,900-2,400 GFLOP/s, Xeon model 207).
#include <cstddef>
#include <new>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

inline constexpr std::size_t kCacheLine = 64;

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U> CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{kCacheLine}); }
  template <class U> bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

template <class T> using CacheLineVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
