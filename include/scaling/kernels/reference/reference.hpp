#pragma once
// Plain scalar twins of the kernels, in double precision with run-time extents: the independent
// reference the tests compare the SIMD kernels against. Clarity over speed; no SIMD, no blocking.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

// Promoting float inputs to double is the point of a reference: silence the warning that flags it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdouble-promotion"

namespace scaling::reference {

// y = W x + b.   W: (rows, cols), x: (cols), b: (rows) or empty.
inline std::vector<double> matvec(const float* w, const float* x, const float* b,
                                  std::size_t rows, std::size_t cols) {
  std::vector<double> y(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    double s = b != nullptr ? b[r] : 0.0;
    for (std::size_t i = 0; i < cols; ++i) s += static_cast<double>(w[r * cols + i]) * x[i];
    y[r] = s;
  }
  return y;
}

// Σ_i |W[r][i] x[i]| + |b[r]|: the scale a float dot product's rounding error is relative to.
inline std::vector<double> matvec_magnitude(const float* w, const float* x, const float* b,
                                            std::size_t rows, std::size_t cols) {
  std::vector<double> m(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    double s = b != nullptr ? std::abs(b[r]) : 0.0;
    for (std::size_t i = 0; i < cols; ++i) s += std::abs(static_cast<double>(w[r * cols + i]) * x[i]);
    m[r] = s;
  }
  return m;
}

inline std::vector<double> layer_norm(const float* x, const float* gain, const float* bias,
                                      std::size_t d, double eps) {
  double mean = 0;
  for (std::size_t i = 0; i < d; ++i) mean += x[i];
  mean /= static_cast<double>(d);
  double var = 0;
  for (std::size_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(d);
  std::vector<double> y(d);
  for (std::size_t i = 0; i < d; ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps) * gain[i] + bias[i];
  return y;
}

inline std::vector<double> rms_norm(const float* x, const float* gain, std::size_t d, double eps) {
  double ms = 0;
  for (std::size_t i = 0; i < d; ++i) ms += static_cast<double>(x[i]) * x[i];
  ms /= static_cast<double>(d);
  std::vector<double> y(d);
  for (std::size_t i = 0; i < d; ++i) y[i] = x[i] / std::sqrt(ms + eps) * gain[i];
  return y;
}

inline std::vector<double> softmax(const double* x, std::size_t n) {
  if (n == 0) return {};
  const double top = *std::max_element(x, x + n);
  std::vector<double> y(n);
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) total += (y[i] = std::exp(x[i] - top));
  for (auto& v : y) v /= total;
  return y;
}

// softmax(K q / sqrt(dh)) V.   q: (dh), k, v: (n, dh).
inline std::vector<double> attend_head(const float* q, const float* k, const float* v,
                                       std::size_t n, std::size_t dh) {
  std::vector<double> s(n);
  for (std::size_t j = 0; j < n; ++j) {
    double dot = 0;
    for (std::size_t i = 0; i < dh; ++i) dot += static_cast<double>(q[i]) * k[j * dh + i];
    s[j] = dot / std::sqrt(static_cast<double>(dh));
  }
  const std::vector<double> p = softmax(s.data(), n);
  std::vector<double> out(dh, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < dh; ++i) out[i] += p[j] * v[j * dh + i];
  }
  return out;
}

// Positional table row p: sin(p / 10000^(2i/d)) at column 2i, cos of the same at 2i+1.
inline double sinusoid(std::size_t p, std::size_t col, std::size_t d) {
  const double angle = static_cast<double>(p) /
                       std::pow(10000.0, static_cast<double>(col / 2 * 2) / static_cast<double>(d));
  return col % 2 == 0 ? std::sin(angle) : std::cos(angle);
}

// The locally-connected convolution over a whole sequence, written as trax states it: zero-pad
// the module axis by (ks − 1)/2 on each side and the sequence by kl − 1 rows at the front, then a
// VALID 2-D convolution.  x: (len, s·m), kernel: (kl, ks, m, u), b: (u) → (len, s·u).
// With `magnitude`, every term and the bias enter as absolute values (the rounding-error scale).
template <class T>  // float or double input
std::vector<double> local_conv(const T* x, std::size_t len, std::size_t s, std::size_t m,
                                      std::size_t u, std::size_t ks, std::size_t kl,
                                      const float* kernel, const float* b, bool magnitude = false) {
  const std::size_t pad = (ks - 1) / 2;
  const std::size_t width = s + 2 * pad;  // modules after padding
  std::vector<double> padded((len + kl - 1) * width * m, 0.0);
  for (std::size_t t = 0; t < len; ++t) {
    for (std::size_t i = 0; i < s * m; ++i) {
      padded[((t + kl - 1) * width + pad) * m + i] = static_cast<double>(x[t * s * m + i]);
    }
  }
  const auto term = [magnitude](double v) { return magnitude ? std::abs(v) : v; };
  std::vector<double> y(len * s * u);
  for (std::size_t t = 0; t < len; ++t) {
    for (std::size_t mod = 0; mod < s; ++mod) {
      for (std::size_t n = 0; n < u; ++n) {
        double acc = term(b[n]);
        for (std::size_t l = 0; l < kl; ++l) {
          for (std::size_t j = 0; j < ks; ++j) {
            for (std::size_t c = 0; c < m; ++c) {
              acc += term(padded[((t + l) * width + mod + j) * m + c] * kernel[((l * ks + j) * m + c) * u + n]);
            }
          }
        }
        y[(t * s + mod) * u + n] = acc;
      }
    }
  }
  return y;
}

}  // namespace scaling::reference

#pragma GCC diagnostic pop
