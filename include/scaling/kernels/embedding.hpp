#pragma once
// Token embedding lookup plus the learned positional row.

#include <cstddef>

#include "scaling/kernels/add.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// y = token_row + position_row.   all: (D)
// trax's Embedding does not scale by sqrt(d); neither do we.
template <std::size_t D, class Arch = simd::DefaultArch>
void embed(const float* token_row, const float* position_row, float* y) {
  add<Arch>(token_row, position_row, y, D);
}

}  // namespace scaling::kernels
