// Decoder-only stack: prefill, forward and decode against the double-precision reference, against
// each other, and across thread counts.

#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::testing;

TEST_CASE("decoder-only: forward and token-by-token decode match the reference") {
  check_decoder_only<DenseDecoderOnly<kTiny, 2>>(5, 12);
  check_decoder_only<DenseDecoderOnly<kOddHeads, 3>>(1, 9);
}

TEST_CASE("decoder-only: prompts longer than one prefill chunk") {
  // 45 tokens = a full chunk of 32 and a partial one; decode continues to max_len.
  check_decoder_only<DenseDecoderOnly<kTiny, 2>>(45, kTiny.max_len);
  // Prompts of exactly one and two whole chunks: prefill's last chunk is a full one.
  check_decoder_only<DenseDecoderOnly<kTiny, 2>>(kPrefillChunk, 40);
  check_decoder_only<DenseDecoderOnly<kTiny, 2>>(2 * kPrefillChunk, kTiny.max_len);
}

TEST_CASE("decoder-only: 1 and 2 and 3 threads give bitwise identical logits") {
  using Model = DenseDecoderOnly<kTiny, 2>;
  const Model model(3);
  const auto tokens = random_tokens(40, kTiny.vocab, 5);
  std::vector<std::vector<float>> results;
  for (unsigned threads : {1U, 2U, 3U}) {
    ThreadPool pool(threads);
    auto state = model.new_state();
    std::vector<float> logits(kTiny.vocab);
    std::vector<float> trace;
    model.prefill(state, std::span(tokens).first(35), logits, pool);
    trace.insert(trace.end(), logits.begin(), logits.end());
    for (std::size_t t = 35; t < tokens.size(); ++t) {
      model.decode(state, tokens[t], logits, pool);
      trace.insert(trace.end(), logits.begin(), logits.end());
    }
    results.push_back(trace);
  }
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
}

TEST_CASE("decoder-only: several sequences decode from one const model at once") {
  using Model = DenseDecoderOnly<kTiny, 2>;
  const Model model(11);
  const auto a = random_tokens(20, kTiny.vocab, 1);
  const auto b = random_tokens(20, kTiny.vocab, 2);
  const auto run = [&](const std::vector<Token>& tokens, std::vector<float>& out) {
    ThreadPool pool(1);
    auto state = model.new_state();
    out.resize(tokens.size() * kTiny.vocab);
    model.forward(state, tokens, out, pool);
  };
  std::vector<float> alone_a;
  std::vector<float> alone_b;
  run(a, alone_a);
  run(b, alone_b);
  std::vector<float> together_a;
  std::vector<float> together_b;
  std::thread ta([&] { run(a, together_a); });
  std::thread tb([&] { run(b, together_b); });
  ta.join();
  tb.join();
  CHECK(together_a == alone_a);
  CHECK(together_b == alone_b);
}

}  // namespace
