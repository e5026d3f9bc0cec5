"""GGUF v2/v3: files from the gguf writer checked against gguf-py's reader; llama.cpp's rules on crafted files."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import paramcount
from paramcount.errors import FormatError
from tests.messages import error_line

if TYPE_CHECKING:
    from pathlib import Path

gguf = pytest.importorskip("gguf")


def written(path: Path) -> Path:
    """A small llama-like file with plain and quantized tensors, written by the gguf writer."""
    q = gguf.GGMLQuantizationType
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a"])
    writer.add_array("tokenizer.ggml.scores", [0.0, 0.5, 1.0])
    writer.add_tensor("token_embd.weight", np.zeros((3, 64), dtype=np.float16))
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 2 * 18), dtype=np.uint8), raw_dtype=q.Q4_0)
    writer.add_tensor("blk.0.attn_k.weight", np.zeros((64, 2 * 34), dtype=np.uint8), raw_dtype=q.Q8_0)
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((4, 144), dtype=np.uint8), raw_dtype=q.Q4_K)
    writer.add_tensor("blk.0.ffn_down.weight", np.zeros((4, 210), dtype=np.uint8), raw_dtype=q.Q6_K)
    writer.add_tensor("output_norm.weight", np.zeros(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_counts_match_gguf_py(tmp_path: Path) -> None:
    path = written(tmp_path / "model.gguf")
    reader = gguf.GGUFReader(str(path))
    report = paramcount.count(str(path))
    assert report.format == "gguf"
    assert (
        report.parameters.total
        == sum(int(t.n_elements) for t in reader.tensors)
        == 3 * 64 + 64 * 64 * 2 + 2 * 4 * 256 + 64
    )
    assert report.to_dict()["tensors"]["bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    by_dtype = {row.dtype: (row.parameters, row.parameter_bytes) for row in report.by_dtype}
    assert by_dtype["Q4_0"] == (64 * 64, 64 * 2 * 18)
    assert by_dtype["Q6_K"] == (4 * 256, 4 * 210)
    assert by_dtype["float16"] == (3 * 64, 3 * 64 * 2)


def test_version_2_reads_like_version_3(tmp_path: Path) -> None:
    data = bytearray(written(tmp_path / "v3.gguf").read_bytes())
    data[4:8] = struct.pack("<I", 2)
    (tmp_path / "v2.gguf").write_bytes(bytes(data))
    assert paramcount.count(str(tmp_path / "v2.gguf")).parameters.total == 3 * 64 + 64 * 64 * 2 + 2 * 4 * 256 + 64


def test_time_does_not_depend_on_data_size(tmp_path: Path) -> None:
    """A 64 GiB sparse file reads only its header: the count comes back without touching the data."""
    header = build([("big.weight", [2**20, 2**14], 0, 0)], data=0)
    path = tmp_path / "big.gguf"
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + 2**34 * 4)
    assert paramcount.count(str(path)).parameters.total == 2**34


# ---- crafted files -----------------------------------------------------------------------------------------------


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def build(
    tensors: list[tuple[str, list[int], int, int]],
    kv: list[bytes] | None = None,
    *,
    version: int = 3,
    magic: bytes = b"GGUF",
    alignment: int = 32,
    data: int | None = None,
    counts: tuple[int, int] | None = None,
) -> bytes:
    """A GGUF file from (name, ne, type, offset) tensor infos and raw key-value records; data zero-filled."""
    kv = kv or []
    n_tensors, n_kv = counts or (len(tensors), len(kv))
    out = magic + struct.pack("<IQQ", version, n_tensors, n_kv) + b"".join(kv)
    for name, ne, kind, offset in tensors:
        out += (
            s(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", kind, offset)
        )
    out += b"\0" * (-len(out) % alignment)
    if data is None:
        sizes = {0: 4, 1: 2}
        data = sum(-(-int(np.prod(ne)) * sizes.get(kind, 1) // alignment) * alignment for _, ne, kind, _ in tensors)
    return out + b"\0" * data


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<II", 4, value)


GOOD = [("a.weight", [8, 2], 0, 0), ("b.weight", [4], 0, 64)]

CASES: list[tuple[str, Any, str]] = [
    ("bad-magic", lambda: build(GOOD, magic=b"GGUG"), "gguf-magic"),
    ("version-0", lambda: build(GOOD, version=0), "gguf-version"),
    ("version-1", lambda: build(GOOD, version=1), "gguf-version"),
    ("version-99", lambda: build(GOOD, version=99), "gguf-version"),
    ("byte-swapped", lambda: build(GOOD, version=3 << 24), "gguf-version"),
    ("tensor-count-2^40", lambda: build(GOOD, counts=(2**40, 0)), "gguf-count"),
    ("kv-count-2^40", lambda: build(GOOD, counts=(2, 2**40)), "gguf-count"),
    ("string-2^62", lambda: build(GOOD, [struct.pack("<Q", 2**62) + b"abc"]), "limit-gguf-string-bytes"),
    ("string-past-end", lambda: build(GOOD, [struct.pack("<Q", 10**6) + b"abc"]), "gguf-truncated"),
    ("array-2^40", lambda: build(GOOD, [s("k") + struct.pack("<IIQ", 9, 8, 2**40)]), "limit-gguf-array-elements"),
    ("array-past-end", lambda: build(GOOD, [s("k") + struct.pack("<IIQ", 9, 4, 10**8)]), "gguf-truncated"),
    ("nested-array", lambda: build(GOOD, [s("k") + struct.pack("<IIQ", 9, 9, 1)]), "gguf-array"),
    ("unknown-value-type", lambda: build(GOOD, [s("k") + struct.pack("<I", 13)]), "gguf-value"),
    # a mangled file once printed its 4.7 MB key whole on one error line
    ("huge-key", lambda: build(GOOD, [s("k" * 4_700_000) + struct.pack("<I", 13)]), "gguf-value"),
    ("empty-key", lambda: build(GOOD, [kv_u32("", 1)]), "gguf-key"),
    ("duplicate-key", lambda: build(GOOD, [kv_u32("k", 1), kv_u32("k", 2)]), "gguf-key"),
    ("alignment-0", lambda: build(GOOD, [kv_u32("general.alignment", 0)]), "gguf-alignment"),
    ("alignment-3", lambda: build(GOOD, [kv_u32("general.alignment", 3)]), "gguf-alignment"),
    ("alignment-not-u32", lambda: build(GOOD, [s("general.alignment") + struct.pack("<Iq", 11, 32)]), "gguf-alignment"),
    ("five-dims", lambda: build([("a", [1, 1, 1, 1, 2], 0, 0)]), "gguf-dims"),
    ("dims-overflow", lambda: build([("a", [2**63 + 5], 0, 0)], data=0), "gguf-dims"),
    ("product-overflow", lambda: build([("a", [2**32, 2**32], 0, 0)], data=0), "gguf-dims"),
    ("removed-type-4", lambda: build([("a", [32], 4, 0)]), "gguf-type"),
    ("removed-type-31", lambda: build([("a", [32], 31, 0)]), "gguf-type"),
    ("unknown-type-99", lambda: build([("a", [32], 99, 0)]), "gguf-type"),
    ("q4_0-row-33", lambda: build([("a", [33, 1], 2, 0)]), "gguf-block"),
    ("duplicate-name", lambda: build([("a", [8], 0, 0), ("a", [8], 0, 32)]), "gguf-name"),
    ("long-name", lambda: build([("n" * 64, [8], 0, 0)]), "gguf-name"),
    ("overlap", lambda: build([("a", [16], 0, 0), ("b", [8], 0, 32)]), "gguf-offset"),
    ("misaligned", lambda: build([("a", [8], 0, 0), ("b", [8], 0, 33)]), "gguf-offset"),
    ("out-of-order", lambda: build([("a", [8], 0, 32), ("b", [8], 0, 0)]), "gguf-offset"),
    ("gap", lambda: build([("a", [8], 0, 0), ("b", [8], 0, 64)]), "gguf-offset"),
    ("past-eof", lambda: build(GOOD, data=65), "gguf-truncated"),
    ("truncated-header", lambda: build(GOOD)[:60], "gguf-truncated"),
    ("counts-beyond-size", lambda: build(GOOD)[:30], "gguf-count"),
    ("empty-after-magic", lambda: b"GGUF", "gguf-truncated"),
]


@pytest.mark.parametrize(("make", "rule"), [(make, rule) for _, make, rule in CASES], ids=[c[0] for c in CASES])
def test_llama_cpp_rules(tmp_path: Path, make: Any, rule: str) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(make())
    with pytest.raises(FormatError, match=error_line(path)) as caught:
        paramcount.count(str(path))
    assert caught.value.rule == rule
    assert caught.value.exit_code == 3


def test_the_crafted_baseline_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(build(GOOD, [kv_u32("general.alignment", 32)]))
    assert paramcount.count(str(path)).parameters.total == 16 + 4
    reader = gguf.GGUFReader(str(path))
    assert sum(int(t.n_elements) for t in reader.tensors) == 20
