#pragma once
// index_select / index_add over contiguous [outer, n, inner] operands, gather / scatter over
// strided views, and the NLL loss. Indices are validated before anything is written, with the
// reference's error text.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/strided.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

inline void check_indices(const char* op, const std::int64_t* idx, std::int64_t n_index,
                          std::int64_t bound) {
  for (std::int64_t j = 0; j < n_index; ++j)
    TINYXF_CHECK(idx[j] >= 0 && idx[j] < bound, op, ": index ", idx[j], " at position ", j,
                 " is out of range for a dimension of size ", bound);
}

inline void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                         std::int64_t outer, std::int64_t n_src, std::int64_t inner) {
  TINYXF_CHECK(index.dtype == DType::i64, "index_select: indices must be int64, got ",
               dtype_name(index.dtype));
  const std::int64_t n_index = index.numel();
  const std::int64_t* idx = index.ptr<std::int64_t>();
  check_indices("index_select", idx, n_index, n_src);
  TINYXF_CHECK(out.dtype == in.dtype, "index_select: output dtype ", dtype_name(out.dtype),
               " differs from the input's ", dtype_name(in.dtype));
  // Each output row is a byte copy of a source row, whatever the dtype.
  const std::size_t row_bytes = static_cast<std::size_t>(inner) * dtype_size(in.dtype);
  auto* dst = static_cast<unsigned char*>(out.data);
  const auto* src = static_cast<const unsigned char*>(in.data);
  parallel_for(0, outer * n_index, std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(inner, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t t = b; t < e; ++t) {
                   const std::int64_t o = t / n_index, j = t % n_index;
                   std::memcpy(dst + static_cast<std::size_t>(t) * row_bytes,
                               src + static_cast<std::size_t>(o * n_src + idx[j]) * row_bytes,
                               row_bytes);
                 }
               });
}

inline void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                      std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                      std::int64_t skip_index) {
  TINYXF_CHECK(index.dtype == DType::i64, "index_add: indices must be int64, got ",
               dtype_name(index.dtype));
  const std::int64_t n_index = index.numel();
  const std::int64_t* idx = index.ptr<std::int64_t>();
  check_indices("index_add", idx, n_index, n_dst);
  TINYXF_CHECK(out.dtype == src.dtype, "index_add: source dtype ", dtype_name(src.dtype),
               " differs from the output's ", dtype_name(out.dtype));
  dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    T* o = out.ptr<T>();
    const T* s = src.ptr<T>();
    // Repeated indices accumulate in j order within each (o, column), as in the reference;
    // threads take disjoint column ranges (or outer slices), never the same output element.
    auto add_block = [&](std::int64_t o_lo, std::int64_t o_hi, std::int64_t i_lo, std::int64_t i_hi) {
      for (std::int64_t oi = o_lo; oi < o_hi; ++oi)
        for (std::int64_t j = 0; j < n_index; ++j) {
          if (idx[j] == skip_index) continue;
          T* dst = o + (oi * n_dst + idx[j]) * inner;
          const T* from = s + (oi * n_index + j) * inner;
          if constexpr (std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>) {
            // bfloat16/float16 (embeddings of 16-bit models): each sum rounded once, as scatter_add.
            for (std::int64_t i = i_lo; i < i_hi; ++i) dst[i] = strided::accumulate_element(dst[i], from[i], false);
          } else {
            for (std::int64_t i = i_lo; i < i_hi; ++i) dst[i] += from[i];
          }
        }
    };
    const std::int64_t work = outer * n_index * inner;
    if (outer >= 2 * num_threads() || inner < 64) {
      parallel_for(0, outer, std::max<std::int64_t>(1, outer * kGrain / std::max<std::int64_t>(work, 1)),
                   [&](std::int64_t b, std::int64_t e) { add_block(b, e, 0, inner); });
    } else {
      // Column slices of whole cache lines (64 elements) keep threads off each other's lines.
      const std::int64_t slices = (inner + 63) / 64;
      parallel_for(0, slices, std::max<std::int64_t>(1, slices * kGrain / std::max<std::int64_t>(work, 1)),
                   [&](std::int64_t b, std::int64_t e) {
                     add_block(0, outer, b * 64, std::min(inner, e * 64));
                   });
    }
  });
}

// ---- gather / scatter (Backend::gather's contract) ----------------------------------------------
// A slice is a line of the index along `dim` (every other coordinate fixed). Slices touch disjoint
// elements of a scatter's output, so threads take whole slices and each slice runs in order along
// `dim`: the result is the reference's, duplicates included, whatever the thread count.

// fn(offsets) for slices [first, last) of views[0]'s shape in row-major order, with each view's
// element offset at coordinate `dim` = 0. Only the start needs divisions; then an odometer.
template <std::size_t N, class Fn>
void for_each_slice(const std::array<const KernelView*, N>& views, int dim, std::int64_t first, std::int64_t last,
                    Fn&& fn) {
  const KernelView& shape = *views[0];
  std::array<std::int64_t, kMaxDims> coord{};
  std::array<std::int64_t, N> off{};
  std::int64_t rest = first;
  for (int d = shape.ndim - 1; d >= 0; --d) {
    if (d == dim) continue;
    coord[d] = rest % shape.shape[d];
    rest /= shape.shape[d];
    for (std::size_t v = 0; v < N; ++v) off[v] += coord[d] * views[v]->strides[d];
  }
  for (std::int64_t s = first; s < last; ++s) {
    fn(off);
    for (int d = shape.ndim - 1; d >= 0; --d) {
      if (d == dim) continue;
      if (++coord[d] < shape.shape[d]) {
        for (std::size_t v = 0; v < N; ++v) off[v] += views[v]->strides[d];
        break;
      }
      for (std::size_t v = 0; v < N; ++v) off[v] -= views[v]->strides[d] * (shape.shape[d] - 1);
      coord[d] = 0;
    }
  }
}

// fn(first, last, slice_length) over the index's slices, in parallel chunks of about kGrain elements.
template <class Fn>
void parallel_slices(const KernelView& index, int dim, Fn&& fn) {
  const std::int64_t n = index.shape[dim];
  if (index.numel() == 0) return;
  const std::int64_t slices = index.numel() / n;
  parallel_for(0, slices, std::max<std::int64_t>(1, kGrain / n), [&](std::int64_t b, std::int64_t e) { fn(b, e, n); });
}

inline void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) {
  check_gather_scatter_index("gather", index, dim, in.shape[dim]);
  TINYXF_CHECK(out.dtype == in.dtype, "gather: output dtype ", dtype_name(out.dtype), " differs from the input's ",
               dtype_name(in.dtype));
  const std::int64_t* idx = index.ptr<std::int64_t>();
  dispatch_element_bits(out.dtype, [&]<class E>(type_tag<E>) {
    E* o = out.ptr<E>();
    const E* x = in.ptr<E>();
    const std::int64_t is = index.strides[dim], os = out.strides[dim], xs = in.strides[dim];
    parallel_slices(index, dim, [&](std::int64_t b, std::int64_t e, std::int64_t n) {
      for_each_slice<3>({&index, &out, &in}, dim, b, e, [&](const std::array<std::int64_t, 3>& off) {
        for (std::int64_t j = 0; j < n; ++j) o[off[1] + j * os] = x[off[2] + idx[off[0] + j * is] * xs];
      });
    });
  });
}

inline void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
                    bool accumulate) {
  check_gather_scatter_index(accumulate ? "scatter_add" : "scatter", index, dim, out.shape[dim]);
  TINYXF_CHECK(out.dtype == src.dtype, accumulate ? "scatter_add" : "scatter", ": source dtype ",
               dtype_name(src.dtype), " differs from the output's ", dtype_name(out.dtype));
  const std::int64_t* idx = index.ptr<std::int64_t>();
  const std::int64_t is = index.strides[dim], os = out.strides[dim], ss = src.strides[dim];
  const auto run = [&]<class T>(type_tag<T>, auto store) {
    T* o = out.ptr<T>();
    const T* s = src.ptr<T>();
    parallel_slices(index, dim, [&](std::int64_t b, std::int64_t e, std::int64_t n) {
      for_each_slice<3>({&index, &out, &src}, dim, b, e, [&](const std::array<std::int64_t, 3>& off) {
        for (std::int64_t j = 0; j < n; ++j) store(o[off[1] + idx[off[0] + j * is] * os], s[off[2] + j * ss]);
      });
    });
  };
  if (!accumulate) {
    dispatch_element_bits(out.dtype, [&]<class E>(type_tag<E> tag) { run(tag, [](E& o, E s) { o = s; }); });
    return;
  }
  const bool is_bool = out.dtype == DType::b8;
  dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T> tag) {
    run(tag, [is_bool](T& o, T s) { o = strided::accumulate_element(o, s, is_bool); });
  });
}

inline void nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                     const KernelView& target, std::int64_t rows, std::int64_t classes,
                     std::int64_t ignore_index) {
  dispatch_floating(logp.dtype, "nll_loss", [&]<class T>(type_tag<T>) {
    const std::int64_t* t = target.ptr<std::int64_t>();
    for (std::int64_t r = 0; r < rows; ++r) {
      if (t[r] == ignore_index) continue;
      TINYXF_CHECK_AS(IndexError, t[r] >= 0 && t[r] < classes, "cross_entropy: Target ", t[r],
                      " is out of bounds (row ", r, ", ", classes, " classes)");
    }
    const T* lp = logp.ptr<T>();
    double acc = 0;
    std::int64_t n = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      if (t[r] == ignore_index) continue;
      acc -= static_cast<double>(lp[r * classes + t[r]]);
      ++n;
    }
    // All rows ignored: NaN, as PyTorch (0/0).
    loss.ptr<T>()[0] = static_cast<T>(acc / static_cast<double>(n));
    count.ptr<T>()[0] = static_cast<T>(n);
  });
}

inline void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                              const KernelView& count, const KernelView& target, std::int64_t rows,
                              std::int64_t classes, std::int64_t ignore_index) {
  dispatch_floating(grad_logp.dtype, "nll_loss_backward", [&]<class T>(type_tag<T>) {
    T* g = grad_logp.ptr<T>();
    const std::int64_t* t = target.ptr<std::int64_t>();
    const T value = static_cast<T>(-(static_cast<double>(grad_loss.ptr<T>()[0]) /
                                     static_cast<double>(count.ptr<T>()[0])));
    parallel_for(0, rows, std::max<std::int64_t>(1, 4 * kGrain / std::max<std::int64_t>(classes, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   std::memset(static_cast<void*>(g + b * classes), 0,
                               static_cast<std::size_t>((e - b) * classes) * sizeof(T));
                   for (std::int64_t r = b; r < e; ++r)
                     if (t[r] != ignore_index) {
                       TINYXF_CHECK_AS(IndexError, t[r] >= 0 && t[r] < classes, "cross_entropy: Target ",
                                       t[r], " is out of bounds (row ", r, ", ", classes, " classes)");
                       g[r * classes + t[r]] = value;
                     }
                 });
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
