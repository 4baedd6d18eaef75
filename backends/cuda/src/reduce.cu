// Reductions over the middle axis of a contiguous [outer, reduced, inner] input into a contiguous
// [outer, inner] output: sum and mean (compensated per-thread sums, then a tree across threads),
// max/min/argmax/argmin (first occurrence, NaN wins as in the reference).
//
// The launch shape is plan_reduction's (cuda_common.cuh). When there are too few outputs to fill
// the GPU (a bias gradient, a full sum), the reduced axis is also split over blockIdx.y; each
// split writes a partial state and a second kernel merges the splits in a fixed order, so results
// are deterministic (no atomics).
#include "cuda_common.cuh"
#include "device_math.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {

template <class T, class R>
__global__ void reduce_kernel(const T* in, ReducePlan plan, R r, typename R::State* partial, void* out,
                              DType out_dtype) {
  using State = typename R::State;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  State* shared = reinterpret_cast<State*>(shared_bytes);
  const int bx = plan.bx, by = plan.by;
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const ReduceSlice slice = reduce_slice(plan, blockIdx.x, blockIdx.y, tx);
  const std::int64_t inner = plan.inner;

  State s = r.identity();
  if (slice.i < inner) {
    const T* column = in + slice.o * plan.reduced * inner + slice.i;
    if constexpr (R::kCompensated) {  // Kahan: the per-thread run can be thousands of elements
      State sum = 0, carry = 0;
      for (std::int64_t k = slice.begin + ty; k < slice.end; k += by) {
        const State y = static_cast<State>(column[k * inner]) - carry;
        const State t = sum + y;
        carry = (t - sum) - y;
        sum = t;
      }
      s = sum;
    } else {
      for (std::int64_t k = slice.begin + ty; k < slice.end; k += by) s = r.merge(s, r.make(column[k * inner], k));
    }
  }
  shared[ty * bx + tx] = s;
  for (int half = by / 2; half > 0; half >>= 1) {
    __syncthreads();
    if (ty < half) shared[ty * bx + tx] = r.merge(shared[ty * bx + tx], shared[(ty + half) * bx + tx]);
  }
  if (ty == 0 && slice.i < inner) {
    const std::int64_t q = slice.o * inner + slice.i;
    if (gridDim.y == 1)
      r.store(out, out_dtype, q, shared[tx], plan.reduced);
    else
      partial[static_cast<std::int64_t>(blockIdx.y) * plan.outer * inner + q] = shared[tx];
  }
}

template <class R>
__global__ void __launch_bounds__(kThreads) reduce_splits_kernel(const typename R::State* partial, int splits,
                                                                std::int64_t outputs, R r, void* out,
                                                                DType out_dtype, std::int64_t reduced) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t q = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < outputs; q += step) {
    typename R::State s = partial[q];
    for (int k = 1; k < splits; ++k) s = r.merge(s, partial[static_cast<std::int64_t>(k) * outputs + q]);
    r.store(out, out_dtype, q, s, reduced);
  }
}

template <class T, class R>
void run_reduction(OpScope& scope, const char* op, const R& r, const KernelView& out, const T* in,
                   std::int64_t outer, std::int64_t reduced, std::int64_t inner) {
  using State = typename R::State;
  const ReducePlan plan = plan_reduction(outer, reduced, inner, scope.ctx.sm_count);
  TINYXF_CHECK(plan.blocks_x <= std::numeric_limits<std::int32_t>::max(), "cuda ", op, ": ", outer, " x ", inner,
               " outputs exceed the launch limits");
  const std::int64_t outputs = outer * inner, splits = plan.split.splits;
  std::shared_ptr<void> partial_memory;
  State* partial = nullptr;
  if (splits > 1) {
    partial_memory = scratch(static_cast<std::size_t>(splits * outputs) * sizeof(State), scope.ctx.device);
    partial = static_cast<State*>(partial_memory.get());
  }
  const dim3 grid(static_cast<unsigned>(plan.blocks_x), static_cast<unsigned>(splits));
  const dim3 block(static_cast<unsigned>(plan.bx), static_cast<unsigned>(plan.by));
  const std::size_t shared = static_cast<std::size_t>(plan.bx * plan.by) * sizeof(State);
  reduce_kernel<T, R><<<grid, block, shared, scope.stream()>>>(in, plan, r, partial, out.data, out.dtype);
  check_launch(op);
  if (splits > 1) {
    reduce_splits_kernel<R><<<blocks_for(outputs, scope.ctx), kThreads, 0, scope.stream()>>>(
        partial, static_cast<int>(splits), outputs, r, out.data, out.dtype, reduced);
    check_launch(op);
  }
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::reduce(ReduceOp op, const KernelView& out, const KernelView& in, std::int64_t outer,
                         std::int64_t reduced, std::int64_t inner) {
  const char* name = reduce_op_name(op);
  if (outer * inner == 0) return;
  const bool is_sum = op == ReduceOp::sum || op == ReduceOp::mean;
  if (reduced == 0) {
    TINYXF_CHECK(is_sum, name, ": cannot reduce an empty dimension");
    fill(out, op == ReduceOp::sum ? 0.0 : std::numeric_limits<double>::quiet_NaN());
    return;
  }
  TINYXF_CHECK(in.is_contiguous() && out.is_contiguous(), "cuda ", name, ": expected contiguous operands");
  OpScope scope(*this, name);
  dispatch_dtype(in.dtype, [&]<class T>(type_tag<T>) {
    if (is_sum) {
      run_reduction(scope, name, SumReducer<T>{op == ReduceOp::mean}, out, in.ptr<T>(), outer, reduced, inner);
    } else {
      const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      const bool want_index = op == ReduceOp::argmax || op == ReduceOp::argmin;
      run_reduction(scope, name, ExtremumReducer<T>{want_max, want_index}, out, in.ptr<T>(), outer, reduced,
                    inner);
    }
  });
}

}  // namespace tinyxf::backends
