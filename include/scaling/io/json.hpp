#pragma once
// A strict parser for the JSON a safetensors header may hold: objects, arrays, strings and
// non-negative integers, nothing else (no floats, negatives, true / false / null). The input is
// untrusted: every byte is checked, UTF-8 must be valid, duplicate keys are errors, nesting and
// the number of values are bounded, integers must fit in 64 bits, and nothing is read past the
// end of the input.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "scaling/core/error.hpp"

namespace scaling::io {

// Object members are a struct, not std::pair, and Json's accessors are defined once JsonMember is
// complete: with std::pair<std::string, Json>, Clang 14 with libstdc++ 12 (C++20) fails to compile
// this recursive variant (its constexpr destructors are instantiated while the pair is incomplete).
struct Json;
struct JsonMember;
using JsonObject = std::vector<JsonMember>;  // keys unique, in file order
using JsonArray = std::vector<Json>;

struct Json {
  std::variant<std::uint64_t, std::string, JsonArray, JsonObject> value;

  [[nodiscard]] const std::string* string() const;
  [[nodiscard]] const std::uint64_t* integer() const;
  [[nodiscard]] const JsonArray* array() const;
  [[nodiscard]] const JsonObject* object() const;
};

struct JsonMember {
  std::string key;
  Json value;
};

inline const std::string* Json::string() const { return std::get_if<std::string>(&value); }
inline const std::uint64_t* Json::integer() const { return std::get_if<std::uint64_t>(&value); }
inline const JsonArray* Json::array() const { return std::get_if<JsonArray>(&value); }
inline const JsonObject* Json::object() const { return std::get_if<JsonObject>(&value); }

namespace detail {

// Whether text is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
inline bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned c = *p;
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++p;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= extra) return false;
    for (std::size_t i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

class JsonParser {
 public:
  JsonParser(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  Json document() {
    if (!valid_utf8(text_)) fail_here("the header is not valid UTF-8");
    skip_space();
    Json j = value(0);
    skip_space();
    if (at_ < text_.size()) fail_here("unexpected bytes after the JSON value");
    return j;
  }

 private:
  static constexpr std::size_t kMaxDepth = 16;  // safetensors needs 3
  // A parsed value takes 40 bytes in an array and ~140 in an object (with its key and the key
  // index) where its text may take 2 ("0,"): without a bound, a header of 100 MB of small values
  // parsed into ~3 GB. A tensor's entry is about 9 values, so this allows 100,000 tensors, and
  // the parse of any header takes at most ~0.25 GB (2^20 object members: 150 MB, plus strings).
  static constexpr std::size_t kMaxValues = std::size_t{1} << 20;

  [[noreturn]] void fail_here(std::string_view what) const {
    scaling::detail::fail(where_, ": ", what, " (header byte ", at_, ")");
  }

  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) ++at_;
  }

  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

  void expect(char c) {
    if (peek() != c || at_ >= text_.size()) fail_here(std::string("expected '") + c + "'");
    ++at_;
  }

  Json value(std::size_t depth) {
    if (depth > kMaxDepth) fail_here("JSON nested too deeply");
    if (++values_ > kMaxValues) {
      fail_here("the header holds more than " + std::to_string(kMaxValues) + " JSON values");
    }
    const char c = peek();
    if (at_ >= text_.size()) fail_here("unexpected end of the header");
    if (c == '{') return {object(depth)};
    if (c == '[') return {array(depth)};
    if (c == '"') return {string()};
    if (c >= '0' && c <= '9') return {integer()};
    fail_here("expected an object, array, string or non-negative integer");
  }

  JsonObject object(std::size_t depth) {
    expect('{');
    JsonObject members;
    std::map<std::string, bool, std::less<>> seen;
    skip_space();
    if (peek() == '}' && at_ < text_.size()) {
      ++at_;
      return members;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') fail_here("expected a string key");
      std::string key = string();
      if (!seen.emplace(key, true).second) fail_here("duplicate key \"" + key + "\"");
      skip_space();
      expect(':');
      skip_space();
      Json v = value(depth + 1);
      members.push_back({std::move(key), std::move(v)});
      skip_space();
      if (peek() == ',' && at_ < text_.size()) {
        ++at_;
        continue;
      }
      expect('}');
      return members;
    }
  }

  JsonArray array(std::size_t depth) {
    expect('[');
    JsonArray items;
    skip_space();
    if (peek() == ']' && at_ < text_.size()) {
      ++at_;
      return items;
    }
    for (;;) {
      skip_space();
      items.push_back(value(depth + 1));
      skip_space();
      if (peek() == ',' && at_ < text_.size()) {
        ++at_;
        continue;
      }
      expect(']');
      return items;
    }
  }

  std::uint64_t integer() {
    if (peek() == '0' && at_ + 1 < text_.size() && text_[at_ + 1] >= '0' && text_[at_ + 1] <= '9') {
      fail_here("integers must not have leading zeros");
    }
    std::uint64_t n = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[at_] - '0');
      if (n > (UINT64_MAX - digit) / 10) fail_here("integer does not fit in 64 bits");
      n = n * 10 + digit;
      ++at_;
    }
    const char c = peek();
    if (at_ < text_.size() && (c == '.' || c == 'e' || c == 'E')) fail_here("only non-negative integers are allowed");
    return n;
  }

  unsigned hex4() {
    if (text_.size() - at_ < 4) fail_here("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[at_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail_here("bad hex digit in a \\u escape");
      }
    }
    return v;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_ >= text_.size()) fail_here("unterminated string");
      const char c = text_[at_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail_here("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) fail_here("unterminated escape");
      const char e = text_[at_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_here("unpaired low surrogate in a \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.size() - at_ < 2 || text_[at_] != '\\' || text_[at_ + 1] != 'u') {
              fail_here("unpaired high surrogate in a \\u escape");
            }
            at_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_here("bad low surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_here("unknown escape in a string");
      }
    }
  }

  std::string_view text_;
  std::string_view where_;
  std::size_t at_ = 0;
  std::size_t values_ = 0;  // parsed so far
};

}  // namespace detail

// Parses text as one strict JSON value; errors name `where` (e.g. the file) and the byte offset.
inline Json parse_json(std::string_view text, std::string_view where) {
  return detail::JsonParser(text, where).document();
}

}  // namespace scaling::io
