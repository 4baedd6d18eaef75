#pragma once
// How the fused attention (attention.cu) covers its (b, h) pairs with strided-batched GEMMs: a
// [B, H, n, d] operand is pair t = b * H + h at data + b * batch_stride + h * head_stride, and a
// chunk's score tiles are [pairs, L, S] in pair order. One strided-batched call takes a run of
// pairs whose operands and tiles are each evenly spaced: all of a chunk when every operand spaces
// its pairs evenly (batch_stride == H * head_stride), else one head across the chunk's batch
// indices (stride batch_stride; tiles H apart) or one batch index's heads (stride head_stride),
// whichever needs fewer calls. q, k, v from separate linears ([B, L, H, d] viewed as [B, H, L, d])
// are not evenly spaced: at 32 x 128 with 12 heads that is 12 calls per GEMM instead of 32.
// tinyxf_cuda_host_logic_test checks that the runs cover every pair once, with the right strides.
#include <algorithm>
#include <cstdint>

namespace tinyxf::backends::cuda_detail {

// Pairs first, first + step, ..., n of them, step = H when `across_batches` (one head of
// consecutive batch indices), else 1.
struct PairRun {
  std::int64_t first = 0, n = 0;
  bool across_batches = false;
};

template <class T>
struct HeadMatrices {
  T* data;
  std::int64_t batch_stride, head_stride, ld;

  T* at(std::int64_t pair, std::int64_t H) const { return data + (pair / H) * batch_stride + (pair % H) * head_stride; }
  // The stride between consecutive pairs of a run.
  std::int64_t run_stride(const PairRun& run, std::int64_t H) const {
    if (run.across_batches) return batch_stride;
    return H > 1 ? head_stride : batch_stride;
  }
  // Whether consecutive pairs are evenly spaced across batch indices too.
  bool evenly_spaced(std::int64_t B, std::int64_t H) const {
    return B == 1 || H == 1 || batch_stride == H * head_stride;
  }
};

// The stride between consecutive pairs' score tiles ([pairs, L, S], tile_elems = L * S) in a run.
inline std::int64_t run_tile_stride(const PairRun& run, std::int64_t H, std::int64_t tile_elems) {
  return run.across_batches ? H * tile_elems : tile_elems;
}

// Calls fn(run) for runs covering the chunk [first, first + count) once each.
template <class Fn>
void for_each_run(std::int64_t first, std::int64_t count, std::int64_t H, bool evenly_spaced, Fn&& fn) {
  if (evenly_spaced) {
    fn(PairRun{first, count, false});
    return;
  }
  const std::int64_t batches = count / H;
  if (first % H == 0 && count % H == 0 && batches > H) {  // fewer calls: one per head
    for (std::int64_t h = 0; h < H; ++h) fn(PairRun{first + h, batches, true});
    return;
  }
  for (std::int64_t t = first, end = first + count; t < end;) {  // one per batch index
    const std::int64_t n = std::min(end - t, H - t % H);
    fn(PairRun{t, n, false});
    t += n;
  }
}

}  // namespace tinyxf::backends::cuda_detail
