#pragma once
// The only header that touches xsimd. Kernels are templates over an xsimd arch tag (Arch) and use
// these few operations; xsimd 8.1 (Debian 12) spellings live here and nowhere else
// (hadd, not reduce_add; no reduce_max yet).

#include <algorithm>
#include <array>
#include <cstddef>

#include "scaling/simd/intrinsics.hpp"

namespace scaling::simd {

// The instruction set the compiler targets for this translation unit (-march decides).
using DefaultArch = xsimd::default_arch;

template <class Arch>
using Vec = xsimd::batch<float, Arch>;

template <class Arch>
inline constexpr std::size_t kWidth = Vec<Arch>::size;

// Loads and stores never assume alignment: rows of odd widths start anywhere, and on every x86
// core this project targets an unaligned load of aligned data costs the same as an aligned one.
template <class Arch>
inline Vec<Arch> load(const float* p) {
  return Vec<Arch>::load_unaligned(p);
}
template <class Arch>
inline void store(float* p, const Vec<Arch>& v) {
  v.store_unaligned(p);
}
template <class Arch>
inline Vec<Arch> broadcast(float x) {
  return Vec<Arch>(x);
}
template <class Arch>
inline Vec<Arch> zero() {
  return Vec<Arch>(0.0F);
}
// a * b + c, fused where the arch has FMA.
template <class Arch>
inline Vec<Arch> fma(const Vec<Arch>& a, const Vec<Arch>& b, const Vec<Arch>& c) {
  return xsimd::fma(a, b, c);
}
template <class Arch>
inline Vec<Arch> max(const Vec<Arch>& a, const Vec<Arch>& b) {
  return xsimd::max(a, b);
}
template <class Arch>
inline Vec<Arch> exp(const Vec<Arch>& a) {
  return xsimd::exp(a);
}
template <class Arch>
inline float reduce_add(const Vec<Arch>& v) {
  return xsimd::hadd(v);
}
template <class Arch>
inline float reduce_max(const Vec<Arch>& v) {
  alignas(64) std::array<float, kWidth<Arch>> lanes{};
  v.store_aligned(lanes.data());
  return *std::max_element(lanes.begin(), lanes.end());
}

// Read hint for data needed soon (gathered rows, the next block of a stream).
inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

// Keeps a loaded vector in a register. When one loaded vector feeds several fused multiply-adds
// (a row of E or of a conv kernel, used by 4 modules), GCC otherwise folds the load into every
// FMA as a memory operand: 20 loads per 16 FMAs, more than the load ports sustain (measured:
// 76 → 97 G multiply-adds/s for the 800M multiplicative layer). An empty asm costs nothing.
template <class Arch>
inline void keep_in_register(Vec<Arch>& v) {
  __asm__("" : "+v"(v.data));
}

// Whether this CPU can run code generated for Arch (tests skip archs the machine lacks).
template <class Arch>
inline bool cpu_supports() {
  return Arch::version() <= xsimd::available_architectures().best;
}

}  // namespace scaling::simd
