#pragma once
// Shared by the benchmarks: the read-bandwidth probe results and the bandwidth counters.
//
// Decode at batch 1 streams every weight once per token, so the figure of merit is achieved read
// bandwidth over what this machine can read at all. The probe measures the latter in the same
// process, on the same threads, just before the benchmarks run, so "of_probe" ratios are taken in
// one run of a shared, noisy machine.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdio>
#include <map>

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

// Sets GB/s and of_probe counters for `bytes` read per iteration.
inline void set_bandwidth_counters(benchmark::State& state, double bytes, unsigned threads) {
  state.counters["bytes"] = bytes;
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["probe_GB/s"] = probes()[threads] * 1e-9;
  // of_probe = achieved / probe: the rate's iteration-invariant counter divided by the probe.
  state.counters["of_probe"] = benchmark::Counter(bytes / probes()[threads], benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace scaling::bench
