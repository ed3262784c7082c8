#include "train/dist/comm.h"

#include <cstdlib>
#include <stdexcept>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace ds::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, const char* value) {
  try {
    size_t used = 0;
    int v = std::stoi(value, &used);
    if (used != std::string(value).size()) throw std::invalid_argument("trailing characters");
    return v;
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + value + "' is not an integer");
  }
}

// The first of the variables that is set, as an int; -1 if none is.
int first_env_int(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = env(n)) return env_int(n, v);
  return -1;
}

struct TcpAddress {
  std::string host;
  int port = 0;
};
TcpAddress parse_tcp(const std::string& url) {
  const std::string rest = url.substr(6);  // after "tcp://"
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) throw std::invalid_argument("--dist-url " + url + ": expected tcp://HOST:PORT");
  TcpAddress a{rest.substr(0, colon), 0};
  try {
    a.port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    a.port = -1;
  }
  if (a.port <= 0 || a.port > 65535) throw std::invalid_argument("--dist-url " + url + ": port must be 1..65535");
  return a;
}

// c10d's messages carry a C++ backtrace; keep the first line.
std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10 ? c10->what_without_backtrace() : e.what();
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

void resolve_from_environment(DistConfig& d, const std::set<std::string>& given) {
  const bool torchrun = env("WORLD_SIZE") || env("RANK");
  if (!given.count("--world-size")) {
    const int w = first_env_int({"WORLD_SIZE", "SLURM_NTASKS"});
    if (w > 0) d.world_size = w;
  }
  if (!given.count("--rank")) {
    const int r = torchrun ? first_env_int({"RANK"}) : first_env_int({"SLURM_PROCID"});
    if (r >= 0) d.rank = r;
  }
  const int lr = torchrun ? first_env_int({"LOCAL_RANK"}) : first_env_int({"SLURM_LOCALID"});
  d.local_rank = lr >= 0 ? lr : d.rank;
  if (!given.count("--dist-url") && d.init.empty()) {
    const char* addr = env("MASTER_ADDR");
    const char* port = env("MASTER_PORT");
    if (addr || port) d.init = std::string("tcp://") + (addr ? addr : "127.0.0.1") + ":" + (port ? port : "29500");
  }
  if (d.world_size < 1) throw std::invalid_argument("--world-size must be at least 1, got " + std::to_string(d.world_size));
  if (d.rank < 0 || d.rank >= d.world_size)
    throw std::invalid_argument("--rank " + std::to_string(d.rank) + " is outside 0.." + std::to_string(d.world_size - 1));
  if (d.timeout_s < 1) throw std::invalid_argument("--dist-timeout must be at least 1 second");
  if (!d.backend.empty() && d.backend != "gloo" && d.backend != "nccl")
    throw std::invalid_argument("--dist-backend " + d.backend + ": expected gloo or nccl");
  if (d.enabled() && d.init.empty())
    throw std::invalid_argument("a run of " + std::to_string(d.world_size) +
                                " processes needs a rendezvous: --dist-url tcp://HOST:PORT (or file:///PATH), or "
                                "MASTER_ADDR and MASTER_PORT in the environment");
}

std::unique_ptr<Comm> Comm::join(const DistConfig& d, const torch::Device& device) {
  std::unique_ptr<Comm> c(new Comm());
  c->rank_ = d.rank, c->size_ = d.world_size, c->device_ = device, c->where_ = d.init;
  c->timeout_ = std::chrono::milliseconds(int64_t(d.timeout_s) * 1000);
  c->backend_ = d.backend.empty() ? (device.is_cuda() ? "nccl" : "gloo") : d.backend;
  if (c->backend_ == "nccl")
    throw std::invalid_argument("--dist-backend nccl: this build's libtorch has no NCCL (Debian's is CPU-only); "
                                "use gloo, or build against a CUDA libtorch");
  c10::intrusive_ptr<c10d::Store> store;
  if (d.init.rfind("tcp://", 0) == 0) {
    const TcpAddress a = parse_tcp(d.init);
    c10d::TCPStoreOptions o;
    o.port = uint16_t(a.port);
    o.isServer = d.rank == 0;
    o.numWorkers = size_t(d.world_size);
    o.waitWorkers = true;
    o.timeout = c->timeout_;
    try {
      store = c10::make_intrusive<c10d::TCPStore>(a.host, o);
    } catch (const std::exception& e) {
      const std::string why = first_line(e);
      if (d.rank == 0 && why.find("ddress already in use") != std::string::npos)
        throw std::runtime_error("rank 0 cannot serve the rendezvous at " + a.host + ":" + std::to_string(a.port) +
                                 ": the port is already in use (pick another MASTER_PORT / --dist-url)");
      throw std::runtime_error("rank " + std::to_string(d.rank) + ": rendezvous at " + a.host + ":" +
                               std::to_string(a.port) + " failed within " + std::to_string(d.timeout_s) +
                               " s (are all " + std::to_string(d.world_size) + " ranks started, and is the address "
                               "reachable?): " + why);
    }
  } else if (d.init.rfind("file://", 0) == 0) {
    store = c10::make_intrusive<c10d::FileStore>(d.init.substr(7), d.world_size);
    store->setTimeout(c->timeout_);
  } else {
    throw std::invalid_argument("--dist-url " + d.init + ": expected tcp://HOST:PORT or file:///PATH");
  }
  auto opts = c10d::ProcessGroupGloo::Options::create(c->timeout_);
  // Loopback when the rendezvous is local, else the address this host resolves to.
  const bool local = d.init.find("127.0.0.1") != std::string::npos || d.init.find("localhost") != std::string::npos;
  opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
  opts->threads = 2;
  try {
    c->group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("ds", store),
                                                            d.rank, d.world_size, opts);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(d.rank) + ": the " + std::to_string(d.world_size) +
                             " ranks did not all meet at the rendezvous " + d.init + " within " +
                             std::to_string(d.timeout_s) + " s (--dist-timeout): is every rank started, with the same "
                             "--dist-url / MASTER_ADDR:MASTER_PORT and --world-size? (" + first_line(e) + ")");
  }
  return c;
}

Comm::~Comm() = default;

void Comm::wait(c10d::Work& w, const char* what) {
  try {
    w.wait(timeout_);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(rank_) + ": " + what + " across " + std::to_string(size_) +
                             " ranks failed (another rank stopped or timed out after " +
                             std::to_string(timeout_.count() / 1000) + " s): " + first_line(e));
  }
}

c10::intrusive_ptr<c10d::Work> Comm::allreduce_sum_async(torch::Tensor& t) {
  std::vector<torch::Tensor> ts{t};
  return group_->allreduce(ts);
}

void Comm::allreduce_sum(torch::Tensor& t) {
  auto w = allreduce_sum_async(t);
  wait(*w, "all-reduce");
}

std::vector<double> Comm::sum(std::vector<double> v) {
  torch::Tensor t = torch::from_blob(v.data(), {int64_t(v.size())}, torch::kDouble).clone();
  if (device_.is_cuda()) t = t.to(device_);
  allreduce_sum(t);
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Comm::broadcast(torch::Tensor& t, int root) {
  std::vector<torch::Tensor> ts{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  auto w = group_->broadcast(ts, o);
  wait(*w, "broadcast");
}

void Comm::barrier() {
  auto w = group_->barrier();
  wait(*w, "barrier");
}

}  // namespace ds::dist
