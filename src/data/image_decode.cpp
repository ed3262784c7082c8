#include "data/image_decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "data/dataset.h"
#include "data/io.h"

namespace ds::data {

namespace {

// Refuse absurd dimensions before allocating (a corrupt header could claim 2^31 x 2^31): PIL's
// limit, above which it raises DecompressionBombError (2 x its 89,478,485-pixel warning level).
constexpr uint64_t kMaxPixels = 178956970;
// JPEGs above this many pixels (48 MiB as RGB) are checked at 1/8 scale before the full decode.
constexpr uint64_t kPrecheckPixels = uint64_t(1) << 24;
// Image files are read whole; none that a dataset holds comes near this.
constexpr uint64_t kMaxFileBytes = uint64_t(256) << 20;
// Deflate cannot expand more than 1032:1, so a PNG whose raw rows need more than 1032 times
// its file size is cut short or corrupt: refused before its pixel buffer is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;

void check_dims(uint64_t w, uint64_t h, const std::string& path) {
  if (w == 0 || h == 0 || w * h > kMaxPixels) {
    throw DataError(path + ": unsupported image size " + std::to_string(w) + "x" +
                    std::to_string(h));
  }
}

// ---- JPEG ----

struct TjCloser {
  void operator()(void* h) const { tjDestroy(h); }
};

// Warnings are errors too: libjpeg reports a file cut short ("premature end of data segment")
// as a warning and fills the rest with gray, which would train on a half-gray image; PIL and
// torchvision refuse such a file. TJFLAG_STOPONWARNING makes the decoder stop at the first one.
void tj_check(int rc, tjhandle h, const std::string& path) {
  if (rc != 0) {
    const char* what = tjGetErrorCode(h) == TJERR_WARNING ? "corrupt JPEG (libjpeg warning: "
                                                           : "corrupt JPEG (";
    throw DataError(path + ": " + what + tjGetErrorStr2(h) + ")");
  }
}
constexpr int kTjFlags = TJFLAG_STOPONWARNING;

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& path) {
  std::unique_ptr<void, TjCloser> handle(tjInitDecompress());
  if (!handle) throw DataError(path + ": cannot create a JPEG decoder");
  tjhandle h = handle.get();
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  tj_check(tjDecompressHeader3(h, data, size, &w, &hgt, &subsamp, &colorspace), h, path);
  // A stream that ends before its frame header reads as a tables-only JPEG: success, size 0.
  if (w <= 0 || hgt <= 0) throw DataError(path + ": corrupt JPEG (no frame header)");
  check_dims(uint64_t(w), uint64_t(hgt), path);
  const bool cmyk_source = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  if (uint64_t(w) * uint64_t(hgt) > kPrecheckPixels) {
    // No sound bound ties a JPEG's size to its pixel count (progressive EOB runs, arithmetic
    // coding), so a header can claim kMaxPixels in a few bytes. A large image is first decoded
    // at 1/8 scale (1/64 of the memory): that reads the whole stream and fails on truncation
    // or corruption before the full-size buffer is allocated.
    const tjscalingfactor eighth{1, 8};
    const int sw = TJSCALED(w, eighth), sh = TJSCALED(hgt, eighth);
    std::vector<uint8_t> small(size_t(sw) * size_t(sh) * 4);
    tj_check(tjDecompress2(h, data, size, small.data(), sw, 0, sh,
                           cmyk_source ? TJPF_CMYK : TJPF_RGB, kTjFlags),
             h, path);
  }

  Image img;
  img.c = 3;
  img.h = hgt;
  img.w = w;
  img.px.resize(size_t(w) * hgt * 3);
  if (cmyk_source) {
    // libjpeg cannot convert CMYK to RGB itself. CMYK JPEGs in the wild (Photoshop/Adobe)
    // store inverted ink values, so 255 means no ink: RGB = inverted C/M/Y scaled by K.
    std::vector<uint8_t> cmyk(size_t(w) * hgt * 4);
    tj_check(tjDecompress2(h, data, size, cmyk.data(), w, 0, hgt, TJPF_CMYK, kTjFlags), h, path);
    for (size_t i = 0, n = size_t(w) * hgt; i < n; ++i) {
      const unsigned k = cmyk[4 * i + 3];
      for (int c = 0; c < 3; ++c) img.px[3 * i + c] = uint8_t((cmyk[4 * i + c] * k + 127) / 255);
    }
  } else {
    // TJPF_RGB also covers grayscale sources: libjpeg replicates the gray channel.
    tj_check(tjDecompress2(h, data, size, img.px.data(), w, 0, hgt, TJPF_RGB, kTjFlags), h, path);
  }
  return img;
}

// ---- PNG ----

struct PngSource {
  const uint8_t* data;
  size_t size, pos;
};

struct PngError {
  char msg[256];
};

void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "unexpected end of file (truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

// libpng's allocations, refused above a cap that no valid file of this size needs: its largest
// are row buffers, which the size check in png_decode_core keeps below kMaxDeflateRatio x the
// file's size. libpng allocates what a text chunk's length claims before reading it (this
// libpng does not apply png_set_chunk_malloc_max there), so a 248-byte file whose iTXt chunk
// claimed 1.6 GB allocated that much (found by the fuzz stage: fuzz/regressions/image). A
// refused chunk buffer is a benign error: the chunk is skipped or the file refused.
png_voidp png_capped_malloc(png_structp png, png_alloc_size_t n) {
  const auto cap = *static_cast<const png_alloc_size_t*>(png_get_mem_ptr(png));
  return n > cap ? nullptr : std::malloc(n);
}
void png_capped_free(png_structp, png_voidp p) { std::free(p); }

void png_on_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(err->msg, sizeof err->msg, "%s", msg);
  png_longjmp(png, 1);
}

// Warnings (e.g. a bad CRC in an ancillary chunk) do not affect the pixels we read.
void png_on_warning(png_structp, png_const_charp) {}

// libpng reports errors by longjmp back into this frame, which skips destructors, so no
// object with a destructor may live here; the pixel buffer belongs to the caller.
bool png_decode_core(png_structp png, png_infop info, PngSource* src, Image* img) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, src, png_read_mem);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (w == 0 || h == 0 || uint64_t(w) * h > kMaxPixels) png_error(png, "unsupported image size");
  const uint64_t row_bits = uint64_t(w) * png_get_channels(png, info) * png_get_bit_depth(png, info);
  if (uint64_t(h) * ((row_bits + 7) / 8 + 1) > kMaxDeflateRatio * src->size) {
    png_error(png, "its header's image size is more than the file can hold (truncated?)");
  }
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_scale_16(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  // Alpha (including palette transparency, which palette expansion turns into alpha) is
  // dropped, as PIL's convert("RGB") does.
  png_set_strip_alpha(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != size_t(w) * 3) {
    png_error(png, "unsupported pixel layout");
  }
  img->c = 3;
  img->h = int(h);
  img->w = int(w);
  img->px.resize(size_t(w) * h * 3);
  for (int pass = 0; pass < passes; ++pass) {
    for (png_uint_32 y = 0; y < h; ++y) png_read_row(png, img->px.data() + size_t(y) * w * 3, nullptr);
  }
  // Reading up to IEND makes a file cut short after its pixel data an error too.
  png_read_end(png, nullptr);
  return true;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& path) {
  PngError err{};
  png_alloc_size_t cap = png_alloc_size_t(kMaxDeflateRatio * size + (size_t(1) << 20));
  png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &err, png_on_error, png_on_warning, &cap,
                                             png_capped_malloc, png_capped_free);
  if (!png) throw DataError(path + ": cannot create a PNG decoder");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw DataError(path + ": cannot create a PNG decoder");
  }
  PngSource src{data, size, 0};
  Image img;
  bool ok = false;
  try {
    ok = png_decode_core(png, info, &src, &img);
  } catch (...) {  // bad_alloc from the pixel buffer
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw DataError(path + ": corrupt PNG (" + err.msg + ")");
  return img;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& path) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return decode_jpeg(data, size, path);
  }
  if (size >= 8 && png_sig_cmp(data, 0, 8) == 0) return decode_png(data, size, path);
  throw DataError(path + ": not a JPEG or PNG file");
}

Image decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = detail::read_file(path, kMaxFileBytes);
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace ds::data
