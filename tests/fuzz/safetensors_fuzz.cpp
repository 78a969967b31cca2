// libFuzzer target for the safetensors reader and the checkpoint loader, which both take untrusted
// files. Each input is a whole file. It is parsed with parse_file (and, see below, everything after
// its length field with parse_json); if parse_file accepts it, it is opened as an in-memory
// SafeTensorsFile, loaded into a tiny compiled model (strictly, then with allow_unexpected, then
// with allow_non_finite) and every tensor is read as floats. A scaling::Error is the expected
// outcome of a bad file; any other exception, a crash, a leak or a sanitizer report is a bug.
//
// Built and run for a minute by the `fuzz` preset (Clang; -fsanitize=fuzzer,address,undefined).
// To fuzz longer (new inputs go to the first directory; the seeds are only read):
//   cmake --preset fuzz && cmake --build --preset fuzz && mkdir -p /tmp/corpus
//   build/fuzz/tests/fuzz/safetensors_fuzz /tmp/corpus tests/fuzz/corpus -max_total_time=3600

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_model.hpp"
#include "scaling/core/error.hpp"
#include "scaling/io/checkpoint.hpp"
#include "scaling/io/json.hpp"
#include "scaling/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace scaling::io;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (size >= 8) {
    // The JSON parser alone, on everything after the length field: a read past the end of its text
    // is then a read past the end of the input, which ASan reports (in a file it would land in the
    // data section unnoticed).
    try {
      (void)parse_json(std::string_view(reinterpret_cast<const char*>(data) + 8, size - 8), "fuzz.safetensors");
    } catch (const scaling::Error&) {
    }
  }
  try {
    (void)parse_file(bytes, "fuzz.safetensors");
  } catch (const scaling::Error&) {
    return 0;  // the in-memory file below would fail in the same parse_file
  }

  const SafeTensorsFile file("fuzz.safetensors", std::vector<std::byte>(bytes.begin(), bytes.end()));
  static scaling::fuzzing::FuzzModel model;  // a few KB of weights, reused by every input
  // Strictly, then tolerating unexpected tensors, then non-finite values too (which the strict
  // loads refuse before they reach prepare()).
  for (const int tolerance : {0, 1, 2}) {
    LoadOptions options;
    options.allow_unexpected = tolerance >= 1;
    options.allow_non_finite = tolerance == 2;
    try {
      load_checkpoint(model, file, options);
    } catch (const scaling::Error&) {
      // Not a checkpoint of this model: fine.
    }
  }
  for (const TensorEntry& t : file.header().tensors) {
    std::vector<float> values(t.elements());  // ≤ the file size: the header checked the offsets
    file.read(t, values);
  }
  return 0;
}
