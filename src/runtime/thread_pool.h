// Splits [0, n) into contiguous chunks run on up to `threads` threads (the caller's included).
#pragma once

#include <functional>

namespace ds::rt {

void parallel_for(int n, int threads, const std::function<void(int begin, int end)>& fn);

}  // namespace ds::rt
