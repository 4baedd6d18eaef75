# NCCL (nccl.h and libnccl: NCCL_ROOT's, or the CUDA toolkit's) as the imported target NCCL::nccl,
# unless the project already has one. Used by the build (cmake/tinyxfMpi.cmake) and, installed next
# to the package config, by find_package(tinyxf COMPONENTS cuda): the exported tinyxf::nccl links
# NCCL::nccl by name, so an install carries no absolute NCCL path and finds NCCL where its user
# has it. Needs find_package(CUDAToolkit) first (its directories are the fallback hints).
if(NOT TARGET NCCL::nccl)
  find_path(TINYXF_NCCL_INCLUDE_DIR nccl.h HINTS $ENV{NCCL_ROOT}/include ${CUDAToolkit_INCLUDE_DIRS})
  find_library(TINYXF_NCCL_LIBRARY nccl HINTS $ENV{NCCL_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR}
               ${CUDAToolkit_LIBRARY_ROOT}/lib ${CUDAToolkit_LIBRARY_ROOT}/lib64)
  if(TINYXF_NCCL_INCLUDE_DIR AND TINYXF_NCCL_LIBRARY)
    add_library(NCCL::nccl UNKNOWN IMPORTED)
    set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION "${TINYXF_NCCL_LIBRARY}"
                                                INTERFACE_INCLUDE_DIRECTORIES "${TINYXF_NCCL_INCLUDE_DIR}")
  endif()
endif()
