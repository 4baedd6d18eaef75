#pragma once
// tinyxf::distributed: the collective communication interface data-parallel training is built on
// (PyTorch's torch.distributed ProcessGroup). A ProcessGroup is this process's view of a group of
// `size()` processes, each with its `rank()`: all_reduce (sum or average, in place), broadcast
// from a root, all_gather and barrier, over tensors of the group's device (contiguous; the same
// shape and dtype on every rank). Implementations: MPI for cpu tensors (distributed/mpi.hpp,
// needs <mpi.h>), NCCL for cuda tensors (distributed/nccl.hpp, the compiled tinyxf::nccl), and
// SingleProcessGroup (size 1) for code that runs with or without a launcher. This header needs
// neither MPI nor CUDA.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tinyxf/ops/elementwise.hpp"  // tensors and their ops (Tensor::clone, to, select)

namespace tinyxf::distributed {

enum class ReduceOp { sum, avg };

inline const char* reduce_op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : "avg"; }

// An operation in flight (non-blocking collectives): wait() returns once its result is in the
// tensor it was given (for a device with streams: once later work on that device sees it).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Progresses the operation without blocking; true once it is complete.
  virtual bool test() = 0;
};

// A Work that was complete when returned.
class CompletedWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;
  // The device its tensors live on (cpu for MPI, cuda:i for NCCL).
  virtual Device device() const = 0;

  // Starts reducing `t` in place over all ranks; the result is only valid after wait().
  virtual std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // Copies rank `root`'s `t` into every rank's `t`.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // Every rank's `t`, in rank order (size() tensors of t's shape).
  virtual std::vector<Tensor> all_gather(const Tensor& t) = 0;
  virtual void barrier() = 0;

  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum) { all_reduce_async(t, op)->wait(); }
  bool is_main() const { return rank() == 0; }

 protected:
  // The checks every implementation makes on a collective's tensor.
  void check_tensor(const Tensor& t, const char* op) const {
    TINYXF_CHECK_AS(ValueError, t.defined(), backend_name(), " ", op, ": undefined tensor");
    TINYXF_CHECK_AS(ValueError, t.device() == device(), backend_name(), " ", op, ": the tensor is on ",
                    t.device().str(), ", the process group on ", device().str());
    TINYXF_CHECK_AS(ValueError, t.is_contiguous(), backend_name(), " ", op,
                    ": the tensor must be contiguous (call .contiguous() first)");
  }
};

// Every rank's `text`, in rank order (strings of any length; e.g. per-rank state for a checkpoint).
inline std::vector<std::string> all_gather_string(ProcessGroup& group, const std::string& text) {
  const TensorOptions on_group = TensorOptions(group.device());
  Tensor length = Tensor::full({1}, static_cast<double>(text.size()), on_group.dtype(kInt64));
  std::int64_t longest = 0;
  std::vector<std::int64_t> lengths;
  for (const Tensor& l : group.all_gather(length)) {
    lengths.push_back(l.item<std::int64_t>());
    longest = std::max(longest, lengths.back());
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(longest), 0);
  std::copy(text.begin(), text.end(), bytes.begin());
  Tensor mine = Tensor::from_vector(bytes).to(group.device());
  std::vector<std::string> out;
  const std::vector<Tensor> gathered = group.all_gather(mine);
  for (std::size_t r = 0; r < gathered.size(); ++r) {
    const std::vector<std::uint8_t> v = gathered[r].to_vector<std::uint8_t>();
    out.emplace_back(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lengths[r]));
  }
  return out;
}

// The group of one process: every collective is the identity (training code can use a process
// group whether or not it was launched by mpirun).
class SingleProcessGroup final : public ProcessGroup {
 public:
  explicit SingleProcessGroup(Device device = Device::cpu()) : device_(device) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend_name() const override { return "single"; }
  Device device() const override { return device_; }
  std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp) override {
    check_tensor(t, "all_reduce");
    return std::make_shared<CompletedWork>();
  }
  void broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    TINYXF_CHECK_AS(ValueError, root == 0, "broadcast: root ", root, " outside a group of 1");
  }
  std::vector<Tensor> all_gather(const Tensor& t) override {
    check_tensor(t, "all_gather");
    return {t.clone()};
  }
  void barrier() override {}

 private:
  Device device_;
};

}  // namespace tinyxf::distributed
