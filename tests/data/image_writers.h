// Test-only PNG (libpng) and JPEG (libturbojpeg) writers, to build real image folders.
#pragma once

#include <png.h>
#include <turbojpeg.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ds::data::testing {

struct PngSpec {
  int w = 0, h = 0;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  bool interlace = false;
  std::vector<uint8_t> rows;  // packed rows as libpng expects them (big-endian for 16-bit)
  std::vector<png_color> palette;
  std::vector<uint8_t> trns;  // palette alpha
};

// libpng reports errors with longjmp, so this frame holds only trivially destructible state.
inline bool write_png_core(FILE* fp, const PngSpec* s) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, s->w, s->h, s->bit_depth, s->color_type,
               s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s->palette.empty()) png_set_PLTE(png, info, s->palette.data(), int(s->palette.size()));
  if (!s->trns.empty()) png_set_tRNS(png, info, s->trns.data(), int(s->trns.size()), nullptr);
  png_write_info(png, info);
  const size_t stride = s->rows.size() / size_t(s->h);
  const int passes = png_set_interlace_handling(png);
  for (int p = 0; p < passes; ++p) {
    for (int y = 0; y < s->h; ++y) png_write_row(png, s->rows.data() + size_t(y) * stride);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

inline void write_png(const std::filesystem::path& path, const PngSpec& s) {
  std::filesystem::create_directories(path.parent_path());
  FILE* fp = std::fopen(path.string().c_str(), "wb");
  if (!fp) throw std::runtime_error("cannot create " + path.string());
  const bool ok = write_png_core(fp, &s);
  std::fclose(fp);
  if (!ok) throw std::runtime_error("libpng failed writing " + path.string());
}

// 8-bit RGB PNG from interleaved pixels.
inline void write_rgb_png(const std::filesystem::path& path, int w, int h,
                          const std::vector<uint8_t>& rgb) {
  PngSpec s;
  s.w = w;
  s.h = h;
  s.rows = rgb;
  write_png(path, s);
}

inline std::vector<uint8_t> solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> v;
  for (int i = 0; i < w * h; ++i) v.insert(v.end(), {r, g, b});
  return v;
}

// JPEG bytes from interleaved pixels; pixel_format TJPF_RGB, TJPF_GRAY or TJPF_CMYK.
inline std::vector<uint8_t> encode_jpeg(int w, int h, const std::vector<uint8_t>& px,
                                        int pixel_format = TJPF_RGB, int quality = 95) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int subsamp = pixel_format == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_444;  // no chroma loss
  const int rc = tjCompress2(tj, px.data(), w, 0, h, pixel_format, &buf, &size, subsamp, quality, 0);
  std::vector<uint8_t> out;
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  if (rc != 0) throw std::runtime_error("tjCompress2 failed");
  return out;
}

}  // namespace ds::data::testing
