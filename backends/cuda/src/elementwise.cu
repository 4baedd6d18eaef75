// Elementwise kernels on strided views: fill, copy (with dtype conversion), unary and its
// backward, binary (broadcast through stride 0, comparisons), where, and the counter-based RNG.
// Each is one functor run by launch_strided over the collapsed shape; the op and the output
// dtype are runtime values that are uniform across a launch, which keeps the number of kernel
// instantiations (and the build time) small.
#include "cuda_common.cuh"
#include "device_math.cuh"
#include "packed_functors.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {


template <class O>
struct CopyFn {
  O* out;
  const void* in;
  DType in_dtype;
  __device__ void operator()(const std::int64_t (&o)[2]) const { out[o[0]] = load_as<O>(in, in_dtype, o[1]); }
};


// Any dtype to any dtype through double (bool, bfloat16 and float16 outputs).
struct CopyAnyFn {
  void* out;
  DType out_dtype;
  const void* in;
  DType in_dtype;
  __device__ void operator()(const std::int64_t (&o)[2]) const {
    store_as(out, out_dtype, o[0], load_as<double>(in, in_dtype, o[1]));
  }
};
struct FillAnyFn {
  void* out;
  DType out_dtype;
  double value;
  __device__ void operator()(const std::int64_t (&o)[1]) const { store_as(out, out_dtype, o[0], value); }
};



template <class S>
struct BinaryFn {
  void* out;
  DType out_dtype;  // comparisons may write any dtype
  const S* a;
  const S* b;
  BinaryOp op;
  __device__ void operator()(const std::int64_t (&o)[3]) const {
    store_as(out, out_dtype, o[0], kmath::apply_binary<compute_t<S>>(op, widen(a[o[1]]), widen(b[o[2]])));
  }
};



// Element i of the contiguous output is a function of (seed, offset + i) only, computed in
// double exactly as the reference does, so uniform and bernoulli streams match bit for bit.
template <class T>
__global__ void __launch_bounds__(kThreads) random_kernel(T* out, std::int64_t n, RandomKind kind, double a,
                                                         double b, std::uint64_t seed, std::uint64_t offset) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const std::uint64_t c = offset + static_cast<std::uint64_t>(i);
    double v = 0;
    switch (kind) {
      case RandomKind::uniform: v = a + (b - a) * kmath::uniform01(seed, c); break;
      case RandomKind::normal: v = a + b * kmath::standard_normal(seed, c); break;
      case RandomKind::bernoulli_scaled: v = kmath::dropout_keep(seed, c, a) ? 1.0 / (1.0 - a) : 0.0; break;
    }
    out[i] = static_cast<T>(v);
  }
}

bool is_dense(const KernelView& v) {
  return v.is_contiguous();
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::fill(const KernelView& out, double value) {
  if (out.numel() == 0) return;
  OpScope scope(*this, "fill");
  if (out.dtype == DType::b8 || is_reduced_floating_point(out.dtype)) {
    const KernelView* views[1] = {&out};
    launch_strided(scope, "fill", views, FillAnyFn{out.data, out.dtype, value});
    return;
  }
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    const KernelView* views[1] = {&out};
    launch_strided(scope, "fill", views, FillFn<T>{out.ptr<T>(), static_cast<T>(value)});
  });
}

void CudaBackend::copy(const KernelView& out, const KernelView& in) {
  TINYXF_CHECK(out.numel() == in.numel(), "cuda copy: ", out.numel(), " elements from ", in.numel());
  if (out.numel() == 0) return;
  OpScope scope(*this, "copy");
  if (out.dtype == in.dtype && is_dense(out) && is_dense(in)) {
    check_cuda(cudaMemcpyAsync(out.data, in.data, static_cast<std::size_t>(out.numel()) * dtype_size(out.dtype),
                               cudaMemcpyDeviceToDevice, scope.stream()),
               "copy", "cudaMemcpyAsync");
    return;
  }
  const KernelView* views[2] = {&out, &in};
  const bool f32_in = in.dtype == DType::f32, f32_out = out.dtype == DType::f32;
  if ((f32_in && is_reduced_floating_point(out.dtype)) || (f32_out && is_reduced_floating_point(in.dtype))) {
    const DType half_dtype = f32_in ? out.dtype : in.dtype;
    dispatch_floating_storage(half_dtype, "copy", [&]<class H>(type_tag<H>) {
      if constexpr (!std::is_same_v<H, __nv_bfloat16> && !std::is_same_v<H, __half>) return;
      else if (f32_in)
        launch_strided(scope, "copy", views, CastFn<H, float>{out.ptr<H>(), in.ptr<float>()});
      else
        launch_strided(scope, "copy", views, CastFn<float, H>{out.ptr<float>(), in.ptr<H>()});
    });
    return;
  }
  if (out.dtype == DType::b8 || is_reduced_floating_point(out.dtype)) {
    launch_strided(scope, "copy", views, CopyAnyFn{out.data, out.dtype, in.data, in.dtype});
    return;
  }
  dispatch_dtype(out.dtype, [&]<class O>(type_tag<O>) {
    launch_strided(scope, "copy", views, CopyFn<O>{out.ptr<O>(), in.data, in.dtype});
  });
}

void CudaBackend::unary(UnaryOp op, const KernelView& out, const KernelView& in, double alpha) {
  if (out.numel() == 0) return;
  OpScope scope(*this, unary_op_name(op));
  const KernelView* views[2] = {&out, &in};
  if (is_reduced_floating_point(out.dtype)) {
    dispatch_floating_storage(out.dtype, unary_op_name(op), [&]<class S>(type_tag<S>) {
      launch_strided(scope, unary_op_name(op), views, UnaryFn<S>{out.ptr<S>(), in.ptr<S>(), op, alpha});
    });
    return;
  }
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    launch_strided(scope, unary_op_name(op), views, UnaryFn<T>{out.ptr<T>(), in.ptr<T>(), op, alpha});
  });
}

void CudaBackend::unary_backward(UnaryOp op, const KernelView& grad_in, const KernelView& grad_out,
                                 const KernelView& in, const KernelView& out, double alpha) {
  dispatch_floating_storage(grad_in.dtype, "unary_backward", [&]<class T>(type_tag<T>) {
    if (grad_in.numel() == 0) return;
    OpScope scope(*this, "unary_backward");
    const KernelView* views[4] = {&grad_in, &grad_out, &in, &out};
    launch_strided(scope, "unary_backward", views,
                   UnaryBackwardFn<T>{grad_in.ptr<T>(), grad_out.ptr<T>(), in.ptr<T>(),
                                      static_cast<const T*>(out.data), op, alpha});
  });
}

void CudaBackend::binary(BinaryOp op, const KernelView& out, const KernelView& a, const KernelView& b) {
  TINYXF_CHECK(a.dtype == b.dtype, "cuda ", binary_op_name(op), ": operand dtypes differ (",
               dtype_name(a.dtype), " and ", dtype_name(b.dtype), ")");
  if (out.numel() == 0) return;
  OpScope scope(*this, binary_op_name(op));
  const KernelView* views[3] = {&out, &a, &b};
  auto launch = [&]<class T>(type_tag<T>) {
    // Floating results in the operands' dtype: BinarySameFn (packs); comparisons, bool results
    // (stored as v != 0) and integer ops: BinaryFn.
    if (out.dtype == a.dtype && pack_width<T> > 0)
      launch_strided(scope, binary_op_name(op), views, BinarySameFn<T>{out.ptr<T>(), a.ptr<T>(), b.ptr<T>(), op});
    else
      launch_strided(scope, binary_op_name(op), views, BinaryFn<T>{out.data, out.dtype, a.ptr<T>(), b.ptr<T>(), op});
  };
  if (is_reduced_floating_point(a.dtype))
    dispatch_floating_storage(a.dtype, binary_op_name(op), launch);
  else
    dispatch_dtype(a.dtype, launch);
}

void CudaBackend::where(const KernelView& out, const KernelView& cond, const KernelView& a, const KernelView& b) {
  TINYXF_CHECK(cond.dtype == DType::u8 || cond.dtype == DType::b8, "cuda where: the condition must be bool or uint8, got ",
               dtype_name(cond.dtype));
  if (out.numel() == 0) return;
  OpScope scope(*this, "where");
  dispatch_dtype(out.dtype, [&]<class T>(type_tag<T>) {
    const KernelView* views[4] = {&out, &cond, &a, &b};
    launch_strided(scope, "where", views,
                   WhereFn<T>{out.ptr<T>(), cond.ptr<std::uint8_t>(), a.ptr<T>(), b.ptr<T>()});
  });
}

void CudaBackend::random(RandomKind kind, const KernelView& out, double a, double b, std::uint64_t seed,
                         std::uint64_t offset) {
  dispatch_floating(out.dtype, "random", [&]<class T>(type_tag<T>) {
    const std::int64_t n = out.numel();
    if (n == 0) return;
    TINYXF_CHECK(out.is_contiguous(), "cuda random: the output must be contiguous");
    OpScope scope(*this, "random");
    random_kernel<T><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(out.ptr<T>(), n, kind, a, b,
                                                                                 seed, offset);
    check_launch("random");
  });
}

}  // namespace tinyxf::backends
