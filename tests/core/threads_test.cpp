// The thread pool: every member runs, barriers order writes, splits cover ranges exactly.

#include "scaling/core/threads.hpp"

#include <doctest/doctest.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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
          // Balanced: each member gets ⌊chunks/size⌋ or ⌈chunks/size⌉ grains (the last grain of
          // [0, n) may be short).
          const std::size_t chunks = (n + grain - 1) / grain;
          const std::size_t grains = (r.size() + grain - 1) / grain;
          CHECK(grains >= chunks / size);
          CHECK(grains <= (chunks + size - 1) / size);
          next = r.end;
        }
        CHECK(next == n);
      }
    }
  }
}

TEST_CASE("Team::lane makes the members of a lane a team; bad teams, lanes and grains throw") {
  // A team of 5 in 2 lanes: members 0, 2, 4 (lane 0) are 0, 1, 2 of 3; members 1, 3 are 0, 1 of 2.
  for (unsigned id = 0; id < 5; ++id) {
    const Team lane = Team(id, 5, nullptr).lane(id % 2, 2);
    CHECK(lane.id() == id / 2);
    CHECK(lane.size() == (id % 2 == 0 ? 3U : 2U));
  }
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(Team(2, 2, nullptr), Contains("member 2 of a team of 2"), scaling::Error);
  CHECK_THROWS_WITH_AS(Team(0, 0, nullptr), Contains("member 0 of a team of 0"), scaling::Error);
  CHECK_THROWS_WITH_AS((void)Team::solo().split(8, 0), Contains("grain 0"), scaling::Error);
  CHECK_THROWS_WITH_AS((void)Team(1, 4, nullptr).lane(0, 2), Contains("not in lane 0 of 2"),
                       scaling::Error);
  CHECK_THROWS_WITH_AS((void)Team(0, 4, nullptr).lane(0, 0), Contains("lane 0 of 0"),
                       scaling::Error);
  CHECK_THROWS_WITH_AS((void)Team::solo().lane(0, 2), Contains("lane 0 of 2"), scaling::Error);
}

TEST_CASE("ThreadPool runs every member and its barrier orders the phases") {
  using std::chrono::microseconds;
  // Workers that sleep at once, that spin 50 µs first (the caller pausing 100 µs now and then, so
  // they find the next run both while spinning and asleep), and the default.
  for (const microseconds spin : {microseconds{0}, microseconds{50}, ThreadPool::kDefaultSpin}) {
    for (unsigned threads : {1U, 2U, 4U}) {
      CAPTURE(spin.count());
      CAPTURE(threads);
      ThreadPool pool(threads, spin);
      CHECK(pool.size() == threads);
      std::vector<int> phase1(threads, 0);
      std::vector<int> seen(threads, 0);
      for (int round = 0; round < 50; ++round) {
        if (round % 3 == 0) std::this_thread::sleep_for(microseconds{100});
        pool.run([&](const Team& team) {
          phase1[team.id()] = round + 1;
          team.sync();
          int sum = 0;
          for (unsigned i = 0; i < team.size(); ++i) sum += phase1[i];
          seen[team.id()] = sum;
        });
        for (unsigned i = 0; i < threads; ++i) {
          CHECK(seen[i] == static_cast<int>(threads) * (round + 1));
        }
      }
    }
  }
  CHECK_THROWS_WITH_AS(ThreadPool(2, microseconds{-1}),
                       "scaling: ThreadPool's spin before sleep must not be negative, got -1 µs",
                       scaling::Error);
}

TEST_CASE("default thread count is at least one and SCALING_NUM_THREADS is validated") {
  const char* saved = std::getenv("SCALING_NUM_THREADS");
  const std::string restore = saved == nullptr ? "" : saved;
  ::unsetenv("SCALING_NUM_THREADS");
  CHECK(scaling::default_thread_count() >= 1);
  CHECK(scaling::default_thread_count() <= scaling::kMaxTeam);
  ::setenv("SCALING_NUM_THREADS", "3", 1);
  CHECK(scaling::default_thread_count() == 3);
  ::setenv("SCALING_NUM_THREADS", "64", 1);
  CHECK(scaling::default_thread_count() == 64);
  for (const char* bad : {"0", "65", "-1", "2x", "many"}) {
    CAPTURE(bad);
    ::setenv("SCALING_NUM_THREADS", bad, 1);
    CHECK_THROWS_WITH_AS(scaling::default_thread_count(),
                         ("scaling: SCALING_NUM_THREADS must be an integer in [1, 64], got '" +
                          std::string(bad) + "'")
                             .c_str(),
                         scaling::Error);
  }
  if (saved == nullptr) {
    ::unsetenv("SCALING_NUM_THREADS");
  } else {
    ::setenv("SCALING_NUM_THREADS", restore.c_str(), 1);
  }
}

TEST_CASE("a run of a pool from inside its own run is an error; runs of other pools nest") {
  for (unsigned size : {1U, 2U, 3U}) {
    CAPTURE(size);
    ThreadPool pool(size);
    ThreadPool other(2);
    std::vector<std::string> errors(size);
    std::vector<int> inner(2, 0);
    pool.run([&](const Team& team) {
      try {
        pool.run([](const Team&) {});
      } catch (const scaling::Error& e) {
        errors[team.id()] = e.what();
      }
      if (team.id() == 0) other.run([&](const Team& t) { inner[t.id()] += 1; });
    });
    for (const std::string& e : errors)
      CHECK(e == "scaling: ThreadPool::run called from inside a run of the same pool");
    CHECK(inner[0] == 1);
    CHECK(inner[1] == 1);
    int after = 0;
    pool.run([&](const Team& team) {  // the pool still runs
      if (team.id() == 0) after = 1;
    });
    CHECK(after == 1);
  }
}

// Threads of this process (entries of /proc/self/task).
std::size_t thread_count() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<std::size_t>(std::distance(begin(tasks), end(tasks)));
}

// Thread ids of this process (names of the entries of /proc/self/task).
std::set<std::string> thread_ids() {
  std::set<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ids.insert(entry.path().filename().string());
  }
  return ids;
}

// The state of thread `tid` of this process, from /proc (R running or runnable, S sleeping, ...).
char thread_state(const std::string& tid) {
  std::ifstream stat("/proc/self/task/" + tid + "/stat");
  std::string line;
  std::getline(stat, line);
  const std::size_t name_end = line.rfind(')');  // "tid (name) state ..."
  return name_end == std::string::npos || name_end + 2 >= line.size() ? '?' : line[name_end + 2];
}

TEST_CASE("a worker that finds no run within its spin sleeps in the kernel") {
  for (const std::chrono::microseconds spin :
       {std::chrono::microseconds{0}, std::chrono::microseconds{50}}) {
    CAPTURE(spin.count());
    const std::set<std::string> before = thread_ids();
    ThreadPool pool(2, spin);
    pool.run([](const Team&) {});
    std::vector<std::string> workers;
    for (const std::string& id : thread_ids()) {
      if (!before.contains(id)) workers.push_back(id);
    }
    REQUIRE(workers.size() == 1);
    // Not a timing check: a spinning (or yielding) worker is never in state S; the loop only
    // bounds how long a worker that never sleeps keeps the test waiting.
    bool asleep = false;
    for (int i = 0; i < 10000 && !asleep; ++i) {
      asleep = thread_state(workers[0]) == 'S';
      if (!asleep) std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    CHECK(asleep);
  }
}

TEST_CASE("a worker that cannot start: the pool joins those that did and throws") {
  // Every new thread's stack is 1 GiB (pthread's default attributes) and the address space may
  // grow by 2.5 GiB: two workers start, the third cannot (pthread_create fails, std::thread
  // throws std::system_error). Without the constructor's catch, the two started workers'
  // std::thread objects would be destroyed joinable, which ends the program.
  constexpr std::size_t kStack = std::size_t{1} << 30;
  pthread_attr_t saved_attr;
  REQUIRE(pthread_getattr_default_np(&saved_attr) == 0);
  pthread_attr_t big;
  REQUIRE(pthread_attr_init(&big) == 0);
  REQUIRE(pthread_attr_setstacksize(&big, kStack) == 0);
  rlimit saved_limit{};
  REQUIRE(getrlimit(RLIMIT_AS, &saved_limit) == 0);
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  REQUIRE(static_cast<bool>(statm >> pages));
  const auto vm = pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t before = thread_count();

  REQUIRE(pthread_setattr_default_np(&big) == 0);
  rlimit tight = saved_limit;
  tight.rlim_cur = vm + kStack * 5 / 2;
  REQUIRE(setrlimit(RLIMIT_AS, &tight) == 0);
  bool threw = false;
  try {
    ThreadPool pool(8);
  } catch (const std::system_error&) {
    threw = true;
  }
  REQUIRE(setrlimit(RLIMIT_AS, &saved_limit) == 0);
  REQUIRE(pthread_setattr_default_np(&saved_attr) == 0);
  pthread_attr_destroy(&big);
  pthread_attr_destroy(&saved_attr);

  CHECK(threw);
  CHECK(thread_count() == before);  // the started workers were joined
  ThreadPool pool(3);               // and pools start again
  CHECK(pool.size() == 3);
}

}  // namespace
