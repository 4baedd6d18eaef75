#!/usr/bin/env python3
"""Writes tests/data/golden/tensorboard/events.golden with TensorBoard's own writer, and reads
event files written by tinyxf with TensorBoard's own reader.

    /opt/tb-venv/bin/python tests/reference/make_tensorboard_golden.py            # (re)write the golden
    /opt/tb-venv/bin/python tests/reference/make_tensorboard_golden.py --check    # verify it, write nothing
    /opt/tb-venv/bin/python tests/reference/make_tensorboard_golden.py --read DIR # load a tinyxf log dir

Needs only `pip install tensorboard` (no TensorFlow, no torch). The golden holds the events that
tests/train/tensorboard_test.cpp writes with tinyxf::train::TensorBoardWriter (same wall times,
steps, tags, values): the test compares the bytes. The text event is built as
torch.utils.tensorboard's add_text builds it (Hugging Face's TensorBoardCallback logs its
arguments that way). --read runs EventAccumulator (what `tensorboard --logdir` uses) over a
directory and prints every scalar and text it finds; it fails if there are none.
Deterministic and idempotent.
"""
import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden" / "tensorboard" / "events.golden"

WALL_TIME_0 = 1700000000.25  # the test's clock: WALL_TIME_0 + number of earlier events
SCALARS = [  # (tag, value, step), in the order the test writes them
    ("train/loss", 0.6931, 10),
    ("train/learning_rate", 5e-05, 10),
    ("train/epoch", 0.5, 10),
    ("eval/accuracy", 0.0, 20),  # a zero inside the oneof is still written
    ("train/grad_norm", 1.75, 0),  # step 0 is proto3's default: not written
]
TEXT = ("args", '{"learning_rate": 5e-05, "note": "caf\u00e9"}')


def text_summary(tag, text):
    # torch.utils.tensorboard.summary.text
    plugin_data = summary_pb2.SummaryMetadata.PluginData(plugin_name="text", content=b"")
    metadata = summary_pb2.SummaryMetadata(plugin_data=plugin_data)
    tensor = tensor_pb2.TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode("utf-8")],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)])


def golden_bytes():
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    clock = iter(WALL_TIME_0 + i for i in range(100))
    writer.write(event_pb2.Event(wall_time=next(clock), file_version="brain.Event:2").SerializeToString())
    for tag, value, step in SCALARS:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.write(event_pb2.Event(wall_time=next(clock), step=step, summary=summary).SerializeToString())
    writer.write(event_pb2.Event(wall_time=next(clock), step=0, summary=text_summary(*TEXT)).SerializeToString())
    return buf.getvalue()


def read_dir(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    found = 0
    for tag in tags.get("scalars", []):
        for e in acc.Scalars(tag):
            print(f"scalar {tag} step {e.step} value {e.value!r}")
            found += 1
    for tag in tags.get("tensors", []):
        for e in acc.Tensors(tag):
            print(f"tensor {tag} step {e.step} {[s.decode('utf-8') for s in e.tensor_proto.string_val]!r}")
            found += 1
    if not found:
        sys.exit(f"no scalars or tensors found under {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--read", metavar="DIR")
    a = ap.parse_args()
    if a.read:
        read_dir(a.read)
        return
    data = golden_bytes()
    if a.check:
        if GOLDEN.read_bytes() != data:
            sys.exit(f"{GOLDEN} differs from what TensorBoard writes")
        print(f"{GOLDEN}: ok ({len(data)} bytes)")
        return
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(data)
    print(f"wrote {GOLDEN} ({len(data)} bytes)")
    with tempfile.TemporaryDirectory() as tmp:  # the reader only opens files named *tfevents*
        shutil.copy(GOLDEN, Path(tmp) / "events.out.tfevents.golden")
        read_dir(tmp)


if __name__ == "__main__":
    main()
