#pragma once
// Shared by the benchmarks: the read-bandwidth probe around each run, median laps, counters.
//
// Decode at batch 1 streams every weight once per token, so the figure of merit is achieved read
// bandwidth over what this machine can read at all (scaling::measure_read_bandwidth).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <vector>

#include "scaling/core/bandwidth.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::bench {

// The read bandwidth of this machine is shared with other tenants and drifts by 2x over minutes,
// so every benchmark run measures it on its own thread count right before and right after its
// timed loop, and reports achieved / probe from the mean of the two.
class ProbeAround {
 public:
  explicit ProbeAround(unsigned threads) : pool_(threads), before_(measure()) {}
  double finish() { return 0.5 * (before_ + measure()); }  // bytes/s

 private:
  double measure() {
    // One buffer for the whole process: allocating and freeing 512 MiB per run makes this VM's
    // page faults part of what is measured.
    static const AlignedBuffer buffer((std::size_t{512} << 20) / sizeof(float));
    return measure_read_bandwidth(pool_, buffer, 5);
  }
  ThreadPool pool_;
  double before_;
};

// The fp32 multiply-add rate of the pool's team in multiply-adds/s: the compute roofline, as the
// read probe is the memory one. Each member runs 12 independent FMA chains of full vectors (two
// FMA pipes × 4 cycles of latency need at least 8 in flight), for about 4 ms per pass; the median
// of `passes` passes after one warm-up.
inline double measure_fma_rate(ThreadPool& pool, int passes = 5) {
  using A = simd::DefaultArch;
  constexpr std::size_t kChains = 12;
  constexpr std::size_t kIterations = std::size_t{1} << 18;
  std::vector<float> sums(pool.size());
  std::vector<double> rates;
  for (int pass = 0; pass <= passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](const Team& team) {
      simd::Vec<A> acc[kChains];
      for (std::size_t c = 0; c < kChains; ++c) acc[c] = simd::broadcast<A>(static_cast<float>(c));
      const simd::Vec<A> scale = simd::broadcast<A>(0.999F);
      const simd::Vec<A> add = simd::broadcast<A>(1e-3F);
      for (std::size_t i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12  // unrolled, the chains live in registers
        for (auto& a : acc) a = simd::fma(a, scale, add);
      }
      simd::Vec<A> total = acc[0];
      for (std::size_t c = 1; c < kChains; ++c) total = total + acc[c];
      sums[team.id()] = simd::reduce_add(total);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (pass > 0) rates.push_back(static_cast<double>(pool.size() * kIterations * kChains * simd::kWidth<A>) / s);
  }
  volatile float sink = sums[0];  // keeps the chains from being optimised away
  static_cast<void>(sink);
  std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2), rates.end());
  return rates[rates.size() / 2];
}

// Per-iteration wall times, for medians: on a shared machine a few iterations are hit by other
// tenants, which moves the mean Google Benchmark reports but not the median.
class Laps {
 public:
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() { laps_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }
  // NaN before the first lap (Google Benchmark's first, sizing run may time too few).
  [[nodiscard]] double median() {
    if (laps_.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::nth_element(laps_.begin(), laps_.begin() + static_cast<std::ptrdiff_t>(laps_.size() / 2), laps_.end());
    return laps_[laps_.size() / 2];
  }

 private:
  std::chrono::steady_clock::time_point start_;
  std::vector<double> laps_;
};

// Counters from the median lap: median_ms per `units` (e.g. per block), and the bandwidth that
// `bytes` read per lap reach, as GB/s and as a fraction of the probe (of_probe).
inline void set_median_counters(benchmark::State& state, Laps& laps, double bytes, ProbeAround& probe,
                                double units = 1.0) {
  const double median = laps.median();
  const double probe_rate = probe.finish();
  state.counters["median_ms"] = median / units * 1e3;
  state.counters["MB"] = bytes / units * 1e-6;
  state.counters["GB/s"] = bytes / median * 1e-9;
  state.counters["probe_GB/s"] = probe_rate * 1e-9;
  state.counters["of_probe"] = bytes / median / probe_rate;
}

}  // namespace scaling::bench
