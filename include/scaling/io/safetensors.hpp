#pragma once
// safetensors files (https://github.com/huggingface/safetensors, format only; no code from it):
//   8 bytes    N, the header length, little-endian unsigned
//   N bytes    a JSON object: "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}
//              per tensor, and optionally "__metadata__": {"key": "value", ...} (strings only)
//   the rest   the data section; tensor bytes [b, e) are relative to its start
// A model file is untrusted input, so the reader enforces every rule and reads nothing outside
// the file:
//   - N ≤ 100 MB and 8 + N ≤ the file size; the header is strict JSON (io/json.hpp) in UTF-8,
//     followed only by spaces (the format's padding)
//   - each entry has exactly dtype, shape and data_offsets; dtype is F32, F16 or BF16 (others
//     are rejected by name); shape holds non-negative integers; data_offsets is [begin, end] with
//     begin ≤ end
//   - element count × dtype size, computed with overflow checks, equals end − begin
//   - sorted by begin, the tensors tile the data section exactly: the first starts at 0, each
//     starts where the previous ends (no gaps, no overlaps) and the last ends at the end of file
//   - __metadata__ maps strings to strings
// Every error is a scaling::Error naming the file, the tensor and what was expected vs found.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaling/core/error.hpp"
#include "scaling/io/json.hpp"

#if defined(__unix__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace scaling::io {

static_assert(sizeof(std::size_t) == 8, "safetensors: offsets and sizes are 64-bit");

enum class DType : std::uint8_t { kF32, kF16, kBF16 };

inline constexpr std::size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }
inline constexpr std::string_view dtype_name(DType t) {
  return t == DType::kF32 ? "F32" : t == DType::kF16 ? "F16" : "BF16";
}

// The header's limit: larger headers are rejected before anything is allocated for them.
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0;  // byte offsets in the data section
  std::size_t end = 0;
  [[nodiscard]] std::size_t elements() const {
    std::size_t n = 1;
    for (std::size_t e : shape) n *= e;  // checked when the entry was parsed
    return n;
  }
};

// A validated header: tensors in file order, metadata, and the data section's size.
struct Header {
  std::vector<TensorEntry> tensors;
  std::map<std::string, std::string> metadata;
  std::size_t data_bytes = 0;

  [[nodiscard]] const TensorEntry* find(std::string_view name) const {
    const auto it = std::find_if(tensors.begin(), tensors.end(), [&](const TensorEntry& t) { return t.name == name; });
    return it == tensors.end() ? nullptr : &*it;
  }
};

namespace detail {

using scaling::detail::fail;

inline DType parse_dtype(std::string_view s, std::string_view file, std::string_view tensor) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  fail(file, ": tensor \"", tensor, "\" has dtype \"", s, "\"; supported are F32, F16, BF16");
}

inline TensorEntry parse_entry(const std::string& name, const Json& j, std::string_view file) {
  const JsonObject* fields = j.object();
  if (fields == nullptr) fail(file, ": tensor \"", name, "\" must be an object");
  const Json* dtype = nullptr;
  const Json* shape = nullptr;
  const Json* offsets = nullptr;
  for (const auto& [key, value] : *fields) {
    if (key == "dtype") {
      dtype = &value;
    } else if (key == "shape") {
      shape = &value;
    } else if (key == "data_offsets") {
      offsets = &value;
    } else {
      fail(file, ": tensor \"", name, "\" has an unexpected field \"", key, "\"");
    }
  }
  if (dtype == nullptr || shape == nullptr || offsets == nullptr) {
    fail(file, ": tensor \"", name, "\" needs dtype, shape and data_offsets");
  }
  TensorEntry t;
  t.name = name;
  if (dtype->string() == nullptr) fail(file, ": tensor \"", name, "\": dtype must be a string");
  t.dtype = parse_dtype(*dtype->string(), file, name);
  if (shape->array() == nullptr) fail(file, ": tensor \"", name, "\": shape must be an array");
  // The element count, with overflow checks; any zero extent makes the tensor empty.
  std::size_t elements = 1;
  bool zero = false;
  bool overflow = false;
  for (const Json& e : *shape->array()) {
    if (e.integer() == nullptr) fail(file, ": tensor \"", name, "\": shape must hold non-negative integers");
    const std::uint64_t n = *e.integer();
    t.shape.push_back(static_cast<std::size_t>(n));  // size_t is 64 bits wide (static_assert below)
    if (n == 0) {
      zero = true;
    } else if (elements > SIZE_MAX / n) {
      overflow = true;
    } else {
      elements *= static_cast<std::size_t>(n);
    }
  }
  if (zero) {
    elements = 0;
  } else if (overflow) {
    fail(file, ": tensor \"", name, "\": the element count of its shape overflows");
  }
  if (elements > SIZE_MAX / dtype_size(t.dtype)) fail(file, ": tensor \"", name, "\": its byte size overflows");
  const JsonArray* o = offsets->array();
  if (o == nullptr || o->size() != 2 || (*o)[0].integer() == nullptr || (*o)[1].integer() == nullptr) {
    fail(file, ": tensor \"", name, "\": data_offsets must be [begin, end]");
  }
  const std::uint64_t begin = *(*o)[0].integer();
  const std::uint64_t end = *(*o)[1].integer();
  if (begin > end) fail(file, ": tensor \"", name, "\": data_offsets [", begin, ", ", end, "] end before they begin");
  const std::uint64_t bytes = static_cast<std::uint64_t>(elements) * dtype_size(t.dtype);
  if (end - begin != bytes) {
    fail(file, ": tensor \"", name, "\": data_offsets [", begin, ", ", end, "] hold ", end - begin,
         " bytes, but ", dtype_name(t.dtype), " of ", elements, " elements needs ", bytes);
  }
  t.begin = static_cast<std::size_t>(begin);  // ≤ the data size, checked by the caller
  t.end = static_cast<std::size_t>(end);
  return t;
}

}  // namespace detail

// Validates a header (its JSON text) for a data section of data_bytes bytes.
inline Header parse_header(std::string_view json, std::uint64_t data_bytes, std::string_view file) {
  using detail::fail;
  // The format pads the header with spaces to align the data; nothing else may follow the JSON.
  const Json doc = parse_json(json, file);
  const JsonObject* root = doc.object();
  if (root == nullptr) fail(file, ": the header must be a JSON object");
  Header h;
  h.data_bytes = static_cast<std::size_t>(data_bytes);
  for (const auto& [key, value] : *root) {
    if (key == "__metadata__") {
      const JsonObject* meta = value.object();
      if (meta == nullptr) fail(file, ": __metadata__ must be an object of strings");
      for (const auto& [mk, mv] : *meta) {
        if (mv.string() == nullptr) fail(file, ": __metadata__ \"", mk, "\" must be a string");
        h.metadata.emplace(mk, *mv.string());
      }
      continue;
    }
    h.tensors.push_back(detail::parse_entry(key, value, file));
  }
  std::vector<const TensorEntry*> order;
  for (const auto& t : h.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t at = 0;
  for (const TensorEntry* t : order) {
    if (t->begin < at) fail(file, ": tensor \"", t->name, "\" starts at byte ", t->begin, ", inside the previous tensor (which ends at ", at, ")");
    if (t->begin > at) fail(file, ": tensor \"", t->name, "\" starts at byte ", t->begin, ", leaving a gap after byte ", at);
    at = t->end;
  }
  if (at != data_bytes) {
    fail(file, ": the tensors end at data byte ", at, " but the data section holds ", data_bytes, " bytes");
  }
  return h;
}

// Splits a whole file's bytes into its validated header and data section.
inline Header parse_file(std::span<const std::byte> bytes, std::string_view file) {
  using detail::fail;
  if (bytes.size() < 8) fail(file, ": ", bytes.size(), " bytes is too short for a safetensors file (at least 8)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
  if (n > kMaxHeaderBytes) fail(file, ": header length ", n, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  if (n > bytes.size() - 8) fail(file, ": header length ", n, " runs past the end of the file (", bytes.size(), " bytes)");
  const std::string_view json(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n));
  std::size_t end = json.size();
  while (end > 0 && json[end - 1] == ' ') --end;  // padding
  return parse_header(json.substr(0, end), bytes.size() - 8 - n, file);
}

// Converts elements of a stored dtype to float. F16 follows IEEE binary16 (subnormals, inf, NaN);
// BF16 is the top half of a float.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000U) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1FU;
  const std::uint32_t mant = h & 0x3FFU;
  std::uint32_t bits = 0;
  if (exp == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    const float v = static_cast<float>(mant) * 0x1p-24F;  // subnormal: mant · 2^-24
    return (sign != 0U) ? -v : v;
  }
  bits = exp == 31 ? sign | 0x7F800000U | (mant << 13) : sign | ((exp + 112) << 23) | (mant << 13);
  return std::bit_cast<float>(bits);
}

inline void convert_to_float(DType t, const std::byte* src, std::size_t n, float* dst) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(src) + i * dtype_size(t);
    if (t == DType::kF32) {
      const std::uint32_t bits = std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
      dst[i] = std::bit_cast<float>(bits);
    } else {
      const auto half = static_cast<std::uint16_t>(p[0] | p[1] << 8);
      dst[i] = t == DType::kF16 ? half_to_float(half) : std::bit_cast<float>(std::uint32_t{half} << 16);
    }
  }
}

namespace detail {

// n little-endian words of type Bits at p: the index of the first one whose bits under `mask` are
// all set, or n. Blocks of a constant 256 words without a branch inside, which GCC 12 vectorises
// at -O2 and -O3 (0.7–0.8 of the read probe; a tensor with such a word is rare).
template <class Bits>
inline std::size_t first_all_set(const unsigned char* p, std::size_t n, Bits mask) {
  const auto word = [&](std::size_t i) {
    const unsigned char* w = p + i * sizeof(Bits);
    Bits v = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, w, sizeof(Bits));  // vectorised; the byte loop below is not
    } else {
      for (std::size_t k = 0; k < sizeof(Bits); ++k)
        v = static_cast<Bits>(v | Bits{w[k]} << (8 * k));
    }
    return v;
  };
  const auto first_in = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      if ((word(i) & mask) == mask) return i;
    }
    return n;
  };
  constexpr std::size_t kBlock = 256;
  std::size_t i0 = 0;
  for (; i0 + kBlock <= n; i0 += kBlock) {
    unsigned hits = 0;
    for (std::size_t i = 0; i < kBlock; ++i) hits |= (word(i0 + i) & mask) == mask ? 1U : 0U;
    if (hits != 0) return first_in(i0, i0 + kBlock);
  }
  return first_in(i0, n);
}

}  // namespace detail

// The index of a stored tensor's first element that is NaN or ±infinity (all exponent bits set,
// in each of the three dtypes), or `n` if all n elements are finite.
inline std::size_t first_non_finite(DType t, const std::byte* src, std::size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(src);
  if (t == DType::kF32) return detail::first_all_set<std::uint32_t>(p, n, 0x7F800000U);
  return detail::first_all_set<std::uint16_t>(p, n, t == DType::kF16 ? 0x7C00U : 0x7F80U);
}

namespace detail {
struct Unmap {
  std::size_t size = 0;
  void operator()(std::byte* p) const {
#if defined(__unix__)
    ::munmap(p, size);
#endif
  }
};
}  // namespace detail

// An open safetensors file: its validated header and the bytes of its data section, either
// mapped read-only (Mode::kMap) or read into memory (Mode::kRead).
class SafeTensorsFile {
 public:
  enum class Mode : std::uint8_t { kMap, kRead };

  explicit SafeTensorsFile(const std::string& path, Mode mode = Mode::kMap) : path_(path) {
    using detail::fail;
#if defined(__unix__)
    if (mode == Mode::kMap) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail(path, ": cannot open");
      struct stat st {};
      if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, ": not a regular file");
      }
      const auto size = static_cast<std::size_t>(st.st_size);
      if (size > 0) {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) fail(path, ": cannot map ", size, " bytes");
        map_ = {static_cast<std::byte*>(p), detail::Unmap{size}};
        bytes_ = {map_.get(), size};
      } else {
        ::close(fd);
      }
      header_ = parse_file(bytes_, path_);
      return;
    }
#endif
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail(path, ": cannot open");
    std::error_code error;  // (a directory opens, and reports a size of 2^63 − 1)
    if (!std::filesystem::is_regular_file(path, error)) fail(path, ": not a regular file");
    const auto size = static_cast<std::streamoff>(in.tellg());
    if (size < 0) fail(path, ": cannot read its size");
    copy_.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(copy_.data()), size)) fail(path, ": cannot read ", size, " bytes");
    bytes_ = copy_;
    header_ = parse_file(bytes_, path_);
  }

  // A whole file's bytes already in memory (stored as Mode::kRead does); name is used in errors.
  SafeTensorsFile(std::string name, std::vector<std::byte> bytes)
      : path_(std::move(name)), copy_(std::move(bytes)), bytes_(copy_), header_(parse_file(bytes_, path_)) {}

  [[nodiscard]] const Header& header() const { return header_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  // A tensor's stored bytes (within the file: the header checked the offsets).
  [[nodiscard]] std::span<const std::byte> bytes(const TensorEntry& t) const {
    return bytes_.subspan(bytes_.size() - header_.data_bytes + t.begin, t.end - t.begin);
  }

  // Copies a tensor into out as floats; out must hold exactly its element count.
  void read(const TensorEntry& t, std::span<float> out) const {
    scaling::detail::require(out.size() == t.elements(), path_, ": tensor \"", t.name, "\" has ", t.elements(),
                             " elements, the destination holds ", out.size());
    convert_to_float(t.dtype, bytes(t).data(), out.size(), out.data());
  }

 private:
  std::string path_;
  std::unique_ptr<std::byte, detail::Unmap> map_;
  std::vector<std::byte> copy_;
  std::span<const std::byte> bytes_;
  Header header_;
};

// Writes F32 tensors and string metadata as a safetensors file (header padded with spaces to a
// multiple of 8 bytes, tensors in the order added).
class SafeTensorsWriter {
 public:
  // Adds a copy of values.
  void add(std::string name, std::vector<std::size_t> shape, std::span<const float> values) {
    copies_.emplace_back(values.begin(), values.end());  // moving a vector keeps its buffer
    add_view(std::move(name), std::move(shape), copies_.back());
  }
  // Adds values without a copy (a model's weights): they must stay unchanged until written.
  // Whatever the writer accepts, SafeTensorsFile reads back.
  void add_view(std::string name, std::vector<std::size_t> shape, std::span<const float> values) {
    using scaling::detail::require;
    check_text(name, "tensor name");
    require(name != "__metadata__", "safetensors writer: \"__metadata__\" cannot name a tensor");
    std::size_t n = 1;
    for (std::size_t e : shape) {
      require(e == 0 || n <= SIZE_MAX / 4 / e, "safetensors writer: tensor \"", name,
              "\": the byte count of its shape overflows");
      n *= e;
    }
    require(n == values.size(), "safetensors writer: tensor \"", name, "\" has shape of ", n,
            " elements but ", values.size(), " values");
    require(names_.emplace(name, true).second, "safetensors writer: duplicate tensor \"", name,
            "\"");
    tensors_.push_back({std::move(name), std::move(shape), values});
  }
  void metadata(std::string key, std::string value) {
    check_text(key, "metadata key");
    check_text(value, "metadata value");
    metadata_[std::move(key)] = std::move(value);
  }

  // The whole file in memory.
  [[nodiscard]] std::vector<std::byte> bytes() const {
    std::vector<std::byte> out;
    emit([&](const void* p, std::size_t n) {
      const auto* b = static_cast<const std::byte*>(p);
      out.insert(out.end(), b, b + n);
    });
    return out;
  }

  // Streams the file to path: nothing is staged in memory but the header. The bytes go to
  // path + ".partial", renamed to path once complete, so a reader never sees a half-written file,
  // and one that maps the old file at path (SafeTensorsFile's kMap, e.g. the checkpoint the
  // weights being saved came from) keeps reading the old contents: truncating a mapped file in
  // place would kill it with SIGBUS.
  void write(const std::string& path) const {
    const std::string partial = path + ".partial";
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    scaling::detail::require(static_cast<bool>(out), partial, ": cannot write");
    emit([&](const void* p, std::size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); });
    out.close();
    std::error_code error;
    if (out) std::filesystem::rename(partial, path, error);
    if (!out || error) {
      std::filesystem::remove(partial, error);
      scaling::detail::fail(path, ": cannot write");
    }
  }

 private:
  // Hands the file's bytes, in order, to sink(pointer, count).
  template <class Sink>
  void emit(Sink sink) const {
    std::string json = "{";
    bool first = true;
    const auto sep = [&] {
      if (!first) json += ',';
      first = false;
    };
    if (!metadata_.empty()) {
      sep();
      json += "\"__metadata__\":{";
      bool first_meta = true;
      for (const auto& [k, v] : metadata_) {
        if (!first_meta) json += ',';
        first_meta = false;
        json += quote(k);
        json += ':';
        json += quote(v);
      }
      json += '}';
    }
    std::size_t at = 0;
    for (const auto& t : tensors_) {
      sep();
      json += quote(t.name);
      json += ":{\"dtype\":\"F32\",\"shape\":[";
      for (std::size_t i = 0; i < t.shape.size(); ++i) {
        if (i != 0) json += ',';
        json += std::to_string(t.shape[i]);
      }
      json += "],\"data_offsets\":[";
      json += std::to_string(at);
      json += ',';
      json += std::to_string(at + 4 * t.values.size());
      json += "]}";
      at += 4 * t.values.size();
    }
    json += '}';
    while (json.size() % 8 != 0) json += ' ';
    std::array<unsigned char, 8> length{};
    for (std::size_t i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>((json.size() >> (8 * i)) & 0xFF);
    sink(length.data(), length.size());
    sink(json.data(), json.size());
    // Values little-endian, in blocks so a big tensor needs no second copy.
    std::array<unsigned char, 4 * 4096> block{};
    for (const auto& t : tensors_) {
      for (std::size_t begin = 0; begin < t.values.size(); begin += block.size() / 4) {
        const std::size_t n = std::min(block.size() / 4, t.values.size() - begin);
        for (std::size_t i = 0; i < n; ++i) {
          const auto bits = std::bit_cast<std::uint32_t>(t.values[begin + i]);
          for (std::size_t b = 0; b < 4; ++b) block[4 * i + b] = static_cast<unsigned char>((bits >> (8 * b)) & 0xFF);
        }
        sink(block.data(), 4 * n);
      }
    }
  }

  // The reader requires UTF-8 (io/json.hpp).
  static void check_text(std::string_view text, const char* what) {
    scaling::detail::require(detail::valid_utf8(text), "safetensors writer: a ", what,
                             " is not valid UTF-8");
  }

  static std::string quote(std::string_view s) {
    std::string q = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        q += '\\';
        q += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        constexpr char kHex[] = "0123456789abcdef";
        q += "\\u00";
        q += kHex[(c >> 4) & 0xF];
        q += kHex[c & 0xF];
      } else {
        q += c;
      }
    }
    return q + '"';
  }
  struct Entry {
    std::string name;
    std::vector<std::size_t> shape;
    std::span<const float> values;  // into copies_ or the caller's memory
  };
  std::vector<Entry> tensors_;
  std::vector<std::vector<float>> copies_;
  std::map<std::string, bool> names_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace scaling::io
