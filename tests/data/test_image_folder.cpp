#include <gtest/gtest.h>

#include <cmath>

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/transform.h"
#include "image_writers.h"
#include "test_util.h"

namespace ds::data {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::encode_jpeg;
using testing::error_of;
using testing::PngSpec;
using testing::solid;
using testing::write_bytes;
using testing::write_png;
using testing::write_rgb_png;

std::vector<uint8_t> gradient(int w, int h) {
  std::vector<uint8_t> v;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) v.insert(v.end(), {uint8_t(10 * x), uint8_t(20 * y), uint8_t(x + y)});
  return v;
}

PngSpec spec(int w, int h, int color_type = PNG_COLOR_TYPE_RGB, int bit_depth = 8) {
  PngSpec s;
  s.w = w;
  s.h = h;
  s.color_type = color_type;
  s.bit_depth = bit_depth;
  return s;
}

Image decode_png_spec(const TempDir& dir, const PngSpec& s) {
  write_png(dir.path / "t.png", s);
  return decode_image(dir.str("t.png"));
}

TEST(ImageDecode, PngVariantsBecome8BitRgb) {
  TempDir dir;
  const auto rgb = gradient(3, 2);
  {
    PngSpec s = spec(3, 2);
    s.rows = rgb;
    const Image img = decode_png_spec(dir, s);
    ASSERT_EQ(img.c, 3);
    ASSERT_EQ(img.h, 2);
    ASSERT_EQ(img.w, 3);
    EXPECT_EQ(img.px, rgb);
    s.interlace = true;
    EXPECT_EQ(decode_png_spec(dir, s).px, rgb);
  }
  {  // 16-bit RGB: v * 257 scales back to v exactly
    PngSpec s = spec(3, 2, PNG_COLOR_TYPE_RGB, 16);
    for (uint8_t v : rgb) s.rows.insert(s.rows.end(), {v, v});
    EXPECT_EQ(decode_png_spec(dir, s).px, rgb);
  }
  {  // RGBA: alpha dropped
    PngSpec s = spec(3, 2, PNG_COLOR_TYPE_RGB_ALPHA);
    for (size_t i = 0; i < rgb.size(); i += 3) s.rows.insert(s.rows.end(), {rgb[i], rgb[i + 1], rgb[i + 2], 77});
    EXPECT_EQ(decode_png_spec(dir, s).px, rgb);
  }
  const std::vector<uint8_t> gray = {0, 50, 100, 150, 200, 255};
  std::vector<uint8_t> gray_rgb;
  for (uint8_t g : gray) gray_rgb.insert(gray_rgb.end(), {g, g, g});
  {  // gray, gray+alpha and 16-bit gray are replicated to three channels
    PngSpec s = spec(3, 2, PNG_COLOR_TYPE_GRAY);
    s.rows = gray;
    EXPECT_EQ(decode_png_spec(dir, s).px, gray_rgb);
    PngSpec ga = spec(3, 2, PNG_COLOR_TYPE_GRAY_ALPHA);
    for (uint8_t g : gray) ga.rows.insert(ga.rows.end(), {g, 9});
    EXPECT_EQ(decode_png_spec(dir, ga).px, gray_rgb);
    PngSpec g16 = spec(3, 2, PNG_COLOR_TYPE_GRAY, 16);
    for (uint8_t g : gray) g16.rows.insert(g16.rows.end(), {g, g});
    EXPECT_EQ(decode_png_spec(dir, g16).px, gray_rgb);
  }
  {  // 1-bit gray: 0 -> 0, 1 -> 255
    PngSpec s = spec(3, 2, PNG_COLOR_TYPE_GRAY, 1);
    s.rows = {0b10100000, 0b01000000};
    EXPECT_EQ(decode_png_spec(dir, s).px,
              (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0}));
  }
  {  // palette with transparency
    PngSpec s = spec(3, 2, PNG_COLOR_TYPE_PALETTE);
    s.palette = {{1, 2, 3}, {200, 100, 50}};
    s.trns = {0, 128};
    s.rows = {0, 1, 1, 1, 0, 0};
    EXPECT_EQ(decode_png_spec(dir, s).px,
              (std::vector<uint8_t>{1, 2, 3, 200, 100, 50, 200, 100, 50, 200, 100, 50, 1, 2, 3, 1, 2, 3}));
  }
}

TEST(ImageDecode, JpegRgbAndGray) {
  TempDir dir;
  write_bytes(dir.path / "c.jpg", encode_jpeg(16, 8, solid(16, 8, 200, 40, 90)));
  const Image img = decode_image(dir.str("c.jpg"));
  ASSERT_EQ(img.c, 3);
  ASSERT_EQ(img.h, 8);
  ASSERT_EQ(img.w, 16);
  for (size_t i = 0; i < img.px.size(); i += 3) {
    EXPECT_NEAR(img.px[i], 200, 3);
    EXPECT_NEAR(img.px[i + 1], 40, 3);
    EXPECT_NEAR(img.px[i + 2], 90, 3);
  }
  write_bytes(dir.path / "g.jpg", encode_jpeg(5, 7, std::vector<uint8_t>(35, 123), TJPF_GRAY));
  const Image g = decode_image(dir.str("g.jpg"));
  ASSERT_EQ(g.c, 3);
  ASSERT_EQ(g.px.size(), 5u * 7 * 3);
  for (size_t i = 0; i < g.px.size(); i += 3) {
    EXPECT_NEAR(g.px[i], 123, 2);
    EXPECT_EQ(g.px[i], g.px[i + 1]);
    EXPECT_EQ(g.px[i], g.px[i + 2]);
  }
}

// CMYK JPEGs are stored with inverted (Adobe) ink values: RGB = value * K / 255.
TEST(ImageDecode, CmykJpegBecomesRgb) {
  TempDir dir;
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < 8 * 8; ++i) cmyk.insert(cmyk.end(), {200, 100, 50, 128});
  write_bytes(dir.path / "cmyk.jpg", encode_jpeg(8, 8, cmyk, TJPF_CMYK));
  const Image img = decode_image(dir.str("cmyk.jpg"));
  ASSERT_EQ(img.c, 3);
  ASSERT_EQ(img.px.size(), 8u * 8 * 3);
  EXPECT_NEAR(img.px[0], 100, 4);
  EXPECT_NEAR(img.px[1], 50, 4);
  EXPECT_NEAR(img.px[2], 25, 4);
}

TEST(ImageDecode, CorruptFilesNameThePath) {
  TempDir dir;
  const auto jpeg = encode_jpeg(32, 32, gradient(32, 32));
  const auto marker = [&](uint8_t m) {
    for (size_t i = 0; i + 1 < jpeg.size(); ++i)
      if (jpeg[i] == 0xFF && jpeg[i + 1] == m) return i;
    return jpeg.size();
  };
  const size_t dht = marker(0xC4), sos = marker(0xDA);
  ASSERT_LT(sos + 40, jpeg.size());
  auto bad_huffman = jpeg;  // fatal in libjpeg: "Bogus Huffman table definition"
  std::fill(bad_huffman.begin() + long(dht) + 5, bad_huffman.begin() + long(dht) + 21, 0xFF);
  auto bad_sos = jpeg;  // fatal: unknown component id in the scan header
  bad_sos[sos + 5] = 0x77;
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> bad = {
      {"header_cut.jpg", {jpeg.begin(), jpeg.begin() + 40}},
      {"bad_huffman.jpg", bad_huffman},
      {"bad_sos.jpg", bad_sos},
      {"zeros.jpg", [] {
         std::vector<uint8_t> v(300, 0);
         v[0] = 0xFF, v[1] = 0xD8, v[2] = 0xFF;
         return v;
       }()},
      {"text.png", {'h', 'e', 'l', 'l', 'o'}},
  };
  for (const auto& [name, bytes] : bad) {
    write_bytes(dir.path / name, bytes);
    const std::string msg = error_of([&] { decode_image(dir.str(name)); });
    EXPECT_NE(msg.find(dir.str(name) + ": "), std::string::npos) << msg;
    if (name.find(".jpg") != std::string::npos) {
      EXPECT_NE(msg.find("corrupt JPEG"), std::string::npos) << msg;
    }
  }
  EXPECT_NE(error_of([&] { decode_image(dir.str("text.png")); }).find("not a JPEG or PNG"),
            std::string::npos);

  // Data cut inside the scan is only a libjpeg warning, but the rest of the image would be
  // gray: refused, as PIL and torchvision refuse it (the old decoder accepted it).
  write_bytes(dir.path / "scan_cut.jpg", {jpeg.begin(), jpeg.begin() + long(sos) + 40});
  const std::string msg = error_of([&] { decode_image(dir.str("scan_cut.jpg")); });
  EXPECT_NE(msg.find(dir.str("scan_cut.jpg") + ": corrupt JPEG (libjpeg warning: "), std::string::npos)
      << msg;
}

// Noise compresses badly, so the file is a few KB and a cut can land anywhere in the scan.
std::vector<uint8_t> noise(int w, int h) {
  std::vector<uint8_t> v(size_t(w) * h * 3);
  std::mt19937 rng(5);
  for (uint8_t& b : v) b = uint8_t(rng() >> 24);
  return v;
}

// Every prefix of a valid JPEG or PNG is an error naming the file, never a partly gray image.
TEST(ImageDecode, EveryTruncationIsRejected) {
  const auto jpeg = encode_jpeg(32, 32, noise(32, 32), TJPF_RGB, 90);
  ASSERT_GT(jpeg.size(), 2000u);
  ASSERT_EQ(decode_image(jpeg.data(), jpeg.size(), "x.jpg").w, 32);
  // The case found in the wild: the first 2000 bytes of a 3.5 KB JPEG.
  const std::string msg = error_of([&] { decode_image(jpeg.data(), 2000, "cut.jpg"); });
  EXPECT_NE(msg.find("cut.jpg: corrupt JPEG (libjpeg warning: "), std::string::npos) << msg;
  for (size_t n = 3; n < jpeg.size(); ++n) {
    ASSERT_NE(error_of([&] { decode_image(jpeg.data(), n, "cut.jpg"); }).find("cut.jpg: corrupt JPEG"),
              std::string::npos)
        << "cut at " << n << " of " << jpeg.size();
  }
  TempDir dir;
  write_rgb_png(dir.path / "n.png", 32, 32, noise(32, 32));
  const auto png = testing::read_bytes(dir.path / "n.png");
  ASSERT_EQ(decode_image(png.data(), png.size(), "x.png").w, 32);
  for (size_t n = 8; n < png.size(); ++n) {
    ASSERT_NE(error_of([&] { decode_image(png.data(), n, "cut.png"); }).find("cut.png: corrupt PNG"),
              std::string::npos)
        << "cut at " << n << " of " << png.size();
  }
}

// A 100-byte PNG whose header claims 12000x12000 pixels cannot hold them (deflate expands at most
// 1032:1): refused before the 432 MB pixel buffer the old decoder allocated.
TEST(ImageDecode, PngHeaderLargerThanTheFileIsRefusedBeforeAllocating) {
  TempDir dir;
  write_rgb_png(dir.path / "s.png", 4, 4, solid(4, 4, 1, 2, 3));
  auto png = testing::read_bytes(dir.path / "s.png");
  // IHDR data (width, height) starts at byte 16; its CRC covers bytes 12..28.
  for (int k = 0; k < 2; ++k) {
    png[16 + 4 * k] = 0, png[17 + 4 * k] = 0, png[18 + 4 * k] = 0x2e, png[19 + 4 * k] = 0xe0;
  }
  const uLong crc = crc32(crc32(0, nullptr, 0), png.data() + 12, 17);
  for (int k = 0; k < 4; ++k) png[29 + k] = uint8_t(crc >> (24 - 8 * k));
  const long before = testing::peak_rss_mib();
  const std::string msg = error_of([&] { decode_image(png.data(), png.size(), "big.png"); });
  EXPECT_NE(msg.find("big.png: corrupt PNG (its header's image size is more than the file can hold"),
            std::string::npos)
      << msg;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);
}

// The same for a JPEG whose frame header (SOF0) claims 12000x12000 over an 8x8 image's data: the
// stream is checked at 1/8 scale before the 432 MB buffer is allocated.
TEST(ImageDecode, JpegHeaderLargerThanTheDataIsRefusedBeforeAllocating) {
  auto jpeg = encode_jpeg(8, 8, gradient(8, 8));
  size_t sof = 0;
  while (sof + 1 < jpeg.size() && !(jpeg[sof] == 0xFF && jpeg[sof + 1] == 0xC0)) ++sof;
  ASSERT_LT(sof + 9, jpeg.size());
  for (size_t k : {sof + 5, sof + 7}) jpeg[k] = 0x2e, jpeg[k + 1] = 0xe0;  // height, width
  const long before = testing::peak_rss_mib();
  const std::string msg = error_of([&] { decode_image(jpeg.data(), jpeg.size(), "big.jpg"); });
  EXPECT_NE(msg.find("big.jpg: corrupt JPEG (libjpeg warning: "), std::string::npos) << msg;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);
}

// Builds root/{train,val}/<class>/... with solid-colour images, one colour per file.
struct Folder {
  TempDir dir;
  Folder() {
    write_rgb_png(dir.path / "train/cat/a.png", 40, 30, solid(40, 30, 10, 20, 30));
    write_bytes(dir.path / "train/cat/b.JPG", encode_jpeg(30, 40, solid(30, 40, 40, 50, 60)));
    write_bytes(dir.path / "train/dog/c.jpeg", encode_jpeg(50, 50, solid(50, 50, 70, 80, 90)));
    write_rgb_png(dir.path / "train/dog/sub/d.png", 20, 60, solid(20, 60, 100, 110, 120));
    write_bytes(dir.path / "train/dog/notes.txt", {'x'});
    fs::create_directories(dir.path / "train/empty");
    write_rgb_png(dir.path / "val/cat/x.png", 33, 31, solid(33, 31, 130, 140, 150));
    write_bytes(dir.path / "val/dog/y.jpg", encode_jpeg(31, 33, solid(31, 33, 160, 170, 180)));
  }
};

const Normalization kImageNet{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

// The value every output pixel of a solid image must have after normalization.
float normalized(uint8_t v, int c) { return (v / 255.f - kImageNet.mean[c]) / kImageNet.std[c]; }

TEST(ImageFolder, ClassesLabelsAndShapes) {
  Folder f;
  EXPECT_EQ(detect_kind(f.dir.str()), Kind::kImageFolder);
  const Normalization n = dataset_normalization(f.dir.str());
  EXPECT_EQ(n.mean, kImageNet.mean);
  EXPECT_EQ(n.std, kImageNet.std);
  const auto train = open_dataset(f.dir.str(), Split::kTrain, {Augment::kImageNet, {}, {}});
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"cat", "dog", "empty"}));
  EXPECT_EQ(train->num_classes(), 3);
  ASSERT_EQ(train->size(), 4u);
  const Shape s = train->sample_shape();
  EXPECT_EQ(s.c, 3);
  EXPECT_EQ(s.h, 224);
  EXPECT_EQ(s.w, 224);
  EXPECT_NE(train->describe().find("ImageFolder train"), std::string::npos) << train->describe();
  EXPECT_NE(train->describe().find("augmentation: random resized crop 224 + horizontal flip)"),
            std::string::npos)
      << train->describe();

  // Sorted order cat/a.png, cat/b.JPG, dog/c.jpeg, dog/sub/d.png; the colour identifies the file.
  const int want_label[] = {0, 0, 1, 1};
  const uint8_t want_red[] = {10, 40, 70, 100};
  std::vector<float> out(s.numel());
  for (size_t i = 0; i < 4; ++i) {
    std::mt19937 rng{uint32_t(i)};
    EXPECT_EQ(train->load(i, out.data(), rng), want_label[i]);
    EXPECT_NEAR(out[224 * 112 + 112], normalized(want_red[i], 0), 0.05) << i;
  }

  const auto val = open_dataset(f.dir.str(), Split::kTest);
  // The training split's classes, "empty" included: labels mean the same in both splits.
  EXPECT_EQ(val->class_names(), (std::vector<std::string>{"cat", "dog", "empty"}));
  ASSERT_EQ(val->size(), 2u);
  EXPECT_EQ(val->sample_shape().numel(), 3u * 224 * 224);
  std::mt19937 rng(0);
  EXPECT_EQ(val->load(0, out.data(), rng), 0);
  const uint8_t val_rgb[] = {130, 140, 150};  // solid PNG: exact colour everywhere
  for (int c = 0; c < 3; ++c)
    for (size_t k = 0; k < 224 * 224; ++k) ASSERT_NEAR(out[c * 224 * 224 + k], normalized(val_rgb[c], c), 1e-5);
  EXPECT_EQ(val->load(1, out.data(), rng), 1);
  EXPECT_NEAR(out[2 * 224 * 224], normalized(180, 2), 0.05);
}

TEST(ImageFolder, CorruptImagesFailAtLoadNamingTheFile) {
  Folder f;
  const auto jpeg = encode_jpeg(40, 40, gradient(40, 40));
  write_bytes(f.dir.path / "train/cat/c_bad.jpg", {jpeg.begin(), jpeg.begin() + 50});
  write_rgb_png(f.dir.path / "train/dog/e_cut.png", 40, 40, gradient(40, 40));
  auto png = testing::read_bytes(f.dir.path / "train/dog/e_cut.png");
  png.resize(png.size() / 2);
  write_bytes(f.dir.path / "train/dog/e_cut.png", png);

  // Decoding is lazy: opening succeeds and the good images still load.
  const auto ds = open_dataset(f.dir.str(), Split::kTrain, {Augment::kImageNet, {}, {}});
  ASSERT_EQ(ds->size(), 6u);  // cat: a, b, c_bad; dog: c, e_cut, sub/d
  std::vector<float> out(ds->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(ds->load(0, out.data(), rng), 0);
  const std::string jmsg = error_of([&] { ds->load(2, out.data(), rng); });
  EXPECT_NE(jmsg.find((f.dir.path / "train/cat/c_bad.jpg").string() + ": corrupt JPEG"),
            std::string::npos)
      << jmsg;
  const std::string pmsg = error_of([&] { ds->load(4, out.data(), rng); });
  EXPECT_NE(pmsg.find((f.dir.path / "train/dog/e_cut.png").string() + ": corrupt PNG"),
            std::string::npos)
      << pmsg;
}

TEST(ImageFolder, MissingValSplit) {
  TempDir dir;
  write_rgb_png(dir.path / "train/a/x.png", 4, 4, solid(4, 4, 1, 2, 3));
  EXPECT_EQ(open_dataset(dir.str(), Split::kTrain)->size(), 1u);
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest); });
  EXPECT_NE(msg.find("val/ not found in " + dir.str()), std::string::npos) << msg;
}

// The old reader sorted val/'s own folders, so a class missing from val/ shifted the label of
// every class after it. Labels now index the training classes by name.
TEST(ImageFolder, ValMissingAClassMapsTheRestByName) {
  TempDir dir;
  for (const char* c : {"ant", "bee", "cow"}) {
    write_rgb_png(dir.path / "train" / c / "x.png", 4, 4, solid(4, 4, 1, 2, 3));
  }
  write_rgb_png(dir.path / "val/ant/v.png", 4, 4, solid(4, 4, 1, 2, 3));
  write_rgb_png(dir.path / "val/cow/w.png", 4, 4, solid(4, 4, 1, 2, 3));
  const auto val = open_dataset(dir.str(), Split::kTest);
  EXPECT_EQ(val->class_names(), (std::vector<std::string>{"ant", "bee", "cow"}));
  EXPECT_EQ(val->num_classes(), 3);
  ASSERT_EQ(val->size(), 2u);
  std::vector<float> out(val->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(val->load(0, out.data(), rng), 0);
  EXPECT_EQ(val->load(1, out.data(), rng), 2);  // cow, not the old 1 (bee)

  // Given classes (a model's) decide, in their order; the training split maps to them too.
  OpenOptions opt;
  opt.classes = {"cow", "dog", "bee", "ant"};
  const auto given = open_dataset(dir.str(), Split::kTest, opt);
  EXPECT_EQ(given->load(0, out.data(), rng), 3);
  EXPECT_EQ(given->load(1, out.data(), rng), 0);
  const auto train = open_dataset(dir.str(), Split::kTrain, opt);
  EXPECT_EQ(train->num_classes(), 4);
  EXPECT_EQ(train->load(1, out.data(), rng), 2);  // train/bee
}

TEST(ImageFolder, ValClassNotInTrainingIsAnError) {
  TempDir dir;
  write_rgb_png(dir.path / "train/ant/x.png", 4, 4, solid(4, 4, 1, 2, 3));
  write_rgb_png(dir.path / "train/bee/x.png", 4, 4, solid(4, 4, 1, 2, 3));
  write_rgb_png(dir.path / "val/ant/v.png", 4, 4, solid(4, 4, 1, 2, 3));
  write_rgb_png(dir.path / "val/zebra/z.png", 4, 4, solid(4, 4, 1, 2, 3));
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest); });
  EXPECT_NE(msg.find((dir.path / "val/zebra").string() + ": class 'zebra' is not among the 2 "
                     "classes of " + (dir.path / "train").string() + " (ant, bee); " +
                     (dir.path / "val").string() + " has class folders ant, zebra"),
            std::string::npos)
      << msg;
  OpenOptions opt;
  opt.classes = {"bee"};
  const std::string msg2 = error_of([&] { open_dataset(dir.str(), Split::kTrain, opt); });
  EXPECT_NE(msg2.find((dir.path / "train/ant").string() + ": class 'ant' is not among the 1 "
                      "classes of the model's 1 classes (bee)"),
            std::string::npos)
      << msg2;
}

// A truncated JPEG in a training folder fails the epoch with the file's name, through the
// Loader's worker threads.
TEST(ImageFolder, TruncatedJpegFailsTheLoaderNamingTheFile) {
  TempDir dir;
  const auto jpeg = encode_jpeg(32, 32, gradient(32, 32));
  write_bytes(dir.path / "train/a/good.jpg", jpeg);
  write_bytes(dir.path / "train/a/half.jpg", {jpeg.begin(), jpeg.begin() + long(jpeg.size() / 2)});
  write_bytes(dir.path / "train/b/good.jpg", jpeg);
  const auto ds = open_dataset(dir.str(), Split::kTrain, {Augment::kImageNet, {}, {}});
  Loader loader(*ds, 1, false, false, 1, 2);
  loader.start_epoch(0);
  Batch b;
  const std::string msg = error_of([&] {
    while (loader.next(b)) {
    }
  });
  EXPECT_NE(msg.find((dir.path / "train/a/half.jpg").string() + ": corrupt JPEG"), std::string::npos)
      << msg;
}

TEST(ImageFolder, NoImagesIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path / "train/a");
  write_bytes(dir.path / "train/b/readme.txt", {'x'});
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTrain); });
  EXPECT_NE(msg.find((dir.path / "train").string() + ": no .jpg/.jpeg/.png images"),
            std::string::npos)
      << msg;
}

TEST(Detect, UnknownMissingAndFileRoots) {
  TempDir dir;
  write_bytes(dir.path / "stuff.txt", {'x'});
  const std::string msg = error_of([&] { detect_kind(dir.str()); });
  EXPECT_NE(msg.find(dir.str() + ": not a recognized dataset folder"), std::string::npos) << msg;
  const std::string msg2 = error_of([&] { detect_kind(dir.str("missing")); });
  EXPECT_NE(msg2.find(dir.str("missing") + ": no such directory"), std::string::npos) << msg2;
  const std::string msg3 = error_of([&] { open_dataset(dir.str("stuff.txt"), Split::kTrain); });
  EXPECT_NE(msg3.find(dir.str("stuff.txt") + " is not a directory"), std::string::npos) << msg3;
  EXPECT_STREQ(kind_name(Kind::kImageFolder), "ImageFolder");
}

TEST(Transform, EvalOfSolidImageIsConstant) {
  const Transform t = standard_transform(Kind::kImageFolder, Augment::kNone, kImageNet);
  const auto px = solid(10, 6, 37, 128, 250);
  const ImageView view = ImageView::interleaved(px.data(), 3, 6, 10);
  const Shape s = transform_output_shape(t, {3, 6, 10});
  ASSERT_EQ(s.numel(), 3u * 224 * 224);
  std::vector<float> out(s.numel(), -99.f);
  std::mt19937 rng(0);
  apply_transform(t, view, out.data(), rng);
  const uint8_t rgb[] = {37, 128, 250};
  for (int c = 0; c < 3; ++c)
    for (size_t k = 0; k < 224 * 224; ++k) ASSERT_NEAR(out[c * 224 * 224 + k], normalized(rgb[c], c), 1e-5);

  // Random resized crops of a solid image are solid too.
  const Transform train = standard_transform(Kind::kImageFolder, Augment::kImageNet, kImageNet);
  for (uint32_t seed = 0; seed < 5; ++seed) {
    std::mt19937 r(seed);
    apply_transform(train, view, out.data(), r);
    for (int c = 0; c < 3; ++c) ASSERT_NEAR(out[c * 224 * 224 + 1000], normalized(rgb[c], c), 1e-5);
  }
}

// 256x512 image, left half black and right half white: the eval transform keeps it at scale 1
// and center-crops at column (512 - 224) / 2 = 144, so the edge lands on output column 112.
TEST(Transform, EvalCenterCropGeometry) {
  std::vector<uint8_t> px(256 * 512);
  for (int y = 0; y < 256; ++y)
    for (int x = 256; x < 512; ++x) px[y * 512 + x] = 255;
  const Transform t = standard_transform(Kind::kImageFolder, Augment::kNone, {});
  std::vector<float> out(224 * 224);
  std::mt19937 rng(0);
  apply_transform(t, ImageView::planar(px.data(), 1, 256, 512), out.data(), rng);
  for (int y = 0; y < 224; y += 37) {
    EXPECT_FLOAT_EQ(out[y * 224 + 111], 0.f);
    EXPECT_FLOAT_EQ(out[y * 224 + 112], 1.f);
  }
}

// Halving a 1-pixel checkerboard must average it (antialiasing), not sample it.
TEST(Transform, DownscaleAveragesFineDetail) {
  std::vector<uint8_t> px(64 * 64);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) px[y * 64 + x] = ((x + y) % 2) ? 255 : 0;
  Transform t;
  t.resize = 32;
  std::vector<float> out(32 * 32);
  std::mt19937 rng(0);
  apply_transform(t, ImageView::planar(px.data(), 1, 64, 64), out.data(), rng);
  // Interior only: at the border the filter is cut off and renormalized.
  for (int y = 1; y < 31; ++y)
    for (int x = 1; x < 31; ++x) ASSERT_NEAR(out[y * 32 + x], 0.5f, 1e-5) << y << " " << x;
}

TEST(Augment, NamesDefaultsAndChecks) {
  for (Augment a : {Augment::kNone, Augment::kCrop, Augment::kCropFlip, Augment::kImageNet, Augment::kSpeech}) {
    EXPECT_EQ(parse_augment(augment_name(a)), a);
  }
  EXPECT_STREQ(augment_name(Augment::kCropFlip), "crop-flip");
  const std::string msg = error_of([] { parse_augment("flip"); });
  EXPECT_NE(msg.find("unknown augmentation 'flip' (choices: none, crop, crop-flip, imagenet, speech)"),
            std::string::npos)
      << msg;
  EXPECT_EQ(default_augment(Kind::kIdx), Augment::kCrop);
  EXPECT_EQ(default_augment(Kind::kCifar10), Augment::kCropFlip);
  EXPECT_EQ(default_augment(Kind::kCifar100), Augment::kCropFlip);
  EXPECT_EQ(default_augment(Kind::kImageFolder), Augment::kImageNet);
  for (Kind k : {Kind::kIdx, Kind::kCifar10, Kind::kCifar100}) {
    const std::string m = error_of([&] { check_augment(Augment::kImageNet, k, "/data/x"); });
    EXPECT_NE(m.find("/data/x: augmentation 'imagenet'"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string("this is ") + kind_name(k)), std::string::npos) << m;
    EXPECT_NO_THROW(check_augment(Augment::kCropFlip, k, "/data/x"));
  }
  EXPECT_NO_THROW(check_augment(Augment::kImageNet, Kind::kImageFolder, "/data/x"));
}

// What each choice turns on, per kind, and that the normalization is passed through.
TEST(Augment, StandardTransformPerKind) {
  const Normalization n{{0.1f, 0.2f, 0.3f}, {0.4f, 0.5f, 0.6f}};
  for (Kind k : {Kind::kIdx, Kind::kCifar10}) {
    const Transform none = standard_transform(k, Augment::kNone, n);
    EXPECT_EQ(none.pad_crop, 0);
    EXPECT_FALSE(none.hflip);
    EXPECT_EQ(none.mean, n.mean);
    EXPECT_EQ(none.std, n.std);
    const Transform crop = standard_transform(k, Augment::kCrop, n);
    EXPECT_EQ(crop.pad_crop, 4);
    EXPECT_FALSE(crop.hflip);
    const Transform cf = standard_transform(k, Augment::kCropFlip, n);
    EXPECT_EQ(cf.pad_crop, 4);
    EXPECT_TRUE(cf.hflip);
    EXPECT_FALSE(cf.random_resized_crop || cf.crop || cf.resize);
    EXPECT_THROW(standard_transform(k, Augment::kImageNet, n), DataError);
  }
  const Transform eval = standard_transform(Kind::kImageFolder, Augment::kNone, n);
  EXPECT_EQ(eval.resize, 256);
  EXPECT_EQ(eval.crop, 224);
  EXPECT_FALSE(eval.random_resized_crop || eval.hflip);
  const Transform rrc = standard_transform(Kind::kImageFolder, Augment::kCrop, n);
  EXPECT_TRUE(rrc.random_resized_crop);
  EXPECT_EQ(rrc.crop, 224);
  EXPECT_FALSE(rrc.hflip);
  for (Augment a : {Augment::kCropFlip, Augment::kImageNet}) {
    const Transform t = standard_transform(Kind::kImageFolder, a, n);
    EXPECT_TRUE(t.random_resized_crop && t.hflip);
    EXPECT_EQ(t.crop, 224);
    EXPECT_EQ(t.pad_crop, 0);
  }
}

}  // namespace
}  // namespace ds::data
