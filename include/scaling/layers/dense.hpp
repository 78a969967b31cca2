#pragma once
// A dense (fully connected) layer with bias: y = W x + b.

#include <cstddef>

#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/gemm.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <std::size_t In, std::size_t Out>
struct Dense {
  static_assert(In > 0 && Out > 0, "Dense: extents must be positive");
  static constexpr std::size_t kIn = In;
  static constexpr std::size_t kOut = Out;

  struct Weights {
    Tensor<Out, In> w;  // (d_out, d_in): row r produces output r (PyTorch nn.Linear layout)
    Tensor<Out> b;      // (d_out)
    template <class V>
    void visit(V& v) {
      v.tensor("w", w, Init::kFanIn);
      v.tensor("b", b, Init::kBias);
    }
  };

  // The team's share of y = x Wᵀ + b for `tokens` rows.   x: (tokens, In), y: (tokens, Out).
  template <kernels::Write Mode = kernels::Write::kStore, class Arch = simd::DefaultArch>
  static void apply(const Team& team, const Weights& weights, const float* x, std::size_t tokens,
                    float* y) {
    kernels::gemm<Out, In, Mode, Arch>(team, x, tokens, weights.w.data, weights.b.data, y);
  }
};

}  // namespace scaling
