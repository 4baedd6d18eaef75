# ctest -R consumer_from_install: installs the build tree into a fresh custom prefix, configures
# tests/consumer against it with find_package(tinyxf) (CMAKE_PREFIX_PATH only, no source-tree
# paths), builds its three programs (tinyxf::tinyxf, tinyxf::headers, tinyxf::core + tinyxf::cpu)
# and runs them. Then the CUDA component: with HAVE_CUDA, tests/consumer/cuda is configured (not
# built: no GPU needed) with find_package(tinyxf COMPONENTS cuda); either way the component must
# fail cleanly where the CUDA toolkit (or the install's CUDA backend) is missing. Then the MPI
# component: with HAVE_MPI, tests/consumer/mpi is built with find_package(tinyxf COMPONENTS mpi)
# and run as one rank under MPIEXEC (with MPIEXEC_FLAGS, ';'-separated); without, the component
# must fail cleanly.
# Variables: BUILD_DIR (the tinyxf build), SOURCE_DIR, WORK_DIR, HAVE_CUDA, HAVE_NCCL (the CUDA
# consumer then also needs tinyxf::nccl, whose program is built and run: it needs no GPU),
# HAVE_MPI, MPIEXEC, MPIEXEC_FLAGS.
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix with space")
set(STEP_LABEL consumer)
include(${CMAKE_CURRENT_LIST_DIR}/../script_steps.cmake)  # step(), failing_step()

step("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
# Plain find_package(tinyxf) needs no CUDA toolkit, whatever the install has.
step("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build"
     -G Ninja "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE= -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
step("build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
# Run from an unrelated directory, with no data variable: the data must come from the prefix.
set(ENV{TINYXF_DATA_DIR} "")
foreach(program consumer consumer_header_only consumer_core)
  step("run ${program}" "${WORK_DIR}/build/${program}")
  message(STATUS "${step_output}")
  if(program STREQUAL "consumer_core")
    continue()  # no text, no data
  endif()
  string(FIND "${step_output}" "${prefix}/share/tinyxf/vocab/" at_vocab)
  string(FIND "${step_output}" "${prefix}/share/tinyxf/data/imdb_sample.csv" at_data)
  if(at_vocab EQUAL -1 OR at_data EQUAL -1)
    message(FATAL_ERROR "consumer: the data did not come from the install prefix:\n${step_output}")
  endif()
endforeach()

# find_package(tinyxf COMPONENTS cuda)
set(cuda_consumer ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/cuda" -G Ninja "-DCMAKE_PREFIX_PATH=${prefix}")
if(HAVE_CUDA)
  step("configure the CUDA consumer" ${cuda_consumer} -B "${WORK_DIR}/build-cuda" "-DTINYXF_EXPECT_NCCL=${HAVE_NCCL}")
  if(HAVE_NCCL)  # ncclGetVersion needs no GPU: build and run the program linking tinyxf::nccl
    step("build the NCCL consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build-cuda" --target consumer_nccl)
    step("run the NCCL consumer" "${WORK_DIR}/build-cuda/consumer_nccl")
    message(STATUS "${step_output}")
  endif()
  failing_step("the CUDA component without the toolkit" "tinyxf::cuda needs the CUDA toolkit"
               ${cuda_consumer} -B "${WORK_DIR}/build-cuda-no-toolkit" -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON)
else()
  message(STATUS "consumer: this build has no CUDA backend: the CUDA consumer is not configured")
  failing_step("the CUDA component of an install without it" "has no CUDA backend"
               ${cuda_consumer} -B "${WORK_DIR}/build-cuda")
endif()

# find_package(tinyxf COMPONENTS mpi)
set(mpi_consumer ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/mpi" -G Ninja "-DCMAKE_PREFIX_PATH=${prefix}")
if(HAVE_MPI)
  step("configure the MPI consumer" ${mpi_consumer} -B "${WORK_DIR}/build-mpi")
  step("build the MPI consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build-mpi")
  string(REPLACE "," ";" mpiexec_flags "${MPIEXEC_FLAGS}")
  step("run the MPI consumer" ${MPIEXEC} ${mpiexec_flags} -np 1 "${WORK_DIR}/build-mpi/consumer_mpi")
  message(STATUS "${step_output}")
  string(FIND "${step_output}" "rank 0 of 1: all_reduce sum 1" at_sum)
  if(at_sum EQUAL -1)
    message(FATAL_ERROR "consumer: the MPI consumer did not print its all_reduce:\n${step_output}")
  endif()
else()
  message(STATUS "consumer: this build has no MPI: the MPI consumer is not built")
  failing_step("the MPI component of an install without it" "has no MPI support"
               ${mpi_consumer} -B "${WORK_DIR}/build-mpi")
endif()
