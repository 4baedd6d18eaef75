# Optional CUDA backend. AUTO builds it when nvcc is found; the rest of tinyxf never needs it.
set(TINYXF_HAVE_CUDA OFF)
if(NOT TINYXF_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/backends/cuda/CMakeLists.txt)
    # sm_80 machine code also runs on 8.6 / 8.9 GPUs (same major version; no kernel here uses an
    # 8.6/8.9-only feature); sm_90 machine code for Hopper and compute_90 PTX, which the driver
    # compiles for newer GPUs (Blackwell). Half the device compiles of 80;86;89;90.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(TINYXF_HAVE_CUDA ON)
    add_subdirectory(backends/cuda)
  elseif(TINYXF_CUDA STREQUAL "ON")
    message(FATAL_ERROR "tinyxf: TINYXF_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "tinyxf: CUDA backend ${TINYXF_HAVE_CUDA}")
