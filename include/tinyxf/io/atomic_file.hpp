#pragma once
// Crash-safe file replacement and whole-file reads (POSIX).
//   std::string read_file(path)
//   void write_file_atomic(path, bytes)
//   AtomicFileWriter: streams into "<path>.tmp.<pid>" next to the target; commit() fsyncs it,
//   renames it over the target and fsyncs the directory. Without commit() the temporary file is
//   removed, so a failed or killed writer never leaves a half-written target behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "tinyxf/core/error.hpp"

namespace tinyxf::io {

namespace detail {
inline std::string errno_text(int error_number) { return std::generic_category().message(error_number); }

// Writes all of [data, data + size) to fd, retrying partial writes and EINTR. Returns 0 or errno.
inline int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ::ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

// fsync of the directory makes the rename itself durable.
inline void fsync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TINYXF_CHECK(fd >= 0, "atomic write: cannot open directory '", directory.string(),
               "' to sync it: ", errno_text(errno));
  const int result = ::fsync(fd);
  const int sync_error = errno;
  ::close(fd);
  // Some file systems cannot sync directories; the data itself is already synced then.
  TINYXF_CHECK(result == 0 || sync_error == EINVAL || sync_error == ENOTSUP, "atomic write: fsync of directory '",
               directory.string(), "' failed: ", errno_text(sync_error));
}
}  // namespace detail

inline std::string read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TINYXF_CHECK(fd >= 0, "read_file: cannot open '", path.string(), "': ", detail::errno_text(errno));
  std::string contents;
  struct ::stat status {};
  if (::fstat(fd, &status) == 0 && status.st_size > 0) contents.reserve(static_cast<std::size_t>(status.st_size));
  // Read until EOF rather than trusting st_size: files can change size, /proc files report 0.
  char buffer[1 << 16];
  while (true) {
    const ::ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int read_error = errno;
      ::close(fd);
      throw Error(
          ::tinyxf::detail::concat("read_file: cannot read '", path.string(), "': ", detail::errno_text(read_error)));
    }
    contents.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return contents;
}

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
    TINYXF_CHECK(!target_.filename().empty(), "atomic write: '", target_.string(), "' does not name a file");
    // "<target>.tmp.<pid>" for the first writer of the process; later writers add a sequence
    // number so two writers of one target in one process, or a stale file left by an earlier
    // process with the same pid, never collide (O_EXCL).
    static std::atomic<std::uint64_t> writer_sequence{0};
    const std::string base = target_.string() + ".tmp." + std::to_string(::getpid());
    int last_error = 0;
    for (int attempt = 0; attempt < 64; ++attempt) {
      const std::uint64_t sequence = writer_sequence.fetch_add(1);
      temp_path_ = sequence == 0 ? base : base + "." + std::to_string(sequence);
      fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      last_error = errno;
      if (last_error != EEXIST) break;
    }
    throw Error(::tinyxf::detail::concat("atomic write of '", target_.string(), "': cannot create temporary file '",
                                         temp_path_.string(), "': ", detail::errno_text(last_error)));
  }

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  AtomicFileWriter(AtomicFileWriter&& other) noexcept
      : target_(std::move(other.target_)),
        temp_path_(std::move(other.temp_path_)),
        fd_(std::exchange(other.fd_, -1)),
        buffer_(std::move(other.buffer_)),
        bytes_written_(other.bytes_written_) {}
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept {
    if (this != &other) {
      discard();
      target_ = std::move(other.target_);
      temp_path_ = std::move(other.temp_path_);
      fd_ = std::exchange(other.fd_, -1);
      buffer_ = std::move(other.buffer_);
      bytes_written_ = other.bytes_written_;
    }
    return *this;
  }
  ~AtomicFileWriter() { discard(); }

  void write(std::string_view bytes) {
    TINYXF_CHECK(fd_ >= 0, "atomic write of '", target_.string(), "': write after commit or discard");
    bytes_written_ += bytes.size();
    if (buffer_.size() + bytes.size() <= buffer_capacity) {
      buffer_.append(bytes);
      return;
    }
    flush_buffer();
    if (bytes.size() >= buffer_capacity) {
      check_write(detail::write_all(fd_, bytes.data(), bytes.size()));
    } else {
      buffer_.append(bytes);
    }
  }
  void write(std::span<const std::byte> bytes) {
    write(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

  // Makes the new contents durable and visible at the target path, replacing any old file.
  void commit() {
    TINYXF_CHECK(fd_ >= 0, "atomic write of '", target_.string(), "': commit after commit or discard");
    flush_buffer();
    if (::fsync(fd_) != 0) fail("fsync of '", temp_path_.string(), "' failed: ", detail::errno_text(errno));
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail("close of '", temp_path_.string(), "' failed: ", detail::errno_text(errno));
    if (::rename(temp_path_.c_str(), target_.c_str()) != 0)
      fail("rename of '", temp_path_.string(), "' over the target failed: ", detail::errno_text(errno));
    temp_path_.clear();
    detail::fsync_directory(target_.parent_path());
  }

  // Drops the temporary file (what the destructor does for a writer that was not committed).
  void discard() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!temp_path_.empty()) {
      ::unlink(temp_path_.c_str());
      temp_path_.clear();
    }
  }

  const std::filesystem::path& target() const noexcept { return target_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_path_; }
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }

 private:
  static constexpr std::size_t buffer_capacity = std::size_t{1} << 20;

  void flush_buffer() {
    if (buffer_.empty()) return;
    check_write(detail::write_all(fd_, buffer_.data(), buffer_.size()));
    buffer_.clear();
  }
  void check_write(int error_number) {
    if (error_number != 0) fail("write to '", temp_path_.string(), "' failed: ", detail::errno_text(error_number));
  }
  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) {
    const std::string message = ::tinyxf::detail::concat(
        "atomic write of '", target_.string(), "': ", std::forward<Parts>(parts)..., " (old file left unchanged)");
    discard();
    throw Error(message);
  }

  std::filesystem::path target_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  std::string buffer_;
  std::uint64_t bytes_written_ = 0;
};

inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFileWriter writer(path);
  writer.write(bytes);
  writer.commit();
}

}  // namespace tinyxf::io
