// Kernel tests for SSE2, built with -march=x86-64 in an executable of their own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#define SCALING_TEST_ARCH xsimd::sse2
#define SCALING_TEST_ARCH_NAME "SSE2"
#include "kernel_cases.hpp"
