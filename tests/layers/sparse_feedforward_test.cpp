// Sparse FF against its definition: a dense feedforward in which every unit the controller did
// not choose is zero, computed here in double precision from the weights.

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/layers/sparse_feedforward.hpp"
#include "scaling/layers/workspace.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using testing::kOddHeads;
using testing::kTiny;

template <Dims D, std::size_t N, std::size_t R>
void check_against_dense_masked(std::size_t tokens) {
  using Ff = SparseFeedForward<D, N, R>;
  CAPTURE(N);
  CAPTURE(R);
  Owned<typename Ff::Weights> owned;
  init_random(owned.get(), 17 + N);
  const auto& w = owned.get();
  Workspace<D, 8> ws;
  SplitMix64 rng(5);
  std::vector<float> xn(tokens * D.d_model);
  std::vector<float> x(tokens * D.d_model);
  for (auto& e : xn) e = rng.symmetric(1.0F);
  for (auto& e : x) e = rng.symmetric(1.0F);
  const std::vector<float> x0 = x;

  typename Ff::State state;
  const Team solo = Team::solo();
  Ff::template forward<simd::DefaultArch>(Step{solo, 0, tokens}, w, state, ws, xn.data(), x.data());

  for (std::size_t t = 0; t < tokens; ++t) {
    const float* in = xn.data() + t * D.d_model;
    // Controller in double: u = C1 x, logits = C2 u + c.
    std::vector<double> u(R, 0.0);
    for (std::size_t l = 0; l < R; ++l) {
      for (std::size_t i = 0; i < D.d_model; ++i) u[l] += static_cast<double>(w.controller_in.data[l * D.d_model + i]) * in[i];
    }
    std::vector<double> logits(D.d_ff);
    for (std::size_t f = 0; f < D.d_ff; ++f) {
      logits[f] = w.controller_bias.data[f];
      for (std::size_t l = 0; l < R; ++l) logits[f] += static_cast<double>(w.controller_out.data[f * R + l]) * u[l];
    }
    std::vector<double> out(D.d_model);
    for (std::size_t i = 0; i < D.d_model; ++i) out[i] = static_cast<double>(x0[t * D.d_model + i]) + w.out_bias.data[i];
    for (std::size_t b = 0; b < Ff::kBlocks; ++b) {
      // The unit the layer chose must be the block's argmax (up to float rounding of the logits:
      // where two logits are closer than that, either is a correct choice).
      const std::uint32_t chosen = ws.choice[t * Ff::kBlocks + b];
      REQUIRE(chosen / N == b);
      double best = logits[b * N];
      for (std::size_t j = 1; j < N; ++j) best = std::max(best, logits[b * N + j]);
      CHECK(logits[chosen] >= best - 1e-4);
      // Dense-masked: only the chosen unit is non-zero.
      double h = 0.0;
      for (std::size_t i = 0; i < D.d_model; ++i) h += static_cast<double>(w.in.data[chosen * D.d_model + i]) * in[i];
      h = h > 0 ? h : 0.0;
      for (std::size_t i = 0; i < D.d_model; ++i) out[i] += h * w.out.data[chosen * D.d_model + i];
    }
    for (std::size_t i = 0; i < D.d_model; ++i) CHECK(x[t * D.d_model + i] == doctest::Approx(out[i]).epsilon(1e-5));
  }
}

TEST_CASE("Sparse FF equals a dense feedforward with the units not chosen zeroed") {
  check_against_dense_masked<kTiny, 8, kTiny.d_ff / 8>(3);  // r = d_ff / N (reference code)
  check_against_dense_masked<kTiny, 4, 5>(1);               // r given explicitly
  check_against_dense_masked<kOddHeads, 13, 2>(2);          // 52 = 4 blocks of 13
  check_against_dense_masked<kTiny, 1, 3>(2);               // N = 1: every unit, the dense FF
}

TEST_CASE("Sparse FF chooses by argmax with ties to the lowest unit") {
  using Ff = SparseFeedForward<kTiny, 8, 2>;
  Owned<Ff::Weights> owned;  // all zero: every logit of a block equals its bias
  auto& w = owned.get();
  for (std::size_t f = 0; f < kTiny.d_ff; ++f) w.controller_bias.data[f] = (f % 8 == 3 || f % 8 == 6) ? 1.0F : 0.0F;
  Workspace<kTiny, 1> ws;
  std::vector<float> xn(kTiny.d_model, 0.5F);
  const Team solo = Team::solo();
  Ff::select<simd::DefaultArch>(Step{solo, 0, 1}, w, ws, xn.data());
  for (std::size_t b = 0; b < Ff::kBlocks; ++b) CHECK(ws.choice[b] == b * 8 + 3);
}

// Decode chooses from an int8 copy of C2 where that decides (kernels/screen.hpp); prefill and
// unprepared weights use C2 in fp32. Both must choose the same units, so the outputs are bitwise
// equal. With a small spread a block's logits crowd together, so fp32 must decide often.
template <Dims D, std::size_t N, std::size_t R>
void check_screen_equals_fp32(float spread) {
  using Ff = SparseFeedForward<D, N, R>;
  CAPTURE(N);
  CAPTURE(R);
  CAPTURE(spread);
  Owned<typename Ff::Weights> owned;
  init_random(owned.get(), 23 + N);
  // Every unit of a block = the block's first unit + spread × its own random weights.
  auto& w = owned.get();
  for (std::size_t f = 0; f < D.d_ff; ++f) {
    if (f % N == 0) continue;
    const std::size_t first = f - f % N;
    for (std::size_t l = 0; l < R; ++l) {
      w.controller_out.data[f * R + l] = w.controller_out.data[first * R + l] + spread * w.controller_out.data[f * R + l];
    }
    w.controller_bias.data[f] = w.controller_bias.data[first] + spread * w.controller_bias.data[f];
  }
  SplitMix64 rng(6);
  const Team solo = Team::solo();
  for (std::size_t tokens : {1U, 3U}) {
    std::vector<float> xn(tokens * D.d_model);
    for (std::size_t trial = 0; trial < 20; ++trial) {
      for (auto& e : xn) e = rng.symmetric(1.0F);
      std::vector<std::vector<float>> out;
      std::vector<std::vector<std::uint32_t>> chosen;
      for (const bool screened : {false, true}) {
        if (screened) {
          owned.prepare();
        } else {
          owned.drop_derived();
        }
        REQUIRE(owned.get().controller_screen.ready == screened);
        Workspace<D, 3> ws;
        std::vector<float> x(tokens * D.d_model, 0.5F);
        typename Ff::State state;
        Ff::template forward<simd::DefaultArch>(Step{solo, 0, tokens}, owned.get(), state, ws, xn.data(), x.data());
        out.push_back(x);
        chosen.emplace_back(ws.choice.begin(), ws.choice.begin() + static_cast<std::ptrdiff_t>(tokens * Ff::kBlocks));
      }
      CHECK(chosen[0] == chosen[1]);
      CHECK(out[0] == out[1]);
    }
  }
}

TEST_CASE("Sparse FF decode with the int8 screen equals the fp32 path bitwise") {
  for (const float spread : {1.0F, 3e-2F, 1e-2F, 3e-3F, 1e-5F}) {
    check_screen_equals_fp32<kTiny, 8, kTiny.d_ff / 8>(spread);
    check_screen_equals_fp32<kTiny, 24, 40>(spread);  // a group of 16 rows and part of one
    check_screen_equals_fp32<kOddHeads, 13, 2>(spread);
  }
}

TEST_CASE("a model's mutable weights() drops derived data until prepare()") {
  using Model = DecoderOnly<kTiny, DecoderBlock<LayerNorm<kTiny.d_model>, CausalSelfAttention<kTiny>,
                                                SparseFeedForward<kTiny, 8>>, 1>;
  Model model(4);
  const auto& view = std::as_const(model).weights().decoder.layers[0].ff;
  CHECK(view.controller_screen.ready);
  CHECK(view.controller_bounds.ready);
  model.weights().decoder.layers[0].ff.controller_out.data[0] = 2.0F;
  CHECK(!view.controller_screen.ready);
  CHECK(!view.controller_bounds.ready);
  model.prepare();
  CHECK(view.controller_screen.ready);
  // Row 0's largest weight is now 2: its scale is 2 / 127 and its first weight 127 steps.
  CHECK(std::bit_cast<float>(view.controller_screen.data[0]) == static_cast<float>(2.0 / 127.0));
  CHECK((view.controller_screen.data[kernels::kScreenGroup] & 0xFFU) == 127U);
  // The bounds depend on the bias too: block 0's largest |bias| becomes 7.
  model.weights().decoder.layers[0].ff.controller_bias.data[1] = -7.0F;
  CHECK(!view.controller_bounds.ready);
  model.prepare();
  CHECK(view.controller_bounds.data[2] == 7.0F);
}

using SparseBlock = DecoderBlock<LayerNorm<kTiny.d_model>, CausalSelfAttention<kTiny>, SparseFeedForward<kTiny, 8>>;
using SparseModel = DecoderOnly<kTiny, SparseBlock, 2>;

TEST_CASE("decoder-only with Sparse FF: decode equals forward and threads agree bitwise") {
  const SparseModel model(9);
  const auto tokens = testing::random_tokens(40, kTiny.vocab, 3);
  std::vector<std::vector<float>> traces;
  for (unsigned threads : {1U, 2U}) {
    ThreadPool pool(threads);
    auto state = model.new_state();
    std::vector<float> all(tokens.size() * kTiny.vocab);
    model.forward(state, tokens, all, pool);  // chunks of 32 + 8 tokens
    state.reset();
    std::vector<float> step(kTiny.vocab);
    model.prefill(state, std::span(tokens).first(5), step, pool);
    CHECK(std::equal(step.begin(), step.end(), all.begin() + 4 * kTiny.vocab));
    for (std::size_t t = 5; t < tokens.size(); ++t) {
      model.decode(state, tokens[t], step, pool);
      CAPTURE(t);
      CHECK(std::equal(step.begin(), step.end(), all.begin() + static_cast<std::ptrdiff_t>(t * kTiny.vocab)));
    }
    traces.push_back(all);
  }
  CHECK(traces[0] == traces[1]);
}

}  // namespace
