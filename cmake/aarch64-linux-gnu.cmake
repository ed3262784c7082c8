# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; the tests run under
# qemu-user (ctest and gtest_discover_tests prefix every test binary with the emulator).
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DDENSESHIFT_BUILD_TRAIN=OFF -DDENSESHIFT_BUILD_BENCH=OFF
# (scripts/test_arm.sh does exactly this; -DDENSESHIFT_BUILD_DATA=OFF builds without the arm64
# image libraries: the engine alone, no denseshift-run). GoogleTest is built from /usr/src/googletest, since
# Debian packages no arm64 libgtest for cross use.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(DS_ARM_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${DS_ARM_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${DS_ARM_TRIPLE}-g++)
# The cross compiler's own root, then / for Debian's multiarch arm64 packages (libpng-dev:arm64,
# libturbojpeg0-dev:arm64, zlib1g-dev:arm64: libraries in /usr/lib/aarch64-linux-gnu, headers and
# the header-only CLI11 / nlohmann-json shared with the host), which the dataset readers and
# denseshift-run link.
set(CMAKE_FIND_ROOT_PATH /usr/${DS_ARM_TRIPLE} /)
set(CMAKE_LIBRARY_ARCHITECTURE ${DS_ARM_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -L: the target's dynamic loader and libraries. QEMU_CPU=max: an ARMv8.2+ CPU with FP16
# arithmetic, so the run-time check of f16_expadd_fp16arith_neon passes and that kernel is tested.
# LD_LIBRARY_PATH: the C library of that loader first; otherwise the loader finds the multiarch
# libc6:arm64 (another build of glibc 2.36, pulled in by the -dev:arm64 packages) in
# /lib/aarch64-linux-gnu, and the mixed pair hangs in the first pthread_create.
find_program(DS_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${CMAKE_COMMAND} -E env QEMU_CPU=max QEMU_SET_ENV=LD_LIBRARY_PATH=/usr/${DS_ARM_TRIPLE}/lib
    ${DS_QEMU_AARCH64} -L /usr/${DS_ARM_TRIPLE})
