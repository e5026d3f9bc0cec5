"""torch.distributed.checkpoint folders: written by dcp.save, read inertly, model separated from optimizer state,
and the chunk layout checked on metadata tampered with through torch's own classes."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from typing import TYPE_CHECKING, Any

import pytest
import torch
from torch import nn
from torch.distributed.checkpoint.filesystem import FileSystemReader
from torch.distributed.checkpoint.metadata import ChunkStorageMetadata, Metadata
from torch.distributed.checkpoint.state_dict_saver import save as dcp_save

import paramcount
from paramcount.errors import FormatError, TargetError
from tests.messages import error_line

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def save(folder: Path) -> tuple[int, int]:
    """A DCP checkpoint of a model and its Adam state; returns (model parameters, optimizer state elements)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    model_state, optimizer_state = get_state_dict(model, optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "torch.distributed is disabled ... single process"
        dcp_save({"model": model_state, "optim": optimizer_state}, checkpoint_id=str(folder))
    states: Any = optimizer_state["state"]
    moments = sum(t.numel() for state in states.values() for t in state.values())
    return sum(p.numel() for p in model.parameters()), moments


def test_model_and_optimizer_state_are_separated(tmp_path: Path) -> None:
    parameters, moments = save(tmp_path / "ckpt")
    report = paramcount.count(str(tmp_path / "ckpt"))
    assert report.format == "dcp"
    assert report.parameters.total == parameters == 4 * 8 + 8 + 8 * 3 + 3
    assert [(e.what, e.elements) for e in report.excluded] == [("optimizer-state", moments)]
    assert moments == 2 * parameters + 4
    assert report.verdict == "ok"


def tamper(folder: Path, change: Callable[[Metadata], None]) -> None:
    metadata_path = folder / ".metadata"
    metadata = FileSystemReader(str(folder)).read_metadata()  # our own trusted file
    change(metadata)
    metadata_path.write_bytes(pickle.dumps(metadata, protocol=4))


def shrink_chunk(metadata: Metadata) -> None:
    entry: Any = metadata.state_dict_metadata["model.0.weight"]
    chunk = entry.chunks[0]
    entry.chunks[0] = ChunkStorageMetadata(offsets=chunk.offsets, sizes=torch.Size([4, 4]))
    index = next(i for i in metadata.storage_data if i.fqn == "model.0.weight")
    metadata.storage_data[dataclasses.replace(index, offset=chunk.offsets)] = metadata.storage_data[index]


def overlap_chunks(metadata: Metadata) -> None:
    entry: Any = metadata.state_dict_metadata["model.0.weight"]
    a = ChunkStorageMetadata(offsets=torch.Size([0, 0]), sizes=torch.Size([5, 4]))
    b = ChunkStorageMetadata(offsets=torch.Size([3, 0]), sizes=torch.Size([3, 4]))
    index = next(i for i in metadata.storage_data if i.fqn == "model.0.weight")
    info = metadata.storage_data[index]
    entry.chunks[:] = [a, b]
    metadata.storage_data[dataclasses.replace(index, offset=a.offsets)] = info
    metadata.storage_data[dataclasses.replace(index, offset=b.offsets)] = info


def outside_size(metadata: Metadata) -> None:
    entry: Any = metadata.state_dict_metadata["model.0.weight"]
    entry.chunks[0] = ChunkStorageMetadata(offsets=torch.Size([0, 0]), sizes=torch.Size([9, 4]))


def escape_path(metadata: Metadata) -> None:
    for index, info in list(metadata.storage_data.items()):
        metadata.storage_data[index] = dataclasses.replace(info, relative_path="../outside.distcp")


def huge_offset(metadata: Metadata) -> None:
    """A storage offset of 5,001 digits, more than str() will render (a traceback in an error message)."""
    for index, info in list(metadata.storage_data.items()):
        metadata.storage_data[index] = dataclasses.replace(info, offset=10**5000)


def nul_in_path(metadata: Metadata) -> None:
    """A data file name with a NUL byte: the OS refuses such names (ValueError; found by the fuzzer)."""
    for index, info in list(metadata.storage_data.items()):
        metadata.storage_data[index] = dataclasses.replace(info, relative_path="__0\x00_0.distcp")


def beyond_file(metadata: Metadata) -> None:
    for index, info in list(metadata.storage_data.items()):
        metadata.storage_data[index] = dataclasses.replace(info, offset=info.offset + 10**6)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (shrink_chunk, "dcp-chunks"),
        (overlap_chunks, "dcp-chunks"),
        (outside_size, "dcp-chunks"),
        (escape_path, "dcp-path"),
        (beyond_file, "dcp-storage"),
    ],
    ids=["gap", "overlap", "outside-size", "path-escape", "beyond-file"],
)
def test_chunk_and_storage_rules(tmp_path: Path, change: Callable[[Metadata], None], rule: str) -> None:
    folder = tmp_path / "ckpt"
    save(folder)
    tamper(folder, change)
    with pytest.raises(FormatError, match=error_line(folder)) as caught:
        paramcount.count(str(folder))
    assert caught.value.rule == rule


def test_missing_data_file(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    save(folder)
    for data in folder.glob("*.distcp"):
        data.unlink()
    with pytest.raises(FormatError, match="missing") as caught:
        paramcount.count(str(folder))
    assert caught.value.rule == "dcp-storage"


def test_garbage_metadata_is_malformed_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / ".metadata").write_bytes(pickle.dumps({"not": "metadata"}, protocol=4))
    with pytest.raises(TargetError, match="not a DCP Metadata"):
        paramcount.count(str(folder))


def test_a_data_file_linked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    save(folder)
    (data,) = folder.glob("*.distcp")
    outside = tmp_path / "outside.distcp"
    data.rename(outside)
    data.symlink_to(outside)
    with pytest.raises(FormatError, match=error_line(folder, "a link out of the folder")) as caught:
        paramcount.count(str(folder))
    assert caught.value.rule == "dcp-path"
