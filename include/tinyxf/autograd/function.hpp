#pragma once
// The graph plumbing every op uses (FunctionNode, record) and the autograd members of Tensor
// that core declares (requires_grad, grad, grad_fn, backward's checks, in-place checks); their
// state is the tensor's AutogradMeta.
#include <functional>

#include "tinyxf/autograd/meta.hpp"
#include "tinyxf/core/tensor.hpp"

namespace tinyxf {

namespace autograd {

// Records the graph for an op result: `backward` maps d loss/d out to one gradient per input.
struct FunctionNode final : Node {
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor&)>;
  const char* op_name;
  BackwardFn backward;
  FunctionNode(const char* name, BackwardFn fn) : op_name(name), backward(std::move(fn)) {}
  const char* name() const override { return op_name; }
  std::vector<ImplPtr> apply(const ImplPtr& grad_output) override;
  void release() override { backward = nullptr; }
};

inline bool needs_grad(const Tensor& t) {
  return t.defined() && requires_grad(*t.impl());
}

inline std::shared_ptr<Node> edge_for(const ImplPtr& impl) {
  if (!impl || !requires_grad(*impl)) return nullptr;
  if (auto fn = grad_fn_of(*impl)) return fn;
  AutogradMeta& meta = meta_for(*impl);
  if (auto cached = meta.grad_accumulator.lock()) return cached;
  auto acc = std::make_shared<AccumulateGrad>();
  acc->leaf = impl;
  meta.grad_accumulator = acc;
  return acc;
}

// Attaches a FunctionNode to `out` when grad mode is on and any input requires grad.
inline Tensor record(Tensor out, const char* name, std::initializer_list<const ImplPtr*> inputs,
                 typename FunctionNode::BackwardFn backward) {
  if (!grad_enabled()) return out;
  bool any = false;
  for (auto* in : inputs) any = any || (*in && requires_grad(**in));
  if (!any) return out;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  for (auto* in : inputs) node->next.push_back(Edge{edge_for(*in)});
  set_history(*out.impl(), std::move(node));
  return out;
}

inline std::vector<ImplPtr> FunctionNode::apply(const ImplPtr& grad_output) {
  TINYXF_CHECK(backward != nullptr, "backward through ", op_name,
               " a second time: the graph was freed by the first backward (pass retain_graph=true "
               "to keep it)");
  RunningNodeScope running(*this);  // names this op if a saved tensor was modified in place
  auto grads = backward(Tensor(grad_output));
  std::vector<ImplPtr> out;
  out.reserve(grads.size());
  for (auto& g : grads) out.push_back(g.impl());
  return out;
}

}  // namespace autograd

// ---- Tensor's autograd members (declared in core/tensor.hpp) ------------------------------
inline bool Tensor::requires_grad() const {
  return autograd::requires_grad(checked());
}

inline Tensor& Tensor::set_requires_grad(bool on) {
  TINYXF_CHECK_AS(DTypeError, !on || tinyxf::is_floating_point(checked().dtype),
                  "only Tensors of floating point dtype can require gradients (got ", dtype_name(impl_->dtype), ")");
  // A non-leaf already requires grad: turning it on is a no-op (torch), turning it off an error.
  if (const auto fn = autograd::grad_fn_of(checked())) {
    TINYXF_CHECK(on, "set_requires_grad: only leaf tensors can turn requires_grad off (this one was produced by ",
                 fn->name(), "; use detach() for a copy outside the graph)");
    return *this;
  }
  if (on || impl_->autograd_meta) autograd::meta_for(*impl_).requires_grad = on;
  return *this;
}

inline bool Tensor::is_leaf() const {
  return !autograd::grad_fn_of(checked());
}

inline std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return autograd::grad_fn_of(checked());
}

inline Tensor Tensor::grad() const {
  auto g = autograd::grad_of(checked());
  return g ? Tensor(g) : Tensor();
}

inline void Tensor::set_grad(const Tensor& g) {
  checked();
  if (g.defined() || impl_->autograd_meta) autograd::meta_for(*impl_).grad = g.impl_;
}

inline void Tensor::zero_grad(bool set_to_none) {
  auto g = autograd::grad_of(checked());
  if (!g) return;
  if (set_to_none)
    autograd::meta_for(*impl_).grad.reset();
  else
    Tensor(g).zero_();
}

namespace autograd {

// What every in-place write checks in grad mode: a view made under NoGradGuard of a tensor in
// autograd, and a leaf that requires grad, may not be written (torch's two errors).
inline void check_inplace_target(const Tensor& self, const char* op) {
  TINYXF_CHECK(!is_no_grad_view(*self.impl()), op,
               ": A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given "
               "that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by "
               "moving both the view and the inplace either both inside the no_grad block (if you don't want the "
               "inplace to be tracked) or both outside (if you want the inplace to be tracked).");
  TINYXF_CHECK(self.grad_fn() || !self.requires_grad(), op,
               ": a leaf Variable that requires grad is being used in an in-place operation. (An in-place "
               "modification outside autograd, as initialising or updating parameters, goes in a NoGradGuard.)");
}

// Whether an in-place write of self, with these operands, is recorded in the graph (grad mode, and
// self or an operand requires grad), after the checks of check_inplace_target. A recorded write
// replaces self's grad_fn (torch's rebase_history); on a view, or on a tensor with live views, it
// would also have to rebase the other tensor's history (torch's CopySlices), which tinyxf does not:
// refused, naming `out_of_place`, the form to use instead.
inline bool records_inplace(const Tensor& self, const char* op, const char* out_of_place,
                            std::initializer_list<const Tensor*> operands) {
  if (!grad_enabled()) return false;
  check_inplace_target(self, op);
  bool any = self.requires_grad();
  for (const Tensor* t : operands) any = any || (t && needs_grad(*t));
  if (!any) return false;
  const char* instead = out_of_place ? out_of_place : "the out-of-place op";
  // A view whose base nothing else can reach any more (the view of a temporary, as
  // `y = (x * 2).view(...)`) is rebased alone: torch's CopySlices gives it the same gradients.
  const AutogradMeta* m = meta_of(*self.impl());
  TINYXF_CHECK(!m || !m->view_base || m->view_base.use_count() == 1, op,
               ": in-place operations inside autograd on a view (made by view, reshape, select, narrow, transpose, "
               "permute, expand, ...) of a tensor that is still in use are not supported, as they would have to "
               "rewrite that tensor's history too (torch's CopySlices); use ", instead, " (or write the viewed "
               "tensor itself)");
  // A tensor outside autograd until this write: its views (made in any mode) are not tracked, so
  // any other tensor sharing its storage (a view, or a detached alias saved by a node) refuses.
  TINYXF_CHECK(self.requires_grad() || !self.impl()->storage || self.impl()->storage.use_count() == 1, op,
               ": in-place operations inside autograd on a tensor that shares its memory with other tensors "
               "(views made by view, reshape, select, ..., or a tensor saved for a backward) are not supported, "
               "as their history would no longer match their values; use ", instead);
  const std::size_t views = live_views(*self.impl());
  TINYXF_CHECK(views == 0, op, ": in-place operations inside autograd on a tensor with live views (", views,
               " made by view, reshape, select, ...) are not supported, as the views' history would no longer "
               "match their values; use ", instead, " or make the views after the in-place op");
  return true;
}

}  // namespace autograd

// The in-place ops that autograd does not record (fill_, uniform_, normal_, the scatters): in grad
// mode they refuse a tensor that is part of a graph, as well as what check_inplace_target refuses.
inline void Tensor::check_inplace(const char* op, const char* out_of_place) const {
  checked();
  if (!autograd::grad_enabled()) return;
  autograd::check_inplace_target(*this, op);
  TINYXF_CHECK(!autograd::grad_fn_of(*impl_), op,
               ": in-place operations on tensors that are part of an autograd graph are not supported; use ",
               out_of_place ? out_of_place : "the out-of-place op",
               " (or a NoGradGuard if no gradient should flow through the write)");
}

}  // namespace tinyxf
