#pragma once
// A libtorch peer of the dense decoder-only model: the same weights (zero-copy views), the same
// math (pre-LN blocks, LayerNorm eps 1e-6, 1/sqrt(d_head) attention, learned positions, final
// norm, logits Dense), written the way a user of the C++ API would write incremental decoding:
// InferenceMode, torch::linear/addmv on the weights, a preallocated KV cache filled in place, bmm.
//
//   set_torch_threads(threads);             // the caller picks the threads; the class never does
//   scaling::bench::TorchDecoder<Model> peer(model.weights());
//   peer.prefill(prompt, logits);           // logits: vocab floats of the last prompt token
//   peer.decode(token, logits);             // one token at a time
//
// The weights must outlive the peer. Float32 throughout.

#include <dlfcn.h>
#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "scaling/models/configs.hpp"

namespace scaling::bench {

// at::set_num_threads sizes libtorch's OpenMP pool only. Debian's libtorch does its matrix products
// (addmv, addmm, bmm) in the system BLAS, OpenBLAS, whose own pool defaults to every core: size it
// too (found at run time, so nothing links OpenBLAS by name; equivalent to OPENBLAS_NUM_THREADS).
inline void set_torch_threads(int threads) {
  at::set_num_threads(threads);
  using SetThreads = void (*)(int);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): dlsym returns void*
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
}

template <class Model>
class TorchDecoder {
  static constexpr Dims kD = Model::kDims;
  static constexpr auto kModel = static_cast<std::int64_t>(kD.d_model);
  static constexpr auto kHeads = static_cast<std::int64_t>(kD.n_heads);
  static constexpr auto kHeadWidth = static_cast<std::int64_t>(kD.head_width());
  static constexpr auto kAttn = static_cast<std::int64_t>(kD.d_attn());
  static constexpr auto kMaxLen = static_cast<std::int64_t>(kD.max_len);
  static constexpr auto kVocab = static_cast<std::int64_t>(kD.vocab);
  static constexpr double kEps = kernels::kNormEpsilon;
  static_assert(std::is_same_v<typename Model::BlockType, DenseDecoderBlock<kD>>,
                "TorchDecoder: only the dense decoder block (LayerNorm, attention, ReLU FF)");

  // A torch view of a weight tensor: same memory, shape from the type.
  template <std::size_t... E>
  static at::Tensor view(const Tensor<E...>& t) {
    return torch::from_blob(t.data, {static_cast<std::int64_t>(E)...}, torch::kFloat32);
  }
  struct Linear {  // w (out, in), b (out), as torch.nn.Linear
    at::Tensor w, b;
    template <class W>
    explicit Linear(const W& d) : w(view(d.w)), b(view(d.b)) {}
    // x: (T, in) → (T, out). One row goes through addmv (BLAS gemv): torch::linear on a (1, in)
    // input calls a 1-row sgemm, which Debian's OpenBLAS 0.3.21 runs ~2.5x slower than sgemv.
    [[nodiscard]] at::Tensor operator()(const at::Tensor& x) const {
      if (x.size(0) == 1) return torch::addmv(b, w, x[0]).unsqueeze(0);
      return torch::linear(x, w, b);
    }
  };
  struct Norm {  // gain (d), bias (d)
    at::Tensor gain, bias;
    template <class W>
    explicit Norm(const W& n) : gain(view(n.gain)), bias(view(n.bias)) {}
    [[nodiscard]] at::Tensor operator()(const at::Tensor& x) const {
      return torch::layer_norm(x, {kModel}, gain, bias, kEps);
    }
  };
  struct Layer {
    Norm attn_norm, ff_norm;
    Linear q, k, v, o, ff_in, ff_out;
    at::Tensor k_cache, v_cache;  // (heads, max_len, d_head): rows [0, pos) hold past tokens
  };

 public:
  explicit TorchDecoder(const typename Model::Weights& w)
      : embedding_(view(w.embedding)),
        positions_(view(w.decoder.positions)),
        final_norm_(w.decoder.final_norm),
        logits_(w.logits) {
    const c10::InferenceMode guard;
    for (const auto& l : w.decoder.layers) {
      layers_.push_back(Layer{Norm(l.attn_norm), Norm(l.ff_norm), Linear(l.attn.q),
                              Linear(l.attn.k), Linear(l.attn.v), Linear(l.attn.o),
                              Linear(l.ff.in), Linear(l.ff.out),
                              torch::zeros({kHeads, kMaxLen, kHeadWidth}),
                              torch::zeros({kHeads, kMaxLen, kHeadWidth})});
    }
  }

  void reset() { pos_ = 0; }  // cache rows past pos_ are never read, so nothing to clear

  // Runs the whole prompt in one step (causal mask within it); logits of its last token.
  void prefill(std::span<const Token> prompt, float* logits_out) {
    TORCH_CHECK(pos_ == 0, "prefill: call reset() first");
    step(prompt, logits_out);
  }

  void decode(Token token, float* logits_out) { step(std::span<const Token>(&token, 1), logits_out); }

 private:
  // Appends `tokens` at positions [pos_, pos_ + T) and writes the logits of the last one.
  void step(std::span<const Token> tokens, float* logits_out) {
    const c10::InferenceMode guard;
    const auto t = static_cast<std::int64_t>(tokens.size());
    const std::int64_t n = pos_ + t;  // keys visible to the last token
    TORCH_CHECK(t > 0 && n <= kMaxLen, "TorchDecoder: sequence longer than max_len");
    // ids: (T) int64 token ids.
    const at::Tensor ids = torch::tensor(std::vector<std::int64_t>(tokens.begin(), tokens.end()));
    // x: (T, d_model) = token embedding + learned position.
    at::Tensor x = torch::embedding(embedding_, ids) + positions_.narrow(0, pos_, t);
    // Causal mask within the step: query i (position pos_ + i) may not see key j > pos_ + i.
    at::Tensor mask;  // (T, n) bool, true = hidden; undefined for a single token
    if (t > 1) mask = torch::ones({t, n}, torch::kBool).triu(pos_ + 1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadWidth));

    for (Layer& l : layers_) {
      // Self-attention sublayer: x += O(attention(LN(x))).
      const at::Tensor xn = l.attn_norm(x);                                    // (T, d_model)
      auto heads = [](const at::Tensor& y) {  // (T, d_attn) → (heads, T, d_head)
        return y.view({-1, kHeads, kHeadWidth}).transpose(0, 1);
      };
      const at::Tensor q = heads(l.q(xn));                                     // (H, T, Dh)
      l.k_cache.narrow(1, pos_, t).copy_(heads(l.k(xn)));                      // rows [pos, n)
      l.v_cache.narrow(1, pos_, t).copy_(heads(l.v(xn)));
      const at::Tensor keys = l.k_cache.narrow(1, 0, n);                       // (H, n, Dh)
      const at::Tensor values = l.v_cache.narrow(1, 0, n);                     // (H, n, Dh)
      at::Tensor scores = torch::bmm(q, keys.transpose(1, 2)).mul_(scale);     // (H, T, n)
      if (mask.defined()) scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
      const at::Tensor probs = torch::softmax(scores, -1);                     // (H, T, n)
      const at::Tensor attn = torch::bmm(probs, values)                        // (H, T, Dh)
                                  .transpose(0, 1)
                                  .reshape({t, kAttn});                        // (T, d_attn)
      x.add_(l.o(attn));                                                       // (T, d_model)
      // Feedforward sublayer: x += W_out relu(W_in LN(x)).
      const at::Tensor hidden = l.ff_in(l.ff_norm(x)).relu_();                 // (T, d_ff)
      x.add_(l.ff_out(hidden));                                                // (T, d_model)
    }
    pos_ = n;

    // Logits of the last token only: final norm, then the (vocab, d_model) Dense layer.
    const at::Tensor logits = logits_(final_norm_(x.narrow(0, t - 1, 1)));     // (1, vocab)
    torch::from_blob(logits_out, {1, kVocab}, torch::kFloat32).copy_(logits);
  }

  at::Tensor embedding_;  // (vocab, d_model)
  at::Tensor positions_;  // (max_len, d_model)
  Norm final_norm_;
  Linear logits_;  // w (vocab, d_model), b (vocab)
  std::vector<Layer> layers_;
  std::int64_t pos_ = 0;  // tokens in the caches
};

}  // namespace scaling::bench
