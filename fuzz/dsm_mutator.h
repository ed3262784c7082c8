// Recomputes the checksums of a .dsm container in place (docs/format.md sections 2 and 3), so
// that a mutated file reaches the parser behind them instead of failing its first CRC check.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ds::fuzz {

// Sets file_size to `size`, the CRC of every section whose extent lies inside the buffer, the
// table CRC when the table does, then the header CRC. Buffers under 64 bytes are left alone.
void reseal_dsm(uint8_t* data, size_t size);

}  // namespace ds::fuzz
