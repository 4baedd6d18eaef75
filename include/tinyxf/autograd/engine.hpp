#pragma once
// The backward pass: a topological walk from the root's node, summing gradients that meet at a
// node before running it, accumulating into leaves' .grad, and freeing each node's saved
// tensors afterwards unless retain_graph is set. Hooks: register_post_accumulate_grad_hook runs a
// function after each accumulation into a leaf's .grad, queue_callback one at the end of the
// running backward (PyTorch's Variable._execution_engine.queue_callback); both are what
// DistributedDataParallel builds its overlapped gradient reduction on.
#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "tinyxf/autograd/function.hpp"
#include "tinyxf/backend/dispatch.hpp"
#include "tinyxf/core/autocast.hpp"

namespace tinyxf::autograd {

// The gradient in `dtype` (a copy only when the dtypes differ).
inline ImplPtr grad_as(const ImplPtr& grad, DType dtype) {
  if (grad->dtype == dtype) return grad;
  auto out = make_impl(grad->shape, dtype, grad->device());
  grad->backend().copy(out->view(), grad->view());
  return out;
}

// out = a + b (one shape and dtype; out may be a) as the front end's add computes it: through
// run_binary, so a backend that declines the op gets the cpu fallback, and with bfloat16/float16
// summed in float32 and rounded once unless the backend computes 16-bit floats itself.
inline void add_into(const ImplPtr& out, const ImplPtr& a, const ImplPtr& b) {
  Backend& backend = a->backend();
  const int device = a->device().index;
  if (is_reduced_floating_point(a->dtype) && !backend.computes_16bit_floats()) {
    auto wa = grad_as(a, DType::f32), wb = grad_as(b, DType::f32);
    auto sum = make_impl(a->shape, DType::f32, a->device());
    run_binary(backend, device, BinaryOp::add, sum->view(), wa->view(), wb->view());
    backend.copy(out->view(), sum->view());
    return;
  }
  run_binary(backend, device, BinaryOp::add, out->view(), a->view(), b->view());
}

// a + b into a fresh tensor (both same shape/dtype/device); used to sum gradients.
inline ImplPtr add_impls(const ImplPtr& a, const ImplPtr& b) {
  TINYXF_CHECK(a->shape == b->shape, "backward: gradient shapes ", shape_str(a->shape), " and ",
               shape_str(b->shape), " do not match");
  auto out = make_impl(a->shape, a->dtype, a->device());
  add_into(out, a, grad_as(b, a->dtype));
  return out;
}

// ---- hooks ------------------------------------------------------------------------------------
// Removes its hook when destroyed (or on remove()); movable, not copyable.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<TensorImpl> leaf, std::uint64_t id) : leaf_(std::move(leaf)), id_(id) {}
  HookHandle(HookHandle&& o) noexcept : leaf_(std::move(o.leaf_)), id_(std::exchange(o.id_, 0)) {}
  HookHandle& operator=(HookHandle&& o) noexcept {
    if (this != &o) {
      remove();
      leaf_ = std::move(o.leaf_);
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  ~HookHandle() { remove(); }
  void remove() {
    if (id_ == 0) return;
    if (auto leaf = leaf_.lock(); leaf && leaf->autograd_meta) {
      auto& hooks = meta_for(*leaf).post_accumulate_grad_hooks;
      std::erase_if(hooks, [&](const auto& h) { return h.first == id_; });
    }
    id_ = 0;
  }

 private:
  std::weak_ptr<TensorImpl> leaf_;
  std::uint64_t id_ = 0;
};

// Runs `hook(leaf)` after every accumulation of a gradient into leaf.grad() (torch's
// Tensor.register_post_accumulate_grad_hook); hooks run in registration order, on the thread
// running backward, under no-grad. `leaf` must be a leaf tensor that requires grad.
inline HookHandle register_post_accumulate_grad_hook(const Tensor& leaf, std::function<void(const Tensor&)> hook) {
  TINYXF_CHECK(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(),
               "register_post_accumulate_grad_hook: expected a leaf tensor that requires grad");
  static std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t id = next_id++;
  meta_for(*leaf.impl()).post_accumulate_grad_hooks.emplace_back(
      id, [fn = std::move(hook)](const ImplPtr& impl) { fn(Tensor(impl)); });
  return HookHandle(leaf.impl(), id);
}

struct BackwardCallbacks {
  int depth = 0;  // nested run_backward calls on this thread
  std::vector<std::function<void()>> queued;
};
inline BackwardCallbacks& backward_callbacks() {
  thread_local BackwardCallbacks state;
  return state;
}
// Queues `fn` to run once the backward running on this thread has finished (after every leaf
// gradient was accumulated). Only valid during a backward (from a hook or a node).
inline void queue_callback(std::function<void()> fn) {
  TINYXF_CHECK(backward_callbacks().depth > 0, "queue_callback: no backward is running on this thread");
  backward_callbacks().queued.push_back(std::move(fn));
}

inline void run_post_accumulate_grad_hooks(const ImplPtr& leaf) {
  const AutogradMeta* m = meta_of(*leaf);
  if (!m || m->post_accumulate_grad_hooks.empty()) return;
  const auto hooks = m->post_accumulate_grad_hooks;  // a hook may remove hooks
  for (const auto& [id, hook] : hooks) hook(leaf);
}

inline void accumulate_leaf_grad(const ImplPtr& leaf, const ImplPtr& incoming);

inline void accumulate_leaf(const AccumulateGrad& acc, const ImplPtr& incoming) {
  auto leaf = acc.leaf.lock();
  if (!leaf) return;  // the leaf tensor is gone; nobody can read its gradient
  accumulate_leaf_grad(leaf, incoming);
  run_post_accumulate_grad_hooks(leaf);
}

inline void accumulate_leaf_grad(const ImplPtr& leaf, const ImplPtr& incoming) {
  ImplPtr converted;  // a leaf's .grad has the leaf's dtype
  const ImplPtr& grad = incoming->dtype == leaf->dtype ? incoming : (converted = grad_as(incoming, leaf->dtype));
  TINYXF_CHECK(grad->shape == leaf->shape, "backward: gradient of shape ", shape_str(grad->shape),
               " for a leaf of shape ", shape_str(leaf->shape));
  ImplPtr& leaf_grad = meta_for(*leaf).grad;
  if (!leaf_grad) {
    // A gradient nobody else holds or views (one owner of the handle and of the storage,
    // contiguous from offset 0 over its whole allocation) becomes .grad as it is, as PyTorch's
    // AccumulateGrad steals it; otherwise own a contiguous copy, since the incoming buffer may be
    // shared with other graph values.
    const bool exclusive = grad.use_count() == 1 && grad->storage.use_count() == 1 && grad->offset == 0 &&
                           grad->is_contiguous() && !grad_fn_of(*grad) && grad->dtype == leaf->dtype &&
                           grad->storage->bytes == static_cast<std::size_t>(grad->numel()) * dtype_size(grad->dtype);
    if (exclusive) {
      leaf_grad = grad;
      return;
    }
    auto g = make_impl(grad->shape, grad->dtype, grad->device());
    grad->backend().copy(g->view(), grad->view());
    leaf_grad = g;
  } else {
    add_into(leaf_grad, leaf_grad, grad);
    leaf_grad->bump_version();
  }
}

inline void run_backward_graph(const ImplPtr& root, const ImplPtr& root_grad, bool retain_graph);

inline void run_backward(const ImplPtr& root, const ImplPtr& root_grad, bool retain_graph) {
  NoGradGuard no_grad;  // gradients are computed without recording (no double backward)
  AutocastOffGuard no_autocast;  // the forward's casts fixed every dtype (core/autocast.hpp)
  BackwardCallbacks& callbacks = backward_callbacks();
  const std::size_t first_callback = callbacks.queued.size();
  struct Depth {
    BackwardCallbacks& c;
    std::size_t first;
    bool ok = false;
    ~Depth() {
      --c.depth;
      if (!ok) c.queued.resize(std::min(c.queued.size(), first));  // a failed backward runs none
    }
  } depth{callbacks, first_callback};
  ++callbacks.depth;
  run_backward_graph(root, root_grad, retain_graph);
  // This backward's callbacks, in order (one may queue more: they run too).
  for (std::size_t i = first_callback; i < callbacks.queued.size(); ++i) {
    auto fn = std::move(callbacks.queued[i]);
    fn();
  }
  callbacks.queued.resize(first_callback);
  depth.ok = true;
}

inline void run_backward_graph(const ImplPtr& root, const ImplPtr& root_grad, bool retain_graph) {
  const std::shared_ptr<Node> root_fn = grad_fn_of(*root);
  if (!root_fn) {
    AccumulateGrad acc;
    acc.leaf = root;
    accumulate_leaf(acc, root_grad);
    return;
  }
  // Dependency counts: how many edges point at each node.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{root_fn.get()};
  std::unordered_set<Node*> seen{root_fn.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.node) continue;
      ++deps[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }
  std::unordered_map<Node*, ImplPtr> pending;
  pending[root_fn.get()] = root_grad;
  std::vector<std::shared_ptr<Node>> ready{root_fn};
  while (!ready.empty()) {
    auto node = ready.back();
    ready.pop_back();
    ImplPtr grad = std::move(pending[node.get()]);
    pending.erase(node.get());
    if (auto* acc = dynamic_cast<AccumulateGrad*>(node.get())) {
      if (grad) accumulate_leaf(*acc, grad);
      continue;
    }
    // A node no gradient reached still passes "nothing" on, so its inputs' counts drop.
    std::vector<ImplPtr> grads =
        grad ? node->apply(grad) : std::vector<ImplPtr>(node->next.size());
    TINYXF_CHECK(grads.size() == node->next.size(), "backward of ", node->name(), " returned ",
                 grads.size(), " gradients for ", node->next.size(), " inputs");
    for (std::size_t i = 0; i < grads.size(); ++i) {
      auto& next = node->next[i].node;
      if (!next) continue;
      if (grads[i]) {
        auto& slot = pending[next.get()];
        slot = slot ? add_impls(slot, grads[i]) : grads[i];
      }
      if (--deps[next.get()] == 0) {
        pending.try_emplace(next.get(), nullptr);
        ready.push_back(next);
      }
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace tinyxf::autograd

namespace tinyxf {

inline void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  TINYXF_CHECK(requires_grad(), "backward: tensor does not require grad and has no grad_fn");
  Tensor g = gradient;
  if (!g.defined()) {
    TINYXF_CHECK(numel() == 1, "backward: a gradient argument is needed for a non-scalar output of"
                 " shape ", shape_str(shape()));
    g = Tensor::ones(shape(), options());
  }
  TINYXF_CHECK(g.shape() == shape(), "backward: gradient shape ", shape_str(g.shape()),
               " differs from the output's shape ", shape_str(shape()));
  autograd::run_backward(impl_, g.contiguous_nograd().impl(), retain_graph);
}

}  // namespace tinyxf
