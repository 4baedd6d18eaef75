// The CUDA backend's index arithmetic and scalar rules, run on the host (no GPU needed, so CI
// checks them on every build): strided offsets after dim collapsing against a brute-force walk,
// the coverage of the reduction and layer_norm launch plans, the total order of the argmax/argmin
// merge against the reference's sequential scan, the allocator's size classes, the order of the
// index checks' error keys, when elementwise kernels take 16-byte packs, that each packed functor
// computes what its scalar form does, and how the attention addresses its (b, h) pairs. Kernels themselves need a GPU (tinyxf_cuda_tests).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cuda_common.cuh"
#include "device_math.cuh"
#include "head_batches.cuh"
#include "packed_functors.cuh"
#include "host_expect.hpp"

using namespace tinyxf;
using namespace tinyxf::backends::cuda_detail;

namespace {


std::mt19937_64 g_rng(20240601);
int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); }

// ---- strided offsets ---------------------------------------------------------------------------
void check_offsets_case(const KernelView& a, const KernelView& b, const KernelView& c) {
  const KernelView* views[3] = {&a, &b, &c};
  const Offsets<3> o = collapse_dims(views);
  const std::int64_t n = a.numel();
  std::vector<std::int64_t> index(static_cast<std::size_t>(std::max(a.ndim, 1)), 0);
  for (std::int64_t linear = 0; linear < n; ++linear) {
    // brute force: row-major coordinates of `linear` in the original shape
    std::int64_t rest = linear;
    for (int d = a.ndim - 1; d >= 0; --d) {
      index[static_cast<std::size_t>(d)] = rest % a.shape[d];
      rest /= a.shape[d];
    }
    std::int64_t want[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k)
      for (int d = 0; d < a.ndim; ++d)
        if (views[k]->data) want[k] += index[static_cast<std::size_t>(d)] * views[k]->strides[d];
    std::int64_t got32[3], got64[3];
    o.at(static_cast<std::uint32_t>(linear), got32);
    o.at(static_cast<std::uint64_t>(linear), got64);
    for (int k = 0; k < 3; ++k) {
      EXPECT(got32[k] == want[k] && got64[k] == want[k], "view %d, element %lld of ndim %d: %lld/%lld vs %lld", k,
             static_cast<long long>(linear), a.ndim, static_cast<long long>(got32[k]),
             static_cast<long long>(got64[k]), static_cast<long long>(want[k]));
      if (got32[k] != want[k]) return;
    }
  }
  EXPECT(o.ndim >= 1 && o.ndim <= std::max(a.ndim, 1), "collapsed ndim %d from %d", o.ndim, a.ndim);
}

void test_offsets() {
  static char dummy[16];
  for (int trial = 0; trial < 3000; ++trial) {
    KernelView a, b, c;
    a.ndim = b.ndim = c.ndim = pick(0, 6);
    for (int d = 0; d < a.ndim; ++d) a.shape[d] = b.shape[d] = c.shape[d] = std::array<int, 5>{1, 2, 3, 5, 1}[pick(0, 4)];
    if (trial % 97 == 0 && a.ndim > 0) a.shape[0] = b.shape[0] = c.shape[0] = 0;  // empty
    // a: contiguous; b: a permutation of contiguous strides, sometimes sliced (padded rows);
    // c: broadcast (stride 0 on random dims) of a contiguous tensor, or an absent operand.
    std::int64_t expected = 1;
    for (int d = a.ndim - 1; d >= 0; --d) {
      a.strides[d] = expected;
      expected *= a.shape[d];
    }
    std::vector<int> perm(static_cast<std::size_t>(a.ndim));
    for (int d = 0; d < a.ndim; ++d) perm[static_cast<std::size_t>(d)] = d;
    std::shuffle(perm.begin(), perm.end(), g_rng);
    std::int64_t stride = 1 + (trial % 3 == 0 ? pick(0, 2) : 0);
    for (int d : perm) {
      b.strides[d] = stride;
      stride *= b.shape[d] + (trial % 5 == 0 ? 1 : 0);
    }
    stride = 1;
    for (int d = c.ndim - 1; d >= 0; --d) {
      const bool broadcast = pick(0, 2) == 0;
      c.strides[d] = broadcast ? 0 : stride;
      if (!broadcast) stride *= c.shape[d];
    }
    a.data = b.data = dummy;
    c.data = trial % 11 == 0 ? nullptr : dummy;
    check_offsets_case(a, b, c);
    check_offsets_case(b, c, a);
  }
}

// ---- 16-byte packs: when launch_strided may take them ----------------------------------------------
KernelView view_at(std::uintptr_t address, DType dtype, std::vector<std::int64_t> shape,
                   std::vector<std::int64_t> strides = {}) {
  KernelView v;
  v.data = reinterpret_cast<void*>(address);  // never dereferenced
  v.dtype = dtype;
  v.ndim = static_cast<int>(shape.size());
  std::int64_t expected = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    v.shape[d] = shape[static_cast<std::size_t>(d)];
    v.strides[d] = strides.empty() ? expected : strides[static_cast<std::size_t>(d)];
    expected *= v.shape[d];
  }
  return v;
}

template <int N>
bool packs_fit(const KernelView* const (&views)[N], int pack) {
  return packable(collapse_dims(views), views, pack);
}

void test_packable() {
  const KernelView out = view_at(0x10000, DType::f32, {7, 1031}), in = view_at(0x20000, DType::f32, {7, 1031});
  {
    const KernelView* v[2] = {&out, &in};
    EXPECT(packs_fit(v, 4), "two aligned contiguous float32 views take packs of 4");
    EXPECT(!packs_fit(v, 1), "a pack of one is the scalar path");
  }
  const KernelView off_by_one = view_at(0x20004, DType::f32, {7, 1031});
  const KernelView transposed = view_at(0x20000, DType::f32, {7, 1031}, {1, 7});
  const KernelView padded_rows = view_at(0x20000, DType::f32, {7, 1031}, {1034, 1});
  const KernelView broadcast = view_at(0x20000, DType::f32, {7, 1031}, {0, 1});
  for (const KernelView* other : {&off_by_one, &transposed, &padded_rows, &broadcast}) {
    const KernelView* v[2] = {&out, other};
    EXPECT(!packs_fit(v, 4), "a misaligned, transposed, padded or broadcast operand takes the scalar path");
  }
  {  // an absent optional operand (unary_backward without y) does not count
    const KernelView absent{};
    const KernelView* v[3] = {&out, &in, &absent};
    EXPECT(packs_fit(v, 4), "an absent operand is skipped");
  }
  {  // mixed widths: a float32 -> bfloat16 cast packs 4 elements, 8 bytes of bfloat16
    const KernelView half8 = view_at(0x30008, DType::bf16, {7, 1031}), half4 = view_at(0x30004, DType::bf16, {7, 1031});
    const KernelView* ok[2] = {&half8, &in};
    const KernelView* bad[2] = {&half4, &in};
    EXPECT(packs_fit(ok, 4), "bfloat16 at an 8-byte boundary takes packs of 4");
    EXPECT(!packs_fit(bad, 4), "bfloat16 at a 4-byte boundary does not");
  }
  {  // one element (no dim left after collapsing) and size-1 dims
    const KernelView one = view_at(0x10000, DType::f32, {1, 1}), rows = view_at(0x10000, DType::f32, {1, 9, 1});
    const KernelView* single[1] = {&one};
    const KernelView* ones[1] = {&rows};
    EXPECT(!packs_fit(single, 4), "a single element is not a run");
    EXPECT(packs_fit(ones, 4), "size-1 dims do not break a contiguous run");
  }
}

// ---- packed functors: pack<V> equals the scalar operator() element for element ------------------
// Each functor runs over n contiguous host elements twice, into two outputs: once one element at
// a time (the scalar kernels), once as the packed kernel does (full packs, then the tail one
// element at a time); the outputs must agree bit for bit. `Out` is the functor's output member.
template <int N, class Fn, class T>
void check_packs(const char* name, Fn fn, T* Fn::*out, std::int64_t n) {
  constexpr int V = Fn::kPack;
  std::vector<T> scalar(static_cast<std::size_t>(n)), packed(static_cast<std::size_t>(n));
  EXPECT(reinterpret_cast<std::uintptr_t>(packed.data()) % (V * sizeof(T)) == 0, "%s: test buffer alignment", name);
  Fn one = fn;
  one.*out = scalar.data();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = i;
    one(off);
  }
  Fn many = fn;
  many.*out = packed.data();
  const std::int64_t packs = n / V;
  for (std::int64_t p = 0; p < packs; ++p) many.template pack<V>(p * V);
  for (std::int64_t i = packs * V; i < n; ++i) {
    std::int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = i;
    many(off);
  }
  for (std::int64_t i = 0; i < n; ++i)
    if (std::memcmp(&scalar[static_cast<std::size_t>(i)], &packed[static_cast<std::size_t>(i)], sizeof(T)) != 0) {
      EXPECT(false, "%s over %lld elements: element %lld differs between the packed and the scalar path", name,
             static_cast<long long>(n), static_cast<long long>(i));
      return;
    }
}

template <class T>
std::vector<T> random_values(std::int64_t n, double lo = -3, double hi = 3) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(static_cast<float>(u(g_rng)));
  return v;
}

template <class S>
void check_packed_functors_of(const char* dtype) {
  char name[96];
  for (const std::int64_t n : {1, 7, 8, 9, 1031, 4096}) {
    const auto a = random_values<S>(n), b = random_values<S>(n), y = random_values<S>(n);
    std::vector<std::uint8_t> cond(static_cast<std::size_t>(n));
    for (auto& c : cond) c = static_cast<std::uint8_t>(pick(0, 1));
    std::snprintf(name, sizeof name, "FillFn<%s>", dtype);
    check_packs<1>(name, FillFn<S>{nullptr, static_cast<S>(1.25f)}, &FillFn<S>::out, n);
    for (const UnaryOp op : {UnaryOp::exp, UnaryOp::gelu_erf, UnaryOp::tanh, UnaryOp::mul_scalar}) {
      std::snprintf(name, sizeof name, "UnaryFn<%s> %s", dtype, unary_op_name(op));
      check_packs<2>(name, UnaryFn<S>{nullptr, a.data(), op, -0.5}, &UnaryFn<S>::out, n);
      std::snprintf(name, sizeof name, "UnaryBackwardFn<%s> %s", dtype, unary_op_name(op));
      check_packs<4>(name, UnaryBackwardFn<S>{nullptr, b.data(), a.data(), y.data(), op, -0.5},
                     &UnaryBackwardFn<S>::grad_in, n);
      check_packs<4>(name, UnaryBackwardFn<S>{nullptr, b.data(), a.data(), nullptr, op, -0.5},
                     &UnaryBackwardFn<S>::grad_in, n);
    }
    for (const BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      std::snprintf(name, sizeof name, "BinarySameFn<%s> %s", dtype, binary_op_name(op));
      check_packs<3>(name, BinarySameFn<S>{nullptr, a.data(), b.data(), op}, &BinarySameFn<S>::out, n);
    }
    std::snprintf(name, sizeof name, "WhereFn<%s>", dtype);
    check_packs<4>(name, WhereFn<S>{nullptr, cond.data(), a.data(), b.data()}, &WhereFn<S>::out, n);
    std::snprintf(name, sizeof name, "DropoutFn<%s>", dtype);
    check_packs<2>(name, DropoutFn<S>{nullptr, a.data(), 0.3, 7, 11, static_cast<compute_t<S>>(1 / 0.7)},
                   &DropoutFn<S>::out, n);
    for (const std::int64_t cols : {1, 3, 5, 8, 9, 1030}) {  // rows shorter and longer than a pack
      if (n % cols != 0 && n != 1031) continue;
      const auto bias = random_values<S>(cols);
      std::snprintf(name, sizeof name, "BiasGeluFn<%s> cols %lld", dtype, static_cast<long long>(cols));
      check_packs<2>(name, BiasGeluFn<kmath::GeluErf, S>{nullptr, a.data(), bias.data(), cols},
                     &BiasGeluFn<kmath::GeluErf, S>::out, n);
      check_packs<2>(name, BiasGeluFn<kmath::GeluTanh, S>{nullptr, a.data(), bias.data(), cols},
                     &BiasGeluFn<kmath::GeluTanh, S>::out, n);
      check_packs<3>(name, BiasGeluBackwardFn<kmath::GeluErf, S>{nullptr, b.data(), a.data(), bias.data(), cols},
                     &BiasGeluBackwardFn<kmath::GeluErf, S>::grad_in, n);
    }
  }
}

void test_packed_functors() {
  check_packed_functors_of<float>("float");
  check_packed_functors_of<double>("double");
  check_packed_functors_of<__nv_bfloat16>("bfloat16");
  check_packed_functors_of<__half>("float16");
  for (const std::int64_t n : {3, 4, 1031}) {
    const auto f = random_values<float>(n, -1e5, 1e5);
    const auto h = random_values<__nv_bfloat16>(n);
    check_packs<2>("CastFn<bfloat16, float>", CastFn<__nv_bfloat16, float>{nullptr, f.data()},
                   &CastFn<__nv_bfloat16, float>::out, n);
    check_packs<2>("CastFn<float16, float>", CastFn<__half, float>{nullptr, f.data()}, &CastFn<__half, float>::out, n);
    check_packs<2>("CastFn<float, bfloat16>", CastFn<float, __nv_bfloat16>{nullptr, h.data()},
                   &CastFn<float, __nv_bfloat16>::out, n);
  }
  // The scalar paths themselves keep their meaning: element i of dropout draws counter offset + i,
  // bias_gelu adds bias[i % cols].
  const std::int64_t n = 1031, cols = 5;
  const auto x = random_values<float>(n), bias = random_values<float>(cols);
  std::vector<float> out(static_cast<std::size_t>(n)), gelu(static_cast<std::size_t>(n));
  const DropoutFn<float> drop{out.data(), x.data(), 0.3, 7, 11, 1 / 0.7f};
  const BiasGeluFn<kmath::GeluErf, float> bg{gelu.data(), x.data(), bias.data(), cols};
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t off2[2] = {i, i};
    drop(off2);
    bg(off2);
    const auto u = static_cast<std::size_t>(i);
    const float want_drop = x[u] * (kmath::dropout_keep(7, 11 + static_cast<std::uint64_t>(i), 0.3) ? 1 / 0.7f : 0.0f);
    const float want_gelu = kmath::GeluErf::fwd<float>(x[u] + bias[static_cast<std::size_t>(i % cols)], 0.0f);
    EXPECT(out[u] == want_drop && gelu[u] == want_gelu, "element %lld: dropout %g vs %g, bias_gelu %g vs %g",
           static_cast<long long>(i), out[u], want_drop, gelu[u], want_gelu);
  }
}

// ---- attention: the matrices of the (b, h) pairs ----------------------------------------------------
// at(t) is where pair t's matrix starts for every layout the attention meets (head-major,
// [B, L, H, d] viewed as heads, padded batches, a chunk's score tiles from its first pair on);
// where evenly_spaced() holds, one stride steps from pair to pair across the whole chunk (the
// strided-batched call), else the pointer arrays take at() pair by pair.
void test_attention_pairs() {
  for (int trial = 0; trial < 2000; ++trial) {
    const std::int64_t B = pick(1, 40), H = pick(1, 16), d = pick(1, 8), L = pick(1, 5), S = pick(1, 5);
    const int layout = pick(0, 2);  // 0: [B, L, H, d] viewed as heads; 1: head-major; 2: padded batches
    const std::int64_t head_stride = layout == 0 ? d : L * d;
    const std::int64_t batch_stride = layout == 2 ? H * L * d + pick(1, 7) : H * L * d;
    static const float origin[1] = {0};
    const HeadMatrices<const float> x{origin, batch_stride, head_stride, layout == 0 ? H * d : d};
    const std::int64_t pairs = B * H, chunk = trial % 3 == 0 ? pairs : pick(1, static_cast<int>(pairs));
    const bool even = x.evenly_spaced(B, H);
    EXPECT(even == (B == 1 || H == 1 || layout == 1 || (layout == 0 && L == 1)), "B %lld H %lld layout %d: evenly spaced %d",
           static_cast<long long>(B), static_cast<long long>(H), layout, even);
    for (std::int64_t first = 0; first < pairs; first += chunk) {
      const std::int64_t count = std::min(chunk, pairs - first);
      const auto tiles = score_tiles(origin, first, H, L, S);
      EXPECT(tiles.evenly_spaced(B, H) && tiles.ld == S, "score tiles are evenly spaced");
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t t = first + i, b = t / H, h = t % H;
        EXPECT(x.at(t, H) - origin == b * batch_stride + h * head_stride, "B %lld H %lld layout %d: pair %lld",
               static_cast<long long>(B), static_cast<long long>(H), layout, static_cast<long long>(t));
        EXPECT(tiles.at(t, H) - origin == i * L * S, "tile of pair %lld in a chunk from %ld", static_cast<long long>(t),
               static_cast<long>(first));
        if (even)
          EXPECT(x.at(first, H) + i * x.pair_stride(H) == x.at(t, H), "B %lld H %lld: even stride at pair %lld",
                 static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(t));
        EXPECT(tiles.at(first, H) + i * tiles.pair_stride(H) == tiles.at(t, H), "tile stride");
      }
    }
  }
}

// ---- reduction plans ---------------------------------------------------------------------------
void check_reduce_plan(std::int64_t outer, std::int64_t reduced, std::int64_t inner, int sm_count) {
  const ReducePlan p = plan_reduction(outer, reduced, inner, sm_count);
  EXPECT(p.bx * p.by <= kThreads && (p.by & (p.by - 1)) == 0 && p.bx >= 1, "block %d x %d", p.bx, p.by);
  EXPECT(p.split.splits >= 1 && p.split.splits <= 65535 && p.split.chunk * p.split.splits >= reduced &&
             p.split.chunk * (p.split.splits - 1) < reduced,
         "splits %lld chunk %lld for %lld", static_cast<long long>(p.split.splits),
         static_cast<long long>(p.split.chunk), static_cast<long long>(reduced));
  std::vector<int> seen(static_cast<std::size_t>(outer * reduced * inner), 0);
  for (std::int64_t bx = 0; bx < p.blocks_x; ++bx)
    for (std::int64_t by = 0; by < p.split.splits; ++by)
      for (int tx = 0; tx < p.bx; ++tx) {
        const ReduceSlice s = reduce_slice(p, bx, by, tx);
        if (s.i >= inner) continue;
        EXPECT(s.o < outer, "row %lld", static_cast<long long>(s.o));
        for (int ty = 0; ty < p.by; ++ty)
          for (std::int64_t k = s.begin + ty; k < s.end; k += p.by) ++seen[static_cast<std::size_t>((s.o * reduced + k) * inner + s.i)];
      }
  const bool once = std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; });
  EXPECT(once, "[%lld, %lld, %lld] on %d SMs: some input read %s", static_cast<long long>(outer),
         static_cast<long long>(reduced), static_cast<long long>(inner), sm_count, "not exactly once");
}

void test_reduce_plans() {
  for (int sms : {1, 108, 132})
    for (std::int64_t outer : {1, 2, 7})
      for (std::int64_t reduced : {1, 3, 17, 1000, 9000, 70001})
        for (std::int64_t inner : {1, 2, 5, 31, 32, 33, 130, 768})
          if (outer * reduced * inner <= 4'000'000) check_reduce_plan(outer, reduced, inner, sms);
  // layer_norm's parameter-gradient split: every row in exactly one piece
  for (std::int64_t rows : {1, 8, 127, 128, 129, 8192, 100000}) {
    const SplitPlan s = plan_splits(24, rows, 128, 132);
    EXPECT(s.splits >= 1 && s.chunk * s.splits >= rows && s.chunk * (s.splits - 1) < rows, "rows %lld",
           static_cast<long long>(rows));
  }
}

// ---- argmax/argmin merge order -------------------------------------------------------------------
// The reference: best = 0; for r: if col[best] is NaN stop; if v is NaN or v beats col[best], best = r.
std::int64_t reference_arg(const std::vector<float>& v, bool want_max) {
  std::int64_t best = 0;
  for (std::size_t r = 1; r < v.size(); ++r) {
    const float cur = v[static_cast<std::size_t>(best)];
    if (cur != cur) break;
    if (v[r] != v[r] || (want_max ? v[r] > cur : v[r] < cur)) best = static_cast<std::int64_t>(r);
  }
  return best;
}

void test_extremum_merge() {
  const float pool[] = {0.0f, 1.0f, 2.0f, -1.0f, -0.0f, NAN, INFINITY, -INFINITY};
  for (int trial = 0; trial < 4000; ++trial) {
    const bool want_max = trial % 2 == 0;
    const ExtremumReducer<float> r{want_max, true};
    std::vector<float> v(static_cast<std::size_t>(pick(1, 40)));
    const int kinds = trial % 3 == 0 ? 8 : 5;  // some runs without NaN/inf
    for (auto& x : v) x = pool[pick(0, kinds - 1)];
    // merge singleton states in a random tree: repeatedly merge two random neighbours or strangers
    std::vector<ExtremumState<float>> states;
    for (std::size_t i = 0; i < v.size(); ++i) states.push_back(r.make(v[i], static_cast<std::int64_t>(i)));
    states.push_back(r.identity());
    std::shuffle(states.begin(), states.end(), g_rng);
    while (states.size() > 1) {
      const std::size_t i = static_cast<std::size_t>(pick(0, static_cast<int>(states.size()) - 2));
      states[i] = pick(0, 1) ? r.merge(states[i], states[i + 1]) : r.merge(states[i + 1], states[i]);
      states.erase(states.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
    const std::int64_t want = reference_arg(v, want_max);
    EXPECT(states[0].index == want, "%s of %zu values: index %lld vs reference %lld", want_max ? "argmax" : "argmin",
           v.size(), static_cast<long long>(states[0].index), static_cast<long long>(want));
  }
}

// ---- allocator size classes ------------------------------------------------------------------------
void test_block_sizes() {
  std::size_t previous = 0;
  for (std::size_t bytes = 0; bytes < (std::size_t{1} << 31); bytes = bytes * 5 / 4 + 1) {
    const std::size_t s = round_block_size(bytes);
    EXPECT(s >= bytes && s % 512 == 0 && s >= previous, "%zu -> %zu", bytes, s);
    if (bytes > (std::size_t{1} << 20)) EXPECT(s - bytes <= bytes / 8 + 1, "%zu -> %zu wastes too much", bytes, s);
    previous = s;
  }
  EXPECT(round_block_size(0) == 512, "zero bytes get a block");
}

// ---- device-side index checks: the record's key order ----------------------------------------------
// The kernels keep min(key) over every failure (atomicMin); that must name the earliest checked op
// (launch order) and, within it, the lowest bad position, and never be the "no failure" value.
void test_index_error_keys() {
  std::uniform_int_distribution<std::size_t> check(0, kMaxPendingIndexChecks - 1);
  std::uniform_int_distribution<std::int64_t> position(0, static_cast<std::int64_t>(kIndexPositionMask));
  for (int round = 0; round < 2000; ++round) {
    unsigned long long record = kNoIndexError;
    std::size_t first_check = kMaxPendingIndexChecks;
    std::int64_t first_position = 0;
    const int failures = 1 + round % 7;
    for (int f = 0; f < failures; ++f) {
      const std::size_t c = check(g_rng);
      const std::int64_t p = round % 3 == 0 ? position(g_rng) % 1000 : position(g_rng);
      record = std::min(record, index_error_key(index_check_base(c), p));
      if (c < first_check || (c == first_check && p < first_position)) {
        first_check = c;
        first_position = p;
      }
    }
    EXPECT(record != kNoIndexError, "a failure reads as none");
    EXPECT(index_check_number(record) == first_check && index_error_position(record) == first_position,
           "min key -> check %zu position %lld, expected check %zu position %lld", index_check_number(record),
           static_cast<long long>(index_error_position(record)), first_check, static_cast<long long>(first_position));
    EXPECT((record & ~kIndexPositionMask) == index_check_base(first_check), "the check's base");
  }
  // The extremes: the last check number at the last position is still a failure.
  const unsigned long long last = index_error_key(index_check_base(kMaxPendingIndexChecks - 1),
                                                  static_cast<std::int64_t>(kIndexPositionMask));
  EXPECT(last != kNoIndexError && index_check_number(last) == kMaxPendingIndexChecks - 1, "the last key");
  EXPECT(index_check_number(kNoIndexError) >= kMaxPendingIndexChecks, "none is not a check number");
}

}  // namespace

int main() {
  test_index_error_keys();
  test_packable();
  test_packed_functors();
  test_attention_pairs();
  test_offsets();
  test_reduce_plans();
  test_extremum_merge();
  test_block_sizes();
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("cuda host logic: all checks passed\n");
  return 0;
}
