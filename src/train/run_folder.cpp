#include "train/run_folder.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace ds {
namespace fs = std::filesystem;
using json = nlohmann::json;

void write_text_atomic(const fs::path& file, const std::string& text) {
  write_file_atomic(file.string(), std::vector<char>(text.begin(), text.end()));
}

void write_metrics(const RunFolder& run, const std::string& history) { write_text_atomic(run.metrics(), history); }

namespace {

// Checkpoints written before the history existed: keep the lines of the epochs they contain.
std::string trimmed_metrics(const fs::path& file, int keep_epochs) {
  std::ifstream in(file);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (json::parse(line).value("epoch", 0) <= keep_epochs) kept += line + "\n";
    } catch (const json::exception&) {
      // A line cut by a crash: drop it.
    }
  }
  return kept;
}

}  // namespace

void repair_run_folder(const RunFolder& run, const Checkpoint& ckpt, const std::string& ckpt_path) {
  if (!ckpt.history.empty() || ckpt.epoch == 0)
    write_metrics(run, ckpt.history);
  else if (fs::exists(run.metrics()))
    write_metrics(run, trimmed_metrics(run.metrics(), ckpt.epoch));

  if (ckpt.best_epoch <= 0) return;  // an older checkpoint: it does not say which epoch was best
  int best_on_disk = -1;
  if (fs::exists(run.best())) {
    try {
      best_on_disk = load_checkpoint(run.best().string()).epoch;
    } catch (const CheckpointError& e) {
      std::fprintf(stderr, "warning: %s\n", e.what());
    }
  }
  if (best_on_disk == ckpt.best_epoch) return;
  if (ckpt.best_epoch == ckpt.epoch && fs::path(ckpt_path) != run.best()) {
    // The crash came after best.pt's epoch began and before it was written: last.pt is that epoch.
    save_checkpoint(ckpt, run.best().string());
    return;
  }
  if (best_on_disk >= 0) {
    std::fprintf(stderr,
                 "warning: %s holds epoch %d, but %s says the best epoch was %d (a crash between the two writes); "
                 "removing it: the next best epoch writes it again\n",
                 run.best().c_str(), best_on_disk, ckpt_path.c_str(), ckpt.best_epoch);
    fs::remove(run.best());
  }
}

}  // namespace ds
