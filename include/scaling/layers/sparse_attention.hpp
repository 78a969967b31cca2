#pragma once
// Attention layers whose projections are sparse (spec section 3). With S modules of
// M = d_model / S features each:
//   SparseQkvAttention      the paper's Sparse QKV ("multiplicative + conv", trax
//                           MultiplicativeConvCausalAttention): one multiplicative layer shared by
//                           Q, K and V, then a convolution each (Q, K: Ks 3; V: Ks 1), all of
//                           length kernel Kl over the sequence; no output layer
//   MultiplicativeAttention ablation: a separate multiplicative layer for each of Q, K, V, O
//   ConvAttention           ablation: a convolution with Ks 1, Kl 1 for each of Q, K, V, O
//   SparseCrossAttention    cross-attention whose Q is multiplicative + conv (Ks 3, length kernel
//                           Kl over the decoder's positions); K, V dense and computed once per
//                           input; no output layer
// Scores, softmax and the KV cache are those of the dense layers (layers/attention.hpp).

#include <algorithm>
#include <cstddef>
#include <span>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/layers/attention.hpp"
#include "scaling/layers/local_conv.hpp"
#include "scaling/layers/multiplicative_dense.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

namespace detail {

// The module split every sparse attention layer checks.
template <Dims D, std::size_t S>
struct SparseAttentionShape : AttentionShape<D> {
  static_assert(CheckDims<D>::kOk);
  static_assert(Divisible<D.d_model, S>::value,
                "sparse attention: d_model must be divisible by the number of modules S");
  static constexpr std::size_t kModuleWidth = D.d_model / S;  // M
};

// This member's share of the rows of a K or V cache's first positions (`floats` floats): what
// attention reads of it, fetched ahead (kernels/trickle.hpp).
inline std::span<const float> cached(const AlignedBuffer& cache, std::size_t floats, const Team& team) {
  return kernels::line_share(cache.span().first(floats), team);
}

// A layer without an output layer adds the heads' concatenation to x directly.
template <Dims D>
using HeadsSpanModel = Equal<D.d_attn(), D.d_model>;

}  // namespace detail

template <Dims D, std::size_t S, std::size_t Kl = 3>
struct SparseQkvAttention {
  using Shape = detail::SparseAttentionShape<D, S>;
  static_assert(detail::HeadsSpanModel<D>::value,
                "SparseQkvAttention: n_heads * d_head must equal d_model (it has no output layer)");
  static constexpr std::size_t kM = Shape::kModuleWidth;
  using Mult = MultiplicativeDense<D.d_model, D.d_model, S>;
  using ConvQk = LocalConv<S, kM, kM, 3, Kl>;  // Q and K: each module sees its two neighbours
  using ConvV = LocalConv<S, kM, kM, 1, Kl>;

  struct Weights {
    typename Mult::Weights mult;  // d (S, d_model), e (d_model, M), b (d_model): shared by Q, K, V
    typename ConvQk::Weights q;   // kernel (Kl, 3, M, M), b (M)
    typename ConvQk::Weights k;   // kernel (Kl, 3, M, M), b (M)
    typename ConvV::Weights v;    // kernel (Kl, 1, M, M), b (M)
    template <class V>
    void visit(V& vis) {
      vis.scope("mult", [&] { mult.visit(vis); });
      vis.scope("q", [&] { q.visit(vis); });
      vis.scope("k", [&] { k.visit(vis); });
      vis.scope("v", [&] { v.visit(vis); });
    }
  };
  struct State : Shape::KvCache {
    ConvHistory<D.d_model, Kl> history;  // the multiplicative layer's last Kl − 1 outputs
  };

  // The modules of convolution `conv` (0 Q, 1 K, 2 V) that this member computes. Each
  // convolution reads its whole kernel whichever of its modules a member computes, so rather
  // than splitting all three over the team (every member reading every kernel), members take
  // whole convolutions: member m works on those with conv ≡ m (mod min(team, 3)), splitting
  // their modules with the other members that share that residue. A team of 2 runs Q on member
  // 0 and K on member 1 and splits V (Ks 1: a third of Q's work) between them, so each does
  // 3.5 of the 7 thirds; both then read V's kernel (800M 49 KB, 17B 249 KB). Results do not
  // depend on the split: each output module is computed by the same instructions.
  static Range conv_modules(const Team& team, std::size_t conv) {
    if (team.size() == 2 && conv == 2) return team.split(S);
    const unsigned lanes = std::min(team.size(), 3U);
    const auto lane = static_cast<unsigned>(conv % lanes);
    if (team.id() % lanes != lane) return {};
    return team.lane(lane, lanes).split(S);
  }

  // What decode reads first: this member's share of the multiplicative layer's first reads.
  static FirstReads first_reads(const Weights& w, const Team& team) {
    return Mult::first_reads(w.mult, team);
  }

  // A convolution's kernel, if the member computes any of its modules.
  template <class ConvWeights>
  static std::span<const float> kernel_if(const ConvWeights& w, Range modules) {
    return modules.size() > 0 ? std::span<const float>(w.kernel.span()) : std::span<const float>();
  }

  // x += Attn(xn) for tokens at positions [pos, pos + tokens); token t sees positions ≤ pos + t.
  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& state, Workspace& ws,
                      const float* xn, float* x) {
    const Team& team = step.team;
    if (team.id() == 0) state.history.begin(step);
    const Range q_modules = conv_modules(team, 0);
    const Range k_modules = conv_modules(team, 1);
    const Range v_modules = conv_modules(team, 2);
    // The multiplicative layer and the convolutions compute about as long as they wait for their
    // weights; meanwhile they fetch what this member reads after them: the convolutions' kernels,
    // its share of the cached keys and values, and what the next sublayer reads first
    // (kernels/trickle.hpp). Attention goes on where they stopped.
    kernels::Trickle ahead(kernel_if(w.q, q_modules), kernel_if(w.k, k_modules), kernel_if(w.v, v_modules),
                           detail::cached(state.k, step.pos * D.d_attn(), team),
                           detail::cached(state.v, step.pos * D.d_attn(), team), step.then[0], step.then[1]);
    Mult::template apply<Arch>(team, w.mult, xn, step.tokens, ws.mixed.data(), ws.partial.data(),
                               ahead);
    team.sync();
    for (std::size_t t = 0; t < step.tokens; ++t) {
      const auto rows = state.history.window(ws.mixed.data(), t);
      const std::size_t at = t * D.d_model;
      ConvQk::template apply<Arch>(w.q, rows, ws.q.data() + at, q_modules, ahead);
      // K and V go straight into the caches' rows (Shape::row).
      ConvQk::template apply<Arch>(w.k, rows, Shape::row(state.k.data(), step.pos + t), k_modules,
                                   ahead);
      ConvV::template apply<Arch>(w.v, rows, Shape::row(state.v.data(), step.pos + t), v_modules,
                                  ahead);
    }
    team.sync();
    if (team.id() == 0) state.history.end(ws.mixed.data(), step.tokens);  // no one reads it now
    const std::size_t pos = step.pos;
    Shape::template attend_and_add<Arch>(
        step, ws, state.k.data(), state.v.data(), [pos](std::size_t t) { return pos + t + 1; },
        ahead, x);
  }
};

namespace detail {

// Causal self-attention whose Q, K, V (In) and O (Out) are sparse layers with
// apply<Arch>(team, weights, x, tokens, y): the paper's two ablations.
template <Dims D, std::size_t S, class In, class Out>
struct QkvoAttention {
  using Shape = SparseAttentionShape<D, S>;
  static_assert(Divisible<D.d_attn(), S>::value,
                "sparse attention: n_heads * d_head must be divisible by the number of modules S");
  using Weights = QkvoWeights<In, Out>;
  using State = typename Shape::KvCache;

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& cache, Workspace& ws,
                      const float* xn, float* x) {
    const Team& team = step.team;
    In::template apply<Arch>(team, w.q, xn, step.tokens, ws.q.data());
    In::template apply<Arch>(team, w.k, xn, step.tokens, Shape::row(cache.k.data(), step.pos));
    In::template apply<Arch>(team, w.v, xn, step.tokens, Shape::row(cache.v.data(), step.pos));
    team.sync();
    const std::size_t pos = step.pos;
    Shape::template attend<Arch>(step, ws, cache.k.data(), cache.v.data(),
                                 [pos](std::size_t t) { return pos + t + 1; });
    Out::template apply<Arch>(team, w.o, ws.attn.data(), step.tokens, ws.mixed.data());
    team.sync();
    add_residual<D, Arch>(step, ws.mixed.data(), x);
  }
};

}  // namespace detail

// Ablation "multiplicative": Q, K, V and O are each a multiplicative layer with S modules.
// Weights: q, k, v: d (S, d_model), e (d_model, d_attn / S), b (d_attn);
//          o: d (S, d_attn), e (d_attn, d_model / S), b (d_model).
template <Dims D, std::size_t S>
struct MultiplicativeAttention
    : detail::QkvoAttention<D, S, MultiplicativeDense<D.d_model, D.d_attn(), S>,
                            MultiplicativeDense<D.d_attn(), D.d_model, S>> {};

// Ablation "conv": Q, K, V and O are each a convolution with Ks 1 and Kl 1, i.e. one small dense
// layer applied to every module separately, its weights shared by all modules.
// Weights: q, k, v: kernel (1, 1, M, d_attn / S), b (d_attn / S); o: kernel (1, 1, d_attn / S, M), b (M).
template <Dims D, std::size_t S>
struct ConvAttention
    : detail::QkvoAttention<D, S, LocalConv<S, D.d_model / S, D.d_attn() / S, 1, 1>,
                            LocalConv<S, D.d_attn() / S, D.d_model / S, 1, 1>> {};

// Cross-attention with a sparse Q (trax AttentionQKV with q_sparsity / result_sparsity 'noop').
template <Dims D, std::size_t S, std::size_t Kl = 3>
struct SparseCrossAttention {
  using Shape = detail::SparseAttentionShape<D, S>;
  static_assert(detail::HeadsSpanModel<D>::value,
                "SparseCrossAttention: n_heads * d_head must equal d_model (it has no output layer)");
  static constexpr std::size_t kM = Shape::kModuleWidth;
  using Mult = MultiplicativeDense<D.d_model, D.d_model, S>;
  using ConvQ = LocalConv<S, kM, kM, 3, Kl>;
  using Kv = typename Shape::In;

  struct Weights {
    typename Mult::Weights q_mult;  // d (S, d_model), e (d_model, M), b (d_model)
    typename ConvQ::Weights q;      // kernel (Kl, 3, M, M), b (M)
    typename Kv::Weights k;         // w (d_model, d_model), b (d_model)
    typename Kv::Weights v;         // w (d_model, d_model), b (d_model)
    template <class V>
    void visit(V& vis) {
      vis.scope("q_mult", [&] { q_mult.visit(vis); });
      vis.scope("q", [&] { q.visit(vis); });
      vis.scope("k", [&] { k.visit(vis); });
      vis.scope("v", [&] { v.visit(vis); });
    }
  };
  struct State : Shape::CrossCache {
    ConvHistory<D.d_model, Kl> history;  // Q's multiplicative layer's last Kl − 1 outputs
  };

  // What decode reads first: this member's share of Q's multiplicative layer's first reads.
  static FirstReads first_reads(const Weights& w, const Team& team) {
    return Mult::first_reads(w.q_mult, team);
  }

  // Fills the cache from the encoder output enc: (step.tokens, d_model). Ends synchronised.
  template <class Arch, class Workspace>
  static void encode(const Step& step, const Weights& w, State& cache, Workspace& /*ws*/,
                     const float* enc) {
    Shape::template encode<Arch>(step, w.k, w.v, cache, enc);
  }

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& state, Workspace& ws,
                      const float* xn, float* x) {
    const Team& team = step.team;
    if (team.id() == 0) state.history.begin(step);
    const std::size_t all = state.length;
    // As in SparseQkvAttention: the multiplicative layer, the convolution and then attention
    // fetch its kernel, the member's share of the cached keys and values, and what the next
    // sublayer reads first.
    kernels::Trickle ahead(w.q.kernel.span(), detail::cached(state.k, all * D.d_attn(), team),
                           detail::cached(state.v, all * D.d_attn(), team), step.then[0], step.then[1]);
    Mult::template apply<Arch>(team, w.q_mult, xn, step.tokens, ws.mixed.data(), ws.partial.data(),
                               ahead);
    team.sync();
    for (std::size_t t = 0; t < step.tokens; ++t) {
      ConvQ::template apply<Arch>(w.q, state.history.window(ws.mixed.data(), t), ws.q.data() + t * D.d_model,
                                  team.split(S), ahead);
    }
    team.sync();
    if (team.id() == 0) state.history.end(ws.mixed.data(), step.tokens);
    Shape::template attend_and_add<Arch>(
        step, ws, state.k.data(), state.v.data(), [all](std::size_t) { return all; }, ahead, x);
  }
};

}  // namespace scaling
