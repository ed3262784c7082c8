// Training checkpoints: one file per checkpoint, written atomically, verified on load, readable
// from Python.
//
// The file is what torch::pickle_save writes for a dict, the format of Python's torch.save,
// so `torch.load("last.pt")` in Python returns:
//   {"format": "denseshift-checkpoint", "version": 2, "epoch": completed epochs,
//    "best_top1": float (percent), "best_epoch": epoch of best_top1 (0: none yet),
//    "config": JSON string of the run's settings, "history": JSON lines of the epochs' metrics,
//    "model": {name: tensor} (parameters and buffers), "momentum": {name: tensor},
//    "checksum": "fnv1a64:<16 hex digits>"}
// The checksum is FNV-1a (64-bit) over, in this order: epoch, best_top1, best_epoch, config,
// history, then model and momentum (count, then per tensor in file order: name, dtype, shape,
// bytes); checkpoint_checksum() is the definition. It makes a damaged file an error instead
// of a silently different model. Version 1 (no best_epoch, history or checksum) still loads,
// with a warning that it cannot be verified.
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
  int best_epoch = 0;        // 0 in version-1 files
  std::string config_json;
  std::string history;       // JSON lines, one per completed epoch; empty in version-1 files
  NamedTensors model;        // float32 and int64 tensors only
  NamedTensors momentum;
};

// core::write_file_atomic (temp file, fsync, rename) for the trainer's files, with its
// errors (naming the file, "the disk is full" for ENOSPC) as CheckpointError.
void write_file_atomic(const std::string& path, const std::vector<char>& bytes);

// Throws CheckpointError naming `path` for fields it would refuse to load (negative epoch,
// non-finite best_top1, other tensor types, duplicate names) or a failed write.
void save_checkpoint(const Checkpoint& c, const std::string& path);
// `path` is a checkpoint file or a run folder (its last.pt). Throws CheckpointError naming the
// file for a missing, empty, truncated, corrupt (checksum) or foreign file, and says what a
// foreign file is (a .dsm model, an image, text...). Messages never carry libtorch backtraces.
Checkpoint load_checkpoint(const std::string& path);
// The same on bytes already in memory; `name` goes into the messages (the fuzz harness uses it).
Checkpoint parse_checkpoint(const std::vector<char>& bytes, const std::string& name);
// The checkpoint file `path` stands for: `path` itself, or <path>/last.pt for a run folder.
// Throws CheckpointError for a folder without last.pt.
std::string checkpoint_file(const std::string& path);
// What save_checkpoint stores under "checksum" (see the top of this file).
std::string checkpoint_checksum(const Checkpoint& c);

// The name of the first tensor holding a NaN or an infinity, or "" if all are finite: a
// checkpoint with such weights must not be called the best one.
std::string first_nonfinite(const NamedTensors& ts);

// The model's parameters and buffers by qualified name, on the CPU.
NamedTensors state_of(const torch::nn::Module& m);
// Copies a saved state into a model; every key must exist with the same shape and dtype, and
// no model tensor may be missing. Errors name `source` and the key.
void load_state(torch::nn::Module& m, const NamedTensors& state, const std::string& source);

}  // namespace ds
