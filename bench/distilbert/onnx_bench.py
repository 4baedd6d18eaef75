#!/usr/bin/env python3
"""The ONNX Runtime side of bench/distilbert: inference (eval, fp32) of the same
DistilBertForSequenceClassification as torch_bench.py and tinyxf_bench_distilbert. The plain
torch.nn model (bench/common/torch_distilbert.py, seed 1234) is copied weight for weight into
transformers' own DistilBertForSequenceClassification (bench/common/hf_distilbert.py), exported
with torch.onnx.export (one static-shape graph per shape, in a temporary folder), and run by an
onnxruntime InferenceSession on the CPU execution provider with intra_op_num_threads = --threads,
inter_op_num_threads = 1, sequential execution and every graph optimization (ORT_ENABLE_ALL).

    .venv-bench/bin/python bench/distilbert/onnx_bench.py [--config base] [--threads 2] [--reps 3]
        [--warmup 1] [--shapes 16x128,8x512] [--attn sdpa|eager] [--keep DIR] [--tsv]

Same protocol and output as torch_bench.py's forward phase (median and min of --reps after
--warmup runs; --tsv: "shape<TAB>forward<TAB>median_s<TAB>min_s"). Before timing, the logits of
ONNX Runtime are compared with the plain PyTorch model's (on stderr); a difference above 1e-3
stops the run. --attn chooses transformers' attention code that is exported: "sdpa" (its default
on torch 2.x) or "eager" (masked_fill + softmax, like torch_distilbert.py).
"""
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from bench_util import inference_parser, time_runs  # noqa: E402
from hf_distilbert import hf_copy  # noqa: E402
from torch_distilbert import MODEL_SIZES, DistilBertForSequenceClassification, random_inputs  # noqa: E402


def export(model, ids, mask, path):
    """torch.onnx.export of model(input_ids=ids, attention_mask=mask).logits to path."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (), str(path), kwargs={"input_ids": ids, "attention_mask": mask},
                          input_names=["input_ids", "attention_mask"], output_names=["logits"], verbose=False)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main():
    ap = inference_parser(MODEL_SIZES)
    ap.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa")
    ap.add_argument("--keep", type=Path, help="write the .onnx files here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    sizes = MODEL_SIZES[args.config]
    plain = DistilBertForSequenceClassification(**sizes).eval()
    hf = hf_copy(plain, sizes, args.attn)
    if not args.tsv:
        n = sum(p.numel() for p in plain.parameters())
        print(f"onnxruntime {ort.__version__} (torch {torch.__version__} export, transformers attention "
              f"'{args.attn}'), '{args.config}', {n} parameters, {args.threads} intra-op threads, median of "
              f"{args.reps} (after {args.warmup} warm-up)", flush=True)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="onnx_bench."))
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(42)
    for shape in args.shapes.split(","):
        b, s = (int(v) for v in shape.split("x"))
        ids, mask, _ = random_inputs(g, b, s)  # as torch_bench.py: the same ids for every shape
        path = folder / f"distilbert_{args.config}_{args.attn}_{shape}.onnx"
        export(hf, ids, mask, path)
        sess = session(path, args.threads)
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        logits = sess.run(["logits"], feed)[0]
        with torch.no_grad():
            expected = plain(ids, mask)[0].numpy()
        diff = float(np.abs(logits - expected).max())
        print(f"onnx_bench: {shape}: ONNX Runtime logits vs plain PyTorch: max |diff| {diff:.2e}",
              file=sys.stderr, flush=True)
        if not diff <= 1e-3:
            sys.exit(f"onnx_bench: the exported model disagrees with PyTorch ({diff})")
        median, best = time_runs(args.warmup, args.reps, lambda: sess.run(["logits"], feed))
        if args.tsv:
            print(f"{shape}\tforward\t{median:.4f}\t{best:.4f}", flush=True)
        else:
            print(f"{shape:<8} {'forward':<17} median {median:8.3f} s   min {best:8.3f} s", flush=True)
        del sess
        if args.keep is None:
            for f in folder.glob(path.name + "*"):
                f.unlink()
    if args.keep is None:
        folder.rmdir()


if __name__ == "__main__":
    main()
