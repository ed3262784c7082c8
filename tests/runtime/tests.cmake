# Engine tests: no libtorch. Included from tests/CMakeLists.txt.
add_executable(test_runtime ${CMAKE_CURRENT_LIST_DIR}/test_engine.cpp ${CMAKE_CURRENT_LIST_DIR}/test_reference_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_audio_frontend.cpp)
# The committed model and its x86 logits (read in place, also by the qemu-run ARM build).
target_compile_definitions(test_runtime PRIVATE DS_TEST_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/data")
target_link_libraries(test_runtime PRIVATE denseshift_runtime GTest::gtest_main)
target_compile_options(test_runtime PRIVATE ${DS_WARNINGS})
gtest_discover_tests(test_runtime DISCOVERY_TIMEOUT 60)

# Preprocessing against the dataset readers' transform (the old `infer` path): needs denseshift_data.
if(DENSESHIFT_BUILD_DATA)
  add_executable(test_preprocess ${CMAKE_CURRENT_LIST_DIR}/test_preprocess.cpp)
  target_link_libraries(test_preprocess PRIVATE denseshift_runtime denseshift_data GTest::gtest_main)
  target_compile_options(test_preprocess PRIVATE ${DS_WARNINGS})
  gtest_discover_tests(test_preprocess DISCOVERY_TIMEOUT 60)
endif()
