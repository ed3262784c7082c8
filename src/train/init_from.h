// `denseshift train DATA --init-from SOURCE`: start a new run from trained weights.
//
// SOURCE is a denseshift checkpoint or run folder, a PyTorch state_dict written by torch.save in
// Python (torchvision's names: conv1, bn1, layerL.B.convN, layerL.B.downsample.{0,1}, fc; the
// common CIFAR ResNet layout is the same with `linear` for `fc`; a dict holding it under
// "state_dict" or "model", and DataParallel's "module." prefixes, are accepted), or a TorchScript
// file of such a model. Tensors are matched by name and shape; docs: README "Fine-tuning and
// importing PyTorch models".
#pragma once

#include <set>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/models.h"
#include "train/run_config.h"

namespace ds {

struct InitReport {
  std::string kind;  // what SOURCE was
  std::vector<std::string> loaded, converted, created, skipped;
  std::set<std::string> new_params;  // parameters of created layers (--lr-head applies to them)
  std::string text() const;          // the report printed at the start of the run
};

// The named tensors of SOURCE, whatever its kind; `kind` says which it was.
NamedTensors read_init_source(const std::string& source, std::string* kind);

// Sets `model`'s parameters and buffers from `src`. Throws TrainError (naming the source and the
// tensor) for a mismatch that would drop a layer, unless allow_partial.
InitReport init_model_from(torch::nn::Module& model, const NamedTensors& src, const InitOptions& o);

// --freeze patterns (shell globs on parameter names, e.g. 'layer*' or 'conv1.*'): sets
// requires_grad false on matching parameters; a pattern matching nothing is an error.
std::vector<std::string> freeze_parameters(torch::nn::Module& model, const std::vector<std::string>& patterns);

}  // namespace ds
