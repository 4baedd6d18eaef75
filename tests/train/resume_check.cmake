# Runs tinyxf_resume_check's modes in order (ctest -R resume). Arguments: -DCHECK=<program>
# -DWORK_DIR=<scratch folder>.
#   straight    N steps in one process                      -> WORK_DIR/straight
#   first-half  the same run, killed (_Exit) one step after the checkpoint at N/2, leaving a
#               half-written checkpoint-<N/2+1>.tmp behind  -> WORK_DIR/resumed
#   resume      a new process: train("last") to step N      -> WORK_DIR/resumed
#   compare     final checkpoints byte for byte, metrics.jsonl without timings
if(NOT CHECK OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DCHECK=<tinyxf_resume_check> -DWORK_DIR=<dir> -P resume_check.cmake")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_mode)
  execute_process(COMMAND "${CHECK}" ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "tinyxf_resume_check ${ARGN} failed with exit status ${result}")
  endif()
endfunction()

run_mode(straight "${WORK_DIR}/straight")
run_mode(first-half "${WORK_DIR}/resumed")
run_mode(resume "${WORK_DIR}/resumed")
run_mode(compare "${WORK_DIR}/straight" "${WORK_DIR}/resumed")
message(STATUS "resume check: the resumed run matches the uninterrupted one bit for bit")
