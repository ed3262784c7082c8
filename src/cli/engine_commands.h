#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace ds::cli {

struct EngineArgs {
  std::string checkpoint, output, model, data, kernel, against;
  std::vector<std::string> files;
  int threads = 0, batch = 64, limit = 10, top = 5, reps = 20;
};

void add_engine_commands(CLI::App& app, EngineArgs& a);
int run_export(const EngineArgs& a);
int run_eval(const EngineArgs& a);
int run_infer(const EngineArgs& a);
int run_bench(const EngineArgs& a);

}  // namespace ds::cli
