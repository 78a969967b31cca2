// Must not compile: 3 heads of 12 are 36 wide, d_model is 24, and Sparse QKV has no output layer.
#include <scaling/layers/sparse_attention.hpp>
inline constexpr scaling::Dims kDims{.d_model = 24, .d_ff = 64, .n_heads = 3, .d_head = 12, .vocab = 10, .max_len = 8};
int main() { scaling::SparseQkvAttention<kDims, 4>::Weights w; }
