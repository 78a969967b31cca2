#pragma once
// A read-bandwidth probe: how fast this machine can stream memory on a team of threads.
//
// Decode at batch 1 reads every weight once per token, so the fastest possible decode step takes
// (weight bytes) / (read bandwidth). Benchmarks and the demo measure this in the same process,
// just before they time decoding, and report achieved / probe.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

namespace detail {

// Sums floats [p, p + n) with 8 independent accumulators: enough loads in flight to saturate the
// memory system (the adds are free next to DRAM).
inline float read_sum(const float* p, std::size_t n) {
  using A = simd::DefaultArch;
  constexpr std::size_t kW = simd::kWidth<A>;
  constexpr std::size_t kAcc = 8;
  simd::Vec<A> acc[kAcc];
  for (auto& a : acc) a = simd::zero<A>();
  std::size_t i = 0;
  for (; i + kAcc * kW <= n; i += kAcc * kW) {
    for (std::size_t k = 0; k < kAcc; ++k) acc[k] = acc[k] + simd::load<A>(p + i + k * kW);
  }
  for (std::size_t k = 1; k < kAcc; ++k) acc[0] = acc[0] + acc[k];
  float s = simd::reduce_add(acc[0]);
  for (; i < n; ++i) s += p[i];
  return s;
}

}  // namespace detail

// Median read bandwidth in bytes/s of `passes` passes over `bytes` of memory (default 1 GiB, far
// beyond any L3) by the pool's team. Allocates and touches the buffer first.
inline double measure_read_bandwidth(ThreadPool& pool, std::size_t bytes = std::size_t{1} << 30,
                                     int passes = 7) {
  const std::size_t n = bytes / sizeof(float);
  const AlignedBuffer buffer(n);  // zero-filled: every page is touched before timing
  std::vector<float> sums(pool.size());
  std::vector<double> rates;
  for (int pass = 0; pass <= passes; ++pass) {  // pass 0 warms up
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](const Team& team) {
      const Range r = team.split(n, kFloatsPerLine);
      sums[team.id()] = detail::read_sum(buffer.data() + r.begin, r.size());
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (pass > 0) rates.push_back(static_cast<double>(n * sizeof(float)) / s);
  }
  // The sums are all zero; reading them keeps the loads from being optimised away.
  volatile float sink = sums[0];
  static_cast<void>(sink);
  std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace scaling
