// Decode of one token through the dense 800M shapes (T5-large-like, spec section 1a), and one
// Sparse FF block, with random weights distinct per layer (1.2-3.1 GB, far beyond the 32 MiB L3):
//   block/...   one decoder block at a time, rotating over 24 distinct blocks
//   token/...   the whole step: embedding, 24 blocks, final norm, 32000-wide logits
//   caller-loop/...  a small sparse model's decode-and-pick loop, the pool's workers sleeping at
//                    once or spinning first (BM_CallerLoop)
// Counters, from the median token: median_ms (per token, or per block), MB of weights read,
// achieved GB/s, and of_probe = achieved / the read bandwidth probed right before and after each
// benchmark (bench::ProbeAround). Peers (libtorch) run the same weights.
//
// build/bench/bench/bench_decode --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.hpp"
#include "scaling/core/init.hpp"
#include "scaling/layers/sparse_feedforward.hpp"
#include "scaling/models/configs.hpp"
#include "scaling/models/sampling.hpp"

#ifdef SCALING_HAVE_TORCH
#include <torch/torch.h>

#include "torch_decoder.hpp"
#endif

namespace {

using namespace scaling;
constexpr Dims kD = kT5Large;
constexpr std::size_t kLayers = 24;
constexpr std::size_t kInputLength = 16;  // the paper's timing protocol: 16 encoder tokens
constexpr std::size_t kPrompt = 4;        // decoder tokens before timing starts
constexpr std::size_t kMaxTimedPosition = 64;

// Weights a decode step reads: everything but the cross-attention K/V projections, which run
// once per input in encode().
template <class W>
double touched_bytes(W& weights) {
  return static_cast<double>(count_params(weights)) * sizeof(float);
}
constexpr double kCrossKvBytes = 2.0 * (kD.d_model * kD.d_attn() + kD.d_attn()) * sizeof(float);

// 24 distinct blocks, each run alone on one token.
template <class Block>
struct BlockStack {
  std::array<typename Block::Weights, kLayers> layers;
  template <class V>
  void visit(V& v) {
    for (std::size_t i = 0; i < kLayers; ++i) v.scope(i, [&] { layers[i].visit(v); });
  }
};

// One token through the 24 distinct blocks, in one pool.run() as in a model step; the counters
// are per block.
template <class Block, bool kHasCross>
void BM_DecodeBlock(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  static auto weights = [] {
    auto w = std::make_unique<Owned<BlockStack<Block>>>();
    init_random(w->get(), 1);
    w->prepare();
    return w;
  }();
  std::vector<typename Block::State> states(kLayers);
  if constexpr (kHasCross) {
    for (auto& s : states) s.cross.length = kInputLength;  // cached encoder keys/values
  }
  Workspace<kD, 1> ws;
  AlignedBuffer x(kD.d_model);
  SplitMix64 rng(2);
  for (std::size_t i = 0; i < kD.d_model; ++i) x.data()[i] = rng.symmetric(1.0F);
  ThreadPool pool(threads);
  bench::ProbeAround probe(threads);
  bench::Laps laps;
  std::size_t pos = kPrompt;
  for (auto _ : state) {
    laps.start();
    pool.run([&](const Team& team) {
      for (std::size_t l = 0; l < kLayers; ++l) {
        Block::template forward<simd::DefaultArch>(Step{team, pos, 1}, weights->get().layers[l], states[l], ws,
                                                   x.data());
      }
    });
    laps.stop();
    pos = pos + 1 == kMaxTimedPosition ? kPrompt : pos + 1;
  }
  typename Block::Weights one;
  double bytes = touched_bytes(one) - (kHasCross ? kCrossKvBytes : 0.0);
  if constexpr (requires { Block::FeedForward::kBlocks; }) {
    // Sparse FF reads one row of W1 and one of W2 per block, not all of them.
    using Ff = typename Block::FeedForward;
    bytes -= 2.0 * (kD.d_ff - Ff::kBlocks) * kD.d_model * sizeof(float);
    // and its controller's C2 from an int8 copy with a scale per unit, plus three floats per block
    // (kernels/screen.hpp).
    bytes -= static_cast<double>(one.ff.controller_out.kSize * sizeof(float)) -
             static_cast<double>(one.ff.controller_screen.kSize * sizeof(std::uint32_t) +
                                 one.ff.controller_bounds.kSize * sizeof(float));
  }
  bench::set_median_counters(state, laps, kLayers * bytes, probe, kLayers);
}

// The whole decode step of a model. Every kMaxTimedPosition tokens the sequence restarts (outside
// the timed region), so attention stays as short as in the paper's protocol.
template <class Model>
const Model& model() {
  static const Model m(1);
  return m;
}

template <class Model>
void start(const Model& m, typename Model::State& s, std::vector<float>& logits, ThreadPool& pool) {
  const std::vector<Token> input(kInputLength, 7);
  const std::vector<Token> prompt(kPrompt, 3);
  if constexpr (requires { m.encode(s, input, pool); }) {
    m.encode(s, input, pool);
  } else {
    s.reset();
  }
  m.prefill(s, prompt, logits, pool);
}

template <class Model>
double token_bytes() {
  typename Model::Weights w;
  std::size_t params = count_params(w.decoder.final_norm) + count_params(w.logits) +
                       2 * kD.d_model;  // + one embedding row and one position row
  for (auto& layer : w.decoder.layers) params += count_params(layer);
  double bytes = static_cast<double>(params) * sizeof(float);
  if constexpr (requires { w.encoder; }) bytes -= kLayers * kCrossKvBytes;
  return bytes;
}

template <class Model>
void BM_DecodeToken(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  const Model& m = model<Model>();
  ThreadPool pool(threads);
  auto s = m.new_state();
  std::vector<float> logits(kD.vocab);
  start(m, s, logits, pool);
  Token next = 0;
  bench::ProbeAround probe(threads);
  bench::Laps laps;
  for (auto _ : state) {
    laps.start();
    m.decode(s, next, logits, pool);
    laps.stop();
    next = greedy(logits);
    if (s.position() == kMaxTimedPosition) {
      state.PauseTiming();
      start(m, s, logits, pool);
      state.ResumeTiming();
    }
  }
  bench::set_median_counters(state, laps, token_bytes<Model>(), probe);
}

#ifdef SCALING_HAVE_TORCH
// libtorch on the same weights (zero-copy views), its own KV cache, at::set_num_threads(threads).
void BM_TorchDecodeToken(benchmark::State& state) {
  using Model = T5LargeDenseDecoderOnly;
  const auto threads = static_cast<unsigned>(state.range(0));
  bench::set_torch_threads(static_cast<int>(threads));
  const Model& m = model<Model>();
  bench::TorchDecoder<Model> peer(m.weights());
  std::vector<float> logits(kD.vocab);
  const std::vector<Token> prompt(kPrompt, 3);
  peer.prefill(prompt, logits.data());
  {  // the peer computes the same function: compare its logits with ours once
    ThreadPool pool(threads);
    auto s = m.new_state();
    std::vector<float> ours(kD.vocab);
    m.prefill(s, prompt, ours, pool);
    float worst = 0;
    for (std::size_t i = 0; i < kD.vocab; ++i) worst = std::max(worst, std::abs(ours[i] - logits[i]));
    state.counters["max_abs_diff"] = worst;
  }
  std::size_t pos = kPrompt;
  Token next = 0;
  bench::ProbeAround probe(threads);
  bench::Laps laps;
  for (auto _ : state) {
    laps.start();
    peer.decode(next, logits.data());
    laps.stop();
    next = greedy(logits);
    if (++pos == kMaxTimedPosition) {
      state.PauseTiming();
      peer.reset();
      peer.prefill(prompt, logits.data());
      pos = kPrompt;
      state.ResumeTiming();
    }
  }
  bench::set_median_counters(state, laps, token_bytes<Model>(), probe);
}
#endif

// A decoding caller's loop (decode, then pick the next token) on a small sparse model whose step
// takes a few hundred microseconds, where waking the pool's workers shows: two pools of `threads`,
// one whose workers sleep as soon as a step ends and one whose workers spin
// ThreadPool::kDefaultSpin first, taking turns a sequence (kMaxTimedPosition tokens) at a time.
// Counters: the median time per token (decode + greedy) of each, and their ratio.
constexpr Dims kSmall{.d_model = 512, .d_ff = 2048, .n_heads = 8, .vocab = 4096, .max_len = 128};
using SmallSparse = DecoderOnly<
    kSmall,
    PreNormDecoderBlock<kSmall, SparseFeedForward<kSmall, 32>, SparseQkvAttention<kSmall, 16, 3>>,
    6, LayerNorm<kSmall.d_model>, SparseLogits<kSmall, 4>>;

void BM_CallerLoop(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  const SmallSparse& m = model<SmallSparse>();
  std::array<std::unique_ptr<ThreadPool>, 2> pools{
      std::make_unique<ThreadPool>(threads, std::chrono::microseconds{0}),
      std::make_unique<ThreadPool>(threads)};
  std::array<bench::Laps, 2> laps;
  auto s = m.new_state();
  std::vector<float> logits(kSmall.vocab);
  std::size_t turn = 0;
  start(m, s, logits, *pools[turn]);
  Token next = 0;
  for (auto _ : state) {
    laps[turn].start();
    m.decode(s, next, logits, *pools[turn]);
    next = greedy(logits);
    laps[turn].stop();
    if (s.position() == kMaxTimedPosition) {
      state.PauseTiming();
      turn = 1 - turn;
      start(m, s, logits, *pools[turn]);
      state.ResumeTiming();
    }
  }
  const double sleeping = laps[0].median();
  const double spinning = laps[1].median();
  state.counters["sleep_us"] = sleeping * 1e6;
  state.counters["spin_us"] = spinning * 1e6;
  state.counters["sleep/spin"] = sleeping / spinning;
}

using DecoderOnlyBlock = DenseDecoderBlock<kD>;
// The paper's "+Sparse FF" at 800M: N = 64, r = d_ff / N = 64 (the reference code's default).
using SparseFfBlock = DecoderBlock<LayerNorm<kD.d_model>, CausalSelfAttention<kD>, SparseFeedForward<kD, 64>>;
using CrossBlock = DenseCrossDecoderBlock<kD>;

BENCHMARK(BM_DecodeBlock<DecoderOnlyBlock, false>)->Name("block/decoder-only/scaling")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_DecodeBlock<SparseFfBlock, false>)->Name("block/decoder-only-sparse-ff/scaling")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_DecodeBlock<CrossBlock, true>)->Name("block/with-cross-attention/scaling")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_DecodeToken<T5LargeDenseDecoderOnly>)->Name("token/decoder-only/scaling")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
#ifdef SCALING_HAVE_TORCH
BENCHMARK(BM_TorchDecodeToken)->Name("token/decoder-only/libtorch")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
#endif
BENCHMARK(BM_DecodeToken<T5LargeDense>)->Name("token/encoder-decoder/scaling")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_CallerLoop)
    ->Name("caller-loop/small-sparse/wake")
    ->Arg(2)
    ->MinTime(2.0)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
