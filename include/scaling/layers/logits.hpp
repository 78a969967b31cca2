#pragma once
// The output layer, d_model → vocab logits, as a policy of the stacks:
//   DenseLogits<D>      a dense layer with bias, not tied to the embedding (the paper's baseline)
//   SparseLogits<D, S>  the sparse loss layer (spec section 4, trax SparseDenseWithOptions 'mult'):
//                       a multiplicative layer with S = loss sparsity modules; reads
//                       S·d_model + d_model·vocab/S + vocab weights instead of d_model·vocab + vocab

#include <cstddef>

#include "scaling/core/dims.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/layers/dense.hpp"
#include "scaling/layers/multiplicative_dense.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <Dims D>
struct DenseLogits {
  using Layer = Dense<D.d_model, D.vocab>;
  using Weights = typename Layer::Weights;  // w (vocab, d_model), b (vocab)

  // The team's share of logits = layer(xn).   xn: (tokens, d_model), logits: (tokens, vocab).
  template <class Arch>
  static void apply(const Team& team, const Weights& w, const float* xn, std::size_t tokens,
                    float* logits) {
    Layer::template apply<kernels::Write::kStore, Arch>(team, w, xn, tokens, logits);
  }
};

template <Dims D, std::size_t S>
struct SparseLogits {
  static_assert(detail::Divisible<D.vocab, S>::value,
                "SparseLogits: vocab must be divisible by the loss sparsity S");
  using Layer = MultiplicativeDense<D.d_model, D.vocab, S>;
  using Weights = typename Layer::Weights;  // d (S, d_model), e (d_model, vocab / S), b (vocab)

  template <class Arch>
  static void apply(const Team& team, const Weights& w, const float* xn, std::size_t tokens,
                    float* logits) {
    Layer::template apply<Arch>(team, w, xn, tokens, logits);
  }
};

}  // namespace scaling
