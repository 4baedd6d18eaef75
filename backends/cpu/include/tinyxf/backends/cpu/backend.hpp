#pragma once
// The cpu backend's class (Device::cpu()): xsimd kernels for elementwise math, reductions,
// softmax and layer_norm; OpenBLAS for GEMM; tinyxf's thread pool (core/parallel.hpp) for
// every kernel with enough work. Results agree with the reference backend within the
// tolerances documented in tests/core/cpu_kernels_test.cpp; docs/backends.md has the design
// and benchmark numbers. Including this header compiles the kernels into the including
// translation unit; <tinyxf/backends/cpu.hpp> registers the backend (from here, or from the
// compiled tinyxf::cpu library).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tinyxf/core/backend.hpp"
#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/backends/cpu/allocator.hpp"
#include "tinyxf/backends/cpu/attention.hpp"
#include "tinyxf/backends/cpu/elementwise.hpp"
#include "tinyxf/backends/cpu/fused.hpp"
#include "tinyxf/backends/cpu/gemm.hpp"
#include "tinyxf/backends/cpu/index.hpp"
#include "tinyxf/backends/cpu/norm.hpp"
#include "tinyxf/backends/cpu/optim.hpp"
#include "tinyxf/backends/cpu/reduced.hpp"
#include "tinyxf/backends/cpu/reduce.hpp"
#include "tinyxf/backends/cpu/rnn.hpp"
#include "tinyxf/backends/cpu/sort.hpp"
#include "tinyxf/backends/host_memory.hpp"

namespace tinyxf::backends::inline TINYXF_CPU_ISA {

class CpuBackend : public Backend {
 public:
  // OpenBLAS is set up (single-threaded, its kernel set: blas_core.hpp) once, with the first
  // cpu backend the process makes: at registration, before any kernel runs.
  CpuBackend() { cpu::setup_blas(); }

  std::string_view name() const override { return "cpu"; }
  DeviceType device_type() const override { return DeviceType::cpu; }
  bool host_accessible() const override { return true; }
  std::string describe() const override {
    const auto& blas = cpu::setup_blas();
    const std::string_view isa = TINYXF_CPU_ISA_NAME;
    std::string out = "cpu: " + std::string(isa == "sse42" ? "sse4.2" : isa) + " kernels, OpenBLAS " +
                      (blas.core.empty() ? std::string("(kernel set not reported)") : blas.core);
    if (!blas.replaced_core.empty()) out += " (OpenBLAS chose " + blas.replaced_core + ")";
    return out;
  }
  // Blocks of at least CachingHostAllocator::kMinCachedBytes; smaller ones come from malloc.
  MemoryStats memory_stats(int) const override {
    const auto stats = cpu::CachingHostAllocator::instance().stats();
    return {.allocated_bytes = stats.live, .peak_allocated_bytes = stats.high_water,
            .cached_bytes = stats.cached};
  }
  void empty_cache(int) override { cpu::CachingHostAllocator::instance().release_cached(); }

  std::shared_ptr<void> allocate(std::size_t bytes, int) override {
    return cpu::CachingHostAllocator::instance().allocate(bytes);
  }
  void copy_from_host(void* dst, const void* src, std::size_t n, int) override {
    host::copy_bytes(dst, src, n);
  }
  void copy_to_host(void* dst, const void* src, std::size_t n, int) override {
    host::copy_bytes(dst, src, n);
  }

  void fill(const KernelView& out, double value) override { cpu::fill(out, value); }
  void copy(const KernelView& out, const KernelView& in) override { cpu::copy(out, in); }
  // bfloat16/float16 operands of the elementwise ops, dropout and bias_gelu are computed in
  // float32 block by block inside the kernels (reduced.hpp); attention takes bf16 q/k/v where
  // bf16 products pay (its GEMMs multiply them natively), other 16-bit operands are widened by
  // the front end.
  bool computes_16bit_floats() const override { return true; }
  bool computes_16bit_attention(DType dtype) const override {
#ifdef TINYXF_HAVE_BF16_GEMM
    return dtype == DType::bf16 && cpu::bf16_products_pay();
#else
    (void)dtype;
    return false;
#endif
  }
  void unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) override {
    if (is_reduced_floating_point(out.dtype)) return cpu::unary_16bit(op, out, in, alpha);
    cpu::unary(op, out, in, alpha);
  }
  void unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                      const KernelView& in, const KernelView& out, double alpha) override {
    if (is_reduced_floating_point(grad_in.dtype)) return cpu::unary_backward_16bit(op, grad_in, grad_out, in, out, alpha);
    cpu::unary_backward(op, grad_in, grad_out, in, out, alpha);
  }
  void binary(BinaryOp op, const KernelView& out, const KernelView& a,
              const KernelView& b) override {
    if (is_reduced_floating_point(out.dtype)) return cpu::binary_16bit(op, out, a, b);
    cpu::binary(op, out, a, b);
  }
  void where(const KernelView& out, const KernelView& cond, const KernelView& a,
             const KernelView& b) override {
    cpu::where(out, cond, a, b);
  }
  void random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
              std::uint64_t offset) override {
    cpu::random(kind, out, a, b, seed, offset);
  }

  void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
              std::int64_t reduced, std::int64_t inner) override {
    if (is_reduced_floating_point(in.dtype)) return cpu::reduce_sum_16bit(op, out, in, outer, reduced, inner);
    cpu::reduce(op, out, in, outer, reduced, inner);
  }
  bool supports_16bit_sum() const override { return true; }

  void gemm(const GemmArgs& args) override { cpu::gemm(args); }
  // Autocast's casts folded into the bf16 GEMM on CPUs with AVX512-BF16 (gemm_cast).
  // A float32 GEMM's bias in the epilogue (beta = 0; the bf16 kernels add it in registers).
  bool supports_gemm(const GemmArgs& args) const override {
    if (args.bias != nullptr) return cpu::gemm_detail::supports_bias_gemm(args);
    return args.cast_to ? cpu::gemm_detail::supports_cast_gemm(args) : Backend::supports_gemm(args);
  }

  void softmax(const KernelView& out, const KernelView& in, std::int64_t rows, std::int64_t cols,
               bool log) override {
    cpu::softmax(out, in, rows, cols, log);
  }
  void softmax_backward(const KernelView& grad_in, const KernelView& grad_out,
                        const KernelView& out, std::int64_t rows, std::int64_t cols,
                        bool log) override {
    cpu::softmax_backward(grad_in, grad_out, out, rows, cols, log);
  }
  void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                  const KernelView& in, const KernelView& gamma, const KernelView& beta,
                  std::int64_t rows, std::int64_t cols, double eps) override {
    cpu::layer_norm(out, mean, rstd, in, gamma, beta, rows, cols, eps);
  }
  void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                           const KernelView& grad_beta, const KernelView& grad_out,
                           const KernelView& in, const KernelView& mean, const KernelView& rstd,
                           const KernelView& gamma, std::int64_t rows,
                           std::int64_t cols) override {
    cpu::layer_norm_backward(grad_in, grad_gamma, grad_beta, grad_out, in, mean, rstd, gamma,
                             rows, cols);
  }

  void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                    std::int64_t outer, std::int64_t n_src, std::int64_t inner) override {
    cpu::index_select(out, in, index, outer, n_src, inner);
  }
  void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                 std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                 std::int64_t skip_index) override {
    cpu::index_add(out, src, index, outer, n_dst, inner, skip_index);
  }

  void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) override {
    cpu::gather(out, in, index, dim);
  }
  void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
               bool accumulate) override {
    cpu::scatter(out, index, src, dim, accumulate);
  }

  void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) override {
    cpu::sort(indices, in, args);
  }

  void nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                const KernelView& target, std::int64_t rows, std::int64_t classes,
                std::int64_t ignore_index) override {
    cpu::nll_loss(loss, count, logp, target, rows, classes, ignore_index);
  }
  void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                         const KernelView& count, const KernelView& target, std::int64_t rows,
                         std::int64_t classes, std::int64_t ignore_index) override {
    cpu::nll_loss_backward(grad_logp, grad_loss, count, target, rows, classes, ignore_index);
  }

  bool supports_fused_dropout() const override { return true; }
  void dropout(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
               std::uint64_t offset) override {
    if (is_reduced_floating_point(in.dtype)) return cpu::dropout_16bit(out, in, p, seed, offset);
    cpu::dropout(out, in, p, seed, offset);
  }

  bool supports_fused_attention() const override { return true; }
  void scaled_dot_product_attention(const KernelView& out, const KernelView& lse,
                                    const KernelView& q, const KernelView& k, const KernelView& v,
                                    const KernelView& mask, const AttentionArgs& args) override {
    cpu::scaled_dot_product_attention(out, lse, q, k, v, mask, args);
  }
  void scaled_dot_product_attention_backward(
      const KernelView& grad_q, const KernelView& grad_k, const KernelView& grad_v,
      const KernelView& grad_out, const KernelView& q, const KernelView& k, const KernelView& v,
      const KernelView& out, const KernelView& lse, const KernelView& mask,
      const AttentionArgs& args) override {
    cpu::scaled_dot_product_attention_backward(grad_q, grad_k, grad_v, grad_out, q, k, v, out, lse,
                                               mask, args);
  }

  bool supports_fused_bias_gelu() const override { return true; }
  void bias_gelu(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                 std::int64_t cols, bool approximate_tanh) override {
    if (is_reduced_floating_point(in.dtype)) return cpu::bias_gelu_16bit(out, in, bias, rows, cols, approximate_tanh);
    cpu::bias_gelu(out, in, bias, rows, cols, approximate_tanh);
  }
  void bias_gelu_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_out,
                          const KernelView& in, const KernelView& bias, std::int64_t rows, std::int64_t cols,
                          bool approximate_tanh) override {
    if (is_reduced_floating_point(in.dtype))
      return cpu::bias_gelu_backward_16bit(grad_in, grad_bias, grad_out, in, bias, rows, cols, approximate_tanh);
    cpu::bias_gelu_backward(grad_in, grad_bias, grad_out, in, bias, rows, cols, approximate_tanh);
  }

  bool supports_fused_lstm_cell() const override { return true; }
  void lstm_cell(const KernelView& act, const KernelView& h_out, const KernelView& c_out, const KernelView& gates,
                 const KernelView& c, std::int64_t rows, std::int64_t hidden) override {
    cpu::lstm_cell(act, h_out, c_out, gates, c, rows, hidden);
  }
  void lstm_cell_backward(const KernelView& grad_gates, const KernelView& grad_c_prev, const KernelView& grad_h,
                          const KernelView& grad_c, const KernelView& act, const KernelView& c, std::int64_t rows,
                          std::int64_t hidden) override {
    cpu::lstm_cell_backward(grad_gates, grad_c_prev, grad_h, grad_c, act, c, rows, hidden);
  }

  bool supports_fused_add_layer_norm() const override { return true; }
  void add_layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd, const KernelView& x,
                      const KernelView& residual, const KernelView& bias, const KernelView& gamma,
                      const KernelView& beta, std::int64_t rows, std::int64_t cols, double eps) override {
    cpu::add_layer_norm(out, mean, rstd, x, residual, bias, gamma, beta, rows, cols, eps);
  }
  void add_layer_norm_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_gamma,
                               const KernelView& grad_beta, const KernelView& grad_out, const KernelView& x,
                               const KernelView& residual, const KernelView& bias, const KernelView& mean,
                               const KernelView& rstd, const KernelView& gamma, std::int64_t rows,
                               std::int64_t cols) override {
    cpu::add_layer_norm_backward(grad_in, grad_bias, grad_gamma, grad_beta, grad_out, x, residual, bias, mean, rstd,
                                 gamma, rows, cols);
  }

  void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                 const KernelView& exp_avg_sq, const AdamArgs& args) override {
    cpu::adam_step(param, grad, exp_avg, exp_avg_sq, args);
  }
  void sgd_step(const KernelView& param, const KernelView& grad,
                const KernelView& momentum_buffer, const SgdArgs& args) override {
    cpu::sgd_step(param, grad, momentum_buffer, args);
  }
  void multi_tensor_adam_step(std::span<const AdamParamViews> params) override {
    cpu::multi_tensor_adam_step(params);
  }
  bool supports_adam_grad_coef() const override { return true; }
  bool supports_sum_squares() const override { return true; }
  double sum_squares(std::span<const KernelView> tensors) override { return cpu::sum_squares(tensors); }
};

}  // namespace tinyxf::backends::TINYXF_CPU_ISA
