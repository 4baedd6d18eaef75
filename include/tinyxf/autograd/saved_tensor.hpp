#pragma once
// SavedTensor: a tensor an op's backward reads, saved with its storage's version counter at
// save time (PyTorch's SavedVariable). get() throws if an in-place write (fill_, copy_, an
// optimizer step, ... typically under NoGradGuard) changed the storage since, instead of letting
// backward compute a gradient from the new values. Every op's backward closure captures its
// tensors through save_input / save_output, so the check lives here only.
#include "tinyxf/autograd/node.hpp"
#include "tinyxf/core/tensor.hpp"

namespace tinyxf::autograd {

// C++-style element type names, as PyTorch's autograd messages print them ("[float [2, 3]]").
inline const char* element_type_name(DType d) {
  switch (d) {
    case DType::f32: return "float";
    case DType::f64: return "double";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
    case DType::b8: return "bool";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "half";
  }
  return "?";
}

class SavedTensor {
 public:
  SavedTensor() = default;  // nothing saved (e.g. an operand whose partner needs no gradient)
  SavedTensor(const Tensor& t, bool is_output, int index)
      : tensor_(t.defined() ? t.detach() : Tensor()),
        version_(t.defined() ? t.version() : 0),
        is_output_(is_output),
        index_(index) {}

  bool defined() const { return tensor_.defined(); }

  // The saved tensor, checked to be unmodified since it was saved.
  const Tensor& get() const {
    if (tensor_.defined() && tensor_.version() != version_) {
      const Node* node = running_node();
      throw Error(detail::concat(
          "one of the variables needed for gradient computation has been modified by an inplace "
          "operation: [",
          element_type_name(tensor_.dtype()), " ", shape_str(tensor_.shape()), "], which is ",
          is_output_ ? "output " : "input ", index_, " of ", node ? node->backward_name() : "an autograd op",
          ", is at version ", tensor_.version(), "; expected version ", version_, " instead"));
    }
    return tensor_;
  }

 private:
  Tensor tensor_;  // detached: no history, same memory
  std::uint64_t version_ = 0;
  bool is_output_ = false;
  int index_ = 0;
};

// Operand `index` of the op, for its backward (undefined stays undefined).
inline SavedTensor save_input(const Tensor& t, int index) {
  return SavedTensor(t, false, index);
}
// The op's result `index`, for its backward (softmax, unary ops, attention read their output).
inline SavedTensor save_output(const Tensor& t, int index = 0) {
  return SavedTensor(t, true, index);
}

}  // namespace tinyxf::autograd
