#pragma once
// The register tile of the kernels in which one loaded weight row feeds several modules (the
// multiplicative layer's E, the local convolution's K): Mods modules × Vecs vectors of columns
// are accumulated at once, so each row costs Vecs loads of weights, Mods broadcasts of inputs and
// Mods·Vecs fused multiply-adds. The more multiply-adds per load, the nearer the FMA rate, within
// the registers there are (accumulators + weight vectors + one broadcast).

#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels::detail {

// Tiles over a row of `Columns` outputs: its full vectors in tiles, the columns that do not fill
// a vector left to the kernel's own scalar tail.
template <std::size_t Columns, class Arch>
struct ModuleTiles {
  static constexpr std::size_t kVecs = Columns / simd::kWidth<Arch>;
  static constexpr bool kAvx512 = simd::kWidth<Arch> == 16;  // 32 vector registers, not 16
  // 8 modules × 3 vectors (24 accumulators + 3 of weights) where the vectors come in threes:
  // 24 multiply-adds per 11 loads instead of 16 per 8. 17B's Sparse QKV (M = 144, 9 vectors),
  // E warm in L3, 1 thread: 123 against 93–101 G multiply-adds/s for tiles of 4 × 4 and 4 × 5
  // (throwaway loop, 2026-11-29).
  static constexpr bool kThrees = kAvx512 && kVecs > 0 && kVecs % 3 == 0;
  // 8 modules × 2 vectors where a row is 2 or 4 vectors (800M's Sparse QKV: M = 64): 10 loads
  // per 16 multiply-adds against 4 × 4's 8, but a team of 2 splits such a row's columns instead
  // of its modules. 1 thread, bench_kernels, alternating builds (2026-11-29): the multiplicative
  // layer 15.2–15.8 → 14.5–14.8 µs, the convolution 6.6–6.9 → 6.3–6.4 µs; 2 threads unchanged.
  static constexpr bool kTwos = kAvx512 && (kVecs == 2 || kVecs == 4);
  static constexpr bool kEights = kThrees || kTwos;
  static constexpr std::size_t kMods = kEights ? 8 : 4;
  // Otherwise 4 × 4 with AVX-512; with 16 registers (AVX2) 4 × 3: 12 accumulators + 3 of weights
  // + 1 broadcast. The 4 × 4 tile needs 21 of them and GCC 12 spilled accumulators to the stack
  // (10 of its 32 FMAs read it); 4 × 2 does not spill but has 8 chains, too few to hide the
  // FMA latency (4 cycles, 2 per cycle). 800M's multiplicative layer (M = 64: tiles of 3, 3 and
  // 2 vectors), AVX2 (Zen 3), 1 thread, bench_kernels, alternating builds (2026-12-03): 55–60 →
  // 52–54 µs; with one prefetch per line (prefetches_line) 51–55 against 56–60 µs. The
  // convolution measured the same (31–32 µs) either way.
  static constexpr std::size_t kTileVecs = kThrees ? 3 : kTwos ? 2 : kAvx512 ? 4 : 3;
  static constexpr std::size_t kFullTiles = kVecs / kTileVecs;
  // Tiles of 4: one vector left over joins the last tile, which then has 5. On its own it would
  // be a tile of 4 accumulator chains, half the FMA rate. Only with AVX-512's registers (20
  // accumulators + 5 of weights).
  static constexpr bool kWideLast = !kEights && kAvx512 && kVecs % 4 == 1 && kFullTiles > 0;
  static constexpr std::size_t kLastTileVecs = kTileVecs + (kWideLast ? 1 : 0);  // of the last full tile
  // The first vector no full tile covers: the kRestVecs from there on make one narrower tile.
  static constexpr std::size_t kLeftoverVec = kFullTiles * kTileVecs + (kWideLast ? 1 : 0);
  static constexpr std::size_t kRestVecs = kVecs - kLeftoverVec;
  // The full tiles, then one more for what is left, if anything is: the rest tile and the columns
  // that do not fill a vector.
  static constexpr std::size_t kTiles =
      kFullTiles + (!kWideLast && kFullTiles * kTileVecs * simd::kWidth<Arch> < Columns ? 1 : 0);
};

// Whether a tile of Vecs vectors prefetches the line of its vector v: every vector where a vector
// is a whole line (AVX-512); with smaller vectors only where a line may start within the tile
// (the first, the last and every other one), since each prefetch instruction costs issue slots
// in a loop that is short of them. 800M multiplicative layer, AVX2 (Zen 3), E in L2, 1 thread:
// 43–44 → 38–39 µs with one prefetch per line instead of per vector (throwaway loop, 2026-12-03).
template <std::size_t Vecs, class Arch>
constexpr bool prefetches_line(std::size_t v) {
  return simd::kWidth<Arch> * sizeof(float) >= 64 || v == 0 || v + 1 == Vecs || v % 2 == 0;
}

}  // namespace scaling::kernels::detail
