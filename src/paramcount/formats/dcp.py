"""``torch.distributed.checkpoint`` folders: the ``.metadata`` pickle, read inertly, and its chunk layout checked.

``.metadata`` (reference/formats.md 5) holds, for every flat name (``model.0.weight``, ``optim.state.0.weight.
exp_avg``), a ``TensorStorageMetadata`` with the **global** size, dtype and the chunks each rank wrote, and a map
from each chunk to its ``*.distcp`` file, offset and length. torch reads it with a plain ``pickle.load``; here it
goes through the inert evaluator with an allowlist of DCP's own classes, ``torch.Size``, dtypes and paths. The
chunks must tile each tensor exactly (inside its size, no overlap, no gap), and every chunk's bytes must lie
inside a ``.distcp`` file of the folder, opened through the folder (:class:`paramcount.blob.Folder`) so that only
its size is read. Tensors under optimizer keys are listed as excluded.
"""

from __future__ import annotations

import math
import re

from paramcount._typing import TYPE_CHECKING
from paramcount.classify import stored
from paramcount.dtypes import TORCH
from paramcount.errors import FormatError, TargetError, quote
from paramcount.formats import FileRead, Format, _pickle
from paramcount.formats._pickle import Allowlist, Call, Global
from paramcount.formats.torchpickle import size
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import Role

if TYPE_CHECKING:
    from typing import Any

    from paramcount.blob import Blob, Folder

__all__ = ["ALLOWLIST", "read"]

_DCP = "torch.distributed.checkpoint."
_CLASSES = (
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
        )
    ),
    f"{_DCP}filesystem._StorageInfo",
)
#: Globals a DCP ``.metadata`` may use: DCP's metadata classes (which take their fields by BUILD), sizes, dtypes,
#: layouts and paths.
ALLOWLIST = Allowlist(
    names=frozenset(
        {
            *_CLASSES,
            f"{_DCP}metadata._MEM_FORMAT_ENCODING",
            "torch.Size",
            "torch.serialization._get_layout",
            *(f"torch.{n}" for n in TORCH),
            "pathlib.PosixPath",
            "pathlib.PurePosixPath",
            "collections.OrderedDict",
        }
    ),
    arguments=(("collections.OrderedDict", 0, "mapping"),),
    mutable=(*((name, "BUILD") for name in _CLASSES), ("collections.OrderedDict", "SETITEM BUILD")),
)
_OPTIMIZER = re.compile(r"^optim", re.IGNORECASE)
_MAX_PAIRWISE = 256  # chunks per tensor checked pairwise for overlap; more are checked by volume only


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Tensors of the DCP checkpoint whose ``.metadata`` is ``blob``, its data files opened through ``folder``.

    Raises:
        FormatError: the metadata is malformed, chunks do not tile a tensor, or a chunk lies outside its file.
        UnsafeTargetError: ``.metadata`` uses globals outside the DCP allowlist.
        TargetError: there is no folder to find the data files in.
    """
    name = blob.name
    if folder is None:
        raise TargetError(
            "is DCP metadata without its folder", target=name, fix="name the checkpoint folder that holds it"
        )
    if blob.size > limits.pickle_bytes:
        raise exceeded("pickle_bytes", f"is {blob.size} bytes", limits.pickle_bytes, target=name)
    data = blob.read(0, blob.size)
    # DCP's metadata names only DCP's classes: any other class it instantiates or function it holds is unsafe
    result = _pickle.check(
        data, target=name, where=".metadata", limits=limits, allowlist=ALLOWLIST, classes_are_unsafe=True
    )

    def fail(problem: str, tensor: str | None = None, rule: str = "dcp-metadata") -> FormatError:
        return FormatError(problem, target=name, rule=rule, tensor=tensor)

    def shape(value: Any, tensor: str, what: str) -> tuple[int, ...]:
        return size(value, limits=limits, target=name, tensor=tensor, what=what, rule="dcp-metadata")

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
            or not 0 <= offset < 2**63
            or not 0 <= length < 2**63
        ):
            raise fail("has a malformed storage entry", fqn)
        if any(c in relative for c in "/\\\x00") or relative in ("", ".", "..") or relative.startswith("."):
            raise fail(f"names the data file {quote(relative)}, which is outside the folder", fqn, "dcp-path")
        if fqn is not None:
            locations[(fqn, offsets)] = (relative, offset, length)
    sizes: dict[str, int] = {}
    records = []
    total = skipped = 0
    for fqn, meta in entries.items():
        if not isinstance(fqn, str) or not isinstance(meta, Call):
            raise fail("has a malformed entry")
        if meta.calls(f"{_DCP}metadata.BytesStorageMetadata"):
            skipped += 1
            continue
        if not meta.calls(f"{_DCP}metadata.TensorStorageMetadata"):
            raise fail("is neither tensor nor bytes metadata", fqn)
        fields = _state(meta)
        dims = shape(fields.get("size"), fqn, "size")
        properties = _state(fields.get("properties"))
        dtype = properties.get("dtype")
        if not (isinstance(dtype, Global) and dtype.module == "torch" and dtype.name in TORCH):
            raise fail("has no valid dtype", fqn)
        if math.prod(dims) > limits.elements:
            raise exceeded("elements", f"has {math.prod(dims)} elements", limits.elements, target=name, tensor=fqn)
        itemsize = TORCH[dtype.name].bits // 8
        chunks = fields.get("chunks")
        if not isinstance(chunks, list):
            raise fail("has no chunk list", fqn)
        boxes = []
        for chunk in chunks:
            box = _state(chunk)
            offsets = shape(box.get("offsets"), fqn, "chunk offsets")
            lengths = shape(box.get("sizes"), fqn, "chunk sizes")
            if len(offsets) != len(dims) or len(lengths) != len(dims):
                raise fail("has a malformed chunk", fqn)
            if any(o + n > d for o, n, d in zip(offsets, lengths, dims, strict=True)):
                raise fail(
                    f"has a chunk at {quote(offsets)} of {quote(lengths)} outside its size {quote(dims)}",
                    fqn,
                    "dcp-chunks",
                )
            boxes.append((offsets, lengths))
            where = locations.get((fqn, offsets))
            if where is None:
                raise fail(f"has no storage entry for its chunk at {quote(offsets)}", fqn, "dcp-storage")
            relative, offset, length = where
            if length < math.prod(lengths) * itemsize:
                needed = math.prod(lengths) * itemsize
                raise fail(
                    f"stores its chunk at {quote(offsets)} in {length} bytes, less than its {needed}",
                    fqn,
                    "dcp-storage",
                )
            file_size = sizes.get(relative)
            if file_size is None:
                if not folder.is_file(relative):
                    raise fail(f"is stored in {quote(relative)}, which is missing", fqn, "dcp-storage")
                try:
                    with folder.open(relative) as data_file:
                        file_size = sizes[relative] = data_file.size
                except FormatError as e:
                    raise fail(f"is stored in {quote(relative)}, a link out of the folder", fqn, "dcp-path") from e
            if offset + length > file_size:
                raise fail(
                    f"is stored at bytes {offset}..{offset + length} of {quote(relative)}, which has {file_size}",
                    fqn,
                    "dcp-storage",
                )
        _check_tiling(boxes, dims, lambda problem, t=fqn: fail(problem, t, "dcp-chunks"))
        nbytes = math.prod(dims) * itemsize
        total += nbytes
        records.append(
            stored(
                fqn,
                dims,
                TORCH[dtype.name].name,
                stored_bytes=nbytes,
                identity=None,
                why=Role.OPTIMIZER_STATE if _OPTIMIZER.match(fqn) else None,
            )
        )
    note = (
        f"read the DCP .metadata ({len(data)} bytes) inertly; {len(sizes)} data file(s); {skipped} non-tensor entries"
    )
    return FileRead(
        Format.DCP,
        tuple(records),
        len(records),
        total,
        notes=(note,),
        files=tuple(f"{folder.name}/{f}" for f in sorted(sizes)),
    )


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


def _index(value: Any) -> tuple[str | None, tuple[int, ...]]:
    """``(fqn, chunk offset)`` of a storage entry's MetadataIndex; an offset that is not a size matches no chunk."""
    fields = _state(value)
    fqn = fields.get("fqn")
    offsets = fields.get("offset")
    if isinstance(offsets, Call) and offsets.calls("torch.Size") and isinstance(offsets.args, tuple) and offsets.args:
        offsets = offsets.args[0]
    if not (isinstance(offsets, tuple) and all(type(v) is int for v in offsets)):
        offsets = ()
    return (fqn if isinstance(fqn, str) else None), offsets


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
                raise fail(f"has chunks at {quote(a_off)} and {quote(b_off)} that overlap")
