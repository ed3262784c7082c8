// denseshift-run: the deployment commands (eval, infer, bench, info) without libtorch, for the
// machines a model is deployed on: it links the engine and the image/dataset readers only.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "cli/deploy_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"denseshift-run: run DenseShift models (.dsm) on the libtorch-free engine"};
  app.require_subcommand(1);
  ds::cli::DeployArgs args;
  ds::cli::add_deploy_commands(app, args);
  CLI11_PARSE(app, argc, argv);
  try {
    return ds::cli::run_deploy_command(app, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "denseshift-run: error: %s\n", e.what());
    return 1;
  }
}
