#pragma once
// Small shapes for model tests: widths that are not multiples of any SIMD width (tails
// everywhere), one config whose heads are not d_model / n_heads wide, and one whose modules
// (d_model / S) are several vectors wide, so that the multiplicative and convolution kernels run
// their register tiles of whole vectors in a model, not only their scalar tails (kTiny's modules
// of 8 or 10 columns are less than one AVX-512 vector).

#include "scaling/core/dims.hpp"

namespace scaling::testing {

inline constexpr Dims kTiny{.d_model = 40, .d_ff = 72, .n_heads = 4, .d_head = 0, .vocab = 50, .max_len = 70};
inline constexpr Dims kWide{.d_model = 240, .d_ff = 96, .n_heads = 4, .d_head = 0, .vocab = 96, .max_len = 40};
inline constexpr Dims kOddHeads{.d_model = 24, .d_ff = 52, .n_heads = 3, .d_head = 12, .vocab = 37, .max_len = 40};

}  // namespace scaling::testing
