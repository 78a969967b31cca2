#pragma once
// Elementwise activations.

#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// x = max(x, 0) over n values, in place.   x: (n)
template <class Arch = simd::DefaultArch>
void relu(float* x, std::size_t n) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  const std::size_t full = n / kW * kW;
  const auto z = simd::zero<Arch>();
  for (std::size_t i = 0; i < full; i += kW) simd::store<Arch>(x + i, simd::max(simd::load<Arch>(x + i), z));
  for (std::size_t i = full; i < n; ++i) x[i] = x[i] > 0.0F ? x[i] : 0.0F;
}

}  // namespace scaling::kernels
