#pragma once
// A read-bandwidth probe: how fast this machine can stream memory on a team of threads.
//
// Decode at batch 1 reads every weight once per token, so the fastest possible decode step takes
// (weight bytes) / (read bandwidth). Benchmarks measure this in the same process right before
// and after they time decoding (bench/common.hpp), the demo right after, and both report
// achieved / probe.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

namespace detail {

// Sums floats [p, p + n) as kStreams interleaved sequential streams (quarters of the range read in
// lockstep), two accumulators each. A single stream per core leaves 10-20% of this machine's
// bandwidth unused; matvec reads 4 rows at a time, and so does the probe.
inline float read_sum(const float* p, std::size_t n) {
  using A = simd::DefaultArch;
  constexpr std::size_t kW = simd::kWidth<A>;
  constexpr std::size_t kStreams = 4;
  const std::size_t per = n / (kStreams * 2 * kW) * (2 * kW);  // vector part of each stream
  simd::Vec<A> acc[kStreams][2];
  for (auto& stream : acc) {
    for (auto& a : stream) a = simd::zero<A>();
  }
  for (std::size_t i = 0; i < per; i += 2 * kW) {
    for (std::size_t s = 0; s < kStreams; ++s) {
      acc[s][0] = acc[s][0] + simd::load<A>(p + s * per + i);
      acc[s][1] = acc[s][1] + simd::load<A>(p + s * per + i + kW);
    }
  }
  float total = 0.0F;
  for (auto& stream : acc) total += simd::reduce_add(stream[0] + stream[1]);
  for (std::size_t i = kStreams * per; i < n; ++i) total += p[i];  // what the streams left over
  return total;
}

}  // namespace detail

// Median read bandwidth in bytes/s of `passes` passes over `buffer` (make it far larger than the
// L3: 512 MiB or more) by the pool's team.
inline double measure_read_bandwidth(ThreadPool& pool, const AlignedBuffer& buffer, int passes = 7) {
  const std::size_t n = buffer.size();
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

// The same over a fresh zero-filled buffer of `bytes` (default 1 GiB).
inline double measure_read_bandwidth(ThreadPool& pool, std::size_t bytes = std::size_t{1} << 30,
                                     int passes = 7) {
  const AlignedBuffer buffer(bytes / sizeof(float));  // zero-filled: every page touched before timing
  return measure_read_bandwidth(pool, buffer, passes);
}

}  // namespace scaling
