// Kernel-level conformance of the cpu backend: every kernel of the Backend interface is run on
// CpuBackend and on ReferenceBackend (the oracle) over KernelViews built on plain host buffers,
// and the results are compared. Shapes cover 0, 1, 3, 7, 17, 1000+ elements and sizes large
// enough to take the multi-threaded paths; inputs are contiguous, offset, strided, transposed
// and broadcast (stride 0); float and double everywhere, integer dtypes where supported.
//
// Tolerances (|cpu - ref| <= abs + rel * |ref|; NaN must meet NaN):
//   exact                 fill, copy, where, index ops, random, comparisons, max/min/arg*,
//                         + - * / maximum minimum (both sides round the exact result once),
//                         every integer kernel.
//   float elementwise     rel 2e-6, abs 1e-6: xsimd's float exp/log/tanh/erfc are within
//                         ~2 ulp of the correctly rounded value; a formula of a few of them
//                         (gelu, sigmoid, derivatives) stays within ~16 ulp (2e-6). The abs
//                         part covers outputs near 0 where the reference itself (computing
//                         1 + erf, 1 + tanh in double) loses relative accuracy.
//   float reductions/norm rel 1e-5, abs 1e-6 (sums accumulate in double on both sides; the
//                         remaining difference is float rounding of the inputs to exp etc.).
//   float gemm            rel 1e-5, abs 2e-6 * k (float accumulation inside OpenBLAS).
//   double elementwise    rel 1e-12, abs 1e-13 (xsimd's double math is within a few ulp).
//   double reductions/norm rel 1e-10, abs 1e-11: summation order differs (SIMD lanes vs one
//                         running sum); layer_norm on rows with |mean| >> std amplifies that
//                         by |mean| / std (the inputs use mean 100, std 0.6).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "tinyxf/backend/strided.hpp"
#include "tinyxf/backends/cpu.hpp"
#include "tinyxf/backends/cpu/backend.hpp"  // the classes, compiled here at this file's -march
#include "tinyxf/backends/reference.hpp"
#include "tinyxf/backends/reference/backend.hpp"
#include "tinyxf/core/parallel.hpp"

using namespace tinyxf;
using tinyxf::backends::CpuBackend;
using tinyxf::backends::ReferenceBackend;

namespace {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}
ReferenceBackend& ref_backend() {
  static ReferenceBackend backend;
  return backend;
}

// ---- tolerances ----------------------------------------------------------------------------
struct Tol {
  double rel = 0, abs = 0;
};
constexpr Tol kExact{0, 0};
constexpr Tol kFloatElementwise{2e-6, 1e-6};
constexpr Tol kFloatReduce{1e-5, 1e-6};
constexpr Tol kDouble{1e-12, 1e-13};
constexpr Tol kDoubleReduce{1e-10, 1e-11};

Tol float_or_double(DType d, Tol for_float) {
  if (d != DType::f64) return for_float;
  return for_float.rel >= kFloatReduce.rel ? kDoubleReduce : kDouble;
}

// ---- host operands ---------------------------------------------------------------------------
// Storage for one operand plus a view into it (possibly offset, strided or broadcast).
struct Operand {
  DType dtype = DType::f32;
  std::vector<std::uint64_t> storage;  // 8-byte aligned, enough for every dtype
  std::int64_t storage_elems = 0;
  std::int64_t offset = 0;
  KernelView view;

  Operand() = default;
  Operand(DType d, std::int64_t elems) : dtype(d), storage_elems(elems) {
    storage.resize(static_cast<std::size_t>((elems * static_cast<std::int64_t>(dtype_size(d)) + 7) / 8 + 1));
    view.dtype = d;
    view.data = storage.data();
  }
  Operand(const Operand& o)
      : dtype(o.dtype), storage(o.storage), storage_elems(o.storage_elems), offset(o.offset), view(o.view) {
    rebase();
  }
  Operand& operator=(const Operand& o) {
    dtype = o.dtype;
    storage = o.storage;
    storage_elems = o.storage_elems;
    offset = o.offset;
    view = o.view;
    rebase();
    return *this;
  }
  void rebase() {
    view.data = static_cast<unsigned char*>(static_cast<void*>(storage.data())) +
                offset * static_cast<std::int64_t>(dtype_size(dtype));
  }
  void* base() { return storage.data(); }
  template <class T> T* base_as() { return static_cast<T*>(base()); }
};

void set_shape(KernelView& v, const Shape& shape, const Shape& strides) {
  v.ndim = static_cast<int>(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
  }
}

Shape plain_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<std::int64_t>(s[i], 1);
  }
  return st;
}

void fill_random(Operand& op, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  dispatch_dtype(op.dtype, [&]<class T>(type_tag<T>) {
    T* p = op.base_as<T>();
    for (std::int64_t i = 0; i < op.storage_elems; ++i) {
      if constexpr (FloatElement<T>) {
        p[i] = static_cast<T>(std::uniform_real_distribution<double>(lo, hi)(rng));
      } else {
        p[i] = static_cast<T>(std::uniform_int_distribution<std::int64_t>(
            static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi))(rng));
      }
    }
  });
}

void fill_value(Operand& op, double value) {
  dispatch_dtype(op.dtype, [&]<class T>(type_tag<T>) {
    T* p = op.base_as<T>();
    for (std::int64_t i = 0; i < op.storage_elems; ++i) p[i] = static_cast<T>(value);
  });
}

enum class Kind { contiguous, offset, strided, transposed, broadcast_outer, broadcast_inner, scalar };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::contiguous: return "contiguous";
    case Kind::offset: return "offset";
    case Kind::strided: return "strided";
    case Kind::transposed: return "transposed";
    case Kind::broadcast_outer: return "broadcast_outer";
    case Kind::broadcast_inner: return "broadcast_inner";
    case Kind::scalar: return "scalar";
  }
  return "?";
}
const std::vector<Kind> kAllKinds = {Kind::contiguous,      Kind::offset,          Kind::strided,
                                     Kind::transposed,      Kind::broadcast_outer, Kind::broadcast_inner,
                                     Kind::scalar};

// An operand of `shape` laid out as `kind`, filled with random values in [lo, hi].
Operand make_operand(DType dtype, const Shape& shape, Kind kind, std::uint64_t seed, double lo,
                     double hi) {
  const std::int64_t n = shape_numel(shape);
  const int nd = static_cast<int>(shape.size());
  Shape strides = plain_strides(shape);
  std::int64_t storage = n, offset = 0;
  switch (kind) {
    case Kind::contiguous: break;
    case Kind::offset:
      storage = n + 5;
      offset = 5;
      break;
    case Kind::strided:  // every other element of the last dim, starting at 1
      if (nd > 0) {
        Shape parent = shape;
        parent.back() *= 2;
        strides = plain_strides(parent);
        strides.back() = 2;
        storage = shape_numel(parent) + 1;
        offset = 1;
      }
      break;
    case Kind::transposed:  // the last two dims stored swapped
      if (nd >= 2) {
        Shape parent = shape;
        std::swap(parent[nd - 1], parent[nd - 2]);
        Shape ps = plain_strides(parent);
        strides = ps;
        std::swap(strides[nd - 1], strides[nd - 2]);
      }
      break;
    case Kind::broadcast_outer:  // dim 0 stretched from 1
      if (nd > 0) {
        Shape parent = shape;
        parent[0] = 1;
        strides = plain_strides(parent);
        strides[0] = 0;
        storage = shape_numel(parent);
      }
      break;
    case Kind::broadcast_inner:  // last dim stretched from 1
      if (nd > 0) {
        Shape parent = shape;
        parent.back() = 1;
        strides = plain_strides(parent);
        strides.back() = 0;
        storage = shape_numel(parent);
      }
      break;
    case Kind::scalar:
      std::fill(strides.begin(), strides.end(), 0);
      storage = 1;
      break;
  }
  Operand op(dtype, std::max<std::int64_t>(storage, 1));
  op.offset = offset;
  op.rebase();
  set_shape(op.view, shape, strides);
  fill_random(op, seed, lo, hi);
  return op;
}

Operand make_contiguous(DType dtype, const Shape& shape, double fill = 12345.0) {
  Operand op(dtype, std::max<std::int64_t>(shape_numel(shape), 1));
  set_shape(op.view, shape, plain_strides(shape));
  fill_value(op, fill);
  return op;
}

Operand make_random(DType dtype, const Shape& shape, std::uint64_t seed, double lo, double hi) {
  return make_operand(dtype, shape, Kind::contiguous, seed, lo, hi);
}

// ---- comparison ------------------------------------------------------------------------------
double read_as_double(const KernelView& v, std::int64_t off) {
  return dispatch_dtype(v.dtype, [&]<class T>(type_tag<T>) {
    return static_cast<double>(v.ptr<T>()[off]);
  });
}

// Compares two views of one shape element by element; reports the worst few mismatches.
void expect_close(const KernelView& got, const KernelView& want, Tol tol, const std::string& what) {
  REQUIRE(got.ndim == want.ndim);
  REQUIRE(got.dtype == want.dtype);
  std::int64_t mismatches = 0, index = 0;
  std::ostringstream first;
  double worst_excess = 0;
  strided::for_each<2>({&got, &want}, [&](auto o) {
    const double g = read_as_double(got, o[0]), w = read_as_double(want, o[1]);
    bool ok;
    if (std::isnan(w) || std::isnan(g)) ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g)) ok = g == w;
    else ok = std::fabs(g - w) <= tol.abs + tol.rel * std::fabs(w);
    if (!ok) {
      if (mismatches < 4)
        first << "  [" << index << "] cpu " << g << " vs reference " << w << " (diff "
              << std::fabs(g - w) << ")\n";
      worst_excess = std::max(worst_excess, std::fabs(g - w));
      ++mismatches;
    }
    ++index;
  });
  if (mismatches) {
    first.precision(17);
    FAIL_CHECK(what << ": " << mismatches << " of " << index << " elements differ (rel " << tol.rel
                    << ", abs " << tol.abs << "), worst diff " << worst_excess << "\n"
                    << first.str());
  } else {
    SUCCEED();
  }
}

void expect_close(const Operand& got, const Operand& want, Tol tol, const std::string& what) {
  expect_close(got.view, want.view, tol, what);
}

std::string describe(const std::string& kernel, DType d, const Shape& shape, const std::string& extra = "") {
  return kernel + " " + dtype_name(d) + " " + shape_str(shape) + (extra.empty() ? "" : " " + extra);
}

const std::vector<Shape> kElementwiseShapes = {
    {}, {0}, {1}, {3}, {7}, {17}, {1000}, {70001}, {3, 7}, {17, 33}, {0, 5}, {4, 5, 6}, {2, 3, 1, 17}, {3, 20, 30}, {123, 517}};

const std::vector<DType> kFloatTypes = {DType::f32, DType::f64};
const std::vector<DType> kAllTypes = {DType::f32, DType::f64, DType::i64, DType::i32, DType::u8};

// Runs `check` with the pool at 2 threads (whatever the machine has) and restores it.
struct ThreadCountGuard {
  int saved = num_threads();
  explicit ThreadCountGuard(int n) { set_num_threads(n); }
  ~ThreadCountGuard() { set_num_threads(saved); }
};

}  // namespace

// ================================================================================================
TEST_CASE("cpu backend is registered for Device::cpu()", "[cpu]") {
  Backend& b = backend_for(Device::cpu());
  CHECK(b.name() == "cpu");
  CHECK(b.device_type() == DeviceType::cpu);
  CHECK(b.host_accessible());
  const auto made = backends::make_cpu_backend();
  const Backend& fresh = *made;
  CHECK(typeid(b) == typeid(fresh));
}

#ifdef TINYXF_PRECOMPILED_BACKENDS
// The compiled tinyxf::cpu library picks its variant at start-up; $TINYXF_CPU_ISA caps it (CTest
// runs the conformance suite once per variant this way).
TEST_CASE("the compiled cpu backend runs the variant this CPU and $TINYXF_CPU_ISA allow", "[cpu]") {
  const std::string isa(backends::cpu_backend_isa());
  INFO("variant: " << isa);
  CHECK((isa == "avx512" || isa == "avx2" || isa == "sse4.2" || isa == "generic"));
  const char* cap = std::getenv("TINYXF_CPU_ISA");
  if (cap && *cap) {
    const std::vector<std::string> order = {"sse4.2", "avx2", "avx512"};
    const auto rank = [&](const std::string& s) { return std::find(order.begin(), order.end(), s) - order.begin(); };
    CHECK(rank(isa) <= rank(cap));
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!cap && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    CHECK(isa == "avx512");
  if (!cap && !__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    CHECK(isa == "avx2");
#endif
}
#endif

// "medium" multiplies in bf16 only where that is the faster multiply: AMX, or AVX512-BF16 on AMD
// (Intel cores without AMX issue VDPBF16PS at half their FMA rate), unless
// $TINYXF_CPU_BF16_PRODUCTS says otherwise (the *_no_amx test twins set it to 1).
TEST_CASE("bf16 products are used where they pay, or as $TINYXF_CPU_BF16_PRODUCTS says", "[cpu][bf16]") {
  namespace cpu = backends::cpu;
  const char* env = std::getenv("TINYXF_CPU_BF16_PRODUCTS");
  const std::string want = env ? env : "";
  bool expected = false;
#if defined(__x86_64__)
  __builtin_cpu_init();
  expected = cpu::has_bf16_dot() &&
             (want.empty() ? cpu::has_amx_bf16() || __builtin_cpu_is("amd") : want != "0");
#endif
  INFO("TINYXF_CPU_BF16_PRODUCTS '" << want << "', AVX512-BF16 " << cpu::has_bf16_dot() << ", AMX "
                                     << cpu::has_amx_bf16() << ", kernel '" << cpu::bf16_gemm_kernel() << "'");
  CHECK(cpu::bf16_products_pay() == expected);
  CHECK(std::string(cpu::bf16_gemm_kernel()).empty() == !expected);
  if (!cpu::has_bf16_dot()) CHECK_FALSE(cpu::bf16_products_pay());  // the override cannot invent the instruction
  // The reason logs give for float32 products names what decided it.
  const std::string reason = cpu::bf16_products_absent_reason();
  CHECK(reason.empty() == expected);
  if (!expected)
    CHECK_THAT(reason, Catch::Contains(!cpu::has_bf16_dot() ? "no AVX512-BF16"
                                       : want.empty()      ? "slower than float32"
                                                           : "TINYXF_CPU_BF16_PRODUCTS=0"));
}

TEST_CASE("cpu allocate: aligned, reusable, bounded", "[cpu][allocator]") {
  auto& b = cpu_backend();
  for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{4096},
                            std::size_t{300000}, std::size_t{5u << 20}}) {
    auto p = b.allocate(bytes, 0);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p.get()) % 64 == 0);
    if (bytes) std::memset(p.get(), 0xAB, bytes);  // writable over the whole size
  }
  auto& cache = backends::cpu::CachingHostAllocator::instance();
  cache.release_cached();  // what earlier tests left must not satisfy the requests below
  void* first = nullptr;
  {
    auto p = b.allocate(3u << 20, 0);
    first = p.get();
  }
  CHECK(cache.cached_bytes() >= (3u << 20));
  auto again = b.allocate((3u << 20) - 100, 0);  // same size class: the cached block comes back
  CHECK(again.get() == first);
  // Best fit: a smaller request takes a cached block up to twice its size, not a larger one.
  void* big = nullptr;
  {
    auto p = b.allocate(4u << 20, 0);
    big = p.get();
  }
  {
    auto far = b.allocate((1u << 20) + 4096, 0);  // under half of 4 MiB: a new block
    CHECK(far.get() != big);
  }
  auto near = b.allocate((2u << 20) + 4096, 0);   // over half: the 4 MiB block, no new memory
  CHECK(near.get() == big);
  CHECK(cache.cached_bytes() <= cache.capacity_bytes());
  CHECK(backends::cpu::CachingHostAllocator::size_class(1000000) >= 1000000);
  CHECK(backends::cpu::CachingHostAllocator::size_class(1000000) <= 1000000 * 9 / 8 + 64);

  // Many threads allocating and freeing at once.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::size_t bytes = (std::size_t{256} << 10) * static_cast<std::size_t>(1 + (i + t) % 5);
        auto p = b.allocate(bytes, 0);
        static_cast<unsigned char*>(p.get())[bytes - 1] = 1;
        if (reinterpret_cast<std::uintptr_t>(p.get()) % 64 != 0) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  cache.release_cached();
  CHECK(cache.cached_bytes() == 0);
}

TEST_CASE("cpu allocator: a repeated step maps nothing new; mapped memory stays within the high-water mark",
          "[cpu][allocator]") {
  using backends::cpu::CachingHostAllocator;
  constexpr std::size_t MiB = 1u << 20;
  CachingHostAllocator alloc(std::numeric_limits<std::size_t>::max(), /*slack=*/1 * MiB);
  auto step = [&](std::size_t scale) {  // a forward/backward-like pattern: grow, then free all
    std::vector<std::shared_ptr<void>> live;
    for (std::size_t i = 1; i <= 6; ++i) {
      live.push_back(alloc.allocate(i * scale));
      std::memset(live.back().get(), 1, i * scale);
    }
    live.erase(live.begin() + 2);  // freed mid-step, reused by the next request of its size
    live.push_back(alloc.allocate(3 * scale));
  };
  step(MiB);
  const auto first = alloc.stats();
  CHECK(first.live == 0);
  CHECK(first.high_water >= 21 * MiB);
  for (int i = 0; i < 5; ++i) step(MiB);
  CHECK(alloc.stats().maps == first.maps);  // steady state: every block comes from the cache
  CHECK(alloc.stats().high_water == first.high_water);

  // Smaller steps reuse the larger blocks (within twice their size) — still no new mapping.
  step(MiB * 7 / 8);
  CHECK(alloc.stats().maps == first.maps);

  CHECK(alloc.stats().bound == alloc.stats().high_water + 1 * MiB);  // nothing evicted was needed again

  // Other sizes: the least recently freed blocks are unmapped first, so live + cached never
  // exceeds the bound — the high-water mark plus the slack, plus at most the high-water mark
  // again where evicted sizes were mapped again — whatever the pattern.
  for (int round = 0; round < 3; ++round)
    for (std::size_t scale : {MiB / 2, 3 * MiB, MiB / 3}) {
      std::vector<std::shared_ptr<void>> live;
      for (std::size_t i = 1; i <= 4; ++i) {
        live.push_back(alloc.allocate(i * scale));
        const auto s = alloc.stats();
        CHECK(s.live + s.cached <= std::max(s.bound, s.live));
        CHECK(s.bound <= 2 * s.high_water + 1 * MiB);
      }
    }
  alloc.release_cached();
  CHECK(alloc.cached_bytes() == 0);
  CHECK(alloc.stats().live == 0);
}

TEST_CASE("cpu allocator: phases whose blocks cannot stand in for each other stop re-mapping them",
          "[cpu][allocator]") {
  // An inference layer: a hidden state, two FFN-sized blocks, then (those freed) five
  // hidden-sized ones — under a quarter of an FFN block each, so none takes a cached FFN block.
  // Within the high-water mark plus the slack, each phase would unmap the other's blocks and
  // map its own again, every layer.
  using backends::cpu::CachingHostAllocator;
  constexpr std::size_t MiB = 1u << 20;
  CachingHostAllocator alloc(std::numeric_limits<std::size_t>::max(), /*slack=*/1 * MiB);
  auto layer = [&] {
    auto hidden = alloc.allocate(4 * MiB);
    {
      auto ffn1 = alloc.allocate(16 * MiB);
      auto ffn2 = alloc.allocate(16 * MiB);
    }
    std::vector<std::shared_ptr<void>> small;
    for (int i = 0; i < 5; ++i) small.push_back(alloc.allocate(4 * MiB));
  };
  for (int i = 0; i < 4; ++i) layer();  // the bound widens as evicted FFN blocks are mapped again
  const auto warm = alloc.stats();
  for (int i = 0; i < 10; ++i) layer();
  const auto after = alloc.stats();
  CHECK(after.maps == warm.maps);  // steady: every block from the cache
  CHECK(after.high_water == 36 * MiB);
  CHECK(after.bound > after.high_water + 1 * MiB);
  CHECK(after.bound <= 2 * after.high_water + 1 * MiB);
  CHECK(after.cached <= after.bound);

  // The same kind of cycle in blocks under 1/8 of the high-water mark re-maps them rather than
  // widening the bound: what they cost is small, and keeping them would grow the resident set.
  CachingHostAllocator fine(std::numeric_limits<std::size_t>::max(), /*slack=*/1 * MiB);
  fine.allocate(64 * MiB);  // the high-water mark: 64 MiB, so blocks under 8 MiB do not count
  const auto fine_layer = [&] {
    {
      std::vector<std::shared_ptr<void>> big;
      for (int i = 0; i < 14; ++i) big.push_back(fine.allocate(4 * MiB));
    }
    std::vector<std::shared_ptr<void>> small;
    for (int i = 0; i < 12; ++i) small.push_back(fine.allocate(3 * MiB / 2));  // 56 + 18 MiB > 65
  };
  const std::size_t maps_before = fine.stats().maps;
  for (int i = 0; i < 4; ++i) fine_layer();
  CHECK(fine.stats().maps > maps_before + 14 + 12);  // evicted and mapped again: the cycle is real
  CHECK(fine.stats().high_water == 64 * MiB);
  CHECK(fine.stats().bound == 65 * MiB);
}

TEST_CASE("parallel_for covers the range once, propagates exceptions, never nests", "[cpu][parallel]") {
  ThreadCountGuard guard(4);
  for (std::int64_t n : {0, 1, 5, 100, 1000, 100003}) {
    for (std::int64_t grain : {1, 7, 1000, 1 << 20}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      std::atomic<int> empty_chunks{0};  // Catch2 assertions are not thread-safe: count, check after
      parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) {
        if (b >= e) ++empty_chunks;
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
      });
      CHECK(empty_chunks == 0);
      bool once = true;
      for (auto& h : hits) once = once && h.load() == 1;
      CHECK(once);
    }
  }
  // Chunks that take a while are shared with the workers (from the very first region on).
  {
    std::mutex m;
    std::set<std::thread::id> ids;
    parallel_for(0, 8, 1, [&](std::int64_t, std::int64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(m);
      ids.insert(std::this_thread::get_id());
    });
    CHECK(ids.size() >= 2);
  }
  // An offset range.
  std::atomic<std::int64_t> sum{0};
  parallel_for(10, 20010, 100, [&](std::int64_t b, std::int64_t e) {
    std::int64_t s = 0;
    for (std::int64_t i = b; i < e; ++i) s += i;
    sum += s;
  });
  CHECK(sum.load() == (10 + 20009) * std::int64_t{20000} / 2);

  CHECK_THROWS_WITH(parallel_for(0, 1000, 10,
                                 [&](std::int64_t b, std::int64_t) {
                                   if (b >= 500) throw Error("boom from a chunk");
                                 }),
                    "boom from a chunk");
  // The pool still works after an exception.
  std::atomic<int> count{0};
  parallel_for(0, 1000, 10, [&](std::int64_t b, std::int64_t e) { count += static_cast<int>(e - b); });
  CHECK(count == 1000);

  // Nested regions run inline on the calling thread.
  std::atomic<int> nested_mismatch{0}, outside_region{0};
  parallel_for(0, 8, 1, [&](std::int64_t, std::int64_t) {
    if (!in_parallel_region()) ++outside_region;
    const auto me = std::this_thread::get_id();
    parallel_for(0, 1000, 1, [&](std::int64_t, std::int64_t) {
      if (std::this_thread::get_id() != me) ++nested_mismatch;
    });
  });
  CHECK(nested_mismatch == 0);
  CHECK(outside_region == 0);
  CHECK_FALSE(in_parallel_region());

  // Several program threads using the pool at once, with jobs of varying chunk counts back to
  // back (a worker late from one job must never claim a chunk of the next) and failing jobs.
  std::vector<std::thread> users;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 3; ++t)
    users.emplace_back([&, t] {
      for (int rep = 0; rep < 400; ++rep) {
        const std::int64_t n = 1 + (rep * 7919 + t * 104729) % 5000;
        std::vector<int> hits(static_cast<std::size_t>(n), 0);
        parallel_for(0, n, 1 + rep % 50, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
        });
        for (int h : hits)
          if (h != 1) {
            ++wrong;
            break;
          }
        if (rep % 37 == 0) {
          try {
            parallel_for(0, 1000, 3, [](std::int64_t, std::int64_t e) {
              if (e > 300) throw Error("late chunk");
            });
            ++wrong;
          } catch (const Error&) {
          }
        }
      }
    });
  for (auto& u : users) u.join();
  CHECK(wrong == 0);

  set_num_threads(1);
  const auto me = std::this_thread::get_id();
  bool inline_only = true;
  parallel_for(0, 100000, 1, [&](std::int64_t, std::int64_t) {
    inline_only = inline_only && std::this_thread::get_id() == me;
  });
  CHECK(inline_only);
  CHECK_THROWS_AS(set_num_threads(0), Error);
}

// ================================================================================================
TEST_CASE("cpu fill matches the reference", "[cpu][elementwise]") {
  for (DType d : kAllTypes)
    for (const Shape& shape : kElementwiseShapes)
      for (Kind kind : {Kind::contiguous, Kind::strided, Kind::transposed})
        for (double value : {0.0, 1.5, -2.0, 7.0}) {
          Operand a = make_operand(d, shape, kind, 1, 0, 9), b = a;
          cpu_backend().fill(a.view, value);
          ref_backend().fill(b.view, value);
          // Compare whole storage so writes outside the view would be caught too.
          Operand sa = a, sb = b;
          set_shape(sa.view, {sa.storage_elems - sa.offset}, {1});
          set_shape(sb.view, {sb.storage_elems - sb.offset}, {1});
          expect_close(sa, sb, kExact, describe("fill", d, shape, kind_name(kind)));
        }
}

TEST_CASE("cpu copy matches the reference for every dtype pair and layout", "[cpu][elementwise]") {
  for (DType out_t : kAllTypes)
    for (DType in_t : kAllTypes)
      for (const Shape& shape : kElementwiseShapes)
        for (Kind kind : kAllKinds) {
          if (shape_numel(shape) > 5000 && kind != Kind::contiguous && kind != Kind::transposed) continue;
          const Operand in = make_operand(in_t, shape, kind, 7, -50, 200);
          Operand oc = make_contiguous(out_t, shape), orf = oc;
          cpu_backend().copy(oc.view, in.view);
          ref_backend().copy(orf.view, in.view);
          expect_close(oc, orf, kExact,
                       describe("copy", out_t, shape, std::string("from ") + dtype_name(in_t) + " " + kind_name(kind)));
        }
  // A non-contiguous destination.
  for (DType d : kFloatTypes) {
    const Operand in = make_random(d, {33, 19}, 3, -1, 1);
    Operand oc = make_operand(d, {33, 19}, Kind::transposed, 4, 0, 0), orf = oc;
    cpu_backend().copy(oc.view, in.view);
    ref_backend().copy(orf.view, in.view);
    expect_close(oc, orf, kExact, describe("copy into transposed", d, {33, 19}));
  }
}

namespace {
struct UnaryCase {
  UnaryOp op;
  double alpha, lo, hi;
};
const std::vector<UnaryCase> kUnaryCases = {
    {UnaryOp::neg, 0, -5, 5},          {UnaryOp::exp, 0, -20, 20},
    {UnaryOp::log, 0, 0.01, 50},       {UnaryOp::sqrt, 0, 0, 50},
    {UnaryOp::log1p, 0, -0.99, 50},
    {UnaryOp::rsqrt, 0, 0.01, 50},     {UnaryOp::tanh, 0, -8, 8},
    {UnaryOp::sigmoid, 0, -30, 30},    {UnaryOp::relu, 0, -3, 3},
    {UnaryOp::gelu_erf, 0, -8, 8},     {UnaryOp::gelu_tanh, 0, -8, 8},
    {UnaryOp::silu, 0, -20, 20},
    {UnaryOp::abs, 0, -3, 3},          {UnaryOp::add_scalar, 0.3, -3, 3},
    {UnaryOp::sub_scalar, 1.7, -3, 3}, {UnaryOp::rsub_scalar, 2.5, -3, 3},
    {UnaryOp::mul_scalar, -0.7, -3, 3}, {UnaryOp::div_scalar, 0.3, -3, 3},
    {UnaryOp::rdiv_scalar, 1.5, 0.1, 5}, {UnaryOp::pow_scalar, 0, -3, 3},
    {UnaryOp::pow_scalar, 1, -3, 3},   {UnaryOp::pow_scalar, 2, -3, 3},
    {UnaryOp::pow_scalar, 3, -3, 3},   {UnaryOp::pow_scalar, 0.5, 0.1, 4},
    {UnaryOp::pow_scalar, -1.5, 0.1, 4},
};
std::string unary_label(const UnaryCase& c) {
  std::ostringstream os;
  os << unary_op_name(c.op) << "(alpha " << c.alpha << ")";
  return os.str();
}
}  // namespace

TEST_CASE("cpu unary matches the reference (float, double)", "[cpu][elementwise]") {
  for (DType d : kFloatTypes)
    for (const UnaryCase& c : kUnaryCases)
      for (const Shape& shape : kElementwiseShapes)
        for (Kind kind : kAllKinds) {
          if (shape_numel(shape) > 5000 && (kind == Kind::offset || kind == Kind::broadcast_outer)) continue;
          const Operand in = make_operand(d, shape, kind, 11, c.lo, c.hi);
          Operand oc = make_contiguous(d, shape), orf = oc;
          cpu_backend().unary(c.op, oc.view, in.view, c.alpha);
          ref_backend().unary(c.op, orf.view, in.view, c.alpha);
          expect_close(oc, orf, float_or_double(d, kFloatElementwise),
                       describe("unary " + unary_label(c), d, shape, kind_name(kind)));
        }
}

TEST_CASE("cpu unary matches the reference (integer dtypes)", "[cpu][elementwise]") {
  const std::vector<UnaryCase> cases = {{UnaryOp::neg, 0, -50, 50},        {UnaryOp::abs, 0, -50, 50},
                                        {UnaryOp::relu, 0, -50, 50},       {UnaryOp::add_scalar, 3, -50, 50},
                                        {UnaryOp::sub_scalar, 3, -50, 50}, {UnaryOp::rsub_scalar, 3, -50, 50},
                                        {UnaryOp::mul_scalar, -2, -50, 50}, {UnaryOp::div_scalar, 3, -50, 50},
                                        {UnaryOp::pow_scalar, 2, -50, 50}};
  for (DType d : {DType::i64, DType::i32, DType::u8})
    for (const UnaryCase& c : cases)
      for (const Shape& shape : {Shape{}, Shape{7}, Shape{17, 33}, Shape{70001}})
        for (Kind kind : {Kind::contiguous, Kind::transposed, Kind::broadcast_inner}) {
          const Operand in = make_operand(d, shape, kind, 5, d == DType::u8 ? 0 : c.lo, c.hi);
          Operand oc = make_contiguous(d, shape), orf = oc;
          cpu_backend().unary(c.op, oc.view, in.view, c.alpha);
          ref_backend().unary(c.op, orf.view, in.view, c.alpha);
          expect_close(oc, orf, kExact, describe("unary " + unary_label(c), d, shape, kind_name(kind)));
        }
}

TEST_CASE("cpu gelu keeps its relative accuracy in the tails (float erfc, one exp in backward)", "[cpu][elementwise]") {
  // The elementwise tolerance above has an absolute part; here gelu and its derivative over
  // x in [-12.5, 8] (erfc's argument up to 8.8: gelu down to ~1e-35, still normal) are held to a
  // relative bound against double erfc/exp: the float erfc of kernel_math.hpp is within ~4e-7.
  const std::int64_t n = 20001;
  Operand x = make_contiguous(DType::f32, {n}), g = make_contiguous(DType::f32, {n}, 1.0);
  for (std::int64_t i = 0; i < n; ++i) x.view.ptr<float>()[i] = static_cast<float>(-12.5 + 20.5 * double(i) / double(n - 1));
  Operand y = make_contiguous(DType::f32, {n}), gx = make_contiguous(DType::f32, {n});
  cpu_backend().unary(UnaryOp::gelu_erf, y.view, x.view, 0);
  KernelView no_y = y.view;
  no_y.data = nullptr;
  cpu_backend().unary_backward(UnaryOp::gelu_erf, gx.view, g.view, x.view, no_y, 0);
  double worst_forward = 0, worst_backward = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = x.view.ptr<float>()[i];
    const double cdf = 0.5 * std::erfc(-v / std::sqrt(2.0)), pdf = std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
    worst_forward = std::max(worst_forward, std::fabs(y.view.ptr<float>()[i] - v * cdf) / std::fabs(v * cdf + 1e-300));
    // The derivative cdf + x pdf crosses zero near x = -0.75: relative to its terms' size.
    worst_backward = std::max(worst_backward, std::fabs(gx.view.ptr<float>()[i] - (cdf + v * pdf)) / (cdf + std::fabs(v) * pdf));
  }
  INFO("worst relative error: gelu " << worst_forward << ", derivative " << worst_backward);
  CHECK(worst_forward < 1e-6);
  CHECK(worst_backward < 1e-6);
}

TEST_CASE("cpu unary handles NaN, infinities and signed zeros like the reference", "[cpu][elementwise]") {
  for (DType d : kFloatTypes) {
    const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
    const std::vector<double> specials = {nan, inf, -inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 100.0, -100.0,
                                          1e30, -1e30, 0.5, -0.5, 20.0, -20.0, 3.0};
    Operand in = make_contiguous(d, {static_cast<std::int64_t>(specials.size())});
    dispatch_floating(d, "test", [&]<class T>(type_tag<T>) {
      for (std::size_t i = 0; i < specials.size(); ++i) in.base_as<T>()[i] = static_cast<T>(specials[i]);
    });
    for (UnaryOp op : {UnaryOp::neg, UnaryOp::relu, UnaryOp::abs, UnaryOp::exp, UnaryOp::sigmoid,
                       UnaryOp::tanh, UnaryOp::gelu_erf, UnaryOp::gelu_tanh, UnaryOp::silu, UnaryOp::sqrt,
                       UnaryOp::log, UnaryOp::log1p}) {
      Operand oc = make_contiguous(d, {static_cast<std::int64_t>(specials.size())}), orf = oc;
      cpu_backend().unary(op, oc.view, in.view, 0);
      ref_backend().unary(op, orf.view, in.view, 0);
      expect_close(oc, orf, float_or_double(d, kFloatElementwise),
                   describe(std::string("unary specials ") + unary_op_name(op), d, {}));
    }
    for (double alpha : {0.0, 1.0, 2.0}) {
      Operand oc = make_contiguous(d, {static_cast<std::int64_t>(specials.size())}), orf = oc;
      cpu_backend().unary(UnaryOp::pow_scalar, oc.view, in.view, alpha);
      ref_backend().unary(UnaryOp::pow_scalar, orf.view, in.view, alpha);
      expect_close(oc, orf, kExact, describe("unary specials pow " + std::to_string(alpha), d, {}));
    }
  }
}

TEST_CASE("cpu unary_backward matches the reference", "[cpu][elementwise]") {
  for (DType d : kFloatTypes)
    for (const UnaryCase& c : kUnaryCases)
      for (const Shape& shape : {Shape{}, Shape{1}, Shape{3}, Shape{17}, Shape{1000}, Shape{17, 33}, Shape{123, 517}})
        for (Kind kind : {Kind::contiguous, Kind::transposed, Kind::broadcast_inner, Kind::strided}) {
          // Keep x away from the kinks/poles where a derivative is ill-conditioned.
          const double lo = c.op == UnaryOp::rdiv_scalar || c.op == UnaryOp::log ? 0.1 : c.lo;
          const Operand x = make_operand(d, shape, kind, 21, lo, c.hi);
          const Operand gy = make_operand(d, shape, kind == Kind::broadcast_inner ? Kind::contiguous : kind, 22, -2, 2);
          Operand y = make_contiguous(d, shape);
          ref_backend().unary(c.op, y.view, x.view, c.alpha);
          Operand gc = make_contiguous(d, shape), gr = gc;
          cpu_backend().unary_backward(c.op, gc.view, gy.view, x.view, y.view, c.alpha);
          ref_backend().unary_backward(c.op, gr.view, gy.view, x.view, y.view, c.alpha);
          expect_close(gc, gr, float_or_double(d, kFloatElementwise),
                       describe("unary_backward " + unary_label(c), d, shape, kind_name(kind)));
          // Ops that do not need y may be given none.
          if (c.op == UnaryOp::relu || c.op == UnaryOp::gelu_erf || c.op == UnaryOp::gelu_tanh ||
              c.op == UnaryOp::mul_scalar || c.op == UnaryOp::pow_scalar) {
            KernelView no_y = y.view;
            no_y.data = nullptr;
            Operand gc2 = make_contiguous(d, shape), gr2 = gc2;
            cpu_backend().unary_backward(c.op, gc2.view, gy.view, x.view, no_y, c.alpha);
            ref_backend().unary_backward(c.op, gr2.view, gy.view, x.view, no_y, c.alpha);
            expect_close(gc2, gr2, float_or_double(d, kFloatElementwise),
                         describe("unary_backward (no y) " + unary_label(c), d, shape, kind_name(kind)));
          }
        }
  CHECK_THROWS_WITH(
      [] {
        Operand a = make_contiguous(DType::i64, {3});
        cpu_backend().unary_backward(UnaryOp::neg, a.view, a.view, a.view, a.view, 0);
      }(),
      Catch::Contains("unary_backward") && Catch::Contains("floating"));
}

namespace {
const std::vector<BinaryOp> kAllBinary = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                                          BinaryOp::maximum, BinaryOp::minimum, BinaryOp::eq, BinaryOp::ne,
                                          BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge};
// (a, b) layout pairs: contiguous, the broadcast patterns of real models, and general strides.
const std::vector<std::pair<Kind, Kind>> kBinaryLayouts = {
    {Kind::contiguous, Kind::contiguous},      {Kind::contiguous, Kind::broadcast_outer},
    {Kind::contiguous, Kind::broadcast_inner}, {Kind::contiguous, Kind::scalar},
    {Kind::scalar, Kind::contiguous},          {Kind::broadcast_inner, Kind::contiguous},
    {Kind::broadcast_outer, Kind::broadcast_inner}, {Kind::transposed, Kind::strided},
    {Kind::offset, Kind::transposed},          {Kind::scalar, Kind::scalar}};
}  // namespace

TEST_CASE("cpu binary matches the reference (float, double)", "[cpu][elementwise]") {
  for (DType d : kFloatTypes)
    for (BinaryOp op : kAllBinary)
      for (const Shape& shape : kElementwiseShapes)
        for (const auto& [ka, kb] : kBinaryLayouts) {
          if (shape_numel(shape) > 5000 && ka == Kind::offset) continue;
          const Operand a = make_operand(d, shape, ka, 31, -3, 3);
          // Small integers for b make eq/ne/le/ge hit equality now and then.
          Operand b = make_operand(d, shape, kb, 32, -3, 3);
          if (is_comparison(op)) {
            Operand ai = make_operand(DType::i64, shape, ka, 31, -2, 2), bi = make_operand(DType::i64, shape, kb, 32, -2, 2);
            Operand af = make_operand(d, shape, ka, 31, 0, 0), bf = make_operand(d, shape, kb, 32, 0, 0);
            ref_backend().copy(af.view, ai.view);
            ref_backend().copy(bf.view, bi.view);
            for (DType out_t : {DType::u8, d}) {
              Operand oc = make_contiguous(out_t, shape), orf = oc;
              cpu_backend().binary(op, oc.view, af.view, bf.view);
              ref_backend().binary(op, orf.view, af.view, bf.view);
              expect_close(oc, orf, kExact,
                           describe(std::string("binary ") + binary_op_name(op), d, shape,
                                    std::string(kind_name(ka)) + "/" + kind_name(kb) + " -> " + dtype_name(out_t)));
            }
            continue;
          }
          Operand oc = make_contiguous(d, shape), orf = oc;
          cpu_backend().binary(op, oc.view, a.view, b.view);
          ref_backend().binary(op, orf.view, a.view, b.view);
          expect_close(oc, orf, kExact,
                       describe(std::string("binary ") + binary_op_name(op), d, shape,
                                std::string(kind_name(ka)) + "/" + kind_name(kb)));
        }
}

TEST_CASE("cpu binary: NaN propagation, mixed output dtype, in-place and strided output", "[cpu][elementwise]") {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> av = {nan, 1, nan, -0.0, inf, -inf, 2, 0.0, 5, 3};
  const std::vector<double> bv = {1, nan, nan, 0.0, 1, -inf, 2, -0.0, -inf, 3};
  for (DType d : kFloatTypes) {
    Operand a = make_contiguous(d, {10}), b = make_contiguous(d, {10});
    dispatch_floating(d, "test", [&]<class T>(type_tag<T>) {
      for (int i = 0; i < 10; ++i) {
        a.base_as<T>()[i] = static_cast<T>(av[static_cast<std::size_t>(i)]);
        b.base_as<T>()[i] = static_cast<T>(bv[static_cast<std::size_t>(i)]);
      }
    });
    for (BinaryOp op : kAllBinary) {
      Operand oc = make_contiguous(is_comparison(op) ? DType::u8 : d, {10}), orf = oc;
      cpu_backend().binary(op, oc.view, a.view, b.view);
      ref_backend().binary(op, orf.view, a.view, b.view);
      expect_close(oc, orf, kExact, describe(std::string("binary specials ") + binary_op_name(op), d, {10}));
    }
  }
  // float inputs into a double output: computed in double like the reference.
  {
    const Operand a = make_random(DType::f32, {1000}, 41, -3, 3), b = make_random(DType::f32, {1000}, 42, -3, 3);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::mul, BinaryOp::div}) {
      Operand oc = make_contiguous(DType::f64, {1000}), orf = oc;
      cpu_backend().binary(op, oc.view, a.view, b.view);
      ref_backend().binary(op, orf.view, a.view, b.view);
      expect_close(oc, orf, kExact, describe(std::string("binary f32->f64 ") + binary_op_name(op), DType::f32, {1000}));
    }
  }
  // In place: out aliases a.
  for (DType d : kFloatTypes) {
    Operand a1 = make_random(d, {77, 130}, 43, -1, 1), a2 = a1;
    const Operand b = make_operand(d, {77, 130}, Kind::broadcast_outer, 44, -1, 1);
    cpu_backend().binary(BinaryOp::add, a1.view, a1.view, b.view);
    ref_backend().binary(BinaryOp::add, a2.view, a2.view, b.view);
    expect_close(a1, a2, kExact, describe("binary add in place", d, {77, 130}));
  }
  // Transposed output.
  for (DType d : kFloatTypes) {
    const Operand a = make_random(d, {33, 65}, 45, -1, 1), b = make_random(d, {33, 65}, 46, -1, 1);
    Operand oc = make_operand(d, {33, 65}, Kind::transposed, 0, 0, 0), orf = oc;
    cpu_backend().binary(BinaryOp::mul, oc.view, a.view, b.view);
    ref_backend().binary(BinaryOp::mul, orf.view, a.view, b.view);
    expect_close(oc, orf, kExact, describe("binary mul into transposed", d, {33, 65}));
  }
}

TEST_CASE("cpu binary matches the reference (integer dtypes)", "[cpu][elementwise]") {
  for (DType d : {DType::i64, DType::i32, DType::u8})
    for (BinaryOp op : kAllBinary)
      for (const Shape& shape : {Shape{}, Shape{7}, Shape{17, 33}, Shape{123, 517}})
        for (const auto& [ka, kb] : kBinaryLayouts) {
          const bool is_u8 = d == DType::u8;
          const Operand a = make_operand(d, shape, ka, 51, is_u8 ? 0 : -20, 20);
          const Operand b = make_operand(d, shape, kb, 52, op == BinaryOp::div ? 1 : (is_u8 ? 0 : -20), 20);
          Operand oc = make_contiguous(is_comparison(op) ? DType::u8 : d, shape), orf = oc;
          cpu_backend().binary(op, oc.view, a.view, b.view);
          ref_backend().binary(op, orf.view, a.view, b.view);
          expect_close(oc, orf, kExact,
                       describe(std::string("binary ") + binary_op_name(op), d, shape,
                                std::string(kind_name(ka)) + "/" + kind_name(kb)));
        }
  Operand a = make_random(DType::i64, {5}, 1, 1, 5), zero = make_contiguous(DType::i64, {5}, 0.0), o = a;
  CHECK_THROWS_WITH(cpu_backend().binary(BinaryOp::div, o.view, a.view, zero.view),
                    Catch::Contains("division by zero"));
}

TEST_CASE("cpu where matches the reference", "[cpu][elementwise]") {
  for (DType d : kAllTypes)
    for (const Shape& shape : kElementwiseShapes)
      for (const auto& [kc, ka, kb] : std::vector<std::tuple<Kind, Kind, Kind>>{
               {Kind::contiguous, Kind::contiguous, Kind::contiguous},
               {Kind::broadcast_outer, Kind::contiguous, Kind::scalar},
               {Kind::contiguous, Kind::broadcast_inner, Kind::transposed},
               {Kind::transposed, Kind::strided, Kind::broadcast_outer}}) {
        const Operand c = make_operand(DType::u8, shape, kc, 61, 0, 1);
        const Operand a = make_operand(d, shape, ka, 62, 0, 100), b = make_operand(d, shape, kb, 63, 0, 100);
        Operand oc = make_contiguous(d, shape), orf = oc;
        cpu_backend().where(oc.view, c.view, a.view, b.view);
        ref_backend().where(orf.view, c.view, a.view, b.view);
        expect_close(oc, orf, kExact, describe("where", d, shape, std::string(kind_name(kc)) + "/" + kind_name(ka) + "/" + kind_name(kb)));
      }
}

TEST_CASE("cpu random reproduces the reference stream exactly", "[cpu][random]") {
  for (DType d : kFloatTypes)
    for (std::int64_t n : {0, 1, 3, 17, 1000, 100003})
      for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{12345}, ~std::uint64_t{0} - 50}) {
        const std::vector<std::tuple<RandomKind, double, double>> draws = {
            {RandomKind::uniform, -1.5, 2.5},          {RandomKind::normal, 0.5, 2.0},
            {RandomKind::bernoulli_scaled, 0.1, 0},    {RandomKind::bernoulli_scaled, 0.0, 0},
            {RandomKind::bernoulli_scaled, 0.5, 0},    {RandomKind::bernoulli_scaled, 0.999, 0},
            {RandomKind::bernoulli_scaled, 1.0, 0},    {RandomKind::bernoulli_scaled, 1e-300, 0}};
        for (const auto& [kind, a, b] : draws) {
          Operand oc = make_contiguous(d, {n}), orf = oc;
          cpu_backend().random(kind, oc.view, a, b, 42, offset);
          ref_backend().random(kind, orf.view, a, b, 42, offset);
          std::ostringstream w;
          w << "kind " << static_cast<int>(kind) << " a " << a << " b " << b << " offset " << offset;
          expect_close(oc, orf, kExact, describe("random", d, {n}, w.str()));
        }
      }
}

// Dropout keeps each element with probability 1 - p, independently: two neighbours share one
// hash (its low and high halves, kmath::dropout_keep), so pairs inside a hash and across two are
// checked as well as single elements. Bounds: 6 standard deviations of each count.
TEST_CASE("cpu dropout masks keep 1 - p of the elements, neighbours independently", "[cpu][random]") {
  constexpr std::int64_t n = std::int64_t{1} << 20;
  for (double p : {0.1, 0.5, 0.9})
    for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{7}}) {
      Operand mask = make_contiguous(DType::f32, {n});
      cpu_backend().random(RandomKind::bernoulli_scaled, mask.view, p, 0, 2024, offset);
      const float* m = static_cast<const float*>(mask.view.data);
      const double keep = 1.0 - p;
      std::int64_t kept = 0, kept_in_hash = 0, kept_across = 0, neither = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        neither += m[i] != 0.0f && m[i] != static_cast<float>(1.0 / keep);  // not 0 or the scale
        kept += m[i] != 0.0f;
        if (i + 1 < n && m[i] != 0.0f && m[i + 1] != 0.0f) ((offset + i) % 2 == 0 ? kept_in_hash : kept_across) += 1;
      }
      const auto within = [](std::int64_t count, double trials, double q) {
        return std::abs(static_cast<double>(count) - trials * q) <= 6.0 * std::sqrt(trials * q * (1.0 - q));
      };
      INFO("p " << p << " offset " << offset << ": kept " << kept << ", pairs in a hash " << kept_in_hash
                << ", across hashes " << kept_across);
      CHECK(neither == 0);
      CHECK(within(kept, n, keep));
      CHECK(within(kept_in_hash, n / 2, keep * keep));
      CHECK(within(kept_across, n / 2 - 1, keep * keep));
    }
}

// ================================================================================================
namespace {
struct ReduceShape {
  std::int64_t outer, reduced, inner;
};
const std::vector<ReduceShape> kReduceShapes = {{1, 1, 1},   {3, 7, 1},    {1, 17, 1},      {64, 128, 1},
                                                {1, 1000, 1}, {5, 17, 3},  {4, 1000, 33},   {2, 3, 300},
                                                {1, 100003, 1}, {2, 200000, 1}, {1, 3, 70001}, {300, 33, 1},
                                                {0, 5, 3},   {2, 5, 0},    {7, 1, 513}};
}  // namespace

TEST_CASE("cpu reduce matches the reference", "[cpu][reduce]") {
  for (DType d : kAllTypes)
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min, ReduceOp::argmax, ReduceOp::argmin})
      for (const ReduceShape& s : kReduceShapes) {
        const bool is_float = is_floating(d);
        if (!is_float && op == ReduceOp::mean) continue;
        const std::int64_t n = s.outer * s.reduced * s.inner;
        // Few distinct integer values make ties, which must resolve to the first occurrence.
        Operand in = is_float ? make_random(d, {n}, 71, -1, 3) : make_random(d, {n}, 71, 0, 9);
        DType out_t = op == ReduceOp::argmax || op == ReduceOp::argmin ? DType::i64 : d;
        // (an integer sum is only stored where it fits: double -> narrow int is UB in both)
        std::vector<DType> outs = {out_t};
        if (op == ReduceOp::sum && !is_float) outs = d == DType::u8 ? std::vector{DType::i64} : std::vector{d, DType::i64};
        if (op == ReduceOp::sum && d == DType::f32) outs.push_back(DType::f64);
        for (DType o : outs) {
          Operand oc = make_contiguous(o, {s.outer, s.inner}), orf = oc;
          cpu_backend().reduce(op, oc.view, in.view, s.outer, s.reduced, s.inner);
          ref_backend().reduce(op, orf.view, in.view, s.outer, s.reduced, s.inner);
          const Tol tol = op == ReduceOp::sum || op == ReduceOp::mean ? float_or_double(d, kFloatReduce) : kExact;
          std::ostringstream extra;
          extra << "[" << s.outer << ", " << s.reduced << ", " << s.inner << "] -> " << dtype_name(o);
          expect_close(oc, orf, is_float ? tol : kExact, describe(std::string("reduce ") + reduce_op_name(op), d, {n}, extra.str()));
        }
      }
}

TEST_CASE("cpu reduce: long float sums stay accurate, NaN and ties like the reference", "[cpu][reduce]") {
  // 10^6 floats of mixed magnitude: double accumulation keeps ~1e-7 relative error.
  {
    const std::int64_t n = 1000000;
    Operand in = make_random(DType::f32, {n}, 81, -1, 1);
    for (std::int64_t i = 0; i < n; i += 1000) in.base_as<float>()[i] = 1000.0f;
    Operand oc = make_contiguous(DType::f32, {1}), orf = oc;
    cpu_backend().reduce(ReduceOp::sum, oc.view, in.view, 1, n, 1);
    ref_backend().reduce(ReduceOp::sum, orf.view, in.view, 1, n, 1);
    expect_close(oc, orf, Tol{1e-6, 0}, "sum of 1e6 floats");
  }
  for (DType d : kFloatTypes) {
    const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
    // rows of 40 (past the SIMD path's minimum) with NaN / inf / -0 in various places
    const std::int64_t rows = 6, cols = 40;
    Operand in = make_random(d, {rows * cols}, 82, -1, 1);
    dispatch_floating(d, "test", [&]<class T>(type_tag<T>) {
      T* p = in.base_as<T>();
      p[0 * cols + 5] = static_cast<T>(nan);
      p[1 * cols + 39] = static_cast<T>(nan);
      p[1 * cols + 3] = static_cast<T>(inf);
      p[2 * cols + 7] = static_cast<T>(-inf);
      p[2 * cols + 20] = static_cast<T>(inf);
      for (std::int64_t c = 0; c < cols; ++c) p[3 * cols + c] = T(0.5);  // all ties
      for (std::int64_t c = 0; c < cols; ++c) p[4 * cols + c] = c % 2 ? T(-0.0) : T(0.0);
      for (std::int64_t c = 0; c < cols; ++c) p[5 * cols + c] = static_cast<T>(-inf);
    });
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::argmax, ReduceOp::argmin}) {
      for (auto [outer, reduced, inner] : {std::tuple{rows, cols, std::int64_t{1}}, std::tuple{std::int64_t{1}, rows, cols}}) {
        Operand oc = make_contiguous(op == ReduceOp::argmax || op == ReduceOp::argmin ? DType::i64 : d, {outer, inner}), orf = oc;
        cpu_backend().reduce(op, oc.view, in.view, outer, reduced, inner);
        ref_backend().reduce(op, orf.view, in.view, outer, reduced, inner);
        expect_close(oc, orf, float_or_double(d, kFloatReduce), describe(std::string("reduce specials ") + reduce_op_name(op), d, {outer, reduced, inner}));
      }
    }
  }
  Operand in = make_contiguous(DType::f32, {0}), out = make_contiguous(DType::f32, {3});
  CHECK_THROWS_WITH(cpu_backend().reduce(ReduceOp::max, out.view, in.view, 3, 0, 1), Catch::Contains("empty"));
}

// ================================================================================================
namespace {
void check_gemm(DType d, std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb,
                double alpha, double beta, std::int64_t pad, bool share_a, bool share_b,
                backends::cpu::GemmBatchMode mode = backends::cpu::GemmBatchMode::automatic) {
  GemmArgs g;
  g.dtype = d;
  g.batch = batch;
  g.m = m;
  g.n = n;
  g.k = k;
  g.trans_a = ta;
  g.trans_b = tb;
  g.alpha = alpha;
  g.beta = beta;
  g.lda = (ta ? m : k) + pad;
  g.ldb = (tb ? k : n) + pad;
  g.ldc = n + pad;
  const std::int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  g.stride_a = share_a ? 0 : a_rows * g.lda;
  g.stride_b = share_b ? 0 : b_rows * g.ldb;
  g.stride_c = m * g.ldc;
  const Operand A = make_random(d, {std::max<std::int64_t>(1, (share_a ? 1 : batch) * a_rows * g.lda)}, 91, -1, 1);
  const Operand B = make_random(d, {std::max<std::int64_t>(1, (share_b ? 1 : batch) * b_rows * g.ldb)}, 92, -1, 1);
  Operand Cc = make_random(d, {std::max<std::int64_t>(1, batch * m * g.ldc)}, 93, -1, 1), Cr = Cc;
  g.a = A.view.data;
  g.b = B.view.data;
  g.c = Cc.view.data;
  backends::cpu::gemm(g, mode);
  g.c = Cr.view.data;
  ref_backend().gemm(g);
  const Tol tol = d == DType::f64 ? kDouble : Tol{1e-5, 2e-6 * static_cast<double>(std::max<std::int64_t>(k, 1))};
  std::ostringstream what;
  what << "gemm " << dtype_name(d) << " batch " << batch << " m " << m << " n " << n << " k " << k << " ta " << ta
       << " tb " << tb << " alpha " << alpha << " beta " << beta << " pad " << pad << " shared " << share_a << share_b
       << " mode " << static_cast<int>(mode);
  expect_close(Cc, Cr, tol, what.str());  // the padding columns must be left alone too
}
}  // namespace

TEST_CASE("OpenBLAS runs kernels this CPU supports, not the Prescott fallback", "[cpu][gemm][blas]") {
  // Debian 12's OpenBLAS does not know Sapphire/Emerald Rapids and falls back to SSE3 kernels
  // (a fifth of the GEMM speed); blas_core.hpp re-selects. A user's OPENBLAS_CORETYPE stands.
  const std::string core = backends::cpu::blas_core_name();
  INFO("OpenBLAS core: " << core);
  const bool user_choice = std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv("TINYXF_KEEP_BLAS_CORE") != nullptr;
  if (!core.empty() && !user_choice && backends::cpu::blas_core_detail::best_supported_core() != nullptr)
    CHECK(core != "Prescott");
}

TEST_CASE("OpenBLAS kernel switch: only away from Prescott, never over the user's choice", "[cpu][blas]") {
  using backends::cpu::blas_core_to_select;
  CHECK(std::string(blas_core_to_select("Prescott", false, "SkylakeX")) == "SkylakeX");
  CHECK(std::string(blas_core_to_select("PRESCOTT", false, "Haswell")) == "Haswell");
  CHECK(blas_core_to_select("Prescott", true, "SkylakeX") == nullptr);   // OPENBLAS_CORETYPE / keep
  CHECK(blas_core_to_select("Prescott", false, nullptr) == nullptr);     // no better set runs here
  CHECK(blas_core_to_select("Haswell", false, "SkylakeX") == nullptr);   // OpenBLAS knew the CPU
  CHECK(blas_core_to_select("", false, "SkylakeX") == nullptr);          // a BLAS that does not say
}

TEST_CASE("cpu gemm matches the reference", "[cpu][gemm]") {
  for (DType d : kFloatTypes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        for (auto [m, n, k] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 1, 1}, {3, 7, 5}, {17, 33, 64},
                               {64, 48, 129}, {1, 17, 3}, {7, 1, 9}})
          for (auto [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{0.5, 2.0}})
            check_gemm(d, 1, m, n, k, ta, tb, alpha, beta, 0, false, false);
        check_gemm(d, 3, 17, 9, 11, ta, tb, 1.0, 0.0, 3, false, false);
        // Large enough to be cut into blocks over the pool: by rows, then by columns (C short
        // and wide), with padding, beta, and a batch of such products.
        check_gemm(d, 1, 203, 50, 81, ta, tb, 0.5, 2.0, 3, false, false);
        check_gemm(d, 1, 40, 301, 70, ta, tb, 0.5, 2.0, 3, false, false);
        check_gemm(d, 2, 203, 50, 81, ta, tb, 1.0, 0.0, 0, false, true, backends::cpu::GemmBatchMode::split_products);
        check_gemm(d, 3, 17, 9, 11, ta, tb, 1.0, 1.0, 0, true, false);
        check_gemm(d, 3, 17, 9, 11, ta, tb, 1.0, 0.0, 0, false, true);
        for (auto mode : {backends::cpu::GemmBatchMode::automatic, backends::cpu::GemmBatchMode::split_products,
                          backends::cpu::GemmBatchMode::split_batch})
          check_gemm(d, 24, 16, 16, 16, ta, tb, 1.0, 0.0, 0, false, false, mode);
      }
  // Degenerate sizes: k == 0 scales C by beta (0 overwrites), m == 0 / n == 0 do nothing.
  for (DType d : kFloatTypes) {
    check_gemm(d, 2, 3, 4, 0, false, false, 1.0, 0.0, 0, false, false);
    check_gemm(d, 2, 3, 4, 0, false, false, 1.0, 0.5, 0, false, false);
    check_gemm(d, 2, 0, 4, 5, false, false, 1.0, 0.0, 0, false, false);
    check_gemm(d, 2, 3, 0, 5, true, true, 1.0, 0.0, 0, false, false);
  }
  // Through the virtual interface too.
  GemmArgs g;
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8}, c(4, -1.0f);
  g.m = g.n = g.k = 2;
  g.a = a.data();
  g.b = b.data();
  g.c = c.data();
  g.lda = g.ldb = g.ldc = 2;
  cpu_backend().gemm(g);
  CHECK(c == std::vector<float>{19, 22, 43, 50});
  g.dtype = DType::i64;
  CHECK_THROWS_WITH(cpu_backend().gemm(g), Catch::Contains("gemm") && Catch::Contains("floating"));
}

namespace {
// float -> bfloat16 -> float, round to nearest even (NaN not needed here).
float round_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace

TEST_CASE("cpu gemm with bfloat16 products (float32 matmul precision 'medium')", "[cpu][gemm][bf16]") {
  using Shape3 = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  // Through the backend interface: batch, threads (blocks by rows and by columns), every
  // transpose, k odd and above the packed block (768), m above the A block (240), n above one
  // B block (2048), padded leading dims, beta 0 over NaN and beta != 0; float32 operands at
  // 'medium' precision and bf16 operands with a float32 C (autocast's GEMMs: packed directly).
  // k = 4500 is two of the AMX kernel's k blocks (five when op(A) is stored by k: gemm_amx k_block_size);
  // k = 384 with n = 2200 makes the AMX kernel take B panels in groups of 32 (gemm_amx
  // panels_per_group), the last one partial when two threads split the columns.
  for (bool bf16_operands : {false, true})
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [m, n, k] : {Shape3{1, 1, 1}, Shape3{13, 33, 7}, Shape3{37, 65, 385}, Shape3{250, 70, 771},
                             Shape3{20, 2100, 40}, Shape3{70, 50, 4500},
                             Shape3{37, 2200, 384}})
        for (double beta : {0.0, 0.5}) {
          const std::int64_t batch = m * n * k < 100000 ? 2 : 1;
          const std::int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
          const std::int64_t sa = (ta ? k : m) * lda, sb = (tb ? n : k) * ldb, sc = m * ldc;
          std::vector<float> a(batch * sa), b(batch * sb), c(batch * sc);
          for (float& x : a) x = normal(rng);
          for (float& x : b) x = normal(rng);
          for (float& x : c) x = beta == 0.0 ? std::numeric_limits<float>::quiet_NaN() : normal(rng);
          const std::vector<float> c0 = c;
          const std::vector<BFloat16> a16(a.begin(), a.end()), b16(b.begin(), b.end());
          GemmArgs g;
          g.batch = batch;
          g.m = m, g.n = n, g.k = k;
          g.a = a.data(), g.lda = lda, g.stride_a = sa, g.trans_a = ta;
          g.b = b.data(), g.ldb = ldb, g.stride_b = sb, g.trans_b = tb;
          g.c = c.data(), g.ldc = ldc, g.stride_c = sc;
          g.alpha = 1.5, g.beta = beta;
          g.precision = MatmulPrecision::medium;
          if (bf16_operands) {
            g.dtype = kBFloat16;
            g.out_dtype = kFloat32;
            g.a = a16.data();
            g.b = b16.data();
          }
          cpu_backend().gemm(g);
          // The operands are bf16 values when given as bf16, or rounded to bf16 where bf16 products
          // pay on this CPU (bf16_products_pay; float32 products otherwise).
          const bool bf16 = bf16_operands || backends::cpu::bf16_products_pay();
          INFO((bf16_operands ? "bf16 operands" : "float32 operands") << " ta " << ta << " tb " << tb << " m " << m
               << " n " << n << " k " << k << " beta " << beta << " ("
               << (backends::cpu::bf16_products_pay() ? backends::cpu::bf16_gemm_kernel() : "float32 products") << ")");
          std::int64_t bad = 0;
          for (std::int64_t bt = 0; bt < batch; ++bt)
            for (std::int64_t i = 0; i < m; ++i)
              for (std::int64_t j = 0; j < ldc; ++j) {
                const float got = c[bt * sc + i * ldc + j];
                if (j >= n) {  // padding of C is never written
                  bad += !(std::isnan(got) && std::isnan(c0[bt * sc + i * ldc + j])) && got != c0[bt * sc + i * ldc + j];
                  continue;
                }
                double exact = 0, magnitude = 0;
                for (std::int64_t p = 0; p < k; ++p) {
                  float x = ta ? a[bt * sa + p * lda + i] : a[bt * sa + i * lda + p];
                  float y = tb ? b[bt * sb + j * ldb + p] : b[bt * sb + p * ldb + j];
                  if (bf16) x = round_bf16(x), y = round_bf16(y);
                  exact += double(x) * double(y);
                  magnitude += std::fabs(double(x) * double(y));
                }
                exact = 1.5 * exact + (beta == 0.0 ? 0.0 : beta * c0[bt * sc + i * ldc + j]);
                // Products of bf16 values are exact in float32; what is left is float32 summation.
                bad += !(std::fabs(got - exact) <= 4e-7 * double(k) * 1.5 * magnitude + 1e-5);
              }
          CHECK(bad == 0);
        }
  if (!backends::cpu::bf16_products_pay())
    WARN("bf16 products do not pay on this CPU (no AVX512-BF16, or no AMX on Intel): 'medium' GEMMs ran with "
         "float32 products (checked above); tinyxf_cpu_kernel_tests_no_amx runs them on AVX512-BF16");
  if (!backends::cpu::has_bf16_dot()) return;
  // Rounding is to nearest, ties to even: 1 + 2^-8 is halfway between the bf16 values 1 and
  // 1 + 2^-7 and rounds to 1; 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
  const float a1[2] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f}, b1[2] = {1.0f, 1.0f};
  float c1 = 0;
  backends::cpu::gemm_bf16(false, false, 1, 1, 2, 1.0f, a1, 2, b1, 1, 0.0f, &c1, 1);
  CHECK(c1 == 1.0f + (1.0f + 0x1p-6f));
}

// GemmArgs::bias (linear's bias in the epilogue) gives the sums of a C prefilled with the bias and
// beta = 1 bit for bit: added with the first k block (several blocks at k = 4500), at the right
// columns of blocks split by columns (n = 2100) and in every product of a batch.
TEST_CASE("cpu gemm adds a bias row exactly as a C prefilled with it", "[cpu][gemm][bf16]") {
  using Shape3 = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (MatmulPrecision precision : {MatmulPrecision::highest, MatmulPrecision::medium})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [m, n, k] : {Shape3{1, 1, 1}, Shape3{13, 33, 7}, Shape3{37, 65, 385}, Shape3{20, 2100, 40},
                               Shape3{70, 50, 4500}, Shape3{37, 2200, 384}})
          for (double alpha : {1.0, 1.5}) {
            const std::int64_t batch = m * n * k < 100000 ? 2 : 1;
            const std::int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
            const std::int64_t sa = (ta ? k : m) * lda, sb = (tb ? n : k) * ldb, sc = m * ldc;
            std::vector<float> a(batch * sa), b(batch * sb), bias(n);
            for (float& x : a) x = normal(rng);
            for (float& x : b) x = normal(rng);
            for (float& x : bias) x = normal(rng);
            std::vector<float> with_bias(batch * sc, std::numeric_limits<float>::quiet_NaN()), prefilled = with_bias;
            for (std::int64_t r = 0; r < batch * m; ++r) std::copy(bias.begin(), bias.end(), prefilled.begin() + r * ldc);
            GemmArgs g;
            g.batch = batch;
            g.m = m, g.n = n, g.k = k;
            g.a = a.data(), g.lda = lda, g.stride_a = sa, g.trans_a = ta;
            g.b = b.data(), g.ldb = ldb, g.stride_b = sb, g.trans_b = tb;
            g.ldc = ldc, g.stride_c = sc, g.alpha = alpha;
            g.precision = precision;
            g.c = prefilled.data(), g.beta = 1.0;
            cpu_backend().gemm(g);
            g.c = with_bias.data(), g.beta = 0.0, g.bias = bias.data();
            REQUIRE(cpu_backend().supports_gemm(g));
            cpu_backend().gemm(g);
            INFO("precision " << static_cast<int>(precision) << " ta " << ta << " tb " << tb << " m " << m << " n " << n
                              << " k " << k << " alpha " << alpha);
            std::int64_t bad = 0;
            for (std::size_t i = 0; i < with_bias.size(); ++i)  // the padding columns stay NaN in both
              bad += std::memcmp(&with_bias[i], &prefilled[i], sizeof(float)) != 0;
            CHECK(bad == 0);
          }
  // Where the epilogue cannot take it, the backend says so (the front end then prefills C).
  float bias[2] = {1, 2};
  GemmArgs g;
  g.m = g.n = g.k = 2;
  g.bias = bias;
  CHECK(cpu_backend().supports_gemm(g));
  CHECK_FALSE(ref_backend().supports_gemm(g));
  g.beta = 1.0;
  CHECK_FALSE(cpu_backend().supports_gemm(g));
  g.beta = 0.0;
  g.dtype = DType::f64;
  CHECK_FALSE(cpu_backend().supports_gemm(g));
  CHECK_THROWS_WITH(cpu_backend().gemm(g), Catch::Contains("bias") && Catch::Contains("float64"));
}

// ================================================================================================
namespace {
const std::vector<std::pair<std::int64_t, std::int64_t>> kRowShapes = {
    {1, 1}, {3, 7}, {5, 17}, {64, 128}, {7, 1000}, {300, 130}, {2, 30522}, {0, 5}};
}

TEST_CASE("cpu softmax / log_softmax and backward match the reference", "[cpu][norm]") {
  for (DType d : kFloatTypes)
    for (auto [shape_rows, shape_cols] : kRowShapes)
      for (bool log : {false, true}) {
        // Plain copies: clang before 16 cannot capture structured bindings in a lambda.
        const std::int64_t rows = shape_rows, cols = shape_cols;
        Operand x = make_random(d, {rows, cols}, 101, -20, 20);
        // Masked positions (-inf), as attention masks produce, in every other row.
        dispatch_floating(d, "test", [&]<class T>(type_tag<T>) {
          for (std::int64_t r = 0; r < rows; r += 2)
            for (std::int64_t c = 1; c < cols; c += 3) x.base_as<T>()[r * cols + c] = -std::numeric_limits<T>::infinity();
        });
        Operand yc = make_contiguous(d, {rows, cols}), yr = yc;
        cpu_backend().softmax(yc.view, x.view, rows, cols, log);
        ref_backend().softmax(yr.view, x.view, rows, cols, log);
        const std::string name = log ? "log_softmax" : "softmax";
        expect_close(yc, yr, float_or_double(d, kFloatReduce), describe(name, d, {rows, cols}));

        const Operand gy = make_random(d, {rows, cols}, 102, -1, 1);
        Operand gc = make_contiguous(d, {rows, cols}), gr = gc;
        cpu_backend().softmax_backward(gc.view, gy.view, yr.view, rows, cols, log);
        ref_backend().softmax_backward(gr.view, gy.view, yr.view, rows, cols, log);
        expect_close(gc, gr, float_or_double(d, kFloatReduce), describe(name + "_backward", d, {rows, cols}));
      }
  // A row that is entirely -inf gives NaN on both sides; a NaN input poisons its row.
  for (DType d : kFloatTypes) {
    Operand x = make_random(d, {3, 40}, 103, -1, 1);
    dispatch_floating(d, "test", [&]<class T>(type_tag<T>) {
      for (int c = 0; c < 40; ++c) x.base_as<T>()[c] = -std::numeric_limits<T>::infinity();
      x.base_as<T>()[40 + 7] = std::numeric_limits<T>::quiet_NaN();
    });
    for (bool log : {false, true}) {
      Operand yc = make_contiguous(d, {3, 40}), yr = yc;
      cpu_backend().softmax(yc.view, x.view, 3, 40, log);
      ref_backend().softmax(yr.view, x.view, 3, 40, log);
      expect_close(yc, yr, float_or_double(d, kFloatReduce), describe("softmax specials", d, {3, 40}));
    }
  }
}

TEST_CASE("cpu layer_norm and backward match the reference", "[cpu][norm]") {
  for (DType d : kFloatTypes)
    for (auto [rows, cols] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {1, 1}, {3, 7}, {5, 17}, {64, 768}, {300, 130}, {2, 5000}, {0, 8}})
      for (double eps : {1e-5, 1e-12})
        for (int affine = 0; affine < 4; ++affine) {
          const bool has_gamma = affine & 1, has_beta = affine & 2;
          // A large common offset checks that the variance is not computed as E[x^2] - E[x]^2.
          const Operand x = make_random(d, {rows, cols}, 111, 99, 101);
          Operand gamma = make_random(d, {cols}, 112, 0.5, 1.5), beta = make_random(d, {cols}, 113, -1, 1);
          KernelView gv = gamma.view, bv = beta.view;
          if (!has_gamma) gv.data = nullptr;
          if (!has_beta) bv.data = nullptr;
          Operand yc = make_contiguous(d, {rows, cols}), yr = yc;
          Operand mc = make_contiguous(d, {rows}), mr = mc, rc = make_contiguous(d, {rows}), rr = rc;
          cpu_backend().layer_norm(yc.view, mc.view, rc.view, x.view, gv, bv, rows, cols, eps);
          ref_backend().layer_norm(yr.view, mr.view, rr.view, x.view, gv, bv, rows, cols, eps);
          std::ostringstream extra;
          extra << "eps " << eps << " gamma " << has_gamma << " beta " << has_beta;
          expect_close(yc, yr, float_or_double(d, kFloatReduce), describe("layer_norm out", d, {rows, cols}, extra.str()));
          expect_close(mc, mr, float_or_double(d, kFloatReduce), describe("layer_norm mean", d, {rows, cols}, extra.str()));
          expect_close(rc, rr, float_or_double(d, kFloatReduce), describe("layer_norm rstd", d, {rows, cols}, extra.str()));

          const Operand gy = make_random(d, {rows, cols}, 114, -1, 1);
          for (int wanted = 0; wanted < 4; ++wanted) {
            Operand gxc = make_contiguous(d, {rows, cols}), gxr = gxc;
            Operand ggc = make_contiguous(d, {cols}), ggr = ggc, gbc = make_contiguous(d, {cols}), gbr = gbc;
            KernelView ggcv = ggc.view, ggrv = ggr.view, gbcv = gbc.view, gbrv = gbr.view;
            if (!(wanted & 1)) ggcv.data = ggrv.data = nullptr;
            if (!(wanted & 2)) gbcv.data = gbrv.data = nullptr;
            cpu_backend().layer_norm_backward(gxc.view, ggcv, gbcv, gy.view, x.view, mr.view, rr.view, gv, rows, cols);
            ref_backend().layer_norm_backward(gxr.view, ggrv, gbrv, gy.view, x.view, mr.view, rr.view, gv, rows, cols);
            const std::string w = extra.str() + " wanted " + std::to_string(wanted);
            // grad_in subtracts two row means from g: compare with an abs floor scaled by rstd.
            Tol gtol = float_or_double(d, kFloatReduce);
            gtol.abs *= 1.0 + std::fabs(read_as_double(rr.view, 0)) * (rows > 0);
            expect_close(gxc, gxr, gtol, describe("layer_norm_backward grad_in", d, {rows, cols}, w));
            expect_close(ggc, ggr, float_or_double(d, kFloatReduce), describe("layer_norm_backward grad_gamma", d, {rows, cols}, w));
            expect_close(gbc, gbr, float_or_double(d, kFloatReduce), describe("layer_norm_backward grad_beta", d, {rows, cols}, w));
          }
        }
}

// ================================================================================================
TEST_CASE("cpu index_select matches the reference, with the same errors", "[cpu][index]") {
  for (DType d : kAllTypes)
    for (auto [outer, n_src, inner, n_index] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>>{
             {1, 10, 1, 5}, {3, 7, 4, 9}, {2, 50, 768, 30}, {1, 3000, 64, 2048}, {4, 5, 3, 0}, {1, 1, 1, 1}}) {
      const Operand in = make_random(d, {outer * n_src * inner}, 121, 0, 100);
      const Operand idx = make_random(DType::i64, {n_index}, 122, 0, static_cast<double>(n_src - 1));
      Operand oc = make_contiguous(d, {outer * n_index * inner}), orf = oc;
      cpu_backend().index_select(oc.view, in.view, idx.view, outer, n_src, inner);
      ref_backend().index_select(orf.view, in.view, idx.view, outer, n_src, inner);
      expect_close(oc, orf, kExact, describe("index_select", d, {outer, n_src, inner, n_index}));
    }
  for (std::int64_t bad : {-1, 10}) {
    const Operand in = make_random(DType::f32, {10}, 1, 0, 1);
    Operand idx = make_random(DType::i64, {4}, 2, 0, 9);
    idx.base_as<std::int64_t>()[2] = bad;
    Operand o1 = make_contiguous(DType::f32, {4}), o2 = o1;
    std::string cpu_msg, ref_msg;
    try { cpu_backend().index_select(o1.view, in.view, idx.view, 1, 10, 1); } catch (const Error& e) { cpu_msg = e.what(); }
    try { ref_backend().index_select(o2.view, in.view, idx.view, 1, 10, 1); } catch (const Error& e) { ref_msg = e.what(); }
    CHECK(!cpu_msg.empty());
    CHECK(cpu_msg == ref_msg);
  }
}

TEST_CASE("cpu index_add matches the reference, with the same errors", "[cpu][index]") {
  for (DType d : {DType::f32, DType::f64, DType::i64, DType::i32})
    for (auto [outer, n_dst, inner, n_index] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>>{
             {1, 10, 1, 25}, {3, 7, 4, 9}, {1, 50, 768, 300}, {16, 20, 8, 40}, {4, 5, 3, 0}, {1, 3000, 64, 2048}})
      for (std::int64_t skip : {std::int64_t{-100}, std::int64_t{0}}) {
        const Operand src = make_random(d, {outer * n_index * inner}, 131, -10, 10);
        const Operand idx = make_random(DType::i64, {n_index}, 132, 0, static_cast<double>(n_dst - 1));  // repeats
        Operand oc = make_random(d, {outer * n_dst * inner}, 133, -10, 10), orf = oc;
        cpu_backend().index_add(oc.view, src.view, idx.view, outer, n_dst, inner, skip);
        ref_backend().index_add(orf.view, src.view, idx.view, outer, n_dst, inner, skip);
        expect_close(oc, orf, kExact, describe("index_add skip " + std::to_string(skip), d, {outer, n_dst, inner, n_index}));
      }
  const Operand src = make_random(DType::f32, {4}, 1, 0, 1);
  Operand idx = make_random(DType::i64, {4}, 2, 0, 9);
  idx.base_as<std::int64_t>()[3] = 10;
  Operand o1 = make_contiguous(DType::f32, {10}, 0.0), o2 = o1;
  std::string cpu_msg, ref_msg;
  try { cpu_backend().index_add(o1.view, src.view, idx.view, 1, 10, 1, -1); } catch (const Error& e) { cpu_msg = e.what(); }
  try { ref_backend().index_add(o2.view, src.view, idx.view, 1, 10, 1, -1); } catch (const Error& e) { ref_msg = e.what(); }
  CHECK(!cpu_msg.empty());
  CHECK(cpu_msg == ref_msg);
  expect_close(o1, o2, kExact, "index_add writes nothing on a bad index");
}

TEST_CASE("cpu nll_loss and backward match the reference, with the same errors", "[cpu][loss]") {
  for (DType d : kFloatTypes)
    for (auto [rows, classes] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 1}, {7, 3}, {100, 1000}, {2048, 50}, {0, 4}})
      for (bool some_ignored : {false, true}) {
        const Operand logp = make_random(d, {rows, classes}, 141, -10, 0);
        Operand target = make_random(DType::i64, {rows}, 142, 0, static_cast<double>(classes - 1));
        if (some_ignored)
          for (std::int64_t r = 0; r < rows; r += 3) target.base_as<std::int64_t>()[r] = -100;
        Operand lc = make_contiguous(d, {1}), lr = lc, cc = make_contiguous(d, {1}), cr = cc;
        cpu_backend().nll_loss(lc.view, cc.view, logp.view, target.view, rows, classes, -100);
        ref_backend().nll_loss(lr.view, cr.view, logp.view, target.view, rows, classes, -100);
        const std::string w = some_ignored ? "some ignored" : "none ignored";
        expect_close(lc, lr, float_or_double(d, kFloatReduce), describe("nll_loss", d, {rows, classes}, w));
        expect_close(cc, cr, kExact, describe("nll_loss count", d, {rows, classes}, w));

        Operand gl = make_contiguous(d, {1}, 0.75);
        Operand gc = make_contiguous(d, {rows, classes}), gr = gc;
        cpu_backend().nll_loss_backward(gc.view, gl.view, cr.view, target.view, rows, classes, -100);
        ref_backend().nll_loss_backward(gr.view, gl.view, cr.view, target.view, rows, classes, -100);
        expect_close(gc, gr, kExact, describe("nll_loss_backward", d, {rows, classes}, w));
      }
  // Every row ignored: NaN on both sides.
  {
    const Operand logp = make_random(DType::f32, {3, 4}, 1, -3, 0);
    const Operand target = make_contiguous(DType::i64, {3}, -100);
    Operand lc = make_contiguous(DType::f32, {1}), lr = lc, cc = make_contiguous(DType::f32, {1}), cr = cc;
    cpu_backend().nll_loss(lc.view, cc.view, logp.view, target.view, 3, 4, -100);
    ref_backend().nll_loss(lr.view, cr.view, logp.view, target.view, 3, 4, -100);
    expect_close(lc, lr, kExact, "nll_loss all ignored");
    CHECK(std::isnan(lc.base_as<float>()[0]));
  }
  const Operand logp = make_random(DType::f32, {3, 4}, 1, -3, 0);
  Operand target = make_contiguous(DType::i64, {3}, 1);
  target.base_as<std::int64_t>()[1] = 4;
  Operand l1 = make_contiguous(DType::f32, {1}), c1 = l1, l2 = l1, c2 = l1;
  std::string cpu_msg, ref_msg;
  try { cpu_backend().nll_loss(l1.view, c1.view, logp.view, target.view, 3, 4, -100); } catch (const Error& e) { cpu_msg = e.what(); }
  try { ref_backend().nll_loss(l2.view, c2.view, logp.view, target.view, 3, 4, -100); } catch (const Error& e) { ref_msg = e.what(); }
  CHECK(!cpu_msg.empty());
  CHECK(cpu_msg == ref_msg);
}

// ================================================================================================
TEST_CASE("cpu adam_step matches the reference", "[cpu][optim]") {
  for (DType d : kFloatTypes)
    for (std::int64_t n : {1, 7, 17, 1000, 100003})
      for (bool decoupled : {false, true})
        for (double wd : {0.0, 0.01})
          for (std::int64_t step : {1, 10}) {
            AdamArgs a;
            a.lr = 1e-3;
            a.weight_decay = wd;
            a.decoupled_weight_decay = decoupled;
            a.step = step;
            Operand pc = make_random(d, {n}, 151, -1, 1), pr = pc;
            const Operand g = make_random(d, {n}, 152, -1, 1);
            Operand mc = make_random(d, {n}, 153, -0.1, 0.1), mr = mc;
            Operand vc = make_random(d, {n}, 154, 0, 0.01), vr = vc;
            cpu_backend().adam_step(pc.view, g.view, mc.view, vc.view, a);
            ref_backend().adam_step(pr.view, g.view, mr.view, vr.view, a);
            std::ostringstream w;
            w << "decoupled " << decoupled << " wd " << wd << " step " << step;
            // Same double formulas on both sides: equal up to FMA contraction, i.e. ~1 ulp.
            const Tol tol = float_or_double(d, Tol{1e-6, 1e-7});
            expect_close(pc, pr, tol, describe("adam param", d, {n}, w.str()));
            expect_close(mc, mr, tol, describe("adam exp_avg", d, {n}, w.str()));
            expect_close(vc, vr, tol, describe("adam exp_avg_sq", d, {n}, w.str()));
          }
}

TEST_CASE("cpu sgd_step matches the reference", "[cpu][optim]") {
  for (DType d : kFloatTypes)
    for (std::int64_t n : {1, 7, 17, 1000, 100003})
      for (double momentum : {0.0, 0.9})
        for (bool nesterov : {false, true})
          for (bool first : {true, false}) {
            SgdArgs a;
            a.lr = 0.05;
            a.momentum = momentum;
            a.dampening = nesterov ? 0.0 : 0.1;
            a.weight_decay = 0.01;
            a.nesterov = nesterov;
            a.first_step = first;
            Operand pc = make_random(d, {n}, 161, -1, 1), pr = pc;
            const Operand g = make_random(d, {n}, 162, -1, 1);
            Operand bc = make_random(d, {n}, 163, -0.1, 0.1), br = bc;
            KernelView bcv = bc.view, brv = br.view;
            if (momentum == 0.0) bcv.data = brv.data = nullptr;
            cpu_backend().sgd_step(pc.view, g.view, bcv, a);
            ref_backend().sgd_step(pr.view, g.view, brv, a);
            std::ostringstream w;
            w << "momentum " << momentum << " nesterov " << nesterov << " first " << first;
            const Tol tol = float_or_double(d, Tol{1e-6, 1e-7});
            expect_close(pc, pr, tol, describe("sgd param", d, {n}, w.str()));
            expect_close(bc, br, tol, describe("sgd momentum buffer", d, {n}, w.str()));
          }
}

// ================================================================================================
TEST_CASE("cpu kernels give the same bits with 1 or several threads", "[cpu][parallel]") {
  const std::int64_t rows = 256, cols = 768;
  const Operand x = make_random(DType::f32, {rows, cols}, 171, -3, 3);
  const Operand gy = make_random(DType::f32, {rows, cols}, 172, -1, 1);
  const Operand gamma = make_random(DType::f32, {cols}, 173, 0.5, 1.5), beta = make_random(DType::f32, {cols}, 174, -1, 1);
  auto run_all = [&] {
    std::vector<Operand> r;
    r.push_back(make_contiguous(DType::f32, {rows, cols}));
    cpu_backend().unary(UnaryOp::gelu_erf, r.back().view, x.view, 0);
    r.push_back(make_contiguous(DType::f32, {1}));
    cpu_backend().reduce(ReduceOp::sum, r.back().view, x.view, 1, rows * cols, 1);
    r.push_back(make_contiguous(DType::f32, {cols}));
    cpu_backend().reduce(ReduceOp::sum, r.back().view, x.view, 1, rows, cols);
    r.push_back(make_contiguous(DType::f32, {rows, cols}));
    cpu_backend().softmax(r.back().view, x.view, rows, cols, false);
    Operand y = make_contiguous(DType::f32, {rows, cols}), m = make_contiguous(DType::f32, {rows}), s = m;
    cpu_backend().layer_norm(y.view, m.view, s.view, x.view, gamma.view, beta.view, rows, cols, 1e-12);
    Operand gx = make_contiguous(DType::f32, {rows, cols}), gg = make_contiguous(DType::f32, {cols}), gb = gg;
    cpu_backend().layer_norm_backward(gx.view, gg.view, gb.view, gy.view, x.view, m.view, s.view, gamma.view, rows, cols);
    for (Operand* o : {&y, &m, &s, &gx, &gg, &gb}) r.push_back(*o);
    return r;
  };
  std::vector<Operand> one, several;
  {
    ThreadCountGuard g(1);
    one = run_all();
  }
  {
    ThreadCountGuard g(3);
    several = run_all();
  }
  REQUIRE(one.size() == several.size());
  for (std::size_t i = 0; i < one.size(); ++i)
    expect_close(several[i], one[i], kExact, "result " + std::to_string(i) + " with 3 threads vs 1");
}
