#pragma once
// The locally-connected convolution of Sparse QKV (spec section 3, trax LocallyConvDense) for one
// token. Its input row is S modules of M features; the output is S modules of U units:
//   y[s·U + n] = b[n] + Σ_{l<Kl} Σ_{j<Ks} Σ_{c<M} rows[l][(s + j − P)·M + c] · K[l, j, c, n]
// with P = (Ks − 1)/2, modules outside [0, S) reading zeros (zero padding, not wrap-around), and
// rows[Kl − 1] the token's own row, rows[0] the oldest (causal over the sequence).
// The kernel K (Kl·Ks·M·U floats) is shared by every module, so modules are taken 4 or 8 at a
// time (ModuleTiles) and one load of a K row feeds all of them, as in the multiplicative kernel;
// the loop runs tap by tap over all modules so that each tap is read from memory once. The sum
// for each output runs over (l, j, c) in order with one fused multiply-add chain, so splitting
// modules over a team cannot change a result.

#include <algorithm>
#include <array>
#include <cstddef>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/module_tiles.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

namespace detail {

// A module of zeros: the padding on either side of the module axis.
template <std::size_t M>
inline constexpr std::array<float, M> kZeroModule{};

// Partial outputs of Mods modules (starting at s0) × Vecs vectors of units (starting at n0) for
// one tap (l, j) of the kernel: y += the tap's M×U block times the input modules it sees. The
// first tap starts from zero, the last adds the bias; between taps the sums wait in y (storing a
// float does not change it, so the sum is the same fused multiply-add chain over (l, j, c)).
// With prefetch_next, the tile also prefetches its columns of the next tap's block, row for row;
// every row fetches a line of `run` (taken by the caller, as in the multiplicative kernel).
template <std::size_t Mods, std::size_t Vecs, std::size_t S, std::size_t M, std::size_t U,
          std::size_t Ks, std::size_t Kl, class Arch>
inline void local_conv_tile(const float* const* rows, const float* k, const float* b, float* y,
                            std::size_t s0, std::size_t n0, std::size_t l, std::size_t j, bool prefetch_next,
                            Trickle::Run run) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kPad = (Ks - 1) / 2;
  const bool first = l == 0 && j == 0;
  const bool last = l + 1 == Kl && j + 1 == Ks;
  V acc[Mods][Vecs];
  for (std::size_t m = 0; m < Mods; ++m) {
    for (std::size_t v = 0; v < Vecs; ++v) {
      acc[m][v] = first ? simd::zero<Arch>() : simd::load<Arch>(y + (s0 + m) * U + n0 + v * kW);
    }
  }
  const float* in[Mods];  // the input module each output module reads at this tap
  for (std::size_t m = 0; m < Mods; ++m) {
    const std::size_t src = s0 + m + j;  // module index + kPad
    in[m] = src >= kPad && src - kPad < S ? rows[l] + (src - kPad) * M : kZeroModule<M>.data();
  }
  const float* tap = k + (l * Ks + j) * M * U + n0;
  for (std::size_t c = 0; c < M; ++c) {
    if (prefetch_next) {
      for (std::size_t v = 0; v < Vecs; ++v) {
        if (prefetches_line<Vecs, Arch>(v)) simd::prefetch(tap + M * U + c * U + v * kW);
      }
    }
    run.fetch(c);
    V kv[Vecs];
    for (std::size_t v = 0; v < Vecs; ++v) {
      kv[v] = simd::load<Arch>(tap + c * U + v * kW);
      simd::keep_in_register<Arch>(kv[v]);
    }
    for (std::size_t m = 0; m < Mods; ++m) {
      const V z = simd::broadcast<Arch>(in[m][c]);
      for (std::size_t v = 0; v < Vecs; ++v) acc[m][v] = simd::fma(z, kv[v], acc[m][v]);
    }
  }
  for (std::size_t m = 0; m < Mods; ++m) {
    for (std::size_t v = 0; v < Vecs; ++v) {
      const std::size_t at = (s0 + m) * U + n0 + v * kW;
      simd::store<Arch>(y + at, last ? acc[m][v] + simd::load<Arch>(b + n0 + v * kW) : acc[m][v]);
    }
  }
}

// The units of U that do not fill a vector, for one module; same order of summation.
template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl, class Arch>
inline void local_conv_tail(const float* const* rows, const float* k, const float* b, float* y,
                            std::size_t s) {
  constexpr std::size_t kPad = (Ks - 1) / 2;
  for (std::size_t n = U / simd::kWidth<Arch> * simd::kWidth<Arch>; n < U; ++n) {
    float acc = 0.0F;
    for (std::size_t l = 0; l < Kl; ++l) {
      for (std::size_t j = 0; j < Ks; ++j) {
        const std::size_t src = s + j;
        if (src < kPad || src - kPad >= S) continue;
        const float* in = rows[l] + (src - kPad) * M;
        for (std::size_t c = 0; c < M; ++c) acc += in[c] * k[((l * Ks + j) * M + c) * U + n];
      }
    }
    y[s * U + n] = acc + b[n];
  }
}

// Modules [s0, s0 + Mods) at tap (l, j); the units that do not fill a vector are done whole
// after the last tap.
template <std::size_t Mods, std::size_t S, std::size_t M, std::size_t U, std::size_t Ks,
          std::size_t Kl, class Arch>
inline void local_conv_modules(const float* const* rows, const float* k, const float* b, float* y,
                               std::size_t s0, std::size_t l, std::size_t j, bool prefetch_next,
                               Trickle& trickle) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  using Tiles = ModuleTiles<U, Arch>;
  for (std::size_t t = 0; t + 1 < Tiles::kFullTiles; ++t) {
    local_conv_tile<Mods, Tiles::kTileVecs, S, M, U, Ks, Kl, Arch>(rows, k, b, y, s0, t * Tiles::kTileVecs * kW, l, j, prefetch_next, trickle.take(M));
  }
  if constexpr (Tiles::kFullTiles > 0) {
    local_conv_tile<Mods, Tiles::kLastTileVecs, S, M, U, Ks, Kl, Arch>(rows, k, b, y, s0, (Tiles::kFullTiles - 1) * Tiles::kTileVecs * kW, l, j, prefetch_next, trickle.take(M));
  }
  if constexpr (Tiles::kRestVecs > 0) {
    local_conv_tile<Mods, Tiles::kRestVecs, S, M, U, Ks, Kl, Arch>(rows, k, b, y, s0, Tiles::kLeftoverVec * kW, l, j,
                                                                   prefetch_next, trickle.take(M));
  }
  if (l + 1 == Kl && j + 1 == Ks) {
    for (std::size_t m = 0; m < Mods; ++m) local_conv_tail<S, M, U, Ks, Kl, Arch>(rows, k, b, y, s0 + m);
  }
}

}  // namespace detail

// y = LocalConv(rows) for the output modules in `modules`, fetching a line of `trickle` per row
// of a tap that a tile reads. rows: Kl pointers to (S·M) rows, oldest first; K: (Kl, Ks, M, U);
// b: (U); y: (S·U).
template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl,
          class Arch = simd::DefaultArch>
void local_conv(const float* const* rows, const float* k, const float* b, float* y, Range modules,
                Trickle& trickle) {
  static_assert(Ks % 2 == 1, "local_conv: the module kernel size must be odd");
  // Counts from 0 to a bound ≤ S, as in multiplicative_items (GCC 12's loop-bound warning).
  const std::size_t end = std::min(modules.end, S);
  const std::size_t begin = std::min(modules.begin, end);
  const std::size_t count = end - begin;
  constexpr std::size_t kMods = detail::ModuleTiles<U, Arch>::kMods;
  const std::size_t groups = count / kMods;
  // Tap by tap, each for all modules: a tap's M×U block of K is read from memory once and used by
  // every module while it is in L1 (17B: in L2). The member's first modules of each tap prefetch
  // the next tap's block, spread over their rows, which the hardware prefetcher does not fetch
  // early enough: 800M (M = U = 64, K from DRAM), 1 thread, 10.7 → 7.4 µs per convolution; 17B
  // (M = U = 144) 133 → 126 µs (bench_kernels local_conv/…, alternating builds; prefetching 16 or
  // 64 rows ahead from every module group instead did less at 800M and slowed 17B).
  for (std::size_t l = 0; l < Kl; ++l) {
    for (std::size_t j = 0; j < Ks; ++j) {
      const bool last_tap = l + 1 == Kl && j + 1 == Ks;
      for (std::size_t g = 0; g < groups && g < S / kMods; ++g) {
        detail::local_conv_modules<kMods, S, M, U, Ks, Kl, Arch>(rows, k, b, y, begin + kMods * g, l, j, g == 0 && !last_tap, trickle);
      }
      for (std::size_t m = kMods * groups; m < count && m < S; ++m) {
        detail::local_conv_modules<1, S, M, U, Ks, Kl, Arch>(rows, k, b, y, begin + m, l, j, m == 0 && !last_tap, trickle);
      }
    }
  }
}
template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl,
          class Arch = simd::DefaultArch>
void local_conv(const float* const* rows, const float* k, const float* b, float* y, Range modules) {
  Trickle none;
  local_conv<S, M, U, Ks, Kl, Arch>(rows, k, b, y, modules, none);
}

}  // namespace scaling::kernels
