// The Python module `denseshift`: the engine (runtime/engine.h) from NumPy.
//
//   import denseshift, numpy as np
//   m = denseshift.Model("model.dsm")                  # kernel=None, threads=None: the engine's defaults
//   logits = m.run(np.zeros((8, *m.input_shape), np.float32))   # [8, classes]
//   classes, probs = m.predict(x, topk=5)
//
// run() reads a C-contiguous float32 array in place (no copy) and releases the GIL while the
// engine works, so Python threads run models in parallel. Errors keep the engine's messages:
// a bad file is denseshift.FormatError (a ValueError), a bad argument a ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/container.h"
#include "kernels/kernels.h"
#include "runtime/engine.h"
#ifdef DS_WITH_ONNX
#include "onnx_export/onnx_export.h"
#endif
#ifdef DS_WITH_DATA
#include "data/dataset.h"
#include "data/image_decode.h"
#include "runtime/preprocess.h"
#endif

namespace py = pybind11;

namespace {

// What the tests observe: the address the engine last read its input from (zero copy) and the
// most runs that were inside the engine at once (the GIL is released during a run).
std::atomic<uintptr_t> g_last_input{0};
std::atomic<int> g_running{0}, g_max_running{0};

// Counts runs in flight for the whole scope, exceptions included.
struct RunningScope {
  RunningScope() {
    const int now = ++g_running;
    int seen = g_max_running.load();
    while (now > seen && !g_max_running.compare_exchange_weak(seen, now)) {
    }
  }
  ~RunningScope() { --g_running; }
};

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

class Model {
 public:
  Model(const std::string& path, std::optional<std::string> kernel, std::optional<int> threads)
      : engine_(load(path, kernel, threads)) {}

  // x: [N, C, H, W] or [C, H, W]. Returns [N, classes] or [classes].
  py::array_t<float> run(const py::handle& x) const {
    auto [a, batch] = as_input(x);
    std::vector<float> logits = infer(a, batch, false);
    return to_numpy(std::move(logits), a.ndim() == 3, batch);
  }

  // The topk classes of each image and their probabilities, best first: two arrays of
  // [N, topk] (int64 and float32), or [topk] for one [C, H, W] image.
  py::tuple predict(const py::handle& x, int topk) const {
    const int C = int(engine_.info().num_classes);
    if (topk < 1 || topk > C)
      throw py::value_error("topk must be in 1.." + std::to_string(C) + " (the model's classes), not " + std::to_string(topk));
    auto [a, batch] = as_input(x);
    const std::vector<float> p = infer(a, batch, true);
    std::vector<int64_t> idx(size_t(batch) * topk);
    std::vector<float> prob(idx.size());
    std::vector<int> order(C);
    for (int b = 0; b < batch; ++b) {
      const float* row = p.data() + size_t(b) * C;
      std::iota(order.begin(), order.end(), 0);
      // Ties keep the lower class first, as the CLI's infer does.
      std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return row[i] > row[j]; });
      for (int k = 0; k < topk; ++k) {
        idx[size_t(b) * topk + k] = order[k];
        prob[size_t(b) * topk + k] = row[order[k]];
      }
    }
    std::vector<py::ssize_t> shape = {py::ssize_t(batch), py::ssize_t(topk)};
    if (a.ndim() == 3) shape.erase(shape.begin());
    return py::make_tuple(py::array_t<int64_t>(shape, idx.data()), py::array_t<float>(shape, prob.data()));
  }

  std::vector<std::string> classes() const {
    const auto& info = engine_.info();
    if (!info.class_names.empty()) return info.class_names;
    std::vector<std::string> out;
    for (uint32_t c = 0; c < info.num_classes; ++c) out.push_back(std::to_string(c));
    return out;
  }
  py::tuple input_shape() const {
    const auto& i = engine_.info();
    return py::make_tuple(i.in_c, i.in_h, i.in_w);
  }
  const ds::rt::Engine& engine() const { return engine_; }

#ifdef DS_WITH_DATA
  // A JPEG or PNG file as this model's input [C, H, W]: decoded (data/image_decode.h), then the
  // runtime's preprocessing (runtime/preprocess.h), the one the CLI's infer uses.
  py::array_t<float> load_image(const std::string& path) const {
    std::vector<float> x;
    {
      py::gil_scoped_release unlocked;
      const ds::data::Image img = ds::data::decode_image(path);
      x = ds::rt::preprocess_image(ds::rt::Picture{img.px.data(), img.c, img.h, img.w}, engine_.info(), path);
    }
    const auto& i = engine_.info();
    auto* owned = new std::vector<float>(std::move(x));
    py::capsule free_it(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
    return py::array_t<float>({py::ssize_t(i.in_c), py::ssize_t(i.in_h), py::ssize_t(i.in_w)}, owned->data(), free_it);
  }
#endif

 private:
  static ds::rt::Engine load(const std::string& path, const std::optional<std::string>& kernel, std::optional<int> threads) {
    if (threads && *threads < 0) throw py::value_error("threads must be >= 0 (0: all cores), not " + std::to_string(*threads));
    ds::rt::EngineOptions opt{kernel.value_or(""), threads.value_or(0)};
    py::gil_scoped_release unlocked;  // reading and preparing a large model takes a while
    return ds::rt::Engine::load(path, opt);
  }

  // The input as a C-contiguous float32 array: the caller's own when it already is one
  // (forcecast copies only otherwise), with its shape checked against the model's.
  std::pair<FloatArray, int> as_input(const py::handle& x) const {
    const auto& i = engine_.info();
    const std::string want = std::to_string(i.in_c) + ", " + std::to_string(i.in_h) + ", " + std::to_string(i.in_w);
    FloatArray a = FloatArray::ensure(x);  // clears NumPy's error when it cannot convert
    if (!a)
      throw py::type_error("input must be a float32 array [N, " + want + "] or [" + want + "], not " +
                           std::string(py::str(py::type::of(x).attr("__name__"))));
    const py::ssize_t d = a.ndim() - 3;
    bool ok = (a.ndim() == 3 || a.ndim() == 4) && a.shape(d) == py::ssize_t(i.in_c) &&
              a.shape(d + 1) == py::ssize_t(i.in_h) && a.shape(d + 2) == py::ssize_t(i.in_w);
    if (!ok) {
      std::string got;
      for (py::ssize_t k = 0; k < a.ndim(); ++k) got += (k ? ", " : "") + std::to_string(a.shape(k));
      throw py::value_error("input must have shape [N, " + want + "] or [" + want + "], not [" + got + "]");
    }
    const py::ssize_t n = a.ndim() == 4 ? a.shape(0) : 1;
    if (n < 1 || n > engine_.max_batch())
      throw py::value_error("batch must be in 1.." + std::to_string(engine_.max_batch()) + ", not " + std::to_string(n));
    return {std::move(a), int(n)};
  }

  std::vector<float> infer(const FloatArray& a, int batch, bool probabilities) const {
    const float* p = a.data();
    g_last_input = reinterpret_cast<uintptr_t>(p);
    // `a` keeps the array alive; no Python object is touched until the GIL is back.
    py::gil_scoped_release unlocked;
    RunningScope running;
    return probabilities ? engine_.probabilities(p, batch) : engine_.run(p, batch);
  }

  // Hands the vector's buffer to NumPy (no copy): a capsule owns it.
  py::array_t<float> to_numpy(std::vector<float> v, bool one_image, int batch) const {
    auto* owned = new std::vector<float>(std::move(v));
    py::capsule free_it(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
    const py::ssize_t C = engine_.info().num_classes;
    std::vector<py::ssize_t> shape = {py::ssize_t(batch), C};
    if (one_image) shape.erase(shape.begin());
    return py::array_t<float>(shape, owned->data(), free_it);
  }

  ds::rt::Engine engine_;
};

}  // namespace

PYBIND11_MODULE(denseshift, m) {
  m.doc() = "DenseShift inference engine: run .dsm models (power-of-two weights) on NumPy arrays";
  // A corrupt or wrong file: the engine's message (file, node, problem). A ValueError, so callers
  // that catch bad input in general catch it too.
  py::register_exception<ds::core::FormatError>(m, "FormatError", PyExc_ValueError);
  // std::invalid_argument is a ValueError through pybind11's own translation.

  py::class_<Model>(m, "Model", "A .dsm model loaded into the engine")
      .def(py::init<const std::string&, std::optional<std::string>, std::optional<int>>(), py::arg("path"),
           py::arg("kernel") = py::none(), py::arg("threads") = py::none(),
           "Loads a .dsm file. kernel: a name from kernels() or 'fastest' (None: the multiply-free default); "
           "threads: 0 or None for all cores")
      .def("run", &Model::run, py::arg("x"),
           "Logits of float32 images [N, C, H, W] -> [N, classes] (or [C, H, W] -> [classes]), normalized as "
           "mean/std say. A C-contiguous float32 array is read in place; the GIL is released during the run")
      .def("predict", &Model::predict, py::arg("x"), py::arg("topk") = 5,
           "(classes, probabilities): the topk classes of each image, best first, and their softmax probabilities")
      .def_property_readonly("classes", &Model::classes, "class names (their indices when the model has none)")
      .def_property_readonly("input_shape", &Model::input_shape, "(C, H, W) of one image")
      .def_property_readonly("kernel", [](const Model& s) { return std::string(s.engine().kernel().name); })
      .def_property_readonly("threads", [](const Model& s) { return s.engine().threads(); })
      .def_property_readonly("mean", [](const Model& s) { return s.engine().info().mean; })
      .def_property_readonly("std", [](const Model& s) { return s.engine().info().std; })
      .def_property_readonly("arch", [](const Model& s) { return s.engine().info().arch; })
      .def_property_readonly("method", [](const Model& s) { return s.engine().info().method; })
      .def("kernels", [](const Model& s) {
             std::vector<std::string> out;
             for (const auto* k : ds::kernels::kernels_for(s.engine().quantized_weights())) out.push_back(k->name);
             return out;
           }, "the kernels supported here that can run this model's weights")
      .def("summary", [](const Model& s) { return s.engine().summary(); }, "one line per layer")
#ifdef DS_WITH_DATA
      .def("load_image", &Model::load_image, py::arg("path"),
           "A JPEG or PNG file as this model's input [C, H, W] float32: resized, center-cropped, grey for "
           "1-channel models, normalized with the model's mean/std (as the CLI's infer)")
#endif
      .def("__repr__", [](const Model& s) {
        const auto& i = s.engine().info();
        return "<denseshift.Model " + i.arch + " " + i.method + " " + std::to_string(i.in_c) + "x" + std::to_string(i.in_h) +
               "x" + std::to_string(i.in_w) + " -> " + std::to_string(i.num_classes) + " classes, kernel " +
               s.engine().kernel().name + ">";
      });

#ifdef DS_WITH_DATA
  // An unreadable, corrupt or unsupported image file: the decoder's message, naming the file.
  py::register_exception<ds::data::DataError>(m, "DataError", PyExc_ValueError);
  m.def("load_image", [](const std::string& path, const Model& model) { return model.load_image(path); },
        py::arg("path"), py::arg("model"), "model.load_image(path): the image as the model's input [C, H, W]");
#endif

  m.def("kernels", [] {
    std::vector<std::string> out;
    for (const auto& k : ds::kernels::all_kernels())
      if (k.supported()) out.push_back(k.name);
    return out;
  }, "names of the kernels this CPU supports");

#ifdef DS_WITH_ONNX
  m.def("export_onnx", [](const std::string& dsm, const std::string& out) {
    const ds::onnx_export::OnnxReport r = [&] {
      py::gil_scoped_release unlocked;
      return ds::onnx_export::export_onnx(dsm, out);
    }();
    return py::dict(py::arg("path") = r.path, py::arg("bytes") = r.file_bytes, py::arg("nodes") = r.onnx_nodes,
                    py::arg("parameters") = r.parameters);
  }, py::arg("model"), py::arg("output"),
        "Writes the .dsm model's ONNX graph (FP32, opset 13, dynamic batch); returns {path, bytes, nodes, parameters}");
#endif

  m.def("_debug_last_input_address", [] { return g_last_input.load(); },
        "address of the float data the engine last read (tests: zero-copy input)");
  m.def("_debug_max_concurrent_runs", [] { return g_max_running.load(); },
        "the most runs inside the engine at once since the last reset (tests: the GIL is released)");
  m.def("_debug_reset", [] { g_max_running = 0; });
}
