// The typed errors: representative throw sites raise the Error subclass that names their kind
// (and still derive from tinyxf::Error, which older handlers catch), with the fields they carry.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;

TEST_CASE("errors: shape, index, device and dtype checks throw their types", "[errors]") {
  REQUIRE_THROWS_AS(broadcast_shapes({4, 1, 3}, {2, 4}, "add"), ShapeError);
  const auto a = Tensor::ones({4, 1, 3}), b = Tensor::ones({2, 4});
  REQUIRE_THROWS_AS(a + b, ShapeError);
  REQUIRE_THROWS_AS(a + b, Error);  // handlers of the base type still catch it
  CHECK_THROWS_WITH(a + b, Contains("[4, 1, 3]") && Contains("[2, 4]"));
  REQUIRE_THROWS_AS(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), ShapeError);
  REQUIRE_THROWS_AS(Tensor::empty({2, -1}), ShapeError);

  REQUIRE_THROWS_AS(normalize_dim(3, 2, "sum"), IndexError);
  REQUIRE_THROWS_AS(a.at<float>({4, 0, 0}), IndexError);
  REQUIRE_THROWS_AS(Device::parse("tpu"), DeviceError);
  REQUIRE_THROWS_AS(dispatch_floating(DType::i64, "softmax", [](auto) {}), DTypeError);
  REQUIRE_THROWS_AS(Tensor::ones({2}).item(), ValueError);
}

TEST_CASE("errors: an absurd cpu allocation is an OutOfMemoryError naming size and device", "[errors]") {
  // 2^50 bytes: past any machine's memory and the 47-bit user address space, yet under the 2^62
  // size limit, so the request reaches the cpu allocator.
  const std::int64_t elements = std::int64_t{1} << 48;
  try {
    (void)Tensor::empty({elements}, Device::cpu());
    FAIL("a 1 PiB allocation succeeded");
  } catch (const OutOfMemoryError& error) {
    CHECK(error.bytes() == (std::size_t{1} << 50));
    CHECK(error.device() == "cpu");
    CHECK_THAT(error.what(), Contains("out of memory") && Contains("1125899906842624 bytes"));
  }
  // Past the size limit the request is refused before any backend sees it, with the same type.
  REQUIRE_THROWS_AS(allocate_storage(std::size_t{1} << 63, Device::cpu()), OutOfMemoryError);
}

TEST_CASE("errors: files: IoError with the path, ParseError with offset and line", "[errors]") {
  const std::filesystem::path missing = std::filesystem::temp_directory_path() / "tinyxf_error_test_missing.json";
  std::filesystem::remove(missing);
  try {
    (void)io::read_file(missing);
    FAIL("read a missing file");
  } catch (const IoError& error) {
    CHECK(error.path() == missing.string());
  }
  try {
    (void)json::parse("{\"a\": [1, 2,,]}");
    FAIL("parsed a double comma");
  } catch (const ParseError& error) {
    CHECK(error.byte_offset() == 12);
    CHECK(error.line() == 1);
    CHECK(error.path().empty());  // an in-memory buffer has no path
  }
}

TEST_CASE("errors: rethrow_with_context keeps the type and its fields", "[errors]") {
  const auto wrap = [](auto&& body) {
    try {
      body();
    } catch (const Error&) {
      rethrow_with_context("loading checkpoint-5: ");
    }
  };
  try {
    wrap([] { throw ParseError("json parse error at byte 3", "trainer_state.json", 3, 1); });
    FAIL("nothing thrown");
  } catch (const ParseError& error) {
    CHECK(std::string(error.what()) == "loading checkpoint-5: json parse error at byte 3");
    CHECK(error.path() == "trainer_state.json");
    CHECK(error.byte_offset() == 3);
  }
  REQUIRE_THROWS_AS(wrap([] { broadcast_shapes({2}, {3}, "mul"); }), ShapeError);
  REQUIRE_THROWS_AS(wrap([] { throw OutOfMemoryError("oom", 8, "cuda:0"); }), OutOfMemoryError);
  CHECK_THROWS_WITH(wrap([] { throw Error("plain"); }), "loading checkpoint-5: plain");
}
