#pragma once
// MpiProcessGroup: the ProcessGroup of cpu tensors over MPI (Open MPI, MPICH, ...), for processes
// started by mpirun/mpiexec/srun. Needs <mpi.h> and the MPI library (CMake: MPI::MPI_CXX; the
// tinyxf::mpi target adds it): only programs that include this header do.
//
// Collectives run on a duplicate of MPI_COMM_WORLD, so a program's own MPI traffic cannot match
// them. all_reduce_async is MPI_Iallreduce: the reduction proceeds while the caller computes
// (Open MPI progresses it inside MPI calls: Work::test() is such a call). Dtypes: float32,
// float64, int32, int64, uint8 natively; bfloat16 and float16 travel as their 16 bits with a
// user-defined MPI_Op that adds in float32 and rounds (torch's gloo does the same); avg divides
// the sum by the group size after the reduction (floating dtypes only).
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tinyxf/distributed/process_group.hpp"

namespace tinyxf::distributed {

namespace mpi_detail {

inline void check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, message, &len);
  throw Error(std::string("MPI ") + op + " failed: " + std::string(message, static_cast<std::size_t>(len)));
}

template <class T>
void sum_16bit(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const T*>(in);
  auto* b = static_cast<T*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = T(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}
template <class T>
MPI_Op sum_16bit_op() {
  static const MPI_Op op = [] {
    MPI_Op o;
    check(MPI_Op_create(&sum_16bit<T>, /*commute=*/1, &o), "Op_create");
    return o;
  }();
  return op;
}

// The MPI datatype carrying `dtype`'s elements (16-bit floats as their bits).
inline MPI_Datatype datatype(DType dtype) {
  switch (dtype) {
    case kFloat32: return MPI_FLOAT;
    case kFloat64: return MPI_DOUBLE;
    case kInt32: return MPI_INT32_T;
    case kInt64: return MPI_INT64_T;
    case kUInt8:
    case kBool: return MPI_UINT8_T;
    case kBFloat16:
    case kFloat16: return MPI_UINT16_T;
  }
  throw DTypeError(std::string("MPI: unsupported dtype ") + dtype_name(dtype));
}

inline MPI_Op sum_op(DType dtype, const char* op) {
  switch (dtype) {
    case kBFloat16: return sum_16bit_op<BFloat16>();
    case kFloat16: return sum_16bit_op<Half>();
    case kBool: throw DTypeError(std::string("MPI ") + op + ": cannot sum bool tensors");
    default: return MPI_SUM;
  }
}

inline int count_of(const Tensor& t, const char* op) {
  TINYXF_CHECK_AS(ValueError, t.numel() <= INT_MAX, "MPI ", op, ": ", t.numel(),
                  " elements exceed MPI's int count (split the tensor)");
  return static_cast<int>(t.numel());
}

// t /= n on the host (floating dtypes).
inline void divide(const Tensor& t, int n) {
  void* p = t.raw_data();
  const auto count = static_cast<std::size_t>(t.numel());
  const auto scale = [&]<class T>(T* x) {
    for (std::size_t i = 0; i < count; ++i) x[i] = T(static_cast<float>(x[i]) / static_cast<float>(n));
  };
  switch (t.dtype()) {
    case kFloat32: for (std::size_t i = 0; i < count; ++i) static_cast<float*>(p)[i] /= static_cast<float>(n); break;
    case kFloat64: for (std::size_t i = 0; i < count; ++i) static_cast<double*>(p)[i] /= n; break;
    case kBFloat16: scale(static_cast<BFloat16*>(p)); break;
    case kFloat16: scale(static_cast<Half*>(p)); break;
    default: throw DTypeError(std::string("MPI all_reduce: avg needs a floating dtype, got ") + dtype_name(t.dtype()));
  }
}

class MpiWork final : public Work {
 public:
  MpiWork(MPI_Request request, Tensor t, int divide_by) : request_(request), tensor_(std::move(t)), divide_by_(divide_by) {}
  ~MpiWork() override {
    if (!done_) MPI_Wait(&request_, MPI_STATUS_IGNORE);  // the buffer must outlive the operation
  }
  void wait() override {
    if (done_) return;
    check(MPI_Wait(&request_, MPI_STATUS_IGNORE), "Wait");
    finish();
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "Test");
    if (flag) finish();
    return done_;
  }

 private:
  void finish() {
    done_ = true;
    if (divide_by_ > 1) divide(tensor_, divide_by_);
  }
  MPI_Request request_;
  Tensor tensor_;  // keeps the buffer alive while MPI writes it
  int divide_by_;
  bool done_ = false;
};

// MPI_Init_thread once (MPI_THREAD_SERIALIZED: one thread at a time calls MPI) unless the program
// initialized MPI itself; MPI_Finalize at exit only when tinyxf initialized it.
inline void ensure_initialized() {
  static const bool initialized = [] {
    int already = 0;
    check(MPI_Initialized(&already), "Initialized");
    if (!already) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "Init_thread");
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    return true;
  }();
  (void)initialized;
}

}  // namespace mpi_detail

class MpiProcessGroup final : public ProcessGroup {
 public:
  // The group of every process of the MPI job (MPI_COMM_WORLD, duplicated).
  MpiProcessGroup() {
    mpi_detail::ensure_initialized();
    mpi_detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "Comm_dup");
    mpi_detail::check(MPI_Comm_rank(comm_, &rank_), "Comm_rank");
    mpi_detail::check(MPI_Comm_size(comm_, &size_), "Comm_size");
  }
  ~MpiProcessGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  MpiProcessGroup(const MpiProcessGroup&) = delete;
  MpiProcessGroup& operator=(const MpiProcessGroup&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }
  Device device() const override { return Device::cpu(); }
  MPI_Comm comm() const { return comm_; }

  std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::sum) override {
    check_tensor(t, "all_reduce");
    if (op == ReduceOp::avg)
      TINYXF_CHECK_AS(DTypeError, t.is_floating_point(), "MPI all_reduce: avg needs a floating dtype, got ",
                      dtype_name(t.dtype()));
    const int count = mpi_detail::count_of(t, "all_reduce");
    MPI_Request request;
    mpi_detail::check(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), count, mpi_detail::datatype(t.dtype()),
                                     mpi_detail::sum_op(t.dtype(), "all_reduce"), comm_, &request),
                      "Iallreduce");
    t.impl()->bump_version();
    return std::make_shared<mpi_detail::MpiWork>(request, t, op == ReduceOp::avg ? size_ : 1);
  }

  void broadcast(Tensor& t, int root = 0) override {
    check_tensor(t, "broadcast");
    check_root(root, "broadcast");
    mpi_detail::check(MPI_Bcast(t.raw_data(), mpi_detail::count_of(t, "broadcast"), mpi_detail::datatype(t.dtype()),
                                root, comm_),
                      "Bcast");
    t.impl()->bump_version();
  }

  std::vector<Tensor> all_gather(const Tensor& t) override {
    check_tensor(t, "all_gather");
    Shape gathered_shape{size_};
    gathered_shape.insert(gathered_shape.end(), t.shape().begin(), t.shape().end());
    Tensor gathered = Tensor::empty(gathered_shape, t.options());
    const int count = mpi_detail::count_of(t, "all_gather");
    const MPI_Datatype type = mpi_detail::datatype(t.dtype());
    mpi_detail::check(MPI_Allgather(t.raw_data(), count, type, gathered.raw_data(), count, type, comm_), "Allgather");
    std::vector<Tensor> out;
    for (int r = 0; r < size_; ++r) out.push_back(gathered.select(0, r));
    return out;
  }

  void barrier() override { mpi_detail::check(MPI_Barrier(comm_), "Barrier"); }

 private:
  void check_root(int root, const char* op) const {
    TINYXF_CHECK_AS(ValueError, root >= 0 && root < size_, "MPI ", op, ": root ", root, " outside ranks 0..",
                    size_ - 1);
  }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace tinyxf::distributed
