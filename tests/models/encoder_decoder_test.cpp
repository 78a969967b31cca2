// Encoder–decoder stack: against the double-precision reference, decode against forward, threads.

#include <doctest/doctest.h>

#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::testing;

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

TEST_CASE("encoder-decoder: forward and token-by-token decode match the reference") {
  check_encoder_decoder<DenseEncoderDecoder<kTiny, 2, 2>>(16, 1, 10, 2);
  check_encoder_decoder<DenseEncoderDecoder<kOddHeads, 1, 2>>(7, 3, 8, 2);
  check_encoder_decoder<DenseEncoderDecoder<kTiny, 1, 1>>(kTiny.max_len, 40, kTiny.max_len, 2);
}

TEST_CASE("encoder-decoder: 1 and 2 threads give bitwise identical logits") {
  using Model = DenseEncoderDecoder<kTiny, 2, 2>;
  const auto one = check_encoder_decoder<Model>(16, 2, 9, 1);
  const auto two = check_encoder_decoder<Model>(16, 2, 9, 2);
  CHECK(one == two);
}

}  // namespace
