#!/usr/bin/env python3
"""Writes the torch.save fixtures of the C++ reader (tests/io/torch_checkpoint_test.cpp,
tests/models/distilbert_test.cpp "[torch-bin]").

    .venv-bench/bin/python tests/reference/make_torch_checkpoint_golden.py [--check]

Any torch 2.x (the committed files: torch 2.15.0 from PyPI, scripts/setup-bench-env.sh's venv) and,
for the model folder, transformers. CI never runs this script; the tests read the committed files.

tests/data/io/
  torch_mixed.bin          torch.save of a state dict: every storage dtype, a Parameter, views
                           (transposed, narrowed with an offset, expanded with stride 0), two keys
                           sharing one storage, a 0-d and an empty tensor (pickle protocol 2)
  torch_mixed_p4.bin       the same with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, ...)
  torch_mixed.safetensors  the same tensors, contiguous, written by the safetensors library: what
                           the C++ test compares the .bin reading against
  torch_bad_*.bin          files the reader must refuse, each with the reason in its name
  torch_size1_huge_stride.bin  a valid view whose size-1 dimension has stride 2^63 - 1 (torch
                           accepts any stride there; reading it must not overflow)
tests/data/fuzz/torch_mixed.pkl, torch_mixed_p4.pkl   their data.pkl records (fuzz_torch_pickle's seeds)
tests/data/golden/distilbert_tiny_bin/
  config.json, pytorch_model.bin   distilbert_tiny's model as transformers 4 saved it with
                           safe_serialization=False (torch.save of model.state_dict()), checked
                           to load in transformers with the same logits as the safetensors folder.
tests/data/golden/distilbert_tiny_sharded/, distilbert_tiny_bin_sharded/
                           the same weights as sharded checkpoints (model-0000k-of-0000n.safetensors
                           + model.safetensors.index.json; pytorch_model-*.bin + its index)
--check rebuilds everything in a temporary folder and compares tensors (not bytes: zipfile
stamps the hand-made archives with the time) with the committed files. Rewriting the folder
rewrites those archives too: restore the unchanged ones with git checkout.
"""
import argparse
import collections
import io
import os
import pickle
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
IO = REPO / "tests" / "data" / "io"
GOLDEN = REPO / "tests" / "data" / "golden"


def mixed_state_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 2.0
    sd = collections.OrderedDict()
    sd["weight"] = torch.nn.Parameter(base.clone())
    sd["transposed"] = base.t()                 # strides (1, 6)
    sd["narrowed"] = base[1:3, 2:5]             # offset 8, strides (6, 1): shares base's storage
    sd["expanded"] = torch.tensor([1.5, -2.5]).unsqueeze(1).expand(2, 3)  # stride 0
    sd["tied_a"] = base[0]                      # two keys, one storage (offset 0 and 6)
    sd["tied_b"] = base[1]
    sd["f64"] = torch.tensor([1.0 / 3.0, -1e300, 2.0**-1074], dtype=torch.float64)
    sd["f16"] = torch.tensor([1.0, -2.5, 65504.0, 2.0**-24], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -3.140625, 2.0**-7, float("-inf")], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([[1, -2], [9007199254740993, -(2**63)]], dtype=torch.int64)
    sd["i32"] = torch.tensor([7, -8, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 5], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5, dtype=torch.float64)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def size1_huge_stride_state_dict():
    # [[1], [2]]: offset 1, the size-1 dimension's stride never used
    return {"w": torch.arange(4, dtype=torch.float32).as_strided((2, 1), (1, 2**63 - 1), 1)}


def contiguous_copy(sd):
    return {name: t.detach().contiguous().clone() for name, t in sd.items()}


# ---- files the reader must refuse ------------------------------------------------------------------

class _Storage:
    def __init__(self, key, numel, cls=torch.FloatStorage):
        self.key, self.numel, self.cls = key, numel, cls


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def write_archive(path, obj, records):
    """A zip laid out as torch.save lays it out, around a pickle of obj and the given records."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", b"little")
        for name, data in records.items():
            z.writestr("archive/" + name, data)


def write_bad_files(out):
    floats8 = torch.arange(8, dtype=torch.float32).numpy().tobytes()
    s = _Storage("0", 8)
    # a storage record shorter than its element count says
    write_archive(out / "torch_bad_short_storage.bin", {"w": _Tensor(_Storage("0", 10), 0, [10], [1])},
                  {"data/0": floats8})
    # a view reaching past its storage (offset 6 + 3 elements of stride 1 in 8)
    write_archive(out / "torch_bad_out_of_bounds.bin", {"w": _Tensor(s, 6, [3], [1])}, {"data/0": floats8})
    # a stride-0 view repeating one element 2^29 times: 2 GiB if materialized
    write_archive(out / "torch_bad_repeated.bin", {"w": _Tensor(s, 0, [2**29], [0])}, {"data/0": floats8})
    # a storage the archive does not have
    write_archive(out / "torch_bad_missing_storage.bin", {"w": _Tensor(_Storage("7", 8), 0, [8], [1])},
                  {"data/0": floats8})
    # a deflated data.pkl claiming 1 MiB (more than the archive): refused before it is allocated
    with zipfile.ZipFile(out / "torch_bad_compressed_pickle.bin", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00." + bytes(2**20 - 6))
        z.writestr("archive/byteorder", b"little")
    # a pickle that would call os.system in an unrestricted unpickler
    write_archive(out / "torch_bad_global.bin", {"w": _Evil()}, {})
    # not a state dict: a training checkpoint and a bare tensor
    torch.save({"model": collections.OrderedDict(w=torch.ones(2)), "epoch": 3},
               out / "torch_bad_training_checkpoint.bin")
    torch.save(torch.ones(2), out / "torch_bad_bare_tensor.bin")
    # torch.save's legacy (pre-1.6) format
    torch.save({"w": torch.ones(2)}, out / "torch_bad_legacy.bin", _use_new_zipfile_serialization=False)


# ---- the model folder --------------------------------------------------------------------------------

def write_model_folder(out):
    from transformers import DistilBertForSequenceClassification

    src = GOLDEN / "distilbert_tiny"
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification.from_pretrained(src).eval()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "config.json", out / "config.json")
    # transformers 4's save_pretrained(safe_serialization=False): torch.save of the state dict.
    torch.save(model.state_dict(), out / "pytorch_model.bin")
    # transformers loads it back to the same logits as the safetensors folder.
    again = DistilBertForSequenceClassification.from_pretrained(out).eval()
    ids = torch.tensor([[101, 7, 8, 9, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask).logits
        b = again(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(a, b), (a, b)


def write_sharded_folders(golden_dir):
    """distilbert_tiny as sharded checkpoints: safetensors shards by transformers' own
    save_pretrained(max_shard_size=...), torch.save shards + pytorch_model.bin.index.json laid out
    as transformers 4's save_pretrained(safe_serialization=False, max_shard_size=...) wrote them.
    Both load in transformers to the single-file folder's logits."""
    import json
    from transformers import DistilBertForSequenceClassification

    src = GOLDEN / "distilbert_tiny"
    model = DistilBertForSequenceClassification.from_pretrained(src).eval()
    st_dir, bin_dir = golden_dir / "distilbert_tiny_sharded", golden_dir / "distilbert_tiny_bin_sharded"
    for d in (st_dir, bin_dir):
        shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(st_dir, max_shard_size="40KB")
    for extra in ["generation_config.json"]:
        (st_dir / extra).unlink(missing_ok=True)
    shutil.copy(src / "config.json", st_dir / "config.json")
    bin_dir.mkdir(parents=True)
    shutil.copy(src / "config.json", bin_dir / "config.json")
    shards, current, size = [], collections.OrderedDict(), 0
    for name, t in model.state_dict().items():
        nbytes = t.numel() * t.element_size()
        if current and size + nbytes > 40_000:
            shards.append(current)
            current, size = collections.OrderedDict(), 0
        current[name] = t
        size += nbytes
    shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        torch.save(shard, bin_dir / file)
        for name, t in shard.items():
            weight_map[name] = file
            total += t.numel() * t.element_size()
    (bin_dir / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")
    ids = torch.tensor([[101, 7, 8, 9, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask).logits
        for d in (st_dir, bin_dir):
            again = DistilBertForSequenceClassification.from_pretrained(d).eval()
            assert torch.equal(again(input_ids=ids, attention_mask=mask).logits, want), d
    assert len(list(st_dir.glob("model-*.safetensors"))) >= 2 and len(shards) >= 2


def write_all(io_dir, golden_dir):
    io_dir.mkdir(parents=True, exist_ok=True)
    sd = mixed_state_dict()
    torch.save(sd, io_dir / "torch_mixed.bin")
    torch.save(sd, io_dir / "torch_mixed_p4.bin", pickle_protocol=4)
    save_file(contiguous_copy(sd), str(io_dir / "torch_mixed.safetensors"))
    torch.save(size1_huge_stride_state_dict(), io_dir / "torch_size1_huge_stride.bin")
    write_bad_files(io_dir)
    write_model_folder(golden_dir / "distilbert_tiny_bin")
    write_sharded_folders(golden_dir)
    # the pickles alone: seeds of fuzz/fuzz_torch_pickle.cpp
    fuzz_dir = golden_dir.parent / "fuzz"
    fuzz_dir.mkdir(parents=True, exist_ok=True)
    for name in ["torch_mixed", "torch_mixed_p4"]:
        with zipfile.ZipFile(io_dir / (name + ".bin")) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            (fuzz_dir / (name + ".pkl")).write_bytes(z.read(pkl))


def same_tensors(a, b):
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.check:
        write_all(IO, GOLDEN)
        print("wrote", IO, "and", GOLDEN / "distilbert_tiny_bin")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_all(tmp / "io", tmp / "golden")
        ok = True
        for name in ["torch_mixed.bin", "torch_mixed_p4.bin", "torch_size1_huge_stride.bin"]:
            # weights_only=False: torch's own restricted unpickler lacks protocol 4's FRAME (files made here)
            ok &= same_tensors(torch.load(IO / name, weights_only=False),
                               torch.load(tmp / "io" / name, weights_only=False))
        ok &= same_tensors(torch.load(GOLDEN / "distilbert_tiny_bin" / "pytorch_model.bin"),
                           torch.load(tmp / "golden" / "distilbert_tiny_bin" / "pytorch_model.bin"))
        print("check:", "ok" if ok else "MISMATCH")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
