# sedge_add_lab_test(NAME n SCRIPT path [KIND uml|machine] [TIMEOUT s] [MEM m] [FIXTURES f...])
# Registers ctest test lab.<n> (label lab): one boot of tests/lab/harness/lab-run per scenario,
# with a time limit. Scenario scripts read SEDGE_BUILD_DIR for the binaries they need.
function(sedge_add_lab_test)
  cmake_parse_arguments(L "" "NAME;SCRIPT;KIND;TIMEOUT;MEM" "FIXTURES" ${ARGN})
  if(NOT L_KIND)
    set(L_KIND uml)
  endif()
  if(NOT L_TIMEOUT)
    set(L_TIMEOUT 240)
  endif()
  if(NOT L_MEM)
    set(L_MEM 1024M)
  endif()
  get_filename_component(script ${L_SCRIPT} ABSOLUTE)
  add_test(NAME lab.${L_NAME}
    COMMAND ${PROJECT_SOURCE_DIR}/tests/lab/harness/lab-run ${L_KIND} ${script} ${L_NAME})
  # ctest's own limit leaves the harness room to power the guest off and print its logs.
  math(EXPR ctest_timeout "${L_TIMEOUT} + 90")
  set_tests_properties(lab.${L_NAME} PROPERTIES LABELS lab TIMEOUT ${ctest_timeout}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "SEDGE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SEDGE_BUILD_DIR=${PROJECT_BINARY_DIR};LAB_TIMEOUT=${L_TIMEOUT};LAB_MEM=${L_MEM}")
  if(L_FIXTURES)
    set_tests_properties(lab.${L_NAME} PROPERTIES FIXTURES_REQUIRED "${L_FIXTURES}")
  endif()
endfunction()
