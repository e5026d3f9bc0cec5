"""Quantized weights -> logical parameters: one set of rules for files (and, through the same names, live models).

A quantized checkpoint stores packed integers (GPTQ/AWQ ``qweight``, compressed-tensors ``weight_packed``,
bitsandbytes 4-bit ``weight``) whose element count says nothing about the model: a 4-bit GPTQ ``qweight`` holds 8
weights per int32. These rules find each packed weight beside its auxiliaries (scales, zero points, group indices,
absmax, quant maps; reference/formats.md 7) and give it its **logical** shape, the unquantized one, while its
stored elements and bytes stay what the file holds. Auxiliaries are overhead, never parameters.

The scheme comes from ``quantization_config`` (``config.json``) or ``quantize_config.json`` when present, else from
the tensors themselves. Two facts can only come from tiny tensors' values, read with a size cap by the file
reader: compressed-tensors' ``weight_shape`` (two ints) and bitsandbytes' ``quant_state`` JSON.

>>> from paramcount.records import Kind, TensorRecord
>>> packed = [
...     TensorRecord.of("fc.qweight", "fc", Kind.PARAMETER, (64, 256), "int32", itemsize=4, identity=1),
...     TensorRecord.of("fc.scales", "fc", Kind.AUXILIARY, (4, 256), "float16", itemsize=2, identity=2),
...     TensorRecord.of("fc.g_idx", "fc", Kind.AUXILIARY, (512,), "int32", itemsize=4, identity=3),
... ]
>>> records, scheme = logical(packed, Scheme("gptq", 4, 128), {})
>>> records[0].shape, records[0].elements, records[0].stored_bytes, scheme
((256, 512), 131072, 65536, 'gptq 4-bit')
"""

from __future__ import annotations

import json
import math
import struct

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.dtypes import bits as dtype_bits
from paramcount.records import Kind, Note, Role, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = [
    "AUXILIARIES",
    "AUXILIARY_SUFFIXES",
    "VALUE_SUFFIXES",
    "Scheme",
    "logical",
    "scheme_from_config",
    "unpacked_name",
]

#: The tensors that support quantized weights, by scheme, as the last part of their names (reference/formats.md
#: 7): overhead, never parameters. :mod:`paramcount.classify` marks them in every file and live model.
AUXILIARIES: dict[str, tuple[str, ...]] = {
    "bitsandbytes": (
        "absmax",
        "quant_map",
        "nested_absmax",
        "nested_quant_map",
        "bitsandbytes__nf4",
        "bitsandbytes__fp4",
        "SCB",
        "weight_format",
    ),
    "gptq, awq": ("qzeros", "scales", "g_idx"),
    "fp8": ("weight_scale", "weight_scale_inv", "input_scale"),
    "compressed-tensors": (
        "weight_zero_point",
        "weight_g_idx",
        "weight_shape",
        "weight_global_scale",
        "input_global_scale",
    ),
}
AUXILIARY_SUFFIXES: tuple[str, ...] = tuple(suffix for group in AUXILIARIES.values() for suffix in group)

#: Names whose (tiny) tensor values the quantization rules need; readers fetch them up to VALUE_LIMIT bytes.
VALUE_SUFFIXES = (".weight_shape", ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4")
VALUE_LIMIT = 4096


class Scheme(NamedTuple):
    """What a checkpoint's configuration says about its quantization.

    Attributes:
        method: ``gptq``, ``awq``, ``compressed-tensors``, ``bitsandbytes``, ``fp8`` ... (lower case).
        bits: bits per quantized weight, when given.
        group_size: weights per scale group, when given.
        version: AWQ's ``gemm`` or ``gemv``; compressed-tensors' format (``pack-quantized``).
    """

    method: str
    bits: int | None = None
    group_size: int | None = None
    version: str | None = None


def scheme_from_config(config: Mapping[str, Any] | None, quantize_config: Mapping[str, Any] | None) -> Scheme | None:
    """The scheme named by ``config.json``'s ``quantization_config`` or by AutoGPTQ's ``quantize_config.json``.

    >>> scheme_from_config({"quantization_config": {"quant_method": "awq", "bits": 4, "version": "GEMM"}}, None)
    Scheme(method='awq', bits=4, group_size=None, version='gemm')
    """
    section = config.get("quantization_config") if config else None
    if not isinstance(section, dict):
        section = dict(quantize_config) if quantize_config else None
        if section is not None:
            section.setdefault("quant_method", "gptq")
    if not isinstance(section, dict):
        return None
    method = str(section.get("quant_method", "")).lower().replace("_", "-")
    bits = section.get("bits", section.get("w_bit"))
    group = section.get("group_size", section.get("q_group_size"))
    version = section.get("version", section.get("format"))
    if method == "compressed-tensors":
        version = section.get("format")
        groups = section.get("config_groups")
        if isinstance(groups, dict):
            for group_config in groups.values():
                weights = group_config.get("weights") if isinstance(group_config, dict) else None
                if isinstance(weights, dict):
                    bits = weights.get("num_bits", bits)
                    group = weights.get("group_size", group)
                    break
    if method == "bitsandbytes":
        bits = 4 if section.get("load_in_4bit") else 8 if section.get("load_in_8bit") else bits
    return Scheme(
        method or "unknown",
        bits if type(bits) is int and bits > 0 else None,
        group if type(group) is int and group > 0 else None,
        str(version).lower() if isinstance(version, str) else None,
    )


def logical(
    records: list[TensorRecord], scheme: Scheme | None, values: Mapping[str, bytes]
) -> tuple[list[TensorRecord], str | None]:
    """Records with every packed weight given its logical shape, and the scheme found (``None`` if none).

    Each record is matched against :data:`_RULES` by its name's suffix; the first rule whose companions are present
    gives it its logical shape.

    Args:
        records: a file's records, auxiliaries already marked (:func:`paramcount.classify.role`).
        scheme: from the configuration, if any.
        values: bytes of the tensors named by :data:`VALUE_SUFFIXES`, by name, when the reader could read them.
    """
    by_name = {r.name: r for r in records}
    replaced: dict[str, TensorRecord] = {}
    found: set[str] = set()
    for r in records:
        for rule in _RULES:
            if not r.name.endswith(rule.suffix):
                continue
            prefix = r.name[: -len(rule.suffix)]
            if rule.needs and not any(prefix + need in by_name for need in rule.needs):
                continue
            made = rule.logical(r, _Beside(prefix, by_name, scheme, values))
            if made is None:
                continue
            replaced[r.name], label = made
            found.add(label)
            for suffix in rule.auxiliaries:
                companion = by_name[prefix + suffix]
                replaced[companion.name] = companion._replace(kind=Kind.AUXILIARY, notes=(Role.QUANTIZATION_AUXILIARY,))
            break
    if not replaced:
        if scheme is not None and scheme.method in ("fp8", "compressed-tensors"):
            return records, scheme.method  # float formats: stored = logical, auxiliaries already excluded
        return records, None
    return [replaced.get(r.name, r) for r in records], ", ".join(sorted(found))


_BNB_STATES = (".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4")


class _Beside(NamedTuple):
    """What a rule may look at around a packed weight.

    Attributes:
        prefix: the packed weight's name without the rule's suffix (``"model.layers.0.mlp.up_proj"``).
        records: every record of the file, by name (its scales, zero points, group indices).
        scheme: what the configuration says, if anything.
        values: the bytes of the tiny tensors named by :data:`VALUE_SUFFIXES`, by name.
    """

    prefix: str
    records: Mapping[str, TensorRecord]
    scheme: Scheme | None
    values: Mapping[str, bytes]


def _packed(r: TensorRecord, shape: tuple[int, ...], label: str) -> tuple[TensorRecord, str]:
    elements = math.prod(shape)
    return (
        r._replace(
            kind=Kind.PARAMETER,
            shape=shape,
            elements=elements,
            dtype=label.replace(" ", "-"),
            notes=(Note.QUANTIZED, *r.notes),
        ),
        label,
    )


def _gptq_or_awq(r: TensorRecord, beside: _Beside) -> tuple[TensorRecord, str] | None:
    scheme = beside.scheme
    scales, g_idx = beside.records.get(beside.prefix + ".scales"), beside.records.get(beside.prefix + ".g_idx")
    if r.shape is None or len(r.shape) != 2 or scales is None or scales.shape is None or len(scales.shape) != 2:
        return None
    rows, columns = r.shape
    method = scheme.method if scheme is not None and scheme.method in ("gptq", "awq") else None
    bits = scheme.bits if scheme is not None and scheme.bits else 4
    per_word = 32 // bits if 32 % bits == 0 else None
    if method is None:
        # GPTQ packs along the input dimension (qweight's columns are the outputs, like scales'); AWQ GEMM along
        # the output dimension (qweight's rows are the inputs).
        method = "gptq" if g_idx is not None or columns == scales.shape[1] else "awq"
    if method == "gptq":
        inputs = g_idx.shape[0] if g_idx is not None and g_idx.shape else rows * 32 // bits
        return _packed(r, (columns, inputs), f"gptq {bits}-bit")
    version = scheme.version if scheme is not None else None
    if version == "gemv" or (
        version is None and per_word and scales.shape[0] == rows and columns * per_word != scales.shape[1]
    ):
        # GEMV: qweight (out, in // 8)
        return _packed(r, (rows, columns * (per_word or 8)), f"awq {bits}-bit")
    return _packed(r, (scales.shape[1], rows), f"awq {bits}-bit")


def _compressed(r: TensorRecord, beside: _Beside) -> tuple[TensorRecord, str] | None:
    scheme = beside.scheme
    bits = scheme.bits if scheme is not None and scheme.bits else 4
    if scheme is not None and scheme.version is not None and "nvfp4" in scheme.version:
        bits = 4
    word = dtype_bits(r.dtype)
    if r.shape is None or len(r.shape) != 2 or word is None or word % bits:
        return None
    rows, words = r.shape
    shape = (rows, words * (word // bits))  # an upper bound when the last word of a row is padded
    raw = beside.values.get(beside.prefix + ".weight_shape")
    if raw is not None and len(raw) in (8, 16):
        stated = struct.unpack("<2i" if len(raw) == 8 else "<2q", raw)
        # The stated shape is believed only where the packed words hold exactly it: a row of ``stated[1]``
        # values padded to whole words (a crafted weight_shape cannot claim 2^62 parameters for 4 bytes).
        if stated[0] == rows and stated[1] >= 0 and -(-stated[1] * bits // word) == words:
            shape = stated
    return _packed(r, shape, f"compressed-tensors {bits}-bit")


def _mxfp4(r: TensorRecord, beside: _Beside) -> tuple[TensorRecord, str] | None:
    """MXFP4 (gpt-oss): ``*_blocks`` uint8 ``(..., groups, 16)`` hold two FP4 values a byte, 32 per group."""
    if r.shape is None or len(r.shape) < 2 or r.dtype != "uint8":
        return None
    *outer, groups, per_group = r.shape
    return _packed(r, (*outer, groups * per_group * 2), "mxfp4")


def _bitsandbytes(r: TensorRecord, beside: _Beside) -> tuple[TensorRecord, str] | None:
    for suffix in _BNB_STATES:
        raw = beside.values.get(r.name + suffix)
        if raw is None:
            continue
        try:
            state = json.loads(raw.decode("utf-8"))
            shape = tuple(state["shape"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
            return None
        if not all(type(d) is int and d >= 0 for d in shape):
            return None
        # The state's shape is believed only where the packed bytes hold exactly it, two values a byte: a crafted
        # state cannot claim 10^192 parameters for an 8-byte weight. Otherwise the bytes alone are counted.
        if r.stored_bytes is not None and (math.prod(shape) + 1) // 2 != r.stored_bytes:
            break
        return _packed(r, shape, f"bitsandbytes {suffix.rsplit('__', 1)[1]}")
    if r.stored_bytes is None:
        return None
    # Without its quant state: two 4-bit values per stored byte (the shape is unknown, the count is not).
    return _packed(r, (r.stored_bytes * 2,), "bitsandbytes 4-bit")


class _Rule(NamedTuple):
    """One packed-weight layout: how to find the packed weight and how to give it its logical shape.

    Attributes:
        suffix: the packed weight's name ends with it (``".qweight"``); the rest of the name is the prefix.
        methods: the ``quant_method`` values (config.json) that write this layout.
        needs: suffixes of which at least one must follow the prefix in another tensor's name; none for no need.
        auxiliaries: suffixes after the prefix of companions that become auxiliaries when the rule applies.
        logical: ``(record, beside) -> (record, scheme label)``, or ``None`` when the tensors do not fit the layout
            after all; ``beside`` (:class:`_Beside`) holds what the rule may look at around the packed weight.
        unpacked: what replaces ``suffix`` in the name the unquantized model gives the weight (``".weight"``).
    """

    suffix: str
    methods: tuple[str, ...]
    needs: tuple[str, ...]
    auxiliaries: tuple[str, ...]
    logical: Callable[[TensorRecord, _Beside], tuple[TensorRecord, str] | None]
    unpacked: str = ".weight"


#: The layouts, tried in order for every record; a new scheme is one entry and one function.
_RULES: tuple[_Rule, ...] = (
    _Rule(".qweight", ("gptq", "awq"), (".scales",), (), _gptq_or_awq),
    _Rule(".weight_packed", ("compressed-tensors",), (), (), _compressed),
    _Rule(".weight", ("bitsandbytes",), tuple(".weight" + s for s in _BNB_STATES), (), _bitsandbytes),
    _Rule("_blocks", ("mxfp4",), ("_scales",), ("_scales",), _mxfp4, unpacked=""),
)


def unpacked_name(name: str) -> str:
    """The name the unquantized model gives a packed weight (a record noted quantized).

    >>> unpacked_name("model.layers.0.mlp.up_proj.qweight"), unpacked_name("mlp.experts.gate_up_proj_blocks")
    ('model.layers.0.mlp.up_proj.weight', 'mlp.experts.gate_up_proj')
    """
    for rule in _RULES:
        if name.endswith(rule.suffix):
            return name[: -len(rule.suffix)] + rule.unpacked
    return name
