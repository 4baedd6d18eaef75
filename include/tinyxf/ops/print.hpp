#pragma once
// Readable printing, in the spirit of torch's repr:
//   tensor([[1.0000, 2.0000],
//           [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=cpu, grad_fn=<matmul>)
// Long dims are summarized with "..." (first and last 3 entries).
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tinyxf/ops/shape.hpp"

namespace tinyxf {

namespace print_detail {
// One element: floating dtypes with 4 decimals, bool as True/False (as torch), integers as is.
inline void print_value(std::ostream& os, double x, DType dtype) {
  if (is_floating_point(dtype))
    os << std::fixed << std::setprecision(4) << x;
  else if (dtype == kBool)
    os << (x != 0 ? "True" : "False");
  else
    os << static_cast<std::int64_t>(x);
}

inline void print_rec(std::ostream& os, const std::vector<double>& v, DType dtype, const Shape& shape,
                      std::size_t dim, std::int64_t base, int indent) {
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
    if (dim + 1 == shape.size())
      print_value(os, v[static_cast<std::size_t>(base + i)], dtype);
    else
      print_rec(os, v, dtype, shape, dim + 1, base + i * stride, indent + 1);
    if (i + 1 < n) os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
  }
  os << ']';
}
}  // namespace print_detail

inline std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::ostringstream body;
  // Values as float64 for printing (exact for every dtype but int64 beyond 2^53).
  const auto values = [&] {
    NoGradGuard ng;
    return t.detach().to(kFloat64).to_vector<double>();
  }();
  body << "tensor(";
  if (t.dim() == 0)
    print_detail::print_value(body, values[0], t.dtype());
  else
    print_detail::print_rec(body, values, t.dtype(), t.shape(), 0, 0, 7);
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
