// The Runtime (core/runtime.hpp): one object holds the thread pool's size, the backends and
// their allocators, the default generator and the setup log.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "tinyxf/tensor.hpp"

using namespace tinyxf;

TEST_CASE("the runtime owns the thread count", "[runtime]") {
  Runtime& rt = runtime();
  CHECK(&rt == &runtime());
  const int saved = rt.num_threads();
  set_num_threads(3);
  CHECK(rt.num_threads() == 3);
  CHECK(num_threads() == 3);
  rt.set_num_threads(1);
  CHECK(num_threads() == 1);
  CHECK_THROWS_AS(rt.set_num_threads(0), Error);
  CHECK_THROWS_AS(set_num_threads(kMaxThreads + 1), Error);
  CHECK(num_threads() == 1);
  rt.set_num_threads(saved);
}

TEST_CASE("the runtime's generator is the default one", "[runtime]") {
  CHECK(&default_generator() == &runtime().default_generator());
  manual_seed(1234);
  CHECK(runtime().default_generator().seed() == 1234);
  CHECK(runtime().default_generator().offset() == 0);
  const auto a = Tensor::rand({64}).to_vector<float>();
  runtime().manual_seed(1234);
  const auto b = Tensor::rand({64}).to_vector<float>();
  CHECK(a == b);
  CHECK(runtime().default_generator().offset() > 0);
}

TEST_CASE("the runtime knows the backends and what they set up", "[runtime]") {
  CHECK(runtime().backends().find(DeviceType::cpu) == &backend_for(Device::cpu()));
  const std::string summary = runtime().summary();
  INFO(summary);
  CHECK(summary.find(std::to_string(num_threads()) + " thread") == 0);
  CHECK(summary.find("cpu: ") != std::string::npos);
  CHECK(summary.find(" kernels, OpenBLAS ") != std::string::npos);
  CHECK(summary.find("reference") != std::string::npos);
  // The OpenBLAS kernel switch (blas_core.hpp) leaves no trace in the environment; when it
  // happened, the log says so.
  for (const std::string& line : runtime().log_messages())
    if (line.find("OpenBLAS does not know this CPU") != std::string::npos &&
        line.find("using its") != std::string::npos)
      CHECK(std::getenv("OPENBLAS_CORETYPE") == nullptr);
}

TEST_CASE("the runtime's log keeps what it is told", "[runtime]") {
  const auto before = runtime().log_messages().size();
  runtime().log(LogLevel::info, "runtime_test: an info line (printed only with TINYXF_VERBOSE=1)");
  const auto after = runtime().log_messages();
  REQUIRE(after.size() == before + 1);
  CHECK(after.back() == "runtime_test: an info line (printed only with TINYXF_VERBOSE=1)");
}

TEST_CASE("the runtime reaches each device's allocator", "[runtime][memory]") {
  const Device cpu = Device::cpu();
  runtime().empty_cache(cpu);
  const MemoryStats start = runtime().memory_stats(cpu);
  CHECK(start.cached_bytes == 0);
  constexpr std::size_t kBytes = std::size_t{16} << 20;  // far above the cached-block minimum
  {
    Tensor big = Tensor::zeros({static_cast<std::int64_t>(kBytes / sizeof(float))});
    const MemoryStats live = runtime().memory_stats(cpu);
    CHECK(live.allocated_bytes >= start.allocated_bytes + kBytes);
    CHECK(live.peak_allocated_bytes >= live.allocated_bytes);
  }
  const MemoryStats freed = runtime().memory_stats(cpu);
  CHECK(freed.allocated_bytes == start.allocated_bytes);
  CHECK(freed.cached_bytes >= kBytes);
  runtime().empty_cache(cpu);
  CHECK(runtime().memory_stats(cpu).cached_bytes == 0);
  // A backend that keeps no counters reports zeros.
  const MemoryStats ref = runtime().memory_stats(Device::reference());
  CHECK(ref.allocated_bytes == 0);
  CHECK(ref.cached_bytes == 0);
}
