// Writes the seed corpus of safetensors_fuzz (tests/fuzz/corpus) into a directory:
//   build/fuzz/tests/fuzz/make_corpus tests/fuzz/corpus
// Valid files (a checkpoint of the fuzzer's model and variants of it, F16/BF16 with metadata) and
// a few malformed ones, each below libFuzzer's default 4 KB input limit. The output is
// deterministic.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fuzz_model.hpp"
#include "scaling/io/checkpoint.hpp"
#include "scaling/io/safetensors.hpp"

namespace {

using namespace scaling::io;
namespace fs = std::filesystem;

void write(const fs::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  scaling::detail::require(static_cast<bool>(out), path.string(), ": cannot write");
}

// A file from its header text and data section; length is the header length field (by default
// the text's size).
std::vector<std::byte> file(const std::string& json, const std::vector<std::uint8_t>& data,
                            std::uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = json.size();
  std::vector<std::byte> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xFF));
  for (const char c : json) out.push_back(static_cast<std::byte>(c));
  for (const std::uint8_t b : data) out.push_back(static_cast<std::byte>(b));
  return out;
}

// Rewrites a checkpoint: `edit` may reshape any tensor (its values are cut or zero-padded to the
// new shape), `metadata` replaces the file's, and `extra` adds a tensor the model does not have.
std::vector<std::byte> rewrite(const SafeTensorsFile& from,
                               const std::function<void(const std::string&, std::vector<std::size_t>&)>& edit,
                               const std::map<std::string, std::string>& metadata, bool extra = false) {
  SafeTensorsWriter w;
  for (const TensorEntry& t : from.header().tensors) {
    std::vector<float> values(t.elements());
    from.read(t, values);
    std::vector<std::size_t> shape = t.shape;
    edit(t.name, shape);
    std::size_t n = 1;
    for (const std::size_t e : shape) n *= e;
    values.resize(n);
    w.add(t.name, shape, values);
  }
  if (extra) w.add("decoder.layers.1.ff.out_bias", {2}, std::vector<float>{1, 2});
  for (const auto& [k, v] : metadata) w.metadata(k, v);
  return w.bytes();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  using scaling::fuzzing::FuzzModel;

  // A valid checkpoint of the fuzzer's model, and variants: one more tensor (loads only with
  // allow_unexpected), a wrong shape, other dims, and the file cut inside its data.
  const fs::path checkpoint = dir / "checkpoint.safetensors";
  save_checkpoint(FuzzModel(1), checkpoint.string(), "fuzz");
  const SafeTensorsFile ckpt(checkpoint.string(), SafeTensorsFile::Mode::kRead);
  const std::map<std::string, std::string>& meta = ckpt.header().metadata;
  const auto keep = [](const std::string&, std::vector<std::size_t>&) {};
  write(dir / "checkpoint_unexpected.safetensors", rewrite(ckpt, keep, meta, /*extra=*/true));
  const auto reshape = [](const std::string& name, std::vector<std::size_t>& shape) {
    if (name == "logits.e") shape = {2, 4};
  };
  write(dir / "checkpoint_wrong_shape.safetensors", rewrite(ckpt, reshape, meta));
  std::map<std::string, std::string> other = meta;
  other["scaling.dims"] = "d_model=4,d_ff=4,n_heads=1,d_head=4,vocab=4,max_len=2";
  write(dir / "checkpoint_other_dims.safetensors", rewrite(ckpt, keep, other));
  std::vector<std::byte> cut = rewrite(ckpt, keep, meta);
  cut.resize(cut.size() - ckpt.header().data_bytes / 2);
  write(dir / "checkpoint_truncated.safetensors", cut);

  // F16, BF16 and F32 tensors (one empty), metadata with escapes, header padded with spaces.
  // F16: 1, -2, 65504, 2^-24, inf, NaN; BF16: 1, -0.5; F32: 3.
  write(dir / "halves.safetensors",
        file(R"({"__metadata__":{"model":"tiny","k\u00e9\ud83d\ude00":"a\"b\\c\/"},)"
             R"("h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
             R"("e":{"dtype":"F32","shape":[0,4],"data_offsets":[16,16]},)"
             R"("f":{"dtype":"F32","shape":[],"data_offsets":[16,20]}}      )",
             {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C, 0x00, 0x7E,  //
              0x80, 0x3F, 0x00, 0xBF, 0x00, 0x00, 0x40, 0x40}));

  // Malformed files, each rejected by a different rule.
  const std::vector<std::uint8_t> eight(8, 0x11);
  const std::string x = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  write(dir / "length_past_end.safetensors", file("{" + x + "}", eight, 1000));
  write(dir / "overlap.safetensors",
        file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             eight));
  write(dir / "bad_dtype.safetensors", file(R"({"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", eight));
  write(dir / "shape_overflow.safetensors",
        file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", eight));
  write(dir / "duplicate_key.safetensors", file("{" + x + "," + x + "}", eight));
  write(dir / "bad_utf8.safetensors", file("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}," + x + "}", eight));
  return 0;
}
