# External dependencies: Debian packages through pkg-config, FAISS (static,
# with OpenMP and BLAS), and ONNX Runtime from ONNXRUNTIME_ROOT (tools/bootstrap
# fetches the pinned release into .cache/ when the user gives none).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(VIPS REQUIRED IMPORTED_TARGET vips)
pkg_check_modules(LIBEVENT REQUIRED IMPORTED_TARGET libevent libevent_pthreads)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)

find_program(PROTOC_C protoc-c REQUIRED)

# FAISS: Debian ships only libfaiss.a, which needs OpenMP, BLAS and LAPACK.
find_library(FAISS_LIBRARY NAMES faiss REQUIRED)
find_path(FAISS_INCLUDE_DIR faiss/Index.h REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)
add_library(cdx_faiss INTERFACE)
target_include_directories(cdx_faiss SYSTEM INTERFACE ${FAISS_INCLUDE_DIR})
target_link_libraries(cdx_faiss INTERFACE ${FAISS_LIBRARY} OpenMP::OpenMP_CXX ${LAPACK_LIBRARIES} ${BLAS_LIBRARIES})

# ONNX Runtime.
include(${CMAKE_SOURCE_DIR}/cmake/OrtLock.cmake)
set(_ort_default "${CMAKE_SOURCE_DIR}/.cache/onnxruntime-${ORT_VERSION}")
if(DEFINED ENV{ONNXRUNTIME_ROOT} AND NOT ONNXRUNTIME_ROOT)
  set(_ort_default "$ENV{ONNXRUNTIME_ROOT}")
endif()
set(ONNXRUNTIME_ROOT "${_ort_default}" CACHE PATH "ONNX Runtime release directory (include/, lib/)")
if(NOT EXISTS "${ONNXRUNTIME_ROOT}/include/onnxruntime_c_api.h")
  message(FATAL_ERROR "ONNX Runtime not found: ${ONNXRUNTIME_ROOT}/include/onnxruntime_c_api.h does not exist.\n"
    "Run tools/bootstrap (make does this) to fetch the pinned ORT ${ORT_VERSION}, "
    "or set ONNXRUNTIME_ROOT to an ONNX Runtime release directory (include/, lib/).")
endif()
find_library(ONNXRUNTIME_LIBRARY NAMES onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib" NO_DEFAULT_PATH)
if(NOT ONNXRUNTIME_LIBRARY)
  message(FATAL_ERROR "ONNX Runtime library not found in ${ONNXRUNTIME_ROOT}/lib; "
    "ONNXRUNTIME_ROOT must be an ONNX Runtime release directory (include/, lib/).")
endif()
get_filename_component(ONNXRUNTIME_LIB_DIR "${ONNXRUNTIME_LIBRARY}" DIRECTORY)
add_library(cdx_onnxruntime INTERFACE)
target_include_directories(cdx_onnxruntime SYSTEM INTERFACE "${ONNXRUNTIME_ROOT}/include")
target_link_libraries(cdx_onnxruntime INTERFACE "${ONNXRUNTIME_LIBRARY}")
message(STATUS "clipdex: ONNX Runtime from ${ONNXRUNTIME_ROOT}")
