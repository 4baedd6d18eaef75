# End-to-end smoke test of the flagship (ctest -R imdb_distilbert): tiny from-scratch runs of the
# three training paths, then evaluate and predict on the saved model, then a bad --data path,
# --save-steps, and hostile flags and configs (issue 11); with the fetched all-MiniLM-L6-v2, a tiny
# native BERT fine-tuning run.
# Arguments: -DPROGRAM=<imdb_distilbert> -DWORK_DIR=<scratch folder> [-DPRETRAINED=<MiniLM folder>].
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
# The saved config names IMDB's labels, as Hugging Face pipelines expect.
function(check_labels dir architecture)
  file(READ "${dir}/model/config.json" config)
  string(JSON saved_architecture GET "${config}" architectures 0)
  string(JSON negative GET "${config}" id2label 0)
  string(JSON positive GET "${config}" id2label 1)
  string(JSON positive_id GET "${config}" label2id positive)
  if(NOT saved_architecture STREQUAL architecture OR NOT negative STREQUAL "negative" OR
     NOT positive STREQUAL "positive" OR NOT positive_id EQUAL 1)
    message(FATAL_ERROR "${dir}/model/config.json: ${saved_architecture}, id2label ${negative}/${positive}, "
                        "label2id positive ${positive_id}")
  endif()
endfunction()
check_labels("${WORK_DIR}/adamw" DistilBertForSequenceClassification)
run(0 "test accuracy" train ${TINY} --optimizer adam --schedule none --output-dir "${WORK_DIR}/adam")
# Each precision, whatever this CPU has (without AVX512-BF16 the bf16 products are computed in float32).
# (and transformers' other schedules, by get_scheduler, in the hand loop and through the Trainer)
run(0 "precision bf16 \\(autocast.*cosine_with_restarts schedule, warmup 1.*test accuracy" train ${TINY} --precision bf16
    --schedule cosine_with_restarts --output-dir "${WORK_DIR}/bf16")
run(0 "precision medium .*test accuracy" train ${TINY} --precision medium --trainer --schedule polynomial
    --output-dir "${WORK_DIR}/medium")
# (and reduce_lr_on_plateau, stepped on the validation loss after the epoch)
run(0 "precision fp32; cpu kernels (avx512|avx2|sse4\\.2|generic)\nruntime: [0-9]+ threads?; cpu: [a-z0-9.]+ kernels, OpenBLAS [^\n]*; reference[^\n]*\n.*reduce_lr_on_plateau on the validation loss after each epoch.*test accuracy" train ${TINY} --precision fp32 --schedule reduce_lr_on_plateau --output-dir "${WORK_DIR}/fp32")
run(2 "--precision must be auto, fp32, medium or bf16, got 'fp16'" train --precision fp16)
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
# --save-steps: the Trainer checkpoints every N steps (issue 11, item 6); a killed earlier run's
# temporary is swept on start.
file(MAKE_DIRECTORY "${WORK_DIR}/steps")
file(WRITE "${WORK_DIR}/steps/metrics.json.tmp.999999999" "left by a killed run")
# (with reduce_lr_on_plateau through the Trainer; each checkpoint holds the tokenizer, as HF's
# Trainer saves its processing_class)
run(0 "test accuracy" train ${TINY} --trainer --save-steps 2 --schedule reduce_lr_on_plateau
    --output-dir "${WORK_DIR}/steps")
file(READ "${WORK_DIR}/steps/trainer/checkpoint-6/training_args.json" saved_args)
string(JSON strategy GET "${saved_args}" save_strategy)
string(JSON save_steps GET "${saved_args}" save_steps)
string(JSON scheduler GET "${saved_args}" lr_scheduler_type)
if(NOT strategy STREQUAL "steps" OR NOT save_steps EQUAL 2 OR NOT scheduler STREQUAL "reduce_lr_on_plateau")
  message(FATAL_ERROR "--save-steps 2 --schedule reduce_lr_on_plateau saved with save_strategy ${strategy}, "
                      "save_steps ${save_steps}, lr_scheduler_type ${scheduler}")
endif()
file(READ "${WORK_DIR}/steps/trainer/checkpoint-6/tokenizer_config.json" tokenizer_config)
string(JSON tokenizer_class GET "${tokenizer_config}" tokenizer_class)
if(NOT tokenizer_class STREQUAL "DistilBertTokenizer" OR NOT EXISTS "${WORK_DIR}/steps/trainer/checkpoint-6/tokenizer.json")
  message(FATAL_ERROR "checkpoint-6 lacks the tokenizer (tokenizer_class '${tokenizer_class}')")
endif()
if(EXISTS "${WORK_DIR}/steps/metrics.json.tmp.999999999")
  message(FATAL_ERROR "the stale metrics.json.tmp.999999999 was not swept")
endif()
run(2 "--save-steps and --resume need --trainer" train ${TINY} --save-steps 2)

# Issue 14: the data path and the time budget. A budget run plans after 20 measured steps
# (capped by --epochs 4 = 24 steps here) and reports planned and actual steps.
run(0 "time budget plan at step 20: 24 steps.*time budget: planned 24 steps, trained 24" train ${TINY} --epochs 4
    --time-budget 2 --eval-limit 8 --output-dir "${WORK_DIR}/budget")
file(READ "${WORK_DIR}/budget/metrics.json" budget_metrics)
string(JSON planned GET "${budget_metrics}" time_budget planned_steps)
string(JSON trained GET "${budget_metrics}" time_budget actual_steps)
string(JSON val_reviews GET "${budget_metrics}" config val_during_training_size)
if(NOT planned EQUAL 24 OR NOT trained EQUAL 24 OR NOT val_reviews EQUAL 8)
  message(FATAL_ERROR "--time-budget: planned ${planned}, trained ${trained}, validated on ${val_reviews} reviews")
endif()
# The same plan through the Trainer (--trainer), which also leaves time for the test set.
# (stdout's summary comes first here: the Trainer's progress lines go to stderr)
run(0 "time budget: planned 24 steps, trained 24.*time budget plan at step 20: 24 steps" train ${TINY} --trainer
    --epochs 4 --time-budget 2 --eval-limit 8 --output-dir "${WORK_DIR}/budget_trainer")
run(0 "padding, train .*with plainly shuffled batches.*truncation tail" train ${TINY} --no-group-by-length
    --truncation tail --pad-to-multiple-of 8 --output-dir "${WORK_DIR}/tail")
run(2 "--truncation must be head, tail or head_tail, got 'middle'" train --truncation middle)
run(2 "--head-tokens 300 leaves no room: --max-length 256 holds at most 254" train --head-tokens 300)
run(2 "--head-tokens needs --truncation head_tail" train --truncation head --head-tokens 3)
run(2 "--time-budget plans a whole run from its start; it cannot --resume" train --trainer --time-budget 5 --resume last)
run(2 "--time-budget: .*0.* is outside the accepted range" train --time-budget 0)
run(2 "--schedule cosine is not supported with it" train --time-budget 5 --schedule cosine)
run(2 "--schedule reduce_lr_on_plateau is not supported with it" train --trainer --time-budget 5
    --schedule reduce_lr_on_plateau)
run(2 "--schedule must be linear, cosine, .* or none, got 'bogus'" train --schedule bogus)

# Issue 11: hostile numbers and files end with a message and exit status 1 or 2, never a signal.
run(2 "--epochs: 4294967297 is outside the accepted range" train --epochs 4294967297)
run(2 "--warmup-ratio: 'nan' is not a finite number" train --warmup-ratio nan)
run(2 "--max-grad-norm: 'inf' is not a finite number" train --max-grad-norm inf)
run(2 "--limit-train: 9223372036854775808 is outside the accepted range" train --limit-train 9223372036854775808)
run(2 "--max-length: 18446744073709551615 is outside the accepted range" train --max-length 18446744073709551615)
run(2 "--threads: 100000 is outside the accepted range" train --threads 100000)
file(WRITE "${WORK_DIR}/huge_config.json" [=[{"vocab_size":2147483648,"dim":2147483648,"n_heads":16}]=])
run(1 "vocab_size = 2147483648 is outside the supported range" train ${TINY} --config "${WORK_DIR}/huge_config.json")
file(WRITE "${WORK_DIR}/labels_config.json" [=[{"num_labels":4611686018427387904}]=])
run(1 "num_labels = 4611686018427387904 is outside the supported range" train ${TINY} --config "${WORK_DIR}/labels_config.json")
run(1 "'/dev/zero' is not a regular file" train ${TINY} --config /dev/zero)

# A one-output (regression) head: predict printed probs[1] of a one-element vector (issue 11, item 3).
file(WRITE "${WORK_DIR}/regression_config.json"
     [=[{"dim":32,"n_layers":1,"n_heads":2,"hidden_dim":64,"max_position_embeddings":64,"num_labels":1}]=])
run(0 "test accuracy" train --limit-train 16 --limit-eval 8 --max-length 32 --epochs 1 --batch-size 8 --threads 1
    --log-every 0 --config "${WORK_DIR}/regression_config.json" --output-dir "${WORK_DIR}/regression")
run(0 "^score -?[0-9]+\\.[0-9]+  A wonderful, moving film\\.\n$" predict --model "${WORK_DIR}/regression/model"
    "A wonderful, moving film.")
# A BERT checkpoint fine-tunes natively as BertForSequenceClassification (MiniLM's pooler loaded,
# a new classifier); evaluate and predict reload the saved folder as a BERT.
if(PRETRAINED AND EXISTS "${PRETRAINED}/model.safetensors")
  run(0 "model: pretrained .*bert layout, 103 tensors loaded, 2 newly initialized.*test accuracy 0\\.[0-9]+" train
      --model "${PRETRAINED}" --limit-train 16 --limit-eval 8 --max-length 32 --epochs 1 --batch-size 8 --threads 1
      --log-every 0 --output-dir "${WORK_DIR}/bert")
  check_metrics("${WORK_DIR}/bert")
  check_labels("${WORK_DIR}/bert" BertForSequenceClassification)
  run(0 "test accuracy 0\\.[0-9]+ \\(8 reviews" evaluate --model "${WORK_DIR}/bert/model" --limit-eval 8
      --max-length 32 --threads 1)
  run(0 "(positive|negative) 0\\.[0-9]+  A wonderful, moving film\\." predict --model "${WORK_DIR}/bert/model"
      "A wonderful, moving film.")
else()
  message(STATUS "no fetched MiniLM at '${PRETRAINED}': the BERT fine-tuning run is skipped")
endif()
message(STATUS "imdb_distilbert smoke test passed")
