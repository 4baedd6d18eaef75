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

// ---- overflow-checked sizes -------------------------------------------------------------------
// Every element, stride and byte count of a tensor goes through these, so a hostile shape (from
// a config.json, a safetensors header, a command line) is an Error naming it, never a wrapped
// size that allocates too little. Counts are bounded by kMaxElements (2^62): the element count,
// every stride and every byte count are bounded by it, so all of them and their sums fit int64.
inline constexpr std::int64_t kMaxElements = std::int64_t{1} << 62;

namespace detail {
// a * b for non-negative a, b, or -1 when the product exceeds kMaxElements.
inline std::int64_t bounded_product(std::int64_t a, std::int64_t b) {
  std::int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product > kMaxElements) return -1;
  return product;
}
}  // namespace detail

// Number of elements; throws when the shape has a negative dimension or more than kMaxElements.
inline std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) {
    TINYXF_CHECK_AS(ShapeError, d >= 0, "shape ", shape_str(s), ": negative dimension");
    n = detail::bounded_product(n, d);
    TINYXF_CHECK_AS(ShapeError, n >= 0, "shape ", shape_str(s), " has more than 2^62 elements");
  }
  return n;
}

// Row-major strides. Zero-size dimensions count as 1 here (a [0, n, m] tensor still has the
// strides of [1, n, m]), so the product of the non-zero dimensions is checked too: a zero-element
// shape like [0, 2^62, 2^62] is refused instead of overflowing its strides.
inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    TINYXF_CHECK_AS(ShapeError, s[i] >= 0, "shape ", shape_str(s), ": negative dimension");
    acc = detail::bounded_product(acc, s[i] > 1 ? s[i] : 1);
    TINYXF_CHECK_AS(ShapeError, acc >= 0, "shape ", shape_str(s), ": strides exceed 2^62 elements");
  }
  return st;
}

// count x element_bytes as a byte count, or an Error naming `what`; bytes are bounded by 2^62 too.
inline std::size_t checked_byte_count(std::int64_t count, std::size_t element_bytes, const char* what) {
  const std::int64_t bytes = count < 0 ? -1 : detail::bounded_product(count, static_cast<std::int64_t>(element_bytes));
  TINYXF_CHECK_AS(ShapeError, bytes >= 0, what, ": ", count, " elements of ", element_bytes,
                  " bytes exceed the size limit of 2^62 bytes");
  return static_cast<std::size_t>(bytes);
}

inline void check_shape(const Shape& s, const char* op) {
  TINYXF_CHECK_AS(ShapeError, s.size() <= static_cast<std::size_t>(kMaxDims), op, ": at most ", kMaxDims,
                  " dimensions are supported, got shape ", shape_str(s));
  std::int64_t stride_product = 1;  // what contiguous_strides reaches; bounds the element count too
  for (auto d : s) {
    TINYXF_CHECK_AS(ShapeError, d >= 0, op, ": negative dimension in shape ", shape_str(s));
    stride_product = detail::bounded_product(stride_product, d > 1 ? d : 1);
    TINYXF_CHECK_AS(ShapeError, stride_product >= 0, op, ": shape ", shape_str(s),
                    " exceeds 2^62 elements (or strides)");
  }
}

// Wraps a possibly negative dim into [0, ndim); names the op on error.
inline int normalize_dim(std::int64_t dim, std::size_t ndim, const char* op) {
  const auto n = static_cast<std::int64_t>(ndim);
  const std::int64_t lo = n == 0 ? -1 : -n, hi = n == 0 ? 0 : n - 1;
  TINYXF_CHECK_AS(IndexError, dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a tensor with ", n,
                  " dimensions");
  return static_cast<int>(dim < 0 ? dim + (n == 0 ? 1 : n) : dim);
}

inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TINYXF_CHECK_AS(ShapeError, da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                    " cannot be broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace tinyxf
