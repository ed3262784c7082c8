// A run folder's files and how they stay consistent through crashes (kill -9, full disk).
//
// last.pt is the truth: it carries the metrics line of every epoch it contains (its history),
// so metrics.jsonl is rewritten from it, atomically, after every checkpoint and on resume. An
// epoch is written in the order best.pt (when a new best) -> last.pt -> metrics.jsonl: a crash
// between two of them leaves files that the next --resume repairs or overwrites with the same
// epoch, never a line missing for an epoch that last.pt holds.
#pragma once

#include <filesystem>
#include <string>

#include "train/checkpoint.h"

namespace ds {

struct RunFolder {
  std::filesystem::path dir;
  std::filesystem::path last() const { return dir / "last.pt"; }
  std::filesystem::path best() const { return dir / "best.pt"; }
  std::filesystem::path metrics() const { return dir / "metrics.jsonl"; }
  std::filesystem::path result() const { return dir / "result.json"; }
};

// Writes metrics.jsonl from a checkpoint's history (JSON lines), atomically.
void write_metrics(const RunFolder& run, const std::string& history);

// On resume from `ckpt` (loaded from `ckpt_path`): metrics.jsonl rewritten from its history
// (older checkpoints without one: lines after its epoch dropped), and best.pt checked against the
// best epoch it names; a best.pt from an epoch the checkpoint does not hold (a crash after best.pt
// and before last.pt) is replaced by last.pt when that is the best epoch, else removed with a
// warning. Returns nothing; throws CheckpointError when a file cannot be written.
void repair_run_folder(const RunFolder& run, const Checkpoint& ckpt, const std::string& ckpt_path);

// Writes text to a file atomically (via write_file_atomic).
void write_text_atomic(const std::filesystem::path& file, const std::string& text);

}  // namespace ds
