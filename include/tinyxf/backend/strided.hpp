#pragma once
// Walks every element of N strided views of one shape, calling fn(offset_0, ..., offset_{N-1})
// with element offsets. Odometer-style: no division per element. The innermost dim is handed to
// `fn_row(offsets..., count, inner_strides...)` when given, so backends can vectorize rows.
#include <array>
#include <cstdint>
#include <type_traits>

#include "tinyxf/core/backend.hpp"

namespace tinyxf::strided {

template <std::size_t N, class Fn>
void for_each_row(const std::array<const KernelView*, N>& views, Fn&& fn_row) {
  const KernelView& ref = *views[0];
  const int nd = ref.ndim;
  if (ref.numel() == 0) return;
  if (nd == 0) {
    std::array<std::int64_t, N> off{};
    std::array<std::int64_t, N> inner{};
    fn_row(off, std::int64_t{1}, inner);
    return;
  }
  const std::int64_t row_len = ref.shape[nd - 1];
  std::array<std::int64_t, N> inner{};
  for (std::size_t v = 0; v < N; ++v) inner[v] = views[v]->strides[nd - 1];
  std::array<std::int64_t, kMaxDims> idx{};
  std::array<std::int64_t, N> off{};
  std::int64_t rows = 1;
  for (int d = 0; d < nd - 1; ++d) rows *= ref.shape[d];
  for (std::int64_t r = 0; r < rows; ++r) {
    fn_row(off, row_len, inner);
    // advance the odometer over dims [0, nd-1)
    for (int d = nd - 2; d >= 0; --d) {
      if (++idx[d] < ref.shape[d]) {
        for (std::size_t v = 0; v < N; ++v) off[v] += views[v]->strides[d];
        break;
      }
      for (std::size_t v = 0; v < N; ++v) off[v] -= views[v]->strides[d] * (ref.shape[d] - 1);
      idx[d] = 0;
    }
  }
}

template <std::size_t N, class Fn>
void for_each(const std::array<const KernelView*, N>& views, Fn&& fn) {
  for_each_row(views, [&](const std::array<std::int64_t, N>& base, std::int64_t count,
                          const std::array<std::int64_t, N>& inner) {
    std::array<std::int64_t, N> off = base;
    for (std::int64_t i = 0; i < count; ++i) {
      fn(off);
      for (std::size_t v = 0; v < N; ++v) off[v] += inner[v];
    }
  });
}

// out = in converted to out's dtype, for every storage dtype (bfloat16/float16 through float;
// a bool output gets 1 for every nonzero input). The portable copy kernel.
inline void convert_copy(const KernelView& out, const KernelView& in) {
  const bool to_bool = out.dtype == DType::b8 && in.dtype != DType::b8;
  dispatch_storage_dtype(out.dtype, [&]<class O>(type_tag<O>) {
    dispatch_storage_dtype(in.dtype, [&]<class I>(type_tag<I>) {
      if (to_bool)
        for_each<2>({&out, &in}, [&](auto o) {
          out.ptr<O>()[o[0]] = convert_element<O>(convert_element<double>(in.ptr<I>()[o[1]]) != 0.0);
        });
      else
        for_each<2>({&out, &in}, [&](auto o) { out.ptr<O>()[o[0]] = convert_element<O>(in.ptr<I>()[o[1]]); });
    });
  });
}

// Every element of out = value (converted to out's dtype; a bool output gets value != 0).
inline void fill_any(const KernelView& out, double value) {
  if (out.dtype == DType::b8) value = value != 0.0 ? 1.0 : 0.0;
  dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    const T v = convert_element<T>(value);
    for_each<1>({&out}, [&](auto o) { out.ptr<T>()[o[0]] = v; });
  });
}

// a + b as scatter_add stores it (host backends): floating types summed in double and rounded
// once, integers wrapping around as torch's, bool (uint8 0/1 here) as logical or.
template <class T>
inline T accumulate_element(T a, T b, bool is_bool) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return is_bool ? static_cast<T>(a | b) : static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return convert_element<T>(convert_element<double>(a) + convert_element<double>(b));
  }
}

}  // namespace tinyxf::strided
