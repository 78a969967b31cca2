#pragma once
// Softmax attention of queries against a cache of keys and values.
//
// Caches are position-major, (capacity, heads, d_head): one token's keys (or values) for all heads
// are one contiguous row, so decode reads the first n rows of each cache as one sequential stream.
// Head-major caches, (heads, capacity, d_head), made each head's first n rows a short stream of
// its own, on which the hardware prefetcher starts afresh. bench_kernels attention/800m/… (16
// heads of 64, caches from DRAM), alternating builds, 2026-11-29: 34 keys on 1 thread 11.3-13.7 →
// 6.1-6.5 µs, 16 keys 2.5-2.8 → 2.0-2.1 µs; on 2 threads (each member half of every row) 34 keys
// 4.1-6.7 → 5.2-5.8 µs and 16 keys 1.5-1.7 → 1.6-2.4 µs, no better. Causal decode passes
// n_keys = pos + 1; bidirectional (encoder) and cross-attention pass the whole length.

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/kernels/softmax.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// Heads attended in one pass over the cache rows: their scores wait in scratch, (heads, n_keys),
// between the pass over keys and the pass over values.
inline constexpr std::size_t kHeadsPerPass = 16;

// Scratch floats attention() needs per team member for H heads and up to Capacity keys.
constexpr std::size_t attention_scratch(std::size_t heads, std::size_t capacity) {
  return std::min(heads, kHeadsPerPass) * capacity;
}

// out_h = softmax(K_h q_h / sqrt(Dh)) V_h for `heads` consecutive heads h (heads ≤ kHeadsPerPass)
// whose cached rows are `stride` floats apart: key j of head h at k + j·stride + h·Dh, its value
// likewise in v. q, out: (heads, Dh); scores: scratch (heads, n_keys); n_keys ≥ 1.
// Keys and then values are read row by row, in memory order; each head's result is still the same
// chain of operations as for that head alone (a dot product per key, softmax, a fused
// multiply-add per key and column in key order), so how heads are grouped never changes it.
// Each key also fetches up to a line per head of `trickle`: attention waits on short rows more
// than it reads, and leaves memory capacity to spare for what the step reads next.
template <std::size_t Dh, class Arch = simd::DefaultArch>
void attend_heads(const float* q, const float* k, const float* v, std::size_t stride,
                  std::size_t heads, std::size_t n_keys, float* scores, float* out, Trickle& trickle) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kFull = detail::kFullVectors<Dh, Arch>;
  const float scale = 1.0F / std::sqrt(static_cast<float>(Dh));
  // The heads' part of the row kAhead rows on, asked for while this row is computed: when a team
  // splits the heads, each member reads part of every row, which the hardware prefetcher follows
  // less well (8 of 16 heads, 34 keys from DRAM: 6.4 → 5.7 µs; all 16 heads unchanged).
  constexpr std::size_t kAhead = 2;
  const auto prefetch_row = [&](const float* cache, std::size_t j) {
    if (j + kAhead < n_keys) simd::prefetch_range(cache + (j + kAhead) * stride, heads * Dh * sizeof(float));
  };
  for (std::size_t j = 0; j < n_keys; ++j) {
    prefetch_row(k, j);
    const Trickle::Run run = trickle.take(heads);
    for (std::size_t h = 0; h < heads; ++h) {
      run.fetch(h);
      const float* kj = k + j * stride + h * Dh;
      const float* qh = q + h * Dh;
      V acc = simd::zero<Arch>();
      for (std::size_t i = 0; i < kFull; i += kW) acc = simd::fma(simd::load<Arch>(kj + i), simd::load<Arch>(qh + i), acc);
      scores[h * n_keys + j] = detail::dot_tail<Dh, Arch>(kj, qh, simd::reduce_add(acc)) * scale;
    }
  }
  for (std::size_t h = 0; h < heads; ++h) softmax<Arch>(scores + h * n_keys, n_keys);
  for (std::size_t i = 0; i < heads * Dh; ++i) out[i] = 0.0F;
  for (std::size_t j = 0; j < n_keys; ++j) {
    prefetch_row(v, j);
    const Trickle::Run run = trickle.take(heads);
    for (std::size_t h = 0; h < heads; ++h) {
      run.fetch(h);
      const float* vj = v + j * stride + h * Dh;
      float* oh = out + h * Dh;
      const float p = scores[h * n_keys + j];
      const V pv = simd::broadcast<Arch>(p);
      for (std::size_t i = 0; i < kFull; i += kW) {
        simd::store<Arch>(oh + i, simd::fma(pv, simd::load<Arch>(vj + i), simd::load<Arch>(oh + i)));
      }
      for (std::size_t i = kFull; i < Dh; ++i) oh[i] += p * vj[i];
    }
  }
}
template <std::size_t Dh, class Arch = simd::DefaultArch>
void attend_heads(const float* q, const float* k, const float* v, std::size_t stride,
                  std::size_t heads, std::size_t n_keys, float* scores, float* out) {
  Trickle none;
  attend_heads<Dh, Arch>(q, k, v, stride, heads, n_keys, scores, out, none);
}

// A cache of keys or values for H heads: (Capacity, H, Dh), one row of H·Dh floats per position.
template <std::size_t H, std::size_t Capacity, std::size_t Dh>
struct KvLayout {
  static constexpr std::size_t kRowStride = H * Dh;
  static constexpr std::size_t kSize = Capacity * H * Dh;
};

// The (query, head) pairs a member attends in attention(): pair p = t·H + h, whose output is
// floats [p·Dh, (p + 1)·Dh) of out. A caller that goes on with only those floats needs no barrier.
template <std::size_t H>
Range attention_pairs(const Team& team, std::size_t n_queries) {
  return team.split(n_queries * H);
}

// For each query t < n_queries (row t of q and out, (n_queries, H*Dh)), attends to the first
// n_keys(t) cached positions of every head. The team splits (query, head) pairs
// (attention_pairs); a member takes its consecutive heads of a query up to kHeadsPerPass at a
// time.
// scores: scratch (team size, attention_scratch(H, Capacity)).
template <std::size_t H, std::size_t Capacity, std::size_t Dh, class Arch = simd::DefaultArch,
          class KeysFor>
void attention(const Team& team, const float* q, std::size_t n_queries, const float* k_cache,
               const float* v_cache, KeysFor n_keys, float* scores, float* out, Trickle& trickle) {
  using Layout = KvLayout<H, Capacity, Dh>;
  float* my_scores = scores + team.id() * attention_scratch(H, Capacity);
  const Range pairs = attention_pairs<H>(team, n_queries);
  for (std::size_t p = pairs.begin; p < pairs.end;) {
    const std::size_t t = p / H;
    const std::size_t h = p % H;
    const std::size_t heads = std::min({pairs.end - p, H - h, kHeadsPerPass});
    const std::size_t at = t * H * Dh + h * Dh;
    attend_heads<Dh, Arch>(q + at, k_cache + h * Dh, v_cache + h * Dh, Layout::kRowStride, heads,
                           n_keys(t), my_scores, out + at, trickle);
    p += heads;
  }
}
template <std::size_t H, std::size_t Capacity, std::size_t Dh, class Arch = simd::DefaultArch,
          class KeysFor>
void attention(const Team& team, const float* q, std::size_t n_queries, const float* k_cache,
               const float* v_cache, KeysFor n_keys, float* scores, float* out) {
  Trickle none;
  attention<H, Capacity, Dh, Arch>(team, q, n_queries, k_cache, v_cache, n_keys, scores, out, none);
}

}  // namespace scaling::kernels
