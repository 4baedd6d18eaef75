#pragma once
// OpenBLAS kernel selection for CPUs newer than the installed OpenBLAS.
//
// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model number at load time. A model it
// does not know (Debian 12's 0.3.21 on Sapphire/Emerald Rapids, for one) falls back to
// "Prescott", an SSE3 kernel set: GEMM then runs at about a fifth of the AVX-512 kernels' speed
// (docs/backends.md has the numbers). OpenBLAS honours OPENBLAS_CORETYPE, but only when it is set
// before the library is loaded, which a program linked against it cannot arrange. So, once,
// before the first GEMM: if the user did not choose a core, OpenBLAS fell back to Prescott, and
// the CPU has the instructions of a newer kernel set, re-run OpenBLAS's own dynamic-arch
// initialisation with that core named. The entry points are weak: with any other BLAS (or a
// non-dynamic OpenBLAS) they are absent and nothing happens.
#include <cblas.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include "tinyxf/backends/cpu/isa.hpp"

extern "C" {
char* openblas_get_corename(void);
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
}
#pragma weak openblas_get_corename
#pragma weak gotoblas_dynamic_init
#pragma weak gotoblas_dynamic_quit

namespace tinyxf::backends::cpu::inline TINYXF_CPU_ISA {

namespace blas_core_detail {

inline std::string lower(const char* s) {
  std::string out = s != nullptr ? s : "";
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The newest OpenBLAS core name this CPU can run, among those every DYNAMIC_ARCH build has.
inline const char* best_supported_core() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

}  // namespace blas_core_detail

// Selects a better OpenBLAS kernel set, once per process, as described above (cheap after the
// first call: gemm() calls it every time). TINYXF_KEEP_BLAS_CORE=1 turns the selection off.
inline void select_blas_core() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (openblas_get_corename == nullptr || gotoblas_dynamic_init == nullptr ||
        gotoblas_dynamic_quit == nullptr)
      return;
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice stands
    if (const char* keep = std::getenv("TINYXF_KEEP_BLAS_CORE"); keep != nullptr && *keep == '1') return;
    if (blas_core_detail::lower(openblas_get_corename()) != "prescott") return;
    const char* core = blas_core_detail::best_supported_core();
    if (core == nullptr) return;
    // OpenBLAS reads the variable inside gotoblas_dynamic_init; remove it again afterwards so
    // that child processes start with the environment they were given.
    ::setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    ::unsetenv("OPENBLAS_CORETYPE");
  });
}

// The OpenBLAS kernel set in use, after the selection ("" for a BLAS that does not say).
inline std::string blas_core_name() {
  select_blas_core();
  return openblas_get_corename != nullptr ? std::string(openblas_get_corename()) : std::string();
}

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
