// Must not compile: an empty vocabulary.
#include <scaling/scaling.hpp>
inline constexpr scaling::Dims kBad{.d_model = 16, .d_ff = 64, .n_heads = 2, .vocab = 0, .max_len = 8};
int main() { scaling::DenseDecoderOnly<kBad, 1> model; }
