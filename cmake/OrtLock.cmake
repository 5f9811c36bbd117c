# Reads tools/ort.lock (KEY=value lines) into CMake variables.
file(STRINGS "${CMAKE_SOURCE_DIR}/tools/ort.lock" _ort_lines REGEX "^[A-Z_]+=")
foreach(_l IN LISTS _ort_lines)
  string(REGEX MATCH "^([A-Z_]+)=(.*)$" _m "${_l}")
  set(${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
endforeach()
