// Must not compile: a stack without layers.
#include <scaling/scaling.hpp>
inline constexpr scaling::Dims kOk{.d_model = 16, .d_ff = 64, .n_heads = 2, .vocab = 10, .max_len = 8};
int main() { scaling::DenseDecoderOnly<kOk, 0> model; }
