// The thread pool: every member runs, barriers order writes, splits cover ranges exactly.

#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include "scaling/core/threads.hpp"

namespace {

using scaling::Range;
using scaling::Team;
using scaling::ThreadPool;

TEST_CASE("Team::split covers 0..n exactly in grain-aligned contiguous parts") {
  for (unsigned size : {1U, 2U, 3U, 7U}) {
    for (std::size_t n : {0U, 1U, 5U, 16U, 17U, 1000U}) {
      for (std::size_t grain : {1U, 4U}) {
        std::size_t next = 0;
        for (unsigned id = 0; id < size; ++id) {
          const Range r = Team(id, size, nullptr).split(n, grain);
          CHECK(r.begin == next);
          if (r.end != n && r.size() > 0) CHECK(r.end % grain == 0);
          next = r.end;
        }
        CHECK(next == n);
      }
    }
  }
}

TEST_CASE("ThreadPool runs every member and its barrier orders the phases") {
  for (unsigned threads : {1U, 2U, 4U}) {
    ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    std::vector<int> phase1(threads, 0);
    std::vector<int> seen(threads, 0);
    for (int round = 0; round < 50; ++round) {  // many runs: workers sleep and wake each time
      pool.run([&](const Team& team) {
        phase1[team.id()] = round + 1;
        team.sync();
        int sum = 0;
        for (unsigned i = 0; i < team.size(); ++i) sum += phase1[i];
        seen[team.id()] = sum;
      });
      for (unsigned i = 0; i < threads; ++i) CHECK(seen[i] == static_cast<int>(threads) * (round + 1));
    }
  }
}

TEST_CASE("default thread count is at least one and SCALING_NUM_THREADS is validated") {
  CHECK(scaling::default_thread_count() >= 1);
}

}  // namespace

#include "scaling/core/bandwidth.hpp"

TEST_CASE("the read-bandwidth probe reads and reports a positive rate") {
  ThreadPool pool(2);
  const double rate = scaling::measure_read_bandwidth(pool, std::size_t{1} << 20, 2);
  CHECK(rate > 1e6);  // any machine reads a MiB at more than 1 MB/s
  for (std::size_t n : {0U, 1U, 127U, 128U, 1000U, 4099U}) {
    CAPTURE(n);
    CHECK(scaling::detail::read_sum(std::vector<float>(n, 0.5F).data(), n) == 0.5F * static_cast<float>(n));
  }
}
