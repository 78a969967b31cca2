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

}  // namespace scaling
