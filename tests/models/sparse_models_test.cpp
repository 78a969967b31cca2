// Every sparse stack against the double-precision reference (tests/reference/model.hpp), decode
// against forward bitwise (the conv history included: prompts of 1 and 2 tokens leave it partly
// empty, prompts past one prefill chunk carry it across chunks), and 1 against 2, 3 and 4 threads
// bitwise.

#include <doctest/doctest.h>

#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/core/init.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::testing;

// kTiny: d_model 40, 4 heads of 10, d_ff 72, vocab 50. Modules S 4 (M 10) or 5 (M 8).
template <class SelfAttn, class Ffn = DenseFeedForward<kTiny>, class Output = DenseLogits<kTiny>>
using TinyDecoderOnly = DecoderOnly<kTiny, PreNormDecoderBlock<kTiny, Ffn, SelfAttn>, 2,
                                    LayerNorm<kTiny.d_model>, Output>;

template <class Model>
void check_decoder_only_all(std::size_t prompt_len, std::size_t total) {
  const auto one = check_decoder_only<Model>(prompt_len, total, 1);
  const auto two = check_decoder_only<Model>(prompt_len, total, 2);
  CHECK(one == two);
  // Sparse QKV gives each member whole convolutions: with 3 one each, with 4 Q's modules split.
  const auto three = check_decoder_only<Model>(prompt_len, total, 3);
  CHECK(one == three);
  const auto four = check_decoder_only<Model>(prompt_len, total, 4);
  CHECK(one == four);
}

TEST_CASE("decoder-only with Sparse QKV (multiplicative + conv)") {
  check_decoder_only_all<TinyDecoderOnly<SparseQkvAttention<kTiny, 4, 3>>>(1, 12);
  check_decoder_only_all<TinyDecoderOnly<SparseQkvAttention<kTiny, 5, 2>>>(2, 9);
  check_decoder_only_all<TinyDecoderOnly<SparseQkvAttention<kTiny, 8, 1>>>(3, 7);
  // Kl 4: a history of 3 rows, of which decode keeps 2 and shifts them down (with Kl ≤ 3 the
  // rows kept and the rows dropped are as many, so a shift from the wrong end goes unseen).
  check_decoder_only_all<TinyDecoderOnly<SparseQkvAttention<kTiny, 4, 4>>>(2, 10);
  // 45 tokens: a chunk of 32 and one of 13, the history carried between them; then decode on.
  check_decoder_only_all<TinyDecoderOnly<SparseQkvAttention<kTiny, 4, 3>>>(45, 50);
}

TEST_CASE("decoder-only with Sparse FF + Sparse QKV + sparse loss") {
  using Model = TinyDecoderOnly<SparseQkvAttention<kTiny, 4, 3>, SparseFeedForward<kTiny, 8>,
                                SparseLogits<kTiny, 5>>;
  check_decoder_only_all<Model>(1, 12);
  check_decoder_only_all<Model>(40, 44);
}

TEST_CASE("decoder-only with the ablations: multiplicative-only and conv-only attention") {
  check_decoder_only_all<TinyDecoderOnly<MultiplicativeAttention<kTiny, 4>>>(2, 10);
  check_decoder_only_all<TinyDecoderOnly<ConvAttention<kTiny, 5>>>(2, 10);
  // kOddHeads: 3 heads of 12 = 36 wide, d_model 24: Q, K, V and O change width.
  using OddMult = DecoderOnly<kOddHeads, PreNormDecoderBlock<kOddHeads, DenseFeedForward<kOddHeads>,
                                                             MultiplicativeAttention<kOddHeads, 4>>, 2>;
  using OddConv = DecoderOnly<kOddHeads, PreNormDecoderBlock<kOddHeads, DenseFeedForward<kOddHeads>,
                                                             ConvAttention<kOddHeads, 3>>, 2>;
  check_decoder_only_all<OddMult>(3, 9);
  check_decoder_only_all<OddConv>(3, 9);
}

TEST_CASE("decoder-only with the sparse loss layer alone") {
  check_decoder_only_all<TinyDecoderOnly<CausalSelfAttention<kTiny>, DenseFeedForward<kTiny>, SparseLogits<kTiny, 2>>>(4, 9);
}

template <class Model>
void check_encoder_decoder_all(std::size_t input_len, std::size_t prompt_len, std::size_t total) {
  const auto one = check_encoder_decoder<Model>(input_len, prompt_len, total, 1);
  const auto two = check_encoder_decoder<Model>(input_len, prompt_len, total, 2);
  CHECK(one == two);
}

TEST_CASE("encoder-decoder: the paper's sparse variants at a small shape") {
  using Ff = SparseFeedForward<kTiny, 8>;
  using Qkv = SparseQkvAttention<kTiny, 4, 3>;
  check_encoder_decoder_all<T5Like<kTiny, 1, 2, Ff, CausalSelfAttention<kTiny>>>(16, 1, 10);
  check_encoder_decoder_all<T5Like<kTiny, 1, 2, DenseFeedForward<kTiny>, Qkv>>(16, 2, 10);
  check_encoder_decoder_all<T5Like<kTiny, 1, 2, Ff, Qkv>>(7, 1, 10);
  // + the sparse loss layer, cross-attention dense (T5LargeSparseFfQkvLoss).
  using Loss = T5Like<kTiny, 1, 2, Ff, Qkv, CrossAttention<kTiny>, SparseLogits<kTiny, 5>>;
  check_encoder_decoder_all<Loss>(7, 2, 10);
  // Fully sparse: sparse cross-attention Q (S 5, Kl 2) and the sparse loss layer too.
  using Full = T5Like<kTiny, 2, 2, Ff, Qkv, SparseCrossAttention<kTiny, 5, 2>, SparseLogits<kTiny, 5>>;
  check_encoder_decoder_all<Full>(16, 1, 12);
  check_encoder_decoder_all<Full>(9, 35, 40);  // prefill past one chunk
}

TEST_CASE("encoder-decoder with the ablations: multiplicative-only and conv-only attention") {
  // The ablation is the decoder's self-attention; the encoder keeps dense attention, as in T5Like.
  using Ff = DenseFeedForward<kTiny>;
  check_encoder_decoder_all<T5Like<kTiny, 1, 2, Ff, MultiplicativeAttention<kTiny, 4>>>(16, 2, 10);
  check_encoder_decoder_all<T5Like<kTiny, 1, 2, Ff, ConvAttention<kTiny, 5>>>(7, 1, 10);
  // Prefill past one chunk: the conv history crosses it.
  check_encoder_decoder_all<T5Like<kTiny, 2, 2, Ff, ConvAttention<kTiny, 5>>>(9, 35, 40);
}

TEST_CASE("sparse stacks whose modules fill whole vectors (kWide: d_model 240)") {
  // Decode's multiplicative layer runs register tiles from 5 modules up (below that it reads E's
  // panels). With AVX-512: S 6 gives modules of 40 columns (a tile of 2 vectors and 8 columns
  // left), S 5 of 48 (a tile of 3 vectors), S 4 of 60 (panels of 3 vectors and 12 columns); the
  // sparse loss's S 2 and 3, modules of 48 and 32 columns, read panels.
  using Ff = SparseFeedForward<kWide, 8>;
  using Model = DecoderOnly<kWide, PreNormDecoderBlock<kWide, Ff, SparseQkvAttention<kWide, 6, 3>>,
                            2, LayerNorm<kWide.d_model>, SparseLogits<kWide, 2>>;
  check_decoder_only_all<Model>(3, 10);
  check_decoder_only_all<Model>(33, 36);  // prefill past one chunk
  using Full = T5Like<kWide, 1, 2, Ff, SparseQkvAttention<kWide, 5, 3>,
                      SparseCrossAttention<kWide, 4, 2>, SparseLogits<kWide, 3>>;
  check_encoder_decoder_all<Full>(16, 1, 8);
}

TEST_CASE("parameter counts of the sparse layers match the spec") {
  // Spec section 3, d_model 1024, S 16, M 64, Kl 3.
  MultiplicativeDense<1024, 1024, 16>::Weights mult;  // views only: nothing is allocated
  Paper800M::SparseQkv<kT5LargeWideFf>::Weights qkv;
  Paper800M::SparseLoss<kT5LargeWideFf>::Weights loss;
  CHECK(count_params(mult) == 82944);
  CHECK(count_params(qkv) == 169152);
  // Spec section 4: the sparse loss layer with S 4 over 32000 ids.
  CHECK(count_params(loss) == 4 * 1024 + 1024 * 8000 + 32000);
}

}  // namespace
