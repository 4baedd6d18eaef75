#pragma once
// Shapes, strides and the broadcasting rules (NumPy/PyTorch: align trailing dims, 1 stretches).
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf {

using Shape = std::vector<std::int64_t>;
inline constexpr int kMaxDims = 8;  // kernels use fixed-size arrays; more dims is an error

inline std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

inline std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i] > 1 ? s[i] : 1;
  }
  return st;
}

inline void check_shape(const Shape& s, const char* op) {
  TINYXF_CHECK(s.size() <= static_cast<std::size_t>(kMaxDims), op, ": at most ", kMaxDims,
               " dimensions are supported, got shape ", shape_str(s));
  for (auto d : s) TINYXF_CHECK(d >= 0, op, ": negative dimension in shape ", shape_str(s));
}

// Wraps a possibly negative dim into [0, ndim); names the op on error.
inline int normalize_dim(std::int64_t dim, std::size_t ndim, const char* op) {
  const auto n = static_cast<std::int64_t>(ndim);
  const std::int64_t lo = n == 0 ? -1 : -n, hi = n == 0 ? 0 : n - 1;
  TINYXF_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a tensor with ", n,
               " dimensions");
  return static_cast<int>(dim < 0 ? dim + (n == 0 ? 1 : n) : dim);
}

inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TINYXF_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                 shape_str(b), " cannot be broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace tinyxf
