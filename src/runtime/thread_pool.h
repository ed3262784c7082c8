// The engine's threads: one process-wide pool of workers, started on first use and kept, so a
// layer's parallel section costs a wake-up, not a thread start (which dominated small models).
// Waiting workers spin for 200 us before they sleep, so back-to-back sections (every layer has
// one or two) do not pay a futex wake-up each; an idle pool sleeps.
#pragma once

#include <functional>

namespace ds::rt {

// Runs fn(0) .. fn(tasks - 1) on up to `threads` threads (the caller's included), each task
// once, handed out in order as threads become free. Returns when all are done; rethrows the first
// exception a task threw. Calls from inside a task, or while another thread's call is running,
// still work (the nested or concurrent call runs on fewer threads, the caller's at least).
void parallel_tasks(int tasks, int threads, const std::function<void(int task)>& fn);

// Splits [0, n) into min(n, threads) contiguous chunks, run as tasks.
void parallel_for(int n, int threads, const std::function<void(int begin, int end)>& fn);

}  // namespace ds::rt
