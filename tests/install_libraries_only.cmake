# ctest -R install_libraries_only: a tree configured with TINYXF_BUILD_TESTS/EXAMPLES/TOOLS/BENCH
# OFF builds the libraries and nothing else, and `cmake --install` of it gives a complete package.
# To stay cheap it builds with TINYXF_SYNTAX_ONLY (the compiler checks tinyxf::cpu's translation
# units and produces no code; the archive is an empty file) and without CUDA and MPI:
# consumer_from_install uses a real install. Variables: SOURCE_DIR, WORK_DIR, CXX.
foreach(var SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_libraries_only.cmake: ${var} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
set(tree "${WORK_DIR}/build")
set(prefix "${WORK_DIR}/prefix")
set(STEP_LABEL install_libraries_only)
include(${CMAKE_CURRENT_LIST_DIR}/script_steps.cmake)  # step(), failing_step()

step("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${tree}" -G Ninja -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_CXX_COMPILER=${CXX}" -DTINYXF_BUILD_TESTS=OFF -DTINYXF_BUILD_EXAMPLES=OFF
     -DTINYXF_BUILD_TOOLS=OFF -DTINYXF_BUILD_BENCH=OFF -DTINYXF_CUDA=OFF -DTINYXF_MPI=OFF
     -DTINYXF_SYNTAX_ONLY=ON)
step("build" ${CMAKE_COMMAND} --build "${tree}" -j2)
# What was built: tinyxf::cpu's objects and archive, no program.
string(REGEX MATCHALL "Linking [A-Z]+ [a-z ]+ [^\n]*" linked "${step_output}")
if(NOT linked STREQUAL "Linking CXX static library backends/cpu/libtinyxf_cpu.a")
  message(FATAL_ERROR "install_libraries_only: the build should link libtinyxf_cpu.a alone; it linked: ${linked}\n${step_output}")
endif()
step("install" ${CMAKE_COMMAND} --install "${tree}" --prefix "${prefix}")
file(STRINGS "${tree}/CMakeCache.txt" libdir REGEX "^CMAKE_INSTALL_LIBDIR:")
string(REGEX REPLACE "^[^=]*=" "" libdir "${libdir}")
foreach(file include/tinyxf/tinyxf.hpp include/tinyxf/backends/cpu.hpp ${libdir}/libtinyxf_cpu.a
        ${libdir}/cmake/tinyxf/tinyxfConfig.cmake ${libdir}/cmake/tinyxf/tinyxfTargets.cmake
        share/tinyxf/data/imdb_sample.csv)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "install_libraries_only: ${prefix}/${file} was not installed")
  endif()
endforeach()
file(GLOB programs "${prefix}/bin/*")
if(programs)
  message(FATAL_ERROR "install_libraries_only: programs were installed: ${programs}")
endif()
