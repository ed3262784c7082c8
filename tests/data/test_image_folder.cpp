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

  // Data cut inside the scan is only a libjpeg warning: the image decodes (gray-filled), as in PIL.
  write_bytes(dir.path / "scan_cut.jpg", {jpeg.begin(), jpeg.begin() + long(sos) + 40});
  EXPECT_EQ(decode_image(dir.str("scan_cut.jpg")).w, 32);
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

// The value every output pixel of a solid image must have after normalization.
float normalized(uint8_t v, int c) {
  const Transform t = standard_transform(Kind::kImageFolder, false);
  return (v / 255.f - t.mean[c]) / t.std[c];
}

TEST(ImageFolder, ClassesLabelsAndShapes) {
  Folder f;
  EXPECT_EQ(detect_kind(f.dir.str()), Kind::kImageFolder);
  const auto train = open_dataset(f.dir.str(), Split::kTrain, true);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"cat", "dog", "empty"}));
  EXPECT_EQ(train->num_classes(), 3);
  ASSERT_EQ(train->size(), 4u);
  const Shape s = train->sample_shape();
  EXPECT_EQ(s.c, 3);
  EXPECT_EQ(s.h, 224);
  EXPECT_EQ(s.w, 224);
  EXPECT_NE(train->describe().find("ImageFolder train"), std::string::npos) << train->describe();

  // Sorted order cat/a.png, cat/b.JPG, dog/c.jpeg, dog/sub/d.png; the colour identifies the file.
  const int want_label[] = {0, 0, 1, 1};
  const uint8_t want_red[] = {10, 40, 70, 100};
  std::vector<float> out(s.numel());
  for (size_t i = 0; i < 4; ++i) {
    std::mt19937 rng{uint32_t(i)};
    EXPECT_EQ(train->load(i, out.data(), rng), want_label[i]);
    EXPECT_NEAR(out[224 * 112 + 112], normalized(want_red[i], 0), 0.05) << i;
  }

  const auto val = open_dataset(f.dir.str(), Split::kTest, false);
  EXPECT_EQ(val->class_names(), (std::vector<std::string>{"cat", "dog"}));
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
  const auto ds = open_dataset(f.dir.str(), Split::kTrain, true);
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
  EXPECT_EQ(open_dataset(dir.str(), Split::kTrain, false)->size(), 1u);
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest, false); });
  EXPECT_NE(msg.find("val/ not found in " + dir.str()), std::string::npos) << msg;
}

TEST(ImageFolder, NoImagesIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path / "train/a");
  write_bytes(dir.path / "train/b/readme.txt", {'x'});
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTrain, true); });
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
  const std::string msg3 = error_of([&] { open_dataset(dir.str("stuff.txt"), Split::kTrain, true); });
  EXPECT_NE(msg3.find(dir.str("stuff.txt") + " is not a directory"), std::string::npos) << msg3;
  EXPECT_STREQ(kind_name(Kind::kImageFolder), "ImageFolder");
}

TEST(Transform, EvalOfSolidImageIsConstant) {
  const Transform t = standard_transform(Kind::kImageFolder, false);
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
  const Transform train = standard_transform(Kind::kImageFolder, true);
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
  Transform t = standard_transform(Kind::kImageFolder, false);
  t.mean = {0.f};
  t.std = {1.f};
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

}  // namespace
}  // namespace ds::data
