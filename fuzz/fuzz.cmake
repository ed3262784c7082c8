# Fuzz harnesses (fuzz/fuzz_*.cpp), included from tests/CMakeLists.txt. Two builds of the same
# harness sources (fuzz/harness.h explains the frame):
#  - always: test_fuzz_replay, a GoogleTest that feeds each harness every file of
#    fuzz/corpus/<harness> and fuzz/regressions/<harness>; and fuzz_make_seeds (on demand),
#    which writes the seed corpus;
#  - with -DDENSESHIFT_FUZZERS=ON under clang (scripts/fuzz.sh, in build-fuzz): one libFuzzer
#    executable per harness, fuzz_<harness>.
# Harnesses whose library is not part of this build are left out (no denseshift_data in the ARM
# cross build, no denseshift_train with DENSESHIFT_BUILD_TRAIN=OFF).
option(DENSESHIFT_FUZZERS "Build the libFuzzer executables (clang only; see scripts/fuzz.sh)" OFF)
set(DS_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)

# ds_fuzz_harness(NAME LIBS... [EXTRA_SOURCES...]): registers harness fuzz_NAME.cpp.
set(ds_fuzz_sources)
set(ds_fuzz_libs)
function(ds_fuzz_harness name)
  cmake_parse_arguments(H "" "" "LIBS;SOURCES" ${ARGN})
  set(srcs ${DS_FUZZ_DIR}/fuzz_${name}.cpp ${DS_FUZZ_DIR}/harness.cpp)
  foreach(s ${H_SOURCES})
    list(APPEND srcs ${DS_FUZZ_DIR}/${s})
  endforeach()
  set(ds_fuzz_sources ${ds_fuzz_sources} ${srcs} PARENT_SCOPE)
  set(ds_fuzz_libs ${ds_fuzz_libs} ${H_LIBS} PARENT_SCOPE)
  if(DENSESHIFT_FUZZERS)
    add_executable(fuzz_${name} ${srcs})
    target_compile_definitions(fuzz_${name} PRIVATE DS_LIBFUZZER=1)
    target_include_directories(fuzz_${name} PRIVATE ${DS_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(fuzz_${name} PRIVATE ${H_LIBS})
    target_compile_options(fuzz_${name} PRIVATE ${DS_WARNINGS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  endif()
endfunction()

if(DENSESHIFT_FUZZERS AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "DENSESHIFT_FUZZERS needs clang (libFuzzer); use scripts/fuzz.sh")
endif()

ds_fuzz_harness(dsm LIBS denseshift_runtime SOURCES dsm_mutator.cpp)
if(TARGET denseshift_data)
  ds_fuzz_harness(image LIBS denseshift_data)
  ds_fuzz_harness(gzip LIBS denseshift_data)
  ds_fuzz_harness(idx LIBS denseshift_data SOURCES sample_ends.cpp)
  ds_fuzz_harness(cifar LIBS denseshift_data SOURCES sample_ends.cpp)
endif()
if(TARGET denseshift_train)
  if(DENSESHIFT_FUZZERS)
    # checkpoint.cpp alone rather than all of denseshift_train: keeps fuzz.sh's clang build short.
    ds_fuzz_harness(checkpoint LIBS denseshift_core ${TORCH_LIBRARIES} SOURCES ../src/train/checkpoint.cpp ../src/train/torch_state_dict.cpp)
    target_include_directories(fuzz_checkpoint SYSTEM PRIVATE ${TORCH_INCLUDE_DIRS})
  else()
    ds_fuzz_harness(checkpoint LIBS denseshift_train)
  endif()
endif()
if(DENSESHIFT_FUZZERS)
  return()  # the clang build is for the fuzzers; the replay runs in the normal builds
endif()

list(REMOVE_DUPLICATES ds_fuzz_sources)
list(REMOVE_DUPLICATES ds_fuzz_libs)
add_executable(test_fuzz_replay ${DS_FUZZ_DIR}/replay_test.cpp ${ds_fuzz_sources})
target_compile_definitions(test_fuzz_replay PRIVATE DS_FUZZ_DIR="${DS_FUZZ_DIR}")
target_include_directories(test_fuzz_replay PRIVATE ${DS_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(test_fuzz_replay PRIVATE ${ds_fuzz_libs} GTest::gtest_main)
target_compile_options(test_fuzz_replay PRIVATE ${DS_WARNINGS})
gtest_discover_tests(test_fuzz_replay DISCOVERY_TIMEOUT 60)

if(NOT TARGET denseshift_data)
  return()  # the seed writer needs zlib, libpng and libturbojpeg
endif()
add_executable(fuzz_make_seeds EXCLUDE_FROM_ALL ${DS_FUZZ_DIR}/make_seeds.cpp)
target_include_directories(fuzz_make_seeds PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_include_directories(fuzz_make_seeds SYSTEM PRIVATE ${TURBOJPEG_INCLUDE_DIR})
target_link_libraries(fuzz_make_seeds PRIVATE denseshift_core ZLIB::ZLIB PNG::PNG ${TURBOJPEG_LIBRARY})
target_compile_options(fuzz_make_seeds PRIVATE ${DS_WARNINGS})
if(TARGET denseshift_train)
  target_compile_definitions(fuzz_make_seeds PRIVATE DS_SEEDS_CHECKPOINT=1)
  target_link_libraries(fuzz_make_seeds PRIVATE denseshift_train)
endif()
