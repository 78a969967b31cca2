#pragma once
// y = W x + b for one token: the decode step's workhorse.
//
// Decode reads every weight once per token, so this kernel is bound by memory bandwidth, not
// arithmetic: x (at most a few KiB) stays in L1 while the weights stream from DRAM. A team splits
// the rows; each row is computed by the same instructions whoever computes it.

#include <cstddef>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// Rows per register block: four rows × one accumulator each hide the 4-cycle FMA latency and keep
// four load streams in flight per thread.
inline constexpr std::size_t kRowBlock = 4;

// y[r] (r in rows) = W[r] · x (+ b[r]).   W: (Rows, Cols) row-major, x: (Cols), b: (Rows) or null.
//
// The four rows of a block are a quarter of the range apart, not adjacent: four streams in
// distant parts of the matrix reach this machine's full read bandwidth, while four adjacent rows
// (4 KiB apart at d_model 1024) stall at about 80% of it (bench_kernels, docs/benchmarks.md).
// Each row has its own accumulator and the same instruction sequence wherever it lands, so the
// grouping never changes a result.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void matvec_rows(const float* w, const float* x, const float* b, float* y, Range rows) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Cols, Arch>;
  const std::size_t quarter = rows.size() / kRowBlock;
  for (std::size_t i = 0; i < quarter; ++i) {
    const std::size_t r0 = rows.begin + i;
    const std::size_t r1 = r0 + quarter;
    const std::size_t r2 = r1 + quarter;
    const std::size_t r3 = r2 + quarter;
    const float* w0 = w + r0 * Cols;
    const float* w1 = w + r1 * Cols;
    const float* w2 = w + r2 * Cols;
    const float* w3 = w + r3 * Cols;
    V a0 = simd::zero<Arch>();
    V a1 = simd::zero<Arch>();
    V a2 = simd::zero<Arch>();
    V a3 = simd::zero<Arch>();
    for (std::size_t c = 0; c < kFull; c += kW) {
      const V xv = simd::load<Arch>(x + c);
      a0 = simd::fma(simd::load<Arch>(w0 + c), xv, a0);
      a1 = simd::fma(simd::load<Arch>(w1 + c), xv, a1);
      a2 = simd::fma(simd::load<Arch>(w2 + c), xv, a2);
      a3 = simd::fma(simd::load<Arch>(w3 + c), xv, a3);
    }
    const float s0 = detail::dot_tail<Cols, Arch>(w0, x, simd::reduce_add(a0));
    const float s1 = detail::dot_tail<Cols, Arch>(w1, x, simd::reduce_add(a1));
    const float s2 = detail::dot_tail<Cols, Arch>(w2, x, simd::reduce_add(a2));
    const float s3 = detail::dot_tail<Cols, Arch>(w3, x, simd::reduce_add(a3));
    detail::write<Mode>(y + r0, b != nullptr ? s0 + b[r0] : s0);
    detail::write<Mode>(y + r1, b != nullptr ? s1 + b[r1] : s1);
    detail::write<Mode>(y + r2, b != nullptr ? s2 + b[r2] : s2);
    detail::write<Mode>(y + r3, b != nullptr ? s3 + b[r3] : s3);
  }
  for (std::size_t r = rows.begin + kRowBlock * quarter; r < rows.end; ++r) {  // at most 3 left
    const float s = detail::row_dot<Cols, Arch>(w + r * Cols, x);
    detail::write<Mode>(y + r, b != nullptr ? s + b[r] : s);
  }
}

// The team's share of y = W x + b. Does not synchronise: callers sync() before reading y.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void matvec(const Team& team, const float* w, const float* x, const float* b, float* y) {
  // Shares are whole cache lines of y, so no two threads write the same line.
  matvec_rows<Rows, Cols, Mode, Arch>(w, x, b, y, team.split(Rows, kFloatsPerLine));
}

}  // namespace scaling::kernels
