#pragma once
// Threading: a small fork-join pool whose workers spin briefly, then sleep, between calls.
//
// Decode is bound by memory bandwidth, and one core cannot saturate this machine's DRAM, so the
// memory-bound kernels split their rows over a team of threads. One model step (a token, or a
// chunk of a prompt) is ONE pool.run(): the whole step executes inside it and kernels synchronise
// with team.sync() (a spinning barrier: the next kernel starts microseconds later, so sleeping
// there would cost more than it saves). Between steps the workers spin a little (200 µs by
// default: a decoder's next step usually comes sooner), then block in the kernel (futex, via
// std::atomic::wait).
//
// Every kernel splits work so that each output element is computed by the same instruction
// sequence whatever the team size; results are therefore bitwise identical for any thread count.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/simd/intrinsics.hpp"

namespace scaling {

namespace detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spin, but give the core away if the wait gets long (the machine may be oversubscribed).
template <class Done>
void spin_until(Done&& done) {
  for (std::uint32_t spins = 0; !done(); ++spins) {
    if (spins < (1U << 14)) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

class SpinBarrier {
 public:
  explicit SpinBarrier(unsigned count) : count_(count) {}
  void arrive_and_wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    spin_until([&] { return generation_.load(std::memory_order_acquire) != generation; });
  }

 private:
  unsigned count_;
  std::atomic<unsigned> arrived_{0};
  std::atomic<unsigned> generation_{0};
};

}  // namespace detail

// A half-open range of indices.
struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  [[nodiscard]] std::size_t size() const { return end - begin; }
};

// The view a kernel has of the threads running it.
class Team {
 public:
  // Member `id` of `size` (id < size); the barrier may be null for a team that never syncs.
  Team(unsigned id, unsigned size, detail::SpinBarrier* barrier)
      : id_(id), size_(size), barrier_(barrier) {
    detail::require(id < size, "Team: member ", id, " of a team of ", size);
  }
  // A team of one: what tests and single-threaded callers pass.
  static Team solo() { return {0, 1, nullptr}; }

  [[nodiscard]] unsigned id() const { return id_; }
  [[nodiscard]] unsigned size() const { return size_; }

  // Waits until every member has reached this point; writes before it are visible after it.
  void sync() const {
    if (size_ > 1) barrier_->arrive_and_wait();
  }

  // The members whose id ≡ lane (mod lanes) as a team of their own, for splitting work among
  // them (it cannot synchronise). A kernel whose parts each read their own weights gives each
  // part to one lane of members: lanes ≤ size(), and this member in the lane (id ≡ lane).
  [[nodiscard]] Team lane(unsigned lane, unsigned lanes) const {
    detail::require(lanes >= 1 && lanes <= size_ && id_ % lanes == lane, "Team::lane: member ", id_,
                    " of ", size_, " is not in lane ", lane, " of ", lanes);
    return {id_ / lanes, (size_ - lane + lanes - 1) / lanes, nullptr};
  }

  // This member's contiguous share of [0, n); share boundaries are multiples of `grain`.
  [[nodiscard]] Range split(std::size_t n, std::size_t grain = 1) const {
    detail::require(grain >= 1, "Team::split: grain 0");
    const std::size_t chunks = (n + grain - 1) / grain;
    const std::size_t per = chunks / size_;
    const std::size_t extra = chunks % size_;
    const std::size_t first = id_ * per + std::min<std::size_t>(id_, extra);
    const std::size_t count = per + (id_ < extra ? 1 : 0);
    return {std::min(n, first * grain), std::min(n, (first + count) * grain)};
  }

 private:
  unsigned id_;
  unsigned size_;
  detail::SpinBarrier* barrier_;
};

// The largest team a model step runs on (its workspace keeps a row of scratch per member).
inline constexpr unsigned kMaxTeam = 64;

// Physical cores available: distinct (package, core) pairs in sysfs, else hardware_concurrency(),
// at most kMaxTeam. The environment variable SCALING_NUM_THREADS overrides it.
inline unsigned default_thread_count() {
  if (const char* env = std::getenv("SCALING_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const unsigned long n = std::strtoul(env, &end, 10);
    detail::require(end != nullptr && *end == '\0' && n >= 1 && n <= kMaxTeam,
                    "SCALING_NUM_THREADS must be an integer in [1, ", kMaxTeam, "], got '", env,
                    "'");
    return static_cast<unsigned>(n);
  }
  const unsigned logical = std::max(1U, std::thread::hardware_concurrency());
  std::set<std::pair<std::string, std::string>> cores;
  for (unsigned cpu = 0; cpu < logical; ++cpu) {
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream package(dir + "physical_package_id");
    std::ifstream core(dir + "core_id");
    std::string p;
    std::string c;
    if (!(package >> p) || !(core >> c)) return std::min(kMaxTeam, logical);
    cores.emplace(p, c);
  }
  return std::min(kMaxTeam, cores.empty() ? logical : static_cast<unsigned>(cores.size()));
}

class ThreadPool {
 public:
  // After a run, workers spin this long for the next one before they sleep in the kernel: woken
  // from sleep, a worker starts 15–50 µs late on this project's virtual machines (now and then
  // 250 µs), while a decoding caller's next step usually comes within microseconds
  // (docs/benchmarks.md, "Waking the workers"). Zero: sleep at once.
  static constexpr std::chrono::microseconds kDefaultSpin{200};

  // threads = size of the team a run() gets, including the calling thread.
  explicit ThreadPool(unsigned threads = default_thread_count(),
                      std::chrono::microseconds spin_before_sleep = kDefaultSpin)
      : size_(threads), spin_(spin_before_sleep), barrier_(threads) {
    detail::require(threads >= 1, "ThreadPool needs at least one thread");
    detail::require(spin_before_sleep.count() >= 0,
                    "ThreadPool's spin before sleep must not be negative, got ",
                    spin_before_sleep.count(), " µs");
    workers_.reserve(threads - 1);
    try {
      for (unsigned id = 1; id < threads; ++id) workers_.emplace_back([this, id] { work(id); });
    } catch (...) {  // a thread could not start: stop those that did, or their destructor aborts
      stop_workers();
      throw;
    }
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ThreadPool(ThreadPool&&) = delete;
  ThreadPool& operator=(ThreadPool&&) = delete;
  ~ThreadPool() { stop_workers(); }

  [[nodiscard]] unsigned size() const { return size_; }

  // Runs body(const Team&) on every thread of the pool (the caller is member 0) and returns when
  // all have finished. Calls from several threads are serialised. body must not throw (validate
  // arguments before calling run()): the other members may be waiting for it at a barrier, so an
  // exception that leaves body ends the program (std::terminate) instead. A run of this pool from
  // inside one of its own runs would wait for itself: it throws scaling::Error instead.
  template <class Body>
  void run(Body&& body) {
    detail::require(!Inside::holds(this),
                    "ThreadPool::run called from inside a run of the same pool");
    const std::lock_guard lock(mutex_);
    const Inside inside(this);
    if (size_ == 1) {
      member(body, Team::solo());
      return;
    }
    job_ctx_ = &body;
    job_fn_ = [](void* ctx, const Team& team) {
      member(*static_cast<std::remove_reference_t<Body>*>(ctx), team);
    };
    remaining_.store(size_ - 1, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    member(body, Team(0, size_, &barrier_));
    detail::spin_until([&] { return remaining_.load(std::memory_order_acquire) == 0; });
  }

 private:
  // While it lives, this thread is inside a run of `pool` (runs of other pools may nest).
  class Inside {
   public:
    explicit Inside(const ThreadPool* pool) : pool_(pool), outer_(innermost_) { innermost_ = this; }
    ~Inside() { innermost_ = outer_; }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
    static bool holds(const ThreadPool* pool) {
      for (const Inside* i = innermost_; i != nullptr; i = i->outer_) {
        if (i->pool_ == pool) return true;
      }
      return false;
    }

   private:
    const ThreadPool* pool_;
    const Inside* outer_;
    static inline thread_local const Inside* innermost_ = nullptr;
  };

  // One member's part of a run; noexcept, so an exception from body ends the program here.
  template <class Body>
  static void member(Body& body, const Team& team) noexcept {
    body(team);
  }

  void stop_workers() {
    stop_.store(true, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    for (auto& w : workers_) w.join();
  }

  void work(unsigned id) {
    std::uint64_t seen = 0;
    for (;;) {
      await_job(seen);
      seen = epoch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;
      {
        const Inside inside(this);
        job_fn_(job_ctx_, Team(id, size_, &barrier_));
      }
      remaining_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Returns once the epoch has moved past `seen`: spins for spin_, then sleeps in the kernel.
  void await_job(std::uint64_t seen) const {
    const auto until = std::chrono::steady_clock::now() + spin_;
    detail::spin_until([&] {
      return epoch_.load(std::memory_order_acquire) != seen ||
             std::chrono::steady_clock::now() >= until;
    });
    epoch_.wait(seen, std::memory_order_acquire);  // returns at once if the epoch has moved
  }

  unsigned size_;
  std::chrono::microseconds spin_;
  detail::SpinBarrier barrier_;
  std::mutex mutex_;
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<unsigned> remaining_{0};
  std::atomic<bool> stop_{false};
  void* job_ctx_ = nullptr;
  void (*job_fn_)(void*, const Team&) = nullptr;
  std::vector<std::thread> workers_;
};

// The pool model calls use when none is given: default_thread_count() threads, made on first use.
inline ThreadPool& default_pool() {
  static ThreadPool pool;
  return pool;
}

}  // namespace scaling
