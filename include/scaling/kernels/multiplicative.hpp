#pragma once
// The multiplicative dense layer's product (spec section 3, trax FactoredDense):
//   y[s·M + m] = Σ_i x[i] · D[s, i] · E[i, m] + b[s·M + m]      for S modules of M outputs
// It has S·d_in + d_in·M weights instead of d_in·S·M, but still d_in·S·M multiply-adds: each
// module multiplies x, scaled by its row of D, with the same E. Decode must therefore read E from
// memory once per token, not once per module: modules are taken 4 or 8 at a time (ModuleTiles)
// and, for each input i, one load of E's row i feeds all of them (and E stays in L2 for the next
// group, see kChunk). The sum for each output runs over i in order with one fused multiply-add
// chain, so splitting modules over a team cannot change a result.

#include <algorithm>
#include <cstddef>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/module_tiles.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

namespace detail {

// Inputs are taken kChunk at a time: for each chunk, every work item of the caller runs over it
// before the next chunk starts, so that chunk of E (kChunk·M floats) is read from memory once and
// then from L2, however many module groups use it (17B: E is 5.3 MB, larger than L2). Partial
// sums wait in y between chunks; storing and reloading a float does not change it, so the result
// is the same fused multiply-add chain over i as without chunks.
inline constexpr std::size_t kChunk = 256;

// A tile reads 3 to 5 lines of each row of E (M·4 bytes apart), which the chunk brought into L2
// but not into L1; the tile prefetches the lines 16 rows ahead. 17B (M 144, E from DRAM, D warm),
// 1 thread: 1.02 → 0.94 ms per product; 800M's Sparse QKV (M 64): 15.5 → 14.4 µs (bench_kernels
// multiplicative/…, alternating builds; 8 or 32 rows ahead were no better).
inline constexpr std::size_t kPrefetchRows = 16;

// While a tile works on one chunk, it also prefetches rows of the next chunk of E into L2: the
// Groups module groups take turns, group g taking the rows ≡ g (mod Groups). So the next chunk
// arrives spread over the compute of this one, and the first group of a chunk no longer waits for
// DRAM. 17B (E and D from DRAM), 1 thread: 0.92 → 0.80–0.82 ms per product; 800M Sparse QKV
// 16.9–17.3 → 16.1–16.5 µs (bench_kernels multiplicative/…, alternating builds, 2026-11-29). On
// a team, a member that runs a tile for only some groups prefetches only their rows (taking turns
// among the member's own groups measured the same). Near the end of E it prefetches past it,
// which is harmless (simd::prefetch_ahead).

// z[k][j] = x[i0 + j] · D[s0 + k, i0 + j] for j < n: the chunk's inputs scaled by each module's
// row of D, computed once per chunk so that the tile loads each as a broadcast. Each line of D
// read also prefetches the same line of the next chunk: the group's rows give pieces of 1 KB far
// apart (17B: D is 2.4 MB), which the hardware prefetcher does not follow: in a profile of the 17B
// block a fifth of this layer's samples waited here for D; with the prefetch, almost none.
// bench_kernels multiplicative/… (D and E from DRAM), 1 thread: 17B 1.11 → 1.04–1.08 ms, 800M
// Sparse QKV 20.1–20.5 → 17.9–18.6 µs.
template <std::size_t Mods, std::size_t In, class Arch>
inline void scaled_inputs(const float* d, const float* x, std::size_t s0, std::size_t i0,
                          std::size_t n, float (&z)[Mods][kChunk]) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  for (std::size_t k = 0; k < Mods; ++k) {
    const float* dk = d + (s0 + k) * In + i0;
    const float* xs = x + i0;
    const std::size_t full = std::min(n, kChunk) / kW * kW;
    for (std::size_t j = 0; j < full; j += kW) {
      simd::prefetch_ahead(dk, kChunk + j);
      simd::store<Arch>(z[k] + j, simd::load<Arch>(xs + j) * simd::load<Arch>(dk + j));
    }
    // The rest counts from 0 to a bound < kW: counting on from `full`, GCC 12 warns
    // (-Waggressive-loop-optimizations) about iterations near 2^62 that cannot happen.
    for (std::size_t r = 0; r < n - full && r < kW; ++r) z[k][full + r] = xs[full + r] * dk[full + r];
  }
}

// Partial outputs of Mods modules (starting at s0) × Vecs vectors of columns (starting at m0)
// over inputs [i0, i0 + n): y += z·E for the chunk; the first chunk starts from zero, the last
// adds the bias. Not inlined: inlined into its callers, GCC 12 spilled the 8 × 3 tile's
// accumulators to the stack once the next-chunk prefetch was added (17B: twice the time).
template <std::size_t Mods, std::size_t Vecs, std::size_t In, std::size_t M, std::size_t Groups,
          class Arch>
[[gnu::noinline]] inline void multiplicative_tile(const float (&z)[Mods][kChunk], const float* e,
                                                  const float* b, float* y, std::size_t s0,
                                                  std::size_t m0, std::size_t i0, std::size_t n,
                                                  std::size_t g) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  const bool first = i0 == 0;
  const bool last = i0 + n == In;
  V acc[Mods][Vecs];
  for (std::size_t k = 0; k < Mods; ++k) {
    for (std::size_t v = 0; v < Vecs; ++v) {
      acc[k][v] = first ? simd::zero<Arch>() : simd::load<Arch>(y + (s0 + k) * M + m0 + v * kW);
    }
  }
  const float* row = e + i0 * M + m0;
  const bool fetch_next = i0 + kChunk < In;
  std::size_t ahead = (i0 + kChunk + g) * M + m0;  // the next chunk's row this group takes
  std::size_t phase = 0;
  for (std::size_t j = 0; j < n; ++j, row += M) {
    for (std::size_t v = 0; v < Vecs; ++v) simd::prefetch_ahead(row, kPrefetchRows * M + v * kW);
    if (fetch_next) {
      for (std::size_t v = 0; v < Vecs; ++v) simd::prefetch_ahead_to_l2(e, ahead + v * kW);
      if (++phase == Groups) {
        phase = 0;
        ahead += Groups * M;
      }
    }
    V ev[Vecs];
    for (std::size_t v = 0; v < Vecs; ++v) {
      ev[v] = simd::load<Arch>(row + v * kW);
      simd::keep_in_register<Arch>(ev[v]);
    }
    for (std::size_t k = 0; k < Mods; ++k) {
      const V zk = simd::broadcast<Arch>(z[k][j]);
      for (std::size_t v = 0; v < Vecs; ++v) acc[k][v] = simd::fma(zk, ev[v], acc[k][v]);
    }
  }
  for (std::size_t k = 0; k < Mods; ++k) {
    for (std::size_t v = 0; v < Vecs; ++v) {
      const std::size_t at = (s0 + k) * M + m0 + v * kW;
      simd::store<Arch>(y + at, last ? acc[k][v] + simd::load<Arch>(b + at) : acc[k][v]);
    }
  }
}

// The columns of M that do not fill a vector, for one module.
template <std::size_t In, std::size_t M, class Arch>
inline void multiplicative_tail(const float* d, const float* e, const float* x, const float* b,
                                float* y, std::size_t s) {
  for (std::size_t m = M / simd::kWidth<Arch> * simd::kWidth<Arch>; m < M; ++m) {
    float acc = 0.0F;
    for (std::size_t i = 0; i < In; ++i) acc += x[i] * d[s * In + i] * e[i * M + m];
    y[s * M + m] = acc + b[s * M + m];
  }
}

// Work is cut into items of (column tile, group of modules), shaped by ModuleTiles. Items are
// numbered tile-major, so a team splits E's columns first (each member reads its own part of E,
// once) and modules only when E is a single tile wide (without AVX-512, Sparse QKV's M = 64 is
// one tile; the sparse loss layer's M = 8000 is 125).
template <std::size_t S, std::size_t M, class Arch>
struct MultiplicativeItems {
  using Tiles = ModuleTiles<M, Arch>;
  static constexpr std::size_t kGroups = (S + Tiles::kMods - 1) / Tiles::kMods;
  static constexpr std::size_t kCount = Tiles::kTiles * kGroups;
  // Of the items [items.begin, items.end) (item = tile · kGroups + group, items.end ≤ kCount),
  // the tiles of group g.
  static Range tiles_of(Range items, std::size_t g) {
    const std::size_t first = items.begin / kGroups + (items.begin % kGroups > g ? 1 : 0);
    const std::size_t last = items.end / kGroups + (items.end % kGroups > g ? 1 : 0);
    return Range{first, std::max(first, last)};
  }
};

// Column tile `tile` of modules [s0, s0 + Mods) over inputs [i0, i0 + n), given their scaled
// inputs z; the columns that do not fill a vector are done whole with the last chunk.
template <std::size_t Mods, std::size_t In, std::size_t M, std::size_t Groups, class Arch>
inline void multiplicative_tile_of(const float (&z)[Mods][kChunk], const float* d, const float* e,
                                   const float* x, const float* b, float* y, std::size_t s0,
                                   std::size_t tile, std::size_t i0, std::size_t n, std::size_t g) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  using Tiles = ModuleTiles<M, Arch>;
  const std::size_t m0 = tile * Tiles::kTileVecs * kW;
  if (tile + 1 == Tiles::kFullTiles) {
    multiplicative_tile<Mods, Tiles::kLastTileVecs, In, M, Groups, Arch>(z, e, b, y, s0, m0, i0, n, g);
  } else if (tile < Tiles::kFullTiles) {
    multiplicative_tile<Mods, Tiles::kTileVecs, In, M, Groups, Arch>(z, e, b, y, s0, m0, i0, n, g);
  } else {
    for (std::size_t v = Tiles::kLeftoverVec; v < Tiles::kVecs; ++v) {
      multiplicative_tile<Mods, 1, In, M, Groups, Arch>(z, e, b, y, s0, v * kW, i0, n, g);
    }
  }
  if (tile + 1 == Tiles::kTiles && i0 + n == In) {
    for (std::size_t k = 0; k < Mods; ++k) multiplicative_tail<In, M, Arch>(d, e, x, b, y, s0 + k);
  }
}

// Modules [s0, s0 + Mods) of group g over one chunk, for the group's tiles among this member's
// items: the scaled inputs are computed once for all of them.
template <std::size_t Mods, std::size_t S, std::size_t In, std::size_t M, class Arch>
inline void multiplicative_group(const float* d, const float* e, const float* x, const float* b,
                                 float* y, std::size_t s0, std::size_t g, Range items, std::size_t i0) {
  using Items = MultiplicativeItems<S, M, Arch>;
  const Range tiles = Items::tiles_of(items, g);
  if (tiles.size() == 0) return;
  const std::size_t n = std::min(kChunk, In - i0);
  alignas(64) float z[Mods][kChunk];
  scaled_inputs<Mods, In, Arch>(d, x, s0, i0, n, z);
  for (std::size_t tile = tiles.begin; tile < tiles.end; ++tile) {
    multiplicative_tile_of<Mods, In, M, Items::kGroups, Arch>(z, d, e, x, b, y, s0, tile, i0, n, g);
  }
}

// One module group whose E is wide (the sparse loss layer: S 4, E 1024 × 8000, 32 MB): the
// vector columns [c0, c1) of every module, with E's rows streamed whole, kRows at a time, each one
// long sequential stream. Walking a column tile down all rows instead (256 B of each row at a
// 32 KB stride) took 1.66 ms against 1.34 ms now on 1 thread (docs/benchmarks.md).
// Partial sums wait in y (S·M floats, in L2) between row blocks: each output is still one fused
// multiply-add chain over i in order, as in multiplicative_tile.
template <std::size_t S, std::size_t In, std::size_t M, class Arch>
inline void multiplicative_streamed(const float* d, const float* e, const float* x, const float* b,
                                    float* y, std::size_t c0, std::size_t c1) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kRows = 8;
  constexpr std::size_t kVecs = 2;  // S × 2 accumulator chains (8 for S = 4) hide the FMA latency
  // Each line of E feeds S fused multiply-adds that wait for it, so the out-of-order window holds
  // fewer lines in flight than a matvec's; prefetching 1 KB ahead in each row adds some back.
  constexpr std::size_t kAhead = 256;
  for (std::size_t i0 = 0; i0 < In; i0 += kRows) {
    const std::size_t n = std::min(kRows, In - i0);
    const bool first = i0 == 0;
    const bool last = i0 + n == In;
    float z[S][kRows];  // x scaled by each module's row of D, for this block of rows
    for (std::size_t s = 0; s < S; ++s) {
      for (std::size_t j = 0; j < n && j < kRows; ++j) z[s][j] = x[i0 + j] * d[s * In + i0 + j];
    }
    const float* rows = e + i0 * M;
    const auto columns = [&]<std::size_t Vecs>(std::size_t c) {
      V acc[S][Vecs];
      for (std::size_t s = 0; s < S; ++s) {
        for (std::size_t v = 0; v < Vecs; ++v) {
          acc[s][v] = first ? simd::zero<Arch>() : simd::load<Arch>(y + s * M + c + v * kW);
        }
      }
      for (std::size_t j = 0; j < n && j < kRows; ++j) {
        const float* row = rows + j * M + c;
        for (std::size_t v = 0; v < Vecs; ++v) simd::prefetch_ahead(row, kAhead + v * kW);
        V ev[Vecs];
        for (std::size_t v = 0; v < Vecs; ++v) ev[v] = simd::load<Arch>(row + v * kW);
        for (std::size_t s = 0; s < S; ++s) {
          const V zs = simd::broadcast<Arch>(z[s][j]);
          for (std::size_t v = 0; v < Vecs; ++v) acc[s][v] = simd::fma(zs, ev[v], acc[s][v]);
        }
      }
      for (std::size_t s = 0; s < S; ++s) {
        for (std::size_t v = 0; v < Vecs; ++v) {
          const std::size_t at = s * M + c + v * kW;
          simd::store<Arch>(y + at, last ? acc[s][v] + simd::load<Arch>(b + at) : acc[s][v]);
        }
      }
    };
    std::size_t c = c0;
    for (; c + kVecs * kW <= c1; c += kVecs * kW) columns.template operator()<kVecs>(c);
    for (; c < c1; c += kW) columns.template operator()<1>(c);
  }
}

}  // namespace detail

// y = FactoredDense(x) for the work items in `items` (see MultiplicativeItems).
// D: (S, In), E: (In, M), b and y: (S·M), x: (In).
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative_items(const float* d, const float* e, const float* x, const float* b, float* y,
                          Range items) {
  using Items = detail::MultiplicativeItems<S, M, Arch>;
  // Loops count to constant bounds: with run-time bounds GCC 12 warns
  // (-Waggressive-loop-optimizations) about iterations that cannot happen.
  const std::size_t end = std::min(items.end, Items::kCount);
  const Range mine{std::min(items.begin, end), end};
  const auto run = [&](std::size_t g, std::size_t i0) {
    constexpr std::size_t kMods = Items::Tiles::kMods;
    const std::size_t s0 = g * kMods;
    if (s0 + kMods <= S) {
      detail::multiplicative_group<kMods, S, In, M, Arch>(d, e, x, b, y, s0, g, mine, i0);
    } else {
      for (std::size_t s = s0; s < S && s < s0 + kMods; ++s) detail::multiplicative_group<1, S, In, M, Arch>(d, e, x, b, y, s, g, mine, i0);
    }
  };
  if constexpr (Items::kGroups == 1) {
    // One module group: E's rows are streamed over this member's columns, whole.
    constexpr std::size_t kW = simd::kWidth<Arch>;
    constexpr std::size_t kTileWidth = Items::Tiles::kTileVecs * kW;
    const Range tiles = Items::tiles_of(mine, 0);
    if (tiles.size() == 0) return;
    const bool last = tiles.end == Items::Tiles::kTiles;  // it also takes whatever is left of the vectors
    detail::multiplicative_streamed<S, In, M, Arch>(d, e, x, b, y, tiles.begin * kTileWidth,
                                                    last ? M / kW * kW : tiles.end * kTileWidth);
    if (last) {  // the columns that do not fill a vector
      for (std::size_t s = 0; s < S; ++s) detail::multiplicative_tail<In, M, Arch>(d, e, x, b, y, s);
    }
  } else {
    // Several groups share each chunk of E: all of them use it while it is in L2, and they
    // prefetch the next chunk meanwhile (kPrefetchRows).
    for (std::size_t i0 = 0; i0 < In; i0 += detail::kChunk) {
      for (std::size_t g = 0; g < Items::kGroups; ++g) run(g, i0);
    }
  }
}

// The team's share of y = FactoredDense(x). Does not synchronise.
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative(const Team& team, const float* d, const float* e, const float* x,
                    const float* b, float* y) {
  multiplicative_items<S, In, M, Arch>(d, e, x, b, y, team.split(detail::MultiplicativeItems<S, M, Arch>::kCount));
}

}  // namespace scaling::kernels
