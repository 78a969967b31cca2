// Must not compile: a controller rank of 80 exceeds d_ff 64 (C1 would be wider than the units).
#include <scaling/layers/sparse_feedforward.hpp>
inline constexpr scaling::Dims kDims{.d_model = 16, .d_ff = 64, .n_heads = 2, .vocab = 10, .max_len = 8};
int main() { scaling::SparseFeedForward<kDims, 8, 80>::Weights w; }
