// Uses tinyxf::mpi: joins the MPI job, sums a tensor over the ranks and prints the result.
#include <cstdio>

#include <tinyxf/distributed/distributed.hpp>
#include <tinyxf/tinyxf.hpp>

int main() {
  auto group = tinyxf::distributed::init_process_group("mpi");
  auto t = tinyxf::Tensor::full({3}, 1.0);
  group->all_reduce(t);
  std::printf("rank %d of %d: all_reduce sum %g\n", group->rank(), group->size(), t.to_vector<float>()[0]);
  return 0;
}
