#pragma once
// The only header that touches xsimd. Kernels are templates over an xsimd arch tag (Arch) and use
// these few operations; xsimd 8.1 (Debian 12) spellings live here and nowhere else
// (hadd, not reduce_add; no reduce_max yet).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

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
// How many lanes of v are ≥ t (NaN lanes are not).
template <class Arch>
inline std::size_t count_at_least(const Vec<Arch>& v, float t) {
#if defined(__AVX512F__)
  if constexpr (kWidth<Arch> == 16) {
    return static_cast<std::size_t>(__builtin_popcount(_mm512_cmp_ps_mask(v, _mm512_set1_ps(t), _CMP_GE_OQ)));
  }
#endif
  const auto ge = v >= Vec<Arch>(t);
  if (!xsimd::any(ge)) return 0;
  return static_cast<std::size_t>(reduce_add<Arch>(xsimd::select(ge, Vec<Arch>(1.0F), Vec<Arch>(0.0F))));
}
template <class Arch>
inline float reduce_max(const Vec<Arch>& v) {
#if defined(__AVX512F__)
  if constexpr (kWidth<Arch> == 16) return _mm512_reduce_max_ps(v);
#endif
  alignas(64) std::array<float, kWidth<Arch>> lanes{};
  v.store_aligned(lanes.data());
  return *std::max_element(lanes.begin(), lanes.end());
}

// Integer lanes, as many as a Vec has floats (the screen's exact int8 × int16 sums).
template <class Arch>
using IntVec = xsimd::batch<std::int32_t, Arch>;

// Each lane converted to the nearest float (exact below 2^24).
template <class Arch>
inline Vec<Arch> to_float(const IntVec<Arch>& v) {
  return xsimd::to_float(v);
}

// acc + (lane k = b[2k]·lo(k) + b[2k+1]·hi(k)), the products exact in int32, where b is the
// 2·kWidth signed bytes at p and lane k of `pairs` holds two int16, lo in its low half: the bytes
// widened to int16, then pmaddwd and an add, which do 2·kWidth multiply-adds in three instructions
// (with fp32, a widening, a conversion and an FMA per kWidth); with AVX-512 VNNI, vpdpwssd does
// the multiply and the add in one. The add wraps like the instructions do (the screen's sums never
// come near 2³¹).
template <class Arch>
inline IntVec<Arch> add_dot_int8_pairs(const IntVec<Arch>& acc, const void* p, const IntVec<Arch>& pairs) {
#if defined(__AVX512BW__)
  if constexpr (kWidth<Arch> == 16) {
    const __m512i words = _mm512_cvtepi8_epi16(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
#if defined(__AVX512VNNI__)
    return _mm512_dpwssd_epi32(acc, words, pairs);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(words, pairs));
#endif
  }
#endif
#if defined(__AVX2__)
  if constexpr (kWidth<Arch> == 8) {
    return _mm256_add_epi32(
        acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(static_cast<const __m128i*>(p))), pairs));
  }
#endif
#if defined(__SSE2__)
  if constexpr (kWidth<Arch> == 4) {
    // SSE2 has no sign extension: each byte doubled into 16 bits, shifted down arithmetically.
    const __m128i bytes = _mm_loadl_epi64(static_cast<const __m128i*>(p));
    return _mm_add_epi32(acc, _mm_madd_epi16(_mm_srai_epi16(_mm_unpacklo_epi8(bytes, bytes), 8), pairs));
  }
#endif
  std::int8_t bytes[2 * kWidth<Arch>];
  std::memcpy(bytes, p, sizeof(bytes));
  alignas(64) std::array<std::int32_t, kWidth<Arch>> weights{};
  pairs.store_aligned(weights.data());
  alignas(64) std::array<std::int32_t, kWidth<Arch>> lanes{};
  acc.store_aligned(lanes.data());
  for (std::size_t k = 0; k < kWidth<Arch>; ++k) {
    const auto word = static_cast<std::uint32_t>(weights[k]);
    const auto lo = static_cast<std::int16_t>(word & 0xFFFFU);
    const auto hi = static_cast<std::int16_t>(word >> 16);
    const std::int32_t product = bytes[2 * k] * lo + bytes[2 * k + 1] * hi;
    lanes[k] = static_cast<std::int32_t>(static_cast<std::uint32_t>(lanes[k]) + static_cast<std::uint32_t>(product));
  }
  return IntVec<Arch>::load_aligned(lanes.data());
}

// kWidth words holding floats' bits, as floats.
template <class Arch>
inline Vec<Arch> load_float_bits(const std::uint32_t* p) {
  return xsimd::bitwise_cast<Vec<Arch>>(xsimd::batch<std::uint32_t, Arch>::load_unaligned(p));
}

// Read hint for data needed soon (gathered rows, the next block of a stream).
inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

// The same for every 64-byte cache line that [p, p + bytes) touches, wherever p starts (a row
// of a matrix whose row length is not a multiple of a line).
inline void prefetch_range(const void* p, std::size_t bytes) {
  constexpr std::uintptr_t kLine = 64;
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  for (std::uintptr_t a = start & ~(kLine - 1); a < start + bytes; a += kLine) {
    prefetch(reinterpret_cast<const void*>(a));
  }
}

// The same for the float `floats` past p, which may lie beyond the end of p's array (the next
// rows of a stream near its end): the address is computed as an integer, since forming such a
// pointer would be undefined, and a prefetch of any address is harmless.
inline const void* address_ahead(const float* p, std::size_t floats) {
  return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + floats * sizeof(float));
}
inline void prefetch_ahead(const float* p, std::size_t floats) { prefetch(address_ahead(p, floats)); }
// The same into L2 only (prefetcht1), for lines needed later than L1 would keep them, or streams
// that would hold L1's few fill buffers waiting on DRAM.
inline void prefetch_to_l2(const void* p) { __builtin_prefetch(p, 0, 2); }
inline void prefetch_ahead_to_l2(const float* p, std::size_t floats) { prefetch_to_l2(address_ahead(p, floats)); }

// Keeps a loaded vector in a register. When one loaded vector feeds several fused multiply-adds (a
// row of E or of a conv kernel, used by a tile's 4 or 8 modules), GCC otherwise folds the load into
// every FMA as a memory operand: 20 loads per 16 FMAs, more than the load ports sustain (measured:
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
