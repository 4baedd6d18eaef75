#pragma once
// Strict command-line numbers for the programs (examples/, tools/). The whole argument must be a
// number inside the flag's range: trailing text, NaN, infinities, overflow and (for integers)
// fractions, exponents and signs outside the range are refused, and the message names the flag:
//   cli::parse_integer<std::int64_t>("--epochs", "4294967297", 1, 10000)
//     -> UsageError "--epochs: 4294967297 is outside the accepted range [1, 10000]"
//   cli::parse_real("--warmup-ratio", "nan", 0.0, 1.0)
//     -> UsageError "--warmup-ratio: 'nan' is not a finite number"
//   cli::parse_real("--warmup-ratio", "1", 0.0, 1.0, cli::Bound::closed, cli::Bound::open)
//     -> UsageError "--warmup-ratio: 1 is outside the accepted range [0, 1)"
#include <charconv>
#include <cmath>
#include <concepts>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "tinyxf/core/error.hpp"

namespace tinyxf::cli {

// A bad command line (programs exit with status 2 and print their usage).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <std::integral T>
T parse_integer(std::string_view flag, std::string_view text, T min, T max) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  const bool negative_unsigned = std::unsigned_integral<T> && text.size() > 1 && text[0] == '-' && text[1] >= '0' && text[1] <= '9';
  if (error == std::errc::result_out_of_range || negative_unsigned)
    throw UsageError(detail::concat(flag, ": ", text, " is outside the accepted range [", min, ", ", max, "]"));
  if (text.empty() || error != std::errc() || stop != end)
    throw UsageError(detail::concat(flag, ": '", text, "' is not a whole number"));
  if (value < min || value > max)
    throw UsageError(detail::concat(flag, ": ", text, " is outside the accepted range [", min, ", ", max, "]"));
  return value;
}

// Whether the command line asks for the usage text (-h or --help anywhere): the programs print it
// and exit with status 0 before parsing anything else.
inline bool asks_for_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help") return true;
  return false;
}

// Whether a range's end belongs to it: [0, 1) for a ratio below 1, (0, max] for a positive time.
enum class Bound { closed, open };

inline double parse_real(std::string_view flag, std::string_view text, double min, double max,
                         Bound min_bound = Bound::closed, Bound max_bound = Bound::closed) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || (error != std::errc() && error != std::errc::result_out_of_range) || stop != end)
    throw UsageError(detail::concat(flag, ": '", text, "' is not a number"));
  if (error == std::errc::result_out_of_range)
    throw UsageError(detail::concat(flag, ": '", text, "' is too large or too small for a double"));
  if (!std::isfinite(value)) throw UsageError(detail::concat(flag, ": '", text, "' is not a finite number"));
  const bool below = min_bound == Bound::open ? value <= min : value < min;
  const bool above = max_bound == Bound::open ? value >= max : value > max;
  if (below || above)
    throw UsageError(detail::concat(flag, ": ", text, " is outside the accepted range ",
                                    min_bound == Bound::open ? "(" : "[", min, ", ", max,
                                    max_bound == Bound::open ? ")" : "]"));
  return value;
}

}  // namespace tinyxf::cli
