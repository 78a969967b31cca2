#pragma once
// y = W x + b for one token: the decode step's workhorse.
//
// Decode reads every weight once per token, so this kernel is bound by memory bandwidth, not
// arithmetic. It walks kRowBlock rows at once, which gives kRowBlock independent FMA chains and
// kRowBlock sequential streams for the hardware prefetcher, while x (at most a few KiB) stays in
// L1. A team splits the rows; each row is computed by the same instructions whoever computes it.

#include <cstddef>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// Rows per register block. Four rows × one accumulator each hide the 4-cycle FMA latency on the
// cores we target and keep 4 load streams in flight per thread, which is what the L2 streamer
// tracks well; more rows did not read faster in bench_kernels.
inline constexpr std::size_t kRowBlock = 4;

// y[r] (r in rows) = W[r] · x (+ b[r]).   W: (Rows, Cols) row-major, x: (Cols), b: (Rows) or null.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void matvec_rows(const float* w, const float* x, const float* b, float* y, Range rows) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Cols, Arch>;
  std::size_t r = rows.begin;
  for (; r + kRowBlock <= rows.end; r += kRowBlock) {
    const float* w0 = w + (r + 0) * Cols;
    const float* w1 = w + (r + 1) * Cols;
    const float* w2 = w + (r + 2) * Cols;
    const float* w3 = w + (r + 3) * Cols;
    V a0 = simd::zero<Arch>();
    V a1 = simd::zero<Arch>();
    V a2 = simd::zero<Arch>();
    V a3 = simd::zero<Arch>();
    for (std::size_t i = 0; i < kFull; i += kW) {
      const V xv = simd::load<Arch>(x + i);
      a0 = simd::fma(simd::load<Arch>(w0 + i), xv, a0);
      a1 = simd::fma(simd::load<Arch>(w1 + i), xv, a1);
      a2 = simd::fma(simd::load<Arch>(w2 + i), xv, a2);
      a3 = simd::fma(simd::load<Arch>(w3 + i), xv, a3);
    }
    const float s0 = detail::dot_tail<Cols, Arch>(w0, x, simd::reduce_add(a0));
    const float s1 = detail::dot_tail<Cols, Arch>(w1, x, simd::reduce_add(a1));
    const float s2 = detail::dot_tail<Cols, Arch>(w2, x, simd::reduce_add(a2));
    const float s3 = detail::dot_tail<Cols, Arch>(w3, x, simd::reduce_add(a3));
    detail::write<Mode>(y + r + 0, b != nullptr ? s0 + b[r + 0] : s0);
    detail::write<Mode>(y + r + 1, b != nullptr ? s1 + b[r + 1] : s1);
    detail::write<Mode>(y + r + 2, b != nullptr ? s2 + b[r + 2] : s2);
    detail::write<Mode>(y + r + 3, b != nullptr ? s3 + b[r + 3] : s3);
  }
  for (; r < rows.end; ++r) {  // rows left over: same arithmetic, one row at a time
    const float* wr = w + r * Cols;
    V a = simd::zero<Arch>();
    for (std::size_t i = 0; i < kFull; i += kW) {
      a = simd::fma(simd::load<Arch>(wr + i), simd::load<Arch>(x + i), a);
    }
    const float s = detail::dot_tail<Cols, Arch>(wr, x, simd::reduce_add(a));
    detail::write<Mode>(y + r, b != nullptr ? s + b[r] : s);
  }
}

// The team's share of y = W x + b. Does not synchronise: callers sync() before reading y.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void matvec(const Team& team, const float* w, const float* x, const float* b, float* y) {
  matvec_rows<Rows, Cols, Mode, Arch>(w, x, b, y, team.split(Rows, kRowBlock));
}

}  // namespace scaling::kernels
