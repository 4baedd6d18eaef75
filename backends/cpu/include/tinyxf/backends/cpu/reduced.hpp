#pragma once
// bfloat16 / float16 operands of the elementwise kernels, dropout and bias_gelu (the cpu
// backend's computes_16bit_floats): cut into blocks that are widened to float32 on the stack, run
// through the float32 kernels themselves, and rounded once into the 16-bit output. The values are
// those of the front end's widen-compute-round path; what goes away is its full-size float32
// temporaries and the passes over memory of its casts (autocast's activations stay 16-bit).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tinyxf/backends/cpu/elementwise.hpp"
#include "tinyxf/backends/cpu/fused.hpp"
#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/backends/cpu/reduce.hpp"
#include "tinyxf/core/half.hpp"

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

namespace reduced_detail {

// Elements per widened block: a few float32 buffers of this size stay in L1.
inline constexpr std::int64_t kBlock = 512;

inline bool is_bf16(DType d) { return d == DType::bf16; }

// dst[i] = src[i * stride] as float32 (exact), for n elements of a bf16 or f16 tensor.
inline void widen(float* dst, const std::uint16_t* src, std::int64_t stride, std::int64_t n, bool bf16) {
  if (bf16) return bf16_to_float_row(dst, 1, src, stride, n);
  std::int64_t i = 0;
#ifdef __F16C__
  if (stride == 1)
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; ++i) dst[i] = f16_to_float(src[i * stride]);
}
// dst[i * stride] = src[i] rounded to bf16 or f16 (nearest even), for n elements.
inline void narrow(std::uint16_t* dst, std::int64_t stride, const float* src, std::int64_t n, bool bf16) {
  if (bf16) return float_to_bf16_row(dst, stride, src, 1, n);
  std::int64_t i = 0;
#ifdef __F16C__
  if (stride == 1)
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; ++i) dst[i * stride] = float_to_f16(src[i]);
}
// This thread's float32 row buffer `which` (0-2) of at least n elements, kept between calls.
inline float* row_buffer(int which, std::int64_t n) {
  thread_local std::array<std::vector<float>, 3> buffers;
  auto& b = buffers[static_cast<std::size_t>(which)];
  if (b.size() < static_cast<std::size_t>(n)) b.resize(static_cast<std::size_t>(n));
  return b.data();
}

// A contiguous 1-D float32 view of n elements at p.
inline KernelView block_view(float* p, std::int64_t n) {
  KernelView v;
  v.data = p;
  v.dtype = DType::f32;
  v.ndim = 1;
  v.shape[0] = n;
  v.strides[0] = 1;
  return v;
}

// Runs `kernel(views)` (views: contiguous float32 blocks; [0] the output, the rest the inputs,
// and the index of the block's first element in views[0]'s row order) over the operands
// `operands` ([0] the 16-bit output, the rest 16-bit inputs of its shape, broadcast by stride 0),
// block by block on the pool; each output block is rounded once into place.
template <std::size_t N, class Kernel>
void on_float_blocks(const std::array<const KernelView*, N>& operands, Kernel&& kernel) {
  const bool bf16 = is_bf16(operands[0]->dtype);
  const auto L = coalesce<N>(operands);
  parallel_rows(L, kGrain, [&](const std::array<std::int64_t, N>& off, std::int64_t n,
                               const std::array<std::int64_t, N>& s) {
    alignas(64) float buffers[N][kBlock];
    for (std::int64_t base = 0; base < n; base += kBlock) {
      const std::int64_t m = std::min(kBlock, n - base);
      std::array<KernelView, N> views;
      for (std::size_t k = 1; k < N; ++k) {
        widen(buffers[k], static_cast<const std::uint16_t*>(operands[k]->data) + off[k] + base * s[k], s[k], m, bf16);
        views[k] = block_view(buffers[k], m);
      }
      views[0] = block_view(buffers[0], m);
      kernel(views, off[0] + base * s[0]);
      narrow(static_cast<std::uint16_t*>(operands[0]->data) + off[0] + base * s[0], s[0], buffers[0], m, bf16);
    }
  });
}

inline void check_16bit(const char* op, const KernelView& out, std::initializer_list<const KernelView*> inputs) {
  for (const KernelView* v : inputs)
    TINYXF_CHECK_AS(DTypeError, v->data == nullptr || v->dtype == out.dtype, op, ": ", dtype_name(out.dtype),
                    " output with a ", dtype_name(v->dtype), " operand (16-bit kernels take one dtype)");
}

}  // namespace reduced_detail

inline void unary_16bit(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) {
  reduced_detail::check_16bit("unary", out, {&in});
  reduced_detail::on_float_blocks<2>({&out, &in}, [&](const std::array<KernelView, 2>& v, std::int64_t) {
    unary(op, v[0], v[1], alpha);
  });
}

inline void unary_backward_16bit(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                                 const KernelView& in, const KernelView& out, double alpha) {
  reduced_detail::check_16bit("unary_backward", grad_in, {&grad_out, &in, &out});
  if (out.data == nullptr) {  // the derivative does not read y
    reduced_detail::on_float_blocks<3>({&grad_in, &grad_out, &in}, [&](const std::array<KernelView, 3>& v, std::int64_t) {
      unary_backward(op, v[0], v[1], v[2], KernelView{}, alpha);
    });
    return;
  }
  reduced_detail::on_float_blocks<4>({&grad_in, &grad_out, &in, &out}, [&](const std::array<KernelView, 4>& v, std::int64_t) {
    unary_backward(op, v[0], v[1], v[2], v[3], alpha);
  });
}

inline void binary_16bit(BinaryOp op, const KernelView& out, const KernelView& a, const KernelView& b) {
  reduced_detail::check_16bit("binary", out, {&a, &b});
  reduced_detail::on_float_blocks<3>({&out, &a, &b}, [&](const std::array<KernelView, 3>& v, std::int64_t) {
    binary(op, v[0], v[1], v[2]);
  });
}

// Each block draws the mask of its own elements: counter offset + its index in the output.
inline void dropout_16bit(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
                          std::uint64_t offset) {
  reduced_detail::check_16bit("dropout", out, {&in});
  TINYXF_CHECK(out.is_contiguous() && in.is_contiguous(), "dropout: operands must be contiguous");
  reduced_detail::on_float_blocks<2>({&out, &in}, [&](const std::array<KernelView, 2>& v, std::int64_t first) {
    dropout(v[0], v[1], p, seed, offset + static_cast<std::uint64_t>(first));
  });
}

// gelu(in + bias) row by row: each row and the bias widened, the float32 kernel run on them.
inline void bias_gelu_16bit(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                            std::int64_t cols, bool approximate_tanh) {
  namespace d = reduced_detail;
  d::check_16bit("bias_gelu", out, {&in, &bias});
  const bool bf16 = d::is_bf16(out.dtype);
  std::vector<float> wide_bias(static_cast<std::size_t>(cols));
  d::widen(wide_bias.data(), static_cast<const std::uint16_t*>(bias.data), 1, cols, bf16);
  const KernelView b = d::block_view(wide_bias.data(), cols);
  parallel_for(0, rows, rows_per_chunk(cols), [&](std::int64_t r0, std::int64_t r1) {
    float* x = d::row_buffer(0, cols);
    float* y = d::row_buffer(1, cols);
    for (std::int64_t r = r0; r < r1; ++r) {
      d::widen(x, static_cast<const std::uint16_t*>(in.data) + r * cols, 1, cols, bf16);
      bias_gelu(d::block_view(y, cols), d::block_view(x, cols), b, 1, cols, approximate_tanh);
      d::narrow(static_cast<std::uint16_t*>(out.data) + r * cols, 1, y, cols, bf16);
    }
  });
}

// The gradient rows as the float32 kernel computes them, rounded once; the bias gradient sums
// those rounded rows (as the composed ops' sum over the 16-bit gradient would) per fixed block of
// rows in double, combined in block order, rounded once.
inline void bias_gelu_backward_16bit(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_out,
                                     const KernelView& in, const KernelView& bias, std::int64_t rows, std::int64_t cols,
                                     bool approximate_tanh) {
  namespace d = reduced_detail;
  d::check_16bit("bias_gelu_backward", grad_in, {&grad_bias, &grad_out, &in, &bias});
  const bool bf16 = d::is_bf16(grad_in.dtype);
  std::vector<float> wide_bias(static_cast<std::size_t>(cols));
  d::widen(wide_bias.data(), static_cast<const std::uint16_t*>(bias.data), 1, cols, bf16);
  const KernelView b = d::block_view(wide_bias.data(), cols);
  const bool want_bias = grad_bias.data != nullptr;
  const std::int64_t n_blocks = column_sum_blocks(rows, cols);
  std::vector<double> parts(want_bias ? static_cast<std::size_t>(n_blocks * cols) : 0, 0.0);
  parallel_for(0, n_blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    float* g = d::row_buffer(0, cols);
    float* x = d::row_buffer(1, cols);
    float* gi = d::row_buffer(2, cols);
    for (std::int64_t blk = b0; blk < b1; ++blk) {
      double* acc = want_bias ? parts.data() + blk * cols : nullptr;
      for (std::int64_t r = rows * blk / n_blocks, r1 = rows * (blk + 1) / n_blocks; r < r1; ++r) {
        d::widen(g, static_cast<const std::uint16_t*>(grad_out.data) + r * cols, 1, cols, bf16);
        d::widen(x, static_cast<const std::uint16_t*>(in.data) + r * cols, 1, cols, bf16);
        bias_gelu_backward(d::block_view(gi, cols), KernelView{}, d::block_view(g, cols), d::block_view(x, cols), b, 1,
                           cols, approximate_tanh);
        std::uint16_t* stored = static_cast<std::uint16_t*>(grad_in.data) + r * cols;
        d::narrow(stored, 1, gi, cols, bf16);
        if (acc) {  // the bias gradient sums the rounded row, read back from L1
          d::widen(gi, stored, 1, cols, bf16);
          fused_detail::add_row_wide(acc, gi, cols);
        }
      }
    }
  });
  if (!want_bias) return;
  std::vector<float> sums(static_cast<std::size_t>(cols));
  combine_blocks(sums.data(), parts, n_blocks, cols);
  d::narrow(static_cast<std::uint16_t*>(grad_bias.data), 1, sums.data(), cols, bf16);
}

// sum / mean over the middle axis of a contiguous 16-bit [outer, reduced, inner] into float32 or
// float64 (Backend::supports_16bit_sum): the blocks and the order of cpu::reduce on the widened
// tensor, each row or block widened into L1 first, so the result is bit for bit that of
// reduce(x.to(float32)) without its float32 copy (a linear's bias gradient under autocast).
inline void reduce_sum_16bit(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
                             std::int64_t reduced, std::int64_t inner) {
  namespace d = reduced_detail;
  TINYXF_CHECK(op == ReduceOp::sum || op == ReduceOp::mean, "reduce ", reduce_op_name(op), ": a ",
               dtype_name(in.dtype), " input is summed only (convert with .to(kFloat32) first)");
  check_reduce_extents(op, outer, reduced, inner);
  if (outer * inner == 0) return;
  const bool bf16 = d::is_bf16(in.dtype);
  const auto* x = static_cast<const std::uint16_t*>(in.data);
  const StoreOne<double> store = store_one_for<double>(out.dtype);
  const auto emit = [&](std::int64_t i, double acc) {
    store(out.data, i, op == ReduceOp::mean ? acc / static_cast<double>(reduced) : acc);
  };
  // Each row segment widened into this thread's buffer (at most one block of a row, or one
  // column tile), then summed as the float32 kernel sums it.
  sum_layouts<double>(
      outer, reduced, inner, emit,
      [&](std::int64_t offset, std::int64_t n) {
        float* row = d::row_buffer(0, n);
        d::widen(row, x + offset, 1, n, bf16);
        return contiguous_sum(row, n);
      },
      [&](double* acc, std::int64_t offset, std::int64_t w) {
        alignas(64) float row[kColumnTile];
        d::widen(row, x + offset, 1, w, bf16);
        for (std::int64_t i = 0; i < w; ++i) acc[i] += static_cast<double>(row[i]);
      });
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
