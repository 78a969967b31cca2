#pragma once
// A page-walk probe: what a dependent load costs when the lines it visits are packed, and when each
// sits on its own 4 KiB page.
//
// Sparse FF decodes by reading its chosen rows from anywhere in a multi-GB arena; at 800M a row is
// 4 KiB, so every row is a new page, and its first load waits for a page walk unless the TLB holds
// a translation that covers it. AlignedBuffer asks Linux for 2 MiB pages, but in a virtual machine
// the TLB can only hold the smaller of the guest's page and the host's behind it, so whether the
// arena's large pages help depends on the host. This probe tells which: a few thousand lines that
// stay in L2 cost the same per load whether packed or one per page when the TLB holds 2 MiB
// translations, and a page walk more per load when it holds 4 KiB ones (docs/benchmarks.md).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/tensor.hpp"

namespace scaling {

namespace detail {

// A random visiting order of `count` items that is one cycle through all of them: next[i] is the
// item after i. (Sattolo's shuffle: each item swaps only with one after it, never with itself.)
inline std::vector<std::uint32_t> random_cycle(std::size_t count, std::uint64_t seed) {
  std::vector<std::uint32_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = static_cast<std::uint32_t>(i);
  SplitMix64 rng(seed);
  for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng.next() % (i - 1)]);
  std::vector<std::uint32_t> next(count);
  for (std::size_t i = 0; i < count; ++i) next[order[i]] = order[(i + 1) % count];
  return next;
}

}  // namespace detail

// The mean time in ns of one load in a chain of dependent loads (each reads the address of the
// next) over `lines` cache lines `stride` bytes apart, in one random cycle through all of them: the
// median of `passes` timed passes of `lines` loads each, after one pass that brings the lines into
// the caches. stride is a multiple of the 64-byte line; lines ≥ 2.
inline double measure_load_latency(std::size_t lines, std::size_t stride, int passes = 7) {
  detail::require(lines >= 2 && lines <= UINT32_MAX,
                  "a load-latency chain needs 2 to 2^32 − 1 lines, got ", lines);
  detail::require(stride >= kAlignment && stride % kAlignment == 0,
                  "a load-latency chain's stride must be a multiple of ", kAlignment,
                  " bytes, got ", stride);
  detail::require(passes >= 1, "a load-latency probe needs at least one pass, got ", passes);
  const std::size_t step = stride / sizeof(float);
  AlignedBuffer buffer(lines * step);
  const std::vector<std::uint32_t> next = detail::random_cycle(lines, lines * 31 + stride);
  for (std::size_t i = 0; i < lines; ++i)
    std::memcpy(buffer.data() + i * step, &next[i], sizeof next[i]);
  std::uint32_t at = 0;
  std::vector<double> ns;
  for (int pass = 0; pass <= passes; ++pass) {  // pass 0 warms the caches
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < lines; ++i) std::memcpy(&at, buffer.data() + at * step, sizeof at);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (pass > 0) ns.push_back(s * 1e9 / static_cast<double>(lines));
  }
  // Where the chain ended keeps its loads from being optimised away.
  volatile std::uint32_t sink = at;
  static_cast<void>(sink);
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(ns.size() / 2), ns.end());
  return ns[ns.size() / 2];
}

// 8192 lines (512 KiB, in L2 on the machines of docs/benchmarks.md), packed, and one per 4 KiB
// page, spanning 32 MiB: 16 pages of 2 MiB, more pages of 4 KiB than a TLB holds.
struct PageWalkProbe {
  double packed_ns = 0.0;
  double paged_ns = 0.0;
};

inline PageWalkProbe measure_page_walk() {
  constexpr std::size_t kLines = 8192;
  return {measure_load_latency(kLines, kAlignment), measure_load_latency(kLines, 4096)};
}

}  // namespace scaling
