#pragma once
// What every layer's forward pass is told about the step it runs in.

#include <array>
#include <cstddef>
#include <span>

#include "scaling/core/threads.hpp"

namespace scaling {

// What a sublayer reads first (this member's share): a sublayer that runs before it and leaves
// memory capacity to spare fetches these ahead (kernels/trickle.hpp).
using FirstReads = std::array<std::span<const float>, 2>;

// A step processes `tokens` consecutive tokens starting at sequence position `pos`: one token when
// decoding, a chunk of the prompt when prefilling, the whole input in the encoder. `then` is what
// the step reads after the sublayer it is given to, if the block knows (else empty).
struct Step {
  const Team& team;
  std::size_t pos;
  std::size_t tokens;
  FirstReads then{};
};

namespace detail {

// What a sublayer or block reads first, for those that say (first_reads); nothing for the others.
template <class Layer>
FirstReads first_reads(const typename Layer::Weights& w, const Team& team) {
  if constexpr (requires { Layer::first_reads(w, team); }) {
    return Layer::first_reads(w, team);
  } else {
    return {};
  }
}

}  // namespace detail

}  // namespace scaling
