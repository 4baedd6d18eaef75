// Uses the CUDA-specific API of tinyxf::cuda; prints the GPUs it sees (none is fine).
#include <cstdio>

#include <tinyxf/backends/cuda.hpp>
#include <tinyxf/tinyxf.hpp>

int main() {
  const int n = tinyxf::backends::cuda_device_count();
  std::printf("%d CUDA device(s)\n", n);
  for (int i = 0; i < n; ++i) std::printf("  %s\n", tinyxf::backends::cuda_device_description(i).c_str());
  return 0;
}
