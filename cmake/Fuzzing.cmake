# Fuzz targets: with clang and OSUPDATE_FUZZ=ON each target links libFuzzer; otherwise each target
# is linked with tests/fuzz/standalone.c, which replays a corpus directory, and the corpus is a test.
option(OSUPDATE_FUZZ "Build libFuzzer fuzz targets (clang only)" OFF)
if(OSUPDATE_FUZZ AND NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "OSUPDATE_FUZZ needs clang (CC=clang)")
endif()
if(OSUPDATE_FUZZ)
  # Coverage instrumentation for all code, the libraries under test above all: libFuzzer only
  # sees the edges of what was compiled with it. Only the fuzz targets link the libFuzzer runtime.
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()

function(osupdate_add_fuzzer name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  if(OSUPDATE_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${F_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/standalone.c)
  endif()
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  if(OSUPDATE_FUZZ)
    # libFuzzer: -runs=0 executes each corpus file once and stops.
    add_test(NAME fuzz__${name} COMMAND ${name} -runs=0 ${F_CORPUS})
  else()
    add_test(NAME fuzz__${name} COMMAND ${name} ${F_CORPUS})
  endif()
endfunction()
