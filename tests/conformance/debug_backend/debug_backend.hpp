#pragma once
// The debug backend: counts every kernel call and forwards it to the cpu backend. It lives in
// the test tree, one folder and one registration, to show that a backend needs no edit of
// tinyxf's headers: its device type ("debug") is handed out by the registry at run time, and the
// whole conformance suite runs against it (TINYXF_BACKEND=debug). It can also declare unary ops
// unsupported, which makes the front end run them on the cpu backend (backend/dispatch.hpp).
// It has two devices, debug:0 and debug:1, one instance each (the registry makes them on first
// use), so tests can tell which instance ran an op.
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "tinyxf/tensor.hpp"

namespace tinyxf::testing {

class DebugBackend final : public Backend {
 public:
  static DeviceType type() {
    static const DeviceType t = register_device_type("debug");
    return t;
  }
  static constexpr int kDevices = 2;
  static Device device(int index = 0) { return Device{type(), index}; }

  // `device_type` other than "debug": the same backend under a type of a test's own (a fresh
  // registry entry).
  explicit DebugBackend(int device_index = 0, DeviceType device_type = type())
      : Backend(device_index), type_(device_type), name_(device_type_name(device_type)) {}

  std::string_view name() const override { return name_; }
  DeviceType device_type() const override { return type_; }
  bool host_accessible() const override { return true; }

  // Calls of one kernel since the last reset: the Backend method's name, and for unary ops also
  // "unary <op>" / "unary_backward <op>".
  std::int64_t calls(const std::string& kernel) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(kernel);
    return it == counts_.end() ? 0 : it->second;
  }
  std::int64_t total_calls() const {
    std::lock_guard lock(mutex_);
    std::int64_t n = 0;
    for (const auto& [kernel, count] : counts_) n += count;
    return n;
  }
  void reset_counts() {
    std::lock_guard lock(mutex_);
    counts_.clear();
  }
  void set_unsupported(UnaryOp op, bool unsupported) {
    std::lock_guard lock(mutex_);
    if (unsupported)
      unsupported_.insert(op);
    else
      unsupported_.erase(op);
  }
  using Backend::supports;
  bool supports(UnaryOp op, DType) const override {
    std::lock_guard lock(mutex_);
    return !unsupported_.count(op);
  }

  // ---- memory: host memory from the cpu backend --------------------------------------------
  std::shared_ptr<void> allocate(std::size_t bytes, int index) override {
    count("allocate");
    check_device_index(index, "allocate");
    return cpu().allocate(bytes, 0);
  }
  void copy_from_host(void* dst, const void* src, std::size_t bytes, int index) override {
    count("copy_from_host");
    check_device_index(index, "copy_from_host");
    cpu().copy_from_host(dst, src, bytes, 0);
  }
  void copy_to_host(void* dst, const void* src, std::size_t bytes, int index) override {
    count("copy_to_host");
    check_device_index(index, "copy_to_host");
    cpu().copy_to_host(dst, src, bytes, 0);
  }

  // ---- kernels --------------------------------------------------------------------------------
  void fill(const KernelView& out, double value) override {
    count("fill");
    cpu().fill(out, value);
  }
  void copy(const KernelView& out, const KernelView& in) override {
    count("copy");
    cpu().copy(out, in);
  }
  void unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) override {
    check_supported(op);
    count("unary");
    count(std::string("unary ") + unary_op_name(op));
    cpu().unary(op, out, in, alpha);
  }
  void unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                      const KernelView& in, const KernelView& out, double alpha) override {
    check_supported(op);
    count("unary_backward");
    count(std::string("unary_backward ") + unary_op_name(op));
    cpu().unary_backward(op, grad_in, grad_out, in, out, alpha);
  }
  void binary(BinaryOp op, const KernelView& out, const KernelView& a, const KernelView& b) override {
    count("binary");
    cpu().binary(op, out, a, b);
  }
  void where(const KernelView& out, const KernelView& cond, const KernelView& a,
             const KernelView& b) override {
    count("where");
    cpu().where(out, cond, a, b);
  }
  void random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
              std::uint64_t offset) override {
    count("random");
    cpu().random(kind, out, a, b, seed, offset);
  }
  void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
              std::int64_t reduced, std::int64_t inner) override {
    count("reduce");
    cpu().reduce(op, out, in, outer, reduced, inner);
  }
  void gemm(const GemmArgs& args) override {
    count("gemm");
    cpu().gemm(args);
  }
  void softmax(const KernelView& out, const KernelView& in, std::int64_t rows, std::int64_t cols,
               bool log) override {
    count("softmax");
    cpu().softmax(out, in, rows, cols, log);
  }
  void softmax_backward(const KernelView& grad_in, const KernelView& grad_out, const KernelView& out,
                        std::int64_t rows, std::int64_t cols, bool log) override {
    count("softmax_backward");
    cpu().softmax_backward(grad_in, grad_out, out, rows, cols, log);
  }
  void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                  const KernelView& in, const KernelView& gamma, const KernelView& beta,
                  std::int64_t rows, std::int64_t cols, double eps) override {
    count("layer_norm");
    cpu().layer_norm(out, mean, rstd, in, gamma, beta, rows, cols, eps);
  }
  void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                           const KernelView& grad_beta, const KernelView& grad_out,
                           const KernelView& in, const KernelView& mean, const KernelView& rstd,
                           const KernelView& gamma, std::int64_t rows, std::int64_t cols) override {
    count("layer_norm_backward");
    cpu().layer_norm_backward(grad_in, grad_gamma, grad_beta, grad_out, in, mean, rstd, gamma, rows, cols);
  }
  void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                    std::int64_t outer, std::int64_t n_src, std::int64_t inner) override {
    count("index_select");
    cpu().index_select(out, in, index, outer, n_src, inner);
  }
  void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                 std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                 std::int64_t skip_index) override {
    count("index_add");
    cpu().index_add(out, src, index, outer, n_dst, inner, skip_index);
  }
  void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) override {
    count("gather");
    cpu().gather(out, in, index, dim);
  }
  void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
               bool accumulate) override {
    count("scatter");
    cpu().scatter(out, index, src, dim, accumulate);
  }
  void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) override {
    count("sort");
    cpu().sort(indices, in, args);
  }
  void nll_loss(const KernelView& loss, const KernelView& count_view, const KernelView& logp,
                const KernelView& target, std::int64_t rows, std::int64_t classes,
                std::int64_t ignore_index) override {
    count("nll_loss");
    cpu().nll_loss(loss, count_view, logp, target, rows, classes, ignore_index);
  }
  void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                         const KernelView& count_view, const KernelView& target, std::int64_t rows,
                         std::int64_t classes, std::int64_t ignore_index) override {
    count("nll_loss_backward");
    cpu().nll_loss_backward(grad_logp, grad_loss, count_view, target, rows, classes, ignore_index);
  }
  void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                 const KernelView& exp_avg_sq, const AdamArgs& args) override {
    count("adam_step");
    cpu().adam_step(param, grad, exp_avg, exp_avg_sq, args);
  }
  void sgd_step(const KernelView& param, const KernelView& grad, const KernelView& momentum_buffer,
                const SgdArgs& args) override {
    count("sgd_step");
    cpu().sgd_step(param, grad, momentum_buffer, args);
  }
  // The optional kernels are left out: the front end composes them from the ones above, so the
  // conformance suite also checks every composed fallback.

 private:
  static Backend& cpu() { return backend_for(Device::cpu()); }
  void count(const std::string& kernel) const {
    std::lock_guard lock(mutex_);
    ++counts_[kernel];
  }
  void check_supported(UnaryOp op) const {
    TINYXF_CHECK(supports(op, DType::f32), "debug backend: ", unary_op_name(op),
                 " was declared unsupported, yet its kernel was called");
  }

  DeviceType type_;
  std::string name_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::int64_t> counts_;
  std::set<UnaryOp> unsupported_;
};

// The one registration: an instance per device index, made on first use.
inline const bool debug_backend_registered = register_backend_type(
    DebugBackend::type(), [] { return DebugBackend::kDevices; },
    [](int index) { return std::make_shared<DebugBackend>(index); });

// The instance serving debug:<index>.
inline DebugBackend& debug_backend(int index = 0) {
  return static_cast<DebugBackend&>(backend_for(DebugBackend::device(index)));
}

}  // namespace tinyxf::testing
