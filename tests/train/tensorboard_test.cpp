// TensorBoard event files: byte-identical to what TensorBoard's own Python writer produces for the
// same events (tests/reference/make_tensorboard_golden.py wrote the golden), the TFRecord framing
// and CRC-32C, and Hugging Face's tag names. Light: no model headers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

#include "tinyxf/train/tensorboard.hpp"

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int events_written = 0;
double golden_clock() { return 1700000000.25 + events_written++; }  // the golden script's clock

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tinyxf_tb_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("CRC-32C and TFRecord's masked CRC match the published check values", "[tensorboard]") {
  using train::tensorboard_detail::crc32c;
  CHECK(crc32c("123456789") == 0xE3069283u);  // the CRC-32C check value (RFC 3720)
  CHECK(crc32c("") == 0u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
}

TEST_CASE("TensorBoardWriter writes the bytes TensorBoard's own writer writes", "[tensorboard]") {
  const fs::path dir = fresh_dir("golden");
  events_written = 0;
  fs::path path;
  {
    train::TensorBoardWriter writer(dir, &golden_clock);
    writer.add_scalar("train/loss", 0.6931, 10);
    writer.add_scalar("train/learning_rate", 5e-05, 10);
    writer.add_scalar("train/epoch", 0.5, 10);
    writer.add_scalar("eval/accuracy", 0.0, 20);
    writer.add_scalar("train/grad_norm", 1.75, 0);
    writer.add_text("args", "{\"learning_rate\": 5e-05, \"note\": \"caf\xc3\xa9\"}");
    path = writer.path();
  }
  CHECK(path.parent_path() == dir);
  CHECK(path.filename().string().starts_with("events.out.tfevents.1700000000."));
  const std::string golden = read_bytes(fs::path(TINYXF_SOURCE_DIR) / "tests/data/golden/tensorboard/events.golden");
  REQUIRE(golden.size() == 407);
  CHECK(read_bytes(path) == golden);
  fs::remove_all(dir);
}

TEST_CASE("read_tfrecords returns the events, stops at a cut-off tail and names corruption", "[tensorboard]") {
  const fs::path dir = fresh_dir("read");
  fs::create_directories(dir);
  const std::string golden = read_bytes(fs::path(TINYXF_SOURCE_DIR) / "tests/data/golden/tensorboard/events.golden");
  const auto write = [&](const std::string& bytes) {
    std::ofstream(dir / "events", std::ios::binary) << bytes;
    return train::read_tfrecords(dir / "events");
  };
  const auto records = write(golden);
  REQUIRE(records.size() == 7);
  CHECK(records[0].find("brain.Event:2") != std::string::npos);
  CHECK(records[6].find("args/text_summary") != std::string::npos);
  CHECK(write(golden.substr(0, golden.size() - 3)).size() == 6);  // killed mid-record
  std::string flipped = golden;
  flipped[20] ^= 0x01;  // inside the first record's data (bytes 12-35)
  CHECK_THROWS_WITH(write(flipped), Catch::Contains("corrupt record data at byte 12"));
  fs::remove_all(dir);
}

TEST_CASE("the default logging_dir is Hugging Face's runs/<date>_<host>", "[tensorboard]") {
  const fs::path dir = train::default_logging_dir("out");
  CHECK(dir.parent_path() == fs::path("out") / "runs");
  const std::string name = dir.filename().string();
  REQUIRE(name.size() > 16);
  CHECK(name[5] == '_');   // "Dec04_05-12-33_host"
  CHECK(name[8] == '-');
  CHECK(name[14] == '_');
}

TEST_CASE("each event is on disk as soon as it is written", "[tensorboard]") {
  const fs::path dir = fresh_dir("flush");
  train::TensorBoardWriter writer(dir);
  const auto first = fs::file_size(writer.path());
  CHECK(first > 16);  // the file_version event: 12 bytes of framing + the event
  writer.add_scalar("train/loss", 1.0, 1);
  CHECK(fs::file_size(writer.path()) > first);
  // Two writers in one process never share a file.
  train::TensorBoardWriter second(dir);
  CHECK(second.path() != writer.path());
  fs::remove_all(dir);
}

TEST_CASE("a log directory that cannot be created is an error naming it", "[tensorboard]") {
  const fs::path dir = fresh_dir("blocked");
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  CHECK_THROWS_WITH(train::TensorBoardWriter(dir / "file" / "runs"), Catch::Contains((dir / "file").string()));
  fs::remove_all(dir);
}

TEST_CASE("log keys become Hugging Face's TensorBoard tags", "[tensorboard]") {
  CHECK(train::tensorboard_tag("loss") == "train/loss");
  CHECK(train::tensorboard_tag("learning_rate") == "train/learning_rate");
  CHECK(train::tensorboard_tag("eval_accuracy") == "eval/accuracy");
  CHECK(train::tensorboard_tag("test_f1") == "test/f1");
  CHECK(train::tensorboard_tag("train_runtime") == "train/train_runtime");
}
