# Steps of the cmake -P scripts (run_consumer.cmake, the examples' smoke tests,
# install_libraries_only.cmake); their messages start with ${STEP_LABEL}.
# step(name command...): runs the command; stops the script with its output if it fails, else sets
# step_output to its standard output.
function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${STEP_LABEL}: ${name} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${STEP_LABEL}: ${name} ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()
# failing_step(name expected command...): the command must fail, with `expected` in its output.
function(failing_step name expected)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(FIND "${out}${err}" "${expected}" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "${STEP_LABEL}: ${name} should fail with \"${expected}\" (exit ${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${STEP_LABEL}: ${name} fails as it should")
endfunction()
# usage_steps(program expected): `program --help` prints its usage (exit 0) with `expected` in it,
# and a flag it does not know is a usage error that names the flag.
function(usage_steps program expected)
  step("--help" ${program} --help)
  string(FIND "${step_output}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${STEP_LABEL}: --help printed no \"${expected}\":\n${step_output}")
  endif()
  failing_step("--no-such-flag" "--no-such-flag" ${program} train --no-such-flag)
endfunction()
