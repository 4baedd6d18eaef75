#pragma once
// Registers the cpu backend (Device::cpu()); the class is in cpu/backend.hpp.
//
// Two ways to get its kernels:
// - header-only (the default): they compile into the including translation unit, at that
//   translation unit's -march;
// - the compiled library tinyxf::cpu (CMake; it defines TINYXF_PRECOMPILED_BACKENDS for its
//   users): the kernels are built once per instruction set (SSE4.2, AVX2, AVX-512) and the
//   best one this CPU runs is chosen at start-up, so a program compiles in seconds and runs at
//   full speed with default flags. $TINYXF_CPU_ISA (sse4.2, avx2, avx512) picks a lower one.
#include <memory>
#include <string_view>

#include "tinyxf/core/runtime.hpp"
#include "tinyxf/backends/cpu/features.hpp"

#ifdef TINYXF_PRECOMPILED_BACKENDS

namespace tinyxf::backends {

// Defined in the tinyxf::cpu library (backends/cpu/src/dispatch.cpp).
std::shared_ptr<Backend> make_cpu_backend();
// The kernels' instruction set: "avx512", "avx2" or "sse4.2".
std::string_view cpu_backend_isa();

}  // namespace tinyxf::backends

#else

#include "tinyxf/backends/cpu/backend.hpp"

namespace tinyxf::backends {

inline std::shared_ptr<Backend> make_cpu_backend() { return std::make_shared<CpuBackend>(); }
// Header-only: the kernels use what this translation unit was compiled for.
inline std::string_view cpu_backend_isa() { return "compiled in (the program's -march)"; }

}  // namespace tinyxf::backends

#endif

namespace tinyxf::backends {

// Registered in every program that includes this header.
inline const bool cpu_backend_registered = register_backend(make_cpu_backend());

}  // namespace tinyxf::backends
