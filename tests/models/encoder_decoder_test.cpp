// Encoder–decoder stack: against the double-precision reference, decode against forward, threads.

#include <doctest/doctest.h>

#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::testing;

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

TEST_CASE("encoder-decoder: a shorter second input on the same state acts as on a fresh state") {
  using Model = DenseEncoderDecoder<kTiny, 1, 1>;
  const Model model(3);
  ThreadPool pool(1);
  const auto long_input = random_tokens(16, kTiny.vocab, 1);
  const auto short_input = random_tokens(5, kTiny.vocab, 2);
  const auto tokens = random_tokens(4, kTiny.vocab, 3);
  std::vector<float> reused(tokens.size() * kTiny.vocab);
  std::vector<float> fresh(tokens.size() * kTiny.vocab);
  auto state = model.new_state();
  model.encode(state, long_input, pool);
  model.encode(state, short_input, pool);
  CHECK(state.input_length() == 5);
  model.forward(state, tokens, reused, pool);
  auto other = model.new_state();
  model.encode(other, short_input, pool);
  model.forward(other, tokens, fresh, pool);
  CHECK(reused == fresh);  // the cross-attention cache holds the 5 new rows only
}

}  // namespace
