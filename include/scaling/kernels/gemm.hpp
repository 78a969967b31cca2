#pragma once
// Y = X Wᵀ + b for a few tokens at once (prefill, encoder): a small matrix–matrix product.
//
// Tiles of kTokenBlock tokens × kRowBlock weight rows: each weight vector loaded from memory is
// used by kTokenBlock tokens, so prefill reads the weights T/kTokenBlock times instead of T times.
// 16 accumulators + 4 + 4 loaded vectors stay within the 32 AVX-512 registers (and spill a little
// on 16-register archs, which only costs speed). Each element is computed exactly as matvec
// computes it, so prefill and decode agree bitwise.

#include <cstddef>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/kernels/matvec.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

inline constexpr std::size_t kTokenBlock = 4;

// Y[t][r] (t < tokens, r in rows) = X[t] · W[r] (+ b[r]).
// X: (tokens, Cols), W: (Rows, Cols), b: (Rows) or null, Y: (tokens, Rows); all row-major.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void gemm_rows(const float* x, std::size_t tokens, const float* w, const float* b, float* y,
               Range rows) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Cols, Arch>;
  std::size_t t = 0;
  for (; t + kTokenBlock <= tokens; t += kTokenBlock) {
    const float* xt = x + t * Cols;
    std::size_t r = rows.begin;
    for (; r + kRowBlock <= rows.end; r += kRowBlock) {
      V acc[kTokenBlock][kRowBlock];
      for (auto& row : acc) {
        for (auto& a : row) a = simd::zero<Arch>();
      }
      for (std::size_t i = 0; i < kFull; i += kW) {
        V wv[kRowBlock];
        for (std::size_t k = 0; k < kRowBlock; ++k) wv[k] = simd::load<Arch>(w + (r + k) * Cols + i);
        for (std::size_t j = 0; j < kTokenBlock; ++j) {
          const V xv = simd::load<Arch>(xt + j * Cols + i);
          for (std::size_t k = 0; k < kRowBlock; ++k) acc[j][k] = simd::fma(wv[k], xv, acc[j][k]);
        }
      }
      for (std::size_t j = 0; j < kTokenBlock; ++j) {
        for (std::size_t k = 0; k < kRowBlock; ++k) {
          const float s =
              detail::dot_tail<Cols, Arch>(w + (r + k) * Cols, xt + j * Cols, simd::reduce_add(acc[j][k]));
          detail::write<Mode>(y + (t + j) * Rows + r + k, b != nullptr ? s + b[r + k] : s);
        }
      }
    }
    if (r < rows.end) {  // rows left over in this token block
      for (std::size_t j = 0; j < kTokenBlock; ++j) {
        matvec_rows<Rows, Cols, Mode, Arch>(w, xt + j * Cols, b, y + (t + j) * Rows, {r, rows.end});
      }
    }
  }
  for (; t < tokens; ++t) {  // tokens left over
    matvec_rows<Rows, Cols, Mode, Arch>(w, x + t * Cols, b, y + t * Rows, rows);
  }
}

// The team's share (split over weight rows) of Y = X Wᵀ + b. Does not synchronise.
template <std::size_t Rows, std::size_t Cols, Write Mode = Write::kStore,
          class Arch = simd::DefaultArch>
void gemm(const Team& team, const float* x, std::size_t tokens, const float* w, const float* b,
          float* y) {
  gemm_rows<Rows, Cols, Mode, Arch>(x, tokens, w, b, y, team.split(Rows, kFloatsPerLine));
}

}  // namespace scaling::kernels
