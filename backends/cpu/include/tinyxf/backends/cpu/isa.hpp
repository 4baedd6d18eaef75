#pragma once
// The namespace the cpu kernels compile into. Header-only builds put them in
// tinyxf::backends::cpu::native (an inline namespace, so callers write cpu::gemm). The compiled
// library tinyxf::cpu (backends/cpu/src) builds the same headers once per instruction set, each
// with its own TINYXF_CPU_ISA (sse42, avx2, avx512), so the variants' symbols never merge at
// link time and the one chosen at run time never calls another variant's code.
#ifndef TINYXF_CPU_ISA
#define TINYXF_CPU_ISA native
#endif
// The variant's name as a string literal ("avx512", "avx2", "sse42", "native").
#define TINYXF_CPU_ISA_STRINGIFY_(x) #x
#define TINYXF_CPU_ISA_STRINGIFY(x) TINYXF_CPU_ISA_STRINGIFY_(x)
#define TINYXF_CPU_ISA_NAME TINYXF_CPU_ISA_STRINGIFY(TINYXF_CPU_ISA)
