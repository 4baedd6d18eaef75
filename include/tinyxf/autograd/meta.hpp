#pragma once
// AutogradMeta: a tensor's autograd state (PyTorch's AutogradMeta). core's TensorImpl holds it
// only through the opaque AutogradMetaInterface pointer, created the first time a tensor gets
// any of it (requires_grad, a grad_fn or a .grad); tensors outside autograd carry none.
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <mutex>
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
  // Views (ops/shape.hpp's make_view_of): a view holds the tensor it views (the root, for a view
  // of a view, as torch's _base), and that tensor lists its live views. torch rebases a view's base
  // (and a base's views) through CopySlices when either is written in place inside autograd;
  // tinyxf does not, so such writes are refused rather than leaving the other tensor with a
  // history that no longer matches its values.
  ImplPtr view_base;
  std::vector<std::weak_ptr<TensorImpl>> views;
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

// The views' lists may be appended from several threads at once (a parameter viewed by
// concurrent forward passes): one lock for all of them, taken once per view made in grad mode.
inline std::mutex& views_mutex() {
  static std::mutex m;
  return m;
}

// Marks `view` as a view of `base` when it matters for a recorded in-place write: in grad mode,
// of a base in autograd (which already has its AutogradMeta, so no meta is created on a tensor
// other threads may read). Views of other tensors are caught by the storage alias count
// (autograd/function.hpp's records_inplace).
inline void track_view(const ImplPtr& base, const ImplPtr& view) {
  if (!grad_enabled() || !requires_grad(*base)) return;
  const AutogradMeta* base_meta = meta_of(*base);
  const ImplPtr root = base_meta && base_meta->view_base ? base_meta->view_base : base;
  meta_for(*view).view_base = root;
  if (!requires_grad(*root)) return;
  std::lock_guard lock(views_mutex());
  auto& views = meta_for(*root).views;
  std::erase_if(views, [](const std::weak_ptr<TensorImpl>& v) { return v.expired(); });
  views.push_back(view);
}
inline std::size_t live_views(const TensorImpl& impl) {
  const AutogradMeta* m = meta_of(impl);
  if (!m) return 0;
  std::lock_guard lock(views_mutex());
  std::size_t n = 0;
  for (const auto& v : m->views) n += v.expired() ? 0 : 1;
  return n;
}

// Makes `out` the result of `node` (a non-leaf that requires grad).
inline void set_history(TensorImpl& out, std::shared_ptr<Node> node) {
  AutogradMeta& m = meta_for(out);
  m.grad_fn = std::move(node);
  m.requires_grad = true;
}

}  // namespace tinyxf::autograd
