// Uses tinyxf::nccl (the NCCL process group): prints the NCCL version it links (no GPU needed).
#include <cstdio>

#include <tinyxf/distributed/nccl.hpp>
#include <tinyxf/tinyxf.hpp>

int main() {
  std::printf("NCCL %d\n", tinyxf::distributed::nccl_version());
  return 0;
}
