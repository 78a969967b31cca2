#pragma once
// Elementwise sum of two rows: the embedding (token + position) and residual adds.

#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// y = a + b over n values; y may alias a or b.   all: (n)
template <class Arch = simd::DefaultArch>
void add(const float* a, const float* b, float* y, std::size_t n) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  const std::size_t full = n / kW * kW;
  for (std::size_t i = 0; i < full; i += kW) {
    simd::store<Arch>(y + i, simd::load<Arch>(a + i) + simd::load<Arch>(b + i));
  }
  for (std::size_t i = full; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace scaling::kernels
