// Kernel tests for SSE4.2, built with -march=x86-64-v2 in an executable of their own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#define SCALING_TEST_ARCH xsimd::sse4_2
#define SCALING_TEST_ARCH_NAME "SSE4.2"
#include "kernel_cases.hpp"
