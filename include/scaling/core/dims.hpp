#pragma once
// The structural shape of a model, fixed at compile time.
//
// A Dims value is a C++20 structural type, so it is passed directly as a template argument:
//   inline constexpr scaling::Dims kTiny{.d_model = 64, .d_ff = 256, .n_heads = 4, ...};
//   using Model = scaling::DecoderOnly<kTiny, scaling::DenseDecoderBlock<kTiny>, 2>;
// Every kernel is then generated for these exact extents (constant trip counts).

#include <cstddef>

namespace scaling {

struct Dims {
  std::size_t d_model = 0;  // width of the residual stream
  std::size_t d_ff = 0;     // hidden width of the feedforward block
  std::size_t n_heads = 0;  // attention heads
  std::size_t d_head = 0;   // width of one head (0 means d_model / n_heads)
  std::size_t vocab = 0;    // token ids are in [0, vocab)
  std::size_t max_len = 0;  // longest sequence (decoder positions and encoder input)

  // Width of the concatenated heads, the size of one K or V cache row.
  [[nodiscard]] constexpr std::size_t d_attn() const { return n_heads * head_width(); }
  [[nodiscard]] constexpr std::size_t head_width() const {
    return d_head != 0 ? d_head : (n_heads != 0 ? d_model / n_heads : 0);
  }
};

namespace detail {

// Shape rules as class templates, so that when a static_assert fails the compiler's note names
// the numbers: "‘Divisible<4096, 96>::value’ evaluates to false" (GCC), "requirement
// 'Divisible<4096, 96>::value'" (Clang). The assert's message names the rule.
template <std::size_t Value, std::size_t Divisor>
struct Divisible {
  static constexpr bool value = Divisor != 0 && Value % Divisor == 0;
};
template <std::size_t Value>
struct Odd {
  static constexpr bool value = Value % 2 == 1;
};
template <std::size_t Value, std::size_t Most>
struct AtMost {
  static constexpr bool value = Value <= Most;
};
template <std::size_t A, std::size_t B>
struct Equal {
  static constexpr bool value = A == B;
};

}  // namespace detail

// Compile-time checks shared by every layer. A failed check names the rule it breaks, and the
// compiler's note names the numbers.
template <Dims D>
struct CheckDims {
  static_assert(D.d_model > 0, "Dims: d_model must be positive");
  static_assert(D.d_ff > 0, "Dims: d_ff must be positive");
  static_assert(D.n_heads > 0, "Dims: n_heads must be positive");
  static_assert(D.vocab > 0, "Dims: vocab must be positive");
  static_assert(D.max_len > 0, "Dims: max_len must be positive");
  static_assert(D.d_head != 0 || detail::Divisible<D.d_model, D.n_heads>::value,
                "Dims: with d_head = 0 (derived), d_model must be divisible by n_heads");
  static_assert(D.head_width() > 0, "Dims: d_head must be positive");
  static_assert(D.vocab < (std::size_t{1} << 31), "Dims: vocab must fit in a 32-bit token id");
  static constexpr bool kOk = true;
};

// The paper's 800M baseline (T5-large-like, spec section 1a).
inline constexpr Dims kT5Large{.d_model = 1024,
                               .d_ff = 4096,
                               .n_heads = 16,
                               .d_head = 64,
                               .vocab = 32000,
                               .max_len = 512};

}  // namespace scaling
