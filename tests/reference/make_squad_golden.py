#!/usr/bin/env python3
"""Writes tests/data/golden/squad/: extractive question answering as transformers' run_qa.py does
it, for include/tinyxf/train/question_answering.hpp and data/question_answering.hpp
(tests/train/question_answering_test.cpp):

  examples.json     the options (vocab, max_length 32, doc_stride 8) and the SQuAD-style examples
  features.jsonl    one line per feature (window) as run_qa's prepare_validation_features makes it
                    (pad_to_max_length=False): input_ids, token_type_ids, offsets (null outside the
                    context, as run_qa sets them to None), example_index, plus start/end_position
                    as prepare_train_features labels the same window
  logits.json       two sets of start/end logits [N][S][2] (float32; -100 past each
                    feature's end, HF's padding index): "random" (seeded normal) and "shaped"
  postprocess.jsonl one line per scenario: options, which logits, and what utils_qa.postprocess_qa_predictions
                    returns and writes (prediction text, n-best with logits and probabilities, null
                    score differences), with the SQuAD v1.1 metrics (examples with answers only:
                    the v1.1 script cannot score an example without one) and the v2 metrics
  metric_cases.jsonl  normalize_answer / exact match / F1 of single pairs (Unicode, punctuation,
                    articles, whitespace, empty strings) under the v1.1 and v2 definitions

Sources, copied verbatim below or loaded from the real files:
  * postprocess_qa_predictions: transformers examples/pytorch/question-answering/utils_qa.py
    (https://github.com/huggingface/transformers, commit e3b8f49f021f206cf09529ed0810d0df7e8d7656);
  * prepare_train_features / prepare_validation_features: run_qa.py of the same folder (commit
    03ea97ae17f461340572ce7c7250b22d7a146893), the tokenizer call and labelling loops verbatim;
  * SQuAD v1.1: the official evaluation script's functions (as HF evaluate ships it,
    metrics/squad/compute_score.py, commit b6e7c3b0ed02444f1b3f4f1eb48a39f27af321ec);
  * SQuAD v2: transformers 4.x transformers/data/metrics/squad_metrics.py (squad_evaluate,
    normalize_answer, compute_exact, compute_f1), which transformers 5 dropped. Get it with
        .venv-bench/bin/pip download transformers==4.46.3 --no-deps -d /tmp/tf4
        unzip -j /tmp/tf4/transformers-4.46.3-py3-none-any.whl \\
            transformers/data/metrics/squad_metrics.py -d /tmp/tf4
    and pass its path as --squad-metrics PATH or $TINYXF_SQUAD_METRICS_PY (the committed files were
    made with 4.46.3's copy). Its two package-relative imports are replaced by stand-ins on load.

The tokenizer is make_tokenizer_pair_golden.py's (tokenizers' BertWordPiece set-up over
share/vocab/bert-base-uncased-vocab.txt, lowercase), wrapped in transformers' BertTokenizerFast
(tokenizer_object=...; transformers 5's vocab_file= argument ignores the file).

    .venv-bench/bin/python tests/reference/make_squad_golden.py --squad-metrics /tmp/tf4/squad_metrics.py [--check]

tokenizers 0.23.3, transformers 5.25, numpy 2.4 in .venv-bench (scripts/setup-bench-env.sh). Deterministic:
seeded numpy logits; rerunning gives byte-identical files. The script asserts that no two real
logits of a feature are equal, so numpy's (unstable) argsort order of ties never matters here.
"""
import argparse
import collections
import json
import logging
import os
import re
import string
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_files import write_or_check_files  # noqa: E402
from make_tokenizer_pair_golden import make_tokenizer  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers import BertTokenizerFast  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "squad"
MAX_LENGTH, DOC_STRIDE = 32, 8

logger = logging.getLogger(__name__)


# ---- transformers utils_qa.py (commit e3b8f49f021f206cf09529ed0810d0df7e8d7656), verbatim --------
def postprocess_qa_predictions(
    examples,
    features,
    predictions,
    version_2_with_negative: bool = False,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
    output_dir=None,
    prefix=None,
    log_level=logging.WARNING,
):
    if len(predictions) != 2:
        raise ValueError("`predictions` should be a tuple with two elements (start_logits, end_logits).")
    all_start_logits, all_end_logits = predictions

    if len(predictions[0]) != len(features):
        raise ValueError(f"Got {len(predictions[0])} predictions and {len(features)} features.")

    # Build a map example to its corresponding features.
    example_id_to_index = {k: i for i, k in enumerate(examples["id"])}
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        features_per_example[example_id_to_index[feature["example_id"]]].append(i)

    # The dictionaries we have to fill.
    all_predictions = collections.OrderedDict()
    all_nbest_json = collections.OrderedDict()
    if version_2_with_negative:
        scores_diff_json = collections.OrderedDict()

    # Logging.
    logger.setLevel(log_level)
    logger.info(f"Post-processing {len(examples)} example predictions split into {len(features)} features.")

    # Let's loop over all the examples!
    for example_index, example in enumerate(tqdm(examples, disable=True)):
        # Those are the indices of the features associated to the current example.
        feature_indices = features_per_example[example_index]

        min_null_prediction = None
        prelim_predictions = []

        # Looping through all the features associated to the current example.
        for feature_index in feature_indices:
            # We grab the predictions of the model for this feature.
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            # This is what will allow us to map some the positions in our logits to span of texts in the original
            # context.
            offset_mapping = features[feature_index]["offset_mapping"]
            # Optional `token_is_max_context`, if provided we will remove answers that do not have the maximum context
            # available in the current feature.
            token_is_max_context = features[feature_index].get("token_is_max_context", None)

            # Update minimum null prediction.
            feature_null_score = start_logits[0] + end_logits[0]
            if min_null_prediction is None or min_null_prediction["score"] > feature_null_score:
                min_null_prediction = {
                    "offsets": (0, 0),
                    "score": feature_null_score,
                    "start_logit": start_logits[0],
                    "end_logit": end_logits[0],
                }

            # Go through all possibilities for the `n_best_size` greater start and end logits.
            start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
            end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    # Don't consider out-of-scope answers, either because the indices are out of bounds or correspond
                    # to part of the input_ids that are not in the context.
                    if (
                        start_index >= len(offset_mapping)
                        or end_index >= len(offset_mapping)
                        or offset_mapping[start_index] is None
                        or offset_mapping[end_index] is None
                    ):
                        continue
                    # Don't consider answers with a length that is either < 0 or > max_answer_length.
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    # Don't consider answer that don't have the maximum context available (if such information is
                    # provided).
                    if token_is_max_context is not None and not token_is_max_context.get(str(start_index), False):
                        continue
                    prelim_predictions.append(
                        {
                            "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                            "score": start_logits[start_index] + end_logits[end_index],
                            "start_logit": start_logits[start_index],
                            "end_logit": end_logits[end_index],
                        }
                    )
        if version_2_with_negative:
            # Add the minimum null prediction
            prelim_predictions.append(min_null_prediction)
            null_score = min_null_prediction["score"]

        # Only keep the best `n_best_size` predictions.
        predictions = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[:n_best_size]

        # Add back the minimum null prediction if it was removed because of its low score.
        if version_2_with_negative and not any(p["offsets"] == (0, 0) for p in predictions):
            predictions.append(min_null_prediction)

        # Use the offsets to gather the answer text in the original context.
        context = example["context"]
        for pred in predictions:
            offsets = pred.pop("offsets")
            pred["text"] = context[offsets[0] : offsets[1]]

        # In the very rare edge case we have not a single non-null prediction, we create a fake prediction to avoid
        # failure.
        if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
            predictions.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})

        # Compute the softmax of all scores (we do it with numpy to stay independent from torch/tf in this file, using
        # the LogSumExp trick).
        scores = np.array([pred.pop("score") for pred in predictions])
        exp_scores = np.exp(scores - np.max(scores))
        probs = exp_scores / exp_scores.sum()

        # Include the probabilities in our predictions.
        for prob, pred in zip(probs, predictions):
            pred["probability"] = prob

        # Pick the best prediction. If the null answer is not possible, this is easy.
        if not version_2_with_negative:
            all_predictions[example["id"]] = predictions[0]["text"]
        else:
            # Otherwise we first need to find the best non-empty prediction.
            i = 0
            while predictions[i]["text"] == "":
                i += 1
            best_non_null_pred = predictions[i]

            # Then we compare to the null prediction using the threshold.
            score_diff = null_score - best_non_null_pred["start_logit"] - best_non_null_pred["end_logit"]
            scores_diff_json[example["id"]] = float(score_diff)  # To be JSON-serializable.
            if score_diff > null_score_diff_threshold:
                all_predictions[example["id"]] = ""
            else:
                all_predictions[example["id"]] = best_non_null_pred["text"]

        # Make `predictions` JSON-serializable by casting np.float back to float.
        all_nbest_json[example["id"]] = [
            {k: (float(v) if isinstance(v, (np.float16, np.float32, np.float64)) else v) for k, v in pred.items()}
            for pred in predictions
        ]

    # If we have an output_dir, let's save all those dicts.
    if output_dir is not None:
        if not os.path.isdir(output_dir):
            raise EnvironmentError(f"{output_dir} is not a directory.")

        prediction_file = os.path.join(
            output_dir, "predictions.json" if prefix is None else f"{prefix}_predictions.json"
        )
        nbest_file = os.path.join(
            output_dir, "nbest_predictions.json" if prefix is None else f"{prefix}_nbest_predictions.json"
        )
        if version_2_with_negative:
            null_odds_file = os.path.join(
                output_dir, "null_odds.json" if prefix is None else f"{prefix}_null_odds.json"
            )

        logger.info(f"Saving predictions to {prediction_file}.")
        with open(prediction_file, "w") as writer:
            writer.write(json.dumps(all_predictions, indent=4) + "\n")
        logger.info(f"Saving nbest_preds to {nbest_file}.")
        with open(nbest_file, "w") as writer:
            writer.write(json.dumps(all_nbest_json, indent=4) + "\n")
        if version_2_with_negative:
            logger.info(f"Saving null_odds to {null_odds_file}.")
            with open(null_odds_file, "w") as writer:
                writer.write(json.dumps(scores_diff_json, indent=4) + "\n")

    return all_predictions
# ---- end of utils_qa.py (changes: no docstring or type imports, tqdm(..., disable=True)) ------------


# ---- official SQuAD v1.1 evaluation script (HF evaluate metrics/squad/compute_score.py), verbatim ----
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def compute_score(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    message = "Unanswered question " + qa["id"] + " will receive score 0."
                    print(message, file=sys.stderr)
                    continue
                ground_truths = list(map(lambda x: x["text"], qa["answers"]))
                prediction = predictions[qa["id"]]
                exact_match += metric_max_over_ground_truths(exact_match_score, prediction, ground_truths)
                f1 += metric_max_over_ground_truths(f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {"exact_match": exact_match, "f1": f1}
# ---- end of the v1.1 script ------------------------------------------------------------------------


def load_squad_metrics_v2(path):
    """transformers 4.x squad_metrics.py as a module, its package-relative imports replaced."""
    source = Path(path).read_text(encoding="utf-8")
    imports = {
        "from ...models.bert import BasicTokenizer\n": "BasicTokenizer = None  # only get_final_text uses it\n",
        "from ...utils import logging\n": "import logging as _logging\nlogging = types.SimpleNamespace(get_logger=_logging.getLogger)\n",
    }
    for old, new in imports.items():
        if old not in source:
            raise SystemExit(f"{path}: expected the line {old.strip()!r} (is it transformers 4.x squad_metrics.py?)")
        source = source.replace(old, new)
    module = types.ModuleType("squad_metrics_v2")
    module.__dict__["types"] = types
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


# ---- the examples -----------------------------------------------------------------------------------

NORMANS = ("The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in the 10th "
           "and 11th centuries gave their name to Normandy, a region in France. They were descended from Norse "
           "(\"Norman\" comes from \"Norseman\") raiders and pirates from Denmark, Iceland and Norway who, under "
           "their leader Rollo, agreed to swear fealty to King Charles III of West Francia.")


def answer(context, text, occurrence=0):
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(text, start + 1)
    return {"text": text, "answer_start": start}


def make_examples():
    cafe = "Le café de la Gare à Zürich sert des crêpes naïvement; 北京 est loin, ΟΔΟΣ aussi."
    short = "The Eiffel Tower is in Paris, France."
    last = "The capital is Paris"
    return [
        {"id": "short", "question": "Where is the Eiffel Tower?", "context": short,
         "answers": [answer(short, "Paris"), answer(short, "Paris, France")]},
        {"id": "long", "question": "Who was the leader of the Normans?", "context": NORMANS,
         "answers": [answer(NORMANS, "Rollo"), answer(NORMANS, "their leader Rollo")]},
        {"id": "unicode", "question": "\u00a0  O\u00f9 est le caf\u00e9 ?", "context": cafe,
         "answers": [answer(cafe, "Zürich")]},
        {"id": "no_answer", "question": "What is the capital of Atlantis?", "context": short, "answers": []},
        # The answer is the context's last token: run_qa's start loop walks past it onto [SEP].
        {"id": "last_token", "question": "capital?", "context": last, "answers": [answer(last, "Paris")]},
        {"id": "countries", "question": "Where did the raiders come from?", "context": NORMANS,
         "answers": [answer(NORMANS, "Denmark, Iceland and Norway"), answer(NORMANS, "Denmark")]},
    ]


# ---- run_qa.py's preprocessing (commit 03ea97ae17f461340572ce7c7250b22d7a146893) -----------------------

def tokenize(tokenizer, examples, max_length=None, doc_stride=None):
    questions = [q.lstrip() for q in examples["question"]]
    return tokenizer(
        questions,
        examples["context"],
        truncation="only_second",
        max_length=max_length or MAX_LENGTH,
        stride=doc_stride or DOC_STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def prepare_validation_features(tokenizer, examples):
    tokenized_examples = tokenize(tokenizer, examples)
    sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
    tokenized_examples["example_id"] = []
    for i in range(len(tokenized_examples["input_ids"])):
        sequence_ids = tokenized_examples.sequence_ids(i)
        context_index = 1
        sample_index = sample_mapping[i]
        tokenized_examples["example_id"].append(examples["id"][sample_index])
        tokenized_examples["offset_mapping"][i] = [
            (o if sequence_ids[k] == context_index else None)
            for k, o in enumerate(tokenized_examples["offset_mapping"][i])
        ]
    return tokenized_examples, sample_mapping


def prepare_train_positions(tokenizer, examples):
    features = prepare_train_features(tokenizer, examples)
    return features["start_positions"], features["end_positions"]


def prepare_train_features(tokenizer, examples, max_length=None, doc_stride=None):
    """run_qa's prepare_train_features; the sample mapping is kept (as "example_index") for comparisons."""
    tokenized_examples = tokenize(tokenizer, examples, max_length, doc_stride)
    sample_mapping = tokenized_examples.pop("overflow_to_sample_mapping")
    tokenized_examples["example_index"] = sample_mapping
    offset_mapping = tokenized_examples.pop("offset_mapping")
    tokenized_examples["start_positions"] = []
    tokenized_examples["end_positions"] = []
    pad_on_right = True
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized_examples["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        sequence_ids = tokenized_examples.sequence_ids(i)
        sample_index = sample_mapping[i]
        answers = examples["answers"][sample_index]
        if len(answers["answer_start"]) == 0:
            tokenized_examples["start_positions"].append(cls_index)
            tokenized_examples["end_positions"].append(cls_index)
        else:
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            token_start_index = 0
            while sequence_ids[token_start_index] != (1 if pad_on_right else 0):
                token_start_index += 1
            token_end_index = len(input_ids) - 1
            while sequence_ids[token_end_index] != (1 if pad_on_right else 0):
                token_end_index -= 1
            if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
                tokenized_examples["start_positions"].append(cls_index)
                tokenized_examples["end_positions"].append(cls_index)
            else:
                while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                    token_start_index += 1
                tokenized_examples["start_positions"].append(token_start_index - 1)
                while offsets[token_end_index][1] >= end_char:
                    token_end_index -= 1
                tokenized_examples["end_positions"].append(token_end_index + 1)
    return tokenized_examples


class Columns:
    """What utils_qa reads of a datasets.Dataset: ds["column"], ds[i], iteration over rows, len."""

    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, key):
        return [row[key] for row in self.rows] if isinstance(key, str) else self.rows[key]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


def answer_span_tokens(offsets, answer):
    """The first and last context token of an answer in a window (None when it is not inside)."""
    begin, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
    inside = [t for t, o in enumerate(offsets) if o is not None and o[0] < end and o[1] > begin]
    if not inside or offsets[inside[0]][0] > begin or offsets[inside[-1]][1] < end:
        return None
    return inside[0], inside[-1]


# ---- logits -----------------------------------------------------------------------------------------

def padded_logits(rows, lengths, width):
    """[N, width, 2] float32: each feature's logits, -100 past its end (what run_qa's gathering pads with)."""
    out = np.full((len(rows), width, 2), -100.0, dtype=np.float32)
    for i, (row, length) in enumerate(zip(rows, lengths)):
        out[i, :length] = row[:length]
    return out


def check_no_ties(logits, lengths):
    for i, length in enumerate(lengths):
        for k in range(2):
            values = logits[i, :length, k]
            assert len(np.unique(values)) == length, f"feature {i}: tied logits (argsort order would matter)"


def random_logits(rng, lengths, width, scale):
    rows = [rng.normal(0.0, scale, size=(length, 2)).astype(np.float32) for length in lengths]
    return padded_logits(rows, lengths, width)


def shaped_logits(rng, examples, features, lengths, width):
    """Small noise, with the gold answer (or, for no-answer examples, [CLS]) strongly preferred, plus
    decoys: a reversed span (end before start) and an over-long span in the long example."""
    rows = []
    for f, length in zip(features, lengths):
        row = rng.normal(0.0, 0.3, size=(length, 2)).astype(np.float32)
        example = examples[f["example_index"]]
        if example["answers"]:
            span = answer_span_tokens(f["offset_mapping"], example["answers"][0])
            if span is not None:
                row[span[0], 0] += 4.0 + 0.5 * f["example_index"]
                row[span[1], 1] += 3.5
            context = [t for t, o in enumerate(f["offset_mapping"]) if o is not None]
            if example["id"] == "long" and len(context) > 8:
                row[context[6], 0] += 5.0  # best start after the best end: never a candidate
                row[context[2], 1] += 5.5
                row[context[0], 0] += 6.0  # first to last context token: longer than max_answer_length
                row[context[-1], 1] += 6.0
        else:
            row[0] += 6.0
        rows.append(row)
    return padded_logits(rows, lengths, width)


# ---- golden files -----------------------------------------------------------------------------------

FLOAT32_MARK = "\u0000f32:"


def short(value):
    """A float that is a float32 written as the shortest decimal that reads back as that float32 (any
    float read as a double and rounded to float32 gives it back); other floats as Python writes them."""
    if isinstance(value, float) and np.isfinite(value) and float(np.float32(value)) == value:
        return FLOAT32_MARK + str(np.float32(value))
    return value


def shorten(value):
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v) for v in value]
    return short(value)


def dumps(value, **kwargs):
    text = json.dumps(shorten(value), ensure_ascii=True, **kwargs)
    return re.sub(r'"\\u0000f32:([^"]*)"', r"\1", text)


def squad_v2_examples(examples):
    return [types.SimpleNamespace(qas_id=e["id"], answers=e["answers"]) for e in examples]


def run_scenario(name, v2, examples, features, logits_name, logits, options):
    with tempfile.TemporaryDirectory() as tmp:
        predictions = postprocess_qa_predictions(
            Columns(examples), Columns(features), (logits[..., 0], logits[..., 1]),
            version_2_with_negative=options["version_2_with_negative"], n_best_size=options["n_best_size"],
            max_answer_length=options["max_answer_length"],
            null_score_diff_threshold=options["null_score_diff_threshold"], output_dir=tmp, prefix="eval")
        nbest = json.loads(Path(tmp, "eval_nbest_predictions.json").read_text())
        null_odds = (json.loads(Path(tmp, "eval_null_odds.json").read_text())
                     if options["version_2_with_negative"] else {})
    results = [{"id": e["id"], "prediction_text": predictions[e["id"]],
                "null_score_diff": null_odds.get(e["id"], 0.0),
                "n_best": nbest[e["id"]]} for e in examples]
    answered = [e for e in examples if e["answers"]]
    dataset = [{"paragraphs": [{"qas": [{"answers": [{"text": a["text"]} for a in e["answers"]], "id": e["id"]}
                                        for e in answered]}]}]
    metrics_v1 = compute_score(dataset, {e["id"]: predictions[e["id"]] for e in answered})
    metrics_v2 = dict(v2.squad_evaluate(squad_v2_examples(examples), dict(predictions)))
    return {"name": name, "options": options, "logits": logits_name, "predictions": results,
            "metrics_v1_answered": metrics_v1, "metrics_v2": metrics_v2}


METRIC_CASES = [
    ("The Normans", "Normans"), ("the cat", "a cat"), ("An apple", "apple"), ("", ""), ("", "the"),
    ("Paris", ""), ("Paris, France.", "paris france"), ("Paris,France", "paris france"), ("Café", "CAFÉ"),
    ("\u0130stanbul", "i\u0307stanbul"), ("\u0130stanbul", "istanbul"), ("ΟΔΟΣ", "οδος"), ("ΟΔΟΣ", "οδοσ"),
    ("ΟΔΟΣ ΣΑ", "οδος σα"), ("Α.Σ.", "ας"), ("ΑΣ'Β", "ας'β"), ("Σ", "σ"), ("theory of a thing", "theory of thing"),
    ("an_apple", "anapple"), ("the_end", "end"), ("a\u00a0b", "b"), ("x\x1cy", "x y"), ("l'homme", "lhomme"),
    ("naïve the\u0301 end", "naïve \u0301 end"), ("Ⅻ the king", "Ⅻ king"), ("\u3000the  cat\u2003", "cat"),
    ("1,000", "1000"), ("€5", "5"), ("the the the", ""), ("a b c d", "a b c e"), ("cat cat dog", "cat dog dog"),
    ("«Paris»", "Paris"), ("Ünïcödé", "ünïcödé"), ("\u01c5", "\u01c6"), ("北京 the", "北京"), ("the北京", "北京"),
    ("A", "a"), ("THE END", "end"), ("Denmark, Iceland and Norway", "Denmark"), ("tab\tnew\nline", "tab new line"),
    ("\u00bd the", "\u00bd"), ("the\u00b2", "the"), ("a-b", "ab"), ("a–b", "a b"),
]


def metric_case_lines(v2):
    lines = []
    for prediction, truth in METRIC_CASES:
        lines.append(dumps({
            "prediction": prediction, "truth": truth,
            "normalized_prediction": normalize_answer(prediction), "normalized_truth": normalize_answer(truth),
            "exact_match": int(exact_match_score(prediction, truth)), "f1_v1": float(f1_score(prediction, truth)),
            "exact_v2": v2.compute_exact(truth, prediction), "f1_v2": float(v2.compute_f1(truth, prediction)),
        }))
        assert v2.normalize_answer(prediction) == normalize_answer(prediction)
    return "\n".join(lines) + "\n"


def make(v2):
    tokenizer = BertTokenizerFast(tokenizer_object=make_tokenizer(), do_lower_case=True)
    examples = make_examples()
    batch = {key: [e[key] for e in examples] for key in ("id", "question", "context")}
    batch["answers"] = [{"text": [a["text"] for a in e["answers"]],
                         "answer_start": [a["answer_start"] for a in e["answers"]]} for e in examples]
    tokenized, sample_mapping = prepare_validation_features(tokenizer, dict(batch))
    starts, ends = prepare_train_positions(tokenizer, dict(batch))
    features, feature_lines = [], []
    for i in range(len(tokenized["input_ids"])):
        feature = {"example_index": sample_mapping[i], "example_id": tokenized["example_id"][i],
                   "input_ids": tokenized["input_ids"][i], "token_type_ids": tokenized["token_type_ids"][i],
                   "offset_mapping": [None if o is None else list(o) for o in tokenized["offset_mapping"][i]],
                   "start_position": starts[i], "end_position": ends[i]}
        features.append(feature)
        feature_lines.append(dumps({k: v for k, v in feature.items() if k != "example_id"}))
    lengths = [len(f["input_ids"]) for f in features]
    width = max(lengths) + 3  # every feature has padded positions

    rng = np.random.default_rng(20261204)
    random = random_logits(rng, lengths, width, 2.0)
    shaped = shaped_logits(rng, examples, features, lengths, width)
    check_no_ties(random, lengths)
    check_no_ties(shaped, lengths)
    logits_text = dumps({"shape": list(random.shape), "random": random.tolist(), "shaped": shaped.tolist()}) + "\n"
    # What the C++ test reads (a double rounded to float32) is what the reference computes with.
    read_back = json.loads(logits_text)
    assert np.array_equal(np.array(read_back["random"], dtype=np.float32), random)
    assert np.array_equal(np.array(read_back["shaped"], dtype=np.float32), shaped)

    def options(v2_mode, n_best=20, max_len=30, threshold=0.0):
        return {"n_best_size": n_best, "max_answer_length": max_len, "version_2_with_negative": v2_mode,
                "null_score_diff_threshold": threshold}

    scenarios = [
        ("random_v1", "random", options(False)),
        ("random_v2", "random", options(True)),
        ("random_v2_threshold_-8", "random", options(True, threshold=-8.0)),
        ("random_v2_threshold_-13", "random", options(True, threshold=-13.0)),
        ("random_v2_nbest3_maxlen4", "random", options(True, n_best=3, max_len=4)),
        ("shaped_v1", "shaped", options(False, max_len=10)),
        ("shaped_v2", "shaped", options(True, max_len=10)),
        ("shaped_v2_threshold_12", "shaped", options(True, max_len=10, threshold=12.0)),
        ("no_valid_span_v1", "shaped", options(False, max_len=0)),  # no candidates: the "empty" rule
        ("no_valid_span_v2", "shaped", options(True, max_len=0)),
    ]
    logits = {"random": random, "shaped": shaped}
    postprocess = [dumps(run_scenario(name, v2, examples, features, which, logits[which], opt))
                   for name, which, opt in scenarios]

    header = {"vocab": "share/vocab/bert-base-uncased-vocab.txt", "lowercase": True, "max_length": MAX_LENGTH,
              "doc_stride": DOC_STRIDE, "examples": examples}
    return {
        "examples.json": json.dumps(header, ensure_ascii=True, indent=1) + "\n",
        "features.jsonl": "\n".join(feature_lines) + "\n",
        "logits.json": logits_text,
        "postprocess.jsonl": "\n".join(postprocess) + "\n",
        "metric_cases.jsonl": metric_case_lines(v2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--squad-metrics", default=os.environ.get("TINYXF_SQUAD_METRICS_PY"),
                        help="transformers 4.x transformers/data/metrics/squad_metrics.py "
                             "(default: $TINYXF_SQUAD_METRICS_PY)")
    args = parser.parse_args()
    if not args.squad_metrics:
        parser.error("needs --squad-metrics PATH or $TINYXF_SQUAD_METRICS_PY (see the docstring)")
    files = make(load_squad_metrics_v2(args.squad_metrics))
    return write_or_check_files(OUT, files, args.check)


if __name__ == "__main__":
    sys.exit(main())
