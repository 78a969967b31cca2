// Must not compile: 40 is not divisible by 3 heads.
#include <scaling/scaling.hpp>
inline constexpr scaling::Dims kBad{.d_model = 40, .d_ff = 64, .n_heads = 3, .vocab = 10, .max_len = 8};
int main() { scaling::DenseDecoderOnly<kBad, 1> model; }
