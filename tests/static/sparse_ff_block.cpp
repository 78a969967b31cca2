// Must not compile: d_ff 64 is not divisible by the block size 6.
#include <scaling/layers/sparse_feedforward.hpp>
inline constexpr scaling::Dims kDims{.d_model = 16, .d_ff = 64, .n_heads = 2, .vocab = 10, .max_len = 8};
int main() { scaling::SparseFeedForward<kDims, 6>::Weights w; }
