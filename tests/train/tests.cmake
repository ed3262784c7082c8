# Training tests (libtorch). Included from tests/CMakeLists.txt.
add_executable(test_train
  ${CMAKE_CURRENT_LIST_DIR}/test_quant.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_models.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_trainer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_export.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_init_from.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_speech.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_diagnostics.cpp)
target_link_libraries(test_train PRIVATE denseshift_train denseshift_runtime GTest::gtest_main nlohmann_json::nlohmann_json)
target_compile_options(test_train PRIVATE ${DS_WARNINGS})
# Models written by Python's PyTorch (scripts/make_torch_test_models.py) and the source tree.
target_compile_definitions(test_train PRIVATE DS_TRAIN_TEST_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/data"
                                              DS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                              DS_SPEECH_CLIPS_DIR="${PROJECT_SOURCE_DIR}/tests/data/speech")
# test_speech writes WAV files (tests/data/audio_writers.h).
target_link_libraries(test_train PRIVATE ${SNDFILE_LIBRARY})
target_include_directories(test_train SYSTEM PRIVATE ${SNDFILE_INCLUDE_DIR})
target_precompile_headers(test_train REUSE_FROM denseshift_train)
gtest_discover_tests(test_train DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 600)
