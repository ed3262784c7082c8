// bench_e2e's engine contenders (`ds`, `ds_fastest`) and the engine's idle floor, in a process
// without libtorch: its peak memory is what a deployment of the engine uses, not the engine plus
// libtorch's ~150 MB of initialised operator tables. bench_e2e starts it; it speaks e2e_child.h.
//
//   bench_e2e_engine --child ds|ds_fastest|idle --model FILE.dsm --batch N --threads N
//                    [--kernel NAME] [--input random|grey]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "e2e_child.h"
#include "runtime/engine.h"

namespace {

using namespace ds::bench::e2e;

class EngineRunner : public Runner {
 public:
  EngineRunner(const std::string& path, int batch, int threads, const std::string& kernel, bool grey)
      : e_(ds::rt::Engine::load(path, ds::rt::EngineOptions{kernel, threads})), batch_(batch) {
    const auto& in = e_.info();
    x_ = input_values(size_t(batch) * in.in_c * in.in_h * in.in_w, grey);
  }
  void run() override { y_ = e_.run(x_.data(), batch_); }
  std::string info() const override {
    return std::string("kernel=") + e_.kernel().name + " weight_bytes=" + std::to_string(e_.weight_bytes()) +
           " file_bytes=" + std::to_string(e_.file_size());
  }

 private:
  ds::rt::Engine e_;
  int batch_;
  std::vector<float> x_, y_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string child, model, kernel;
  int batch = 1, threads = 1;
  bool grey = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!std::strcmp(k, "--child")) child = v;
    else if (!std::strcmp(k, "--model")) model = v;
    else if (!std::strcmp(k, "--kernel")) kernel = v;
    else if (!std::strcmp(k, "--batch")) batch = std::atoi(v);
    else if (!std::strcmp(k, "--threads")) threads = std::atoi(v);
    else if (!std::strcmp(k, "--input")) grey = !std::strcmp(v, "grey");
  }
  std::unique_ptr<Runner> r;
  std::string why;
  try {
    if (child == "idle") r = std::make_unique<IdleRunner>();
    else if (child == "ds" || child == "ds_fastest") r = std::make_unique<EngineRunner>(model, batch, threads, kernel, grey);
    else why = "bench_e2e_engine: unknown contender '" + child + "'";
  } catch (const std::exception& e) {
    why = e.what();
  }
  return serve(std::move(r), why);
}
