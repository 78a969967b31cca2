#pragma once
// What every layer's forward pass is told about the step it runs in.

#include <cstddef>

#include "scaling/core/threads.hpp"

namespace scaling {

// A step processes `tokens` consecutive tokens starting at sequence position `pos`: one token when
// decoding, a chunk of the prompt when prefilling, the whole input in the encoder.
struct Step {
  const Team& team;
  std::size_t pos;
  std::size_t tokens;
};

}  // namespace scaling
