#!/usr/bin/env python3
"""Writes tests/data/nn/lstm_golden.json, the torch.nn.LSTM / torch.nn.LSTMCell numbers that
tests/nn/lstm_golden_test.cpp compares nn::LSTM / nn::LSTMCell against.

    /work/main/.venv-bench/bin/python tests/reference/make_lstm_golden.py [--check]

Needs torch (any 2.x). CI never runs this script: the test reads only the committed JSON.
Deterministic; rerunning writes a byte-identical file. --check regenerates in memory and compares.

Every number is computed in float64. Inputs and parameters are drawn in float32 and widened, so the
float32 run of the test starts from exactly the same values. Each case holds:
  config      the module's options (input_size, hidden_size, num_layers, bias, batch_first,
              bidirectional) and, for packed cases, the lengths (unsorted: enforce_sorted=False)
  params      {name: {"shape", "values"}} in torch's names (weight_ih_l0, ..._reverse)
  x, h0, c0   the input (padded; batch_first when configured) and initial state (absent: zeros)
  R, S, U     the loss weights: loss = sum(output * R) + sum(h_n * S) + sum(c_n * U), output
              padded back with pad_packed_sequence(total_length=T) for packed cases
  output, h_n, c_n               the forward results
  grad_x, grad_h0, grad_c0, grads  the gradients of the loss (grads: per parameter)
The padding positions of x hold large values (1e3): packing must ignore them (their gradient is 0).
The LSTMCell case has x, h, c, R, S (loss = sum(h' R) + sum(c' S)), h_next, c_next and gradients.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "nn" / "lstm_golden.json"

torch.set_num_threads(1)


def vals(t):
    return t.detach().to(torch.float64).reshape(-1).tolist()  # json writes repr: exact


def tensor(t):
    return {"shape": list(t.shape), "values": vals(t)}


def draw(gen, shape, scale=1.0):
    """float32 normal values widened to float64 (exact in both dtypes)."""
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * scale).to(torch.float32).double()


def fill_params(module, gen):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(draw(gen, p.shape, 0.5))


def draw_input(gen, T, B, input_size, batch_first, lengths):
    """The padded input (requires grad), 1e3 past each length: padding the layer must never see."""
    x = draw(gen, (B, T, input_size) if batch_first else (T, B, input_size))
    if lengths is not None:
        with torch.no_grad():
            for b, n in enumerate(lengths):
                if batch_first:
                    x[b, n:] = 1e3
                else:
                    x[n:, b] = 1e3
    return x.requires_grad_(True)


def lstm_case(name, seed, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, T, B,
              lengths=None, initial_state=True):
    gen = torch.Generator().manual_seed(seed)
    lstm = torch.nn.LSTM(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         bidirectional=bidirectional).double()
    fill_params(lstm, gen)
    D = 2 if bidirectional else 1
    x = draw_input(gen, T, B, input_size, batch_first, lengths)
    h0 = draw(gen, (num_layers * D, B, hidden_size)).requires_grad_(True) if initial_state else None
    c0 = draw(gen, (num_layers * D, B, hidden_size)).requires_grad_(True) if initial_state else None
    state = (h0, c0) if initial_state else None
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_packed, (h_n, c_n) = lstm(packed, state)
        output, _ = pad_packed_sequence(out_packed, batch_first=batch_first, total_length=T)
    else:
        output, (h_n, c_n) = lstm(x, state)
    R, S, U = draw(gen, output.shape), draw(gen, h_n.shape), draw(gen, c_n.shape)
    loss = (output * R).sum() + (h_n * S).sum() + (c_n * U).sum()
    loss.backward()
    case = {
        "name": name,
        "config": {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers, "bias": bias,
                   "batch_first": batch_first, "bidirectional": bidirectional},
        "params": {n: tensor(p) for n, p in lstm.named_parameters()},
        "x": tensor(x), "R": tensor(R), "S": tensor(S), "U": tensor(U),
        "output": tensor(output), "h_n": tensor(h_n), "c_n": tensor(c_n),
        "grad_x": tensor(x.grad),
        "grads": {n: tensor(p.grad) for n, p in lstm.named_parameters()},
    }
    if lengths is not None:
        case["config"]["lengths"] = lengths
    if initial_state:
        case.update({"h0": tensor(h0), "c0": tensor(c0), "grad_h0": tensor(h0.grad), "grad_c0": tensor(c0.grad)})
    return case


def cell_case(seed):
    gen = torch.Generator().manual_seed(seed)
    cell = torch.nn.LSTMCell(3, 4).double()
    fill_params(cell, gen)
    x = draw(gen, (2, 3)).requires_grad_(True)
    h = draw(gen, (2, 4)).requires_grad_(True)
    c = draw(gen, (2, 4)).requires_grad_(True)
    h1, c1 = cell(x, (h, c))
    R, S = draw(gen, h1.shape), draw(gen, c1.shape)
    ((h1 * R).sum() + (c1 * S).sum()).backward()
    return {
        "params": {n: tensor(p) for n, p in cell.named_parameters()},
        "x": tensor(x), "h": tensor(h), "c": tensor(c), "R": tensor(R), "S": tensor(S),
        "h_next": tensor(h1), "c_next": tensor(c1),
        "grad_x": tensor(x.grad), "grad_h": tensor(h.grad), "grad_c": tensor(c.grad),
        "grads": {n: tensor(p.grad) for n, p in cell.named_parameters()},
    }


def build():
    return {
        "torch_version": torch.__version__,
        "lstm": [
            # multi-layer, bidirectional, batch_first, ragged unsorted lengths, initial state
            lstm_case("packed_bidirectional_2layers", 1, 3, 4, 2, True, True, True, T=5, B=4, lengths=[3, 5, 1, 4]),
            # padded input, time-major, one layer, no bias, no initial state
            lstm_case("padded_1layer_nobias", 2, 2, 3, 1, False, False, False, T=4, B=2, initial_state=False),
            # three layers, unidirectional, packed time-major
            lstm_case("packed_3layers", 3, 2, 3, 3, True, False, False, T=4, B=3, lengths=[4, 2, 3]),
        ],
        "lstm_cell": cell_case(4),
    }


def write_or_check(output, build_golden):
    """The command line of this script and make_rnn_golden.py: write `output`, or with --check
    compare it with a fresh build (exit status 1 when it differs)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = json.dumps(build_golden(), indent=None, separators=(",", ":")) + "\n"
    if args.check:
        same = output.read_text() == text
        print("up to date" if same else "differs")
        sys.exit(0 if same else 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"wrote {output} ({len(text)} bytes)")


if __name__ == "__main__":
    write_or_check(OUTPUT, build)
