// The training loop of `denseshift train`: data, model, SGD + cosine, metrics, checkpoints.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "train/layers.h"
#include "train/models.h"

namespace ds {

class TrainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainConfig {
  std::string data;  // dataset root; empty = the built-in Fashion-MNIST (Debian dataset-fashion-mnist)
  std::string arch;  // empty = default for the dataset
  QuantPolicy policy;
  int epochs = 0;      // 0 = default for the dataset
  int batch_size = 0;  // 0 = default for the dataset
  double lr = 0.1, momentum = 0.9, weight_decay = 1e-4;
  int workers = -1;  // -1 = one per core
  uint64_t seed = 1;
  std::string out;  // empty = runs/<arch>-<method><bits>
  std::string device = "cpu";
  int threads = 0;  // 0 = all cores
  bool augment = true;
  bool fresh = false;         // replace an existing run in `out` instead of refusing
  int64_t train_limit = 0;    // use only this many training samples (0 = all), spread over the set
  int64_t eval_limit = 0;     // same for the test split
  int64_t max_steps = 0;      // stop each epoch after this many steps (0 = all); for smoke runs
  int stop_after = 0;         // leave after this many epochs in this call (0 = run to the end), as an
                              // interruption would; --resume continues the same schedule
  bool quiet = false;         // no progress bars
  int in_channels = 0, num_classes = 0;  // set from the dataset when training starts
};

std::string default_data_dir();
std::string config_to_json(const TrainConfig& c);
TrainConfig config_from_json(const std::string& json, const std::string& source);

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
// last.pt). Settings come from the checkpoint; `cfg` may change epochs, workers, threads, device.
TrainResult run_training(TrainConfig cfg, const std::string& resume = "");

// Evaluates a checkpoint on the test split of its dataset (or of cfg.data when given).
EvalResult evaluate_checkpoint(const std::string& checkpoint, const TrainConfig& cfg);

// The model of a checkpoint, rebuilt from its settings and weights, in eval mode on the CPU.
// `over` may change data, workers, threads, batch size (as evaluate_checkpoint does).
struct TrainedModel {
  TrainConfig cfg;
  std::shared_ptr<NetImpl> model;
  std::string path;  // the checkpoint file
  int epoch = 0;
};
TrainedModel load_trained_model(const std::string& checkpoint, const TrainConfig& over);

}  // namespace ds
