// How Owned lays out a layer's or a model's weights in its arena: every tensor and every derived
// array on its own cache lines, none overlapping another, all inside the arena. A sizing mistake
// (a derived array counted in elements instead of floats, a size not rounded to a line) would
// otherwise only show as a write past the arena or two layers sharing bytes.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scaling/core/tensor.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::testing;

struct Part {
  std::string name;
  std::uintptr_t begin;
  std::size_t bytes;
};

// Every tensor and derived array a visit reaches, with its address and its size in bytes.
struct Layout : detail::NamedVisitor {
  std::vector<Part> parts;
  template <std::size_t... E>
  void tensor(std::string_view leaf, Tensor<E...>& t, Init /*init*/) {
    parts.push_back(
        {name(leaf), reinterpret_cast<std::uintptr_t>(t.data), t.kSize * sizeof(float)});
  }
  template <class T, std::size_t C, class Build>
  void derived(std::string_view leaf, Derived<T, C>& d, Build&& /*build*/) {
    parts.push_back({name(leaf), reinterpret_cast<std::uintptr_t>(d.data), C * sizeof(T)});
  }
};

// Default-constructed weights are bound but never written, so a layout that overran its arena
// is seen here rather than as a crash.
// Returns how many parts it checked.
template <class W>
std::size_t check_layout(W& weights, std::size_t arena_bytes) {
  Layout layout;
  weights.visit(layout);
  std::vector<Part>& parts = layout.parts;
  REQUIRE(!parts.empty());
  std::sort(parts.begin(), parts.end(),
            [](const Part& a, const Part& b) { return a.begin < b.begin; });
  const std::uintptr_t arena = parts.front().begin;
  std::uintptr_t free = arena;  // the first byte no part before has used
  for (const Part& p : parts) {
    CAPTURE(p.name);
    CHECK(p.bytes > 0);
    CHECK(p.begin % kAlignment == 0);
    CHECK(p.begin == free);  // packed: each part starts on the line after the previous one ends
    free = p.begin + round_up(p.bytes, kAlignment);
  }
  CHECK(free - arena == arena_bytes);
  return parts.size();
}

TEST_CASE("Owned gives each tensor and derived array its own lines of the arena") {
  SUBCASE("Sparse FF: int8 screen words and per-block bounds beside fp32 tensors") {
    // d_model 40 (160 bytes: not a whole number of lines), 9 blocks of 8 units, r 9.
    using Ff = SparseFeedForward<kTiny, 8>;
    Owned<Ff::Weights> owned;
    CHECK(check_layout(owned.get(), owned.arena_bytes()) == 8);  // 6 tensors, 2 derived
  }
  SUBCASE("a fully sparse encoder-decoder") {
    using Model = T5Like<kTiny, 1, 2, SparseFeedForward<kTiny, 8>, SparseQkvAttention<kTiny, 4, 3>,
                         SparseCrossAttention<kTiny, 4, 3>, SparseLogits<kTiny, 5>>;
    Model model;  // zero weights: nothing written through the views
    CHECK(check_layout(model.weights(), model.weight_bytes()) > 60);
  }
}

}  // namespace
