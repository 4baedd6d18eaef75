#pragma once
// The NCCL ProcessGroup: collectives over cuda tensors, one communicator per process (one process
// per GPU) on a stream of its own, ordered against the CUDA backend's stream with events, so
// all_reduce_async returns at once and wait() only makes the backend's later work wait for it
// (the host never blocks). Compiled into tinyxf::nccl (backends/cuda/nccl, built with the CUDA
// backend when NCCL is found); include this header only in programs that link it. No CUDA or
// NCCL header is needed to use it.
//
//   NcclUniqueId id = rank == 0 ? nccl_unique_id() : ...;   // rank 0's, sent to every rank
//   auto pg = make_nccl_process_group(rank, world_size, /*device=*/local_rank, id);
//
// init_process_group("nccl") (distributed/distributed.hpp) does this with the id sent over MPI.
#include <array>
#include <memory>

#include "tinyxf/distributed/process_group.hpp"

namespace tinyxf::distributed {

// ncclUniqueId's 128 bytes.
struct NcclUniqueId {
  std::array<char, 128> bytes{};
};

// A new id (rank 0 makes it; every rank of the group must get the same one).
NcclUniqueId nccl_unique_id();

// This process's member `rank` of a `world_size` group on GPU `device` (ncclCommInitRank).
std::shared_ptr<ProcessGroup> make_nccl_process_group(int rank, int world_size, int device, const NcclUniqueId& id);

// NCCL's version as a number (ncclGetVersion: 22703 for 2.27.3).
int nccl_version();

}  // namespace tinyxf::distributed
