#pragma once
// The CUDA backend (Device::cuda(i)): tensors in GPU memory from a caching allocator, GEMM through
// cuBLAS, CUDA kernels for every other kernel of the Backend interface. It is a compiled library
// (target tinyxf::cuda, built when CMake finds nvcc); this header has no CUDA includes, so plain
// C++ translation units can use it. Including it registers the backend:
//
//   #include <tinyxf/backends/cuda.hpp>
//   auto x = tinyxf::Tensor::randn({4, 8}, tinyxf::Device::cuda(0));
//   model.to(tinyxf::Device::cuda(0));
//
// On a machine without a GPU or driver the backend is still registered but reports
// available() == false with the reason, and any use of Device::cuda(i) is a clear tinyxf::Error.
// See docs/cuda.md.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "tinyxf/core/backend.hpp"

namespace tinyxf::backends {

namespace cuda_detail {
struct DeviceContext;  // a GPU's stream, cuBLAS handle and error slot (src/cuda_common.cuh)
}

// The backend of one GPU: every kernel, cuBLAS call and copy of the instance runs on its device's
// one stream. The registry makes one instance per GPU (register_cuda_backend, or the plugin);
// backend_for(Device::cuda(i)) returns it. A second instance for the same GPU is an Error: the
// caching allocator reuses a freed block at once because all work of a GPU is on one stream.
class CudaBackend final : public Backend {
 public:
  // Touches no GPU (index 0 exists without one, to say why it is unavailable): the device's
  // stream and handle are made by its first op.
  explicit CudaBackend(int device_index = 0);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  // This GPU's context, made on first use; an Error naming `op` when the GPU is missing.
  cuda_detail::DeviceContext& context(const char* op);

  std::string_view name() const override { return "cuda"; }
  DeviceType device_type() const override { return DeviceType::cuda; }
  bool available() const override;
  std::string unavailable_reason() const override;
  bool host_accessible() const override { return false; }

  std::shared_ptr<void> allocate(std::size_t bytes, int device_index) override;
  void copy_from_host(void* dst, const void* src, std::size_t bytes, int device_index) override;
  void copy_to_host(void* dst, const void* src, std::size_t bytes, int device_index) override;
  MemoryStats memory_stats(int device_index) const override;
  void empty_cache(int device_index) override;
  std::string describe() const override;
  void synchronize(int device_index) override;

  void fill(const KernelView& out, double value) override;
  void copy(const KernelView& out, const KernelView& in) override;
  void unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) override;
  void unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                      const KernelView& in, const KernelView& out, double alpha) override;
  void binary(BinaryOp op, const KernelView& out, const KernelView& a,
              const KernelView& b) override;
  void where(const KernelView& out, const KernelView& cond, const KernelView& a,
             const KernelView& b) override;
  void random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
              std::uint64_t offset) override;

  void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
              std::int64_t reduced, std::int64_t inner) override;

  void gemm(const GemmArgs& args) override;

  void softmax(const KernelView& out, const KernelView& in, std::int64_t rows, std::int64_t cols,
               bool log) override;
  void softmax_backward(const KernelView& grad_in, const KernelView& grad_out,
                        const KernelView& out, std::int64_t rows, std::int64_t cols,
                        bool log) override;
  void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                  const KernelView& in, const KernelView& gamma, const KernelView& beta,
                  std::int64_t rows, std::int64_t cols, double eps) override;
  void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                           const KernelView& grad_beta, const KernelView& grad_out,
                           const KernelView& in, const KernelView& mean, const KernelView& rstd,
                           const KernelView& gamma, std::int64_t rows,
                           std::int64_t cols) override;

  void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                    std::int64_t outer, std::int64_t n_src, std::int64_t inner) override;
  void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                 std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                 std::int64_t skip_index) override;
  void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) override;
  void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
               bool accumulate) override;

  void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) override;

  void nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                const KernelView& target, std::int64_t rows, std::int64_t classes,
                std::int64_t ignore_index) override;
  void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                         const KernelView& count, const KernelView& target, std::int64_t rows,
                         std::int64_t classes, std::int64_t ignore_index) override;

  // bfloat16/float16 elementwise, dropout and bias_gelu kernels computing in float (src/*.cu).
  bool computes_16bit_floats() const override { return true; }

  // ---- fused ops (src/fused.cu, src/attention.cu; see docs/cuda.md) -------------------------
  bool supports_fused_dropout() const override { return true; }
  void dropout(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
               std::uint64_t offset) override;

  bool supports_fused_attention() const override { return true; }
  void scaled_dot_product_attention(const KernelView& out, const KernelView& lse, const KernelView& q,
                                    const KernelView& k, const KernelView& v, const KernelView& mask,
                                    const AttentionArgs& args) override;
  void scaled_dot_product_attention_backward(const KernelView& grad_q, const KernelView& grad_k,
                                             const KernelView& grad_v, const KernelView& grad_out,
                                             const KernelView& q, const KernelView& k, const KernelView& v,
                                             const KernelView& out, const KernelView& lse,
                                             const KernelView& mask, const AttentionArgs& args) override;

  bool supports_fused_bias_gelu() const override { return true; }
  void bias_gelu(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                 std::int64_t cols, bool approximate_tanh) override;
  void bias_gelu_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_out,
                          const KernelView& in, const KernelView& bias, std::int64_t rows, std::int64_t cols,
                          bool approximate_tanh) override;

  bool supports_fused_lstm_cell() const override { return true; }
  void lstm_cell(const KernelView& act, const KernelView& h_out, const KernelView& c_out, const KernelView& gates,
                 const KernelView& c, std::int64_t rows, std::int64_t hidden) override;
  void lstm_cell_backward(const KernelView& grad_gates, const KernelView& grad_c_prev, const KernelView& grad_h,
                          const KernelView& grad_c, const KernelView& act, const KernelView& c, std::int64_t rows,
                          std::int64_t hidden) override;

  bool supports_fused_add_layer_norm() const override { return true; }
  void add_layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd, const KernelView& x,
                      const KernelView& residual, const KernelView& bias, const KernelView& gamma,
                      const KernelView& beta, std::int64_t rows, std::int64_t cols, double eps) override;
  void add_layer_norm_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_gamma,
                               const KernelView& grad_beta, const KernelView& grad_out, const KernelView& x,
                               const KernelView& residual, const KernelView& bias, const KernelView& mean,
                               const KernelView& rstd, const KernelView& gamma, std::int64_t rows,
                               std::int64_t cols) override;

  bool supports_sum_squares() const override { return true; }
  double sum_squares(std::span<const KernelView> tensors) override;

  void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                 const KernelView& exp_avg_sq, const AdamArgs& args) override;
  // Up to 24 parameters per launch (src/nn.cu).
  void multi_tensor_adam_step(std::span<const AdamParamViews> params) override;
  void sgd_step(const KernelView& param, const KernelView& grad, const KernelView& momentum_buffer,
                const SgdArgs& args) override;

 private:
  std::atomic<cuda_detail::DeviceContext*> context_{nullptr};  // owned; set once, read by every op
  std::mutex context_creation_;
};

// ---- device queries (never throw; 0 devices where there is no driver or GPU) -------------------
int cuda_device_count() noexcept;
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"; an Error for an index out of range.
std::string cuda_device_description(int device_index);

// The stream (a cudaStream_t) every kernel and copy of the device runs on, in order: work of
// other streams (NCCL's, distributed/nccl.hpp) orders itself against it with events. It belongs
// to the device's CudaBackend instance (made here if it was not yet).
void* cuda_stream(int device_index);

// ---- index checks --------------------------------------------------------------------------------
// index_select / embedding, index_add and cross_entropy check their indices on the device without
// waiting for the GPU; a bad index is raised as an Error by the next synchronization of the device
// (copy_to_host, item(), to(cpu), synchronize), naming the op that found it, the index and its
// position (PyTorch's device-side asserts are reported at the next sync the same way). Synchronous
// checks (each op waits and raises its own error) with TINYXF_CUDA_SYNC_CHECKS=1 in the
// environment or set_cuda_sync_checks(true): for debugging, slower.
void set_cuda_sync_checks(bool enabled);
bool cuda_sync_checks_enabled();

// ---- flash attention -----------------------------------------------------------------------------
// scaled_dot_product_attention in bfloat16/float16 (and float32 where TF32 is allowed) with head
// dims up to 128 as flash attention: score tiles kept in shared memory, the backward recomputing
// them (docs/cuda.md). Off by default until it has been measured on a GPU; TINYXF_CUDA_FLASH_ATTENTION=1
// in the environment or set_cuda_flash_attention(true) turns it on. Other cases keep the composed
// kernels (cuBLAS GEMMs around row kernels).
void set_cuda_flash_attention(bool enabled);
bool cuda_flash_attention_enabled();

// ---- TF32 tensor-core math for float32 GEMM ------------------------------------------------------
// Off by default (float32 results then match the other backends within the conformance
// tolerances); the environment variable TINYXF_CUDA_TF32=1 turns it on at startup, and
// set_float32_matmul_precision("high" or "medium") turns it on for the GEMMs it covers.
void set_cuda_tf32(bool enabled);
bool cuda_tf32_enabled();

// ---- the caching allocator -------------------------------------------------------------------
struct CudaMemoryStats {
  std::size_t bytes_in_use = 0;       // held by live tensors (rounded block sizes)
  std::size_t peak_bytes_in_use = 0;
  std::size_t bytes_cached = 0;       // freed by tensors, kept for reuse
  std::uint64_t device_allocations = 0;  // cudaMalloc calls so far
  std::uint64_t cache_hits = 0;          // allocations served from the cache
};
CudaMemoryStats cuda_memory_stats(int device_index = 0);
// Returns every cached (unused) block to the driver.
void cuda_empty_cache();

// ---- registration ------------------------------------------------------------------------------
// Registers the CUDA device type with one CudaBackend per GPU, each made on first use
// (idempotent). Called by the inline variable below, so any program with a translation unit that
// includes this header has the backend, even when the library is linked statically.
bool register_cuda_backend();
inline const bool cuda_backend_registered = register_cuda_backend();

}  // namespace tinyxf::backends
