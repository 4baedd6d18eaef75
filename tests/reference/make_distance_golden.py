#!/usr/bin/env python3
"""Writes tests/data/nn/distance_golden.json, the torch.nn.functional cosine_similarity, normalize
and pairwise_distance values and gradients that tests/nn/distance_test.cpp compares
ops/distance.hpp against.

    /work/main/.venv-bench/bin/python tests/reference/make_distance_golden.py [--check]

Needs torch 2.x (the numbers were written by 2.15). CI never runs this script: the test reads only
the committed JSON. Deterministic; rerunning writes a byte-identical file. --check regenerates in
memory and compares.

Every number is computed in float64. Inputs are drawn in float32 and widened, so the float32 run of
the test starts from exactly the same values. Each case holds:
  name, fn     the case and the function
  options      the keyword arguments, in torch's names (p = inf as the string "inf")
  x1, x2       {"shape", "values"} (x2 absent for normalize)
  R            the backward's weights: loss = sum(output * R)
  output       the forward result
  grad_x1, grad_x2   the gradients of sum(output * R)
"""
import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "nn" / "distance_golden.json"

torch.set_num_threads(1)


def tensor(t):
    return {"shape": list(t.shape), "values": t.detach().to(torch.float64).reshape(-1).tolist()}


def draw(gen, shape, scale=1.0):
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * scale).double()


def case(gen, name, fn, options, x1, x2=None):
    inputs = [x1.clone().requires_grad_()] + ([x2.clone().requires_grad_()] if x2 is not None else [])
    out = getattr(F, fn)(*inputs, **options)
    R = draw(gen, out.shape)
    (out * R).sum().backward()
    # JSON has no infinity: p = inf is written as the string "inf"
    written = {k: ("inf" if v == float("inf") else v) for k, v in options.items()}
    c = {"name": name, "fn": fn, "options": written, "x1": tensor(x1)}
    if x2 is not None:
        c["x2"] = tensor(x2)
    c.update({"R": tensor(R), "output": tensor(out), "grad_x1": tensor(inputs[0].grad)})
    if x2 is not None:
        c["grad_x2"] = tensor(inputs[1].grad)
    return c


def old_cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch < 1.12's formula: x1·x2 / sqrt(clamp_min(‖x1‖² ‖x2‖², eps²))."""
    w12 = (x1 * x2).sum(dim)
    w1, w2 = (x1 * x1).sum(dim), (x2 * x2).sum(dim)
    return w12 / (w1 * w2).clamp_min(eps * eps).sqrt()


def build():
    gen = torch.Generator().manual_seed(2026)
    cases = []
    a, b = draw(gen, [4, 5]), draw(gen, [4, 5])
    cases.append(case(gen, "cosine [4,5] dim=1", "cosine_similarity", {}, a, b))
    cases.append(case(gen, "cosine [4,5] vs [1,5] broadcast", "cosine_similarity", {}, a, draw(gen, [1, 5])))
    # Row 0 of x1 zero, row 1 tiny (norm below eps), row 2 of x2 tiny: where the current formula
    # (each input normalized, the clamp invisible to autograd) and torch < 1.12's differ.
    z = a.clone()
    z[0] = 0
    z[1] = draw(gen, [5], 1e-10)
    w = b.clone()
    w[2] = draw(gen, [5], 1e-9)
    zero_case = case(gen, "cosine zero and tiny vectors", "cosine_similarity", {}, z, w)
    cases.append(zero_case)
    x1, x2 = z.clone().requires_grad_(), w.clone().requires_grad_()
    old = old_cosine_similarity(x1, x2)
    (old * torch.tensor(zero_case["R"]["values"], dtype=torch.float64)).sum().backward()
    assert not torch.allclose(x1.grad, torch.tensor(zero_case["grad_x1"]["values"], dtype=torch.float64).reshape(4, 5)), \
        "the zero/tiny case does not tell the two formulas apart"
    # x2 stretched along the reduced dim: its gradient is 0 up to rounding
    cases.append(case(gen, "cosine [3,4] vs [3,1] dim=1", "cosine_similarity", {"dim": 1},
                      draw(gen, [3, 4]), draw(gen, [3, 1])))
    cases.append(case(gen, "cosine [2,3,4] dim=-1 eps=0.5", "cosine_similarity", {"dim": -1, "eps": 0.5},
                      draw(gen, [2, 3, 4]), draw(gen, [2, 3, 4], 0.1)))
    cases.append(case(gen, "cosine [2,3,4] vs [3,4] dim=2", "cosine_similarity", {"dim": 2},
                      draw(gen, [2, 3, 4]), draw(gen, [3, 4])))

    n = draw(gen, [4, 5])
    n[2] = 0
    n[3, 1] = 0
    cases.append(case(gen, "normalize default (zero row)", "normalize", {}, n))
    cases.append(case(gen, "normalize p=1 dim=0", "normalize", {"p": 1.0, "dim": 0}, n))
    cases.append(case(gen, "normalize p=3 dim=-1", "normalize", {"p": 3.0, "dim": -1}, n))
    cases.append(case(gen, "normalize p=1.5 dim=1", "normalize", {"p": 1.5, "dim": 1}, n))
    cases.append(case(gen, "normalize p=0.5 dim=1", "normalize", {"p": 0.5, "dim": 1}, n))
    cases.append(case(gen, "normalize p=inf dim=1", "normalize", {"p": float("inf"), "dim": 1}, draw(gen, [3, 4])))
    cases.append(case(gen, "normalize [2,3,4] dim=1 eps=2", "normalize", {"dim": 1, "eps": 2.0}, draw(gen, [2, 3, 4])))

    p1, p2 = draw(gen, [4, 5]), draw(gen, [4, 5])
    p2[1] = p1[1]  # equal rows: the distance is ‖eps‖
    cases.append(case(gen, "pairwise_distance default", "pairwise_distance", {}, p1, p2))
    cases.append(case(gen, "pairwise_distance [4,5] vs [5] p=1 keepdim", "pairwise_distance",
                      {"p": 1.0, "keepdim": True}, p1, draw(gen, [5])))
    cases.append(case(gen, "pairwise_distance p=3 eps=0.1", "pairwise_distance", {"p": 3.0, "eps": 0.1}, p1, p2))
    cases.append(case(gen, "pairwise_distance p=inf", "pairwise_distance", {"p": float("inf")}, p1, p2))
    cases.append(case(gen, "pairwise_distance [2,3,4] vs [3,4]", "pairwise_distance", {}, draw(gen, [2, 3, 4]),
                      draw(gen, [3, 4])))
    return {"torch": torch.__version__.split("+")[0], "cases": cases}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    text = json.dumps(build(), indent=1) + "\n"
    if parser.parse_args().check:
        same = OUTPUT.read_text() == text
        print("distance_golden.json", "matches" if same else "DIFFERS")
        sys.exit(0 if same else 1)
    OUTPUT.write_text(text)
    print("wrote", OUTPUT.relative_to(REPO))


if __name__ == "__main__":
    main()
