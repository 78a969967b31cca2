// Layers held alone: weight listing (names, counts, arena layout) and the feedforward sublayer
// against the reference.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "reference/model.hpp"
#include "scaling/core/init.hpp"
#include "scaling/kernels/reference/reference.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using testing::kTiny;

struct Names : detail::NamedVisitor {
  std::vector<std::string> names;
  template <std::size_t... E>
  void tensor(std::string_view leaf, Tensor<E...>& /*t*/, Init /*init*/) {
    names.push_back(name(leaf));
  }
};

TEST_CASE("weights are listed under stable dotted names") {
  DenseEncoderDecoder<kTiny, 1, 1>::Weights w;
  Names v;
  w.visit(v);
  const std::vector<std::string> head{"embedding", "encoder.positions", "encoder.layers.0.attn_norm.gain",
                                      "encoder.layers.0.attn_norm.bias", "encoder.layers.0.attn.q.w"};
  REQUIRE(v.names.size() > head.size());
  CHECK(std::vector<std::string>(v.names.begin(), v.names.begin() + 5) == head);
  CHECK(std::find(v.names.begin(), v.names.end(), "decoder.layers.0.cross.k.b") != v.names.end());
  CHECK(v.names.back() == "logits.b");
}

TEST_CASE("parameter count of the paper's 800M baseline") {
  T5LargeDense::Weights w;  // views only: nothing is allocated
  const std::size_t d = 1024;
  const std::size_t f = 4096;
  const std::size_t attn = 4 * (d * d + d);
  const std::size_t ff = d * f + f + f * d + d;
  const std::size_t norm = 2 * d;
  const std::size_t encoder_block = attn + ff + 2 * norm;
  const std::size_t decoder_block = 2 * attn + ff + 3 * norm;
  const std::size_t expected = 32000 * d                    // shared embedding
                               + 2 * (512 * d + norm)       // positions + final norms
                               + 24 * (encoder_block + decoder_block) + 32000 * d + 32000;
  CHECK(count_params(w) == expected);
  CHECK(expected / 1000000 == 772);  // the spec's ≈772M
}

TEST_CASE("every tensor of an owned model starts on a 64-byte boundary and init is deterministic") {
  using Model = DenseDecoderOnly<kTiny, 2>;
  const Model a(5);
  const Model b(5);
  const Model c(6);
  CHECK(reinterpret_cast<std::uintptr_t>(a.weights().decoder.layers[1].ff.in.w.data) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(a.weights().logits.b.data) % 64 == 0);
  const auto span_a = a.weights().embedding.span();
  CHECK(std::equal(span_a.begin(), span_a.end(), b.weights().embedding.data));
  CHECK(!std::equal(span_a.begin(), span_a.end(), c.weights().embedding.data));
  // Learned positions start as sin/cos.
  CHECK(a.weights().decoder.positions.data[3 * kTiny.d_model + 0] == doctest::Approx(std::sin(3.0)));
  CHECK(a.weights().decoder.positions.data[3 * kTiny.d_model + 1] == doctest::Approx(std::cos(3.0)));
  CHECK(a.weights().decoder.positions.data[3 * kTiny.d_model + 5] ==
        doctest::Approx(scaling::reference::sinusoid(3, 5, kTiny.d_model)));
}

TEST_CASE("the dense feedforward sublayer adds FF(xn) to the residual") {
  using Ff = DenseFeedForward<kTiny>;
  Owned<Ff::Weights> weights;
  init_random(weights.get(), 3);
  Workspace<kTiny, 3> ws;
  SplitMix64 rng(1);
  std::vector<float> xn(3 * kTiny.d_model);
  std::vector<float> x(3 * kTiny.d_model);
  for (auto& e : xn) e = rng.symmetric(1.0F);
  for (auto& e : x) e = rng.symmetric(1.0F);
  testing::Rows xn_rows(3);
  testing::Rows x_rows(3);
  for (std::size_t t = 0; t < 3; ++t) {
    xn_rows[t].assign(xn.begin() + static_cast<std::ptrdiff_t>(t * kTiny.d_model), xn.begin() + static_cast<std::ptrdiff_t>((t + 1) * kTiny.d_model));
    x_rows[t].assign(x.begin() + static_cast<std::ptrdiff_t>(t * kTiny.d_model), x.begin() + static_cast<std::ptrdiff_t>((t + 1) * kTiny.d_model));
  }
  testing::add(x_rows, testing::feedforward(weights.get(), xn_rows));
  Ff::State state;
  const Team solo = Team::solo();
  Ff::forward<simd::DefaultArch>(Step{solo, 0, 3}, weights.get(), state, ws, xn.data(), x.data());
  for (std::size_t t = 0; t < 3; ++t) {
    for (std::size_t i = 0; i < kTiny.d_model; ++i) CHECK(x[t * kTiny.d_model + i] == doctest::Approx(x_rows[t][i]).epsilon(1e-5));
  }
}

}  // namespace

#include "scaling/layers/multiplicative_dense.hpp"

namespace {

TEST_CASE("MultiplicativeDense equals x times its materialised dense matrix, token by token") {
  constexpr std::size_t kIn = 24;
  constexpr std::size_t kOut = 36;
  constexpr std::size_t kS = 6;  // 6 modules of 6 outputs
  using Layer = scaling::MultiplicativeDense<kIn, kOut, kS>;
  scaling::Owned<Layer::Weights> owned;
  scaling::init_random(owned.get(), 4);
  const auto& w = owned.get();
  scaling::SplitMix64 rng(8);
  std::vector<float> x(2 * kIn);
  for (auto& e : x) e = rng.symmetric(1.0F);
  std::vector<float> y(2 * kOut);
  Layer::apply(scaling::Team::solo(), w, x.data(), 2, y.data());
  for (std::size_t t = 0; t < 2; ++t) {
    for (std::size_t o = 0; o < kOut; ++o) {
      const std::size_t s = o / Layer::kModuleWidth;
      const std::size_t m = o % Layer::kModuleWidth;
      double want = w.b.data[o];
      for (std::size_t i = 0; i < kIn; ++i) {
        want += static_cast<double>(x[t * kIn + i]) * w.d.data[s * kIn + i] * w.e.data[i * Layer::kModuleWidth + m];
      }
      CHECK(y[t * kOut + o] == doctest::Approx(want).epsilon(1e-5));
    }
  }
}

TEST_CASE("MultiplicativeDense with at most 4 modules reads E from its panels once prepared, bitwise the same") {
  constexpr std::size_t kIn = 40;
  constexpr std::size_t kS = 4;
  constexpr std::size_t kOut = kS * 70;  // M = 70: a panel of 64 columns and one of 6
  using Layer = scaling::MultiplicativeDense<kIn, kOut, kS>;
  static_assert(Layer::kPanels);
  scaling::Owned<Layer::Weights> owned;
  scaling::init_random(owned.get(), 5);
  scaling::SplitMix64 rng(9);
  std::vector<float> x(3 * kIn);
  for (auto& e : x) e = rng.symmetric(1.0F);
  const auto run = [&] {
    std::vector<float> y(3 * kOut);
    Layer::apply(scaling::Team::solo(), owned.get(), x.data(), 3, y.data());
    return y;
  };
  REQUIRE(!owned.get().e_panels.ready);
  const auto from_e = run();
  owned.prepare();
  REQUIRE(owned.get().e_panels.ready);
  CHECK(run() == from_e);
  // The panels are what it reads: a changed copy changes the output.
  owned.get().e_panels.data[0] += 1.0F;
  CHECK(run() != from_e);
}

TEST_CASE("MultiplicativeDense with a 1 MiB D sums two halves of its inputs, alike on 1-3 threads") {
  constexpr std::size_t kIn = 4096;
  constexpr std::size_t kS = 64;         // D: 64 × 4096 floats, 1 MiB
  constexpr std::size_t kOut = kS * 48;  // M = 48
  constexpr std::size_t kTokens = 2;
  using Layer = scaling::MultiplicativeDense<kIn, kOut, kS>;
  static_assert(Layer::kInputHalves);
  static_assert(!scaling::MultiplicativeDense<kIn / 2, kOut, kS>::kInputHalves);  // D 0.5 MiB
  scaling::Owned<Layer::Weights> owned;
  scaling::init_random(owned.get(), 6);
  const auto& w = owned.get();
  scaling::SplitMix64 rng(10);
  std::vector<float> x(kTokens * kIn);
  for (auto& e : x) e = rng.symmetric(1.0F);
  const auto run = [&](unsigned threads) {
    std::vector<float> y(kTokens * kOut);
    std::vector<float> partial(kTokens * kOut);
    scaling::ThreadPool pool(threads);
    pool.run([&](const scaling::Team& team) {
      Layer::apply(team, w, x.data(), kTokens, y.data(), partial.data());
    });
    return y;
  };
  const auto y = run(1);
  for (std::size_t t = 0; t < kTokens; ++t) {
    for (std::size_t o = 0; o < kOut; ++o) {
      const std::size_t s = o / Layer::kModuleWidth;
      const std::size_t m = o % Layer::kModuleWidth;
      double want = w.b.data[o];
      double magnitude = std::abs(w.b.data[o]);
      for (std::size_t i = 0; i < kIn; ++i) {
        const double term = static_cast<double>(x[t * kIn + i]) * w.d.data[s * kIn + i] *
                            w.e.data[i * Layer::kModuleWidth + m];
        want += term;
        magnitude += std::abs(term);
      }
      // A priori bound of the fp32 sums (2 roundings per term, 2 more for the halves' sum).
      CHECK(std::abs(y[t * kOut + o] - want) <= (2 * kIn + 2) * 0x1p-24 * magnitude);
    }
  }
  CHECK(run(2) == y);
  CHECK(run(3) == y);
}

}  // namespace

#include "scaling/blocks/blocks.hpp"
#include "scaling/layers/sparse_attention.hpp"
#include "scaling/layers/sparse_feedforward.hpp"

namespace {

// The floats of `parts` in order, which must follow one another.
std::size_t joined_size(const std::vector<std::span<const float>>& parts, const float* start) {
  std::size_t floats = 0;
  for (const auto& part : parts) {
    CHECK(part.data() == start + floats);
    floats += part.size();
  }
  return floats;
}

TEST_CASE("sparse sublayers say what decode reads first; a team's shares of it cover it once") {
  using Cross = scaling::SparseCrossAttention<kTiny, 5, 2>;  // M = 8
  using Ff = scaling::SparseFeedForward<kTiny, 8>;
  Owned<Cross::Weights> cross;
  Owned<Ff::Weights> ff;
  // D, and E's first chunk of rows (here all of E: d_model = 40 rows < 256).
  const auto mult = Cross::Mult::first_reads(cross.get().q_mult, Team::solo());
  CHECK(mult[0].data() == cross.get().q_mult.d.data);
  CHECK(mult[0].size() == 5 * kTiny.d_model);
  CHECK(mult[1].data() == cross.get().q_mult.e.data);
  CHECK(mult[1].size() == kTiny.d_model * 8);
  for (unsigned size = 1; size <= 3; ++size) {
    CAPTURE(size);
    std::vector<std::span<const float>> d;
    std::vector<std::span<const float>> e;
    std::vector<std::span<const float>> c1;
    for (unsigned id = 0; id < size; ++id) {
      const Team member(id, size, nullptr);
      const auto reads = scaling::detail::first_reads<Cross>(cross.get(), member);
      d.push_back(reads[0]);
      e.push_back(reads[1]);
      const auto ff_reads = scaling::detail::first_reads<Ff>(ff.get(), member);
      c1.push_back(ff_reads[0]);
      CHECK(ff_reads[1].empty());
    }
    CHECK(joined_size(d, mult[0].data()) == mult[0].size());
    CHECK(joined_size(e, mult[1].data()) == mult[1].size());
    CHECK(joined_size(c1, ff.get().controller_in.data) == ff.get().controller_in.kSize);
  }
  // With more than one chunk of inputs, E's first 256 rows only.
  using Long = scaling::MultiplicativeDense<300, 16, 4>;  // M = 4
  Owned<Long::Weights> long_mult;
  CHECK(Long::first_reads(long_mult.get(), Team::solo())[1].size() == 256 * 4);
  // With inputs in halves: the first 256 rows of E of the member's half (members 0 and 2 share
  // the first half of a team of 3), nothing of D.
  using Halves = scaling::MultiplicativeDense<4096, 64 * 4, 64>;  // M = 4
  static_assert(Halves::kInputHalves);
  Owned<Halves::Weights> halves;
  const float* e = halves.get().e.data;
  for (unsigned size = 1; size <= 3; ++size) {
    CAPTURE(size);
    std::vector<std::span<const float>> first;
    std::vector<std::span<const float>> second;
    for (unsigned id = 0; id < size; ++id) {
      const auto reads = Halves::first_reads(halves.get(), Team(id, size, nullptr));
      CHECK(reads[1].empty());
      (size > 1 && id % 2 == 1 ? second : first).push_back(reads[0]);
    }
    CHECK(joined_size(first, e) == 256 * 4);
    if (size > 1) CHECK(joined_size(second, e + 2048 * 4) == 256 * 4);
  }
  // Sparse QKV: its multiplicative layer's; a block: its self-attention's.
  using Qkv = scaling::SparseQkvAttention<kTiny, 4, 3>;
  using Block = PreNormDecoderBlock<kTiny, Ff, Qkv>;
  Owned<Block::Weights> block;
  const auto qkv = scaling::detail::first_reads<Block>(block.get(), Team::solo());
  CHECK(qkv[0].data() == block.get().attn.mult.d.data);
  CHECK(qkv[0].size() == 4 * kTiny.d_model);
  CHECK(qkv[1].data() == block.get().attn.mult.e.data);
  CHECK(qkv[1].size() == kTiny.d_model * kTiny.d_model / 4);
  // Layers that do not say: nothing.
  Owned<DenseFeedForward<kTiny>::Weights> dense;
  const auto none = scaling::detail::first_reads<DenseFeedForward<kTiny>>(dense.get(), Team::solo());
  CHECK((none[0].empty() && none[1].empty()));
}

}  // namespace
