// Flash attention's kernel bodies (backends/cuda/src/flash_attention.cuh) run on the host, no GPU
// needed: an emulated Block gives every CUDA thread of a block its own std::thread, __syncthreads
// a barrier, and each warp's 16x16 tensor-core products exact float32 sums of the operands
// (tf32-rounded for float32) — warp-wide like wmma: every lane computes the fragment, lane 0
// stores it between two warp barriers. Shared memory starts as NaN bytes, so a read of anything
// not written first shows. Forward (out, lse) and backward (dQ, dK, dV) are checked against a
// float64 reference of the same rounded inputs over masks (key padding, fully masked rows,
// causal), dropout, head dims that need padding (40, 72, 100), strided head layouts and the
// three operand types; a reference with the wrong dropout stream must fail the same check.
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "flash_attention.cuh"
#include "host_expect.hpp"

using namespace tinyxf;
using namespace tinyxf::backends::cuda_detail;

namespace {


float round_tf32(float x) {  // cvt.rna.tf32.f32: nearest, ties away from zero, 10 mantissa bits
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &bits, 4);
  return x;
}

template <class S>
float operand_value(S v) {
  if constexpr (std::is_same_v<S, float>)
    return round_tf32(v);
  else
    return widen(v);
}

// What wmma's load_matrix_sync / store_matrix_sync require of their operands (CUDA C++
// Programming Guide, "Warp Matrix Functions"): a 256-bit aligned pointer and a leading dimension
// that is a multiple of 16 bytes. The GPU does not check them (a misaligned fragment is silently
// wrong), so the emulation does: counted here from any thread, reported by main.
std::atomic<int> g_wmma_misuses{0};
template <class E>
void check_wmma_operand(const E* p, int ld, const char* what) {
  const bool aligned = reinterpret_cast<std::uintptr_t>(p) % 32 == 0;
  const bool stride = (static_cast<std::size_t>(ld) * sizeof(E)) % 16 == 0;
  if ((!aligned || !stride) && g_wmma_misuses.fetch_add(1) == 0)
    std::printf("wmma %s: pointer %p (%s), leading dimension %d elements of %zu bytes (%s)\n", what,
                static_cast<const void*>(p), aligned ? "32-byte aligned" : "not 32-byte aligned", ld, sizeof(E),
                stride ? "a multiple of 16 bytes" : "not a multiple of 16 bytes");
}

struct HostBlock {
  int me;
  std::barrier<>* block;
  std::barrier<>* my_warp;  // the barrier of this thread's 32
  template <class S>
  struct Acc {
    float x[256];
  };
  int thread() const { return me; }
  int warp() const { return me / 32; }
  void sync() const { block->arrive_and_wait(); }
  void warp_sync() const { my_warp->arrive_and_wait(); }
  template <class F>
  void zero(F& c) const {
    for (float& x : c.x) x = 0.0f;
  }
  template <class F>
  void load(F& c, const float* p, int ld) const {
    check_wmma_operand(p, ld, "load_matrix_sync (accumulator)");
    for (int r = 0; r < 16; ++r)
      for (int col = 0; col < 16; ++col) c.x[r * 16 + col] = p[r * ld + col];
  }
  template <class F>
  void store(float* p, int ld, const F& c) const {
    check_wmma_operand(p, ld, "store_matrix_sync");
    warp_sync();  // every lane is done reading what lane 0 now overwrites
    if (me % 32 == 0)
      for (int r = 0; r < 16; ++r)
        for (int col = 0; col < 16; ++col) p[r * ld + col] = c.x[r * 16 + col];
    warp_sync();
  }
  template <class S, bool kATrans, bool kBTrans, class F>
  void mma(F& c, const S* a, int lda, const S* b, int ldb, int depth) const {
    // The device version loads a fragment per kMmaDepth<S> of depth from these addresses.
    for (int kk = 0; kk < depth; kk += flash::kMmaDepth<S>) {
      check_wmma_operand(flash::fragment_at<kATrans>(a, lda, kk), lda, "load_matrix_sync (matrix_a)");
      check_wmma_operand(flash::fragment_at<!kBTrans>(b, ldb, kk), ldb, "load_matrix_sync (matrix_b)");
    }
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) {
        float sum = c.x[i * 16 + j];
        for (int k = 0; k < depth; ++k)
          sum += operand_value(kATrans ? a[k * lda + i] : a[i * lda + k]) *
                 operand_value(kBTrans ? b[j * ldb + k] : b[k * ldb + j]);
        c.x[i * 16 + j] = sum;
      }
  }
};

// Runs body(block, block_index, shared) for every block, kBlockThreads threads each.
void run_blocks(std::int64_t blocks, std::size_t shared_bytes,
                const std::function<void(HostBlock&, std::int64_t, char*)>& body) {
  constexpr auto kAlign = std::align_val_t{128};
  std::unique_ptr<char, void (*)(char*)> shared(static_cast<char*>(::operator new(shared_bytes, kAlign)),
                                                [](char* p) { ::operator delete(p, kAlign); });
  for (std::int64_t b = 0; b < blocks; ++b) {
    std::memset(shared.get(), 0xff, shared_bytes);  // NaN in every float type
    std::barrier<> block(flash::kBlockThreads);
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    for (int w = 0; w < flash::kWarps; ++w) warps.push_back(std::make_unique<std::barrier<>>(32));
    std::vector<std::thread> threads;
    for (int t = 0; t < flash::kBlockThreads; ++t)
      threads.emplace_back([&, t] {
        HostBlock blk{t, &block, warps[static_cast<std::size_t>(t / 32)].get()};
        body(blk, b, shared.get());
      });
    for (auto& t : threads) t.join();
  }
}

// A [B, H, n, d] operand in its own storage: head-major or interleaved ([B, n, H, d]), rows padded.
template <class S>
struct Operand {
  std::vector<S> data;
  HeadMatrices<S> view{};
  std::int64_t B, H, n, d;
  Operand(std::int64_t B_, std::int64_t H_, std::int64_t n_, std::int64_t d_, bool interleaved, int pad)
      : B(B_), H(H_), n(n_), d(d_) {
    const std::int64_t row = interleaved ? H * (d + pad) : d + pad;
    data.assign(static_cast<std::size_t>(B * H * n * (d + pad)), narrow_to<S>(compute_t<S>(1e6f)));  // sentinel
    if (interleaved)
      view = {data.data(), n * row, d + pad, row};
    else
      view = {data.data(), H * n * row, n * row, row};
  }
  S& at(std::int64_t pair, std::int64_t i, std::int64_t c) { return view.at(pair, H)[i * view.ld + c]; }
  double get(std::int64_t pair, std::int64_t i, std::int64_t c) { return widen(at(pair, i, c)); }
  void fill(std::mt19937_64& rng, float scale) {
    std::normal_distribution<float> normal(0.0f, scale);
    for (std::int64_t t = 0; t < B * H; ++t)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < d; ++c) at(t, i, c) = narrow_to<S>(static_cast<compute_t<S>>(normal(rng)));
  }
  void clear() {  // the output's cells; the padding keeps the sentinel
    for (std::int64_t t = 0; t < B * H; ++t)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < d; ++c) at(t, i, c) = narrow_to<S>(compute_t<S>(-7.0f));
  }
  std::size_t sentinels() const {  // cells still holding the sentinel (padding)
    std::size_t k = 0;
    for (const S& v : data) k += widen(v) == widen(narrow_to<S>(compute_t<S>(1e6f)));
    return k;
  }
  HeadMatrices<const S> cview() const { return view.as_const(); }
};

struct Case {
  const char* name;
  std::int64_t B, H, L, S, E, Ev;
  bool interleaved = false;
  bool key_padding = false;    // [B, 1, 1, S] mask, some keys off per batch
  bool full_mask = false;      // [B, H, L, S] mask with fully masked rows
  bool causal = false;
  double dropout = 0.0;
};

// Relative L2 error of `got` against `want`, and the largest error as a fraction of max |want|.
struct Error {
  double rel_l2, worst;
};
Error compare(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0, worst = 0, peak = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
    worst = std::max(worst, std::abs(got[i] - want[i]));
    peak = std::max(peak, std::abs(want[i]));
  }
  return {std::sqrt(num / std::max(den, 1e-300)), worst / std::max(peak, 1e-300)};
}

template <class S>
void run_case(const Case& cs, double tolerance, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::int64_t pairs = cs.B * cs.H;
  Operand<S> q(cs.B, cs.H, cs.L, cs.E, cs.interleaved, 3), k(cs.B, cs.H, cs.S, cs.E, cs.interleaved, 0),
      v(cs.B, cs.H, cs.S, cs.Ev, false, 5), go(cs.B, cs.H, cs.L, cs.Ev, cs.interleaved, 0);
  Operand<S> out(cs.B, cs.H, cs.L, cs.Ev, false, 2), gq(cs.B, cs.H, cs.L, cs.E, cs.interleaved, 3),
      gk(cs.B, cs.H, cs.S, cs.E, false, 1), gv(cs.B, cs.H, cs.S, cs.Ev, cs.interleaved, 0);
  q.fill(rng, 1.0f);
  k.fill(rng, 1.0f);
  v.fill(rng, 1.0f);
  go.fill(rng, 1.0f);
  for (Operand<S>* o : {&out, &gq, &gk, &gv}) o->clear();
  const std::size_t out_padding = out.sentinels(), gq_padding = gq.sentinels(), gk_padding = gk.sentinels();

  std::vector<std::uint8_t> mask;
  flash::Problem<S> p;
  if (cs.key_padding) {  // batch b keeps its first S - 7 (b + 1) keys
    mask.assign(static_cast<std::size_t>(cs.B * cs.S), 1);
    for (std::int64_t b = 0; b < cs.B; ++b)
      for (std::int64_t j = std::max<std::int64_t>(0, cs.S - 7 * (b + 1)); j < cs.S; ++j) mask[b * cs.S + j] = 0;
    p.masking.mask = mask.data();
    const std::int64_t strides[4] = {cs.S, 0, 0, 1};
    std::memcpy(p.masking.strides, strides, sizeof strides);
  } else if (cs.full_mask) {  // random, with rows 3 and L - 1 of every pair fully masked
    mask.resize(static_cast<std::size_t>(pairs * cs.L * cs.S));
    for (auto& m : mask) m = rng() % 4 != 0;
    for (std::int64_t t = 0; t < pairs; ++t)
      for (std::int64_t i : {std::int64_t{3}, cs.L - 1})
        for (std::int64_t j = 0; j < cs.S; ++j) mask[(t * cs.L + i) * cs.S + j] = 0;
    p.masking.mask = mask.data();
    const std::int64_t strides[4] = {cs.H * cs.L * cs.S, cs.L * cs.S, cs.S, 1};
    std::memcpy(p.masking.strides, strides, sizeof strides);
  }
  p.masking.causal = cs.causal;
  p.masking.dropout = cs.dropout > 0;
  p.masking.dropout_p = cs.dropout;
  p.masking.seed = 1234;
  p.masking.offset = 99;
  p.masking.keep_scale = static_cast<float>(1.0 / (1.0 - cs.dropout));
  p.q = q.cview();
  p.k = k.cview();
  p.v = v.cview();
  p.grad_out = go.cview();
  p.out_w = out.view;
  p.grad_q = gq.view;
  p.grad_k = gk.view;
  p.grad_v = gv.view;
  std::vector<float> lse(static_cast<std::size_t>(pairs * cs.L), -5.0f), row_dot(lse.size(), NAN);
  p.lse = lse.data();
  p.row_dot = row_dot.data();
  p.pairs = pairs;
  p.H = cs.H;
  p.L = cs.L;
  p.S_len = cs.S;
  p.E = cs.E;
  p.Ev = cs.Ev;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cs.E)));

  const auto run = [&]<int kD>() {
    const std::size_t fb = flash::ForwardLayout<S, kD>(nullptr).bytes, bb = flash::BackwardLayout<S, kD>(nullptr).bytes;
    run_blocks(pairs * p.query_tiles(), fb,
               [&](HostBlock& blk, std::int64_t t, char* sh) { flash::forward_tile<HostBlock, S, kD>(blk, p, t, sh); });
    p.out = out.cview();
    run_blocks(pairs * p.query_tiles(), bb, [&](HostBlock& blk, std::int64_t t, char* sh) {
      flash::grad_query_tile<HostBlock, S, kD>(blk, p, t, sh);
    });
    run_blocks(pairs * p.key_tiles(), bb, [&](HostBlock& blk, std::int64_t t, char* sh) {
      flash::grad_key_value_tile<HostBlock, S, kD>(blk, p, t, sh);
    });
  };
  flash::with_tile_head_dim(cs.E, cs.Ev, run);

  // float64 reference of the composed semantics, on the same rounded inputs; `offset` picks the
  // dropout stream (the kernels used 99).
  const auto reference = [&](std::uint64_t offset, std::vector<double>& r_out, std::vector<double>& r_lse,
                             std::vector<double>& r_gq, std::vector<double>& r_gk, std::vector<double>& r_gv) {
    r_out.assign(static_cast<std::size_t>(pairs * cs.L * cs.Ev), 0);
    r_lse.assign(static_cast<std::size_t>(pairs * cs.L), 0);
    r_gq.assign(static_cast<std::size_t>(pairs * cs.L * cs.E), 0);
    r_gk.assign(static_cast<std::size_t>(pairs * cs.S * cs.E), 0);
    r_gv.assign(static_cast<std::size_t>(pairs * cs.S * cs.Ev), 0);
    std::vector<double> prob(static_cast<std::size_t>(cs.S)), mult(prob.size()), dprob(prob.size());
    std::vector<char> masked(prob.size());
    for (std::int64_t t = 0; t < pairs; ++t)
      for (std::int64_t i = 0; i < cs.L; ++i) {
        double mx = -INFINITY;
        int kept = 0;
        for (std::int64_t j = 0; j < cs.S; ++j) {
          double s = 0;
          for (std::int64_t c = 0; c < cs.E; ++c) s += q.get(t, i, c) * k.get(t, j, c);
          prob[j] = s * p.scale;
          masked[j] = p.masking.masked(t, cs.H, i, j);
          kept += !masked[j];
          if (!masked[j]) mx = std::max(mx, prob[j]);
          mult[j] = cs.dropout > 0
                        ? (kmath::dropout_keep(1234, offset + static_cast<std::uint64_t>((t * cs.L + i) * cs.S + j),
                                               cs.dropout)
                               ? 1.0 / (1.0 - cs.dropout)
                               : 0.0)
                        : 1.0;
        }
        double sum = 0;
        for (std::int64_t j = 0; j < cs.S; ++j) {
          prob[j] = kept == 0 ? 1.0 : masked[j] ? 0.0 : std::exp(prob[j] - mx);
          sum += prob[j];
        }
        for (std::int64_t j = 0; j < cs.S; ++j) prob[j] /= sum;
        r_lse[t * cs.L + i] = kept == 0 ? -FLT_MAX : mx + std::log(sum);
        for (std::int64_t c = 0; c < cs.Ev; ++c) {
          double o = 0;
          for (std::int64_t j = 0; j < cs.S; ++j) o += prob[j] * mult[j] * v.get(t, j, c);
          r_out[(t * cs.L + i) * cs.Ev + c] = o;
        }
        double dot = 0;
        for (std::int64_t j = 0; j < cs.S; ++j) {
          double d = 0;
          for (std::int64_t c = 0; c < cs.Ev; ++c) d += go.get(t, i, c) * v.get(t, j, c);
          dprob[j] = d * mult[j];
          dot += prob[j] * dprob[j];
        }
        for (std::int64_t j = 0; j < cs.S; ++j) {
          const double ds = masked[j] ? 0.0 : prob[j] * (dprob[j] - dot);
          for (std::int64_t c = 0; c < cs.E; ++c) {
            r_gq[(t * cs.L + i) * cs.E + c] += p.scale * ds * k.get(t, j, c);
            r_gk[(t * cs.S + j) * cs.E + c] += p.scale * ds * q.get(t, i, c);
          }
          for (std::int64_t c = 0; c < cs.Ev; ++c)
            r_gv[(t * cs.S + j) * cs.Ev + c] += prob[j] * mult[j] * go.get(t, i, c);
        }
      }
  };
  const auto gather = [&](Operand<S>& o) {
    std::vector<double> r;
    for (std::int64_t t = 0; t < pairs; ++t)
      for (std::int64_t i = 0; i < o.n; ++i)
        for (std::int64_t c = 0; c < o.d; ++c) r.push_back(o.get(t, i, c));
    return r;
  };
  std::vector<double> r_out, r_lse, r_gq, r_gk, r_gv;
  reference(99, r_out, r_lse, r_gq, r_gk, r_gv);
  const std::vector<double> got_out = gather(out), got_gq = gather(gq), got_gk = gather(gk), got_gv = gather(gv);
  const struct {
    const char* what;
    Error e;
  } checks[] = {{"out", compare(got_out, r_out)}, {"grad_q", compare(got_gq, r_gq)}, {"grad_k", compare(got_gk, r_gk)},
                {"grad_v", compare(got_gv, r_gv)}};
  for (const auto& c : checks) {
    std::printf("  %-28s %-7s rel L2 %.2e  worst %.2e of max\n", cs.name, c.what, c.e.rel_l2, c.e.worst);
    EXPECT(c.e.rel_l2 <= tolerance && c.e.worst <= 4 * tolerance, "%s %s: rel L2 %.3g, worst %.3g (tolerance %.3g)",
           cs.name, c.what, c.e.rel_l2, c.e.worst, tolerance);
  }
  // The scores are exact float sums of 16-bit operands; tf32 rounds float32's to 11 bits.
  const double lse_tolerance = std::is_same_v<S, float> ? 2e-3 : 1e-4;
  int lse_bad = 0;
  for (std::size_t i = 0; i < lse.size(); ++i) {
    const bool fully_masked = r_lse[i] == -FLT_MAX;
    lse_bad += fully_masked ? lse[i] != -FLT_MAX : std::abs(lse[i] - r_lse[i]) > lse_tolerance * (1 + std::abs(r_lse[i]));
  }
  EXPECT(lse_bad == 0, "%s: %d lse values off", cs.name, lse_bad);
  EXPECT(out.sentinels() == out_padding && gq.sentinels() == gq_padding && gk.sentinels() == gk_padding,
         "%s: a write outside the operands' rows and columns", cs.name);
  if (cs.dropout > 0) {  // negative control: another dropout stream must fail the same check
    reference(100, r_out, r_lse, r_gq, r_gk, r_gv);
    const Error e = compare(got_out, r_out);
    EXPECT(e.rel_l2 > tolerance, "%s: the output also matches a reference with another dropout stream", cs.name);
  }
}

}  // namespace

int main() {
  // Tolerances: bf16 rounds P∘M and dS to 8 bits for the products; f16 and tf32 to 11.
  const Case cases[] = {
      {"bf16 key padding, E=40", 2, 3, 70, 90, 40, 40, false, true},
      {"bf16 interleaved, dropout", 2, 2, 65, 64, 64, 64, true, false, false, false, 0.2},
      {"f16 full mask rows, causal", 1, 2, 64, 77, 64, 48, false, false, true, true},
      {"tf32 E=72 Ev=100, causal", 1, 2, 33, 130, 72, 100, false, false, false, true},
      {"tf32 full mask, dropout", 2, 1, 20, 70, 16, 16, true, false, true, false, 0.1},
  };
  std::printf("flash attention on the emulated block (%d threads):\n", flash::kBlockThreads);
  run_case<__nv_bfloat16>(cases[0], 2e-2, 1);
  run_case<__nv_bfloat16>(cases[1], 2e-2, 2);
  run_case<__half>(cases[2], 4e-3, 3);
  run_case<float>(cases[3], 4e-3, 4);
  run_case<float>(cases[4], 4e-3, 5);
  EXPECT(g_wmma_misuses.load() == 0, "%d wmma operands not 32-byte aligned or with a leading dimension off 16 bytes",
         g_wmma_misuses.load());
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("all flash attention checks passed\n");
  return 0;
}
