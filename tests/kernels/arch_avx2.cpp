// Kernel tests for AVX2+FMA, built with -march=x86-64-v3 in an executable of their own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#define SCALING_TEST_ARCH xsimd::fma3<xsimd::avx2>
#define SCALING_TEST_ARCH_NAME "AVX2+FMA"
#include "kernel_cases.hpp"
