// scaling_run: runs a checkpoint. Loads the compiled model the checkpoint's "scaling.model"
// metadata names, prefills a prompt, decodes greedily and prints the tokens and the speed.
//
//   scaling_run list                                   the compiled models
//   scaling_run init MODEL OUT [--seed N]              a checkpoint of MODEL with random weights
//   scaling_run run CHECKPOINT --prompt 1,2,3 [--input 4,5] [--generate N] [--threads N]
//                                                      [--logits OUT]
//
// run prints "generated: <ids>" and a timing line; --input is the encoder's input (required by
// encoder–decoder models, refused by decoder-only ones); --logits writes the logits after every
// fed token, (prompt + generated − 1, vocab), as the safetensors tensor "logits". Any bad argument
// or file gives one line on stderr and exit status 1 (2 for usage errors); no arguments print the
// usage.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "registry.hpp"

namespace {

using runner::Token;

constexpr const char* kUsage =
    "usage: scaling_run list\n"
    "       scaling_run init MODEL OUT [--seed N]\n"
    "       scaling_run run CHECKPOINT --prompt IDS [--input IDS] [--generate N] [--threads N] [--logits OUT]\n"
    "IDS is a comma-separated list of token ids, e.g. 1,2,3\n";

struct UsageError : std::exception {
  std::string message;
  explicit UsageError(std::string m) : message(std::move(m)) {}
  [[nodiscard]] const char* what() const noexcept override { return message.c_str(); }
};

unsigned long long parse_number(std::string_view what, std::string_view text, unsigned long long max) {
  unsigned long long n = 0;
  if (text.empty()) throw UsageError(std::string(what) + ": expected a number, got nothing");
  for (const char c : text) {
    if (c < '0' || c > '9') throw UsageError(std::string(what) + ": \"" + std::string(text) + "\" is not a number");
    const auto digit = static_cast<unsigned long long>(c - '0');
    if (n > (max - digit) / 10) throw UsageError(std::string(what) + ": " + std::string(text) + " exceeds " + std::to_string(max));
    n = n * 10 + digit;
  }
  return n;
}

std::vector<Token> parse_ids(std::string_view what, std::string_view text) {
  std::vector<Token> ids;
  std::size_t at = 0;
  while (true) {
    const std::size_t comma = text.find(',', at);
    const std::string_view item = text.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at);
    ids.push_back(static_cast<Token>(parse_number(what, item, std::numeric_limits<Token>::max())));
    if (comma == std::string_view::npos) return ids;
    at = comma + 1;
  }
}

std::string join(const std::vector<Token>& ids) {
  std::string s;
  for (const Token t : ids) {
    if (!s.empty()) s += ',';
    s += std::to_string(t);
  }
  return s;
}

const runner::Entry& find_model(std::string_view name, std::string_view where) {
  for (const auto& e : runner::registry()) {
    if (e.name == name) return e;
  }
  throw scaling::Error(std::string(where) + ": no compiled model is named \"" + std::string(name) +
                       "\" (scaling_run list shows them)");
}

// --flag value pairs after the positional arguments; each flag at most once.
std::map<std::string, std::string> parse_flags(int argc, char** argv, int first, std::initializer_list<std::string_view> known) {
  std::map<std::string, std::string> flags;
  for (int i = first; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (std::find(known.begin(), known.end(), flag) == known.end()) throw UsageError("unknown option \"" + flag + "\"");
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    if (!flags.emplace(flag, argv[i + 1]).second) throw UsageError(flag + " is given twice");
  }
  return flags;
}

int list() {
  for (const auto& e : runner::registry()) {
    std::printf("%-28.*s %.*s\n", static_cast<int>(e.name.size()), e.name.data(), static_cast<int>(e.about.size()), e.about.data());
  }
  return 0;
}

int init(int argc, char** argv) {
  if (argc < 4) throw UsageError("init needs MODEL and OUT");
  const auto flags = parse_flags(argc, argv, 4, {"--seed"});
  const std::uint64_t seed = flags.contains("--seed") ? parse_number("--seed", flags.at("--seed"), std::numeric_limits<std::uint64_t>::max()) : 1;
  const runner::Entry& e = find_model(argv[2], "init");
  e.random(seed)->save(argv[3], std::string(e.name));
  std::printf("wrote %s (%s, seed %llu)\n", argv[3], std::string(e.name).c_str(), static_cast<unsigned long long>(seed));
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 3) throw UsageError("run needs a CHECKPOINT");
  const std::string path = argv[2];
  const auto flags = parse_flags(argc, argv, 3, {"--prompt", "--input", "--generate", "--threads", "--logits"});
  if (!flags.contains("--prompt")) throw UsageError("run needs --prompt");
  const std::vector<Token> prompt = parse_ids("--prompt", flags.at("--prompt"));
  const std::vector<Token> input = flags.contains("--input") ? parse_ids("--input", flags.at("--input")) : std::vector<Token>{};
  const std::size_t count = flags.contains("--generate") ? parse_number("--generate", flags.at("--generate"), 1'000'000) : 16;
  const auto threads = static_cast<unsigned>(flags.contains("--threads") ? parse_number("--threads", flags.at("--threads"), scaling::kMaxTeam) : scaling::default_thread_count());
  if (count == 0) throw UsageError("--generate must be at least 1");
  if (threads == 0) throw UsageError("--threads must be at least 1");

  // The header names the model and its dims: both are checked before the model is allocated;
  // load_checkpoint then checks the whole file against it.
  const scaling::io::SafeTensorsFile file(path);
  const auto& meta = file.header().metadata;
  const auto named = meta.find("scaling.model");
  if (named == meta.end()) throw scaling::Error(path + ": no \"scaling.model\" in __metadata__, so the model to run is unknown");
  const std::string& name = named->second;
  const runner::Entry& e = find_model(name, path);
  const std::string want = scaling::io::dims_string(e.dims);
  const auto dims = meta.find("scaling.dims");
  if (dims == meta.end()) {
    throw scaling::Error(
        path + ": no \"scaling.dims\" in __metadata__, so it cannot be checked against " + name);
  }
  if (dims->second != want) {
    throw scaling::Error(path + ": the checkpoint has dims \"" + dims->second + "\", but " + name + " has \"" + want + "\"");
  }
  if (e.encoder && input.empty()) throw UsageError(name + " is an encoder–decoder model: give its input with --input");
  if (!e.encoder && !input.empty()) throw UsageError(name + " is a decoder-only model: it takes no --input");
  if (prompt.size() + count - 1 > e.dims.max_len) {
    throw UsageError("the prompt (" + std::to_string(prompt.size()) + " tokens) and " + std::to_string(count) +
                     " generated tokens pass max_len " + std::to_string(e.dims.max_len));
  }
  const auto model = e.load(file);

  scaling::ThreadPool pool(threads);
  const runner::Generation g = model->generate(input, prompt, count, pool);
  std::printf("generated: %s\n", join(g.generated).c_str());
  std::printf("%s, %u thread(s): prefill %zu tokens in %.3f ms; decode %zu tokens in %.3f ms, %.1f tokens/s\n",
              name.c_str(), threads, prompt.size() + input.size(), g.prefill_seconds * 1e3, count - 1,
              g.decode_seconds * 1e3, count > 1 ? static_cast<double>(count - 1) / g.decode_seconds : 0.0);
  if (flags.contains("--logits")) {
    std::vector<Token> fed = prompt;
    fed.insert(fed.end(), g.generated.begin(), g.generated.end() - 1);
    scaling::io::SafeTensorsWriter w;
    w.add("logits", {fed.size(), e.dims.vocab}, g.logits);
    w.metadata("scaling.model", name);
    w.metadata("tokens", join(fed));
    if (!input.empty()) w.metadata("input", join(input));
    w.write(flags.at("--logits"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    const std::string_view command = argv[1];
    if (command == "list") {
      if (argc != 2) throw UsageError("list takes no arguments");
      return list();
    }
    if (command == "init") return init(argc, argv);
    if (command == "run") return run(argc, argv);
    throw UsageError("unknown command \"" + std::string(command) + "\"");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "scaling_run: %s (scaling_run without arguments prints the usage)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scaling_run: %s\n", e.what());
    return 1;
  }
}
