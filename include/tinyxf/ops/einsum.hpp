#pragma once
// torch.einsum(equation, operands): sums of products over the indices an Einstein-summation
// equation names, composed from existing ops (so differentiable through them):
//   * a subscript repeated in one operand ("ii->i") takes the diagonal: x times an identity mask,
//     summed over one of the two dims;
//   * a subscript in one operand only and not in the output is summed right away;
//   * operands are contracted left to right, each pair as one batched matmul: the shared kept
//     subscripts are the batch, the shared summed ones the inner dimension (so "bij,bjk->bik" is
//     one bmm, not a broadcast product then a sum). Pairs with nothing to sum (outer and
//     elementwise products) and integer pairs (matmul is floating only) multiply and sum instead.
// Subscripts are [a-zA-Z]; "..." stands for the dims no subscript names, aligned from the right
// and broadcast across operands; without "->" the output is "..." then the subscripts that appear
// once, in alphabetical order (upper case first). A size-1 dim broadcasts against its subscript's
// other sizes. Errors are torch's messages.
#include <algorithm>
#include <array>
#include <string_view>

#include "tinyxf/ops/matmul.hpp"
#include "tinyxf/ops/nn.hpp"

namespace tinyxf {

namespace ops_detail {

// Subscripts: 'A'-'Z' are 0-25, 'a'-'z' 26-51 (torch's order); the ellipsis' dims are 52, 53, ...
inline constexpr int kEinsumLetters = 52;

// A tensor whose dims are labelled by distinct subscripts.
struct Labelled {
  Tensor t;
  std::vector<int> labels;
};

inline int einsum_label(char c) { return c >= 'A' && c <= 'Z' ? c - 'A' : c - 'a' + 26; }

// One side of the equation: each term's subscripts, with -1 for its ellipsis.
struct EinsumTerm {
  std::vector<int> labels;
  bool has_ellipsis = false;
};

inline std::vector<EinsumTerm> parse_einsum_terms(std::string_view eq, std::size_t offset, bool output) {
  std::vector<EinsumTerm> terms(1);
  for (std::size_t i = 0; i < eq.size(); ++i) {
    const char c = eq[i];
    const std::size_t at = offset + i;
    if (c == ' ') continue;
    if (c == ',' && !output) {
      terms.emplace_back();
      continue;
    }
    if (c == '.') {
      const std::size_t operand = terms.size() - 1;
      TINYXF_CHECK(!terms.back().has_ellipsis, "einsum(): found '.' for ", output ? "output" : "operand ",
                   output ? std::string() : std::to_string(operand), " for which an ellipsis was already found");
      TINYXF_CHECK(i + 2 < eq.size() && eq[i + 1] == '.' && eq[i + 2] == '.', "einsum(): found '.' for ",
                   output ? "output" : "operand ", output ? std::string() : std::to_string(operand),
                   " that is not part of any ellipsis");
      terms.back().has_ellipsis = true;
      terms.back().labels.push_back(-1);
      i += 2;
      continue;
    }
    TINYXF_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), "einsum(): invalid subscript given at index ", at,
                 " in the equation string, subscripts must be in [a-zA-Z]");
    terms.back().labels.push_back(einsum_label(c));
  }
  return terms;
}

// x with the diagonal of dims a and b (same size) in dim a, dim b removed.
inline Tensor einsum_diagonal(const Tensor& x, int a, int b) {
  const std::int64_t n = x.size(a);
  const Tensor idx = Tensor::arange(std::int64_t{0}, n, std::int64_t{1}, TensorOptions(x.device()).dtype(kInt64));
  Shape row(static_cast<std::size_t>(x.dim()), 1), col = row;
  row[static_cast<std::size_t>(a)] = n;
  col[static_cast<std::size_t>(b)] = n;
  const Tensor identity = eq(idx.reshape(row), idx.reshape(col));
  return sum(where(identity, x, Tensor::zeros({}, x.options())), {b});
}

// Sums the dims of `x` whose subscript `keep` does not hold.
inline Labelled einsum_sum_out(Labelled x, const std::array<bool, 128>& keep) {
  std::vector<std::int64_t> dims;
  std::vector<int> left;
  for (std::size_t d = 0; d < x.labels.size(); ++d)
    if (keep[static_cast<std::size_t>(x.labels[d])]) left.push_back(x.labels[d]);
    else dims.push_back(static_cast<std::int64_t>(d));
  if (dims.empty()) return x;
  return {sum(x.t, dims), std::move(left)};
}

inline std::vector<std::int64_t> einsum_positions(const std::vector<int>& labels, const std::vector<int>& order) {
  std::vector<std::int64_t> perm;
  for (int l : order)
    perm.push_back(std::find(labels.begin(), labels.end(), l) - labels.begin());
  return perm;
}

// a and b contracted over their shared subscripts that `keep` does not hold (both already summed
// over the ones only they have and `keep` does not hold).
inline Labelled einsum_pair(const Labelled& a, const Labelled& b, const std::array<bool, 128>& keep) {
  const auto in = [](const std::vector<int>& ls, int l) { return std::find(ls.begin(), ls.end(), l) != ls.end(); };
  std::vector<int> batch, a_only, b_only, inner;
  for (int l : a.labels) (in(b.labels, l) ? (keep[static_cast<std::size_t>(l)] ? batch : inner) : a_only).push_back(l);
  for (int l : b.labels)
    if (!in(a.labels, l)) b_only.push_back(l);
  Tensor ta = a.t, tb = b.t;
  // An inner subscript of size 1 on one side only: sum the other side over it first.
  for (int l : inner) {
    const auto da = einsum_positions(a.labels, {l})[0], db = einsum_positions(b.labels, {l})[0];
    if (ta.size(da) == 1 && tb.size(db) != 1) tb = sum(tb, {db}, true);
    if (tb.size(db) == 1 && ta.size(da) != 1) ta = sum(ta, {da}, true);
  }
  const auto size_of = [](const Tensor& t, const std::vector<int>& ls, int l) {
    return t.size(einsum_positions(ls, {l})[0]);
  };
  Shape batch_a, batch_b, out_shape;
  std::int64_t m = 1, n = 1, k = 1;
  for (int l : batch) {
    batch_a.push_back(size_of(ta, a.labels, l));
    batch_b.push_back(size_of(tb, b.labels, l));
    out_shape.push_back(std::max(batch_a.back(), batch_b.back()));
  }
  for (int l : a_only) out_shape.push_back(size_of(ta, a.labels, l)), m *= out_shape.back();
  for (int l : b_only) out_shape.push_back(size_of(tb, b.labels, l)), n *= out_shape.back();
  for (int l : inner) k *= size_of(ta, a.labels, l);
  std::vector<int> a_order = batch, b_order = batch;
  a_order.insert(a_order.end(), a_only.begin(), a_only.end());
  a_order.insert(a_order.end(), inner.begin(), inner.end());
  b_order.insert(b_order.end(), inner.begin(), inner.end());
  b_order.insert(b_order.end(), b_only.begin(), b_only.end());
  ta = ta.permute(einsum_positions(a.labels, a_order));
  std::vector<int> labels = batch;
  labels.insert(labels.end(), a_only.begin(), a_only.end());
  labels.insert(labels.end(), b_only.begin(), b_only.end());
  TINYXF_CHECK_AS(DTypeError, inner.empty() || ta.dtype() == tb.dtype(), "einsum(): expected scalar type ",
                  dtype_name(ta.dtype()), " but found ", dtype_name(tb.dtype()),
                  " (operands summed over a shared subscript need one dtype)");
  // Nothing to sum (an outer or elementwise product), or integers (matmul is floating only):
  // a as [batch, a_only, 1 per b_only, inner] times b as [batch, 1 per a_only, b_only, inner],
  // summed over inner.
  if (inner.empty() || !ta.is_floating_point()) {
    const auto nb = static_cast<std::ptrdiff_t>(batch.size());
    std::vector<int> b_product_order = batch;
    b_product_order.insert(b_product_order.end(), b_only.begin(), b_only.end());
    b_product_order.insert(b_product_order.end(), inner.begin(), inner.end());
    tb = tb.permute(einsum_positions(b.labels, b_product_order));
    Shape sa = ta.shape(), sb = tb.shape();
    sa.insert(sa.begin() + nb + static_cast<std::ptrdiff_t>(a_only.size()), b_only.size(), 1);
    sb.insert(sb.begin() + nb, a_only.size(), 1);
    Tensor prod = mul(ta.reshape(sa), tb.reshape(sb));
    std::vector<std::int64_t> inner_dims;
    for (std::size_t i = 0; i < inner.size(); ++i) inner_dims.push_back(-1 - static_cast<std::int64_t>(i));
    return {inner.empty() ? prod : sum(prod, inner_dims), labels};
  }
  batch_a.push_back(m), batch_a.push_back(k);
  batch_b.push_back(k), batch_b.push_back(n);
  tb = tb.permute(einsum_positions(b.labels, b_order));
  return {matmul(ta.reshape(batch_a), tb.reshape(batch_b)).reshape(out_shape), labels};
}

}  // namespace ops_detail

// torch.einsum(equation, operands): see the top of this header.
inline Tensor einsum(std::string_view equation, const std::vector<Tensor>& operands) {
  using namespace ops_detail;
  const std::size_t arrow = equation.find("->");
  std::vector<EinsumTerm> terms = parse_einsum_terms(equation.substr(0, arrow), 0, false);
  TINYXF_CHECK(terms.size() <= operands.size(), "einsum(): fewer operands were provided than specified in the equation");
  TINYXF_CHECK(terms.size() >= operands.size(), "einsum(): more operands were provided than specified in the equation");
  for (const Tensor& t : operands) check_same_device("einsum", operands.front(), t);
  // The ellipsis' dims, aligned from the right: the widest one has `ellipsis_dims`.
  std::int64_t ellipsis_dims = 0;
  std::vector<Labelled> xs;
  std::array<std::int64_t, 128> size{};
  std::array<int, 128> count{};  // how often each subscript appears on the left ("ii" counts 2)
  std::array<bool, 128> seen{};
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const EinsumTerm& term = terms[i];
    const Tensor& t = operands[i];
    const auto named = static_cast<std::int64_t>(term.labels.size()) - (term.has_ellipsis ? 1 : 0);
    TINYXF_CHECK(term.has_ellipsis ? t.dim() >= named : t.dim() == named, "einsum(): the number of subscripts in the "
                 "equation (", named, ") ", term.has_ellipsis ? "is more than" : "does not match",
                 " the number of dimensions (", t.dim(), ") for operand ", i,
                 term.has_ellipsis ? "" : " and no ellipsis was given");
    ellipsis_dims = std::max(ellipsis_dims, t.dim() - named);
    for (int l : term.labels)
      if (l >= 0) ++count[static_cast<std::size_t>(l)];
  }
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const Tensor& t = operands[i];
    const std::int64_t covered = t.dim() - (static_cast<std::int64_t>(terms[i].labels.size()) -
                                            (terms[i].has_ellipsis ? 1 : 0));
    Labelled x{t, {}};
    for (int l : terms[i].labels) {
      if (l >= 0) {
        x.labels.push_back(l);
        continue;
      }
      for (std::int64_t e = 0; e < covered; ++e) x.labels.push_back(kEinsumLetters + static_cast<int>(ellipsis_dims - covered + e));
    }
    // repeated subscripts: the diagonal
    for (std::size_t d = 0; d < x.labels.size(); ++d)
      for (std::size_t e = x.labels.size(); e-- > d + 1;)
        if (x.labels[e] == x.labels[d]) {
          TINYXF_CHECK(x.t.size(static_cast<std::int64_t>(d)) == x.t.size(static_cast<std::int64_t>(e)),
                       "einsum(): subscript ", static_cast<char>(x.labels[d] < 26 ? 'A' + x.labels[d] : 'a' + x.labels[d] - 26),
                       " is repeated for operand ", i, " but the sizes don't match, ",
                       x.t.size(static_cast<std::int64_t>(e)), " != ", x.t.size(static_cast<std::int64_t>(d)));
          x.t = einsum_diagonal(x.t, static_cast<int>(d), static_cast<int>(e));
          x.labels.erase(x.labels.begin() + static_cast<std::ptrdiff_t>(e));
        }
    for (std::size_t d = 0; d < x.labels.size(); ++d) {
      const auto l = static_cast<std::size_t>(x.labels[d]);
      const std::int64_t s = x.t.size(static_cast<std::int64_t>(d));
      if (!seen[l] || size[l] == 1 || s == 1) {
        size[l] = seen[l] ? std::max(size[l], s) : s;
        seen[l] = true;
        continue;
      }
      if (l >= kEinsumLetters)
        TINYXF_CHECK(s == size[l], "einsum(): dimension ", static_cast<std::int64_t>(l) - kEinsumLetters - (ellipsis_dims - covered), " covered by ellipsis in operand ", i,
                     "has size ", s, " which does not broadcast with previously seen ellipsis with size ", size[l],
                     " for the respective dimension");
      else
        TINYXF_CHECK(s == size[l], "einsum(): subscript ",
                     static_cast<char>(l < 26 ? 'A' + l : 'a' + l - 26), " has size ", s, " for operand ", i,
                     " which does not broadcast with previously seen size ", size[l]);
    }
    xs.push_back(std::move(x));
  }
  // The output's subscripts.
  std::vector<int> out;
  if (arrow != std::string_view::npos) {
    const std::vector<EinsumTerm> out_terms = parse_einsum_terms(equation.substr(arrow + 2), arrow + 2, true);
    std::array<bool, 128> in_out{};
    for (int l : out_terms.front().labels) {
      if (l < 0) {
        for (std::int64_t e = 0; e < ellipsis_dims; ++e) out.push_back(kEinsumLetters + static_cast<int>(e));
        continue;
      }
      const char c = static_cast<char>(l < 26 ? 'A' + l : 'a' + l - 26);
      TINYXF_CHECK(!in_out[static_cast<std::size_t>(l)], "einsum(): output subscript ", c, " appears more than once in the output");
      TINYXF_CHECK(count[static_cast<std::size_t>(l)] > 0, "einsum(): output subscript ", c,
                   " does not appear in the equation for any input operand");
      in_out[static_cast<std::size_t>(l)] = true;
      out.push_back(l);
    }
  } else {
    for (std::int64_t e = 0; e < ellipsis_dims; ++e) out.push_back(kEinsumLetters + static_cast<int>(e));
    for (int l = 0; l < kEinsumLetters; ++l)
      if (count[static_cast<std::size_t>(l)] == 1) out.push_back(l);
  }
  // Left to right: sum each operand's private subscripts, then contract it into the result.
  std::array<bool, 128> in_output{};
  for (int l : out) in_output[static_cast<std::size_t>(l)] = true;
  const auto keep_after = [&](std::size_t i) {  // the output's subscripts and those of operands after i
    std::array<bool, 128> keep = in_output;
    for (std::size_t j = i + 1; j < xs.size(); ++j)
      for (int l : xs[j].labels) keep[static_cast<std::size_t>(l)] = true;
    return keep;
  };
  const auto keep_with = [&](std::size_t i, const std::vector<int>& other) {
    std::array<bool, 128> keep = keep_after(i);
    for (int l : other) keep[static_cast<std::size_t>(l)] = true;
    return keep;
  };
  Labelled acc = einsum_sum_out(xs[0], keep_after(0));
  for (std::size_t i = 1; i < xs.size(); ++i) {
    const Labelled next = einsum_sum_out(xs[i], keep_with(i, acc.labels));
    acc = einsum_pair(acc, next, keep_after(i));
  }
  acc = einsum_sum_out(std::move(acc), in_output);
  return acc.labels.empty() ? acc.t : acc.t.permute(einsum_positions(acc.labels, out));
}
inline Tensor einsum(std::string_view equation, std::initializer_list<Tensor> operands) {
  return einsum(equation, std::vector<Tensor>(operands));
}

}  // namespace tinyxf
