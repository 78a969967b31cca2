#pragma once
// An encoder–decoder (T5-like) model, the paper's 800M baseline shape:
//   encoder: embedding + positions → EncLayers bidirectional blocks → final norm
//   decoder: embedding (the same table) + its own positions → DecLayers blocks with causal
//            self-attention and cross-attention to the encoder output → final norm → logits
//
//   model.encode(state, input);              // runs the encoder once, fills the cross caches
//   model.prefill(state, prompt, logits);    // decoder prompt (e.g. the start token)
//   model.decode(state, next_token, logits); // one token at a time

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "scaling/core/dims.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/embedding.hpp"
#include "scaling/layers/logits.hpp"
#include "scaling/layers/norm.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/layers/workspace.hpp"
#include "scaling/models/stack.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <Dims D, class EncBlock, class DecBlock, std::size_t EncLayers, std::size_t DecLayers,
          class Norm = LayerNorm<D.d_model>, class Output = DenseLogits<D>,
          class Arch = simd::DefaultArch>
class EncoderDecoder {
  static_assert(CheckDims<D>::kOk);
  static_assert(EncLayers > 0 && DecLayers > 0, "EncoderDecoder: needs at least one layer each");

 public:
  static constexpr Dims kDims = D;
  static constexpr std::size_t kEncoderLayers = EncLayers;
  static constexpr std::size_t kDecoderLayers = DecLayers;
  using EncoderBlockType = EncBlock;
  using BlockType = DecBlock;
  using OutputType = Output;  // the output layer policy

  struct Weights {
    Embedding<D> embedding;                                     // (vocab, d_model), shared
    detail::StackWeights<D, EncBlock, EncLayers, Norm> encoder;  // positions, layers, final_norm
    detail::StackWeights<D, DecBlock, DecLayers, Norm> decoder;  // positions, layers, final_norm
    typename Output::Weights logits;                            // the output layer (vocab logits)
    template <class V>
    void visit(V& v) {
      v.tensor("embedding", embedding, Init::kEmbedding);
      v.scope("encoder", [&] { encoder.visit(v); });
      v.scope("decoder", [&] { decoder.visit(v); });
      v.scope("logits", [&] { logits.visit(v); });
    }
  };

  class State {
   public:
    [[nodiscard]] std::size_t position() const { return s_.pos; }  // decoder tokens so far
    [[nodiscard]] std::size_t input_length() const { return input_length_; }  // 0: not encoded
    void reset() {  // forget input and output; buffers are kept
      s_.pos = 0;
      input_length_ = 0;
    }

   private:
    friend EncoderDecoder;
    detail::DecoderState<D, DecBlock, DecLayers> s_;
    std::array<typename EncBlock::State, EncLayers> encoder_layers_;
    EncoderWorkspace<D> encoder_ws_;
    AlignedBuffer encoder_x_{D.max_len * D.d_model};  // (max_len, d_model)
    std::size_t input_length_ = 0;
  };

  EncoderDecoder() = default;  // all weights zero, to be loaded
  explicit EncoderDecoder(std::uint64_t seed) {
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

  // Runs the encoder over input and caches every decoder layer's cross-attention keys and
  // values. Starts a new sequence: the decoder position goes back to 0.
  void encode(State& state, std::span<const Token> input, ThreadPool& pool = default_pool()) const {
    detail::check_model(weights_, "encode");
    detail::check_live(state.s_, "encode");
    detail::require(!input.empty(), "encode: the input is empty");
    detail::check_tokens<D>(input, 0, "encode");
    detail::check_pool(pool);
    const Weights& w = weights_.get();
    const std::size_t n = input.size();
    float* x = state.encoder_x_.data();
    pool.run([&](const Team& team) {
      const Step step{team, 0, n};
      const Range rows = team.split(n);
      for (std::size_t t = rows.begin; t < rows.end; ++t) {
        kernels::embed<D.d_model, Arch>(
            w.embedding.data + static_cast<std::size_t>(input[t]) * D.d_model,
            w.encoder.positions.data + t * D.d_model, x + t * D.d_model);
      }
      team.sync();
      for (std::size_t l = 0; l < EncLayers; ++l) {
        EncBlock::template forward<Arch>(step, w.encoder.layers[l], state.encoder_layers_[l],
                                         state.encoder_ws_, x);
      }
      Norm::template apply<Arch>(team, w.encoder.final_norm, x, n, x);
      team.sync();
      for (std::size_t l = 0; l < DecLayers; ++l) {
        DecBlock::template encode<Arch>(step, w.decoder.layers[l], state.s_.layers[l],
                                        state.encoder_ws_, x);
      }
    });
    state.input_length_ = n;
    state.s_.pos = 0;
  }

  // Runs the decoder prompt after encode(); logits: (vocab) of the last prompt token.
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

  // Appends one decoder token; logits: (vocab) for the next position.
  void decode(State& state, Token token, std::span<float> logits,
              ThreadPool& pool = default_pool()) const {
    detail::check_model(weights_, "decode");
    detail::check_live(state.s_, "decode");
    detail::require(state.input_length_ > 0, "decode: no input encoded; call encode first");
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
    detail::require(state.input_length_ > 0, what, ": no input encoded; call encode first");
    detail::require(state.s_.pos == 0, what, ": the state already holds ", state.s_.pos,
                    " decoder tokens; call encode again or continue with decode");
    detail::require(!prompt.empty(), what, ": the prompt is empty");
    detail::check_tokens<D>(prompt, 0, what);
  }

  void run(State& state, std::span<const Token> tokens, float* out, bool last_only,
           ThreadPool& pool) const {
    detail::check_pool(pool);
    const Weights& w = weights_.get();
    detail::run_decoder<D, DecBlock, DecLayers, Norm, Output, Arch>(pool, w.embedding, w.decoder,
                                                            w.logits, state.s_, tokens, out,
                                                            last_only);
  }

  Owned<Weights> weights_;
};

}  // namespace scaling
