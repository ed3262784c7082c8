// The .dsm reader on malformed input: a corpus of specific defects, each with the message it must
// produce, then exhaustive truncation and byte flips, then random structural damage. Every case
// must end in FormatError (never a crash, another exception, or a silent success).
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>

#include "core/container.h"
#include "core_test_util.h"

using namespace ds::core;
using namespace ds::core::testing;

namespace {

using Bytes = std::vector<uint8_t>;

struct Case {
  const char* name;
  std::function<void(Bytes&)> damage;
  std::string expect;  // substring of the message
};

// Sample layout (sample_file): header 0..63, table 64..159, META 192+10, GRPH 256+100,
// WGTS 384+200, file 584 bytes. Entries: 0 META, 1 GRPH, 2 WGTS.
constexpr size_t kSampleSize = 584;

constexpr uint64_t u64max = std::numeric_limits<uint64_t>::max();

std::vector<Case> corpus() {
  return {
      {"empty file", [](Bytes& b) { b.clear(); }, "is truncated: 0 bytes, header needs 64"},
      {"10-byte file", [](Bytes& b) { b.resize(10); }, "is truncated: 10 bytes, header needs 64"},
      {"short text file", [](Bytes& b) { b = {'h', 'i', '\n'}; }, "is not a denseshift model (bad magic)"},
      {"wrong magic", [](Bytes& b) { b[0] = 'X'; }, "is not a denseshift model (bad magic)"},
      {"CRLF to LF transfer",
       [](Bytes& b) { b.erase(b.begin() + 4); },  // "\r\n" -> "\n"
       "text-mode transfer"},
      {"version 0", [](Bytes& b) { put32(b, kVersionAt, 0); reseal(b); }, "unknown format version 0"},
      {"version 4", [](Bytes& b) { put32(b, kVersionAt, 4); reseal(b); },
       "format version 4 is newer than this build reads (1..3); upgrade denseshift"},
      {"version 4 without a valid CRC", [](Bytes& b) { put32(b, kVersionAt, 4); },
       "format version 4 is newer than this build reads (1..3)"},
      {"truncated by 1 byte", [](Bytes& b) { b.pop_back(); },
       "is truncated or has trailing bytes: header says 584 bytes, file has 583"},
      {"extra trailing byte", [](Bytes& b) { b.push_back(0); },
       "is truncated or has trailing bytes: header says 584 bytes, file has 585"},
      {"file_size field lies", [](Bytes& b) { put64(b, kFileSizeAt, 640); reseal(b); },
       "header says 640 bytes, file has 584"},
      {"header CRC mismatch", [](Bytes& b) { b[40] = 1; }, "header checksum mismatch (stored 0x"},
      {"header CRC field damaged", [](Bytes& b) { b[kHeaderCrcAt] ^= 0x10; }, "header checksum mismatch"},
      {"reserved header bytes", [](Bytes& b) { b[63] = 1; reseal(b); }, "reserved header bytes 40..63 are not zero"},
      {"section_count huge", [](Bytes& b) { put32(b, kCountAt, 0xFFFFFFFFu); reseal(b); },
       "section table (4294967295 entries of 32 bytes at offset 64) runs past the end of the file"},
      {"section_count one too many", [](Bytes& b) { put32(b, kCountAt, 17); reseal(b); },
       "runs past the end of the file (584 bytes)"},
      {"table_offset past end", [](Bytes& b) { put64(b, kTableOffsetAt, 4096); reseal(b); },
       "section table offset 4096 is past the end of the file (584 bytes)"},
      {"table_offset huge", [](Bytes& b) { put64(b, kTableOffsetAt, u64max - 7); reseal(b); },
       "is past the end of the file"},
      {"table_offset in header", [](Bytes& b) { put64(b, kTableOffsetAt, 32); reseal(b); },
       "section table offset 32 overlaps the header"},
      {"table_offset unaligned", [](Bytes& b) { put64(b, kTableOffsetAt, 68); reseal(b); },
       "section table offset 68 is not 8-byte aligned"},
      {"table CRC mismatch", [](Bytes& b) { b[64 + kSizeAt] ^= 1; }, "section table checksum mismatch (stored 0x"},
      {"section offset past end", [](Bytes& b) { put64(b, entry_at(b, 2) + kOffsetAt, 1024); reseal(b); },
       "section WGTS offset 1024 is past the end of the file (584 bytes)"},
      {"section runs past end", [](Bytes& b) { put64(b, entry_at(b, 2) + kSizeAt, 201); reseal(b); },
       "section WGTS (offset 384, size 201) runs past the end of the file (584 bytes)"},
      {"offset+size overflows u64", [](Bytes& b) { put64(b, entry_at(b, 2) + kSizeAt, u64max - 100); reseal(b); },
       "section WGTS: offset 384 + size 18446744073709551515 overflows"},
      {"overlapping sections", [](Bytes& b) { put64(b, entry_at(b, 1) + kOffsetAt, 192); reseal(b); },
       "section GRPH (bytes 192..291) overlaps section META (bytes 192..201)"},
      {"section overlaps table", [](Bytes& b) { put64(b, entry_at(b, 0) + kOffsetAt, 128); reseal(b); },
       "section META (bytes 128..137) overlaps the section table (bytes 64..159)"},
      {"section in header", [](Bytes& b) { put64(b, entry_at(b, 0) + kOffsetAt, 0); reseal(b); },
       "section META at offset 0 overlaps the header"},
      {"unaligned section", [](Bytes& b) { put64(b, entry_at(b, 1) + kOffsetAt, 264); reseal(b); },
       "section GRPH offset 264 is not 64-byte aligned"},
      {"duplicate tag", [](Bytes& b) { b[entry_at(b, 2) + 0] = 'M'; b[entry_at(b, 2) + 1] = 'E';
                                        b[entry_at(b, 2) + 2] = 'T'; b[entry_at(b, 2) + 3] = 'A'; reseal(b); },
       "duplicate section tag META"},
      {"non-printable tag", [](Bytes& b) { b[entry_at(b, 1) + 2] = 0x01; reseal(b); },
       "section table entry 1 has a non-printable tag \"GR\\x01H\""},
      {"unknown flags", [](Bytes& b) { put32(b, entry_at(b, 0) + kFlagsAt, 4); reseal(b); },
       "section META has unknown flags 0x00000004"},
      {"entry reserved field", [](Bytes& b) { put32(b, entry_at(b, 0) + kEntryReservedAt, 1); reseal(b); },
       "section META: reserved field is not zero"},
      {"flipped byte inside a section", [](Bytes& b) { b[384 + 17] ^= 0x40; },
       "section WGTS checksum mismatch (stored 0x"},
      {"section CRC field", [](Bytes& b) { put32(b, entry_at(b, 0) + kCrcAt, 0x12345678); reseal(b); },
       "section META checksum mismatch (stored 0x12345678, computed 0x"},
      {"nonzero padding", [](Bytes& b) { b[250] = 7; reseal(b); }, "padding byte at offset 250 is not zero"},
  };
}

}  // namespace

TEST(Malformed, SampleLayoutIsAsAssumed) {
  const Bytes b = sample_file();
  ASSERT_EQ(b.size(), kSampleSize);
  EXPECT_EQ(get64(b, entry_at(b, 0) + kOffsetAt), 192u);
  EXPECT_EQ(get64(b, entry_at(b, 1) + kOffsetAt), 256u);
  EXPECT_EQ(get64(b, entry_at(b, 2) + kOffsetAt), 384u);
  EXPECT_NO_THROW(Container::from_bytes(b, "sample.dsm"));
  Bytes resealed = b;
  reseal(resealed);
  EXPECT_EQ(resealed, b) << "reseal of an intact file changes nothing";
}

TEST(Malformed, CorpusGivesSpecificMessages) {
  TempDir dir;
  for (const Case& c : corpus()) {
    SCOPED_TRACE(c.name);
    Bytes b = sample_file();
    c.damage(b);
    const std::string path = dir.str("bad.dsm");
    write_file(path, b);
    // Through a file and from memory: both name the file and say what is wrong.
    for (int via_file = 0; via_file <= 1; ++via_file) {
      std::string msg;
      try {
        if (via_file) {
          Container::open(path);
        } else {
          Container::from_bytes(b, path);
        }
        ADD_FAILURE() << "accepted (via_file=" << via_file << ")";
      } catch (const FormatError& e) {
        msg = e.what();
      }
      EXPECT_NE(msg.find(c.expect), std::string::npos) << "message: " << msg;
      EXPECT_EQ(msg.rfind(path, 0), 0u) << "message starts with the file name: " << msg;
    }
  }
}

TEST(Malformed, EveryTruncationIsRefused) {
  const Bytes full = sample_file();
  for (size_t len = 0; len < full.size(); ++len) {
    const Bytes b(full.begin(), full.begin() + std::ptrdiff_t(len));
    EXPECT_THROW(Container::from_bytes(b, "t.dsm"), FormatError) << "length " << len;
  }
  EXPECT_NO_THROW(Container::from_bytes(full, "t.dsm"));
}

TEST(Malformed, EveryByteFlipIsRefused) {
  // Header, table and sections are checksummed and padding must be zero, so no single changed
  // byte anywhere in a file goes unnoticed.
  const Bytes full = sample_file();
  for (size_t pos = 0; pos < full.size(); ++pos) {
    for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xFF)}) {
      Bytes b = full;
      b[pos] ^= mask;
      EXPECT_THROW(Container::from_bytes(b, "f.dsm"), FormatError) << "byte " << pos << " ^ " << int(mask);
    }
  }
}

TEST(Malformed, RandomStructuralDamageNeverCrashes) {
  // Random values in the header and table fields, resealed so the checksums pass and the
  // structural checks are what stands between the values and the buffer. Whatever is accepted
  // must describe sections inside the file.
  std::mt19937_64 rng(12345);
  const Bytes full = sample_file();
  const size_t fields[] = {kCountAt, kTableOffsetAt, kFileSizeAt, 64 + kOffsetAt, 64 + kSizeAt,
                           96 + kOffsetAt, 96 + kSizeAt, 128 + kOffsetAt, 128 + kSizeAt};
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b = full;
    const int edits = 1 + int(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      const size_t at = fields[rng() % std::size(fields)];
      const uint64_t small = rng() % 1024, v = (rng() % 4 == 0) ? rng() : small;
      if (at == kCountAt) {
        put32(b, at, uint32_t(rng() % 2 ? small : v));
      } else {
        put64(b, at, (rng() % 2) ? small / 64 * 64 : v);  // aligned values get further in
      }
    }
    if (rng() % 4 == 0) b.resize(size_t(rng() % (full.size() + 100)), 0);
    reseal(b);
    try {
      const Container c = Container::from_bytes(b, "r.dsm");
      ++accepted;
      for (const auto& tag : c.tags()) {
        const SectionView v = c.section(tag);
        ASSERT_LE(v.size, c.file_size());
      }
    } catch (const FormatError&) {
    }
  }
  RecordProperty("accepted", accepted);  // informational: most random edits are refused
}
