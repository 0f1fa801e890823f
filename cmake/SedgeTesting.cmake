# Test registration shared by every layer. Labels: unit, netns, lab, fuzz, bench.
# A test that cannot run exits 77 (ctest: skipped) and prints why; in CI (CI=true) the same
# condition is a failure, because CI installs every prerequisite.

# sedge_add_subdirs(): adds every immediate subdirectory that has a CMakeLists.txt, so each
# layer's tests live in their own folder without editing a shared list.
function(sedge_add_subdirs)
  file(GLOB lists CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*/CMakeLists.txt)
  list(SORT lists)
  foreach(l ${lists})
    get_filename_component(d ${l} DIRECTORY)
    add_subdirectory(${d})
  endforeach()
endfunction()

# sedge_add_gtest(NAME n LABEL unit|netns SOURCES ... LIBS ... [TIMEOUT s])
# netns tests need root and the host kernel; they run serially (RUN_SERIAL) as they share it.
function(sedge_add_gtest)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(SEDGE_FUZZ)
    return()
  endif()
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  sedge_target(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} sedge_gtest_main GTest::gtest GTest::gmock)
  add_test(NAME ${T_LABEL}.${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_LABEL}.${T_NAME} PROPERTIES
    LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "SEDGE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SEDGE_BUILD_DIR=${PROJECT_BINARY_DIR}")
  if(T_LABEL STREQUAL "netns")
    set_tests_properties(${T_LABEL}.${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

# sedge_add_fuzzer(NAME n SOURCES ... LIBS ... CORPUS dir)
# The sources define LLVMFuzzerTestOneInput. In the normal build the target replays its corpus
# (label unit: every seed input must stay harmless); with SEDGE_FUZZ=ON it is a libFuzzer
# binary run for SEDGE_FUZZ_SECONDS under ASan+UBSan (label fuzz).
function(sedge_add_fuzzer)
  cmake_parse_arguments(F "" "NAME;CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${F_NAME} ${F_SOURCES})
  sedge_target(${F_NAME})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  if(SEDGE_FUZZ)
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
    add_dependencies(sedge_fuzzers ${F_NAME})
    add_test(NAME fuzz.${F_NAME}
      COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/run-fuzzer.sh $<TARGET_FILE:${F_NAME}>
              ${F_CORPUS} ${SEDGE_FUZZ_SECONDS})
    set_tests_properties(fuzz.${F_NAME} PROPERTIES LABELS fuzz
      TIMEOUT 900)
  else()
    target_link_libraries(${F_NAME} PRIVATE sedge_fuzz_replay_main)
    add_test(NAME unit.${F_NAME}_corpus COMMAND ${F_NAME} ${F_CORPUS})
    set_tests_properties(unit.${F_NAME}_corpus PROPERTIES LABELS unit TIMEOUT 300)
  endif()
endfunction()

# sedge_add_bench(NAME n COMMAND ...): a benchmark, label bench, never run by default.
function(sedge_add_bench)
  cmake_parse_arguments(B "" "NAME;TIMEOUT" "COMMAND" ${ARGN})
  if(SEDGE_FUZZ)
    return()
  endif()
  if(NOT B_TIMEOUT)
    set(B_TIMEOUT 1800)
  endif()
  add_test(NAME bench.${B_NAME} COMMAND ${B_COMMAND})
  set_tests_properties(bench.${B_NAME} PROPERTIES LABELS bench TIMEOUT ${B_TIMEOUT}
    RUN_SERIAL TRUE
    ENVIRONMENT "SEDGE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SEDGE_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()
include(SedgeLab)
