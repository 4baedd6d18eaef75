#pragma once
// Backend::sort: threads over the lines, each line ordered by sort_line::order_line (torch's CPU
// orders) in one (key, index) scratch per chunk of lines, so no allocation per line or element.
#include <algorithm>
#include <cstdint>

#include "tinyxf/backend/sort_line.hpp"
#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

inline void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) {
  const std::int64_t rows = in.shape[0], n = in.shape[1];
  if (rows == 0 || args.k == 0) return;
  std::int64_t* out = indices.ptr<std::int64_t>();
  dispatch_storage_dtype(in.dtype, [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    // A line costs about n log n comparisons: a chunk of about kGrain elements' lines per task.
    parallel_for(0, rows, std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(n, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   sort_line::LineScratch<T> scratch;
                   for (std::int64_t r = b; r < e; ++r)
                     sort_line::order_line(x + r * in.strides[0], in.strides[1], n, out + r * args.k, args, scratch);
                 });
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
