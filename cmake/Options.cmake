# Compiler warnings and sanitizers for every clipdex target (not for imported
# libraries). Targets call cdx_target_defaults(<target>).
set(CDX_C_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wno-unused-parameter -Wvla)
set(CDX_CXX_WARNINGS -Wall -Wextra -Wformat=2 -Wno-unused-parameter)
if(CDX_WERROR)
  list(APPEND CDX_C_WARNINGS -Werror)
  list(APPEND CDX_CXX_WARNINGS -Werror)
endif()

set(CDX_SANITIZE_FLAGS "")
if(CDX_SANITIZE)
  string(REPLACE ";" "," _san "${CDX_SANITIZE}")
  set(CDX_SANITIZE_FLAGS -fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${CDX_SANITIZE_FLAGS})
  add_link_options(${CDX_SANITIZE_FLAGS})
endif()

# Fuzzing builds instrument every clipdex object for coverage; only the fuzz
# executables themselves link libFuzzer's main.
if(CDX_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

function(cdx_target_defaults tgt)
  target_compile_options(${tgt} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${CDX_C_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CXX>:${CDX_CXX_WARNINGS}>)
  target_include_directories(${tgt} PUBLIC ${CMAKE_SOURCE_DIR} ${CDX_GEN_DIR})
  target_compile_definitions(${tgt} PRIVATE _GNU_SOURCE)
endfunction()

# One static library per module from the sources in its folder.
function(cdx_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(NOT _srcs)
    # A module with no code yet still exists, so its dependents link.
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR} ${CDX_GEN_DIR})
    target_link_libraries(${name} INTERFACE ${M_DEPS})
    return()
  endif()
  add_library(${name} STATIC ${_srcs})
  cdx_target_defaults(${name})
  add_dependencies(${name} cdx_version_header)
  target_link_libraries(${name} PUBLIC ${M_DEPS})
endfunction()

# libFuzzer builds: give every clipdex library coverage instrumentation, so the
# fuzzer sees the parsers it drives and not only the target file.
if(CDX_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()
