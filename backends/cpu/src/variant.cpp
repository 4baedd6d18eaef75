// One instruction-set variant of the cpu backend for the compiled tinyxf::cpu library:
// backends/cpu/CMakeLists.txt builds this file once per variant, each with its -march, its
// TINYXF_CPU_ISA namespace and its factory name (TINYXF_CPU_VARIANT_FACTORY).
#include "tinyxf/backends/cpu/backend.hpp"

#ifndef TINYXF_CPU_VARIANT_FACTORY
#error "build this file through backends/cpu/CMakeLists.txt (it names the variant's factory)"
#endif

extern "C" tinyxf::Backend* TINYXF_CPU_VARIANT_FACTORY() { return new tinyxf::backends::CpuBackend(); }
