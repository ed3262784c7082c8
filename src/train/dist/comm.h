// One process's place in a data-parallel run, on libtorch's distributed engine (c10d): the
// rendezvous (TCPStore or FileStore), the process group (Gloo on CPU; NCCL for CUDA devices when
// libtorch has it) and the few collectives the trainer needs.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/torch.h>

namespace ds::dist {

struct DistConfig {
  int world_size = 1, rank = 0, local_rank = 0;
  std::string init;     // "tcp://HOST:PORT" or "file:///shared/path"; empty: MASTER_ADDR/MASTER_PORT
  std::string backend;  // "gloo" or "nccl"; empty: nccl for a CUDA device when available, else gloo
  int timeout_s = 120;  // how long the rendezvous and every collective wait for the other ranks
  bool sync_bn = false;
  bool forced = false;  // a process group even for one process (--world-size 1 given)
  bool enabled() const { return world_size > 1 || forced; }
};

// Completes `d` from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), then SLURM's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID), for every setting
// whose flag is not in `given`. Throws std::invalid_argument for inconsistent values.
void resolve_from_environment(DistConfig& d, const std::set<std::string>& given);

class Comm {
 public:
  // Joins the group: rank 0 serves the TCPStore. Errors name the address and port (in use,
  // unreachable, a peer that never arrived within the timeout).
  static std::unique_ptr<Comm> join(const DistConfig& d, const torch::Device& device);
  ~Comm();

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // Sums in place across ranks (blocking).
  void allreduce_sum(torch::Tensor& t);
  // Starts a sum; wait on the returned work.
  c10::intrusive_ptr<c10d::Work> allreduce_sum_async(torch::Tensor& t);
  // Sums doubles across ranks (metrics, counts): exact for integers below 2^53.
  std::vector<double> sum(std::vector<double> v);
  void broadcast(torch::Tensor& t, int root);
  void barrier();
  // Waits for an asynchronous collective; an error (a rank that died or timed out) is rethrown
  // naming this rank and the timeout.
  void wait(c10d::Work& w, const char* what);

 private:
  Comm() = default;
  int rank_ = 0, size_ = 1;
  std::string backend_, where_;
  torch::Device device_{torch::kCPU};
  std::chrono::milliseconds timeout_{0};
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

}  // namespace ds::dist
