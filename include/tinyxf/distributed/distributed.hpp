#pragma once
// tinyxf::distributed, everything: the ProcessGroup interface, the launcher environment,
// DistributedDataParallel, the MPI process group and init_process_group. Needs MPI (link
// tinyxf::mpi); with tinyxf::nccl linked (TINYXF_HAVE_NCCL), "nccl" too. <tinyxf/tinyxf.hpp>
// does not include it, so programs without MPI never see <mpi.h>.
//
//   auto pg = tinyxf::distributed::init_process_group("mpi");   // mpirun -np N prog ...
//   tinyxf::distributed::DistributedDataParallel ddp(model, pg);
#include <cstring>
#include <memory>
#include <string>

#include "tinyxf/distributed/ddp.hpp"
#include "tinyxf/distributed/env.hpp"
#include "tinyxf/distributed/mpi.hpp"
#include "tinyxf/distributed/process_group.hpp"
#ifdef TINYXF_HAVE_NCCL
#include "tinyxf/backends/cuda.hpp"
#include "tinyxf/distributed/nccl.hpp"
#endif

namespace tinyxf::distributed {

// The process group of this job (torch.distributed.init_process_group): "mpi" (cpu tensors; the
// world of mpirun, or a group of 1 when started alone) or "nccl" (cuda tensors; one process per
// GPU, GPU = local rank modulo the GPUs of the host; rank 0's ncclUniqueId reaches the others
// over MPI, so launch with mpirun too).
inline std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend = "mpi") {
  if (backend == "mpi") return std::make_shared<MpiProcessGroup>();
  if (backend == "nccl") {
#ifdef TINYXF_HAVE_NCCL
    MpiProcessGroup bootstrap;
    Tensor id_bytes = Tensor::zeros({static_cast<std::int64_t>(sizeof(NcclUniqueId::bytes))}, kUInt8);
    if (bootstrap.rank() == 0) {
      const NcclUniqueId id = nccl_unique_id();
      std::memcpy(id_bytes.raw_data(), id.bytes.data(), id.bytes.size());
    }
    bootstrap.broadcast(id_bytes, 0);
    NcclUniqueId id;
    std::memcpy(id.bytes.data(), id_bytes.raw_data(), id.bytes.size());
    const int gpus = backends::cuda_device_count();
    TINYXF_CHECK_AS(DeviceError, gpus > 0, "init_process_group(\"nccl\"): no CUDA device");
    const int device = launch_env().local_rank % gpus;
    return make_nccl_process_group(bootstrap.rank(), bootstrap.size(), device, id);
#else
    throw ValueError("init_process_group(\"nccl\"): this program was built without NCCL (link tinyxf::nccl, "
                     "built with the CUDA backend when NCCL is found)");
#endif
  }
  throw ValueError("init_process_group: unknown backend '" + backend + "' (expected \"mpi\" or \"nccl\")");
}

}  // namespace tinyxf::distributed
