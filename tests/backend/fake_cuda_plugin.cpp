// A stand-in for libtinyxf_cuda.so in the plugin test: the cpu backend's kernels serving the
// cuda device type, so the whole loading path runs on a machine without a GPU.
#include "tinyxf/core/plugin.hpp"
#include "tinyxf/backends/cpu.hpp"

namespace {
class FakeCudaBackend final : public tinyxf::backends::CpuBackend {
 public:
  std::string_view name() const override { return "fake-cuda"; }
  tinyxf::DeviceType device_type() const override { return tinyxf::DeviceType::cuda; }
};
}  // namespace

// One device: cuda:1 is the registry's "no device" error.
TINYXF_BACKEND_PLUGIN(1, [](int) { return new FakeCudaBackend(); })
