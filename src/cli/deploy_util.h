// Helpers the deployment commands share (deploy_commands.h): choosing kernels, the checks every
// command makes before it reports a number, and the commands' run functions.
#pragma once

#include <string>
#include <vector>

#include "cli/deploy_commands.h"
#include "runtime/engine.h"

namespace ds::cli {

// Limits of the numeric flags. Threads beyond 1024 only add contention; --top and --limit are
// bounded by what a person reads; --reps by minutes of timing; --batch also by the engine's 4 GiB
// of activations per run (rt::Engine::max_batch), checked once the model is known.
constexpr int kMaxThreads = 1024, kMaxTop = 1000, kMaxBatch = 1 << 20, kMaxReps = 100000;

double now_ms();
std::string shape_text(uint32_t c, uint32_t h, uint32_t w);
// Class c's name as the model records it, or its number when it records none.
std::string class_name(const core::ModelInfo& info, size_t c);

// MODEL loaded to learn what it needs: on the kernel `name`, or the default for "all".
rt::Engine probe(const DeployArgs& a, const std::string& name);
// The kernels to run MODEL on: the probe's, or for "all" every supported kernel that can run its
// weights (kernels::kernels_for), so a kernel that would misread them is never offered.
std::vector<std::string> kernel_choices(const rt::Engine& probe, const std::string& name);
// --batch against what one run of this model may hold (rt::Engine::max_batch).
void check_batch(const rt::Engine& e, int batch, const std::string& model);
// "what on kernel K: N of M images gave non-finite logits": a NaN or an infinity has no argmax to
// report, and counted as a hit it once made top-1 100%.
void check_finite(size_t bad, size_t images, const std::string& what, const rt::Engine& e);

// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);

int run_eval(const DeployArgs& a, const ReferenceLogits& reference);
int run_infer(const DeployArgs& a);
int run_bench(const DeployArgs& a);
int run_info(const DeployArgs& a);

}  // namespace ds::cli
