// The LSTM cell's pointwise step and its backward (Backend::lstm_cell; ops/rnn.hpp runs the
// GEMMs around it through cuBLAS): one thread per (row, unit) reads that unit's four gates and
// applies kmath::LstmCell, the formulas the reference and cpu backends share. Rows may have any
// stride (h_out is a column block of the [rows, directions * hidden] output).
#include "cuda_common.cuh"

namespace tinyxf::backends {

namespace cuda_detail {
namespace {

template <class T>
__global__ void __launch_bounds__(kThreads)
    lstm_cell_kernel(T* act, std::int64_t s_act, T* h_out, std::int64_t s_h, T* c_out, std::int64_t s_cout,
                     const T* gates, std::int64_t s_gates, const T* c, std::int64_t s_c, std::int64_t hidden,
                     std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += step) {
    const std::int64_t r = idx / hidden, j = idx % hidden;
    const T* g = gates + r * s_gates + j;
    T i, f, gg, o, cn, hn;
    kmath::LstmCell::fwd<T>(g[0], g[hidden], g[2 * hidden], g[3 * hidden], c[r * s_c + j], i, f, gg, o, cn, hn);
    T* a = act + r * s_act + j;
    a[0] = i;
    a[hidden] = f;
    a[2 * hidden] = gg;
    a[3 * hidden] = o;
    c_out[r * s_cout + j] = cn;
    h_out[r * s_h + j] = hn;
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    lstm_cell_backward_kernel(T* grad_gates, std::int64_t s_gg, T* grad_c_prev, std::int64_t s_gcp,
                              const T* grad_h, std::int64_t s_gh, const T* grad_c, std::int64_t s_gc, const T* act,
                              std::int64_t s_act, const T* c, std::int64_t s_c, std::int64_t hidden, std::int64_t n) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += step) {
    const std::int64_t r = idx / hidden, j = idx % hidden;
    const T* a = act + r * s_act + j;
    const T dc = grad_c ? grad_c[r * s_gc + j] : T(0);
    T di, df, dg, d_o, dcp;
    kmath::LstmCell::bwd<T>(a[0], a[hidden], a[2 * hidden], a[3 * hidden], c[r * s_c + j], grad_h[r * s_gh + j], dc,
                            di, df, dg, d_o, dcp);
    T* gg = grad_gates + r * s_gg + j;
    gg[0] = di;
    gg[hidden] = df;
    gg[2 * hidden] = dg;
    gg[3 * hidden] = d_o;
    grad_c_prev[r * s_gcp + j] = dcp;
  }
}

void require_unit_columns(const char* op, std::initializer_list<const KernelView*> views) {
  for (const KernelView* v : views)
    TINYXF_CHECK(!v->data || (v->ndim == 2 && (v->shape[1] <= 1 || v->strides[1] == 1)), "cuda ", op,
                 ": expected 2-D operands with unit column stride");
}

}  // namespace
}  // namespace cuda_detail

using namespace cuda_detail;

void CudaBackend::lstm_cell(const KernelView& act, const KernelView& h_out, const KernelView& c_out,
                            const KernelView& gates, const KernelView& c, std::int64_t rows, std::int64_t hidden) {
  dispatch_floating(gates.dtype, "lstm_cell", [&]<class T>(type_tag<T>) {
    const std::int64_t n = rows * hidden;
    if (n == 0) return;
    require_unit_columns("lstm_cell", {&act, &h_out, &c_out, &gates, &c});
    OpScope scope(*this, "lstm_cell");
    lstm_cell_kernel<T><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(
        act.ptr<T>(), act.strides[0], h_out.ptr<T>(), h_out.strides[0], c_out.ptr<T>(), c_out.strides[0],
        static_cast<const T*>(gates.data), gates.strides[0], static_cast<const T*>(c.data), c.strides[0], hidden, n);
    check_launch("lstm_cell");
  });
}

void CudaBackend::lstm_cell_backward(const KernelView& grad_gates, const KernelView& grad_c_prev,
                                     const KernelView& grad_h, const KernelView& grad_c, const KernelView& act,
                                     const KernelView& c, std::int64_t rows, std::int64_t hidden) {
  dispatch_floating(act.dtype, "lstm_cell_backward", [&]<class T>(type_tag<T>) {
    const std::int64_t n = rows * hidden;
    if (n == 0) return;
    require_unit_columns("lstm_cell_backward", {&grad_gates, &grad_c_prev, &grad_h, &grad_c, &act, &c});
    OpScope scope(*this, "lstm_cell_backward");
    lstm_cell_backward_kernel<T><<<blocks_for(n, scope.ctx), kThreads, 0, scope.stream()>>>(
        grad_gates.ptr<T>(), grad_gates.strides[0], grad_c_prev.ptr<T>(), grad_c_prev.strides[0],
        static_cast<const T*>(grad_h.data), grad_h.strides[0], static_cast<const T*>(grad_c.data),
        grad_c.data ? grad_c.strides[0] : 0, static_cast<const T*>(act.data), act.strides[0],
        static_cast<const T*>(c.data), c.strides[0], hidden, n);
    check_launch("lstm_cell_backward");
  });
}

}  // namespace tinyxf::backends
