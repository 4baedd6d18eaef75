#!/usr/bin/env python3
"""Prints the kEinsumCases block of tests/tensor/random_einsum_test.cpp: torch.einsum's values and
the gradients of (out * out).sum() for 21 equations, on float64 operands
ops_k = ((arange(n) * 0.37 + 0.11 * k) % 1.3 - 0.5).reshape(shape) (the test builds the same).

    /work/main/.venv-bench/bin/python tests/reference/print_einsum_cases.py [--check]

Needs torch 2.x (the numbers were printed by 2.15); CI never runs it. Deterministic. --check
compares the printed block with the one in the test file instead of printing it.
"""
import pathlib
import sys

import torch

lines = []


def emit(line):
    lines.append(line)


def operand(shape, k):
    n = 1
    for size in shape:
        n *= size
    return ((torch.arange(n, dtype=torch.float64) * 0.37 + 0.11 * k) % 1.3 - 0.5).reshape(shape)


CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij", [(3, 2)]),
    ("i,j->ij", [(3,), (2,)]),
    ("i,i->", [(4,), (4,)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 2), (2, 2)]),
    ("ijk->", [(2, 3, 2)]),
    ("iij->ij", [(2, 2, 3)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]),
    ("...i,i", [(2, 3), (3,)]),
    ("ba,ab", [(2, 3), (3, 2)]),
    ("ijk,ikl,lm->jm", [(2, 3, 2), (2, 2, 3), (3, 2)]),
    ("i j , j k", [(2, 2), (2, 3)]),
    ("iJ,Jk->ki", [(2, 3), (3, 2)]),
    ("bij,bkj->bik", [(2, 2, 3), (1, 2, 3)]),
    ("ijj,jk->ik", [(2, 3, 3), (3, 2)]),
    ("i,i->i", [(3,), (3,)]),
]


def numbers(values):
    return "{" + ", ".join(repr(round(x, 12)) for x in values) + "}"


def braced(items):
    return "{" + ", ".join(items) + "}"


emit("const std::vector<EinsumCase> kEinsumCases = {")
for equation, shapes in CASES:
    ops = [operand(shape, k).requires_grad_(True) for k, shape in enumerate(shapes)]
    out = torch.einsum(equation, *ops)
    (out * out).sum().backward()
    emit(f'    // torch.einsum("{equation}", *ops): values, shape, then grads of (out * out).sum()')
    emit(f'    {{"{equation}", ' + braced(braced(map(str, s)) for s in shapes) + ", "
         + numbers(out.detach().flatten().tolist()) + ", " + braced(map(str, out.shape)) + ", "
         + braced(numbers(op.grad.flatten().tolist()) for op in ops) + "},")
emit("};")

block = "\n".join(lines) + "\n"
if "--check" in sys.argv:
    test = pathlib.Path(__file__).resolve().parents[1] / "tensor" / "random_einsum_test.cpp"
    sys.exit(0 if block in test.read_text() else "the test's kEinsumCases differ from torch's")
sys.stdout.write(block)
