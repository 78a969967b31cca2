#pragma once
// An independent reference of the stacks: the whole sequence at once, in double precision, no KV
// cache or conv history, no SIMD, no threads — read straight off the Weights structs, one twin
// (Ref<Policy>) per layer policy. The tests compare the library's decode and prefill paths
// against it.

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "scaling/kernels/norm.hpp"
#include "scaling/kernels/reference/reference.hpp"
#include "scaling/models/configs.hpp"

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

// y[s·M + m] = Σ_i x_i D[s, i] E[i, m] + b: the multiplicative layer as its formula.
template <class MultWeights>
Rows multiplicative(const MultWeights& w, const Rows& x) {
  constexpr std::size_t kS = decltype(w.d)::kShape[0];
  constexpr std::size_t kIn = decltype(w.d)::kShape[1];
  constexpr std::size_t kM = decltype(w.e)::kShape[1];
  Rows y(x.size(), std::vector<double>(kS * kM));
  for (std::size_t t = 0; t < x.size(); ++t) {
    for (std::size_t s = 0; s < kS; ++s) {
      for (std::size_t m = 0; m < kM; ++m) {
        double acc = w.b.data[s * kM + m];
        for (std::size_t i = 0; i < kIn; ++i) acc += x[t][i] * w.d.data[s * kIn + i] * w.e.data[i * kM + m];
        y[t][s * kM + m] = acc;
      }
    }
  }
  return y;
}

// The locally-connected convolution over the whole sequence (zeros before it).
template <class ConvWeights>
Rows local_conv(const ConvWeights& w, const Rows& x) {
  constexpr auto kShape = decltype(w.kernel)::kShape;  // (Kl, Ks, M, U)
  const std::size_t modules = x.front().size() / kShape[2];
  std::vector<double> flat;
  for (const auto& row : x) flat.insert(flat.end(), row.begin(), row.end());
  const std::vector<double> y = reference::local_conv(flat.data(), x.size(), modules, kShape[2], kShape[3],
                                                      kShape[1], kShape[0], w.kernel.data, w.b.data);
  Rows out(x.size());
  const std::size_t width = modules * kShape[3];
  for (std::size_t t = 0; t < x.size(); ++t) out[t].assign(y.begin() + static_cast<std::ptrdiff_t>(t * width), y.begin() + static_cast<std::ptrdiff_t>((t + 1) * width));
  return out;
}

// Softmax attention of every head of q over k, v; query t sees keys j with causal ? j <= t : all.
template <Dims D>
Rows attend(const Rows& q, const Rows& k, const Rows& v, bool causal) {
  constexpr std::size_t kDh = D.head_width();
  Rows out(q.size(), std::vector<double>(D.d_attn()));
  for (std::size_t t = 0; t < q.size(); ++t) {
    const std::size_t n = causal ? t + 1 : k.size();
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
  return out;
}

template <class FfWeights>
Rows feedforward(const FfWeights& w, const Rows& x) {
  Rows h = linear(w.in, x);
  for (auto& row : h) {
    for (auto& e : row) e = e > 0 ? e : 0;
  }
  return linear(w.out, h);
}

// Ref<Policy>::apply: what a sublayer adds to the residual stream (attention and feedforward),
// or the logits (output layers). Self-attention: apply(w, xn); cross-attention: apply(w, xn, enc).
template <class Policy>
struct Ref;

template <Dims D>
struct Ref<CausalSelfAttention<D>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return linear(w.o, attend<D>(linear(w.q, xn), linear(w.k, xn), linear(w.v, xn), true));
  }
};
template <Dims D>
struct Ref<BidirectionalAttention<D>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return linear(w.o, attend<D>(linear(w.q, xn), linear(w.k, xn), linear(w.v, xn), false));
  }
};
template <Dims D>
struct Ref<CrossAttention<D>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn, const Rows& enc) {
    return linear(w.o, attend<D>(linear(w.q, xn), linear(w.k, enc), linear(w.v, enc), false));
  }
};
template <Dims D, std::size_t S, std::size_t Kl>
struct Ref<SparseQkvAttention<D, S, Kl>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    const Rows u = multiplicative(w.mult, xn);
    return attend<D>(local_conv(w.q, u), local_conv(w.k, u), local_conv(w.v, u), true);
  }
};
template <Dims D, std::size_t S>
struct Ref<MultiplicativeAttention<D, S>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    const Rows heads = attend<D>(multiplicative(w.q, xn), multiplicative(w.k, xn), multiplicative(w.v, xn), true);
    return multiplicative(w.o, heads);
  }
};
template <Dims D, std::size_t S>
struct Ref<ConvAttention<D, S>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return local_conv(w.o, attend<D>(local_conv(w.q, xn), local_conv(w.k, xn), local_conv(w.v, xn), true));
  }
};
template <Dims D, std::size_t S, std::size_t Kl>
struct Ref<SparseCrossAttention<D, S, Kl>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn, const Rows& enc) {
    return attend<D>(local_conv(w.q, multiplicative(w.q_mult, xn)), linear(w.k, enc), linear(w.v, enc), false);
  }
};

template <Dims D>
struct Ref<DenseFeedForward<D>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return feedforward(w, xn);
  }
};
// The controller in double precision picks each block's argmax; only those units run.
template <Dims D, std::size_t N, std::size_t R>
struct Ref<SparseFeedForward<D, N, R>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    const Rows u = matmul(w.controller_in.data, R, xn);
    Rows logits = matmul(w.controller_out.data, D.d_ff, u);
    Rows y(xn.size(), std::vector<double>(D.d_model));
    for (std::size_t t = 0; t < xn.size(); ++t) {
      for (std::size_t i = 0; i < D.d_model; ++i) y[t][i] = w.out_bias.data[i];
      for (std::size_t b = 0; b < D.d_ff / N; ++b) {
        std::size_t best = b * N;
        for (std::size_t j = b * N; j < (b + 1) * N; ++j) {
          const double l = logits[t][j] + w.controller_bias.data[j];
          if (l > logits[t][best] + w.controller_bias.data[best]) best = j;
        }
        double h = 0;
        for (std::size_t i = 0; i < D.d_model; ++i) h += static_cast<double>(w.in.data[best * D.d_model + i]) * xn[t][i];
        h = h > 0 ? h : 0;
        for (std::size_t i = 0; i < D.d_model; ++i) y[t][i] += h * w.out.data[best * D.d_model + i];
      }
    }
    return y;
  }
  // x Wᵀ for W: (rows, width of x), no bias.
  static Rows matmul(const float* w, std::size_t rows, const Rows& x) {
    Rows y(x.size(), std::vector<double>(rows));
    const std::size_t cols = x.front().size();
    for (std::size_t t = 0; t < x.size(); ++t) {
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t i = 0; i < cols; ++i) y[t][r] += static_cast<double>(w[r * cols + i]) * x[t][i];
      }
    }
    return y;
  }
};

template <Dims D>
struct Ref<DenseLogits<D>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return linear(w, xn);
  }
};
template <Dims D, std::size_t S>
struct Ref<SparseLogits<D, S>> {
  template <class W>
  static Rows apply(const W& w, const Rows& xn) {
    return multiplicative(w, xn);
  }
};

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

// Logits of every position of a decoder-only model: (tokens, vocab).
template <class Model>
Rows decoder_only_logits(const typename Model::Weights& w, std::span<const Token> tokens) {
  constexpr Dims kD = Model::kDims;
  using Block = typename Model::BlockType;
  Rows x = embed<kD>(w.embedding, w.decoder, tokens);
  for (const auto& layer : w.decoder.layers) {
    add(x, Ref<typename Block::SelfAttention>::apply(layer.attn, layer_norm(layer.attn_norm, x)));
    add(x, Ref<typename Block::FeedForward>::apply(layer.ff, layer_norm(layer.ff_norm, x)));
  }
  return Ref<typename Model::OutputType>::apply(w.logits, layer_norm(w.decoder.final_norm, x));
}

// Logits of every decoder position of an encoder–decoder model: (tokens, vocab).
template <class Model>
Rows encoder_decoder_logits(const typename Model::Weights& w, std::span<const Token> input,
                            std::span<const Token> tokens) {
  constexpr Dims kD = Model::kDims;
  using EncBlock = typename Model::EncoderBlockType;
  using Block = typename Model::BlockType;
  Rows e = embed<kD>(w.embedding, w.encoder, input);
  for (const auto& layer : w.encoder.layers) {
    add(e, Ref<typename EncBlock::SelfAttention>::apply(layer.attn, layer_norm(layer.attn_norm, e)));
    add(e, Ref<typename EncBlock::FeedForward>::apply(layer.ff, layer_norm(layer.ff_norm, e)));
  }
  e = layer_norm(w.encoder.final_norm, e);
  Rows x = embed<kD>(w.embedding, w.decoder, tokens);
  for (const auto& layer : w.decoder.layers) {
    add(x, Ref<typename Block::SelfAttention>::apply(layer.attn, layer_norm(layer.attn_norm, x)));
    add(x, Ref<typename Block::Cross>::apply(layer.cross, layer_norm(layer.cross_norm, x), e));
    add(x, Ref<typename Block::FeedForward>::apply(layer.ff, layer_norm(layer.ff_norm, x)));
  }
  return Ref<typename Model::OutputType>::apply(w.logits, layer_norm(w.decoder.final_norm, x));
}

}  // namespace scaling::testing
