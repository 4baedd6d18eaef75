# End-to-end smoke test of the flagship (ctest -R imdb_distilbert): tiny from-scratch runs of the
# three training paths, then evaluate and predict on the saved model, then a bad --data path.
# Arguments: -DPROGRAM=<imdb_distilbert> -DWORK_DIR=<scratch folder>.
if(NOT PROGRAM OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DPROGRAM=<imdb_distilbert> -DWORK_DIR=<dir> -P smoke_test.cmake")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(TINY --from-scratch --limit-train 48 --limit-eval 16 --max-length 32 --epochs 1 --batch-size 8
         --threads 1 --log-every 0)

# run(<expected exit code> <regex the output must match> args...)
function(run expected_code pattern)
  execute_process(COMMAND "${PROGRAM}" ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL expected_code OR NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "imdb_distilbert ${ARGN}\nexit ${code} (expected ${expected_code}), output:\n${out}${err}\n"
                        "expected to match: ${pattern}")
  endif()
endfunction()

# metrics.json must hold accuracies in [0, 1] and a positive training time.
function(check_metrics dir)
  file(READ "${dir}/metrics.json" metrics)
  foreach(key test_accuracy val_accuracy)
    string(JSON value GET "${metrics}" ${key})
    if(value LESS 0 OR value GREATER 1)
      message(FATAL_ERROR "${dir}/metrics.json: ${key} = ${value} is not a fraction")
    endif()
  endforeach()
  string(JSON seconds GET "${metrics}" train_seconds)
  if(NOT seconds GREATER 0)
    message(FATAL_ERROR "${dir}/metrics.json: train_seconds = ${seconds}")
  endif()
  foreach(f model.safetensors config.json vocab.txt)
    if(NOT EXISTS "${dir}/model/${f}")
      message(FATAL_ERROR "${dir}/model/${f} was not written")
    endif()
  endforeach()
endfunction()

run(0 "test accuracy 0\\.[0-9]+" train ${TINY} --output-dir "${WORK_DIR}/adamw")
check_metrics("${WORK_DIR}/adamw")
run(0 "test accuracy" train ${TINY} --optimizer adam --schedule none --output-dir "${WORK_DIR}/adam")
check_metrics("${WORK_DIR}/adam")
run(0 "test accuracy" train ${TINY} --trainer --output-dir "${WORK_DIR}/trainer")
check_metrics("${WORK_DIR}/trainer")
foreach(f metrics.jsonl training_curve.svg)
  if(NOT EXISTS "${WORK_DIR}/trainer/trainer/${f}")
    message(FATAL_ERROR "--trainer did not write trainer/${f}")
  endif()
endforeach()

run(0 "test accuracy 0\\.[0-9]+ \\(16 reviews" evaluate --model "${WORK_DIR}/adamw/model" --limit-eval 16
    --max-length 32 --threads 1)
run(0 "(positive|negative) 0\\.[0-9]+  A wonderful, moving film\\." predict --model "${WORK_DIR}/adamw/model"
    "A wonderful, moving film.")
run(1 "no_such_file\\.csv" train ${TINY} --data "${WORK_DIR}/no_such_file.csv" --output-dir "${WORK_DIR}/bad")
run(2 "--model .* and --config .* exclude each other" train --model x --config y)
message(STATUS "imdb_distilbert smoke test passed")
