#pragma once
// Crash-safe file replacement and whole-file reads (POSIX).
//   std::string read_file(path, max_bytes)     regular files only, bounded (io::limits)
//   void write_file_atomic(path, bytes)
//   remove_stale_temporaries(dir)             sweeps what killed writers left
//   AtomicFileWriter: streams into "<path>.tmp.<pid>" next to the target; commit() fsyncs it,
//   renames it over the target and fsyncs the directory. Without commit() the temporary file is
//   removed, so a failed or killed writer never leaves a half-written target behind. A replaced
//   file keeps its permission bits (a chmod 600 file stays 600, as editors and Python's atomic
//   writers do); a new file gets 0666 & ~umask. Owner and group are the writer's.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
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
  TINYXF_CHECK_IO(fd >= 0, directory.string(), "atomic write: cannot open directory '", directory.string(),
                  "' to sync it: ", errno_text(errno));
  const int result = ::fsync(fd);
  const int sync_error = errno;
  ::close(fd);
  // Some file systems cannot sync directories; the data itself is already synced then.
  TINYXF_CHECK_IO(result == 0 || sync_error == EINVAL || sync_error == ENOTSUP, directory.string(),
                  "atomic write: fsync of directory '", directory.string(), "' failed: ", errno_text(sync_error));
}
}  // namespace detail

// Size limits of the readers, so a wrong path (/dev/zero, a huge file) is an error, not an
// out-of-memory kill. docs/reliability.md lists them.
namespace limits {
inline constexpr std::uint64_t read_file = std::uint64_t{1} << 30;     // read_file's default: 1 GiB
inline constexpr std::uint64_t json_file = std::uint64_t{64} << 20;    // config.json, trainer state: 64 MiB
inline constexpr std::uint64_t vocab_file = std::uint64_t{64} << 20;   // vocab.txt: 64 MiB
inline constexpr std::uint64_t review_file = std::uint64_t{16} << 20;  // one aclImdb review: 16 MiB
}  // namespace limits

// The whole contents of a regular file of at most `max_bytes` bytes. Devices, pipes and folders
// are refused (they can be endless or block), as is a file over the limit.
inline std::string read_file(const std::filesystem::path& path, std::uint64_t max_bytes = limits::read_file) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it has no effect on regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  TINYXF_CHECK_IO(fd >= 0, path.string(), "read_file: cannot open '", path.string(), "': ", detail::errno_text(errno));
  struct ::stat status {};
  const auto fail = [&](auto&&... parts) {
    ::close(fd);
    throw IoError(::tinyxf::detail::concat("read_file: '", path.string(), "' ", parts...), path.string());
  };
  if (::fstat(fd, &status) != 0) fail("cannot be examined: ", detail::errno_text(errno));
  if (!S_ISREG(status.st_mode))
    fail("is not a regular file (", S_ISDIR(status.st_mode) ? "a folder" : "a device, pipe or socket", ")");
  if (static_cast<std::uint64_t>(status.st_size) > max_bytes)
    fail("is ", status.st_size, " bytes, more than the limit of ", max_bytes, " bytes");
  std::string contents;
  if (status.st_size > 0) contents.reserve(static_cast<std::size_t>(status.st_size));
  // Read until EOF rather than trusting st_size: files can change size, /proc files report 0.
  char buffer[1 << 16];
  while (true) {
    const ::ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("cannot be read: ", detail::errno_text(errno));
    }
    if (contents.size() + static_cast<std::size_t>(got) > max_bytes)
      fail("grew past the limit of ", max_bytes, " bytes while being read");
    contents.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return contents;
}

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
    TINYXF_CHECK_IO(!target_.filename().empty(), target_.string(), "atomic write: '", target_.string(),
                    "' does not name a file");
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
    throw IoError(::tinyxf::detail::concat("atomic write of '", target_.string(), "': cannot create temporary file '",
                                           temp_path_.string(), "': ", detail::errno_text(last_error)),
                  target_.string());
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
    TINYXF_CHECK_AS(ValueError, fd_ >= 0, "atomic write of '", target_.string(), "': write after commit or discard");
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

  // Makes the new contents durable and visible at the target path, replacing any old file (whose
  // permission bits the new one takes).
  void commit() {
    TINYXF_CHECK_AS(ValueError, fd_ >= 0, "atomic write of '", target_.string(), "': commit after commit or discard");
    flush_buffer();
    keep_target_permissions();
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
  // The existing target's rwx bits onto the temporary file; nothing for a new target.
  void keep_target_permissions() {
    struct ::stat existing {};
    if (::stat(target_.c_str(), &existing) != 0 || !S_ISREG(existing.st_mode)) return;
    if (::fchmod(fd_, existing.st_mode & 0777) != 0)
      fail("cannot give '", temp_path_.string(), "' the target's permissions: ", detail::errno_text(errno));
  }
  void check_write(int error_number) {
    if (error_number != 0) fail("write to '", temp_path_.string(), "' failed: ", detail::errno_text(error_number));
  }
  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) {
    const std::string message = ::tinyxf::detail::concat(
        "atomic write of '", target_.string(), "': ", std::forward<Parts>(parts)..., " (old file left unchanged)");
    discard();
    throw IoError(message, target_.string());
  }

  std::filesystem::path target_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  std::string buffer_;
  std::uint64_t bytes_written_ = 0;
};

namespace detail {
// The pid in "<target>.tmp.<pid>" or "<target>.tmp.<pid>.<sequence>" (AtomicFileWriter's names).
inline std::optional<::pid_t> temporary_owner_pid(std::string_view name) {
  const std::size_t marker = name.rfind(".tmp.");
  if (marker == std::string_view::npos || marker == 0) return std::nullopt;
  std::string_view rest = name.substr(marker + 5);
  if (const std::size_t dot = rest.find('.'); dot != std::string_view::npos) {
    const std::string_view sequence = rest.substr(dot + 1);
    if (sequence.empty() || sequence.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    rest = rest.substr(0, dot);
  }
  ::pid_t pid = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (error != std::errc() || end != rest.data() + rest.size() || pid <= 0) return std::nullopt;
  return pid;
}

inline bool process_is_running(::pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }
}  // namespace detail

// Removes the temporary files that AtomicFileWriters of killed processes left in `directory`
// ("<target>.tmp.<pid>[.<n>]" whose process no longer runs). Files of running processes, this
// one included, are kept: they may be mid-write. Returns the number removed; a missing folder
// has none.
inline std::size_t remove_stale_temporaries(const std::filesystem::path& directory) {
  std::error_code ec;
  std::size_t removed = 0;
  std::filesystem::directory_iterator it(directory, ec);
  if (ec) return 0;
  for (const std::filesystem::directory_entry& entry : it) {
    if (!entry.is_regular_file(ec)) continue;
    const auto pid = detail::temporary_owner_pid(entry.path().filename().string());
    if (!pid || *pid == ::getpid() || detail::process_is_running(*pid)) continue;
    if (std::filesystem::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFileWriter writer(path);
  writer.write(bytes);
  writer.commit();
}

}  // namespace tinyxf::io
