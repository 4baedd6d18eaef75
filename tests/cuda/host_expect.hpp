#pragma once
// The check macro of the CUDA host-side tests (plain executables, no Catch2: nvcc compiles them):
// EXPECT(condition, printf-format, args...) counts and prints a failure and goes on; main
// returns 1 when g_failures is not 0.
#include <cstdio>

inline int g_failures = 0;

#define EXPECT(cond, ...)                                            \
  do {                                                               \
    if (!(cond)) {                                                   \
      ++g_failures;                                                  \
      std::printf("FAILED %s:%d: %s | ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                      \
      std::printf("\n");                                             \
    }                                                                \
  } while (0)
