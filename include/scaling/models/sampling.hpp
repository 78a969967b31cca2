#pragma once
// Choosing the next token from logits: greedy, or seeded temperature / top-k sampling.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/core/init.hpp"
#include "scaling/models/stack.hpp"

namespace scaling {

namespace detail {

// Logits a choice can be made from: some, none NaN (a NaN has no place in an order, so the pick
// would depend on where it sits).
inline void check_logits(std::span<const float> logits, const char* who) {
  require(!logits.empty(), who, ": no logits");
  for (std::size_t i = 0; i < logits.size(); ++i) {
    require(!std::isnan(logits[i]), who, ": logit ", i, " is NaN");
  }
}

}  // namespace detail

// The id of the largest logit; ties go to the lowest id.
inline Token greedy(std::span<const float> logits) {
  detail::check_logits(logits, "greedy");
  return static_cast<Token>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Samples from softmax(logits / temperature) restricted to the top_k largest logits (top_k 0:
// all). temperature 0 is greedy. The same seed and logits give the same tokens on every platform
// (splitmix64, no std:: distributions). Logits may be ±inf: +inf is certain (the lowest id of
// those that are), −inf impossible; all −inf, or any NaN, is an error.
class Sampler {
 public:
  Sampler(float temperature, std::size_t top_k, std::uint64_t seed)
      : temperature_(temperature), top_k_(top_k), rng_(seed) {
    detail::require(std::isfinite(temperature) && temperature >= 0.0F,
                    "Sampler: temperature must be finite and >= 0, got ", temperature);
  }

  Token operator()(std::span<const float> logits) {
    if (temperature_ == 0.0F) return greedy(logits);
    detail::check_logits(logits, "Sampler");
    const std::size_t n = logits.size();
    const std::size_t k = top_k_ == 0 ? n : std::min(top_k_, n);
    ids_.resize(n);  // grows once to the vocabulary size, then reused
    for (std::size_t i = 0; i < n; ++i) ids_[i] = static_cast<Token>(i);
    const auto before = [&](Token a, Token b) {  // larger logit first, ties by lower id
      return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)] ||
             (logits[static_cast<std::size_t>(a)] == logits[static_cast<std::size_t>(b)] && a < b);
    };
    std::partial_sort(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(k), ids_.end(), before);
    const auto logit = [&](std::size_t i) { return static_cast<double>(logits[static_cast<std::size_t>(ids_[i])]); };
    const double top = logit(0);
    if (std::isinf(top)) {
      detail::require(top > 0.0, "Sampler: every logit is -inf");
      return ids_[0];
    }
    weights_.resize(k);
    double total = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
      total += weights_[i] = std::exp((logit(i) - top) / static_cast<double>(temperature_));
    }
    const double u = static_cast<double>(rng_.next() >> 11) * 0x1.0p-53 * total;
    double acc = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
      acc += weights_[i];
      if (u < acc) return ids_[i];
    }
    return ids_[k - 1];
  }

 private:
  float temperature_;
  std::size_t top_k_;
  SplitMix64 rng_;
  std::vector<Token> ids_;
  std::vector<double> weights_;
};

}  // namespace scaling
