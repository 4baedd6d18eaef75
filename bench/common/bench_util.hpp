#pragma once
// Helpers shared by the C++ benchmarks (include as "../common/bench_util.hpp"); bench_util.py has
// the Python twins, so both sides of a comparison time and measure the same way.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::bench {

// "1,2" -> {1, 2}: the thread counts of a --threads flag (all positive).
inline std::vector<unsigned> parse_thread_list(const std::string& list) {
  std::vector<unsigned> threads;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const int n = std::atoi(list.substr(start, comma - start).c_str());
    TINYXF_CHECK(n > 0, "--threads wants a list of positive counts like 1,2; got '", list, "'");
    threads.push_back(static_cast<unsigned>(n));
    start = comma + 1;
  }
  return threads;
}

// Walks the command line as "--name [value]" options: on_option(name, value) for each, where
// value() takes the next argument as the option's value (an Error when there is none).
template <class Fn>
void for_each_option(int argc, char** argv, Fn&& on_option) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    auto value = [&]() -> std::string {
      TINYXF_CHECK(i + 1 < argc, name, " needs a value");
      return argv[++i];
    };
    on_option(name, value);
  }
}

// Runs fn `warmup` times untimed, then `reps` times timed; returns {median, min} in seconds.
template <class Fn>
std::pair<double, double> time_runs(int warmup, int reps, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> seconds;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return {seconds[seconds.size() / 2], seconds.front()};
}

// A memory field of /proc/self/status ("VmRSS": resident now, "VmHWM": peak resident) in MiB;
// 0 where the file or the field is missing (not Linux).
inline double proc_status_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(field + ":")) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  return 0.0;
}

}  // namespace tinyxf::bench
