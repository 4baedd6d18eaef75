// One backend instance per device index (core/backend.hpp's registry): the debug backend of the
// conformance suite has two devices, debug:0 and debug:1, each served by its own instance, made
// once on first use; single-device backends (cpu) reject other indices with a clear error.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../conformance/debug_backend/debug_backend.hpp"

using namespace tinyxf;
using tinyxf::testing::debug_backend;
using tinyxf::testing::DebugBackend;

TEST_CASE("each device index has its own instance, made once", "[backend][devices]") {
  Backend& first = backend_for(DebugBackend::device(0));
  Backend& second = backend_for(DebugBackend::device(1));
  CHECK(&first != &second);
  CHECK(first.device() == DebugBackend::device(0));
  CHECK(second.device() == DebugBackend::device(1));
  CHECK(second.device_index() == 1);
  CHECK(&backend_for(DebugBackend::device(1)) == &second);
  CHECK(&backend_for(Device::parse("debug:1")) == &second);
  CHECK(runtime().backends().find(DebugBackend::type()) == &first);
  CHECK(device_count(DebugBackend::type()) == 2);
  CHECK(device_count(DeviceType::cpu) == 1);
}

TEST_CASE("two threads asking for a new device get the one instance", "[backend][devices]") {
  // A type of this test's own, so that neither index exists before the threads ask.
  const DeviceType type = register_device_type("instances_test");
  static std::atomic<int> made{0};  // the factory outlives this test case
  register_backend_type(type, [] { return 2; }, [type](int index) {
    made.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // widen the race window
    return std::make_shared<DebugBackend>(index, type);
  });
  for (int index : {1, 0}) {
    std::vector<Backend*> seen(2, nullptr);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < seen.size(); ++t)
      threads.emplace_back([&seen, t, type, index] { seen[t] = &backend_for(Device{type, index}); });
    for (auto& thread : threads) thread.join();
    CHECK(seen[0] == seen[1]);
    CHECK(seen[0]->device() == Device{type, index});
  }
  CHECK(made.load() == 2);  // once per index
  CHECK(&backend_for(Device{type, 1}) != &backend_for(Device{type, 0}));
  CHECK(made.load() == 2);
}

TEST_CASE("ops on a device run on that device's instance", "[backend][devices]") {
  DebugBackend& zero = debug_backend(0);
  DebugBackend& one = debug_backend(1);
  zero.reset_counts();
  one.reset_counts();

  const auto x = Tensor::from_vector(std::vector<float>{1, -2, 3}, DebugBackend::device(1));
  CHECK(x.device() == DebugBackend::device(1));
  CHECK(&x.impl()->backend() == &one);
  const auto y = exp(x) + x;
  CHECK(one.calls("allocate") >= 3);
  CHECK(one.calls("unary") == 1);
  CHECK(one.calls("binary") == 1);
  CHECK(zero.total_calls() == 0);

  // debug:1 -> debug:0: host memory, so instance 0 copies it into its own allocation.
  const auto moved = y.to(DebugBackend::device(0));
  CHECK(moved.device() == DebugBackend::device(0));
  CHECK(zero.calls("allocate") == 1);
  CHECK(zero.calls("copy_from_host") == 1);
  CHECK(moved.to_vector<float>() == y.to_vector<float>());

  const auto on_zero = Tensor::from_vector(std::vector<float>{1, 2, 3}, DebugBackend::device(0));
  zero.reset_counts();
  one.reset_counts();
  const auto z = on_zero * on_zero;
  CHECK(zero.calls("binary") == 1);
  CHECK(one.total_calls() == 0);
  CHECK_THROWS_WITH(on_zero + x, Catch::Contains("different devices"));
}

TEST_CASE("an instance refuses another device's index", "[backend][devices]") {
  DebugBackend& one = debug_backend(1);
  CHECK_THROWS_AS(one.allocate(16, 0), DeviceError);
  CHECK_THROWS_WITH(one.allocate(16, 0), Catch::Contains("device index 0") && Catch::Contains("debug:1"));
  CHECK(one.allocate(16, 1) != nullptr);
}

TEST_CASE("a device index the backend does not have is a clear error", "[backend][devices]") {
  CHECK_THROWS_AS(backend_for(DebugBackend::device(2)), DeviceError);
  CHECK_THROWS_WITH(backend_for(DebugBackend::device(2)),
                    Catch::Contains("no device debug:2") && Catch::Contains("2 devices (debug:0 .. debug:1)"));
  CHECK_THROWS_WITH(Tensor::zeros({3}, TensorOptions(Device::parse("debug:7"))), Catch::Contains("no device debug:7"));
  CHECK_THROWS_WITH(backend_for(Device{DebugBackend::type(), -1}), Catch::Contains("no device debug:-1"));
  CHECK_THROWS_WITH(backend_for(Device{DebugBackend::type(), kMaxDeviceIndices + 3}),
                    Catch::Contains("no device debug:67"));
}

TEST_CASE("the cpu backend serves cpu:0 only", "[backend][devices]") {
  const Device cpu1 = Device::parse("cpu:1");
  CHECK(cpu1.str() == "cpu:1");
  CHECK_THROWS_AS(backend_for(cpu1), DeviceError);
  CHECK_THROWS_WITH(backend_for(cpu1), Catch::Contains("no device cpu:1") && Catch::Contains("1 device (cpu:0)"));
  CHECK_THROWS_WITH(Tensor::ones({2}, TensorOptions(cpu1)), Catch::Contains("no device cpu:1"));
  CHECK(backend_for(Device::cpu()).device() == Device::cpu());
}

TEST_CASE("registration checks what it is given", "[backend][devices]") {
  // An instance registered alone serves index 0.
  const DeviceType lone = register_device_type("instances_test_lone");
  CHECK_THROWS_WITH(register_backend(std::make_shared<DebugBackend>(1, lone)),
                    Catch::Contains("serves instances_test_lone:1") && Catch::Contains("register_backend_type"));
  // A factory must make the instance of the index it is asked for.
  const DeviceType sloppy = register_device_type("instances_test_sloppy");
  register_backend_type(sloppy, [] { return 2; }, [sloppy](int) { return std::make_shared<DebugBackend>(0, sloppy); });
  CHECK(backend_for(Device{sloppy, 0}).device_index() == 0);
  CHECK_THROWS_WITH(backend_for(Device{sloppy, 1}),
                    Catch::Contains("asked for instances_test_sloppy:1") &&
                        Catch::Contains("made an instance serving instances_test_sloppy:0"));
}
