// Bad input at run time gets a scaling::Error with a message, never undefined behaviour.

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "scaling/io/checkpoint.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using testing::kTiny;

TEST_CASE("decoder-only rejects bad input with a clear error") {
  const DenseDecoderOnly<kTiny, 1> model(1);
  ThreadPool pool(2);
  auto state = model.new_state();
  std::vector<float> logits(kTiny.vocab);
  std::vector<Token> ok{1, 2, 3};

  CHECK_THROWS_WITH_AS(model.decode(state, 1, logits, pool),
                       "scaling: decode: the state holds no tokens; call prefill first", Error);
  CHECK_THROWS_WITH_AS(model.prefill(state, std::vector<Token>{}, logits, pool),
                       "scaling: prefill: the prompt is empty", Error);
  CHECK_THROWS_WITH_AS(model.prefill(state, std::vector<Token>{1, 50}, logits, pool),
                       "scaling: prefill: token 50 at index 1 is outside the vocabulary [0, 50)", Error);
  CHECK_THROWS_WITH_AS(model.prefill(state, std::vector<Token>{-1}, logits, pool),
                       "scaling: prefill: token -1 at index 0 is outside the vocabulary [0, 50)", Error);
  std::vector<Token> too_long(kTiny.max_len + 1, 0);
  CHECK_THROWS_WITH_AS(model.prefill(state, too_long, logits, pool),
                       "scaling: prefill: 71 token(s) at position 0 would pass max_len 70", Error);
  std::vector<float> small(kTiny.vocab - 1);
  CHECK_THROWS_WITH_AS(model.prefill(state, ok, small, pool),
                       "scaling: prefill: the logits buffer holds 49 floats, expected 50", Error);
  std::vector<float> per_position(kTiny.vocab);  // forward wants one row per token
  CHECK_THROWS_WITH_AS(model.forward(state, ok, per_position, pool),
                       "scaling: forward: the logits buffer holds 50 floats, expected 150", Error);
  CHECK(state.position() == 0);  // nothing above touched the state

  model.prefill(state, ok, logits, pool);
  CHECK_THROWS_WITH_AS(model.prefill(state, ok, logits, pool),
                       "scaling: prefill: the state already holds 3 tokens; call reset() first or continue with decode",
                       Error);
  CHECK_THROWS_WITH_AS(model.decode(state, std::numeric_limits<Token>::max(), logits, pool),
                       "scaling: decode: token 2147483647 at index 0 is outside the vocabulary [0, 50)", Error);
  CHECK_THROWS_AS(model.decode(state, 1, small, pool), Error);

  // Decode up to max_len, then one more is an error.
  while (state.position() < kTiny.max_len) model.decode(state, 1, logits, pool);
  CHECK_THROWS_WITH_AS(model.decode(state, 1, logits, pool),
                       "scaling: decode: 1 token(s) at position 70 would pass max_len 70", Error);
  CHECK(state.position() == kTiny.max_len);
}

TEST_CASE("encoder-decoder rejects bad input with a clear error") {
  const DenseEncoderDecoder<kTiny, 1, 1> model(1);
  ThreadPool pool(1);
  auto state = model.new_state();
  std::vector<float> logits(kTiny.vocab);
  std::vector<Token> ok{1, 2};
  CHECK_THROWS_WITH_AS(model.prefill(state, ok, logits, pool),
                       "scaling: prefill: no input encoded; call encode first", Error);
  CHECK_THROWS_WITH_AS(model.decode(state, 1, logits, pool),
                       "scaling: decode: no input encoded; call encode first", Error);
  CHECK_THROWS_WITH_AS(model.encode(state, std::vector<Token>{}, pool), "scaling: encode: the input is empty", Error);
  CHECK_THROWS_WITH_AS(model.encode(state, std::vector<Token>(kTiny.max_len + 1, 0), pool),
                       "scaling: encode: 71 token(s) at position 0 would pass max_len 70", Error);
  CHECK_THROWS_AS(model.encode(state, std::vector<Token>{3, 99}, pool), Error);
  model.encode(state, ok, pool);
  CHECK_THROWS_WITH_AS(model.decode(state, 1, logits, pool),
                       "scaling: decode: the state holds no tokens; call prefill first", Error);
  model.prefill(state, ok, logits, pool);
  model.decode(state, 4, logits, pool);
  CHECK(state.position() == 3);
}

TEST_CASE("a moved-from state is rejected; the state it moved to decodes on") {
  const DenseDecoderOnly<kTiny, 1> model(1);
  ThreadPool pool(2);
  std::vector<float> logits(kTiny.vocab);
  std::vector<float> expected(kTiny.vocab);
  const std::vector<Token> prompt{1, 2, 3};
  auto reference = model.new_state();
  model.prefill(reference, prompt, expected, pool);
  model.decode(reference, 4, expected, pool);

  auto state = model.new_state();
  model.prefill(state, prompt, logits, pool);
  std::vector<decltype(state)> states;
  states.push_back(std::move(state));  // as a vector that grows moves its states
  state.reset();
  const char* moved = ": the state was moved from; get a new one from new_state()";
  CHECK_THROWS_WITH_AS(model.prefill(state, prompt, logits, pool),
                       (std::string("scaling: prefill") + moved).c_str(), Error);
  CHECK_THROWS_WITH_AS(model.forward(state, prompt, logits, pool),
                       (std::string("scaling: forward") + moved).c_str(), Error);
  CHECK_THROWS_WITH_AS(model.decode(state, 4, logits, pool),
                       (std::string("scaling: decode") + moved).c_str(), Error);
  model.decode(states[0], 4, logits, pool);
  CHECK(logits == expected);
  state = model.new_state();  // a moved-from state can be assigned a new one
  model.prefill(state, prompt, logits, pool);

  const DenseEncoderDecoder<kTiny, 1, 1> seq2seq(1);
  auto from = seq2seq.new_state();
  seq2seq.encode(from, prompt, pool);
  seq2seq.prefill(from, prompt, logits, pool);
  auto to = std::move(from);
  seq2seq.decode(to, 4, logits, pool);
  CHECK_THROWS_WITH_AS(seq2seq.encode(from, prompt, pool),
                       (std::string("scaling: encode") + moved).c_str(), Error);
  CHECK_THROWS_WITH_AS(seq2seq.prefill(from, prompt, logits, pool),
                       (std::string("scaling: prefill") + moved).c_str(), Error);
  CHECK_THROWS_WITH_AS(seq2seq.decode(from, 4, logits, pool),
                       (std::string("scaling: decode") + moved).c_str(), Error);
}

TEST_CASE("a moved-from model is rejected; the model it moved to runs on") {
  ThreadPool pool(2);
  const std::vector<Token> prompt{1, 2, 3};
  std::vector<float> expected(kTiny.vocab);
  std::vector<float> logits(kTiny.vocab);
  DenseDecoderOnly<kTiny, 1> reference(1);
  auto ref_state = reference.new_state();
  reference.prefill(ref_state, prompt, expected, pool);

  DenseDecoderOnly<kTiny, 1> from(1);
  auto state = from.new_state();
  const DenseDecoderOnly<kTiny, 1> to(std::move(from));
  to.prefill(state, prompt, logits, pool);
  CHECK(logits == expected);
  state.reset();
  CHECK(from.weight_bytes() == 0);
  CHECK_THROWS_WITH_AS(from.prefill(state, prompt, logits, pool),
                       "scaling: prefill: the model was moved from", Error);
  CHECK_THROWS_WITH_AS(from.forward(state, prompt, logits, pool),
                       "scaling: forward: the model was moved from", Error);
  to.prefill(state, prompt, logits, pool);
  CHECK_THROWS_WITH_AS(from.decode(state, 4, logits, pool),
                       "scaling: decode: the model was moved from", Error);
  CHECK_THROWS_WITH_AS(from.prepare(), "scaling: prepare: the model was moved from", Error);
  CHECK_THROWS_WITH_AS(io::save_checkpoint(from, "unused.safetensors"),
                       "scaling: unused.safetensors: cannot save a model that was moved from",
                       Error);
  io::SafeTensorsWriter empty;
  const io::SafeTensorsFile file("mem.safetensors", empty.bytes());
  CHECK_THROWS_WITH_AS(io::load_checkpoint(from, file),
                       "scaling: mem.safetensors: cannot load into a model that was moved from",
                       Error);

  DenseEncoderDecoder<kTiny, 1, 1> seq2seq_from(1);
  const DenseEncoderDecoder<kTiny, 1, 1> seq2seq(std::move(seq2seq_from));
  auto s = seq2seq.new_state();
  CHECK_THROWS_WITH_AS(seq2seq_from.encode(s, prompt, pool),
                       "scaling: encode: the model was moved from", Error);
  seq2seq.encode(s, prompt, pool);
  CHECK_THROWS_WITH_AS(seq2seq_from.prefill(s, prompt, logits, pool),
                       "scaling: prefill: the model was moved from", Error);
  seq2seq.prefill(s, prompt, logits, pool);
  CHECK_THROWS_WITH_AS(seq2seq_from.decode(s, 4, logits, pool),
                       "scaling: decode: the model was moved from", Error);
}

TEST_CASE("a pool larger than the supported team is rejected") {
  const DenseDecoderOnly<kTiny, 1> model(1);
  ThreadPool pool(kMaxTeam + 1);
  auto state = model.new_state();
  std::vector<float> logits(kTiny.vocab);
  CHECK_THROWS_AS(model.prefill(state, std::vector<Token>{1}, logits, pool), Error);
}

}  // namespace
