#pragma once
// Token embedding lookup plus the learned positional row.

#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// y = token_row + position_row.   all: (D)
// trax's Embedding does not scale by sqrt(d); neither do we.
template <std::size_t D, class Arch = simd::DefaultArch>
void embed(const float* token_row, const float* position_row, float* y) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = D / kW * kW;
  for (std::size_t i = 0; i < kFull; i += kW) {
    simd::store<Arch>(y + i, simd::load<Arch>(token_row + i) + simd::load<Arch>(position_row + i));
  }
  for (std::size_t i = kFull; i < D; ++i) y[i] = token_row[i] + position_row[i];
}

}  // namespace scaling::kernels
