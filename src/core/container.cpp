// The .dsm container: writer, validating reader, bounds-checked byte access, CRC-32.
// docs/format.md is the byte-level spec; the offsets below must stay in step with it.
#include "core/container.h"

#include "core/atomic_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_set>

namespace ds::core {

namespace {

// "DSM1\r\n\x1a\n": the CR LF, ^Z and lone LF make text-mode transfers and line-ending
// conversions show up as a bad magic instead of as a mysterious corruption further in (as PNG).
constexpr uint8_t kMagic[8] = {'D', 'S', 'M', '1', '\r', '\n', 0x1a, '\n'};
constexpr uint32_t kOldestReadVersion = 1;  // raise only together with a conversion path

constexpr size_t kHeaderSize = 64;
constexpr size_t kEntrySize = 32;
constexpr uint64_t kSectionAlign = 64;  // lets a reader mmap the file and use weights in place
constexpr uint64_t kTableAlign = 8;     // lets a reader view the table entries in place

// Header field offsets.
constexpr size_t kVersionAt = 8, kCountAt = 12, kTableOffsetAt = 16, kFileSizeAt = 24,
                 kHeaderCrcAt = 32, kTableCrcAt = 36, kReservedAt = 40;
// Table entry field offsets.
constexpr size_t kTagAt = 0, kFlagsAt = 4, kOffsetAt = 8, kSizeAt = 16, kCrcAt = 24,
                 kEntryReservedAt = 28;

// Little-endian loads and stores byte by byte: correct on any host, no alignment assumptions.
uint32_t load32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t load64(const uint8_t* p) { return uint64_t(load32(p)) | uint64_t(load32(p + 4)) << 32; }
void store32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
void store64(uint8_t* p, uint64_t v) {
  store32(p, uint32_t(v));
  store32(p + 4, uint32_t(v >> 32));
}

// a + b, or false when it does not fit: every offset + size from a file goes through this.
bool checked_add(uint64_t a, uint64_t b, uint64_t* sum) {
  if (a > std::numeric_limits<uint64_t>::max() - b) return false;
  *sum = a + b;
  return true;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", unsigned(v));
  return buf;
}

bool printable_tag(const uint8_t* t) {
  return std::all_of(t, t + 4, [](uint8_t c) { return c >= 0x20 && c <= 0x7e; });
}

// A tag as it can be shown in a message: non-printable bytes as \xHH.
std::string show_tag(const uint8_t* t) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    if (t[i] >= 0x20 && t[i] <= 0x7e && t[i] != '\\') {
      s += char(t[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", unsigned(t[i]));
      s += buf;
    }
  }
  return s;
}

// CRC over the header with its own CRC field taken as zero (the table CRC is covered).
uint32_t header_crc(const uint8_t* h) {
  uint8_t copy[kHeaderSize];
  std::memcpy(copy, h, kHeaderSize);
  store32(copy + kHeaderCrcAt, 0);
  return crc32(copy, kHeaderSize);
}

std::string errno_text(int e) { return e != 0 ? std::strerror(e) : "unknown error"; }

// The reflected IEEE 802.3 CRC, "slicing by 8" (Intel's method): table s gives the CRC of a byte
// followed by s zero bytes, so eight bytes fold in with eight lookups and no serial chain per
// byte. Several times the byte-at-a-time loop, which was a tenth of loading ResNet-18 (perf).
// Written here rather than taken from zlib: core has no dependencies.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (size_t s = 1; s < 8; ++s)
    for (size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  return t;
}
constexpr CrcTables kCrc = make_crc_tables();

uint32_t le32(const uint8_t* p) {  // one load on little-endian targets, correct on any
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint32_t lo = le32(data + i) ^ c, hi = le32(data + i + 4);
    c = kCrc[7][lo & 0xFFu] ^ kCrc[6][(lo >> 8) & 0xFFu] ^ kCrc[5][(lo >> 16) & 0xFFu] ^ kCrc[4][lo >> 24] ^
        kCrc[3][hi & 0xFFu] ^ kCrc[2][(hi >> 8) & 0xFFu] ^ kCrc[1][(hi >> 16) & 0xFFu] ^ kCrc[0][hi >> 24];
  }
  for (; i < n; ++i) c = kCrc[0][(c ^ data[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// ---------------------------------------------------------------------------------------------
// ByteReader / ByteWriter

ByteReader::ByteReader(const uint8_t* data, size_t size, std::string what)
    : data_(data), size_(size), what_(std::move(what)) {}

void ByteReader::fail(const std::string& problem) const { throw FormatError(what_ + ": " + problem); }

const uint8_t* ByteReader::bytes(size_t n) {
  // Compared against what is left, never as pos_ + n, so a huge n cannot wrap around.
  if (n > remaining()) {
    fail("unexpected end of data: " + std::to_string(n) + " bytes needed at offset " +
         std::to_string(pos_) + ", " + std::to_string(remaining()) + " left");
  }
  const uint8_t* p = data_ + pos_;
  pos_ += n;
  return p;
}

uint8_t ByteReader::u8() { return *bytes(1); }
uint32_t ByteReader::u32() { return load32(bytes(4)); }
int32_t ByteReader::i32() {
  // Two's complement by value (well defined), not by reinterpreting the bits.
  const uint32_t u = u32();
  return u <= 0x7FFFFFFFu ? int32_t(u) : -int32_t(~u) - 1;
}
uint64_t ByteReader::u64() { return load64(bytes(8)); }
float ByteReader::f32() {
  const uint32_t u = u32();
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
std::string ByteReader::str() {
  const size_t at = pos_;
  const uint32_t n = u32();
  if (n > remaining()) {
    fail("string at offset " + std::to_string(at) + " claims " + std::to_string(n) +
         " bytes, only " + std::to_string(remaining()) + " left");
  }
  const uint8_t* p = bytes(n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

void ByteWriter::u8(uint8_t v) { buf_.push_back(v); }
void ByteWriter::u32(uint32_t v) {
  uint8_t b[4];
  store32(b, v);
  bytes(b, 4);
}
void ByteWriter::i32(int32_t v) { u32(uint32_t(v)); }  // conversion to unsigned is modular
void ByteWriter::u64(uint64_t v) {
  uint8_t b[8];
  store64(b, v);
  bytes(b, 8);
}
void ByteWriter::f32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  u32(u);
}
void ByteWriter::str(const std::string& s) {
  if (s.size() > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("ByteWriter::str: string of " + std::to_string(s.size()) +
                            " bytes does not fit a u32 length");
  }
  u32(uint32_t(s.size()));
  bytes(s.data(), s.size());
}
void ByteWriter::bytes(const void* p, size_t n) {
  if (n == 0) return;  // p may be null for an empty payload
  const uint8_t* b = static_cast<const uint8_t*>(p);
  buf_.insert(buf_.end(), b, b + n);
}
void ByteWriter::align(size_t a) {
  if (a == 0) throw std::invalid_argument("ByteWriter::align: alignment 0");
  buf_.resize((buf_.size() + a - 1) / a * a, 0);
}

// ---------------------------------------------------------------------------------------------
// ContainerWriter

void ContainerWriter::add(const std::string& tag, std::vector<uint8_t> payload) {
  // Refused here, where the caller's mistake is, rather than as an unreadable file later.
  if (tag.size() != 4 || !printable_tag(reinterpret_cast<const uint8_t*>(tag.data()))) {
    throw std::invalid_argument("ContainerWriter::add: tag \"" + tag +
                                "\" is not 4 printable ASCII characters");
  }
  for (const auto& s : sections_) {
    if (s.first == tag) throw std::invalid_argument("ContainerWriter::add: duplicate tag " + tag);
  }
  sections_.emplace_back(tag, std::move(payload));
}

std::vector<uint8_t> ContainerWriter::serialize() const {
  const size_t count = sections_.size();
  if (count > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("ContainerWriter: too many sections");
  }
  auto align_up = [](size_t v) { return (v + kSectionAlign - 1) / kSectionAlign * kSectionAlign; };

  // Layout: header, table right after it, then the sections in the order they were added.
  const size_t table_offset = kHeaderSize;
  std::vector<size_t> offsets(count);
  size_t end = table_offset + count * kEntrySize;
  for (size_t i = 0; i < count; ++i) {
    offsets[i] = align_up(end);
    end = offsets[i] + sections_[i].second.size();
  }

  std::vector<uint8_t> out(end, 0);  // zero fill is the padding
  uint8_t* table = out.data() + table_offset;
  for (size_t i = 0; i < count; ++i) {
    const auto& [tag, payload] = sections_[i];
    uint8_t* e = table + i * kEntrySize;
    std::memcpy(e + kTagAt, tag.data(), 4);
    store64(e + kOffsetAt, offsets[i]);
    store64(e + kSizeAt, payload.size());
    store32(e + kCrcAt, crc32(payload.data(), payload.size()));
    if (!payload.empty()) std::memcpy(out.data() + offsets[i], payload.data(), payload.size());
  }

  uint8_t* h = out.data();
  std::memcpy(h, kMagic, sizeof kMagic);
  store32(h + kVersionAt, kFormatVersion);
  store32(h + kCountAt, uint32_t(count));
  store64(h + kTableOffsetAt, table_offset);
  store64(h + kFileSizeAt, out.size());
  store32(h + kTableCrcAt, crc32(table, count * kEntrySize));
  store32(h + kHeaderCrcAt, header_crc(h));  // last: it covers every other header field
  return out;
}

void ContainerWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = serialize();
  try {
    write_file_atomic(path, bytes.data(), bytes.size());
  } catch (const FileWriteError& e) {
    throw FormatError(e.what());  // the model API's one error type; the message names path and reason
  }
}

// ---------------------------------------------------------------------------------------------
// Container

Container::Container(const Container& other)
    : name_(other.name_), version_(other.version_), bytes_(other.bytes_) {
  sections_.reserve(other.sections_.size());
  for (const auto& [tag, view] : other.sections_) {
    // Same offset, this object's buffer. A zero-size view may have been made from any pointer.
    const uint8_t* data = view.size == 0 ? nullptr : bytes_.data() + (view.data - other.bytes_.data());
    sections_.emplace_back(tag, SectionView{data, view.size});
  }
}

Container& Container::operator=(const Container& other) {
  if (this != &other) *this = Container(other);
  return *this;
}

Container Container::open(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw FormatError(path + " is a directory, not a denseshift model");
  }
  errno = 0;
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw FormatError(path + ": cannot open: " + errno_text(errno));
  const std::streamoff size = f.tellg();
  // The size is checked before it sizes an allocation.
  if (size < 0) throw FormatError(path + ": cannot determine the file size");
  if (uint64_t(size) > std::numeric_limits<size_t>::max()) {
    throw FormatError(path + ": file of " + std::to_string(size) + " bytes is too large");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  if (f.gcount() != size) {
    throw FormatError(path + ": read error: expected " + std::to_string(size) + " bytes, got " +
                      std::to_string(f.gcount()) + " (was the file changed while reading?)");
  }
  return from_bytes(std::move(bytes), path);
}

Container Container::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  const uint8_t* b = bytes.data();
  const uint64_t file_size = bytes.size();
  auto fail = [&](const std::string& problem) { throw FormatError(name + ": " + problem); };

  // 1. Magic. Checked on whatever prefix there is, so that a short text file is called "not a
  // model" and only a short prefix of a real model is called "truncated".
  const size_t magic_len = std::min<size_t>(bytes.size(), sizeof kMagic);
  if (magic_len > 0 && std::memcmp(b, kMagic, magic_len) != 0) {  // b is null when empty
    if (magic_len == sizeof kMagic && std::memcmp(b, kMagic, 4) == 0) {
      fail("bad magic: the line-ending bytes after \"DSM1\" were altered, typically by a text-mode "
           "transfer; copy the file in binary mode");
    }
    throw FormatError(name + " is not a denseshift model (bad magic)");
  }
  if (bytes.size() < kHeaderSize) {
    throw FormatError(name + " is truncated: " + std::to_string(bytes.size()) +
                      " bytes, header needs " + std::to_string(kHeaderSize));
  }

  // 2. Version, before anything else is interpreted: everything after it may change with it.
  const uint32_t version = load32(b + kVersionAt);
  if (version == 0) {
    fail("unknown format version 0 (this build reads versions " + std::to_string(kOldestReadVersion) + ".." +
         std::to_string(kFormatVersion) + ")");
  }
  if (version < kOldestReadVersion) {
    fail("format version " + std::to_string(version) + " is older than this build reads (" +
         std::to_string(kOldestReadVersion) + ".." + std::to_string(kFormatVersion) +
         "); convert it with an older denseshift");
  }
  if (version > kFormatVersion) {
    fail("format version " + std::to_string(version) + " is newer than this build reads (" +
         std::to_string(kOldestReadVersion) + ".." + std::to_string(kFormatVersion) + "); upgrade denseshift");
  }

  // 3. Header integrity, then the fields it vouches for.
  const uint32_t stored_hcrc = load32(b + kHeaderCrcAt), hcrc = header_crc(b);
  if (stored_hcrc != hcrc) {
    fail("header checksum mismatch (stored " + hex32(stored_hcrc) + ", computed " + hex32(hcrc) +
         "): the file is corrupt");
  }
  if (std::any_of(b + kReservedAt, b + kHeaderSize, [](uint8_t c) { return c != 0; })) {
    fail("reserved header bytes " + std::to_string(kReservedAt) + ".." +
         std::to_string(kHeaderSize - 1) + " are not zero");
  }
  const uint64_t declared_size = load64(b + kFileSizeAt);
  if (declared_size != file_size) {
    throw FormatError(name + " is truncated or has trailing bytes: header says " +
                      std::to_string(declared_size) + " bytes, file has " +
                      std::to_string(file_size));
  }

  // 4. The table must fit in the file before any allocation is sized by section_count.
  const uint32_t count = load32(b + kCountAt);
  const uint64_t table_offset = load64(b + kTableOffsetAt);
  const uint64_t table_bytes = uint64_t(count) * kEntrySize;  // < 2^37: cannot overflow
  uint64_t table_end = 0;
  if (table_offset < kHeaderSize) {
    fail("section table offset " + std::to_string(table_offset) + " overlaps the header");
  }
  if (table_offset % kTableAlign != 0) {
    fail("section table offset " + std::to_string(table_offset) + " is not " +
         std::to_string(kTableAlign) + "-byte aligned");
  }
  if (table_offset > file_size) {
    fail("section table offset " + std::to_string(table_offset) +
         " is past the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  if (!checked_add(table_offset, table_bytes, &table_end) || table_end > file_size) {
    fail("section table (" + std::to_string(count) + " entries of " + std::to_string(kEntrySize) +
         " bytes at offset " + std::to_string(table_offset) + ") runs past the end of the file (" +
         std::to_string(file_size) + " bytes)");
  }
  const uint8_t* table = b + table_offset;
  const uint32_t stored_tcrc = load32(b + kTableCrcAt), tcrc = crc32(table, size_t(table_bytes));
  if (stored_tcrc != tcrc) {
    fail("section table checksum mismatch (stored " + hex32(stored_tcrc) + ", computed " +
         hex32(tcrc) + "): the file is corrupt");
  }

  // 5. Each entry on its own: tag, reserved fields, alignment, bounds.
  struct Region {
    uint64_t begin, end;
    std::string what;
  };
  std::vector<Region> regions;  // everything that is not padding
  regions.reserve(size_t(count) + 2);
  regions.push_back({0, kHeaderSize, "the header"});
  regions.push_back({table_offset, table_end, "the section table"});

  Container c;
  c.sections_.reserve(count);
  std::unordered_set<std::string> seen;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = table + size_t(i) * kEntrySize;
    if (!printable_tag(e + kTagAt)) {
      fail("section table entry " + std::to_string(i) + " has a non-printable tag \"" +
           show_tag(e + kTagAt) + "\"");
    }
    const std::string tag(reinterpret_cast<const char*>(e + kTagAt), 4);
    const std::string what = "section " + tag;
    if (!seen.insert(tag).second) fail("duplicate section tag " + tag);
    const uint32_t flags = load32(e + kFlagsAt);
    if (flags != 0) fail(what + " has unknown flags " + hex32(flags));
    if (load32(e + kEntryReservedAt) != 0) fail(what + ": reserved field is not zero");
    const uint64_t offset = load64(e + kOffsetAt), size = load64(e + kSizeAt);
    uint64_t end = 0;
    if (offset % kSectionAlign != 0) {
      fail(what + " offset " + std::to_string(offset) + " is not " +
           std::to_string(kSectionAlign) + "-byte aligned");
    }
    if (offset < kHeaderSize) {
      fail(what + " at offset " + std::to_string(offset) + " overlaps the header");
    }
    if (offset > file_size) {
      fail(what + " offset " + std::to_string(offset) + " is past the end of the file (" +
           std::to_string(file_size) + " bytes)");
    }
    if (!checked_add(offset, size, &end)) {
      fail(what + ": offset " + std::to_string(offset) + " + size " + std::to_string(size) +
           " overflows");
    }
    if (end > file_size) {
      fail(what + " (offset " + std::to_string(offset) + ", size " + std::to_string(size) +
           ") runs past the end of the file (" + std::to_string(file_size) + " bytes)");
    }
    regions.push_back({offset, end, what});
    c.sections_.emplace_back(tag, SectionView{size == 0 ? nullptr : b + offset, size_t(size)});
  }

  // 6. Overlaps and padding, in one sweep in file order. Padding must be zero: then every byte
  // of a file is covered by a check, and a flipped bit anywhere is reported.
  std::sort(regions.begin(), regions.end(), [](const Region& x, const Region& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t covered = 0;  // everything before this offset is checked
  const Region* last = nullptr;
  for (const Region& r : regions) {
    if (r.begin == r.end) continue;  // an empty section occupies no bytes
    if (r.begin < covered) {
      fail(r.what + " (bytes " + std::to_string(r.begin) + ".." + std::to_string(r.end - 1) +
           ") overlaps " + last->what + " (bytes " + std::to_string(last->begin) + ".." +
           std::to_string(last->end - 1) + ")");
    }
    for (uint64_t p = covered; p < r.begin; ++p) {
      if (b[p] != 0) fail("padding byte at offset " + std::to_string(p) + " is not zero");
    }
    covered = r.end;
    last = &r;
  }
  // Trailing bytes after the last region: cannot be anything but nonzero padding either.
  for (uint64_t p = covered; p < file_size; ++p) {
    if (b[p] != 0) fail("padding byte at offset " + std::to_string(p) + " is not zero");
  }

  // 7. Contents last: only now are all the ranges known to be inside the buffer.
  for (size_t i = 0; i < c.sections_.size(); ++i) {
    const auto& [tag, view] = c.sections_[i];
    const uint32_t stored = load32(table + i * kEntrySize + kCrcAt);
    const uint32_t computed = crc32(view.data, view.size);
    if (stored != computed) {
      fail("section " + tag + " checksum mismatch (stored " + hex32(stored) + ", computed " +
           hex32(computed) + "): the file is corrupt");
    }
  }

  c.name_ = name;
  c.version_ = version;
  c.bytes_ = std::move(bytes);  // moving keeps the buffer, so the views stay valid
  return c;
}

bool Container::has(const std::string& tag) const {
  return std::any_of(sections_.begin(), sections_.end(),
                     [&](const auto& s) { return s.first == tag; });
}

SectionView Container::section(const std::string& tag) const {
  for (const auto& s : sections_) {
    if (s.first == tag) return s.second;
  }
  throw FormatError(name_ + ": missing section " + tag);
}

ByteReader Container::reader(const std::string& tag) const {
  const SectionView v = section(tag);
  return ByteReader(v.data, v.size, name_ + ": section " + tag);
}

std::vector<std::string> Container::tags() const {
  std::vector<std::string> t;
  t.reserve(sections_.size());
  for (const auto& s : sections_) t.push_back(s.first);
  return t;
}

}  // namespace ds::core
