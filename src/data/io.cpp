#include "data/io.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"

namespace ds::data::detail {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw DataError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw DataError(path + " is a directory, expected a file");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
  const std::streamoff size = f.tellg();
  if (size < 0) throw DataError(path + ": cannot determine file size");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  if (f.gcount() != size) {
    throw DataError(path + ": read error: expected " + std::to_string(size) + " bytes, got " +
                    std::to_string(f.gcount()));
  }
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw DataError(path + ": zlib init failed");
  // The trailer's ISIZE is the uncompressed size mod 2^32: a good first guess for the buffer.
  size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const uint8_t* t = in.data() + in.size() - 4;
    const size_t isize = size_t(t[0]) | size_t(t[1]) << 8 | size_t(t[2]) << 16 | size_t(t[3]) << 24;
    if (isize > 0) guess = isize;
  }
  std::vector<uint8_t> out(std::max<size_t>(guess, 1024));
  size_t in_pos = 0, out_pos = 0;
  std::string error;
  bool ended = false;
  // zlib's counters are 32-bit, so feed at most 1 GiB per call.
  constexpr size_t kChunk = size_t(1) << 30;
  while (true) {
    if (out_pos == out.size()) out.resize(out.size() * 2);
    zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
    zs.avail_in = static_cast<uInt>(std::min(in.size() - in_pos, kChunk));
    zs.next_out = out.data() + out_pos;
    zs.avail_out = static_cast<uInt>(std::min(out.size() - out_pos, kChunk));
    const uInt avail_in = zs.avail_in, avail_out = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail_in - zs.avail_in;
    out_pos += avail_out - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // gzip allows several members back to back; anything else after the stream is corruption.
      if (in_pos == in.size()) {
        ended = true;
        break;
      }
      if (in.size() - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      error = "corrupt gzip: " + std::to_string(in.size() - in_pos) +
              " bytes of trailing garbage after the compressed stream";
      break;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      error = std::string("corrupt gzip data (") + (zs.msg ? zs.msg : "invalid stream") + ")";
      break;
    }
    if (rc == Z_MEM_ERROR) {
      error = "out of memory while decompressing";
      break;
    }
    // Z_BUF_ERROR with all input consumed and room left means the stream stopped early.
    if (in_pos == in.size() && zs.avail_out > 0) {
      error = "corrupt gzip: compressed stream ends early (file truncated?)";
      break;
    }
  }
  inflateEnd(&zs);
  if (!ended) throw DataError(path + ": " + error);
  out.resize(out_pos);
  return out;
}

std::string to_lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace ds::data::detail
