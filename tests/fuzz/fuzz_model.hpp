#pragma once
// The model the checkpoint fuzzer loads into: a decoder-only model with Sparse FF, Sparse QKV and
// the sparse loss layer, at shapes so small that its whole checkpoint (about 3 KB) fits libFuzzer's
// default input size limit of 4 KB.

#include "scaling/models/configs.hpp"

namespace scaling::fuzzing {

inline constexpr Dims kFuzzDims{.d_model = 4, .d_ff = 4, .n_heads = 2, .d_head = 0, .vocab = 4, .max_len = 2};

using FuzzModel = DecoderOnly<kFuzzDims,
                              PreNormDecoderBlock<kFuzzDims, SparseFeedForward<kFuzzDims, 2>,
                                                  SparseQkvAttention<kFuzzDims, 2, /*Kl=*/1>>,
                              1, LayerNorm<kFuzzDims.d_model>, SparseLogits<kFuzzDims, 2>>;

}  // namespace scaling::fuzzing
