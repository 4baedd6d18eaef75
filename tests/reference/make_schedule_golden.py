#!/usr/bin/env python3
"""Writes tests/data/optim/schedule_golden.json, the transformers learning-rate schedules that
tests/optim/schedule_test.cpp compares tinyxf::optim::get_scheduler against.

    /work/main/.venv-bench/bin/python tests/reference/make_schedule_golden.py [--check]

Needs torch 2.x and transformers 5.25 (transformers.get_scheduler). CI never runs this script: the
test reads only the committed JSON. Deterministic; rerunning writes a byte-identical file. --check
regenerates in memory and compares with the committed file.

What the JSON holds (learning rates are Python floats written with repr, i.e. exactly):
  optimizer   the dummy torch.optim.SGD: its default lr (optimizer.defaults["lr"], which the
              polynomial and min-lr schedules read) and the lrs of its two param groups.
  schedules   per case: get_scheduler's name, num_warmup_steps, num_training_steps (null: not
              passed), scheduler_specific_kwargs, and "lrs": get_last_lr() after construction and
              after each scheduler.step(), both groups; "error_at_step" where a later step raised
              (the polynomial schedule with num_warmup_steps == num_training_steps divides by zero).
  errors      get_scheduler calls that raise: the arguments and the exception's message.
  trainer     the polynomial schedule of the Trainer test (one lr, the Trainer's warmup and length).
  plateau     get_scheduler("reduce_lr_on_plateau", scheduler_specific_kwargs=kwargs), i.e. torch's
              ReduceLROnPlateau, on the same optimizer, stepped with each of "metrics" (null: NaN);
              "steps" holds after each step get_last_lr(), best, num_bad_epochs, cooldown_counter
              and last_epoch; "state_dict" is the final state_dict(). Non-finite numbers other
              than the metrics are written as Python's float() spellings "inf", "-inf", "nan",
              None as null.
"""
import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import torch
import transformers
from transformers import get_scheduler

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "optim" / "schedule_golden.json"

DEFAULT_LR = 0.05
GROUP_LRS = [0.1, 0.03]

# (case name, scheduler name, num_warmup_steps, num_training_steps, kwargs, scheduler steps)
CASES = [
    ("linear_w2_t5", "linear", 2, 5, {}, 8),
    ("cosine_w1_t5_cycles1", "cosine", 1, 5, {"num_cycles": 1}, 8),
    ("constant", "constant", None, None, {}, 3),
    ("constant_with_warmup_w2", "constant_with_warmup", 2, None, {}, 5),
    ("restarts_w2_t10", "cosine_with_restarts", 2, 10, {}, 13),
    ("restarts_w0_t8_cycles2.5", "cosine_with_restarts", 0, 8, {"num_cycles": 2.5}, 11),
    ("restarts_w3_t3", "cosine_with_restarts", 3, 3, {"num_cycles": 2}, 6),
    ("polynomial_w2_t10", "polynomial", 2, 10, {}, 13),
    ("polynomial_w0_t6_power2", "polynomial", 0, 6, {"power": 2, "lr_end": 0.01}, 9),
    ("polynomial_w3_t6_lr_end0", "polynomial", 3, 6, {"lr_end": 0.0, "power": 0.5}, 9),
    ("polynomial_w4_t4", "polynomial", 4, 4, {}, 6),
    ("inverse_sqrt_w3", "inverse_sqrt", 3, None, {}, 10),
    ("inverse_sqrt_w0", "inverse_sqrt", 0, 20, {}, 6),
    ("inverse_sqrt_w2_timescale5", "inverse_sqrt", 2, None, {"timescale": 5}, 10),
    ("min_lr_rate_w2_t10", "cosine_with_min_lr", 2, 10, {"min_lr_rate": 0.1}, 13),
    ("min_lr_w0_t6_cycles1", "cosine_with_min_lr", 0, 6, {"min_lr": 0.005, "num_cycles": 1}, 9),
    ("min_lr_rate_w4_t4", "cosine_with_min_lr", 4, 4, {"min_lr_rate": 0.2}, 7),
    ("wsd_w2_t10_d3", "warmup_stable_decay", 2, 10, {"num_decay_steps": 3}, 13),
    ("wsd_w2_s2_d3_cosine_1sqrt", "warmup_stable_decay", 2, None,
     {"num_decay_steps": 3, "num_stable_steps": 2, "warmup_type": "cosine", "decay_type": "1-sqrt",
      "min_lr_ratio": 0.1}, 10),
    ("wsd_w3_t12_d4_1sqrt_linear", "warmup_stable_decay", 3, 12,
     {"num_decay_steps": 4, "warmup_type": "1-sqrt", "decay_type": "linear"}, 15),
    ("wsd_w0_t5_d5_cycles1", "warmup_stable_decay", 0, 5, {"num_decay_steps": 5, "num_cycles": 1}, 8),
    ("wsd_stable_wins_over_total", "warmup_stable_decay", 2, 10, {"num_decay_steps": 3, "num_stable_steps": 10}, 17),
    ("wsd_w0_t0_d0", "warmup_stable_decay", 0, 0, {"num_decay_steps": 0, "min_lr_ratio": 0.25}, 3),
]

# get_scheduler calls that raise, whose message tinyxf's error contains.
ERRORS = [
    ("polynomial", 1, 10, {"lr_end": 0.05}),
    ("polynomial", 1, 10, {"lr_end": 0.2}),
    ("cosine_with_min_lr", 1, 10, {}),
    ("cosine_with_min_lr", 1, 10, {"min_lr": 0.01, "min_lr_rate": 0.1}),
    ("warmup_stable_decay", 1, None, {"num_decay_steps": 2}),
    ("warmup_stable_decay", 1, 10, {"num_decay_steps": 2, "warmup_type": "exp"}),
    ("warmup_stable_decay", 1, 10, {"num_decay_steps": 2, "decay_type": "step"}),
    ("warmup_stable_decay", 1, 10, {}),
    ("linear", 1, 10, {"num_cycles": 1}),
    ("cosine_with_restarts", 1, 10, {"power": 2}),
    ("inverse_sqrt", 1, None, {"lr_end": 0.1}),
    ("polynomial", 1, 10, {"min_lr": 0.1}),
    ("cosine_with_min_lr", 1, 10, {"min_lr_rate": 0.1, "timescale": 3}),
    # torch's ReduceLROnPlateau checks (transformers passes the kwargs through).
    ("reduce_lr_on_plateau", None, None, {"factor": 1.0}),
    ("reduce_lr_on_plateau", None, None, {"mode": "avg"}),
    ("reduce_lr_on_plateau", None, None, {"threshold_mode": "pct"}),
    ("reduce_lr_on_plateau", None, None, {"min_lr": [0.01]}),
    ("reduce_lr_on_plateau", None, None, {"min_lr": [0.01, 0.02, 0.03]}),
]

NAN = None  # a NaN metric in PLATEAU_CASES (JSON has no NaN)
# (case name, kwargs, metrics): together they hit every rule of ReduceLROnPlateau.step.
PLATEAU_CASES = [
    # torch's defaults: patience 10, rel threshold 1e-4; gains of 1e-6 are not better, the 11th
    # such step reduces, 1.2e-4 below the best is better.
    ("defaults", {}, [1.0] + [1.0 - 1e-6 * k for k in range(1, 12)] + [1.0 - 1.2e-4, 1.0 - 1.2e-4, 0.5]),
    # rel min with cooldown and a floor per group: the groups reach their floors at different steps,
    # a reduction to the floor itself is skipped (old − new = 0 is not > eps).
    ("min_rel_cooldown_min_lr_per_group",
     {"factor": 0.5, "patience": 2, "cooldown": 1, "threshold": 0.1, "min_lr": [0.02, 0.01]},
     [1.0, 0.95, 0.91, 0.89, 0.5, 0.46, 0.44, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]),
    # abs max with a NaN (never better: a bad step) and a scalar floor.
    ("max_abs_nan_min_lr", {"mode": "max", "threshold_mode": "abs", "threshold": 0.5, "patience": 1,
                            "factor": 0.1, "min_lr": 1e-3},
     [NAN, 1.0, 1.4, 1.6, NAN, 1.7, 2.2, 2.0, 2.0, 2.0, 2.0, 2.0]),
    # eps skips group 1's reduction (0.03 · 0.9 lowers it by 0.003 <= eps) but not group 0's.
    ("eps_skips_small_updates", {"factor": 0.9, "patience": 0, "eps": 0.005},
     [3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5]),
    # abs min, cooldown 2, patience 0: bad steps during the cooldown are ignored.
    ("min_abs_cooldown2", {"threshold_mode": "abs", "threshold": 0.25, "patience": 0, "cooldown": 2,
                           "factor": 0.5},
     [5.0, 4.9, 4.0, 4.0, 4.0, 4.0, 3.5, 3.8, 3.9, 4.0, 4.0]),
    # rel min on negative metrics: best · (1 − threshold) is closer to 0 than best, so a slightly
    # worse metric (-1.3 after -1.4) still counts as better.
    ("min_rel_negative", {"threshold": 0.1, "patience": 1, "factor": 0.5},
     [-1.0, -1.05, -1.2, -1.4, -1.3, -1.0, -1.1, NAN, -2.0]),
    # rel max from a NaN first metric (best stays -inf until a real one), patience 0.
    ("max_rel_nan_first", {"mode": "max", "threshold": 0.01, "patience": 0, "factor": 0.25, "min_lr": 0.001},
     [NAN, 0.5, 0.504, 0.51, 0.5, 0.6, 0.6, 0.6, 0.6]),
]

# The Trainer test: learning_rate 1e-3, max_steps 8, warmup_steps 2, lr_end 1e-4, power 2.
TRAINER = {"learning_rate": 1e-3, "num_warmup_steps": 2, "num_training_steps": 8,
           "kwargs": {"lr_end": 1e-4, "power": 2}}


def make_optimizer():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    return torch.optim.SGD([{"params": [a], "lr": GROUP_LRS[0]}, {"params": [b], "lr": GROUP_LRS[1]}],
                           lr=DEFAULT_LR)


def schedule_case(name, warmup, total, kwargs, steps):
    optimizer = make_optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wsd with both num_training_steps and num_stable_steps
        scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                                  scheduler_specific_kwargs=dict(kwargs))
    out = {"name": name, "num_warmup_steps": warmup, "num_training_steps": total, "kwargs": kwargs,
           "lrs": [list(scheduler.get_last_lr())]}
    for step in range(1, steps + 1):
        optimizer.step()
        try:
            scheduler.step()
        except ZeroDivisionError:
            out["error_at_step"] = step
            break
        out["lrs"].append(list(scheduler.get_last_lr()))
    return out


def error_case(name, warmup, total, kwargs):
    try:
        get_scheduler(name, make_optimizer(), num_warmup_steps=warmup, num_training_steps=total,
                      scheduler_specific_kwargs=dict(kwargs))
    except (ValueError, TypeError) as e:
        return {"name": name, "num_warmup_steps": warmup, "num_training_steps": total, "kwargs": kwargs,
                "message": str(e)}
    raise AssertionError(f"{name} {kwargs} did not raise")


def python_number(value):
    """A number for the JSON: non-finite ones as Python's float() spellings, None as null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [python_number(v) for v in value]
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def plateau_case(kwargs, metrics):
    optimizer = make_optimizer()
    scheduler = get_scheduler("reduce_lr_on_plateau", optimizer, num_warmup_steps=3, num_training_steps=10,
                              scheduler_specific_kwargs=dict(kwargs))
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    steps = []
    for metric in metrics:
        scheduler.step(math.nan if metric is None else metric)
        steps.append({"lrs": list(scheduler.get_last_lr()), "best": python_number(scheduler.best),
                      "num_bad_epochs": scheduler.num_bad_epochs, "cooldown_counter": scheduler.cooldown_counter,
                      "last_epoch": scheduler.last_epoch})
    state = {key: python_number(value) for key, value in scheduler.state_dict().items()}
    return {"kwargs": kwargs, "metrics": metrics, "steps": steps, "state_dict": state}


def trainer_lrs():
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([p], lr=TRAINER["learning_rate"])
    scheduler = get_scheduler("polynomial", optimizer, num_warmup_steps=TRAINER["num_warmup_steps"],
                              num_training_steps=TRAINER["num_training_steps"],
                              scheduler_specific_kwargs=dict(TRAINER["kwargs"]))
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(TRAINER["num_training_steps"]):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    return dict(TRAINER, lrs=lrs)


def build():
    golden = {
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__},
        "optimizer": {"default_lr": DEFAULT_LR, "group_lrs": GROUP_LRS},
        "schedules": {case[0]: schedule_case(*case[1:]) for case in CASES},
        "errors": [error_case(*case) for case in ERRORS],
        "trainer": trainer_lrs(),
        "plateau": {case[0]: plateau_case(*case[1:]) for case in PLATEAU_CASES},
    }
    return json.dumps(golden, indent=1) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args()
    text = build()
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print("check:", "ok" if same else f"MISMATCH in {OUTPUT}")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print("wrote", OUTPUT, len(text.splitlines()), "lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
