#pragma once
// The inner product every projection kernel is built from, so that matvec (decode) and gemm
// (prefill) produce bitwise the same value for the same row and input: one vector accumulator per
// output, full vectors first, horizontal add, then the scalar tail, then the bias.

#include <cstddef>

#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// How a projection writes its result.
enum class Write {
  kStore,       // y = W x + b
  kAccumulate,  // y += W x + b   (residual connections add the sublayer output in place)
  kStoreRelu,   // y = max(0, W x + b)   (the feedforward's hidden layer)
};

namespace detail {

template <std::size_t N, class Arch>
inline constexpr std::size_t kFullVectors = N / simd::kWidth<Arch> * simd::kWidth<Arch>;

// Scalar tail of a dot product after its vector part has been reduced.
template <std::size_t N, class Arch>
inline float dot_tail(const float* a, const float* b, float sum) {
  for (std::size_t i = kFullVectors<N, Arch>; i < N; ++i) sum += a[i] * b[i];
  return sum;
}

// One row's W·x exactly as matvec and gemm compute it (one accumulator, then the tail), for
// kernels that recompute a few rows and must agree with them bitwise.
template <std::size_t N, class Arch>
inline float row_dot(const float* w, const float* x) {
  simd::Vec<Arch> a = simd::zero<Arch>();
  for (std::size_t c = 0; c < kFullVectors<N, Arch>; c += simd::kWidth<Arch>) {
    a = simd::fma(simd::load<Arch>(w + c), simd::load<Arch>(x + c), a);
  }
  return dot_tail<N, Arch>(w, x, simd::reduce_add(a));
}

template <Write W>
inline void write(float* y, float value) {
  if constexpr (W == Write::kStore) {
    *y = value;
  } else if constexpr (W == Write::kAccumulate) {
    *y += value;
  } else {
    *y = value > 0.0F ? value : 0.0F;
  }
}

}  // namespace detail
}  // namespace scaling::kernels
