// Kernel tests for AVX-512BW with VNNI (the screen's vpdpwssd), built with -march=x86-64-v4
// -mavx512vnni in an executable of their own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#define SCALING_TEST_ARCH xsimd::avx512bw
#define SCALING_TEST_ARCH_NAME "AVX-512BW+VNNI"
#include "kernel_cases.hpp"
