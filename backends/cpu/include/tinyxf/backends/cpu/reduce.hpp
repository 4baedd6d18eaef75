#pragma once
// Reductions over the middle axis of a contiguous [outer, reduced, inner] input.
// Floating sums accumulate in double lanes (float data is widened on load), which keeps float
// sums over 10^5+ elements at ~1e-7 relative error. Long rows are split into fixed-size blocks
// whose partial sums are combined in order, so results do not depend on the thread count.
// max/min/argmax/argmin follow the reference: the first NaN wins, else the first extreme.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/simd.hpp"
#include "tinyxf/core/parallel.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

inline constexpr std::int64_t kSumBlock = 64 * 1024;  // elements per partial sum of a long row
inline constexpr std::int64_t kColumnTile = 256;      // inner positions handled together

template <class T> inline bool is_nan(T v) {
  if constexpr (FloatElement<T>) return v != v;
  else return false;
}

// Sums accumulate in double for floating types and exactly in int64 for integers.
template <class T> using SumAcc = std::conditional_t<FloatElement<T>, double, std::int64_t>;

template <class T> inline SumAcc<T> contiguous_sum(const T* p, std::int64_t n) {
  if constexpr (FloatElement<T>) {
    return sum_wide(p, n);
  } else {
    std::int64_t acc = 0;
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<std::int64_t>(p[i]);
    return acc;
  }
}

// The sums of a contiguous [outer, reduced, inner] layout, the same blocks and order for every
// element type (the 16-bit sums of reduced.hpp are bit for bit those of the widened tensor):
// rows (inner == 1) whole, or above kSumBlock in fixed blocks whose partials are added in order;
// otherwise tiles of kColumnTile inner positions, each adding every reduced row.
// segment_sum(offset, n): the sum of the n elements from element `offset`;
// add_row(acc, offset, w): acc[i] += element offset + i for i < w; emit(out index, sum).
template <class Acc, class Emit, class SegmentSum, class AddRow>
void sum_layouts(std::int64_t outer, std::int64_t reduced, std::int64_t inner, Emit&& emit, SegmentSum&& segment_sum,
                 AddRow&& add_row) {
  if (inner == 1) {
    if (reduced <= kSumBlock) {
      parallel_for(0, outer, std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(reduced, 1)),
                   [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t r = b; r < e; ++r) emit(r, segment_sum(r * reduced, reduced));
                   });
      return;
    }
    const std::int64_t blocks = (reduced + kSumBlock - 1) / kSumBlock;
    std::vector<Acc> partial(static_cast<std::size_t>(outer * blocks));
    parallel_for(0, outer * blocks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t t = b; t < e; ++t) {
        const std::int64_t r = t / blocks, lo = t % blocks * kSumBlock, hi = std::min(reduced, lo + kSumBlock);
        partial[static_cast<std::size_t>(t)] = segment_sum(r * reduced + lo, hi - lo);
      }
    });
    for (std::int64_t r = 0; r < outer; ++r) {
      Acc acc = 0;
      for (std::int64_t k = 0; k < blocks; ++k) acc += partial[static_cast<std::size_t>(r * blocks + k)];
      emit(r, acc);
    }
    return;
  }
  const std::int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
  const std::int64_t tile_work = reduced * std::min(inner, kColumnTile);
  parallel_for(0, outer * tiles, std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(tile_work, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t t = b; t < e; ++t) {
                   const std::int64_t oi = t / tiles, i0 = (t % tiles) * kColumnTile, w = std::min(kColumnTile, inner - i0);
                   alignas(64) Acc acc[kColumnTile] = {};
                   for (std::int64_t r = 0; r < reduced; ++r) add_row(acc, (oi * reduced + r) * inner + i0, w);
                   for (std::int64_t i = 0; i < w; ++i) emit(oi * inner + i0 + i, acc[i]);
                 }
               });
}

// out[i] = v converted to the output dtype; picked once per call so the summation loops are
// compiled per input dtype only.
template <class A, class O> inline void store_one_as(void* out, std::int64_t i, A v) {
  static_cast<O*>(out)[i] = convert_element<O>(v);
}
template <class A> using StoreOne = void (*)(void*, std::int64_t, A);
template <class A> inline StoreOne<A> store_one_for(DType out) {
  return dispatch_dtype(out, []<class O>(type_tag<O>) -> StoreOne<A> { return &store_one_as<A, O>; });
}

// Index of the first extreme (first NaN if any) of a contiguous run of n >= 1 elements.
template <class T, bool WantMax> inline std::int64_t contiguous_arg_extreme(const T* p, std::int64_t n) {
  if constexpr (FloatElement<T>) {
    constexpr std::int64_t W = kLanes<T>;
    if (n >= 2 * W) {
      using B = Batch<T>;
      B best = B::load_unaligned(p);
      auto nan_seen = xsimd::isnan(best);  // not `best != best`: ordered on AVX (see elementwise.hpp)
      std::int64_t i = W;
      for (; i + W <= n; i += W) {
        const B v = B::load_unaligned(p + i);
        nan_seen = nan_seen || xsimd::isnan(v);
        best = WantMax ? xsimd::select(v > best, v, best) : xsimd::select(v < best, v, best);
      }
      T target = 0;
      bool has_nan = xsimd::any(nan_seen);
      if (!has_nan) {
        target = WantMax ? hmax<T>(best) : hmin<T>(best);
        for (std::int64_t j = i; j < n; ++j) {  // the tail
          if (p[j] != p[j]) {
            has_nan = true;
            break;
          }
          target = WantMax ? std::max(target, p[j]) : std::min(target, p[j]);
        }
      }
      // Second pass to the first match, a batch at a time; -0.0 == 0.0 matches like the reference.
      const B want(target);
      std::int64_t j = 0;
      for (; j + W <= n; j += W) {
        const B v = B::load_unaligned(p + j);
        if (xsimd::any(has_nan ? xsimd::isnan(v) : v == want)) break;
      }
      for (; j < n; ++j)
        if (has_nan ? p[j] != p[j] : p[j] == target) return j;
      return 0;
    }
  }
  std::int64_t best = 0;
  for (std::int64_t r = 1; r < n; ++r) {
    const T v = p[r], cur = p[best];
    if (is_nan(cur)) break;
    if (is_nan(v) || (WantMax ? v > cur : v < cur)) best = r;
  }
  return best;
}

// The [outer, reduced, inner] extents of a reduce call are counts.
inline void check_reduce_extents(ReduceOp op, std::int64_t outer, std::int64_t reduced, std::int64_t inner) {
  TINYXF_CHECK(outer >= 0 && reduced >= 0 && inner >= 0, "reduce ", reduce_op_name(op),
               ": negative extent in [", outer, ", ", reduced, ", ", inner, "]");
}

inline void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
                   std::int64_t reduced, std::int64_t inner) {
  check_reduce_extents(op, outer, reduced, inner);
  const bool is_sum = op == ReduceOp::sum || op == ReduceOp::mean;
  const bool is_arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  if (!is_sum && outer * inner > 0)
    TINYXF_CHECK(reduced > 0, "reduce ", reduce_op_name(op), ": cannot reduce an empty dimension");
  if (is_arg)
    TINYXF_CHECK(out.dtype == DType::i64, "reduce ", reduce_op_name(op),
                 ": the output must be int64, got ", dtype_name(out.dtype));
  else if (!is_sum)
    TINYXF_CHECK(out.dtype == in.dtype, "reduce ", reduce_op_name(op), ": output dtype ",
                 dtype_name(out.dtype), " differs from the input's ", dtype_name(in.dtype));
  const std::int64_t n_out = outer * inner;
  if (n_out == 0) return;

  dispatch_dtype(in.dtype, [&]<class T>(type_tag<T>) {
    const T* x = in.ptr<T>();
    if (is_sum) {
      using Acc = SumAcc<T>;
      // mean divides in double, like the reference; a sum is stored as accumulated.
      const StoreOne<double> store_mean = store_one_for<double>(out.dtype);
      const StoreOne<Acc> store_sum = store_one_for<Acc>(out.dtype);
      const bool mean = op == ReduceOp::mean;
      void* o = out.data;
      auto emit = [&](std::int64_t i, Acc acc) {
        if (mean)
          store_mean(o, i, static_cast<double>(acc) / static_cast<double>(reduced));
        else
          store_sum(o, i, acc);
      };
      sum_layouts<Acc>(
          outer, reduced, inner, emit,
          [x](std::int64_t offset, std::int64_t n) { return contiguous_sum(x + offset, n); },
          [x](Acc* acc, std::int64_t offset, std::int64_t w) {
            for (std::int64_t i = 0; i < w; ++i) acc[i] += static_cast<Acc>(x[offset + i]);
          });
      return;
    }

    const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
    auto run = [&]<bool WantMax>() {
      if (inner == 1) {
        parallel_for(0, outer, std::max<std::int64_t>(1, kGrain / reduced), [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t r = b; r < e; ++r) {
            const std::int64_t best = contiguous_arg_extreme<T, WantMax>(x + r * reduced, reduced);
            if (is_arg)
              out.ptr<std::int64_t>()[r] = best;
            else
              out.ptr<T>()[r] = x[r * reduced + best];
          }
        });
        return;
      }
      const std::int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
      const std::int64_t tile_work = reduced * std::min(inner, kColumnTile);
      parallel_for(0, outer * tiles, std::max<std::int64_t>(1, kGrain / tile_work), [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t t = b; t < e; ++t) {
          const std::int64_t oi = t / tiles;
          const std::int64_t i0 = (t % tiles) * kColumnTile;
          const std::int64_t w = std::min(kColumnTile, inner - i0);
          const T* base = x + oi * reduced * inner + i0;
          T best[kColumnTile];
          std::int64_t where[kColumnTile] = {};
          std::copy(base, base + w, best);
          for (std::int64_t r = 1; r < reduced; ++r) {
            const T* row = base + r * inner;
            for (std::int64_t i = 0; i < w; ++i) {
              const T v = row[i], cur = best[i];
              const bool take = !is_nan(cur) && (is_nan(v) || (WantMax ? v > cur : v < cur));
              best[i] = take ? v : cur;
              where[i] = take ? r : where[i];
            }
          }
          for (std::int64_t i = 0; i < w; ++i) {
            if (is_arg)
              out.ptr<std::int64_t>()[oi * inner + i0 + i] = where[i];
            else
              out.ptr<T>()[oi * inner + i0 + i] = best[i];
          }
        }
      });
    };
    if (want_max)
      run.template operator()<true>();
    else
      run.template operator()<false>();
  });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
