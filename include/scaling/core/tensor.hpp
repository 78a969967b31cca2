#pragma once
// Weights: compile-time-shaped views into one aligned arena owned by the model.
//
// A layer declares its weights as Tensor<extents...> members and lists them in a
// `visit(Visitor&)` member function, giving each a name and an init rule. The same listing serves
// to size the arena, bind the views, initialise random weights, and load and save checkpoints, so a
// layer states its parameters exactly once.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "scaling/core/error.hpp"

namespace scaling {

// How a tensor is initialised by init_random (the checkpoint loader ignores it).
enum class Init : std::uint8_t {
  kFanIn,       // uniform in ±1/sqrt(fan_in), fan_in = the last extent (PyTorch Linear's rule)
  kFanInLeading,  // the same with fan_in = the product of all extents but the last (x·W layouts)
  kBias,        // uniform in ±0.01, whatever the fan-in
  kOnes,        // norm gains
  kZeros,       // norm offsets
  kEmbedding,   // N(0, 1)-like: uniform with unit variance
  kSinusoidal,  // learned positional table, initialised with sin/cos (spec section 7)
};

// A view of a row-major tensor with compile-time extents. The pointer is bound by the model;
// the extents are the contract every kernel is generated for.
template <std::size_t... Ext>
struct Tensor {
  static_assert(sizeof...(Ext) > 0, "Tensor needs at least one extent");
  static constexpr std::array<std::size_t, sizeof...(Ext)> kShape{Ext...};
  static constexpr std::size_t kSize = (Ext * ...);

  float* data = nullptr;

  [[nodiscard]] std::span<float, kSize> span() const { return std::span<float, kSize>(data, kSize); }
};

// Data a layer computes from its own weights to decode faster (Sparse FF's int8 copy of its
// controller, the panels of a multiplicative layer's E), bound in the same arena after the
// weights. It is never saved, loaded or initialised: prepare() builds it from the weights, and
// layers use it only while `ready`, so stale data is never read (Owned::drop_derived, called on
// every mutable access to a model's weights, clears it; the layer then runs its exact fp32 path,
// slower but with the same results).
template <class T, std::size_t Count>
struct Derived {
  static_assert(sizeof(T) <= sizeof(float) && sizeof(float) % sizeof(T) == 0);
  static constexpr std::size_t kSize = Count;
  static constexpr std::size_t kFloats = (Count * sizeof(T) + sizeof(float) - 1) / sizeof(float);

  T* data = nullptr;
  bool ready = false;
};

// 64-byte-aligned, zero-initialised float storage (one cache line, one AVX-512 register).
inline constexpr std::size_t kAlignment = 64;
inline constexpr std::size_t kFloatsPerLine = kAlignment / sizeof(float);

constexpr std::size_t round_up(std::size_t n, std::size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Buffers of at least 2 MiB start on a 2 MiB boundary and ask Linux for transparent huge pages
// (needed where THP is in "madvise" mode, Debian's default). Decode reads a multi-GB arena, and
// Sparse FF reads 4 KiB rows at random from it: with 4 KiB pages nearly every row costs a TLB
// miss and restarts the hardware prefetcher.
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

namespace detail {
struct AlignedFree {
  std::size_t align = kAlignment;
  void operator()(float* p) const { ::operator delete(p, std::align_val_t{align}); }
};
}  // namespace detail

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t floats) : size_(floats) {
    std::size_t bytes = round_up(floats, kFloatsPerLine) * sizeof(float);
    const std::size_t align = bytes >= kHugePage ? kHugePage : kAlignment;
    bytes = round_up(bytes, align);
    data_ = {static_cast<float*>(::operator new(bytes, std::align_val_t{align})), detail::AlignedFree{align}};
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugePage) ::madvise(data_.get(), bytes, MADV_HUGEPAGE);  // a hint: failure is fine
#endif
    std::memset(data_.get(), 0, bytes);
  }
  // A moved-from buffer is empty (size 0, no data), not a size without storage.
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : size_(std::exchange(other.size_, 0)), data_(std::move(other.data_)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      size_ = std::exchange(other.size_, 0);
      data_ = std::move(other.data_);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() = default;

  [[nodiscard]] float* data() const { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::span<float> span() const { return {data_.get(), size_}; }

 private:
  std::size_t size_ = 0;
  std::unique_ptr<float, detail::AlignedFree> data_;
};

namespace detail {

// Visitors see tensors under dotted names ("decoder.layers.3.attn.q.w"); a scope appends a
// component for the duration of a call.
class NamedVisitor {
 public:
  template <class F>
  void scope(std::string_view part, F&& body) {
    const std::size_t saved = prefix_.size();
    if (!prefix_.empty()) prefix_ += '.';
    prefix_ += part;
    body();
    prefix_.resize(saved);
  }
  template <class F>
  void scope(std::size_t index, F&& body) {
    scope(std::to_string(index), std::forward<F>(body));
  }
  [[nodiscard]] std::string name(std::string_view leaf) const {
    return prefix_.empty() ? std::string(leaf) : prefix_ + '.' + std::string(leaf);
  }
  // Weights list derived data with v.derived(name, d, build): most visitors (init, checkpoints,
  // counts) skip it; the ones below bind, build or drop it.
  template <class T, std::size_t C, class Build>
  void derived(std::string_view /*leaf*/, Derived<T, C>& /*d*/, Build&& /*build*/) {}

 private:
  std::string prefix_;
};

// Pass 1 of binding: counts the arena size. Every tensor starts on its own cache line.
struct CountFloats : NamedVisitor {
  std::size_t floats = 0;
  template <std::size_t... E>
  void tensor(std::string_view /*name*/, Tensor<E...>& t, Init /*init*/) {
    floats += round_up(t.kSize, kFloatsPerLine);
  }
  template <class T, std::size_t C, class Build>
  void derived(std::string_view /*name*/, Derived<T, C>& /*d*/, Build&& /*build*/) {
    floats += round_up(Derived<T, C>::kFloats, kFloatsPerLine);
  }
};

// Pass 2 of binding: points every view into the arena.
struct BindViews : NamedVisitor {
  float* next = nullptr;
  template <std::size_t... E>
  void tensor(std::string_view /*name*/, Tensor<E...>& t, Init /*init*/) {
    t.data = next;
    next += round_up(t.kSize, kFloatsPerLine);
  }
  template <class T, std::size_t C, class Build>
  void derived(std::string_view /*name*/, Derived<T, C>& d, Build&& /*build*/) {
    // The arena's bytes are only ever accessed as T here (never as float), and its storage comes
    // from operator new, which implicitly creates T objects for such use.
    d.data = reinterpret_cast<T*>(next);
    next += round_up(Derived<T, C>::kFloats, kFloatsPerLine);
  }
};

struct BuildDerived : NamedVisitor {
  template <std::size_t... E>
  void tensor(std::string_view /*name*/, Tensor<E...>& /*t*/, Init /*init*/) {}
  template <class T, std::size_t C, class Build>
  void derived(std::string_view /*name*/, Derived<T, C>& d, Build&& build) {
    build();
    d.ready = true;
  }
};

struct DropDerived : NamedVisitor {
  template <std::size_t... E>
  void tensor(std::string_view /*name*/, Tensor<E...>& /*t*/, Init /*init*/) {}
  template <class T, std::size_t C, class Build>
  void derived(std::string_view /*name*/, Derived<T, C>& d, Build&& /*build*/) {
    d.ready = false;
  }
};

}  // namespace detail

// Weights of a layer W (anything with `void visit(V&)`) in their own arena. Models use this for
// all their parameters; tests use it to hold one layer alone.
template <class W>
class Owned {
 public:
  Owned() {
    detail::CountFloats count;
    weights_.visit(count);
    arena_ = AlignedBuffer(count.floats);
    detail::BindViews bind;
    bind.next = arena_.data();
    weights_.visit(bind);
  }
  Owned(const Owned&) = delete;  // views point into our own arena
  Owned& operator=(const Owned&) = delete;
  // The arena moves with its views; the moved-from side keeps null views and no arena
  // (holds_weights() false), never views into the arena it gave away.
  Owned(Owned&& other) noexcept
      : arena_(std::move(other.arena_)), weights_(std::exchange(other.weights_, W{})) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      arena_ = std::move(other.arena_);
      weights_ = std::exchange(other.weights_, W{});
    }
    return *this;
  }
  ~Owned() = default;

  // False once moved from: the models refuse to run, save or load it.
  [[nodiscard]] bool holds_weights() const { return arena_.data() != nullptr; }

  // Builds every layer's derived data from the current weights (call after writing them).
  void prepare() {
    detail::require(holds_weights(), "prepare: the model was moved from");
    detail::BuildDerived build;
    weights_.visit(build);
  }
  // Marks derived data stale: layers fall back to their exact paths until prepare().
  void drop_derived() {
    detail::DropDerived drop;
    weights_.visit(drop);
  }

  [[nodiscard]] W& get() { return weights_; }
  [[nodiscard]] const W& get() const { return weights_; }
  [[nodiscard]] std::size_t arena_bytes() const { return arena_.size() * sizeof(float); }

 private:
  AlignedBuffer arena_;
  W weights_{};
};

}  // namespace scaling
