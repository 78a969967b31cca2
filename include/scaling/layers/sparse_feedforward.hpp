#pragma once
// Sparse FF (spec section 2): the feedforward's d_ff units are split into d_ff/N blocks of N, and
// a low-rank controller picks exactly one unit per block for each token. At inference only the
// chosen units run, so a token reads 2·d_model·d_ff/N weights of the main layers instead of
// 2·d_model·d_ff, plus the controller's d_model·r + r·d_ff.
//
//   u      = C1 x                        (r)      no bias, no nonlinearity (trax m1)
//   logits = C2 u + c                    (d_ff)   seen as (d_ff/N, N)      (trax m2, mb)
//   k_i    = argmax_j logits[i, j]                ties: the lowest j
//   out    = Σ_i ReLU(W1[i, k_i] · x) W2[i, k_i] + b2    no first-layer bias (trax has none)
//
// This equals the dense feedforward ReLU(x W1ᵀ) W2 + b2 with every unit not chosen set to zero,
// which is trax's eval mode (one-hot mask). Prefill runs the controller for all of a chunk's
// tokens at once (gemm) and then each token's chosen rows, like decode. Decode chooses from an int8
// copy of C2 where that decides, and from C2 itself where it does not (kernels/screen.hpp).
//
// Policy parameters: N (block size) and R (controller rank). The reference code's default is
// r = d_ff / N; the paper's text says r = d_model / N; any R can be given.

#include <cstddef>
#include <cstdint>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/kernels/gather.hpp"
#include "scaling/kernels/gemm.hpp"
#include "scaling/kernels/screen.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <Dims D, std::size_t N, std::size_t R = D.d_ff / (N == 0 ? 1 : N)>
struct SparseFeedForward {
  static_assert(CheckDims<D>::kOk);
  static_assert(detail::Divisible<D.d_ff, N>::value,
                "SparseFeedForward: d_ff must be divisible by the block size N");
  static_assert(R >= 1, "SparseFeedForward: the controller rank R must be positive");
  static_assert(detail::AtMost<R, D.d_ff>::value, "SparseFeedForward: the controller rank R must not exceed d_ff");
  static constexpr std::size_t kBlockSize = N;
  static constexpr std::size_t kBlocks = D.d_ff / N;
  static constexpr std::size_t kRank = R;

  struct Weights {
    // Units are indexed (block i, slot j) in two axes, so a checkpoint's shapes also state N.
    Tensor<R, D.d_model> controller_in;       // (r, d_model): C1, trax's m1 transposed
    Tensor<kBlocks, N, R> controller_out;     // (d_ff/N, N, r): C2, trax's m2 transposed
    Tensor<kBlocks, N> controller_bias;       // (d_ff/N, N)
    Tensor<kBlocks, N, D.d_model> in;         // (d_ff/N, N, d_model): row i·N+j feeds unit j of block i
    Tensor<kBlocks, N, D.d_model> out;        // (d_ff/N, N, d_model): row i·N+j is that unit's output
    Tensor<D.d_model> out_bias;               // (d_model)
    // Derived from C2 and its bias, never saved (core/tensor.hpp): C2 in int8 with a scale per
    // unit, and each block's error bound, which let decode read about a quarter of C2's bytes and
    // still choose exactly (kernels/screen.hpp).
    Derived<std::uint32_t, kernels::screen_words<R>(kBlocks, N)> controller_screen;  // packed, see screen.hpp
    Derived<float, kernels::screen_bound_floats(kBlocks)> controller_bounds;         // (d_ff/N, 3)
    template <class V>
    void visit(V& v) {
      v.tensor("controller_in", controller_in, Init::kFanIn);
      v.tensor("controller_out", controller_out, Init::kFanIn);
      v.tensor("controller_bias", controller_bias, Init::kBias);
      v.tensor("in", in, Init::kFanIn);
      // Init uses the last extent as fan-in; W2's true fan-in is d_ff/N chosen units, but random
      // weights only need a sane scale.
      v.tensor("out", out, Init::kFanIn);
      v.tensor("out_bias", out_bias, Init::kBias);
      v.derived("controller_screen", controller_screen,
                [&] { kernels::pack_screen<R>(controller_out.data, kBlocks, N, controller_screen.data); });
      v.derived("controller_bounds", controller_bounds, [&] {
        kernels::screen_block_bounds<R>(controller_out.data, controller_bias.data, kBlocks, N,
                                        controller_bounds.data);
      });
    }
  };
  struct State {};  // remembers nothing between tokens

  // What decode reads first: this member's share of C1 (the team splits its rows).
  static FirstReads first_reads(const Weights& w, const Team& team) {
    return {kernels::line_share(w.controller_in.span(), team), {}};
  }

  // Runs the controller for the step's tokens: ws.choice row t = the chosen row of `in` / `out`
  // for every block, ws.gate row t = ReLU of the chosen units. Ends synchronised.
  template <class Arch, class Workspace>
  static void select(const Step& step, const Weights& w, Workspace& ws, const float* xn) {
    const Team& team = step.team;
    kernels::gemm<R, D.d_model, kernels::Write::kStore, Arch>(team, xn, step.tokens, w.controller_in.data,
                                                              nullptr, ws.controller.data());
    team.sync();
    // Each member computes the controller logits of its own blocks and then picks in those same
    // blocks, so no barrier is needed between the two.
    const Range blocks = team.split(kBlocks);
    // Decode screens C2's int8 copy (same choices, about a quarter of the bytes). From kTokenBlock
    // tokens on, the fp32 gemm reads C2 once per kTokenBlock tokens, which is fewer bytes.
    const bool screen = w.controller_screen.ready && w.controller_bounds.ready && step.tokens < kernels::kTokenBlock;
    if (!screen) {
      kernels::gemm_rows<D.d_ff, R, kernels::Write::kStore, Arch>(ws.controller.data(), step.tokens,
                                                                  w.controller_out.data, w.controller_bias.data,
                                                                  ws.hidden.data(), {blocks.begin * N, blocks.end * N});
    }
    for (std::size_t t = 0; t < step.tokens; ++t) {
      std::uint32_t* choice = ws.choice.data() + t * kBlocks;
      if (screen) {
        kernels::screened_block_argmax<R, Arch>(w.controller_out.data, w.controller_bias.data,
                                                w.controller_screen.data, w.controller_bounds.data,
                                                ws.controller.data() + t * R, N, ws.hidden.data() + t * D.d_ff,
                                                choice, blocks);
      } else {
        kernels::block_argmax(ws.hidden.data() + t * D.d_ff, N, choice, blocks);
      }
      kernels::gathered_dots<D.d_model, kernels::Write::kStoreRelu, Arch>(
          w.in.data, choice, xn + t * D.d_model, ws.gate.data() + t * kBlocks, blocks);
    }
    team.sync();
  }

  // x += SparseFF(xn) for the step's tokens.   xn, x: (tokens, d_model). Ends synchronised.
  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& /*state*/, Workspace& ws,
                      const float* xn, float* x) {
    select<Arch>(step, w, ws, xn);
    const Range cols = step.team.split(D.d_model, kFloatsPerLine);  // whole cache lines of x
    // W2's gathered rows leave memory capacity to spare (0.6–0.7 of the read probe): they fetch
    // what the step reads next (kernels/trickle.hpp).
    kernels::Trickle then(step.then[0], step.then[1]);
    for (std::size_t t = 0; t < step.tokens; ++t) {
      kernels::gathered_axpy<D.d_model, Arch>(w.out.data, ws.choice.data() + t * kBlocks,
                                              ws.gate.data() + t * kBlocks, kBlocks, w.out_bias.data,
                                              x + t * D.d_model, cols, then);
    }
    step.team.sync();
  }
};

}  // namespace scaling
