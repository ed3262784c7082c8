# ONNX export: no libtorch. Included from tests/CMakeLists.txt where libonnx-dev was found.
if(TARGET denseshift_onnx)
  add_executable(test_onnx_export ${CMAKE_CURRENT_LIST_DIR}/test_onnx_export.cpp)
  target_compile_definitions(test_onnx_export PRIVATE DS_ONNX_TEST_DATA="${CMAKE_CURRENT_LIST_DIR}/data"
                                                      DS_TEST_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/../runtime/data")
  target_link_libraries(test_onnx_export PRIVATE denseshift_onnx denseshift_runtime onnx_proto protobuf::libprotobuf GTest::gtest_main)
  target_compile_options(test_onnx_export PRIVATE ${DS_WARNINGS})
  gtest_discover_tests(test_onnx_export DISCOVERY_TIMEOUT 60)
endif()
