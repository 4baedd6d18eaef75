#pragma once
// DistributedDataParallel: data-parallel training over a ProcessGroup (PyTorch's
// torch.nn.parallel.DistributedDataParallel). Every rank holds a replica of the module and runs
// forward and backward on its own shard of the global batch; DDP makes every replica's gradients
// the average over ranks, so that each rank's optimizer step is the one a single process would
// take on the global batch (for a loss that is a mean over equally sized local batches).
//
//   DistributedDataParallel ddp(model, pg);        // broadcasts rank 0's parameters and buffers
//   auto loss = model.forward(local_batch).loss;   // call the module itself
//   loss.backward();                               // gradients come back averaged
//   optimizer.step();
//
// How: the trainable parameters are cut into buckets of about bucket_cap_mb, in reverse
// registration order (roughly the order backward produces their gradients). A
// post-accumulate-grad hook on each parameter (autograd/engine.hpp) copies its gradient into its
// bucket's flat buffer; when a bucket has every gradient it is all-reduced with a non-blocking
// collective (MPI_Iallreduce, ncclAllReduce on NCCL's stream) while backward goes on computing
// the earlier layers' gradients. Buckets are launched in bucket order (every rank issues the
// collectives in the same order), and a callback queued on the engine waits for all of them at
// the end of backward and copies the averages back into .grad. A parameter that got no gradient
// in this backward contributes its current .grad (zeros if none), like torch's
// find_unused_parameters.
//
// no_sync() turns the reduction off (gradient accumulation: the local gradients add up in .grad,
// and the first backward outside no_sync reduces the sums).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/distributed/process_group.hpp"
#include "tinyxf/nn/module.hpp"

namespace tinyxf::distributed {

struct DDPOptions {
  double bucket_cap_mb = 25.0;   // bucket size (MiB); a larger parameter gets a bucket of its own
  bool broadcast_buffers = true;  // at construction, with the parameters
  // Observers (profiling, tests): a bucket's reduction was started / every reduction was waited for.
  std::function<void(std::size_t bucket)> on_bucket_launch;
  std::function<void()> on_sync_done;
};

class DistributedDataParallel {
 public:
  DistributedDataParallel(nn::Module& module, std::shared_ptr<ProcessGroup> group, DDPOptions options = {})
      : module_(module), group_(std::move(group)), opt_(std::move(options)) {
    TINYXF_CHECK_AS(ValueError, group_ != nullptr, "DistributedDataParallel: no process group");
    TINYXF_CHECK_AS(ValueError, opt_.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb must be > 0");
    broadcast_state();
    build_buckets();
  }
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  nn::Module& module() { return module_; }
  ProcessGroup& process_group() { return *group_; }
  std::size_t num_buckets() const { return buckets_.size(); }
  // The parameters of bucket b (indices into module().parameters()).
  std::vector<std::size_t> bucket_parameters(std::size_t b) const {
    std::vector<std::size_t> out;
    for (std::size_t i : buckets_.at(b).params) out.push_back(params_[i].index);
    return out;
  }

  // Copies rank 0's parameters (and buffers, with broadcast_buffers) to every rank.
  void broadcast_state() {
    NoGradGuard no_grad;
    for (auto& [name, t] : module_.named_parameters()) broadcast_one(t, name);
    if (opt_.broadcast_buffers)
      for (auto& [name, t] : module_.named_buffers()) broadcast_one(t, name);
  }

  // While a guard lives, backward leaves the local gradients in .grad without reducing them.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp) : ddp_(&ddp), previous_(ddp.sync_enabled_) {
      ddp.sync_enabled_ = false;
    }
    NoSyncGuard(NoSyncGuard&& o) noexcept : ddp_(std::exchange(o.ddp_, nullptr)), previous_(o.previous_) {}
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(NoSyncGuard&&) = delete;
    ~NoSyncGuard() {
      if (ddp_) ddp_->sync_enabled_ = previous_;
    }

   private:
    DistributedDataParallel* ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }
  bool sync_enabled() const { return sync_enabled_; }

  // Waits for the reductions of the backward in progress (the engine does this at the end of
  // backward; calling it again is a no-op).
  void finish_sync() {
    if (!in_backward_) return;
    NoGradGuard no_grad;
    // Buckets some of whose parameters got no gradient in this backward: their current .grad.
    for (std::size_t b = 0; b < buckets_.size(); ++b)
      if (buckets_[b].pending > 0) {
        for (std::size_t i : buckets_[b].params)
          if (!params_[i].ready) copy_into_bucket(i);
        buckets_[b].pending = 0;
      }
    launch_ready();
    for (auto& bucket : buckets_) {
      bucket.work->wait();
      bucket.work.reset();
    }
    for (std::size_t i = 0; i < params_.size(); ++i) {
      Param& p = params_[i];
      Tensor slice = buckets_[p.bucket].flat.narrow(0, p.offset, p.tensor.numel()).view(p.tensor.shape());
      Tensor g = p.tensor.grad();
      if (g.defined()) {
        g.copy_(slice);
      } else {
        p.tensor.set_grad(slice.clone());
      }
      p.ready = false;
    }
    in_backward_ = false;
    if (opt_.on_sync_done) opt_.on_sync_done();
  }

 private:
  struct Param {
    Tensor tensor;
    std::size_t index = 0;   // in module().parameters()
    std::size_t bucket = 0;
    std::int64_t offset = 0;  // elements into the bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    Tensor flat;
    std::size_t pending = 0;  // gradients still missing in this backward
    std::shared_ptr<Work> work;
  };

  void broadcast_one(Tensor& t, const std::string& name) {
    if (group_->size() == 1) return;
    TINYXF_CHECK_AS(ValueError, t.device() == group_->device(), "DistributedDataParallel: '", name, "' is on ",
                    t.device().str(), ", the ", group_->backend_name(), " process group on ", group_->device().str());
    if (t.is_contiguous()) {
      group_->broadcast(t, 0);
    } else {
      Tensor c = t.contiguous();
      group_->broadcast(c, 0);
      t.copy_(c);
    }
  }

  void build_buckets() {
    const std::vector<Tensor> all = module_.parameters();
    const auto cap = static_cast<std::size_t>(opt_.bucket_cap_mb * 1024.0 * 1024.0);
    std::size_t bytes = 0;
    for (std::size_t k = all.size(); k-- > 0;) {
      const Tensor& t = all[k];
      if (!t.requires_grad()) continue;
      TINYXF_CHECK_AS(ValueError, t.device() == group_->device(), "DistributedDataParallel: a parameter is on ",
                      t.device().str(), ", the ", group_->backend_name(), " process group on ", group_->device().str());
      const std::size_t size = static_cast<std::size_t>(t.numel()) * t.element_size();
      const bool new_bucket = buckets_.empty() || (bytes > 0 && bytes + size > cap) ||
                              params_[buckets_.back().params.front()].tensor.dtype() != t.dtype();
      if (new_bucket) {
        buckets_.emplace_back();
        bytes = 0;
      }
      Bucket& bucket = buckets_.back();
      Param p;
      p.tensor = t;
      p.index = k;
      p.bucket = buckets_.size() - 1;
      p.offset = 0;
      for (std::size_t i : bucket.params) p.offset += params_[i].tensor.numel();
      bucket.params.push_back(params_.size());
      params_.push_back(p);
      bytes += size;
    }
    for (auto& bucket : buckets_) {
      std::int64_t n = 0;
      for (std::size_t i : bucket.params) n += params_[i].tensor.numel();
      const Tensor& first = params_[bucket.params.front()].tensor;
      bucket.flat = Tensor::zeros({n}, first.options());
    }
    for (std::size_t i = 0; i < params_.size(); ++i)
      hooks_.push_back(autograd::register_post_accumulate_grad_hook(params_[i].tensor,
                                                                    [this, i](const Tensor&) { grad_ready(i); }));
  }

  void copy_into_bucket(std::size_t i) {
    Param& p = params_[i];
    Tensor slice = buckets_[p.bucket].flat.narrow(0, p.offset, p.tensor.numel()).view(p.tensor.shape());
    const Tensor g = p.tensor.grad();
    if (g.defined())
      slice.copy_(g);
    else
      slice.zero_();
    p.ready = true;
  }

  void grad_ready(std::size_t i) {
    if (!sync_enabled_) return;
    if (!in_backward_) {
      in_backward_ = true;
      next_launch_ = 0;
      for (auto& bucket : buckets_) bucket.pending = bucket.params.size();
      autograd::queue_callback([this] { finish_sync(); });
    }
    Param& p = params_[i];
    TINYXF_CHECK(!p.ready, "DistributedDataParallel: a parameter's gradient was accumulated twice in one backward");
    copy_into_bucket(i);
    --buckets_[p.bucket].pending;
    launch_ready();
    // Drives the reductions in flight (MPI progresses non-blocking collectives inside MPI calls).
    for (std::size_t b = 0; b < next_launch_; ++b)
      if (buckets_[b].work) buckets_[b].work->test();
  }

  // Launches the complete buckets that follow the last launched one, in bucket order.
  void launch_ready() {
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
      Bucket& bucket = buckets_[next_launch_];
      if (opt_.on_bucket_launch) opt_.on_bucket_launch(next_launch_);
      bucket.work = group_->all_reduce_async(bucket.flat, ReduceOp::avg);
      ++next_launch_;
    }
  }

  nn::Module& module_;
  std::shared_ptr<ProcessGroup> group_;
  DDPOptions opt_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<autograd::HookHandle> hooks_;
  bool sync_enabled_ = true;
  bool in_backward_ = false;
  std::size_t next_launch_ = 0;
};

}  // namespace tinyxf::distributed
