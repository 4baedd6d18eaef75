#pragma once
// The elementwise functors that have a packed form (cuda_common.cuh: kPack, pack<V>, launched by
// launch_strided / launch_contiguous): every method is __host__ __device__, so
// tinyxf_cuda_host_logic_test runs each functor's packs against its scalar operator() on the host,
// bit for bit, for the lane order, the tails and the bias column / dropout counter of each lane.
// Elementwise functors over a storage type S compute in compute_t<S> (16-bit floats in float).
#include "cuda_common.cuh"

namespace tinyxf::backends::cuda_detail {

// out[i + l] = f(l, in[i + l]...) for the V lanes of one pack, lanes in order: one 16-byte (or
// narrower) load per input, one store.
template <int V, class O, class F, class... P>
__host__ __device__ __forceinline__ void map_lanes(O* out, std::int64_t i, F&& f, const P&... packs) {
  Pack<O, V> r;
  for (int l = 0; l < V; ++l) r.v[l] = f(l, packs.v[l]...);
  store_pack<V>(out, i, r);
}
template <int V, class O, class F, class... I>
__host__ __device__ __forceinline__ void map_pack(O* out, std::int64_t i, F&& f, const I*... in) {
  map_lanes<V>(out, i, f, load_pack<V>(in, i)...);
}

template <class T>
struct FillFn {
  static constexpr int kPack = pack_width<T>;
  T* out;
  T value;
  __host__ __device__ void operator()(const std::int64_t (&o)[1]) const { out[o[0]] = value; }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [&](int) { return value; });
  }
};

// float32 <-> bfloat16/float16 (autocast's casts): one float conversion, no switch per element.
template <class O, class I>
struct CastFn {
  static constexpr int kPack = 4;  // float32 <-> 16-bit: 16 bytes of float32
  O* out;
  const I* in;
  __host__ __device__ static O convert(I x) {
    if constexpr (std::is_same_v<O, float>)
      return widen(x);
    else
      return narrow_to<O>(x);
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[2]) const { out[o[0]] = convert(in[o[1]]); }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [](int, I x) { return convert(x); }, in);
  }
};

template <class S>
struct UnaryFn {
  static constexpr int kPack = pack_width<S>;
  S* out;
  const S* in;
  UnaryOp op;
  double alpha;
  __host__ __device__ S apply(S x) const { return narrow_to<S>(kmath::apply_unary<compute_t<S>>(op, widen(x), alpha)); }
  __host__ __device__ void operator()(const std::int64_t (&o)[2]) const { out[o[0]] = apply(in[o[1]]); }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [&](int, S x) { return apply(x); }, in);
  }
};

template <class S>
struct UnaryBackwardFn {
  static constexpr int kPack = pack_width<S>;
  S* grad_in;
  const S* grad_out;
  const S* in;
  const S* out;  // may be null: the derivative then gets y = 0 (ops that need y always pass it)
  UnaryOp op;
  double alpha;
  __host__ __device__ S apply(S g, S x, compute_t<S> y) const {
    return narrow_to<S>(kmath::apply_unary_backward<compute_t<S>>(op, widen(g), widen(x), y, alpha));
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[4]) const {
    grad_in[o[0]] = apply(grad_out[o[1]], in[o[2]], out ? widen(out[o[3]]) : compute_t<S>(0));
  }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    if (out)
      map_pack<V>(grad_in, i, [&](int, S g, S x, S y) { return apply(g, x, widen(y)); }, grad_out, in, out);
    else
      map_pack<V>(grad_in, i, [&](int, S g, S x) { return apply(g, x, compute_t<S>(0)); }, grad_out, in);
  }
};

// The result in the operands' own dtype (arithmetic; comparisons that write another dtype use
// BinaryFn): no per-element dtype switch, and packs.
template <class S>
struct BinarySameFn {
  static constexpr int kPack = pack_width<S>;
  S* out;
  const S* a;
  const S* b;
  BinaryOp op;
  __host__ __device__ S apply(S x, S y) const {
    return narrow_to<S>(kmath::apply_binary<compute_t<S>>(op, widen(x), widen(y)));
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[3]) const { out[o[0]] = apply(a[o[1]], b[o[2]]); }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [&](int, S x, S y) { return apply(x, y); }, a, b);
  }
};

template <class T>
struct WhereFn {
  static constexpr int kPack = pack_width<T>;
  T* out;
  const std::uint8_t* cond;
  const T* a;
  const T* b;
  __host__ __device__ void operator()(const std::int64_t (&o)[4]) const {
    out[o[0]] = cond[o[1]] ? a[o[2]] : b[o[3]];
  }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [](int, std::uint8_t c, T x, T y) { return c ? x : y; }, cond, a, b);
  }
};

// ---- dropout ---------------------------------------------------------------------------------------
// out[i] = in[i] * (keep ? 1/(1-p) : 0): a multiplication by the mask value, as the cpu kernel and
// the composed `x * mask` do (so a NaN input stays NaN where dropped). S is the storage type
// (16-bit floats compute in float). The views are contiguous, so offset o[0] is the element index
// that numbers its mask counter; launch_contiguous runs it in 16-byte packs where aligned.
template <class S>
struct DropoutFn {
  static constexpr int kPack = pack_width<S>;
  S* out;
  const S* in;
  double p;
  std::uint64_t seed, offset;
  compute_t<S> keep_scale;
  __host__ __device__ S apply(S x, std::int64_t i) const {
    const bool keep = kmath::dropout_keep(seed, offset + static_cast<std::uint64_t>(i), p);
    return narrow_to<S>(widen(x) * (keep ? keep_scale : compute_t<S>(0)));
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[2]) const { out[o[0]] = apply(in[o[1]], o[0]); }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    map_pack<V>(out, i, [&](int l, S x) { return apply(x, i + l); }, in);
  }
};

// ---- bias + gelu -----------------------------------------------------------------------------------
// s = in + bias rounded to the storage type S, as `in + bias` stores it; gelu in compute_t<S>.
// Over the contiguous [rows, cols] views (offset o[0] = element index); a pack of V elements takes
// one division for its first column and steps the rest (a row may end inside the pack).
template <class S>
__host__ __device__ __forceinline__ compute_t<S> biased(S x, const S* bias, std::int64_t c) {
  return widen(narrow_to<S>(widen(x) + widen(bias[c])));
}
__host__ __device__ __forceinline__ std::int64_t next_column(std::int64_t c, std::int64_t cols) {
  return c + 1 == cols ? 0 : c + 1;
}

template <class Gelu, class S>
struct BiasGeluFn {
  static constexpr int kPack = pack_width<S>;
  S* out;
  const S* in;
  const S* bias;
  std::int64_t cols;
  __host__ __device__ S apply(S x, std::int64_t c) const {
    using C = compute_t<S>;
    return narrow_to<S>(Gelu::template fwd<C>(biased(x, bias, c), C(0)));
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[2]) const { out[o[0]] = apply(in[o[1]], o[0] % cols); }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    std::int64_t col = i % cols;  // lanes run in order: each steps to the next column
    map_pack<V>(out, i, [&](int, S x) {
      const S r = apply(x, col);
      col = next_column(col, cols);
      return r;
    }, in);
  }
};

template <class Gelu, class S>
struct BiasGeluBackwardFn {
  static constexpr int kPack = pack_width<S>;
  S* grad_in;
  const S* grad_out;
  const S* in;
  const S* bias;
  std::int64_t cols;
  __host__ __device__ S apply(S g, S x, std::int64_t c) const {
    using C = compute_t<S>;
    return narrow_to<S>(Gelu::template bwd<C>(widen(g), biased(x, bias, c), C(0), C(0)));
  }
  __host__ __device__ void operator()(const std::int64_t (&o)[3]) const {
    grad_in[o[0]] = apply(grad_out[o[1]], in[o[2]], o[0] % cols);
  }
  template <int V>
  __host__ __device__ void pack(std::int64_t i) const {
    std::int64_t col = i % cols;
    map_pack<V>(grad_in, i, [&](int, S g, S x) {
      const S r = apply(g, x, col);
      col = next_column(col, cols);
      return r;
    }, grad_out, in);
  }
};

}  // namespace tinyxf::backends::cuda_detail
