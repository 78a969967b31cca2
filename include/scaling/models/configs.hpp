#pragma once
// Named compositions: the dense blocks and the paper's dense baselines.

#include <cstddef>

#include "scaling/blocks/blocks.hpp"
#include "scaling/core/dims.hpp"
#include "scaling/layers/attention.hpp"
#include "scaling/layers/feedforward.hpp"
#include "scaling/layers/norm.hpp"
#include "scaling/models/decoder_only.hpp"
#include "scaling/models/encoder_decoder.hpp"

namespace scaling {

template <Dims D>
using DenseDecoderBlock =
    DecoderBlock<LayerNorm<D.d_model>, CausalSelfAttention<D>, DenseFeedForward<D>>;

template <Dims D>
using DenseEncoderBlock =
    EncoderBlock<LayerNorm<D.d_model>, BidirectionalAttention<D>, DenseFeedForward<D>>;

template <Dims D>
using DenseCrossDecoderBlock = CrossDecoderBlock<LayerNorm<D.d_model>, CausalSelfAttention<D>,
                                                 CrossAttention<D>, DenseFeedForward<D>>;

template <Dims D, std::size_t Layers>
using DenseDecoderOnly = DecoderOnly<D, DenseDecoderBlock<D>, Layers>;

template <Dims D, std::size_t EncLayers, std::size_t DecLayers>
using DenseEncoderDecoder =
    EncoderDecoder<D, DenseEncoderBlock<D>, DenseCrossDecoderBlock<D>, EncLayers, DecLayers>;

// The paper's 800M baseline: T5-large-like, 24 + 24 layers (spec section 1a).
using T5LargeDense = DenseEncoderDecoder<kT5Large, 24, 24>;
// Its decoder alone, without cross-attention: the decoder-only baseline of the benchmarks.
using T5LargeDenseDecoderOnly = DenseDecoderOnly<kT5Large, 24>;

}  // namespace scaling
