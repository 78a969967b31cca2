// The paper's Table 1 on this machine: the time to decode one token, unbatched, for the dense
// baseline and the sparse variants, at the 800M shape (whole model and per block) and at the 17B
// block shape. Prints the table as Markdown (and writes it with a data file for the chart).
//
// Every variant is timed in the same run as its baseline, token for token alternately, so the
// speedups are ratios of medians measured at the same moment on this shared machine. The read
// bandwidth probe runs right before and after each benchmark; "of probe" = the weight bytes a
// token reads / median time / probe.
//
//   table1 [--out DIR] [--skip-17b] [Google Benchmark flags]
//   (default --out docs: writes DIR/table1.md and DIR/table1.dat; see docs/benchmarks.md)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>
#include <vector>

#include "common.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/latency.hpp"
#include "scaling/models/configs.hpp"
#include "scaling/models/sampling.hpp"

namespace {

using namespace scaling;

constexpr std::size_t kInputLength = 16;       // the paper's protocol: 16 encoder tokens
constexpr std::size_t kPrompt = 4;             // decoder tokens before timing starts
constexpr std::size_t kMaxTimedPosition = 64;  // then the sequence restarts, outside the timing
constexpr std::size_t kLayers = 24;

// ---------------------------------------------------------------------------------------------
// What one decode step costs: the weight bytes it reads and the multiply-adds it does.

// Weight bytes a step touches, counted in fp32 (as the bandwidth limits are) and as decode
// actually reads them: Sparse FF reads its controller's C2 from an int8 copy with a scale per unit
// (kernels/screen.hpp), plus three floats per block, and a few fp32 rows of C2 where the int8
// logits cannot decide (about one per four blocks at 800M; not counted). And the step's fp32
// multiply-adds with the weights. `read` and `macs` also count the KV cache (below); `fp32`, the
// weights alone, gives the limits.
struct Cost {
  double fp32 = 0.0;
  double read = 0.0;
  double macs = 0.0;
};

// The KV cache a decode step reads, at the protocol's mean timed position: the step at position
// p attends over p + 1 keys (p = kPrompt … kMaxTimedPosition − 1, 34.5 on average),
// cross-attention over the kInputLength encoder positions. Each key is a row of K and one of V,
// d_attn floats each, and 2 · d_attn multiply-adds. 800M: 0.4 MB per block, about a tenth of what
// a fully sparse token reads, so leaving it out would understate its fraction of the probe.
constexpr double kMeanSelfKeys = (kPrompt + 1 + kMaxTimedPosition) / 2.0;

Cost times(double n, Cost c) { return {n * c.fp32, n * c.read, n * c.macs}; }

// A weight read does one multiply-add per token, except in the layers of Sparse QKV and the sparse
// loss, whose weights serve several modules: the multiplicative layer's E (d_in, d_out / S) all S
// modules, after S · d_in products x ⊙ D; a convolution's kernel (Kl, Ks, M, U) every module of
// its input row (d_model = S · M wide), less the taps that fall on the zero padding at the ends.
// This counts those extra multiply-adds; the names are those the layers' visit() gives.
struct WeightReuse : detail::NamedVisitor {
  std::size_t d_model = 0;
  std::size_t modules = 1;  // S of the multiplicative layer visited last (its "d" comes before "e")
  double extra = 0.0;
  template <std::size_t... E>
  void tensor(std::string_view leaf, Tensor<E...>& t, Init /*init*/) {
    constexpr auto shape = Tensor<E...>::kShape;
    if constexpr (shape.size() == 2) {
      if (leaf == "d") modules = shape[0];
      if (leaf == "e") extra += static_cast<double>((modules - 1) * t.kSize);
    } else if constexpr (shape.size() == 4) {
      if (leaf == "kernel") {
        const std::size_t s = d_model / shape[2];
        const std::size_t ks = shape[1];
        const std::size_t taps = ks * s - (ks * ks - 1) / 4;  // (module, module tap) pairs inside
        extra += static_cast<double>(t.kSize / ks * taps - t.kSize);
      }
    }
  }
};

// A block reads all its weights but the cross-attention K/V projections (encode() runs them once
// per input) and, with Sparse FF, only the chosen rows of W1 and W2.
template <class Block, Dims D>
Cost block_cost() {
  typename Block::Weights w;  // views only: nothing is allocated
  double params = static_cast<double>(count_params(w));
  if constexpr (requires { w.cross.k.w; }) {
    params -= static_cast<double>(count_params(w.cross.k) + count_params(w.cross.v));
  }
  double read = params * sizeof(float);
  using Ff = typename Block::FeedForward;
  if constexpr (requires { Ff::kBlocks; }) {
    constexpr std::size_t kDModel = decltype(w.ff.in)::kShape[2];
    params -= static_cast<double>(w.ff.in.kSize + w.ff.out.kSize - 2 * Ff::kBlocks * kDModel);
    read = (params - static_cast<double>(w.ff.controller_out.kSize)) * sizeof(float) +
           static_cast<double>(w.ff.controller_screen.kSize * sizeof(std::uint32_t) +
                               w.ff.controller_bounds.kSize * sizeof(float));
  }
  WeightReuse reuse;
  reuse.d_model = D.d_model;
  w.visit(reuse);
  double keys = kMeanSelfKeys;
  if constexpr (requires(typename Block::State s) { s.cross.length; }) keys += kInputLength;
  const double kv = 2 * keys * static_cast<double>(D.d_attn());  // floats of K and V, one MAC each
  return {params * sizeof(float), read + kv * sizeof(float), params + reuse.extra + kv};
}

// A token: one embedding row and one position row, the decoder blocks, final norm, logits.
template <class Model>
Cost token_cost() {
  typename Model::Weights w;
  const double rest = static_cast<double>(count_params(w.decoder.final_norm) + count_params(w.logits) +
                                          2 * Model::kDims.d_model);
  WeightReuse reuse;
  reuse.d_model = Model::kDims.d_model;
  w.logits.visit(reuse);
  const Cost blocks = times(static_cast<double>(Model::kDecoderLayers),
                            block_cost<typename Model::BlockType, Model::kDims>());
  return {sizeof(float) * rest + blocks.fp32, sizeof(float) * rest + blocks.read, rest + reuse.extra + blocks.macs};
}

// ---------------------------------------------------------------------------------------------
// Weights: an 800M model is 3.1-3.6 GB, a 17B block 5.5-6.2 GB. At most two sets are alive at a
// time, the baseline of the current group (slot 0) and one variant (slot 1); a new baseline frees
// both first.

std::array<std::shared_ptr<const void>, 2> g_held;
std::array<const std::type_info*, 2> g_held_type{};

template <class T, class Make>
const T& held(std::size_t slot, Make make) {
  if (g_held_type[slot] == nullptr || *g_held_type[slot] != typeid(T)) {
    if (slot == 0) g_held = {};
    g_held[slot].reset();
    g_held[slot] = make();
    g_held_type[slot] = &typeid(T);
  }
  return *static_cast<const T*>(g_held[slot].get());
}

template <class Model>
const Model& model(std::size_t slot) {
  return held<Model>(slot, [] { return std::make_shared<const Model>(1); });
}

// Copies distinct blocks (random weights), so that what a token reads is not cache-resident.
template <class Block, std::size_t Copies>
struct Blocks {
  std::array<typename Block::Weights, Copies> layers;
  template <class V>
  void visit(V& v) {
    for (std::size_t i = 0; i < Copies; ++i) v.scope(i, [&] { layers[i].visit(v); });
  }
};

template <class Block, std::size_t Copies>
const std::array<typename Block::Weights, Copies>& blocks(std::size_t slot) {
  using Owner = Owned<Blocks<Block, Copies>>;
  return held<Owner>(slot, [] {
           auto w = std::make_shared<Owner>();
           init_random(w->get(), 1);
           w->prepare();
           return w;
         }).get().layers;
}

// ---------------------------------------------------------------------------------------------
// What is timed.

// Greedy decode of one token at a time through a whole model.
template <class Model>
class TokenLoop {
 public:
  TokenLoop(const Model& m, ThreadPool& pool) : m_(m), pool_(pool), s_(m.new_state()), logits_(Model::kDims.vocab) {
    restart();
  }
  void step() {
    m_.decode(s_, next_, logits_, pool_);
    next_ = greedy(logits_);
  }
  [[nodiscard]] bool done() const { return s_.position() == kMaxTimedPosition; }
  void restart() {
    const std::vector<Token> input(kInputLength, 7);
    const std::vector<Token> prompt(kPrompt, 3);
    m_.encode(s_, input, pool_);
    m_.prefill(s_, prompt, logits_, pool_);
  }

 private:
  const Model& m_;
  ThreadPool& pool_;
  typename Model::State s_;
  std::vector<float> logits_;
  Token next_ = 0;
};

// One token through every block of `layers`, each alone, in one pool.run() as in a model step.
// Cross-attention caches hold kInputLength (zero) encoder positions.
template <class Block, Dims D, std::size_t Count>
class BlockLoop {
 public:
  BlockLoop(const std::array<typename Block::Weights, Count>& layers, ThreadPool& pool)
      : layers_(layers), pool_(pool), states_(std::make_unique<std::array<typename Block::State, Count>>()) {
    if constexpr (requires(typename Block::State s) { s.cross.length; }) {
      for (auto& s : *states_) s.cross.length = kInputLength;
    }
    restart();
  }
  void step() {
    pool_.run([&](const Team& team) {
      for (std::size_t l = 0; l < Count; ++l) {
        Block::template forward<simd::DefaultArch>(Step{team, pos_, 1}, layers_[l], (*states_)[l], ws_, x_.data());
      }
    });
    ++pos_;
  }
  [[nodiscard]] bool done() const { return pos_ == kMaxTimedPosition; }
  void restart() {
    SplitMix64 rng(2);
    for (std::size_t i = 0; i < D.d_model; ++i) x_.data()[i] = rng.symmetric(1.0F);
    pos_ = 0;
    for (std::size_t p = 0; p < kPrompt; ++p) step();
  }

 private:
  const std::array<typename Block::Weights, Count>& layers_;
  ThreadPool& pool_;
  std::unique_ptr<std::array<typename Block::State, Count>> states_;  // KV caches: large
  Workspace<D, 1> ws_;
  AlignedBuffer x_{D.d_model};
  std::size_t pos_ = 0;
};

// Times `loops` alternately, one step each per iteration; restarts happen outside the timing.
// Sets per loop i: ms<i> (median time per step / units[i]).
template <class... Loops>
std::array<double, sizeof...(Loops)> alternate(benchmark::State& state, Loops&... loops) {
  std::array<bench::Laps, sizeof...(Loops)> laps;
  for (auto _ : state) {
    std::size_t i = 0;
    ((laps[i].start(), loops.step(), laps[i].stop(), ++i), ...);
    if ((loops.done() || ...)) {
      state.PauseTiming();
      ((loops.done() ? loops.restart() : void()), ...);
      state.ResumeTiming();
    }
  }
  std::array<double, sizeof...(Loops)> medians{};
  for (std::size_t i = 0; i < laps.size(); ++i) medians[i] = laps[i].median();
  return medians;
}

// The two rooflines of this machine, each measured on the run's thread count right before and
// right after its timed loop (the mean of the two): read bandwidth (bytes/s) and fp32
// multiply-adds/s.
class Probes {
 public:
  explicit Probes(ThreadPool& pool) : pool_(pool), read_(pool.size()), fma_(bench::measure_fma_rate(pool)) {}
  void finish() {
    bandwidth = read_.finish();
    fma = 0.5 * (fma_ + bench::measure_fma_rate(pool_));
  }
  double bandwidth = 0.0;
  double fma = 0.0;

 private:
  ThreadPool& pool_;
  bench::ProbeAround read_;
  double fma_;
};

// of_probe and of_compute: the fractions of the two rooflines the variant reaches, bytes read /
// time / read bandwidth and multiply-adds / time / FMA rate.
void set_pair_counters(benchmark::State& state, const std::string& prefix, double variant_s,
                       double baseline_s, Cost variant, Cost baseline, double units, const Probes& probes) {
  state.counters[prefix + "ms"] = variant_s / units * 1e3;
  state.counters[prefix + "base_ms"] = baseline_s / units * 1e3;
  state.counters[prefix + "speedup"] = baseline_s / variant_s;
  state.counters[prefix + "MB"] = variant.read / units * 1e-6;
  state.counters[prefix + "Mmacs"] = variant.macs / units * 1e-6;
  state.counters[prefix + "limit"] = baseline.fp32 / variant.fp32;
  state.counters[prefix + "of_probe"] = variant.read / variant_s / probes.bandwidth;
  state.counters[prefix + "base_of_probe"] = baseline.read / baseline_s / probes.bandwidth;
  state.counters[prefix + "of_compute"] = variant.macs / variant_s / probes.fma;
}

void set_probe_counters(benchmark::State& state, const Probes& probes) {
  state.counters["probe_GB/s"] = probes.bandwidth * 1e-9;
  state.counters["fma_probe_G/s"] = probes.fma * 1e-9;
}

// 800M encoder–decoder: a token through the whole model and through its 24 decoder blocks alone,
// for the baseline and the variant alternately.
template <class Model>
void BM_Model800M(benchmark::State& state) {
  using Base = T5LargeDense;
  const auto threads = static_cast<unsigned>(state.range(0));
  const Base& base = model<Base>(0);
  const Model& var = model<Model>(1);
  ThreadPool pool(threads);
  TokenLoop<Base> base_token(base, pool);
  TokenLoop<Model> var_token(var, pool);
  BlockLoop<typename Base::BlockType, Base::kDims, kLayers> base_blocks(base.weights().decoder.layers, pool);
  BlockLoop<typename Model::BlockType, Model::kDims, kLayers> var_blocks(var.weights().decoder.layers, pool);
  Probes probes(pool);
  const auto t = alternate(state, base_token, var_token, base_blocks, var_blocks);
  probes.finish();
  set_probe_counters(state, probes);
  set_pair_counters(state, "token_", t[1], t[0], token_cost<Model>(), token_cost<Base>(), 1, probes);
  set_pair_counters(state, "block_", t[3], t[2],
                    times(kLayers, block_cost<typename Model::BlockType, Model::kDims>()),
                    times(kLayers, block_cost<typename Base::BlockType, Base::kDims>()), kLayers, probes);
}

// Blocks alone: Copies distinct blocks of the variant against BaseCopies of the baseline.
template <class Base, Dims BaseD, std::size_t BaseCopies, class Block, Dims D, std::size_t Copies>
void BM_Blocks(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  const auto& base = blocks<Base, BaseCopies>(0);
  const auto& var = blocks<Block, Copies>(1);
  ThreadPool pool(threads);
  BlockLoop<Base, BaseD, BaseCopies> base_loop(base, pool);
  BlockLoop<Block, D, Copies> var_loop(var, pool);
  Probes probes(pool);
  const auto t = alternate(state, base_loop, var_loop);
  probes.finish();
  set_probe_counters(state, probes);
  // Per block: each loop step runs all its copies.
  set_pair_counters(state, "block_", t[1] / Copies * BaseCopies, t[0], times(BaseCopies, block_cost<Block, D>()),
                    times(BaseCopies, block_cost<Base, BaseD>()), BaseCopies, probes);
}

// ---------------------------------------------------------------------------------------------
// The rows of the table.

constexpr Dims kWide = kT5LargeWideFf;
using Ff800 = Paper800M::SparseFf<kT5Large>;
using FfWide = Paper800M::SparseFf<kWide>;
using Qkv800 = Paper800M::SparseQkv<kWide>;

struct RowSpec {
  const char* group;  // "800M", "800M decoder-only block", "17B block"
  const char* name;   // the paper's row name
  double paper_token_s;  // 0: not in the paper
  double paper_block_s;
};

// Benchmark name → its row, in the paper's order. Results are keyed "<group>/<variant>/<threads>".
const std::vector<std::pair<std::string, RowSpec>>& rows() {
  static const std::vector<std::pair<std::string, RowSpec>> r{
      {"800M/dense", {"800M", "baseline Transf.", 0.160, 0.0059}},
      {"800M/sparse-ff", {"800M", "+ Sparse FF", 0.093, 0.0031}},
      {"800M/sparse-qkv", {"800M", "+ Sparse QKV", 0.152, 0.0062}},
      {"800M/sparse-ff-qkv", {"800M", "+ Sparse FF+QKV", 0.061, 0.0019}},
      {"800M/sparse-ff-qkv-loss", {"800M", "+ Sparse FF+QKV, sparse loss", 0, 0}},
      {"800M/fully-sparse", {"800M", "+ Sparse FF+QKV, sparse cross Q, sparse loss", 0, 0}},
      {"800M-decoder-only/dense", {"800M decoder-only block", "baseline Transf.", 0, 0}},
      {"800M-decoder-only/sparse-ff", {"800M decoder-only block", "+ Sparse FF", 0, 0}},
      {"800M-decoder-only/sparse-qkv", {"800M decoder-only block", "+ Sparse QKV", 0, 0}},
      {"800M-decoder-only/sparse-ff-qkv", {"800M decoder-only block", "+ Sparse FF+QKV", 0, 0}},
      {"800M-decoder-only/sparse-ff-qkv-r16", {"800M decoder-only block", "+ Sparse FF+QKV, controller rank r = d_model/N = 16", 0, 0}},
      {"17B/dense", {"17B block", "baseline Transf.", 3.690, 0.581}},
      {"17B/sparse-ff", {"17B block", "+ Sparse FF", 1.595, 0.259}},
      {"17B/sparse-qkv", {"17B block", "+ Sparse QKV", 3.154, 0.554}},
      {"17B/sparse-ff-qkv", {"17B block", "+ Sparse FF+QKV, sparse cross Q", 0.183, 0.014}},
  };
  return r;
}

void register_benchmarks(bool with_17b) {
  const auto add = [](const char* name, auto fn, double min_time) {
    benchmark::RegisterBenchmark(name, fn)->Arg(1)->Arg(2)->MinTime(min_time)->UseRealTime();
  };
  // The baseline's rows: the baseline against itself (speedup 1 by construction, timed the same way).
  add("800M/dense", BM_Model800M<T5LargeDense>, 1.0);
  add("800M/sparse-ff", BM_Model800M<T5LargeSparseFf>, 1.0);
  add("800M/sparse-qkv", BM_Model800M<T5LargeSparseQkv>, 1.0);
  add("800M/sparse-ff-qkv", BM_Model800M<T5LargeSparseFfQkv>, 1.0);
  add("800M/sparse-ff-qkv-loss", BM_Model800M<T5LargeSparseFfQkvLoss>, 1.0);
  add("800M/fully-sparse", BM_Model800M<T5LargeFullySparse>, 1.0);

  using DenseDo = DenseDecoderBlock<kT5Large>;
  add("800M-decoder-only/dense", BM_Blocks<DenseDo, kT5Large, kLayers, DenseDo, kT5Large, kLayers>, 0.5);
  add("800M-decoder-only/sparse-ff",
      BM_Blocks<DenseDo, kT5Large, kLayers, PreNormDecoderBlock<kT5Large, Ff800>, kT5Large, kLayers>, 0.5);
  add("800M-decoder-only/sparse-qkv",
      BM_Blocks<DenseDo, kT5Large, kLayers, PreNormDecoderBlock<kWide, DenseFeedForward<kWide>, Qkv800>, kWide, kLayers>, 0.5);
  add("800M-decoder-only/sparse-ff-qkv",
      BM_Blocks<DenseDo, kT5Large, kLayers, PreNormDecoderBlock<kWide, FfWide, Qkv800>, kWide, kLayers>, 0.5);
  // The paper's text gives the controller rank r = d_model / N (16) where the reference code uses
  // d_ff / N (96); which one Table 1 used is not known (spec section 9).
  add("800M-decoder-only/sparse-ff-qkv-r16",
      BM_Blocks<DenseDo, kT5Large, kLayers, PreNormDecoderBlock<kWide, SparseFeedForward<kWide, 64, 16>, Qkv800>, kWide, kLayers>, 0.5);

  if (!with_17b) return;
  // One dense block is 5.7 GB and read whole per token; the sparse FF+QKV block reads 47 MB, so
  // two copies (94 MB, three times the L3) keep it out of the cache.
  add("17B/dense", BM_Blocks<Block17BDense, k17B, 1, Block17BDense, k17B, 1>, 2.0);
  add("17B/sparse-ff", BM_Blocks<Block17BDense, k17B, 1, Block17BSparseFf, k17B, 1>, 2.0);
  add("17B/sparse-qkv", BM_Blocks<Block17BDense, k17B, 1, Block17BSparseQkv, k17BWideFf, 1>, 2.0);
  add("17B/sparse-ff-qkv", BM_Blocks<Block17BDense, k17B, 1, Block17BSparseFfQkv, k17BWideFf, 2>, 2.0);
}

// ---------------------------------------------------------------------------------------------
// Collecting results and printing the table.

struct Result {
  std::map<std::string, double> counters;
};

// Prints as the console reporter does and keeps, per benchmark, the median over repetitions
// (or the single run).
class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      if (!single && run.aggregate_name != "median") continue;
      Result& r = results[run.run_name.function_name + "/" + run.run_name.args];
      for (const auto& [name, counter] : run.counters) r.counters[name] = counter.value;
    }
  }
  std::map<std::string, Result> results;  // "<group>/<variant>/<threads>"
};

// printf-style formatting of one number (the format is a literal at every call site).
template <std::size_t N>
std::string fmt(double v, const char (&f)[N]) {
  char buf[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  std::snprintf(buf, sizeof buf, f, v);
#pragma GCC diagnostic pop
  return buf;
}

std::string time_ms(double ms) {
  return ms >= 100 ? fmt(ms, "%.0f ms") : ms >= 10 ? fmt(ms, "%.1f ms") : fmt(ms, "%.3f ms");
}

std::string paper_time(double s) { return s > 0 ? time_ms(s * 1e3) : "—"; }

// A counter of a benchmark ("<group>/<variant>/<threads>"), NaN when it did not run.
double get(const std::map<std::string, Result>& results, const std::string& key, const char* counter) {
  const auto it = results.find(key);
  if (it == results.end()) return std::nan("");
  const auto jt = it->second.counters.find(counter);
  return jt == it->second.counters.end() ? std::nan("") : jt->second;
}

// The chart's data for gnuplot (bench/table1.gp): one block per panel, separated by two blank
// lines, each row "label" speedup-1-thread speedup-2-threads bandwidth-limit.
void write_chart_data(const std::map<std::string, Result>& results, std::ostream& dat) {
  const struct {
    const char* title;
    const char* group;
    const char* prefix;
  } panels[] = {{"800M, per token", "800M", "token_"},
                {"800M, per decoder block", "800M", "block_"},
                {"800M, per decoder-only block", "800M decoder-only block", "block_"},
                {"17B, per decoder block", "17B block", "block_"}};
  for (const auto& panel : panels) {
    dat << "# " << panel.title << "\n";
    const std::string speedup = std::string(panel.prefix) + "speedup";
    const std::string limit = std::string(panel.prefix) + "limit";
    for (const auto& [bench, spec] : rows()) {
      if (std::string(spec.group) != panel.group || bench.ends_with("/dense")) continue;
      dat << '"' << bench.substr(bench.find('/') + 1) << "\" " << get(results, bench + "/1", speedup.c_str())
          << ' ' << get(results, bench + "/2", speedup.c_str()) << ' ' << get(results, bench + "/1", limit.c_str())
          << '\n';
    }
    dat << "\n\n";
  }
}

// Which roofline binds each sparse variant: the memory one (bytes read / the read probe) or the
// compute one (fp32 multiply-adds / the FMA probe), per token for the whole 800M model and per
// block otherwise. "of roofline" is the larger of the two fractions: the shortest time the probes
// allow, max(bytes / bandwidth, multiply-adds / FMA rate), over the time measured.
void write_rooflines(const std::map<std::string, Result>& results, std::ostream& md) {
  std::ostringstream body;
  for (const auto& [bench, spec] : rows()) {
    if (bench.ends_with("/dense")) continue;
    const char* prefix = std::string(spec.group) == "800M" ? "token_" : "block_";
    const auto counter = [&](const std::string& key, const char* name) {
      return get(results, key, (std::string(prefix) + name).c_str());
    };
    for (unsigned threads : {1U, 2U}) {
      const std::string key = bench + "/" + std::to_string(threads);
      if (results.find(key) == results.end()) continue;
      const double memory = counter(key, "of_probe");
      const double compute = counter(key, "of_compute");
      body << "| " << spec.group << ", " << spec.name << " | " << (prefix[0] == 't' ? "token" : "block") << " | "
           << threads << " | " << fmt(counter(key, "MB"), "%.1f") << " | " << fmt(counter(key, "Mmacs"), "%.1f")
           << " | " << fmt(memory, "%.2f") << " | " << fmt(compute, "%.2f") << " | "
           << fmt(std::max(memory, compute), "%.2f") << " | " << (memory >= compute ? "memory" : "compute") << " |\n";
    }
  }
  if (body.str().empty()) return;
  md << "\n### Rooflines of the sparse variants\n\n"
        "| row | per | threads | MB | M multiply-adds | of read probe | of FMA probe | of roofline | bound |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
     << body.str();
}

void write_table(const std::map<std::string, Result>& results, std::ostream& md) {
  const auto get = [&](const std::string& key, const char* c) { return ::get(results, key, c); };
  for (const char* group : {"800M", "800M decoder-only block", "17B block"}) {
    const bool whole_model = std::string(group) == "800M";
    bool any = false;
    for (unsigned threads : {1U, 2U}) {
      std::ostringstream body;
      for (const auto& [bench, spec] : rows()) {
        if (std::string(spec.group) != group) continue;
        const std::string key = bench + "/" + std::to_string(threads);
        if (results.find(key) == results.end()) continue;
        any = true;
        body << "| " << spec.name << " | ";
        if (whole_model) {
          body << time_ms(get(key, "token_ms")) << " | " << fmt(get(key, "token_speedup"), "%.2fx") << " | "
               << fmt(get(key, "token_limit"), "%.1fx") << " | " << fmt(get(key, "token_MB"), "%.0f") << " | "
               << fmt(get(key, "token_of_probe"), "%.2f") << " | ";
        }
        body << time_ms(get(key, "block_ms")) << " | " << fmt(get(key, "block_speedup"), "%.2fx") << " | "
             << fmt(get(key, "block_limit"), "%.1fx") << " | " << fmt(get(key, "block_MB"), "%.1f") << " | "
             << fmt(get(key, "block_of_probe"), "%.2f") << " | ";
        if (whole_model) body << paper_time(spec.paper_token_s) << " | ";
        body << paper_time(spec.paper_block_s) << " |\n";
      }
      if (body.str().empty()) continue;
      md << "\n### " << group << ", " << threads << (threads == 1 ? " thread" : " threads") << "\n\n";
      if (whole_model) {
        md << "| model | time per token | speedup | limit | MB per token | of probe | time per block | speedup | "
              "limit | MB per block | of probe | paper, token | paper, block |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
      } else {
        md << "| model | time per block | speedup | limit | MB per block | of probe | paper, block |\n"
              "|---|---|---|---|---|---|---|\n";
      }
      md << body.str();
    }
    if (!any) md << "\n### " << group << "\n\nnot run\n";
  }
  write_rooflines(results, md);
}

// The CPU, as /proc/cpuinfo names it (model name, family and model), or "unknown CPU".
std::string cpu_name() {
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  std::string name;
  std::string family;
  std::string model;
  const auto value = [&line] {
    const std::size_t colon = line.find(':');
    return colon == std::string::npos ? std::string() : line.substr(std::min(line.size(), colon + 2));
  };
  while (std::getline(info, line) && !line.empty()) {  // the first processor's lines
    if (name.empty() && line.rfind("model name", 0) == 0) name = value();
    if (family.empty() && line.rfind("cpu family", 0) == 0) family = value();
    if (model.empty() && line.rfind("model\t", 0) == 0) model = value();
  }
  if (name.empty()) return "unknown CPU";
  return name + (family.empty() ? "" : " (family " + family + ", model " + model + ")");
}

// What was run, when and where: the first lines of table1.md.
std::string header(int argc, char** argv, const PageWalkProbe& walk) {
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::ostringstream h;
  h << "# Table 1 on this machine\n\n"
    << "Written by `build/bench/bench/table1";
  for (int i = 1; i < argc; ++i) h << ' ' << argv[i];
  h << "` on " << date << ", " << cpu_name() << ", " << std::thread::hardware_concurrency()
    << " hardware threads, kernels for " << simd::DefaultArch::name()
    << ". Times are medians over tokens (and over repetitions, if any); each\n"
       "variant ran alternately with its dense baseline, token for token, and \"speedup\" is the\n"
       "ratio of the two medians from that same run. \"limit\" = weight bytes per token of the\n"
       "baseline / of the variant, all counted in fp32; \"MB\" counts the bytes decode reads (Sparse\n"
       "FF's C2 from its int8 copy; the KV cache at the mean timed position, "
    << kMeanSelfKeys << " keys, plus " << kInputLength << "\n"
       "encoder keys with cross-attention) and \"of probe\" = those bytes / time / the read\n"
       "bandwidth probe of the same run; \"of FMA probe\" = fp32 multiply-adds (with the weights\n"
       "and the KV cache) / time / the FMA rate probed in the same run. The baseline's own row\n"
       "(timed against itself) shows the noise of this shared machine. How to read it:\n"
       "docs/benchmarks.md. The chart table1.png is drawn from table1.dat by `gnuplot bench/table1.gp`.\n\n"
    << "Page-walk probe (core/latency.hpp): a dependent load over 8192 lines in L2 took "
    << fmt(walk.packed_ns, "%.1f") << " ns packed\nand " << fmt(walk.paged_ns, "%.1f")
    << " ns one line per 4 KiB page. A gap of tens of ns means that the TLB holds 4 KiB\n"
       "translations here, whatever pages Linux gave the arena: every row Sparse FF reads then\n"
       "starts with a page walk (docs/benchmarks.md, \"The page-walk probe\").\n";
  return h.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "docs";
  bool with_17b = true;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--skip-17b") {
      with_17b = false;
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  register_benchmarks(with_17b);
  const PageWalkProbe walk = measure_page_walk();
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();
  if (collector.results.empty()) {
    // --benchmark_list_tests, or a filter that matched nothing: keep the saved table.
    std::cerr << "table1: no benchmark ran, " << out << "/table1.md left as it was\n";
    return 0;
  }

  std::ostringstream md;
  std::ostringstream dat;
  md << header(argc, argv, walk);
  write_table(collector.results, md);
  write_chart_data(collector.results, dat);
  std::cout << md.str();
  std::ofstream md_file(out + "/table1.md");
  std::ofstream dat_file(out + "/table1.dat");
  md_file << md.str();
  dat_file << dat.str();
  if (!md_file || !dat_file) {
    std::cerr << "table1: cannot write " << out << "/table1.md and " << out << "/table1.dat\n";
    return 1;
  }
  std::cerr << "table1: wrote " << out << "/table1.md and " << out << "/table1.dat\n";
  return 0;
}
