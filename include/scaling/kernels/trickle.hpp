#pragma once
// Weights (and cached keys and values) that a later phase of a step will read, pulled into L2 a
// cache line at a time by kernels that leave memory capacity to spare (the multiplicative layer
// and the convolution, which spend their time computing; attention and Sparse FF's W2 rows,
// which wait on short rows), so that the later phase starts from L2 instead of DRAM.
//
// Why a trickle: in a decode step, Sparse QKV's multiplicative layer and convolutions do about as
// many multiply-adds as there are cycles in reading their weights, but on one core they take the
// sum of the two, not the maximum: each waits for its own weights before it computes. Their
// spare memory capacity can fetch the next phase's weights instead. Spread out it works, in a
// burst it does not (throwaway loop, 800M multiplicative layer, weights from DRAM, 1 thread,
// 2026-11-29: 13.8 µs cold, 9.2 µs warm; with its 320 KB prefetched beforehand one line per
// ~30 cycles 9.2 µs, in one burst 13.7 µs).
//
// A Trickle is a list of spans passed through the kernels of a phase; a kernel takes runs of lines
// from it, about one line per iteration of its inner loop, and fetches them as it goes. Lines that
// no kernel reached are not fetched. Prefetching changes no result.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "scaling/core/threads.hpp"

namespace scaling::kernels {

class Trickle {
 public:
  static constexpr std::size_t kSpans = 8;
  static constexpr std::uintptr_t kLine = 64;

  Trickle() = default;

  // Every line that the spans' floats touch, in order.
  template <class... Spans>
    requires(sizeof...(Spans) <= kSpans && (std::is_convertible_v<Spans, std::span<const float>> && ...))
  explicit Trickle(Spans... spans) {
    (add(std::span<const float>(spans)), ...);
  }

  // Consecutive lines, taken together by the caller of a kernel's inner loop, which then only
  // compares and prefetches (taking them inside, GCC 12 spilled the multiplicative tile's
  // accumulators to the stack: 9.4 → 21.5 µs for the 800M layer).
  struct Run {
    std::uintptr_t first = 0;
    std::size_t lines = 0;
    // Prefetches line j of the run, if it has one, into L2 (prefetcht1: needed after the kernel,
    // not by it). A loop of n iterations calls it with j = 0 … n − 1.
    void fetch(std::size_t j) const {
      if (j < lines) __builtin_prefetch(reinterpret_cast<const void*>(first + j * kLine), 0, 2);
    }
  };

  // The next at most `max_lines` lines, all from one span (fewer where it ends; none once every
  // line has been taken).
  [[nodiscard]] Run take(std::size_t max_lines) {
    while (line_ >= stop_) {
      if (span_ == count_) return {};
      line_ = next_[span_];
      stop_ = end_[span_];
      ++span_;
    }
    const std::size_t lines = std::min<std::size_t>(max_lines, (stop_ - line_ + kLine - 1) / kLine);
    const Run run{line_, lines};
    line_ += lines * kLine;
    return run;
  }

 private:
  void add(std::span<const float> floats) {
    if (floats.empty()) return;
    const auto start = reinterpret_cast<std::uintptr_t>(floats.data());
    next_[count_] = start & ~(kLine - 1);
    end_[count_] = start + floats.size_bytes();
    ++count_;
  }

  std::array<std::uintptr_t, kSpans> next_{};  // each span's first line
  std::array<std::uintptr_t, kSpans> end_{};   // each span's end (exclusive)
  std::size_t count_ = 0;                      // spans
  std::size_t span_ = 0;                       // spans started so far
  std::uintptr_t line_ = 0;                    // the next line of the span being taken
  std::uintptr_t stop_ = 0;                    // and its end
};

// A team member's part of a span that the team reads together: a contiguous share of the lines
// it touches (the members' parts are disjoint and cover every line).
inline std::span<const float> line_share(std::span<const float> floats, const Team& team) {
  constexpr std::uintptr_t kFloatsPerLine = Trickle::kLine / sizeof(float);
  const auto start = reinterpret_cast<std::uintptr_t>(floats.data());
  const std::size_t lead = (start % Trickle::kLine) / sizeof(float);  // floats before it in its first line
  const Range lines = team.split((lead + floats.size() + kFloatsPerLine - 1) / kFloatsPerLine);
  const std::size_t begin = std::min(floats.size(), std::max(lines.begin * kFloatsPerLine, lead) - lead);
  const std::size_t end = std::min(floats.size(), std::max(lines.end * kFloatsPerLine, lead) - lead);
  return floats.subspan(begin, end - begin);
}

}  // namespace scaling::kernels
