# squad_qa end to end on the SQuAD fixtures: train a tiny DistilBERT from scratch (the JSON lines
# file, SQuAD 2.0 scoring: one question has no answer), write predictions, n-best and metrics;
# evaluate the saved model on the official JSON of the same questions; v1.1 scoring of a question
# without an answer is refused.
file(REMOVE_RECURSE ${WORK_DIR})
set(STEP_LABEL squad_qa_smoke)
include(${CMAKE_CURRENT_LIST_DIR}/../../tests/script_steps.cmake)  # step(), failing_step()
step(train ${PROGRAM} train --train ${DATA_DIR}/squad_sample.jsonl --eval ${DATA_DIR}/squad_sample.jsonl --version-2 --epochs 60
         --batch-size 4 --lr 5e-3 --max-length 48 --doc-stride 16 --dim 32 --layers 1 --heads 2 --threads 1
         --output-dir ${WORK_DIR}/train)
foreach(f model/model.safetensors model/config.json model/vocab.txt predictions.json nbest_predictions.json metrics.json)
  if(NOT EXISTS ${WORK_DIR}/train/${f})
    message(FATAL_ERROR "train did not write ${f}")
  endif()
endforeach()
file(READ ${WORK_DIR}/train/predictions.json predictions)
foreach(id z1 z2 r1)
  string(JSON answer ERROR_VARIABLE missing GET "${predictions}" ${id})
  if(missing)
    message(FATAL_ERROR "predictions.json has no answer for ${id}: ${predictions}")
  endif()
endforeach()
file(READ ${WORK_DIR}/train/metrics.json metrics)
string(JSON exact GET "${metrics}" eval_exact)
string(JSON f1 GET "${metrics}" eval_f1)
# The three questions (one without an answer) are learned.
if(exact LESS 99 OR f1 LESS 99 OR f1 GREATER 100)
  message(FATAL_ERROR "metrics.json: ${metrics}")
endif()
step(evaluate ${PROGRAM} evaluate --eval ${DATA_DIR}/squad_v2_sample.json --model ${WORK_DIR}/train/model --version-2
         --max-length 48 --doc-stride 16 --threads 1 --output-dir ${WORK_DIR}/evaluate)
file(READ ${WORK_DIR}/evaluate/metrics.json metrics)
foreach(key eval_exact eval_f1 eval_HasAns_exact eval_NoAns_exact eval_loss)
  string(JSON value ERROR_VARIABLE missing GET "${metrics}" ${key})
  if(missing)
    message(FATAL_ERROR "evaluate --version-2: metrics.json has no ${key}: ${metrics}")
  endif()
endforeach()
failing_step("v1.1 scoring of unanswerable questions" "question \"z2\" of ${DATA_DIR}/squad_v2_sample.json has no answer: score SQuAD 2.0 data with --version-2"
             ${PROGRAM} evaluate --eval ${DATA_DIR}/squad_v2_sample.json --model ${WORK_DIR}/train/model --output-dir ${WORK_DIR}/v1)
# A bad flag is a usage error that names it, not a crash.
failing_step("--doc-stride 400" "--doc-stride must be below --max-length"
             ${PROGRAM} train --train ${DATA_DIR}/squad_sample.jsonl --doc-stride 400)
usage_steps(${PROGRAM} "--max-length")  # --help; an unknown flag is a usage error
