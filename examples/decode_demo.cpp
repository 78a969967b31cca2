// Decode demo: the paper's dense 800M decoder (T5-large shape, 24 decoder layers, 32000-word
// logits; decoder-only, i.e. without cross-attention) with random weights. Prefills a prompt,
// decodes greedily, and prints tokens/s and the memory bandwidth that reaches, next to this
// machine's read bandwidth measured in the same run.
//
//   decode_demo [--threads N] [--tokens N]

#include <scaling/scaling.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Model = scaling::T5LargeDenseDecoderOnly;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

unsigned parse(const char* flag, const char* value, unsigned lo, unsigned hi) {
  char* end = nullptr;
  const unsigned long n = value != nullptr ? std::strtoul(value, &end, 10) : 0;
  if (value == nullptr || *end != '\0' || n < lo || n > hi) {
    std::fprintf(stderr, "decode_demo: %s needs an integer in [%u, %u]\n", flag, lo, hi);
    std::exit(2);
  }
  return static_cast<unsigned>(n);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = scaling::default_thread_count();
  constexpr unsigned kPrompt = 16;
  unsigned tokens = 64;
  for (int i = 1; i < argc; ++i) {
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (std::strcmp(argv[i], "--threads") == 0) {
      threads = parse("--threads", value, 1, 64);
      ++i;
    } else if (std::strcmp(argv[i], "--tokens") == 0) {
      tokens = parse("--tokens", value, 1, scaling::kT5Large.max_len - kPrompt);
      ++i;
    } else {
      std::fprintf(stderr, "decode_demo: unknown argument '%s' (use --threads N, --tokens N)\n", argv[i]);
      return 2;
    }
  }

  try {
    auto start = Clock::now();
    const Model model(/*seed=*/1);
    std::printf("800M-shape dense decoder (24 layers, d_model 1024, d_ff 4096, vocab 32000): %.2f GB of weights, "
                "random init in %.1f s\n",
                static_cast<double>(model.weight_bytes()) * 1e-9, seconds_since(start));

    scaling::ThreadPool pool(threads);
    auto state = model.new_state();
    std::vector<float> logits(scaling::kT5Large.vocab);
    std::vector<scaling::Token> prompt(kPrompt);
    for (unsigned i = 0; i < kPrompt; ++i) prompt[i] = static_cast<scaling::Token>(1 + 37 * i);
    start = Clock::now();
    model.prefill(state, prompt, logits, pool);
    std::printf("prefill of %u tokens: %.1f ms\n", kPrompt, seconds_since(start) * 1e3);

    std::vector<double> per_token;
    std::vector<scaling::Token> generated;
    for (unsigned i = 0; i < tokens; ++i) {
      const scaling::Token next = scaling::greedy(logits);
      generated.push_back(next);
      start = Clock::now();
      model.decode(state, next, logits, pool);
      per_token.push_back(seconds_since(start));
    }
    std::printf("generated:");
    for (std::size_t i = 0; i < std::min<std::size_t>(generated.size(), 12); ++i) std::printf(" %d", generated[i]);
    std::printf("%s\n", generated.size() > 12 ? " ..." : "");

    std::sort(per_token.begin(), per_token.end());
    const double median = per_token[per_token.size() / 2];
    // Weights a decode step reads: every decoder weight once, the whole logits layer, one
    // embedding row and one position row (the rest of both tables is not touched).
    Model::Weights shape;
    const double touched =
        static_cast<double>(scaling::count_params(shape) -
                            scaling::kT5Large.d_model * (scaling::kT5Large.vocab + scaling::kT5Large.max_len - 2)) *
        sizeof(float);
    const double gbs = touched / median * 1e-9;
    const double probe = scaling::measure_read_bandwidth(pool) * 1e-9;
    std::printf("decode, %u thread(s): %.2f ms/token (median of %u), %.1f tokens/s\n", threads, median * 1e3, tokens,
                1.0 / median);
    std::printf("weights read per token: %.1f MB -> %.1f GB/s, %.0f%% of this machine's read bandwidth (%.1f GB/s, "
                "measured now)\n",
                touched * 1e-6, gbs, 100.0 * gbs / probe, probe);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
