#include "tinyxf/io/atomic_file.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace io = tinyxf::io;
using Catch::Matchers::Contains;

namespace {
// A fresh, empty directory under the build tree for one test.
fs::path fresh_directory(const std::string& name) {
  const fs::path directory = fs::path(TINYXF_BINARY_DIR) / "tests" / "io" / "atomic_file_test" / name;
  fs::remove_all(directory);
  fs::create_directories(directory);
  return directory;
}

std::vector<std::string> file_names(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}
}  // namespace

TEST_CASE("atomic_file: write_file_atomic creates and replaces files", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("replace");
  const fs::path target = directory / "config.json";
  io::write_file_atomic(target, "first");
  CHECK(io::read_file(target) == "first");
  io::write_file_atomic(target, std::string("second\0with nul", 15));
  CHECK(io::read_file(target) == std::string("second\0with nul", 15));
  io::write_file_atomic(target, "");
  CHECK(io::read_file(target).empty());
  CHECK(file_names(directory) == std::vector<std::string>{"config.json"});  // no temporary left behind
}

TEST_CASE("atomic_file: a replaced file keeps its permission bits; a new one gets 0666 & ~umask", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("permissions");
  const auto mode_of = [](const fs::path& path) {
    struct ::stat status {};
    REQUIRE(::stat(path.c_str(), &status) == 0);
    return status.st_mode & 0777;
  };
  const ::mode_t mask = ::umask(0);  // read the umask (it can only be read by setting it)
  ::umask(mask);
  const fs::path fresh = directory / "new.json";
  io::write_file_atomic(fresh, "new");
  CHECK(mode_of(fresh) == (0666 & ~mask));
  // a secret saved with chmod 600 stays private when rewritten (python: os.replace after os.chmod(tmp, st_mode))
  const fs::path secret = directory / "token.json";
  io::write_file_atomic(secret, "old");
  REQUIRE(::chmod(secret.c_str(), 0600) == 0);
  io::write_file_atomic(secret, "rewritten");
  CHECK(io::read_file(secret) == "rewritten");
  CHECK(mode_of(secret) == 0600);
  REQUIRE(::chmod(secret.c_str(), 0640) == 0);  // and a mode wider than the umask's default is kept too
  io::AtomicFileWriter writer(secret);
  writer.write("streamed");
  writer.commit();
  CHECK(mode_of(secret) == 0640);
}

TEST_CASE("atomic_file: a writer destroyed without commit leaves the old file", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("no_commit");
  const fs::path target = directory / "model.safetensors";
  io::write_file_atomic(target, "old contents");
  {
    io::AtomicFileWriter writer(target);
    const std::string temp_prefix = target.string() + ".tmp." + std::to_string(::getpid());
    CHECK((writer.temp_path().string() == temp_prefix || writer.temp_path().string().starts_with(temp_prefix + ".")));
    writer.write("new contents that never get committed");
    writer.write(std::string(3 << 20, 'x'));  // past the internal buffer, so bytes reach the disk
    CHECK(fs::exists(writer.temp_path()));
    CHECK(io::read_file(target) == "old contents");
  }
  CHECK(io::read_file(target) == "old contents");
  CHECK(file_names(directory) == std::vector<std::string>{"model.safetensors"});

  io::AtomicFileWriter discarded(target);
  discarded.write("also dropped");
  discarded.discard();
  CHECK(io::read_file(target) == "old contents");
  CHECK(file_names(directory) == std::vector<std::string>{"model.safetensors"});
  CHECK_THROWS_WITH(discarded.write("more"), Contains("write after commit or discard"));
}

TEST_CASE("atomic_file: a process killed mid-write leaves the old file", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("killed");
  const fs::path target = directory / "checkpoint.bin";
  io::write_file_atomic(target, "old checkpoint");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      io::AtomicFileWriter writer(target);
      writer.write(std::string(4 << 20, 'n'));
      ::kill(::getpid(), SIGKILL);  // no destructor, no commit: like a crash or OOM kill
    } catch (...) {
    }
    ::_exit(1);  // never return into the test runner from the child
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(io::read_file(target) == "old checkpoint");
  // The killed process could not clean up; its temporary file is recognisable by its pid.
  const std::string stale_prefix = "checkpoint.bin.tmp." + std::to_string(child);
  const auto names = file_names(directory);
  REQUIRE(names.size() == 2);
  CHECK(names[0] == "checkpoint.bin");
  CHECK(names[1].starts_with(stale_prefix));
}

TEST_CASE("atomic_file: streaming writes in many sizes", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("stream");
  const fs::path target = directory / "data.bin";
  std::string expected;
  io::AtomicFileWriter writer(target);
  for (std::size_t size :
       {std::size_t{1}, std::size_t{1000}, std::size_t{(1 << 20) - 7}, std::size_t{5 << 20}, std::size_t{13}}) {
    std::string chunk(size, '\0');
    for (std::size_t i = 0; i < size; ++i) chunk[i] = static_cast<char>((i * 31 + size) & 0xFF);
    writer.write(chunk);
    expected += chunk;
  }
  const std::vector<std::byte> tail = {std::byte{0xDE}, std::byte{0xAD}};
  writer.write(std::span<const std::byte>(tail));
  expected += "\xDE\xAD";
  CHECK(writer.bytes_written() == expected.size());
  CHECK_FALSE(fs::exists(target));
  writer.commit();
  CHECK(io::read_file(target) == expected);
  CHECK(writer.temp_path().empty());
  CHECK_THROWS_WITH(writer.commit(), Contains("commit after commit or discard"));
}

TEST_CASE("atomic_file: concurrent writers of one target use distinct temporary files", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("two_writers");
  const fs::path target = directory / "state.json";
  io::AtomicFileWriter first(target);
  io::AtomicFileWriter second(target);
  CHECK(first.temp_path() != second.temp_path());
  first.write("from first");
  second.write("from second");
  first.commit();
  CHECK(io::read_file(target) == "from first");
  second.commit();
  CHECK(io::read_file(target) == "from second");

  // Moving a writer moves the responsibility for its temporary file.
  io::AtomicFileWriter original(target);
  const fs::path temp = original.temp_path();
  io::AtomicFileWriter moved(std::move(original));
  CHECK(moved.temp_path() == temp);
  moved.write("moved");
  moved.commit();
  CHECK(io::read_file(target) == "moved");
  CHECK(file_names(directory) == std::vector<std::string>{"state.json"});
}

TEST_CASE("atomic_file: errors name the path and the system error", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("errors");
  CHECK_THROWS_WITH(io::read_file(directory / "missing.txt"),
                    Contains("missing.txt") && Contains("No such file or directory"));
  CHECK_THROWS_WITH(io::read_file(directory), Contains("is not a regular file (a folder)"));
  CHECK_THROWS_WITH(io::write_file_atomic(directory / "no_such_dir" / "x.bin", "data"),
                    Contains("x.bin.tmp.") && Contains("No such file or directory"));
  CHECK_THROWS_WITH(io::AtomicFileWriter(directory / ""), Contains("does not name a file"));
}

// Issue 11, item 7: /dev/zero (or a FIFO) given as a config or vocabulary path read until
// bad_alloc; files over a reader's limit were read whole.
TEST_CASE("atomic_file: read_file refuses non-regular files and files over the limit", "[io][atomic_file]") {
  CHECK_THROWS_WITH(io::read_file("/dev/zero"),
                    Contains("'/dev/zero' is not a regular file (a device, pipe or socket)"));
  const fs::path directory = fresh_directory("limits");
  const fs::path fifo = directory / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(io::read_file(fifo), Contains("pipe") && Contains("is not a regular file"));  // must not block

  const fs::path file = directory / "big.json";
  io::write_file_atomic(file, std::string(1000, 'x'));
  CHECK(io::read_file(file, 1000).size() == 1000);
  CHECK_THROWS_WITH(io::read_file(file, 999), Contains("big.json' is 1000 bytes, more than the limit of 999 bytes"));
}

// Issue 11, item 6: "<target>.tmp.<pid>" files of killed writers survived every later run.
TEST_CASE("atomic_file: remove_stale_temporaries sweeps the files of dead writers only", "[io][atomic_file]") {
  const fs::path directory = fresh_directory("sweep");
  // A child that starts a write and is killed before committing leaves its temporary behind.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    io::AtomicFileWriter writer(directory / "training_curve.svg");
    writer.write("<svg");
    ::raise(SIGKILL);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  // "training_curve.svg.tmp.<child pid>", with a sequence number when this process wrote before.
  const std::vector<std::string> left = file_names(directory);
  REQUIRE(left.size() == 1);
  const std::string dead = left.front();
  CHECK(dead.starts_with("training_curve.svg.tmp." + std::to_string(child)));

  // A live writer of this process, a name that only looks similar, and a committed file stay.
  io::AtomicFileWriter live(directory / "metrics.json");
  io::write_file_atomic(directory / "model.safetensors", "weights");
  io::write_file_atomic(directory / "notes.tmp.txt", "not a temporary");
  io::write_file_atomic(directory / ("metrics.jsonl.tmp." + std::to_string(child) + ".3"), "another of the dead writer");
  CHECK(io::remove_stale_temporaries(directory) == 2);
  const std::string live_name = live.temp_path().filename().string();
  std::vector<std::string> expected = {live_name, "model.safetensors", "notes.tmp.txt"};
  std::sort(expected.begin(), expected.end());
  CHECK(file_names(directory) == expected);
  CHECK(io::remove_stale_temporaries(directory / "missing") == 0);
}
