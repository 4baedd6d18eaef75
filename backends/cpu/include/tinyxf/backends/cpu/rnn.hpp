#pragma once
// The LSTM cell's pointwise step, forward and backward (Backend::lstm_cell), over rows of
// `hidden` units in xsimd batches: kmath::LstmCell on batches, the four gates of column block j
// read together, so one pass over the row writes act, c' and h' (or the four gate gradients and
// the gradient of c). The tail of a row goes through padded buffers with the same batch code, so
// a unit's result never depends on `hidden` or the alignment.
#include <algorithm>
#include <array>
#include <cstdint>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/backends/cpu/norm.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

namespace rnn_detail {

template <class T> inline T* row(const KernelView& v, std::int64_t r) { return v.ptr<T>() + r * v.strides[0]; }

// Runs `step(in..., out...)` on batches over units [0, hidden): `ins` are read at unit j, `outs`
// written there (both lists of pointers already offset to their gate block); the tail goes
// through zero-padded buffers.
template <class T, std::size_t NI, std::size_t NO, class F>
inline void for_units(std::int64_t hidden, const std::array<const T*, NI>& ins, const std::array<T*, NO>& outs,
                      F&& step) {
  constexpr std::int64_t W = kLanes<T>;
  using B = Batch<T>;
  std::array<B, NI> x;
  std::array<B, NO> y;
  std::int64_t j = 0;
  for (; j + W <= hidden; j += W) {
    for (std::size_t k = 0; k < NI; ++k) x[k] = B::load_unaligned(ins[k] + j);
    step(x, y);
    for (std::size_t k = 0; k < NO; ++k) y[k].store_unaligned(outs[k] + j);
  }
  if (j < hidden) {
    const std::int64_t n = hidden - j;
    alignas(64) T buf[W] = {};
    for (std::size_t k = 0; k < NI; ++k) {
      std::fill(buf, buf + W, T(0));
      std::copy(ins[k] + j, ins[k] + hidden, buf);
      x[k] = B::load_aligned(buf);
    }
    step(x, y);
    for (std::size_t k = 0; k < NO; ++k) {
      y[k].store_aligned(buf);
      std::copy(buf, buf + n, outs[k] + j);
    }
  }
}

}  // namespace rnn_detail

namespace rnn_detail {

// Runs fn.template operator()<T>(r) for every row, the rows split over the threads.
template <class Fn>
inline void for_each_row(const char* op, DType dtype, std::int64_t rows, std::int64_t hidden, Fn&& fn) {
  dispatch_floating(dtype, op, [&]<class T>(type_tag<T>) {
    parallel_for(0, rows, rows_per_chunk(4 * hidden), [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) fn.template operator()<T>(r);
    });
  });
}

}  // namespace rnn_detail

inline void lstm_cell(const KernelView& act, const KernelView& h_out, const KernelView& c_out, const KernelView& gates,
                      const KernelView& c, std::int64_t rows, std::int64_t hidden) {
  using rnn_detail::row;
  rnn_detail::for_each_row("lstm_cell", gates.dtype, rows, hidden, [&]<class T>(std::int64_t r) {
    using B = Batch<T>;
    const T* gr = row<T>(gates, r);
    T* ar = row<T>(act, r);
    rnn_detail::for_units<T, 5, 6>(
        hidden, {gr, gr + hidden, gr + 2 * hidden, gr + 3 * hidden, row<T>(c, r)},
        {ar, ar + hidden, ar + 2 * hidden, ar + 3 * hidden, row<T>(c_out, r), row<T>(h_out, r)},
        [](const std::array<B, 5>& x, std::array<B, 6>& y) {
          kmath::LstmCell::fwd<B>(x[0], x[1], x[2], x[3], x[4], y[0], y[1], y[2], y[3], y[4], y[5]);
        });
  });
}

inline void lstm_cell_backward(const KernelView& grad_gates, const KernelView& grad_c_prev, const KernelView& grad_h,
                               const KernelView& grad_c, const KernelView& act, const KernelView& c,
                               std::int64_t rows, std::int64_t hidden) {
  using rnn_detail::row;
  rnn_detail::for_each_row("lstm_cell_backward", act.dtype, rows, hidden, [&]<class T>(std::int64_t r) {
    using B = Batch<T>;
    const T* ar = row<T>(act, r);
    T* gr = row<T>(grad_gates, r);
    const std::array<T*, 5> outs{gr, gr + hidden, gr + 2 * hidden, gr + 3 * hidden, row<T>(grad_c_prev, r)};
    const auto step = []<std::size_t NI>(const std::array<B, NI>& x, std::array<B, 5>& y) {
      B dc(T(0));  // no gradient arriving for c_out
      if constexpr (NI == 7) dc = x[6];
      kmath::LstmCell::bwd<B>(x[0], x[1], x[2], x[3], x[4], x[5], dc, y[0], y[1], y[2], y[3], y[4]);
    };
    const std::array<const T*, 6> ins{ar, ar + hidden, ar + 2 * hidden, ar + 3 * hidden, row<T>(c, r),
                                      row<T>(grad_h, r)};
    if (grad_c.data)
      rnn_detail::for_units<T, 7, 5>(hidden, {ins[0], ins[1], ins[2], ins[3], ins[4], ins[5], row<T>(grad_c, r)},
                                     outs, step);
    else
      rnn_detail::for_units<T, 6, 5>(hidden, ins, outs, step);
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
