# cmake -P script of the test deploy_run_matches_x86_predictions (deploy_run.cmake): runs
# denseshift-run infer --format csv (through EMULATOR, '|'-separated, when cross-built) and
# compares each input's top-1 class index with EXPECTED's. The smallest top-1/top-2 probability
# gap on these inputs is 0.014, far above the 1e-6 by which kernels on two ISAs differ.
string(REPLACE "|" ";" emulator "${EMULATOR}")
execute_process(COMMAND ${emulator} ${BINARY} infer ${MODEL} ${IMAGES} ${PICTURE} --limit 50 --top 1 --format csv --threads 2
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "denseshift-run failed (${rc}): ${err}${out}")
endif()
string(REGEX REPLACE "\n$" "" out "${out}")
string(REPLACE "\n" ";" rows "${out}")
list(REMOVE_AT rows 0)  # the header
set(got "")
foreach(row IN LISTS rows)
  string(REPLACE "," ";" fields "${row}")
  list(GET fields 2 index)  # input,class_1,index_1,probability_1
  list(APPEND got ${index})
endforeach()
file(STRINGS ${EXPECTED} lines REGEX "^[0-9]")
string(REPLACE " " ";" expected "${lines}")
list(LENGTH expected n)
if(NOT n EQUAL 51)
  message(FATAL_ERROR "${EXPECTED}: 51 class indices expected, found ${n}")
endif()
if(NOT "${got}" STREQUAL "${expected}")
  message(FATAL_ERROR "top-1 classes differ from x86's denseshift infer:\n got      ${got}\n expected ${expected}")
endif()
message(STATUS "51 inputs: the same top-1 classes as x86's denseshift infer")
