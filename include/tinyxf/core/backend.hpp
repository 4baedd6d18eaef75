#pragma once
// The backend plugin interface (in the spirit of ggml-backend.h): a backend owns the memory of
// one device type and implements every kernel the front end's ops need. Kernels receive
// KernelView descriptors (pointer + dtype + shape + strides, offsets already applied), never
// tensors, so a backend depends on nothing above this header. Each call is one whole-tensor
// operation: the virtual dispatch happens once per op, never per element.
//
// One instance serves one device (type + index) and holds that device's state (a stream, library
// handles), so its kernels know where they run without being told: the registry below makes one
// instance per device index on first use (ggml's backend device / backend split).
//
// Adding a backend: derive from Backend, take a device type id from register_device_type("name")
// (core/device.hpp; no edit of tinyxf's headers), implement the mandatory kernels (the pure
// virtuals below), and register it: register_backend(instance) for a single-device backend, or
// register_backend_type(type, device_count, factory) for one instance per device index
// (core/runtime.hpp); the front end's ops find it through the tensor's device. Everything else is
// optional: fused ops have compositions, and an elementwise op the backend declines through
// supports() runs on the cpu backend (backend/dispatch.hpp).
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/core/device.hpp"
#include "tinyxf/core/dtype.hpp"
#include "tinyxf/core/error.hpp"
#include "tinyxf/core/shape.hpp"
#include "tinyxf/core/ops_enum.hpp"

namespace tinyxf {

// What a kernel sees of a tensor. `data` points at the first element (storage offset applied).
// Broadcast operands have stride 0 along stretched dims.
struct KernelView {
  void* data = nullptr;
  DType dtype = DType::f32;
  int ndim = 0;
  std::array<std::int64_t, kMaxDims> shape{};
  std::array<std::int64_t, kMaxDims> strides{};  // in elements

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool is_contiguous() const {
    std::int64_t expected = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

// How a float32 GEMM may round its operands, as torch.set_float32_matmul_precision: `highest`
// multiplies in float32; `high` allows TF32 (CUDA tensor cores; float32 elsewhere); `medium`
// also allows bfloat16 products summed in float32 (CPUs with AVX512-BF16; TF32 on CUDA, as in
// PyTorch). Other dtypes ignore it.
enum class MatmulPrecision { highest, high, medium };

// Batched GEMM on row-major operands: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b], with
// op(A) of shape [M, K], op(B) of shape [K, N]; `trans_a` means A[b] is stored as [K, M] (lda is
// its row stride). Batch strides may be 0 (a shared operand). `dtype` is the operands'; C has
// `out_dtype` when set, `dtype` otherwise. bfloat16/float16 operands are read as they are, the
// products summed in float32 and C (bf16/f16 or float32) rounded once; alpha/beta in float32.
struct GemmArgs {
  DType dtype = DType::f32;
  std::optional<DType> out_dtype;
  DType c_dtype() const { return out_dtype.value_or(dtype); }
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  const void* a = nullptr;
  std::int64_t lda = 0, stride_a = 0;
  bool trans_a = false;
  const void* b = nullptr;
  std::int64_t ldb = 0, stride_b = 0;
  bool trans_b = false;
  void* c = nullptr;
  std::int64_t ldc = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
  MatmulPrecision precision = MatmulPrecision::highest;
  // Autocast's casts folded into the GEMM (only where Backend::supports_gemm accepts them): B's
  // dtype when it is not `dtype`, and `cast_to`, a 16-bit dtype to which every operand of another
  // dtype is rounded before the products (as a cast would) and C is rounded before it is stored
  // as c_dtype(). The result is that of cast(A) · cast(B) in cast_to, cast to c_dtype(), without
  // the casts' copies (autocast's linear on float32 weights and activations, and its backward).
  std::optional<DType> b_dtype = std::nullopt;
  std::optional<DType> cast_to = std::nullopt;
  DType b_operand_dtype() const { return b_dtype.value_or(dtype); }
  // A linear layer's bias in the GEMM's epilogue (only where Backend::supports_gemm accepts it;
  // beta = 0): n values of C's dtype added to every row of every product, exactly as a C
  // prefilled with them and beta = 1 would give (torch's addmm), without that prefill's pass.
  const void* bias = nullptr;
};

// One Adam/AdamW update of a contiguous parameter (PyTorch's rules; see optim/adam.hpp).
struct AdamArgs {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // AdamW
  std::int64_t step = 1;                // already incremented
  // The gradient is first multiplied by this, exactly as the backend's unary mul_scalar would
  // (clip_grad_norm_'s coefficient folded into the step: clip_grad_norm_and_step). Only != 1 on
  // backends with supports_adam_grad_coef(), for float32/float64 gradients.
  double grad_coef = 1.0;
  // Adam's bias corrections 1 - beta^step, the same formula in every backend.
  double bias_correction1() const { return 1.0 - std::pow(beta1, static_cast<double>(step)); }
  double bias_correction2() const { return 1.0 - std::pow(beta2, static_cast<double>(step)); }
};
// Fused scaled-dot-product attention over [B, H, L, E] queries, [B, H, S, E] keys and
// [B, H, S, Ev] values (see Backend::scaled_dot_product_attention).
struct AttentionArgs {
  double scale = 1.0;        // scores = scale * q . k
  double dropout_p = 0.0;    // on the attention weights; 0 = no dropout
  bool is_causal = false;    // key j > query i is masked
  std::uint64_t seed = 0;    // dropout stream: weight (b, h, i, j) draws counter
  std::uint64_t offset = 0;  //   offset + ((b * H + h) * L + i) * S + j, as dropout on [B, H, L, S]
  MatmulPrecision precision = MatmulPrecision::highest;  // of its float32 GEMMs (see GemmArgs)
};

// One parameter of a multi-tensor Adam step: its tensors (contiguous, one dtype) and arguments.
struct AdamParamViews {
  KernelView param, grad, exp_avg, exp_avg_sq;
  AdamArgs args;
};

struct SgdArgs {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = true;  // momentum buffer starts as a copy of the gradient
};

// The operand rule of adam_step / sgd_step, checked by every backend before it touches memory:
// each state buffer and the gradient hold the parameter's element count in its dtype (a state
// left float32 by a model moved to float64 would otherwise be read as doubles).
inline void check_step_operand(const char* op, const KernelView& param, const KernelView& operand, const char* what) {
  TINYXF_CHECK(operand.numel() == param.numel() && operand.dtype == param.dtype, op, ": ", what, " has ",
               operand.numel(), " ", dtype_name(operand.dtype), " elements, the parameter ", param.numel(), " ",
               dtype_name(param.dtype));
}
inline void check_adam_operands(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                                const KernelView& exp_avg_sq) {
  check_step_operand("adam_step", param, grad, "the gradient");
  check_step_operand("adam_step", param, exp_avg, "exp_avg");
  check_step_operand("adam_step", param, exp_avg_sq, "exp_avg_sq");
}

// The index rule of gather / scatter (Backend::gather), checked by the host backends before they
// write: every value of the contiguous int64 `index` in [0, bound), else torch's message.
inline void check_gather_scatter_index(const char* op, const KernelView& index, int dim, std::int64_t bound) {
  TINYXF_CHECK(index.dtype == DType::i64 && index.is_contiguous(), op,
               ": the index must be a contiguous int64 tensor, got ", dtype_name(index.dtype));
  const std::int64_t* idx = index.ptr<std::int64_t>();
  for (std::int64_t k = 0, n = index.numel(); k < n; ++k)
    TINYXF_CHECK(idx[k] >= 0 && idx[k] < bound, op, ": index ", idx[k],
                 " is out of bounds for dimension ", dim, " with size ", bound);
}

// torch.sort / torch.topk per line (Backend::sort): which order, and how much of it.
struct SortArgs {
  std::int64_t k = 0;       // positions wanted per line (n for a sort)
  bool descending = false;  // topk: largest
  bool topk = false;        // torch's topk selection instead of a stable sort (backend/sort_line.hpp)
  bool sorted = true;       // topk: the k in order (else in the selection's order)
};

// A device allocator's counters (the essentials of torch.cuda.memory_stats).
struct MemoryStats {
  std::size_t allocated_bytes = 0;       // held by live tensors
  std::size_t peak_allocated_bytes = 0;  // the most there ever was at once
  std::size_t cached_bytes = 0;          // freed by tensors, kept for reuse
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  virtual DeviceType device_type() const = 0;
  // The device this instance serves (given to its constructor; the registry's factory passes the
  // index it makes the instance for). Kernels run there: they get no device argument.
  int device_index() const { return device_index_; }
  Device device() const { return Device{device_type(), device_index_}; }
  // A backend compiled in may still be unusable (e.g. CUDA without a GPU); say why.
  virtual bool available() const { return true; }
  virtual std::string unavailable_reason() const { return {}; }
  // Host-accessible memory can be read and written by the front end directly.
  virtual bool host_accessible() const = 0;

  // ---- memory ------------------------------------------------------------------------------
  // `device_index` is always this instance's own (check_device_index says so when it is not).
  virtual std::shared_ptr<void> allocate(std::size_t bytes, int device_index) = 0;
  virtual void copy_from_host(void* dst, const void* src, std::size_t bytes, int device_index) = 0;
  virtual void copy_to_host(void* dst, const void* src, std::size_t bytes, int device_index) = 0;
  // Waits for the device's queued work and raises any error its kernels recorded on the way
  // (an asynchronous backend's index checks); copy_to_host does the same.
  virtual void synchronize(int /*device_index*/) {}
  // What the device's allocator holds (Runtime::memory_stats); zeros when the backend does not say.
  virtual MemoryStats memory_stats(int /*device_index*/) const { return {}; }
  // Gives cached (freed, kept for reuse) blocks back to the system.
  virtual void empty_cache(int /*device_index*/) {}
  // One line on what the backend runs with, for Runtime::summary() ("cpu: avx512 kernels, ...").
  virtual std::string describe() const { return std::string(name()); }

  // ---- optional elementwise ops --------------------------------------------------------------
  // Whether unary/unary_backward (binary) run `op` on `dtype`; when false the front end runs the
  // op on the cpu backend over host copies of the operands (backend/dispatch.hpp).
  virtual bool supports(UnaryOp /*op*/, DType /*dtype*/) const { return true; }
  virtual bool supports(BinaryOp /*op*/, DType /*dtype*/) const { return true; }
  // Whether unary, unary_backward, binary, dropout and bias_gelu(+backward) take bfloat16/float16
  // operands as they are: each element loaded to float32, computed, and rounded once on store —
  // the values of the front end's widen-compute-round path, without its casts and float32
  // temporaries (autocast's activations stay 16-bit). With supports_fused_attention(), attention
  // takes 16-bit q/k/v/out and gradients too, with a float32 lse (its softmax in float32, the
  // GEMM operands rounded to the 16-bit dtype, as autocast's composed attention). When false the
  // front end widens 16-bit operands to float32 around those kernels, so kernels see
  // float32/float64 only.
  virtual bool computes_16bit_floats() const { return false; }
  // Whether the fused attention kernels take 16-bit operands of this dtype so (a backend may
  // compute 16-bit elementwise ops and still leave attention's to the front end's widening).
  virtual bool computes_16bit_attention(DType /*dtype*/) const { return computes_16bit_floats(); }

  // ---- elementwise -------------------------------------------------------------------------
  virtual void fill(const KernelView& out, double value) = 0;
  // Strided copy with dtype conversion (out.dtype may differ from in.dtype); same shapes.
  virtual void copy(const KernelView& out, const KernelView& in) = 0;
  // unary, unary_backward and binary are optional: a backend without them declines their ops
  // through supports() (the front end never calls them then).
  virtual void unary(UnaryOp op, const KernelView& /*out*/, const KernelView& /*in*/, double /*alpha*/) {
    throw Error(detail::concat("unary ", unary_op_name(op), ": not implemented by backend ", name()));
  }
  // grad_in = grad_out * d op(in) / d in; `out` is op(in) (used by exp, sqrt, tanh, sigmoid ...).
  virtual void unary_backward(UnaryOp op, const KernelView& /*grad_in*/, const KernelView& /*grad_out*/,
                              const KernelView& /*in*/, const KernelView& /*out*/, double /*alpha*/) {
    throw Error(detail::concat("unary_backward ", unary_op_name(op), ": not implemented by backend ", name()));
  }
  // a and b are already broadcast to out's shape (stride 0 on stretched dims).
  virtual void binary(BinaryOp op, const KernelView& /*out*/, const KernelView& /*a*/,
                      const KernelView& /*b*/) {
    throw Error(detail::concat("binary ", binary_op_name(op), ": not implemented by backend ", name()));
  }
  // out = cond != 0 ? a : b, all broadcast to out's shape; cond is uint8.
  virtual void where(const KernelView& out, const KernelView& cond, const KernelView& a,
                     const KernelView& b) = 0;
  // Counter-based random numbers: element i of the (contiguous) output depends only on
  // (seed, offset + i), so every backend produces the same stream.
  //   uniform: [a, b); normal: mean a, std b; bernoulli_scaled: 1/(1-a) with prob 1-a, else 0.
  virtual void random(RandomKind kind, const KernelView& out, double a, double b,
                      std::uint64_t seed, std::uint64_t offset) = 0;

  // ---- reductions (contiguous [outer, reduced, inner] -> [outer, inner]) --------------------
  virtual void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
                      std::int64_t reduced, std::int64_t inner) = 0;
  // Whether reduce() sums (sum, mean) a bfloat16/float16 input into a float32/float64 output, bit
  // for bit as it sums the input widened to float32; otherwise the front end widens it first (a
  // full float32 copy, e.g. of every linear's output gradient for its bias under autocast).
  virtual bool supports_16bit_sum() const { return false; }

  // ---- linear algebra ----------------------------------------------------------------------
  virtual void gemm(const GemmArgs& args) = 0;
  // Whether gemm() takes these operand and result dtypes: by default one operand dtype and no
  // cast_to (the front end then casts the operands itself and multiplies them in cast_to), and
  // no bias (the front end prefills C with it instead).
  virtual bool supports_gemm(const GemmArgs& args) const {
    return !args.cast_to && args.b_operand_dtype() == args.dtype && args.bias == nullptr;
  }

  // ---- normalization and activations over the last dim of contiguous [rows, cols] ----------
  virtual void softmax(const KernelView& out, const KernelView& in, std::int64_t rows,
                       std::int64_t cols, bool log) = 0;
  virtual void softmax_backward(const KernelView& grad_in, const KernelView& grad_out,
                                const KernelView& out, std::int64_t rows, std::int64_t cols,
                                bool log) = 0;
  // gamma/beta may have data == nullptr (no affine). mean/rstd: [rows], saved for backward.
  virtual void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                          const KernelView& in, const KernelView& gamma, const KernelView& beta,
                          std::int64_t rows, std::int64_t cols, double eps) = 0;
  // grad_gamma/grad_beta may have data == nullptr (not needed).
  virtual void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                                   const KernelView& grad_beta, const KernelView& grad_out,
                                   const KernelView& in, const KernelView& mean,
                                   const KernelView& rstd, const KernelView& gamma,
                                   std::int64_t rows, std::int64_t cols) = 0;

  // ---- indexing (contiguous operands) ------------------------------------------------------
  // out[o, j, i] = in[o, index[j], i]; in: [outer, n_src, inner], index: int64 [n_index].
  // Out-of-range indices are an Error naming the index and the bound.
  virtual void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                            std::int64_t outer, std::int64_t n_src, std::int64_t inner) = 0;
  // out[o, index[j], i] += src[o, j, i], skipping j where index[j] == skip_index (padding_idx).
  virtual void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                         std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                         std::int64_t skip_index) = 0;
  // torch.gather / torch.scatter over views of one shape, `dim` aside: index is a contiguous
  // int64 tensor of that shape, and a position p of it stands for the positions p of out and src
  // and, along `dim`, for position index[p] of in (gather) or out (scatter), whose size along
  // `dim` is the bound. Any strides otherwise (src may have stride 0: a scalar value). An index
  // outside [0, bound) is an Error naming it, `dim` and the bound (torch's "index 5 is out of
  // bounds for dimension 1 with size 3"), raised before anything is written.
  // out[p] = in[p with coordinate dim = index[p]].
  virtual void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) = 0;
  // out[p with coordinate dim = index[p]] = src[p], or += src[p] when `accumulate` (a bool sums
  // as logical or). Deterministic: positions that hit one element of out differ only along
  // `dim` and are applied in increasing order along it, so the last one wins (scatter) and sums
  // run in that order (scatter_add).
  virtual void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
                       bool accumulate) = 0;

  // ---- sorting ---------------------------------------------------------------------------
  // The order of each line of `in`, a 2-D view [rows, n] (any strides; every storage dtype, bool
  // as uint8, 16-bit floats by value), as int64 positions along the line: indices is contiguous
  // [rows, args.k], row r holding the first k positions of line r's order. The orders are torch's
  // CPU ones (backend/sort_line.hpp): a stable sort, NaN greater than everything and -0.0 equal to
  // 0.0 (args.topk false), or torch's topk selection (args.topk: its tie order, and with
  // args.sorted false its unsorted order). The front end gathers the values from these.
  virtual void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) = 0;

  // ---- losses ------------------------------------------------------------------------------
  // Mean negative log-likelihood over rows whose target != ignore_index.
  // logp: [rows, classes]; target: int64 [rows]; loss and count: one element each.
  virtual void nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                        const KernelView& target, std::int64_t rows, std::int64_t classes,
                        std::int64_t ignore_index) = 0;
  virtual void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                                 const KernelView& count, const KernelView& target,
                                 std::int64_t rows, std::int64_t classes,
                                 std::int64_t ignore_index) = 0;

  // ---- fused ops (optional: the front end composes them from the kernels above otherwise) ---
  virtual bool supports_fused_dropout() const { return false; }
  // out[i] = in[i] * m_i with m_i = 1/(1-p) where kmath::dropout_keep(seed, offset + i, p), else
  // 0: `x * mask` with the mask random(bernoulli_scaled) would draw, without storing the mask
  // (backward applies the same op to the gradient). Contiguous operands of one floating dtype;
  // out may alias in.
  virtual void dropout(const KernelView& /*out*/, const KernelView& /*in*/, double /*p*/,
                       std::uint64_t /*seed*/, std::uint64_t /*offset*/) {
    throw Error(std::string("dropout: not implemented by backend ") + std::string(name()));
  }

  virtual bool supports_fused_attention() const { return false; }
  // out = dropout(softmax(masked(scale * q k^T))) v per (b, h). q: [B, H, L, E], k: [B, H, S, E],
  // v: [B, H, S, Ev], out: [B, H, L, Ev], any strides with a unit last stride. mask: uint8 viewed
  // as [B, H, L, S] (broadcast strides; data == nullptr: none), 0 = masked: its score becomes the
  // lowest finite value before the softmax (a fully masked row attends uniformly, as HF's
  // masked_fill(finfo.min)). lse: contiguous [B, H, L], the log-sum-exp of each row's (masked,
  // scaled) scores, saved for the backward. Memory beyond the operands: at most a tile per thread.
  virtual void scaled_dot_product_attention(const KernelView& /*out*/, const KernelView& /*lse*/,
                                            const KernelView& /*q*/, const KernelView& /*k*/,
                                            const KernelView& /*v*/, const KernelView& /*mask*/,
                                            const AttentionArgs& /*args*/) {
    throw Error(std::string("scaled_dot_product_attention: not implemented by backend ") +
                std::string(name()));
  }
  // Gradients of the above (grad_q/k/v like q/k/v, any strides with a unit last stride), from
  // the forward's out and lse; the dropout mask is regenerated from (seed, offset).
  virtual void scaled_dot_product_attention_backward(
      const KernelView& /*grad_q*/, const KernelView& /*grad_k*/, const KernelView& /*grad_v*/,
      const KernelView& /*grad_out*/, const KernelView& /*q*/, const KernelView& /*k*/,
      const KernelView& /*v*/, const KernelView& /*out*/, const KernelView& /*lse*/,
      const KernelView& /*mask*/, const AttentionArgs& /*args*/) {
    throw Error(std::string("scaled_dot_product_attention_backward: not implemented by backend ") +
                std::string(name()));
  }

  // Fused epilogues of a GEMM (the front end composes them otherwise: ops/fused.hpp).
  virtual bool supports_fused_bias_gelu() const { return false; }
  // out[r, c] = gelu(s) with s = in[r, c] + bias[c] rounded to the dtype (as `in + bias` would
  // store it): exact erf gelu, or the tanh form when `approximate_tanh`. Contiguous [rows, cols]
  // in/out, contiguous [cols] bias, one floating dtype.
  virtual void bias_gelu(const KernelView& /*out*/, const KernelView& /*in*/, const KernelView& /*bias*/,
                         std::int64_t /*rows*/, std::int64_t /*cols*/, bool /*approximate_tanh*/) {
    throw Error(std::string("bias_gelu: not implemented by backend ") + std::string(name()));
  }
  // grad_in[r, c] = grad_out[r, c] * gelu'(s) (s recomputed from in and bias as above), and
  // grad_bias[c] = sum over r of grad_in[r, c] as stored (data == nullptr: not wanted).
  virtual void bias_gelu_backward(const KernelView& /*grad_in*/, const KernelView& /*grad_bias*/,
                                  const KernelView& /*grad_out*/, const KernelView& /*in*/,
                                  const KernelView& /*bias*/, std::int64_t /*rows*/, std::int64_t /*cols*/,
                                  bool /*approximate_tanh*/) {
    throw Error(std::string("bias_gelu_backward: not implemented by backend ") + std::string(name()));
  }

  virtual bool supports_fused_add_layer_norm() const { return false; }
  // layer_norm (as above) of s[r, c] = (x[r, c] + bias[c]) + residual[r, c], each sum rounded to
  // the dtype as the composed adds would store it; bias may have data == nullptr (then
  // s = x + residual). s is not stored: backward recomputes it. Contiguous operands.
  virtual void add_layer_norm(const KernelView& /*out*/, const KernelView& /*mean*/, const KernelView& /*rstd*/,
                              const KernelView& /*x*/, const KernelView& /*residual*/, const KernelView& /*bias*/,
                              const KernelView& /*gamma*/, const KernelView& /*beta*/, std::int64_t /*rows*/,
                              std::int64_t /*cols*/, double /*eps*/) {
    throw Error(std::string("add_layer_norm: not implemented by backend ") + std::string(name()));
  }
  // grad_in: the gradient of s, which is that of x and of residual alike; grad_bias[c] = sum
  // over r of grad_in[r, c]; grad_bias/grad_gamma/grad_beta may have data == nullptr.
  virtual void add_layer_norm_backward(const KernelView& /*grad_in*/, const KernelView& /*grad_bias*/,
                                       const KernelView& /*grad_gamma*/, const KernelView& /*grad_beta*/,
                                       const KernelView& /*grad_out*/, const KernelView& /*x*/,
                                       const KernelView& /*residual*/, const KernelView& /*bias*/,
                                       const KernelView& /*mean*/, const KernelView& /*rstd*/,
                                       const KernelView& /*gamma*/, std::int64_t /*rows*/, std::int64_t /*cols*/) {
    throw Error(std::string("add_layer_norm_backward: not implemented by backend ") + std::string(name()));
  }

  // One LSTM time step's pointwise part (ops/rnn.hpp; the GEMMs stay with gemm), over `rows`
  // rows of `hidden` units, gate order i, f, g, o as PyTorch: gates [rows, 4 hidden] holds the
  // pre-activations (x W_ihᵀ + b_ih + b_hh + h W_hhᵀ), c [rows, hidden] the previous cell state.
  // Writes act = (σ(i), σ(f), tanh(g), σ(o)) [rows, 4 hidden], c_out = f c + i g and
  // h_out = o tanh(c_out) [rows, hidden] (kmath::LstmCell). Every operand is a 2-D view with a
  // unit column stride and any row stride (h_out may be a column block of a wider output); act may
  // alias gates and c_out may alias c; one floating dtype.
  virtual bool supports_fused_lstm_cell() const { return false; }
  virtual void lstm_cell(const KernelView& /*act*/, const KernelView& /*h_out*/, const KernelView& /*c_out*/,
                         const KernelView& /*gates*/, const KernelView& /*c*/, std::int64_t /*rows*/,
                         std::int64_t /*hidden*/) {
    throw Error(std::string("lstm_cell: not implemented by backend ") + std::string(name()));
  }
  // Its backward from the forward's act and c (c_out recomputed as f c + i g): grad_h of h_out,
  // grad_c of c_out (the gradient arriving from the next step; data == nullptr: zero) give
  // grad_gates [rows, 4 hidden] (of the pre-activations) and grad_c_prev [rows, hidden] (of c).
  // Same layouts as above; grad_c_prev may alias grad_c.
  virtual void lstm_cell_backward(const KernelView& /*grad_gates*/, const KernelView& /*grad_c_prev*/,
                                  const KernelView& /*grad_h*/, const KernelView& /*grad_c*/,
                                  const KernelView& /*act*/, const KernelView& /*c*/, std::int64_t /*rows*/,
                                  std::int64_t /*hidden*/) {
    throw Error(std::string("lstm_cell_backward: not implemented by backend ") + std::string(name()));
  }

  // ---- optimizer steps (contiguous tensors of one dtype) -----------------------------------
  virtual void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                         const KernelView& exp_avg_sq, const AdamArgs& args) = 0;
  virtual void sgd_step(const KernelView& param, const KernelView& grad,
                        const KernelView& momentum_buffer, const SgdArgs& args) = 0;
  // adam_step for every entry (distinct parameters), in one call: a backend may spread all of
  // them over its threads at once instead of one parallel region per tensor. Default: a loop.
  virtual void multi_tensor_adam_step(std::span<const AdamParamViews> params) {
    for (const auto& p : params) adam_step(p.param, p.grad, p.exp_avg, p.exp_avg_sq, p.args);
  }
  // Whether adam_step honours AdamArgs::grad_coef (optional: the gradients are scaled by a
  // separate pass otherwise).
  virtual bool supports_adam_grad_coef() const { return false; }

  // ---- multi-tensor reductions (optional: clip_grad_norm_ composes them otherwise) -----------
  virtual bool supports_sum_squares() const { return false; }
  // The sum over all tensors of the sum of their squared elements, accumulated in double and
  // returned to the host (a NaN or Inf element makes it NaN or Inf). Contiguous floating tensors.
  virtual double sum_squares(std::span<const KernelView> /*tensors*/) {
    throw Error(std::string("sum_squares: not implemented by backend ") + std::string(name()));
  }

 protected:
  explicit Backend(int device_index = 0) : device_index_(device_index) {}
  // For the calls that still name a device (allocate, the copies, ...): an instance serves only
  // its own, so another index means the caller picked the wrong instance.
  void check_device_index(int device_index, const char* op) const {
    TINYXF_CHECK_AS(DeviceError, device_index == device_index_, name(), " ", op, ": called with device index ",
                    device_index, " on the instance serving ", device().str());
  }

 private:
  int device_index_ = 0;
};

// ---- registry ------------------------------------------------------------------------------
// The most device indices of one type the registry holds instances for.
inline constexpr int kMaxDeviceIndices = 64;

// How many devices of a type this machine has, and how to make the instance serving one of them
// (its constructor gets the index; it should touch no device, which the first op can do).
using DeviceCountFn = std::function<int()>;
using BackendFactory = std::function<std::shared_ptr<Backend>(int device_index)>;

// Per device type id: a factory and the instances it made, one per device index, each made on
// first use. The Runtime (core/runtime.hpp) holds the process's registry. Registration and the
// first use of a device (rare) take a mutex; after that instance() is one atomic load, since every
// allocation resolves its backend through it (ops then use the storage's).
class BackendRegistry {
 public:
  // Serves `type` with instances from `factory` for indices [0, device_count()). Index 0 is made
  // even when device_count() is 0: a backend that cannot run here (CUDA without a GPU) then still
  // says why (available(), unavailable_reason()). Registering a type again replaces its factory;
  // the instances made so far stay alive (storage they allocated may still be in use).
  void add_type(DeviceType type, DeviceCountFn device_count, BackendFactory factory) {
    const auto slot = static_cast<std::size_t>(type);
    TINYXF_CHECK(slot < static_cast<std::size_t>(kMaxDeviceTypes), "register_backend_type: device type id ", slot,
                 " is beyond the ", kMaxDeviceTypes, " the registry holds");
    TINYXF_CHECK(device_count && factory, "register_backend_type(", device_type_name(type),
                 "): expected a device count function and a factory");
    std::lock_guard lock(mutex_);
    TypeEntry& entry = types_[slot];
    entry.device_count = std::move(device_count);
    entry.factory = std::move(factory);
    for (auto& instance : entry.instances) instance.store(nullptr, std::memory_order_release);
    entry.registered.store(true, std::memory_order_release);
  }
  // A single-device backend: `backend` serves index 0 of its device type, the only index there is.
  void add(std::shared_ptr<Backend> backend) {
    TINYXF_CHECK(backend != nullptr, "register_backend: expected a backend, got nullptr");
    TINYXF_CHECK(backend->device_index() == 0, "register_backend: backend ", backend->name(), " serves ",
                 backend->device().str(), "; an instance registered alone serves index 0 (register_backend_type "
                 "makes one instance per device index)");
    add_type(backend->device_type(), [] { return 1; }, [backend](int) { return backend; });
  }

  // The instance serving `device`, made on first use; nullptr when no backend serves its type. A
  // device index the type does not have is a DeviceError naming the device and the count.
  Backend* instance(const Device& device) const {
    const auto type = static_cast<std::size_t>(device.type);
    if (type < types_.size() && device.index >= 0 && device.index < kMaxDeviceIndices)
      if (Backend* b = types_[type].instances[static_cast<std::size_t>(device.index)].load(std::memory_order_acquire))
        return b;
    return make_instance(device);
  }
  // The first instance (index 0) of a type, made on first use; nullptr when no backend serves it.
  Backend* find(DeviceType type) const { return instance(Device{type, 0}); }
  // How many devices of `type` there are (0 for a type nobody serves, or one that cannot run here).
  int device_count(DeviceType type) const {
    const auto slot = static_cast<std::size_t>(type);
    if (slot >= types_.size() || !types_[slot].registered.load(std::memory_order_acquire)) return 0;
    std::lock_guard lock(mutex_);
    return types_[slot].device_count();
  }
  // The first instance of every registered type, in device type order (built-in ones first).
  std::vector<Backend*> all() const {
    std::vector<Backend*> out;
    for (std::size_t t = 0; t < types_.size(); ++t)
      if (Backend* b = find(static_cast<DeviceType>(t))) out.push_back(b);
    return out;
  }

 private:
  struct TypeEntry {
    std::atomic<bool> registered{false};
    DeviceCountFn device_count;  // guarded by mutex_, like factory
    BackendFactory factory;
    std::array<std::atomic<Backend*>, kMaxDeviceIndices> instances{};
  };

  // "1 device (cpu:0)", "2 devices (cuda:0 .. cuda:1)", "0 devices".
  static std::string describe_devices(const std::string& name, int count) {
    if (count <= 0) return "0 devices";
    if (count == 1) return "1 device (" + name + ":0)";
    return detail::concat(count, " devices (", name, ":0 .. ", name, ":", count - 1, ")");
  }

  // The slow path of instance(): validates the index and runs the factory once per device.
  Backend* make_instance(const Device& device) const {
    const auto type = static_cast<std::size_t>(device.type);
    if (type >= types_.size() || !types_[type].registered.load(std::memory_order_acquire)) return nullptr;
    const std::string name = device_type_name(device.type);
    const std::string wanted = name + ":" + std::to_string(device.index);
    std::lock_guard lock(mutex_);  // recursive: a factory may look up other devices' backends
    TypeEntry& entry = types_[type];
    const int count = entry.device_count();
    if (device.index != 0) {  // index 0 always exists (see add_type)
      if (count == 0) {       // nothing runs here: the first instance says why
        const Backend* first = make_instance(Device{device.type, 0});
        TINYXF_CHECK_AS(DeviceError, first->available(), "device ", wanted, " is not available: ",
                        first->unavailable_reason());
      }
      TINYXF_CHECK_AS(DeviceError, device.index >= 0 && device.index < count && device.index < kMaxDeviceIndices,
                      "no device ", wanted, ": device index ", device.index, " is out of range, backend ", name,
                      " has ", describe_devices(name, count), " here",
                      count > kMaxDeviceIndices
                          ? detail::concat(", of which the registry serves the first ", kMaxDeviceIndices)
                          : std::string());
    }
    auto& slot = entry.instances[static_cast<std::size_t>(device.index)];
    if (Backend* b = slot.load(std::memory_order_acquire)) return b;  // made while we waited
    std::shared_ptr<Backend> made = entry.factory(device.index);
    TINYXF_CHECK(made != nullptr, "backend ", name, ": its factory made no instance for ", wanted);
    TINYXF_CHECK(made->device() == device, "backend ", name, ": its factory, asked for ", wanted,
                 ", made an instance serving ", made->device().str());
    owned_.push_back(made);
    slot.store(made.get(), std::memory_order_release);
    return made.get();
  }

  mutable std::recursive_mutex mutex_;
  mutable std::vector<std::shared_ptr<Backend>> owned_;  // every instance ever made, never freed
  mutable std::array<TypeEntry, kMaxDeviceTypes> types_{};
};

}  // namespace tinyxf
