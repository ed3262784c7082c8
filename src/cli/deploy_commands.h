// The deployment commands on the libtorch-free engine: eval, infer, bench and info. Linked into
// `denseshift-run` (no libtorch) and into `denseshift`, which adds `eval --against CHECKPOINT`
// through a ReferenceLogits function (the trainer's logits need libtorch).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ds::data {
class Dataset;
}

namespace ds::cli {

struct DeployArgs {
  std::string model, data, kernel, against, format = "text";
  std::vector<std::string> files;
  int threads = 0, batch = 64, limit = 10, top = 5, reps = 20;
  bool logits = false;
};

// The logits a reference (the trainer) gives for every test image of `ds`, in dataset order.
using ReferenceLogits = std::function<std::vector<float>(const std::string& checkpoint, const data::Dataset& ds)>;

// Adds the subcommands eval, infer, bench and info.
void add_deploy_commands(CLI::App& app, DeployArgs& a);

// Runs the deployment subcommand `app` got and returns its exit status; -1 when it got none.
// Without `reference`, eval --against is refused naming the binary that has it.
int run_deploy_command(const CLI::App& app, const DeployArgs& a, const ReferenceLogits& reference = {});

}  // namespace ds::cli
