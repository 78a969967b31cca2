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

}  // namespace
