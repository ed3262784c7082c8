#include "runtime/thread_pool.h"

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace ds::rt {

void parallel_for(int n, int threads, const std::function<void(int, int)>& fn) {
  const int t = std::max(1, std::min(threads, n));
  if (t == 1) {
    if (n > 0) fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(t));
  auto chunk = [&](int i) {
    try {
      fn(int(int64_t(n) * i / t), int(int64_t(n) * (i + 1) / t));
    } catch (...) {
      errors[size_t(i)] = std::current_exception();
    }
  };
  for (int i = 1; i < t; ++i) pool.emplace_back(chunk, i);
  chunk(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace ds::rt
