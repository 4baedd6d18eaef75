#!/usr/bin/env python3
"""Writes tests/data/nn/loss_golden.json, the torch.nn.functional loss values and gradients that
tests/nn/loss_golden_test.cpp compares ops/loss.hpp against.

    /work/main/.venv-bench/bin/python tests/reference/make_loss_golden.py [--check]

Needs torch (any 2.x). CI never runs this script: the test reads only the committed JSON.
Deterministic; rerunning writes a byte-identical file. --check regenerates in memory and compares.

Every number is computed in float64. Inputs are drawn in float32 and widened, so the float32 run of
the test starts from exactly the same values. Each case holds:
  name, loss   the case and the function (nll_loss, cross_entropy, binary_cross_entropy,
               binary_cross_entropy_with_logits, mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div)
  options      the keyword arguments, in torch's names (reduction as a string)
  input, target, weight, pos_weight   {"shape", "values"} (target "dtype": int64 / uint8 / float)
  R            the backward's weights: loss = sum(output * R)
  output       the forward result
  grad_input, grad_target   the gradients of sum(output * R) (grad_target for floating targets)
"""
import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "nn" / "loss_golden.json"

torch.set_num_threads(1)


def vals(t):
    return t.detach().to(torch.float64).reshape(-1).tolist()  # json writes repr: exact


def tensor(t, dtype=None):
    out = {"shape": list(t.shape), "values": vals(t)}
    if dtype:
        out["dtype"] = dtype
    return out


def draw(gen, shape, scale=1.0):
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * scale).double()


def draw_unit(gen, shape, lo=0.02, hi=0.98):
    return (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float32)).double()


def classes(gen, shape, n, ignore=(), ignore_index=-100):
    t = torch.randint(0, n, shape, generator=gen)
    flat = t.reshape(-1)
    for i in ignore:
        flat[i] = ignore_index
    return t


FUNCS = {
    "nll_loss": F.nll_loss,
    "cross_entropy": F.cross_entropy,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "smooth_l1_loss": F.smooth_l1_loss,
    "huber_loss": F.huber_loss,
    "kl_div": F.kl_div,
}


def case(name, loss, seed, inp, target, options=None, weight=None, pos_weight=None, target_grad=True,
         grad=True):
    options = dict(options or {})
    gen = torch.Generator().manual_seed(seed + 1000)
    x = inp.clone().requires_grad_(grad)
    floating_target = target.is_floating_point()
    y = target.clone().requires_grad_(floating_target and target_grad and grad)
    kwargs = dict(options)
    if weight is not None:
        kwargs["weight"] = weight
    if pos_weight is not None:
        kwargs["pos_weight"] = pos_weight
    out = FUNCS[loss](x, y, **kwargs)
    R = draw(gen, out.shape)
    c = {"name": name, "loss": loss, "options": options, "input": tensor(inp),
         "target": tensor(target, "float" if floating_target else str(target.dtype).replace("torch.", ""))}
    if weight is not None:
        c["weight"] = tensor(weight)
    if pos_weight is not None:
        c["pos_weight"] = tensor(pos_weight)
    c["R"] = tensor(R)
    c["output"] = tensor(out)
    if grad:
        (out * R).sum().backward()
        c["grad_input"] = tensor(x.grad)
        if y.requires_grad:
            c["grad_target"] = tensor(y.grad)
    return c


def cases():
    out = []
    g = torch.Generator().manual_seed(0)
    logp = lambda shape: torch.log_softmax(draw(g, shape), 1 if len(shape) > 1 else 0)
    # ---- nll_loss ----
    out.append(case("nll_2d_mean", "nll_loss", 1, logp((5, 4)), classes(g, (5,), 4)))
    out.append(case("nll_2d_mean_ignore", "nll_loss", 2, logp((6, 3)), classes(g, (6,), 3, ignore=(1, 4))))
    out.append(case("nll_2d_weight_mean_ignore", "nll_loss", 3, logp((6, 4)), classes(g, (6,), 4, ignore=(2,)),
                    weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("nll_2d_weight_sum", "nll_loss", 4, logp((5, 4)), classes(g, (5,), 4),
                    {"reduction": "sum"}, weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("nll_2d_none_ignore", "nll_loss", 5, logp((5, 3)), classes(g, (5,), 3, ignore=(0,)),
                    {"reduction": "none"}))
    out.append(case("nll_2d_ignore_index_in_range", "nll_loss", 6, logp((6, 3)), classes(g, (6,), 3),
                    {"ignore_index": 1}))
    out.append(case("nll_kdim_weight_mean_ignore", "nll_loss", 7, logp((2, 3, 4, 2)),
                    classes(g, (2, 4, 2), 3, ignore=(3, 9)), weight=draw_unit(g, (3,), 0.2, 2.0)))
    out.append(case("nll_kdim_none", "nll_loss", 8, logp((2, 4, 3)), classes(g, (2, 3), 4), {"reduction": "none"}))
    out.append(case("nll_1d", "nll_loss", 9, logp((5,)), torch.tensor(3)))
    out.append(case("nll_2d_uint8", "nll_loss", 10, logp((4, 5)), classes(g, (4,), 5).to(torch.uint8)))
    # ---- cross_entropy, class indices ----
    out.append(case("ce_mean", "cross_entropy", 20, draw(g, (5, 4)), classes(g, (5,), 4)))
    out.append(case("ce_mean_ignore", "cross_entropy", 21, draw(g, (6, 4)), classes(g, (6,), 4, ignore=(0, 5))))
    out.append(case("ce_weight_mean_ignore", "cross_entropy", 22, draw(g, (6, 4)), classes(g, (6,), 4, ignore=(3,)),
                    weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("ce_weight_sum", "cross_entropy", 23, draw(g, (5, 3)), classes(g, (5,), 3), {"reduction": "sum"},
                    weight=draw_unit(g, (3,), 0.2, 2.0)))
    out.append(case("ce_none_ignore", "cross_entropy", 24, draw(g, (5, 3)), classes(g, (5,), 3, ignore=(2,)),
                    {"reduction": "none"}))
    out.append(case("ce_smoothing_mean_ignore", "cross_entropy", 25, draw(g, (6, 5)), classes(g, (6,), 5, ignore=(1,)),
                    {"label_smoothing": 0.1}))
    out.append(case("ce_smoothing_weight_mean_ignore", "cross_entropy", 26, draw(g, (7, 4)),
                    classes(g, (7,), 4, ignore=(0, 6)), {"label_smoothing": 0.2}, weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("ce_smoothing_weight_sum", "cross_entropy", 27, draw(g, (5, 4)), classes(g, (5,), 4),
                    {"label_smoothing": 0.3, "reduction": "sum"}, weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("ce_smoothing_weight_none_ignore", "cross_entropy", 28, draw(g, (5, 4)),
                    classes(g, (5,), 4, ignore=(4,)), {"label_smoothing": 0.15, "reduction": "none"},
                    weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("ce_kdim_weight_smoothing_mean_ignore", "cross_entropy", 29, draw(g, (2, 3, 4, 2)),
                    classes(g, (2, 4, 2), 3, ignore=(5,)), {"label_smoothing": 0.1},
                    weight=draw_unit(g, (3,), 0.2, 2.0)))
    out.append(case("ce_kdim_none", "cross_entropy", 30, draw(g, (3, 4, 5)), classes(g, (3, 5), 4, ignore=(7,)),
                    {"reduction": "none"}))
    out.append(case("ce_1d", "cross_entropy", 31, draw(g, (6,)), torch.tensor(2)))
    out.append(case("ce_uint8_smoothing", "cross_entropy", 32, draw(g, (4, 3)), classes(g, (4,), 3).to(torch.uint8),
                    {"label_smoothing": 0.05}))
    # ---- cross_entropy, probabilities ----
    prob = lambda shape, dim=1: torch.softmax(draw(g, shape), dim)
    out.append(case("ce_prob_mean", "cross_entropy", 40, draw(g, (5, 4)), prob((5, 4))))
    out.append(case("ce_prob_weight_smoothing_sum", "cross_entropy", 41, draw(g, (5, 4)), prob((5, 4)),
                    {"label_smoothing": 0.2, "reduction": "sum"}, weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("ce_prob_kdim_weight_mean", "cross_entropy", 42, draw(g, (2, 3, 4)), prob((2, 3, 4)),
                    weight=draw_unit(g, (3,), 0.2, 2.0)))
    out.append(case("ce_prob_kdim_none", "cross_entropy", 43, draw(g, (2, 3, 4)), prob((2, 3, 4)),
                    {"reduction": "none"}))
    out.append(case("ce_prob_1d", "cross_entropy", 44, draw(g, (5,)), prob((5,), 0)))
    # ---- binary_cross_entropy ----
    out.append(case("bce_mean", "binary_cross_entropy", 50, draw_unit(g, (3, 4)), draw_unit(g, (3, 4), 0, 1)))
    out.append(case("bce_weight_sum", "binary_cross_entropy", 51, draw_unit(g, (3, 4)),
                    (torch.rand((3, 4), generator=g) > 0.5).double(), {"reduction": "sum"},
                    weight=draw_unit(g, (4,), 0.2, 2.0)))
    out.append(case("bce_none", "binary_cross_entropy", 52, draw_unit(g, (5,)), draw_unit(g, (5,), 0, 1),
                    {"reduction": "none"}))
    # log clamped at -100: input 0 and 1 (values only: torch's gradient there is its 1e-12 epsilon)
    out.append(case("bce_clamped_log", "binary_cross_entropy", 53, torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30]).double(),
                    torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0]).double(), {"reduction": "none"}, grad=False))
    # ---- binary_cross_entropy_with_logits ----
    out.append(case("bce_logits_mean", "binary_cross_entropy_with_logits", 60, draw(g, (4, 3), 3),
                    draw_unit(g, (4, 3), 0, 1)))
    out.append(case("bce_logits_weight_pos_weight_mean", "binary_cross_entropy_with_logits", 61, draw(g, (4, 3), 3),
                    (torch.rand((4, 3), generator=g) > 0.5).double(), weight=draw_unit(g, (4, 1), 0.2, 2.0),
                    pos_weight=draw_unit(g, (3,), 0.5, 4.0)))
    out.append(case("bce_logits_pos_weight_none", "binary_cross_entropy_with_logits", 62, draw(g, (3, 5), 3),
                    draw_unit(g, (3, 5), 0, 1), {"reduction": "none"}, pos_weight=draw_unit(g, (5,), 0.5, 4.0)))
    out.append(case("bce_logits_sum_large", "binary_cross_entropy_with_logits", 63,
                    torch.tensor([30.0, -30.0, 17.0, 100.0, -12.0, 0.0]).double(),
                    torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.5]).double(), {"reduction": "sum"}))
    # ---- regression ----
    out.append(case("mse_mean", "mse_loss", 70, draw(g, (3, 4)), draw(g, (3, 4))))
    out.append(case("mse_sum", "mse_loss", 71, draw(g, (5,)), draw(g, (5,)), {"reduction": "sum"}))
    out.append(case("mse_none_broadcast", "mse_loss", 72, draw(g, (2, 3)), draw(g, (3,)), {"reduction": "none"}))
    out.append(case("l1_mean", "l1_loss", 73, draw(g, (3, 4)), draw(g, (3, 4))))
    out.append(case("l1_none", "l1_loss", 74, draw(g, (5,)), draw(g, (5,)), {"reduction": "none"}))
    # differences exactly at beta / delta (0.5 and 2.0 are exact in float32), both sides of it
    edge_x = torch.tensor([1.5, -1.5, 3.0, 0.25, 4.0, -4.0, 1.0]).double()
    edge_y = torch.tensor([1.0, -1.0, 1.0, 0.0, 2.0, -1.0, 1.0]).double()
    out.append(case("smooth_l1_mean", "smooth_l1_loss", 75, draw(g, (4, 3)), draw(g, (4, 3))))
    out.append(case("smooth_l1_beta_half_none_boundary", "smooth_l1_loss", 76, edge_x, edge_y,
                    {"reduction": "none", "beta": 0.5}))
    out.append(case("smooth_l1_beta_zero_sum", "smooth_l1_loss", 77, draw(g, (5,)), draw(g, (5,)),
                    {"reduction": "sum", "beta": 0.0}))
    out.append(case("huber_mean", "huber_loss", 78, draw(g, (4, 3), 2), draw(g, (4, 3))))
    out.append(case("huber_delta_two_none_boundary", "huber_loss", 79, edge_x, edge_y,
                    {"reduction": "none", "delta": 2.0}))
    out.append(case("huber_delta_half_sum", "huber_loss", 80, draw(g, (6,)), draw(g, (6,)),
                    {"reduction": "sum", "delta": 0.5}))
    # ---- kl_div ----
    kl_target = prob((3, 4))
    kl_target[0, 1] = 0.0  # xlogy(0, 0) = 0
    # (no target gradient here: torch's xlogy gives NaN at target 0, which JSON cannot hold;
    # tests/nn/loss_test.cpp checks it)
    out.append(case("kl_div_mean", "kl_div", 90, logp((3, 4)), kl_target.clone(), target_grad=False))
    out.append(case("kl_div_batchmean", "kl_div", 91, logp((3, 4)), prob((3, 4)), {"reduction": "batchmean"}))
    out.append(case("kl_div_sum", "kl_div", 92, logp((2, 5)), prob((2, 5)), {"reduction": "sum"}))
    out.append(case("kl_div_none", "kl_div", 93, logp((2, 5)), prob((2, 5)), {"reduction": "none"}))
    out.append(case("kl_div_log_target_batchmean", "kl_div", 94, logp((3, 4)), logp((3, 4)),
                    {"reduction": "batchmean", "log_target": True}))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    text = json.dumps({"torch_version": torch.__version__.split("+")[0], "cases": cases()}, indent=1, allow_nan=False) + "\n"
    if args.check:
        same = OUTPUT.read_text() == text
        print("up to date" if same else f"{OUTPUT} differs from a fresh run")
        sys.exit(0 if same else 1)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
