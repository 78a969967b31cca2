// Must not compile: d_model 40 is not divisible by 3 modules.
#include <scaling/layers/sparse_attention.hpp>
inline constexpr scaling::Dims kDims{.d_model = 40, .d_ff = 64, .n_heads = 4, .vocab = 10, .max_len = 8};
int main() { scaling::SparseQkvAttention<kDims, 3>::Weights w; }
