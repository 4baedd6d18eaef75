#pragma once
// The command line of the programs that time one distilbert-base training step on a device
// (tinyxf-bench-cuda-train, tinyxf_bench_overhead): --batch B --seq S --layers L --steps N
// --warmup W, --bf16 (autocast), and --tf32 where the program takes it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tinyxf::bench {

struct StepOptions {
  std::int64_t batch = 16, seq = 512, layers = 6;
  int steps = 10, warmup = 3;
  bool tf32 = false, bf16 = false;
};

// `defaults` gives the program's sizes; a bad argument prints the usage and exits with 2.
inline StepOptions parse_step_options(int argc, char** argv, const char* program, StepOptions defaults,
                                      bool takes_tf32) {
  const auto usage = [&](const std::string& message) {
    std::fprintf(stderr, "%s\nusage: %s [--batch B] [--seq S] [--steps N] [--warmup W] [--layers L] %s\n",
                 message.c_str(), program, takes_tf32 ? "[--tf32 | --bf16]" : "[--bf16]");
    std::exit(2);
  };
  StepOptions o = defaults;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> long {
      if (i + 1 >= argc) usage("missing value after " + arg);
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (arg == "--batch") o.batch = value();
    else if (arg == "--seq") o.seq = value();
    else if (arg == "--steps") o.steps = static_cast<int>(value());
    else if (arg == "--warmup") o.warmup = static_cast<int>(value());
    else if (arg == "--layers") o.layers = value();
    else if (arg == "--tf32" && takes_tf32) o.tf32 = true;
    else if (arg == "--bf16") o.bf16 = true;
    else usage("unknown argument " + arg);
  }
  if (o.batch < 1 || o.seq < 1 || o.seq > 512 || o.layers < 1 || o.steps < 1 || o.warmup < 0) usage("invalid sizes");
  return o;
}

}  // namespace tinyxf::bench
