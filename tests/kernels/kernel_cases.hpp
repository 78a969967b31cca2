// Kernel tests, instantiated once per instruction set: each tests/kernels/arch_*.cpp defines
// SCALING_TEST_ARCH (an xsimd arch tag) and SCALING_TEST_ARCH_NAME, is compiled with that arch's
// -march in its own executable, and includes this file. Every kernel is compared with its scalar
// double-precision twin in scaling/kernels/reference, with the error bound stated per case.

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "scaling/core/init.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/kernels/attention.hpp"
#include "scaling/kernels/embedding.hpp"
#include "scaling/kernels/gather.hpp"
#include "scaling/kernels/gemm.hpp"
#include "scaling/kernels/local_conv.hpp"
#include "scaling/kernels/matvec.hpp"
#include "scaling/kernels/multiplicative.hpp"
#include "scaling/kernels/norm.hpp"
#include "scaling/kernels/screen.hpp"
#include "scaling/kernels/reference/reference.hpp"
#include "scaling/kernels/softmax.hpp"
#include "scaling/kernels/trickle.hpp"
#include "scaling/simd/ops.hpp"

namespace {

using Arch = SCALING_TEST_ARCH;
using scaling::Range;
using scaling::Team;
using scaling::kernels::Write;
namespace ref = scaling::reference;

#define ARCH_CASE(name) TEST_CASE("[" SCALING_TEST_ARCH_NAME "] " name)
// Skip (with a message) on a CPU that cannot run this executable's kernels.
#define REQUIRE_ARCH()                                                              \
  if (!scaling::simd::cpu_supports<Arch>()) {                                       \
    MESSAGE("this CPU lacks " SCALING_TEST_ARCH_NAME "; kernel cases not run here"); \
    return;                                                                         \
  }

std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float scale = 1.0F) {
  scaling::SplitMix64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.symmetric(scale);
  return v;
}

// A float dot product of n terms has error at most about n·ε·Σ|aᵢbᵢ| (Higham, γ_n); +2 covers
// the bias add and the final rounding of each output.
double dot_bound(std::size_t n, double magnitude) {
  return static_cast<double>(n + 2) * FLT_EPSILON * magnitude;
}

template <std::size_t Rows, std::size_t Cols, Write Mode>
void check_matvec() {
  CAPTURE(Rows);
  CAPTURE(Cols);
  const auto w = random_vector(Rows * Cols, 1 + Rows * 7 + Cols);
  const auto x = random_vector(Cols, 2 + Cols);
  const auto b = random_vector(Rows, 3 + Rows);
  const auto start = random_vector(Rows, 4);  // y before the call (kAccumulate adds to it)
  auto y = start;
  scaling::kernels::matvec<Rows, Cols, Mode, Arch>(Team::solo(), w.data(), x.data(), b.data(), y.data());
  const auto want = ref::matvec(w.data(), x.data(), b.data(), Rows, Cols);
  const auto mag = ref::matvec_magnitude(w.data(), x.data(), b.data(), Rows, Cols);
  for (std::size_t r = 0; r < Rows; ++r) {
    double expect = want[r];
    if (Mode == Write::kAccumulate) expect += start[r];
    if (Mode == Write::kStoreRelu) expect = expect > 0 ? expect : 0;
    CHECK(std::abs(y[r] - expect) <= dot_bound(Cols, mag[r]) + std::abs(start[r]) * FLT_EPSILON);
  }

  // Any split of the rows over a team gives bitwise the same y: this is what makes the models'
  // results independent of the thread count.
  for (unsigned size : {2U, 3U, 5U}) {
    auto split_y = start;
    for (unsigned id = 0; id < size; ++id) {
      const Team member(id, size, nullptr);  // split() needs no barrier
      scaling::kernels::matvec<Rows, Cols, Mode, Arch>(member, w.data(), x.data(), b.data(), split_y.data());
    }
    CHECK(split_y == y);
  }
}

template <std::size_t Rows, std::size_t Cols>
void check_gemm(std::size_t tokens) {
  CAPTURE(Rows);
  CAPTURE(Cols);
  CAPTURE(tokens);
  const auto w = random_vector(Rows * Cols, 11 + Rows + Cols);
  const auto x = random_vector(tokens * Cols, 12 + tokens);
  const auto b = random_vector(Rows, 13);
  std::vector<float> y(tokens * Rows, -1.0F);
  scaling::kernels::gemm<Rows, Cols, Write::kStore, Arch>(Team::solo(), x.data(), tokens, w.data(), b.data(), y.data());
  for (std::size_t t = 0; t < tokens; ++t) {
    const auto want = ref::matvec(w.data(), x.data() + t * Cols, b.data(), Rows, Cols);
    const auto mag = ref::matvec_magnitude(w.data(), x.data() + t * Cols, b.data(), Rows, Cols);
    std::vector<float> one(Rows);
    scaling::kernels::matvec<Rows, Cols, Write::kStore, Arch>(Team::solo(), w.data(), x.data() + t * Cols, b.data(), one.data());
    for (std::size_t r = 0; r < Rows; ++r) {
      CHECK(std::abs(y[t * Rows + r] - want[r]) <= dot_bound(Cols, mag[r]));
      CHECK(y[t * Rows + r] == one[r]);  // prefill and decode agree bitwise
    }
  }
}

ARCH_CASE("matvec matches the double-precision reference with tails") {
  REQUIRE_ARCH();
  check_matvec<1, 1, Write::kStore>();
  check_matvec<5, 3, Write::kStore>();
  check_matvec<7, 17, Write::kAccumulate>();
  check_matvec<33, 64, Write::kStoreRelu>();
  check_matvec<64, 100, Write::kStore>();
  check_matvec<130, 257, Write::kAccumulate>();
  check_matvec<256, 1024, Write::kStore>();
}

ARCH_CASE("gemm matches the reference and matvec with token and row tails") {
  REQUIRE_ARCH();
  for (std::size_t tokens : {1U, 3U, 4U, 9U}) {
    check_gemm<5, 3>(tokens);
    check_gemm<8, 16>(tokens);
    check_gemm<13, 33>(tokens);
    check_gemm<64, 130>(tokens);
  }
}

template <std::size_t D>
void check_norms(float scale) {
  CAPTURE(D);
  CAPTURE(scale);
  const auto x = random_vector(D, 21 + D, scale);
  auto gain = random_vector(D, 22);
  const auto bias = random_vector(D, 23);
  std::vector<float> y(D);
  scaling::kernels::layer_norm<D, Arch>(x.data(), gain.data(), bias.data(), y.data());
  const auto want = ref::layer_norm(x.data(), gain.data(), bias.data(), D, scaling::kernels::kNormEpsilon);
  // Normalised values are O(1); mean, variance and scale each add a few ulps per element summed.
  for (std::size_t i = 0; i < D; ++i) CHECK(std::abs(y[i] - want[i]) <= 1e-5 + 1e-5 * std::abs(want[i]));

  scaling::kernels::rms_norm<D, Arch>(x.data(), gain.data(), y.data());
  const auto want_rms = ref::rms_norm(x.data(), gain.data(), D, scaling::kernels::kNormEpsilon);
  for (std::size_t i = 0; i < D; ++i) CHECK(std::abs(y[i] - want_rms[i]) <= 1e-5 + 1e-5 * std::abs(want_rms[i]));

  auto in_place = x;  // y may alias x
  scaling::kernels::layer_norm<D, Arch>(in_place.data(), gain.data(), bias.data(), in_place.data());
  scaling::kernels::layer_norm<D, Arch>(x.data(), gain.data(), bias.data(), y.data());
  CHECK(in_place == y);
}

ARCH_CASE("layer norm and RMS norm match the reference") {
  REQUIRE_ARCH();
  // Values up to 1e-3: variance and mean square below the epsilon (1e-6), which sets the scale.
  for (const float scale : {3.0F, 1e-3F}) {
    check_norms<2>(scale);
    check_norms<7>(scale);
    check_norms<16>(scale);
    check_norms<33>(scale);
    check_norms<1024>(scale);
  }
}

ARCH_CASE("softmax matches the reference including large logits") {
  REQUIRE_ARCH();
  // The largest logit at `peak`, `lift` above the others (|x| < 20): exp(x) would overflow without
  // the max shift, and exp(x - top) too if top missed the peak.
  const auto check = [](std::size_t n, std::size_t peak, float lift) {
    CAPTURE(n);
    CAPTURE(peak);
    auto x = random_vector(n, 31 + n, 20.0F);
    x[peak] += lift;
    std::vector<double> xd(x.begin(), x.end());
    scaling::kernels::softmax<Arch>(x.data(), n);
    const auto want = ref::softmax(xd.data(), n);
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(std::abs(x[i] - want[i]) <= 1e-6 + 1e-5 * want[i]);  // xsimd exp: ~1 ulp
      total += x[i];
    }
    CHECK(std::abs(total - 1.0) <= 1e-5);
  };
  for (std::size_t n : {1U, 5U, 16U, 17U, 100U, 513U}) check(n, n / 2, 80.0F);
  // The peak last, in the scalar tail after the full vectors (n 17, 100, 513 with 16 or 8 lanes).
  for (std::size_t n : {17U, 100U, 513U}) check(n, n - 1, 200.0F);
}

ARCH_CASE("embedding is exact") {
  REQUIRE_ARCH();
  constexpr std::size_t kD = 37;
  const auto e = random_vector(kD, 42);
  const auto p = random_vector(kD, 43);
  std::vector<float> y(kD);
  scaling::kernels::embed<kD, Arch>(e.data(), p.data(), y.data());
  for (std::size_t i = 0; i < kD; ++i) CHECK(y[i] == e[i] + p[i]);
}

// One head's n rows of dh floats, gathered from rows `stride` floats apart in which the head's
// part starts `offset` floats in (a position-major cache, or the (position, heads) rows of a test).
inline std::vector<float> head_rows(const std::vector<float>& rows, std::size_t n, std::size_t stride,
                                    std::size_t offset, std::size_t dh) {
  std::vector<float> out;
  for (std::size_t j = 0; j < n; ++j) {
    const auto at = rows.begin() + static_cast<std::ptrdiff_t>(j * stride + offset);
    out.insert(out.end(), at, at + static_cast<std::ptrdiff_t>(dh));
  }
  return out;
}

// `lines` whole cache lines of v, which needs a line to spare for the alignment.
std::span<const float> whole_lines(const std::vector<float>& v, std::size_t lines) {
  const auto misalignment = reinterpret_cast<std::uintptr_t>(v.data()) % scaling::kernels::Trickle::kLine;
  const std::size_t skip = misalignment == 0 ? 0 : (scaling::kernels::Trickle::kLine - misalignment) / sizeof(float);
  REQUIRE(v.size() >= skip + lines * 16);
  return std::span<const float>(v).subspan(skip, lines * 16);
}

// attend_heads on `heads` heads whose rows are interleaved (key j of head h at j·stride + h·Dh,
// with a gap of 3 floats after each row), each head against the reference on its own.
template <std::size_t Dh>
void check_attend_heads(std::size_t n, std::size_t heads) {
  CAPTURE(Dh);
  CAPTURE(n);
  CAPTURE(heads);
  const std::size_t stride = heads * Dh + 3;
  const auto q = random_vector(heads * Dh, 51 + Dh, 2.0F);
  const auto k = random_vector(n * stride, 52 + n, 2.0F);
  const auto v = random_vector(n * stride, 53 + n);
  std::vector<float> scores(heads * n);
  std::vector<float> out(heads * Dh);
  scaling::kernels::attend_heads<Dh, Arch>(q.data(), k.data(), v.data(), stride, heads, n, scores.data(), out.data());
  for (std::size_t h = 0; h < heads; ++h) {
    const auto kh = head_rows(k, n, stride, h * Dh, Dh);
    const auto vh = head_rows(v, n, stride, h * Dh, Dh);
    const auto want = ref::attend_head(q.data() + h * Dh, kh.data(), vh.data(), n, Dh);
    // Scores have error ~Dh·ε·|q||k|, softmax ~1 ulp relative, the weighted sum ~n·ε.
    for (std::size_t i = 0; i < Dh; ++i) CHECK(std::abs(out[h * Dh + i] - want[i]) <= 2e-5);
  }
  // With a trickle: the same output, and a line per head taken for each key in each pass.
  const std::size_t lines = 2 * n * heads;
  const std::vector<float> ahead((lines + 2) * 16);
  scaling::kernels::Trickle trickle{whole_lines(ahead, lines + 1)};
  std::vector<float> trickled(heads * Dh);
  scaling::kernels::attend_heads<Dh, Arch>(q.data(), k.data(), v.data(), stride, heads, n, scores.data(),
                                           trickled.data(), trickle);
  CHECK(trickled == out);
  CHECK(trickle.take(2).lines == 1);  // all but the spare line
}

ARCH_CASE("attention of one head and of interleaved heads matches the reference") {
  REQUIRE_ARCH();
  for (std::size_t n : {1U, 7U, 33U, 200U}) {
    for (std::size_t heads : {1U, 3U}) {
      check_attend_heads<8>(n, heads);
      check_attend_heads<20>(n, heads);
      check_attend_heads<64>(n, heads);
    }
  }
}

// kH heads over a KV cache, queries split over a team of 3; with kH > kHeadsPerPass a member's
// heads of one query take several passes.
template <std::size_t kH, std::size_t kDh>
void check_cached_attention() {
  CAPTURE(kH);
  constexpr std::size_t kCap = 20;
  constexpr std::size_t kQueries = 5;
  constexpr std::size_t kPos = 9;  // queries are positions 9..13
  using Layout = scaling::kernels::KvLayout<kH, kCap, kDh>;
  std::vector<float> kc(Layout::kSize);
  std::vector<float> vc(Layout::kSize);
  const auto krows = random_vector((kPos + kQueries) * kH * kDh, 61);
  const auto vrows = random_vector((kPos + kQueries) * kH * kDh, 62);
  // Positions 0 … kPos + kQueries − 1: a cache row is one position's heads (Layout::kRowStride).
  static_assert(Layout::kRowStride == kH * kDh);
  std::copy(krows.begin(), krows.end(), kc.begin());
  std::copy(vrows.begin(), vrows.end(), vc.begin());
  const auto q = random_vector(kQueries * kH * kDh, 63);
  std::vector<float> scores(3 * scaling::kernels::attention_scratch(kH, kCap));
  std::vector<float> out(kQueries * kH * kDh);
  const auto keys = [](std::size_t t) { return kPos + t + 1; };
  for (unsigned id = 0; id < 3; ++id) {
    scaling::kernels::attention<kH, kCap, kDh, Arch>(Team(id, 3, nullptr), q.data(), kQueries, kc.data(), vc.data(), keys, scores.data(), out.data());
  }
  for (std::size_t t = 0; t < kQueries; ++t) {
    for (std::size_t h = 0; h < kH; ++h) {
      // The reference reads the (position, heads) rows directly: gather this head.
      const auto kh = head_rows(krows, keys(t), kH * kDh, h * kDh, kDh);
      const auto vh = head_rows(vrows, keys(t), kH * kDh, h * kDh, kDh);
      const auto want = ref::attend_head(q.data() + (t * kH + h) * kDh, kh.data(), vh.data(), keys(t), kDh);
      for (std::size_t i = 0; i < kDh; ++i) CHECK(std::abs(out[(t * kH + h) * kDh + i] - want[i]) <= 2e-5);
    }
  }
  // A team of 1 gives the same bits: each head's result does not depend on how heads are grouped.
  std::vector<float> solo(out.size());
  scaling::kernels::attention<kH, kCap, kDh, Arch>(Team::solo(), q.data(), kQueries, kc.data(), vc.data(), keys, scores.data(), solo.data());
  CHECK(solo == out);
}

ARCH_CASE("multi-head causal attention over a KV cache split over a team") {
  REQUIRE_ARCH();
  check_cached_attention<3, 12>();
  check_cached_attention<37, 5>();  // more heads than one pass takes
}

template <std::size_t Cols>
void check_gathered(std::size_t count) {
  CAPTURE(Cols);
  CAPTURE(count);
  constexpr std::size_t kRows = 40;
  const auto w = random_vector(kRows * Cols, 71 + Cols);
  const auto x = random_vector(Cols, 72);
  std::vector<std::uint32_t> rows(count);
  scaling::SplitMix64 rng(73 + count);
  for (auto& r : rows) r = static_cast<std::uint32_t>(rng.next() % kRows);  // repeats allowed

  // gathered_dots: each output is the chosen row's dot product, exactly as matvec computes it.
  std::vector<float> dots(count);
  scaling::kernels::gathered_dots<Cols, Write::kStoreRelu, Arch>(w.data(), rows.data(), x.data(), dots.data(), {0, count});
  std::vector<float> all(kRows);
  scaling::kernels::matvec<kRows, Cols, Write::kStoreRelu, Arch>(Team::solo(), w.data(), x.data(), nullptr, all.data());
  for (std::size_t i = 0; i < count; ++i) {
    const double want = ref::matvec(w.data() + rows[i] * Cols, x.data(), nullptr, 1, Cols)[0];
    const double mag = ref::matvec_magnitude(w.data() + rows[i] * Cols, x.data(), nullptr, 1, Cols)[0];
    CHECK(std::abs(dots[i] - (want > 0 ? want : 0.0)) <= dot_bound(Cols, mag));
    CHECK(dots[i] == all[rows[i]]);
  }
  // Split as a team of 3 splits it: each member writes its own range of outputs, the same values.
  std::vector<float> split_dots(count, -1.0F);
  for (unsigned id = 0; id < 3; ++id) {
    scaling::kernels::gathered_dots<Cols, Write::kStoreRelu, Arch>(
        w.data(), rows.data(), x.data(), split_dots.data(), Team(id, 3, nullptr).split(count));
  }
  CHECK(split_dots == dots);

  // gathered_axpy: y += Σ h_i W[rows_i] + b, against the reference, and any split of the columns
  // gives bitwise the same y.
  const auto h = random_vector(count, 74);
  const auto b = random_vector(Cols, 75);
  const auto start = random_vector(Cols, 76);
  auto y = start;
  scaling::kernels::gathered_axpy<Cols, Arch>(w.data(), rows.data(), h.data(), count, b.data(), y.data(), {0, Cols});
  for (std::size_t c = 0; c < Cols; ++c) {
    double want = start[c] + static_cast<double>(b[c]);
    double mag = std::abs(start[c]) + std::abs(b[c]);
    for (std::size_t i = 0; i < count; ++i) {
      want += static_cast<double>(h[i]) * w[rows[i] * Cols + c];
      mag += std::abs(static_cast<double>(h[i]) * w[rows[i] * Cols + c]);
    }
    CHECK(std::abs(y[c] - want) <= dot_bound(count + 2, mag));
  }
  for (unsigned size : {2U, 3U}) {
    auto split_y = start;
    for (unsigned id = 0; id < size; ++id) {
      const Range cols = Team(id, size, nullptr).split(Cols, scaling::kFloatsPerLine);
      scaling::kernels::gathered_axpy<Cols, Arch>(w.data(), rows.data(), h.data(), count, b.data(), split_y.data(), cols);
    }
    CHECK(split_y == y);
  }
  // With a trickle: the same y, and a line taken per vector of columns for every group of 4 rows.
  constexpr std::size_t kVectors = Cols / scaling::simd::kWidth<Arch>;
  const std::size_t lines = count / 4 * kVectors;
  const std::vector<float> ahead((lines + 2) * 16);
  scaling::kernels::Trickle trickle{whole_lines(ahead, lines + 1)};
  auto trickled_y = start;
  scaling::kernels::gathered_axpy<Cols, Arch>(w.data(), rows.data(), h.data(), count, b.data(), trickled_y.data(),
                                              {0, Cols}, trickle);
  CHECK(trickled_y == y);
  CHECK(trickle.take(2).lines == 1);  // all but the spare line
}

ARCH_CASE("gathered dot products and gathered axpy match the reference") {
  REQUIRE_ARCH();
  for (std::size_t count : {1U, 3U, 4U, 9U, 17U}) {
    check_gathered<3>(count);
    check_gathered<16>(count);
    check_gathered<37>(count);
    check_gathered<200>(count);
  }
}

ARCH_CASE("block argmax picks the first maximum of each block") {
  REQUIRE_ARCH();
  const std::vector<float> logits{1, 3, 3, 0, /**/ -1, -2, -1, -5, /**/ 7, 7, 7, 7};
  std::vector<std::uint32_t> choice(3);
  scaling::kernels::block_argmax(logits.data(), 4, choice.data(), {0, 3});
  CHECK(choice == std::vector<std::uint32_t>{1, 4, 8});
}

ARCH_CASE("add_dot_int8_pairs adds each lane's two signed bytes times its two int16, exactly") {
  REQUIRE_ARCH();
  namespace simd = scaling::simd;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::uniform_int_distribution<int> half(-32768, 32767);
  std::uniform_int_distribution<std::int32_t> start(-(1 << 30), 1 << 30);
  for (int round = 0; round < 100; ++round) {
    std::int8_t bytes[2 * kW];
    std::int16_t lo[kW];
    std::int16_t hi[kW];
    alignas(64) std::int32_t words[kW];
    alignas(64) std::int32_t acc[kW];
    for (std::size_t k = 0; k < kW; ++k) {
      // The first round takes the screen's extremes (|q| ≤ 127, |û| ≤ 32767) with equal signs.
      bytes[2 * k] = static_cast<std::int8_t>(round == 0 ? -127 : byte(rng));
      bytes[2 * k + 1] = static_cast<std::int8_t>(round == 0 ? 127 : byte(rng));
      lo[k] = static_cast<std::int16_t>(round == 0 ? -32767 : half(rng));
      hi[k] = static_cast<std::int16_t>(round == 0 ? 32767 : half(rng));
      words[k] = static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint16_t>(lo[k])) |
                                           static_cast<std::uint32_t>(static_cast<std::uint16_t>(hi[k])) << 16U);
      acc[k] = round == 0 ? 0 : start(rng);
    }
    alignas(64) std::int32_t got[kW];
    simd::add_dot_int8_pairs<Arch>(simd::IntVec<Arch>::load_aligned(acc), bytes, simd::IntVec<Arch>::load_aligned(words))
        .store_aligned(got);
    for (std::size_t k = 0; k < kW; ++k) CHECK(got[k] == acc[k] + bytes[2 * k] * lo[k] + bytes[2 * k + 1] * hi[k]);
  }
}

// How check_screen shapes the controller so that the int8 screen must hand decisions to fp32.
enum class Screen {
  kRandom,     // uniform weights
  kNearTies,   // the leading rows of each block are ordered differently by int8 and by fp32
  kCrowded,    // every row of a block = its first row + 0.003 × its own: int8 error ~ the gaps
  kWorstCase,  // two leading rows with int8 errors near the largest possible, in opposite senses
  kTiny,       // weights around 1e-39 (subnormal): the bound's absolute terms
  kHuge,       // weights around 1e30, products past 1e38: blocks fall back to fp32
  kNonFinite,  // NaN in one row, infinity in one bias
  kCrowdedNaN, // crowded, with NaN in block 1: a block computed in fp32 between blocks whose
               // candidates wait for the next block's screen
  kInputRounding,  // rows exact in int8 that only u's int16 rounding orders differently
};

// The screened argmax must choose exactly what matvec + block_argmax choose in fp32.
template <std::size_t R, std::size_t N, std::size_t Blocks>
void check_screen(Screen kind, bool nan_input = false) {
  CAPTURE(R);
  CAPTURE(N);
  CAPTURE(static_cast<int>(kind));
  constexpr std::size_t kRows = Blocks * N;
  auto w = random_vector(kRows * R, 91 + R);
  auto b = random_vector(kRows, 92 + N, 0.1F);
  auto u = random_vector(R, 93 + R);
  // The int8 step of a row whose largest |weight| is 1 (the random weights are below 1).
  const auto step = static_cast<float>(1.0 / 127.0);
  if (kind == Screen::kNearTies) {
    // Rows 0..3 of each block lead by 50, share weight 2 = 1 (so their step is `step`) and differ
    // in their first two weights, 64 steps where int8 rounds:
    //   row 0: (64, 64, 1, ...)   row 1: (64.49, 64, ...)   row 2: (64, 64.51, ...)   row 3 = row 1
    // (in steps). With u = (1, 0.4, ...), fp32 ranks row 1 first (row 3 ties with it: the lower
    // index wins); int8 rounds row 1 back to row 0 and row 2 up a step, so it ranks row 2 first.
    if constexpr (R >= 3) {
      u[0] = 1.0F;
      u[1] = 0.4F;
    }
    for (std::size_t i = 0; i < Blocks; ++i) {
      float* row = w.data() + i * N * R;
      if constexpr (R >= 3) {
        row[0] = row[1] = 64.0F * step;
        row[2] = 1.0F;
      }
      const float lead = b[i * N] + 50.0F;
      for (std::size_t k = 0; k < std::min<std::size_t>(4, N); ++k) {
        if (k > 0) std::copy(row, row + R, row + k * R);
        b[i * N + k] = lead;
      }
      if constexpr (R >= 3 && N >= 4) {
        row[R] = 64.49F * step;
        row[2 * R + 1] = 64.51F * step;
        std::copy(row + R, row + 2 * R, row + 3 * R);
      }
    }
  } else if (kind == Screen::kCrowded || kind == Screen::kCrowdedNaN) {
    for (std::size_t r = 0; r < kRows; ++r) {
      const std::size_t first = r - r % N;
      if (r == first) continue;
      for (std::size_t l = 0; l < R; ++l) w[r * R + l] = w[first * R + l] + 0.003F * w[r * R + l];
      b[r] = b[first] + 0.003F * b[r];
    }
  } else if (kind == Screen::kWorstCase && N >= 2 && R >= 2) {
    // u = 1. Rows 0 and 1 have weight 0 = 1 (their step is `step`); row 0's other weights are
    // 64.49 steps (int8 rounds each down by 0.49 steps), row 1's 64.51 steps (rounded up by as
    // much), and row 1's bias is lower by 0.03·(R − 1) steps. In fp32 row 0 wins by 0.01·(R − 1)
    // steps; int8 puts row 1 ahead by 0.97·(R − 1) steps, inside 2δ (2 · 0.49·(R − 1) steps at
    // least): a bound built on half the int8 error would drop row 0 and choose row 1.
    std::fill(u.begin(), u.end(), 1.0F);
    for (std::size_t i = 0; i < Blocks; ++i) {
      float* row = w.data() + i * N * R;
      std::fill_n(row, R, 64.49F * step);
      std::fill_n(row + R, R, 64.51F * step);
      row[0] = row[R] = 1.0F;
      b[i * N] = 50.0F;
      b[i * N + 1] = 50.0F - 0.03F * static_cast<float>(R - 1) * step;
    }
  } else if (kind == Screen::kInputRounding && N >= 2 && R >= 2) {
    // u = (1, 1 − 0.45 / 32767, 0, ...) rounds to û = (32767, 32767, 0, ...): û overstates u_1 by
    // e = 0.45 / 32767. Row 0 = (v, 0, ...) and row 1 = (0, v, ...) with v = 127 · 2⁻⁷ are exact in
    // int8 (d = 0); row 1's bias v e / 2 puts it ahead by that much in the screen and behind by as
    // much in fp32. The other rows are 0 with bias −0.5. For small R, 2δ without the ‖e‖ terms is
    // below v e / 2 (R = 2: 2.8e-6 against 6.8e-6): such a bound would drop row 0 and choose row 1.
    constexpr float v = 127.0F / 128.0F;
    std::fill(u.begin(), u.end(), 0.0F);
    u[0] = 1.0F;
    u[1] = 1.0F - 0.45F / 32767.0F;
    std::fill(w.begin(), w.end(), 0.0F);
    std::fill(b.begin(), b.end(), -0.5F);
    for (std::size_t i = 0; i < Blocks; ++i) {
      w[i * N * R] = v;
      w[(i * N + 1) * R + 1] = v;
      b[i * N] = 0.0F;
      b[i * N + 1] = 0.5F * v * (1.0F - u[1]);
    }
  } else if (kind == Screen::kTiny) {
    for (auto& e : w) e *= 1e-39F;
    for (auto& e : b) e *= 1e-39F;
  } else if (kind == Screen::kHuge) {
    for (auto& e : w) e *= 1e30F;
    for (auto& e : u) e *= 1e10F;
  } else if (kind == Screen::kNonFinite) {
    w[(N / 2) * R] = std::nanf("");
    b[kRows - 1] = std::numeric_limits<float>::infinity();
  }
  if (kind == Screen::kCrowdedNaN && Blocks > 1) w[N * R] = std::nanf("");
  if (nan_input) u[0] = std::nanf("");
  std::vector<float> logits(kRows);
  scaling::kernels::matvec_rows<kRows, R, Write::kStore, Arch>(w.data(), u.data(), b.data(), logits.data(),
                                                               {0, kRows});
  std::vector<std::uint32_t> want(Blocks);
  scaling::kernels::block_argmax(logits.data(), N, want.data(), {0, Blocks});
  if (kind == Screen::kInputRounding && N >= 2 && R >= 2) {
    for (std::size_t i = 0; i < Blocks; ++i) CHECK(want[i] == i * N);  // fp32 picks row 0
  }

  std::vector<std::uint32_t> packed(scaling::kernels::screen_words<R>(Blocks, N));
  std::vector<float> bounds(scaling::kernels::screen_bound_floats(Blocks));
  scaling::kernels::pack_screen<R>(w.data(), Blocks, N, packed.data());
  scaling::kernels::screen_block_bounds<R>(w.data(), b.data(), Blocks, N, bounds.data());
  std::vector<std::uint32_t> got(Blocks, 12345);
  std::vector<float> scratch(kRows);
  // Two ranges, as two team members would split the blocks.
  for (const Range part : {Range{0, Blocks / 2}, Range{Blocks / 2, Blocks}}) {
    scaling::kernels::screened_block_argmax<R, Arch>(w.data(), b.data(), packed.data(), bounds.data(), u.data(), N,
                                                     scratch.data(), got.data(), part);
  }
  CHECK(got == want);
  // What the choice rests on: each screened logit, left in the scratch, is within δ of the fp32
  // one. Blocks with δ not below 1e30 or a non-finite logit are skipped; a block computed in fp32
  // because its screened logits were not all finite holds fp32 logits, which pass trivially.
  const auto in = scaling::kernels::detail::quantize_input<R>(u.data());
  for (std::size_t i = 0; i < Blocks; ++i) {
    const double delta = scaling::kernels::detail::screen_delta<R>(
        bounds.data() + scaling::kernels::kScreenBounds * i, in.norm, in.error);
    const auto first = scratch.begin() + static_cast<std::ptrdiff_t>(i * N);
    if (!std::isfinite(in.norm) || !(delta < 1e30) ||
        !std::all_of(first, first + N, [](float t) { return std::isfinite(t); })) {
      continue;
    }
    for (std::size_t j = i * N; j < (i + 1) * N; ++j) {
      CAPTURE(j);
      CHECK(std::fabs(static_cast<double>(scratch[j]) - static_cast<double>(logits[j])) <= delta);
    }
  }
}

ARCH_CASE("screened argmax (int8 copy, fp32 where it decides) chooses exactly as the fp32 path") {
  REQUIRE_ARCH();
  for (const Screen kind :
       {Screen::kRandom, Screen::kNearTies, Screen::kCrowded, Screen::kWorstCase, Screen::kTiny, Screen::kHuge,
        Screen::kNonFinite, Screen::kCrowdedNaN, Screen::kInputRounding}) {
    check_screen<96, 64, 12>(kind);  // the 800M controller: 4 groups of 16 rows per block
    check_screen<32, 16, 9>(kind);   // 17B's rank 32: one group
    check_screen<96, 24, 5>(kind);   // a group and a part of one
    check_screen<5, 13, 7>(kind);    // part of a group; R below the 8 chains of AVX-512
    check_screen<70, 4, 6>(kind);    // R = 8 · 8 + 6
    check_screen<1, 1, 5>(kind);     // N = 1: one unit per block
    check_screen<2, 13, 40>(kind);
  }
  check_screen<96, 64, 4>(Screen::kRandom, true);  // NaN in u: every block in fp32
}

// screen_block_bounds against the same bounds computed here in long double: rows of mixed
// scales, biases of both signs up to 1000 in size, and the NaN and infinity cases.
template <std::size_t R, std::size_t N, std::size_t Blocks>
void check_screen_bounds() {
  CAPTURE(R);
  CAPTURE(N);
  constexpr std::size_t kRows = Blocks * N;
  auto w = random_vector(kRows * R, 7 + R);
  auto b = random_vector(kRows, 8 + N, 1000.0F);
  for (std::size_t r = 0; r < kRows; ++r) {
    const auto scale = static_cast<float>(std::ldexp(1.0, static_cast<int>(r % 7) * 3 - 9));
    for (std::size_t l = 0; l < R; ++l) w[r * R + l] *= scale;
  }
  // Block 0's largest |bias| is negative; the last block's biases are all negative.
  b[N / 2] = -2000.0F;
  for (std::size_t j = kRows - N; j < kRows; ++j) b[j] = -std::fabs(b[j]) - 1.0F;
  using Long = long double;
  const Long gamma = Long(R + 4) * 0x1p-24L / (1 - Long(R + 4) * 0x1p-24L);
  std::vector<float> bounds(scaling::kernels::screen_bound_floats(Blocks));
  scaling::kernels::screen_block_bounds<R>(w.data(), b.data(), Blocks, N, bounds.data());
  for (std::size_t i = 0; i < Blocks; ++i) {
    CAPTURE(i);
    Long coefficient = 0;
    Long norms = 0;
    float bias = 0.0F;
    for (std::size_t j = i * N; j < (i + 1) * N; ++j) {
      const float* c = w.data() + j * R;
      float most = 0.0F;
      for (std::size_t l = 0; l < R; ++l) most = std::max(most, std::fabs(c[l]));
      const auto sigma = static_cast<float>(static_cast<double>(most) / 127.0);  // the copy's scale
      Long cc = 0;
      Long dd = 0;
      for (std::size_t l = 0; l < R; ++l) {
        const Long q = std::clamp(std::nearbyintl(Long(c[l]) / Long(sigma)), Long(-127), Long(127));
        cc += Long(c[l]) * Long(c[l]);
        dd += (Long(sigma) * q - Long(c[l])) * (Long(sigma) * q - Long(c[l]));
      }
      coefficient =
          std::max(coefficient, (1 + gamma) * std::sqrt(dd) + Long(2.01) * gamma * std::sqrt(cc));
      norms = std::max(norms, std::sqrt(cc) + std::sqrt(dd));
      bias = std::max(bias, std::fabs(b[j]));
    }
    const float* got = bounds.data() + scaling::kernels::kScreenBounds * i;
    CHECK(Long(got[0]) >= coefficient);  // rounded up, by at most a float's step
    CHECK(Long(got[0]) <= coefficient * (1 + 0x1p-23L));
    CHECK(Long(got[1]) >= norms);
    CHECK(Long(got[1]) <= norms * (1 + 0x1p-23L));
    CHECK(got[2] == bias);
  }
  CHECK(bounds[2] == 2000.0F);
  // NaN in a row (block 0) makes its block's first two bounds NaN; an infinite bias (block 1)
  // makes the third infinite, a NaN bias (the last block) NaN. Each sends its block to fp32:
  // screen_delta is then NaN or infinite.
  using scaling::kernels::detail::screen_delta;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  w[0] = std::nanf("");
  b[N] = -kInf;
  b[kRows - 1] = std::nanf("");
  scaling::kernels::screen_block_bounds<R>(w.data(), b.data(), Blocks, N, bounds.data());
  CHECK(std::isnan(bounds[0]));
  CHECK(std::isnan(bounds[1]));
  CHECK(std::isfinite(bounds[2]));
  CHECK(std::isnan(screen_delta<R>(bounds.data(), 1.0, 0.0)));
  CHECK(std::isfinite(bounds[3]));
  CHECK(std::isfinite(bounds[4]));
  CHECK(bounds[5] == kInf);
  CHECK(screen_delta<R>(bounds.data() + 3, 1.0, 0.0) == static_cast<double>(kInf));
  CHECK(std::isfinite(bounds[bounds.size() - 2]));
  CHECK(std::isnan(bounds.back()));
  CHECK(std::isnan(screen_delta<R>(bounds.data() + bounds.size() - 3, 1.0, 0.0)));
}

TEST_CASE("screen_block_bounds: each block's largest norms and |bias|, NaN where fp32 decides") {
  check_screen_bounds<96, 64, 6>();
  check_screen_bounds<5, 13, 4>();
  check_screen_bounds<1, 1, 5>();
}

TEST_CASE("next_down is the float just below, across signs, subnormals and the range's end") {
  using scaling::kernels::detail::next_down;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const float x : {1.0F, -1.0F, 0.0F, -0.0F, 0x1p-149F, -0x1p-149F, 0x1p-126F, 3.0e38F,
                        std::numeric_limits<float>::lowest()}) {
    CAPTURE(x);
    CHECK(std::bit_cast<std::uint32_t>(next_down(x)) == std::bit_cast<std::uint32_t>(std::nextafter(x, -kInf)));
  }
}

TEST_CASE("a trickle takes every line its spans touch once, in order, in runs; line_share splits them") {
  using scaling::kernels::Trickle;
  alignas(64) static float buffer[64 * 16];  // 64 lines
  constexpr std::uintptr_t kLine = Trickle::kLine;
  const auto line_of = [&](std::size_t f) { return reinterpret_cast<std::uintptr_t>(buffer + f) / kLine * kLine; };
  // Every line of a trickle, taking runs of at most max_lines; checks each run's size.
  const auto lines_of = [](Trickle trickle, std::size_t max_lines) {
    std::vector<std::uintptr_t> lines;
    for (Trickle::Run run = trickle.take(max_lines); run.lines > 0; run = trickle.take(max_lines)) {
      CHECK(run.lines <= max_lines);
      for (std::size_t j = 0; j < run.lines; ++j) lines.push_back(run.first + j * kLine);
    }
    CHECK(trickle.take(max_lines).lines == 0);
    return lines;
  };
  // Spans starting and ending inside lines, an empty one, and one line given twice.
  const std::span<const float> all(buffer);
  const Trickle trickle(all.subspan(5, 20), all.subspan(0, 0), all.subspan(100, 1), all.subspan(100, 1),
                        all.subspan(300, 100));
  std::vector<std::uintptr_t> want{line_of(0), line_of(16), line_of(96), line_of(96)};
  for (std::size_t f = 288; f < 400; f += 16) want.push_back(line_of(f));
  for (const std::size_t max_lines : {1U, 2U, 3U, 100U}) {
    CAPTURE(max_lines);
    CHECK(lines_of(trickle, max_lines) == want);
  }
  CHECK(lines_of(Trickle(), 4).empty());
  // Runs do not cross from one span into the next.
  Trickle two(all.subspan(0, 32), all.subspan(64, 16));
  CHECK(two.take(8).lines == 2);
  CHECK(two.take(8).lines == 1);
  // A team's shares of a span: disjoint, together every line it touches, each member's own lines.
  for (const std::size_t first : {0U, 3U, 16U}) {
    for (const std::size_t count : {0U, 1U, 15U, 16U, 17U, 200U, 1000U}) {
      for (unsigned size = 1; size <= 4; ++size) {
        CAPTURE(first);
        CAPTURE(count);
        CAPTURE(size);
        const std::span<const float> span = all.subspan(first, count);
        std::vector<std::uintptr_t> lines;
        std::size_t floats = 0;
        for (unsigned id = 0; id < size; ++id) {
          const auto part = scaling::kernels::line_share(span, Team(id, size, nullptr));
          CHECK(part.data() == span.data() + floats);  // contiguous, in member order
          floats += part.size();
          const auto mine = lines_of(Trickle(part), 1);
          lines.insert(lines.end(), mine.begin(), mine.end());
        }
        CHECK(floats == count);
        std::vector<std::uintptr_t> expected;
        for (std::size_t f = 0; f < count; ++f) {
          if (expected.empty() || expected.back() != line_of(first + f)) expected.push_back(line_of(first + f));
        }
        CHECK(lines == expected);  // no line fetched twice, none left out
      }
    }
  }
}

template <std::size_t S, std::size_t In, std::size_t M>
void check_multiplicative() {
  CAPTURE(S);
  CAPTURE(In);
  CAPTURE(M);
  const auto d = random_vector(S * In, 81 + S);
  const auto e = random_vector(In * M, 82 + M);
  const auto x = random_vector(In, 83 + In);
  const auto b = random_vector(S * M, 84);
  std::vector<float> y(S * M);
  scaling::kernels::multiplicative<S, In, M, Arch>(Team::solo(), d.data(), e.data(), x.data(), b.data(), y.data());
  // Against x times the materialised dense matrix W[s·M + m][i] = D[s][i] · E[i][m].
  std::vector<float> dense(S * M * In);
  for (std::size_t s = 0; s < S; ++s) {
    for (std::size_t m = 0; m < M; ++m) {
      for (std::size_t i = 0; i < In; ++i) dense[(s * M + m) * In + i] = d[s * In + i] * e[i * M + m];
    }
  }
  const auto want = ref::matvec(dense.data(), x.data(), b.data(), S * M, In);
  const auto mag = ref::matvec_magnitude(dense.data(), x.data(), b.data(), S * M, In);
  // One more rounding per term than a dot product: x·D is rounded before it multiplies E.
  for (std::size_t o = 0; o < S * M; ++o) CHECK(std::abs(y[o] - want[o]) <= dot_bound(2 * In, mag[o]));
  for (unsigned size : {2U, 3U}) {
    std::vector<float> split_y(S * M);
    for (unsigned id = 0; id < size; ++id) {
      scaling::kernels::multiplicative<S, In, M, Arch>(Team(id, size, nullptr), d.data(), e.data(), x.data(), b.data(), split_y.data());
    }
    CHECK(split_y == y);
  }
  if constexpr (In % 2 == 0) {
    // Inputs in two halves (what a layer with a large D runs, kInputHalves): each half's sums,
    // then y = (y₀ + y₁) + b. The same bound; bitwise the same for teams of 1, 2 and 3, each
    // member computing its share of both phases (with a sync between them in a real team).
    std::vector<float> halves_y;
    for (unsigned size : {1U, 2U, 3U}) {
      std::vector<float> h_y(S * M);
      std::vector<float> partial(S * M);
      for (unsigned id = 0; id < size; ++id) {
        scaling::kernels::Trickle none;
        scaling::kernels::multiplicative_halves<S, In, M, Arch>(Team(id, size, nullptr), d.data(),
                                                                e.data(), x.data(), h_y.data(),
                                                                partial.data(), none);
      }
      for (unsigned id = 0; id < size; ++id) {
        scaling::kernels::add_halves<S * M>(Team(id, size, nullptr), b.data(), h_y.data(),
                                            partial.data());
      }
      if (size == 1) {
        for (std::size_t o = 0; o < S * M; ++o) {
          CHECK(std::abs(h_y[o] - want[o]) <= dot_bound(2 * In, mag[o]));
        }
        halves_y = h_y;
      }
      CHECK(h_y == halves_y);
    }
  }
  {
    // With a trickle of In lines: the same outputs, and every line taken (a step per row of E that
    // a tile reads), unless E is narrower than a vector (no tiles, only scalar columns).
    const std::vector<float> ahead((In + 1) * 16);
    scaling::kernels::Trickle trickle{whole_lines(ahead, In)};
    std::vector<float> trickled_y(S * M);
    scaling::kernels::multiplicative<S, In, M, Arch>(Team::solo(), d.data(), e.data(), x.data(), b.data(),
                                                     trickled_y.data(), trickle);
    CHECK(trickled_y == y);
    if (M >= scaling::simd::kWidth<Arch>) CHECK(trickle.take(1).lines == 0);
  }
  if constexpr (S <= scaling::kernels::kPanelModules) {
    // E in panels (what decode reads once the layer is prepared): the same chains, bitwise.
    std::vector<float> panels(In * M);
    scaling::kernels::pack_panels<In, M>(e.data(), panels.data());
    for (unsigned size : {1U, 2U, 3U}) {
      std::vector<float> panel_y(S * M);
      std::vector<int> writers(S * M, 0);  // each output written by one member only: no race
      for (unsigned id = 0; id < size; ++id) {
        std::vector<float> mine(S * M, std::numeric_limits<float>::quiet_NaN());
        scaling::kernels::multiplicative_panels<S, In, M, Arch>(
            Team(id, size, nullptr), d.data(), panels.data(), x.data(), b.data(), mine.data());
        for (std::size_t o = 0; o < S * M; ++o) {
          if (std::isnan(mine[o])) continue;
          ++writers[o];
          panel_y[o] = mine[o];
        }
      }
      CHECK(panel_y == y);
      CHECK(std::count(writers.begin(), writers.end(), 1) == static_cast<std::ptrdiff_t>(S * M));
    }
  }
}

ARCH_CASE("multiplicative dense equals x times the materialised dense matrix") {
  REQUIRE_ARCH();
  check_multiplicative<1, 3, 5>();       // with panels (S ≤ 4): one panel narrower than a vector
  check_multiplicative<4, 16, 16>();     // one panel, fewer than a group of 4 (AVX-512)
  check_multiplicative<5, 37, 20>();
  check_multiplicative<16, 64, 64>();   // 4 vectors (AVX-512): 8 modules × 2 vectors, 2 tiles
  check_multiplicative<10, 40, 32>();   // 2 vectors: one tile of 8 × 2 and 2 modules left over
  check_multiplicative<3, 10, 70>();    // 4 panels of 16 (AVX-512: a group) and one of 6
  check_multiplicative<9, 33, 130>();
  check_multiplicative<8, 600, 16>();   // 3 chunks of the input, the last partial
  check_multiplicative<2, 300, 200>();  // one module group, 2 chunks: full panels and one of 8 columns
  check_multiplicative<4, 37, 1000>();  // 62 panels (AVX-512: 15 groups, 2 left) and one of 8
  check_multiplicative<6, 50, 90>();    // 5 vectors (AVX-512): the last tile takes the fifth
  check_multiplicative<12, 33, 208>();  // 13 vectors (AVX-512): tiles of 4, 4 and 5
  check_multiplicative<16, 33, 144>();  // 9 vectors (17B's M; AVX-512): 8 modules × 3 vectors
  check_multiplicative<9, 40, 150>();   // the same, a module left over and a tail of 6 columns
  check_multiplicative<6, 33, 144>();   // fewer modules than a tile of 8
  check_multiplicative<16, 1024, 144>();  // halves of 2 chunks each, 8 × 3 tiles
}

// Every position of a random sequence of 5 rows, through the kernel one token at a time (rows
// before the sequence are zeros, as at its start), against the padded VALID convolution.
template <std::size_t S, std::size_t M, std::size_t U, std::size_t Ks, std::size_t Kl>
void check_local_conv() {
  CAPTURE(S);
  CAPTURE(M);
  CAPTURE(U);
  CAPTURE(Ks);
  CAPTURE(Kl);
  constexpr std::size_t kLen = 5;
  const auto x = random_vector(kLen * S * M, 91 + S);
  const auto k = random_vector(Kl * Ks * M * U, 92 + U);
  const auto b = random_vector(U, 93);
  const std::vector<float> zeros(S * M, 0.0F);
  const auto want = ref::local_conv(x.data(), kLen, S, M, U, Ks, Kl, k.data(), b.data());
  const auto mag = ref::local_conv(x.data(), kLen, S, M, U, Ks, Kl, k.data(), b.data(), true);
  for (std::size_t t = 0; t < kLen; ++t) {
    CAPTURE(t);
    const float* rows[Kl];
    for (std::size_t l = 0; l < Kl; ++l) {
      rows[l] = t + l + 1 >= Kl ? x.data() + (t + l + 1 - Kl) * S * M : zeros.data();
    }
    std::vector<float> y(S * U);
    scaling::kernels::local_conv<S, M, U, Ks, Kl, Arch>(rows, k.data(), b.data(), y.data(), {0, S});
    for (std::size_t o = 0; o < S * U; ++o) {
      CHECK(std::abs(y[o] - want[t * S * U + o]) <= dot_bound(Kl * Ks * M, mag[t * S * U + o]));
    }
    for (unsigned size : {2U, 3U}) {
      std::vector<float> split_y(S * U);
      for (unsigned id = 0; id < size; ++id) {
        scaling::kernels::local_conv<S, M, U, Ks, Kl, Arch>(rows, k.data(), b.data(), split_y.data(),
                                                            Team(id, size, nullptr).split(S));
      }
      CHECK(split_y == y);
    }
    // With a trickle of one line per kernel row: the same outputs and every line taken, unless U
    // is narrower than a vector.
    const std::vector<float> ahead((Kl * Ks * M + 1) * 16);
    scaling::kernels::Trickle trickle{whole_lines(ahead, Kl * Ks * M)};
    std::vector<float> trickled_y(S * U);
    scaling::kernels::local_conv<S, M, U, Ks, Kl, Arch>(rows, k.data(), b.data(), trickled_y.data(), {0, S}, trickle);
    CHECK(trickled_y == y);
    if (U >= scaling::simd::kWidth<Arch>) CHECK(trickle.take(1).lines == 0);
  }
}

ARCH_CASE("local convolution equals the zero-padded VALID convolution") {
  REQUIRE_ARCH();
  check_local_conv<1, 3, 5, 1, 1>();
  check_local_conv<1, 4, 16, 3, 3>();   // one module: both taps beside it are padding
  check_local_conv<4, 16, 16, 3, 3>();
  check_local_conv<5, 8, 20, 3, 2>();
  check_local_conv<6, 64, 64, 1, 3>();
  check_local_conv<9, 7, 70, 5, 1>();   // ks 5: two modules of padding on each side
  check_local_conv<16, 64, 64, 3, 3>();
  check_local_conv<5, 6, 80, 3, 2>();   // 5 vectors of units (AVX-512): one tile of 5
  check_local_conv<6, 5, 208, 3, 1>();  // 13 vectors (AVX-512): tiles of 4, 4 and 5
  check_local_conv<16, 8, 48, 3, 3>();  // 3 vectors (AVX-512): 8 modules × 3 vectors
  check_local_conv<10, 9, 150, 3, 2>(); // 9 vectors and 6 units: the same, 2 modules left, the tail
}

}  // namespace
