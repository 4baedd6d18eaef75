#pragma once
// The define-by-run graph: every differentiable op that sees an input requiring grad records a
// Node holding what its backward needs; edges point to the nodes that produced its inputs (or
// to AccumulateGrad for leaves). Grad mode is thread-local, like PyTorch's.
#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tinyxf/core/storage.hpp"

namespace tinyxf::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> node;  // null: that input needs no gradient
};

struct Node {
  std::vector<Edge> next;
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Given d loss / d output, returns d loss / d input for every edge (null where not needed).
  virtual std::vector<ImplPtr> apply(const ImplPtr& grad_output) = 0;
  // Frees saved tensors once the graph has been used (backward without retain_graph).
  virtual void release() {}
  // PyTorch-style name for messages: "layer_norm" -> "LayerNormBackward".
  std::string backward_name() const {
    std::string out;
    bool word_start = true;
    for (const char* c = name(); *c; ++c) {
      if (*c == '_') {
        word_start = true;
        continue;
      }
      out += word_start ? static_cast<char>(std::toupper(static_cast<unsigned char>(*c))) : *c;
      word_start = false;
    }
    return out + "Backward";
  }
};

// The node whose backward runs on this thread (so a failing saved-tensor check can name its op).
inline const Node*& running_node() {
  thread_local const Node* node = nullptr;
  return node;
}
class RunningNodeScope {
 public:
  explicit RunningNodeScope(const Node& node) : previous_(running_node()) { running_node() = &node; }
  ~RunningNodeScope() { running_node() = previous_; }
  RunningNodeScope(const RunningNodeScope&) = delete;
  RunningNodeScope& operator=(const RunningNodeScope&) = delete;

 private:
  const Node* previous_;
};

// Leaf sink: adds the incoming gradient into the leaf's .grad.
struct AccumulateGrad final : Node {
  std::weak_ptr<TensorImpl> leaf;
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<ImplPtr> apply(const ImplPtr&) override { return {}; }  // handled by the engine
};

// Grad mode --------------------------------------------------------------------------------
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool grad_enabled() { return grad_mode_flag(); }

}  // namespace tinyxf::autograd

namespace tinyxf {

// Disables graph recording in its scope (evaluation, optimizer updates, backward itself).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::grad_mode_flag()) { autograd::grad_mode_flag() = false; }
  ~NoGradGuard() { autograd::grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace tinyxf
