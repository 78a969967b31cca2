#pragma once
// The compiled model configurations the runner knows, by the name a checkpoint stores in its
// "scaling.model" metadata. Shapes are compile-time, so a checkpoint can only be run by a model
// compiled for it: this table is that set. Add a line to add a model.

#include <scaling/scaling.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace runner {

using scaling::Token;

// What one generation produced.
struct Generation {
  std::vector<Token> generated;  // the greedy tokens
  std::vector<float> logits;     // (prompt + generated − 1, vocab): the logits after each fed token
  double prefill_seconds = 0;    // the prompt (and the encoder input)
  double decode_seconds = 0;     // the generated tokens after the first
};

// A compiled model behind a run-time name.
class AnyModel {
 public:
  virtual ~AnyModel() = default;
  virtual void save(const std::string& path, const std::string& name) const = 0;
  // Runs the encoder on `input` (encoder–decoder models), the prompt, then `count` greedy tokens.
  virtual Generation generate(std::span<const Token> input, std::span<const Token> prompt, std::size_t count,
                              scaling::ThreadPool& pool) = 0;
};

template <class Model>
class CompiledModel final : public AnyModel {
 public:
  static constexpr bool kEncoder = requires(const Model& m, typename Model::State& s) { m.encode(s, {}); };

  explicit CompiledModel(std::unique_ptr<Model> model) : model_(std::move(model)) {}

  void save(const std::string& path, const std::string& name) const override {
    scaling::io::save_checkpoint(*model_, path, name);
  }

  Generation generate(std::span<const Token> input, std::span<const Token> prompt, std::size_t count,
                      scaling::ThreadPool& pool) override {
    using Clock = std::chrono::steady_clock;
    constexpr std::size_t kVocab = Model::kDims.vocab;
    scaling::detail::require(count >= 1, "generate: count must be at least 1");
    Generation g;
    g.logits.resize((prompt.size() + count - 1) * kVocab);
    auto state = model_->new_state();
    auto start = Clock::now();
    if constexpr (kEncoder) model_->encode(state, input, pool);
    model_->forward(state, prompt, std::span(g.logits).first(prompt.size() * kVocab), pool);
    g.prefill_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    start = Clock::now();
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t row = prompt.size() + i - 1;  // the logits the next token is chosen from
      g.generated.push_back(scaling::greedy(std::span(g.logits).subspan(row * kVocab, kVocab)));
      if (i + 1 < count) model_->decode(state, g.generated.back(), std::span(g.logits).subspan((row + 1) * kVocab, kVocab), pool);
    }
    g.decode_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return g;
  }

 private:
  std::unique_ptr<Model> model_;
};

struct Entry {
  std::string_view name;
  std::string_view about;
  scaling::Dims dims;
  bool encoder = false;  // an encoder–decoder model, which needs an input
  // Makes the model: random weights from `seed`, or the weights of an open checkpoint.
  std::function<std::unique_ptr<AnyModel>(std::uint64_t seed)> random;
  std::function<std::unique_ptr<AnyModel>(const scaling::io::SafeTensorsFile& file)> load;
};

template <class Model>
Entry entry(std::string_view name, std::string_view about) {
  return {name, about, Model::kDims, CompiledModel<Model>::kEncoder,
          [](std::uint64_t seed) { return std::make_unique<CompiledModel<Model>>(std::make_unique<Model>(seed)); },
          [name](const scaling::io::SafeTensorsFile& file) {
            auto model = std::make_unique<Model>();
            scaling::io::LoadOptions options;
            options.model_name = std::string(name);
            scaling::io::load_checkpoint(*model, file, options);
            return std::make_unique<CompiledModel<Model>>(std::move(model));
          }};
}

// Defined in registry.cpp.
const std::vector<Entry>& registry();

}  // namespace runner
