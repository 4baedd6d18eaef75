// NcclProcessGroup (include/tinyxf/distributed/nccl.hpp): ncclAllReduce / ncclBroadcast /
// ncclAllGather on a stream of the process group's own. Before a collective, that stream waits
// for an event recorded on the CUDA backend's stream (so the tensor's producers have finished);
// afterwards, an event on the NCCL stream is what Work::wait() makes the backend's stream wait
// for (and what Work::test() queries).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "tinyxf/backends/cuda.hpp"
#include "tinyxf/distributed/nccl.hpp"

namespace tinyxf::distributed {

namespace {

void check_cuda(cudaError_t err, const char* op) {
  if (err != cudaSuccess) throw Error(std::string("NCCL process group: ") + op + ": " + cudaGetErrorString(err));
}
void check_nccl(ncclResult_t r, const char* op) {
  if (r != ncclSuccess) throw Error(std::string("NCCL ") + op + " failed: " + ncclGetErrorString(r));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case kFloat32: return ncclFloat32;
    case kFloat64: return ncclFloat64;
    case kBFloat16: return ncclBfloat16;
    case kFloat16: return ncclFloat16;
    case kInt32: return ncclInt32;
    case kInt64: return ncclInt64;
    case kUInt8:
    case kBool: return ncclUint8;
  }
  throw DTypeError(std::string("NCCL: unsupported dtype ") + dtype_name(dtype));
}

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

class NcclWork final : public Work {
 public:
  NcclWork(cudaEvent_t done, cudaStream_t backend_stream, Tensor t)
      : done_(done), backend_stream_(backend_stream), tensor_(std::move(t)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait() override {
    if (!waited_) check_cuda(cudaStreamWaitEvent(backend_stream_, done_, 0), "cudaStreamWaitEvent");
    waited_ = true;
  }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }

 private:
  cudaEvent_t done_;
  cudaStream_t backend_stream_;
  Tensor tensor_;  // alive until the collective is done
  bool waited_ = false;
};

class NcclProcessGroup final : public ProcessGroup {
 public:
  NcclProcessGroup(int rank, int size, int device, const NcclUniqueId& id)
      : rank_(rank), size_(size), device_(device) {
    TINYXF_CHECK_AS(ValueError, size > 0 && rank >= 0 && rank < size, "NCCL: rank ", rank, " outside a group of ", size);
    TINYXF_CHECK_AS(DeviceError, device >= 0 && device < backends::cuda_device_count(), "NCCL: cuda:", device,
                    " does not exist (", backends::cuda_device_count(), " CUDA devices)");
    DeviceGuard guard(device_);
    backend_stream_ = static_cast<cudaStream_t>(backends::cuda_stream(device_));
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId nid;
    static_assert(sizeof(nid) == sizeof(id.bytes));
    std::memcpy(&nid, id.bytes.data(), sizeof(nid));
    check_nccl(ncclCommInitRank(&comm_, size_, nid, rank_), "CommInitRank");
  }
  ~NcclProcessGroup() override {
    DeviceGuard guard(device_);
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  NcclProcessGroup(const NcclProcessGroup&) = delete;
  NcclProcessGroup& operator=(const NcclProcessGroup&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "nccl"; }
  Device device() const override { return Device::cuda(device_); }

  std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce");
    DeviceGuard guard(device_);
    after_backend();
    check_nccl(ncclAllReduce(t.impl()->data(), t.impl()->data(), static_cast<std::size_t>(t.numel()),
                             nccl_type(t.dtype()), op == ReduceOp::avg ? ncclAvg : ncclSum, comm_, stream_),
               "AllReduce");
    t.impl()->bump_version();
    return std::make_shared<NcclWork>(record(), backend_stream_, t);
  }

  void broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    TINYXF_CHECK_AS(ValueError, root >= 0 && root < size_, "NCCL broadcast: root ", root, " outside ranks 0..", size_ - 1);
    DeviceGuard guard(device_);
    after_backend();
    check_nccl(ncclBroadcast(t.impl()->data(), t.impl()->data(), static_cast<std::size_t>(t.numel()),
                             nccl_type(t.dtype()), root, comm_, stream_),
               "Broadcast");
    t.impl()->bump_version();
    NcclWork(record(), backend_stream_, t).wait();
  }

  std::vector<Tensor> all_gather(const Tensor& t) override {
    check_tensor(t, "all_gather");
    Shape gathered_shape{size_};
    gathered_shape.insert(gathered_shape.end(), t.shape().begin(), t.shape().end());
    Tensor gathered = Tensor::empty(gathered_shape, t.options());
    DeviceGuard guard(device_);
    after_backend();
    check_nccl(ncclAllGather(t.impl()->data(), gathered.impl()->data(), static_cast<std::size_t>(t.numel()),
                             nccl_type(t.dtype()), comm_, stream_),
               "AllGather");
    NcclWork(record(), backend_stream_, gathered).wait();
    std::vector<Tensor> out;
    for (int r = 0; r < size_; ++r) out.push_back(gathered.select(0, r));
    return out;
  }

  void barrier() override {
    Tensor one = Tensor::ones({1}, TensorOptions(device()).dtype(kFloat32));
    all_reduce(one, ReduceOp::sum);
    DeviceGuard guard(device_);
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    check_cuda(cudaStreamSynchronize(backend_stream_), "cudaStreamSynchronize");
  }

 private:
  // The NCCL stream waits for everything queued on the backend's stream so far.
  void after_backend() {
    cudaEvent_t ready;
    check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(ready, backend_stream_), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);  // released once the wait has been satisfied
  }
  cudaEvent_t record() {
    cudaEvent_t done;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
    return done;
  }

  int rank_, size_, device_;
  cudaStream_t stream_ = nullptr, backend_stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

NcclUniqueId nccl_unique_id() {
  ncclUniqueId nid;
  check_nccl(ncclGetUniqueId(&nid), "GetUniqueId");
  NcclUniqueId id;
  std::memcpy(id.bytes.data(), &nid, sizeof(nid));
  return id;
}

std::shared_ptr<ProcessGroup> make_nccl_process_group(int rank, int world_size, int device, const NcclUniqueId& id) {
  return std::make_shared<NcclProcessGroup>(rank, world_size, device, id);
}

int nccl_version() {
  int v = 0;
  check_nccl(ncclGetVersion(&v), "GetVersion");
  return v;
}

}  // namespace tinyxf::distributed
