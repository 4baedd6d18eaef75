# Optional MPI (distributed training on cpu tensors, include/tinyxf/distributed/mpi.hpp) and NCCL
# (on cuda tensors, with the CUDA backend). AUTO uses MPI when find_package(MPI) finds it; the
# header-only core never needs it: only programs that include <tinyxf/distributed/mpi.hpp> or
# <tinyxf/distributed/distributed.hpp> link tinyxf::mpi. The distributed tests run under
# ${TINYXF_MPIEXEC} ${TINYXF_MPIEXEC_FLAGS} -np 2 (CTest label "distributed").
set(TINYXF_HAVE_MPI OFF)
if(NOT TINYXF_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND AND MPIEXEC_EXECUTABLE)
    set(TINYXF_HAVE_MPI ON)
    add_library(tinyxf_mpi INTERFACE)
    add_library(tinyxf::mpi ALIAS tinyxf_mpi)
    target_link_libraries(tinyxf_mpi INTERFACE tinyxf::tinyxf MPI::MPI_CXX)
    target_compile_definitions(tinyxf_mpi INTERFACE TINYXF_HAVE_MPI=1)
    # Installed and exported on its own, like tinyxf::cuda: find_package(tinyxf COMPONENTS mpi)
    # gives tinyxf::mpi where this build had MPI (cmake/tinyxfConfig.cmake.in).
    set_target_properties(tinyxf_mpi PROPERTIES EXPORT_NAME mpi)
    install(TARGETS tinyxf_mpi EXPORT tinyxfMpiTargets)
    install(EXPORT tinyxfMpiTargets NAMESPACE tinyxf:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tinyxf)
    # Open MPI refuses root unless told, and a 2-core runner needs oversubscription for -np 2.
    set(TINYXF_MPIEXEC_FLAGS "" CACHE STRING "Extra mpiexec flags for the distributed tests")
    execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _tinyxf_mpiexec_version ERROR_QUIET)
    if(_tinyxf_mpiexec_version MATCHES "Open MPI|OpenRTE" AND TINYXF_MPIEXEC_FLAGS STREQUAL "")
      set(TINYXF_MPIEXEC_FLAGS --allow-run-as-root --oversubscribe CACHE STRING
          "Extra mpiexec flags for the distributed tests" FORCE)
    endif()
  elseif(TINYXF_MPI STREQUAL "ON")
    message(FATAL_ERROR "tinyxf: TINYXF_MPI=ON but no MPI (C++ bindings and mpiexec) was found; "
                        "install libopenmpi-dev openmpi-bin (scripts/install-deps.sh)")
  endif()
endif()
message(STATUS "tinyxf: MPI ${TINYXF_HAVE_MPI}")

# NCCL: the compiled tinyxf::nccl (backends/cuda/src/nccl_process_group.cpp) when the CUDA backend
# is built and nccl.h + libnccl are found (the CUDA toolkit's, or NCCL_ROOT's).
set(TINYXF_HAVE_NCCL OFF)
if(TINYXF_HAVE_CUDA AND NOT TINYXF_NCCL STREQUAL "OFF")
  include(tinyxfFindNccl)     # cmake/tinyxfFindNccl.cmake: NCCL::nccl
  if(TARGET NCCL::nccl)
    set(TINYXF_HAVE_NCCL ON)
  elseif(TINYXF_NCCL STREQUAL "ON")
    message(FATAL_ERROR "tinyxf: TINYXF_NCCL=ON but nccl.h/libnccl were not found (set NCCL_ROOT)")
  endif()
endif()
message(STATUS "tinyxf: NCCL ${TINYXF_HAVE_NCCL}")
