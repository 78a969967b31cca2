// Must not compile: vocab 50 is not divisible by the loss sparsity 4.
#include <scaling/layers/logits.hpp>
inline constexpr scaling::Dims kDims{.d_model = 16, .d_ff = 64, .n_heads = 2, .vocab = 50, .max_len = 8};
int main() { scaling::SparseLogits<kDims, 4>::Weights w; }
