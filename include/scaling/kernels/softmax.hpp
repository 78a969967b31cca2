#pragma once
// Numerically stable softmax over a run-time number of values (attention rows grow with the
// sequence, so n is not a compile-time extent here).

#include <cmath>
#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// x = exp(x - max x) / Σ exp(x - max x), in place.   x: (n), n ≥ 1
template <class Arch = simd::DefaultArch>
void softmax(float* x, std::size_t n) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  const std::size_t full = n / kW * kW;
  float top = x[0];
  if (full > 0) {
    auto m = simd::load<Arch>(x);
    for (std::size_t i = kW; i < full; i += kW) m = simd::max(m, simd::load<Arch>(x + i));
    top = simd::reduce_max(m);
  }
  for (std::size_t i = full; i < n; ++i) top = x[i] > top ? x[i] : top;

  const auto shift = simd::broadcast<Arch>(top);
  auto acc = simd::zero<Arch>();
  for (std::size_t i = 0; i < full; i += kW) {
    const auto e = simd::exp(simd::load<Arch>(x + i) - shift);
    simd::store<Arch>(x + i, e);
    acc = acc + e;
  }
  float total = simd::reduce_add(acc);
  for (std::size_t i = full; i < n; ++i) {
    x[i] = std::exp(x[i] - top);
    total += x[i];
  }

  const auto inv = simd::broadcast<Arch>(1.0F / total);
  for (std::size_t i = 0; i < full; i += kW) simd::store<Arch>(x + i, simd::load<Arch>(x + i) * inv);
  for (std::size_t i = full; i < n; ++i) x[i] *= 1.0F / total;
}

}  // namespace scaling::kernels
