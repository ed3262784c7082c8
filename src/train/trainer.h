// The training loop of `denseshift train`: data, model, SGD + cosine, metrics, checkpoints.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "train/layers.h"
#include "train/models.h"
#include "train/run_config.h"

namespace ds {

std::string default_data_dir();

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;
  size_t images = 0;
  double seconds = 0;
};

struct TrainResult {
  int epochs = 0;
  EvalResult final_eval;
  double best_top1 = 0;
  double seconds = 0;       // wall time of the epochs run in this call
  double ms_per_step = 0;   // median over the epochs' training steps
  std::string out_dir;
};

// Sets threads for libtorch (and pins OpenBLAS to one thread so the two pools do not fight),
// and keeps freed training-sized buffers in the heap instead of returning them to the OS.
void configure_threads(int threads);

// Trains from scratch, or continues the checkpoint `resume` (a file, or a run folder holding
// last.pt). Settings come from the checkpoint: `given` names the flags the user typed, and
// merge_resume() (run_config.h) says which of them may change; workers, threads, device, quiet
// and stop_after are always taken from `cfg`.
TrainResult run_training(TrainConfig cfg, const std::string& resume = "", const std::set<std::string>& given = {});

// Evaluates a checkpoint on the test split of its dataset (or of cfg.data when not empty, which
// must hold the run's classes and input shape).
EvalResult evaluate_checkpoint(const std::string& checkpoint, const TrainConfig& cfg);

// Fills the run's input shape, classes and normalization where a checkpoint older than those
// settings lacks them, from its dataset (with the statistics such runs were trained with).
void complete_data_settings(TrainConfig& cfg, const std::string& source);

// The model of a checkpoint, rebuilt from its settings and weights, in eval mode on the CPU,
// without opening any dataset. `over` may change data, workers, threads, batch size, eval limit.
struct TrainedModel {
  TrainConfig cfg;
  std::shared_ptr<NetImpl> model;
  std::string path;  // the checkpoint file
  int epoch = 0;
};
TrainedModel load_trained_model(const std::string& checkpoint, const TrainConfig& over);

}  // namespace ds
