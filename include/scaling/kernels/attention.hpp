#pragma once
// Softmax attention of queries against a cache of keys and values.
//
// Caches are head-major, (heads, capacity, d_head), so one head's keys are one contiguous block:
// the q·k loop and the p·v loop each stream a single array. Causal decode passes n_keys = pos + 1;
// bidirectional (encoder) and cross-attention pass the whole length.

#include <cmath>
#include <cstddef>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/kernels/softmax.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// out = softmax(K q / sqrt(Dh)) V for one head.
// q: (Dh), k: (n_keys, Dh), v: (n_keys, Dh), scores: scratch (n_keys), out: (Dh). n_keys ≥ 1.
template <std::size_t Dh, class Arch = simd::DefaultArch>
void attend_head(const float* q, const float* k, const float* v, std::size_t n_keys,
                 float* scores, float* out) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Dh, Arch>;
  const float scale = 1.0F / std::sqrt(static_cast<float>(Dh));
  for (std::size_t j = 0; j < n_keys; ++j) {
    const float* kj = k + j * Dh;
    V acc = simd::zero<Arch>();
    for (std::size_t i = 0; i < kFull; i += kW) acc = simd::fma(simd::load<Arch>(kj + i), simd::load<Arch>(q + i), acc);
    scores[j] = detail::dot_tail<Dh, Arch>(kj, q, simd::reduce_add(acc)) * scale;
  }
  softmax<Arch>(scores, n_keys);
  for (std::size_t i = 0; i < Dh; ++i) out[i] = 0.0F;
  for (std::size_t j = 0; j < n_keys; ++j) {
    const float* vj = v + j * Dh;
    const V p = simd::broadcast<Arch>(scores[j]);
    for (std::size_t i = 0; i < kFull; i += kW) {
      simd::store<Arch>(out + i, simd::fma(p, simd::load<Arch>(vj + i), simd::load<Arch>(out + i)));
    }
    for (std::size_t i = kFull; i < Dh; ++i) out[i] += scores[j] * vj[i];
  }
}

// A cache of keys or values for H heads: (H, Capacity, Dh).
template <std::size_t H, std::size_t Capacity, std::size_t Dh>
struct KvLayout {
  static constexpr std::size_t kHeadStride = Capacity * Dh;
  static constexpr std::size_t kSize = H * Capacity * Dh;
  // Stores one token's concatenated heads (H*Dh) at position pos.
  static void put(float* cache, std::size_t pos, const float* row) {
    for (std::size_t h = 0; h < H; ++h) {
      for (std::size_t i = 0; i < Dh; ++i) cache[h * kHeadStride + pos * Dh + i] = row[h * Dh + i];
    }
  }
};

// For each query t < n_queries (row t of q and out, (n_queries, H*Dh)), attends to the first
// n_keys(t) cached positions of every head. The team splits (query, head) pairs.
// scores: scratch (team size, Capacity) — one row per team member.
template <std::size_t H, std::size_t Capacity, std::size_t Dh, class Arch = simd::DefaultArch,
          class KeysFor>
void attention(const Team& team, const float* q, std::size_t n_queries, const float* k_cache,
               const float* v_cache, KeysFor n_keys, float* scores, float* out) {
  using Layout = KvLayout<H, Capacity, Dh>;
  float* my_scores = scores + team.id() * Capacity;
  const Range pairs = team.split(n_queries * H);
  for (std::size_t p = pairs.begin; p < pairs.end; ++p) {
    const std::size_t t = p / H;
    const std::size_t h = p % H;
    attend_head<Dh, Arch>(q + t * H * Dh + h * Dh, k_cache + h * Layout::kHeadStride,
                          v_cache + h * Layout::kHeadStride, n_keys(t), my_scores,
                          out + t * H * Dh + h * Dh);
  }
}

}  // namespace scaling::kernels
