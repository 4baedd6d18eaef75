#!/usr/bin/env python3
"""Writes tests/data/golden/seqeval/cases.jsonl: entity-level sequence labelling scores as
transformers' run_ner.py reports them, for include/tinyxf/train/seqeval.hpp
(tests/train/seqeval_test.cpp). One JSON object a line:

  {"kind": "versions", ...}           the packages that made the file
  {"kind": "entities", ...}           seqeval.metrics.sequence_labeling.get_entities(tags, suffix)
                                      of one tag list: [type, start, end] triples (end inclusive)
  {"kind": "entities_of_sequences", ...}  the same of a list of lists (seqeval joins them with an
                                      "O" after each one)
  {"kind": "metrics", ...}            HF evaluate's "seqeval" metric of predictions / references,
                                      flattened as run_ner.py does with return_entity_level_metrics
                                      ("PER_precision", ..., "overall_accuracy"); or "error": the
                                      exception Python raised ("overall_accuracy": null when only
                                      accuracy_score failed: it divides by zero on no tags)

Sources: the real seqeval package (default mode: classification_report, accuracy_score,
get_entities); HF evaluate's metrics/seqeval/seqeval.py _compute (https://github.com/huggingface/evaluate,
commit 4404a7cb485c85f0cf994dd1786071b4e5573c26) and the flattening of transformers'
examples/pytorch/token-classification/run_ner.py compute_metrics, both copied below (evaluate's
config fields become the defaults they have there: suffix False, scheme/mode/sample_weight None,
zero_division "warn").

    .venv-bench/bin/pip install seqeval==1.2.2      # pulls scikit-learn, scipy
    .venv-bench/bin/python tests/reference/make_seqeval_golden.py [--check]

seqeval 1.2.2, numpy 2.4, scikit-learn 1.9 in .venv-bench; deterministic (hand-written cases plus
seeded random tag lists); rerunning gives byte-identical files. Warnings (seqeval's "seems not to
be NE tag", sklearn's UndefinedMetricWarning) are silenced.
"""
import argparse
import json
import random
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import sklearn
from seqeval.metrics import accuracy_score, classification_report
from seqeval.metrics.sequence_labeling import get_entities

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_files import write_or_check_files  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "seqeval"


# ---- HF evaluate metrics/seqeval/seqeval.py, Seqeval._compute (commit 4404a7cb), with the config
# ---- fields as arguments at their defaults --------------------------------------------------------
def seqeval_compute(predictions, references, suffix=False, scheme=None, mode=None, sample_weight=None,
                    zero_division="warn"):
    report = classification_report(
        y_true=references,
        y_pred=predictions,
        suffix=suffix,
        output_dict=True,
        scheme=scheme,
        mode=mode,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    report.pop("macro avg")
    report.pop("weighted avg")
    overall_score = report.pop("micro avg")

    scores = {
        type_name: {
            "precision": score["precision"],
            "recall": score["recall"],
            "f1": score["f1-score"],
            "number": score["support"],
        }
        for type_name, score in report.items()
    }
    scores["overall_precision"] = overall_score["precision"]
    scores["overall_recall"] = overall_score["recall"]
    scores["overall_f1"] = overall_score["f1-score"]
    scores["overall_accuracy"] = accuracy_score(y_true=references, y_pred=predictions)

    return scores


# ---- transformers run_ner.py compute_metrics, return_entity_level_metrics=True ---------------------
def flatten(results):
    final_results = {}
    for key, value in results.items():
        if isinstance(value, dict):
            for n, v in value.items():
                final_results[f"{key}_{n}"] = v
        else:
            final_results[key] = value
    return final_results


def to_json_number(v):
    if isinstance(v, (np.integer, int)):
        return float(int(v))
    return float(v)


def entity_case(name, tags, suffix=False):
    entities = [[t, int(b), int(e)] for t, b, e in get_entities(tags, suffix)]
    return {"kind": "entities", "name": name, "suffix": suffix, "tags": tags, "entities": entities}


def sequences_case(name, sequences, suffix=False):
    entities = [[t, int(b), int(e)] for t, b, e in get_entities(sequences, suffix)]
    return {"kind": "entities_of_sequences", "name": name, "suffix": suffix, "sequences": sequences,
            "entities": entities}


def metrics_case(name, predictions, references, suffix=False):
    global accuracy_score
    case = {"kind": "metrics", "name": name, "suffix": suffix, "predictions": predictions, "references": references}
    try:
        scores = seqeval_compute(predictions, references, suffix=suffix)
    except ZeroDivisionError:
        # accuracy_score divides by the number of tags (none here); the entity scores before it are
        # fine, so compute them again with accuracy_score returning None.
        saved, accuracy_score = accuracy_score, (lambda y_true, y_pred: None)
        try:
            scores = seqeval_compute(predictions, references, suffix=suffix)
        finally:
            accuracy_score = saved
    except (ValueError, TypeError, IndexError) as e:
        case["error"] = type(e).__name__
        case["message"] = str(e)
        return case
    case["metrics"] = {k: (None if v is None else to_json_number(v)) for k, v in flatten(scores).items()}
    return case


def random_tags(rng, length, types, prefixes):
    out = []
    for _ in range(length):
        p = rng.choice(prefixes)
        out.append("O" if p == "O" else f"{p}-{rng.choice(types)}")
    return out


def make():
    lines = [{"kind": "versions", "seqeval": metadata.version("seqeval"), "numpy": np.__version__,
              "scikit-learn": sklearn.__version__,
              "python": ".".join(map(str, sys.version_info[:3])),
              "evaluate_seqeval_commit": "4404a7cb485c85f0cf994dd1786071b4e5573c26"}]

    # ---- get_entities of single tag lists ----
    entity_cases = [
        ("docstring", ["B-PER", "I-PER", "O", "B-LOC"]),
        ("empty", []),
        ("all_O", ["O", "O", "O"]),
        ("iob2_adjacent_B", ["B-PER", "B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
        ("iob1_I_without_B", ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"]),
        ("I_after_O_and_type_change", ["O", "I-MISC", "I-PER", "I-PER", "B-ORG", "I-LOC"]),
        ("type_change_mid_chunk", ["B-PER", "I-PER", "I-LOC", "I-LOC", "O"]),
        ("entity_at_end", ["O", "O", "B-ORG", "I-ORG"]),
        ("single_at_end", ["O", "B-ORG"]),
        ("iobes", ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "S-ORG", "B-MISC", "E-MISC"]),
        ("iobes_broken", ["B-LOC", "S-LOC", "E-LOC", "E-LOC", "I-LOC", "O", "E-PER", "I-PER", "S-PER", "I-PER"]),
        ("ioe", ["I-PER", "E-PER", "I-PER", "E-PER", "O", "I-LOC", "I-LOC", "E-LOC"]),
        ("multi_dash_type", ["B-MISC-X", "I-MISC-X", "I-MISC", "O", "B-A-B-C"]),
        ("bare_prefixes", ["B", "I", "O", "I", "E", "S", "B", "B"]),
        ("empty_type", ["B-", "I-", "O", "B-PER", "I-"]),
        ("not_NE_tags", ["PER", "PER", "O", "LOC", "B-LOC", "X", "X-FOO", "O"]),
        ("stale_begin", ["B-PER", "O", "X", "X-FOO", "O"]),
        ("dot_tags", [".", "B-PER", ".", "I-PER", "O", ".-PER"]),
        ("bilou", ["U-PER", "O", "B-LOC", "I-LOC", "L-LOC", "O", "U-ORG", "U-ORG"]),
        ("lowercase_prefix", ["b-PER", "i-PER", "O", "B-per", "I-per"]),
        ("unicode_types", ["B-ÉTAT", "I-ÉTAT", "O", "B-人名", "I-人名", "I-地名"]),
        ("unicode_first_char", ["É-X", "ÉX", "O", "B-PER"]),
    ]
    for name, tags in entity_cases:
        lines.append(entity_case(name, tags))
    suffix_cases = [
        ("suffix_iob2", ["PER-B", "PER-I", "O", "LOC-B", "LOC-I", "LOC-I", "ORG-B"]),
        ("suffix_iobes", ["PER-S", "LOC-B", "LOC-E", "O", "MISC-I", "MISC-E"]),
        ("suffix_multi_dash", ["A-B-B", "A-B-I", "A-I", "O", "X-Y-S"]),
    ]
    for name, tags in suffix_cases:
        lines.append(entity_case(name, tags, suffix=True))
    rng = random.Random(1234)
    for k in range(4):
        tags = random_tags(rng, 30, ["PER", "LOC", "ORG"], ["O", "O", "B", "I", "E", "S"])
        lines.append(entity_case(f"random_iobes_{k}", tags))

    # ---- get_entities of lists of sequences ----
    lines.append(sequences_case("two_sequences", [["B-PER", "I-PER"], ["I-PER", "O", "B-LOC"]]))
    lines.append(sequences_case("with_empty_sequences", [[], ["B-PER"], [], ["I-LOC", "I-LOC"], []]))
    lines.append(sequences_case("stale_begin_across_sequences", [["B-PER"], ["X", "X-FOO"], ["O"]]))
    lines.append(sequences_case("suffix_sequences", [["PER-B", "PER-I"], ["PER-I"]], suffix=True))

    # ---- metrics ----
    docstring_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    docstring_ref = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    metric_cases = [
        ("evaluate_docstring", docstring_pred, docstring_ref),
        ("perfect", docstring_ref, docstring_ref),
        ("f1_docstring", [["O", "O", "B-MISC", "I-MISC", "B-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
         [["O", "O", "B-MISC", "I-MISC", "B-MISC", "O", "O"], ["B-PER", "I-PER", "O"]]),
        ("all_O", [["O", "O"], ["O"]], [["O", "O"], ["O"]]),
        ("no_predicted_entities", [["O", "O", "O"], ["O", "O"]], [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]),
        ("no_reference_entities", [["B-PER", "O", "B-LOC"], ["O", "B-ORG"]], [["O", "O", "O"], ["O", "O"]]),
        ("type_only_predicted", [["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]]),
        ("type_only_in_references", [["B-PER", "O", "O"]], [["B-PER", "O", "B-LOC"]]),
        ("iob1_vs_iob2_lenient", [["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
        ("iobes_vs_iob2", [["S-PER", "O", "B-LOC", "E-LOC"]], [["B-PER", "O", "B-LOC", "I-LOC"]]),
        ("boundary_errors", [["B-PER", "I-PER", "I-PER", "O"], ["O", "B-LOC", "I-LOC"]],
         [["B-PER", "I-PER", "O", "O"], ["B-LOC", "I-LOC", "I-LOC"]]),
        ("type_errors", [["B-PER", "I-PER", "O", "B-ORG"]], [["B-LOC", "I-LOC", "O", "B-ORG"]]),
        ("entities_at_sequence_ends", [["O", "B-PER"], ["B-PER"], ["I-LOC", "O"]],
         [["O", "B-PER"], ["I-PER"], ["B-LOC", "O"]]),
        ("chunks_do_not_span_sequences", [["B-PER", "I-PER"], ["I-PER", "O"]], [["B-PER", "I-PER"], ["B-PER", "O"]]),
        ("with_empty_sequences", [[], ["B-PER", "O"], []], [[], ["B-PER", "O"], []]),
        ("multi_dash_types", [["B-MISC-X", "I-MISC-X", "O"]], [["B-MISC-X", "I-MISC", "O"]]),
        ("type_named_overall", [["B-overall", "O", "B-PER"]], [["B-overall", "O", "O"]]),
        ("stale_begin_across_sequences", [["B-PER"], ["X", "X-FOO"], ["O"]], [["B-PER"], ["O", "B-FOO"], ["O"]]),
        ("duplicate_spans_across_types", [["B-PER", "I-LOC"]], [["B-PER", "B-LOC"]]),
        ("suffix_mode", [["PER-B", "PER-I", "O", "LOC-S"]], [["PER-B", "PER-I", "O", "LOC-B"]]),
        ("only_empty_sequences", [[], []], [[], []]),
        ("no_sequences", [], []),
        ("sequence_count_mismatch", [["O"], ["O"]], [["O"]]),
        ("sequence_length_mismatch", [["O", "B-PER"], ["O"]], [["O", "B-PER"], ["O", "O"]]),
    ]
    for name, pred, ref in metric_cases:
        lines.append(metrics_case(name, pred, ref, suffix=name.startswith("suffix")))
    rng = np.random.default_rng(20240611)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    for k in range(6):
        refs, preds = [], []
        for _ in range(int(rng.integers(3, 9))):
            n = int(rng.integers(0, 14))
            ref = [labels[int(i)] for i in rng.choice(len(labels), size=n, p=[0.5] + [0.0625] * 8)]
            # predictions: the reference with about a quarter of the tags replaced
            pred = [labels[int(rng.integers(len(labels)))] if rng.random() < 0.25 else t for t in ref]
            refs.append(ref)
            preds.append(pred)
        lines.append(metrics_case(f"random_{k}", preds, refs))

    return {"cases.jsonl": "\n".join(json.dumps(line, ensure_ascii=True, sort_keys=False) for line in lines) + "\n"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = make()
    return write_or_check_files(OUT, files, args.check)


if __name__ == "__main__":
    sys.exit(main())
