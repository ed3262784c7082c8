# Kernel tests: no libtorch, no data files. Included from tests/CMakeLists.txt.
add_executable(test_kernels
  ${CMAKE_CURRENT_LIST_DIR}/test_f32_reference.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_simd.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_f16.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_pgemm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_matvec.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_winograd.cpp)
target_link_libraries(test_kernels PRIVATE denseshift_kernels GTest::gtest_main)
target_compile_options(test_kernels PRIVATE ${DS_WARNINGS})
# The plain-loop references (plain_gemm, the FP16 models) must round each product and each sum
# separately, as the exact kernels do. GCC contracts a * b + c into one FMA wherever the target
# has it (aarch64 always), which keeps an overflowing product unrounded: forbid that here.
target_compile_options(test_kernels PRIVATE -ffp-contract=off)
gtest_discover_tests(test_kernels DISCOVERY_TIMEOUT 60)
