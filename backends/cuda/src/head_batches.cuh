#pragma once
// How the fused attention (attention.cu) addresses the matrices of its (b, h) pairs for batched
// GEMMs. A [B, H, n, d] operand is pair t = b * H + h at data + (t / H) * batch_stride +
// (t % H) * head_stride with row stride ld; a chunk's score tiles [pairs, L, S] are the same with
// batch_stride = H * L * S, head_stride = L * S, counted from the chunk's first pair. When every
// operand of a GEMM spaces its pairs evenly (batch_stride == H * head_stride: the tiles always do),
// one strided-batched cuBLAS call takes the chunk; otherwise — q, k, v from separate linears are
// [B, L, H, d] viewed as [B, H, L, d] — one pointer-array batched call does, its pointers made on
// the device from at() (one call per GEMM instead of one per batch index: 7 instead of 7 x 32 per
// layer at batch 32). tinyxf_cuda_host_logic_test checks the addressing on the host.
#include <cstdint>

namespace tinyxf::backends::cuda_detail {

template <class T>
struct HeadMatrices {
  T* data;
  std::int64_t batch_stride, head_stride, ld;
  std::int64_t origin_pair = 0;  // the pair stored at `data` (a chunk's first, for score tiles)

  __host__ __device__ std::int64_t offset(std::int64_t pair, std::int64_t H) const {
    return (pair / H) * batch_stride + (pair % H) * head_stride;
  }
  __host__ __device__ T* at(std::int64_t pair, std::int64_t H) const {
    return data + (offset(pair, H) - offset(origin_pair, H));
  }
  // The stride between consecutive pairs when they are evenly spaced.
  std::int64_t pair_stride(std::int64_t H) const { return H > 1 ? head_stride : batch_stride; }
  bool evenly_spaced(std::int64_t B, std::int64_t H) const {
    return B == 1 || H == 1 || batch_stride == H * head_stride;
  }
  // The same matrices, read only.
  HeadMatrices<const T> as_const() const { return {data, batch_stride, head_stride, ld, origin_pair}; }
};

// A chunk's [pairs, L, S] score tiles from its first pair on.
template <class T>
HeadMatrices<T> score_tiles(T* tiles, std::int64_t first_pair, std::int64_t H, std::int64_t L, std::int64_t S) {
  return {tiles, H * L * S, L * S, S, first_pair};
}

}  // namespace tinyxf::backends::cuda_detail
