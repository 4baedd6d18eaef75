#pragma once
// What this CPU can run, asked at run time (cpuid), for code outside the kernels: a program
// linked with the compiled tinyxf::cpu sees no kernel headers but may still want to know.
#include <cstdlib>
#include <string_view>

namespace tinyxf::backends::cpu {

// True when this CPU runs AVX512-BF16 (Cooper Lake, Sapphire Rapids and later, AMD Zen 4 and
// later) and $TINYXF_CPU_ISA does not cap the kernels below AVX-512 (avx2 or sse4.2: the program
// then behaves as on a CPU without it, which is how an AVX2-only machine is emulated); checked once.
inline bool has_bf16_dot() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool yes = [] {
    if (const char* cap = std::getenv("TINYXF_CPU_ISA"))
      if (const std::string_view want = cap; want == "avx2" || want == "sse4.2") return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return yes;
#else
  return false;
#endif
}

}  // namespace tinyxf::backends::cpu
