#pragma once
// Includes the compiler's intrinsics and xsimd. GCC 12 warns about its own AVX-512 intrinsics
// (_mm512_undefined_ps is "used uninitialized", GCC bug 105593) wherever they are inlined; the
// warning is located in the intrinsics headers, so silencing it around their first inclusion
// silences exactly that and nothing in our code.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <xsimd/xsimd.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
