#pragma once
// tinyxf::Error: the one exception type of the library. Messages name the operation and the
// offending values (shapes, dtypes, devices, file offsets, tokens) so a user can fix the input.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinyxf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// TINYXF_CHECK(cond, "op: ", "message parts", ...) throws tinyxf::Error with the parts joined.
#define TINYXF_CHECK(cond, ...)                                              \
  do {                                                                       \
    if (!(cond)) throw ::tinyxf::Error(::tinyxf::detail::concat(__VA_ARGS__)); \
  } while (0)

}  // namespace tinyxf
