// JPEG (libturbojpeg) and PNG (libpng) decoding to 8-bit interleaved RGB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/transform.h"

namespace ds::data {

struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<uint8_t> px;  // HWC, interleaved
  ImageView view() const { return ImageView::interleaved(px.data(), c, h, w); }
};

// Decodes a JPEG or PNG (chosen by the file's signature, not its extension) to 3-channel
// RGB: grayscale is replicated, palettes expanded, 16-bit scaled to 8, alpha dropped.
// Throws DataError naming `path` if the file is unreadable, of another format or corrupt.
Image decode_image(const std::string& path);
Image decode_image(const uint8_t* data, size_t size, const std::string& path);

}  // namespace ds::data
