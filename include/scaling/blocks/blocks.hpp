#pragma once
// Transformer blocks: pre-norm residual sublayers, x += Sublayer(Norm(x)).
//   DecoderBlock<Norm, SelfAttn, Ffn>       decoder-only stacks
//   EncoderBlock<Norm, Attn, Ffn>           the encoder of an encoder–decoder stack
//   CrossDecoderBlock<Norm, SelfAttn, CrossAttn, Ffn>  its decoder: self-, cross-attention, FF
// Any layer with Weights, State and forward<Arch>(Step, Weights, State, Workspace, xn, x) plugs in
// as a sublayer; the norm is a policy too (LayerNorm or RmsNorm). A sublayer may also say what it
// reads first (first_reads(Weights, Team) → FirstReads), which the sublayer before it is given as
// Step::then to fetch ahead; a block's first reads are its self-attention's, given by the stack
// to the block before it.

#include <cstddef>

#include "scaling/layers/norm.hpp"
#include "scaling/layers/step.hpp"

namespace scaling {

namespace detail {

// x += Sublayer(Norm(x)) for the step's tokens, telling the sublayer what is read after it
// (`then`). Ends synchronised.
template <class Arch, class Norm, class Sublayer, class Workspace>
void pre_norm_residual(const Step& step, const typename Norm::Weights& norm,
                       const typename Sublayer::Weights& weights, typename Sublayer::State& state,
                       Workspace& ws, float* x, const FirstReads& then) {
  const float* xn = normalise<Arch, Norm>(step.team, norm, x, step.tokens, ws);
  Sublayer::template forward<Arch>(Step{step.team, step.pos, step.tokens, then}, weights, state, ws,
                                   xn, x);
}

}  // namespace detail

template <class Norm, class SelfAttn, class Ffn>
struct DecoderBlock {
  using SelfAttention = SelfAttn;
  using FeedForward = Ffn;
  struct Weights {
    typename Norm::Weights attn_norm;
    typename SelfAttn::Weights attn;
    typename Norm::Weights ff_norm;
    typename Ffn::Weights ff;
    template <class V>
    void visit(V& v) {
      v.scope("attn_norm", [&] { attn_norm.visit(v); });
      v.scope("attn", [&] { attn.visit(v); });
      v.scope("ff_norm", [&] { ff_norm.visit(v); });
      v.scope("ff", [&] { ff.visit(v); });
    }
  };
  struct State {
    typename SelfAttn::State attn;
    typename Ffn::State ff;
  };

  // What the block reads first: its self-attention's first reads.
  static FirstReads first_reads(const Weights& w, const Team& team) {
    return detail::first_reads<SelfAttn>(w.attn, team);
  }

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& s, Workspace& ws, float* x) {
    detail::pre_norm_residual<Arch, Norm, SelfAttn>(step, w.attn_norm, w.attn, s.attn, ws, x,
                                                    detail::first_reads<Ffn>(w.ff, step.team));
    detail::pre_norm_residual<Arch, Norm, Ffn>(step, w.ff_norm, w.ff, s.ff, ws, x, step.then);
  }
};

// Same wiring; a separate name because an encoder block runs over the whole input in one step.
template <class Norm, class Attn, class Ffn>
struct EncoderBlock : DecoderBlock<Norm, Attn, Ffn> {};

template <class Norm, class SelfAttn, class CrossAttn, class Ffn>
struct CrossDecoderBlock {
  using SelfAttention = SelfAttn;
  using Cross = CrossAttn;
  using FeedForward = Ffn;
  struct Weights {
    typename Norm::Weights attn_norm;
    typename SelfAttn::Weights attn;
    typename Norm::Weights cross_norm;
    typename CrossAttn::Weights cross;
    typename Norm::Weights ff_norm;
    typename Ffn::Weights ff;
    template <class V>
    void visit(V& v) {
      v.scope("attn_norm", [&] { attn_norm.visit(v); });
      v.scope("attn", [&] { attn.visit(v); });
      v.scope("cross_norm", [&] { cross_norm.visit(v); });
      v.scope("cross", [&] { cross.visit(v); });
      v.scope("ff_norm", [&] { ff_norm.visit(v); });
      v.scope("ff", [&] { ff.visit(v); });
    }
  };
  struct State {
    typename SelfAttn::State attn;
    typename CrossAttn::State cross;
    typename Ffn::State ff;
  };

  // What the block reads first: its self-attention's first reads.
  static FirstReads first_reads(const Weights& w, const Team& team) {
    return detail::first_reads<SelfAttn>(w.attn, team);
  }

  // Projects the encoder output enc: (step.tokens, d_model) into this block's cross cache.
  template <class Arch, class Workspace>
  static void encode(const Step& step, const Weights& w, State& s, Workspace& ws, const float* enc) {
    CrossAttn::template encode<Arch>(step, w.cross, s.cross, ws, enc);
  }

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& s, Workspace& ws, float* x) {
    detail::pre_norm_residual<Arch, Norm, SelfAttn>(step, w.attn_norm, w.attn, s.attn, ws, x,
                                                    detail::first_reads<CrossAttn>(w.cross, step.team));
    detail::pre_norm_residual<Arch, Norm, CrossAttn>(step, w.cross_norm, w.cross, s.cross, ws, x,
                                                     detail::first_reads<Ffn>(w.ff, step.team));
    detail::pre_norm_residual<Arch, Norm, Ffn>(step, w.ff_norm, w.ff, s.ff, ws, x, step.then);
  }
};

}  // namespace scaling
