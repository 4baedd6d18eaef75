#pragma once
// Readable printing, in the spirit of torch's repr:
//   tensor([[1.0000, 2.0000],
//           [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=cpu, grad_fn=<matmul>)
// Long dims are summarized with "..." (first and last 3 entries).
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tinyxf/core/tensor.hpp"

namespace tinyxf {

namespace print_detail {
template <Element T>
void print_rec(std::ostream& os, const std::vector<T>& v, const Shape& shape, std::size_t dim,
               std::int64_t base, int indent) {
  const std::int64_t n = shape[dim];
  std::int64_t stride = 1;
  for (std::size_t i = dim + 1; i < shape.size(); ++i) stride *= shape[i];
  const bool summarize = n > 8;
  os << '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && i == 3) {
      os << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
      i = n - 3;
    }
    if (dim + 1 == shape.size()) {
      const T x = v[static_cast<std::size_t>(base + i)];
      if constexpr (FloatElement<T>)
        os << std::fixed << std::setprecision(4) << x;
      else
        os << static_cast<std::int64_t>(x);
    } else {
      print_rec(os, v, shape, dim + 1, base + i * stride, indent + 1);
    }
    if (i + 1 < n) os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
  }
  os << ']';
}
}  // namespace print_detail

template <Element T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::ostringstream body;
  const auto values = t.to_vector();
  body << "tensor(";
  if (t.dim() == 0) {
    if constexpr (FloatElement<T>)
      body << std::fixed << std::setprecision(4) << values[0];
    else
      body << static_cast<std::int64_t>(values[0]);
  } else {
    print_detail::print_rec(body, values, t.shape(), 0, 0, 7);
  }
  body << ", shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype())
       << ", device=" << t.device().str();
  if (t.grad_fn())
    body << ", grad_fn=<" << t.grad_fn()->name() << '>';
  else if (t.requires_grad())
    body << ", requires_grad=true";
  body << ')';
  return os << body.str();
}

}  // namespace tinyxf
