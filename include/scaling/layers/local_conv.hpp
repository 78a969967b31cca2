#pragma once
// The locally-connected convolution of Sparse QKV (spec section 3, trax LocallyConvDense): the
// input row is S modules of M features, the output S modules of U units; the kernel spans Ks
// neighbouring modules (zero padding at the ends) and Kl positions of the sequence (causal), and
// is shared by every module. Decoding needs the last Kl − 1 input rows, kept in a ConvHistory.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/kernels/local_conv.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl>
struct LocalConv {
  static_assert(S >= 1 && M >= 1 && U >= 1, "LocalConv: extents must be positive");
  static_assert(detail::Odd<Ks>::value, "LocalConv: the module kernel size Ks must be odd (trax pads (Ks - 1) / 2 per side)");
  static_assert(Kl >= 1, "LocalConv: the length kernel size Kl must be positive");
  static constexpr std::size_t kInWidth = S * M;
  static constexpr std::size_t kOutWidth = S * U;

  struct Weights {
    Tensor<Kl, Ks, M, U> kernel;  // (Kl, Ks, M, U): length tap, module tap, feature, unit
    Tensor<U> b;                  // (U), shared by every module
    template <class V>
    void visit(V& v) {
      v.tensor("kernel", kernel, Init::kFanInLeading);
      v.tensor("b", b, Init::kBias);
    }
  };

  // The team's share (whole modules) of one output row. rows: Kl input rows, oldest first,
  // the token's own last; y: (S·U). Does not synchronise.
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const std::array<const float*, Kl>& rows,
                    float* y) {
    kernels::local_conv<S, M, U, Ks, Kl, Arch>(rows.data(), w.kernel.data, w.b.data, y, team.split(S));
  }

  // The output modules in `modules` only; `trickle` fetches what a later phase reads meanwhile.
  template <class Arch = simd::DefaultArch>
  static void apply(const Weights& w, const std::array<const float*, Kl>& rows, float* y, Range modules,
                    kernels::Trickle& trickle) {
    kernels::local_conv<S, M, U, Ks, Kl, Arch>(rows.data(), w.kernel.data, w.b.data, y, modules, trickle);
  }

  // Without a length kernel (Kl = 1) rows are independent: the team's share of y = LocalConv(x)
  // for `tokens` rows.   x: (tokens, S·M), y: (tokens, S·U). Does not synchronise.
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens, float* y)
    requires(Kl == 1)
  {
    for (std::size_t t = 0; t < tokens; ++t) apply<Arch>(team, w, {x + t * kInWidth}, y + t * kOutWidth);
  }
};

// The input rows a causal convolution of length kernel Kl needs from before the current step:
// the last Kl − 1 rows of the sequence, (Kl − 1, Width), oldest first; zeros before its start.
// Convolutions that read the same input (Sparse QKV's Q, K and V) share one history.
template <std::size_t Width, std::size_t Kl>
class ConvHistory {
 public:
  static constexpr std::size_t kRows = Kl - 1;

  // Row `back` rows before token t of a step whose input is in: (tokens, Width).
  // back ≤ Kl − 1; rows before the step come from the history.
  [[nodiscard]] const float* row(const float* in, std::size_t t, std::size_t back) const {
    return t >= back ? in + (t - back) * Width : rows_.data() + (kRows + t - back) * Width;
  }

  // The Kl rows a convolution reads for token t, oldest first.
  [[nodiscard]] std::array<const float*, Kl> window(const float* in, std::size_t t) const {
    std::array<const float*, Kl> rows{};
    for (std::size_t l = 0; l < Kl; ++l) rows[l] = row(in, t, kRows - l);
    return rows;
  }

  // Call before a step reads rows: at position 0 nothing precedes the sequence (zeros).
  void begin(const Step& step) {
    if (step.pos == 0 && kRows > 0) std::memset(rows_.data(), 0, kRows * Width * sizeof(float));
  }

  // Call after every read of the step: keeps the last Kl − 1 rows of (history, in).
  void end(const float* in, std::size_t tokens) {
    if constexpr (kRows > 0) {
      const std::size_t kept = kRows - std::min(tokens, kRows);  // old rows still in the window
      std::memmove(rows_.data(), rows_.data() + (kRows - kept) * Width, kept * Width * sizeof(float));
      const std::size_t fresh = kRows - kept;
      std::memcpy(rows_.data() + kept * Width, in + (tokens - fresh) * Width, fresh * Width * sizeof(float));
    }
  }

 private:
  AlignedBuffer rows_{kRows * Width};  // (Kl − 1, Width)
};

}  // namespace scaling
