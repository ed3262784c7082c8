// Mutations of a .dsm container that get past its checksums, so the fuzzer spends its time in
// the model parser and the engine behind them (docs/format.md has the layout).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ds::fuzz {

// Recomputes the checksums in place: sets file_size to `size`, the CRC of every section whose
// extent lies inside the buffer, the table CRC when the table does, then the header CRC.
// Buffers under 64 bytes are left alone.
void reseal_dsm(uint8_t* data, size_t size);

// libFuzzer's LLVMFuzzerMutate: mutates data[0, size) in place into at most max_size bytes and
// returns the new size.
using ByteMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);

// When data[0, size) is a valid container: mutates the payload of section number `pick` (modulo
// the section count) with `mutate`, rewrites the container around it (so sections may grow or
// shrink) and returns the new size, at most max_size. Returns 0, leaving data alone, when the
// input is not a valid container or the result would not fit.
size_t mutate_dsm_section(uint8_t* data, size_t size, size_t max_size, unsigned pick, ByteMutator mutate);

}  // namespace ds::fuzz
