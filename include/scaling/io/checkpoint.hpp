#pragma once
// Checkpoints of a compiled model as safetensors files. Tensor names are the model's weight names
// (the dotted paths its `visit` lists: "decoder.layers.3.attn.q.w"), shapes are the compile-time
// extents, and __metadata__ records the shape config:
//   "scaling.format" = "1"          (a file with another format is refused)
//   "scaling.dims"   = "d_model=1024,d_ff=4096,n_heads=16,d_head=64,vocab=32000,max_len=512"
//   "scaling.model"  = a name the caller gives (optional; checked when both sides give one)
// Loading checks everything before it writes a single weight: every expected tensor is present
// with exactly its shape and finite values (unless allowed), there is no tensor the model does not
// have (unless allowed), and the dims match. Errors name the file, the tensor, and what was
// expected versus found.

#include <cmath>
#include <cstddef>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scaling/core/dims.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/io/safetensors.hpp"

namespace scaling::io {

inline std::string dims_string(const Dims& d) {
  std::ostringstream s;
  s << "d_model=" << d.d_model << ",d_ff=" << d.d_ff << ",n_heads=" << d.n_heads << ",d_head=" << d.head_width()
    << ",vocab=" << d.vocab << ",max_len=" << d.max_len;
  return s.str();
}

struct LoadOptions {
  std::string model_name;           // if both this and the file name a model, they must agree
  bool allow_unexpected = false;    // tolerate tensors the model does not have
  // Load NaN and ±infinity as they are. Refused by default: a NaN weight turns every logit it
  // reaches into NaN, and decode then fails only later, in greedy or sampling.
  bool allow_non_finite = false;
};

namespace detail {

template <class Fn>
struct EachTensor : scaling::detail::NamedVisitor {
  Fn fn;
  explicit EachTensor(Fn f) : fn(std::move(f)) {}
  template <std::size_t... E>
  void tensor(std::string_view leaf, Tensor<E...>& t, Init /*init*/) {
    fn(name(leaf), std::vector<std::size_t>{E...}, std::span<float>(t.data, t.kSize));
  }
};

inline std::string shape_string(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

// Element `flat` of a tensor of `shape` as an index, "(i, j, …)".
inline std::string index_string(const std::vector<std::size_t>& shape, std::size_t flat) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_string(index);
}

}  // namespace detail

// Writes every weight of `model` (F32) with the metadata above.
template <class Model>
void save_checkpoint(const Model& model, const std::string& path, const std::string& model_name = {}) {
  scaling::detail::require(model.weight_bytes() > 0, path,
                           ": cannot save a model that was moved from");
  SafeTensorsWriter w;
  auto views = model.weights();  // a copy of the views: visit() takes them by reference
  detail::EachTensor each([&](std::string name, std::vector<std::size_t> shape, std::span<float> values) {
    w.add_view(std::move(name), std::move(shape), values);
  });
  views.visit(each);
  w.metadata("scaling.format", "1");
  w.metadata("scaling.dims", dims_string(Model::kDims));
  if (!model_name.empty()) w.metadata("scaling.model", model_name);
  w.write(path);
}

// Loads an open `file` into `model`'s weights after checking the whole file against the model.
template <class Model>
void load_checkpoint(Model& model, const SafeTensorsFile& file, const LoadOptions& options = {}) {
  using scaling::detail::fail;
  const std::string& path = file.path();
  scaling::detail::require(model.weight_bytes() > 0, path,
                           ": cannot load into a model that was moved from");
  const Header& h = file.header();
  const auto meta = [&](const char* key) -> const std::string* {
    const auto it = h.metadata.find(key);
    return it == h.metadata.end() ? nullptr : &it->second;
  };
  if (const std::string* format = meta("scaling.format"); format != nullptr && *format != "1") {
    fail(path, ": the checkpoint has format \"", *format, "\"; this library reads format \"1\"");
  }
  const std::string want_dims = dims_string(Model::kDims);
  if (const std::string* dims = meta("scaling.dims"); dims == nullptr) {
    fail(path, ": no \"scaling.dims\" in __metadata__; expected \"", want_dims, "\"");
  } else if (*dims != want_dims) {
    fail(path, ": the checkpoint is for dims \"", *dims, "\", this model has \"", want_dims, "\"");
  }
  if (const std::string* name = meta("scaling.model"); name != nullptr && !options.model_name.empty() &&
                                                       *name != options.model_name) {
    fail(path, ": the checkpoint is of model \"", *name, "\", expected \"", options.model_name, "\"");
  }
  // Pass 1: every expected tensor present with its shape and finite values; nothing unexpected.
  // Through a copy of the const views: the mutable ones would drop the derived data (decode's
  // int8 screen and panels) even when the file is refused.
  auto shapes = std::as_const(model).weights();
  std::set<std::string, std::less<>> expected;
  detail::EachTensor check([&](std::string name, std::vector<std::size_t> shape, std::span<float> /*values*/) {
    const TensorEntry* t = h.find(name);
    if (t == nullptr) fail(path, ": tensor \"", name, "\" ", detail::shape_string(shape), " is missing");
    if (t->shape != shape) {
      fail(path, ": tensor \"", name, "\" has shape ", detail::shape_string(t->shape), ", expected ",
           detail::shape_string(shape));
    }
    if (!options.allow_non_finite) {
      const std::byte* data = file.bytes(*t).data();
      const std::size_t at = first_non_finite(t->dtype, data, t->elements());
      if (at != t->elements()) {
        float value = 0.0F;
        convert_to_float(t->dtype, data + at * dtype_size(t->dtype), 1, &value);
        const char* what = std::isnan(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity";
        fail(path, ": tensor \"", name, "\" holds ", what, " at ", detail::index_string(shape, at),
             "; weights must be finite (LoadOptions::allow_non_finite loads them as they are)");
      }
    }
    expected.insert(std::move(name));
  });
  shapes.visit(check);
  if (!options.allow_unexpected) {
    for (const TensorEntry& t : h.tensors) {
      if (!expected.contains(t.name)) fail(path, ": unexpected tensor \"", t.name, "\" (this model has no such weight)");
    }
  }
  // Pass 2: copy (and convert) the values.
  auto& views = model.weights();
  detail::EachTensor copy([&](const std::string& name, const std::vector<std::size_t>& /*shape*/,
                              std::span<float> values) {
    const TensorEntry* t = h.find(name);
    if (t == nullptr) fail(path, ": tensor \"", name, "\" is missing");  // checked in pass 1
    file.read(*t, values);
  });
  views.visit(copy);
  model.prepare();  // derived data (never in the file) from the loaded weights
}

// Loads `path` into `model`'s weights after checking the whole file against the model.
template <class Model>
void load_checkpoint(Model& model, const std::string& path, const LoadOptions& options = {}) {
  load_checkpoint(model, SafeTensorsFile(path), options);
}

}  // namespace scaling::io
