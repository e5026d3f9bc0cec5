"""DCP checkpoints and model folders gone wrong (reference/formats.md 9, #53-#54, #15-#16)."""

from __future__ import annotations

import atexit
import functools
import json
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.corpus import CANARY, Case
from tests.crafted import torch_zip
from tests.test_dcp import (
    beyond_file,
    escape_path,
    huge_offset,
    nul_in_path,
    outside_size,
    overlap_chunks,
    save,
    shrink_chunk,
    tamper,
)
from tests.test_unsafe import payloads

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch.distributed.checkpoint.metadata import Metadata


@functools.cache
def _base() -> Path:
    """One real DCP checkpoint per process, copied into each case (dcp.save takes a while); removed at exit."""
    parent = tempfile.mkdtemp(prefix="paramcount-corpus-dcp-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    folder = Path(parent) / "ckpt"
    save(folder)
    return folder


def _copy(folder: Path) -> Path:
    target = folder / "ckpt"
    shutil.copytree(_base(), target)
    return target


def _tampered(change: Callable[[Metadata], None]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        target = _copy(folder)
        tamper(target, change)
        return str(target)

    return build


def _metadata(data: bytes) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        target = _copy(folder)
        (target / ".metadata").write_bytes(data)
        return str(target)

    return build


def _os_system(folder: Path) -> str:
    target = _copy(folder)
    (target / ".metadata").write_bytes(b"\x80\x04cos\nsystem\n(S'touch " + str(folder / CANARY).encode() + b"'\ntR.")
    return str(target)


def _no_data(folder: Path) -> str:
    target = _copy(folder)
    for data in target.glob("*.distcp"):
        data.unlink()
    return str(target)


def _data_linked_out(folder: Path) -> str:
    target = _copy(folder)
    for data in target.glob("*.distcp"):
        data.rename(folder / data.name)
        data.symlink_to(folder / data.name)
    return str(target)


def _metadata_linked_out(folder: Path) -> str:
    target = _copy(folder)
    (target / ".metadata").rename(folder / "elsewhere")
    (target / ".metadata").symlink_to(folder / "elsewhere")
    return str(target)


def _truncated_metadata(folder: Path) -> str:
    target = _copy(folder)
    data = (target / ".metadata").read_bytes()
    (target / ".metadata").write_bytes(data[: len(data) // 2])
    return str(target)


def _drop_storage(metadata: Any) -> None:
    metadata.storage_data.clear()


def _model_folder(files: dict[str, bytes | Callable[[Path], bytes]]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        model = folder / "model"
        model.mkdir()
        for name, data in files.items():
            (model / name).write_bytes(data(folder) if callable(data) else data)
        return str(model)

    return build


def _evil_bin(folder: Path) -> bytes:
    path = torch_zip(folder / "evil.bin", payloads(folder / CANARY)["global-os-system"], {})
    return path.read_bytes()


def _linked_out(name: str) -> Callable[[Path], str]:
    """A model folder whose ``name`` is a symlink to a file outside it."""

    def build(folder: Path) -> str:
        model = folder / "model"
        model.mkdir()
        (folder / "elsewhere").write_bytes(b"{}" if name.endswith(".json") else b"\x02" + bytes(7) + b"{}")
        (model / name).symlink_to(folder / "elsewhere")
        if name != "model.safetensors":
            (model / "model.safetensors").write_bytes(b"\x02" + bytes(7) + b"{}")
        return str(model)

    return build


def cases() -> list[Case]:
    config = json.dumps({"model_type": "gpt2", "tie_word_embeddings": True}).encode()
    return [
        Case("dcp-chunk-gap", "dcp", _tampered(shrink_chunk), 3, rule="dcp-chunks"),
        Case("dcp-chunk-overlap", "dcp", _tampered(overlap_chunks), 3, rule="dcp-chunks"),
        Case("dcp-chunk-outside-size", "dcp", _tampered(outside_size), 3, rule="dcp-chunks"),
        Case("dcp-path-escape", "dcp", _tampered(escape_path), 3, rule="dcp-path"),
        Case("dcp-path-nul", "dcp", _tampered(nul_in_path), 3, rule="dcp-path"),
        Case("dcp-huge-offset", "dcp", _tampered(huge_offset), 3, rule="dcp-metadata"),
        Case("dcp-beyond-file", "dcp", _tampered(beyond_file), 3, rule="dcp-storage"),
        Case("dcp-no-storage-entries", "dcp", _tampered(_drop_storage), 3, rule="dcp-storage"),
        Case("dcp-missing-data-file", "dcp", _no_data, 3, rule="dcp-storage"),
        Case("dcp-data-linked-out", "dcp", _data_linked_out, 3, rule="dcp-path"),
        Case("dcp-metadata-linked-out", "dcp", _metadata_linked_out, 3, rule="folder-path"),
        Case("dcp-metadata-truncated", "dcp", _truncated_metadata, 3, rule="pickle"),
        Case("dcp-metadata-empty", "dcp", _metadata(b""), 3, rule="pickle"),
        Case("dcp-metadata-not-metadata", "dcp", _metadata(pickle.dumps({"a": 1}, protocol=4)), 3, rule="dcp-metadata"),
        Case("dcp-metadata-json", "dcp", _metadata(b'{"state_dict_metadata": {}}'), 3, rule="pickle"),
        Case("dcp-metadata-os-system", "dcp", _os_system, 4, malicious=True),
        Case("folder-two-weight-files", "dcp", _model_folder({"a.bin": b"x", "b.safetensors": b"y"}), 3),
        Case(
            "folder-malicious-bin",
            "dcp",
            _model_folder({"config.json": config, "pytorch_model.bin": _evil_bin}),
            4,
            malicious=True,
        ),
        Case(
            "folder-bin-index-to-malicious-shard",
            "dcp",
            _model_folder(
                {
                    "pytorch_model.bin.index.json": json.dumps({"weight_map": {"w": "shard.bin"}}).encode(),
                    "shard.bin": _evil_bin,
                }
            ),
            4,
            malicious=True,
        ),
        Case("folder-weights-linked-out", "dcp", _linked_out("model.safetensors"), 3, rule="folder-path"),
        Case("folder-config-linked-out", "dcp", _linked_out("config.json"), 3, rule="folder-path"),
        Case("folder-index-linked-out", "dcp", _linked_out("model.safetensors.index.json"), 3, rule="folder-path"),
        Case(
            "folder-garbage-weights", "dcp", _model_folder({"config.json": config, "pytorch_model.bin": b"\0" * 64}), 3
        ),
    ]
