// Speech datasets: an FSC-style manifest (train.csv / test.csv: path,intent,...) or the Speech
// Commands layout (class folders + testing_list.txt). Samples are waveforms at the front end's
// rate, cut or padded to its clip length; audio is decoded lazily in load().
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/audio_file.h"
#include "data/io.h"
#include "data/readers.h"
#include "data/transform.h"

namespace ds::data {

namespace fs = std::filesystem;

namespace {

struct Clip {
  std::string path, label;
};

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> f(1);
  for (char ch : line) {
    if (ch == ',') f.emplace_back();
    else if (ch != '\r') f.back() += ch;
  }
  return f;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path + ": cannot open");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

// A manifest: a header naming at least the columns path and intent; paths relative to its folder.
std::vector<Clip> read_manifest(const std::string& csv) {
  const std::vector<std::string> lines = read_lines(csv);
  if (lines.empty()) throw DataError(csv + ": empty manifest (expected a header path,intent,...)");
  const std::vector<std::string> head = split_csv(lines[0]);
  const auto col = [&](const char* name) {
    const auto it = std::find(head.begin(), head.end(), name);
    if (it == head.end()) throw DataError(csv + ": the header '" + lines[0] + "' has no column '" + name + "'");
    return size_t(it - head.begin());
  };
  const size_t pc = col("path"), ic = col("intent");
  const fs::path dir = fs::path(csv).parent_path();
  std::vector<Clip> clips;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> f = split_csv(lines[i]);
    if (f.size() != head.size())
      throw DataError(csv + ": line " + std::to_string(i + 1) + " has " + std::to_string(f.size()) + " fields, the header " +
                      std::to_string(head.size()));
    if (f[pc].empty() || f[ic].empty()) throw DataError(csv + ": line " + std::to_string(i + 1) + " has an empty path or intent");
    clips.push_back({(dir / f[pc]).string(), f[ic]});
  }
  if (clips.empty()) throw DataError(csv + ": no clips listed");
  return clips;
}

bool is_wav_name(const fs::path& p) { return detail::to_lower(p.extension().string()) == ".wav"; }

// Speech Commands: root/<class>/<file>.wav; testing_list.txt (and validation_list.txt) name
// files as "<class>/<file>.wav".
std::vector<Clip> read_speech_commands(const std::string& root, bool train) {
  const auto listed = [&](const char* name) {
    std::set<std::string> s;
    const fs::path p = fs::path(root) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec))
      for (const std::string& l : read_lines(p.string())) s.insert(l);
    return s;
  };
  const std::set<std::string> test = listed("testing_list.txt"), val = listed("validation_list.txt");
  std::vector<Clip> clips;
  if (!train) {
    for (const std::string& rel : test) clips.push_back({(fs::path(root) / rel).string(), fs::path(rel).parent_path().string()});
  } else {
    for (const std::string& cls : detail::class_folders(root)) {
      if (cls.empty() || cls[0] == '_') continue;  // _background_noise_ is not a class
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(fs::path(root) / cls))
        if (!e.is_directory() && is_wav_name(e.path())) names.push_back(e.path().filename().string());
      std::sort(names.begin(), names.end());
      for (const std::string& n : names) {
        const std::string rel = cls + "/" + n;
        if (!test.count(rel) && !val.count(rel)) clips.push_back({(fs::path(root) / rel).string(), cls});
      }
    }
  }
  if (clips.empty()) throw DataError(root + ": no " + std::string(train ? "training" : "test") + " WAV files found");
  return clips;
}

std::vector<Clip> read_clips(Kind kind, const std::vector<std::string>& files, bool train) {
  if (kind == Kind::kSpeechManifest) return read_manifest(files[0]);
  return read_speech_commands(fs::path(files[0]).parent_path().string(), train);
}

class SpeechDataset : public Dataset {
 public:
  SpeechDataset(Kind kind, const std::vector<std::string>& files, const core::AudioFrontEnd& fe, const Transform& t,
                const std::string& split, const detail::Classes& given)
      : kind_(kind), where_(files[0]), split_(split), fe_(fe), t_(t) {
    const std::string bad = core::check_front_end(fe);
    if (!bad.empty()) throw DataError(where_ + ": unusable audio front end: " + bad);
    const std::vector<Clip> clips = read_clips(kind, files, split != "test");
    if (given.names.empty()) {
      std::set<std::string> s;
      for (const Clip& c : clips) s.insert(c.label);
      classes_.assign(s.begin(), s.end());
    } else {
      classes_ = given.names;
    }
    std::map<std::string, int> index;
    for (size_t c = 0; c < classes_.size(); ++c) index.emplace(classes_[c], int(c));
    for (const Clip& c : clips) {
      const auto it = index.find(c.label);
      if (it == index.end())
        throw DataError(where_ + ": " + c.path + " has class '" + c.label + "', which is not among the " +
                        std::to_string(classes_.size()) + " classes of " + given.from + " (" + detail::list_text(classes_) + ")");
      std::error_code ec;
      if (!fs::is_regular_file(c.path, ec)) throw DataError(where_ + ": listed file " + c.path + " does not exist");
      files_.push_back(c.path);
      labels_.push_back(it->second);
    }
  }

  size_t size() const override { return files_.size(); }
  int num_classes() const override { return int(classes_.size()); }
  Shape sample_shape() const override { return {1, 1, int(fe_.clip_samples)}; }
  std::vector<std::string> class_names() const override { return classes_; }

  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (i >= size()) throw DataError(where_ + ": sample index out of range");
    const std::vector<float> wave = load_audio(files_[i], fe_.sample_rate);
    const long shift = t_.time_shift > 0 ? uniform_int(rng, -t_.time_shift, t_.time_shift) : 0;
    fit_clip(wave, fe_.clip_samples, shift, out);
    return labels_[i];
  }

  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, " (%zu clips of %.2f s at %u Hz, %d classes%s)", size(),
                  double(fe_.clip_samples) / fe_.sample_rate, fe_.sample_rate, num_classes(),
                  t_.time_shift > 0 ? ", augmentation: time shift + SpecAugment masks" : "");
    return std::string(kind_name(kind_)) + " " + split_ + ": " + where_ + buf;
  }

 private:
  Kind kind_;
  std::string where_, split_;
  core::AudioFrontEnd fe_;
  Transform t_;
  std::vector<std::string> files_, classes_;
  std::vector<int> labels_;
};

}  // namespace

namespace detail {

std::unique_ptr<Dataset> make_speech(Kind kind, const std::vector<std::string>& files, const core::AudioFrontEnd& fe,
                                     const Transform& t, const std::string& split, const Classes& classes) {
  return std::make_unique<SpeechDataset>(kind, files, fe, t, split, classes);
}

std::vector<std::string> speech_class_names(Kind kind, const std::vector<std::string>& train_files) {
  std::set<std::string> s;
  for (const Clip& c : read_clips(kind, train_files, true)) s.insert(c.label);
  return {s.begin(), s.end()};
}

}  // namespace detail
}  // namespace ds::data
