"""safetensors files and indexes that break a rule (reference/formats.md 9, #1-#16)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from tests.corpus import Case
from tests.test_safetensors import MALFORMED, f32, raw

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

GOOD_A = raw({"a": f32([2], 0, 8)}, b"\0" * 8)
GOOD_B = raw({"b": f32([3], 0, 12)}, b"\0" * 12)


def _file(data: bytes, name: str = "model.safetensors") -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)

    return build


def _index(
    index: Any, *, shards: dict[str, bytes] | None = None, extra: Callable[[Path], None] | None = None
) -> Callable[[Path], str]:
    """A model folder with the given index document (or raw bytes) and shard files."""

    def build(folder: Path) -> str:
        model = folder / "model"
        model.mkdir()
        for name, data in (
            shards if shards is not None else {"s1.safetensors": GOOD_A, "s2.safetensors": GOOD_B}
        ).items():
            (model / name).write_bytes(data)
        body = index if isinstance(index, bytes) else json.dumps(index).encode()
        (model / "model.safetensors.index.json").write_bytes(body)
        if extra is not None:
            extra(folder)
        return str(model)

    return build


def _outside(folder: Path) -> None:
    (folder / "outside.safetensors").write_bytes(GOOD_B)


def _link_out(folder: Path) -> None:
    (folder / "outside.safetensors").write_bytes(GOOD_B)
    (folder / "model" / "s2.safetensors").unlink()
    (folder / "model" / "s2.safetensors").symlink_to(folder / "outside.safetensors")


def _sparse_json(folder: Path) -> None:
    path = folder / "model" / "model.safetensors.index.json"
    with path.open("r+b") as f:
        f.truncate(65 * 2**20)  # over json-bytes, as a hole


def _bad_config(folder: Path) -> None:
    (folder / "model" / "config.json").write_text("{not json")


OK_MAP = {"a": "s1.safetensors", "b": "s2.safetensors"}


def cases() -> list[Case]:
    found = [Case(f"st-{name}", "safetensors", _file(data), 3, rule=rule) for name, data, rule in MALFORMED]
    entry = json.dumps(f32([1], 0, 4)).encode()
    found += [
        Case(  # the reference keeps the last entry of a name; the first held the bytes at 0: a gap it refuses
            "st-duplicate-key-gap",
            "safetensors",
            _file(raw(b'{"a": ' + entry + b', "a": ' + json.dumps(f32([1], 4, 8)).encode() + b"}", b"\0" * 8)),
            3,
            rule="offsets",
        ),
        Case(
            "st-overflow-then-zero",  # found by the differential test
            "safetensors",
            _file(raw({"a": {"dtype": "F32", "shape": [2**32, 2**32, 0], "data_offsets": [0, 0]}})),
            3,
            rule="overflow",
        ),
        Case("st-named-safetensors-but-garbage", "safetensors", _file(b"\x00garbage" * 4), 3),
        Case(
            "st-dims-over-limit",
            "safetensors",
            _file(raw({"a": f32([1] * 65, 0, 4)}, b"\0" * 4)),
            3,
            rule="limit-dimensions",
        ),
        Case(
            "index-dotdot",
            "safetensors",
            _index({"weight_map": {"a": "s1.safetensors", "b": "../outside.safetensors"}}, extra=_outside),
            3,
            rule="index-path",
        ),
        Case("index-absolute", "safetensors", _index({"weight_map": {"a": "/etc/passwd"}}), 3, rule="index-path"),
        Case(
            "index-nul-shard",
            "safetensors",
            _index({"weight_map": {"a": "model\u0000.safetensors"}}),
            3,
            rule="index-path",
        ),
        Case("index-symlink-out", "safetensors", _index({"weight_map": OK_MAP}, extra=_link_out), 3, rule="index-path"),
        Case("index-missing-shard", "safetensors", _index({"weight_map": {**OK_MAP, "c": "s3.safetensors"}}), 3),
        Case(
            "index-tensor-in-two-shards",
            "safetensors",
            _index(
                {"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}},
                shards={"s1.safetensors": GOOD_A, "s2.safetensors": GOOD_A},
            ),
            3,
            rule="index-duplicate",
        ),
        Case(
            "index-wrong-shard",
            "safetensors",
            _index({"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors"}}),
            3,
            rule="index-shard",
        ),
        Case(
            "index-listed-but-absent",
            "safetensors",
            _index({"weight_map": {**OK_MAP, "z": "s1.safetensors"}}),
            3,
            rule="index-missing",
        ),
        Case("index-no-weight-map", "safetensors", _index({"metadata": {}}), 3, rule="index"),
        Case("index-weight-map-list", "safetensors", _index({"weight_map": ["a", "b"]}), 3, rule="index"),
        Case("index-values-not-strings", "safetensors", _index({"weight_map": {"a": 1}}), 3, rule="index"),
        Case("index-not-json", "safetensors", _index(b"{weight_map: nope"), 3, rule="json"),
        Case("index-deep-json", "safetensors", _index(b'{"weight_map": ' + b"[" * 100_000), 3, rule="json"),
        Case("index-bad-utf8", "safetensors", _index(b'{"weight_map": {"\xff": "s1.safetensors"}}'), 3, rule="json"),
        Case(
            "index-over-json-limit",
            "safetensors",
            _index({"weight_map": OK_MAP}, extra=_sparse_json),
            3,
            rule="limit-json-bytes",
        ),
        Case(
            "index-malformed-shard",
            "safetensors",
            _index({"weight_map": OK_MAP}, shards={"s1.safetensors": GOOD_A, "s2.safetensors": GOOD_B[:-1]}),
            3,
            rule="incomplete",
        ),
        Case("folder-bad-config", "safetensors", _index({"weight_map": OK_MAP}, extra=_bad_config), 3, rule="json"),
    ]
    if os.name != "posix":  # pragma: no cover
        found = [c for c in found if "symlink" not in c.name]
    return found
