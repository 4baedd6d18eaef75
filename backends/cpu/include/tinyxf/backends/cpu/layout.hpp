#pragma once
// Iteration over N strided views of one shape, after merging dims that are laid out alike in
// every view (a contiguous tensor becomes one long row; [B, T, C] + [C] becomes rows of C).
// Rows are handed to kernels whole, with their inner strides, so contiguous (stride 1) and
// broadcast (stride 0) rows can be vectorized; the parallel form splits the flat element range.
#include <algorithm>
#include <array>
#include <cstdint>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

template <std::size_t N>
struct Layout {
  int ndim = 0;  // >= 1 unless numel == 0
  std::int64_t numel = 0;
  std::array<std::int64_t, kMaxDims> shape{};
  std::array<std::array<std::int64_t, kMaxDims>, N> strides{};

  std::int64_t row_len() const { return shape[ndim - 1]; }
  std::int64_t inner_stride(std::size_t v) const { return strides[v][ndim - 1]; }
};

// views[0] defines the shape; the others must have the same shape (broadcast already applied).
template <std::size_t N>
Layout<N> coalesce(const std::array<const KernelView*, N>& views) {
  const KernelView& ref = *views[0];
  for (std::size_t v = 1; v < N; ++v) {
    TINYXF_CHECK(views[v]->ndim == ref.ndim, "cpu backend: operand ", v, " has ", views[v]->ndim,
                 " dims, expected ", ref.ndim);
    for (int d = 0; d < ref.ndim; ++d)
      TINYXF_CHECK(views[v]->shape[d] == ref.shape[d], "cpu backend: operand ", v,
                   " has size ", views[v]->shape[d], " at dim ", d, ", expected ", ref.shape[d]);
  }
  Layout<N> L;
  L.numel = ref.numel();
  if (L.numel == 0) return L;
  for (int d = 0; d < ref.ndim; ++d) {
    if (ref.shape[d] == 1) continue;  // size-1 dims carry no offsets
    if (L.ndim > 0) {
      // Merge into the previous (outer) dim when every view steps over it uniformly.
      const int p = L.ndim - 1;
      bool mergeable = true;
      for (std::size_t v = 0; v < N; ++v)
        mergeable = mergeable && L.strides[v][p] == views[v]->strides[d] * ref.shape[d];
      if (mergeable) {
        L.shape[p] *= ref.shape[d];
        for (std::size_t v = 0; v < N; ++v) L.strides[v][p] = views[v]->strides[d];
        continue;
      }
    }
    L.shape[L.ndim] = ref.shape[d];
    for (std::size_t v = 0; v < N; ++v) L.strides[v][L.ndim] = views[v]->strides[d];
    ++L.ndim;
  }
  if (L.ndim == 0) {  // a single element
    L.ndim = 1;
    L.shape[0] = 1;
  }
  return L;
}

// A non-owning reference to a row callback. The walk over rows below is compiled once per
// operand count instead of once per kernel (dtype x op): one indirect call per row is noise,
// one copy of the odometer per instantiation was most of the backend's compile time.
template <std::size_t N>
struct RowFnRef {
  using Offsets = std::array<std::int64_t, N>;
  void* ctx = nullptr;
  void (*call)(void*, const Offsets& offsets, std::int64_t count, const Offsets& inner) = nullptr;

  template <class RowFn>
  static RowFnRef of(RowFn& fn) {
    return {static_cast<void*>(&fn), [](void* c, const Offsets& off, std::int64_t n, const Offsets& in) {
              (*static_cast<RowFn*>(c))(off, n, in);
            }};
  }
};

// Calls row(offsets, count, inner_strides) for the elements [begin, end) of the flat order,
// splitting at row boundaries. offsets are element offsets of the row's first element.
template <std::size_t N>
void for_rows_in_range(const Layout<N>& L, std::int64_t begin, std::int64_t end, RowFnRef<N> row) {
  if (begin >= end) return;
  const int nd = L.ndim;
  const std::int64_t len = L.row_len();
  std::array<std::int64_t, N> inner{};
  for (std::size_t v = 0; v < N; ++v) inner[v] = L.inner_stride(v);
  // Decompose `begin` into (outer index digits, column) once.
  std::array<std::int64_t, kMaxDims> idx{};
  std::int64_t rest = begin / len;
  std::int64_t col = begin % len;
  std::array<std::int64_t, N> off{};
  for (int d = nd - 2; d >= 0; --d) {
    idx[d] = rest % L.shape[d];
    rest /= L.shape[d];
    for (std::size_t v = 0; v < N; ++v) off[v] += idx[d] * L.strides[v][d];
  }
  std::int64_t remaining = end - begin;
  while (remaining > 0) {
    const std::int64_t count = std::min(len - col, remaining);
    std::array<std::int64_t, N> start = off;
    for (std::size_t v = 0; v < N; ++v) start[v] += col * inner[v];
    row.call(row.ctx, start, count, inner);
    remaining -= count;
    col = 0;
    if (remaining == 0) break;
    for (int d = nd - 2; d >= 0; --d) {  // odometer over the outer dims
      if (++idx[d] < L.shape[d]) {
        for (std::size_t v = 0; v < N; ++v) off[v] += L.strides[v][d];
        break;
      }
      for (std::size_t v = 0; v < N; ++v) off[v] -= L.strides[v][d] * (L.shape[d] - 1);
      idx[d] = 0;
    }
  }
}

template <std::size_t N>
void parallel_rows_erased(const Layout<N>& L, std::int64_t grain, RowFnRef<N> row) {
  if (L.numel == 0) return;
  parallel_for(0, L.numel, grain,
               [&L, row](std::int64_t b, std::int64_t e) { for_rows_in_range(L, b, e, row); });
}

// The rows of the whole layout, spread over the thread pool in chunks of >= grain elements.
template <std::size_t N, class RowFn>
void parallel_rows(const Layout<N>& L, std::int64_t grain, RowFn&& row) {
  parallel_rows_erased(L, grain, RowFnRef<N>::of(row));
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
