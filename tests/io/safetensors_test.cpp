#include "tinyxf/io/safetensors.hpp"

#include <bit>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/core/half.hpp"
#include "tinyxf/io/json.hpp"

namespace fs = std::filesystem;
namespace io = tinyxf::io;
using Catch::Matchers::Contains;
using io::StDtype;

namespace {
fs::path test_directory() {
  const fs::path directory = fs::path(TINYXF_BINARY_DIR) / "tests" / "io";
  fs::create_directories(directory);
  return directory;
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span<const T>(values));
}

// A safetensors file from a header text and a data buffer (no padding added).
std::string craft(std::string_view header, std::string_view data) {
  std::string file(8, '\0');
  const std::uint64_t size = header.size();
  std::memcpy(file.data(), &size, 8);
  file += header;
  file += data;
  return file;
}

// The message of the error that opening `bytes` throws (fails the test when it opens fine).
std::string open_error(const std::string& bytes) {
  try {
    io::SafetensorsFile::from_memory(bytes, "crafted.safetensors");
  } catch (const tinyxf::Error& error) {
    return error.what();
  }
  FAIL("the reader accepted an invalid file");
  return {};
}

std::string tensor_entry(std::string_view dtype, std::string_view shape, std::string_view offsets) {
  return "{\"dtype\":\"" + std::string(dtype) + "\",\"shape\":" + std::string(shape) +
         ",\"data_offsets\":" + std::string(offsets) + "}";
}

const std::vector<float> f16_values = {1.0f, -2.5f, 65504.0f, 0x1p-24f};
const std::vector<float> bf16_values = {1.0f, -3.140625f, 0.0078125f, -0.0f};
const std::vector<std::uint64_t> u64_values = {0, 1, (std::uint64_t{1} << 53) + 1, UINT64_MAX};

std::vector<std::uint16_t> encode(const std::vector<float>& values, std::uint16_t (*encoder)(float)) {
  std::vector<std::uint16_t> bits;
  for (float value : values) bits.push_back(encoder(value));
  return bits;
}

// One tensor of every dtype (the same values make_safetensors_golden.py --check-cpp expects).
io::SafetensorsWriter all_dtypes_writer() {
  io::SafetensorsWriter writer;
  const std::vector<std::int64_t> shape = {2, 2};
  writer.add("bool", StDtype::BOOL, shape, bytes_of(std::vector<std::uint8_t>{1, 0, 0, 1}));
  writer.add("u8", StDtype::U8, shape, bytes_of(std::vector<std::uint8_t>{0, 1, 127, 255}));
  writer.add("i8", StDtype::I8, shape, bytes_of(std::vector<std::int8_t>{-128, -1, 0, 127}));
  writer.add("u16", StDtype::U16, shape, bytes_of(std::vector<std::uint16_t>{0, 1, 1000, 65535}));
  writer.add("i16", StDtype::I16, shape, bytes_of(std::vector<std::int16_t>{-32768, -1, 0, 32767}));
  writer.add("f16", StDtype::F16, shape, bytes_of(encode(f16_values, io::float_to_f16)));
  writer.add("bf16", StDtype::BF16, shape, bytes_of(encode(bf16_values, io::float_to_bf16)));
  writer.add("u32", StDtype::U32, shape, bytes_of(std::vector<std::uint32_t>{0, 1, 123456789, UINT32_MAX}));
  writer.add("i32", shape, std::vector<std::int32_t>{INT32_MIN, -1, 0, INT32_MAX});
  writer.add("f32", shape, std::vector<float>{0.5f, -1.25f, 3.0e38f, 1e-8f});
  writer.add("f64", shape, std::vector<double>{0.1, -1e300, 5e-324, 2.0});
  writer.add("u64", StDtype::U64, shape, bytes_of(u64_values));
  writer.add("i64", shape, std::vector<std::int64_t>{INT64_MIN, -1, 0, INT64_MAX});
  writer.add("empty", {0, 3}, std::vector<float>{});
  writer.add("scalar", {}, std::vector<std::int64_t>{42});
  writer.set_metadata("writer", "tinyxf");
  writer.set_metadata("format", "pt");
  return writer;
}

void check_all_dtypes(const io::SafetensorsFile& file) {
  const std::vector<std::string> expected_names = {"bool", "u8",  "i8",  "u16", "i16", "f16",   "bf16",  "u32",
                                                   "i32",  "f32", "f64", "u64", "i64", "empty", "scalar"};
  CHECK(file.names() == expected_names);  // insertion order is file order
  CHECK(file.size() == expected_names.size());
  CHECK(file.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"writer", "tinyxf"}});
  CHECK(file.header_size() % 8 == 0);

  for (StDtype dtype : io::all_st_dtypes) {
    std::string name(io::dtype_name(dtype));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const io::StTensorInfo& info = file.info(name);
    CHECK(info.dtype == dtype);
    CHECK(info.shape == std::vector<std::int64_t>{2, 2});
    CHECK(info.numel() == 4);
    CHECK(info.byte_size() == 4 * io::element_size(dtype));
    CHECK(file.raw(name).size() == info.byte_size());
    CHECK(file.raw(name).data() == info.bytes.data());
  }

  CHECK(file.to_int64("bool") == std::vector<std::int64_t>{1, 0, 0, 1});
  CHECK(file.to_int64("u8") == std::vector<std::int64_t>{0, 1, 127, 255});
  CHECK(file.to_int64("i8") == std::vector<std::int64_t>{-128, -1, 0, 127});
  CHECK(file.to_int64("u16") == std::vector<std::int64_t>{0, 1, 1000, 65535});
  CHECK(file.to_int64("i16") == std::vector<std::int64_t>{-32768, -1, 0, 32767});
  CHECK(file.to_int64("u32") == std::vector<std::int64_t>{0, 1, 123456789, UINT32_MAX});
  CHECK(file.to_int64("i32") == std::vector<std::int64_t>{INT32_MIN, -1, 0, INT32_MAX});
  CHECK(file.to_int64("i64") == std::vector<std::int64_t>{INT64_MIN, -1, 0, INT64_MAX});
  CHECK(file.to_int64("scalar") == std::vector<std::int64_t>{42});
  CHECK_THROWS_WITH(file.to_int64("u64"),
                    Contains("tensor 'u64'") && Contains("element 3") && Contains("does not fit in int64"));
  CHECK_THROWS_WITH(file.to_int64("f32"), Contains("tensor 'f32'") && Contains("dtype is F32"));

  CHECK(file.to_float32("bool") == std::vector<float>{1, 0, 0, 1});
  CHECK(file.to_float32("i8") == std::vector<float>{-128, -1, 0, 127});
  CHECK(file.to_float32("u16") == std::vector<float>{0, 1, 1000, 65535});
  CHECK(file.to_float32("i16") == std::vector<float>{-32768, -1, 0, 32767});
  CHECK(file.to_float32("u32") == std::vector<float>{0, 1, 123456789.0f, 4294967295.0f});
  CHECK(file.to_float32("i32") == std::vector<float>{-2147483648.0f, -1, 0, 2147483647.0f});
  CHECK(file.to_float32("u64") == std::vector<float>{0, 1, 9007199254740992.0f, 18446744073709551615.0f});
  CHECK(file.to_float32("i64") == std::vector<float>{-9223372036854775808.0f, -1, 0, 9223372036854775807.0f});
  CHECK(file.to_float32("f16") == f16_values);
  const std::vector<float> bf16 = file.to_float32("bf16");
  CHECK(bf16 == bf16_values);
  CHECK(std::signbit(bf16[3]));
  CHECK(file.to_float32("f32") == std::vector<float>{0.5f, -1.25f, 3.0e38f, 1e-8f});
  CHECK(file.to_float32("f64") == std::vector<float>{0.1f, -INFINITY, 0.0f, 2.0f});
  const std::vector<std::byte> f64_bytes(file.raw("f64").begin(), file.raw("f64").end());
  std::vector<double> f64(4);
  std::memcpy(f64.data(), f64_bytes.data(), 32);
  CHECK(f64 == std::vector<double>{0.1, -1e300, 5e-324, 2.0});
  CHECK(file.to_float32("empty").empty());
  CHECK(file.info("empty").shape == std::vector<std::int64_t>{0, 3});
  CHECK(file.info("scalar").shape.empty());
}
}  // namespace

TEST_CASE("safetensors: dtype names and sizes", "[io][safetensors]") {
  CHECK(std::size(io::all_st_dtypes) == 13);
  for (StDtype dtype : io::all_st_dtypes) CHECK(io::dtype_from_name(io::dtype_name(dtype)) == dtype);
  CHECK(io::element_size(StDtype::BOOL) == 1);
  CHECK(io::element_size(StDtype::BF16) == 2);
  CHECK(io::element_size(StDtype::I32) == 4);
  CHECK(io::element_size(StDtype::U64) == 8);
  CHECK_FALSE(io::dtype_from_name("F8_E4M3").has_value());
  CHECK_FALSE(io::dtype_from_name("f32").has_value());  // names are case sensitive
}

TEST_CASE("half: F16 conversions are exact or round to nearest even", "[io][half]") {
  // Every finite half survives half -> float -> half; NaNs stay NaNs.
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto half = static_cast<std::uint16_t>(bits);
    const float value = io::f16_to_float(half);
    if (std::isnan(value)) {
      CHECK((half & 0x7C00) == 0x7C00);
      CHECK(std::isnan(io::f16_to_float(io::float_to_f16(value))));
    } else if (io::float_to_f16(value) != half) {
      FAIL("half 0x" << std::hex << bits << " does not round-trip");
    }
  }
  CHECK(io::f16_to_float(0x3C00) == 1.0f);
  CHECK(io::f16_to_float(0x0001) == 0x1p-24f);    // smallest subnormal
  CHECK(io::f16_to_float(0x03FF) == 0x3FFp-24f);  // largest subnormal
  CHECK(io::f16_to_float(0x7BFF) == 65504.0f);
  CHECK(io::f16_to_float(0xFC00) == -INFINITY);
  CHECK(io::float_to_f16(1.0f + 0x1p-11f) == 0x3C00);      // tie: down to even
  CHECK(io::float_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02);  // tie: up to even
  CHECK(io::float_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);
  CHECK(io::float_to_f16(65519.0f) == 0x7BFF);
  CHECK(io::float_to_f16(65520.0f) == 0x7C00);  // halfway to 65536 rounds to infinity
  CHECK(io::float_to_f16(1e10f) == 0x7C00);
  CHECK(io::float_to_f16(-1e10f) == 0xFC00);
  CHECK(io::float_to_f16(0x1p-25f) == 0x0000);  // tie between 0 and 2^-24: even
  CHECK(io::float_to_f16(0x1p-25f + 0x1p-40f) == 0x0001);
  CHECK(io::float_to_f16(0x3p-25f) == 0x0002);    // tie: up to even
  CHECK(io::float_to_f16(0x7FFp-25f) == 0x0400);  // rounds up into the normal range
  CHECK(io::float_to_f16(-0.0f) == 0x8000);
  CHECK(io::float_to_f16(1e-30f) == 0x0000);
}

TEST_CASE("half: BF16 conversions round to nearest even", "[io][half]") {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto bf16 = static_cast<std::uint16_t>(bits);
    const float value = io::bf16_to_float(bf16);
    if (std::isnan(value)) {
      CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(value))));
    } else if (io::float_to_bf16(value) != bf16) {
      FAIL("bf16 0x" << std::hex << bits << " does not round-trip");
    }
  }
  CHECK(io::bf16_to_float(0x3F80) == 1.0f);
  CHECK(io::float_to_bf16(1.0f + 0x1p-8f) == 0x3F80);      // tie: down to even
  CHECK(io::float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);  // tie: up to even
  CHECK(io::float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81);
  CHECK(io::float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);  // rounds to infinity
  CHECK(io::float_to_bf16(-INFINITY) == 0xFF80);
  // A NaN whose payload lives only in the low bits must not round into infinity.
  const float low_payload_nan = std::bit_cast<float>(std::uint32_t{0x7F800001});
  CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(low_payload_nan))));
}

TEST_CASE("safetensors: every dtype round-trips through memory and a mapped file", "[io][safetensors]") {
  const io::SafetensorsWriter writer = all_dtypes_writer();
  CHECK(writer.size() == 15);
  CHECK(writer.header().size() % 8 == 0);

  const io::SafetensorsFile from_memory = io::SafetensorsFile::from_memory(writer.serialize());
  CHECK_FALSE(from_memory.is_memory_mapped());
  check_all_dtypes(from_memory);

  const fs::path path = test_directory() / "all_dtypes.safetensors";
  writer.write(path);
  io::SafetensorsFile mapped(path);
  CHECK(mapped.is_memory_mapped());
  CHECK(mapped.source() == path.string());
  check_all_dtypes(mapped);
  const std::string on_disk = io::read_file(path);
  const auto serialized = writer.serialize();
  CHECK(on_disk.size() == serialized.size());
  CHECK(std::memcmp(on_disk.data(), serialized.data(), serialized.size()) == 0);

  // Moving the reader keeps the mapping and every span valid.
  const auto* raw_before = mapped.raw("f32").data();
  io::SafetensorsFile moved(std::move(mapped));
  CHECK(moved.raw("f32").data() == raw_before);
  check_all_dtypes(moved);
}

TEST_CASE("safetensors: writer header layout", "[io][safetensors]") {
  io::SafetensorsWriter writer;
  writer.add("w", {2}, std::vector<float>{1.0f, 2.0f});
  writer.add("b", StDtype::U8, {3}, bytes_of(std::vector<std::uint8_t>{7, 8, 9}));
  writer.set_metadata("k", "v");
  const std::string header = writer.header();
  CHECK(header == R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})" +
                      std::string(4, ' '));
  const auto bytes = writer.serialize();
  REQUIRE(bytes.size() == 8 + header.size() + 11);
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  CHECK(length == header.size());
  CHECK(bytes.back() == std::byte{9});

  io::SafetensorsWriter empty;
  CHECK(empty.header() == "{}      ");
  CHECK(io::SafetensorsFile::from_memory(empty.serialize()).size() == 0);
}

TEST_CASE("safetensors: writer rejects bad tensors", "[io][safetensors]") {
  io::SafetensorsWriter writer;
  writer.add("w", {2}, std::vector<float>{1.0f, 2.0f});
  CHECK_THROWS_WITH(writer.add("w", {2}, std::vector<float>{1.0f, 2.0f}), Contains("duplicate tensor name 'w'"));
  CHECK_THROWS_WITH(writer.add("x", {3}, std::vector<float>{1.0f, 2.0f}),
                    Contains("tensor 'x'") && Contains("needs 12 bytes, got 8"));
  CHECK_THROWS_WITH(writer.add("y", {-1}, std::vector<float>{}), Contains("tensor 'y'") && Contains("non-negative"));
  CHECK_THROWS_WITH(writer.add("__metadata__", {0}, std::vector<float>{}), Contains("reserved"));
  CHECK_THROWS_WITH(writer.add("z", {1LL << 62, 8}, std::vector<float>{}),
                    Contains("tensor 'z'") && Contains("exceeds the size limit"));
  CHECK(writer.size() == 1);
}

TEST_CASE("safetensors: add_view writes the caller's buffer without copying", "[io][safetensors]") {
  std::vector<float> weights = {1.0f, 2.0f, 3.0f};
  io::SafetensorsWriter writer;
  writer.add_view("w", StDtype::F32, {3}, bytes_of(weights));
  writer.add("copy", {3}, weights);
  weights[0] = 10.0f;  // the view sees the change, the copy does not
  const io::SafetensorsFile file = io::SafetensorsFile::from_memory(writer.serialize());
  CHECK(file.to_float32("w") == std::vector<float>{10.0f, 2.0f, 3.0f});
  CHECK(file.to_float32("copy") == std::vector<float>{1.0f, 2.0f, 3.0f});
}

TEST_CASE("safetensors: reader accepts padding, trailing bytes, empty and zero-size tensors", "[io][safetensors]") {
  const std::string entries = "{\"a\":" + tensor_entry("F32", "[2]", "[0,8]") +
                              ",\"z\":" + tensor_entry("I64", "[0,5]", "[8,8]") +
                              ",\"b\":" + tensor_entry("U8", "[4]", "[8,12]") + "}";
  const std::string data = std::string("\x00\x00\x80\x3F\x00\x00\x00\x40", 8) + "\x01\x02\x03\x04";

  const io::SafetensorsFile plain = io::SafetensorsFile::from_memory(craft(entries, data));
  CHECK(plain.names() == std::vector<std::string>{"a", "z", "b"});
  CHECK(plain.to_float32("a") == std::vector<float>{1.0f, 2.0f});
  CHECK(plain.to_int64("b") == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(plain.to_int64("z").empty());
  CHECK(plain.metadata().empty());

  const io::SafetensorsFile padded = io::SafetensorsFile::from_memory(craft(entries + "       ", data));
  CHECK(padded.to_float32("a") == std::vector<float>{1.0f, 2.0f});

  const io::SafetensorsFile trailing = io::SafetensorsFile::from_memory(craft(entries, data + "trailing bytes"));
  CHECK(trailing.to_int64("b") == std::vector<std::int64_t>{1, 2, 3, 4});

  // Header order does not matter: names() follows the data offsets.
  const std::string reversed =
      "{\"b\":" + tensor_entry("U8", "[4]", "[8,12]") + ",\"a\":" + tensor_entry("F32", "[2]", "[0,8]") + "}";
  CHECK(io::SafetensorsFile::from_memory(craft(reversed, data)).names() == std::vector<std::string>{"a", "b"});

  CHECK(io::SafetensorsFile::from_memory(craft("{}", "")).size() == 0);
  CHECK(io::SafetensorsFile::from_memory(craft("{\"__metadata__\":{}}", "")).size() == 0);

  // Unaligned data (header length not a multiple of 8) still reads correctly.
  std::size_t pad = 1;
  while ((8 + entries.size() + pad) % 4 == 0) ++pad;
  const io::SafetensorsFile unaligned = io::SafetensorsFile::from_memory(craft(entries + std::string(pad, ' '), data));
  CHECK(reinterpret_cast<std::uintptr_t>(unaligned.raw("a").data()) % 4 != 0);
  CHECK(unaligned.to_float32("a") == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("safetensors: every validation error names the tensor and the failed check", "[io][safetensors]") {
  const auto one = [](std::string_view dtype, std::string_view shape, std::string_view offsets) {
    return "{\"w\":" + tensor_entry(dtype, shape, offsets) + "}";
  };
  const std::string eight(8, '\0');
  const std::string prefix = "safetensors 'crafted.safetensors': ";

  CHECK_THAT(open_error(""), Contains(prefix) && Contains("file is 0 bytes, shorter than the 8-byte header length"));
  CHECK_THAT(open_error("abc"), Contains("file is 3 bytes"));
  CHECK_THAT(open_error(craft("{}", "").substr(0, 9)), Contains("header length 2 exceeds the file size 9 minus 8"));
  std::string huge_length(8, '\xFF');
  CHECK_THAT(open_error(huge_length + "{}"), Contains("header length 18446744073709551615 exceeds the file size 10"));

  CHECK_THAT(open_error(craft("{\"w\":", "")), Contains("header JSON malformed") && Contains("byte 5"));
  CHECK_THAT(open_error(craft("{\"w\":{}} x", "")),
             Contains("header JSON malformed") && Contains("byte 9") && Contains("expected end of input"));
  CHECK_THAT(open_error(craft("[1,2]", "")), Contains("header is a JSON array, not an object"));
  CHECK_THAT(open_error(craft("{\"w\":[1]}", "")), Contains("tensor 'w': entry is a JSON array, not an object"));

  CHECK_THAT(open_error(craft("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", eight)),
             Contains("tensor 'w': missing \"dtype\""));
  CHECK_THAT(open_error(craft("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", eight)),
             Contains("tensor 'w': \"dtype\" is a JSON integer, not a string"));
  CHECK_THAT(open_error(craft(one("F8_E4M3", "[1]", "[0,1]"), eight)), Contains("tensor 'w': unknown dtype 'F8_E4M3'"));
  CHECK_THAT(open_error(craft("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", eight)),
             Contains("tensor 'w': missing \"shape\""));
  CHECK_THAT(open_error(craft(one("F32", "4", "[0,4]"), eight)), Contains("tensor 'w': \"shape\" is a JSON integer"));
  CHECK_THAT(open_error(craft(one("F32", "[2,-1]", "[0,4]"), eight)),
             Contains("tensor 'w': shape dimension 1 is -1, not a non-negative integer"));
  CHECK_THAT(open_error(craft(one("F32", "[2.5]", "[0,4]"), eight)),
             Contains("tensor 'w': shape dimension 0 is 2.5, not a non-negative integer"));
  CHECK_THAT(open_error(craft(one("F32", "[\"2\"]", "[0,4]"), eight)), Contains("shape dimension 0 is \"2\""));
  CHECK_THAT(open_error(craft(one("F32", "[4294967296,4294967296,16]", "[0,4]"), eight)),
             Contains("tensor 'w': shape [4294967296, 4294967296, 16] of F32 exceeds the size limit"));
  CHECK_THAT(open_error(craft(one("F32", "[4611686018427387904]", "[0,4]"), eight)),
             Contains("tensor 'w'") && Contains("exceeds the size limit"));  // the element count fits, the byte count does not
  CHECK_THAT(open_error(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", eight)),
             Contains("tensor 'w': missing \"data_offsets\""));
  CHECK_THAT(open_error(craft(one("F32", "[1]", "[0]"), eight)),
             Contains("tensor 'w': \"data_offsets\" must be [begin, end] with non-negative integers, got [0]"));
  CHECK_THAT(open_error(craft(one("F32", "[1]", "[-4,0]"), eight)), Contains("got [-4,0]"));
  CHECK_THAT(open_error(craft(one("F32", "[1]", "[0,4.0]"), eight)), Contains("got [0,4.0]"));
  CHECK_THAT(open_error(craft(one("F32", "[1]", "{}"), eight)), Contains("got {}"));
  CHECK_THAT(open_error(craft(one("F32", "[0]", "[4,0]"), eight)),
             Contains("tensor 'w': data_offsets begin 4 is after end 0"));
  CHECK_THAT(open_error(craft(one("F32", "[4]", "[0,16]"), eight)),
             Contains("tensor 'w': data_offsets end 16 is past the end of the data buffer (8 bytes)"));
  CHECK_THAT(open_error(craft(one("F32", "[2,3]", "[0,8]"), eight)),
             Contains("tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 8] span 8"));

  const std::string overlapping =
      "{\"a\":" + tensor_entry("F32", "[2]", "[0,8]") + ",\"b\":" + tensor_entry("F32", "[1]", "[4,8]") + "}";
  CHECK_THAT(open_error(craft(overlapping, eight)),
             Contains("tensor 'b' (data bytes [4, 8)) overlaps tensor 'a' (data bytes [0, 8))"));
  const std::string aliased =
      "{\"a\":" + tensor_entry("F32", "[2]", "[0,8]") + ",\"b\":" + tensor_entry("F32", "[2]", "[0,8]") + "}";
  CHECK_THAT(open_error(craft(aliased, eight)), Contains("overlaps"));
  const std::string gap =
      "{\"a\":" + tensor_entry("F32", "[1]", "[0,4]") + ",\"b\":" + tensor_entry("U8", "[2]", "[6,8]") + "}";
  CHECK_THAT(open_error(craft(gap, eight)),
             Contains("gap in the data buffer: bytes [4, 6) before tensor 'b' belong to no tensor"));
  CHECK_THAT(open_error(craft(one("F32", "[1]", "[4,8]"), eight)), Contains("bytes [0, 4) before tensor 'w'"));

  const std::string duplicate =
      "{\"w\":" + tensor_entry("F32", "[1]", "[0,4]") + ",\"w\":" + tensor_entry("F32", "[1]", "[4,8]") + "}";
  CHECK_THAT(open_error(craft(duplicate, eight)), Contains(prefix + "duplicate tensor name 'w'"));
  CHECK_THAT(open_error(craft("{\"__metadata__\":{},\"__metadata__\":{}}", "")),
             Contains("duplicate \"__metadata__\" entry"));
  CHECK_THAT(open_error(craft("{\"__metadata__\":[]}", "")),
             Contains("\"__metadata__\" is a JSON array, not an object"));
  CHECK_THAT(open_error(craft("{\"__metadata__\":{\"step\":10}}", "")),
             Contains("\"__metadata__\" value for key 'step' is a JSON integer, not a string"));
  CHECK_THAT(open_error(craft("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", "")),
             Contains("duplicate \"__metadata__\" key 'k'"));
  // A field repeated inside an entry (Python's safetensors: "duplicate field `dtype`"); the
  // parser keeps both and the first used to win.
  CHECK_THAT(open_error(craft(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"dtype":"I64","shape":[1]}})", eight)),
             Contains(prefix + "tensor 'w': duplicate field \"dtype\" in its entry"));
  CHECK_THAT(open_error(craft(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"data_offsets":[0,8]}})", eight)),
             Contains("tensor 'w': duplicate field \"data_offsets\""));

  const io::SafetensorsFile file = io::SafetensorsFile::from_memory(craft(one("F32", "[2]", "[0,8]"), eight));
  CHECK_THROWS_WITH(file.info("missing"), Contains("no tensor named 'missing'"));
  CHECK_THROWS_WITH(file.raw("missing"), Contains("no tensor named 'missing'"));
}

TEST_CASE("safetensors: opening files by path", "[io][safetensors]") {
  const fs::path directory = test_directory();
  CHECK_THROWS_WITH(io::SafetensorsFile(directory / "missing.safetensors"),
                    Contains("missing.safetensors") && Contains("No such file or directory"));
  const fs::path empty = directory / "empty.safetensors";
  io::write_file_atomic(empty, "");
  CHECK_THROWS_WITH(io::SafetensorsFile(empty), Contains(empty.string()) && Contains("file is 0 bytes"));
  const fs::path broken = directory / "broken.safetensors";
  io::write_file_atomic(broken, craft("{\"w\":" + tensor_entry("F32", "[3]", "[0,8]") + "}", std::string(8, '\0')));
  CHECK_THROWS_WITH(io::SafetensorsFile(broken),
                    Contains("safetensors '" + broken.string() + "': tensor 'w': shape [3] of F32 needs 12 bytes"));
}

TEST_CASE("safetensors: reads the golden file written by Python safetensors", "[io][safetensors][golden]") {
  const fs::path golden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "io" / "golden_mixed.safetensors";
  const io::SafetensorsFile file(golden);
  CHECK(file.metadata() ==
        std::map<std::string, std::string>{{"format", "pt"}, {"producer", "tinyxf make_safetensors_golden.py"}});
  CHECK(file.size() == 7);
  for (std::size_t i = 1; i < file.tensors().size(); ++i) CHECK(file.tensors()[i - 1].end <= file.tensors()[i].begin);

  CHECK(file.info("weight_f32").dtype == StDtype::F32);
  CHECK(file.info("weight_f32").shape == std::vector<std::int64_t>{2, 3});
  CHECK(file.to_float32("weight_f32") == std::vector<float>{0.5f, -1.25f, 3.0f, 1e-8f, -0.0f, 65504.0f});
  CHECK(std::signbit(file.to_float32("weight_f32")[4]));

  CHECK(file.info("half_f16").dtype == StDtype::F16);
  CHECK(file.to_float32("half_f16") == std::vector<float>{1.0f, -2.5f, 65504.0f, 0x1p-24f});

  CHECK(file.info("bf16_values").dtype == StDtype::BF16);
  CHECK(file.info("bf16_values").shape == std::vector<std::int64_t>{2, 2});
  CHECK(file.to_float32("bf16_values") == std::vector<float>{1.0f, -3.140625f, 0.0078125f, -INFINITY});

  CHECK(file.info("ids_i64").dtype == StDtype::I64);
  CHECK(file.to_int64("ids_i64") == std::vector<std::int64_t>{1, -2, 9007199254740993, INT64_MIN});

  CHECK(file.info("mask_bool").dtype == StDtype::BOOL);
  CHECK(file.to_int64("mask_bool") == std::vector<std::int64_t>{1, 0, 1});

  CHECK(file.info("scalar_i64").shape.empty());
  CHECK(file.to_int64("scalar_i64") == std::vector<std::int64_t>{42});
  CHECK(file.info("empty_f32").shape == std::vector<std::int64_t>{0, 4});
  CHECK(file.raw("empty_f32").empty());
}

// tests/reference/make_safetensors_golden.py --check-cpp loads this file with Python safetensors
// (a manual check: CI has no Python packages).
TEST_CASE("safetensors: writes a file for the Python interop check", "[io][safetensors][golden]") {
  const fs::path path = test_directory() / "cpp_written.safetensors";
  all_dtypes_writer().write(path);
  check_all_dtypes(io::SafetensorsFile(path));
}

// Issue 11, item 2: a zero-element shape whose strides overflow int64 was accepted, and creating
// its tensor overflowed contiguous_strides (UBSan). The reader now applies the tensor core's size
// rule to every shape, zero-size dimensions included.
TEST_CASE("safetensors: zero-element shapes with overflowing strides are refused", "[io][safetensors]") {
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})";
  CHECK_THAT(open_error(craft(header, "")),
             Contains("tensor 'w': shape [0, 4611686018427387904, 4611686018427387904] of F32 exceeds the size limit"));
  // Zero-size tensors within the limit still load.
  const std::string fine = R"({"w":{"dtype":"F32","shape":[0,1024,1024],"data_offsets":[0,0]}})";
  CHECK(io::SafetensorsFile::from_memory(craft(fine, ""), "fine").info("w").byte_size() == 0);
}

// Issue 11, item 7: /dev/zero as --batch was read until bad_alloc.
TEST_CASE("safetensors: only regular files are opened", "[io][safetensors]") {
  CHECK_THROWS_WITH(io::SafetensorsFile("/dev/zero"),
                    Contains("'/dev/zero' is not a regular file (a device, pipe or socket)"));
  CHECK_THROWS_WITH(io::SafetensorsFile(test_directory()), Contains("is not a regular file (a folder)"));
}
