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

std::string bytes_text(uint64_t n) {
  if (n >= (uint64_t(1) << 30) && n % (uint64_t(1) << 30) == 0) return std::to_string(n >> 30) + " GiB";
  if (n >= (uint64_t(1) << 20) && n % (uint64_t(1) << 20) == 0) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw DataError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw DataError(path + " is a directory, expected a file");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
  const std::streamoff size = f.tellg();
  if (size < 0) throw DataError(path + ": cannot determine file size");
  if (uint64_t(size) > max_bytes) {
    throw DataError(path + ": " + std::to_string(size) + " bytes, more than the " +
                    bytes_text(max_bytes) + " this reader accepts for such a file");
  }
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

struct ByteStream::Impl {
  const std::vector<uint8_t>& in;
  std::string path;
  bool gzip;
  size_t in_pos = 0;
  bool ended = false;
  z_stream zs{};

  Impl(const std::vector<uint8_t>& bytes, const std::string& p)
      : in(bytes), path(p), gzip(is_gzip(bytes)) {
    if (gzip && inflateInit2(&zs, 15 + 16) != Z_OK) throw DataError(path + ": zlib init failed");
  }
  ~Impl() {
    if (gzip) inflateEnd(&zs);
  }

  size_t read_raw(uint8_t* dst, size_t n) {
    const size_t k = std::min(n, in.size() - in_pos);
    if (k > 0) std::memcpy(dst, in.data() + in_pos, k);
    in_pos += k;
    return k;
  }

  // Inflates into dst until it is full or the last member ends. The ISIZE trailer is never
  // used to size anything: it is the sender's claim, not the data.
  size_t read_gzip(uint8_t* dst, size_t n) {
    // zlib's counters are 32-bit, so feed and fill at most 1 GiB per call.
    constexpr size_t kChunk = size_t(1) << 30;
    size_t produced = 0;
    while (produced < n && !ended) {
      zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
      zs.avail_in = static_cast<uInt>(std::min(in.size() - in_pos, kChunk));
      zs.next_out = dst + produced;
      zs.avail_out = static_cast<uInt>(std::min(n - produced, kChunk));
      const uInt avail_in = zs.avail_in, avail_out = zs.avail_out;
      const int rc = inflate(&zs, Z_NO_FLUSH);
      in_pos += avail_in - zs.avail_in;
      produced += avail_out - zs.avail_out;
      if (rc == Z_STREAM_END) {
        // gzip allows several members back to back; anything else after the stream is corruption.
        if (in_pos == in.size()) {
          ended = true;
        } else if (in.size() - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
          inflateReset(&zs);
        } else {
          throw DataError(path + ": corrupt gzip: " + std::to_string(in.size() - in_pos) +
                          " bytes of trailing garbage after the compressed stream");
        }
      } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
        throw DataError(path + ": corrupt gzip data (" + (zs.msg ? zs.msg : "invalid stream") + ")");
      } else if (rc == Z_MEM_ERROR) {
        throw DataError(path + ": out of memory while decompressing");
      } else if (in_pos == in.size() && zs.avail_out > 0) {
        // All input consumed, room left, and the stream did not end: it stopped early.
        throw DataError(path + ": corrupt gzip: compressed stream ends early (file truncated?)");
      }
    }
    return produced;
  }
};

ByteStream::ByteStream(const std::vector<uint8_t>& bytes, const std::string& path)
    : impl_(std::make_unique<Impl>(bytes, path)) {}

ByteStream::~ByteStream() = default;

bool ByteStream::gzip() const { return impl_->gzip; }

size_t ByteStream::read(uint8_t* dst, size_t n) {
  return impl_->gzip ? impl_->read_gzip(dst, n) : impl_->read_raw(dst, n);
}

bool ByteStream::read_rest(std::vector<uint8_t>& out, uint64_t max_out) {
  constexpr size_t kFirst = size_t(1) << 16;
  size_t filled = out.size();
  while (true) {
    if (filled > max_out) return false;
    if (filled == out.size()) {
      // One byte past the limit is enough to know the data does not fit.
      out.resize(size_t(std::min<uint64_t>(std::max(2 * filled, kFirst), max_out + 1)));
    }
    const size_t want = out.size() - filled;
    filled += read(out.data() + filled, want);
    if (out.size() - filled > 0) break;  // short read: end of the data
  }
  out.resize(filled);
  return filled <= max_out;
}

uint64_t ByteStream::skip(uint64_t limit) {
  uint8_t scratch[1 << 14];
  uint64_t total = 0;
  while (total < limit) {
    const size_t want = size_t(std::min<uint64_t>(sizeof scratch, limit - total));
    const size_t got = read(scratch, want);
    total += got;
    if (got < want) break;
  }
  return total;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path,
                            uint64_t max_out) {
  ByteStream s(in, path);
  std::vector<uint8_t> out;
  if (!s.read_rest(out, max_out)) {
    throw DataError(path + ": decompresses to more than " + bytes_text(max_out) +
                    ", the most accepted here (a corrupt file or a gzip bomb?)");
  }
  return out;
}

std::string list_text(const std::vector<std::string>& items, size_t shown) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < shown; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > shown) s += ", ... (" + std::to_string(items.size()) + " in all)";
  return s;
}

std::string to_lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace ds::data::detail
