#pragma once
// Sparse FF's controller picks k_i = argmax_j (C2 u + c)[i·N + j] in every block of N units. The
// fp32 path (gemm_rows + block_argmax) reads all of C2: at 800M that is more than half the bytes
// of a Sparse FF+QKV block. This kernel reads an int8 copy of C2 instead (a quarter of the bytes,
// plus a scale per row), multiplies it by u rounded to int16 in exact integer sums, bounds how far
// each approximate logit can be from its fp32 value, and recomputes in fp32, with exactly the fp32
// path's instructions, only the units that could still be a block's maximum. The choice is
// therefore exactly the fp32 path's, ties included; only the time differs.
//
// The copy: row j of C2 (R floats c_j) becomes integers q_j = round(c_j / σ_j) in [−127, 127], with
// the scale σ_j = max_l |c_jl| / 127 in fp32. Its error d_j = σ_j q_j − c_j is computed exactly (in
// double) when the copy is built. Per token, u becomes integers û = round(u / τ) with
// τ = max_l |u_l| / U in fp32, U = min(32767, ⌊(2³¹ − 1) / (127 R)⌋) so that every sum
// S_j = Σ_l q_jl û_l is exact in int32, and its error e = u − τ û is computed in double.
//
// The bound (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1; u₀ = 2⁻²⁴, and
// γ = n·u₀ / (1 − n·u₀) with n = R + 4, so that γ ≥ γ_{R+1} and γ ≥ 4.01 u₀). Exactly,
//   Σ_l c_jl u_l = P_j + σ_j Σ_l q_jl e_l − Σ_l d_jl u_l,   P_j = σ_j τ S_j,
// with |P_j| ≤ ‖c_j + d_j‖₂ (‖u‖₂ + ‖e‖₂). The fp32 logit s_j = fl(Σ_l c_jl u_l + b_j), in any
// order of summation, is within γ (‖c_j‖₂ ‖u‖₂ + |b_j|) of its exact value. The screened one,
// t_j = fl(fl(fl(S_j) · fl(σ_j τ)) + b_j), is within 4.01 u₀ |P_j| + u₀ |b_j| + 2⁻¹¹⁷ of P_j + b_j
// (three roundings of P_j and one of the sum; 2⁻¹¹⁷ covers σ_j τ underflowing, up to 2⁻¹⁵⁰ times
// |S_j| < 2³¹). Adding up:
//   |t_j − s_j| ≤ ((1 + γ) ‖d_j‖₂ + 2γ ‖c_j‖₂)(‖u‖₂ + ‖e‖₂) + (‖c_j‖₂ + ‖d_j‖₂) ‖e‖₂ + 2γ |b_j|
//                 + (R + 2)·2⁻¹⁴⁸ + 2⁻¹¹⁷ =: δ
// (the (R + 2)·2⁻¹⁴⁸ covers the fp32 path's at most R + 1 roundings that underflow, where errors
// are absolute, up to 2⁻¹⁵⁰ each). A unit with t_j < max t − 2δ is strictly below the fp32
// maximum, so it can neither be it nor tie with it. Per block, δ uses the largest coefficient
// (1 + γ) ‖d_j‖₂ + 2.01γ ‖c_j‖₂, the largest ‖c_j‖₂ + ‖d_j‖₂ and the largest |b_j|, computed once
// with the copy (screen_block_bounds), and is widened by 1% (which also covers the rounding of the
// norms, computed in double; detail::screen_delta). A block whose screened logits are not all
// finite, or whose δ is huge (1e30), is computed entirely in fp32: that keeps NaN and infinity
// handling exactly block_argmax's (a row holding NaN or an infinity gets the scale NaN and the
// block the bounds NaN; u holding one is never rounded and sends every block to fp32).
//
// With uniform random weights at the 800M shape (R = 96, N = 64), ‖d_j‖₂ is about ‖c_j‖₂ / 250,
// ‖e‖₂ about ‖u‖₂ / 65000 (which widens δ by 0.4%), and a block has 0.23 candidates besides its
// maximum on average, each one 384-byte fp32 row more to read.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "scaling/core/threads.hpp"
#include "scaling/kernels/dot.hpp"
#include "scaling/kernels/gather.hpp"
#include "scaling/simd/ops.hpp"

namespace scaling::kernels {

// The copy's layout: each block of n rows is screen_groups(n) groups of 16 rows (rows past n have
// scale 0 and q = 0). A group is 16 words holding its rows' scales (float bits), then, for each
// pair of elements 2m, 2m + 1 (m < ⌈R/2⌉; element R of an odd R is 0), 32 bytes: row k's two
// elements as int8 at bytes 2k and 2k + 1. So a group is one stream, and a pmaddwd of a pair's
// bytes with (û_2m, û_2m+1) gives the rows' partial sums one row per lane, with no transpose.
inline constexpr std::size_t kScreenGroup = 16;
template <std::size_t R>
inline constexpr std::size_t kScreenPairs = (R + 1) / 2;
inline constexpr std::size_t kScreenPairBytes = 2 * kScreenGroup;
template <std::size_t R>
inline constexpr std::size_t kScreenGroupWords =
    kScreenGroup + kScreenPairs<R> * kScreenPairBytes / sizeof(std::uint32_t);
constexpr std::size_t screen_groups(std::size_t n) { return (n + kScreenGroup - 1) / kScreenGroup; }
// Words of the copy of `blocks` blocks of n rows of R floats.
template <std::size_t R>
constexpr std::size_t screen_words(std::size_t blocks, std::size_t n) {
  return blocks * screen_groups(n) * kScreenGroupWords<R>;
}
// Floats of the bounds of `blocks` blocks: three per block (screen_block_bounds).
inline constexpr std::size_t kScreenBounds = 3;
constexpr std::size_t screen_bound_floats(std::size_t blocks) { return kScreenBounds * blocks; }

namespace detail {

template <std::size_t R>
inline constexpr double kScreenGamma = (R + 4) * 0x1p-24 / (1.0 - (R + 4) * 0x1p-24);

// x / scale rounded to the nearest integer (ties to even) and clamped to ±limit; 0 if scale is 0.
inline double quantized(double x, double scale, double limit) {
  return scale > 0.0 ? std::clamp(std::nearbyint(x / scale), -limit, limit) : 0.0;
}

// q = the row c (R floats) in int8 at the returned scale σ = max |c| / 127; NaN (and q = 0) if the
// row holds a NaN or an infinity.
template <std::size_t R>
inline float quantize_row(const float* c, std::int8_t* q) {
  double most = 0.0;
  for (std::size_t l = 0; l < R; ++l) {
    const double a = std::fabs(static_cast<double>(c[l]));
    if (!std::isfinite(a)) {
      std::fill_n(q, R, std::int8_t{0});
      return std::numeric_limits<float>::quiet_NaN();
    }
    most = std::max(most, a);
  }
  const auto scale = static_cast<float>(most / 127.0);
  for (std::size_t l = 0; l < R; ++l) {
    const double x = quantized(static_cast<double>(c[l]), static_cast<double>(scale), 127.0);
    q[l] = static_cast<std::int8_t>(x);
  }
  return scale;
}

}  // namespace detail

// packed (screen_words<R>(blocks, n)) = the int8 copy of w (blocks·n, R), laid out as above.
template <std::size_t R>
void pack_screen(const float* w, std::size_t blocks, std::size_t n, std::uint32_t* packed) {
  std::int8_t q[R];
  for (std::size_t i = 0; i < blocks; ++i) {
    for (std::size_t g = 0; g < screen_groups(n); ++g) {
      std::uint32_t* group = packed + (i * screen_groups(n) + g) * kScreenGroupWords<R>;
      auto* bytes = reinterpret_cast<unsigned char*>(group + kScreenGroup);
      std::fill_n(bytes, kScreenPairs<R> * kScreenPairBytes, static_cast<unsigned char>(0));
      for (std::size_t k = 0; k < kScreenGroup; ++k) {
        const std::size_t row = g * kScreenGroup + k;
        float scale = 0.0F;
        if (row < n) {
          scale = detail::quantize_row<R>(w + (i * n + row) * R, q);
        } else {
          std::fill_n(q, R, std::int8_t{0});
        }
        group[k] = std::bit_cast<std::uint32_t>(scale);
        for (std::size_t l = 0; l < R; ++l) {
          bytes[l / 2 * kScreenPairBytes + 2 * k + l % 2] = static_cast<unsigned char>(q[l]);
        }
      }
    }
  }
}

// bounds (screen_bound_floats(blocks)), for block i and its n rows j (w: (blocks·n, R), c_j its
// row j, d_j the int8 copy's error; b: (blocks·n)):
//   bounds[3i]     = the largest (1 + γ) ‖d_j‖₂ + 2.01γ ‖c_j‖₂, rounded up to a float,
//   bounds[3i + 1] = the largest ‖c_j‖₂ + ‖d_j‖₂, rounded up,
//   bounds[3i + 2] = the largest |b_j| (exact);
// bounds[3i] and [3i + 1] are NaN if a row holds a NaN or an infinity, bounds[3i + 2] is NaN if a
// bias is NaN and infinite if one is infinite; any of these makes δ NaN or infinite, so the block
// is computed in fp32. The bias is a weight like w, so precomputing its part takes it off the
// per-token loop.
template <std::size_t R>
void screen_block_bounds(const float* w, const float* b, std::size_t blocks, std::size_t n,
                         float* bounds) {
  constexpr double kGamma = detail::kScreenGamma<R>;
  std::int8_t q[R];
  const auto round_up = [](double x) {
    float f = static_cast<float>(x);
    if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    return f;
  };
  for (std::size_t i = 0; i < blocks; ++i) {
    double most = 0.0;
    double norms = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      const float* c = w + (i * n + j) * R;
      const auto scale = static_cast<double>(detail::quantize_row<R>(c, q));
      double cc = 0.0;
      double dd = 0.0;
      for (std::size_t l = 0; l < R; ++l) {
        const auto x = static_cast<double>(c[l]);
        const double d = scale * q[l] - x;  // exact: both terms have at most 32 significant bits
        cc += x * x;
        dd += d * d;
      }
      const double coefficient = (1.0 + kGamma) * std::sqrt(dd) + 2.01 * kGamma * std::sqrt(cc);
      const double sum = std::sqrt(cc) + std::sqrt(dd);
      most = coefficient > most || std::isnan(coefficient) ? coefficient : most;
      norms = sum > norms || std::isnan(sum) ? sum : norms;
      if (std::isnan(most)) break;
    }
    float bias = 0.0F;
    for (std::size_t j = 0; j < n; ++j) {
      const float a = std::fabs(b[i * n + j]);
      bias = a > bias || std::isnan(a) ? a : bias;
      if (std::isnan(bias)) break;
    }
    float* block = bounds + kScreenBounds * i;
    block[0] = round_up(most);
    block[1] = round_up(std::isnan(most) ? most : norms);
    block[2] = bias;
  }
}

namespace detail {

// The float just below x (finite), in integer steps: std::nextafter is a library call, and this
// runs once per block.
inline float next_down(float x) {
  if (x == 0.0F) return -0x1p-149F;
  const auto bits = std::bit_cast<std::uint32_t>(x);
  return std::bit_cast<float>(x > 0.0F ? bits - 1 : bits + 1);
}

// δ of a block (the top of this file) from its bounds (screen_block_bounds) and the input's norms
// ‖u‖₂ and ‖e‖₂ (ScreenInput): a screened logit is within δ of the fp32 one. NaN or ≥ 1e30 where
// the block must be computed in fp32.
template <std::size_t R>
inline double screen_delta(const float* block_bounds, double norm, double error) {
  constexpr double kGamma = kScreenGamma<R>;
  constexpr double kTiny = (R + 2) * 0x1p-148 + 0x1p-117;
  return 1.01 * (static_cast<double>(block_bounds[0]) * (norm + error) +
                 static_cast<double>(block_bounds[1]) * error +
                 2.0 * kGamma * static_cast<double>(block_bounds[2]) + kTiny);
}

// Groups ahead that the screen prefetches: the hardware prefetcher alone does not keep the stream
// at the probe's rate (see screened_block_argmax).
inline constexpr std::size_t kScreenAhead = 8;

// u rounded for the screen: pairs[m] holds û_2m in its low and û_2m+1 in its high 16 bits
// (û_R = 0 for an odd R), τ the scale, and the norms of u and of e = u − τ û. If u holds a NaN or
// an infinity, `norm` is not finite and û = 0.
template <std::size_t R>
struct ScreenInput {
  std::int32_t pairs[kScreenPairs<R>];
  float scale;
  double norm;
  double error;
};

// The largest |û_l|: R products q_jl û_l of at most 127 · U each must sum exactly in int32.
template <std::size_t R>
inline constexpr std::int32_t kScreenInputMax =
    static_cast<std::int32_t>(std::min<std::size_t>(32767, 2147483647 / (127 * R)));

template <std::size_t R>
inline ScreenInput<R> quantize_input(const float* u) {
  constexpr auto kMax = static_cast<double>(kScreenInputMax<R>);
  ScreenInput<R> in{};
  double sq = 0.0;
  double most = 0.0;
  for (std::size_t l = 0; l < R; ++l) {
    const auto x = static_cast<double>(u[l]);
    sq += x * x;
    most = std::max(most, std::fabs(x));
  }
  in.norm = std::sqrt(sq);
  if (!std::isfinite(in.norm)) return in;
  in.scale = static_cast<float>(most / kMax);
  const auto tau = static_cast<double>(in.scale);
  std::uint16_t rounded[2 * kScreenPairs<R>] = {};
  double ee = 0.0;
  for (std::size_t l = 0; l < R; ++l) {
    const auto x = static_cast<double>(u[l]);
    const double q = quantized(x, tau, kMax);
    // Exact in double: all bits of x and of τ q lie within 41 places (|x| < 2¹⁶ τ, and q ≠ 0 only
    // if |x| ≥ τ / 2; with a subnormal τ both are multiples of 2⁻¹⁴⁹ far below 2⁻¹⁰⁰).
    const double e = x - tau * q;
    ee += e * e;
    rounded[l] = static_cast<std::uint16_t>(static_cast<std::int16_t>(q));
  }
  for (std::size_t m = 0; m < kScreenPairs<R>; ++m) {
    in.pairs[m] =
        std::bit_cast<std::int32_t>(static_cast<std::uint32_t>(rounded[2 * m]) |
                                    static_cast<std::uint32_t>(rounded[2 * m + 1]) << 16U);
  }
  in.error = std::sqrt(ee);
  return in;
}

// out[p] = lanes p·kW … of fl(fl(S_k) · fl(σ_k τ)) for the 16 rows k of a group, without the bias:
// S_k = Σ_l q_kl û_l, exact in int32, in pmaddwd's pairs. Unless `fetch` is null, it also
// prefetches the group at `fetch`, one line per two pairs, into L2 (prefetcht1): into L1 the
// stream's lines hold L1's few fill buffers while they wait on DRAM. 800M's shape, bench_kernels
// controller/screen, alternating builds 8 times (Xeon, 2026-12-04): 1 thread 63.0–67.3 µs (median
// 64.9) → 59.1–68.6 µs (62.0), 2 threads 27.7–34.7 (34.2) → 27.5–48.5 (31.1).
// The two pairs of a line go to two chains of sums, and the loop runs over lines, unrolled: with
// one chain and the prefetch tested on every pair, GCC 12 kept a loop of 16 instructions per pair
// that made the screen compute-bound warm (AVX-512, 800M's shape, the kernel over one copy again
// and again, 1 thread: 29–37 → 18–23 µs with vpdpwssd, 22–24 µs without; throwaway loop, Xeon,
// 2026-12-04). The sums are exact, so their order does not matter.
template <std::size_t R, class Arch>
inline void screen_group(const std::uint32_t* group, const ScreenInput<R>& in, simd::Vec<Arch>* out,
                         const std::uint32_t* fetch) {
  using I = simd::IntVec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  static_assert(kScreenGroup % kW == 0, "screen: a group of 16 rows must be whole vectors");
  constexpr std::size_t kParts = kScreenGroup / kW;
  constexpr std::size_t kLines = kScreenPairs<R> / 2;  // whole lines: two pairs each
  const auto* bytes = reinterpret_cast<const unsigned char*>(group + kScreenGroup);
  const unsigned char* ahead = nullptr;
  if (fetch != nullptr) {
    simd::prefetch_to_l2(fetch);
    ahead = reinterpret_cast<const unsigned char*>(fetch + kScreenGroup);
  }
  I acc[2][kParts];
  for (auto& chain : acc) {
    for (auto& a : chain) a = I(0);
  }
  const auto add_pair = [&](I (&chain)[kParts], std::size_t m) {
    const I pair(in.pairs[m]);
    for (std::size_t p = 0; p < kParts; ++p) {
      chain[p] = simd::add_dot_int8_pairs<Arch>(chain[p], bytes + m * kScreenPairBytes + p * 2 * kW, pair);
    }
  };
#pragma GCC unroll 8
  for (std::size_t line = 0; line < kLines; ++line) {
    if (ahead != nullptr) simd::prefetch_to_l2(ahead + 2 * line * kScreenPairBytes);
    add_pair(acc[0], 2 * line);
    add_pair(acc[1], 2 * line + 1);
  }
  if constexpr (kScreenPairs<R> % 2 == 1) {  // an odd number of pairs: the last is half a line
    if (ahead != nullptr) simd::prefetch_to_l2(ahead + 2 * kLines * kScreenPairBytes);
    add_pair(acc[0], 2 * kLines);
  }
  const auto tau = simd::broadcast<Arch>(in.scale);
  for (std::size_t p = 0; p < kParts; ++p) {
    out[p] = simd::to_float<Arch>(acc[0][p] + acc[1][p]) *
             (simd::load_float_bits<Arch>(group + p * kW) * tau);
  }
}

}  // namespace detail

// choice[i] = i·n + argmax_j (w u + b)[i·n + j] for blocks i in `blocks`, exactly as
// gemm_rows<.., R> (or matvec) followed by block_argmax would choose, reading the int8 copy
// `packed` (pack_screen) and `bounds` (screen_block_bounds) instead of w wherever that decides.
// w: (blocks·n, R), b: (blocks·n), u: (R), logits: (blocks·n) scratch, left holding screened
// logits (or fp32 ones for blocks computed in fp32).
template <std::size_t R, class Arch = simd::DefaultArch>
void screened_block_argmax(const float* w, const float* b, const std::uint32_t* packed, const float* bounds,
                           const float* u, std::size_t n, float* logits, std::uint32_t* choice, Range blocks) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kParts = kScreenGroup / kW;
  constexpr std::size_t kGroupWords = kScreenGroupWords<R>;
  const std::size_t groups = screen_groups(n);
  const auto in = detail::quantize_input<R>(u);
  const std::size_t end_group = blocks.end * groups;
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  // A block with several candidates picks the first maximum of their fp32 logits, as
  // block_argmax. Their fp32 rows (R floats each, anywhere in w) are prefetched when the block is
  // screened and read only after the next block's screen, so that their DRAM latency overlaps
  // that screen instead of stalling it (800M: about one block in six, one or two rows each).
  // bench_kernels controller/screen, 1 thread, alternating builds: 37.9-38.4 → 36.8-37.5 µs.
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::size_t pending = kNone;  // the block whose candidates wait, their threshold and the first
  float pending_threshold = 0.0F;
  std::size_t pending_first = 0;
  const auto resolve = [&](std::size_t i, float threshold, std::size_t only) {
    const std::size_t first_row = i * n;
    const float* l = logits + first_row;
    const float* bi = b + first_row;
    float top = detail::row_dot<R, Arch>(w + (first_row + only) * R, u) + bi[only];
    for (std::size_t j = only + 1; j < n; ++j) {
      if (l[j] < threshold) continue;
      const float exact = detail::row_dot<R, Arch>(w + (first_row + j) * R, u) + bi[j];
      if (exact > top) {
        top = exact;
        only = j;
      }
    }
    choice[i] = static_cast<std::uint32_t>(first_row + only);
  };
  const auto resolve_pending = [&] {
    if (pending != kNone) resolve(pending, pending_threshold, pending_first);
    pending = kNone;
  };
  for (std::size_t i = blocks.begin; i < blocks.end; ++i) {
    const std::size_t first_row = i * n;
    float* l = logits + first_row;
    const float* bi = b + first_row;
    // Screened logits, their maximum, and whether all are finite (x − x is NaN exactly when x is
    // infinite or NaN).
    V most = simd::broadcast<Arch>(kMinusInf);
    V bad = simd::zero<Arch>();
    float best = kMinusInf;
    float bad_sum = 0.0F;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t at = i * groups + g;
      const std::size_t ahead = at + detail::kScreenAhead;
      V s[kParts];
      detail::screen_group<R, Arch>(packed + at * kGroupWords, in, s,
                                    ahead < end_group ? packed + ahead * kGroupWords : nullptr);
      for (std::size_t p = 0; p < kParts; ++p) {
        const std::size_t j0 = g * kScreenGroup + p * kW;
        if (j0 + kW <= n) {
          const V bv = simd::load<Arch>(bi + j0);
          const V t = s[p] + bv;
          simd::store<Arch>(l + j0, t);
          most = simd::max(most, t);
          bad = bad + (t - t);
        } else if (j0 < n) {  // the block's last rows, less than a vector
          alignas(64) float lanes[kW];
          simd::store<Arch>(lanes, s[p]);
          for (std::size_t j = j0; j < n; ++j) {
            l[j] = lanes[j - j0] + bi[j];
            best = l[j] > best ? l[j] : best;
            bad_sum += l[j] - l[j];
          }
        }
      }
    }
    best = std::max(best, simd::reduce_max(most));
    bad_sum += simd::reduce_add(bad);
    const double delta = detail::screen_delta<R>(bounds + kScreenBounds * i, in.norm, in.error);
    if (!std::isfinite(in.norm) || std::isnan(bad_sum) || !(delta < 1e30)) {
      // NaN or infinity somewhere, or values so large that fp32 sums may overflow: the fp32
      // path, whole block
      for (std::size_t j = 0; j < n; ++j) l[j] = detail::row_dot<R, Arch>(w + (first_row + j) * R, u) + bi[j];
      block_argmax(logits, n, choice, {i, i + 1});
      resolve_pending();
      continue;
    }
    // Candidates: screened logit ≥ best − 2δ, with the threshold rounded down to a float.
    const double floor = static_cast<double>(best) - 2.0 * delta;
    float threshold = floor < static_cast<double>(std::numeric_limits<float>::lowest()) ? kMinusInf
                                                                                         : static_cast<float>(floor);
    if (static_cast<double>(threshold) > floor) threshold = detail::next_down(threshold);
    // How many, and the first, vector by vector: a scalar loop over the block's logits held a
    // tenth of the screen's samples in a profile of the fully sparse 800M model; this way
    // controller/screen on 1 thread went 36.5-37.7 → 35.1-36.0 µs (alternating builds).
    std::size_t candidates = 0;
    std::size_t only = n;
    const auto note = [&](std::size_t j0, std::size_t count) {
      candidates += count;
      if (count > 0 && only == n) {
        only = j0;
        while (l[only] < threshold) ++only;
      }
    };
    const std::size_t vecs = n / kW;
    for (std::size_t q = 0; q < vecs; ++q) note(q * kW, simd::count_at_least<Arch>(simd::load<Arch>(l + q * kW), threshold));
    for (std::size_t j = vecs * kW; j < n; ++j) note(j, l[j] >= threshold ? 1 : 0);
    resolve_pending();
    if (candidates == 1) {
      choice[i] = static_cast<std::uint32_t>(first_row + only);
      continue;
    }
    for (std::size_t j = only; j < n; ++j) {
      if (l[j] >= threshold) simd::prefetch_range(w + (first_row + j) * R, R * sizeof(float));
    }
    pending = i;
    pending_threshold = threshold;
    pending_first = only;
  }
  resolve_pending();
}

}  // namespace scaling::kernels
