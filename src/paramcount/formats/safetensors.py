"""safetensors headers, validated rule by rule like the reference implementation, without reading tensor data.

Layout: ``u64 LE N``, then ``N`` bytes of UTF-8 JSON, then the byte buffer that ``data_offsets`` address.
Rules follow ``read_metadata`` and ``Metadata::validate`` in huggingface/safetensors ``safetensors/src/tensor.rs``
(reference/formats.md 1.2); where Python's ``json`` is laxer than serde (BOM, NaN, floats, booleans as ints, huge
ints, deep nesting) the stricter behaviour is enforced here. A tensor named twice is resolved as serde and every
safetensors loader resolve it, the last entry winning (the file is then validated as the reference validates it),
with a warning. The header's entries are bounded (``header-entries``) before the JSON is parsed.
"""

from __future__ import annotations

import json
import re
import struct
from operator import itemgetter

from paramcount import quant
from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.classify import stored
from paramcount.dtypes import SAFETENSORS, DType
from paramcount.errors import FormatError, quote
from paramcount.formats import FileRead, Format
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import index_value

if TYPE_CHECKING:
    from typing import Any

    from paramcount.blob import Blob, Folder

__all__ = ["Entry", "Header", "read", "read_header"]

_U64 = 2**64
_OFFSETS = itemgetter(3, 4)  # an Entry's begin and end
_FIELDS = frozenset({"dtype", "shape", "data_offsets"})
_ZEROED, _ZEROS = bytes.maketrans(b"123456789", b"000000000"), b"0" * 21


class Entry(NamedTuple):
    """One tensor in a header."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int
    end: int


class Header(NamedTuple):
    """A validated header: entries in offset order, the metadata map, where the data starts, and the names the
    header lists more than once (the last entry of each kept, as the reference keeps it)."""

    entries: tuple[Entry, ...]
    metadata: dict[str, str]
    data_start: int
    duplicates: tuple[str, ...] = ()


class _InvalidValueError(ValueError):
    """A JSON value of the wrong type or range; turned into a FormatError with the file name."""


class _Object(dict[str, "Any"]):
    """A JSON object, with the keys it lists more than once (serde keeps the last value, as ``dict`` does)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = _Object(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice: dict[str, None] = {}
        for key, _ in pairs:
            if key in seen:
                twice[key] = None
            seen.add(key)
        result.duplicates = tuple(twice)
    return result


def _lone_surrogate(document: dict[str, Any], name: str) -> bool:
    """Whether a string of the parsed header holds half of a surrogate pair (UTF-8 cannot encode it)."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:
        raise FormatError("header JSON is nested too deeply", target=name, rule="header-json") from None
    return False


def _no_float(text: str) -> float:
    raise _InvalidValueError(f"non-integer number {quote(text, 40)}")


def _bounded_int(text: str) -> int | float:
    if len(text.lstrip("-")) > 20:
        raise _InvalidValueError(f"integer {text[:24]}... is out of range")
    if text == "-0":  # serde reads it as the float -0.0, which no dimension or offset may be
        return -0.0
    return int(text)


def _u64(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value < _U64:
        raise _InvalidValueError(f"{what} must be an integer in [0, 2**64), got {quote(value, 40)}")
    return value


def read_header(blob: Blob, limits: Limits = DEFAULT) -> Header:
    """Read and validate the header of a safetensors file.

    Args:
        blob: the file.
        limits: ``header_bytes`` caps the header (the reference's 100,000,000 by default); ``tensors``,
            ``dimensions`` and ``elements`` bound its entries.

    Returns:
        The entries (sorted by offset), the ``__metadata__`` map and the data offset.

    Raises:
        FormatError: one per rule, naming the file, the tensor where there is one, and the rule.
    """
    name = blob.name
    if blob.size < 8:
        raise FormatError(
            f"file of {blob.size} bytes is smaller than the 8-byte header length", target=name, rule="header-too-small"
        )
    (length,) = struct.unpack("<Q", blob.read(0, 8))
    if length > limits.header_bytes:
        raise exceeded("header_bytes", f"header length {length}", limits.header_bytes, target=name)
    if 8 + length > blob.size:
        raise FormatError(
            f"header length {length} runs past the end of the {blob.size}-byte file", target=name, rule="header-length"
        )
    raw = blob.read(8, length)
    if raw.count(b"{") > limits.header_entries + 2:  # every entry is an object: bound them before parsing
        raise exceeded(
            "header_entries",
            f"header holds more than {limits.header_entries} entries",
            limits.header_entries,
            target=name,
        )
    try:
        text = raw.decode("utf-8")
        # An integer literal of more than 20 digits needs a run of 21 digits somewhere in the header: without one,
        # json's own int parsing (in C) meets no integer that _bounded_int would refuse, and is not called per number.
        # (Digits made zeros and a run of zeros found: a twentieth of a regular expression's scan.) A "-0" needs it
        # too, to be told from 0.
        document = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_no_float,
            parse_int=_bounded_int if raw.translate(_ZEROED).find(_ZEROS) >= 0 or b"-0" in raw else None,
            parse_constant=_no_float,
        )
    except UnicodeDecodeError as e:
        raise FormatError(
            f"header is not valid UTF-8 ({e.reason} at byte {e.start})", target=name, rule="header-utf8"
        ) from None
    except RecursionError:
        raise FormatError("header JSON is nested too deeply", target=name, rule="header-json") from None
    except ValueError as e:  # json.JSONDecodeError and _InvalidValueError
        raise FormatError(
            f"header is not valid JSON: {str(e).splitlines()[0]}", target=name, rule="header-json"
        ) from None
    if not isinstance(document, dict):
        raise FormatError(f"header is a JSON {type(document).__name__}, not an object", target=name, rule="header-json")
    if b"\\u" in raw and _lone_surrogate(document, name):  # json decodes a lone "\ud800"; serde refuses it
        raise FormatError(
            "header is not valid JSON: a \\u escape is half of a surrogate pair", target=name, rule="header-json"
        )
    metadata = document.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("'__metadata__' must map strings to strings", target=name, rule="header-json")
    if len(document) > limits.tensors:
        raise exceeded("tensors", f"header lists {len(document)} tensors", limits.tensors, target=name)
    entries = [_entry(tensor, info, name) for tensor, info in document.items()]
    entries.sort(key=_OFFSETS)
    expected_begin = 0
    for entry in entries:
        if entry.begin != expected_begin or entry.end < entry.begin:
            raise FormatError(
                f"data_offsets [{entry.begin}, {entry.end}] do not start where the previous tensor ends "
                f"({expected_begin}); tensors must be contiguous, in order, without gaps or overlaps",
                target=name,
                rule="offsets",
                tensor=entry.name,
            )
        if len(entry.shape) > limits.dimensions:
            raise exceeded(
                "dimensions", f"has {len(entry.shape)} dimensions", limits.dimensions, target=name, tensor=entry.name
            )
        # Like the reference's checked multiplication from the left: an intermediate product that overflows u64
        # fails even when a later dimension is 0 ([2**32, 2**32, 0]).
        elements = 1
        for dim in entry.shape:
            elements *= dim
            if elements >= _U64:
                break
        bits = elements * entry.dtype.bits
        if elements >= _U64 or bits >= _U64:
            raise FormatError(
                f"shape {quote(entry.shape, 60)} overflows", target=name, rule="overflow", tensor=entry.name
            )
        if elements > limits.elements:
            raise exceeded("elements", f"has {elements} elements", limits.elements, target=name, tensor=entry.name)
        if bits % 8:
            raise FormatError(
                f"{elements} elements of {entry.dtype.bits} bits do not fill whole bytes",
                target=name,
                rule="misaligned",
                tensor=entry.name,
            )
        if entry.end - entry.begin != bits // 8:
            raise FormatError(
                f"holds {entry.end - entry.begin} bytes but its shape and dtype need {bits // 8}",
                target=name,
                rule="size",
                tensor=entry.name,
            )
        expected_begin = entry.end
    if 8 + length + expected_begin != blob.size:
        raise FormatError(
            f"tensors end at byte {8 + length + expected_begin} but the file has {blob.size}",
            target=name,
            rule="incomplete",
        )
    return Header(tuple(entries), metadata, 8 + length, getattr(document, "duplicates", ()))


def _entry(tensor: str, info: object, name: str) -> Entry:
    try:
        if not isinstance(info, dict):
            raise _InvalidValueError(f"entry is a {type(info).__name__}, not an object")
        twice = getattr(info, "duplicates", ())
        if twice and not _FIELDS.isdisjoint(twice):  # serde refuses a field of its struct named twice (not others)
            raise _InvalidValueError(f"duplicate field {quote(next(f for f in twice if f in _FIELDS))}")
        dtype_name = info.get("dtype")
        if not isinstance(dtype_name, str) or dtype_name not in SAFETENSORS:
            raise _InvalidValueError(f"unknown dtype {quote(dtype_name, 40)}")
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if not isinstance(shape, list):
            raise _InvalidValueError(f"shape must be a list, got {quote(shape, 60)}")
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise _InvalidValueError(f"data_offsets must be a list of two integers, got {quote(offsets, 60)}")
        for dim in shape:
            if type(dim) is not int or not 0 <= dim < _U64:
                _u64(dim, "a dimension")  # raises, naming it
        begin, end = offsets
        if not (type(begin) is int and type(end) is int and 0 <= begin < _U64 and 0 <= end < _U64):
            begin, end = (_u64(o, "an offset") for o in offsets)
    except _InvalidValueError as e:
        raise FormatError(str(e), target=name, rule="header-json", tensor=tensor) from None
    return Entry(tensor, SAFETENSORS[dtype_name], tuple(shape), begin, end)


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Records of every tensor in a safetensors file, in natural name order (``layers.2`` before ``layers.10``).

    Besides the header, only the tiny tensors the quantization rules need are read (their values, capped at
    :data:`paramcount.quant.VALUE_LIMIT` bytes each).

    Raises:
        FormatError: the header breaks a rule (see :func:`read_header`).
    """
    header = read_header(blob, limits)
    entries = sorted(header.entries, key=lambda e: _natural(e.name))
    records = tuple(
        stored(e.name, e.shape, e.dtype.name, stored_bytes=e.end - e.begin, identity=(e.begin, e.end)) for e in entries
    )
    values = {
        e.name: blob.read(header.data_start + e.begin, e.end - e.begin)
        for e in entries
        if e.name.endswith(quant.VALUE_SUFFIXES) and e.end - e.begin <= quant.VALUE_LIMIT
    }
    warnings: tuple[str, ...] = ()
    if header.duplicates:
        warnings = (
            f"the header names {len(header.duplicates)} tensor(s) twice (e.g. {quote(header.duplicates[0])}): the last "
            "entry of each is the one every safetensors loader reads, and the one counted",
        )
    return FileRead(
        Format.SAFETENSORS,
        records,
        len(records),
        sum(e.end - e.begin for e in entries),
        values=values,
        warnings=warnings,
    )


_DIGITS = re.compile(r"(\d+)")


def _natural(name: str) -> list[str | int]:
    """A sort key that orders the numbers inside names by value: ``h.2`` before ``h.10``.

    The split alternates text and the runs of digits between it, so every odd part is a number (a ``²`` is a
    digit to ``str.isdigit`` but not to ``\\d``, nor a number ``int`` reads).

    >>> _natural("h.10.w1²")
    ['h.', 10, '.w', 1, '²']
    """
    parts: list[Any] = _DIGITS.split(name)
    parts[1::2] = [index_value(digits) for digits in parts[1::2]]
    return parts
