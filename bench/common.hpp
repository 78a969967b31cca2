#pragma once
// Shared by the benchmarks: the read-bandwidth probe results and the bandwidth counters.
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

#include "scaling/core/bandwidth.hpp"
#include "scaling/core/threads.hpp"

namespace scaling::bench {

// Probe results by thread count, measured once per process before the benchmarks.
inline std::map<unsigned, double>& probes() {
  static std::map<unsigned, double> p;
  return p;
}

inline void measure_probes(std::initializer_list<unsigned> thread_counts) {
  for (unsigned t : thread_counts) {
    ThreadPool pool(t);
    probes()[t] = measure_read_bandwidth(pool);
    std::fprintf(stderr, "read-bandwidth probe, %u thread(s): %.1f GB/s (median of 7 passes over 1 GiB)\n", t,
                 probes()[t] / 1e9);
  }
}

// Per-iteration wall times, for medians: on a shared machine a few iterations are hit by other
// tenants, which moves the mean Google Benchmark reports but not the median.
class Laps {
 public:
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() { laps_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }
  [[nodiscard]] double median() {
    std::nth_element(laps_.begin(), laps_.begin() + static_cast<std::ptrdiff_t>(laps_.size() / 2), laps_.end());
    return laps_[laps_.size() / 2];
  }

 private:
  std::chrono::steady_clock::time_point start_;
  std::vector<double> laps_;
};

// Counters from the median lap: median_ms per `units` (e.g. per block), and the bandwidth that
// `bytes` read per lap reach, as GB/s and as a fraction of the probe (of_probe).
inline void set_median_counters(benchmark::State& state, Laps& laps, double bytes, unsigned threads,
                                double units = 1.0) {
  const double median = laps.median();
  state.counters["median_ms"] = median / units * 1e3;
  state.counters["MB"] = bytes / units * 1e-6;
  state.counters["GB/s"] = bytes / median * 1e-9;
  state.counters["of_probe"] = bytes / median / probes()[threads];
}

}  // namespace scaling::bench
