#!/usr/bin/env python3
"""Writes tests/data/nn/conv_golden.json, the torch.nn.functional conv1d / max_pool1d / avg_pool1d /
adaptive_{max,avg}_pool1d values and gradients (and torch.nn.Conv1d's padding modes) that
tests/nn/conv_test.cpp compares ops/conv.hpp and nn/conv.hpp against.

    /work/main/.venv-bench/bin/python tests/reference/make_conv_golden.py [--check]

Needs torch 2.x (the numbers were written by 2.15). CI never runs this script: the test reads only
the committed JSON. Deterministic; rerunning writes a byte-identical file. --check regenerates in
memory and compares.

Every number is computed in float64 from inputs drawn in float32 (or halves, for the max pooling
cases with ties) and widened. Each case holds:
  name, fn     the case and the function ("Conv1d": the module with the given weight and bias)
  options      the keyword arguments, in torch's names
  x, weight, bias   {"shape", "values"} (weight and bias only where used)
  R            the backward's weights: loss = sum(output * R)
  output, grad_x, grad_weight, grad_bias   the forward result and the gradients of sum(output * R)
"""
import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "nn" / "conv_golden.json"

torch.set_num_threads(1)


def tensor(t):
    return {"shape": list(t.shape), "values": t.detach().to(torch.float64).reshape(-1).tolist()}


def draw(gen, shape):
    return torch.randn(shape, generator=gen, dtype=torch.float32).double()


def halves(gen, shape):
    """Values k/2 for small integers k: many ties inside pooling windows."""
    return torch.randint(-3, 4, shape, generator=gen).double() / 2


def case(gen, name, fn, options, x, weight=None, bias=None):
    x = x.clone().requires_grad_()
    w = weight.clone().requires_grad_() if weight is not None else None
    b = bias.clone().requires_grad_() if bias is not None else None
    if fn == "conv1d":
        out = F.conv1d(x, w, b, **options)
    elif fn == "Conv1d":
        m = torch.nn.Conv1d(w.shape[1] * options.get("groups", 1), w.shape[0], w.shape[2], bias=b is not None,
                            dtype=torch.float64, **options)
        with torch.no_grad():
            m.weight.copy_(w)
            if b is not None:
                m.bias.copy_(b)
        out = m(x)
    else:
        out = getattr(F, fn)(x, **options)
    R = draw(gen, out.shape)
    (out * R).sum().backward()
    c = {"name": name, "fn": fn, "options": options, "x": tensor(x)}
    if fn == "Conv1d":
        w_grad, b_grad = m.weight.grad, (m.bias.grad if b is not None else None)
    else:
        w_grad, b_grad = (w.grad if w is not None else None), (b.grad if b is not None else None)
    if w is not None:
        c["weight"] = tensor(w)
    if b is not None:
        c["bias"] = tensor(b)
    c.update({"R": tensor(R), "output": tensor(out), "grad_x": tensor(x.grad)})
    if w_grad is not None:
        c["grad_weight"] = tensor(w_grad)
    if b_grad is not None:
        c["grad_bias"] = tensor(b_grad)
    return c


def build():
    gen = torch.Generator().manual_seed(2026)
    d = lambda *s: draw(gen, list(s))  # noqa: E731
    cases = [
        case(gen, "conv1d basic", "conv1d", {}, d(2, 4, 9), d(6, 4, 3), d(6)),
        case(gen, "conv1d stride 2 padding 1", "conv1d", {"stride": 2, "padding": 1}, d(2, 4, 9), d(5, 4, 3), d(5)),
        case(gen, "conv1d same, even kernel", "conv1d", {"padding": "same"}, d(2, 3, 7), d(4, 3, 4), d(4)),
        case(gen, "conv1d same, dilation 2", "conv1d", {"padding": "same", "dilation": 2}, d(1, 3, 8), d(2, 3, 3), d(2)),
        case(gen, "conv1d dilation 2 padding 2 stride 3", "conv1d", {"stride": 3, "padding": 2, "dilation": 2},
             d(2, 2, 11), d(3, 2, 3), d(3)),
        case(gen, "conv1d groups 2", "conv1d", {"groups": 2}, d(2, 4, 8), d(6, 2, 3), d(6)),
        case(gen, "conv1d depthwise stride 3 padding 2", "conv1d", {"stride": 3, "padding": 2, "groups": 4},
             d(2, 4, 10), d(4, 1, 3), d(4)),
        case(gen, "conv1d no bias, valid", "conv1d", {"padding": "valid"}, d(3, 2, 6), d(3, 2, 2)),
        case(gen, "conv1d unbatched", "conv1d", {"padding": 1}, d(4, 7), d(3, 4, 2), d(3)),
        case(gen, "Conv1d reflect", "Conv1d", {"padding": 2, "padding_mode": "reflect"}, d(2, 3, 6), d(4, 3, 3), d(4)),
        case(gen, "Conv1d replicate same", "Conv1d", {"padding": "same", "padding_mode": "replicate"}, d(2, 3, 6),
             d(4, 3, 4), d(4)),
        case(gen, "Conv1d circular groups 3", "Conv1d", {"padding": 3, "padding_mode": "circular", "groups": 3},
             d(1, 3, 5), d(3, 1, 3)),
        case(gen, "max_pool1d k2 ties", "max_pool1d", {"kernel_size": 2}, halves(gen, [2, 3, 9])),
        case(gen, "max_pool1d k3 s2 p1 ceil", "max_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                                             "ceil_mode": True}, halves(gen, [2, 3, 10])),
        case(gen, "max_pool1d k3 dilation 2 unbatched", "max_pool1d", {"kernel_size": 3, "stride": 1, "dilation": 2},
             halves(gen, [3, 9])),
        case(gen, "avg_pool1d k3 s2 p1 ceil", "avg_pool1d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                                             "ceil_mode": True}, d(2, 3, 10)),
        case(gen, "avg_pool1d k3 s2 p1 ceil, no pad count", "avg_pool1d",
             {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, d(2, 3, 10)),
        case(gen, "avg_pool1d k4 s3 p2 ceil, no pad count", "avg_pool1d",
             {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True, "count_include_pad": False}, d(1, 2, 9)),
        case(gen, "avg_pool1d k2 unbatched", "avg_pool1d", {"kernel_size": 2}, d(3, 7)),
        case(gen, "adaptive_max_pool1d 1 (global)", "adaptive_max_pool1d", {"output_size": 1}, halves(gen, [2, 4, 7])),
        case(gen, "adaptive_max_pool1d 3 of 7", "adaptive_max_pool1d", {"output_size": 3}, halves(gen, [2, 2, 7])),
        case(gen, "adaptive_avg_pool1d 1 (global)", "adaptive_avg_pool1d", {"output_size": 1}, d(2, 4, 7)),
        case(gen, "adaptive_avg_pool1d 3 of 7 unbatched", "adaptive_avg_pool1d", {"output_size": 3}, d(2, 7)),
        case(gen, "adaptive_avg_pool1d 5 of 3", "adaptive_avg_pool1d", {"output_size": 5}, d(1, 2, 3)),
    ]
    return {"torch_version": torch.__version__.split("+")[0], "cases": cases}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        if OUTPUT.read_text() != text:
            sys.exit(f"{OUTPUT} is out of date; rerun {Path(__file__).name}")
        print(f"{OUTPUT} is up to date")
        return
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
