#pragma once
// The front end's way into a backend for the ops a backend may decline (Backend::supports): an
// op the tensor's backend does not support runs on the cpu backend instead — the operands'
// memory is copied to host buffers, the cpu kernel runs on views of them, and the outputs are
// copied back. Slow, but it lets a new backend start with a small mandatory set.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "tinyxf/core/runtime.hpp"

namespace tinyxf {

namespace dispatch_detail {

// Bytes from a view's first element to the end of its last (strides are never negative here).
inline std::size_t view_span_bytes(const KernelView& v) {
  if (!v.data || v.numel() == 0) return 0;
  std::int64_t last = 0;
  for (int i = 0; i < v.ndim; ++i) last += (v.shape[i] - 1) * v.strides[i];
  return static_cast<std::size_t>(last + 1) * dtype_size(v.dtype);
}

class CpuFallback {
 public:
  CpuFallback(Backend& backend, int device_index, const char* op)
      : backend_(backend), device_index_(device_index), cpu_(find_cpu(backend, op)) {}

  Backend& cpu() const { return cpu_; }
  // A host copy of an operand's memory.
  KernelView input(const KernelView& v) { return stage(v, false); }
  // A host copy of an output's memory (copied in too, so the bytes between strided elements
  // survive), written back by finish().
  KernelView output(const KernelView& v) { return stage(v, true); }
  void finish() {
    for (const auto& o : outputs_)
      backend_.copy_from_host(o.device_data, o.host.get(), o.bytes, device_index_);
  }

 private:
  struct Staged {
    void* device_data;
    std::shared_ptr<void> host;
    std::size_t bytes;
  };
  static Backend& find_cpu(const Backend& backend, const char* op) {
    Backend* cpu = runtime().backends().find(DeviceType::cpu);
    TINYXF_CHECK(cpu != nullptr && cpu != &backend, op, ": backend ", backend.name(),
                 " does not support it, and no cpu backend is registered to run it instead");
    return *cpu;
  }
  KernelView stage(const KernelView& v, bool is_output) {
    const std::size_t bytes = view_span_bytes(v);
    if (bytes == 0) return v;
    Staged s{v.data, cpu_.allocate(bytes, 0), bytes};
    backend_.copy_to_host(s.host.get(), v.data, bytes, device_index_);
    KernelView h = v;
    h.data = s.host.get();
    if (is_output) outputs_.push_back(s);
    held_.push_back(std::move(s.host));
    return h;
  }

  Backend& backend_;
  int device_index_;
  Backend& cpu_;
  std::vector<Staged> outputs_;
  std::vector<std::shared_ptr<void>> held_;
};

}  // namespace dispatch_detail

inline void run_unary(Backend& backend, int device_index, UnaryOp op, const KernelView& out,
                      const KernelView& in, double alpha) {
  if (backend.supports(op, in.dtype)) return backend.unary(op, out, in, alpha);
  dispatch_detail::CpuFallback fb(backend, device_index, unary_op_name(op));
  const KernelView host_in = fb.input(in);
  fb.cpu().unary(op, fb.output(out), host_in, alpha);
  fb.finish();
}

inline void run_unary_backward(Backend& backend, int device_index, UnaryOp op,
                               const KernelView& grad_in, const KernelView& grad_out,
                               const KernelView& in, const KernelView& out, double alpha) {
  if (backend.supports(op, in.dtype))
    return backend.unary_backward(op, grad_in, grad_out, in, out, alpha);
  dispatch_detail::CpuFallback fb(backend, device_index, unary_op_name(op));
  const KernelView host_grad_out = fb.input(grad_out), host_in = fb.input(in), host_out = fb.input(out);
  fb.cpu().unary_backward(op, fb.output(grad_in), host_grad_out, host_in, host_out, alpha);
  fb.finish();
}

inline void run_binary(Backend& backend, int device_index, BinaryOp op, const KernelView& out,
                       const KernelView& a, const KernelView& b) {
  if (backend.supports(op, a.dtype)) return backend.binary(op, out, a, b);
  dispatch_detail::CpuFallback fb(backend, device_index, binary_op_name(op));
  const KernelView host_a = fb.input(a), host_b = fb.input(b);
  fb.cpu().binary(op, fb.output(out), host_a, host_b);
  fb.finish();
}

}  // namespace tinyxf
