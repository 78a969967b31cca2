#pragma once
// Run-time errors. Everything a caller can get wrong at run time (a token id out of range, a
// sequence past max_len, a buffer of the wrong size, decoding before prefill) is checked before any
// kernel runs and reported as a scaling::Error whose message says what was expected and what was
// found. Kernels themselves never throw: they run on worker threads and check nothing.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace scaling {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  std::ostringstream out;
  out << "scaling: ";
  (out << ... << std::forward<Parts>(parts));
  throw Error(out.str());
}

// Throws scaling::Error with the concatenated parts when cond is false.
template <class... Parts>
void require(bool cond, Parts&&... parts) {
  if (!cond) fail(std::forward<Parts>(parts)...);
}

}  // namespace detail
}  // namespace scaling
