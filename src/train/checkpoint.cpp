#include "train/checkpoint.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "train/torch_archive_check.h"
#include "train/torch_state_dict.h"

namespace ds {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "denseshift-checkpoint";
constexpr int64_t kVersion = 2;
constexpr int64_t kUncheckedVersion = 1;  // written before checksums: loads with a warning
constexpr const char* kChecksumPrefix = "fnv1a64:";
const std::set<std::string> kKeysV1 = {"format", "version", "epoch", "best_top1", "config", "model", "momentum"};
const std::set<std::string> kKeysV2 = {"format",  "version", "epoch",    "best_top1", "best_epoch", "config",
                                       "history", "model",   "momentum", "checksum"};
// What a user who passed the wrong file needs to hear.
constexpr const char* kExpected =
    "--resume, export and eval --against take a training checkpoint (a .pt file such as RUN/last.pt) or a run folder";

// FNV-1a, 64-bit: a byte-at-a-time bijection of the state, so any change confined to one byte
// always changes the result, and other damage goes unnoticed with probability ~2^-64.
class Fnv1a64 {
 public:
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * 0x100000001b3ull;
  }
  void u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));  // little-endian on any host
    bytes(b, 8);
  }
  void str(const std::string& s) {
    u64(s.size());  // length first: "ab"+"c" and "a"+"bc" hash differently
    bytes(s.data(), s.size());
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

void hash_tensors(Fnv1a64& h, const NamedTensors& ts) {
  h.u64(ts.size());
  for (const auto& [name, t] : ts) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    h.str(name);
    h.str(c10::toString(c.scalar_type()));
    h.u64(uint64_t(c.dim()));
    for (int64_t s : c.sizes()) h.u64(uint64_t(s));
    h.u64(c.nbytes());
    h.bytes(c.data_ptr(), c.nbytes());
  }
}

// Text from the file (a damaged key or zip entry name) as a message can show it: bytes other
// than printable ASCII become '?'.
std::string printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return s;
}

// A reader's reason as a message can show it: one short printable line, and no libtorch
// assert text, which would tell the user to report a PyTorch bug for what is a damaged file.
std::string clean_reason(const std::string& s) {
  if (s.find("INTERNAL ASSERT") != std::string::npos) return "libtorch's reader found inconsistent content";
  const std::string line = printable(s.substr(0, s.find('\n')));
  return line.size() > 160 ? line.substr(0, 160) + "..." : line;
}

// A libtorch exception's reason, without its "Exception raised from ... frame #0" backtrace.
std::string torch_reason(const std::exception& e) {
  const auto* ce = dynamic_cast<const c10::Error*>(&e);
  return clean_reason(ce ? ce->what_without_backtrace() : e.what());
}

// What a file that is not a zip archive is, from its first bytes, for the error message.
std::string describe_foreign(const std::vector<char>& b) {
  auto starts = [&](const char* magic, size_t n) { return b.size() >= n && std::memcmp(b.data(), magic, n) == 0; };
  if (starts("DSM1", 4))
    return "a denseshift model file (.dsm), not a training checkpoint: use it with `denseshift eval` or `denseshift infer`";
  if (starts("\xff\xd8\xff", 3)) return "a JPEG image";
  if (starts("\x89PNG", 4)) return "a PNG image";
  if (starts("\x1f\x8b", 2)) return "gzip-compressed data";
  if (starts("\x80\x02", 2)) return "a legacy (pre-zip) torch.save file, which this build does not read";
  const size_t n = std::min<size_t>(b.size(), 512);
  const bool text = std::all_of(b.begin(), b.begin() + long(n), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 || c == '\n' || c == '\r' || c == '\t';  // UTF-8 bytes are >= 0x80
  });
  const auto first = std::find_if(b.begin(), b.begin() + long(n), [](char c) { return !std::isspace(uint8_t(c)); });
  if (text && first != b.begin() + long(n) && (*first == '{' || *first == '[')) return "JSON text";
  if (text) return "a text file";
  std::string hex;
  for (size_t i = 0; i < std::min<size_t>(b.size(), 8); ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, " %02x", unsigned(static_cast<unsigned char>(b[i])));
    hex += buf;
  }
  return "not a checkpoint (unrecognised content, first bytes" + hex + ")";
}

// What a value is, in a user's words ("an integer", not libtorch's tag "Int").
std::string kind(const c10::IValue& v) {
  if (v.isString()) return "a string";
  if (v.isInt()) return "an integer";
  if (v.isDouble()) return "a float";
  if (v.isBool()) return "a bool";
  if (v.isNone()) return "None";
  if (v.isTensor()) return "a tensor";
  if (v.isGenericDict()) return "a dict";
  if (v.isList() || v.isTuple()) return "a list";
  return "a " + v.tagKind();
}

// Field access with the checks that keep libtorch's asserts out of the messages.
class Fields {
 public:
  Fields(c10::impl::GenericDict d, std::string path) : d_(std::move(d)), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& problem) const { throw CheckpointError(path_ + ": " + printable(problem)); }
  c10::IValue get(const std::string& key) const {
    if (!d_.contains(key)) fail("not a denseshift checkpoint: no '" + key + "' entry");
    return d_.at(key);
  }
  int64_t integer(const std::string& key) const {
    const c10::IValue v = get(key);
    if (!v.isInt()) fail("entry '" + key + "' is " + kind(v) + ", not an integer");
    return v.toInt();
  }
  double number(const std::string& key) const {
    const c10::IValue v = get(key);
    if (v.isInt()) return double(v.toInt());
    if (!v.isDouble()) fail("entry '" + key + "' is " + kind(v) + ", not a number");
    return v.toDouble();
  }
  std::string string(const std::string& key) const {
    const c10::IValue v = get(key);
    if (!v.isString()) fail("entry '" + key + "' is " + kind(v) + ", not a string");
    return v.toStringRef();
  }
  NamedTensors tensors(const std::string& key) const {
    const c10::IValue v = get(key);
    if (!v.isGenericDict()) fail("entry '" + key + "' is " + kind(v) + ", not a dict of tensors");
    NamedTensors out;
    for (const auto& e : v.toGenericDict()) {
      if (!e.key().isString()) fail("entry '" + key + "' has " + kind(e.key()) + " as a key, not a tensor name");
      const std::string name = e.key().toStringRef();
      if (!e.value().isTensor()) fail("'" + key + "' entry '" + name + "' is " + kind(e.value()) + ", not a tensor");
      const torch::Tensor t = e.value().toTensor();
      if (t.layout() != torch::kStrided || !t.device().is_cpu())
        fail("'" + key + "' tensor '" + name + "' is not a dense CPU tensor");
      if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kLong)
        fail("'" + key + "' tensor '" + name + "' has dtype " + c10::toString(t.scalar_type()) +
             " (checkpoints hold float32 and int64 tensors)");
      out.emplace_back(name, t);
    }
    return out;
  }
  void only(const std::set<std::string>& keys, int64_t version) const {
    for (const auto& e : d_) {
      const std::string k = e.key().isString() ? e.key().toStringRef() : "(" + kind(e.key()) + ")";
      if (!keys.count(k)) fail("unexpected entry '" + k + "' in a version-" + std::to_string(version) + " checkpoint");
    }
  }

 private:
  c10::impl::GenericDict d_;
  std::string path_;
};

// The checks save and load share, so that save never writes what load refuses. Returns the
// problem, or "" when the fields are fine.
std::string field_problem(const Checkpoint& c) {
  if (c.epoch < 0) return "epoch " + std::to_string(c.epoch) + " is negative";
  // -1: the trainer's "no best yet" (before the first evaluation).
  if (!(c.best_top1 == -1 || (c.best_top1 >= 0 && c.best_top1 <= 100)))
    return "best_top1 " + std::to_string(c.best_top1) + " is not a percentage (0..100, or -1 for none yet)";
  if (c.best_epoch < 0 || c.best_epoch > c.epoch)
    return "best_epoch " + std::to_string(c.best_epoch) + " is outside 0.." + std::to_string(c.epoch);
  for (const auto* ts : {&c.model, &c.momentum}) {
    std::set<std::string> names;
    for (const auto& [name, t] : *ts) {
      if (!names.insert(name).second) return "tensor name '" + name + "' appears twice";
      if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kLong)
        return "tensor '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
               " (checkpoints hold float32 and int64 tensors)";
    }
  }
  return "";
}

c10::impl::GenericDict to_dict(const NamedTensors& ts) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [k, v] : ts) d.insert(k, v.detach().to(torch::kCPU).contiguous());
  return d;
}

int to_int(int64_t v, const Fields& f, const char* key) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    f.fail(std::string(key) + " " + std::to_string(v) + " is not a count of epochs (0.." +
           std::to_string(std::numeric_limits<int>::max()) + ")");
  return int(v);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::vector<char>& bytes) {
  try {
    core::write_file_atomic(path, bytes.data(), bytes.size());
  } catch (const core::FileWriteError& e) {
    throw CheckpointError(e.what());
  }
}

std::string checkpoint_checksum(const Checkpoint& c) {
  Fnv1a64 h;
  h.u64(uint64_t(int64_t(c.epoch)));
  uint64_t bits;
  std::memcpy(&bits, &c.best_top1, sizeof bits);
  h.u64(bits);
  h.u64(uint64_t(int64_t(c.best_epoch)));
  h.str(c.config_json);
  h.str(c.history);
  hash_tensors(h, c.model);
  hash_tensors(h, c.momentum);
  return kChecksumPrefix + h.hex();
}

void save_checkpoint(const Checkpoint& c, const std::string& path) {
  const std::string problem = field_problem(c);
  if (!problem.empty()) throw CheckpointError("refusing to save checkpoint " + path + ": " + problem);
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("version", kVersion);
  d.insert("epoch", int64_t(c.epoch));
  d.insert("best_top1", c.best_top1);
  d.insert("best_epoch", int64_t(c.best_epoch));
  d.insert("config", c.config_json);
  d.insert("history", c.history);
  d.insert("model", to_dict(c.model));
  d.insert("momentum", to_dict(c.momentum));
  d.insert("checksum", checkpoint_checksum(c));
  write_file_atomic(path, torch::pickle_save(c10::IValue(d)));
}

std::string checkpoint_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  const fs::path last = fs::path(path) / "last.pt";
  if (!fs::exists(last, ec)) throw CheckpointError(path + " is a folder without last.pt, so not a run folder: " + kExpected);
  return last.string();
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::string file = checkpoint_file(path);
  errno = 0;
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    const int e = errno;
    // A caller that appended last.pt to a folder itself gets the folder's message too.
    const fs::path p(file);
    std::error_code ec;
    if (e == ENOENT && p.filename() == "last.pt" && fs::is_directory(p.parent_path(), ec))
      checkpoint_file(p.parent_path().string());
    throw CheckpointError("cannot open checkpoint " + file + ": " + std::strerror(e));
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw CheckpointError("cannot read checkpoint " + file + ": " + std::strerror(errno));
  return parse_checkpoint(bytes, file);
}

Checkpoint parse_checkpoint(const std::vector<char>& bytes, const std::string& path) {
  // Sniffed first: libtorch's own message for a foreign file is a backtrace.
  if (bytes.empty()) throw CheckpointError(path + " is empty (0 bytes), not a checkpoint: " + kExpected);
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0)
    throw CheckpointError(path + " is " + describe_foreign(bytes) + "; " + kExpected);
  // Before libtorch, which would allocate what a corrupt size field claims.
  if (const std::string problem = torch_archive::check_torch_archive(bytes); !problem.empty())
    throw CheckpointError(path + " is not a readable checkpoint (truncated or corrupt): " + clean_reason(problem));
  c10::IValue v;
  try {
    v = load_torch_archive(bytes, path);
  } catch (const std::exception& e) {
    throw CheckpointError(path + " is not a readable checkpoint (truncated or corrupt): " + torch_reason(e));
  }
  if (!v.isGenericDict()) throw CheckpointError(path + " is a torch.save file but not a denseshift checkpoint (not a dict)");
  const Fields f(v.toGenericDict(), path);
  if (f.string("format") != kFormat) f.fail("not a denseshift checkpoint (format entry differs)");
  const int64_t version = f.integer("version");
  if (version != kVersion && version != kUncheckedVersion)
    f.fail("checkpoint version " + std::to_string(version) + " is not supported (this build reads versions " +
           std::to_string(kUncheckedVersion) + " and " + std::to_string(kVersion) + ")");
  f.only(version == kVersion ? kKeysV2 : kKeysV1, version);

  Checkpoint c;
  c.epoch = to_int(f.integer("epoch"), f, "epoch");
  c.best_top1 = f.number("best_top1");
  c.config_json = f.string("config");
  c.model = f.tensors("model");
  c.momentum = f.tensors("momentum");
  if (version == kVersion) {
    c.best_epoch = to_int(f.integer("best_epoch"), f, "best_epoch");
    c.history = f.string("history");
    const std::string stored = f.string("checksum"), computed = checkpoint_checksum(c);
    if (stored != computed)
      f.fail("checksum mismatch (stored " + stored + ", computed " + computed +
             "): the file was damaged after it was written; use another checkpoint (best.pt, a backup)");
  } else {
    std::cerr << "denseshift: warning: " << path
              << " is a version-1 checkpoint, written before checkpoints had checksums: its integrity cannot be "
                 "verified\n";
  }
  const std::string problem = field_problem(c);
  if (!problem.empty()) f.fail(problem);
  return c;
}

std::string first_nonfinite(const NamedTensors& ts) {
  for (const auto& [name, t] : ts)
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) return name;
  return "";
}

NamedTensors state_of(const torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().to(torch::kCPU));
  for (const auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value().detach().to(torch::kCPU));
  return out;
}

void load_state(torch::nn::Module& m, const NamedTensors& state, const std::string& source) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : m.named_parameters()) targets[p.key()] = p.value();
  for (const auto& b : m.named_buffers()) targets[b.key()] = b.value();
  torch::NoGradGuard ng;
  std::set<std::string> seen;
  for (const auto& [k, v] : state) {
    auto it = targets.find(k);
    if (it == targets.end())
      throw CheckpointError(source + ": tensor '" + k + "' does not exist in the model (different architecture or method?)");
    if (it->second.sizes() != v.sizes())
      throw CheckpointError(source + ": tensor '" + k + "' has shape " + c10::str(v.sizes()) + ", the model expects " +
                            c10::str(it->second.sizes()));
    // copy_ would convert silently; a different dtype means a different model.
    if (it->second.scalar_type() != v.scalar_type())
      throw CheckpointError(source + ": tensor '" + k + "' has dtype " + c10::toString(v.scalar_type()) +
                            ", the model expects " + c10::toString(it->second.scalar_type()));
    it->second.copy_(v);
    seen.insert(k);
  }
  for (const auto& [k, v] : targets)
    if (!seen.count(k)) throw CheckpointError(source + ": tensor '" + k + "' of the model is missing");
}

}  // namespace ds
