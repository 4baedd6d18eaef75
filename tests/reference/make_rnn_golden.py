#!/usr/bin/env python3
"""Writes tests/data/nn/rnn_golden.json, the torch.nn.GRU / torch.nn.RNN (tanh, relu) and
GRUCell / RNNCell numbers that tests/nn/lstm_golden_test.cpp compares nn::GRU, nn::RNN,
nn::GRUCell and nn::RNNCell against.

    /work/main/.venv-bench/bin/python tests/reference/make_rnn_golden.py [--check]

Same conventions as make_lstm_golden.py (its helpers are reused): float64 numbers from float32
draws, padding positions holding 1e3, loss = sum(output * R) + sum(h_n * S). Each module case
holds kind ("gru" | "rnn"), config (with nonlinearity for RNN, lengths for packed cases),
state_dict_keys (torch's, in order), params, x, h0 (optional), R, S, output, h_n, grad_x,
grad_h0, grads. A cell case holds x, h, R (loss = sum(h' R)), h_next and the gradients.
"""
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from make_lstm_golden import draw, draw_input, fill_params, tensor, write_or_check

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "data" / "nn" / "rnn_golden.json"

torch.set_num_threads(1)


def module_case(name, kind, seed, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, T, B,
                lengths=None, initial_state=True, nonlinearity="tanh"):
    gen = torch.Generator().manual_seed(seed)
    kwargs = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    if kind == "gru":
        module = torch.nn.GRU(input_size, hidden_size, **kwargs).double()
    else:
        module = torch.nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kwargs).double()
    fill_params(module, gen)
    D = 2 if bidirectional else 1
    x = draw_input(gen, T, B, input_size, batch_first, lengths)
    h0 = draw(gen, (num_layers * D, B, hidden_size)).requires_grad_(True) if initial_state else None
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_packed, h_n = module(packed, h0)
        output, _ = pad_packed_sequence(out_packed, batch_first=batch_first, total_length=T)
    else:
        output, h_n = module(x, h0)
    R, S = draw(gen, output.shape), draw(gen, h_n.shape)
    ((output * R).sum() + (h_n * S).sum()).backward()
    config = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers, "bias": bias,
              "batch_first": batch_first, "bidirectional": bidirectional}
    if kind == "rnn":
        config["nonlinearity"] = nonlinearity
    if lengths is not None:
        config["lengths"] = lengths
    case = {
        "name": name, "kind": kind, "config": config,
        "state_dict_keys": list(module.state_dict().keys()),
        "params": {n: tensor(p) for n, p in module.named_parameters()},
        "x": tensor(x), "R": tensor(R), "S": tensor(S),
        "output": tensor(output), "h_n": tensor(h_n),
        "grad_x": tensor(x.grad),
        "grads": {n: tensor(p.grad) for n, p in module.named_parameters()},
    }
    if initial_state:
        case.update({"h0": tensor(h0), "grad_h0": tensor(h0.grad)})
    return case


def cell_case(name, kind, seed, bias, nonlinearity="tanh"):
    gen = torch.Generator().manual_seed(seed)
    if kind == "gru":
        cell = torch.nn.GRUCell(3, 4, bias=bias).double()
    else:
        cell = torch.nn.RNNCell(3, 4, bias=bias, nonlinearity=nonlinearity).double()
    fill_params(cell, gen)
    x = draw(gen, (2, 3)).requires_grad_(True)
    h = draw(gen, (2, 4)).requires_grad_(True)
    h1 = cell(x, h)
    R = draw(gen, h1.shape)
    (h1 * R).sum().backward()
    return {
        "name": name, "kind": kind, "bias": bias, "nonlinearity": nonlinearity,
        "state_dict_keys": list(cell.state_dict().keys()),
        "params": {n: tensor(p) for n, p in cell.named_parameters()},
        "x": tensor(x), "h": tensor(h), "R": tensor(R), "h_next": tensor(h1),
        "grad_x": tensor(x.grad), "grad_h": tensor(h.grad),
        "grads": {n: tensor(p.grad) for n, p in cell.named_parameters()},
    }


def build():
    return {
        "torch_version": torch.__version__,
        "modules": [
            # two bidirectional layers, batch_first, ragged unsorted lengths, initial state
            module_case("gru_packed_bidirectional_2layers", "gru", 11, 3, 4, 2, True, True, True, T=5, B=4,
                        lengths=[3, 5, 1, 4]),
            # padded, time-major, two bidirectional layers, no initial state
            module_case("gru_padded_bidirectional_2layers", "gru", 12, 2, 3, 2, True, False, True, T=4, B=2,
                        initial_state=False),
            # one layer without bias
            module_case("gru_padded_1layer_nobias", "gru", 13, 2, 3, 1, False, True, False, T=3, B=2),
            module_case("rnn_tanh_packed_bidirectional_2layers", "rnn", 14, 3, 4, 2, True, True, True, T=5, B=4,
                        lengths=[2, 5, 4, 1]),
            module_case("rnn_tanh_padded_bidirectional_2layers", "rnn", 15, 2, 3, 2, True, False, True, T=4, B=2),
            module_case("rnn_relu_padded_bidirectional_2layers_nobias", "rnn", 16, 2, 3, 2, False, True, True, T=4,
                        B=3, nonlinearity="relu"),
            module_case("rnn_relu_packed_2layers", "rnn", 17, 3, 4, 2, True, False, False, T=4, B=3,
                        lengths=[4, 2, 3], initial_state=False, nonlinearity="relu"),
        ],
        "cells": [
            cell_case("gru_cell", "gru", 21, True),
            cell_case("gru_cell_nobias", "gru", 22, False),
            cell_case("rnn_tanh_cell", "rnn", 23, True),
            cell_case("rnn_relu_cell", "rnn", 24, True, nonlinearity="relu"),
        ],
    }


if __name__ == "__main__":
    write_or_check(OUTPUT, build)
