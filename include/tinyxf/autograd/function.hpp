#pragma once
// The graph plumbing every op uses (FunctionNode, record) and the autograd members of Tensor<T>
// that core declares (requires_grad, grad, grad_fn, backward's checks, in-place checks); their
// state is the tensor's AutogradMeta.
#include <functional>

#include "tinyxf/autograd/meta.hpp"
#include "tinyxf/core/tensor.hpp"

namespace tinyxf {

namespace autograd {

// Records the graph for an op result: `backward` maps d loss/d out to one gradient per input.
template <Element T>
struct FunctionNode final : Node {
  using BackwardFn = std::function<std::vector<Tensor<T>>(const Tensor<T>&)>;
  const char* op_name;
  BackwardFn backward;
  FunctionNode(const char* name, BackwardFn fn) : op_name(name), backward(std::move(fn)) {}
  const char* name() const override { return op_name; }
  std::vector<ImplPtr> apply(const ImplPtr& grad_output) override;
  void release() override { backward = nullptr; }
};

template <Element T>
bool needs_grad(const Tensor<T>& t) {
  return t.defined() && requires_grad(*t.impl());
}

inline std::shared_ptr<Node> edge_for(const ImplPtr& impl) {
  if (!impl || !requires_grad(*impl)) return nullptr;
  if (auto fn = grad_fn_of(*impl)) return fn;
  auto acc = std::make_shared<AccumulateGrad>();
  acc->leaf = impl;
  return acc;
}

// Attaches a FunctionNode to `out` when grad mode is on and any input requires grad.
template <Element T>
Tensor<T> record(Tensor<T> out, const char* name, std::initializer_list<const ImplPtr*> inputs,
                 typename FunctionNode<T>::BackwardFn backward) {
  if (!grad_enabled()) return out;
  bool any = false;
  for (auto* in : inputs) any = any || (*in && requires_grad(**in));
  if (!any) return out;
  auto node = std::make_shared<FunctionNode<T>>(name, std::move(backward));
  for (auto* in : inputs) node->next.push_back(Edge{edge_for(*in)});
  set_history(*out.impl(), std::move(node));
  return out;
}

template <Element T>
std::vector<ImplPtr> FunctionNode<T>::apply(const ImplPtr& grad_output) {
  TINYXF_CHECK(backward != nullptr, "backward through ", op_name,
               " a second time: the graph was freed by the first backward (pass retain_graph=true "
               "to keep it)");
  RunningNodeScope running(*this);  // names this op if a saved tensor was modified in place
  auto grads = backward(Tensor<T>(grad_output));
  std::vector<ImplPtr> out;
  out.reserve(grads.size());
  for (auto& g : grads) out.push_back(g.impl());
  return out;
}

}  // namespace autograd

// ---- Tensor<T>'s autograd members (declared in core/tensor.hpp) ------------------------------
template <Element T>
bool Tensor<T>::requires_grad() const {
  return autograd::requires_grad(checked());
}

template <Element T>
Tensor<T>& Tensor<T>::set_requires_grad(bool on) {
  TINYXF_CHECK(!on || FloatElement<T>, "set_requires_grad: only floating tensors can require "
               "gradients, this one is ", dtype_name(dtype_v<T>));
  const auto fn = autograd::grad_fn_of(checked());
  TINYXF_CHECK(!fn, "set_requires_grad: only leaf tensors can change requires_grad (this one was produced by ",
               fn ? fn->name() : "", ")");
  if (on || impl_->autograd_meta) autograd::meta_for(*impl_).requires_grad = on;
  return *this;
}

template <Element T>
bool Tensor<T>::is_leaf() const {
  return !autograd::grad_fn_of(checked());
}

template <Element T>
std::shared_ptr<autograd::Node> Tensor<T>::grad_fn() const {
  return autograd::grad_fn_of(checked());
}

template <Element T>
Tensor<T> Tensor<T>::grad() const {
  auto g = autograd::grad_of(checked());
  return g ? Tensor(g) : Tensor();
}

template <Element T>
void Tensor<T>::set_grad(const Tensor& g) {
  checked();
  if (g.defined() || impl_->autograd_meta) autograd::meta_for(*impl_).grad = g.impl_;
}

template <Element T>
void Tensor<T>::zero_grad(bool set_to_none) {
  auto g = autograd::grad_of(checked());
  if (!g) return;
  if (set_to_none)
    autograd::meta_for(*impl_).grad.reset();
  else
    Tensor(g).zero_();
}

template <Element T>
void Tensor<T>::check_inplace(const char* op) const {
  checked();
  TINYXF_CHECK(!autograd::grad_enabled() || !(autograd::requires_grad(*impl_) || autograd::grad_fn_of(*impl_)),
               op, ": in-place modification of a tensor that takes part in autograd; wrap it in a NoGradGuard");
}

}  // namespace tinyxf
