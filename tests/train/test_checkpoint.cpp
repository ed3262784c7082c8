// Checkpoints: every field round-trips; a damaged, foreign, hand-edited or half-written file
// is refused with an error naming it (never accepted as a different model, never a libtorch
// backtrace); a full disk keeps the previous checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>

#include "common/small_tmpfs.h"
#include "common/temp_dir.h"
#include "core/atomic_file.h"
#include "core/container.h"
#include "train/checkpoint.h"
#include "train/models.h"
#include "same_tensors.h"

namespace ds {
namespace {
namespace fs = std::filesystem;

struct TempDir : testing::TempDirBase {
  TempDir() : TempDirBase("denseshift_ckpt") {}
};

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<char>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(b.data(), std::streamsize(b.size()));
}

// A checkpoint of a real DenseShift smallcnn (float latents, BN buffers, an int64 counter).
Checkpoint real_checkpoint() {
  torch::manual_seed(3);
  ModelConfig mc;
  mc.arch = "smallcnn", mc.in_channels = 1, mc.num_classes = 4;
  mc.policy.body = parse_spec("denseshift:3");
  auto model = make_model(mc);
  Checkpoint c;
  c.epoch = 3, c.best_top1 = 87.5, c.best_epoch = 2;
  c.config_json = R"({"arch":"smallcnn","epochs":5})";
  c.history = "{\"epoch\":1,\"top1\":50}\n{\"epoch\":2,\"top1\":87.5}\n{\"epoch\":3,\"top1\":80}\n";
  c.model = state_of(*model);
  for (const auto& p : model->named_parameters()) c.momentum.emplace_back(p.key(), torch::randn_like(p.value()));
  return c;
}

bool same(const Checkpoint& a, const Checkpoint& b) {
  return a.epoch == b.epoch && std::memcmp(&a.best_top1, &b.best_top1, sizeof(double)) == 0 &&
         a.best_epoch == b.best_epoch && a.config_json == b.config_json && a.history == b.history &&
         testing::same_tensors(a.model, b.model) && testing::same_tensors(a.momentum, b.momentum);
}

// The CheckpointError message `f` throws; a test failure if it throws nothing or another type.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a CheckpointError: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// What no message may contain: libtorch internals instead of a reason.
void expect_clean(const std::string& msg) {
  for (const char* bad : {"frame #", "INTERNAL ASSERT", "c10::", "Exception raised from", "Loader::"})
    EXPECT_EQ(msg.find(bad), std::string::npos) << "libtorch internals in: " << msg;
  const bool printable = std::all_of(msg.begin(), msg.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  EXPECT_TRUE(printable) << "raw bytes in: " << msg;
}

// The saved file's dict, edited by `edit`, written back as `path`.
void write_edited(const std::string& from, const std::string& path,
                  const std::function<void(c10::impl::GenericDict&)>& edit) {
  auto d = torch::pickle_load(read_bytes(from)).toGenericDict();
  edit(d);
  write_bytes(path, torch::pickle_save(c10::IValue(d)));
}

// A version-1 file as the first releases wrote it: no best_epoch, history or checksum.
void write_v1(const Checkpoint& c, const std::string& path,
              const std::function<void(c10::impl::GenericDict&)>& edit = nullptr) {
  auto tensors = [](const NamedTensors& ts) {
    c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
    for (const auto& [k, v] : ts) d.insert(k, v);
    return d;
  };
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string("denseshift-checkpoint"));
  d.insert("version", int64_t(1));
  d.insert("epoch", int64_t(c.epoch));
  d.insert("best_top1", c.best_top1);
  d.insert("config", c.config_json);
  d.insert("model", tensors(c.model));
  d.insert("momentum", tensors(c.momentum));
  if (edit) edit(d);
  write_bytes(path, torch::pickle_save(c10::IValue(d)));
}

TEST(Checkpoint, EveryFieldRoundTripsWithAChecksum) {
  TempDir dir;
  const Checkpoint c = real_checkpoint();
  const std::string path = dir.str("ck.pt");
  save_checkpoint(c, path);
  EXPECT_TRUE(same(load_checkpoint(path), c));
  const auto d = torch::pickle_load(read_bytes(path)).toGenericDict();
  EXPECT_EQ(d.at("version").toInt(), 2);
  EXPECT_EQ(d.at("checksum").toStringRef(), checkpoint_checksum(c));
  EXPECT_EQ(d.at("best_epoch").toInt(), 2);
  EXPECT_EQ(d.at("history").toStringRef(), c.history);
  EXPECT_FALSE(fs::exists(core::atomic_temp_path(path)));
}

TEST(Checkpoint, RunFolderMeansItsLastPt) {
  TempDir dir;
  const Checkpoint c = real_checkpoint();
  save_checkpoint(c, dir.str("last.pt"));
  EXPECT_EQ(checkpoint_file(dir.str()), dir.str("last.pt"));
  EXPECT_TRUE(same(load_checkpoint(dir.str()), c));
  fs::create_directories(dir.str("empty_run"));
  const std::string msg = error_of([&] { load_checkpoint(dir.str("empty_run")); });
  EXPECT_NE(msg.find(dir.str("empty_run")), std::string::npos) << msg;
  EXPECT_NE(msg.find("without last.pt"), std::string::npos) << msg;
  // The same for a caller that put the folder and last.pt together itself.
  const std::string joined = error_of([&] { load_checkpoint(dir.str("empty_run/last.pt")); });
  EXPECT_NE(joined.find("without last.pt"), std::string::npos) << joined;
}

TEST(Checkpoint, Version1LoadsWithAWarningThatItCannotBeVerified) {
  TempDir dir;
  Checkpoint c = real_checkpoint();
  const std::string path = dir.str("old.pt");
  write_v1(c, path);
  ::testing::internal::CaptureStderr();
  const Checkpoint back = load_checkpoint(path);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("cannot be verified"), std::string::npos) << err;
  c.best_epoch = 0, c.history.clear();  // what a version-1 file does not hold
  EXPECT_TRUE(same(back, c));
}

// Seeded damage to a real checkpoint: each damaged file is refused with a CheckpointError
// naming it, or, where the damage hit bytes nothing reads (zip padding, timestamps), loads
// as exactly the saved content. Before checksums torch::pickle_load read 119 of these 160 files
// without complaint, mostly as models with other weights.
TEST(Checkpoint, DamagedFilesAreRefusedOrLoadBitIdentical) {
  TempDir dir;
  const Checkpoint c = real_checkpoint();
  const std::string path = dir.str("good.pt");
  save_checkpoint(c, path);
  const std::vector<char> good = read_bytes(path);
  ASSERT_GT(good.size(), 10000u);
  std::mt19937 rng(20241201);
  auto below = [&](size_t n) { return size_t(rng() % n); };
  int refused = 0, identical = 0;
  const int kEach = 40;
  for (int i = 0; i < 4 * kEach; ++i) {
    std::vector<char> b = good;
    std::string kind;
    switch (i / kEach) {
      case 0: {  // 1 to 4 flipped bits
        kind = "bit flips";
        for (size_t k = 0, n = 1 + below(4); k < n; ++k) b[below(b.size())] ^= char(1 << below(8));
        break;
      }
      case 1: {  // a run of one byte value, as a bad sector or a zeroed page leaves
        kind = "byte run";
        const size_t at = below(b.size()), len = std::min(b.size() - at, 1 + below(256));
        const char v = i % 2 ? char(0) : char(rng());
        std::fill(b.begin() + long(at), b.begin() + long(at + len), v);
        if (std::equal(b.begin(), b.end(), good.begin())) b[at] = char(~b[at]);  // the run changed nothing
        break;
      }
      case 2: {  // cut short, as a copy or a non-atomic write interrupted
        kind = "truncation";
        b.resize(below(b.size()));
        break;
      }
      default: {  // random bytes over a random span
        kind = "random bytes";
        const size_t at = below(b.size()), len = std::min(b.size() - at, 1 + below(64));
        for (size_t k = at; k < at + len; ++k) b[k] = char(rng());
        break;
      }
    }
    const std::string name = dir.str("damaged_" + std::to_string(i) + ".pt");
    try {
      const Checkpoint back = parse_checkpoint(b, name);
      EXPECT_TRUE(same(back, c)) << "#" << i << " (" << kind << ") loaded as a different checkpoint";
      ++identical;
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      expect_clean(e.what());
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "#" << i << " (" << kind << ") threw something other than CheckpointError: " << e.what();
    }
  }
  std::printf("damaged checkpoints: %d refused, %d loaded bit-identical (of %d)\n", refused, identical, 4 * kEach);
  EXPECT_GT(refused, 3 * kEach);  // most damage lands in tensor bytes, which nothing but the checksum sees
}

// The checksum covers every field: a change that keeps the file well formed is still caught.
TEST(Checkpoint, EditedFieldsFailTheChecksum) {
  TempDir dir;
  const std::string path = dir.str("ck.pt"), edited = dir.str("edited.pt");
  save_checkpoint(real_checkpoint(), path);
  const std::vector<std::function<void(c10::impl::GenericDict&)>> edits = {
      [](auto& d) { d.insert_or_assign("epoch", int64_t(4)); },
      [](auto& d) { d.insert_or_assign("best_top1", 88.0); },
      [](auto& d) { d.insert_or_assign("best_epoch", int64_t(3)); },
      [](auto& d) { d.insert_or_assign("config", std::string(R"({"arch":"smallcnn","epochs":6})")); },
      [](auto& d) { d.insert_or_assign("history", std::string("")); },
      [](auto& d) { d.at("model").toGenericDict().begin()->value().toTensor().view(-1)[0].add_(1e-6); },
      [](auto& d) { d.at("momentum").toGenericDict().begin()->value().toTensor().view(-1)[0].mul_(-1); },
      [](auto& d) { EXPECT_EQ(d.at("model").toGenericDict().erase("fc.bias"), 1u); },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    write_edited(path, edited, edits[i]);
    const std::string msg = error_of([&] { load_checkpoint(edited); });
    EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << "edit #" << i << ": " << msg;
    EXPECT_NE(msg.find(edited), std::string::npos) << msg;
  }
}

// Hand-made or foreign dicts: each field is checked with a message naming it, never a libtorch
// assert ("INTERNAL ASSERT FAILED" for a string version, "Loader::next() called before
// start_epoch()" for a negative epoch, before these checks).
TEST(Checkpoint, EveryFieldIsValidated) {
  TempDir dir;
  const Checkpoint c = real_checkpoint();
  const std::string path = dir.str("bad.pt");
  struct Case {
    const char* expect;
    std::function<void(c10::impl::GenericDict&)> edit;
  };
  const std::vector<Case> v1_cases = {
      {"epoch -3 is not a count", [](auto& d) { d.insert_or_assign("epoch", int64_t(-3)); }},
      {"epoch 4294967296", [](auto& d) { d.insert_or_assign("epoch", int64_t(1) << 32); }},
      {"'epoch' is a string", [](auto& d) { d.insert_or_assign("epoch", std::string("3")); }},
      {"'epoch' is a float", [](auto& d) { d.insert_or_assign("epoch", 3.0); }},
      {"'version' is a string", [](auto& d) { d.insert_or_assign("version", std::string("1")); }},
      {"version 7 is not supported", [](auto& d) { d.insert_or_assign("version", int64_t(7)); }},
      {"best_top1 nan", [](auto& d) { d.insert_or_assign("best_top1", std::nan("")); }},
      {"best_top1 inf", [](auto& d) { d.insert_or_assign("best_top1", HUGE_VAL); }},
      {"best_top1 -2", [](auto& d) { d.insert_or_assign("best_top1", -2.0); }},
      {"best_top1 100.5", [](auto& d) { d.insert_or_assign("best_top1", 100.5); }},
      {"'best_top1' is a string", [](auto& d) { d.insert_or_assign("best_top1", std::string("x")); }},
      {"'config' is an integer", [](auto& d) { d.insert_or_assign("config", int64_t(5)); }},
      {"no 'model' entry", [](auto& d) { EXPECT_EQ(d.erase("model"), 1u); }},
      {"format entry differs", [](auto& d) { d.insert_or_assign("format", std::string("other")); }},
      {"'format' is an integer", [](auto& d) { d.insert_or_assign("format", int64_t(1)); }},
      {"unexpected entry 'extra'", [](auto& d) { d.insert("extra", int64_t(1)); }},
      {"'model' is a tensor, not a dict", [](auto& d) { d.insert_or_assign("model", torch::zeros({2})); }},
      {"dtype Double", [](auto& d) {
         d.at("model").toGenericDict().insert_or_assign("fc.bias", torch::zeros({4}, torch::kDouble));
       }},
      {"dtype Char", [](auto& d) {
         d.at("momentum").toGenericDict().insert_or_assign("fc.bias", torch::zeros({4}, torch::kInt8));
       }},
  };
  for (const auto& k : v1_cases) {
    write_v1(c, path, k.edit);
    ::testing::internal::CaptureStderr();  // the version-1 warning
    const std::string msg = error_of([&] { load_checkpoint(path); });
    ::testing::internal::GetCapturedStderr();
    EXPECT_NE(msg.find(k.expect), std::string::npos) << "expected '" << k.expect << "' in: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    expect_clean(msg);
  }
  // Version 2 with a matching checksum: the range checks run after it.
  Checkpoint later_best = c;
  later_best.best_epoch = c.epoch + 1;
  save_checkpoint(c, dir.str("good.pt"));
  write_edited(dir.str("good.pt"), path, [&](auto& d) {
    d.insert_or_assign("best_epoch", int64_t(later_best.best_epoch));
    d.insert_or_assign("checksum", checkpoint_checksum(later_best));
  });
  const std::string msg = error_of([&] { load_checkpoint(path); });
  EXPECT_NE(msg.find("best_epoch 4 is outside 0..3"), std::string::npos) << msg;
}

// A file of the wrong kind is named for what it is, with what was expected instead.
TEST(Checkpoint, ForeignFilesAreNamedForWhatTheyAre) {
  TempDir dir;
  core::ContainerWriter dsm;
  dsm.add("META", {1, 2, 3});
  dsm.write(dir.str("model.dsm"));
  struct Case {
    const char* file;
    std::vector<char> bytes;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"empty.pt", {}, "is empty (0 bytes)"},
      {"photo.jpg", {'\xff', '\xd8', '\xff', '\xe0', 0, 0x10, 'J', 'F', 'I', 'F'}, "a JPEG image"},
      {"img.png", {'\x89', 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0}, "a PNG image"},
      {"data.gz", {'\x1f', '\x8b', 8, 0, 0, 0}, "gzip"},
      {"result.json", {' ', '{', '"', 'a', '"', ':', '1', '}', '\n'}, "JSON text"},
      {"notes.txt", {'h', 'e', 'l', 'l', 'o', '\n'}, "a text file"},
      {"junk.bin", {'\x01', '\x02', '\x00', '\x7f'}, "first bytes 01 02 00 7f"},
      {"legacy.pt", {'\x80', '\x02', '\x8a', '\x0a'}, "legacy"},
  };
  for (const auto& k : cases) {
    const std::string p = dir.str(k.file);
    write_bytes(p, k.bytes);
    const std::string msg = error_of([&] { load_checkpoint(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find(k.expect), std::string::npos) << "expected '" << k.expect << "' in: " << msg;
    EXPECT_NE(msg.find("run folder"), std::string::npos) << "does not say what is expected: " << msg;
    expect_clean(msg);
  }
  const std::string msg = error_of([&] { load_checkpoint(dir.str("model.dsm")); });
  EXPECT_NE(msg.find("denseshift model file (.dsm)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("denseshift eval"), std::string::npos) << msg;
  // A torch.save file of something else.
  write_bytes(dir.str("tensor.pt"), torch::pickle_save(c10::IValue(torch::zeros({3}))));
  EXPECT_NE(error_of([&] { load_checkpoint(dir.str("tensor.pt")); }).find("not a dict"), std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(dir.str("missing.pt")); }).find(std::strerror(ENOENT)), std::string::npos);
}

TEST(Checkpoint, SaveRefusesWhatLoadWouldRefuse) {
  TempDir dir;
  const std::string path = dir.str("ck.pt");
  const std::vector<std::pair<const char*, std::function<void(Checkpoint&)>>> cases = {
      {"epoch -1 is negative", [](Checkpoint& c) { c.epoch = -1; }},
      {"best_top1 nan", [](Checkpoint& c) { c.best_top1 = std::nan(""); }},
      {"best_epoch 9", [](Checkpoint& c) { c.best_epoch = 9; }},
      {"appears twice", [](Checkpoint& c) { c.model.push_back(c.model.back()); }},
      {"dtype Double", [](Checkpoint& c) { c.model[0].second = c.model[0].second.to(torch::kDouble); }},
  };
  for (const auto& [expect, edit] : cases) {
    Checkpoint c = real_checkpoint();
    edit(c);
    const std::string msg = error_of([&] { save_checkpoint(c, path); });
    EXPECT_NE(msg.find(expect), std::string::npos) << "expected '" << expect << "' in: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(path));
  }
}

TEST(Checkpoint, FirstNonfiniteNamesTheTensor) {
  NamedTensors ts = {{"a", torch::ones({3})}, {"n", torch::zeros({2}, torch::kLong)}, {"b", torch::ones({2, 2})}};
  EXPECT_EQ(first_nonfinite(ts), "");
  ts[2].second[1][0] = std::nanf("");
  EXPECT_EQ(first_nonfinite(ts), "b");
  ts[0].second[2] = -HUGE_VALF;
  EXPECT_EQ(first_nonfinite(ts), "a");
}

TEST(Checkpoint, LoadStateRefusesAnotherDtype) {
  auto lin = torch::nn::Linear(2, 3);
  NamedTensors st = state_of(*lin);
  EXPECT_NO_THROW(load_state(*lin, st, "ck.pt"));
  st[0].second = st[0].second.to(torch::kLong);
  const std::string msg = error_of([&] { load_state(*lin, st, "ck.pt"); });
  EXPECT_NE(msg.find("dtype Long"), std::string::npos) << msg;
}

// Disk full while saving: the error says so and names the file, the previous checkpoint is
// intact and loads, and no temp file is left.
TEST(Checkpoint, DiskFullKeepsThePreviousCheckpoint) {
  testing::SmallTmpfs disk(4 << 20);  // the checkpoint is ~1.1 MB
  if (!disk.mounted()) GTEST_SKIP() << disk.reason();
  Checkpoint c = real_checkpoint();
  const std::string path = disk.str("last.pt");
  save_checkpoint(c, path);
  const std::vector<char> good = read_bytes(path);
  ASSERT_EQ(disk.fill(), ENOSPC);
  Checkpoint bigger = c;
  bigger.epoch = 4;
  bigger.history += std::string(200000, ' ');
  const std::string msg = error_of([&] { save_checkpoint(bigger, path); });
  EXPECT_NE(msg.find("disk is full"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), good);
  EXPECT_TRUE(same(load_checkpoint(path), c));
  EXPECT_EQ(disk.files(), std::vector<std::string>{"last.pt"});
  // The trainer's other files (metrics, result.json) go through the same wrapper.
  const std::string wmsg = error_of([&] { write_file_atomic(disk.str("result.json"), std::vector<char>(100000, 'x')); });
  EXPECT_NE(wmsg.find("disk is full"), std::string::npos) << wmsg;
  EXPECT_EQ(disk.files(), std::vector<std::string>{"last.pt"});
}

}  // namespace
}  // namespace ds
