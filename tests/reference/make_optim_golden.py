#!/usr/bin/env python3
"""Writes tests/data/optim/optim_golden.json, the PyTorch/transformers numbers that
tests/optim/optim_test.cpp compares tinyxf::optim against.

    /opt/tinyxf-ref/bin/python tests/reference/make_optim_golden.py [--check]

Needs Debian's python3-torch 1.13 (torch.optim, clip_grad_norm_) and transformers 4.44 (LR schedules,
Trainer.get_decay_parameter_names); the reference venv /opt/tinyxf-ref has both. CI never runs this
script: the test reads only the committed JSON. Deterministic, runnable from any cwd; rerunning writes
a byte-identical file. --check regenerates in memory and compares with the committed file.

What the JSON holds (float32 values are written with 9 significant digits, which identifies a float32
exactly; learning rates are Python floats written with repr, i.e. exactly):
  params          initial values of four parameters, fake gradients per step (null = grad is None):
                  "weight" [2,3], "bias" [3], "sometimes" [4] (no grad at steps 1 and 3),
                  "unused" [2] (never a grad: must not move and must get no state).
  optimizers      5 steps of each scenario (optimizer, param groups, optional schedule and clipping):
                  parameter values after every step, the lr each step used, the clip_grad_norm_
                  return value, and the final per-parameter state (step, exp_avg, exp_avg_sq or
                  momentum_buffer).
  schedules       get_last_lr() after construction and after each scheduler.step() (two groups
                  with different base lrs).
  clip            clip_grad_norm_ cases: return value and the gradients afterwards.
  param_groups    Trainer.get_decay_parameter_names of tiny DistilBERT/BERT models: which parameter
                  names are decayed and which are not.
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    Trainer,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "optim" / "optim_golden.json"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

STEPS = 5
PARAM_SHAPES = {"weight": [2, 3], "bias": [3], "sometimes": [4], "unused": [2]}
# Steps (0-based) at which "sometimes" has no gradient; "unused" never has one.
SOMETIMES_NO_GRAD = {1, 3}


def f32(values):
    """float32 tensor -> list of Python floats printed with 9 significant digits (exact for float32)."""
    return [float(f"{v:.9g}") for v in values.detach().to(torch.float32).reshape(-1).tolist()]


def make_params_and_grads():
    gen = torch.Generator().manual_seed(20240601)
    initial = {n: torch.randn(s, generator=gen, dtype=torch.float32) for n, s in PARAM_SHAPES.items()}
    grads = []
    for step in range(STEPS):
        per_step = {}
        for name, shape in PARAM_SHAPES.items():
            g = torch.randn(shape, generator=gen, dtype=torch.float32)
            if name == "unused" or (name == "sometimes" and step in SOMETIMES_NO_GRAD):
                per_step[name] = None
            else:
                # Scale up so the total norm (~3-4) is above the clip threshold used below.
                per_step[name] = g * 1.5
        grads.append(per_step)
    # Round-trip through the 9-digit text so that Python and C++ start from identical float32 values.
    initial = {n: torch.tensor(f32(t), dtype=torch.float32).reshape(t.shape) for n, t in initial.items()}
    grads = [{n: (None if g is None else torch.tensor(f32(g), dtype=torch.float32).reshape(g.shape))
              for n, g in step.items()} for step in grads]
    return initial, grads


# name: (optimizer class, optimizer kwargs, groups (list of (param names, group overrides)) or None,
#        schedule (dict: kind, warmup, total) or None, clip max_norm or None)
ALL = list(PARAM_SHAPES)
SCENARIOS = {
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1), None, None, None),
    "sgd_momentum_dampening": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.25), None, None, None),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), None, None, None),
    "sgd_weight_decay": (torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1), None, None, None),
    "adam": (torch.optim.Adam, dict(lr=1e-2), None, None, None),
    # eps 1e-3 makes eps-before/after-bias-correction mistakes visible in the numbers.
    "adam_weight_decay": (torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
                          None, None, None),
    "adamw": (torch.optim.AdamW, dict(lr=1e-2), None, None, None),
    "adamw_groups": (torch.optim.AdamW, dict(lr=1e-2, eps=1e-3),
                     [(["weight", "sometimes", "unused"], dict(weight_decay=0.5)),
                      (["bias"], dict(weight_decay=0.0, lr=5e-3))], None, None),
    "adamw_linear_warmup": (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1), None,
                            dict(kind="linear", warmup=2, total=5), None),
    "adamw_cosine_warmup": (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1), None,
                            dict(kind="cosine", warmup=1, total=5), None),
    "adamw_constant_warmup": (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1), None,
                              dict(kind="constant", warmup=2), None),
    "adamw_clip_linear": (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1), None,
                          dict(kind="linear", warmup=1, total=5), 1.0),
}


def make_schedule(opt, schedule):
    if schedule["kind"] == "linear":
        return get_linear_schedule_with_warmup(opt, schedule["warmup"], schedule["total"])
    if schedule["kind"] == "cosine":
        return get_cosine_schedule_with_warmup(opt, schedule["warmup"], schedule["total"])
    assert schedule["kind"] == "constant"
    return get_constant_schedule_with_warmup(opt, schedule["warmup"])


def run_scenario(initial, grads, spec):
    opt_cls, kwargs, group_spec, schedule, max_norm = spec
    params = {n: t.clone().requires_grad_(True) for n, t in initial.items()}
    if group_spec is None:
        groups = [(ALL, {})]
        opt = opt_cls([params[n] for n in ALL], **kwargs)
    else:
        groups = group_spec
        opt = opt_cls([dict(params=[params[n] for n in names], **over) for names, over in group_spec], **kwargs)
    sched = make_schedule(opt, schedule) if schedule else None
    out = {"optimizer": opt_cls.__name__, "options": {}, "groups": [], "steps": []}
    for key, value in kwargs.items():
        if key == "betas":
            out["options"]["beta1"], out["options"]["beta2"] = value
        else:
            out["options"][key] = value
    for names, over in groups:
        out["groups"].append(dict(params=names, **over))
    if schedule is not None:
        out["schedule"] = schedule
    if max_norm is not None:
        out["clip_max_norm"] = max_norm
    for step in range(STEPS):
        for name, p in params.items():
            p.grad = None if grads[step][name] is None else grads[step][name].clone()
        record = {"lr": [g["lr"] for g in opt.param_groups]}
        if max_norm is not None:
            record["grad_norm"] = float(f"{float(torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)):.9g}")
        opt.step()
        if sched is not None:
            sched.step()
        record["params"] = {n: f32(p) for n, p in params.items()}
        out["steps"].append(record)
    state = {}
    for name, p in params.items():
        st = opt.state.get(p, {})
        entry = {}
        for key, value in st.items():
            if value is None:
                continue
            if key == "step":
                entry["step"] = int(value.item()) if torch.is_tensor(value) else int(value)
            else:
                entry[key] = f32(value)
        if entry:
            state[name] = entry
    out["final_state"] = state
    return out


def run_schedules():
    """get_last_lr() after construction and each step, for two groups (base lrs 1e-2 and 3e-3)."""
    factories = {
        "linear_warmup_2_total_5": lambda o: get_linear_schedule_with_warmup(o, 2, 5),
        "linear_warmup_0_total_4": lambda o: get_linear_schedule_with_warmup(o, 0, 4),
        "cosine_warmup_1_total_5": lambda o: get_cosine_schedule_with_warmup(o, 1, 5),
        "cosine_warmup_2_total_10_cycles_2": lambda o: get_cosine_schedule_with_warmup(o, 2, 10, num_cycles=2.0),
        "constant_warmup_2": lambda o: get_constant_schedule_with_warmup(o, 2),
        "constant_warmup_3": lambda o: get_constant_schedule_with_warmup(o, 3),
        "constant": lambda o: get_constant_schedule(o),
    }
    out = {}
    for name, factory in factories.items():
        a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([{"params": [a], "lr": 1e-2}, {"params": [b], "lr": 3e-3}], lr=1.0)
        sched = factory(opt)
        lrs = [list(sched.get_last_lr())]
        for _ in range(12):
            opt.step()
            sched.step()
            lrs.append(list(sched.get_last_lr()))
        out[name] = {"base_lrs": [1e-2, 3e-3], "last_lr": lrs}
    return out


def run_clip_cases():
    gen = torch.Generator().manual_seed(777)
    shapes = [[3, 2], [5], [1]]
    base = [torch.randn(s, generator=gen, dtype=torch.float32) for s in shapes]
    base = [torch.tensor(f32(t), dtype=torch.float32).reshape(t.shape) for t in base]
    cases = [
        ("clip_l2", 1.0, 2.0, [1, 1, 1]),
        ("no_clip_l2", 100.0, 2.0, [1, 1, 1]),
        ("clip_l2_with_missing_grad", 0.5, 2.0, [1, 0, 1]),
        ("clip_inf", 0.25, math.inf, [1, 1, 1]),
        ("clip_l1", 1.0, 1.0, [1, 1, 1]),
        ("clip_l3", 0.75, 3.0, [1, 1, 1]),
    ]
    out = {}
    for name, max_norm, norm_type, has_grad in cases:
        params = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, g, h in zip(params, base, has_grad):
            p.grad = g.clone() if h else None
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        out[name] = {
            "max_norm": max_norm,
            "norm_type": "inf" if math.isinf(norm_type) else norm_type,
            "grads": [f32(g) if h else None for g, h in zip(base, has_grad)],
            "shapes": shapes,
            "total_norm": float(f"{float(total):.9g}"),
            "clipped": [f32(p.grad) if p.grad is not None else None for p in params],
        }
    return out


def run_param_groups():
    """Which parameter names transformers' Trainer decays (4.44: not inside nn.LayerNorm, no "bias")."""
    torch.manual_seed(0)
    dcfg = dict(vocab_size=64, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=16)
    models = {
        "distilbert_seq_classification": DistilBertForSequenceClassification(DistilBertConfig(**dcfg)),
        "distilbert_masked_lm": DistilBertForMaskedLM(DistilBertConfig(**dcfg)),
        "bert_seq_classification": BertForSequenceClassification(BertConfig(
            vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16)),
    }
    out = {}
    for name, model in models.items():
        decay = set(Trainer.get_decay_parameter_names(None, model))
        names = [n for n, _ in model.named_parameters()]
        out[name] = {"decay": [n for n in names if n in decay], "no_decay": [n for n in names if n not in decay]}
    return out


def self_check(golden):
    """The recorded numbers follow the formulas in semantics.md 4.4/4.5 (guards against a script slip)."""
    def linear(s, w, t):
        return s / max(1, w) if s < w else max(0.0, (t - s) / max(1, t - w))
    lrs = golden["schedules"]["linear_warmup_2_total_5"]["last_lr"]
    for s, pair in enumerate(lrs):
        assert pair == [1e-2 * linear(s, 2, 5), 3e-3 * linear(s, 2, 5)], (s, pair)
    assert golden["optimizers"]["adamw_linear_warmup"]["steps"][0]["lr"] == [0.0], "first update must use lr 0"
    for case in golden["clip"].values():
        norms = [torch.tensor(g).abs() for g in case["grads"] if g is not None]
        p = case["norm_type"]
        if p == "inf":
            total = max(float(n.max()) for n in norms)
        else:
            total = sum(float((n.double() ** p).sum()) for n in norms) ** (1.0 / p)
        assert abs(total - case["total_norm"]) <= 1e-6 * total, (case, total)
    unused = golden["optimizers"]["adamw"]["steps"][-1]["params"]["unused"]
    assert unused == golden["params"]["initial"]["unused"], "a parameter without grad must not move"
    assert "unused" not in golden["optimizers"]["adamw"]["final_state"]
    assert golden["optimizers"]["adam"]["final_state"]["sometimes"]["step"] == STEPS - len(SOMETIMES_NO_GRAD)


def build():
    initial, grads = make_params_and_grads()
    golden = {
        "generator": "tests/reference/make_optim_golden.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "params": {
            "shapes": PARAM_SHAPES,
            "initial": {n: f32(t) for n, t in initial.items()},
            "grads": [{n: (None if g is None else f32(g)) for n, g in step.items()} for step in grads],
        },
        "optimizers": {name: run_scenario(initial, grads, spec) for name, spec in SCENARIOS.items()},
        "schedules": run_schedules(),
        "clip": run_clip_cases(),
        "param_groups": run_param_groups(),
    }
    self_check(golden)
    return golden


def dump(value, indent=0):
    """JSON with nested objects indented and arrays of scalars on one line (small, diffable)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        if all(isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v) for v in value):
            return "[" + ", ".join(dump(v) for v in value) + "]"
        items = [pad + " " + dump(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, float):
        assert math.isfinite(value), value
    return json.dumps(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = ap.parse_args()
    text = dump(build()) + "\n"
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text() == text
        print(f"{OUTPUT.relative_to(REPO)}: {'up to date' if same else 'DIFFERS from a fresh run'}")
        return 0 if same else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
