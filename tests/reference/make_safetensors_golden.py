"""Golden safetensors files for the C++ reader/writer interop tests (tests/io/safetensors_test.cpp).

Needs the Python `safetensors` and `numpy` packages (the reference venv /opt/tinyxf-ref has them);
CI does not run this script, the tests only read the committed output.

    /opt/tinyxf-ref/bin/python tests/reference/make_safetensors_golden.py
        (re)writes tests/data/io/golden_mixed.safetensors with Python's safetensors.

    /opt/tinyxf-ref/bin/python tests/reference/make_safetensors_golden.py --check-cpp FILE
        manual check that a file written by the C++ writer loads in Python's safetensors with the
        expected values. The C++ test "safetensors: writes a file for the Python interop check"
        writes FILE to <build dir>/tests/io/cpp_written.safetensors, so after running
        tinyxf_io_tests:
        /opt/tinyxf-ref/bin/python tests/reference/make_safetensors_golden.py \
            --check-cpp build-io/tests/io/cpp_written.safetensors

Keep the values here in sync with the C++ test.
"""
import argparse
import pathlib
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "io" / "golden_mixed.safetensors"


def golden_tensors():
    """(name -> (safetensors dtype for TensorSpec, numpy array holding the stored bits))."""
    # BF16 has no numpy type: store the bit patterns of 1.0, -3.140625, 2^-7, -inf.
    bf16_bits = np.array([[0x3F80, 0xC049], [0x3C00, 0xFF80]], dtype=np.uint16)
    return {
        "weight_f32": ("float32", np.array([[0.5, -1.25, 3.0], [1e-8, -0.0, 65504.0]], dtype=np.float32)),
        "half_f16": ("float16", np.array([1.0, -2.5, 65504.0, 2.0**-24], dtype=np.float16)),
        "bf16_values": ("bfloat16", bf16_bits),
        "ids_i64": ("int64", np.array([[1, -2], [9007199254740993, -(2**63)]], dtype=np.int64)),
        "mask_bool": ("bool", np.array([True, False, True], dtype=np.bool_)),
        "scalar_i64": ("int64", np.array(42, dtype=np.int64)),
        "empty_f32": ("float32", np.zeros((0, 4), dtype=np.float32)),
    }


GOLDEN_METADATA = {"format": "pt", "producer": "tinyxf make_safetensors_golden.py"}


def write_golden():
    tensors = golden_tensors()  # keeps the arrays alive while serializing
    specs = {
        name: TensorSpec(dtype=dtype, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)
        for name, (dtype, array) in tensors.items()
    }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    safetensors.serialize_file(specs, str(GOLDEN), metadata=GOLDEN_METADATA)
    # Read it back through the reference loader before committing it.
    loaded = dict(safetensors.deserialize(GOLDEN.read_bytes()))
    for name, (_, array) in tensors.items():
        assert bytes(loaded[name]["data"]) == array.tobytes(), name
        assert loaded[name]["shape"] == list(array.shape), name
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


# What the C++ writer test stores: name -> (header dtype, numpy dtype of the bits, shape, values).
def bf16_bits(values):
    bits = np.array(values, dtype=np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


CPP_EXPECTED = {
    "bool": ("BOOL", np.bool_, [2, 2], [True, False, False, True]),
    "u8": ("U8", np.uint8, [2, 2], [0, 1, 127, 255]),
    "i8": ("I8", np.int8, [2, 2], [-128, -1, 0, 127]),
    "u16": ("U16", np.uint16, [2, 2], [0, 1, 1000, 65535]),
    "i16": ("I16", np.int16, [2, 2], [-32768, -1, 0, 32767]),
    "f16": ("F16", np.float16, [2, 2], [1.0, -2.5, 65504.0, 2.0**-24]),
    "bf16": ("BF16", np.uint16, [2, 2], bf16_bits([1.0, -3.140625, 0.0078125, -0.0])),
    "u32": ("U32", np.uint32, [2, 2], [0, 1, 123456789, 4294967295]),
    "i32": ("I32", np.int32, [2, 2], [-(2**31), -1, 0, 2**31 - 1]),
    "f32": ("F32", np.float32, [2, 2], [0.5, -1.25, 3.0e38, 1e-8]),
    "f64": ("F64", np.float64, [2, 2], [0.1, -1e300, 5e-324, 2.0]),
    "u64": ("U64", np.uint64, [2, 2], [0, 1, 2**53 + 1, 2**64 - 1]),
    "i64": ("I64", np.int64, [2, 2], [-(2**63), -1, 0, 2**63 - 1]),
    "empty": ("F32", np.float32, [0, 3], []),
    "scalar": ("I64", np.int64, [], [42]),
}
CPP_METADATA = {"format": "pt", "writer": "tinyxf"}


def check_cpp(path):
    data = pathlib.Path(path).read_bytes()
    loaded = dict(safetensors.deserialize(data))  # raises on anything the reference rejects
    problems = []
    if set(loaded) != set(CPP_EXPECTED):
        problems.append(f"tensor names {sorted(loaded)} != {sorted(CPP_EXPECTED)}")
    for name, (dtype, np_dtype, shape, values) in CPP_EXPECTED.items():
        if name not in loaded:
            continue
        entry = loaded[name]
        expected = np.array(values, dtype=np_dtype).reshape(shape)
        if entry["dtype"] != dtype or entry["shape"] != shape:
            problems.append(f"{name}: dtype/shape {entry['dtype']} {entry['shape']} != {dtype} {shape}")
        elif bytes(entry["data"]) != expected.tobytes():
            problems.append(f"{name}: bytes differ: {bytes(entry['data']).hex()} != {expected.tobytes().hex()}")
    # The numpy front end too (it has no bfloat16, so skip that tensor there).
    with safetensors.safe_open(path, framework="numpy") as handle:
        if handle.metadata() != CPP_METADATA:
            problems.append(f"metadata {handle.metadata()} != {CPP_METADATA}")
        for name, (dtype, np_dtype, shape, values) in CPP_EXPECTED.items():
            if dtype == "BF16":
                continue
            array = handle.get_tensor(name)
            if not np.array_equal(array, np.array(values, dtype=np_dtype).reshape(shape)):
                problems.append(f"{name}: numpy values {array} differ")
    if problems:
        print("C++-written file does NOT match:\n  " + "\n  ".join(problems))
        return 1
    print(f"{path}: loads in Python safetensors {safetensors.__version__}, all {len(CPP_EXPECTED)} tensors match")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-cpp", metavar="FILE", help="check a file written by the C++ writer test")
    args = parser.parse_args()
    if args.check_cpp:
        return check_cpp(args.check_cpp)
    write_golden()
    return 0


if __name__ == "__main__":
    sys.exit(main())
