#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

namespace ds {
namespace {

constexpr const char* kFormat = "denseshift-checkpoint";
constexpr int64_t kVersion = 1;

std::string errno_text() { return std::strerror(errno); }

c10::impl::GenericDict to_dict(const NamedTensors& ts) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [k, v] : ts) d.insert(k, v.detach().to(torch::kCPU).contiguous());
  return d;
}

NamedTensors from_dict(const c10::IValue& v, const std::string& path, const char* key) {
  if (!v.isGenericDict()) throw CheckpointError(path + ": entry '" + key + "' is not a dict of tensors");
  NamedTensors out;
  for (const auto& e : v.toGenericDict()) {
    if (!e.key().isString() || !e.value().isTensor())
      throw CheckpointError(path + ": entry '" + key + "' holds something other than named tensors");
    out.emplace_back(e.key().toStringRef(), e.value().toTensor());
  }
  return out;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::vector<char>& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw CheckpointError("cannot create " + tmp + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw CheckpointError("cannot write " + tmp + ": " + why);
    }
    done += size_t(n);
  }
  // fsync before rename: otherwise a power loss can leave the new name on an empty file.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw CheckpointError("cannot flush " + tmp + ": " + why);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw CheckpointError("cannot rename " + tmp + " to " + path + ": " + why);
  }
}

void save_checkpoint(const Checkpoint& c, const std::string& path) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("version", kVersion);
  d.insert("epoch", int64_t(c.epoch));
  d.insert("best_top1", c.best_top1);
  d.insert("config", c.config_json);
  d.insert("model", to_dict(c.model));
  d.insert("momentum", to_dict(c.momentum));
  write_file_atomic(path, torch::pickle_save(c10::IValue(d)));
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CheckpointError("cannot open checkpoint " + path + ": " + errno_text());
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_checkpoint(bytes, path);
}

Checkpoint parse_checkpoint(const std::vector<char>& bytes, const std::string& path) {
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw CheckpointError(path + " is not a readable checkpoint (truncated or corrupt): " +
                          std::string(e.what()).substr(0, 200));
  }
  if (!v.isGenericDict()) throw CheckpointError(path + " is not a denseshift checkpoint (not a dict)");
  auto d = v.toGenericDict();
  auto get = [&](const char* key) {
    if (!d.contains(key)) throw CheckpointError(path + " is not a denseshift checkpoint: no '" + key + "' entry");
    return d.at(key);
  };
  if (!get("format").isString() || get("format").toStringRef() != kFormat)
    throw CheckpointError(path + " is not a denseshift checkpoint (format entry differs)");
  if (get("version").toInt() != kVersion)
    throw CheckpointError(path + ": checkpoint version " + std::to_string(get("version").toInt()) +
                          " is not supported (this build reads version " + std::to_string(kVersion) + ")");
  Checkpoint c;
  c.epoch = int(get("epoch").toInt());
  c.best_top1 = get("best_top1").toDouble();
  c.config_json = get("config").toStringRef();
  c.model = from_dict(get("model"), path, "model");
  c.momentum = from_dict(get("momentum"), path, "momentum");
  return c;
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
  size_t seen = 0;
  for (const auto& [k, v] : state) {
    auto it = targets.find(k);
    if (it == targets.end())
      throw CheckpointError(source + ": tensor '" + k + "' does not exist in the model (different architecture or method?)");
    if (it->second.sizes() != v.sizes())
      throw CheckpointError(source + ": tensor '" + k + "' has shape " + c10::str(v.sizes()) + ", the model expects " +
                            c10::str(it->second.sizes()));
    it->second.copy_(v);
    ++seen;
  }
  if (seen != targets.size())
    for (const auto& [k, v] : targets) {
      bool found = false;
      for (const auto& s : state) found = found || s.first == k;
      if (!found) throw CheckpointError(source + ": tensor '" + k + "' of the model is missing");
    }
}

}  // namespace ds
