#pragma once
// A decoder-only language model: embedding + positions → Layers blocks → final norm → logits.
//
//   using Model = scaling::DecoderOnly<kDims, scaling::DenseDecoderBlock<kDims>, 24>;
//   Model model(/*seed=*/1);                 // weights: one aligned arena, owned by the model
//   Model::State state = model.new_state();  // KV caches and scratch of one sequence
//   model.prefill(state, prompt, logits);    // logits of the last prompt token
//   model.decode(state, next_token, logits); // one token at a time, allocates nothing
//
// Decoding does not change the model: many States can decode from one model at once, each with
// its own ThreadPool (a pool runs one call at a time). Writing its weights (the mutable weights(),
// load_checkpoint) and prepare() must not overlap any decode.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "scaling/core/dims.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/layers/logits.hpp"
#include "scaling/layers/norm.hpp"
#include "scaling/models/stack.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <Dims D, class Block, std::size_t Layers, class Norm = LayerNorm<D.d_model>,
          class Output = DenseLogits<D>, class Arch = simd::DefaultArch>
class DecoderOnly {
  static_assert(CheckDims<D>::kOk);
  static_assert(Layers > 0, "DecoderOnly: needs at least one layer");

 public:
  static constexpr Dims kDims = D;
  static constexpr std::size_t kLayers = Layers;
  using BlockType = Block;
  using OutputType = Output;  // the output layer policy

  struct Weights {
    Embedding<D> embedding;                                 // (vocab, d_model)
    detail::StackWeights<D, Block, Layers, Norm> decoder;   // positions, layers, final_norm
    typename Output::Weights logits;                        // the output layer (vocab logits)
    template <class V>
    void visit(V& v) {
      v.tensor("embedding", embedding, Init::kEmbedding);
      v.scope("decoder", [&] { decoder.visit(v); });
      v.scope("logits", [&] { logits.visit(v); });
    }
  };

  class State {
   public:
    [[nodiscard]] std::size_t position() const { return s_.pos; }  // tokens seen so far
    void reset() { s_.pos = 0; }  // forget the sequence; buffers are kept

   private:
    friend DecoderOnly;
    detail::DecoderState<D, Block, Layers> s_;
  };

  DecoderOnly() = default;  // all weights zero, to be loaded
  explicit DecoderOnly(std::uint64_t seed) {
    init_random(weights_.get(), seed);
    weights_.prepare();
  }

  // Mutable access marks the layers' derived data (Sparse FF's int8 controller copy, panels of E)
  // stale, so a write through it can never leave decode reading old values; decode then takes the
  // exact fp32 paths (same results, slower) until prepare(). The constructor and load_checkpoint
  // prepare.
  [[nodiscard]] Weights& weights() {
    weights_.drop_derived();
    return weights_.get();
  }
  // Rebuilds derived data from the current weights. Not while any State decodes with this model.
  void prepare() { weights_.prepare(); }
  [[nodiscard]] const Weights& weights() const { return weights_.get(); }
  [[nodiscard]] std::size_t weight_bytes() const { return weights_.arena_bytes(); }
  [[nodiscard]] State new_state() const { return State{}; }

  // Runs the prompt on a fresh (or reset) state; logits: (vocab) of the last prompt token.
  void prefill(State& state, std::span<const Token> prompt, std::span<float> logits,
               ThreadPool& pool = default_pool()) const {
    check_start(state, prompt, "prefill");
    detail::check_buffer(logits.size(), D.vocab, "prefill");
    run(state, prompt, logits.data(), true, pool);
  }

  // Like prefill, but writes the logits of every position: (prompt.size(), vocab).
  void forward(State& state, std::span<const Token> prompt, std::span<float> logits,
               ThreadPool& pool = default_pool()) const {
    check_start(state, prompt, "forward");
    detail::check_buffer(logits.size(), prompt.size() * D.vocab, "forward");
    run(state, prompt, logits.data(), false, pool);
  }

  // Appends one token; logits: (vocab) for the next position.
  void decode(State& state, Token token, std::span<float> logits,
              ThreadPool& pool = default_pool()) const {
    detail::check_model(weights_, "decode");
    detail::check_live(state.s_, "decode");
    detail::require(state.s_.pos > 0, "decode: the state holds no tokens; call prefill first");
    const std::array<Token, 1> one{token};
    detail::check_tokens<D>(one, state.s_.pos, "decode");
    detail::check_buffer(logits.size(), D.vocab, "decode");
    run(state, one, logits.data(), true, pool);
  }

 private:
  void check_start(const State& state, std::span<const Token> prompt, const char* what) const {
    detail::check_model(weights_, what);
    detail::check_live(state.s_, what);
    detail::require(state.s_.pos == 0, what, ": the state already holds ", state.s_.pos,
                    " tokens; call reset() first or continue with decode");
    detail::require(!prompt.empty(), what, ": the prompt is empty");
    detail::check_tokens<D>(prompt, 0, what);
  }

  void run(State& state, std::span<const Token> tokens, float* out, bool last_only,
           ThreadPool& pool) const {
    detail::check_pool(pool);
    const Weights& w = weights_.get();
    detail::run_decoder<D, Block, Layers, Norm, Output, Arch>(pool, w.embedding, w.decoder, w.logits,
                                                      state.s_, tokens, out, last_only);
  }

  Owned<Weights> weights_;
};

}  // namespace scaling
