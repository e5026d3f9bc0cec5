"""Property and differential tests (hypothesis, bounded so the suite stays fast).

* Random mutations of small valid files of every format give a report or a paramcount error, never anything
  else, through every reader and on to the tally and the renderers.
* For safetensors, paramcount accepts a header exactly when the safetensors library accepts it.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save

from paramcount.blob import BytesBlob
from paramcount.errors import FormatError, ParamcountError
from paramcount.formats import READERS as REGISTRY
from paramcount.formats import Format, Reader
from paramcount.formats import safetensors as st_format
from paramcount.limits import DEFAULT
from paramcount.records import Inventory
from paramcount.render import render
from paramcount.tally import tally

if TYPE_CHECKING:
    from pathlib import Path

# Health checks (generation speed, filtering, data size) depend on machine load, not on paramcount: suppressed.
QUIET = list(HealthCheck)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=QUIET)


def _seeds() -> dict[str, bytes]:
    """One small valid file per reader, written by the real writers."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    state = {**model.state_dict(), "bf16": torch.zeros(2, dtype=torch.bfloat16), "view": torch.arange(6.0)[1:4]}
    state["tied"] = state["0.weight"]
    seeds = {"safetensors": save({k: v.contiguous() for k, v in model.state_dict().items()})}
    for name, legacy in (("torchzip", False), ("legacy", True)):
        buffer = io.BytesIO()
        torch.save(state, buffer, _use_new_zipfile_serialization=not legacy)
        seeds[name] = buffer.getvalue()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    seeds["module"] = buffer.getvalue()
    header = struct.pack("<Q", 8) + b"w.weight" + struct.pack("<I2QIQ", 2, 32, 2, 0, 0)
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 3) + b"k.v" + struct.pack("<II", 4, 7) + header
    seeds["gguf"] = body + b"\0" * (-len(body) % 32) + b"\0" * 256
    return seeds


SEEDS = _seeds()
_BY_FORMAT = {reader.format: reader for reader in REGISTRY}
# Each seed goes straight to its reader, through the registry's one reader contract.
READERS: dict[str, Reader] = {
    "safetensors": _BY_FORMAT[Format.SAFETENSORS],
    "torchzip": _BY_FORMAT[Format.TORCH_ZIP],
    "legacy": _BY_FORMAT[Format.TORCH_LEGACY],
    "module": _BY_FORMAT[Format.TORCH_ZIP],
    "gguf": _BY_FORMAT[Format.GGUF],
}
# An error is one line, however long the names in the file (a mangled GGUF key once made a 4.7 MB line).
MAX_MESSAGE = 2000


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Byte flips, truncations, insertions and splices of ``data``."""
    position = st.integers(0, max(0, len(data) - 1))
    flip = st.tuples(position, st.integers(0, 255)).map(lambda m: data[: m[0]] + bytes([m[1]]) + data[m[0] + 1 :])
    cut = st.integers(0, len(data)).map(lambda n: data[:n])
    insert = st.tuples(position, st.binary(min_size=1, max_size=16)).map(lambda m: data[: m[0]] + m[1] + data[m[0] :])
    word = st.tuples(position, st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1])).map(
        lambda m: data[: m[0]] + struct.pack("<Q", m[1]) + data[m[0] + 8 :]
    )
    return st.one_of(flip, cut, insert, word)


def _outcome(reader: str, data: bytes) -> None:
    try:
        records = READERS[reader].read(BytesBlob(data, name=f"mutant.{reader}"), DEFAULT, None).records
    except ParamcountError as e:
        message = str(e)
        assert "\n" not in message and len(message) <= MAX_MESSAGE, message[:300]
        return
    report = tally(Inventory(target="mutant", tensors=tuple(records), format=reader, verdict="ok"))
    for format in ("json", "table", "csv", "markdown"):
        render(report, format)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_seeds_are_valid(reader: str) -> None:
    assert READERS[reader].read(BytesBlob(SEEDS[reader]), DEFAULT, None).records


@pytest.mark.parametrize("reader", sorted(READERS))
def test_mutants_give_a_report_or_a_paramcount_error(reader: str) -> None:
    @EXAMPLES
    @given(_mutations(SEEDS[reader]))
    def check(data: bytes) -> None:
        _outcome(reader, data)

    check()


def test_mutants_through_the_whole_cli_path(tmp_path: Path) -> None:
    """The same, through format detection, on files, via the public API."""
    import paramcount

    path = tmp_path / "mutant"

    @settings(max_examples=200, deadline=None, suppress_health_check=QUIET)
    @given(st.sampled_from(sorted(SEEDS)).flatmap(lambda name: _mutations(SEEDS[name])))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            paramcount.count(str(path)).to_dict()
        except ParamcountError as e:
            message = str(e)
        else:
            return
        assert "\n" not in message and len(message) <= MAX_MESSAGE, message[:300]

    check()


# ---- safetensors: paramcount accepts exactly what the reference accepts ----------------------------------------

OVERFLOW_THEN_ZERO = b'{"t0": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}}'
DTYPES = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "F4", "C64", "F128", "f32", "U3", ""]


@st.composite
def _headers(draw: st.DrawFn) -> bytes:
    """A safetensors file: a JSON header of plausible and implausible entries, and a data buffer."""
    count = draw(st.integers(0, 4))
    header: dict[str, Any] = {}
    offset = 0
    for i in range(count):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(st.lists(st.integers(-1, 5) | st.sampled_from([2**32, 2**63]), max_size=3))
        bits = {"F32": 32, "F16": 16, "BF16": 16, "I64": 64, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F4": 4, "C64": 64}
        size = 1
        for d in shape:
            size *= max(d, 0)
        nbytes = size * bits.get(dtype, 32) // 8 if size < 2**20 else 0
        begin = offset + draw(st.sampled_from([0, 0, 0, 1, -1]))
        end = begin + nbytes + draw(st.sampled_from([0, 0, 0, 1, -1]))
        header[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}
        offset = max(offset, end)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.sampled_from([{"format": "pt"}, {"n": 1}, [], "x"]))
    body = json.dumps(header).encode() + b" " * draw(st.integers(0, 3))
    data = b"\0" * (max(offset, 0) + draw(st.sampled_from([0, 0, 1, -1])))
    return struct.pack("<Q", len(body)) + body + data


def _reference_accepts(path: Path) -> bool:
    try:
        with safe_open(str(path), framework="numpy") as f:
            list(f.keys())
    except Exception:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=QUIET)
@given(_headers())
@example(struct.pack("<Q", 2) + b"{}")
@example(struct.pack("<Q", 100_000_001) + b"{}")
@example(  # found by this test: an intermediate product that overflows, then a 0 (the reference refuses it)
    struct.pack("<Q", len(OVERFLOW_THEN_ZERO)) + OVERFLOW_THEN_ZERO
)
def test_paramcount_accepts_exactly_what_safetensors_accepts(data: bytes) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.safetensors"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = _reference_accepts(path)
        try:
            st_format.read_header(BytesBlob(data, name=str(path)))
            accepted = True
        except FormatError:
            accepted = False
    assert accepted == expected, data[:300]


def test_pickle_round_trip_of_plain_values() -> None:
    """The inert evaluator rebuilds plain pickled values exactly (no globals involved)."""
    from paramcount.formats._pickle import Allowlist, evaluate

    def values(protocol: int) -> st.SearchStrategy[Any]:
        # bytes pickle as a call of _codecs.encode before protocol 3: a global, so not a plain value there
        plain: list[st.SearchStrategy[Any]] = [st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False)]
        plain.append(st.text())
        if protocol >= 3:
            plain.append(st.binary())
        leaves = st.one_of(plain)
        return st.recursive(
            leaves,
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=5), inner, max_size=4)
                | st.tuples(inner, inner)
            ),
            max_leaves=20,
        )

    @settings(max_examples=200, deadline=None, suppress_health_check=QUIET)
    @given(st.integers(0, 5).flatmap(lambda protocol: st.tuples(values(protocol), st.just(protocol))))
    def check(case: tuple[Any, int]) -> None:
        value, protocol = case
        result = evaluate(pickle.dumps(value, protocol=protocol), Allowlist(frozenset()))
        assert result.root == value
        assert result.unsafe == ()

    check()


def test_invalid_escapes_in_protocol_0_strings_do_not_warn() -> None:
    """Found by the mutation test: pickletools warns (DeprecationWarning) on "\\o"; the evaluator must not."""
    from paramcount.formats._pickle import Allowlist, evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate(b"S'\\o'\n.", Allowlist(frozenset())).root == "\\o"
