#pragma once
// The launcher's view of this process: rank, world size and local rank (the rank among the
// processes of this host, which picks its GPU), read from the environment that mpirun (Open MPI:
// OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK), MPICH/Intel MPI (PMI_RANK / PMI_SIZE, MPI_LOCALRANKID),
// Slurm's srun (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID) or torchrun (RANK / WORLD_SIZE /
// LOCAL_RANK) set. Needs no MPI: the Trainer reads it to know whether it runs distributed.
#include <cstdlib>
#include <string>

#include "tinyxf/core/error.hpp"

namespace tinyxf::distributed {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string launcher = "none";  // "openmpi", "pmi", "slurm", "torchrun" or "none"
  bool distributed() const { return world_size > 1; }
};

namespace env_detail {
inline bool read_int(const char* name, int& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return false;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  TINYXF_CHECK_AS(ValueError, end && *end == '\0' && x >= 0 && x < (1L << 30), "environment variable ", name, "='",
                  v, "' is not a rank or size");
  out = static_cast<int>(x);
  return true;
}
}  // namespace env_detail

inline LaunchEnv launch_env() {
  using env_detail::read_int;
  struct Names {
    const char *rank, *size, *local, *launcher;
  };
  for (const Names& n : {Names{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "openmpi"},
                         Names{"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "pmi"},
                         Names{"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "slurm"},
                         Names{"RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun"}}) {
    LaunchEnv e;
    if (!read_int(n.rank, e.rank) || !read_int(n.size, e.world_size)) continue;
    if (!read_int(n.local, e.local_rank)) e.local_rank = 0;
    e.launcher = n.launcher;
    TINYXF_CHECK_AS(ValueError, e.rank < e.world_size, n.rank, "=", e.rank, " is not below ", n.size, "=", e.world_size);
    return e;
  }
  return LaunchEnv{};
}

}  // namespace tinyxf::distributed
