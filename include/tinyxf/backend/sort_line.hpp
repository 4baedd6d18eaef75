#pragma once
// The per-line orders of Backend::sort (torch.sort / torch.topk), for the host backends and the
// CUDA backend's host pass. One line is n elements; its result is the first k positions of an
// order, as int64 indices. The orders are torch's CPU ones, element for element:
//  - sort: a stable sort (torch's stable=True order; with stable=False torch leaves ties' order
//    open and its CPU sort does reorder them on long lines), NaN
//    greater than everything (last ascending, first descending), -0.0 equal to 0.0;
//  - topk: torch's CPU selection (aten SortingKernel.cpp, topk_impl_loop): std::partial_sort when
//    k * 64 <= n, else std::nth_element at k - 1 followed, when sorted, by std::sort of the first
//    k - 1. Its order among equal values is whatever those unstable algorithms leave, which torch
//    does not specify; running the same calls on the same libstdc++ reproduces it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinyxf/core/backend.hpp"

namespace tinyxf::sort_line {

// What the elements are compared as: 16-bit floats as float (exactly their values), others as
// they are (int64 stays exact).
template <class T>
using Key = std::conditional_t<std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>, float, T>;

template <class K> inline bool is_nan(K v) {
  if constexpr (std::is_floating_point_v<K>) return std::isnan(v);
  else return false;
}

// "a comes first": torch's KeyValueCompAsc / KeyValueCompDesc, NaN the greatest value.
template <class K> inline bool before(K a, K b, bool descending) {
  if (descending) return (is_nan(a) && !is_nan(b)) || a > b;
  return (!is_nan(a) && is_nan(b)) || a < b;
}

// Scratch for one line's (key, index) pairs, reused across the lines a thread takes.
template <class T> using LineScratch = std::vector<std::pair<Key<T>, std::int64_t>>;

// Writes the first k indices of the line's order (Backend::sort's contract) into out_index.
// `line` is the line's first element, `stride` the distance between its elements.
template <class T>
void order_line(const T* line, std::int64_t stride, std::int64_t n, std::int64_t* out_index, const SortArgs& args,
                LineScratch<T>& queue) {
  if (args.k == 0) return;
  queue.resize(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) queue[static_cast<std::size_t>(j)] = {static_cast<Key<T>>(line[j * stride]), j};
  const bool desc = args.descending;
  const auto comp = [desc](const auto& a, const auto& b) { return before(a.first, b.first, desc); };
  const auto first = queue.begin(), kth = first + args.k;
  if (!args.topk) {
    std::stable_sort(first, queue.end(), comp);
  } else if (args.k * 64 <= n) {
    std::partial_sort(first, kth, queue.end(), comp);
  } else {
    std::nth_element(first, kth - 1, queue.end(), comp);
    if (args.sorted) std::sort(first, kth - 1, comp);
  }
  for (std::int64_t j = 0; j < args.k; ++j) out_index[j] = queue[static_cast<std::size_t>(j)].second;
}

// Backend::sort's whole job on one thread: every line of `in`, one after the other.
inline void order_lines(const KernelView& indices, const KernelView& in, const SortArgs& args) {
  dispatch_storage_dtype(in.dtype, [&]<class T>(type_tag<T>) {
    LineScratch<T> scratch;
    for (std::int64_t r = 0; r < in.shape[0]; ++r)
      order_line(in.ptr<T>() + r * in.strides[0], in.strides[1], in.shape[1],
                 indices.ptr<std::int64_t>() + r * args.k, args, scratch);
  });
}

}  // namespace tinyxf::sort_line
