"""``torch.distributed.checkpoint`` folders: the ``.metadata`` pickle, read inertly, and its chunk layout checked.

``.metadata`` (reference/formats.md 5) holds, for every flat name (``model.0.weight``, ``optim.state.0.weight.
exp_avg``), a ``TensorStorageMetadata`` with the **global** size, dtype and the chunks each rank wrote, and a map
from each chunk to its ``*.distcp`` file, offset and length. torch reads it with a plain ``pickle.load``; here it
goes through the inert evaluator with an allowlist of DCP's own classes, ``torch.Size``, dtypes and paths. The
chunks must tile each tensor exactly (inside its size, no overlap, no gap), and every chunk's bytes must lie
inside a ``.distcp`` file of the folder. Tensors under optimizer keys are listed as excluded.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from paramcount.blob import LocalFile, confined
from paramcount.classify import role
from paramcount.dtypes import TORCH
from paramcount.errors import FormatError
from paramcount.formats._pickle import Allowlist, Call, Global
from paramcount.formats.torchzip import evaluate
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import Kind, TensorRecord

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ALLOWLIST", "Read", "read"]

_DCP = "torch.distributed.checkpoint."
#: Globals a DCP ``.metadata`` may use: DCP's metadata classes, sizes, dtypes, layouts and paths.
ALLOWLIST = Allowlist(
    names=frozenset(
        {
            *(
                f"{_DCP}metadata.{n}"
                for n in (
                    "Metadata",
                    "TensorStorageMetadata",
                    "TensorProperties",
                    "ChunkStorageMetadata",
                    "BytesStorageMetadata",
                    "MetadataIndex",
                    "StorageMeta",
                    "_MEM_FORMAT_ENCODING",
                )
            ),
            f"{_DCP}filesystem._StorageInfo",
            "torch.Size",
            "torch.serialization._get_layout",
            *(f"torch.{n}" for n in TORCH),
            "pathlib.PosixPath",
            "pathlib.PurePosixPath",
            "collections.OrderedDict",
        }
    )
)
_OPTIMIZER = re.compile(r"^optim", re.IGNORECASE)
_MAX_PAIRWISE = 256  # chunks per tensor checked pairwise for overlap; more are checked by volume only


class Read(NamedTuple):
    """A DCP checkpoint's tensors and facts."""

    records: list[TensorRecord]
    files: list[str]
    stored_bytes: int
    notes: tuple[str, ...]


def read(folder: Path, limits: Limits = DEFAULT) -> Read:
    """Tensors of the DCP checkpoint in ``folder``.

    Raises:
        FormatError: the metadata is malformed, chunks do not tile a tensor, or a chunk lies outside its file.
        UnsafeTargetError: ``.metadata`` uses globals outside the DCP allowlist.
    """
    path = folder / ".metadata"
    name = str(path)
    if not confined(folder, path):
        raise FormatError("is a link out of the checkpoint folder", target=name, rule="dcp-path")
    with LocalFile(path) as blob:
        if blob.size > limits.pickle_bytes:
            raise exceeded("pickle_bytes", f"is {blob.size} bytes", limits.pickle_bytes, target=name)
        data = blob.read(0, blob.size)
    result = evaluate(data, name, ".metadata", limits, allowlist=ALLOWLIST)

    def fail(problem: str, tensor: str | None = None, rule: str = "dcp-metadata") -> FormatError:
        return FormatError(problem, target=name, rule=rule, tensor=tensor)

    root = result.root
    if not (isinstance(root, Call) and root.calls(f"{_DCP}metadata.Metadata") and isinstance(root.state, dict)):
        raise fail("is not a DCP Metadata object")
    entries = root.state.get("state_dict_metadata")
    storage = root.state.get("storage_data")
    if not isinstance(entries, dict) or not isinstance(storage, dict):
        raise fail("lacks state_dict_metadata or storage_data")
    if len(entries) > limits.tensors:
        raise exceeded("tensors", f"lists {len(entries)} entries", limits.tensors, target=name)
    locations: dict[tuple[str, tuple[int, ...]], tuple[str, int, int]] = {}
    for index, info in storage.items():
        fqn, offsets = _index(index)
        fields = _state(info)
        relative, offset, length = fields.get("relative_path"), fields.get("offset"), fields.get("length")
        if (
            not isinstance(relative, str)
            or type(offset) is not int
            or type(length) is not int
            or offset < 0
            or length < 0
        ):
            raise fail("has a malformed storage entry", fqn)
        if "/" in relative or "\\" in relative or relative in ("", ".", "..") or relative.startswith("."):
            raise fail(f"names the data file {relative!r}, which is outside the folder", fqn, "dcp-path")
        if fqn is not None:
            locations[(fqn, offsets)] = (relative, offset, length)
    sizes: dict[str, int] = {}
    records: list[TensorRecord] = []
    stored = skipped = 0
    for fqn, meta in entries.items():
        if not isinstance(fqn, str) or not isinstance(meta, Call):
            raise fail("has a malformed entry")
        if meta.calls(f"{_DCP}metadata.BytesStorageMetadata"):
            skipped += 1
            continue
        if not meta.calls(f"{_DCP}metadata.TensorStorageMetadata"):
            raise fail("is neither tensor nor bytes metadata", fqn)
        fields = _state(meta)
        shape = _size(fields.get("size"))
        properties = _state(fields.get("properties"))
        dtype = properties.get("dtype")
        if shape is None or not (isinstance(dtype, Global) and dtype.module == "torch" and dtype.name in TORCH):
            raise fail("has no valid size or dtype", fqn)
        if len(shape) > limits.dimensions:
            raise exceeded("dimensions", f"has {len(shape)} dimensions", limits.dimensions, target=name, tensor=fqn)
        if math.prod(shape) > limits.elements:
            raise exceeded("elements", f"has {math.prod(shape)} elements", limits.elements, target=name, tensor=fqn)
        itemsize = TORCH[dtype.name].bits // 8
        chunks = fields.get("chunks")
        if not isinstance(chunks, list):
            raise fail("has no chunk list", fqn)
        boxes = []
        for chunk in chunks:
            box = _state(chunk)
            chunk_offsets, lengths = _size(box.get("offsets")), _size(box.get("sizes"))
            if (
                chunk_offsets is None
                or lengths is None
                or len(chunk_offsets) != len(shape)
                or len(lengths) != len(shape)
            ):
                raise fail("has a malformed chunk", fqn)
            offsets = chunk_offsets
            if any(o + n > d for o, n, d in zip(offsets, lengths, shape, strict=True)):
                raise fail(f"has a chunk at {offsets} of {lengths} outside its size {shape}", fqn, "dcp-chunks")
            boxes.append((offsets, lengths))
            where = locations.get((fqn, offsets))
            if where is None:
                raise fail(f"has no storage entry for its chunk at {offsets}", fqn, "dcp-storage")
            relative, offset, length = where
            if length < math.prod(lengths) * itemsize:
                raise fail(
                    f"stores its chunk at {offsets} in {length} bytes, less than its {math.prod(lengths) * itemsize}",
                    fqn,
                    "dcp-storage",
                )
            file_size = sizes.get(relative)
            if file_size is None:
                data_path = folder / relative
                if not data_path.is_file():
                    raise fail(f"is stored in {relative!r}, which is missing", fqn, "dcp-storage")
                if not confined(folder, data_path):
                    raise fail(f"is stored in {relative!r}, a link out of the folder", fqn, "dcp-path")
                with LocalFile(data_path) as data_blob:
                    file_size = sizes[relative] = data_blob.size
            if offset + length > file_size:
                raise fail(
                    f"is stored at bytes {offset}..{offset + length} of {relative!r}, which has {file_size}",
                    fqn,
                    "dcp-storage",
                )
        _check_tiling(boxes, shape, lambda problem, t=fqn: fail(problem, t, "dcp-chunks"))
        elements = math.prod(shape)
        kind, what = (Kind.TENSOR, "optimizer-state") if _OPTIMIZER.match(fqn) else role(fqn, shape)
        stored += elements * itemsize
        records.append(
            TensorRecord(
                name=fqn,
                module=fqn.rpartition(".")[0],
                kind=kind,
                shape=shape,
                elements=elements,
                dtype=TORCH[dtype.name].name,
                stored_elements=elements,
                stored_bytes=elements * itemsize,
                identity=None,
                persistent=True if kind is Kind.BUFFER else None,
                notes=(what,) if what is not None else (),
            )
        )
    files = [name, *(str(folder / f) for f in sorted(sizes))]
    note = (
        f"read the DCP .metadata ({len(data)} bytes) inertly; {len(sizes)} data file(s); {skipped} non-tensor entries"
    )
    return Read(records, files, stored, (note,))


def _state(value: Any) -> dict[str, Any]:
    """The attributes of a pickled dataclass instance (its BUILD state), or of a NamedTuple-like tuple state."""
    if isinstance(value, Call):
        state = value.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1] if state[0] is None else {**state[0], **state[1]}  # (dict, slots)
        if isinstance(state, dict):
            return state
        if isinstance(state, tuple) and value.calls(f"{_DCP}metadata.TensorProperties") and state:
            return {"dtype": state[0]}
    return {}


def _size(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, Call) and value.calls("torch.Size") and isinstance(value.args, tuple) and value.args:
        value = value.args[0]
    if isinstance(value, tuple) and all(type(v) is int and 0 <= v < 2**63 for v in value) and len(value) <= 64:
        return value
    return None


def _index(value: Any) -> tuple[str | None, tuple[int, ...]]:
    fields = _state(value)
    fqn = fields.get("fqn")
    offsets = _size(fields.get("offset"))
    return (fqn if isinstance(fqn, str) else None), (offsets if offsets is not None else ())


def _check_tiling(boxes: list[tuple[tuple[int, ...], tuple[int, ...]]], shape: tuple[int, ...], fail: Any) -> None:
    """Chunks must cover the tensor exactly: volumes add up to its size and no two overlap."""
    volume = sum(math.prod(lengths) for _, lengths in boxes)
    if volume != math.prod(shape):
        raise fail(f"has chunks holding {volume} elements for a size of {math.prod(shape)}: a gap or an overlap")
    if len(boxes) > _MAX_PAIRWISE:
        return
    nonempty = [b for b in boxes if math.prod(b[1])]
    for i, (a_off, a_len) in enumerate(nonempty):
        for b_off, b_len in nonempty[i + 1 :]:
            if all(ao < bo + bl and bo < ao + al for ao, al, bo, bl in zip(a_off, a_len, b_off, b_len, strict=True)):
                raise fail(f"has chunks at {a_off} and {b_off} that overlap")
