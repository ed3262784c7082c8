// `denseshift train ... --nproc-per-node N`: runs N worker processes of this same command on
// this machine, as torchrun does, and stands for them: their exit status is its exit status,
// and when one fails the others are stopped instead of waiting on it forever.
#pragma once

#include <string>
#include <vector>

namespace ds::cli {

struct LaunchPlan {
  int nproc = 0;                   // workers on this machine
  std::vector<std::string> args;   // the command line without --nproc-per-node
  bool threads_given = false, workers_given = false;
  int grace_s = 10;                // after a failure: SIGTERM, then SIGKILL this many seconds later
};

// Removes "--nproc-per-node N" (or "=N") from argv; nproc 0 when absent.
LaunchPlan plan_launch(int argc, char** argv);

// Starts the workers with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT set (MASTER_PORT: a free port unless the environment has one), CPU threads and
// data workers divided between them unless given; waits; returns the first failing worker's
// status (128 + signal for a signal), 0 when all succeed.
int run_workers(const LaunchPlan& plan);

}  // namespace ds::cli
