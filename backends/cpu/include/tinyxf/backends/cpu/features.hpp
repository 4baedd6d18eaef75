#pragma once
// What this CPU can run, asked at run time (cpuid), for code outside the kernels: a program
// linked with the compiled tinyxf::cpu sees no kernel headers but may still want to know.
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

// True when this CPU has AMX tiles with bf16 products (Sapphire Rapids and later), the kernel
// lets this process use them, and nothing caps the kernels below them: $TINYXF_CPU_ISA avx2 or
// sse4.2 (as above), or $TINYXF_CPU_AMX=0, which keeps AVX512-BF16's kernel on an AMX machine (how
// the tests run both, and how the two are compared). Linux hands out the tiles' 8 KiB of state
// only on request (arch_prctl ARCH_REQ_XCOMP_PERM), made here once for the whole process.
inline bool has_amx_bf16() {
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
  static const bool yes = [] {
    if (!has_bf16_dot()) return false;  // the kernel packs and stores with AVX-512
    if (const char* amx = std::getenv("TINYXF_CPU_AMX"); amx != nullptr && std::string_view(amx) == "0") return false;
    // cpuid leaf 7 (present: AVX512-BF16 above is in it), subleaf 0; asm rather than <cpuid.h>,
    // which lives outside the standard headers that tinyxf's headers may reach.
    unsigned eax = 7, ebx = 0, ecx = 0, edx = 0;
    __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    const bool amx_bf16 = (edx >> 22) & 1u, amx_tile = (edx >> 24) & 1u;
    if (!amx_bf16 || !amx_tile) return false;
    constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an extended state component
    constexpr long kXfeatureXtiledata = 18;     // the tile data (XTILEDATA)
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return yes;
#else
  return false;
#endif
}

// True when bf16 products are the faster way to multiply float32 matrices on this CPU, which is
// what precision "medium" (and bf16 autocast's GEMMs) take them for: AMX, or AVX512-BF16 on AMD
// (Zen 4: one VDPBF16PS does twice the multiply-adds of a 512-bit FMA; the MiniLM step ran 1.9x
// its float32 speed). Intel cores without AMX issue VDPBF16PS at half their FMA rate (Cooper
// Lake; Sapphire/Emerald Rapids under a hypervisor that hides AMX: 86 vs 176 GFLOP/s per core on
// Xeon model 207), so there bf16 products would be the slower float32 multiply and "medium" keeps
// float32's kernels, as PyTorch's setting only permits them. $TINYXF_CPU_BF16_PRODUCTS=1 (on a
// CPU with AVX512-BF16) or 0 overrides the choice (the tests run both ways); checked once.
inline bool bf16_products_pay() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool yes = [] {
    if (!has_bf16_dot()) return false;
    if (const char* want = std::getenv("TINYXF_CPU_BF16_PRODUCTS"); want != nullptr && *want != '\0')
      return std::string_view(want) != "0";
    return has_amx_bf16() || __builtin_cpu_is("amd");
  }();
  return yes;
#else
  return false;
#endif
}

// What "medium"'s GEMMs run on, for logs and benchmark tables: "AMX", "AVX512-BF16", or "" where
// they multiply in float32 (bf16_products_pay).
inline const char* bf16_gemm_kernel() {
  if (!bf16_products_pay()) return "";
  return has_amx_bf16() ? "AMX" : "AVX512-BF16";
}

// Why "medium" and autocast multiply in float32 here, for logs: "" where bf16 products pay.
inline const char* bf16_products_absent_reason() {
  if (bf16_products_pay()) return "";
  if (!has_bf16_dot()) return "this CPU has no AVX512-BF16";
  if (const char* want = std::getenv("TINYXF_CPU_BF16_PRODUCTS"); want != nullptr && *want != '\0')
    return "TINYXF_CPU_BF16_PRODUCTS=0";
  return "bf16 products are slower than float32 ones on this CPU (no AMX)";
}

}  // namespace tinyxf::backends::cpu
