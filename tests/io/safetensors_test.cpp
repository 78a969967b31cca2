// The safetensors reader and writer: round trips, dtype conversion, and a suite of malformed files,
// each of which must give a clean scaling::Error that says what is wrong (and, under ASan+UBSan,
// no memory error).

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "scaling/io/safetensors.hpp"

namespace {

using namespace scaling;
using namespace scaling::io;

std::vector<std::byte> with_header(const std::string& json, std::size_t data_bytes, std::uint64_t length_field) {
  std::vector<std::byte> out(8 + json.size() + data_bytes, std::byte{0x11});
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((length_field >> (8 * i)) & 0xFF);
  std::memcpy(out.data() + 8, json.data(), json.size());
  return out;
}
std::vector<std::byte> file(const std::string& json, std::size_t data_bytes) {
  return with_header(json, data_bytes, json.size());
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    (void)parse_file(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define CHECK_REJECTS(bytes, text)                        \
  do {                                                    \
    const std::string message = error_of(bytes);          \
    CAPTURE(message);                                     \
    CHECK(message.find("bad.safetensors") != std::string::npos); \
    CHECK(message.find(text) != std::string::npos);       \
  } while (false)

std::filesystem::path temp_file(const char* name) {
  return std::filesystem::temp_directory_path() / (std::string("scaling_test_") + name);
}

TEST_CASE("safetensors: write, then read back in both modes") {
  SafeTensorsWriter w;
  const std::vector<float> a{1.0F, -2.5F, 3.25F, 0.0F, 1e-30F, -7.0F};
  const std::vector<float> b{42.0F};
  w.add("layer.w", {2, 3}, a);
  w.add("layer \"b\"", {1}, b);
  w.add("empty", {0, 4}, {});
  w.metadata("model", "tiny");
  w.metadata("note", "tab\there");
  const auto path = temp_file("roundtrip.safetensors");
  w.write(path.string());
  for (auto mode : {SafeTensorsFile::Mode::kMap, SafeTensorsFile::Mode::kRead}) {
    const SafeTensorsFile f(path.string(), mode);
    const Header& h = f.header();
    REQUIRE(h.tensors.size() == 3);
    CHECK(h.metadata.at("model") == "tiny");
    CHECK(h.metadata.at("note") == "tab\there");
    const TensorEntry* t = h.find("layer.w");
    REQUIRE(t != nullptr);
    CHECK(t->shape == std::vector<std::size_t>{2, 3});
    std::vector<float> got(6);
    f.read(*t, got);
    CHECK(got == a);
    REQUIRE(h.find("layer \"b\"") != nullptr);
    std::vector<float> one(1);
    f.read(*h.find("layer \"b\""), one);
    CHECK(one == b);
    CHECK(h.find("empty")->elements() == 0);
    std::vector<float> wrong(5);
    CHECK_THROWS_WITH_AS(f.read(*t, wrong), doctest::Contains("destination holds 5"), Error);
  }
  std::filesystem::remove(path);
}

TEST_CASE("safetensors: F16 and BF16 are converted to float") {
  // F16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), +inf, negative subnormals and zero
  // (-2^-24, -1023 · 2^-24, -0), a NaN and -inf; BF16: 1, -0.5.
  const std::uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00,
                               0x8001, 0x83FF, 0x8000, 0x7E00, 0xFC00};
  const std::uint16_t bf16[] = {0x3F80, 0xBF00};
  const std::string json = R"({"h":{"dtype":"F16","shape":[10],"data_offsets":[0,20]},)"
                           R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]}})";
  auto bytes = file(json, 24);
  std::memcpy(bytes.data() + 8 + json.size(), f16, 20);  // little-endian host
  std::memcpy(bytes.data() + 8 + json.size() + 20, bf16, 4);
  const auto path = temp_file("halves.safetensors");
  {
    std::FILE* out = std::fopen(path.string().c_str(), "wb");
    REQUIRE(out != nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), out);
    std::fclose(out);
  }
  const SafeTensorsFile f(path.string());
  std::vector<float> h(10);
  f.read(*f.header().find("h"), h);
  CHECK(h[0] == 1.0F);
  CHECK(h[1] == -2.0F);
  CHECK(h[2] == 65504.0F);
  CHECK(h[3] == 0x1p-24F);
  CHECK(h[4] == std::numeric_limits<float>::infinity());
  CHECK(h[5] == -0x1p-24F);
  CHECK(h[6] == -1023 * 0x1p-24F);
  CHECK(h[7] == 0.0F);
  CHECK(std::signbit(h[7]));
  CHECK(std::isnan(h[8]));
  CHECK(h[9] == -std::numeric_limits<float>::infinity());
  std::vector<float> b(2);
  f.read(*f.header().find("b"), b);
  CHECK(b == std::vector<float>{1.0F, -0.5F});
  std::filesystem::remove(path);
}

TEST_CASE("safetensors: first_non_finite finds the first NaN or infinity in each dtype") {
  // Finite words at the edges: the largest finite value, the smallest subnormal, -0; then NaN or
  // an infinity at the ends of the branch-free blocks of 256 words.
  const auto check = [](DType t, std::vector<std::uint32_t> finite,
                        std::vector<std::uint32_t> bad) {
    CAPTURE(dtype_name(t));
    const std::size_t size = dtype_size(t);
    for (const std::size_t n : {1U, 255U, 256U, 257U, 1000U}) {
      std::vector<std::byte> data(n * size);
      const auto put = [&](std::vector<std::byte>& to, std::size_t i, std::uint32_t bits) {
        for (std::size_t k = 0; k < size; ++k)
          to[i * size + k] = static_cast<std::byte>(bits >> (8 * k));
      };
      for (std::size_t i = 0; i < n; ++i) put(data, i, finite[i % finite.size()]);
      CHECK(first_non_finite(t, data.data(), n) == n);
      for (const std::size_t at : {std::size_t{0}, std::size_t{255}, std::size_t{256}, n - 1}) {
        if (at >= n) continue;
        for (const std::uint32_t bits : bad) {
          CAPTURE(at);
          CAPTURE(bits);
          auto copy = data;
          put(copy, at, bits);
          if (at + 1 < n) put(copy, n - 1, bad.front());  // a later one does not count
          CHECK(first_non_finite(t, copy.data(), n) == at);
        }
      }
    }
  };
  check(DType::kF32, {0x7F7FFFFFU, 0xFF7FFFFFU, 0x00000001U, 0x80000000U, 0x3F800000U},
        {0x7FC00000U, 0xFFFFFFFFU, 0x7F800000U, 0xFF800000U, 0x7F800001U});
  check(DType::kF16, {0x7BFFU, 0xFBFFU, 0x0001U, 0x8000U, 0x3C00U},
        {0x7E00U, 0xFFFFU, 0x7C00U, 0xFC00U, 0x7C01U});
  check(DType::kBF16, {0x7F7FU, 0xFF7FU, 0x0001U, 0x8000U, 0x3F80U},
        {0x7FC0U, 0xFFFFU, 0x7F80U, 0xFF80U, 0x7F81U});
}

TEST_CASE("safetensors: a file cut at any byte is rejected") {
  SafeTensorsWriter w;
  w.add("x", {3}, std::vector<float>{1, 2, 3});
  w.metadata("k", "v");
  const std::vector<std::byte> whole = w.bytes();
  REQUIRE(error_of(whole) == "(no error)");
  std::uint64_t header = 0;  // the length field
  for (std::size_t i = 0; i < 8; ++i) header |= std::to_integer<std::uint64_t>(whole[i]) << (8 * i);
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    CAPTURE(cut);
    const std::vector<std::byte> part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    // Before the header's end, the length check must catch it (nothing parsed past the end).
    const char* expected = cut < 8 ? "too short" : cut < 8 + header ? "runs past the end" : "";
    CHECK_REJECTS(part, expected);
  }
}

const std::string kX = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

TEST_CASE("safetensors: malformed lengths and offsets are rejected") {
  CHECK_REJECTS(std::vector<std::byte>(5), "too short");
  CHECK_REJECTS(with_header("{" + kX + "}", 8, 1000), "runs past the end");
  for (std::uint64_t over = 1; over <= 8; ++over) {  // a header 1 to 8 bytes longer than the file
    CAPTURE(over);
    CHECK_REJECTS(with_header("{" + kX + "}", 0, kX.size() + 2 + over), "runs past the end");
  }
  CHECK_REJECTS(with_header("{}", 0, 100'000'001), "exceeds the limit");
  CHECK_REJECTS(with_header("{}", 0, ~std::uint64_t{0}), "exceeds the limit");
  CHECK_REJECTS(file("{" + kX + "}", 12), "data section holds 12");  // trailing bytes
  CHECK_REJECTS(file("{" + kX + "}", 4), "data section holds 4");    // data cut short
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                "inside the previous tensor");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
                "leaving a gap");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "leaving a gap");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), "end before they begin");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12");
  CHECK_REJECTS(file(R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", 8), "needs 4");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8), "overflows");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8), "byte size overflows");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8), "must be [begin, end]");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8), "bytes, but F32");
}

TEST_CASE("safetensors: malformed entries and metadata are rejected") {
  CHECK_REJECTS(file(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8), "dtype \"I64\"; supported are");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8), "dtype \"F64\"");
  CHECK_REJECTS(file(R"({"x":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8), "dtype must be a string");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8), "shape must be an array");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8), "non-negative integers");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":"1"}})", 8), "unexpected field \"extra\"");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2]}})", 8), "needs dtype, shape and data_offsets");
  CHECK_REJECTS(file(R"({"x":[1,2]})", 8), "must be an object");
  CHECK_REJECTS(file(R"({"__metadata__":{"k":1},)" + kX + "}", 8), "__metadata__ \"k\" must be a string");
  CHECK_REJECTS(file(R"({"__metadata__":{"k":["v"]},)" + kX + "}", 8), "must be a string");
  CHECK_REJECTS(file(R"({"__metadata__":"v",)" + kX + "}", 8), "__metadata__ must be an object");
  CHECK_REJECTS(file(R"([{"dtype":"F32","shape":[2],"data_offsets":[0,8]}])", 8), "must be a JSON object");
}

TEST_CASE("safetensors: malformed JSON is rejected") {
  CHECK_REJECTS(file("{" + kX + "," + kX + "}", 8), "duplicate key \"x\"");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "duplicate key \"dtype\"");
  CHECK_REJECTS(file("{" + kX, 8), "expected '}'");
  CHECK_REJECTS(file("{" + kX + "}x", 8), "unexpected bytes after");
  CHECK_REJECTS(file("", 0), "unexpected end");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "expected an object, array");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "only non-negative integers");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", 8), "leading zeros");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", 8), "64 bits");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":null})", 8), "expected an object, array");
  CHECK_REJECTS(file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":true})", 8), "expected an object, array");
  CHECK_REJECTS(file("{\"\xff\":1}", 0), "not valid UTF-8");
  CHECK_REJECTS(file("{\"\xc0\xaf\":1}", 0), "not valid UTF-8");      // overlong '/'
  CHECK_REJECTS(file("{\"\xed\xa0\x80\":1}", 0), "not valid UTF-8");  // a UTF-16 surrogate
  CHECK_REJECTS(file("{\"a\nb\":1}", 0), "control character");
  CHECK_REJECTS(file(R"({"a\x":1})", 0), "unknown escape");
  CHECK_REJECTS(file(R"({"a\ud800":1})", 0), "unpaired high surrogate");
  CHECK_REJECTS(file(R"({"a\udc00":1})", 0), "unpaired low surrogate");
  CHECK_REJECTS(file(R"({"a\u12":1})", 0), "hex digit");
  CHECK_REJECTS(file(R"({"a":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]})", 0), "nested too deeply");
  CHECK_REJECTS(file(R"({"a" 1})", 0), "expected ':'");
  CHECK_REJECTS(file(R"({,})", 0), "expected a string key");
  CHECK_REJECTS(file("{\"x\":\"unterminated", 0), "unterminated string");
}

TEST_CASE("safetensors: the header's JSON values are bounded, at 2^20") {
  // {"a":[0,0,…]}: the object, the array and n integers.
  const auto doc = [](std::size_t n) {
    std::string json = R"({"a":[)";
    for (std::size_t i = 0; i < n; ++i) json += i == 0 ? "0" : ",0";
    return json + "]}";
  };
  constexpr std::size_t kMax = std::size_t{1} << 20;
  const Json at_limit = parse_json(doc(kMax - 2), "limit.json");
  const JsonObject* top = at_limit.object();
  REQUIRE(top != nullptr);
  REQUIRE(top->size() == 1);
  const JsonArray* a = (*top)[0].value.array();
  REQUIRE(a != nullptr);
  CHECK(a->size() == kMax - 2);
  CHECK_THROWS_WITH_AS(parse_json(doc(kMax - 1), "over.json"),
                       doctest::Contains("more than 1048576 JSON values"), Error);
}

TEST_CASE("safetensors: escapes and padding that the format allows are accepted") {
  const std::string json = R"({"__metadata__":{"k\u00e9\ud83d\ude00":"a\"b\\c\/"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    )";
  const Header h = parse_file(file(json, 8), "ok.safetensors");
  CHECK(h.metadata.at("k\xc3\xa9\xf0\x9f\x98\x80") == "a\"b\\c/");
  CHECK(h.find("x") != nullptr);
  // Escapes of U+0800 … U+FFFF become three bytes of UTF-8.
  const Json three = parse_json(R"({"\u20ac\u0800\uffff":1})", "t");
  REQUIRE(three.object() != nullptr);
  CHECK((*three.object())[0].key == "\xE2\x82\xAC\xE0\xA0\x80\xEF\xBF\xBF");
}

TEST_CASE("safetensors: missing and empty files are clean errors in both modes") {
  for (auto mode : {SafeTensorsFile::Mode::kMap, SafeTensorsFile::Mode::kRead}) {
    CHECK_THROWS_WITH_AS(SafeTensorsFile("/nonexistent/x.safetensors", mode), doctest::Contains("cannot open"), Error);
    const auto path = temp_file("empty.safetensors");
    { std::FILE* out = std::fopen(path.string().c_str(), "wb"); REQUIRE(out != nullptr); std::fclose(out); }
    CHECK_THROWS_WITH_AS(SafeTensorsFile(path.string(), mode), doctest::Contains("too short"), Error);
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(SafeTensorsFile(std::filesystem::temp_directory_path().string(), mode),
                         doctest::Contains("not a regular file"), Error);
  }
}

TEST_CASE("safetensors: the writer refuses what the reader would reject") {
  SafeTensorsWriter w;
  const std::vector<float> none;
  CHECK_THROWS_WITH_AS(w.add("__metadata__", {0}, none),
                       "scaling: safetensors writer: \"__metadata__\" cannot name a tensor", Error);
  CHECK_THROWS_WITH_AS(w.add("bad\xff", {0}, none),
                       "scaling: safetensors writer: a tensor name is not valid UTF-8", Error);
  CHECK_THROWS_WITH_AS(
      w.add("huge", {std::size_t{1} << 62, 4}, none),
      "scaling: safetensors writer: tensor \"huge\": the byte count of its shape overflows", Error);
  CHECK_THROWS_WITH_AS(w.metadata("k\xc3", "v"),
                       "scaling: safetensors writer: a metadata key is not valid UTF-8", Error);
  CHECK_THROWS_WITH_AS(w.metadata("k", "\xed\xa0\x80"),
                       "scaling: safetensors writer: a metadata value is not valid UTF-8", Error);
  w.add("caf\xc3\xa9", {2, 0}, none);  // what it accepts reads back
  w.metadata("\xf0\x9f\x98\x80", "ok");
  const std::vector<std::byte> bytes = w.bytes();
  const Header h = parse_file(bytes, "written.safetensors");
  CHECK(h.find("caf\xc3\xa9") != nullptr);
  CHECK(h.metadata.at("\xf0\x9f\x98\x80") == "ok");
}

}  // namespace
