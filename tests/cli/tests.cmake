# Command-line tests: run the `denseshift` binary as a user does (exit codes, messages).
# Included from tests/CMakeLists.txt when the trainer is built. Each area has its own file.
file(GLOB DS_CLI_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.cpp)
add_executable(test_cli ${DS_CLI_TEST_SOURCES})
add_dependencies(test_cli denseshift denseshift-run)
target_compile_definitions(test_cli PRIVATE DS_CLI_BINARY="$<TARGET_FILE:denseshift>"
                                            DS_RUN_BINARY="$<TARGET_FILE:denseshift-run>"
                                            DS_TEST_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/../runtime/data")
# denseshift_train: the crash test reads checkpoints to compare them bit for bit.
target_link_libraries(test_cli PRIVATE denseshift_runtime denseshift_data denseshift_train GTest::gtest_main
                                       nlohmann_json::nlohmann_json)
# libpng and libturbojpeg: test_cli_deploy writes the pictures it runs (tests/data/image_writers.h).
target_include_directories(test_cli SYSTEM PRIVATE ${TURBOJPEG_INCLUDE_DIR})
target_link_libraries(test_cli PRIVATE PNG::PNG ${TURBOJPEG_LIBRARY})
target_compile_options(test_cli PRIVATE ${DS_WARNINGS})
gtest_discover_tests(test_cli DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
