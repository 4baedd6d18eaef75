#pragma once
// torch.sort, torch.argsort, torch.msort and torch.topk. The backend kernel Backend::sort
// (core/backend.hpp) finds the indices, line by line along `dim`, with torch's CPU orders
// (backend/sort_line.hpp); the values are gather(x, dim, indices), so their backward is gather's:
// the gradient scatter-added to the positions the values came from.
//
// Orders: NaN is greater than everything (last ascending, first descending; topk takes NaN as the
// largest), -0.0 equals 0.0, and sort is stable whatever `stable` says (torch's CPU sort with
// stable=False keeps short lines' ties in order but not long ones': it leaves that order open).
// topk's order among equal values, and its order with sorted=false, are torch's CPU ones (its
// std::partial_sort / std::nth_element selection, reproduced on libstdc++); torch documents
// neither, and its CUDA topk may differ.
#include "tinyxf/ops/gather_scatter.hpp"

namespace tinyxf {

// (values, indices) as torch's return types; `auto [values, indices] = sort(x);` works.
struct SortResult {
  Tensor values;
  Tensor indices;  // int64, positions along dim
};

namespace ops_detail {

// The int64 indices of x's lines along `dim` (x's shape, args.k long along dim; a 0-dim x is one
// line of one element), contiguous.
inline Tensor line_order(const Tensor& x, int dim, SortArgs args) {
  if (x.dim() == 0) {
    Tensor idx = Tensor::zeros({}, TensorOptions(x.device()).dtype(kInt64));
    return idx;  // one element: its own position, whatever k (torch: topk(x, 0) of a 0-dim x too)
  }
  const Tensor moved = x.detach().transpose(dim, -1);
  const std::int64_t n = x.size(dim);
  Shape out_shape = moved.shape();
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < out_shape.size(); ++d) rows *= out_shape[d];
  out_shape.back() = args.k;
  Tensor idx = Tensor::empty({rows, args.k}, TensorOptions(x.device()).dtype(kInt64));
  if (rows * args.k > 0) {
    const Tensor lines = moved.reshape({rows, n});
    x.impl()->backend().sort(kv(idx), kv(lines), args);
  }
  return idx.reshape(out_shape).transpose(dim, -1).contiguous();
}

}  // namespace ops_detail

// torch.argsort: the int64 positions that sort x along `dim` (ascending unless `descending`),
// stable either way: equal values keep their order (one of the orders torch's stable=False allows).
inline Tensor argsort(const Tensor& x, std::int64_t dim = -1, bool descending = false, bool stable = false) {
  (void)stable;  // accepted as torch's; the sort is stable anyway
  const int d = normalize_dim(dim, x.shape().size(), "argsort");
  return ops_detail::line_order(x, d, SortArgs{x.dim() ? x.size(d) : 1, descending, false, true});
}

// torch.sort: (values, indices) of x sorted along `dim`; NaN last ascending, first descending.
// Any dtype (bool, integers, 16-bit floats); the values' gradient goes back to where each came from.
inline SortResult sort(const Tensor& x, std::int64_t dim = -1, bool descending = false, bool stable = false) {
  Tensor indices = argsort(x, dim, descending, stable);
  Tensor values = gather(x, dim, indices);
  return {std::move(values), std::move(indices)};
}

// torch.msort: x sorted along its first dim (the values of sort(x, 0)).
inline Tensor msort(const Tensor& x) { return sort(x, 0).values; }

// torch.topk: the k largest (or smallest, largest = false) elements of each line along `dim`,
// in order when `sorted`, with their int64 positions. k in [0, size of dim] (1 for a 0-dim x),
// else torch's "selected index k out of range". NaN counts as the largest. bool is refused, as
// torch's CPU topk does.
inline SortResult topk(const Tensor& x, std::int64_t k, std::int64_t dim = -1, bool largest = true,
                       bool sorted = true) {
  const int d = normalize_dim(dim, x.shape().size(), "topk");
  TINYXF_CHECK_AS(DTypeError, x.dtype() != kBool, "topk: topk does not support bool dtypes (torch raises too); convert "
                                                   "with .to(kUInt8) first");
  const std::int64_t n = x.dim() ? x.size(d) : 1;
  TINYXF_CHECK(k >= 0 && k <= n, "topk: selected index k out of range: k = ", k,
                  ", expected 0 <= k <= ", n, " (the size of dimension ", d, " of a tensor of shape ",
                  shape_str(x.shape()), ")");
  Tensor indices = ops_detail::line_order(x, d, SortArgs{k, largest, true, sorted});
  Tensor values = gather(x, d, indices);
  return {std::move(values), std::move(indices)};
}

}  // namespace tinyxf
