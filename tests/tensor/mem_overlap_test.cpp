// Memory-overlap checks of the in-place ops (core/mem_overlap.hpp) and the no_grad-view rule
// (Tensor::check_inplace), each case as torch 2.15 behaves: the torch expression and its result
// or message are in the comment above the check.
#include <catch2/catch.hpp>

#include "overlap_messages.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Contains;

namespace {
using testing::kInput;
using testing::kInternal;
const char* const kNoGradView = "A view was created in no_grad mode and is being modified inplace with grad mode "
                                "enabled. Given that this use case is ambiguous and error-prone, it is forbidden.";

Tensor f64(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }
Tensor arange6() { return Tensor::arange(6.0, kFloat64); }
Tensor ids(const std::vector<std::int64_t>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }
}  // namespace

TEST_CASE("overlap classification follows torch's MemoryOverlap rules", "[parity][overlap]") {
  const Tensor a = Tensor::zeros({2, 3});
  CHECK(is_non_overlapping_and_dense(*a.impl()));
  CHECK(is_non_overlapping_and_dense(*a.t().impl()));                  // a permutation of dense memory
  CHECK_FALSE(is_non_overlapping_and_dense(*a.narrow(1, 0, 2).impl()));  // gaps
  CHECK(has_internal_overlap(*a.impl()) == MemOverlap::no);
  CHECK(has_internal_overlap(*Tensor::zeros({3}).expand({2, 3}).impl()) == MemOverlap::yes);
  CHECK(has_internal_overlap(*Tensor::zeros({3}).expand({1, 3}).impl()) == MemOverlap::no);  // size 1
  CHECK(has_internal_overlap(*a.narrow(1, 0, 2).impl()) == MemOverlap::too_hard);
  // as torch.zeros(3).as_strided((2, 2), (1, 1)): overlapping, but not provably: too hard
  const Tensor base = Tensor::zeros({3});
  CHECK(has_internal_overlap(*make_view(base.impl(), {2, 2}, {1, 1}, 0)) == MemOverlap::too_hard);

  const Tensor x = arange6();
  CHECK(get_overlap_status(*x.impl(), *x.impl()) == MemOverlapStatus::full);
  CHECK(get_overlap_status(*x.narrow(0, 0, 3).impl(), *x.narrow(0, 0, 3).impl()) == MemOverlapStatus::full);
  CHECK(get_overlap_status(*x.narrow(0, 1, 5).impl(), *x.narrow(0, 0, 5).impl()) == MemOverlapStatus::partial);
  CHECK(get_overlap_status(*x.narrow(0, 0, 3).impl(), *x.narrow(0, 3, 3).impl()) == MemOverlapStatus::no);
  const Tensor sq = x.narrow(0, 0, 4).view({2, 2});
  CHECK(get_overlap_status(*sq.impl(), *sq.t().impl()) == MemOverlapStatus::partial);  // same block, other order
  CHECK(get_overlap_status(*x.impl(), *Tensor::zeros({6}, kFloat64).impl()) == MemOverlapStatus::no);
  CHECK(get_overlap_status(*x.narrow(0, 0, 0).impl(), *x.impl()) == MemOverlapStatus::no);  // empty
  const Tensor evens = x.view({3, 2}).select(1, 0);
  CHECK(get_overlap_status(*evens.impl(), *x.impl()) == MemOverlapStatus::too_hard);
}

TEST_CASE("in-place ops refuse an expanded destination where torch does", "[parity][overlap]") {
  const auto expanded = [] { return Tensor::zeros({3}).expand({2, 3}); };
  // torch.zeros(3).expand(2, 3).copy_(torch.ones(2, 3)) -> RuntimeError (kInternal)
  CHECK_THROWS_WITH(expanded().copy_(Tensor::ones({2, 3})), Contains("copy_: ") && Contains(kInternal));
  // ... .copy_(torch.ones(3).expand(2, 3)) -> the same error
  CHECK_THROWS_WITH(expanded().copy_(Tensor::ones({3}).expand({2, 3})), Contains(kInternal));
  // torch.zeros(3, dtype=torch.long).expand(2, 3).copy_(torch.ones(2, 3, dtype=torch.long)) -> the same
  CHECK_THROWS_WITH(Tensor::zeros({3}, kInt64).expand({2, 3}).copy_(Tensor::ones({2, 3}, kInt64)),
                    Contains(kInternal));
  // torch.tensor(1.).expand(3).copy_(torch.ones(3)) -> the same
  CHECK_THROWS_WITH(Tensor::scalar(1.0).expand({3}).copy_(Tensor::ones({3})), Contains(kInternal));
  // .uniform_(0, 1) / .normal_(0, 1) -> the same
  CHECK_THROWS_WITH(expanded().uniform_(0.0, 1.0), Contains("uniform_: ") && Contains(kInternal));
  CHECK_THROWS_WITH(expanded().normal_(0.0, 1.0), Contains("normal_: ") && Contains(kInternal));
  // .scatter_(0, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3)), .scatter_(0, idx, 1.0),
  // .scatter_add_(0, idx, torch.ones(2, 3)) -> the same
  const Tensor idx = Tensor::zeros({2, 3}, kInt64);
  CHECK_THROWS_WITH(expanded().scatter_(0, idx, Tensor::ones({2, 3})), Contains("scatter_: ") && Contains(kInternal));
  CHECK_THROWS_WITH(expanded().scatter_(0, idx, 1.0), Contains(kInternal));
  CHECK_THROWS_WITH(expanded().scatter_add_(0, idx, Tensor::ones({2, 3})), Contains("scatter_add_: ") &&
                                                                               Contains(kInternal));
  // torch checks the scatter's shapes and dims first: .scatter_(5, idx, 1.0) -> IndexError
  // "Dimension out of range (expected to be in range of [-2, 1], but got 5)"
  CHECK_THROWS_AS(expanded().scatter_(5, idx, 1.0), IndexError);

  // torch.zeros(3).expand(2, 3).fill_(2.5) and .zero_(): allowed (fill_ does not check);
  // the base becomes tensor([2.5, 2.5, 2.5])
  Tensor base = Tensor::zeros({3}, kFloat64);
  base.expand({2, 3}).fill_(2.5);
  CHECK(base.to_vector<double>() == std::vector<double>{2.5, 2.5, 2.5});
  base.expand({2, 3}).zero_();
  CHECK(base.to_vector<double>() == std::vector<double>{0, 0, 0});
  // e = torch.zeros(3); e.expand(1, 3).copy_(torch.tensor([[1., 2., 3.]])) -> e == [1, 2, 3] (size-1 dim)
  base.expand({1, 3}).copy_(f64({1, 2, 3}, {1, 3}));
  CHECK(base.to_vector<double>() == std::vector<double>{1, 2, 3});
  // torch.zeros(0, 3)[:, :1].expand(0, 3).copy_(torch.ones(0, 3)) -> OK (empty)
  CHECK_NOTHROW(Tensor::zeros({0, 3}).narrow(1, 0, 1).expand({0, 3}).copy_(Tensor::ones({0, 3})));
  // a = torch.zeros(3); a.as_strided((2, 2), (1, 1)).copy_(torch.tensor([[1., 2.], [3., 4.]]))
  // -> allowed (too hard to prove), a == [1, 3, 4]
  Tensor a = Tensor::zeros({3}, kFloat64);
  Tensor(make_view(a.impl(), {2, 2}, {1, 1}, 0)).copy_(f64({1, 2, 3, 4}, {2, 2}));
  CHECK(a.to_vector<double>() == std::vector<double>{1, 3, 4});
}

TEST_CASE("copy_ refuses a source partly aliasing its destination, as torch", "[parity][overlap]") {
  Tensor a = arange6();
  // a = torch.arange(6.); a[1:].copy_(a[:-1]) -> RuntimeError (kInput); a[:-1].copy_(a[1:]) too
  CHECK_THROWS_WITH(a.narrow(0, 1, 5).copy_(a.narrow(0, 0, 5)), Contains("copy_: ") && Contains(kInput));
  CHECK_THROWS_WITH(a.narrow(0, 0, 5).copy_(a.narrow(0, 1, 5)), Contains(kInput));
  // b = torch.arange(4.).view(2, 2); b.copy_(b.t()) and b.t().copy_(b) -> the same error
  Tensor b = a.narrow(0, 0, 4).view({2, 2});
  CHECK_THROWS_WITH(b.copy_(b.t()), Contains(kInput));
  CHECK_THROWS_WITH(b.t().copy_(b), Contains(kInput));
  CHECK(a.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 4, 5});  // nothing written

  // a.copy_(a) and a[:3].copy_(a[0:3]): full overlap is fine
  a.copy_(a);
  a.narrow(0, 0, 3).copy_(a.narrow(0, 0, 3));
  CHECK(a.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 4, 5});
  // a[:3].copy_(a[3:]) -> tensor([3., 4., 5., 3., 4., 5.])
  a.narrow(0, 0, 3).copy_(a.narrow(0, 3, 3));
  CHECK(a.to_vector<double>() == std::vector<double>{3, 4, 5, 3, 4, 5});
  // a = torch.arange(6.); a.view(3, 2).select(1, 0).copy_(a.view(3, 2).select(1, 1))
  // -> strided, too hard to check: tensor([1., 1., 3., 3., 5., 5.])
  a = arange6();
  a.view({3, 2}).select(1, 0).copy_(a.view({3, 2}).select(1, 1));
  CHECK(a.to_vector<double>() == std::vector<double>{1, 1, 3, 3, 5, 5});
  // a = torch.arange(6.); a[:3].copy_(a[1:2].expand(3)) -> an expanded source is too hard too:
  // tensor([1., 1., 1., 3., 4., 5.])
  a = arange6();
  a.narrow(0, 0, 3).copy_(a.narrow(0, 1, 1).expand({3}));
  CHECK(a.to_vector<double>() == std::vector<double>{1, 1, 1, 3, 4, 5});
}

TEST_CASE("in-place scatters refuse an index or src aliasing self at all, as torch", "[parity][overlap]") {
  Tensor a = arange6();
  const Tensor i3 = ids({0, 1, 2}, {3});
  // a = torch.arange(6.); a[1:4].scatter_(0, torch.tensor([0, 1, 2]), a[:3]) -> RuntimeError (kInput)
  CHECK_THROWS_WITH(a.narrow(0, 1, 3).scatter_(0, i3, a.narrow(0, 0, 3)), Contains("scatter_: ") && Contains(kInput));
  // a[1:4].scatter_add_(0, torch.tensor([0, 1, 2]), a[:3]) -> the same
  CHECK_THROWS_WITH(a.narrow(0, 1, 3).scatter_add_(0, i3, a.narrow(0, 0, 3)), Contains(kInput));
  // a.scatter_(0, torch.tensor([0, 1, 2, 3, 4, 5]), a): even src that is self is refused
  CHECK_THROWS_WITH(a.scatter_(0, ids({0, 1, 2, 3, 4, 5}, {6}), a), Contains(kInput));
  CHECK(a.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 4, 5});
  // l = torch.zeros(6, dtype=torch.long); l[1:4].scatter_(0, l[:3], 5), l[0:3].scatter_(0, l[:3], 5)
  // and l.scatter_(0, l, 5) -> the same error
  Tensor l = Tensor::zeros({6}, kInt64);
  CHECK_THROWS_WITH(l.narrow(0, 1, 3).scatter_(0, l.narrow(0, 0, 3), 5.0), Contains(kInput));
  CHECK_THROWS_WITH(l.narrow(0, 0, 3).scatter_(0, l.narrow(0, 0, 3), 5.0), Contains(kInput));
  CHECK_THROWS_WITH(l.scatter_(0, l, 5.0), Contains(kInput));
  // a[:3].scatter_(0, torch.tensor([2, 1, 0]), a[3:]) -> disjoint: tensor([5., 4., 3., 3., 4., 5.])
  a.narrow(0, 0, 3).scatter_(0, ids({2, 1, 0}, {3}), a.narrow(0, 3, 3));
  CHECK(a.to_vector<double>() == std::vector<double>{5, 4, 3, 3, 4, 5});
}

TEST_CASE("a view made under NoGradGuard of a tensor that requires grad is not written in grad mode",
          "[parity][overlap][autograd]") {
  // a = torch.zeros(3, requires_grad=True)
  // with torch.no_grad(): v = a[:2]
  // v.fill_(1) / v.copy_(torch.ones(2)) / v.uniform_() / v.scatter_(0, torch.tensor([0]), 1.0)
  //   -> RuntimeError "A view was created in no_grad mode and is being modified inplace with grad
  //      mode enabled. Given that this use case is ambiguous and error-prone, it is forbidden. ..."
  Tensor a = Tensor::zeros({3}, kFloat64).set_requires_grad(true);
  Tensor v;
  {
    NoGradGuard no_grad;
    v = a.narrow(0, 0, 2);
  }
  CHECK_THROWS_WITH(v.fill_(1.0), Contains("fill_: ") && Contains(kNoGradView));
  CHECK_THROWS_WITH(v.copy_(Tensor::ones({2}, kFloat64)), Contains(kNoGradView));
  CHECK_THROWS_WITH(v.uniform_(0.0, 1.0), Contains(kNoGradView));
  CHECK_THROWS_WITH(v.scatter_(0, ids({0}, {1}), 1.0), Contains(kNoGradView));
  // w = v[:1]; w.fill_(1) -> "Output 0 of Slice is a view of a view which was created in no_grad
  // mode and is being modified inplace with grad mode enabled. ..."
  CHECK_THROWS_WITH(v.narrow(0, 0, 1).fill_(1.0), Contains("created in no_grad mode"));
  CHECK(a.to_vector<double>() == std::vector<double>{0, 0, 0});
  // with torch.no_grad(): v[:1].fill_(1) -> OK, a == [1, 0, 0]: both inside no_grad
  {
    NoGradGuard no_grad;
    v.narrow(0, 0, 1).fill_(1.0);
  }
  CHECK(a.to_vector<double>() == std::vector<double>{1, 0, 0});
  // a.detach()[:2].fill_(2) -> OK: detach() is not a no_grad view
  a.detach().narrow(0, 0, 2).fill_(2.0);
  CHECK(a.to_vector<double>() == std::vector<double>{2, 2, 0});

  // b = a * 2; with torch.no_grad(): v = b.view(3, 1).expand(3, 2); v.uniform_() -> the same
  // error (a non-leaf base; the no_grad check comes before the overlap check)
  const Tensor b = a * 2.0;
  Tensor e;
  {
    NoGradGuard no_grad;
    e = b.view({3, 1}).expand({3, 2});
  }
  CHECK_THROWS_WITH(e.uniform_(0.0, 1.0), Contains(kNoGradView));

  // p = torch.zeros(3); with torch.no_grad(): v = p[:2]; v.fill_(1); v.copy_(torch.ones(2))
  // -> OK, p == [1, 1, 0]: the base does not require grad
  Tensor p = Tensor::zeros({3}, kFloat64);
  Tensor pv;
  {
    NoGradGuard no_grad;
    pv = p.narrow(0, 0, 2);
  }
  pv.fill_(1.0);
  pv.copy_(Tensor::ones({2}, kFloat64));
  CHECK(p.to_vector<double>() == std::vector<double>{1, 1, 0});

  // q = torch.ones(3, requires_grad=True); with torch.no_grad(): w = q[:2]
  // q.requires_grad_(False); w.fill_(2) -> OK, q == [2, 2, 1]: the base no longer takes part in
  // autograd (freezing a layer after taking a view of its weight)
  Tensor q = Tensor::ones({3}, kFloat64).set_requires_grad(true);
  Tensor qv;
  {
    NoGradGuard no_grad;
    qv = q.narrow(0, 0, 2);
  }
  CHECK_THROWS_WITH(qv.fill_(2.0), Contains(kNoGradView));
  q.set_requires_grad(false);
  qv.fill_(2.0);
  qv.narrow(0, 0, 1).fill_(2.0);  // a view of the view too
  CHECK(q.to_vector<double>() == std::vector<double>{2, 2, 1});
}
