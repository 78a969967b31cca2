#pragma once
// Scratch memory of a step, allocated once per sequence so a step allocates nothing.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/attention.hpp"

namespace scaling {

// Scratch for steps of at most MaxTokens tokens of a model with dims D.
template <Dims D, std::size_t MaxTokens>
struct Workspace {
  AlignedBuffer xn{MaxTokens * D.d_model};      // (MaxTokens, d_model)  normalised input
  // (kMaxTeam, d_model): in a one-token step on a team, each member's own normalised input
  // (layers/norm.hpp, normalise)
  AlignedBuffer xn_member{kMaxTeam * D.d_model};
  AlignedBuffer q{MaxTokens * D.d_attn()};      // (MaxTokens, d_attn)
  AlignedBuffer attn{MaxTokens * D.d_attn()};   // (MaxTokens, d_attn)  heads before the output layer
  AlignedBuffer mixed{MaxTokens * D.d_model};   // (MaxTokens, d_model) Sparse QKV's multiplicative
                                                // layer output, or a sparse output layer's
  AlignedBuffer partial{MaxTokens * D.d_model};  // (MaxTokens, d_model) that layer's second half
                                                 // sums (MultiplicativeDense::kInputHalves)
  AlignedBuffer hidden{MaxTokens * D.d_ff};     // (MaxTokens, d_ff)
  // (kMaxTeam, attention_scratch(n_heads, max_len)): each member's scores of the heads it attends
  // in one pass over the cache
  AlignedBuffer scores{kMaxTeam * kernels::attention_scratch(D.n_heads, D.max_len)};
  // Sparse FF: the controller's low-rank activations (r ≤ d_ff, checked by SparseFeedForward),
  // the chosen units' activations and their row indices (d_ff / N per token).
  AlignedBuffer controller{MaxTokens * D.d_ff};  // (MaxTokens, r)
  AlignedBuffer gate{MaxTokens * D.d_ff};        // (MaxTokens, d_ff / N)
  std::vector<std::uint32_t> choice = std::vector<std::uint32_t>(MaxTokens * D.d_ff);  // (MaxTokens, d_ff / N)

  // Member `id`'s row of xn_member.
  float* member_xn(unsigned id) { return xn_member.data() + id * D.d_model; }
};

// The encoder sees its whole input in one step and keeps that input's keys and values here.
template <Dims D>
struct EncoderWorkspace : Workspace<D, D.max_len> {
  struct {
    AlignedBuffer k{D.max_len * D.d_attn()};  // (max_len, n_heads, d_head)
    AlignedBuffer v{D.max_len * D.d_attn()};  // (max_len, n_heads, d_head)
  } cache;
};

}  // namespace scaling
