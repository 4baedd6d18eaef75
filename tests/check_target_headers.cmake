# ctest -R target_headers: the headers a CMake target covers reach no header outside the project
# but the C++ and C standard libraries (and the POSIX ones the core uses), apart from the
# third-party headers the target links. Preprocesses one translation unit that includes them all
# with the target's include directories and definitions (-M: every dependency, system ones too)
# and compares with the dependencies of a translation unit of standard headers only.
# Variables:
#   CXX          the C++ compiler
#   NAME         the target's name, for messages (core, text, hf)
#   INCLUDE_DIRS the target's include directories, '|'-separated (transitive: the third-party
#                ones it links are there too)
#   DEFINITIONS  its compile definitions, '|'-separated
#   HEADERS      globs relative to the include directories, '|'-separated (tinyxf/nn/*.hpp)
#   ALLOWED      third-party paths the target may reach: regexes, '|'-separated (empty: none)
#   WORK_DIR     scratch folder
cmake_minimum_required(VERSION 3.25)  # policies of a -P script (IN_LIST)
foreach(var CXX NAME INCLUDE_DIRS HEADERS WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_target_headers.cmake: ${var} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" include_dirs "${INCLUDE_DIRS}")
string(REPLACE "|" ";" definitions "${DEFINITIONS}")
string(REPLACE "|" ";" globs "${HEADERS}")
# What the messages call third-party code, whatever folder it sits in.
set(third_party "xsimd|xtensor|xtl|cblas|openblas|utf8proc|nlohmann|zlib|zconf|zip[.]h|zipconf|mpi|cuda|nccl")

# The project's own include directories (the target's, minus those of what it links).
set(project_dirs "")
set(flags "")
get_filename_component(project_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
foreach(dir ${include_dirs})
  cmake_path(NORMAL_PATH dir)
  list(APPEND flags "-I${dir}")
  string(FIND "${dir}" "${project_root}/" at)
  if(at EQUAL 0)
    list(APPEND project_dirs "${dir}")
  endif()
endforeach()
foreach(def ${definitions})
  list(APPEND flags "-D${def}")
endforeach()

set(headers "")
foreach(pattern ${globs})
  set(found FALSE)
  foreach(dir ${project_dirs})
    file(GLOB_RECURSE matches RELATIVE "${dir}" "${dir}/${pattern}")
    if(matches)
      list(APPEND headers ${matches})
      set(found TRUE)
    endif()
  endforeach()
  if(NOT found)
    message(FATAL_ERROR "target_headers_${NAME}: no header matches ${pattern} in ${project_dirs}")
  endif()
endforeach()
list(REMOVE_DUPLICATES headers)
list(SORT headers)

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(tu "")
foreach(header ${headers})
  string(APPEND tu "#include <${header}>\n")
endforeach()
file(WRITE "${WORK_DIR}/target.cpp" "${tu}")
# The baseline: the standard library (whatever this compiler has of C++20), the C headers it
# wraps, and the POSIX/compiler headers the core may use (dlopen, mmap, signals, intrinsics).
set(baseline "")
foreach(header algorithm any array atomic barrier bit bitset cassert cctype cerrno cfenv cfloat
        charconv chrono cinttypes climits clocale cmath codecvt compare complex concepts
        condition_variable coroutine csetjmp csignal cstdarg cstddef cstdint cstdio cstdlib
        cstring ctime cuchar cwchar cwctype deque exception execution filesystem format
        forward_list fstream functional future initializer_list iomanip ios iosfwd iostream
        istream iterator latch limits list locale map memory memory_resource mutex new numbers
        numeric optional ostream queue random ranges ratio regex scoped_allocator semaphore set
        shared_mutex source_location span sstream stack stdexcept stop_token streambuf string
        string_view syncstream system_error thread tuple type_traits typeindex typeinfo
        unordered_map unordered_set utility valarray variant vector version
        assert.h ctype.h errno.h float.h inttypes.h limits.h locale.h math.h setjmp.h stdarg.h
        stdbool.h stddef.h stdint.h stdio.h stdlib.h string.h time.h uchar.h wchar.h wctype.h
        dlfcn.h fcntl.h pthread.h signal.h sys/ioctl.h sys/mman.h sys/stat.h sys/types.h unistd.h
        immintrin.h)
  string(APPEND baseline "#if __has_include(<${header}>)\n#include <${header}>\n#endif\n")
endforeach()
file(WRITE "${WORK_DIR}/baseline.cpp" "${baseline}")

# The dependencies of one translation unit, normalized, one list element each.
function(dependencies tu out)
  execute_process(COMMAND "${CXX}" -std=c++20 ${ARGN} -M "${tu}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE deps ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "target_headers_${NAME}: preprocessing ${tu} failed:\n${err}")
  endif()
  string(REPLACE "\\\n" " " deps "${deps}")
  string(REPLACE "\\ " "<space>" deps "${deps}")
  string(REGEX REPLACE "^[^:]*:" "" deps "${deps}")
  string(REGEX REPLACE "[ \t\n]+" ";" deps "${deps}")
  set(result "")
  foreach(dep ${deps})
    if(dep STREQUAL "" OR dep STREQUAL tu)
      continue()
    endif()
    string(REPLACE "<space>" " " dep "${dep}")
    cmake_path(NORMAL_PATH dep)
    list(APPEND result "${dep}")
  endforeach()
  list(REMOVE_DUPLICATES result)
  set(${out} "${result}" PARENT_SCOPE)
endfunction()
dependencies("${WORK_DIR}/baseline.cpp" standard)
dependencies("${WORK_DIR}/target.cpp" reached ${flags})

set(own 0)
set(std 0)
set(allowed "")
set(outside "")
foreach(dep ${reached})
  set(in_project FALSE)
  foreach(dir ${project_dirs})
    string(FIND "${dep}" "${dir}/" at)
    if(at EQUAL 0)
      set(in_project TRUE)
    endif()
  endforeach()
  if(in_project)
    math(EXPR own "${own} + 1")
  elseif(dep IN_LIST standard AND NOT dep MATCHES "(${third_party})")
    math(EXPR std "${std} + 1")
  elseif(ALLOWED AND dep MATCHES "${ALLOWED}")
    list(APPEND allowed "${dep}")
  else()
    list(APPEND outside "${dep}")
  endif()
endforeach()
list(LENGTH headers n_headers)
list(LENGTH allowed n_allowed)
message(STATUS "target_headers_${NAME}: ${n_headers} headers reach ${own} project headers, ${std} "
               "standard ones and ${n_allowed} allowed third-party ones")
if(allowed)
  string(REPLACE "|" ";" alternatives "${ALLOWED}")
  foreach(alternative ${alternatives})
    set(these ${allowed})
    list(FILTER these INCLUDE REGEX "${alternative}")
    list(LENGTH these n)
    list(SUBLIST these 0 2 first)
    set(n_more "")
    if(n GREATER 2)
      set(n_more ", ...")
    endif()
    list(JOIN first ", " first)
    message(STATUS "  ${alternative}: ${n} headers (${first}${n_more})")
  endforeach()
endif()
if(outside)
  set(report "")
  foreach(dep ${outside})
    if(dep MATCHES "(${third_party})")
      string(APPEND report "\n    ${dep}   [${CMAKE_MATCH_1}]")
    else()
      string(APPEND report "\n    ${dep}")
    endif()
  endforeach()
  message(FATAL_ERROR "target_headers_${NAME}: these headers reach files outside tinyxf::${NAME} "
                      "(neither the project's, nor the standard library's, nor allowed):${report}\n"
                      "  checked: ${headers}")
endif()
