#pragma once
// Flash attention on the tensor cores (TINYXF_CUDA_ATTENTION=flash, attention.cu): the [L, S]
// score tiles of scaled-dot-product attention never leave shared memory.
//   forward  one block per (pair, 64 queries): for each 64-key tile, S = Q K^T (wmma, f32 sums),
//            online softmax per row (running max and sum, the output rescaled), O += (P∘M) V.
//   backward dQ: one block per (pair, 64 queries), which also writes D = rowsum(dO∘O);
//            dK, dV: one block per (pair, 64 keys) — no atomics, so the result is deterministic.
//            Both recompute S and dPd = dO V^T per tile, P = exp(scale S - lse), and
//            dS = P∘(dPd∘M - D), M the dropout multipliers regenerated from (seed, offset).
// The semantics are the composed kernels' (attention.cu): masked scores become float's lowest
// (so a fully masked row attends uniformly and its lse is lowest), the dropout counter of weight
// (b, h, i, j) is offset + ((b * H + h) * L + i) * S + j. Operands: bfloat16 and float16 as
// stored, float32 as tf32 (only when TF32 is allowed); head dims up to 128, zero-padded to the
// kernel's 64 or 128.
// Every kernel body is a template over its Block — the device's (threadIdx, __syncthreads, wmma)
// or the host emulation in tests/cuda/cuda_host_logic_test.cu (one std::thread per CUDA thread,
// barriers, each warp's 16x16 products computed exactly), which checks the bodies against a
// float64 reference on a machine without a GPU.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda_common.cuh"
#include "head_batches.cuh"

namespace tinyxf::backends::cuda_detail::flash {

inline constexpr int kTileRows = 64;  // queries per tile
inline constexpr int kTileCols = 64;  // keys per tile
inline constexpr int kWarps = 4;      // each owns 16 rows of a 64-row tile
inline constexpr int kBlockThreads = 32 * kWarps;
inline constexpr int kMaxHeadDim = 128;

// The MMA depth of an operand type: tf32 (float storage) multiplies 16x8 by 8x16, 16-bit 16x16 by 16x16.
template <class S>
inline constexpr int kMmaDepth = std::is_same_v<S, float> ? 8 : 16;

// Where a Block's mma(c, a, lda, b, ldb, depth) loads the fragment of depth step kk from: an
// operand whose k runs down its stored rows (A stored transposed, B row-major) or along them.
template <bool kKDownRows, class S>
__host__ __device__ const S* fragment_at(const S* p, int ld, int kk) {
  return kKDownRows ? p + kk * ld : p + kk;
}

// Row length in shared memory: 16 more bytes keep wmma's rules (ldm a multiple of 16 bytes, 16-row
// steps on 32-byte boundaries) and shift consecutive rows across the banks.
template <class T>
__host__ __device__ constexpr int padded(int n) {
  return n + 16 / static_cast<int>(sizeof(T));
}

// f.template operator()<kD>() with the padded head dim the kernels are built for: 64 or 128.
template <class F>
decltype(auto) with_tile_head_dim(std::int64_t E, std::int64_t Ev, F&& f) {
  if (std::max(E, Ev) <= 64) return f.template operator()<64>();
  return f.template operator()<128>();
}

// Shared memory carved in order, each piece on a 128-byte boundary; with a null base it only counts.
struct Carve {
  char* base;
  std::size_t used = 0;
  template <class T>
  __host__ __device__ T* take(std::size_t count) {
    used = (used + 127) & ~std::size_t{127};
    T* p = base ? reinterpret_cast<T*>(base + used) : nullptr;
    used += count * sizeof(T);
    return p;
  }
};

// What masks a weight and its dropout multiplier.
struct Masking {
  const std::uint8_t* mask = nullptr;  // [B, H, L, S] with broadcast strides; null: none
  std::int64_t strides[4] = {};
  bool causal = false;
  bool dropout = false;
  double dropout_p = 0.0;
  std::uint64_t seed = 0, offset = 0;
  float keep_scale = 1.0f;

  __host__ __device__ bool masked(std::int64_t pair, std::int64_t H, std::int64_t i, std::int64_t j) const {
    if (causal && j > i) return true;
    return mask && mask[(pair / H) * strides[0] + (pair % H) * strides[1] + i * strides[2] + j * strides[3]] == 0;
  }
  __host__ __device__ float multiplier(std::int64_t pair, std::int64_t L, std::int64_t S, std::int64_t i,
                                       std::int64_t j) const {
    if (!dropout) return 1.0f;
    const auto counter = offset + static_cast<std::uint64_t>((pair * L + i) * S + j);
    return kmath::dropout_keep(seed, counter, dropout_p) ? keep_scale : 0.0f;
  }
};

// One attention problem: [B, H, n, d] operands addressed per pair t = b * H + h (head_batches.cuh).
template <class S>
struct Problem {
  HeadMatrices<const S> q{}, k{}, v{}, out{}, grad_out{};
  HeadMatrices<S> out_w{}, grad_q{}, grad_k{}, grad_v{};
  float* lse = nullptr;      // [pairs, L]
  float* row_dot = nullptr;  // [pairs, L]: D = rowsum(dO∘O), written by dQ, read by dK/dV
  std::int64_t pairs = 0, H = 1, L = 0, S_len = 0, E = 0, Ev = 0;
  float scale = 1.0f;
  Masking masking;

  __host__ __device__ std::int64_t query_tiles() const { return (L + kTileRows - 1) / kTileRows; }
  __host__ __device__ std::int64_t key_tiles() const { return (S_len + kTileCols - 1) / kTileCols; }
};

template <class S>
__host__ __device__ inline S zero_of() {
  return narrow_to<S>(compute_t<S>(0));
}

// rows [row0, row0 + tile_rows) x cols [0, width) of a pair's matrix into dst (row stride ld, a
// 16-byte multiple, 16-byte aligned), zero beyond the matrix (rows >= n, cols >= cols).
#pragma nv_exec_check_disable  // Block methods: __device__ on the GPU, host in the emulation
template <class Block, class S>
__host__ __device__ void load_tile(Block& blk, S* dst, int ld, const HeadMatrices<const S>& src, std::int64_t pair,
                                   std::int64_t H, std::int64_t row0, std::int64_t n, std::int64_t cols, int width,
                                   int tile_rows) {
  const S* base = src.at(pair, H);
  constexpr int V = 16 / static_cast<int>(sizeof(S));
  // 16-byte loads where every row starts on a 16-byte boundary and holds whole packs (the models'
  // q, k, v: head dim 64, rows of H * 64); dst rows are padded to 16-byte multiples.
  if (cols % V == 0 && src.ld % V == 0 && reinterpret_cast<std::uintptr_t>(base) % 16 == 0) {
    const int packs = width / V;
    for (int i = blk.thread(); i < tile_rows * packs; i += kBlockThreads) {
      const int r = i / packs, c = (i % packs) * V;
      const std::int64_t row = row0 + r;
      Pack<S, V> pack;
      if (row < n && c < cols)
        pack = load_pack<V>(base + row * src.ld, c);
      else
        for (int l = 0; l < V; ++l) pack.v[l] = zero_of<S>();
      store_pack<V>(dst + r * ld, c, pack);
    }
    return;
  }
  for (int i = blk.thread(); i < tile_rows * width; i += kBlockThreads) {
    const int r = i / width, c = i % width;
    const std::int64_t row = row0 + r;
    dst[r * ld + c] = row < n && c < cols ? base[row * src.ld + c] : zero_of<S>();
  }
}

// dst rows [row0, row0 + tile_rows) (those < n), cols < cols, = factor * tile (float, row stride ld).
#pragma nv_exec_check_disable  // Block methods: __device__ on the GPU, host in the emulation
template <class Block, class S>
__host__ __device__ void store_tile(Block& blk, const HeadMatrices<S>& dst, std::int64_t pair, std::int64_t H,
                                    std::int64_t row0, std::int64_t n, std::int64_t cols, const float* tile, int ld,
                                    int tile_rows, float factor) {
  S* base = dst.at(pair, H);
  for (int i = blk.thread(); i < tile_rows * static_cast<int>(cols); i += kBlockThreads) {
    const int r = i / static_cast<int>(cols), c = i % static_cast<int>(cols);
    if (row0 + r < n) base[(row0 + r) * dst.ld + c] = narrow_to<S>(static_cast<compute_t<S>>(factor * tile[r * ld + c]));
  }
}

// ---- forward ---------------------------------------------------------------------------------------

template <class S, int kD>
struct ForwardLayout {
  static constexpr int ld_op = padded<S>(kD), ld_scores = padded<float>(kTileCols), ld_probs = padded<S>(kTileCols),
                       ld_acc = padded<float>(kD);
  S *q, *k, *v;
  float* scores;
  S* probs;  // P∘M rounded to S, the second product's operand
  float* acc;
  float *row_max, *row_sum, *row_scale;
  std::size_t bytes;
  __host__ __device__ explicit ForwardLayout(char* base) {
    Carve c{base};
    q = c.take<S>(kTileRows * ld_op);
    k = c.take<S>(kTileCols * ld_op);
    v = c.take<S>(kTileCols * ld_op);
    scores = c.take<float>(kTileRows * ld_scores);
    probs = c.take<S>(kTileRows * ld_probs);
    acc = c.take<float>(kTileRows * ld_acc);
    row_max = c.take<float>(kTileRows);
    row_sum = c.take<float>(kTileRows);
    row_scale = c.take<float>(kTileRows);
    bytes = c.used;
  }
};

// Online softmax over one key tile for query row r (thread r): scores become masked/scaled, the
// running max and sum advance, probs gets exp(score - max)∘M, row_scale the factor for the
// output accumulated so far.
template <class S, int kD>
__host__ __device__ void softmax_row(const Problem<S>& p, const ForwardLayout<S, kD>& t, std::int64_t pair,
                                     std::int64_t q0, std::int64_t k0, int r) {
  using Layout = ForwardLayout<S, kD>;
  constexpr float kLowest = -FLT_MAX;  // float's lowest
  const std::int64_t query = q0 + r;
  float* scores = t.scores + r * Layout::ld_scores;
  S* probs = t.probs + r * Layout::ld_probs;
  if (query >= p.L) {  // padding row: contributes nothing, stays 0
    for (int c = 0; c < kTileCols; ++c) probs[c] = zero_of<S>();
    t.row_scale[r] = 1.0f;
    return;
  }
  const float previous_max = t.row_max[r];
  float new_max = previous_max;
  // Row r starts at column r: the warp's 32 rows then read 32 different banks at each step.
  for (int step = 0; step < kTileCols; ++step) {
    const int c = (step + r) % kTileCols;
    const std::int64_t key = k0 + c;
    float s;
    if (key >= p.S_len)
      s = -INFINITY;  // padding key: weight 0
    else if (p.masking.masked(pair, p.H, query, key))
      s = kLowest;  // masked_fill(lowest), as the composed path: a fully masked row comes out uniform
    else
      s = p.scale * scores[c];
    scores[c] = s;
    new_max = s > new_max ? s : new_max;
  }
  // The tile has a real key, so new_max is finite; the first tile's previous_max is -inf -> 0.
  const float rescale = ::expf(previous_max - new_max);
  float sum = 0.0f;
  for (int step = 0; step < kTileCols; ++step) {
    const int c = (step + r) % kTileCols;
    const std::int64_t key = k0 + c;
    const float e = ::expf(scores[c] - new_max);
    sum += e;
    probs[c] = narrow_to<S>(key < p.S_len ? e * p.masking.multiplier(pair, p.L, p.S_len, query, key) : 0.0f);
  }
  t.row_sum[r] = t.row_sum[r] * rescale + sum;
  t.row_max[r] = new_max;
  t.row_scale[r] = rescale;
}

#pragma nv_exec_check_disable  // Block methods: __device__ on the GPU, host in the emulation
template <class Block, class S, int kD>
__host__ __device__ void forward_tile(Block& blk, const Problem<S>& p, std::int64_t tile, char* shared) {
  using Layout = ForwardLayout<S, kD>;
  using Acc = typename Block::template Acc<S>;
  const Layout t(shared);
  const std::int64_t pair = tile / p.query_tiles(), q0 = (tile % p.query_tiles()) * kTileRows;
  const int me = blk.thread(), warp = blk.warp();
  load_tile(blk, t.q, Layout::ld_op, p.q, pair, p.H, q0, p.L, p.E, kD, kTileRows);
  for (int i = me; i < kTileRows * kD; i += kBlockThreads) t.acc[(i / kD) * Layout::ld_acc + i % kD] = 0.0f;
  if (me < kTileRows) {
    t.row_max[me] = -INFINITY;
    t.row_sum[me] = 0.0f;
  }
  for (std::int64_t k0 = 0; k0 < p.S_len; k0 += kTileCols) {
    blk.sync();  // the previous tile's products are done with k, v and probs
    load_tile(blk, t.k, Layout::ld_op, p.k, pair, p.H, k0, p.S_len, p.E, kD, kTileCols);
    load_tile(blk, t.v, Layout::ld_op, p.v, pair, p.H, k0, p.S_len, p.Ev, kD, kTileCols);
    blk.sync();
    for (int n = 0; n < kTileCols / 16; ++n) {  // this warp's 16 queries x 64 keys
      Acc acc;
      blk.zero(acc);
      blk.template mma<S, false, true>(acc, t.q + 16 * warp * Layout::ld_op, Layout::ld_op,
                                       t.k + 16 * n * Layout::ld_op, Layout::ld_op, kD);
      blk.store(t.scores + 16 * warp * Layout::ld_scores + 16 * n, Layout::ld_scores, acc);
    }
    blk.sync();
    if (me < kTileRows) softmax_row<S, kD>(p, t, pair, q0, k0, me);
    blk.sync();
    for (int i = me; i < kTileRows * kD; i += kBlockThreads)
      t.acc[(i / kD) * Layout::ld_acc + i % kD] *= t.row_scale[i / kD];
    blk.sync();
    for (int n = 0; n < kD / 16; ++n) {  // this warp's 16 queries of O += (P∘M) V
      Acc acc;
      float* o = t.acc + 16 * warp * Layout::ld_acc + 16 * n;
      blk.load(acc, o, Layout::ld_acc);
      blk.template mma<S, false, false>(acc, t.probs + 16 * warp * Layout::ld_probs, Layout::ld_probs, t.v + 16 * n,
                                        Layout::ld_op, kTileCols);
      blk.store(o, Layout::ld_acc, acc);
    }
  }
  blk.sync();
  if (me < kTileRows) t.row_scale[me] = q0 + me < p.L ? 1.0f / t.row_sum[me] : 0.0f;
  blk.sync();
  for (int i = me; i < kTileRows * kD; i += kBlockThreads)
    t.acc[(i / kD) * Layout::ld_acc + i % kD] *= t.row_scale[i / kD];
  blk.sync();
  store_tile(blk, p.out_w, pair, p.H, q0, p.L, p.Ev, t.acc, Layout::ld_acc, kTileRows, 1.0f);
  // A fully masked row: lowest + log(S) rounds to lowest, the composed path's marker.
  if (me < kTileRows && q0 + me < p.L) p.lse[pair * p.L + q0 + me] = t.row_max[me] + ::logf(t.row_sum[me]);
}

// ---- backward --------------------------------------------------------------------------------------

template <class S, int kD>
struct BackwardLayout {
  static constexpr int ld_op = padded<S>(kD), ld_scores = padded<float>(kTileCols), ld_probs = padded<S>(kTileCols),
                       ld_acc = padded<float>(kD);
  S *q, *grad_out, *k, *v;
  float *scores, *grad_probs;  // S and dPd = dO V^T; together they also stage an accumulator
  S *probs, *score_grads;      // P∘M and dS rounded to S
  float *row_lse, *row_dot;
  std::size_t bytes;
  __host__ __device__ explicit BackwardLayout(char* base) {
    static_assert(kTileRows * padded<float>(kD) <= 2 * kTileRows * padded<float>(kTileCols) &&
                  kTileCols == kTileRows);
    Carve c{base};
    q = c.take<S>(kTileRows * ld_op);
    grad_out = c.take<S>(kTileRows * ld_op);
    k = c.take<S>(kTileCols * ld_op);
    v = c.take<S>(kTileCols * ld_op);
    scores = c.take<float>(2 * kTileRows * ld_scores);  // 128-byte multiple: grad_probs follows directly
    grad_probs = scores ? scores + kTileRows * ld_scores : nullptr;
    probs = c.take<S>(kTileRows * ld_probs);
    score_grads = c.take<S>(kTileRows * ld_probs);
    row_lse = c.take<float>(kTileRows);
    row_dot = c.take<float>(kTileRows);
    bytes = c.used;
  }
  __host__ __device__ float* staging() const { return scores; }  // kTileRows x ld_acc floats
};

// P∘M and dS of weight (query, key) from the raw score s = q.k, dPd = dO.v, the row's lse and D.
struct WeightGrads {
  float dropped_prob, score_grad;
};
template <class S>
__host__ __device__ WeightGrads weight_grads(const Problem<S>& p, std::int64_t pair, std::int64_t query,
                                             std::int64_t key, float score, float grad_prob, float lse,
                                             float row_dot) {
  if (query >= p.L || key >= p.S_len) return {0.0f, 0.0f};
  const float m = p.masking.multiplier(pair, p.L, p.S_len, query, key);
  if (lse == -FLT_MAX)  // fully masked row: uniform, every score constant
    return {m / static_cast<float>(p.S_len), 0.0f};
  if (p.masking.masked(pair, p.H, query, key)) return {0.0f, 0.0f};
  const float prob = ::expf(p.scale * score - lse);
  return {prob * m, prob * (grad_prob * m - row_dot)};
}

// Q and dO rows [q0, q0 + 64) (queries) or K and V rows [k0, k0 + 64) (keys) into shared memory.
#pragma nv_exec_check_disable  // Block methods: __device__ on the GPU, host in the emulation
template <class Block, class S, int kD>
__host__ __device__ void load_queries(Block& blk, const BackwardLayout<S, kD>& t, const Problem<S>& p,
                                      std::int64_t pair, std::int64_t q0) {
  using Layout = BackwardLayout<S, kD>;
  load_tile(blk, t.q, Layout::ld_op, p.q, pair, p.H, q0, p.L, p.E, kD, kTileRows);
  load_tile(blk, t.grad_out, Layout::ld_op, p.grad_out, pair, p.H, q0, p.L, p.Ev, kD, kTileRows);
}
#pragma nv_exec_check_disable
template <class Block, class S, int kD>
__host__ __device__ void load_keys(Block& blk, const BackwardLayout<S, kD>& t, const Problem<S>& p,
                                   std::int64_t pair, std::int64_t k0) {
  using Layout = BackwardLayout<S, kD>;
  load_tile(blk, t.k, Layout::ld_op, p.k, pair, p.H, k0, p.S_len, p.E, kD, kTileCols);
  load_tile(blk, t.v, Layout::ld_op, p.v, pair, p.H, k0, p.S_len, p.Ev, kD, kTileCols);
}

// With Q, dO, K, V and the rows' lse and D in shared memory: S = Q K^T and dPd = dO V^T (each
// warp 16 queries x 64 keys), then every weight's dS (and P∘M when want_probs) rounded to S.
#pragma nv_exec_check_disable
template <class Block, class S, int kD>
__host__ __device__ void weight_tile(Block& blk, const Problem<S>& p, const BackwardLayout<S, kD>& t,
                                     std::int64_t pair, std::int64_t q0, std::int64_t k0, bool want_probs) {
  using Layout = BackwardLayout<S, kD>;
  using Acc = typename Block::template Acc<S>;
  const int warp = blk.warp();
  for (int n = 0; n < kTileCols / 16; ++n) {
    Acc acc;
    blk.zero(acc);
    blk.template mma<S, false, true>(acc, t.q + 16 * warp * Layout::ld_op, Layout::ld_op, t.k + 16 * n * Layout::ld_op,
                                     Layout::ld_op, kD);
    blk.store(t.scores + 16 * warp * Layout::ld_scores + 16 * n, Layout::ld_scores, acc);
    blk.zero(acc);
    blk.template mma<S, false, true>(acc, t.grad_out + 16 * warp * Layout::ld_op, Layout::ld_op,
                                     t.v + 16 * n * Layout::ld_op, Layout::ld_op, kD);
    blk.store(t.grad_probs + 16 * warp * Layout::ld_scores + 16 * n, Layout::ld_scores, acc);
  }
  blk.sync();
  for (int i = blk.thread(); i < kTileRows * kTileCols; i += kBlockThreads) {
    const int r = i / kTileCols, c = i % kTileCols;
    const WeightGrads w = weight_grads(p, pair, q0 + r, k0 + c, t.scores[r * Layout::ld_scores + c],
                                       t.grad_probs[r * Layout::ld_scores + c], t.row_lse[r], t.row_dot[r]);
    if (want_probs) t.probs[r * Layout::ld_probs + c] = narrow_to<S>(w.dropped_prob);
    t.score_grads[r * Layout::ld_probs + c] = narrow_to<S>(w.score_grad);
  }
  blk.sync();
}

// rows [row0, row0 + 64) of dst (those < n, columns < cols) = factor * the accumulators (each warp
// its 16 rows), through the staging area.
#pragma nv_exec_check_disable
template <class Block, class S, int kD, class Acc>
__host__ __device__ void store_accumulators(Block& blk, const BackwardLayout<S, kD>& t, const Acc (&acc)[kD / 16],
                                            const HeadMatrices<S>& dst, std::int64_t pair, std::int64_t H,
                                            std::int64_t row0, std::int64_t n, std::int64_t cols, float factor) {
  using Layout = BackwardLayout<S, kD>;
  blk.sync();  // every product is done with the tiles the staging area overlays
  for (int j = 0; j < kD / 16; ++j)
    blk.store(t.staging() + 16 * blk.warp() * Layout::ld_acc + 16 * j, Layout::ld_acc, acc[j]);
  blk.sync();
  store_tile(blk, dst, pair, H, row0, n, cols, t.staging(), Layout::ld_acc, kTileRows, factor);
}

// dQ for one (pair, 64 queries); also D = rowsum(dO∘O) of those rows into p.row_dot.
#pragma nv_exec_check_disable
template <class Block, class S, int kD>
__host__ __device__ void grad_query_tile(Block& blk, const Problem<S>& p, std::int64_t tile, char* shared) {
  using Layout = BackwardLayout<S, kD>;
  using Acc = typename Block::template Acc<S>;
  const Layout t(shared);
  const std::int64_t pair = tile / p.query_tiles(), q0 = (tile % p.query_tiles()) * kTileRows;
  const int me = blk.thread(), warp = blk.warp();
  load_queries(blk, t, p, pair, q0);
  if (me < kTileRows) {
    const std::int64_t query = q0 + me;
    float dot = 0.0f, lse = 0.0f;
    if (query < p.L) {
      const S* o = p.out.at(pair, p.H) + query * p.out.ld;
      const S* go = p.grad_out.at(pair, p.H) + query * p.grad_out.ld;
      for (std::int64_t c = 0; c < p.Ev; ++c) dot += static_cast<float>(widen(o[c])) * static_cast<float>(widen(go[c]));
      lse = p.lse[pair * p.L + query];
      p.row_dot[pair * p.L + query] = dot;
    }
    t.row_dot[me] = dot;
    t.row_lse[me] = lse;
  }
  Acc grad[kD / 16];
  for (auto& g : grad) blk.zero(g);
  for (std::int64_t k0 = 0; k0 < p.S_len; k0 += kTileCols) {
    blk.sync();  // the previous tile's dQ product is done with k and score_grads
    load_keys(blk, t, p, pair, k0);
    blk.sync();
    weight_tile<Block, S, kD>(blk, p, t, pair, q0, k0, false);
    for (int n = 0; n < kD / 16; ++n)  // dQ += dS K for this warp's 16 queries
      blk.template mma<S, false, false>(grad[n], t.score_grads + 16 * warp * Layout::ld_probs, Layout::ld_probs,
                                        t.k + 16 * n, Layout::ld_op, kTileCols);
  }
  store_accumulators(blk, t, grad, p.grad_q, pair, p.H, q0, p.L, p.E, p.scale);
}

// dK and dV for one (pair, 64 keys), after grad_query_tile wrote D for every query.
#pragma nv_exec_check_disable
template <class Block, class S, int kD>
__host__ __device__ void grad_key_value_tile(Block& blk, const Problem<S>& p, std::int64_t tile, char* shared) {
  using Layout = BackwardLayout<S, kD>;
  using Acc = typename Block::template Acc<S>;
  const Layout t(shared);
  const std::int64_t pair = tile / p.key_tiles(), k0 = (tile % p.key_tiles()) * kTileCols;
  const int me = blk.thread(), warp = blk.warp();
  load_keys(blk, t, p, pair, k0);
  Acc grad_k[kD / 16], grad_v[kD / 16];
  for (int n = 0; n < kD / 16; ++n) {
    blk.zero(grad_k[n]);
    blk.zero(grad_v[n]);
  }
  for (std::int64_t q0 = 0; q0 < p.L; q0 += kTileRows) {
    blk.sync();  // the previous tile's products are done with q, grad_out, probs, score_grads
    load_queries(blk, t, p, pair, q0);
    if (me < kTileRows) {
      const bool real = q0 + me < p.L;
      t.row_lse[me] = real ? p.lse[pair * p.L + q0 + me] : 0.0f;
      t.row_dot[me] = real ? p.row_dot[pair * p.L + q0 + me] : 0.0f;
    }
    blk.sync();
    weight_tile<Block, S, kD>(blk, p, t, pair, q0, k0, true);
    for (int n = 0; n < kD / 16; ++n) {  // this warp's 16 keys: dV += (P∘M)^T dO, dK += dS^T Q
      blk.template mma<S, true, false>(grad_v[n], t.probs + 16 * warp, Layout::ld_probs, t.grad_out + 16 * n,
                                       Layout::ld_op, kTileRows);
      blk.template mma<S, true, false>(grad_k[n], t.score_grads + 16 * warp, Layout::ld_probs, t.q + 16 * n,
                                       Layout::ld_op, kTileRows);
    }
  }
  store_accumulators(blk, t, grad_v, p.grad_v, pair, p.H, k0, p.S_len, p.Ev, 1.0f);
  store_accumulators(blk, t, grad_k, p.grad_k, pair, p.H, k0, p.S_len, p.E, p.scale);
}

}  // namespace tinyxf::backends::cuda_detail::flash
