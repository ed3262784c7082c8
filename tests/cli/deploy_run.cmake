# denseshift-run on the reference model gives the top-1 classes `denseshift infer` gave on x86,
# wherever it runs: natively, and in the aarch64 cross build under qemu (the emulator prefix).
# Included from tests/CMakeLists.txt wherever the dataset readers (and so denseshift-run) are built.
set(DS_FASHION_IMAGES /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)
if(EXISTS ${DS_FASHION_IMAGES})
  string(REPLACE ";" "|" DS_EMULATOR_ARG "${CMAKE_CROSSCOMPILING_EMULATOR}")
  add_test(NAME deploy_run_matches_x86_predictions
           COMMAND ${CMAKE_COMMAND} "-DEMULATOR=${DS_EMULATOR_ARG}" -DBINARY=$<TARGET_FILE:denseshift-run>
                   -DMODEL=${CMAKE_CURRENT_LIST_DIR}/../runtime/data/smallcnn_fmnist_ds3.dsm -DIMAGES=${DS_FASHION_IMAGES}
                   -DPICTURE=${CMAKE_CURRENT_LIST_DIR}/data/gradient_40x30.png
                   -DEXPECTED=${CMAKE_CURRENT_LIST_DIR}/data/smallcnn_fmnist_top1.txt
                   -P ${CMAKE_CURRENT_LIST_DIR}/deploy_run_check.cmake)
else()
  message(STATUS "deploy_run_matches_x86_predictions: skipped (no ${DS_FASHION_IMAGES}; dataset-fashion-mnist)")
endif()
