#pragma once
// AutogradMeta: a tensor's autograd state (PyTorch's AutogradMeta). core's TensorImpl holds it
// only through the opaque AutogradMetaInterface pointer, created the first time a tensor gets
// any of it (requires_grad, a grad_fn or a .grad); tensors outside autograd carry none.
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "tinyxf/autograd/node.hpp"

namespace tinyxf::autograd {

struct AutogradMeta final : AutogradMetaInterface {
  bool requires_grad = false;  // leaf flag, or "produced by a graph" for non-leaves
  std::shared_ptr<Node> grad_fn;  // null for leaves
  ImplPtr grad;                   // accumulated gradient of a leaf
  // The leaf's AccumulateGrad node while a graph holds it (PyTorch's grad_accumulator_): every
  // use of the leaf in one graph shares it, so the engine sums those gradients and accumulates
  // into .grad once.
  std::weak_ptr<Node> grad_accumulator;
  // Called after each accumulation into .grad (register_post_accumulate_grad_hook), with ids.
  std::vector<std::pair<std::uint64_t, std::function<void(const ImplPtr&)>>> post_accumulate_grad_hooks;
  // For a view made under NoGradGuard of a tensor that requires grad (or a view of such a view):
  // that tensor. PyTorch's CreationMeta::NO_GRAD_MODE, which forbids writing the view in place in
  // grad mode while the base still takes part in autograd (not after requires_grad_(false)).
  ImplPtr no_grad_view_base;
};

inline const AutogradMeta* meta_of(const TensorImpl& impl) {
  return static_cast<const AutogradMeta*>(impl.autograd_meta.get());
}
// The tensor's state, created on first use.
inline AutogradMeta& meta_for(TensorImpl& impl) {
  if (!impl.autograd_meta) impl.autograd_meta = std::make_unique<AutogradMeta>();
  return *static_cast<AutogradMeta*>(impl.autograd_meta.get());
}

inline bool requires_grad(const TensorImpl& impl) {
  const AutogradMeta* m = meta_of(impl);
  return m && m->requires_grad;
}
inline std::shared_ptr<Node> grad_fn_of(const TensorImpl& impl) {
  const AutogradMeta* m = meta_of(impl);
  return m ? m->grad_fn : nullptr;
}
inline ImplPtr grad_of(const TensorImpl& impl) {
  const AutogradMeta* m = meta_of(impl);
  return m ? m->grad : nullptr;
}

// The base a no_grad view was made of (null for other tensors).
inline const ImplPtr& no_grad_view_base(const TensorImpl& impl) {
  static const ImplPtr none;
  const AutogradMeta* m = meta_of(impl);
  return m ? m->no_grad_view_base : none;
}
// A no_grad view whose base still requires grad (or has a grad_fn): writing it in place in grad
// mode is ambiguous, as torch says.
inline bool is_no_grad_view(const TensorImpl& impl) {
  const ImplPtr& base = no_grad_view_base(impl);
  if (!base) return false;
  const AutogradMeta* m = meta_of(*base);
  return m && (m->requires_grad || m->grad_fn);
}

// Makes `out` the result of `node` (a non-leaf that requires grad).
inline void set_history(TensorImpl& out, std::shared_ptr<Node> node) {
  AutogradMeta& m = meta_for(out);
  m.grad_fn = std::move(node);
  m.requires_grad = true;
}

}  // namespace tinyxf::autograd
