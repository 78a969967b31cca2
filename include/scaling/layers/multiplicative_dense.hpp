#pragma once
// The multiplicative dense layer (spec section 3, trax FactoredDense): d_out = S modules of
// M = d_out / S outputs, y[s·M + m] = Σ_i x_i · D[s, i] · E[i, m] + b. It can represent any
// permutation of its input and has S·d_in + d_in·M weights instead of d_in·d_out; Sparse QKV and
// the sparse loss layer are built from it.

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <variant>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/multiplicative.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <std::size_t In, std::size_t Out, std::size_t S>
struct MultiplicativeDense {
  static_assert(In > 0 && Out > 0, "MultiplicativeDense: extents must be positive");
  static_assert(detail::Divisible<Out, S>::value,
                "MultiplicativeDense: d_out must be divisible by the number of modules S");
  static constexpr std::size_t kModules = S;
  static constexpr std::size_t kModuleWidth = Out / S;

  // With few modules (the sparse loss layer), E is also kept in panels of kernels::kPanelWidth
  // columns, which decode reads as sequential streams, 4 panels at a time with AVX-512
  // (kernels/multiplicative.hpp, multiplicative_panels).
  static constexpr bool kPanels = S <= kernels::kPanelModules;
  // With a large D (17B), the inputs are split in two halves summed afterwards, so that a team
  // of 2 does not read D twice (kernels::kInputHalves). apply then needs a buffer for the second
  // half's sums and synchronises once inside.
  static constexpr bool kInputHalves = kernels::kInputHalves<S, In>;

  struct Weights {
    Tensor<S, In> d;                 // (S, d_in): each module's scaling of the input
    Tensor<In, kModuleWidth> e;      // (d_in, d_out / S): shared by every module
    Tensor<Out> b;                   // (d_out)
    // Derived from E, never saved (core/tensor.hpp), only with kPanels: E as ⌈M / w⌉ panels of
    // (d_in, w) floats, w = kernels::kPanelWidth, the last one (d_in, M mod w) if M is not a
    // multiple of w.
    [[no_unique_address]] std::conditional_t<kPanels, Derived<float, In * kModuleWidth>, std::monostate> e_panels;
    template <class V>
    void visit(V& v) {
      v.tensor("d", d, Init::kEmbedding);  // unit scale, as trax's N(0, 0.5) keeps outputs O(1)
      v.tensor("e", e, Init::kFanInLeading);
      v.tensor("b", b, Init::kBias);
      if constexpr (kPanels) {
        v.derived("e_panels", e_panels, [&] { kernels::pack_panels<In, kModuleWidth>(e.data, e_panels.data); });
      }
    }
  };

  // This member's share of what decode reads first (kernels/multiplicative.hpp): D and the first
  // chunk of E's rows. With kInputHalves, the first chunk of E's rows of the member's half only:
  // the kernel fetches D as it goes, and fetching D ahead as well measured the same (17B block,
  // 1 and 2 threads, throwaway loop alternating the two token by token, 2026-12-04).
  static FirstReads first_reads(const Weights& w, const Team& team) {
    constexpr std::size_t kRows = std::min(kernels::detail::kChunk, In);
    if constexpr (kInputHalves) {
      const unsigned h = kernels::first_half(team);
      const auto chunk = w.e.span().subspan(h * (In / 2) * kModuleWidth, kRows * kModuleWidth);
      return {kernels::line_share(chunk, kernels::half_team(team, h)), {}};
    } else {
      return {kernels::line_share(w.d.span(), team),
              kernels::line_share(w.e.span().first(kRows * kModuleWidth), team)};
    }
  }

  // The team's share of y = layer(x) for `tokens` rows, from E's panels once they are built (the
  // same results, bitwise). x: (tokens, In), y: (tokens, Out); partial: (tokens, Out), the second
  // half's sums where kInputHalves (unused, and may be null, otherwise). `trickle` (this member's
  // share) fetches what a later phase reads while the chunked kernel computes; the panels' stream
  // leaves no memory capacity to spare and fetches nothing of it. Every member must call it: with
  // kInputHalves it synchronises once, between the halves and their sum; otherwise it does not
  // synchronise.
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens,
                    float* y, float* partial, kernels::Trickle& trickle) {
    if constexpr (kPanels) {
      if (w.e_panels.ready) {
        for (std::size_t t = 0; t < tokens; ++t) {
          kernels::multiplicative_panels<S, In, kModuleWidth, Arch>(
              team, w.d.data, w.e_panels.data, x + t * In, w.b.data, y + t * Out);
        }
        return;
      }
    }
    if constexpr (kInputHalves) {
      for (std::size_t t = 0; t < tokens; ++t) {
        kernels::multiplicative_halves<S, In, kModuleWidth, Arch>(
            team, w.d.data, w.e.data, x + t * In, y + t * Out, partial + t * Out, trickle);
      }
      team.sync();
      for (std::size_t t = 0; t < tokens; ++t) {
        kernels::add_halves<Out>(team, w.b.data, y + t * Out, partial + t * Out);
      }
    } else {
      for (std::size_t t = 0; t < tokens; ++t) {
        kernels::multiplicative<S, In, kModuleWidth, Arch>(team, w.d.data, w.e.data, x + t * In,
                                                           w.b.data, y + t * Out, trickle);
      }
    }
  }
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens,
                    float* y, float* partial) {
    kernels::Trickle none;
    apply<Arch>(team, w, x, tokens, y, partial, none);
  }
  // Without a buffer for partial sums: only where the inputs are not split.
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens,
                    float* y) {
    static_assert(!kInputHalves,
                  "MultiplicativeDense: this layer splits its inputs in halves (kInputHalves); "
                  "pass a buffer of tokens * Out floats for the partial sums");
    apply<Arch>(team, w, x, tokens, y, nullptr);
  }
};

}  // namespace scaling
