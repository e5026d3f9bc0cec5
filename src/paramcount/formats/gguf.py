"""GGUF v2 and v3 headers, validated with llama.cpp's rules (reference/formats.md 4.3), without reading tensor data.

Layout: magic ``GGUF``, u32 version, u64 tensor count, u64 key-value count, the key-value pairs, the tensor infos
(name, dims in ggml order -- ``ne[0]`` varies fastest --, ggml type, offset relative to the data section), padding
to ``general.alignment``, data. Every count and length is checked against the bytes that remain before anything is
allocated; each tensor's offset must equal the running sum of the padded sizes before it (contiguous, ordered,
aligned), and the last must end within the file.

Parameters are logical elements, ``prod(ne)``, for every type; stored bytes follow the block table.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, NamedTuple

from paramcount.classify import role
from paramcount.errors import FormatError
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import Kind, TensorRecord

if TYPE_CHECKING:
    from paramcount.blob import Blob

__all__ = ["GGML_TYPES", "GGMLType", "Read", "read"]

_MAX_NAME = 64  # GGML_MAX_NAME: names are shorter
_MAX_DIMS = 4  # GGML_MAX_DIMS
_VERSIONS = (2, 3)
_WINDOW = 1 << 20


class GGMLType(NamedTuple):
    """A ggml tensor type: elements per block and bytes per block."""

    name: str
    block: int
    bytes: int


# gguf-py constants.py GGML_QUANT_SIZES (QK_K = 256). Removed ids (4, 5, 31-33, 36-38) are absent: unknown.
GGML_TYPES: dict[int, GGMLType] = {
    i: GGMLType(n, b, s)
    for i, n, b, s in (
        (0, "F32", 1, 4),
        (1, "F16", 1, 2),
        (2, "Q4_0", 32, 18),
        (3, "Q4_1", 32, 20),
        (6, "Q5_0", 32, 22),
        (7, "Q5_1", 32, 24),
        (8, "Q8_0", 32, 34),
        (9, "Q8_1", 32, 40),
        (10, "Q2_K", 256, 84),
        (11, "Q3_K", 256, 110),
        (12, "Q4_K", 256, 144),
        (13, "Q5_K", 256, 176),
        (14, "Q6_K", 256, 210),
        (15, "Q8_K", 256, 292),
        (16, "IQ2_XXS", 256, 66),
        (17, "IQ2_XS", 256, 74),
        (18, "IQ3_XXS", 256, 98),
        (19, "IQ1_S", 256, 50),
        (20, "IQ4_NL", 32, 18),
        (21, "IQ3_S", 256, 110),
        (22, "IQ2_S", 256, 82),
        (23, "IQ4_XS", 256, 136),
        (24, "I8", 1, 1),
        (25, "I16", 1, 2),
        (26, "I32", 1, 4),
        (27, "I64", 1, 8),
        (28, "F64", 1, 8),
        (29, "IQ1_M", 256, 56),
        (30, "BF16", 1, 2),
        (34, "TQ1_0", 256, 54),
        (35, "TQ2_0", 256, 66),
        (39, "MXFP4", 32, 17),
        (40, "NVFP4", 64, 36),
        (41, "Q1_0", 128, 18),
    )
}
# unquantized ggml types by torch's names, as the other formats spell dtypes
_PLAIN = {
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F64": "float64",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
}
# value type -> struct format of a scalar; 8 (string) and 9 (array) are handled apart
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class Read(NamedTuple):
    """A GGUF file's tensors and facts."""

    records: list[TensorRecord]
    stored_bytes: int
    notes: tuple[str, ...]


class _Cursor:
    """Sequential reads over a blob in large windows; every length is checked against the bytes that remain."""

    def __init__(self, blob: Blob, limits: Limits) -> None:
        self.blob = blob
        self.limits = limits
        self.offset = 0
        self.buffer = b""
        self.buffer_start = 0

    def take(self, length: int, what: str) -> bytes:
        if length > self.blob.size - self.offset:
            raise FormatError(
                f"{what} needs {length} bytes at offset {self.offset} but only {self.blob.size - self.offset} remain",
                target=self.blob.name,
                rule="gguf-truncated",
            )
        start = self.offset - self.buffer_start
        if start + length > len(self.buffer):
            size = min(max(length, _WINDOW), self.blob.size - self.offset)
            self.buffer, self.buffer_start, start = self.blob.read(self.offset, size), self.offset, 0
        self.offset += length
        return self.buffer[start : start + length]

    def skip(self, length: int, what: str) -> None:
        if length > self.blob.size - self.offset:
            self.take(length, what)  # raises with the message
        self.offset += length

    def unpack(self, fmt: str, what: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]
        return value

    def u32(self, what: str) -> int:
        return int(self.unpack("<I", what))

    def u64(self, what: str) -> int:
        return int(self.unpack("<Q", what))

    def string(self, what: str) -> str:
        length = self.u64(what)
        if length > self.limits.gguf_string_bytes:
            limit = self.limits.gguf_string_bytes
            raise exceeded("gguf_string_bytes", f"{what} claims {length} bytes", limit, target=self.blob.name)
        raw = self.take(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{what} is not UTF-8", target=self.blob.name, rule="gguf-string") from None


def read(blob: Blob, limits: Limits = DEFAULT) -> Read:
    """Validate a GGUF header and return one record per tensor.

    Raises:
        FormatError: a rule is broken; the message names the rule, and the tensor or key where there is one.
    """
    name = blob.name
    cursor = _Cursor(blob, limits)

    def fail(problem: str, rule: str, tensor: str | None = None) -> FormatError:
        return FormatError(problem, target=name, rule=rule, tensor=tensor)

    if cursor.take(4, "magic") != b"GGUF":
        raise fail("does not start with the GGUF magic", "gguf-magic")
    version = cursor.u32("version")
    if version & 0xFFFF == 0 and version:
        raise fail(f"is byte-swapped (version {version:#x}): big-endian GGUF is not read", "gguf-version")
    if version not in _VERSIONS:
        raise fail(f"has GGUF version {version}; versions 2 and 3 are read", "gguf-version")
    tensor_count = cursor.u64("tensor count")
    kv_count = cursor.u64("key-value count")
    # Each key-value pair takes at least 12 bytes, each tensor info at least 24: refuse counts the file cannot hold.
    if kv_count * 12 > blob.size or tensor_count * 24 > blob.size:
        raise fail(
            f"claims {tensor_count} tensors and {kv_count} key-value pairs, more than its size allows", "gguf-count"
        )
    if tensor_count > limits.tensors:
        raise exceeded("tensors", f"claims {tensor_count} tensors", limits.tensors, target=name)
    alignment = 32
    keys: set[str] = set()
    architecture = None
    for _ in range(kv_count):
        key = cursor.string("a key")
        if not key:
            raise fail("has an empty key", "gguf-key")
        if key in keys:
            raise fail(f"has the key {key!r} twice", "gguf-key")
        keys.add(key)
        value_type = cursor.u32(f"the type of key {key!r}")
        value = _value(cursor, value_type, key)
        if key == "general.alignment":
            if value_type != 4 or not isinstance(value, int) or value == 0 or value & (value - 1):
                raise fail(f"general.alignment is {value!r}, not a u32 power of two", "gguf-alignment")
            alignment = value
        elif key == "general.architecture" and isinstance(value, str):
            architecture = value
    records: list[TensorRecord] = []
    names: set[str] = set()
    expected_offset = 0
    infos = []
    for _ in range(tensor_count):
        tensor = cursor.string("a tensor name")
        if len(tensor.encode()) >= _MAX_NAME:
            raise fail(
                f"its name is {len(tensor.encode())} bytes, over ggml's limit of {_MAX_NAME - 1}", "gguf-name", tensor
            )
        if tensor in names:
            raise fail("appears twice", "gguf-name", tensor)
        names.add(tensor)
        n_dims = cursor.u32("a dimension count")
        if n_dims > _MAX_DIMS:
            raise fail(f"has {n_dims} dimensions, over ggml's limit of {_MAX_DIMS}", "gguf-dims", tensor)
        ne = tuple(cursor.u64("a dimension") for _ in range(n_dims))
        if any(d >= 2**63 for d in ne) or math.prod(ne) >= 2**63:
            raise fail(f"has dimensions {ne} whose product overflows int64", "gguf-dims", tensor)
        if math.prod(ne) > limits.elements:
            raise exceeded("elements", f"has {math.prod(ne)} elements", limits.elements, target=name, tensor=tensor)
        type_id = cursor.u32("a tensor type")
        ggml = GGML_TYPES.get(type_id)
        if ggml is None:
            raise fail(f"has the unknown or removed ggml type {type_id}", "gguf-type", tensor)
        if ne and ne[0] % ggml.block:
            raise fail(
                f"has a row of {ne[0]} elements, not a multiple of {ggml.name}'s block of {ggml.block}",
                "gguf-block",
                tensor,
            )
        offset = cursor.u64("a tensor offset")
        elements = math.prod(ne)
        nbytes = elements // ggml.block * ggml.bytes
        if offset != expected_offset:
            raise fail(
                f"starts at data offset {offset}, not {expected_offset} where the previous tensor's padded data ends",
                "gguf-offset",
                tensor,
            )
        expected_offset = offset + -(-nbytes // alignment) * alignment
        infos.append((tensor, ne, ggml, nbytes, offset))
    data_start = -(-cursor.offset // alignment) * alignment
    if infos:
        last_name, _, _, last_bytes, last_offset = infos[-1]
        if data_start + last_offset + last_bytes > blob.size:
            raise fail(
                f"its data ends at {data_start + last_offset + last_bytes} but the file has {blob.size} bytes",
                "gguf-truncated",
                last_name,
            )
    for tensor, ne, ggml, nbytes, offset in infos:
        shape = tuple(reversed(ne))  # ggml order -> torch order
        kind, what = role(tensor, shape)
        records.append(
            TensorRecord(
                name=tensor,
                module=tensor.rpartition(".")[0],
                kind=kind,
                shape=shape,
                elements=math.prod(ne),
                dtype=_PLAIN.get(ggml.name, ggml.name),
                stored_elements=math.prod(ne),
                stored_bytes=nbytes,
                identity=("gguf", offset),
                persistent=True if kind is Kind.BUFFER else None,
                notes=(what,) if what is not None else (),
            )
        )
    note = f"GGUF v{version}, {tensor_count} tensors, {kv_count} metadata keys, header {data_start} bytes"
    if architecture:
        note += f", architecture {architecture!r}"
    return Read(records, sum(i[3] for i in infos), (note,))


def _value(cursor: _Cursor, value_type: int, key: str) -> object:
    """Read one value (skipping array contents after checking their size); return scalars and strings."""
    name = cursor.blob.name
    if value_type in _SCALARS:
        return cursor.unpack(_SCALARS[value_type], f"the value of {key!r}")
    if value_type == _STRING:
        return cursor.string(f"the value of {key!r}")
    if value_type != _ARRAY:
        raise FormatError(f"key {key!r} has the unknown value type {value_type}", target=name, rule="gguf-value")
    element_type = cursor.u32(f"the element type of {key!r}")
    count = cursor.u64(f"the length of {key!r}")
    limit = cursor.limits.gguf_array_elements
    if count > limit:
        raise exceeded("gguf_array_elements", f"key {key!r} is an array of {count} elements", limit, target=name)
    if element_type in _SCALARS:
        cursor.skip(count * struct.calcsize(_SCALARS[element_type]), f"the array {key!r}")
    elif element_type == _STRING:
        if count * 8 > cursor.blob.size - cursor.offset:
            cursor.take(count * 8, f"the array {key!r}")  # raises: the strings cannot fit
        for _ in range(count):
            cursor.string(f"an element of {key!r}")
    else:
        raise FormatError(
            f"key {key!r} is an array of value type {element_type} (nested arrays are not allowed)",
            target=name,
            rule="gguf-array",
        )
    return None
