// libtinyxf_cuda.so: the CUDA backend as a plugin (include/tinyxf/core/plugin.hpp), loaded by
// programs the first time they use Device::cuda(i).
#include "tinyxf/core/plugin.hpp"
#include "tinyxf/backends/cuda.hpp"

// One instance per GPU, as register_cuda_backend() registers it when the library is linked.
TINYXF_BACKEND_PLUGIN(tinyxf::backends::cuda_device_count(),
                      [](int index) { return new tinyxf::backends::CudaBackend(index); })
