// Composing a model from policies, then prefill + sampled decode. The README shows this file.
#include <scaling/scaling.hpp>

#include <cstdio>
#include <vector>

// Shapes are template arguments: every kernel is generated for exactly these extents.
inline constexpr scaling::Dims kSmall{.d_model = 256, .d_ff = 1024, .n_heads = 4, .vocab = 1000, .max_len = 128};

// A pre-LN decoder block built from policies; each can be swapped for another layer of its role.
// Here the paper's sparse layers: Sparse FF (one unit per block of N = 32 runs) and Sparse QKV
// (S = 16 modules, length kernel 3). DenseFeedForward<kSmall> and CausalSelfAttention<kSmall>
// give the dense baseline.
using Block = scaling::DecoderBlock<scaling::LayerNorm<kSmall.d_model>,
                                    scaling::SparseQkvAttention<kSmall, /*modules S=*/16, /*length kernel=*/3>,
                                    scaling::SparseFeedForward<kSmall, /*block N=*/32>>;
// The output layer is a policy too: the sparse loss layer with 4 modules (DenseLogits<kSmall> by default).
using Model = scaling::DecoderOnly<kSmall, Block, /*layers=*/4, scaling::LayerNorm<kSmall.d_model>,
                                   scaling::SparseLogits<kSmall, 4>>;

int main() {
  const Model model(/*seed=*/42);  // random weights, one 64-byte-aligned arena
  auto state = model.new_state();  // this sequence's KV caches, conv history and scratch
  std::vector<float> logits(kSmall.vocab);
  const std::vector<scaling::Token> prompt{1, 2, 3};
  model.prefill(state, prompt, logits);  // logits after the last prompt token
  scaling::Sampler sample(/*temperature=*/0.8F, /*top_k=*/40, /*seed=*/7);
  for (int i = 0; i < 10; ++i) {
    const scaling::Token next = sample(logits);
    std::printf("%d ", next);
    model.decode(state, next, logits);  // one token; allocates nothing
  }
  std::printf("\n");
}
