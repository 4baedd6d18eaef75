# imdb_mlm end to end: a tiny DistilBERT from scratch trained on 300 reviews of the shipped sample
# (its first 280 train, the last 20 evaluate) lowers the held-out perplexity; the saved folder
# evaluates to the same perplexity (evaluation masks are fixed); a text file trains line by line
# with whole-word masking; an impossible block size and an empty file are refused.
file(REMOVE_RECURSE ${WORK_DIR})
set(STEP_LABEL imdb_mlm_smoke)
include(${CMAKE_CURRENT_LIST_DIR}/../../tests/script_steps.cmake)  # step(), failing_step()
step(train ${PROGRAM} train --limit-train 300 --eval-size 20 --max-length 64 --epochs 2 --batch-size 16 --lr 2e-3
     --dim 32 --layers 1 --heads 2 --threads 1 --output-dir ${WORK_DIR}/train)
foreach(f model/model.safetensors model/config.json model/vocab.txt metrics.json metrics.jsonl)
  if(NOT EXISTS ${WORK_DIR}/train/${f})
    message(FATAL_ERROR "train did not write ${f}")
  endif()
endforeach()
file(READ ${WORK_DIR}/train/metrics.json metrics)
string(JSON before GET "${metrics}" init_perplexity)
string(JSON after GET "${metrics}" perplexity)
if(NOT before GREATER 10000 OR NOT after LESS 3000)
  message(FATAL_ERROR "perplexity should fall from ~30522 to well below: ${metrics}")
endif()
string(JSON accuracy_before GET "${metrics}" init_eval_accuracy)
string(JSON accuracy_after GET "${metrics}" eval_accuracy)
if(NOT accuracy_after GREATER accuracy_before OR NOT accuracy_after GREATER 0.01)
  message(FATAL_ERROR "the share of masked tokens restored should rise: ${metrics}")
endif()

# Lines of a small text file (blank lines among them): line by line, whole words masked.
set(lines "")
foreach(i RANGE 59)
  math(EXPR kind "${i} % 3")
  if(kind EQUAL 0)
    string(APPEND lines "The film number ${i} was wonderful, the actors' performances unforgettable.\n")
  elseif(kind EQUAL 1)
    string(APPEND lines "A dreadful movie; number ${i} bored everyone to tears.\n   \n")
  else()
    string(APPEND lines "Nobody expected sequel ${i} to be this heart-warming.\n\n")
  endif()
endforeach()
file(WRITE ${WORK_DIR}/lines.txt "${lines}")
step(lines ${PROGRAM} train --train ${WORK_DIR}/lines.txt --eval ${WORK_DIR}/lines.txt --line-by-line --whole-word-mask
     --max-length 24 --epochs 3 --batch-size 8 --lr 5e-3 --dim 32 --layers 1 --heads 2 --threads 1
     --output-dir ${WORK_DIR}/lines)
if(NOT step_output MATCHES "eval: 100 texts -> 60 samples")
  message(FATAL_ERROR "blank lines should be skipped: ${step_output}")
endif()
file(READ ${WORK_DIR}/lines/metrics.json metrics)
string(JSON trained GET "${metrics}" perplexity)
# The saved model on the same lines: the same evaluation (its masks depend on seed and sample only).
step(evaluate ${PROGRAM} evaluate --model ${WORK_DIR}/lines/model --eval ${WORK_DIR}/lines.txt --line-by-line
     --whole-word-mask --max-length 24 --batch-size 8 --threads 1 --output-dir ${WORK_DIR}/evaluate)
file(READ ${WORK_DIR}/evaluate/metrics.json again)
string(JSON evaluated GET "${again}" perplexity)
string(JSON trained_accuracy GET "${metrics}" eval_accuracy)
string(JSON evaluated_accuracy GET "${again}" eval_accuracy)
if(NOT evaluated EQUAL trained OR NOT evaluated_accuracy EQUAL trained_accuracy)
  message(FATAL_ERROR "evaluate gave ${again}, train ended with ${metrics}")
endif()
step(predict ${PROGRAM} predict --model ${WORK_DIR}/lines/model --top-k 3 --threads 1 "The film number 7 was [MASK], the actors' performances unforgettable.")
string(REGEX MATCHALL "\n  0\\.[0-9][0-9][0-9][0-9]  " lines_out "${step_output}")
list(LENGTH lines_out shown)
if(NOT shown EQUAL 3 OR NOT step_output MATCHES "\\| the film number 7 was ")
  message(FATAL_ERROR "predict should show 3 fillings of the mask: ${step_output}")
endif()
# A time budget (a few seconds): the Trainer plans the steps that fit and the model is saved.
step(budget ${PROGRAM} train --train ${WORK_DIR}/lines.txt --eval-size 10 --line-by-line --max-length 24 --epochs 50
     --time-budget 0.05 --batch-size 8 --dim 32 --layers 1 --heads 2 --threads 1 --output-dir ${WORK_DIR}/budget)
if(NOT EXISTS ${WORK_DIR}/budget/model/model.safetensors OR NOT EXISTS ${WORK_DIR}/budget/metrics.json)
  message(FATAL_ERROR "a budgeted run should save its model and metrics: ${step_output}")
endif()
failing_step("predict without a mask" "no [MASK] token in the text" ${PROGRAM} predict --model ${WORK_DIR}/lines/model "no mask")
failing_step("predict with a training option" "--max-length is not an option of predict" ${PROGRAM} predict --model ${WORK_DIR}/lines/model --max-length 64 "a [MASK]")
failing_step("a block longer than the model" "--max-length 600 exceeds the model's 512 positions"
             ${PROGRAM} evaluate --model ${WORK_DIR}/lines/model --eval ${WORK_DIR}/lines.txt --line-by-line --max-length 600)
file(WRITE ${WORK_DIR}/empty.txt "")
failing_step("an empty file" "empty.txt holds no texts" ${PROGRAM} train --train ${WORK_DIR}/empty.txt)
failing_step("a bad probability" "--mlm-probability" ${PROGRAM} train --mlm-probability 1.5)
usage_steps(${PROGRAM} "--max-length")  # --help; an unknown flag is a usage error
