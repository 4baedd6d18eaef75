// The compiled tinyxf::cpu library's entry points: the reference backend, and the cpu backend in
// the best instruction-set variant this CPU runs.
//
// This file is compiled for the baseline (x86-64-v2: SSE4.2) and holds that variant itself. It
// is the library's first object, so where the variants share an inline function (core, xsimd
// helpers, the standard library), the linker keeps this file's copy, which runs on every CPU
// the library supports; each variant's kernels live in their own namespace (cpu/isa.hpp).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tinyxf/backends/cpu.hpp"
#include "tinyxf/backends/cpu/backend.hpp"
#include "tinyxf/backends/reference.hpp"
#include "tinyxf/backends/reference/backend.hpp"

#ifdef TINYXF_CPU_HAVE_AVX2
extern "C" tinyxf::Backend* tinyxf_cpu_backend_avx2();
#endif
#ifdef TINYXF_CPU_HAVE_AVX512
extern "C" tinyxf::Backend* tinyxf_cpu_backend_avx512();
#endif

namespace tinyxf::backends {
namespace {

enum class CpuIsa { baseline, avx2, avx512 };

bool cpu_runs(CpuIsa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  switch (isa) {
    case CpuIsa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512cd") && cpu_runs(CpuIsa::avx2);
    case CpuIsa::avx2:
      // (x86-64-v3 also has F16C, which clang 14 cannot ask for; every AVX2 CPU has it)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
             cpu_runs(CpuIsa::baseline);
    case CpuIsa::baseline:
      return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
  }
  return false;
#else
  return isa == CpuIsa::baseline;  // other architectures: one variant, built for the target
#endif
}

constexpr std::string_view isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return "avx512";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::baseline: break;
  }
#if defined(__x86_64__)
  return "sse4.2";
#else
  return "generic";
#endif
}

bool built(CpuIsa isa) {
  switch (isa) {
#ifdef TINYXF_CPU_HAVE_AVX512
    case CpuIsa::avx512: return true;
#endif
#ifdef TINYXF_CPU_HAVE_AVX2
    case CpuIsa::avx2: return true;
#endif
    case CpuIsa::baseline: return true;
    default: return false;
  }
}

#ifndef TINYXF_PRECOMPILED_BACKENDS
#error "the tinyxf::cpu library defines TINYXF_PRECOMPILED_BACKENDS (backends/cpu/CMakeLists.txt)"
#endif

// The best variant that is built and that this CPU runs, capped by $TINYXF_CPU_ISA. Runs during
// static initialisation (the registration in cpu.hpp), where an exception could only abort: bad
// settings are reported on stderr instead.
CpuIsa chosen_isa() {
  static const CpuIsa isa = [] {
    CpuIsa cap = CpuIsa::avx512;
    if (const char* env = std::getenv("TINYXF_CPU_ISA"); env && *env) {
      const std::string_view want = env;
      if (want == isa_name(CpuIsa::avx512)) cap = CpuIsa::avx512;
      else if (want == isa_name(CpuIsa::avx2)) cap = CpuIsa::avx2;
      else if (want == isa_name(CpuIsa::baseline)) cap = CpuIsa::baseline;
      else
        std::fprintf(stderr, "tinyxf: ignoring TINYXF_CPU_ISA='%s' (expected %s, %s or %s)\n", env,
                     isa_name(CpuIsa::avx512).data(), isa_name(CpuIsa::avx2).data(),
                     isa_name(CpuIsa::baseline).data());
    }
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::baseline})
      if (static_cast<int>(isa) <= static_cast<int>(cap) && built(isa) && cpu_runs(isa)) return isa;
    std::fprintf(stderr, "tinyxf: the compiled cpu backend (tinyxf::cpu) needs at least %s (x86-64-v2), "
                 "which this CPU lacks; build the program header-only (without tinyxf::cpu)\n",
                 isa_name(CpuIsa::baseline).data());
    std::exit(EXIT_FAILURE);
  }();
  return isa;
}

}  // namespace

std::shared_ptr<Backend> make_cpu_backend() {
  switch (chosen_isa()) {
#ifdef TINYXF_CPU_HAVE_AVX512
    case CpuIsa::avx512: return std::shared_ptr<Backend>(tinyxf_cpu_backend_avx512());
#endif
#ifdef TINYXF_CPU_HAVE_AVX2
    case CpuIsa::avx2: return std::shared_ptr<Backend>(tinyxf_cpu_backend_avx2());
#endif
    default: return std::make_shared<CpuBackend>();
  }
}

std::string_view cpu_backend_isa() { return isa_name(chosen_isa()); }

std::shared_ptr<Backend> make_reference_backend() { return std::make_shared<ReferenceBackend>(); }

}  // namespace tinyxf::backends
