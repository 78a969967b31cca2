#pragma once
// Multi-head attention layers with dense Q, K, V, O projections (with bias):
//   CausalSelfAttention   decoder self-attention; keys/values of past tokens live in a KV cache
//   BidirectionalAttention encoder self-attention over the whole input at once
//   CrossAttention        decoder attention to the encoder output, whose K/V are computed once
// Scores are scaled by 1/sqrt(d_head); softmax over the allowed keys (spec section 5).

#include <cstddef>

#include "scaling/core/dims.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/kernels/add.hpp"
#include "scaling/kernels/attention.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/layers/dense.hpp"
#include "scaling/layers/step.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling {

namespace detail {

// The weights of an attention layer with Q, K, V projections (In: d_model → d_attn) and an output
// layer (Out: d_attn → d_model), listed as q, k, v, o.
template <class In, class Out>
struct QkvoWeights {
  typename In::Weights q;
  typename In::Weights k;
  typename In::Weights v;
  typename Out::Weights o;
  template <class V>
  void visit(V& vis) {
    vis.scope("q", [&] { q.visit(vis); });
    vis.scope("k", [&] { k.visit(vis); });
    vis.scope("v", [&] { v.visit(vis); });
    vis.scope("o", [&] { o.visit(vis); });
  }
};

template <Dims D>
struct AttentionShape {
  static_assert(CheckDims<D>::kOk);
  static constexpr std::size_t kHeads = D.n_heads;
  static constexpr std::size_t kHeadWidth = D.head_width();
  static constexpr std::size_t kWidth = D.d_attn();  // heads concatenated
  using Cache = kernels::KvLayout<kHeads, D.max_len, kHeadWidth>;
  using In = Dense<D.d_model, kWidth>;
  using Out = Dense<kWidth, D.d_model>;

  using Weights = QkvoWeights<In, Out>;  // q, k, v: w (d_attn, d_model), b (d_attn);
                                         // o: w (d_model, d_attn), b (d_model)

  // A K or V cache: (max_len, heads, d_head).
  struct KvCache {
    AlignedBuffer k{Cache::kSize};
    AlignedBuffer v{Cache::kSize};
  };
  // A cross-attention cache: the encoder output's keys and values, and how many there are.
  struct CrossCache : KvCache {
    std::size_t length = 0;  // encoder positions in the cache
  };

  // The first float of position pos's row in a K or V cache. A row is one token's heads
  // concatenated, so rows [pos, pos + tokens) have the (tokens, d_attn) layout of a projection's
  // output, which is written there directly: no copy, and no barrier before one.
  static float* row(float* cache, std::size_t pos) { return cache + pos * Cache::kRowStride; }

  // ws.q = Q(xn); K(xn) and V(xn) into rows [pos, pos + tokens) of the caches. Ends synchronised.
  template <class Arch, class Workspace>
  static void project_qkv(const Step& step, const Weights& w, Workspace& ws, const float* xn,
                          float* k_cache, float* v_cache, std::size_t pos) {
    In::template apply<kernels::Write::kStore, Arch>(step.team, w.q, xn, step.tokens, ws.q.data());
    In::template apply<kernels::Write::kStore, Arch>(step.team, w.k, xn, step.tokens,
                                                     row(k_cache, pos));
    In::template apply<kernels::Write::kStore, Arch>(step.team, w.v, xn, step.tokens,
                                                     row(v_cache, pos));
    step.team.sync();
  }

  // ws.attn = attention of ws.q over the caches; token t sees n_keys(t) keys. Ends synchronised.
  template <class Arch, class Workspace, class KeysFor>
  static void attend(const Step& step, Workspace& ws, const float* k_cache, const float* v_cache,
                     KeysFor n_keys) {
    kernels::attention<kHeads, D.max_len, kHeadWidth, Arch>(step.team, ws.q.data(), step.tokens,
                                                            k_cache, v_cache, n_keys,
                                                            ws.scores.data(), ws.attn.data());
    step.team.sync();
  }

  // x += attention(q, caches), for layers without an output layer (the heads span d_model). Each
  // member adds the heads it attended itself (kernels::attention_pairs), so no barrier separates
  // attention from the residual. The kernel fetches lines of `trickle` meanwhile
  // (kernels/trickle.hpp). Ends synchronised.
  template <class Arch, class Workspace, class KeysFor>
  static void attend_and_add(const Step& step, Workspace& ws, const float* k_cache,
                             const float* v_cache, KeysFor n_keys, kernels::Trickle& trickle,
                             float* x) {
    static_assert(kWidth == D.d_model, "attend_and_add: the heads must concatenate to d_model");
    kernels::attention<kHeads, D.max_len, kHeadWidth, Arch>(
        step.team, ws.q.data(), step.tokens, k_cache, v_cache, n_keys, ws.scores.data(),
        ws.attn.data(), trickle);
    const Range pairs = kernels::attention_pairs<kHeads>(step.team, step.tokens);
    const std::size_t first = pairs.begin * kHeadWidth;
    kernels::add<Arch>(ws.attn.data() + first, x + first, x + first, pairs.size() * kHeadWidth);
    step.team.sync();
  }

  // x += O(attention(q, caches)).  Ends synchronised.
  template <class Arch, class Workspace, class KeysFor>
  static void attend_and_project(const Step& step, const Weights& w, Workspace& ws,
                                 const float* k_cache, const float* v_cache, KeysFor n_keys,
                                 float* x) {
    attend<Arch>(step, ws, k_cache, v_cache, n_keys);
    Out::template apply<kernels::Write::kAccumulate, Arch>(step.team, w.o, ws.attn.data(),
                                                           step.tokens, x);
    step.team.sync();
  }

  // Fills a cross-attention cache with the keys and values of the encoder output
  // enc: (step.tokens, d_model). Ends synchronised.
  template <class Arch>
  static void encode(const Step& step, const typename In::Weights& k, const typename In::Weights& v,
                     CrossCache& cache, const float* enc) {
    In::template apply<kernels::Write::kStore, Arch>(step.team, k, enc, step.tokens,
                                                     cache.k.data());
    In::template apply<kernels::Write::kStore, Arch>(step.team, v, enc, step.tokens,
                                                     cache.v.data());
    step.team.sync();
    if (step.team.id() == 0) cache.length = step.tokens;  // read only by later steps
  }
};

// x += a over the step's tokens, without an output layer.   a, x: (tokens, d_model).
// Ends synchronised.
template <Dims D, class Arch>
void add_residual(const Step& step, const float* a, float* x) {
  const Range part = step.team.split(step.tokens * D.d_model, kFloatsPerLine);
  kernels::add<Arch>(a + part.begin, x + part.begin, x + part.begin, part.size());
  step.team.sync();
}

}  // namespace detail

template <Dims D>
struct CausalSelfAttention {
  using Shape = detail::AttentionShape<D>;
  using Weights = typename Shape::Weights;
  using State = typename Shape::KvCache;  // keys and values of every position decoded so far

  // x += Attn(xn) for tokens at positions [pos, pos + tokens); token t sees positions ≤ pos + t.
  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& cache, Workspace& ws,
                      const float* xn, float* x) {
    Shape::template project_qkv<Arch>(step, w, ws, xn, cache.k.data(), cache.v.data(), step.pos);
    const std::size_t pos = step.pos;
    Shape::template attend_and_project<Arch>(step, w, ws, cache.k.data(), cache.v.data(),
                                             [pos](std::size_t t) { return pos + t + 1; }, x);
  }
};

// Encoder self-attention: every token sees every token of the input. The step must hold the whole
// input (pos 0); keys and values go to the workspace's own cache, since nothing outlives the call.
template <Dims D>
struct BidirectionalAttention {
  using Shape = detail::AttentionShape<D>;
  using Weights = typename Shape::Weights;
  struct State {};

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& /*state*/, Workspace& ws,
                      const float* xn, float* x) {
    Shape::template project_qkv<Arch>(step, w, ws, xn, ws.cache.k.data(), ws.cache.v.data(), 0);
    const std::size_t all = step.tokens;
    Shape::template attend_and_project<Arch>(step, w, ws, ws.cache.k.data(), ws.cache.v.data(),
                                             [all](std::size_t) { return all; }, x);
  }
};

// Decoder attention to the encoder output. encode() projects the encoder output to keys and
// values once per input; every decoder step then only computes Q and O.
template <Dims D>
struct CrossAttention {
  using Shape = detail::AttentionShape<D>;
  using Weights = typename Shape::Weights;
  using State = typename Shape::CrossCache;

  // Fills the cache from the encoder output enc: (step.tokens, d_model). Ends synchronised.
  template <class Arch, class Workspace>
  static void encode(const Step& step, const Weights& w, State& cache, Workspace& /*ws*/,
                     const float* enc) {
    Shape::template encode<Arch>(step, w.k, w.v, cache, enc);
  }

  template <class Arch, class Workspace>
  static void forward(const Step& step, const Weights& w, State& cache, Workspace& ws,
                      const float* xn, float* x) {
    using In = typename Shape::In;
    In::template apply<kernels::Write::kStore, Arch>(step.team, w.q, xn, step.tokens, ws.q.data());
    step.team.sync();
    const std::size_t all = cache.length;
    Shape::template attend_and_project<Arch>(step, w, ws, cache.k.data(), cache.v.data(),
                                             [all](std::size_t) { return all; }, x);
  }
};

}  // namespace scaling
