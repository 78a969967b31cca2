// The machine probes the benchmarks report beside their times: read bandwidth and page walks.

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "scaling/core/bandwidth.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/latency.hpp"
#include "scaling/core/threads.hpp"

namespace {

TEST_CASE("the read-bandwidth probe reads and reports a positive rate") {
  scaling::ThreadPool pool(2);
  const double rate = scaling::measure_read_bandwidth(pool, std::size_t{1} << 20, 2);
  CHECK(rate > 1e6);  // any machine reads a MiB at more than 1 MB/s
  for (std::size_t n : {0U, 1U, 127U, 128U, 1000U, 4099U}) {
    CAPTURE(n);
    CHECK(scaling::detail::read_sum(std::vector<float>(n, 0.5F).data(), n) ==
          0.5F * static_cast<float>(n));
  }
}

TEST_CASE("the load-latency chain is one cycle through every line") {
  for (std::size_t count : {2U, 3U, 17U, 8192U}) {
    CAPTURE(count);
    const std::vector<std::uint32_t> next = scaling::detail::random_cycle(count, 7);
    REQUIRE(next.size() == count);
    std::vector<bool> seen(count, false);
    std::uint32_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {  // count steps from 0 visit every item once ...
      REQUIRE(next[at] < count);
      CHECK_FALSE(seen[at]);
      seen[at] = true;
      at = next[at];
    }
    CHECK(at == 0);  // ... and come back to it
  }
  // Different seeds give different orders (the chain is not the same walk on every run).
  CHECK(scaling::detail::random_cycle(64, 1) != scaling::detail::random_cycle(64, 2));
}

TEST_CASE("the page-walk probe reports positive latencies and rejects impossible chains") {
  const double packed = scaling::measure_load_latency(256, 64, 2);
  CHECK(std::isfinite(packed));
  CHECK(packed > 0.0);
  const scaling::PageWalkProbe probe = scaling::measure_page_walk();
  CHECK(probe.packed_ns > 0.0);
  CHECK(probe.paged_ns > 0.0);
  CHECK_THROWS_WITH_AS(scaling::measure_load_latency(1, 64),
                       "scaling: a load-latency chain needs 2 to 2^32 − 1 lines, got 1",
                       scaling::Error);
  CHECK_THROWS_WITH_AS(
      scaling::measure_load_latency(16, 96),
      "scaling: a load-latency chain's stride must be a multiple of 64 bytes, got 96",
      scaling::Error);
  CHECK_THROWS_WITH_AS(scaling::measure_load_latency(16, 64, 0),
                       "scaling: a load-latency probe needs at least one pass, got 0",
                       scaling::Error);
}

}  // namespace
