#pragma once
// tinyxf::Error and its typed subclasses. Messages name the operation and the offending values
// (shapes, dtypes, devices, file offsets, tokens) so a user can fix the input; the type says which
// kind of input was wrong, so callers can catch one kind (an IoError to retry, a ShapeError to
// report a bad model config) and let the rest propagate. `catch (const tinyxf::Error&)` catches
// them all. Naming follows PyTorch (ValueError, IndexError, OutOfMemoryError, NotImplementedError).
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinyxf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Shapes that do not fit the operation (broadcasting, matmul inner sizes, reshape element counts).
class ShapeError : public Error {
  using Error::Error;
};
// A dtype the operation does not accept, or two dtypes that do not match.
class DTypeError : public Error {
  using Error::Error;
};
// Tensors on different devices, or a device/backend that is unknown or unavailable.
class DeviceError : public Error {
  using Error::Error;
};
// An index, dimension or key out of range.
class IndexError : public Error {
  using Error::Error;
};
// An argument or configuration value outside its valid set (the catch-all for bad input).
class ValueError : public Error {
  using Error::Error;
};
// A feature that this build or backend does not provide.
class NotImplementedError : public Error {
  using Error::Error;
};

// A file that cannot be opened, read or written; path() names it (empty for in-memory input).
class IoError : public Error {
 public:
  IoError(const std::string& what, std::string path) : Error(what), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// Malformed content of a file or buffer (JSON, safetensors header, CSV, vocabulary), located by
// the 0-based byte offset and the 1-based line where the problem starts.
class ParseError : public IoError {
 public:
  ParseError(const std::string& what, std::string path, std::size_t byte_offset, std::size_t line)
      : IoError(what, std::move(path)), byte_offset_(byte_offset), line_(line) {}
  std::size_t byte_offset() const noexcept { return byte_offset_; }
  std::size_t line() const noexcept { return line_; }

 private:
  std::size_t byte_offset_;
  std::size_t line_;
};

// An allocation a backend could not satisfy: bytes() asked for, on device() (e.g. "cpu", "cuda:0").
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& what, std::size_t bytes, std::string device)
      : Error(what), bytes_(bytes), device_(std::move(device)) {}
  std::size_t bytes() const noexcept { return bytes_; }
  const std::string& device() const noexcept { return device_; }

 private:
  std::size_t bytes_;
  std::string device_;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Inside a catch block: rethrows the exception being handled, with `context` put before its
// message and its type (and the fields of that type) kept, so callers that add where an error
// happened ("loading checkpoint-500/optimizer.pt: ") do not turn an IoError into a plain Error.
[[noreturn]] inline void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const ParseError& e) {
    throw ParseError(context + e.what(), e.path(), e.byte_offset(), e.line());
  } catch (const IoError& e) {
    throw IoError(context + e.what(), e.path());
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(context + e.what(), e.bytes(), e.device());
  } catch (const ShapeError& e) {
    throw ShapeError(context + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(context + e.what());
  } catch (const DeviceError& e) {
    throw DeviceError(context + e.what());
  } catch (const IndexError& e) {
    throw IndexError(context + e.what());
  } catch (const ValueError& e) {
    throw ValueError(context + e.what());
  } catch (const NotImplementedError& e) {
    throw NotImplementedError(context + e.what());
  } catch (const Error& e) {
    throw Error(context + e.what());
  }
}

// TINYXF_CHECK(cond, "op: ", "message parts", ...) throws tinyxf::Error with the parts joined.
#define TINYXF_CHECK(cond, ...)                                              \
  do {                                                                       \
    if (!(cond)) throw ::tinyxf::Error(::tinyxf::detail::concat(__VA_ARGS__)); \
  } while (0)

// TINYXF_CHECK_AS(ShapeError, cond, "parts", ...): the same, throwing the given Error subclass
// (one whose constructor takes just the message).
#define TINYXF_CHECK_AS(ErrorType, cond, ...)                                      \
  do {                                                                             \
    if (!(cond)) throw ::tinyxf::ErrorType(::tinyxf::detail::concat(__VA_ARGS__)); \
  } while (0)

// TINYXF_CHECK_IO(cond, path, "parts", ...) throws tinyxf::IoError for the file `path` (a string).
#define TINYXF_CHECK_IO(cond, path, ...)                                                 \
  do {                                                                                   \
    if (!(cond)) throw ::tinyxf::IoError(::tinyxf::detail::concat(__VA_ARGS__), (path)); \
  } while (0)

}  // namespace tinyxf
