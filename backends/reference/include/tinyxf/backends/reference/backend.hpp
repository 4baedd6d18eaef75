#pragma once
// The reference backend's class: plain scalar loops over strided views, every accumulation in double,
// written to be obviously correct rather than fast. It is the oracle that the conformance suite
// compares every other backend against. Device: Device::reference(). <tinyxf/backends/reference.hpp>
// registers it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tinyxf/core/backend.hpp"
#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/backend/sort_line.hpp"
#include "tinyxf/backend/strided.hpp"
#include "tinyxf/backends/host_memory.hpp"
#include "tinyxf/backends/reference/attention.hpp"

namespace tinyxf::backends {

class ReferenceBackend : public Backend {
  // fn(coordinates, index value) for every position of a contiguous int64 index, in row-major order.
  template <class Fn>
  static void for_each_index_position(const KernelView& index, Fn&& fn) {
    std::array<std::int64_t, kMaxDims> coord{};
    for (std::int64_t k = 0, n = index.numel(); k < n; ++k) {
      for (std::int64_t d = index.ndim - 1, rest = k; d >= 0; --d) {
        coord[d] = rest % index.shape[d];
        rest /= index.shape[d];
      }
      fn(coord, index.ptr<std::int64_t>()[k]);
    }
  }
  // The element offset in `v` of `coord` with coordinate `dim` replaced by `at`.
  static std::int64_t offset_at(const KernelView& v, const std::array<std::int64_t, kMaxDims>& coord, int dim,
                                std::int64_t at) {
    std::int64_t off = 0;
    for (int d = 0; d < v.ndim; ++d) off += (d == dim ? at : coord[d]) * v.strides[d];
    return off;
  }

 public:
  std::string_view name() const override { return "reference"; }
  DeviceType device_type() const override { return DeviceType::reference; }
  bool host_accessible() const override { return true; }

  std::shared_ptr<void> allocate(std::size_t bytes, int) override {
    return host::allocate_aligned(bytes);
  }
  void copy_from_host(void* dst, const void* src, std::size_t n, int) override {
    host::copy_bytes(dst, src, n);
  }
  void copy_to_host(void* dst, const void* src, std::size_t n, int) override {
    host::copy_bytes(dst, src, n);
  }

  void fill(const KernelView& out, double value) override { strided::fill_any(out, value); }

  void copy(const KernelView& out, const KernelView& in) override { strided::convert_copy(out, in); }

  void unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) override {
    dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
      strided::for_each<2>({&out, &in}, [&](auto o) {
        if constexpr (FloatElement<T>) {
          out.ptr<T>()[o[0]] = static_cast<T>(
              kmath::apply_unary<double>(op, static_cast<double>(in.ptr<T>()[o[1]]), alpha));
        } else {
          out.ptr<T>()[o[0]] = kmath::apply_unary<T>(op, in.ptr<T>()[o[1]], alpha);
        }
      });
    });
  }

  void unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                      const KernelView& in, const KernelView& out, double alpha) override {
    dispatch_floating(grad_in.dtype, "unary_backward", [&]<class T>(type_tag<T>) {
      strided::for_each<4>({&grad_in, &grad_out, &in, &out}, [&](auto o) {
        const double x = in.ptr<T>()[o[2]];
        const double y = out.data ? static_cast<double>(out.ptr<T>()[o[3]]) : 0.0;
        grad_in.ptr<T>()[o[0]] = static_cast<T>(kmath::apply_unary_backward<double>(
            op, static_cast<double>(grad_out.ptr<T>()[o[1]]), x, y, alpha));
      });
    });
  }

  void binary(BinaryOp op, const KernelView& out, const KernelView& a,
              const KernelView& b) override {
    dispatch_dtype(a.dtype, [&]<class T>(type_tag<T>) {
      dispatch_dtype(out.dtype, [&]<class O>(type_tag<O>) {
        strided::for_each<3>({&out, &a, &b}, [&](auto o) {
          const T x = a.ptr<T>()[o[1]], y = b.ptr<T>()[o[2]];
          if constexpr (FloatElement<T>) {
            out.ptr<O>()[o[0]] = static_cast<O>(kmath::apply_binary<double>(op, x, y));
          } else {
            out.ptr<O>()[o[0]] = static_cast<O>(kmath::apply_binary<T>(op, x, y));
          }
        });
      });
    });
  }

  void where(const KernelView& out, const KernelView& cond, const KernelView& a,
             const KernelView& b) override {
    dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
      strided::for_each<4>({&out, &cond, &a, &b}, [&](auto o) {
        out.ptr<T>()[o[0]] = cond.ptr<std::uint8_t>()[o[1]] ? a.ptr<T>()[o[2]] : b.ptr<T>()[o[3]];
      });
    });
  }

  void random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
              std::uint64_t offset) override {
    dispatch_floating(out.dtype, "random", [&]<class T>(type_tag<T>) {
      T* p = out.ptr<T>();
      const std::int64_t n = out.numel();
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint64_t c = offset + static_cast<std::uint64_t>(i);
        double v = 0;
        switch (kind) {
          case RandomKind::uniform: v = a + (b - a) * kmath::uniform01(seed, c); break;
          case RandomKind::normal: v = a + b * kmath::standard_normal(seed, c); break;
          case RandomKind::bernoulli_scaled:
            v = kmath::dropout_keep(seed, c, a) ? 1.0 / (1.0 - a) : 0.0;
            break;
        }
        p[i] = static_cast<T>(v);
      }
    });
  }

  void reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
              std::int64_t reduced, std::int64_t inner) override {
    dispatch_dtype(in.dtype, [&]<class T>(type_tag<T>) {
      const T* x = in.ptr<T>();
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t i = 0; i < inner; ++i) {
          const T* col = x + o * reduced * inner + i;
          const std::int64_t dst = o * inner + i;
          if (op == ReduceOp::sum || op == ReduceOp::mean) {
            double acc = 0;
            for (std::int64_t r = 0; r < reduced; ++r) acc += static_cast<double>(col[r * inner]);
            if (op == ReduceOp::mean) acc /= static_cast<double>(reduced);
            store(out, dst, acc);
          } else {
            const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
            std::int64_t best = 0;
            for (std::int64_t r = 1; r < reduced; ++r) {
              const T v = col[r * inner], cur = col[best * inner];
              if (cur != cur) break;  // NaN wins, first occurrence
              if (v != v || (want_max ? v > cur : v < cur)) best = r;
            }
            if (op == ReduceOp::argmax || op == ReduceOp::argmin)
              out.ptr<std::int64_t>()[dst] = best;
            else
              out.ptr<T>()[dst] = col[best * inner];
          }
        }
    });
  }

  // float32/float64 in float64; bfloat16/float16 operands (the oracle of the cpu backend's bf16
  // GEMM) read as their exact values, also summed in float64, with C of their dtype or float32
  // (rounded once; a 16-bit C through float32).
  void gemm(const GemmArgs& g) override {
    const DType out = g.c_dtype();
    if (!is_reduced_floating_point(g.dtype)) dispatch_floating(g.dtype, "gemm", [](auto) {});
    TINYXF_CHECK_AS(DTypeError, out == g.dtype || (is_reduced_floating_point(g.dtype) && out == kFloat32), "gemm: ",
                    dtype_name(g.dtype), " operands cannot give a ", dtype_name(out), " result");
    dispatch_storage_dtype(g.dtype, [&]<class S>(type_tag<S>) {
      if (out == g.dtype) gemm_typed<S, S>(g);
      else gemm_typed<S, float>(g);
    });
  }

  template <class S, class C>
  static void gemm_typed(const GemmArgs& g) {
    const S* A = static_cast<const S*>(g.a);
    const S* B = static_cast<const S*>(g.b);
    C* Cp = static_cast<C*>(g.c);
    for (std::int64_t bt = 0; bt < g.batch; ++bt)
      for (std::int64_t i = 0; i < g.m; ++i)
        for (std::int64_t j = 0; j < g.n; ++j) {
          double acc = 0;
          for (std::int64_t p = 0; p < g.k; ++p) {
            const S av = g.trans_a ? A[bt * g.stride_a + p * g.lda + i] : A[bt * g.stride_a + i * g.lda + p];
            const S bv = g.trans_b ? B[bt * g.stride_b + j * g.ldb + p] : B[bt * g.stride_b + p * g.ldb + j];
            acc += convert_element<double>(av) * convert_element<double>(bv);
          }
          C& c = Cp[bt * g.stride_c + i * g.ldc + j];
          const double prev = g.beta == 0.0 ? 0.0 : g.beta * convert_element<double>(c);
          c = convert_element<C>(g.alpha * acc + prev);
        }
  }

  void softmax(const KernelView& out, const KernelView& in, std::int64_t rows, std::int64_t cols,
               bool log) override {
    dispatch_floating(in.dtype, "softmax", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* x = in.ptr<T>() + r * cols;
        T* y = out.ptr<T>() + r * cols;
        double mx = -std::numeric_limits<double>::infinity();
        for (std::int64_t c = 0; c < cols; ++c) mx = std::max(mx, static_cast<double>(x[c]));
        double sum = 0;
        for (std::int64_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(x[c]) - mx);
        for (std::int64_t c = 0; c < cols; ++c) {
          const double z = static_cast<double>(x[c]) - mx;
          y[c] = static_cast<T>(log ? z - std::log(sum) : std::exp(z) / sum);
        }
      }
    });
  }

  void softmax_backward(const KernelView& grad_in, const KernelView& grad_out,
                        const KernelView& out, std::int64_t rows, std::int64_t cols,
                        bool log) override {
    dispatch_floating(out.dtype, "softmax_backward", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* y = out.ptr<T>() + r * cols;
        const T* gy = grad_out.ptr<T>() + r * cols;
        T* gx = grad_in.ptr<T>() + r * cols;
        double dot = 0;
        for (std::int64_t c = 0; c < cols; ++c)
          dot += log ? static_cast<double>(gy[c])
                     : static_cast<double>(gy[c]) * static_cast<double>(y[c]);
        for (std::int64_t c = 0; c < cols; ++c) {
          const double yc = y[c], g = gy[c];
          gx[c] = static_cast<T>(log ? g - std::exp(yc) * dot : yc * (g - dot));
        }
      }
    });
  }

  void layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd,
                  const KernelView& in, const KernelView& gamma, const KernelView& beta,
                  std::int64_t rows, std::int64_t cols, double eps) override {
    dispatch_floating(in.dtype, "layer_norm", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* x = in.ptr<T>() + r * cols;
        T* y = out.ptr<T>() + r * cols;
        double mu = 0;
        for (std::int64_t c = 0; c < cols; ++c) mu += x[c];
        mu /= static_cast<double>(cols);
        double var = 0;
        for (std::int64_t c = 0; c < cols; ++c) var += (x[c] - mu) * (x[c] - mu);
        var /= static_cast<double>(cols);
        const double rs = 1.0 / std::sqrt(var + eps);
        mean.ptr<T>()[r] = static_cast<T>(mu);
        rstd.ptr<T>()[r] = static_cast<T>(rs);
        for (std::int64_t c = 0; c < cols; ++c) {
          double v = (x[c] - mu) * rs;
          if (gamma.data) v *= static_cast<double>(gamma.ptr<T>()[c]);
          if (beta.data) v += static_cast<double>(beta.ptr<T>()[c]);
          y[c] = static_cast<T>(v);
        }
      }
    });
  }

  void layer_norm_backward(const KernelView& grad_in, const KernelView& grad_gamma,
                           const KernelView& grad_beta, const KernelView& grad_out,
                           const KernelView& in, const KernelView& mean, const KernelView& rstd,
                           const KernelView& gamma, std::int64_t rows,
                           std::int64_t cols) override {
    dispatch_floating(in.dtype, "layer_norm_backward", [&]<class T>(type_tag<T>) {
      std::vector<double> dg(static_cast<std::size_t>(cols), 0.0), db(dg);
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* x = in.ptr<T>() + r * cols;
        const T* gy = grad_out.ptr<T>() + r * cols;
        const double mu = mean.ptr<T>()[r], rs = rstd.ptr<T>()[r];
        double sum_g = 0, sum_gx = 0;  // over g * gamma and g * gamma * xhat
        for (std::int64_t c = 0; c < cols; ++c) {
          const double xhat = (x[c] - mu) * rs;
          const double g = static_cast<double>(gy[c]) *
                           (gamma.data ? static_cast<double>(gamma.ptr<T>()[c]) : 1.0);
          sum_g += g;
          sum_gx += g * xhat;
          dg[static_cast<std::size_t>(c)] += static_cast<double>(gy[c]) * xhat;
          db[static_cast<std::size_t>(c)] += static_cast<double>(gy[c]);
        }
        if (grad_in.data) {
          T* gx = grad_in.ptr<T>() + r * cols;
          const double n = static_cast<double>(cols);
          for (std::int64_t c = 0; c < cols; ++c) {
            const double xhat = (x[c] - mu) * rs;
            const double g = static_cast<double>(gy[c]) *
                             (gamma.data ? static_cast<double>(gamma.ptr<T>()[c]) : 1.0);
            gx[c] = static_cast<T>(rs * (g - sum_g / n - xhat * sum_gx / n));
          }
        }
      }
      for (std::int64_t c = 0; c < cols; ++c) {
        if (grad_gamma.data) grad_gamma.ptr<T>()[c] = static_cast<T>(dg[static_cast<std::size_t>(c)]);
        if (grad_beta.data) grad_beta.ptr<T>()[c] = static_cast<T>(db[static_cast<std::size_t>(c)]);
      }
    });
  }

  void index_select(const KernelView& out, const KernelView& in, const KernelView& index,
                    std::int64_t outer, std::int64_t n_src, std::int64_t inner) override {
    const std::int64_t n_index = index.numel();
    const std::int64_t* idx = index.ptr<std::int64_t>();
    for (std::int64_t j = 0; j < n_index; ++j)
      TINYXF_CHECK(idx[j] >= 0 && idx[j] < n_src, "index_select: index ", idx[j],
                   " at position ", j, " is out of range for a dimension of size ", n_src);
    dispatch_element_bits(in.dtype, [&]<class T>(type_tag<T>) {  // rows copied as raw bits
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t j = 0; j < n_index; ++j)
          for (std::int64_t i = 0; i < inner; ++i)
            out.ptr<T>()[(o * n_index + j) * inner + i] =
                in.ptr<T>()[(o * n_src + idx[j]) * inner + i];
    });
  }

  void index_add(const KernelView& out, const KernelView& src, const KernelView& index,
                 std::int64_t outer, std::int64_t n_dst, std::int64_t inner,
                 std::int64_t skip_index) override {
    const std::int64_t n_index = index.numel();
    const std::int64_t* idx = index.ptr<std::int64_t>();
    for (std::int64_t j = 0; j < n_index; ++j)
      TINYXF_CHECK(idx[j] >= 0 && idx[j] < n_dst, "index_add: index ", idx[j], " at position ",
                   j, " is out of range for a dimension of size ", n_dst);
    const bool is_bool = out.dtype == DType::b8;
    dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T>) {
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t j = 0; j < n_index; ++j) {
          if (idx[j] == skip_index) continue;
          for (std::int64_t i = 0; i < inner; ++i) {
            T& dst = out.ptr<T>()[(o * n_dst + idx[j]) * inner + i];
            dst = strided::accumulate_element(dst, src.ptr<T>()[(o * n_index + j) * inner + i], is_bool);
          }
        }
    });
  }

  // gather / scatter: every position of the index in row-major order, its coordinates by
  // division, its offsets in each view by their strides (coordinate `dim` from the index for the
  // indexed view).
  void gather(const KernelView& out, const KernelView& in, const KernelView& index, int dim) override {
    check_gather_scatter_index("gather", index, dim, in.shape[dim]);
    dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T>) {
      for_each_index_position(index, [&](const auto& coord, std::int64_t target) {
        out.ptr<T>()[offset_at(out, coord, dim, coord[dim])] = in.ptr<T>()[offset_at(in, coord, dim, target)];
      });
    });
  }
  void scatter(const KernelView& out, const KernelView& index, const KernelView& src, int dim,
               bool accumulate) override {
    check_gather_scatter_index(accumulate ? "scatter_add" : "scatter", index, dim, out.shape[dim]);
    const bool is_bool = out.dtype == DType::b8;
    dispatch_storage_dtype(out.dtype, [&]<class T>(type_tag<T>) {
      for_each_index_position(index, [&](const auto& coord, std::int64_t target) {
        T& o = out.ptr<T>()[offset_at(out, coord, dim, target)];
        const T s = src.ptr<T>()[offset_at(src, coord, dim, coord[dim])];
        o = accumulate ? strided::accumulate_element(o, s, is_bool) : s;
      });
    });
  }

  // sort: one line after the other through sort_line::order_line (torch's CPU orders).
  void sort(const KernelView& indices, const KernelView& in, const SortArgs& args) override {
    sort_line::order_lines(indices, in, args);
  }

  void nll_loss(const KernelView& loss, const KernelView& count, const KernelView& logp,
                const KernelView& target, std::int64_t rows, std::int64_t classes,
                std::int64_t ignore_index) override {
    dispatch_floating(logp.dtype, "nll_loss", [&]<class T>(type_tag<T>) {
      double acc = 0;
      std::int64_t n = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t t = target.ptr<std::int64_t>()[r];
        if (t == ignore_index) continue;
        TINYXF_CHECK_AS(IndexError, t >= 0 && t < classes, "cross_entropy: Target ", t, " is out of bounds (row ",
                        r, ", ", classes, " classes)");
        acc -= static_cast<double>(logp.ptr<T>()[r * classes + t]);
        ++n;
      }
      // All rows ignored: NaN, as PyTorch (0/0).
      loss.ptr<T>()[0] = static_cast<T>(acc / static_cast<double>(n));
      count.ptr<T>()[0] = static_cast<T>(n);
    });
  }

  void nll_loss_backward(const KernelView& grad_logp, const KernelView& grad_loss,
                         const KernelView& count, const KernelView& target, std::int64_t rows,
                         std::int64_t classes, std::int64_t ignore_index) override {
    dispatch_floating(grad_logp.dtype, "nll_loss_backward", [&]<class T>(type_tag<T>) {
      T* g = grad_logp.ptr<T>();
      std::fill(g, g + rows * classes, T(0));
      const double scale = static_cast<double>(grad_loss.ptr<T>()[0]) /
                           static_cast<double>(count.ptr<T>()[0]);
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t t = target.ptr<std::int64_t>()[r];
        if (t == ignore_index) continue;
        g[r * classes + t] = static_cast<T>(-scale);
      }
    });
  }

  bool supports_fused_dropout() const override { return true; }
  void dropout(const KernelView& out, const KernelView& in, double p, std::uint64_t seed,
               std::uint64_t offset) override {
    dispatch_floating(in.dtype, "dropout", [&]<class T>(type_tag<T>) {
      const T keep = static_cast<T>(1.0 / (1.0 - p));
      for (std::int64_t i = 0; i < in.numel(); ++i) {
        const bool kept = kmath::dropout_keep(seed, offset + static_cast<std::uint64_t>(i), p);
        out.ptr<T>()[i] = in.ptr<T>()[i] * (kept ? keep : T(0));
      }
    });
  }

  bool supports_fused_attention() const override { return true; }
  void scaled_dot_product_attention(const KernelView& out, const KernelView& lse,
                                    const KernelView& q, const KernelView& k, const KernelView& v,
                                    const KernelView& mask, const AttentionArgs& args) override {
    reference_attention::forward(out, lse, q, k, v, mask, args);
  }
  void scaled_dot_product_attention_backward(
      const KernelView& grad_q, const KernelView& grad_k, const KernelView& grad_v,
      const KernelView& grad_out, const KernelView& q, const KernelView& k, const KernelView& v,
      const KernelView& /*out*/, const KernelView& /*lse*/, const KernelView& mask,
      const AttentionArgs& args) override {
    reference_attention::backward(grad_q, grad_k, grad_v, grad_out, q, k, v, mask, args);
  }

  bool supports_fused_bias_gelu() const override { return true; }
  void bias_gelu(const KernelView& out, const KernelView& in, const KernelView& bias, std::int64_t rows,
                 std::int64_t cols, bool approximate_tanh) override {
    const UnaryOp op = approximate_tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf;
    dispatch_floating(in.dtype, "bias_gelu", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          const T s = static_cast<T>(static_cast<double>(in.ptr<T>()[r * cols + c]) +
                                     static_cast<double>(bias.ptr<T>()[c]));
          out.ptr<T>()[r * cols + c] = static_cast<T>(kmath::apply_unary<double>(op, s, 0.0));
        }
    });
  }
  void bias_gelu_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_out,
                          const KernelView& in, const KernelView& bias, std::int64_t rows, std::int64_t cols,
                          bool approximate_tanh) override {
    const UnaryOp op = approximate_tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf;
    dispatch_floating(in.dtype, "bias_gelu_backward", [&]<class T>(type_tag<T>) {
      std::vector<double> db(static_cast<std::size_t>(cols), 0.0);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          const std::int64_t i = r * cols + c;
          const T s = static_cast<T>(static_cast<double>(in.ptr<T>()[i]) + static_cast<double>(bias.ptr<T>()[c]));
          const T g = static_cast<T>(kmath::apply_unary_backward<double>(
              op, static_cast<double>(grad_out.ptr<T>()[i]), s, 0.0, 0.0));
          grad_in.ptr<T>()[i] = g;
          db[static_cast<std::size_t>(c)] += static_cast<double>(g);
        }
      if (grad_bias.data)
        for (std::int64_t c = 0; c < cols; ++c) grad_bias.ptr<T>()[c] = static_cast<T>(db[static_cast<std::size_t>(c)]);
    });
  }

  // Element (r, j) of a 2-D view with a unit column stride (the LSTM kernels' operands).
  template <class T> static T& elem(const KernelView& v, std::int64_t r, std::int64_t j) {
    return v.ptr<T>()[r * v.strides[0] + j];
  }
  bool supports_fused_lstm_cell() const override { return true; }
  void lstm_cell(const KernelView& act, const KernelView& h_out, const KernelView& c_out, const KernelView& gates,
                 const KernelView& c, std::int64_t rows, std::int64_t hidden) override {
    dispatch_floating(gates.dtype, "lstm_cell", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < hidden; ++j) {
          const auto in = [&](int k) { return static_cast<double>(elem<T>(gates, r, k * hidden + j)); };
          double i, f, g, o, cn, hn;
          kmath::LstmCell::fwd<double>(in(0), in(1), in(2), in(3), static_cast<double>(elem<T>(c, r, j)), i, f, g, o, cn,
                                       hn);
          elem<T>(act, r, j) = static_cast<T>(i);
          elem<T>(act, r, hidden + j) = static_cast<T>(f);
          elem<T>(act, r, 2 * hidden + j) = static_cast<T>(g);
          elem<T>(act, r, 3 * hidden + j) = static_cast<T>(o);
          elem<T>(c_out, r, j) = static_cast<T>(cn);
          elem<T>(h_out, r, j) = static_cast<T>(hn);
        }
    });
  }
  void lstm_cell_backward(const KernelView& grad_gates, const KernelView& grad_c_prev, const KernelView& grad_h,
                          const KernelView& grad_c, const KernelView& act, const KernelView& c, std::int64_t rows,
                          std::int64_t hidden) override {
    dispatch_floating(act.dtype, "lstm_cell_backward", [&]<class T>(type_tag<T>) {
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < hidden; ++j) {
          const auto a = [&](int k) { return static_cast<double>(elem<T>(act, r, k * hidden + j)); };
          const double dc = grad_c.data ? static_cast<double>(elem<T>(grad_c, r, j)) : 0.0;
          double di, df, dg, d_o, dcp;
          kmath::LstmCell::bwd<double>(a(0), a(1), a(2), a(3), static_cast<double>(elem<T>(c, r, j)),
                                       static_cast<double>(elem<T>(grad_h, r, j)), dc, di, df, dg, d_o, dcp);
          elem<T>(grad_gates, r, j) = static_cast<T>(di);
          elem<T>(grad_gates, r, hidden + j) = static_cast<T>(df);
          elem<T>(grad_gates, r, 2 * hidden + j) = static_cast<T>(dg);
          elem<T>(grad_gates, r, 3 * hidden + j) = static_cast<T>(d_o);
          elem<T>(grad_c_prev, r, j) = static_cast<T>(dcp);
        }
    });
  }

  bool supports_fused_add_layer_norm() const override { return true; }
  void add_layer_norm(const KernelView& out, const KernelView& mean, const KernelView& rstd, const KernelView& x,
                      const KernelView& residual, const KernelView& bias, const KernelView& gamma,
                      const KernelView& beta, std::int64_t rows, std::int64_t cols, double eps) override {
    dispatch_floating(x.dtype, "add_layer_norm", [&]<class T>(type_tag<T>) {
      std::vector<T> s(static_cast<std::size_t>(rows * cols));
      residual_sum<T>(s.data(), x, residual, bias, rows, cols);
      KernelView sv = x;
      sv.data = s.data();
      layer_norm(out, mean, rstd, sv, gamma, beta, rows, cols, eps);
    });
  }
  void add_layer_norm_backward(const KernelView& grad_in, const KernelView& grad_bias, const KernelView& grad_gamma,
                               const KernelView& grad_beta, const KernelView& grad_out, const KernelView& x,
                               const KernelView& residual, const KernelView& bias, const KernelView& mean,
                               const KernelView& rstd, const KernelView& gamma, std::int64_t rows,
                               std::int64_t cols) override {
    dispatch_floating(x.dtype, "add_layer_norm_backward", [&]<class T>(type_tag<T>) {
      std::vector<T> s(static_cast<std::size_t>(rows * cols));
      residual_sum<T>(s.data(), x, residual, bias, rows, cols);
      KernelView sv = x;
      sv.data = s.data();
      layer_norm_backward(grad_in, grad_gamma, grad_beta, grad_out, sv, mean, rstd, gamma, rows, cols);
      if (!grad_bias.data) return;
      for (std::int64_t c = 0; c < cols; ++c) {
        double acc = 0;
        for (std::int64_t r = 0; r < rows; ++r) acc += static_cast<double>(grad_in.ptr<T>()[r * cols + c]);
        grad_bias.ptr<T>()[c] = static_cast<T>(acc);
      }
    });
  }

  void adam_step(const KernelView& param, const KernelView& grad, const KernelView& exp_avg,
                 const KernelView& exp_avg_sq, const AdamArgs& a) override {
    check_adam_operands(param, grad, exp_avg, exp_avg_sq);
    dispatch_floating(param.dtype, "adam_step", [&]<class T>(type_tag<T>) {
      T* p = param.ptr<T>();
      const T* g = grad.ptr<T>();
      T* m = exp_avg.ptr<T>();
      T* v = exp_avg_sq.ptr<T>();
      const double bc1 = a.bias_correction1();
      const double bc2 = a.bias_correction2();
      for (std::int64_t i = 0, n = param.numel(); i < n; ++i) {
        double pi = p[i], gi = g[i];
        // As the unary mul_scalar pass it replaces: the product in double, rounded to T.
        if (a.grad_coef != 1.0) gi = static_cast<double>(static_cast<T>(gi * a.grad_coef));
        if (a.decoupled_weight_decay)
          pi *= 1.0 - a.lr * a.weight_decay;
        else if (a.weight_decay != 0.0)
          gi += a.weight_decay * pi;
        const double mi = a.beta1 * m[i] + (1.0 - a.beta1) * gi;
        const double vi = a.beta2 * v[i] + (1.0 - a.beta2) * gi * gi;
        const double denom = std::sqrt(vi) / std::sqrt(bc2) + a.eps;
        pi -= (a.lr / bc1) * mi / denom;
        p[i] = static_cast<T>(pi);
        m[i] = static_cast<T>(mi);
        v[i] = static_cast<T>(vi);
      }
    });
  }

  void sgd_step(const KernelView& param, const KernelView& grad, const KernelView& buf,
                const SgdArgs& a) override {
    check_step_operand("sgd_step", param, grad, "the gradient");
    if (a.momentum != 0.0) {
      TINYXF_CHECK(buf.data != nullptr, "sgd_step: momentum ", a.momentum, " needs a momentum buffer");
      check_step_operand("sgd_step", param, buf, "the momentum buffer");
    }
    dispatch_floating(param.dtype, "sgd_step", [&]<class T>(type_tag<T>) {
      T* p = param.ptr<T>();
      const T* g = grad.ptr<T>();
      T* b = buf.data ? buf.ptr<T>() : nullptr;
      for (std::int64_t i = 0, n = param.numel(); i < n; ++i) {
        double d = static_cast<double>(g[i]) + a.weight_decay * static_cast<double>(p[i]);
        if (a.momentum != 0.0) {
          const double bi = a.first_step ? d : a.momentum * b[i] + (1.0 - a.dampening) * d;
          b[i] = static_cast<T>(bi);
          d = a.nesterov ? d + a.momentum * bi : bi;
        }
        p[i] = static_cast<T>(p[i] - a.lr * d);
      }
    });
  }

  bool supports_adam_grad_coef() const override { return true; }
  bool supports_sum_squares() const override { return true; }
  double sum_squares(std::span<const KernelView> tensors) override {
    double acc = 0;
    for (const KernelView& t : tensors)
      dispatch_floating(t.dtype, "sum_squares", [&]<class T>(type_tag<T>) {
        for (std::int64_t i = 0, n = t.numel(); i < n; ++i) acc += static_cast<double>(t.ptr<T>()[i]) * t.ptr<T>()[i];
      });
    return acc;
  }

 private:
  // s = (x + bias) + residual, each sum rounded to T as the composed adds store it.
  template <class T>
  static void residual_sum(T* s, const KernelView& x, const KernelView& residual, const KernelView& bias,
                           std::int64_t rows, std::int64_t cols) {
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t i = r * cols + c;
        T v = x.ptr<T>()[i];
        if (bias.data) v = static_cast<T>(static_cast<double>(v) + static_cast<double>(bias.ptr<T>()[c]));
        s[i] = static_cast<T>(static_cast<double>(v) + static_cast<double>(residual.ptr<T>()[i]));
      }
  }
  static void store(const KernelView& out, std::int64_t i, double v) {
    dispatch_dtype(out.dtype, [&]<class O>(type_tag<O>) { out.ptr<O>()[i] = static_cast<O>(v); });
  }
};

}  // namespace tinyxf::backends
