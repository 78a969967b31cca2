#pragma once
// Sparse FF's controller picks k_i = argmax_j (C2 u + c)[i·N + j] in every block of N units. The
// fp32 path (gemm_rows + block_argmax) reads all of C2: at 800M that is more than half the bytes
// of a Sparse FF+QKV block. This kernel reads an int8 copy of C2 instead (a quarter of the bytes,
// plus a scale per row), bounds how far each approximate logit can be from its fp32 value, and
// recomputes in fp32, with exactly the fp32 path's instructions, only the units that could still
// be a block's maximum. The choice is therefore exactly the fp32 path's, ties included; only the
// time differs.
//
// The copy: row j of C2 (R floats c_j) becomes integers q_j = round(c_j / σ_j) in [−127, 127], with
// the scale σ_j = max_l |c_jl| / 127 in fp32. Its error d_j = σ_j q_j − c_j is computed exactly (in
// double) when the copy is built.
//
// The bound (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1): the fp32 logit
// s_j = fl(Σ_l c_jl u_l + b_j) and the screened one t_j = fl(σ_j fl(Σ_l q_jl u_l) + b_j) are, in any
// order of summation, within γ (Σ |terms| + |b_j|) of the exact σ_j Σ q_jl u_l + b_j and
// Σ c_jl u_l + b_j, γ = n·2⁻²⁴ / (1 − n·2⁻²⁴) with n = R + 2; those two differ by Σ d_jl u_l. With
// Σ_l |c_jl u_l| ≤ ‖c_j‖₂ ‖u‖₂ and σ_j Σ_l |q_jl u_l| ≤ (‖c_j‖₂ + ‖d_j‖₂) ‖u‖₂:
//   |t_j − s_j| ≤ ((1 + γ) ‖d_j‖₂ + 2γ ‖c_j‖₂) ‖u‖₂ + 2γ |b_j| + (R + 2)·2⁻¹⁴⁸ =: δ
// (the last term covers the at most 2R + 1 products that underflow, where errors are absolute, up
// to 2⁻¹⁵⁰ each). A unit with t_j < max t − 2δ is strictly below the fp32 maximum, so it can neither
// be it nor tie with it. Per block, δ uses the largest coefficient (1 + γ) ‖d_j‖₂ + 2.01γ ‖c_j‖₂,
// computed once with the copy (screen_block_bounds), and the largest |b_j|, and is widened by 1%.
// A block whose screened logits are not all finite, or whose δ is huge (1e30), is computed entirely
// in fp32: that keeps NaN and infinity handling exactly block_argmax's (a row holding NaN or an
// infinity gets the scale NaN and the block the bound NaN).
//
// With uniform random weights at the 800M shape (R = 96, N = 64), ‖d_j‖₂ is about ‖c_j‖₂ / 250 and
// a block has 0.23 candidates besides its maximum on average, each one 384-byte fp32 row more to
// read.

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
// scale 0 and q = 0). A group is 16 words holding its rows' scales (float bits), then R × 16 bytes:
// for l = 0 … R − 1, element l of its 16 rows as int8. So a group is one stream, and lane k of a
// vector of its bytes is row k: the screened logits come out one row per lane, with no transpose.
inline constexpr std::size_t kScreenGroup = 16;
template <std::size_t R>
inline constexpr std::size_t kScreenGroupWords = kScreenGroup + kScreenGroup * R / sizeof(std::uint32_t);
constexpr std::size_t screen_groups(std::size_t n) { return (n + kScreenGroup - 1) / kScreenGroup; }
// Words of the copy of `blocks` blocks of n rows of R floats.
template <std::size_t R>
constexpr std::size_t screen_words(std::size_t blocks, std::size_t n) {
  return blocks * screen_groups(n) * kScreenGroupWords<R>;
}

namespace detail {

template <std::size_t R>
inline constexpr double kScreenGamma = (R + 2) * 0x1p-24 / (1.0 - (R + 2) * 0x1p-24);

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
    const double x = scale > 0.0F ? std::nearbyint(static_cast<double>(c[l]) / static_cast<double>(scale)) : 0.0;
    q[l] = static_cast<std::int8_t>(std::clamp(x, -127.0, 127.0));
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
      for (std::size_t k = 0; k < kScreenGroup; ++k) {
        const std::size_t row = g * kScreenGroup + k;
        float scale = 0.0F;
        if (row < n) {
          scale = detail::quantize_row<R>(w + (i * n + row) * R, q);
        } else {
          std::fill_n(q, R, std::int8_t{0});
        }
        group[k] = std::bit_cast<std::uint32_t>(scale);
        for (std::size_t l = 0; l < R; ++l) bytes[l * kScreenGroup + k] = static_cast<unsigned char>(q[l]);
      }
    }
  }
}

// bounds[i] = max over the n rows j of block i of (1 + γ) ‖d_j‖₂ + 2.01γ ‖c_j‖₂ (w: (blocks·n, R),
// d_j the int8 copy's error), rounded up to a float; NaN if a row holds a NaN or an infinity.
template <std::size_t R>
void screen_block_bounds(const float* w, std::size_t blocks, std::size_t n, float* bounds) {
  constexpr double kGamma = detail::kScreenGamma<R>;
  std::int8_t q[R];
  for (std::size_t i = 0; i < blocks; ++i) {
    double most = 0.0;
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
      most = coefficient > most || std::isnan(coefficient) ? coefficient : most;
      if (std::isnan(most)) break;
    }
    float f = static_cast<float>(most);
    if (static_cast<double>(f) < most) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    bounds[i] = f;
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

// Groups ahead that the screen prefetches: the hardware prefetcher alone does not keep the stream
// at the probe's rate (see screened_block_argmax).
inline constexpr std::size_t kScreenAhead = 8;

// out[p] = lanes p·kW … of σ_k (q_k · u) for the 16 rows k of a group, without the bias, in fp32
// and in any order (it only needs to stay within the bound above): 8 / (16 / kW) chains over l
// per vector, so that 8 fused multiply-adds are in flight. Unless `fetch` is null, it also
// prefetches the group at `fetch`, one line per 4 values of l.
template <std::size_t R, class Arch>
inline void screen_group(const std::uint32_t* group, const float* u, simd::Vec<Arch>* out, const std::uint32_t* fetch) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  static_assert(kScreenGroup % kW == 0, "screen: a group of 16 rows must be whole vectors");
  constexpr std::size_t kParts = kScreenGroup / kW;
  constexpr std::size_t kChains = kParts >= 8 ? 1 : 8 / kParts;
  const auto* bytes = reinterpret_cast<const unsigned char*>(group + kScreenGroup);
  const auto* ahead = reinterpret_cast<const unsigned char*>(fetch);
  if (fetch != nullptr) simd::prefetch(fetch);
  V acc[kChains][kParts];
  for (auto& chain : acc) {
    for (auto& a : chain) a = simd::zero<Arch>();
  }
  constexpr std::size_t kWhole = R / kChains * kChains;
  for (std::size_t l = 0; l < kWhole; l += kChains) {
    if (fetch != nullptr) {
      simd::prefetch_range(ahead + sizeof(std::uint32_t) * kScreenGroup + l * kScreenGroup, kChains * kScreenGroup);
    }
    for (std::size_t c = 0; c < kChains; ++c) {
      const V x = simd::broadcast<Arch>(u[l + c]);
      for (std::size_t p = 0; p < kParts; ++p) {
        acc[c][p] = simd::fma(simd::load_int8<Arch>(bytes + (l + c) * kScreenGroup + p * kW), x, acc[c][p]);
      }
    }
  }
  for (std::size_t l = kWhole; l < R; ++l) {
    if (fetch != nullptr) simd::prefetch(ahead + sizeof(std::uint32_t) * kScreenGroup + l * kScreenGroup);
    const V x = simd::broadcast<Arch>(u[l]);
    for (std::size_t p = 0; p < kParts; ++p) {
      acc[0][p] = simd::fma(simd::load_int8<Arch>(bytes + l * kScreenGroup + p * kW), x, acc[0][p]);
    }
  }
  for (std::size_t p = 0; p < kParts; ++p) {
    V sum = acc[0][p];
    for (std::size_t c = 1; c < kChains; ++c) sum = sum + acc[c][p];
    out[p] = sum * simd::load_float_bits<Arch>(group + p * kW);
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
  double sq = 0.0;
  for (std::size_t l = 0; l < R; ++l) sq += static_cast<double>(u[l]) * static_cast<double>(u[l]);
  const double nu = std::sqrt(sq);
  constexpr double kGamma = detail::kScreenGamma<R>;
  constexpr double kTiny = (R + 2) * 0x1p-148;
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
    // Screened logits, their maximum, the largest |bias|, and whether all are finite (x − x is
    // NaN exactly when x is infinite or NaN).
    V most = simd::broadcast<Arch>(kMinusInf);
    V bad = simd::zero<Arch>();
    V bias = simd::zero<Arch>();
    float best = kMinusInf;
    float bad_sum = 0.0F;
    float bias_max = 0.0F;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t at = i * groups + g;
      const std::size_t ahead = at + detail::kScreenAhead;
      V s[kParts];
      detail::screen_group<R, Arch>(packed + at * kGroupWords, u, s,
                                    ahead < end_group ? packed + ahead * kGroupWords : nullptr);
      for (std::size_t p = 0; p < kParts; ++p) {
        const std::size_t j0 = g * kScreenGroup + p * kW;
        if (j0 + kW <= n) {
          const V bv = simd::load<Arch>(bi + j0);
          const V t = s[p] + bv;
          simd::store<Arch>(l + j0, t);
          most = simd::max(most, t);
          bad = bad + (t - t);
          bias = simd::max(bias, simd::abs(bv));
        } else if (j0 < n) {  // the block's last rows, less than a vector
          alignas(64) float lanes[kW];
          simd::store<Arch>(lanes, s[p]);
          for (std::size_t j = j0; j < n; ++j) {
            l[j] = lanes[j - j0] + bi[j];
            best = l[j] > best ? l[j] : best;
            bad_sum += l[j] - l[j];
            bias_max = std::fabs(bi[j]) > bias_max ? std::fabs(bi[j]) : bias_max;
          }
        }
      }
    }
    best = std::max(best, simd::reduce_max(most));
    bad_sum += simd::reduce_add(bad);
    bias_max = std::max(bias_max, simd::reduce_max(bias));
    const double delta = 1.01 * (static_cast<double>(bounds[i]) * nu + 2.0 * kGamma * static_cast<double>(bias_max) + kTiny);
    if (!std::isfinite(nu) || std::isnan(bad_sum) || !(delta < 1e30)) {
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
