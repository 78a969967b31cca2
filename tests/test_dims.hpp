#pragma once
// Small shapes for model tests: widths that are not multiples of any SIMD width (tails
// everywhere), and one config whose heads are not d_model / n_heads wide.

#include "scaling/core/dims.hpp"

namespace scaling::testing {

inline constexpr Dims kTiny{.d_model = 40, .d_ff = 72, .n_heads = 4, .d_head = 0, .vocab = 50, .max_len = 70};
inline constexpr Dims kOddHeads{.d_model = 24, .d_ff = 52, .n_heads = 3, .d_head = 12, .vocab = 37, .max_len = 40};

}  // namespace scaling::testing
