# mmv_add_gtest(<name> LABEL <label> SOURCES <files...> [LIBS <targets...>])
# A GoogleTest binary whose tests are discovered one by one and carry the
# CTest label given (unit, model, property, stress or oracle). Discovery runs
# at test time, so sanitizer builds do not run test binaries while building.
# Their main is testing/gtest_main.cc: gtest's, after the environment is
# checked (an unknown MMV_FAULT fails every test binary, exit status 2).
function(mmv_add_gtest name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "mmv_add_gtest(${name}) needs a LABEL")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest mmv_gtest_main)
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()
