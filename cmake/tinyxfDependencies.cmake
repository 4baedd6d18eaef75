# Finds tinyxf's dependencies (all from Debian packages) and wraps those without CMake targets
# into small INTERFACE targets. Used both by the source tree and by the installed package config.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(xtl)
find_dependency(xtensor)
find_dependency(xsimd)
find_dependency(ZLIB)  # .csv.gz data (data/imdb.hpp)
find_dependency(nlohmann_json 3.10)  # io/json.hpp parses through its SAX interface

if(NOT TARGET tinyxf_openblas)
  find_package(OpenBLAS CONFIG QUIET)
  if(NOT OpenBLAS_FOUND)
    find_path(OpenBLAS_INCLUDE_DIRS cblas.h PATH_SUFFIXES openblas-pthread openblas)
    find_library(OpenBLAS_LIBRARIES NAMES openblas)
  endif()
  if(NOT OpenBLAS_LIBRARIES OR NOT OpenBLAS_INCLUDE_DIRS)
    message(FATAL_ERROR "tinyxf: OpenBLAS not found (Debian: apt-get install libopenblas-dev)")
  endif()
  add_library(tinyxf_openblas INTERFACE)
  target_include_directories(tinyxf_openblas INTERFACE ${OpenBLAS_INCLUDE_DIRS})
  target_link_libraries(tinyxf_openblas INTERFACE ${OpenBLAS_LIBRARIES})
endif()

# tinyxf_find_plain_library(TARGET HEADER LIBRARY DEBIAN_PACKAGE): an INTERFACE target for a
# library found by its header and its .so (no CMake config, or one that cannot be used).
function(tinyxf_find_plain_library target header library package)
  if(TARGET ${target})
    return()
  endif()
  string(TOUPPER ${library} var)
  find_path(${var}_INCLUDE_DIR ${header})
  find_library(${var}_LIBRARY NAMES ${library})
  if(NOT ${var}_INCLUDE_DIR OR NOT ${var}_LIBRARY)
    message(FATAL_ERROR "tinyxf: ${library} not found (Debian: apt-get install ${package})")
  endif()
  add_library(${target} INTERFACE)
  target_include_directories(${target} INTERFACE ${${var}_INCLUDE_DIR})
  target_link_libraries(${target} INTERFACE ${${var}_LIBRARY})
endfunction()

tinyxf_find_plain_library(tinyxf_utf8proc utf8proc.h utf8proc libutf8proc-dev)
# libzip: torch.save's zip archives (io/torch_checkpoint.hpp, pytorch_model.bin). Found by hand:
# Debian's libzip-config.cmake fails unless the zipcmp/zipmerge/ziptool programs are installed.
tinyxf_find_plain_library(tinyxf_libzip zip.h zip libzip-dev)
