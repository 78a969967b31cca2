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
#include "scaling/kernels/trickle.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

namespace detail {

// Inputs are taken kChunk at a time: for each chunk, every work item of the caller runs over it
// before the next chunk starts, so that chunk of E (kChunk·M floats) is read from memory once and
// then from L2, however many module groups use it (17B: E is 5.3 MB, larger than L2). Partial
// sums wait in y between chunks; storing and reloading a float does not change it, so the result
// is the same fused multiply-add chain over i as without chunks.
inline constexpr std::size_t kChunk = 256;

// A tile reads 2 to 5 lines of each row of E with AVX-512 (1.5 with AVX2's 3 vectors), rows M·4
// bytes apart, which the chunk brought into L2 but not into L1; the tile prefetches the lines 16
// rows ahead. 17B (M 144, E from DRAM, D warm), 1 thread: 1.02 → 0.94 ms per product; 800M's
// Sparse QKV (M 64): 15.5 → 14.4 µs (bench_kernels multiplicative/…, alternating builds; 8 or 32
// rows ahead were no better).
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
// adds the bias (if b is not null). Each row also fetches a line of `run`, which the caller takes
// from its trickle (taken here, GCC 12 kept the 8 × 2 tile's accumulators on the stack: 9.4 →
// 21.5 µs at 800M). Not inlined: inlined into its callers, GCC 12 spilled the 8 × 3 tile's
// accumulators to the stack once the next-chunk prefetch was added (17B: twice the time).
template <std::size_t Mods, std::size_t Vecs, std::size_t In, std::size_t M, std::size_t Groups,
          class Arch>
[[gnu::noinline]] inline void multiplicative_tile(const float (&z)[Mods][kChunk], const float* e,
                                                  const float* b, float* y, std::size_t s0,
                                                  std::size_t m0, std::size_t i0, std::size_t n,
                                                  std::size_t g, Trickle::Run run) {
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
    for (std::size_t v = 0; v < Vecs; ++v) {
      if (prefetches_line<Vecs, Arch>(v)) simd::prefetch_ahead(row, kPrefetchRows * M + v * kW);
    }
    // One prefetch per row the group takes, on the first of every Groups rows (issuing it on
    // each of them, as before, fetched nothing more and cost load slots: see below kChunk).
    if (fetch_next && phase == 0) {
      for (std::size_t v = 0; v < Vecs; ++v) {
        if (prefetches_line<Vecs, Arch>(v)) simd::prefetch_ahead_to_l2(e, ahead + v * kW);
      }
      ahead += Groups * M;
    }
    if (++phase == Groups) phase = 0;
    run.fetch(j);
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
      simd::store<Arch>(y + at,
                        last && b != nullptr ? acc[k][v] + simd::load<Arch>(b + at) : acc[k][v]);
    }
  }
}

// One output in scalar code, for the columns that do not fill a vector: Σ_i x_i · D[s, i] · E[i, m]
// with e_col = &E[0, m] and rows `stride` floats apart.
template <std::size_t In>
inline float multiplicative_column(const float* d_row, const float* e_col, std::size_t stride, const float* x) {
  float acc = 0.0F;
  for (std::size_t i = 0; i < In; ++i) acc += x[i] * d_row[i] * e_col[i * stride];
  return acc;
}

// The columns of M that do not fill a vector, for one module; D's rows are DStride floats apart.
template <std::size_t In, std::size_t M, std::size_t DStride, class Arch>
inline void multiplicative_tail(const float* d, const float* e, const float* x, const float* b,
                                float* y, std::size_t s) {
  for (std::size_t m = M / simd::kWidth<Arch> * simd::kWidth<Arch>; m < M; ++m) {
    const float sum = multiplicative_column<In>(d + s * DStride, e + m, M, x);
    y[s * M + m] = b != nullptr ? sum + b[s * M + m] : sum;
  }
}

// Work is cut into items of (column tile, group of modules), shaped by ModuleTiles. Items are
// numbered tile-major, so a team splits E's columns first (each member reads its own part of E,
// once) and modules only where the split falls inside a tile (800M's Sparse QKV, M = 64: 2 tiles
// with AVX-512, 3 with AVX2; the sparse loss layer's M = 8000: 125 with AVX-512, 334 with AVX2).
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
template <std::size_t Mods, std::size_t In, std::size_t M, std::size_t DStride, std::size_t Groups,
          class Arch>
inline void multiplicative_tile_of(const float (&z)[Mods][kChunk], const float* d, const float* e,
                                   const float* x, const float* b, float* y, std::size_t s0,
                                   std::size_t tile, std::size_t i0, std::size_t n, std::size_t g,
                                   Trickle& trickle) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  using Tiles = ModuleTiles<M, Arch>;
  const std::size_t m0 = tile * Tiles::kTileVecs * kW;
  if (tile + 1 == Tiles::kFullTiles) {
    multiplicative_tile<Mods, Tiles::kLastTileVecs, In, M, Groups, Arch>(z, e, b, y, s0, m0, i0, n, g, trickle.take(n));
  } else if (tile < Tiles::kFullTiles) {
    multiplicative_tile<Mods, Tiles::kTileVecs, In, M, Groups, Arch>(z, e, b, y, s0, m0, i0, n, g, trickle.take(n));
  } else if constexpr (Tiles::kRestVecs > 0) {
    multiplicative_tile<Mods, Tiles::kRestVecs, In, M, Groups, Arch>(z, e, b, y, s0, Tiles::kLeftoverVec * kW, i0, n,
                                                                     g, trickle.take(n));
  }
  if (tile + 1 == Tiles::kTiles && i0 + n == In) {
    for (std::size_t k = 0; k < Mods; ++k) {
      multiplicative_tail<In, M, DStride, Arch>(d, e, x, b, y, s0 + k);
    }
  }
}

// Modules [s0, s0 + Mods) of group g over one chunk, for the group's tiles among this member's
// items: the scaled inputs are computed once for all of them.
template <std::size_t Mods, std::size_t S, std::size_t In, std::size_t M, std::size_t DStride,
          class Arch>
inline void multiplicative_group(const float* d, const float* e, const float* x, const float* b,
                                 float* y, std::size_t s0, std::size_t g, Range items,
                                 std::size_t i0, Trickle& trickle) {
  using Items = MultiplicativeItems<S, M, Arch>;
  const Range tiles = Items::tiles_of(items, g);
  if (tiles.size() == 0) return;
  const std::size_t n = std::min(kChunk, In - i0);
  alignas(64) float z[Mods][kChunk];
  scaled_inputs<Mods, DStride, Arch>(d, x, s0, i0, n, z);
  for (std::size_t tile = tiles.begin; tile < tiles.end; ++tile) {
    multiplicative_tile_of<Mods, In, M, DStride, Items::kGroups, Arch>(z, d, e, x, b, y, s0, tile,
                                                                       i0, n, g, trickle);
  }
}

}  // namespace detail

// y = FactoredDense(x) for the work items in `items` (see MultiplicativeItems), fetching a line
// of `trickle` per row of E that a tile reads. D: (S, In) with rows DStride floats apart, E: (In,
// M), b (or null: no bias) and y: (S·M), x: (In).
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch,
          std::size_t DStride = In>
void multiplicative_items(const float* d, const float* e, const float* x, const float* b, float* y,
                          Range items, Trickle& trickle) {
  using Items = detail::MultiplicativeItems<S, M, Arch>;
  // Loops count to constant bounds: with run-time bounds GCC 12 warns
  // (-Waggressive-loop-optimizations) about iterations that cannot happen.
  const std::size_t end = std::min(items.end, Items::kCount);
  const Range mine{std::min(items.begin, end), end};
  const auto run = [&](std::size_t g, std::size_t i0) {
    constexpr std::size_t kMods = Items::Tiles::kMods;
    const std::size_t s0 = g * kMods;
    if (s0 + kMods <= S) {
      detail::multiplicative_group<kMods, S, In, M, DStride, Arch>(d, e, x, b, y, s0, g, mine, i0,
                                                                   trickle);
    } else {
      for (std::size_t s = s0; s < S && s < s0 + kMods; ++s) {
        detail::multiplicative_group<1, S, In, M, DStride, Arch>(d, e, x, b, y, s, g, mine, i0,
                                                                 trickle);
      }
    }
  };
  // The groups share each chunk of E: all of them use it while it is in L2, and they prefetch the
  // next chunk meanwhile (kPrefetchRows).
  for (std::size_t i0 = 0; i0 < In; i0 += detail::kChunk) {
    for (std::size_t g = 0; g < Items::kGroups; ++g) run(g, i0);
  }
}

// The team's share of y = FactoredDense(x); `trickle` is this member's (see line_share). Does not
// synchronise.
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative(const Team& team, const float* d, const float* e, const float* x,
                    const float* b, float* y, Trickle& trickle) {
  multiplicative_items<S, In, M, Arch>(d, e, x, b, y, team.split(detail::MultiplicativeItems<S, M, Arch>::kCount),
                                       trickle);
}
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative(const Team& team, const float* d, const float* e, const float* x,
                    const float* b, float* y) {
  Trickle none;
  multiplicative<S, In, M, Arch>(team, d, e, x, b, y, none);
}

// Inputs in two halves. Above, a team splits E's columns, so every member reads all of D and
// scales x by all of it: at 17B (D 2.4 MB of the layer's 7.7 MB) each of 2 members reads 5.9 MB
// where its share is 3.9 MB. A layer whose D is large instead computes two half products, over
// the inputs [0, In/2) and [In/2, In), each from its own half of D's columns and of E's rows, and
// then y = (y₀ + y₁) + b: a member of a team of 2 reads half of D and half of E, and one thread
// computes both halves in turn, so that results stay the same bitwise for any team size. The
// price is a barrier between the halves and the sum, and two sums per output instead of one,
// which costs more than it saves where D is small: 17B multiplicative layer (64 × 9216 × 144),
// 2 threads, D and E from DRAM: 811 → 638 µs, 1 thread 1279 → 1271 µs; 800M's (16 × 1024 × 64,
// D 64 KB) 2 threads 20–22 → 17–20 µs but 1 thread 28 → 30 µs (throwaway loop alternating the
// two, medians of 290 calls, 2026-12-04).
// (In % 32: each half of a row of D starts on a 64-byte line.)
template <std::size_t S, std::size_t In>
inline constexpr bool kInputHalves =
    S * In * sizeof(float) >= (std::size_t{1} << 20) && In % 32 == 0;

// Member m of a team works on half m mod 2 (a team of one on both), with the other members on
// that half: the half it starts with, and the members on half h as a team of their own.
inline unsigned first_half(const Team& team) { return team.id() % std::min(team.size(), 2U); }
inline Team half_team(const Team& team, unsigned h) {
  const unsigned lanes = std::min(team.size(), 2U);
  return team.lane(h % lanes, lanes);
}

// The team's share of the half products, without the bias: y = Σ over [0, In/2), partial = Σ
// over [In/2, In), each member's halves (first_half) split with the other members on them.
// Does not synchronise; add_halves then needs a sync.
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative_halves(const Team& team, const float* d, const float* e, const float* x,
                           float* y, float* partial, Trickle& trickle) {
  static_assert(In % 2 == 0, "multiplicative_halves: In must be even");
  constexpr std::size_t kHalf = In / 2;
  for (unsigned h = first_half(team); h < 2; h += std::min(team.size(), 2U)) {
    const Range items = half_team(team, h).split(detail::MultiplicativeItems<S, M, Arch>::kCount);
    multiplicative_items<S, kHalf, M, Arch, In>(d + h * kHalf, e + h * kHalf * M, x + h * kHalf,
                                                nullptr, h == 0 ? y : partial, items, trickle);
  }
}

// The team's share of y = (y + partial) + b, after multiplicative_halves and a sync. Does not
// synchronise.
template <std::size_t Out>
void add_halves(const Team& team, const float* b, float* y, const float* partial) {
  const Range mine = team.split(Out, 16);
  for (std::size_t o = mine.begin; o < mine.end; ++o) y[o] = (y[o] + partial[o]) + b[o];
}

// ---------------------------------------------------------------------------------------------
// E in panels, for layers of at most kPanelModules modules whose E is wide (the sparse loss layer:
// S 4, E 1024 × 8000, 33 MB). There, one module group uses each row of E, so nothing is gained by
// keeping a chunk of E in L2; what costs is the outputs: 4 × 8000 partial sums do not fit in
// registers or L1, and walking a 64-column tile down E's rows reads 256 bytes every 32 KB. A
// copy of E cut into panels of kPanelWidth columns, each panel (In, kPanelWidth) contiguous, is
// read as sequential streams (kPanelsTogether panels at a time) with the panels' S × kPanelWidth
// outputs in registers. Same fused multiply-add chain over i per output as above, so the same
// results, bitwise. 800M's sparse loss layer, 1 thread, AVX-512, E from DRAM: 0.99 ms with the
// rows streamed whole 8 at a time (partial sums in L2), 0.82–0.86 ms from panels of 64 columns,
// 0.75–0.78 ms for a matvec over the same bytes (throwaway loop, 2026-11-29).

// 4 modules × a panel's vectors = half the vector registers as accumulators, at most: a panel is
// one line wide (16 columns; SSE and NEON: 8, half a line). With AVX2 a panel is 2 vectors, 8 of
// its 16 registers; wider panels were read in several passes, each a line of every row 4 lines
// apart: 800M's sparse loss layer, 1 thread, AVX2 (Zen 3), bench_kernels, alternating builds
// (2026-12-03): 4.3–5.6 ms from panels of 64 columns, 2.8–3.0 ms from panels of 16.
// The width is that of the instruction set the library is compiled for (prepare() lays the
// panels out); a kernel instantiated for another one still reads them right.
inline constexpr std::size_t kPanelModules = 4;
inline constexpr std::size_t kPanelWidth =
    simd::kWidth<simd::DefaultArch> * (simd::kWidth<simd::DefaultArch> == 16 ? 1 : 2);
// With AVX-512 (a panel is one vector), 4 adjacent panels are walked together: 4 streams, as a
// matvec reads, S × 4 accumulators, each panel's row 32 rows (2 KB) ahead prefetched into L1.
// 800M's sparse loss layer, E from DRAM, on a Zen 5 whose memory answers after 350–400 ns
// (2026-12-05): one panel of 64 columns as one stream took 1.2–1.5x a matvec over the same bytes,
// with or without prefetching (into L1 or L2, 8 to 256 rows ahead), and no less with its rows
// split into 2 or 4 streams; 4 panels of 16 together took 0.95–1.12x it 32 rows ahead, 1.02–1.14x
// 16 ahead, 1.2–1.4x without (throwaway loop timing all in one process, 1 and 2 threads, three
// runs). bench_kernels multiplicative/sparse-loss-panels, alternating with the previous build
// three times: 1 thread 1.62–1.81 → 1.27–1.42 ms, 2 threads 0.86–1.03 → 0.72–0.76 ms.
template <class Arch>
inline constexpr std::size_t kPanelsTogether = simd::kWidth<Arch> == 16 ? 4 : 1;
inline constexpr std::size_t kPanelPrefetchRows = 32;

// panels (In·M floats) = E (In, M) as panels of kPanelWidth columns: panel p is (In, w_p) with
// w_p = min(kPanelWidth, M − p·kPanelWidth), and starts at float p·kPanelWidth·In.
template <std::size_t In, std::size_t M>
void pack_panels(const float* e, float* panels) {
  for (std::size_t c0 = 0; c0 < M; c0 += kPanelWidth) {
    const std::size_t width = std::min(kPanelWidth, M - c0);
    float* panel = panels + c0 * In;
    for (std::size_t i = 0; i < In; ++i) std::copy_n(e + i * M + c0, width, panel + i * width);
  }
}

namespace detail {

// Outputs [c0, c0 + Panels·Width) of every module from Panels adjacent panels (In, Width), Vecs
// vectors of columns of each at a time starting at column v0 of a panel. The scaled inputs x ⊙ D
// are made again for every pass, a chunk at a time (4 KB): AVX2, 1 thread, 2.4–2.6 ms against
// 2.8–3.0 ms with the product x_i · D[s, i] made for each row in scalar code (bench_kernels,
// 2026-12-03).
template <std::size_t S, std::size_t In, std::size_t M, std::size_t Width, std::size_t Vecs,
          std::size_t Panels, class Arch>
inline void panel_pass(const float* d, const float* panel, const float* x, const float* b, float* y,
                       std::size_t c0, std::size_t v0) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  static_assert(Width * sizeof(float) <= 64, "panel_pass: a panel's row is at most a line");
  // A panel's rows are read a line per row, fewer bytes per instruction than the hardware
  // prefetcher keeps up with: each panel's row kAhead rows on is prefetched into L1. One panel
  // (AVX2), 800M's sparse loss layer, Zen 3, 1 thread, throwaway loop alternating distances,
  // medians of 100 (2026-12-03): 2.53–2.80 ms without, 2.39–2.47 ms 16 rows ahead (8:
  // 2.49–2.77, 32: 2.55–2.75). Four panels: kPanelPrefetchRows.
  constexpr std::size_t kAhead = Panels > 1 ? kPanelPrefetchRows : kPrefetchRows;
  V acc[S][Panels][Vecs];
  for (auto& module : acc) {
    for (auto& p : module) {
      for (auto& a : p) a = simd::zero<Arch>();
    }
  }
  alignas(64) float z[S][kChunk];
  for (std::size_t i0 = 0; i0 < In; i0 += kChunk) {
    const std::size_t n = std::min(kChunk, In - i0);
    scaled_inputs<S, In, Arch>(d, x, 0, i0, n, z);
    for (std::size_t j = 0; j < n; ++j) {
      V ev[Panels][Vecs];
      for (std::size_t p = 0; p < Panels; ++p) {
        const float* row = panel + p * Width * In + (i0 + j) * Width + v0;
        simd::prefetch_ahead(row, kAhead * Width);
        for (std::size_t v = 0; v < Vecs; ++v) {
          ev[p][v] = simd::load<Arch>(row + v * kW);
          simd::keep_in_register<Arch>(ev[p][v]);
        }
      }
      for (std::size_t s = 0; s < S; ++s) {
        const V zs = simd::broadcast<Arch>(z[s][j]);
        for (std::size_t p = 0; p < Panels; ++p) {
          for (std::size_t v = 0; v < Vecs; ++v)
            acc[s][p][v] = simd::fma(zs, ev[p][v], acc[s][p][v]);
        }
      }
    }
  }
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t p = 0; p < Panels; ++p) {
      for (std::size_t v = 0; v < Vecs; ++v) {
        const std::size_t at = s * M + c0 + p * Width + v0 + v * kW;
        simd::store<Arch>(y + at, acc[s][p][v] + simd::load<Arch>(b + at));
      }
    }
  }
}

// All outputs of Panels adjacent panels of Width columns, the first starting at column c0:
// passes of as many vectors as the accumulators allow (a whole panel, unless the kernel is for a
// narrower instruction set than the one that laid the panels out), then the columns that do not
// fill a vector in scalar code.
template <std::size_t S, std::size_t In, std::size_t M, std::size_t Width, std::size_t Panels,
          class Arch>
inline void panel_outputs(const float* d, const float* panel, const float* x, const float* b,
                          float* y, std::size_t c0) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kVecs = Width / kW;
  constexpr std::size_t kAccumulators = kW == 16 ? 16 : 8;  // of 32 or 16 vector registers
  constexpr std::size_t kPass =
      std::max<std::size_t>(1, std::min(kVecs, kAccumulators / (S * Panels)));
  constexpr std::size_t kWhole = kVecs / kPass * kPass;  // constant bounds: see multiplicative_items
  for (std::size_t v = 0; v < kWhole; v += kPass)
    panel_pass<S, In, M, Width, kPass, Panels, Arch>(d, panel, x, b, y, c0, v * kW);
  for (std::size_t v = kWhole; v < kVecs; ++v)
    panel_pass<S, In, M, Width, 1, Panels, Arch>(d, panel, x, b, y, c0, v * kW);
  for (std::size_t p = 0; p < Panels; ++p) {
    for (std::size_t c = kVecs * kW; c < Width; ++c) {
      for (std::size_t s = 0; s < S; ++s) {
        const std::size_t at = s * M + c0 + p * Width + c;
        y[at] = multiplicative_column<In>(d + s * In, panel + p * Width * In + c, Width, x) + b[at];
      }
    }
  }
}

}  // namespace detail

// The team's share of y = FactoredDense(x), reading E from its panels (pack_panels): members take
// whole groups of kPanelsTogether panels; the member whose share holds the last unit also the
// full panels after the last group and a narrower last panel (in a team larger than the units,
// members with an empty share {kUnits, kUnits} do nothing). D: (S, In), b and y: (S·M), x: (In).
// Does not synchronise.
template <std::size_t S, std::size_t In, std::size_t M, class Arch = simd::DefaultArch>
void multiplicative_panels(const Team& team, const float* d, const float* panels, const float* x,
                           const float* b, float* y) {
  static_assert(S <= kPanelModules, "multiplicative_panels: at most kPanelModules modules");
  constexpr std::size_t kTogether = kPanelsTogether<Arch>;
  constexpr std::size_t kFull = M / kPanelWidth;
  constexpr std::size_t kGroups = kFull / kTogether;
  constexpr std::size_t kLeft = kFull % kTogether;          // full panels after the groups
  constexpr std::size_t kNarrow = M - kFull * kPanelWidth;  // columns of a narrower last panel
  constexpr std::size_t kUnits = kGroups + (kLeft > 0 || kNarrow > 0 ? 1 : 0);
  constexpr std::size_t kGroupWidth = kTogether * kPanelWidth;
  const Range mine = team.split(kUnits);
  for (std::size_t g = mine.begin; g < mine.end && g < kGroups; ++g) {
    detail::panel_outputs<S, In, M, kPanelWidth, kTogether, Arch>(d, panels + g * kGroupWidth * In,
                                                                  x, b, y, g * kGroupWidth);
  }
  if constexpr (kUnits > kGroups) {
    if (mine.begin < kUnits && mine.end == kUnits) {
      constexpr std::size_t c0 = kGroups * kGroupWidth;
      if constexpr (kLeft > 0)
        detail::panel_outputs<S, In, M, kPanelWidth, kLeft, Arch>(d, panels + c0 * In, x, b, y, c0);
      constexpr std::size_t c1 = kFull * kPanelWidth;
      if constexpr (kNarrow > 0)
        detail::panel_outputs<S, In, M, kNarrow, 1, Arch>(d, panels + c1 * In, x, b, y, c1);
    }
  }
}

}  // namespace scaling::kernels
