#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ds::rt {
namespace {

// One job at a time: workers wait for the generation to change, claim task indices from an
// atomic counter, and the last one to finish a task wakes the caller.
//
// Waiting spins for a short while (kSpin) before it sleeps on a condition variable: a network
// runs one or two parallel sections per layer, microseconds apart, and a futex wake-up costs tens
// of microseconds on a virtual machine - per section, on the critical path. (ResNet-18 batch 1 on
// 2 threads: measured in the commit that added it.) An idle pool sleeps after kSpin.
class Pool {
 public:
  static Pool& get() {
    static Pool pool;  // workers are joined at exit
    return pool;
  }

  // False when the pool is busy (nested or concurrent call): the caller runs the job itself.
  bool try_run(int tasks, int helpers, const std::function<void(int)>& fn) {
    if (in_task_) return false;  // checked first: this thread may hold job_mu_ already
    std::unique_lock<std::mutex> busy(job_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    grow(helpers);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      tasks_ = tasks;
      next_.store(0);
      done_ = 0;
      helpers_ = helpers;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work();
    spin_until([&] { return done_.load() == tasks_ && running_.load() == 0; });
    std::unique_lock<std::mutex> lk(mu_);
    finished_.wait(lk, [&] { return done_ == tasks_ && running_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void grow(int helpers) {
    while (int(workers_.size()) < helpers) {
      const int id = int(workers_.size());
      workers_.emplace_back([this, id] { loop(id); });
    }
  }

  // Claims and runs tasks until none are left.
  void work() {
    in_task_ = true;
    for (int i; (i = next_.fetch_add(1)) < tasks_;) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lk(mu_);
      if (++done_ == tasks_) finished_.notify_all();
    }
    in_task_ = false;
  }

  // Polls `ready` for up to kSpin, pausing the core between polls; the caller then takes the
  // mutex and waits on its condition variable, which returns at once if ready by then.
  template <class F>
  static void spin_until(F ready) {
    using Clock = std::chrono::steady_clock;
    const auto end = Clock::now() + kSpin;
    while (!ready()) {
      for (int i = 0; i < 64; ++i) pause();
      if (Clock::now() > end) return;
    }
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  void loop(int id) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      lk.unlock();
      spin_until([&] { return stop_.load() || generation_.load() != seen; });
      lk.lock();
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (id >= helpers_ || fn_ == nullptr) continue;
      ++running_;
      lk.unlock();
      work();
      lk.lock();
      if (--running_ == 0) finished_.notify_all();
    }
  }

  std::mutex job_mu_;  // one job at a time
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;
  static constexpr std::chrono::microseconds kSpin{200};
  const std::function<void(int)>* fn_ = nullptr;
  int tasks_ = 0, helpers_ = 0;
  // Changed under mu_ only; atomic so that spin_until may read them without it.
  std::atomic<int> done_{0}, running_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> next_{0};
  std::exception_ptr error_;
  static thread_local bool in_task_;
};

thread_local bool Pool::in_task_ = false;

}  // namespace

void parallel_tasks(int tasks, int threads, const std::function<void(int)>& fn) {
  if (tasks <= 0) return;
  const int helpers = std::min(threads, tasks) - 1;
  if (helpers > 0 && Pool::get().try_run(tasks, helpers, fn)) return;
  for (int i = 0; i < tasks; ++i) fn(i);
}

void parallel_for(int n, int threads, const std::function<void(int, int)>& fn) {
  const int t = std::max(1, std::min(threads, n));
  if (n <= 0) return;
  parallel_tasks(t, t, [&](int i) { fn(int(int64_t(n) * i / t), int(int64_t(n) * (i + 1) / t)); });
}

}  // namespace ds::rt
