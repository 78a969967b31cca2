#pragma once
// Products over a gathered subset of weight rows: the decode path of Sparse FF, which reads only
// the rows of the units its controller chose (one unit per block of N).
//
// The chosen rows sit anywhere in the matrix, so the hardware prefetcher cannot guess where the
// next one starts: both kernels walk 4 rows at a time and prefetch the same columns of the next
// 4 rows, keeping 8 rows' worth of loads in flight.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// y[i] = W[rows[i]] · x for i in idx, written with Mode (kStoreRelu for Sparse FF's first layer).
// W: (any, Cols) row-major, rows: row indices, x: (Cols), y: (rows.size()).
// Each y[i] is computed with exactly the instructions matvec uses for one row.
template <std::size_t Cols, Write Mode = Write::kStore, class Arch = simd::DefaultArch>
void gathered_dots(const float* w, const std::uint32_t* rows, const float* x, float* y, Range idx) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Cols, Arch>;
  constexpr std::size_t kBlock = 4;
  const std::uint32_t* chosen = rows + idx.begin;
  float* out = y + idx.begin;
  const std::size_t count = idx.size();
  const auto row = [&](std::size_t i) { return w + std::size_t{chosen[i]} * Cols; };
  const std::size_t full = count / kBlock * kBlock;
  for (std::size_t i = 0; i < full; i += kBlock) {
    const float* r[kBlock] = {row(i), row(i + 1), row(i + 2), row(i + 3)};
    const float* next[kBlock];
    for (std::size_t k = 0; k < kBlock; ++k) next[k] = i + kBlock + k < count ? row(i + kBlock + k) : r[k];
    V acc[kBlock];
    for (auto& a : acc) a = simd::zero<Arch>();
    for (std::size_t c = 0; c < kFull; c += kW) {
      const V xv = simd::load<Arch>(x + c);
      for (std::size_t k = 0; k < kBlock; ++k) {
        if (c % kFloatsPerLine == 0) simd::prefetch(next[k] + c);
        acc[k] = simd::fma(simd::load<Arch>(r[k] + c), xv, acc[k]);
      }
    }
    for (std::size_t k = 0; k < kBlock; ++k) {
      detail::write<Mode>(out + i + k, detail::dot_tail<Cols, Arch>(r[k], x, simd::reduce_add(acc[k])));
    }
  }
  // The last count % 4 rows; counting them from 0 to a bound < 4 keeps GCC 12 from warning
  // (-Waggressive-loop-optimizations) about iterations near 2^62 that cannot happen.
  for (std::size_t t = 0; t < count - full && t < kBlock; ++t) {
    const std::size_t i = full + t;
    const float* r = row(i);
    V acc = simd::zero<Arch>();
    for (std::size_t c = 0; c < kFull; c += kW) acc = simd::fma(simd::load<Arch>(r + c), simd::load<Arch>(x + c), acc);
    detail::write<Mode>(out + i, detail::dot_tail<Cols, Arch>(r, x, simd::reduce_add(acc)));
  }
}

// y[c] += Σ_i h[i] · W[rows[i]][c] + b[c] for columns c in cols, summing i in order 0..count-1
// (one fused multiply-add chain per element, whatever the column range: splitting the columns
// over a team cannot change a result). W: (any, Cols), h: (count), b, y: (Cols).
// Each group of 4 rows also fetches up to a line of `trickle` per vector of its columns (what the
// step reads next: the next block's first weights), all before the group's loop: one prefetch
// per vector inside the loop made it 4% slower (bench_kernels gathered/axpy, 1 thread).
template <std::size_t Cols, class Arch = simd::DefaultArch>
void gathered_axpy(const float* w, const std::uint32_t* rows, const float* h, std::size_t count,
                   const float* b, float* y, Range cols, Trickle& trickle) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kBlock = 4;
  const auto row = [&](std::size_t i) { return w + std::size_t{rows[i]} * Cols; };
  // Vector part: 4 rows at a time, each walked whole through the member's columns while the same
  // columns of the next 4 rows are prefetched (as in gathered_dots); the sums wait in t, in L1.
  // Walking a column tile down all rows instead, with the sums in registers, reads each row in
  // separate short pieces: 0.56–0.61 of the probe on 1 thread against 0.65–0.75 now, for 800M's
  // 96 chosen rows of 4 KB (bench_kernels gathered/axpy, docs/benchmarks.md).
  const std::size_t begin = std::min(cols.begin, Cols);
  // (Rows narrower than a vector take the scalar tail only: GCC 12 warns about vector accesses
  // to a scratch of fewer floats, even where they cannot run.)
  const std::size_t vec_end = Cols < kW ? begin : begin + (std::min(cols.end, Cols) - begin) / kW * kW;
  alignas(64) float t[Cols < kW ? kW : Cols];
  for (std::size_t c = begin; c < vec_end; c += kW) simd::store<Arch>(t + c, simd::zero<Arch>());
  const std::size_t full = count / kBlock * kBlock;
  for (std::size_t i = 0; i < full; i += kBlock) {
    const float* r[kBlock] = {row(i), row(i + 1), row(i + 2), row(i + 3)};
    const float* next[kBlock];
    const Trickle::Run run = trickle.take((vec_end - begin) / kW);
    V hv[kBlock];
    for (std::size_t k = 0; k < kBlock; ++k) {
      next[k] = i + kBlock + k < count ? row(i + kBlock + k) : r[k];
      hv[k] = simd::broadcast<Arch>(h[i + k]);
    }
    for (std::size_t j = 0; j < run.lines; ++j) run.fetch(j);
    for (std::size_t c = begin; c < vec_end; c += kW) {
      V acc = simd::load<Arch>(t + c);
      for (std::size_t k = 0; k < kBlock; ++k) {
        if (c % kFloatsPerLine == 0) simd::prefetch(next[k] + c);
        acc = simd::fma(hv[k], simd::load<Arch>(r[k] + c), acc);
      }
      simd::store<Arch>(t + c, acc);
    }
  }
  // The last count % 4 rows, counted from 0 to a bound < 4 (GCC 12's loop warning, as above).
  for (std::size_t k = 0; k < count - full && k < kBlock; ++k) {
    const float* r = row(full + k);
    const V hv = simd::broadcast<Arch>(h[full + k]);
    for (std::size_t c = begin; c < vec_end; c += kW) {
      simd::store<Arch>(t + c, simd::fma(hv, simd::load<Arch>(r + c), simd::load<Arch>(t + c)));
    }
  }
  for (std::size_t c = begin; c < vec_end; c += kW) {
    simd::store<Arch>(y + c, simd::load<Arch>(y + c) + (simd::load<Arch>(t + c) + simd::load<Arch>(b + c)));
  }
  for (std::size_t c = vec_end; c < cols.end && c < Cols; ++c) {  // scalar tail
    float acc = 0.0F;
    for (std::size_t i = 0; i < count; ++i) acc += h[i] * row(i)[c];
    y[c] += acc + b[c];
  }
}
template <std::size_t Cols, class Arch = simd::DefaultArch>
void gathered_axpy(const float* w, const std::uint32_t* rows, const float* h, std::size_t count,
                   const float* b, float* y, Range cols) {
  Trickle none;
  gathered_axpy<Cols, Arch>(w, rows, h, count, b, y, cols, none);
}

// choice[i] = i·N + (the first j of the maximum of logits[i·N .. i·N + N)) for blocks i in blocks.
// Ties go to the lowest j. logits: (blocks·N).
inline void block_argmax(const float* logits, std::size_t n, std::uint32_t* choice, Range blocks) {
  for (std::size_t i = blocks.begin; i < blocks.end; ++i) {
    const float* l = logits + i * n;
    std::size_t best = 0;
    for (std::size_t j = 1; j < n; ++j) best = l[j] > l[best] ? j : best;
    choice[i] = static_cast<std::uint32_t>(i * n + best);
  }
}

}  // namespace scaling::kernels
