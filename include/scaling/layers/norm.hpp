#pragma once
// Normalisation layers as policies (LayerNorm = trax center_layernorm=True, RmsNorm = False).

#include <cstddef>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/norm.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <std::size_t D>
struct LayerNorm {
  struct Weights {
    Tensor<D> gain;  // (d)
    Tensor<D> bias;  // (d)
    template <class V>
    void visit(V& v) {
      v.tensor("gain", gain, Init::kOnes);
      v.tensor("bias", bias, Init::kZeros);
    }
  };
  // The team's share (split over tokens) of y = LN(x).   x, y: (tokens, D). Does not synchronise.
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens, float* y) {
    const Range rows = team.split(tokens);
    for (std::size_t t = rows.begin; t < rows.end; ++t) {
      kernels::layer_norm<D, Arch>(x + t * D, w.gain.data, w.bias.data, y + t * D);
    }
  }
};

template <std::size_t D>
struct RmsNorm {
  struct Weights {
    Tensor<D> gain;  // (d)
    template <class V>
    void visit(V& v) {
      v.tensor("gain", gain, Init::kOnes);
    }
  };
  template <class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& w, const float* x, std::size_t tokens, float* y) {
    const Range rows = team.split(tokens);
    for (std::size_t t = rows.begin; t < rows.end; ++t) {
      kernels::rms_norm<D, Arch>(x + t * D, w.gain.data, y + t * D);
    }
  }
};

namespace detail {

// xn = Norm(x) for `tokens` rows; returns where xn is, for every member to read once it returns.
// A one-token step on a team is normalised by each member into its own row (ws.member_xn): the
// same instructions on the same row, so the same floats, and no barrier waiting for the one
// member that the tokens would be split to (three per block of an encoder–decoder: see "Fewer
// barriers" in docs/benchmarks.md). Otherwise the team splits the tokens into ws.xn and
// synchronises.
template <class Arch, class Norm, class Workspace>
const float* normalise(const Team& team, const typename Norm::Weights& w, const float* x,
                       std::size_t tokens, Workspace& ws) {
  if (tokens == 1 && team.size() > 1) {
    float* own = ws.member_xn(team.id());
    Norm::template apply<Arch>(Team::solo(), w, x, 1, own);
    return own;
  }
  Norm::template apply<Arch>(team, w, x, tokens, ws.xn.data());
  team.sync();
  return ws.xn.data();
}

}  // namespace detail

}  // namespace scaling
