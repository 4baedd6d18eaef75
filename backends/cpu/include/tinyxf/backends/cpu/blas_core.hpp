#pragma once
// OpenBLAS setup, once per process, when the cpu backend is made (cpu/backend.hpp):
// single-threaded OpenBLAS (tinyxf's pool runs the threads: gemm.hpp), and its kernel set for
// CPUs newer than the installed OpenBLAS.
//
// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model number at load time. A model it
// does not know (Debian 12's 0.3.21 on Sapphire/Emerald Rapids, for one) falls back to
// "Prescott", an SSE3 kernel set: GEMM then runs at about a fifth of the AVX-512 kernels' speed
// (docs/backends.md has the numbers). OpenBLAS takes another kernel set only from
// OPENBLAS_CORETYPE, read inside its dynamic-arch initialisation, which runs when the library is
// loaded, before a program linked against it can set anything. So, if the user did not choose a
// core, OpenBLAS fell back to Prescott and the CPU has the instructions of a newer kernel set:
// - the compiled tinyxf::cpu library re-runs that initialisation with the core named — the only
//   interface OpenBLAS offers for it, so the variable is set for that one call and removed again,
//   during static initialisation (before the program's threads) — and logs the switch;
// - a header-only program does not touch the environment: it logs a warning naming the
//   OPENBLAS_CORETYPE value to start the program with.
// The entry points are weak: with a non-dynamic OpenBLAS they are absent and nothing happens.
#include <cblas.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include "tinyxf/backends/cpu/isa.hpp"
#include "tinyxf/core/runtime.hpp"

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

// The kernel set to switch OpenBLAS to, or nullptr to keep `current`: only away from Prescott,
// only when the user chose nothing (OPENBLAS_CORETYPE, TINYXF_KEEP_BLAS_CORE=1), and only to a
// core the CPU runs (`best`, from best_supported_core()).
inline const char* blas_core_to_select(std::string_view current, bool user_chose, const char* best) {
  if (user_chose || best == nullptr) return nullptr;
  return blas_core_detail::lower(std::string(current).c_str()) == "prescott" ? best : nullptr;
}

// What setup_blas() found: the kernel set in use ("" for a BLAS that does not say) and, when it
// switched, the one OpenBLAS had chosen.
struct BlasSetup {
  std::string core;
  std::string replaced_core;
};

// Sets OpenBLAS up as described above, once per process; later calls return the first result.
inline const BlasSetup& setup_blas() {
  static const BlasSetup setup = [] {
    BlasSetup s;
    if (openblas_get_corename != nullptr) s.core = openblas_get_corename();
    const char* keep = std::getenv("TINYXF_KEEP_BLAS_CORE");
    const bool user_chose =
        std::getenv("OPENBLAS_CORETYPE") != nullptr || (keep != nullptr && *keep == '1');
    const char* target =
        blas_core_to_select(s.core, user_chose, blas_core_detail::best_supported_core());
    if (target != nullptr && gotoblas_dynamic_init != nullptr && gotoblas_dynamic_quit != nullptr) {
#ifdef TINYXF_PRECOMPILED_BACKENDS
      ::setenv("OPENBLAS_CORETYPE", target, 1);
      gotoblas_dynamic_quit();
      gotoblas_dynamic_init();
      ::unsetenv("OPENBLAS_CORETYPE");
      s.replaced_core = std::exchange(s.core, std::string(openblas_get_corename()));
      // Handled, nothing for the user to do: an info line (stderr with TINYXF_VERBOSE=1), so that
      // a program's output (imdb_distilbert predict) is not interleaved with it.
      runtime().log(LogLevel::info,
                    "OpenBLAS does not know this CPU and chose its " + s.replaced_core +
                        " (SSE3) kernels; using its " + s.core +
                        " kernels instead (TINYXF_KEEP_BLAS_CORE=1 keeps OpenBLAS's choice)");
#else
      runtime().log(LogLevel::warning,
                    "OpenBLAS does not know this CPU and chose its " + s.core +
                        " (SSE3) kernels, about 5x slower here; start the program with "
                        "OPENBLAS_CORETYPE=" + target +
                        " (or link tinyxf::cpu, which switches by itself)");
#endif
    }
    openblas_set_num_threads(1);
    return s;
  }();
  return setup;
}

// The OpenBLAS kernel set in use, after setup ("" for a BLAS that does not say).
inline std::string blas_core_name() { return setup_blas().core; }

}  // namespace tinyxf::backends::cpu::TINYXF_CPU_ISA
