#pragma once
// An independent reference of the dense stacks: the whole sequence at once, in double precision,
// no KV cache, no SIMD, no threads — read straight off the Weights structs. The tests compare the
// library's decode and prefill paths against it.

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "scaling/kernels/norm.hpp"
#include "scaling/models/stack.hpp"

namespace scaling::testing {

using Rows = std::vector<std::vector<double>>;  // (tokens, width)

template <class DenseWeights>
Rows linear(const DenseWeights& w, const Rows& x) {
  constexpr std::size_t kOut = decltype(w.w)::kShape[0];
  constexpr std::size_t kIn = decltype(w.w)::kShape[1];
  Rows y(x.size(), std::vector<double>(kOut));
  for (std::size_t t = 0; t < x.size(); ++t) {
    for (std::size_t o = 0; o < kOut; ++o) {
      double s = w.b.data[o];
      for (std::size_t i = 0; i < kIn; ++i) s += static_cast<double>(w.w.data[o * kIn + i]) * x[t][i];
      y[t][o] = s;
    }
  }
  return y;
}

template <class NormWeights>
Rows layer_norm(const NormWeights& w, const Rows& x) {
  Rows y = x;
  for (auto& row : y) {
    const double n = static_cast<double>(row.size());
    double mean = 0;
    for (double v : row) mean += v;
    mean /= n;
    double var = 0;
    for (double v : row) var += (v - mean) * (v - mean);
    var /= n;
    for (std::size_t i = 0; i < row.size(); ++i) {
      row[i] = (row[i] - mean) / std::sqrt(var + kernels::kNormEpsilon) * w.gain.data[i] + w.bias.data[i];
    }
  }
  return y;
}

inline void add(Rows& x, const Rows& y) {
  for (std::size_t t = 0; t < x.size(); ++t) {
    for (std::size_t i = 0; i < x[t].size(); ++i) x[t][i] += y[t][i];
  }
}

// Multi-head attention of queries from xq to keys/values from xkv; query t sees keys j with
// causal ? j <= t : all.
template <Dims D, class AttnWeights>
Rows attention(const AttnWeights& w, const Rows& xq, const Rows& xkv, bool causal) {
  const Rows q = linear(w.q, xq);
  const Rows k = linear(w.k, xkv);
  const Rows v = linear(w.v, xkv);
  constexpr std::size_t kDh = D.head_width();
  Rows out(xq.size(), std::vector<double>(D.d_attn()));
  for (std::size_t t = 0; t < xq.size(); ++t) {
    const std::size_t n = causal ? t + 1 : xkv.size();
    for (std::size_t h = 0; h < D.n_heads; ++h) {
      std::vector<double> s(n);
      double top = -1e300;
      for (std::size_t j = 0; j < n; ++j) {
        double dot = 0;
        for (std::size_t i = 0; i < kDh; ++i) dot += q[t][h * kDh + i] * k[j][h * kDh + i];
        s[j] = dot / std::sqrt(static_cast<double>(kDh));
        top = std::max(top, s[j]);
      }
      double total = 0;
      for (auto& e : s) total += (e = std::exp(e - top));
      for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t i = 0; i < kDh; ++i) out[t][h * kDh + i] += s[j] / total * v[j][h * kDh + i];
      }
    }
  }
  return linear(w.o, out);
}

template <class FfWeights>
Rows feedforward(const FfWeights& w, const Rows& x) {
  Rows h = linear(w.in, x);
  for (auto& row : h) {
    for (auto& e : row) e = e > 0 ? e : 0;
  }
  return linear(w.out, h);
}

template <Dims D, class StackWeights>
Rows embed(const Tensor<D.vocab, D.d_model>& table, const StackWeights& stack, std::span<const Token> tokens) {
  Rows x(tokens.size(), std::vector<double>(D.d_model));
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    for (std::size_t i = 0; i < D.d_model; ++i) {
      x[t][i] = static_cast<double>(table.data[static_cast<std::size_t>(tokens[t]) * D.d_model + i]) +
                stack.positions.data[t * D.d_model + i];
    }
  }
  return x;
}

// Logits of every position of a dense decoder-only model: (tokens, vocab).
template <class Model>
Rows decoder_only_logits(const typename Model::Weights& w, std::span<const Token> tokens) {
  constexpr Dims kD = Model::kDims;
  Rows x = embed<kD>(w.embedding, w.decoder, tokens);
  for (const auto& layer : w.decoder.layers) {
    const Rows xn = layer_norm(layer.attn_norm, x);
    add(x, attention<kD>(layer.attn, xn, xn, true));
    add(x, feedforward(layer.ff, layer_norm(layer.ff_norm, x)));
  }
  return linear(w.logits, layer_norm(w.decoder.final_norm, x));
}

// Logits of every decoder position of a dense encoder–decoder model: (tokens, vocab).
template <class Model>
Rows encoder_decoder_logits(const typename Model::Weights& w, std::span<const Token> input,
                            std::span<const Token> tokens) {
  constexpr Dims kD = Model::kDims;
  Rows e = embed<kD>(w.embedding, w.encoder, input);
  for (const auto& layer : w.encoder.layers) {
    const Rows en = layer_norm(layer.attn_norm, e);
    add(e, attention<kD>(layer.attn, en, en, false));
    add(e, feedforward(layer.ff, layer_norm(layer.ff_norm, e)));
  }
  e = layer_norm(w.encoder.final_norm, e);
  Rows x = embed<kD>(w.embedding, w.decoder, tokens);
  for (const auto& layer : w.decoder.layers) {
    const Rows xn = layer_norm(layer.attn_norm, x);
    add(x, attention<kD>(layer.attn, xn, xn, true));
    add(x, attention<kD>(layer.cross, layer_norm(layer.cross_norm, x), e, false));
    add(x, feedforward(layer.ff, layer_norm(layer.ff_norm, x)));
  }
  return linear(w.logits, layer_norm(w.decoder.final_norm, x));
}

}  // namespace scaling::testing
