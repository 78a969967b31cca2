// Checkpoints of compiled models: save → load reproduces the logits bitwise, and every mismatch
// between file and model is a clean error naming the tensor.

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "models/model_test_util.hpp"
#include "scaling/io/checkpoint.hpp"
#include "scaling/models/configs.hpp"
#include "test_dims.hpp"

namespace {

using namespace scaling;
using namespace scaling::io;
using testing::kOddHeads;
using testing::kTiny;

using SparseModel = DecoderOnly<kTiny, PreNormDecoderBlock<kTiny, SparseFeedForward<kTiny, 8>, SparseQkvAttention<kTiny, 4, 3>>,
                                2, LayerNorm<kTiny.d_model>, SparseLogits<kTiny, 5>>;
using EncDec = T5Like<kTiny, 1, 2, SparseFeedForward<kTiny, 8>, SparseQkvAttention<kTiny, 4, 3>,
                      SparseCrossAttention<kTiny, 5, 2>>;

std::string temp(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("scaling_ckpt_") + name)).string();
}

std::vector<std::byte> file_bytes(const std::string& path) {
  std::vector<std::byte> bytes(std::filesystem::file_size(path));
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

template <class Model>
std::vector<float> logits_of(const Model& m) {
  const auto tokens = testing::random_tokens(9, kTiny.vocab, 4);
  ThreadPool pool(1);
  auto state = m.new_state();
  if constexpr (requires { m.encode(state, tokens, pool); }) m.encode(state, tokens, pool);
  std::vector<float> all(tokens.size() * kTiny.vocab);
  m.forward(state, tokens, all, pool);
  return all;
}

TEST_CASE("checkpoint: save then load reproduces the model bitwise") {
  const SparseModel a(3);
  save_checkpoint(a, temp("dec.safetensors"), "tiny-sparse");
  SparseModel b;  // all zero
  LoadOptions named;
  named.model_name = "tiny-sparse";
  load_checkpoint(b, temp("dec.safetensors"), named);
  CHECK(logits_of(a) == logits_of(b));
  // Derived data (Sparse FF's int8 controller copy) is not in the file, and loading rebuilds it.
  CHECK(SafeTensorsFile(temp("dec.safetensors")).header().find("decoder.layers.0.ff.controller_screen") == nullptr);
  CHECK(std::as_const(b).weights().decoder.layers[0].ff.controller_screen.ready);

  const EncDec c(5);
  save_checkpoint(c, temp("encdec.safetensors"));
  EncDec d;
  load_checkpoint(d, temp("encdec.safetensors"));
  CHECK(logits_of(c) == logits_of(d));
  std::filesystem::remove(temp("dec.safetensors"));
  std::filesystem::remove(temp("encdec.safetensors"));
}

TEST_CASE("checkpoint: a file saved without a model name records none and loads under any name") {
  const SparseModel a(3);
  const std::string path = temp("unnamed.safetensors");
  save_checkpoint(a, path);
  CHECK(SafeTensorsFile(path).header().metadata.count("scaling.model") == 0);
  SparseModel b;
  LoadOptions named;
  named.model_name = "anything";
  CHECK_NOTHROW(load_checkpoint(b, path, named));
  CHECK(logits_of(a) == logits_of(b));
  std::filesystem::remove(path);
}

TEST_CASE("checkpoint: saving over the file a model was loaded from leaves its reader intact") {
  const SparseModel a(3);
  const SparseModel b(4);
  const std::string path = temp("over.safetensors");
  save_checkpoint(a, path);
  const SafeTensorsFile mapped(path);  // Mode::kMap: the file's pages, not a copy
  save_checkpoint(b, path);            // a new file renamed over the old: the mapping stays valid
  SparseModel from_old;
  load_checkpoint(from_old, mapped);
  CHECK(logits_of(from_old) == logits_of(a));
  SparseModel from_new;
  load_checkpoint(from_new, path);
  CHECK(logits_of(from_new) == logits_of(b));
  CHECK_FALSE(std::filesystem::exists(path + ".partial"));
  CHECK_THROWS_WITH_AS(save_checkpoint(a, temp("no/such/dir.safetensors")),
                       doctest::Contains("cannot write"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("checkpoint: an in-memory file reads and loads like the file on disk") {
  const SparseModel a(3);
  const std::string path = temp("memory.safetensors");
  save_checkpoint(a, path, "tiny-sparse");
  std::vector<std::byte> bytes = file_bytes(path);
  const SafeTensorsFile disk(path);
  const SafeTensorsFile memory("in-memory.safetensors", bytes);
  CHECK(memory.path() == "in-memory.safetensors");
  CHECK(memory.header().metadata == disk.header().metadata);
  CHECK(memory.header().data_bytes == disk.header().data_bytes);
  REQUIRE(memory.header().tensors.size() == disk.header().tensors.size());
  for (std::size_t i = 0; i < disk.header().tensors.size(); ++i) {
    const TensorEntry& m = memory.header().tensors[i];
    const TensorEntry& d = disk.header().tensors[i];
    CHECK((m.name == d.name && m.dtype == d.dtype && m.shape == d.shape && m.begin == d.begin && m.end == d.end));
  }
  SparseModel b;
  load_checkpoint(b, memory);
  CHECK(logits_of(a) == logits_of(b));
  LoadOptions other;
  other.model_name = "other";
  CHECK_THROWS_WITH_AS(load_checkpoint(b, memory, other),
                       doctest::Contains("in-memory.safetensors: the checkpoint is of model \"tiny-sparse\""), Error);

  bytes.pop_back();  // the data section is one byte short
  CHECK_THROWS_WITH_AS(SafeTensorsFile("in-memory.safetensors", bytes),
                       doctest::Contains("in-memory.safetensors: the tensors end at data byte"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("checkpoint: NaN or an infinity in a weight is refused, before any weight is written") {
  const SparseModel a(3);
  const std::string path = temp("finite.safetensors");
  save_checkpoint(a, path);
  const std::vector<std::byte> bytes = file_bytes(path);
  std::filesystem::remove(path);
  const SafeTensorsFile good("finite.safetensors", bytes);
  // Sets element `flat` of tensor `name` (F32, as the writer stores it).
  const auto with = [&](const char* name, std::size_t flat, float value) {
    const TensorEntry* t = good.header().find(name);
    REQUIRE(t != nullptr);
    auto copy = bytes;
    const std::size_t at = copy.size() - good.header().data_bytes + t->begin + 4 * flat;
    const auto bits = std::bit_cast<std::uint32_t>(value);
    for (std::size_t k = 0; k < 4; ++k) copy[at + k] = static_cast<std::byte>(bits >> (8 * k));
    return SafeTensorsFile("bad.safetensors", std::move(copy));
  };
  const float inf = std::numeric_limits<float>::infinity();
  const auto nan =
      with("decoder.layers.1.ff.in", 2 * 40 + 39, std::nanf(""));  // (9, 8, 40): (0, 2, 39)
  const auto minus = with("logits.b", 49, -inf);
  const auto plus = with("decoder.layers.0.attn.q.kernel", 0, inf);
  SparseModel b(4);
  const auto before = logits_of(b);
  CHECK_THROWS_WITH_AS(
      load_checkpoint(b, nan),
      "scaling: bad.safetensors: tensor \"decoder.layers.1.ff.in\" holds NaN at (0, 2, 39); "
      "weights must be finite (LoadOptions::allow_non_finite loads them as they are)",
      Error);
  CHECK_THROWS_WITH_AS(load_checkpoint(b, minus),
                       doctest::Contains("tensor \"logits.b\" holds -infinity at (49)"), Error);
  CHECK_THROWS_WITH_AS(
      load_checkpoint(b, plus),
      doctest::Contains(
          "tensor \"decoder.layers.0.attn.q.kernel\" holds +infinity at (0, 0, 0, 0)"),
      Error);
  CHECK(logits_of(b) == before);  // refused in the first pass: no weight written,
  CHECK(std::as_const(b).weights().decoder.layers[0].ff.controller_screen.ready);  // none dropped
  LoadOptions as_they_are;
  as_they_are.allow_non_finite = true;
  load_checkpoint(b, minus, as_they_are);
  CHECK(std::as_const(b).weights().logits.b.data[49] == -inf);
  load_checkpoint(b, good);
  CHECK(logits_of(b) == logits_of(a));
}

// Rewrites a saved checkpoint through `edit`, which sees each tensor and may drop (return false)
// or change it; then adds `extra` tensors and replaces the metadata.
void rewrite(const std::string& from, const std::string& to,
             const std::function<bool(std::string&, std::vector<std::size_t>&)>& edit,
             const std::map<std::string, std::string>& metadata, bool extra = false) {
  const SafeTensorsFile f(from);
  SafeTensorsWriter w;
  for (const TensorEntry& t : f.header().tensors) {
    std::string name = t.name;
    std::vector<std::size_t> shape = t.shape;
    std::vector<float> values(t.elements());
    f.read(t, values);
    if (!edit(name, shape)) continue;
    std::size_t n = 1;
    for (std::size_t e : shape) n *= e;
    values.resize(n);
    w.add(name, shape, values);
  }
  if (extra) w.add("decoder.layers.9.attn.q.w", {2}, std::vector<float>{1, 2});
  for (const auto& [k, v] : metadata) w.metadata(k, v);
  w.write(to);
}

std::string load_error(const std::string& path, const LoadOptions& options = {}) {
  SparseModel m;
  try {
    load_checkpoint(m, path, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_CASE("checkpoint: mismatches are errors that name the tensor") {
  const SparseModel a(3);
  const std::string good = temp("good.safetensors");
  const std::string bad = temp("bad.safetensors");
  save_checkpoint(a, good, "tiny-sparse");
  const std::map<std::string, std::string> meta{{"scaling.format", "1"}, {"scaling.dims", dims_string(kTiny)}};
  const auto keep = [](std::string&, std::vector<std::size_t>&) { return true; };

  rewrite(good, bad, [](std::string& name, std::vector<std::size_t>&) { return name != "decoder.layers.1.attn.k.kernel"; }, meta);
  CHECK(load_error(bad).find("tensor \"decoder.layers.1.attn.k.kernel\" (3, 3, 10, 10) is missing") != std::string::npos);

  rewrite(good, bad, [](std::string& name, std::vector<std::size_t>& shape) {
    if (name == "logits.e") shape = {50, 10};
    return true;
  }, meta);
  CHECK(load_error(bad).find("tensor \"logits.e\" has shape (50, 10), expected (40, 10)") != std::string::npos);
  // As many elements in another shape (transposed) is still the wrong shape.
  rewrite(good, bad, [](std::string& name, std::vector<std::size_t>& shape) {
    if (name == "logits.e") shape = {10, 40};
    return true;
  }, meta);
  CHECK(load_error(bad).find("tensor \"logits.e\" has shape (10, 40), expected (40, 10)") != std::string::npos);

  rewrite(good, bad, keep, meta, /*extra=*/true);
  CHECK(load_error(bad).find("unexpected tensor \"decoder.layers.9.attn.q.w\"") != std::string::npos);
  LoadOptions tolerant;
  tolerant.allow_unexpected = true;
  CHECK(load_error(bad, tolerant) == "(no error)");

  rewrite(good, bad, keep, {{"scaling.dims", dims_string(kOddHeads)}});
  CHECK(load_error(bad).find("the checkpoint is for dims \"d_model=24,") != std::string::npos);
  rewrite(good, bad, keep, {});
  CHECK(load_error(bad).find("no \"scaling.dims\"") != std::string::npos);
  rewrite(good, bad, keep, {{"scaling.format", "2"}, {"scaling.dims", dims_string(kTiny)}});
  CHECK(load_error(bad).find("the checkpoint has format \"2\"; this library reads format \"1\"") !=
        std::string::npos);

  LoadOptions other;
  other.model_name = "other";
  CHECK(load_error(good, other).find("of model \"tiny-sparse\", expected \"other\"") != std::string::npos);
  CHECK(load_error(temp("missing.safetensors")).find("cannot open") != std::string::npos);
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

}  // namespace
