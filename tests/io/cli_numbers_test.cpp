// Strict command-line numbers (io/cli_numbers.hpp), with the values of issue 11, item 5.
#include "tinyxf/io/cli_numbers.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

namespace cli = tinyxf::cli;
using Catch::Matchers::Contains;

TEST_CASE("cli: integers must be whole numbers inside the flag's range", "[io][cli]") {
  CHECK(cli::parse_integer<std::int64_t>("--epochs", "3", 1, 10000) == 3);
  CHECK(cli::parse_integer<std::int64_t>("--warmup-steps", "0", 0, 100) == 0);
  CHECK(cli::parse_integer<std::uint64_t>("--seed", "18446744073709551615", 0,
                                          std::numeric_limits<std::uint64_t>::max()) ==
        std::numeric_limits<std::uint64_t>::max());

  // 2^32 + 1 used to wrap to 1 epoch through a cast to int.
  CHECK_THROWS_WITH(cli::parse_integer<std::int64_t>("--epochs", "4294967297", 1, 10000),
                    Contains("--epochs: 4294967297 is outside the accepted range [1, 10000]"));
  // Values of 2^63 and more were undefined casts from double.
  CHECK_THROWS_WITH(cli::parse_integer<std::int64_t>("--limit-train", "9223372036854775808", 0, 1000),
                    Contains("--limit-train: 9223372036854775808 is outside the accepted range"));
  CHECK_THROWS_WITH(cli::parse_integer<std::int64_t>("--max-length", "18446744073709551615", 2, 65536),
                    Contains("--max-length: 18446744073709551615 is outside the accepted range [2, 65536]"));
  CHECK_THROWS_WITH(cli::parse_integer<std::uint64_t>("--seed", "-1", 0, 10),
                    Contains("--seed: -1 is outside the accepted range"));
  for (const char* bad : {"", "1.5", "1e3", "12abc", " 7", "+7", "0x10", "nan"})
    CHECK_THROWS_WITH(cli::parse_integer<std::int64_t>("--batch-size", bad, 1, 100),
                      Contains("--batch-size: '" + std::string(bad) + "' is not a whole number"));
}

TEST_CASE("cli: reals must be finite and inside the flag's range", "[io][cli]") {
  CHECK(cli::parse_real("--lr", "5e-5", 0, 100) == 5e-5);
  CHECK(cli::parse_real("--warmup-ratio", "0.1", 0, 1) == 0.1);
  // NaN passed every comparison-based check and was then cast to int64.
  CHECK_THROWS_WITH(cli::parse_real("--warmup-ratio", "nan", 0, 1),
                    Contains("--warmup-ratio: 'nan' is not a finite number"));
  // inf trained fully, then writing metrics.json failed.
  CHECK_THROWS_WITH(cli::parse_real("--max-grad-norm", "inf", 0, 1e9),
                    Contains("--max-grad-norm: 'inf' is not a finite number"));
  CHECK_THROWS_WITH(cli::parse_real("--lr", "1e999", 0, 100),
                    Contains("--lr: '1e999' is too large or too small for a double"));
  CHECK_THROWS_WITH(cli::parse_real("--lr", "-0.5", 0, 100),
                    Contains("--lr: -0.5 is outside the accepted range [0, 100]"));
  for (const char* bad : {"", "abc", "0.1x", " 1", "1,5"})
    CHECK_THROWS_WITH(cli::parse_real("--lr", bad, 0, 100), Contains("--lr: '" + std::string(bad) + "' is not a number"));
  // Open ends say so: the message printed [0, 1] for a range that refused 1.
  using cli::Bound;
  CHECK(cli::parse_real("--warmup-ratio", "0", 0, 1, Bound::closed, Bound::open) == 0.0);
  CHECK_THROWS_WITH(cli::parse_real("--warmup-ratio", "1", 0, 1, Bound::closed, Bound::open),
                    Contains("--warmup-ratio: 1 is outside the accepted range [0, 1)"));
  CHECK(cli::parse_real("--time-budget", "1e-9", 0, 10080, Bound::open) == 1e-9);
  CHECK_THROWS_WITH(cli::parse_real("--time-budget", "0", 0, 10080, Bound::open),
                    Contains("--time-budget: 0 is outside the accepted range (0, 10080]"));
}

TEST_CASE("cli: -h or --help anywhere asks for the usage text", "[io][cli]") {
  char program[] = "prog", train[] = "train", help[] = "--help", h[] = "-h", other[] = "--helpful";
  char* with_help[] = {program, train, help};
  char* with_h[] = {program, h};
  char* without[] = {program, train, other};
  CHECK(cli::asks_for_help(3, with_help));
  CHECK(cli::asks_for_help(2, with_h));
  CHECK_FALSE(cli::asks_for_help(3, without));
  CHECK_FALSE(cli::asks_for_help(1, with_help));
}
