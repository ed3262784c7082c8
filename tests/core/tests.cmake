# core: codes, packing and the .dsm container. No dependencies beyond GoogleTest.
add_executable(test_core
  core/test_codes.cpp
  core/test_container.cpp
  core/test_malformed.cpp
  core/test_atomic_file.cpp
  core/test_model_format.cpp)
target_link_libraries(test_core PRIVATE denseshift_core GTest::gtest_main)
target_compile_options(test_core PRIVATE ${DS_WARNINGS})
gtest_discover_tests(test_core)
