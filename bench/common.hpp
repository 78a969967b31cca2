#pragma once
// Shared by the benchmarks: the read-bandwidth probe, DRAM-sized working sets, counters.
//
// Decode at batch 1 streams every weight once per token, so the figure of merit is achieved read
// bandwidth over what this machine can read at all. The probe measures the latter in the same
// process, on the same threads, just before the benchmarks run, so "of_probe" ratios are taken in
// one run of a shared, noisy machine.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <vector>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::bench {

// Comfortably larger than the 32 MiB L3: every pass reads DRAM.
inline constexpr std::size_t kProbeBytes = std::size_t{1} << 30;

// Sums `floats` floats starting at p with 8 independent accumulators (enough loads in flight to
// saturate the memory system; the adds themselves are free next to DRAM).
inline float read_sum(const float* p, std::size_t floats) {
  using A = simd::DefaultArch;
  constexpr std::size_t kW = simd::kWidth<A>;
  simd::Vec<A> acc[8];
  for (auto& a : acc) a = simd::zero<A>();
  std::size_t i = 0;
  for (; i + 8 * kW <= floats; i += 8 * kW) {
    for (std::size_t k = 0; k < 8; ++k) acc[k] = acc[k] + simd::load<A>(p + i + k * kW);
  }
  for (std::size_t k = 1; k < 8; ++k) acc[0] = acc[0] + acc[k];
  float s = simd::reduce_add(acc[0]);
  for (; i < floats; ++i) s += p[i];
  return s;
}

// One pass of the team over the buffer; returns seconds.
inline double probe_once(ThreadPool& pool, const AlignedBuffer& buffer) {
  std::vector<float> sums(pool.size());
  const auto start = std::chrono::steady_clock::now();
  pool.run([&](const Team& team) {
    const Range r = team.split(buffer.size(), kFloatsPerLine);
    sums[team.id()] = read_sum(buffer.data() + r.begin, r.size());
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(sums.data());
  return seconds;
}

// Median read bandwidth (bytes/s) of `reps` passes with a team of `threads`.
inline double probe_bandwidth(unsigned threads, int reps = 9) {
  static AlignedBuffer buffer = [] {
    AlignedBuffer b(kProbeBytes / sizeof(float));
    std::fill(b.data(), b.data() + b.size(), 1.0F);  // touch every page before timing
    return b;
  }();
  ThreadPool pool(threads);
  probe_once(pool, buffer);  // warm-up
  std::vector<double> rates;
  for (int i = 0; i < reps; ++i) rates.push_back(static_cast<double>(kProbeBytes) / probe_once(pool, buffer));
  std::nth_element(rates.begin(), rates.begin() + reps / 2, rates.end());
  return rates[static_cast<std::size_t>(reps / 2)];
}

// Probe results by thread count, measured once per process before the benchmarks.
inline std::map<unsigned, double>& probes() {
  static std::map<unsigned, double> p;
  return p;
}

inline void measure_probes(std::initializer_list<unsigned> thread_counts) {
  for (unsigned t : thread_counts) {
    probes()[t] = probe_bandwidth(t);
    std::fprintf(stderr, "read-bandwidth probe, %u thread(s): %.1f GB/s (median of 9 passes over 1 GiB)\n", t,
                 probes()[t] / 1e9);
  }
}

// Sets GB/s and of_probe counters for `bytes` read per iteration.
inline void set_bandwidth_counters(benchmark::State& state, double bytes, unsigned threads) {
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["probe_GB/s"] = probes()[threads] * 1e-9;
  // of_probe = achieved / probe: the rate's iteration-invariant counter divided by the probe.
  state.counters["of_probe"] = benchmark::Counter(bytes / probes()[threads], benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace scaling::bench
