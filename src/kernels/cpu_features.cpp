// What this CPU can run: the supported() checks of the kernel tables (registry.cpp, matvec.cpp).
// Compiled without ISA flags.
#if defined(DS_KERNELS_X86)
#include <cpuid.h>
#endif
#if defined(DS_KERNELS_NEON)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)  // linux/arch/arm64/include/uapi/asm/hwcap.h
#endif
#endif

#include "kernels/internal.h"

namespace ds::kernels::detail {

bool always() { return true; }

#if defined(DS_KERNELS_X86)
// __builtin_cpu_supports also checks that the OS saves the YMM/ZMM registers (XGETBV), not just
// the CPUID bit. __builtin_cpu_init is only needed before static constructors, but is cheap.
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
bool has_avx2_fma() { return has_avx2() && __builtin_cpu_supports("fma"); }
bool has_avx512f() { return has_avx2_fma() && __builtin_cpu_supports("avx512f"); }
// Clang's __builtin_cpu_supports does not know "f16c", so that bit comes from CPUID leaf 1
// (ECX bit 29). The OS-support check for YMM state is already part of the avx2 test.
bool has_avx2_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!has_avx2() || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx & (1u << 29)) != 0;
}
bool avx512_adds_share_fma_ports() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return true;
  // "AuthenticAMD" (and Hygon's Zen-derived "HygonGenuine") in EBX, EDX, ECX order.
  const bool amd = (ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u) ||
                   (ebx == 0x6f677948u && edx == 0x6e65476eu && ecx == 0x656e6975u);
  return !amd;
}
#endif

#if defined(DS_KERNELS_NEON)
// Advanced SIMD (and FCVTN/FCVTL to and from FP16) is part of ARMv8.0-A: every aarch64 CPU.
bool has_neon() { return true; }
// FP16 arithmetic (FADD on half lanes) is optional before ARMv8.2; the kernel reports it.
bool has_neon_fp16() { return (getauxval(AT_HWCAP) & HWCAP_ASIMDHP) != 0; }
#endif

}  // namespace ds::kernels::detail
