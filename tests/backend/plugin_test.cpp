// Backend plugins: a built-in device type without a registered backend loads libtinyxf_<type>.so
// on first use (and only then), from $TINYXF_BACKEND_PATH first; a missing or foreign plugin is a
// clear error naming every place tried. CTest sets TINYXF_BACKEND_PATH to the folder holding the
// stand-in cuda plugin (tests/backend/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tinyxf/core/runtime.hpp"

using namespace tinyxf;

namespace {
bool mapped(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::stringstream all;
  all << maps.rdbuf();
  return all.str().find(needle) != std::string::npos;
}
}  // namespace

TEST_CASE("a plugin backend is loaded on first use of its device, not before", "[backend][plugin]") {
  REQUIRE(std::getenv("TINYXF_BACKEND_PATH") != nullptr);  // run through ctest
  CHECK_FALSE(mapped("libtinyxf_cuda.so"));
  CHECK(runtime().backends().find(DeviceType::cuda) == nullptr);

  Backend& b = backend_for(Device::cuda(0));
  CHECK(b.name() == "fake-cuda");
  CHECK(mapped("libtinyxf_cuda.so"));
  CHECK(&backend_for(Device::cuda(0)) == &b);  // loaded and registered once
  CHECK(b.device() == Device::cuda(0));
  // The plugin's factory serves the devices it reports (the stand-in has one).
  CHECK(device_count(DeviceType::cuda) == 1);
  CHECK_THROWS_WITH(backend_for(Device::cuda(1)), Catch::Contains("no device cuda:1") &&
                                                      Catch::Contains("1 device (cuda:0)"));

  // The plugin's kernels run: fill a buffer it allocated and read it back.
  auto memory = b.allocate(4 * sizeof(float), 0);
  KernelView view;
  view.data = memory.get();
  view.dtype = DType::f32;
  view.ndim = 1;
  view.shape[0] = 4;
  view.strides[0] = 1;
  b.fill(view, 2.5);
  std::vector<float> host(4);
  b.copy_to_host(host.data(), memory.get(), 4 * sizeof(float), 0);
  CHECK(host == std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f});
}

TEST_CASE("a missing or foreign plugin is a clear error naming what was tried", "[backend][plugin]") {
  std::string why;
  CHECK(load_backend_plugin("nosuchbackend", &why) == nullptr);
  CHECK_THAT(why, Catch::Contains("libtinyxf_nosuchbackend.so"));
  CHECK_THAT(why, Catch::Contains("/nonexistent-dir/libtinyxf_nosuchbackend.so: no such file"));

  CHECK(load_backend_plugin("badabi", &why) == nullptr);
  CHECK_THAT(why, Catch::Contains("libtinyxf_badabi.so: built for backend ABI"));
  CHECK_THAT(why, Catch::Contains("rebuild the plugin"));
  // Tried once: asking again gives the same answer without reopening.
  std::string again;
  CHECK(load_backend_plugin("badabi", &again) == nullptr);
  CHECK(again == why);
}
