#pragma once
// The parts decoder-only and encoder–decoder models share: a stack of blocks with its positional
// table and final norm, run-time argument checks, and the decoder's chunked step loop.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "scaling/core/dims.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/embedding.hpp"
#include "scaling/layers/norm.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/layers/workspace.hpp"

namespace scaling {

using Token = std::int32_t;

// Prompt tokens per prefill step. Each step reads every weight once, so prefill reads the model
// prompt/kPrefillChunk times; the workspace grows linearly with it.
inline constexpr std::size_t kPrefillChunk = 32;

// The token table of a model with dims D.
template <Dims D>
using Embedding = Tensor<D.vocab, D.d_model>;  // (vocab, d_model)

namespace detail {

// Weights of a stack of blocks: positions, the blocks, the final norm.
template <Dims D, class Block, std::size_t Layers, class Norm>
struct StackWeights {
  Tensor<D.max_len, D.d_model> positions;  // (max_len, d_model), learned, sin/cos initialised
  std::array<typename Block::Weights, Layers> layers;
  typename Norm::Weights final_norm;
  template <class V>
  void visit(V& v) {
    v.tensor("positions", positions, Init::kSinusoidal);
    v.scope("layers", [&] {
      for (std::size_t i = 0; i < Layers; ++i) v.scope(i, [&] { layers[i].visit(v); });
    });
    v.scope("final_norm", [&] { final_norm.visit(v); });
  }
};

template <Dims D>
void check_tokens(std::span<const Token> tokens, std::size_t pos, std::string_view what) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    require(tokens[i] >= 0 && static_cast<std::size_t>(tokens[i]) < D.vocab, what, ": token ",
            tokens[i], " at index ", i, " is outside the vocabulary [0, ", D.vocab, ")");
  }
  require(pos + tokens.size() <= D.max_len, what, ": ", tokens.size(), " token(s) at position ",
          pos, " would pass max_len ", D.max_len);
}

inline void check_buffer(std::size_t got, std::size_t want, std::string_view what) {
  require(got == want, what, ": the logits buffer holds ", got, " floats, expected ", want);
}

inline void check_pool(const ThreadPool& pool) {
  require(pool.size() <= kMaxTeam, "a ThreadPool of ", pool.size(),
          " threads is larger than the supported team size ", kMaxTeam);
}

// Per-sequence state of a decoder: block states (KV caches), the residual stream and scratch.
template <Dims D, class Block, std::size_t Layers>
struct DecoderState {
  std::array<typename Block::State, Layers> layers;
  Workspace<D, kPrefillChunk> ws;
  AlignedBuffer x{kPrefillChunk * D.d_model};  // (kPrefillChunk, d_model) residual stream
  std::size_t pos = 0;                         // tokens decoded so far
};

// A moved-from model has no weights (Owned's move leaves null views): refused, never read.
template <class W>
void check_model(const Owned<W>& weights, std::string_view what) {
  require(weights.holds_weights(), what, ": the model was moved from");
}

// A moved-from state has no buffers left (AlignedBuffer's move empties them): the models refuse
// it instead of writing through null pointers.
template <class State>
void check_live(const State& s, std::string_view what) {
  require(s.x.data() != nullptr, what, ": the state was moved from; get a new one from new_state()");
}

// Runs `tokens` through the decoder at the state's position, advancing it, in chunks of
// kPrefillChunk. Writes the logits of the last token to out (last_only) or of every token.
// Arguments must have been checked.
template <Dims D, class Block, std::size_t Layers, class Norm, class Output, class Arch>
void run_decoder(ThreadPool& pool, const Embedding<D>& embedding,
                 const StackWeights<D, Block, Layers, Norm>& stack,
                 const typename Output::Weights& logits, DecoderState<D, Block, Layers>& s,
                 std::span<const Token> tokens, float* out, bool last_only) {
  for (std::size_t first = 0; first < tokens.size(); first += kPrefillChunk) {
    const std::size_t n = std::min(kPrefillChunk, tokens.size() - first);
    const Token* chunk = tokens.data() + first;
    const bool has_output = !last_only || first + n == tokens.size();
    const std::size_t out_row = last_only ? n - 1 : 0;  // first row of this chunk with logits
    float* out_rows = last_only ? out : out + first * D.vocab;
    pool.run([&](const Team& team) {
      const Range rows = team.split(n);
      for (std::size_t t = rows.begin; t < rows.end; ++t) {
        kernels::embed<D.d_model, Arch>(embedding.data + static_cast<std::size_t>(chunk[t]) * D.d_model,
                                        stack.positions.data + (s.pos + t) * D.d_model,
                                        s.x.data() + t * D.d_model);
      }
      team.sync();
      for (std::size_t l = 0; l < Layers; ++l) {
        // Each block is told what the next one reads first (blocks/blocks.hpp).
        const FirstReads then = l + 1 < Layers ? detail::first_reads<Block>(stack.layers[l + 1], team) : FirstReads{};
        Block::template forward<Arch>(Step{team, s.pos, n, then}, stack.layers[l], s.layers[l], s.ws, s.x.data());
      }
      if (has_output) {
        const std::size_t count = n - out_row;
        const float* xn = normalise<Arch, Norm>(team, stack.final_norm,
                                                s.x.data() + out_row * D.d_model, count, s.ws);
        Output::template apply<Arch>(team, logits, xn, count, out_rows);
      }
    });
    s.pos += n;
  }
}

}  // namespace detail
}  // namespace scaling
