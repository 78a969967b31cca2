#pragma once
// The dense feedforward block: Dense(d_ff) → ReLU → Dense(d_model) (spec section 7).
// Pre-norm and the residual connection belong to the block that holds it.

#include "scaling/core/dims.hpp"
#include "scaling/layers/dense.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

template <Dims D>
struct DenseFeedForward {
  static_assert(CheckDims<D>::kOk);
  using In = Dense<D.d_model, D.d_ff>;
  using Out = Dense<D.d_ff, D.d_model>;

  struct Weights {
    typename In::Weights in;    // w (d_ff, d_model), b (d_ff)
    typename Out::Weights out;  // w (d_model, d_ff), b (d_model)
    template <class V>
    void visit(V& v) {
      v.scope("in", [&] { in.visit(v); });
      v.scope("out", [&] { out.visit(v); });
    }
  };
  struct State {};  // a feedforward remembers nothing between tokens

  // x += FF(xn) for the step's tokens.   xn, x: (tokens, d_model). Ends synchronised.
  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& /*state*/, Workspace& ws,
                      const float* xn, float* x) {
    In::template apply<kernels::Write::kStoreRelu, Arch>(step.team, w.in, xn, step.tokens,
                                                         ws.hidden.data());
    step.team.sync();
    Out::template apply<kernels::Write::kAccumulate, Arch>(step.team, w.out, ws.hidden.data(),
                                                           step.tokens, x);
    step.team.sync();
  }
};

}  // namespace scaling
