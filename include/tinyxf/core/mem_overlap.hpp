#pragma once
// Memory-overlap checks for in-place writes (PyTorch's ATen/MemoryOverlap.h). Writing through a
// view whose elements alias each other (an expand: stride 0 over a size > 1), or reading a source
// that partly aliases the destination, gives results that depend on the kernel's element order;
// like torch, the in-place ops refuse both before writing. Each check looks at shapes and strides
// only: O(ndim), no allocation, once per op. Layouts that are neither provably dense nor provably
// self-aliasing are "too hard" and allowed, exactly as in torch.
#include <array>
#include <cstdint>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/storage.hpp"

namespace tinyxf {

enum class MemOverlap { no, yes, too_hard };                 // torch's MemOverlap
enum class MemOverlapStatus { no, full, partial, too_hard };  // torch's MemOverlapStatus

// Its elements are a permutation of one gap-free block of memory (torch's
// is_non_overlapping_and_dense): the strides, sorted, are the contiguous strides of the sizes.
inline bool is_non_overlapping_and_dense(const TensorImpl& t) {
  if (t.numel() == 0 || t.is_contiguous()) return true;
  const int n = t.dim();
  const auto size = [&](int d) { return t.shape[static_cast<std::size_t>(d)]; };
  const auto stride = [&](int d) { return t.strides[static_cast<std::size_t>(d)]; };
  // dims by increasing stride, size-1 dims last (they never move the address)
  const auto before = [&](int a, int b) { return size(a) >= 2 && (size(b) < 2 || stride(a) < stride(b)); };
  std::array<int, kMaxDims> order{};
  for (int i = 0; i < n; ++i) {
    int j = i;
    for (; j > 0 && before(i, order[static_cast<std::size_t>(j - 1)]); --j)
      order[static_cast<std::size_t>(j)] = order[static_cast<std::size_t>(j - 1)];
    order[static_cast<std::size_t>(j)] = i;
  }
  std::int64_t expected = 1;
  for (int i = 0; i < n; ++i) {
    const int d = order[static_cast<std::size_t>(i)];
    if (size(d) < 2) return true;
    if (stride(d) != expected) return false;
    expected *= size(d);
  }
  return true;
}

// `yes` only when some dim has stride 0 and size > 1 (an expand); other non-dense layouts are
// `too_hard` (torch does not look further either).
inline MemOverlap has_internal_overlap(const TensorImpl& t) {
  if (is_non_overlapping_and_dense(t)) return MemOverlap::no;
  for (std::size_t i = 0; i < t.shape.size(); ++i)
    if (t.strides[i] == 0 && t.shape[i] > 1) return MemOverlap::yes;
  return MemOverlap::too_hard;
}

// How the memory of `a` and `b` relates: `full` for the same tensor, or the same dense block seen
// with the same strides; `partial` when two dense blocks of one storage intersect otherwise.
inline MemOverlapStatus get_overlap_status(const TensorImpl& a, const TensorImpl& b) {
  if (&a == &b) return MemOverlapStatus::full;
  if (a.numel() == 0 || b.numel() == 0) return MemOverlapStatus::no;
  if (!is_non_overlapping_and_dense(a) || !is_non_overlapping_and_dense(b)) return MemOverlapStatus::too_hard;
  if (a.storage != b.storage) return MemOverlapStatus::no;
  // byte offsets into the shared storage (dtypes may differ)
  const auto begin = [](const TensorImpl& t) { return t.offset * static_cast<std::int64_t>(dtype_size(t.dtype)); };
  const auto end = [&](const TensorImpl& t) { return begin(t) + t.numel() * static_cast<std::int64_t>(dtype_size(t.dtype)); };
  if (begin(a) == begin(b) && end(a) == end(b))
    return a.strides == b.strides ? MemOverlapStatus::full : MemOverlapStatus::partial;
  return begin(a) < end(b) && begin(b) < end(a) ? MemOverlapStatus::partial : MemOverlapStatus::no;
}

// torch's assert_no_internal_overlap: `op` would write one memory location more than once.
inline void assert_no_internal_overlap(const TensorImpl& written, const char* op) {
  TINYXF_CHECK(has_internal_overlap(written) != MemOverlap::yes, op,
               ": unsupported operation: more than one element of the written-to tensor refers to a single memory "
               "location. Please clone() the tensor before performing the operation.");
}

namespace detail {
inline void throw_input_overlap(const char* op) {
  throw Error(detail::concat(op, ": unsupported operation: some elements of the input tensor and the written-to "
                                 "tensor refer to a single memory location. Please clone() the tensor before "
                                 "performing the operation."));
}
}  // namespace detail

// torch's assert_no_partial_overlap: an input that is exactly the written-to memory is fine
// (an elementwise op reads each element before writing it), one that partly aliases it is not.
inline void assert_no_partial_overlap(const TensorImpl& written, const TensorImpl& input, const char* op) {
  if (get_overlap_status(written, input) == MemOverlapStatus::partial) detail::throw_input_overlap(op);
}

// torch's assert_no_overlap: the input may not alias the written-to memory at all (scatter's
// index and src, read in an order the writes do not follow).
inline void assert_no_overlap(const TensorImpl& written, const TensorImpl& input, const char* op) {
  const MemOverlapStatus s = get_overlap_status(written, input);
  if (s == MemOverlapStatus::partial || s == MemOverlapStatus::full) detail::throw_input_overlap(op);
}

}  // namespace tinyxf
