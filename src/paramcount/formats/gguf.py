"""GGUF v2 and v3 headers, validated with llama.cpp's rules (reference/formats.md 4.3), without reading tensor data.

Layout: magic ``GGUF``, u32 version, u64 tensor count, u64 key-value count, the key-value pairs, the tensor infos
(name, dims in ggml order -- ``ne[0]`` varies fastest --, ggml type, offset relative to the data section), padding
to ``general.alignment``, data. Every count and length is checked against the bytes that remain before anything is
allocated; each tensor's offset must equal the running sum of the padded sizes before it (contiguous, ordered,
aligned), and the last must end within the file.

Parameters are logical elements, ``prod(ne)``, for every type; stored bytes follow ggml's block table
(:data:`paramcount.dtypes.GGML`). Key and tensor names from the file are quoted and cut in messages.
"""

from __future__ import annotations

import math
import struct

from paramcount._typing import TYPE_CHECKING
from paramcount.classify import stored
from paramcount.dtypes import GGML
from paramcount.errors import FormatError, quote
from paramcount.formats import FileRead, Format
from paramcount.limits import DEFAULT, Limits, exceeded

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder

__all__ = ["read"]

_MAX_NAME = 64  # GGML_MAX_NAME: names are shorter
_MAX_DIMS = 4  # GGML_MAX_DIMS
_VERSIONS = (2, 3)
_WINDOW = 1 << 20


# value type -> struct format of a scalar; 8 (string) and 9 (array) are handled apart
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEPT_ARRAY = 4096  # the longest per-layer array kept (a layer count)


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


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
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
    if kv_count > limits.gguf_keys:
        raise exceeded("gguf_keys", f"claims {kv_count} metadata keys", limits.gguf_keys, target=name)
    if tensor_count > limits.header_entries:
        raise exceeded("header_entries", f"claims {tensor_count} tensors", limits.header_entries, target=name)
    if tensor_count > limits.tensors:
        raise exceeded("tensors", f"claims {tensor_count} tensors", limits.tensors, target=name)
    alignment = 32
    keys: set[str] = set()
    architecture = None
    metadata: dict[str, object] = {}  # the attention geometry's keys, for a memory estimate's KV cache
    for _ in range(kv_count):
        key = cursor.string("a key")
        if not key:
            raise fail("has an empty key", "gguf-key")
        if key in keys:
            raise fail(f"has the key {quote(key)} twice", "gguf-key")
        keys.add(key)
        value_type = cursor.u32(f"the type of key {quote(key)}")
        value = _value(cursor, value_type, key, keep=key.endswith(_GEOMETRY))
        if value is not None and key.endswith(_GEOMETRY):
            metadata[key] = value
        if key == "general.alignment":
            if value_type != 4 or not isinstance(value, int) or value == 0 or value & (value - 1):
                raise fail(f"general.alignment is {quote(value)}, not a u32 power of two", "gguf-alignment")
            alignment = value
        elif key == "general.architecture" and isinstance(value, str):
            architecture = value
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
        ggml = GGML.get(type_id)
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
    records = tuple(
        stored(tensor, tuple(reversed(ne)), ggml.name, stored_bytes=nbytes, identity=offset)  # ggml -> torch order
        for tensor, ne, ggml, nbytes, offset in infos
    )
    note = f"GGUF v{version}, {tensor_count} tensors, {kv_count} metadata keys, header {data_start} bytes"
    if architecture:
        note += f", architecture {quote(architecture)}"
    config = geometry(architecture, metadata) if architecture else None
    return FileRead(Format.GGUF, records, len(records), sum(i[3] for i in infos), notes=(note,), config=config)


#: GGUF keys (after ``{architecture}.``) that describe what a KV cache holds, read into :func:`geometry`
_GEOMETRY = (
    ".block_count", ".embedding_length", ".attention.head_count", ".attention.head_count_kv",
    ".attention.key_length", ".attention.value_length", ".attention.sliding_window", ".attention.kv_lora_rank",
    ".rope.dimension_count", ".attention.sliding_window_pattern",
)  # fmt: skip
#: architectures whose sliding-window layers llama.cpp lays out by a period (every period-th layer is global),
#: as transformers' configurations do (Gemma-2: 2, Gemma-3: 6, Command-R7B: 4)
_SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4}


def geometry(architecture: str, metadata: dict[str, object]) -> dict[str, object] | None:
    """The attention geometry of a GGUF file's metadata, under the configuration names transformers uses
    (``num_hidden_layers``, ``num_key_value_heads``, ``head_dim``, ``layer_types``, ...); ``None`` without a
    layer count.

    >>> geometry("llama", {"llama.block_count": 2, "llama.attention.head_count": 4,
    ...                    "llama.attention.head_count_kv": 2, "llama.embedding_length": 64})["num_key_value_heads"]
    2
    """

    def get(suffix: str) -> object:
        return metadata.get(f"{architecture}.{suffix}")

    layers = get("block_count")
    if not isinstance(layers, int) or layers < 1:
        return None
    config: dict[str, object] = {"source": "gguf", "architecture": architecture, "num_hidden_layers": layers}
    for key, suffix in (
        ("num_attention_heads", "attention.head_count"),
        ("num_key_value_heads", "attention.head_count_kv"),
        ("hidden_size", "embedding_length"),
        ("head_dim", "attention.key_length"),
        ("v_head_dim", "attention.value_length"),
        ("kv_lora_rank", "attention.kv_lora_rank"),
        ("qk_rope_head_dim", "rope.dimension_count"),
        ("sliding_window", "attention.sliding_window"),
    ):
        value = get(suffix)
        if value is not None:
            config[key] = value
    window, pattern = config.get("sliding_window"), get("attention.sliding_window_pattern")
    if isinstance(window, int) and window > 0:
        if isinstance(pattern, list) and len(pattern) == layers:  # true: a sliding-window layer
            config["layer_types"] = ["sliding_attention" if p else "full_attention" for p in pattern]
        elif (isinstance(pattern, int) and pattern > 0) or architecture in _SWA_PERIOD:
            # a period, as llama.cpp's set_swa_pattern reads it: the last layer of each period is global
            period = pattern if isinstance(pattern, int) and pattern > 0 else _SWA_PERIOD[architecture]
            config["layer_types"] = [
                "full_attention" if (i + 1) % period == 0 else "sliding_attention" for i in range(layers)
            ]
    return config


def _value(cursor: _Cursor, value_type: int, key: str, *, keep: bool = False) -> object:
    """Read one value (skipping array contents after checking their size); return scalars and strings, and with
    ``keep`` a scalar array of up to 4,096 elements (per-layer head counts) as a list."""
    name = cursor.blob.name
    shown = quote(key)
    if value_type in _SCALARS:
        return cursor.unpack(_SCALARS[value_type], f"the value of {shown}")
    if value_type == _STRING:
        return cursor.string(f"the value of {shown}")
    if value_type != _ARRAY:
        raise FormatError(f"key {shown} has the unknown value type {value_type}", target=name, rule="gguf-value")
    element_type = cursor.u32(f"the element type of {shown}")
    count = cursor.u64(f"the length of {shown}")
    limit = cursor.limits.gguf_array_elements
    if count > limit:
        raise exceeded("gguf_array_elements", f"key {shown} is an array of {count} elements", limit, target=name)
    if element_type in _SCALARS and keep and count <= _KEPT_ARRAY:
        return [cursor.unpack(_SCALARS[element_type], f"an element of {shown}") for _ in range(count)]
    if element_type in _SCALARS:
        cursor.skip(count * struct.calcsize(_SCALARS[element_type]), f"the array {shown}")
    elif element_type == _STRING:
        if count * 8 > cursor.blob.size - cursor.offset:
            cursor.take(count * 8, f"the array {shown}")  # raises: the strings cannot fit
        for _ in range(count):
            cursor.string(f"an element of {shown}")
    else:
        raise FormatError(
            f"key {shown} is an array of value type {element_type} (nested arrays are not allowed)",
            target=name,
            rule="gguf-array",
        )
    return None
