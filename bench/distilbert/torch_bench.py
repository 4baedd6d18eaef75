#!/usr/bin/env python3
"""The PyTorch side of bench/distilbert: the same DistilBertForSequenceClassification
(distilbert-base: vocab 30522, dim 768, 6 layers, 12 heads, FFN 3072, 2 labels, random weights;
--config minilm|small|tiny for the other sizes of bench/common/torch_distilbert.py's MODEL_SIZES),
written with plain torch.nn so that only PyTorch is needed (1.13 or 2.x). The module
(bench/common/torch_distilbert.py) mirrors transformers 4.44's eager DistilBERT op for op;
--model hf runs transformers' own class instead, with the same weights (bench/common/hf_distilbert.py;
its default attention on torch 2.x is scaled_dot_product_attention).

    .venv-bench/bin/python bench/distilbert/torch_bench.py [--config base] [--threads 2] [--reps 3]
        [--warmup 1] [--shapes 16x128,8x512] [--phases forward,forward+backward] [--model plain|hf]
        [--tsv]

Same protocol and output as tinyxf_bench_distilbert: forward = eval() + no_grad, forward+backward =
train() (dropout on) + loss.backward(); median of --reps after --warmup runs.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from bench_util import inference_parser, time_runs, torch_matmul_backend  # noqa: E402
from torch_distilbert import MODEL_SIZES, DistilBertForSequenceClassification, random_inputs  # noqa: E402


def main():
    ap = inference_parser(MODEL_SIZES)
    ap.add_argument("--phases", default="forward,forward+backward")
    ap.add_argument("--model", choices=("plain", "hf"), default="plain")
    args = ap.parse_args()
    phases = args.phases.split(",")
    if not phases or not set(phases) <= {"forward", "forward+backward"}:
        ap.error("--phases: forward and/or forward+backward")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    sizes = MODEL_SIZES[args.config]
    model = DistilBertForSequenceClassification(**sizes)
    if args.model == "hf":
        from hf_distilbert import PlainInterface, hf_copy

        model = PlainInterface(hf_copy(model, sizes))
    if not args.tsv:
        n = sum(p.numel() for p in model.parameters())
        print(f"torch {torch.__version__} ({torch_matmul_backend(torch)}), model '{args.model}' '{args.config}', "
              f"{n} parameters, {torch.get_num_threads()} threads, median of {args.reps} (after {args.warmup} warm-up)")
    g = torch.Generator().manual_seed(42)
    for shape in args.shapes.split(","):
        b, s = (int(v) for v in shape.split("x"))
        ids, mask, labels = random_inputs(g, b, s)

        def forward():
            with torch.no_grad():
                model(ids, mask)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            model(ids, mask, labels)[1].backward()

        results = []
        if "forward" in phases:
            model.eval()
            results.append(("forward", time_runs(args.warmup, args.reps, forward)))
        if "forward+backward" in phases:
            model.train()
            results.append(("forward+backward", time_runs(args.warmup, args.reps, forward_backward)))
        for phase, (median, best) in results:
            if args.tsv:
                print(f"{shape}\t{phase}\t{median:.4f}\t{best:.4f}", flush=True)
            else:
                print(f"{shape:<8} {phase:<17} median {median:8.3f} s   min {best:8.3f} s", flush=True)


if __name__ == "__main__":
    main()
