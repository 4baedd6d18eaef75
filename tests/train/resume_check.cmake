# Runs tinyxf_resume_check's modes in order (ctest -R resume). Arguments: -DCHECK=<program>
# -DWORK_DIR=<scratch folder>.
#   straight    N steps in one process                      -> WORK_DIR/straight
#   first-half  the same run, killed (_Exit) one step after the checkpoint at N/2, leaving a
#               half-written checkpoint-<N/2+1>.tmp behind  -> WORK_DIR/resumed
#   resume      a new process: train("last") to step N      -> WORK_DIR/resumed
#   compare     final checkpoints byte for byte, metrics.jsonl without timings
# once with the default data path and once with TINYXF_RESUME_GROUPED=1 (group_by_length, head_tail).
if(NOT CHECK OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DCHECK=<tinyxf_resume_check> -DWORK_DIR=<dir> -P resume_check.cmake")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Every mode twice: the Trainer's default data path, then (TINYXF_RESUME_GROUPED=1) batches
# grouped by length with head+tail windows.
foreach(grouped 0 1)
  set(dir "${WORK_DIR}/grouped${grouped}")
  foreach(mode straight first-half resume)
    set(target "${dir}/resumed")
    if(mode STREQUAL "straight")
      set(target "${dir}/straight")
    endif()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E env TINYXF_RESUME_GROUPED=${grouped} "${CHECK}" ${mode} "${target}"
                    RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
      message(FATAL_ERROR "TINYXF_RESUME_GROUPED=${grouped} tinyxf_resume_check ${mode} ${target} failed with exit status ${result}")
    endif()
  endforeach()
  execute_process(COMMAND "${CHECK}" compare "${dir}/straight" "${dir}/resumed" RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "tinyxf_resume_check compare (TINYXF_RESUME_GROUPED=${grouped}) failed with exit status ${result}")
  endif()
endforeach()
message(STATUS "resume check: the resumed runs match the uninterrupted ones bit for bit (plain and length-grouped batches)")
