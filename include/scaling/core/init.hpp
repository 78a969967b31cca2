#pragma once
// Random initialisation and parameter counting over a layer's weight listing.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <string_view>

#include "scaling/core/tensor.hpp"

namespace scaling {

// splitmix64: small, fast, and the same on every platform (std:: distributions are not).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 bits, exactly representable as float.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24F; }
  // Uniform in [-a, a).
  float symmetric(float a) { return a * (2.0F * uniform() - 1.0F); }

 private:
  std::uint64_t state_;
};

namespace detail {

inline std::uint64_t hash_name(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

// Learned positional table initialised with sin/cos: even columns sin(p / 10000^(i/d)), odd
// columns the matching cos, as in the original Transformer (spec section 1a, pos_type None).
inline void fill_sinusoidal(float* table, std::size_t rows, std::size_t cols) {
  for (std::size_t p = 0; p < rows; ++p) {
    for (std::size_t i = 0; i < cols; ++i) {
      const double even = static_cast<double>(i - i % 2);
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, even / static_cast<double>(cols));
      table[p * cols + i] = static_cast<float>(i % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
}

struct RandomInit : NamedVisitor {
  std::uint64_t seed = 0;
  template <std::size_t... E>
  void tensor(std::string_view leaf, Tensor<E...>& t, Init init) {
    // Each tensor gets its own stream keyed by its full name: distinct weights per layer, and the
    // values do not depend on the order tensors are listed in.
    SplitMix64 rng(hash_name(name(leaf), seed));
    const std::size_t fan_in = t.kShape.back();
    const float bound = 1.0F / std::sqrt(static_cast<float>(fan_in));
    const float leading_bound = 1.0F / std::sqrt(static_cast<float>(t.kSize / fan_in));
    switch (init) {
      case Init::kFanIn:
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = rng.symmetric(bound);
        break;
      case Init::kFanInLeading:
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = rng.symmetric(leading_bound);
        break;
      case Init::kBias:
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = rng.symmetric(0.01F);
        break;
      case Init::kOnes:
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = 1.0F;
        break;
      case Init::kZeros:
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = 0.0F;
        break;
      case Init::kEmbedding:
        // Uniform with unit variance: ±sqrt(3).
        for (std::size_t i = 0; i < t.kSize; ++i) t.data[i] = rng.symmetric(std::numbers::sqrt3_v<float>);
        break;
      case Init::kSinusoidal:
        static_assert(sizeof...(E) >= 1);
        fill_sinusoidal(t.data, t.kSize / fan_in, fan_in);
        break;
    }
  }
};

struct CountParams : NamedVisitor {
  std::size_t params = 0;
  template <std::size_t... E>
  void tensor(std::string_view /*leaf*/, Tensor<E...>& t, Init /*init*/) {
    params += t.kSize;
  }
};

}  // namespace detail

// Fills every tensor of `weights` (anything with visit()) deterministically from `seed`.
template <class W>
void init_random(W& weights, std::uint64_t seed) {
  detail::RandomInit v;
  v.seed = seed;
  weights.visit(v);
}

// Number of parameters (floats) listed by `weights`, without arena padding.
template <class W>
std::size_t count_params(W& weights) {
  detail::CountParams v;
  weights.visit(v);
  return v.params;
}

}  // namespace scaling
