// Training checkpoints: one file per checkpoint, written atomically, readable from Python.
//
// The file is what torch::pickle_save writes for a dict, the format of Python's torch.save,
// so `torch.load("last.pt")` in Python returns:
//   {"format": "denseshift-checkpoint", "version": 1, "epoch": completed epochs,
//    "best_top1": float, "config": JSON string of the run's settings,
//    "model": {name: tensor} (parameters and buffers), "momentum": {name: tensor}}
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ds {

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct Checkpoint {
  int epoch = 0;
  double best_top1 = 0;
  std::string config_json;
  NamedTensors model;
  NamedTensors momentum;
};

// Writes to "<path>.tmp", flushes it to disk, then renames over `path`: a reader (or a crash
// at any point) sees either the old complete file or the new complete file.
void write_file_atomic(const std::string& path, const std::vector<char>& bytes);

void save_checkpoint(const Checkpoint& c, const std::string& path);
// Throws CheckpointError naming the file for a missing, truncated or foreign file.
Checkpoint load_checkpoint(const std::string& path);
// The same on bytes already in memory; `name` goes into the messages (the fuzz harness uses it).
Checkpoint parse_checkpoint(const std::vector<char>& bytes, const std::string& name);

// The model's parameters and buffers by qualified name, on the CPU.
NamedTensors state_of(const torch::nn::Module& m);
// Copies a saved state into a model; every key must exist with the same shape, and no
// model tensor may be missing. Errors name `source` and the key.
void load_state(torch::nn::Module& m, const NamedTensors& state, const std::string& source);

}  // namespace ds
