#pragma once
// Layer norm (centered) and RMS norm over one row of D values.
// trax uses epsilon 1e-6 for both (spec section 7); center_layernorm=False selects RMS norm.

#include <cmath>
#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

inline constexpr float kNormEpsilon = 1e-6F;

namespace detail {

template <std::size_t D, class Arch>
inline float sum(const float* x) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = D / kW * kW;
  auto acc = simd::zero<Arch>();
  for (std::size_t i = 0; i < kFull; i += kW) acc = acc + simd::load<Arch>(x + i);
  float s = simd::reduce_add(acc);
  for (std::size_t i = kFull; i < D; ++i) s += x[i];
  return s;
}

// Σ (x - shift)²: two passes over a row in L1 are cheaper than the cancellation of E[x²] - E[x]².
template <std::size_t D, class Arch>
inline float sum_squares(const float* x, float shift) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = D / kW * kW;
  const auto s = simd::broadcast<Arch>(shift);
  auto acc = simd::zero<Arch>();
  for (std::size_t i = 0; i < kFull; i += kW) {
    const auto d = simd::load<Arch>(x + i) - s;
    acc = simd::fma(d, d, acc);
  }
  float total = simd::reduce_add(acc);
  for (std::size_t i = kFull; i < D; ++i) total += (x[i] - shift) * (x[i] - shift);
  return total;
}

// y = (x - shift) * scale * gain (+ bias)
template <std::size_t D, class Arch>
inline void normalize(const float* x, float shift, float scale, const float* gain,
                      const float* bias, float* y) {
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = D / kW * kW;
  const auto s = simd::broadcast<Arch>(shift);
  const auto k = simd::broadcast<Arch>(scale);
  for (std::size_t i = 0; i < kFull; i += kW) {
    auto v = (simd::load<Arch>(x + i) - s) * k * simd::load<Arch>(gain + i);
    if (bias != nullptr) v = v + simd::load<Arch>(bias + i);
    simd::store<Arch>(y + i, v);
  }
  for (std::size_t i = kFull; i < D; ++i) {
    const float v = (x[i] - shift) * scale * gain[i];
    y[i] = bias != nullptr ? v + bias[i] : v;
  }
}

}  // namespace detail

// y = (x - mean) / sqrt(var + eps) * gain + bias.   x, y, gain, bias: (D). y may alias x.
template <std::size_t D, class Arch = simd::DefaultArch>
void layer_norm(const float* x, const float* gain, const float* bias, float* y) {
  constexpr float kInvD = 1.0F / static_cast<float>(D);
  const float mean = detail::sum<D, Arch>(x) * kInvD;
  const float var = detail::sum_squares<D, Arch>(x, mean) * kInvD;
  detail::normalize<D, Arch>(x, mean, 1.0F / std::sqrt(var + kNormEpsilon), gain, bias, y);
}

// y = x / sqrt(mean(x²) + eps) * gain.   x, y, gain: (D). y may alias x.
template <std::size_t D, class Arch = simd::DefaultArch>
void rms_norm(const float* x, const float* gain, float* y) {
  constexpr float kInvD = 1.0F / static_cast<float>(D);
  const float ms = detail::sum_squares<D, Arch>(x, 0.0F) * kInvD;
  detail::normalize<D, Arch>(x, 0.0F, 1.0F / std::sqrt(ms + kNormEpsilon), gain, nullptr, y);
}

}  // namespace scaling::kernels
