"""Hostile files of the shapes issue 18 found unbounded: paramcount must answer each in <= 5 s and <= 1 GB.

Each file is built here (nothing is downloaded), then counted by the ``paramcount`` command as a user runs it:
best wall time of N runs, the process's peak RSS, and its exit code and error line (3: a limit named, 4: unsafe;
0 for the one file that is a valid, if wasteful, checkpoint).
Beside it, the real loader a user would otherwise run on the file, ``torch.load(weights_only=True)`` (or
``safetensors``' and ``gguf``'s readers), in its own process with the same 5 s and a 4 GB address-space cap, for
scale: how long it takes to refuse or load the same bytes.

The shapes:

* ``zip-three-bombs``: a 58 KB torch zip of three deflated pickles, each a 20-million-opcode stream;
* ``zip-thousand-pickles``: a 19 MB zip of 1,000 deflated 20-million-opcode pickles;
* ``pickle-20mb-*``: 20 MB pickles built to be expensive to evaluate (container items, globals, calls, memo
  entries, stack, strings, protocol-0 text arguments, the evaluator's longest branches, one big state given to an
  instance again and again);
* ``pickle-200mb-wide-strings``: 200 strings of 1 MB, each with one emoji (4 bytes a character once decoded);
* ``zip-two-250mb-pickles``: a torch zip of two stored 250 MB pickles of memoized byte strings;
* ``safetensors-1.2m-entries``: a 70 MB safetensors header listing 1.2 million zero-size tensors;
* ``gguf-6m-keys``: a 126 MB GGUF file declaring 6 million metadata keys.

Run: ``.venv/bin/python benchmarks/bench_hostile.py [--repeats N] [--only NAME,...] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from measure import CHILD_ENV, paramcount_cli, python

SECONDS, MEGABYTES = 5.0, 1024.0  # the bar, per file

# 20 MB pickles, each built to cost the evaluator something different.
PICKLES = {
    # APPEND of a small int into one list: container items
    "items": b"\x80\x04]" + b"K\x01a" * (20_000_000 // 3) + b".",
    # GLOBAL then POP: globals recorded
    "globals": b"\x80\x04" + b"cbuiltins\nset\n0" * (20_000_000 // 15) + b"N.",
    # REDUCE of an allowlisted callable: calls recorded
    "calls": b"\x80\x04cbuiltins\nset\n\x94" + b"h\x00)R0" * (20_000_000 // 5) + b"N.",
    # MEMOIZE of a fresh empty list: memo entries
    "memo": b"\x80\x04" + b"]\x94" * (20_000_000 // 2) + b".",
    # MARK then empty lists: the stack
    "stack": b"\x80\x04(" + b"]" * 20_000_000 + b"l.",
    # a 64 KB string, memoized, popped, again: bytes copied
    "strings": b"\x80\x04" + (b"\x8d" + struct.pack("<Q", 65_536) + b"x" * 65_536 + b"\x940") * 300 + b"N.",
    # protocol-0 text arguments parsed the slow way: a LONG, a hex INT, a FLOAT with an exponent, a quoted STRING
    "text-long": b"\x80\x02" + b"L1L\n0" * (20_000_000 // 5) + b"N.",
    "text-hex": b"\x80\x02" + b"I0x1\n0" * (20_000_000 // 6) + b"N.",
    "text-float": b"\x80\x02" + b"F1e5\n0" * (20_000_000 // 6) + b"N.",
    "text-string": b"\x80\x02" + b"S'\\x41'\n0" * (20_000_000 // 9) + b"N.",
    # a dict item set, a set item added, an OBJ call: the longest branches of the evaluator
    "setitems": b"\x80\x04}" + b"NNs" * (20_000_000 // 3) + b".",
    "additems": b"\x80\x04\x8f" + b"(N\x90" * (20_000_000 // 3) + b".",
    "obj": b"\x80\x04cbuiltins\nset\n\x94" + b"(h\x00o0" * (20_000_000 // 5) + b"N.",
    # a tuple of two copies of the last one, over and over: a DAG that doubles
    "dag": b"\x80\x04N" + b"\x94h\x00\x86" * 4 + b"\x94" + b"(h\x00h\x00t\x94" * (20_000_000 // 8) + b".",
    # an OrderedDict of a million copies of one pair, given as the state of one instance 6 million times
    "build-states": b"\x80\x04ccollections\nOrderedDict\n](X\x01\x00\x00\x00aK\x01\x86q\x01"
    + b"h\x01" * 999_999
    + b"e\x85Rq\x02cargparse\nNamespace\n)\x81"
    + b"h\x02b" * ((20_000_000 - 2_000_000) // 3)
    + b".",
    # an instance of a class whose __setstate__ is unsafe, given an empty state 10 million times
    "build-unsafe": b"\x80\x04ctorch.optim.sgd\nSGD\n)\x81" + b"Nb" * ((20_000_000 - 30) // 2) + b".",
}


def zip_three_bombs(folder: Path) -> Path:
    """Three deflated 20-million-opcode pickles in a torch zip: about 58 KB on disk."""
    path = folder / "three-bombs.pt"
    stream = b"\x80\x04" + b"N0" * 10_000_000 + b"N."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in ("archive/data.pkl", "archive/extra.pkl", "archive/more.pkl"):
            archive.writestr(name, stream)
        archive.writestr("archive/version", b"3\n", compress_type=zipfile.ZIP_STORED)
    return path


def zip_thousand_pickles(folder: Path) -> Path:
    """1,000 deflated 20-million-opcode pickles: about 19 MB on disk, 20 GB inflated."""
    path = folder / "thousand.pt"
    stream = b"\x80\x04" + b"N0" * 10_000_000 + b"N."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("archive/data.pkl", stream)
        for i in range(999):
            archive.writestr(f"archive/member{i}.pkl", stream)
        archive.writestr("archive/version", b"3\n", compress_type=zipfile.ZIP_STORED)
    return path


def zip_two_big_pickles(folder: Path) -> Path:
    """Two stored 250 MB pickles of memoized 1 MB byte strings: the most a stored pickle can make paramcount hold."""
    path = folder / "two-big.pt"
    unit = b"B" + struct.pack("<I", 2**20) + b"x" * 2**20 + b"\x94"
    stream = b"\x80\x04" + unit * 250 + b"N."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", stream)
        archive.writestr("archive/other.pkl", stream)
        archive.writestr("archive/version", b"3\n")
    return path


def safetensors_entries(folder: Path) -> Path:
    """A safetensors header of 1.2 million zero-size tensors (about 70 MB)."""
    path = folder / "entries.safetensors"
    entry = '"t%07d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    header = ("{" + ",".join(entry % i for i in range(1_200_000)) + "}").encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
    return path


def gguf_keys(folder: Path) -> Path:
    """A GGUF file declaring 6 million metadata keys, each a short string key and a uint8 value (about 126 MB)."""
    path = folder / "keys.gguf"
    keys = 6_000_000
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, keys))
        record = b"".join(struct.pack("<Q", 11) + b"k%010d" % i + struct.pack("<IB", 0, 1) for i in range(100_000))
        for _ in range(keys // 100_000):
            f.write(record)  # the same 100,000 names repeated: duplicates a reader must also survive
    return path


def files(folder: Path) -> dict[str, Path]:
    built = {"zip-three-bombs": zip_three_bombs(folder), "zip-thousand-pickles": zip_thousand_pickles(folder)}
    for name, data in PICKLES.items():
        path = folder / f"{name}.pkl"
        path.write_bytes(data)
        built[f"pickle-20mb-{name}"] = path
    wide = b"\x8d" + struct.pack("<Q", 2**20 + 4) + b"a" * 2**20 + "\U0001f600".encode() + b"\x94"
    (folder / "wide.pkl").write_bytes(b"\x80\x04" + wide * 200 + b"N.")
    built["pickle-200mb-wide-strings"] = folder / "wide.pkl"
    built["zip-two-250mb-pickles"] = zip_two_big_pickles(folder)
    built["safetensors-1.2m-entries"] = safetensors_entries(folder)
    built["gguf-6m-keys"] = gguf_keys(folder)
    return built


LOADER = """
import resource, signal, sys, time
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
signal.alarm(int(sys.argv[2]))
path = sys.argv[1]
start = time.perf_counter()
try:
    if path.endswith(".safetensors"):
        from safetensors import safe_open
        with safe_open(path, framework="numpy") as f:
            list(f.keys())
    elif path.endswith(".gguf"):
        import gguf
        gguf.GGUFReader(path)
    else:
        import torch
        torch.load(path, weights_only=True)
    outcome = "loaded"
except BaseException as e:
    outcome = type(e).__name__
print(f"{outcome} {time.perf_counter() - start:.2f}")
"""


def measure(argv: list[str], timeout: float) -> tuple[float, float, int, str, str]:
    """Wall time, peak RSS (MB), exit code, last stderr line and stdout of one run."""
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=CHILD_ENV, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return timeout, float("nan"), -9, "timed out", ""
    elapsed = time.perf_counter() - start
    lines = result.stderr.splitlines()
    kb = [line.split()[1] for line in lines if line.startswith("bench-peak-kb ")]
    peak = int(kb[-1]) / 1024 if kb else float("nan")
    said = [line for line in lines if line and not line.startswith("bench-peak-kb")]
    return elapsed, peak, result.returncode, (said[-1] if said else ""), result.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated names")
    parser.add_argument("--keep", help="build the files in this folder and keep them")
    parser.add_argument("--no-loader", action="store_true", help="skip the real loaders")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hostile-"))
    folder.mkdir(parents=True, exist_ok=True)
    built = files(folder)
    wanted = args.only.split(",") if args.only else list(built)
    rows, failures = [], []
    for name in wanted:
        path = built[name]
        runs = [measure(paramcount_cli("count", str(path)), 120) for _ in range(args.repeats)]
        best = min(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        code, line = runs[-1][2], runs[-1][3]
        loader = ""
        if not args.no_loader:
            elapsed, _, _, _, said = measure(python(LOADER, str(path), "5"), 30)
            loader = said or f"killed after {elapsed:.1f} s"
        ok = best <= SECONDS and peak <= MEGABYTES and code in (0, 3, 4)
        if not ok:
            failures.append(name)
        megabytes = os.path.getsize(path) / 2**20
        rows.append((name, f"{megabytes:.2f} MB", f"{best:.2f} s", f"{peak:.0f} MB", str(code), loader, line[:150]))
        keys = ("file", "size", "time", "peak", "exit", "real loader", "error")
        print(json.dumps(dict(zip(keys, rows[-1], strict=True))))
    print()
    print("| file | size | paramcount time | peak RSS | exit | real loader (outcome, s) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, size, best_s, peak_s, code_s, loader, _ in rows:
        print(f"| {name} | {size} | {best_s} | {peak_s} | {code_s} | {loader} |")
    print(f"\nbar: <= {SECONDS:.0f} s and <= {MEGABYTES:.0f} MB each, exit 0, 3 or 4; failing: {failures or 'none'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
