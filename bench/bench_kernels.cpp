// Matrix–vector product on DRAM-resident weights (decode's inner loop) against the read-bandwidth
// probe (measured around each run) and against Eigen 3.4 and OpenBLAS sgemv on the same shapes;
// Sparse FF's gathered-row products (gathered/dots, gathered/axpy) and its controller's argmax in
// fp32 and from the int8 screen (controller/fp32, controller/screen) at the 800M FF+QKV shape;
// the multiplicative layer (multiplicative/…) at the sparse loss, Sparse QKV and 17B Sparse QKV
// shapes (D and E from DRAM), the first against matvec over the same bytes of E and also from its
// panels (sparse-loss-panels, what the layer reads once prepared), the last also with its inputs
// in halves (what the 17B layer runs); and Sparse
// QKV's convolution (local_conv/…) at the 800M and 17B shapes; one decode query's attention over
// cached keys and values (attention/…) at the 800M shape; and the scan for NaN and infinity that
// loading a checkpoint makes over every stored value (io/first_non_finite/…, one thread, as
// load_checkpoint runs it).
//
//   build/bench/bench/bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "common.hpp"
#include "scaling/core/init.hpp"
#include "scaling/io/safetensors.hpp"
#include "scaling/kernels/attention.hpp"
#include "scaling/kernels/gather.hpp"
#include "scaling/kernels/gemm.hpp"
#include "scaling/kernels/local_conv.hpp"
#include "scaling/kernels/matvec.hpp"
#include "scaling/kernels/multiplicative.hpp"
#include "scaling/kernels/screen.hpp"

#ifdef SCALING_HAVE_EIGEN
#include <Eigen/Core>
#endif
#ifdef SCALING_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

namespace {

using namespace scaling;

// Enough distinct matrices of Rows × Cols to cover 512 MiB, so consecutive calls never hit cache.
template <std::size_t Rows, std::size_t Cols>
struct Working {
  static constexpr std::size_t kBytes = Rows * Cols * sizeof(float);
  static constexpr std::size_t kCount = std::max<std::size_t>(2, (std::size_t{512} << 20) / kBytes);
  AlignedBuffer weights{kCount * Rows * Cols};
  std::vector<float> x = std::vector<float>(Cols);
  std::vector<float> y = std::vector<float>(Rows);
  std::size_t next = 0;
  Working() {
    SplitMix64 rng(1);
    for (std::size_t i = 0; i < weights.size(); ++i) weights.data()[i] = rng.symmetric(0.05F);
    for (auto& v : x) v = rng.symmetric(1.0F);
  }
  const float* take() {  // the next matrix, round robin
    const float* w = weights.data() + next * Rows * Cols;
    next = (next + 1) % kCount;
    return w;
  }
};

template <std::size_t Rows, std::size_t Cols>
Working<Rows, Cols>& working() {
  static Working<Rows, Cols> w;  // shared by ours and the peers: the same bytes
  return w;
}

// Products per benchmark iteration. A model step runs all its products inside one pool.run()
// with a barrier between them; so does this benchmark, so the time per product includes the
// barrier but not a thread wake-up (which a model pays once per token). The peers run the same
// number of products per iteration.
constexpr std::size_t kProductsPerIteration = 8;

// Times kProductsPerIteration calls of product(team, matrix, i) per iteration on the next matrices
// of w (round robin), all inside one pool.run() with a barrier after each; prepare() runs untimed
// before each iteration. Sets the median counters for `bytes` read per product; returns the
// median time of an iteration.
template <std::size_t Rows, std::size_t Cols, class Product, class Prepare>
double time_products(benchmark::State& state, Working<Rows, Cols>& w, double bytes, Product product,
                     Prepare prepare) {
  const auto threads = static_cast<unsigned>(state.range(0));
  ThreadPool pool(threads);
  bench::ProbeAround probe(threads);
  bench::Laps laps;
  for (auto _ : state) {
    prepare();
    laps.start();
    pool.run([&](const Team& team) {
      for (std::size_t i = 0; i < kProductsPerIteration; ++i) {
        product(team, w.weights.data() + ((w.next + i) % w.kCount) * Rows * Cols, i);
        team.sync();
      }
    });
    laps.stop();
    w.next = (w.next + kProductsPerIteration) % w.kCount;
    benchmark::ClobberMemory();
  }
  const double median = laps.median();
  bench::set_median_counters(state, laps, kProductsPerIteration * bytes, probe, kProductsPerIteration);
  return median;
}

template <std::size_t Rows, std::size_t Cols>
void BM_Matvec(benchmark::State& state) {
  auto& w = working<Rows, Cols>();
  time_products(state, w, Working<Rows, Cols>::kBytes, [&](const Team& team, const float* m, std::size_t) {
    kernels::matvec<Rows, Cols>(team, m, w.x.data(), nullptr, w.y.data());
  }, [] {});
}

// Sparse FF's decode reads one chosen row of W1 (gathered_dots) and of W2 (gathered_axpy) per block
// of N units: 800M FF+QKV, d_ff 6144 in 96 blocks of 64, rows of 1024 floats (4 KB). Rows are
// drawn anew for every product, one per block, from matrices read round robin (512 MiB).
enum class Gathered { kDots, kAxpy };
template <Gathered Kind>
void BM_Gathered(benchmark::State& state) {
  constexpr std::size_t kRows = 6144;
  constexpr std::size_t kCols = 1024;
  constexpr std::size_t kBlocks = 96;
  auto& w = working<kRows, kCols>();
  SplitMix64 rng(2);
  std::vector<std::uint32_t> chosen(kProductsPerIteration * kBlocks);
  std::vector<float> h(kBlocks, 0.5F);
  std::vector<float> gates(kBlocks);
  std::vector<float> bias(kCols, 0.1F);
  std::vector<float> y(kCols);
  const auto product = [&](const Team& team, const float* m, std::size_t i) {
    const std::uint32_t* rows = chosen.data() + i * kBlocks;
    if constexpr (Kind == Gathered::kDots) {
      kernels::gathered_dots<kCols>(m, rows, w.x.data(), gates.data(), team.split(kBlocks));
    } else {
      kernels::gathered_axpy<kCols>(m, rows, h.data(), kBlocks, bias.data(), y.data(), team.split(kCols, kFloatsPerLine));
    }
  };
  const auto draw_rows = [&] {
    for (std::size_t i = 0; i < chosen.size(); ++i) chosen[i] = static_cast<std::uint32_t>((i % kBlocks) * 64 + rng.next() % 64);
  };
  time_products(state, w, kBlocks * kCols * sizeof(float), product, draw_rows);
}
BENCHMARK(BM_Gathered<Gathered::kDots>)->Name("gathered/dots/96x1024")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Gathered<Gathered::kAxpy>)->Name("gathered/axpy/96x1024")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();

// Sparse FF's controller at the 800M FF+QKV shape: logits of 6144 units from C2 (6144 × 96) and
// the argmax of each block of 64, in fp32 (gemm_rows + block_argmax, what prefill uses) and from
// the int8 copy with fp32 only where it cannot decide (screened_block_argmax, what decode uses).
// Both choose the same units. Bytes: C2 in fp32, or its int8 copy with its scales plus three floats
// per block (the few fp32 rows recomputed are not counted).
enum class Controller { kFp32, kScreen };
template <Controller Kind>
void BM_Controller(benchmark::State& state) {
  constexpr std::size_t kUnits = 6144;
  constexpr std::size_t kRank = 96;
  constexpr std::size_t kN = 64;
  constexpr std::size_t kBlocks = kUnits / kN;
  constexpr std::size_t kWords = kernels::screen_words<kRank>(kBlocks, kN);
  constexpr std::size_t kBounds = kernels::screen_bound_floats(kBlocks);
  auto& w = working<kUnits, kRank>();
  std::vector<float> bias(kUnits);
  SplitMix64 rng(3);
  for (auto& b : bias) b = rng.symmetric(0.01F);
  // Each matrix's int8 copy and block bounds, built once, in huge-page-backed buffers as in a
  // model's arena (with 4 KB pages the screen's stream ran at half speed). The copies' words are
  // only ever accessed as uint32 (see BindViews in core/tensor.hpp).
  static const auto screens = [&] {
    std::pair<AlignedBuffer, AlignedBuffer> s{AlignedBuffer(w.kCount * kWords), AlignedBuffer(w.kCount * kBounds)};
    for (std::size_t m = 0; m < w.kCount; ++m) {
      const float* c2 = w.weights.data() + m * kUnits * kRank;
      kernels::pack_screen<kRank>(c2, kBlocks, kN, reinterpret_cast<std::uint32_t*>(s.first.data()) + m * kWords);
      kernels::screen_block_bounds<kRank>(c2, bias.data(), kBlocks, kN,
                                          s.second.data() + m * kBounds);
    }
    return s;
  }();
  const auto* packed = reinterpret_cast<const std::uint32_t*>(screens.first.data());
  std::vector<float> logits(kUnits);
  std::vector<std::uint32_t> choice(kBlocks);
  const auto product = [&](const Team& team, const float* c2, std::size_t) {
    const Range blocks = team.split(kBlocks);
    if constexpr (Kind == Controller::kFp32) {
      kernels::gemm_rows<kUnits, kRank>(w.x.data(), 1, c2, bias.data(), logits.data(),
                                        {blocks.begin * kN, blocks.end * kN});
      kernels::block_argmax(logits.data(), kN, choice.data(), blocks);
    } else {
      const auto m = static_cast<std::size_t>(c2 - w.weights.data()) / (kUnits * kRank);
      kernels::screened_block_argmax<kRank>(c2, bias.data(), packed + m * kWords,
                                            screens.second.data() + m * kBounds, w.x.data(), kN, logits.data(),
                                            choice.data(), blocks);
    }
  };
  const double bytes = Kind == Controller::kFp32 ? kUnits * kRank * sizeof(float)
                                                 : kWords * sizeof(std::uint32_t) + kBounds * sizeof(float);
  time_products(state, w, bytes, product, [] {});
}
BENCHMARK(BM_Controller<Controller::kFp32>)->Name("controller/fp32/6144x96")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Controller<Controller::kScreen>)->Name("controller/screen/6144x96")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();

// The multiplicative layer y = FactoredDense(x) with D: (S, In) and E: (In, M) read from DRAM, as
// in a model: 800M's sparse loss layer (S 4, E 1024 × 8000), its Sparse QKV's (S 16, E 1024 × 64,
// plus the S × M outputs it shares with other layers) and the 17B block's (S 64, D 64 × 9216 =
// 2.4 MB, E 9216 × 144). `matvec/…` on Working<In, M> reads the bytes of E.
// Counters: GB/s and of_probe for the bytes of D and E, and G multiply-adds/s (GMAC/s).
// With kPanels, E is read from its panels (multiplicative_panels, what a prepared layer of at most
// 4 modules decodes with): the working set's bytes after D stand for them, as the time does not
// depend on the values. With kHalves, the inputs are split in two halves summed afterwards
// (multiplicative_halves, a sync, add_halves: what a layer with a large D runs).
enum class MultKind { kChunks, kPanels, kHalves };
template <std::size_t S, std::size_t In, std::size_t M, MultKind Kind = MultKind::kChunks>
void BM_Multiplicative(benchmark::State& state) {
  constexpr std::size_t kD = S * In;  // D, then E, in one "matrix" of the working set
  auto& w = working<1, kD + In * M>();
  std::vector<float> x(In, 0.25F);
  std::vector<float> b(S * M, 0.1F);
  std::vector<float> y(S * M);
  std::vector<float> partial(S * M);
  const double median = time_products(state, w, Working<1, kD + In * M>::kBytes, [&](const Team& team, const float* de, std::size_t) {
    if constexpr (Kind == MultKind::kPanels) {
      kernels::multiplicative_panels<S, In, M>(team, de, de + kD, x.data(), b.data(), y.data());
    } else if constexpr (Kind == MultKind::kHalves) {
      kernels::Trickle none;
      kernels::multiplicative_halves<S, In, M>(team, de, de + kD, x.data(), y.data(), partial.data(), none);
      team.sync();
      kernels::add_halves<S * M>(team, b.data(), y.data(), partial.data());
    } else {
      kernels::multiplicative<S, In, M>(team, de, de + kD, x.data(), b.data(), y.data());
    }
  }, [] {});
  state.counters["GMAC/s"] = static_cast<double>(kProductsPerIteration * S * In * M) / median * 1e-9;
}
BENCHMARK(BM_Multiplicative<4, 1024, 8000>)->Name("multiplicative/sparse-loss/4x1024x8000")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Multiplicative<4, 1024, 8000, MultKind::kPanels>)->Name("multiplicative/sparse-loss-panels/4x1024x8000")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Matvec<1024, 8000>)->Name("matvec/scaling/1024x8000")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Multiplicative<16, 1024, 64>)->Name("multiplicative/sparse-qkv/16x1024x64")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Multiplicative<64, 9216, 144>)->Name("multiplicative/17b-qkv/64x9216x144")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Multiplicative<64, 9216, 144, MultKind::kHalves>)->Name("multiplicative/17b-qkv-halves/64x9216x144")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();

// Sparse QKV's locally-connected convolution over S modules of M features (kernel (Kl, Ks, M, U),
// read from DRAM, round robin as E above): the 800M block's Q/K (S 16, M = U = 64) and the 17B
// block's (S 64, M = U = 144), both with Ks 3 and Kl 3. Counters as for the multiplicative layer,
// for the kernel's bytes; GMAC/s counts the taps that fall on the zero padding too.
template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl>
void BM_LocalConv(benchmark::State& state) {
  auto& w = working<Kl * Ks * M, U>();  // the kernels
  std::vector<float> rows(Kl * S * M, 0.25F);
  std::array<const float*, Kl> row_ptrs{};
  for (std::size_t l = 0; l < Kl; ++l) row_ptrs[l] = rows.data() + l * S * M;
  std::vector<float> b(U, 0.1F);
  std::vector<float> y(S * U);
  const double median = time_products(state, w, Working<Kl * Ks * M, U>::kBytes, [&](const Team& team, const float* k, std::size_t) {
    kernels::local_conv<S, M, U, Ks, Kl>(row_ptrs.data(), k, b.data(), y.data(), team.split(S));
  }, [] {});
  state.counters["GMAC/s"] = static_cast<double>(kProductsPerIteration * S * Kl * Ks * M * U) / median * 1e-9;
}
BENCHMARK(BM_LocalConv<16, 64, 64, 3, 3>)->Name("local_conv/sparse-qkv/16x64x64")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_LocalConv<64, 144, 144, 3, 3>)->Name("local_conv/17b-qkv/64x144x144")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();

// One decode query against cached keys and values (800M: 16 heads of 64, caches of 512 positions
// read from DRAM, round robin), at the Table 1 protocol's mean self-attention length (34 keys,
// positions 4–63) and its cross-attention length (16 encoder tokens). GB/s counts the rows read.
template <std::size_t Keys>
void BM_Attention(benchmark::State& state) {
  constexpr std::size_t kH = 16;
  constexpr std::size_t kDh = 64;
  constexpr std::size_t kCap = 512;
  using Layout = kernels::KvLayout<kH, kCap, kDh>;
  auto& w = working<2 * kCap, kH * kDh>();  // K's rows, then V's
  std::vector<float> q(kH * kDh, 0.1F);
  std::vector<float> out(kH * kDh);
  std::vector<float> scores(2 * kernels::attention_scratch(kH, kCap));
  time_products(state, w, 2.0 * Keys * kH * kDh * sizeof(float), [&](const Team& team, const float* kv, std::size_t) {
    kernels::attention<kH, kCap, kDh>(team, q.data(), 1, kv, kv + Layout::kSize, [](std::size_t) { return Keys; },
                                      scores.data(), out.data());
  }, [] {});
}
BENCHMARK(BM_Attention<34>)->Name("attention/800m/16x64/34-keys")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_Attention<16>)->Name("attention/800m/16x64/16-keys")->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();

// The finiteness scan over 256 MiB of stored values (all finite, so the whole buffer is read),
// F32 or BF16, against the read probe on one thread.
template <io::DType T>
void BM_FirstNonFinite(benchmark::State& state) {
  static const AlignedBuffer stored = [] {
    AlignedBuffer b((std::size_t{256} << 20) / sizeof(float));
    SplitMix64 rng(5);
    for (std::size_t i = 0; i < b.size(); ++i) {
      // Both halves the same bf16 value: finite read as F32 and as BF16 pairs.
      const std::uint32_t high = std::bit_cast<std::uint32_t>(rng.symmetric(1.0F)) >> 16U;
      b.data()[i] = std::bit_cast<float>(high << 16U | high);
    }
    return b;
  }();
  const auto* bytes = reinterpret_cast<const std::byte*>(stored.data());
  const std::size_t n = stored.size() * sizeof(float) / io::dtype_size(T);
  bench::ProbeAround probe(1);
  bench::Laps laps;
  for (auto _ : state) {
    laps.start();
    benchmark::DoNotOptimize(io::first_non_finite(T, bytes, n));
    laps.stop();
  }
  bench::set_median_counters(state, laps, static_cast<double>(stored.size() * sizeof(float)), probe);
}
BENCHMARK(BM_FirstNonFinite<io::DType::kF32>)->Name("io/first_non_finite/f32/256MiB")->MinWarmUpTime(0.2)->UseRealTime();
BENCHMARK(BM_FirstNonFinite<io::DType::kBF16>)->Name("io/first_non_finite/bf16/256MiB")->MinWarmUpTime(0.2)->UseRealTime();

#ifdef SCALING_HAVE_EIGEN
// Eigen's matrix–vector product is single-threaded.
template <std::size_t Rows, std::size_t Cols>
void BM_EigenMatvec(benchmark::State& state) {
  auto& w = working<Rows, Cols>();
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Eigen::VectorXf> x(w.x.data(), Cols);
  Eigen::Map<Eigen::VectorXf> y(w.y.data(), Rows);
  bench::ProbeAround probe(1);
  bench::Laps laps;
  for (auto _ : state) {
    laps.start();
    for (std::size_t i = 0; i < kProductsPerIteration; ++i) {
      Eigen::Map<const Mat> m(w.take(), Rows, Cols);
      y.noalias() = m * x;
    }
    laps.stop();
    benchmark::DoNotOptimize(w.y.data());
  }
  bench::set_median_counters(state, laps, kProductsPerIteration * Working<Rows, Cols>::kBytes, probe,
                             kProductsPerIteration);
}
#endif

#ifdef SCALING_HAVE_OPENBLAS
template <std::size_t Rows, std::size_t Cols>
void BM_OpenBlasSgemv(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  openblas_set_num_threads(static_cast<int>(threads));
  auto& w = working<Rows, Cols>();
  bench::ProbeAround probe(threads);
  bench::Laps laps;
  for (auto _ : state) {
    laps.start();
    for (std::size_t i = 0; i < kProductsPerIteration; ++i) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, Rows, Cols, 1.0F, w.take(), Cols, w.x.data(), 1, 0.0F,
                  w.y.data(), 1);
    }
    laps.stop();
    benchmark::DoNotOptimize(w.y.data());
  }
  bench::set_median_counters(state, laps, kProductsPerIteration * Working<Rows, Cols>::kBytes, probe,
                             kProductsPerIteration);
}
#endif

#define SCALING_MATVEC_BENCH(R, C)                                                          \
  BENCHMARK(BM_Matvec<R, C>)->Name("matvec/scaling/" #R "x" #C)->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime(); \
  SCALING_EIGEN_BENCH(R, C)                                                                  \
  SCALING_OPENBLAS_BENCH(R, C)

#ifdef SCALING_HAVE_EIGEN
#define SCALING_EIGEN_BENCH(R, C) \
  BENCHMARK(BM_EigenMatvec<R, C>)->Name("matvec/eigen/" #R "x" #C)->Arg(1)->MinWarmUpTime(0.2)->UseRealTime();
#else
#define SCALING_EIGEN_BENCH(R, C)
#endif
#ifdef SCALING_HAVE_OPENBLAS
#define SCALING_OPENBLAS_BENCH(R, C) \
  BENCHMARK(BM_OpenBlasSgemv<R, C>)->Name("matvec/openblas/" #R "x" #C)->Arg(1)->Arg(2)->MinWarmUpTime(0.2)->UseRealTime();
#else
#define SCALING_OPENBLAS_BENCH(R, C)
#endif

// The 800M model's shapes: attention projections, FF in / out, logits.
SCALING_MATVEC_BENCH(1024, 1024)
SCALING_MATVEC_BENCH(4096, 1024)
SCALING_MATVEC_BENCH(1024, 4096)
SCALING_MATVEC_BENCH(32000, 1024)

}  // namespace

BENCHMARK_MAIN();
