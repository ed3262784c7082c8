#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/deploy_commands.h"

namespace ds::cli {

struct EngineArgs {
  std::string checkpoint, output, data;  // export
  std::string format = "dsm";            // export --format: dsm or onnx
  DeployArgs deploy;                     // eval, infer, bench, info (deploy_commands.h)
};

// export, and the deployment commands with eval --against.
void add_engine_commands(CLI::App& app, EngineArgs& a);
int run_export(const EngineArgs& a);
// The trainer's logits for every test image of `ds` (eval --against; a ReferenceLogits): libtorch.
std::vector<float> trainer_logits(const std::string& checkpoint, const data::Dataset& ds);

}  // namespace ds::cli
