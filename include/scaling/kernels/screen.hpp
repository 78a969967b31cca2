#pragma once
// Sparse FF's controller picks k_i = argmax_j (C2 u + c)[i·N + j] in every block of N units. The
// fp32 path (gemm_rows + block_argmax) reads all of C2: at 800M that is more than half the bytes
// of a Sparse FF+QKV block. This kernel reads a bfloat16 copy of C2 instead (half the bytes),
// bounds how far each approximate logit can be from its fp32 value, and recomputes in fp32, with
// exactly the fp32 path's instructions, only the units that could still be a block's maximum. The
// choice is therefore exactly the fp32 path's, ties included; only the time differs.
//
// The bound (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1): the fp32 logit
// s_j = fl(Σ_l c_jl u_l + b_j) and the screened one s̃_j = fl(Σ_l c̃_jl u_l + b_j), c̃ = bf16(c)
// rounded to nearest (8 significant bits: |c̃ − c| ≤ 2⁻⁸|c|), are sums of R + 1 terms; in any
// order each is within γ (Σ_l |c_jl u_l| + |b_j|) of its exact value, γ = n·2⁻²⁴ / (1 − n·2⁻²⁴)
// with n = R + 2 (one more rounding than terms covers a separate multiply and add, as on SSE2).
// With Σ_l |c_jl u_l| ≤ ‖c_j‖₂ ‖u‖₂:
//   |s̃_j − s_j| ≤ (2⁻⁸ + 2.01 γ) ‖c_j‖₂ ‖u‖₂ + 2γ |b_j| + (R + 2)(2⁻¹³⁴ ‖u‖₂ + 2⁻¹⁴⁸) =: δ
// (the last term covers subnormals, where errors are absolute). A unit with s̃_j < max s̃ − 2δ is
// strictly below the fp32 maximum, so it can neither be it nor tie with it. Per block, δ uses the
// largest row norm (computed once, with the bf16 copy) and the largest |b_j|, and is widened by
// 1%. A block whose screened logits are not all finite, or whose δ is huge (1e30), is computed
// entirely in fp32: that keeps NaN and infinity handling exactly block_argmax's.
//
// With random weights at the 800M shape (R = 96, N = 64) about one block in six has a second
// candidate; such a block reads one or two 384-byte fp32 rows more.

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

// Words of one packed row of R floats. Each group of 32 floats packs into 16 words, word i holding
// element i in its low half and element 16 + i in its high half, so that both halves meet
// contiguous slices of u (for any vector width dividing 16). The last R mod 32 floats take one
// word each, in the low half.
template <std::size_t R>
inline constexpr std::size_t kScreenWords = R / 32 * 16 + R % 32;

// x rounded to the nearest bfloat16 (ties to even); NaN stays NaN, and values beyond bf16's range
// become infinities of the same sign.
inline std::uint16_t to_bf16(float x) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7FFFFFFFU) > 0x7F800000U) return static_cast<std::uint16_t>((bits >> 16) | 0x40U);  // quiet NaN
  bits += 0x7FFFU + ((bits >> 16) & 1U);
  return static_cast<std::uint16_t>(bits >> 16);
}

// packed (rows, kScreenWords<R>) = the rows of w (rows, R) in bf16, laid out as above.
template <std::size_t R>
void pack_screen(const float* w, std::size_t rows, std::uint32_t* packed) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* src = w + r * R;
    std::uint32_t* dst = packed + r * kScreenWords<R>;
    for (std::size_t g = 0; g < R / 32; ++g) {
      for (std::size_t i = 0; i < 16; ++i) {
        dst[g * 16 + i] = std::uint32_t{to_bf16(src[g * 32 + i])} | std::uint32_t{to_bf16(src[g * 32 + 16 + i])} << 16;
      }
    }
    for (std::size_t i = 0; i < R % 32; ++i) dst[R / 32 * 16 + i] = to_bf16(src[R / 32 * 32 + i]);
  }
}

// norms[i] = max over the n rows of block i of ‖w row‖₂ (w: (blocks·n, R)), rounded up to a float.
// NaN if a row holds NaN; the screen then computes that block in fp32.
template <std::size_t R>
void screen_block_norms(const float* w, std::size_t blocks, std::size_t n, float* norms) {
  for (std::size_t i = 0; i < blocks; ++i) {
    double most = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      double sq = 0.0;
      for (std::size_t l = 0; l < R; ++l) {
        const auto c = static_cast<double>(w[(i * n + j) * R + l]);
        sq += c * c;
      }
      const double norm = std::sqrt(sq);
      most = norm > most || std::isnan(norm) ? norm : most;
      if (std::isnan(most)) break;
    }
    float f = static_cast<float>(most);
    if (static_cast<double>(f) < most) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    norms[i] = f;
  }
}

namespace detail {

// The screened logits of kW consecutive packed rows, one lane each: (packed row k)·u + b[k], in
// fp32 and in any order (it only needs to stay within the bound above). One accumulator per row,
// so kW independent FMA chains, summed across rows by one transpose-add. Unless `fetch` is null,
// row k also prefetches the packed row fetch + k (a later group's).
template <std::size_t R, class Arch>
inline simd::Vec<Arch> screen_group(const std::uint32_t* packed, const float* u, const float* b,
                                    const std::uint32_t* fetch) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  static_assert(16 % kW == 0, "screen: the packed layout needs a vector width dividing 16");
  constexpr std::size_t kWords = kScreenWords<R>;
  V acc[kW];
  // Row by row, so that memory is read in order (the hardware prefetcher follows it best).
  for (std::size_t k = 0; k < kW; ++k) {
    if (fetch != nullptr) simd::prefetch_range(fetch + k * kWords, kWords * sizeof(std::uint32_t));
    acc[k] = simd::zero<Arch>();
    for (std::size_t g = 0; g < R / 32; ++g) {
      for (std::size_t s = 0; s < 16; s += kW) {
        V lo;
        V hi;
        simd::load_bf16_pairs<Arch>(packed + k * kWords + g * 16 + s, lo, hi);
        acc[k] = simd::fma(hi, simd::load<Arch>(u + g * 32 + 16 + s),
                           simd::fma(lo, simd::load<Arch>(u + g * 32 + s), acc[k]));
      }
    }
  }
  V sums = simd::sum_rows<Arch>(acc) + simd::load<Arch>(b);
  if constexpr (R % 32 != 0) {
    alignas(64) float tail[kW];
    for (std::size_t k = 0; k < kW; ++k) {
      tail[k] = 0.0F;
      for (std::size_t i = 0; i < R % 32; ++i) {
        tail[k] += std::bit_cast<float>(packed[k * kWords + R / 32 * 16 + i] << 16) * u[R / 32 * 32 + i];
      }
    }
    sums = sums + simd::load<Arch>(tail);
  }
  return sums;
}

// One packed row's screened logit, for the rows of a block left over after its groups.
template <std::size_t R, class Arch>
inline float screen_row(const std::uint32_t* packed, const float* u, float b) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  V acc = simd::zero<Arch>();
  for (std::size_t g = 0; g < R / 32; ++g) {
    for (std::size_t s = 0; s < 16; s += kW) {
      V lo;
      V hi;
      simd::load_bf16_pairs<Arch>(packed + g * 16 + s, lo, hi);
      acc = simd::fma(hi, simd::load<Arch>(u + g * 32 + 16 + s), simd::fma(lo, simd::load<Arch>(u + g * 32 + s), acc));
    }
  }
  float sum = simd::reduce_add(acc);
  for (std::size_t i = 0; i < R % 32; ++i) sum += std::bit_cast<float>(packed[R / 32 * 16 + i] << 16) * u[R / 32 * 32 + i];
  return sum + b;
}

}  // namespace detail

// choice[i] = i·n + argmax_j (w u + b)[i·n + j] for blocks i in `blocks`, exactly as
// gemm_rows<.., R> (or matvec) followed by block_argmax would choose, reading the bf16 copy
// `packed` (pack_screen) and `norms` (screen_block_norms) instead of w wherever that decides.
// w: (blocks·n, R), b: (blocks·n), u: (R), logits: (blocks·n) scratch, left holding screened
// logits (or fp32 ones for blocks computed in fp32).
template <std::size_t R, class Arch = simd::DefaultArch>
void screened_block_argmax(const float* w, const float* b, const std::uint32_t* packed, const float* norms,
                           const float* u, std::size_t n, float* logits, std::uint32_t* choice, Range blocks) {
  using V = simd::Vec<Arch>;
  constexpr std::size_t kW = simd::kWidth<Arch>;
  constexpr std::size_t kWords = kScreenWords<R>;
  double sq = 0.0;
  for (std::size_t l = 0; l < R; ++l) sq += static_cast<double>(u[l]) * static_cast<double>(u[l]);
  const double nu = std::sqrt(sq);
  constexpr double kTerms = static_cast<double>(R + 2);
  constexpr double kGamma = kTerms * 0x1p-24 / (1.0 - kTerms * 0x1p-24);
  const double per_norm = (0x1p-8 + 2.01 * kGamma) * nu;
  const double tiny = kTerms * (0x1p-134 * nu + 0x1p-148);
  const std::size_t end_row = blocks.end * n;
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
    const std::uint32_t* rows = packed + first_row * kWords;
    // Screened logits, their maximum, the largest |bias|, and whether all are finite (x − x is
    // NaN exactly when x is infinite or NaN).
    V most = simd::broadcast<Arch>(kMinusInf);
    V bad = simd::zero<Arch>();
    V bias = simd::zero<Arch>();
    const std::size_t groups = n / kW;
    for (std::size_t q = 0; q < groups; ++q) {
      // Prefetch three groups ahead (9 KB at 800M), each row of the group fetching its row of
      // that group: the rows are read in order, but each line feeds several instructions; with
      // the hardware prefetcher alone the screen took 0.73 of the fp32 path's time, with a burst
      // two groups ahead 0.65 (cold 800M controllers, 1 thread, throwaway loop). Spread over the
      // rows and three groups ahead instead of the burst: controller/screen on 1 thread
      // 35.1-36.0 → 34.3-34.8 µs (alternating builds, 2026-11-29).
      const std::size_t ahead = first_row + (q + 3) * kW;
      const V s = detail::screen_group<R, Arch>(rows + q * kW * kWords, u, bi + q * kW,
                                                ahead + kW <= end_row ? packed + ahead * kWords : nullptr);
      simd::store<Arch>(l + q * kW, s);
      most = simd::max(most, s);
      bad = bad + (s - s);
      bias = simd::max(bias, simd::abs(simd::load<Arch>(bi + q * kW)));
    }
    float best = simd::reduce_max(most);
    float bad_sum = simd::reduce_add(bad);
    float bias_max = simd::reduce_max(bias);
    for (std::size_t j = groups * kW; j < n; ++j) {
      l[j] = detail::screen_row<R, Arch>(rows + j * kWords, u, bi[j]);
      best = l[j] > best ? l[j] : best;
      bad_sum += l[j] - l[j];
      bias_max = std::fabs(bi[j]) > bias_max ? std::fabs(bi[j]) : bias_max;
    }
    const double delta = 1.01 * (per_norm * static_cast<double>(norms[i]) +
                                 2.0 * kGamma * static_cast<double>(bias_max) + tiny);
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
    if (static_cast<double>(threshold) > floor) threshold = std::nextafter(threshold, kMinusInf);
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
    for (std::size_t q = 0; q < groups; ++q) note(q * kW, simd::count_at_least<Arch>(simd::load<Arch>(l + q * kW), threshold));
    for (std::size_t j = groups * kW; j < n; ++j) note(j, l[j] >= threshold ? 1 : 0);
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
