// The .dsm container on valid input: round trips, layout, atomic writes, byte readers.
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/container.h"
#include "core_test_util.h"

using namespace ds::core;
using namespace ds::core::testing;

namespace {

std::vector<uint8_t> view_bytes(const SectionView& v) { return std::vector<uint8_t>(v.data, v.data + v.size); }

// The FormatError message, or "" when none is thrown (other exception types propagate).
template <class F>
std::string format_error(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Crc32, KnownValues) {
  const char* check = "123456789";
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(check), 9), 0xCBF43926u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  const uint8_t a = 'a';
  EXPECT_EQ(crc32(&a, 1), 0xE8B7BE43u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(fox.data()), fox.size()), 0x414FA339u);
}

TEST(Container, WriteOpenRoundTrip) {
  TempDir dir;
  const std::string path = dir.str("model.dsm");
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> sections = {
      {"META", payload(1, 10)},  {"GRPH", payload(63, 11)},  {"WGTS", payload(64, 12)},
      {"EMPT", {}},              {"X 1~", payload(65, 13)},  {"BIG!", payload(5000, 14)}};
  ContainerWriter w;
  for (const auto& [tag, p] : sections) w.add(tag, p);
  w.write(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  const Container c = Container::open(path);
  EXPECT_EQ(c.version(), kFormatVersion);
  EXPECT_EQ(c.name(), path);
  EXPECT_EQ(c.file_size(), fs::file_size(path));
  std::vector<std::string> expect_tags;
  for (const auto& s : sections) expect_tags.push_back(s.first);
  EXPECT_EQ(c.tags(), expect_tags);  // in the order they were added
  for (const auto& [tag, p] : sections) {
    ASSERT_TRUE(c.has(tag)) << tag;
    EXPECT_EQ(c.section(tag).size, p.size()) << tag;
    EXPECT_EQ(view_bytes(c.section(tag)), p) << tag;
  }
  EXPECT_FALSE(c.has("NONE"));
  EXPECT_FALSE(c.has("MET"));

  // The file is exactly what serialize() gives.
  EXPECT_EQ(read_all(path), w.serialize());
}

TEST(Container, SectionOffsetsAre64ByteAligned) {
  ContainerWriter w;
  for (int i = 0; i < 7; ++i) w.add("S00" + std::to_string(i), payload(size_t(i * 37 + 1), uint32_t(i)));
  const auto bytes = w.serialize();
  ASSERT_EQ(get32(bytes, kCountAt), 7u);
  EXPECT_EQ(get64(bytes, kFileSizeAt), bytes.size());
  EXPECT_EQ(std::memcmp(bytes.data(), "DSM1\r\n\x1a\n", 8), 0);
  EXPECT_EQ(get32(bytes, kVersionAt), kFormatVersion);
  const size_t table = size_t(get64(bytes, kTableOffsetAt));
  EXPECT_EQ(table, 64u) << "the writer puts the table right after the header";
  uint64_t prev_end = table + 7 * kEntry;
  for (size_t i = 0; i < 7; ++i) {
    const size_t e = entry_at(bytes, i);
    const uint64_t off = get64(bytes, e + kOffsetAt), size = get64(bytes, e + kSizeAt);
    EXPECT_EQ(off % 64, 0u) << "section " << i;
    EXPECT_GE(off, prev_end);
    EXPECT_LT(off - prev_end, 64u) << "no more padding than alignment needs";
    EXPECT_EQ(get32(bytes, e + kFlagsAt), 0u);
    EXPECT_EQ(get32(bytes, e + kEntryReservedAt), 0u);
    EXPECT_EQ(get32(bytes, e + kCrcAt), crc32(bytes.data() + off, size));
    prev_end = off + size;
  }
  EXPECT_EQ(prev_end, bytes.size());

  // In memory, sections keep their distance from each other modulo 64.
  const Container c = Container::from_bytes(bytes, "mem");
  const uint8_t* first = c.section("S000").data;
  for (const auto& tag : c.tags()) EXPECT_EQ((c.section(tag).data - first) % 64, 0) << tag;
}

TEST(Container, EmptyContainer) {
  ContainerWriter w;
  const auto bytes = w.serialize();
  EXPECT_EQ(bytes.size(), 64u);
  const Container c = Container::from_bytes(bytes, "empty.dsm");
  EXPECT_TRUE(c.tags().empty());
  EXPECT_EQ(c.file_size(), 64u);
}

TEST(Container, FromBytesAndAccessors) {
  const auto bytes = sample_file();
  const Container c = Container::from_bytes(bytes, "sample.dsm");
  EXPECT_EQ(c.name(), "sample.dsm");
  EXPECT_EQ(view_bytes(c.section("GRPH")), payload(100, 2));
  ByteReader r = c.reader("WGTS");
  EXPECT_EQ(r.what(), "sample.dsm: section WGTS");
  EXPECT_EQ(r.remaining(), 200u);
  const std::string msg = format_error([&] { c.section("NOPE"); });
  EXPECT_NE(msg.find("sample.dsm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NOPE"), std::string::npos) << msg;
  EXPECT_THROW(c.reader("NOPE"), FormatError);
}

TEST(Container, CopyAndMoveKeepViewsValid) {
  auto c = std::make_unique<Container>(Container::from_bytes(sample_file(), "a.dsm"));
  Container copy = *c;
  Container assigned;
  assigned = *c;
  c.reset();  // the copies must not point into the destroyed buffer (ASan checks this)
  EXPECT_EQ(view_bytes(copy.section("WGTS")), payload(200, 3));
  EXPECT_EQ(view_bytes(assigned.section("META")), payload(10, 1));
  Container moved = std::move(copy);
  EXPECT_EQ(view_bytes(moved.section("GRPH")), payload(100, 2));
  Container move_assigned;
  move_assigned = std::move(moved);
  EXPECT_EQ(view_bytes(move_assigned.section("GRPH")), payload(100, 2));
}

TEST(Container, WriterRejectsBadTags) {
  ContainerWriter w;
  EXPECT_THROW(w.add("ABC", {}), std::invalid_argument);
  EXPECT_THROW(w.add("ABCDE", {}), std::invalid_argument);
  EXPECT_THROW(w.add(std::string("AB\0D", 4), {}), std::invalid_argument);
  EXPECT_THROW(w.add("AB\x7f" "D", {}), std::invalid_argument);
  EXPECT_THROW(w.add("\xc3\xa9" "AB", {}), std::invalid_argument);
  w.add("ABCD", {1});
  EXPECT_THROW(w.add("ABCD", {2}), std::invalid_argument);
}

TEST(Container, WriteOverwritesAndReportsErrors) {
  TempDir dir;
  const std::string path = dir.str("m.dsm");
  ContainerWriter a, b;
  a.add("AAAA", payload(300, 1));
  b.add("BBBB", payload(10, 2));
  a.write(path);
  b.write(path);
  const Container c = Container::open(path);
  EXPECT_EQ(c.tags(), std::vector<std::string>{"BBBB"});

  const std::string bad = dir.str("no/such/dir/m.dsm");
  const std::string msg = format_error([&] { a.write(bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::strerror(ENOENT)), std::string::npos) << msg;
}

TEST(Container, OpenMissingFileNamesFileAndReason) {
  TempDir dir;
  const std::string path = dir.str("missing.dsm");
  const std::string msg = format_error([&] { Container::open(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::strerror(ENOENT)), std::string::npos) << msg;
  const std::string dmsg = format_error([&] { Container::open(dir.str("")); });
  EXPECT_NE(dmsg.find("is a directory"), std::string::npos) << dmsg;
}

TEST(ByteIO, RoundTripAndLittleEndianLayout) {
  ByteWriter w;
  w.u8(0xAB);
  w.u32(0x01020304u);
  w.i32(-2);
  w.i32(std::numeric_limits<int32_t>::min());
  w.u64(0x0102030405060708ull);
  w.f32(1.5f);
  w.f32(-0.0f);
  w.f32(std::numeric_limits<float>::denorm_min());
  w.f32(std::numeric_limits<float>::infinity());
  w.str("");
  w.str(std::string("a\0b", 3));
  const uint8_t raw[3] = {7, 8, 9};
  w.bytes(raw, 3);
  w.bytes(nullptr, 0);
  const size_t before_align = w.size();
  w.align(16);
  EXPECT_EQ(w.size() % 16, 0u);
  EXPECT_LT(w.size() - before_align, 16u);
  w.align(16);  // already aligned: no change
  EXPECT_EQ(w.size() % 16, 0u);
  const size_t total = w.size();
  const auto buf = w.take();
  ASSERT_EQ(buf.size(), total);

  // Byte layout: little-endian regardless of the host.
  EXPECT_EQ(buf[0], 0xAB);
  EXPECT_EQ((std::vector<uint8_t>(buf.begin() + 1, buf.begin() + 5)), (std::vector<uint8_t>{4, 3, 2, 1}));
  EXPECT_EQ((std::vector<uint8_t>(buf.begin() + 5, buf.begin() + 9)), (std::vector<uint8_t>{0xFE, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(buf[13], 0x08);
  EXPECT_EQ(buf[20], 0x01);
  EXPECT_EQ(get32(buf, 21), 0x3FC00000u);  // 1.5f

  ByteReader r(buf.data(), buf.size(), "test buffer");
  EXPECT_EQ(r.u8(), 0xAB);
  EXPECT_EQ(r.u32(), 0x01020304u);
  EXPECT_EQ(r.i32(), -2);
  EXPECT_EQ(r.i32(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(r.u64(), 0x0102030405060708ull);
  EXPECT_EQ(r.f32(), 1.5f);
  const float nz = r.f32();
  EXPECT_EQ(nz, 0.0f);
  EXPECT_TRUE(std::signbit(nz));
  EXPECT_EQ(r.f32(), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(r.f32(), std::numeric_limits<float>::infinity());
  EXPECT_EQ(r.str(), "");
  EXPECT_EQ(r.str(), std::string("a\0b", 3));
  const uint8_t* p = r.bytes(3);
  EXPECT_EQ(std::memcmp(p, raw, 3), 0);
  EXPECT_EQ(r.position(), before_align);
  EXPECT_EQ(r.remaining(), total - before_align);
  EXPECT_NE(r.bytes(0), nullptr);
}

TEST(ByteIO, ReadsPastTheEndThrowWithWhat) {
  const uint8_t data[6] = {1, 2, 3, 4, 5, 6};
  auto expect_fail = [](const std::function<void(ByteReader&)>& op, const char* label) {
    const uint8_t d[6] = {1, 2, 3, 4, 5, 6};
    ByteReader r(d, 6, "model.dsm: section GRPH");
    r.u8();
    r.u8();  // 4 left
    const std::string msg = format_error([&] { op(r); });
    EXPECT_EQ(msg.rfind("model.dsm: section GRPH: ", 0), 0u) << label << ": " << msg;
  };
  expect_fail([](ByteReader& r) { r.u64(); }, "u64");
  expect_fail([](ByteReader& r) { r.bytes(5); }, "bytes");
  expect_fail([](ByteReader& r) { r.bytes(std::numeric_limits<size_t>::max()); }, "huge bytes");
  expect_fail([](ByteReader& r) { r.u32(); r.u8(); }, "u8 at end");
  expect_fail([](ByteReader& r) { r.u32(); r.f32(); }, "f32 at end");
  expect_fail([](ByteReader& r) { r.u32(); r.i32(); }, "i32 at end");
  // A string whose length claims more than is left (3, 4, 5, 6 -> 0x06050403 bytes).
  expect_fail([](ByteReader& r) { r.str(); }, "str length");

  ByteReader ok(data, 6, "x");
  EXPECT_EQ(ok.u32(), 0x04030201u);
  EXPECT_EQ(ok.remaining(), 2u);
  EXPECT_EQ(ok.position(), 4u);

  ByteReader empty(nullptr, 0, "empty");
  EXPECT_EQ(empty.remaining(), 0u);
  EXPECT_THROW(empty.u8(), FormatError);
  const std::string msg = format_error([&] { empty.fail("custom problem"); });
  EXPECT_EQ(msg, "empty: custom problem");
}
