// The runner's table of compiled models (see registry.hpp).

#include "registry.hpp"

namespace runner {
namespace {

using namespace scaling;

// Small shapes for tests and for trying every variant in milliseconds: 2 layers (2 + 2 for
// encoder–decoder models), d_model 64, 4 heads, Sparse FF N 16, Sparse QKV S 4.
inline constexpr Dims kSmall{.d_model = 64, .d_ff = 256, .n_heads = 4, .d_head = 0, .vocab = 96, .max_len = 64};
using SmallFf = SparseFeedForward<kSmall, 16>;
using SmallQkv = SparseQkvAttention<kSmall, 4, 3>;
using SmallCross = SparseCrossAttention<kSmall, 4, 3>;
using SmallLoss = SparseLogits<kSmall, 4>;
template <class Block, class Norm = LayerNorm<kSmall.d_model>, class Output = DenseLogits<kSmall>>
using Small = DecoderOnly<kSmall, Block, 2, Norm, Output>;
template <class Ffn, class SelfAttn, class Cross = CrossAttention<kSmall>, class Output = DenseLogits<kSmall>>
using SmallT5 = T5Like<kSmall, 2, 2, Ffn, SelfAttn, Cross, Output>;
using Rms = RmsNorm<kSmall.d_model>;

}  // namespace

const std::vector<Entry>& registry() {
  static const std::vector<Entry> table{
      entry<Small<DenseDecoderBlock<kSmall>>>("small-dense", "decoder-only, dense"),
      entry<Small<DecoderBlock<Rms, CausalSelfAttention<kSmall>, DenseFeedForward<kSmall>>, Rms>>(
          "small-dense-rms", "decoder-only, dense, RMSNorm"),
      entry<Small<PreNormDecoderBlock<kSmall, SmallFf>>>("small-sparse-ff", "decoder-only, Sparse FF (N 16, r 16)"),
      entry<Small<PreNormDecoderBlock<kSmall, SparseFeedForward<kSmall, 16, 4>>>>(
          "small-sparse-ff-r4", "decoder-only, Sparse FF (N 16, r 4)"),
      entry<Small<PreNormDecoderBlock<kSmall, DenseFeedForward<kSmall>, SmallQkv>>>(
          "small-sparse-qkv", "decoder-only, Sparse QKV (S 4, Kl 3)"),
      entry<Small<PreNormDecoderBlock<kSmall, SmallFf, SmallQkv>>>("small-sparse-ff-qkv",
                                                                   "decoder-only, Sparse FF + QKV"),
      entry<Small<PreNormDecoderBlock<kSmall, DenseFeedForward<kSmall>, MultiplicativeAttention<kSmall, 4>>>>(
          "small-mult-attn", "decoder-only, multiplicative Q/K/V/O (ablation)"),
      entry<Small<PreNormDecoderBlock<kSmall, DenseFeedForward<kSmall>, ConvAttention<kSmall, 4>>>>(
          "small-conv-attn", "decoder-only, conv Q/K/V/O (ablation)"),
      entry<Small<DenseDecoderBlock<kSmall>, LayerNorm<kSmall.d_model>, SmallLoss>>(
          "small-sparse-loss", "decoder-only, dense, sparse loss (S 4)"),
      entry<SmallT5<DenseFeedForward<kSmall>, CausalSelfAttention<kSmall>>>("small-t5-dense", "encoder–decoder, dense"),
      entry<SmallT5<SmallFf, CausalSelfAttention<kSmall>>>("small-t5-sparse-ff", "encoder–decoder, Sparse FF"),
      entry<SmallT5<DenseFeedForward<kSmall>, SmallQkv>>("small-t5-sparse-qkv", "encoder–decoder, Sparse QKV"),
      entry<SmallT5<SmallFf, SmallQkv>>("small-t5-sparse-ff-qkv", "encoder–decoder, Sparse FF + QKV"),
      entry<SmallT5<SmallFf, SmallQkv, SmallCross, SmallLoss>>(
          "small-t5-fully-sparse", "encoder–decoder, Sparse FF + QKV, sparse cross Q, sparse loss"),
      // The paper's 800M models (Table 1), about 3 GB of fp32 weights each.
      entry<T5LargeDense>("t5-large-dense", "800M encoder–decoder, dense (24 + 24 layers)"),
      entry<T5LargeSparseFf>("t5-large-sparse-ff", "800M encoder–decoder, Sparse FF (N 64)"),
      entry<T5LargeSparseQkv>("t5-large-sparse-qkv", "800M encoder–decoder, Sparse QKV (S 16, d_ff 6144)"),
      entry<T5LargeSparseFfQkv>("t5-large-sparse-ff-qkv", "800M encoder–decoder, Sparse FF + QKV (d_ff 6144)"),
      entry<T5LargeSparseFfQkvLoss>("t5-large-sparse-ff-qkv-loss",
                                    "800M encoder–decoder, Sparse FF + QKV, sparse loss (4)"),
      entry<T5LargeFullySparse>("t5-large-fully-sparse",
                                "800M encoder–decoder, Sparse FF + QKV, sparse cross Q, sparse loss (4)"),
      entry<T5LargeDenseDecoderOnly>("t5-large-dense-decoder-only", "800M decoder alone (24 layers), dense"),
  };
  return table;
}

}  // namespace runner
