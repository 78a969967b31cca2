#pragma once
// Helpers shared by the model tests.

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "reference/model.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/threads.hpp"
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

// Checks a decoder-only model with random weights on random tokens: a full forward pass against
// the double-precision reference, then prefill + token-by-token decode against that forward pass,
// bitwise. Returns the logits of the prefill and every decode step.
template <class Model>
std::vector<float> check_decoder_only(std::size_t prompt_len, std::size_t total, unsigned threads = 2) {
  constexpr Dims kD = Model::kDims;
  const Model model(7);
  const auto tokens = random_tokens(total, kD.vocab, 99);
  const Rows want = decoder_only_logits<Model>(model.weights(), tokens);

  // 1. One full-sequence forward pass (chunks of kPrefillChunk) against the reference.
  ThreadPool pool(threads);
  auto state = model.new_state();
  std::vector<float> all(total * kD.vocab);
  model.forward(state, tokens, all, pool);
  CHECK(state.position() == total);
  check_close(all, want, 1e-4);

  // 2. Prefill a prompt, then decode the rest token by token: the same logits, bitwise (each
  //    output is computed by the same instruction sequence in gemm and matvec).
  state.reset();
  std::vector<float> step(kD.vocab);
  std::vector<float> trace;
  model.prefill(state, std::span(tokens).first(prompt_len), step, pool);
  std::vector<float> last_prompt(all.begin() + static_cast<std::ptrdiff_t>((prompt_len - 1) * kD.vocab),
                                 all.begin() + static_cast<std::ptrdiff_t>(prompt_len * kD.vocab));
  CHECK(step == last_prompt);
  trace.insert(trace.end(), step.begin(), step.end());
  for (std::size_t t = prompt_len; t < total; ++t) {
    model.decode(state, tokens[t], step, pool);
    const std::vector<float> row(all.begin() + static_cast<std::ptrdiff_t>(t * kD.vocab),
                                 all.begin() + static_cast<std::ptrdiff_t>((t + 1) * kD.vocab));
    CAPTURE(t);
    CHECK(step == row);
    trace.insert(trace.end(), step.begin(), step.end());
  }
  CHECK(state.position() == total);
  return trace;
}

// The same for an encoder–decoder model, with an encoder input of input_len tokens.
template <class Model>
std::vector<float> check_encoder_decoder(std::size_t input_len, std::size_t prompt_len,
                                         std::size_t total, unsigned threads) {
  constexpr Dims kD = Model::kDims;
  const Model model(21);
  const auto input = random_tokens(input_len, kD.vocab, 8);
  const auto tokens = random_tokens(total, kD.vocab, 9);
  const Rows want = encoder_decoder_logits<Model>(model.weights(), input, tokens);

  ThreadPool pool(threads);
  auto state = model.new_state();
  model.encode(state, input, pool);
  CHECK(state.input_length() == input_len);
  std::vector<float> all(total * kD.vocab);
  model.forward(state, tokens, all, pool);
  check_close(all, want, 1e-4);

  // encode() starts a new sequence; prefill + decode reproduce forward bitwise.
  model.encode(state, input, pool);
  CHECK(state.position() == 0);
  std::vector<float> step(kD.vocab);
  std::vector<float> trace;
  model.prefill(state, std::span(tokens).first(prompt_len), step, pool);
  trace.insert(trace.end(), step.begin(), step.end());
  CHECK(std::equal(step.begin(), step.end(), all.begin() + static_cast<std::ptrdiff_t>((prompt_len - 1) * kD.vocab)));
  for (std::size_t t = prompt_len; t < total; ++t) {
    model.decode(state, tokens[t], step, pool);
    CAPTURE(t);
    CHECK(std::equal(step.begin(), step.end(), all.begin() + static_cast<std::ptrdiff_t>(t * kD.vocab)));
    trace.insert(trace.end(), step.begin(), step.end());
  }
  return trace;
}

}  // namespace scaling::testing
