// torch.save files (io/torch_checkpoint.hpp) against files written by PyPI's torch 2.15 and the
// same tensors written by the safetensors library (tests/reference/make_torch_checkpoint_golden.py).
#include "tinyxf/io/torch_checkpoint.hpp"

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace io = tinyxf::io;
using Catch::Matchers::Contains;

namespace {
const fs::path kData = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "io";

std::string error_of(const fs::path& file) {
  try {
    io::TorchCheckpoint checkpoint(file);
  } catch (const tinyxf::Error& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::byte> file_bytes(const fs::path& file) {
  const std::string text = io::read_file(file);
  const auto* first = reinterpret_cast<const std::byte*>(text.data());
  return {first, first + text.size()};
}

// Every tensor of `bin` equals the safetensors file's: names in order, dtype, shape, the bytes of
// the row-major elements, and the float32 conversion.
void check_against_safetensors(const io::TorchCheckpoint& bin, const io::SafetensorsFile& expected) {
  std::vector<std::string> expected_names;
  for (const auto& name : bin.names()) expected_names.push_back(name);
  REQUIRE(bin.size() == expected.size());
  for (const auto& t : bin.tensors()) {
    INFO("tensor " << t.name);
    const auto& e = expected.info(t.name);
    CHECK(t.dtype == e.dtype);
    CHECK(t.shape == e.shape);
    const auto bytes = bin.contiguous_bytes(t.name);
    // std::equal, not memcmp: an empty tensor's buffers may be null pointers.
    CHECK(std::equal(bytes.begin(), bytes.end(), e.bytes.begin(), e.bytes.end()));
    const auto floats = bin.to_float32(t.name), want = expected.to_float32(t.name);
    REQUIRE(floats.size() == want.size());
    for (std::size_t i = 0; i < floats.size(); ++i)  // bit for bit: NaN payloads, -0.0, infinities
      CHECK(std::bit_cast<std::uint32_t>(floats[i]) == std::bit_cast<std::uint32_t>(want[i]));
  }
}
}  // namespace

TEST_CASE("torch checkpoint: a state dict of every dtype and view layout reads as safetensors does",
          "[io][torch-bin]") {
  const io::SafetensorsFile expected(kData / "torch_mixed.safetensors");
  for (const char* name : {"torch_mixed.bin", "torch_mixed_p4.bin"}) {
    INFO(name);
    const io::TorchCheckpoint bin(kData / name);
    CHECK(bin.names() == std::vector<std::string>{"weight", "transposed", "narrowed", "expanded", "tied_a", "tied_b",
                                                  "f64", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "mask",
                                                  "scalar", "empty"});
    check_against_safetensors(bin, expected);
    // The layouts torch wrote: views keep their storage, offset and strides.
    CHECK(bin.info("transposed").strides == std::vector<std::int64_t>{1, 6});
    CHECK(bin.info("narrowed").storage_offset == 8);
    CHECK(bin.info("narrowed").storage_key == bin.info("transposed").storage_key);
    CHECK(bin.info("expanded").strides == std::vector<std::int64_t>{1, 0});
    CHECK(bin.info("tied_b").storage_offset == 6);
    CHECK(bin.info("scalar").shape.empty());
    CHECK(bin.info("scalar").numel() == 1);
    CHECK(bin.info("empty").numel() == 0);
  }
  SECTION("from memory, and a lookup of a missing name") {
    const auto bin = io::TorchCheckpoint::from_memory(file_bytes(kData / "torch_mixed.bin"), "mixed");
    check_against_safetensors(bin, expected);
    CHECK_THROWS_AS(bin.info("nope"), tinyxf::IndexError);
    CHECK_THROWS_WITH(bin.info("nope"), Contains("no tensor named 'nope'") && Contains("17 tensors"));
  }
}

TEST_CASE("torch checkpoint: a size-1 dimension's stride is never used, however large", "[io][torch-bin]") {
  // torch.arange(4.).as_strided((2, 1), (1, 2**63 - 1), 1): a valid view whose second stride
  // nothing bounds. Gathering it used to add that stride to the offset (signed overflow, UBSan).
  const io::TorchCheckpoint bin(kData / "torch_size1_huge_stride.bin");
  CHECK(bin.info("w").strides == std::vector<std::int64_t>{1, INT64_MAX});
  CHECK(bin.info("w").storage_offset == 1);
  CHECK(bin.to_float32("w") == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("torch checkpoint: files that are not plain state dicts are refused by name", "[io][torch-bin]") {
  // a pickle that names os.system: refused at the GLOBAL opcode, nothing runs
  CHECK_THAT(error_of(kData / "torch_bad_global.bin"),
             Contains("data.pkl at byte") && Contains("'posix system'") && Contains("weights_only=True"));
  CHECK_THAT(error_of(kData / "torch_bad_short_storage.bin"),
             Contains("storage '0' holds 32 bytes, its 10 elements of F32 need 40"));
  CHECK_THAT(error_of(kData / "torch_bad_out_of_bounds.bin"),
             Contains("a tensor reaching element 8 of storage '0', which has 8"));
  CHECK_THAT(error_of(kData / "torch_bad_missing_storage.bin"), Contains("storage '7' has no record data/7"));
  CHECK_THAT(error_of(kData / "torch_bad_repeated.bin"),
             Contains("a tensor of 536870912 elements repeating the 8 of storage '0'") && Contains("1073741824 bytes"));
  CHECK_THAT(error_of(kData / "torch_bad_training_checkpoint.bin"),
             Contains("'model' is not a tensor") && Contains("model.state_dict()"));
  CHECK_THAT(error_of(kData / "torch_bad_bare_tensor.bin"), Contains("holds a pickled tensor, not a state dict"));
  CHECK_THAT(error_of(kData / "torch_bad_legacy.bin"), Contains("legacy format (PyTorch < 1.6"));
  // A deflated data.pkl claiming 1 MiB in an archive of ~1 KB: refused before the claim is allocated.
  CHECK_THAT(error_of(kData / "torch_bad_compressed_pickle.bin"),
             Contains("archive/data.pkl is 1048576 bytes, over the limit of 1288"));
  CHECK_THAT(error_of(kData / "torch_mixed.safetensors"), Contains("not a zip archive"));
  CHECK_THAT(error_of(kData / "no_such_file.bin"), Contains("no_such_file.bin") && Contains("not a regular file"));
}

TEST_CASE("torch checkpoint: files are told apart from safetensors by their first bytes", "[io][torch-bin]") {
  CHECK(io::is_torch_save_file(kData / "torch_mixed.bin"));
  CHECK(io::is_torch_save_file(kData / "torch_bad_legacy.bin"));
  CHECK_FALSE(io::is_torch_save_file(kData / "torch_mixed.safetensors"));
  CHECK_FALSE(io::is_torch_save_file(kData / "no_such_file.bin"));
  // A safetensors header of 896 bytes: its length begins 0x80 0x03, like a pickle's PROTO 3.
  std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  header.resize(896, ' ');
  std::string bytes = {'\x80', '\x03', 0, 0, 0, 0, 0, 0};
  bytes += header;
  bytes += std::string("\0\0\x80\x3f", 4);
  const fs::path file = fs::path(TINYXF_BINARY_DIR) / "tests" / "io" / "header_896.safetensors";
  fs::create_directories(file.parent_path());
  io::write_file_atomic(file, bytes);
  CHECK_FALSE(io::is_torch_save_file(file));
  CHECK(io::SafetensorsFile(file).to_float32("w") == std::vector<float>{1.0f});
}

TEST_CASE("torch checkpoint: damaged bytes give an error, never a crash", "[io][torch-bin]") {
  const auto good = file_bytes(kData / "torch_mixed.bin");
  SECTION("truncated anywhere") {
    for (std::size_t size : {std::size_t{0}, std::size_t{3}, std::size_t{100}, good.size() / 2, good.size() - 1}) {
      INFO("size " << size);
      CHECK_THROWS_AS(io::TorchCheckpoint::from_memory({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size)}),
                      tinyxf::IoError);
    }
  }
  SECTION("the zip's checks: a flipped byte in the pickle record fails its CRC") {
    const auto pickle = io::TorchCheckpoint(kData / "torch_mixed.bin").read_record("data.pkl");
    const auto at = std::search(good.begin(), good.end(), pickle.begin(), pickle.end());
    REQUIRE(at != good.end());
    const auto start = static_cast<std::size_t>(at - good.begin());
    for (std::size_t i = start; i < start + pickle.size(); i += 7) {
      auto bad = good;
      bad[i] ^= std::byte{0x5a};
      CHECK_THROWS_WITH(io::TorchCheckpoint::from_memory(std::move(bad)), Contains("CRC"));
    }
  }
  SECTION("the unpickler alone: every byte of the pickle flipped in turn") {
    const io::TorchCheckpoint bin(kData / "torch_mixed.bin");
    const std::vector<std::byte> pickle = bin.read_record("data.pkl");
    // Storage sizes as the archive has them (the unpickler checks each reference against them).
    static std::map<std::string, std::uint64_t> sizes;
    for (const auto& t : bin.tensors())
      sizes[t.storage_key] = static_cast<std::uint64_t>(t.storage_numel) * io::element_size(t.dtype);
    const auto storage_size = [](const void*, const std::string& key) -> std::optional<std::uint64_t> {
      const auto it = sizes.find(key);
      return it == sizes.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
    };
    REQUIRE_NOTHROW(io::torch_pickle::Unpickler(pickle, "ok", storage_size, nullptr).run());
    int errors = 0, read = 0;
    for (std::size_t i = 0; i < pickle.size(); ++i) {
      for (const std::byte flip : {std::byte{0x01}, std::byte{0x80}, std::byte{0xff}}) {
        auto bad = pickle;
        bad[i] ^= flip;
        try {
          io::torch_pickle::Unpickler(bad, "flipped", storage_size, nullptr).run();
          ++read;  // a changed number or name that is still a valid state dict
        } catch (const tinyxf::ParseError&) {
          ++errors;
        }
      }
    }
    CHECK(errors > read);
  }
}
