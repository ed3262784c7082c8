// The settings of a training run: what `denseshift train` flags set, what a checkpoint stores
// (as JSON), and which of them a resumed run may change. One table (run_config.cpp) says for
// every flag which setting it sets and whether --resume / --evaluate accept it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/audio_frontend.h"
#include "train/dist/comm.h"
#include "train/layers.h"

namespace ds {

class TrainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --init-from and its companions (train/init_from.h).
struct InitOptions {
  std::string source;                // --init-from: checkpoint, run folder, state_dict or TorchScript
  std::string latents = "lvri";      // --init-latents: how quantized layers start from FP32 weights
  std::string new_layers = "lvri";   // --new-layer-init: how re-created / missing layers start
  bool allow_partial = false;        // --allow-partial: unmatched layers are re-created, not an error
  std::vector<std::string> reinit;   // --reinit NAME: layers to re-create even when they match
};

struct TrainConfig {
  std::string data;  // dataset root, absolute once a run starts; empty = the built-in Fashion-MNIST
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
  std::string augment;        // data::Augment name; empty = the dataset kind's default
  bool fresh = false;         // replace an existing run in `out` instead of refusing
  int64_t train_limit = 0;    // use only this many training samples (0 = all), spread over the set
  int64_t eval_limit = 0;     // same for the test split
  int64_t max_steps = 0;      // stop each epoch after this many steps (0 = all); for smoke runs
  int stop_after = 0;         // leave after this many epochs in this call (0 = run to the end), as an
                              // interruption would; --resume continues the same schedule
  bool quiet = false;         // no progress bars
  bool diagnostics = false;   // write <out>/diagnostics.jsonl (train/diagnostics.h); not stored
  // What the training split was when the run started; a resumed or evaluated run checks new
  // DATA against them, and export takes the model's input from them.
  int in_channels = 0, in_h = 0, in_w = 0, num_classes = 0;
  std::vector<std::string> class_names;
  std::vector<float> mean, std;  // input normalization, from the training split
  std::optional<core::AudioFrontEnd> audio;  // speech runs: the log-mel front end (set when the run starts)
  // How this process takes part in a data-parallel run (not stored: a resumed run may use
  // another world size; see README "Training on many GPUs and machines").
  dist::DistConfig dist;
  InitOptions init;
  std::vector<std::string> freeze;      // --freeze PATTERN: parameters kept fixed
  double latent_std = 1e-3;             // --latent-std: latent init N(0, std); 1e-3 = the paper's LVRI
  double lr_head = 0;                   // --lr-head: lr of the layers --init-from created (0: --lr)
  std::vector<std::string> new_params;  // those layers' parameters, recorded when the run starts
};

std::string config_to_json(const TrainConfig& c);
TrainConfig config_from_json(const std::string& json, const std::string& source);

// Checks values a flag or a file can set out of range (epochs, batch, lr...), naming the flag.
void validate_config(const TrainConfig& c);

// The configuration a resumed run continues with: `saved` from the checkpoint, with the settings
// of `asked` whose flags are in `given` (flag names as typed, e.g. "--threads") applied where
// they may change (threads, workers, device, out, stop-after, quiet, DATA), and a TrainError naming
// the flag where they may not (--lr, --epochs, ...: they define the run being continued).
TrainConfig merge_resume(const TrainConfig& saved, const TrainConfig& asked, const std::set<std::string>& given,
                         const std::string& source);

// A TrainError for any flag in `given` that --evaluate does not use.
void check_evaluate_flags(const std::set<std::string>& given);

}  // namespace ds
