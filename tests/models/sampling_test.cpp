// Greedy and seeded temperature / top-k sampling.

#include <doctest/doctest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "scaling/models/sampling.hpp"

namespace {

using namespace scaling;

TEST_CASE("greedy takes the largest logit with ties to the lowest id") {
  CHECK(greedy(std::vector<float>{0.5F, 2.0F, -1.0F, 2.0F}) == 1);
  CHECK(greedy(std::vector<float>{3.0F}) == 0);
  CHECK_THROWS_AS(greedy(std::vector<float>{}), Error);
}

TEST_CASE("temperature 0 and top_k 1 are greedy") {
  const std::vector<float> logits{0.1F, 0.3F, 0.2F, 0.3F};
  Sampler zero(0.0F, 0, 1);
  Sampler top1(1.0F, 1, 1);
  for (int i = 0; i < 20; ++i) {
    CHECK(zero(logits) == 1);
    CHECK(top1(logits) == 1);
  }
  // top_k above the number of logits is all of them, as top_k 0.
  Sampler all(0.8F, 0, 7);
  Sampler big(0.8F, 100, 7);
  for (int i = 0; i < 200; ++i) CHECK(big(logits) == all(logits));
  CHECK_THROWS_AS(Sampler(-1.0F, 0, 1), Error);
  CHECK_THROWS_AS(Sampler(NAN, 0, 1), Error);
}

TEST_CASE("sampling is reproducible from the seed and follows softmax(logits / T) over the top k") {
  const std::vector<float> logits{1.0F, 0.0F, 2.0F, -1.0F, 1.5F};
  Sampler a(0.7F, 3, 42);
  Sampler b(0.7F, 3, 42);
  std::vector<int> counts(logits.size(), 0);
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const Token t = a(logits);
    CHECK(t == b(logits));
    ++counts[static_cast<std::size_t>(t)];
  }
  // Only the top 3 (ids 2, 4, 0) are ever drawn.
  CHECK(counts[1] == 0);
  CHECK(counts[3] == 0);
  // Frequencies within 5 standard deviations of softmax over {2, 1.5, 1} / 0.7.
  const double z = std::exp(2.0 / 0.7) + std::exp(1.5 / 0.7) + std::exp(1.0 / 0.7);
  for (const auto& [id, logit] : {std::pair{2, 2.0}, std::pair{4, 1.5}, std::pair{0, 1.0}}) {
    const double p = std::exp(logit / 0.7) / z;
    const double sd = std::sqrt(kDraws * p * (1 - p));
    CAPTURE(id);
    CHECK(std::abs(counts[static_cast<std::size_t>(id)] - kDraws * p) <= 5 * sd);
  }
  Sampler other(0.7F, 3, 43);
  int same = 0;
  Sampler again(0.7F, 3, 42);
  for (int i = 0; i < 100; ++i) same += other(logits) == again(logits) ? 1 : 0;
  CHECK(same < 100);  // a different seed gives a different sequence
}

TEST_CASE("sampling follows softmax for logits whose exponentials over- or underflow") {
  // exp(1000) overflows and exp(-1000) underflows even in double: the sampler must subtract the
  // largest logit first. Softmax of {0, -1, -2} and of {0, -1}, shifted by ±1000.
  constexpr int kDraws = 20000;
  const std::vector<std::pair<std::vector<float>, std::vector<double>>> cases{
      {{998.0F, 1000.0F, 999.0F}, {-2.0, 0.0, -1.0}}, {{-1001.0F, -1000.0F}, {-1.0, 0.0}}};
  for (const auto& [logits, shifted] : cases) {
    Sampler s(1.0F, 0, 11);
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(s(logits))];
    double z = 0.0;
    for (const double l : shifted) z += std::exp(l);
    for (std::size_t id = 0; id < logits.size(); ++id) {
      const double p = std::exp(shifted[id]) / z;
      const double sd = std::sqrt(kDraws * p * (1 - p));
      CAPTURE(logits[0]);
      CAPTURE(id);
      CHECK(std::abs(counts[id] - kDraws * p) <= 5 * sd);
    }
  }
}

TEST_CASE("logits with NaN are an error; +inf is certain, -inf never drawn") {
  const float inf = INFINITY;
  for (const std::vector<float>& bad :
       {std::vector<float>{NAN, 1.0F, 9.0F}, std::vector<float>{1.0F, NAN, 9.0F}}) {
    CHECK_THROWS_WITH_AS(greedy(bad), doctest::Contains("greedy: logit"), Error);
    Sampler s(1.0F, 0, 3);
    CHECK_THROWS_WITH_AS(s(bad), doctest::Contains("is NaN"), Error);
  }
  CHECK_THROWS_WITH_AS(greedy(std::vector<float>{1.0F, NAN}), "scaling: greedy: logit 1 is NaN",
                       Error);
  const std::vector<float> certain{0.0F, 5.0F, inf, -3.0F, inf};
  const std::vector<float> some_impossible{-inf, 0.0F, -inf, 0.0F};
  for (std::size_t top_k : {0U, 2U}) {
    Sampler s(1.0F, top_k, 5);
    std::vector<int> counts(4, 0);
    for (int i = 0; i < 200; ++i) {
      CHECK(s(certain) == 2);  // the lowest id of the +inf logits
      ++counts[static_cast<std::size_t>(s(some_impossible))];
    }
    CHECK(counts[0] == 0);
    CHECK(counts[2] == 0);
    CHECK(counts[1] > 0);
    CHECK(counts[3] > 0);
  }
  CHECK(greedy(certain) == 2);
  Sampler s(1.0F, 0, 5);
  CHECK_THROWS_WITH_AS(s(std::vector<float>{-inf, -inf}), "scaling: Sampler: every logit is -inf",
                       Error);
}

}  // namespace
