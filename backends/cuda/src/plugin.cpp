// libtinyxf_cuda.so: the CUDA backend as a plugin (include/tinyxf/core/plugin.hpp), loaded by
// programs the first time they use Device::cuda(i).
#include "tinyxf/core/plugin.hpp"
#include "tinyxf/backends/cuda.hpp"

TINYXF_BACKEND_PLUGIN(new tinyxf::backends::CudaBackend())
