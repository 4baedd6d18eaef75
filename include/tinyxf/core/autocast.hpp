#pragma once
// Automatic mixed precision (torch.autocast): a thread-local, per-device-type switch that makes
// some ops run in a lower-precision floating dtype (bfloat16 by default on the cpu, float16 on
// cuda, as PyTorch) and others in float32, whatever the dtype of their inputs.
//
//   {
//     tinyxf::AutocastGuard autocast(DeviceType::cpu, kBFloat16);
//     Tensor loss = cross_entropy(model.forward(x), y);  // linear/matmul in bf16, loss in f32
//   }
//   loss.backward();  // float32 gradients reach the float32 parameters through the casts
//
// The op lists follow PyTorch's CUDA autocast policies (aten/src/ATen/autocast_mode.cpp) on
// every device type, the cpu included:
//   lower_precision_fp (inputs cast to the autocast dtype, output in it): matmul, linear (its
//     bias too), scaled_dot_product_attention (fused and packed), the GEMM of bias_gelu;
//   fp32 (inputs of a 16-bit floating dtype cast up to float32, output float32): softmax,
//     log_softmax, layer_norm (and add_layer_norm), nll_loss, cross_entropy,
//     binary_cross_entropy_with_logits, sum, mean.
// PyTorch's CPU fp32 list is shorter (the losses only): its CPU autocast keeps softmax,
// log_softmax, layer_norm, sum and mean of bfloat16 input in bfloat16, where tinyxf computes and
// returns float32. As torch, autocast on the cpu with dtype float32 is off (torch warns "CPU
// Autocast only supports dtypes of torch.bfloat16, torch.float16" and disables it).
// Every other op runs in the dtype of its inputs (type promotion as usual: bf16 + f32 is f32).
// Casts are differentiable, so gradients reach float32 leaves in float32. float64 operands are
// never cast (an op with one runs unchanged). Backward runs with autocast off (the recorded casts
// already fix every dtype), as torch's backward ops are not autocast.
#include <array>

#include "tinyxf/core/device.hpp"
#include "tinyxf/core/dtype.hpp"

namespace tinyxf {

namespace autocast_detail {
struct State {
  std::array<bool, kMaxDeviceTypes> enabled{};
  std::array<DType, kMaxDeviceTypes> dtype{};
  State() {
    for (int i = 0; i < kMaxDeviceTypes; ++i)
      dtype[static_cast<std::size_t>(i)] = static_cast<DeviceType>(i) == DeviceType::cuda ? kFloat16 : kBFloat16;
  }
};
inline State& state() {
  thread_local State s;
  return s;
}
inline std::size_t slot(DeviceType t) { return static_cast<std::size_t>(t) % kMaxDeviceTypes; }
}  // namespace autocast_detail

// torch.is_autocast_enabled(device_type) / torch.get_autocast_dtype(device_type) for this thread.
inline bool autocast_enabled(DeviceType t) { return autocast_detail::state().enabled[autocast_detail::slot(t)]; }
inline DType autocast_dtype(DeviceType t) { return autocast_detail::state().dtype[autocast_detail::slot(t)]; }
inline bool is_autocast_enabled(DeviceType t) { return autocast_enabled(t); }
inline DType get_autocast_dtype(DeviceType t) { return autocast_dtype(t); }

inline void set_autocast_enabled(DeviceType t, bool on) { autocast_detail::state().enabled[autocast_detail::slot(t)] = on; }
inline void set_autocast_dtype(DeviceType t, DType d) {
  TINYXF_CHECK_AS(DTypeError, is_reduced_floating_point(d) || d == kFloat32, "autocast: dtype must be bfloat16, float16 "
                  "or float32, got ", dtype_name(d));
  autocast_detail::state().dtype[autocast_detail::slot(t)] = d;
}

// torch.autocast(device_type, dtype, enabled) as a scope: sets this thread's autocast state for
// one device type and restores the previous state on exit (nestable; enabled = false turns
// autocast off inside an autocast region).
class AutocastGuard {
 public:
  explicit AutocastGuard(DeviceType t, DType dtype, bool enabled = true)
      : type_(t), prev_enabled_(autocast_enabled(t)), prev_dtype_(autocast_dtype(t)) {
    set_autocast_dtype(t, dtype);
    set_autocast_enabled(t, enabled && !(t == DeviceType::cpu && dtype == kFloat32));  // torch: cpu float32 disables
  }
  // The device type's current autocast dtype (bfloat16 on cpu unless set otherwise).
  explicit AutocastGuard(DeviceType t, bool enabled = true) : AutocastGuard(t, autocast_dtype(t), enabled) {}
  ~AutocastGuard() {
    set_autocast_enabled(type_, prev_enabled_);
    autocast_detail::state().dtype[autocast_detail::slot(type_)] = prev_dtype_;
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType type_;
  bool prev_enabled_;
  DType prev_dtype_;
};

// Turns autocast off for every device type in a scope (backward passes, internal recomputation).
class AutocastOffGuard {
 public:
  AutocastOffGuard() : saved_(autocast_detail::state().enabled) { autocast_detail::state().enabled.fill(false); }
  ~AutocastOffGuard() { autocast_detail::state().enabled = saved_; }
  AutocastOffGuard(const AutocastOffGuard&) = delete;
  AutocastOffGuard& operator=(const AutocastOffGuard&) = delete;

 private:
  std::array<bool, kMaxDeviceTypes> saved_;
};

}  // namespace tinyxf
