#pragma once
// Helpers shared by the model tests.

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "reference/model.hpp"
#include "scaling/core/init.hpp"
#include "scaling/models/stack.hpp"

namespace scaling::testing {

inline std::vector<Token> random_tokens(std::size_t n, std::size_t vocab, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<Token> t(n);
  for (auto& x : t) x = static_cast<Token>(rng.next() % vocab);
  return t;
}

// |got - want| ≤ tol for every logit of every row. Logits here are O(1); the float model and the
// double reference differ by accumulated rounding (~1e-6 relative per layer).
inline void check_close(std::span<const float> got, const Rows& want, double tol) {
  const std::size_t vocab = want.front().size();
  REQUIRE(got.size() == want.size() * vocab);
  double worst = 0;
  for (std::size_t t = 0; t < want.size(); ++t) {
    for (std::size_t i = 0; i < vocab; ++i) worst = std::max(worst, std::abs(got[t * vocab + i] - want[t][i]));
  }
  CAPTURE(worst);
  CHECK(worst <= tol);
}

}  // namespace scaling::testing
