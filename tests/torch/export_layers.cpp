// Runs every layer policy once on random weights and inputs and writes, per layer, a safetensors
// file for check_layers.py: the weights (named "layer.<weight name>"), the input "x" (and the
// encoder output "enc" for cross-attention), and the library's output "y". Sublayers (attention,
// feedforward) write what they add to the residual stream. Metadata: "oracle.kind" (which torch
// function to compare with) and "scaling.dims".
//
//   torch_export_layers OUT_DIR

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "scaling/core/init.hpp"
#include "scaling/io/checkpoint.hpp"
#include "scaling/models/configs.hpp"

namespace {

using namespace scaling;

// d_model 64 in 4 heads; Sparse FF N 16; 4 modules of 16; 7 tokens; an encoder output of 5.
inline constexpr Dims kD{.d_model = 64, .d_ff = 256, .n_heads = 4, .d_head = 0, .vocab = 96, .max_len = 16};
constexpr std::size_t kTokens = 7;
constexpr std::size_t kEncoderTokens = 5;

std::vector<float> random_rows(std::size_t rows, std::size_t width, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(rows * width);
  for (auto& e : v) e = rng.symmetric(1.0F);
  return v;
}

// Writes the file of one case. Weights are random (init_random), with norm gains and all biases
// perturbed too, so that none of them is a no-op the comparison could not see.
template <class Weights, class Run>
void write_case(const std::string& dir, const std::string& name, const char* kind, std::size_t in_width,
                std::size_t out_width, Run run) {
  Owned<Weights> owned;
  init_random(owned.get(), std::hash<std::string>{}(name));
  io::SafeTensorsWriter w;
  SplitMix64 rng(3);
  io::detail::EachTensor add([&](std::string tensor, std::vector<std::size_t> shape, std::span<float> values) {
    const bool perturb = tensor.ends_with(".b") || tensor.ends_with("bias") || tensor.ends_with(".gain");
    if (perturb) {
      for (auto& e : values) e += rng.symmetric(0.5F);
    }
    w.add(std::move(tensor), std::move(shape), values);
  });
  add.scope("layer", [&] { owned.get().visit(add); });
  const std::vector<float> x = random_rows(kTokens, in_width, 11);
  const std::vector<float> enc = random_rows(kEncoderTokens, kD.d_model, 12);
  std::vector<float> y(kTokens * out_width);  // zero: sublayers add to it
  run(owned.get(), x.data(), enc.data(), y.data());
  w.add("x", {kTokens, in_width}, x);
  if (std::string(kind) == "cross") w.add("enc", {kEncoderTokens, kD.d_model}, enc);
  w.add("y", {kTokens, out_width}, y);
  w.metadata("oracle.kind", kind);
  w.metadata("scaling.dims", io::dims_string(kD));
  w.write(dir + "/" + name + ".safetensors");
}

// A layer with apply(team, w, x, tokens, y): norms, logits, the multiplicative layer, the conv.
template <class Layer>
void layer(const std::string& dir, const std::string& name, const char* kind, std::size_t in, std::size_t out) {
  write_case<typename Layer::Weights>(dir, name, kind, in, out, [](const auto& w, const float* x, const float*, float* y) {
    Layer::template apply<simd::DefaultArch>(Team::solo(), w, x, kTokens, y);
  });
}

// A sublayer with forward(step, w, state, ws, xn, x) over the whole sequence at once (and, for
// cross-attention, encode(step, w, state, ws, enc) first).
template <class Sublayer>
void sublayer(const std::string& dir, const std::string& name, const char* kind) {
  write_case<typename Sublayer::Weights>(dir, name, kind, kD.d_model, kD.d_model,
                                         [](const auto& w, const float* x, const float* enc, float* y) {
    const Team solo = Team::solo();
    EncoderWorkspace<kD> ws;  // with the encoder's own key/value cache (bidirectional attention)
    typename Sublayer::State state;
    if constexpr (requires { Sublayer::template encode<simd::DefaultArch>(Step{solo, 0, 0}, w, state, ws, enc); }) {
      Sublayer::template encode<simd::DefaultArch>(Step{solo, 0, kEncoderTokens}, w, state, ws, enc);
    }
    Sublayer::template forward<simd::DefaultArch>(Step{solo, 0, kTokens}, w, state, ws, x, y);
  });
}

void export_all(const std::string& dir) {
  constexpr std::size_t d = kD.d_model;
  layer<LayerNorm<d>>(dir, "layer_norm", "norm", d, d);
  layer<RmsNorm<d>>(dir, "rms_norm", "norm", d, d);
  layer<MultiplicativeDense<d, 48, 4>>(dir, "multiplicative", "multiplicative", d, 48);
  layer<LocalConv<4, 16, 8, 3, 1>>(dir, "local_conv", "local_conv", d, 4 * 8);
  layer<DenseLogits<kD>>(dir, "dense_logits", "output", d, kD.vocab);
  layer<SparseLogits<kD, 4>>(dir, "sparse_logits", "output", d, kD.vocab);
  sublayer<DenseFeedForward<kD>>(dir, "dense_feedforward", "feedforward");
  sublayer<SparseFeedForward<kD, 16>>(dir, "sparse_feedforward", "feedforward");
  sublayer<SparseFeedForward<kD, 16, 4>>(dir, "sparse_feedforward_r4", "feedforward");
  sublayer<CausalSelfAttention<kD>>(dir, "causal_attention", "self_causal");
  sublayer<BidirectionalAttention<kD>>(dir, "bidirectional_attention", "self_bidirectional");
  sublayer<CrossAttention<kD>>(dir, "cross_attention", "cross");
  sublayer<SparseQkvAttention<kD, 4, 3>>(dir, "sparse_qkv_attention", "self_causal");
  sublayer<SparseQkvAttention<kD, 8, 2>>(dir, "sparse_qkv_attention_s8_kl2", "self_causal");
  sublayer<MultiplicativeAttention<kD, 4>>(dir, "multiplicative_attention", "self_causal");
  sublayer<ConvAttention<kD, 4>>(dir, "conv_attention", "self_causal");
  sublayer<SparseCrossAttention<kD, 4, 3>>(dir, "sparse_cross_attention", "cross");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: torch_export_layers OUT_DIR\n");
    return 2;
  }
  try {
    export_all(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch_export_layers: %s\n", e.what());
    return 1;
  }
  return 0;
}
