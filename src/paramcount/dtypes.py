"""One table of dtypes across formats: canonical name (torch's spelling), bits per element, ggml block sizes.

Every reader and rule looks widths up here; no other module spells a dtype's size.

>>> SAFETENSORS["BF16"]
DType(name='bfloat16', bits=16)
>>> SAFETENSORS["F4"].bits
4
>>> GGML[12], GGML[0].name
(GGMLType(name='Q4_K', block=256, bytes=144), 'float32')
>>> bits("int32"), bits("gptq-4-bit")
(32, None)
"""

from __future__ import annotations

from paramcount._typing import NamedTuple

__all__ = ["GGML", "SAFETENSORS", "TORCH", "TORCH_STORAGES", "DType", "GGMLType", "bits"]


class DType(NamedTuple):
    """A dtype's canonical name and its size in bits per stored element."""

    name: str
    bits: int


# safetensors `Dtype` (safetensors/src/tensor.rs @ 24b0b2857fef). Names are case-sensitive: "f32" is invalid.
# F4 counts FP4 values (two per byte); torch's float4_e2m1fn_x2 counts byte pairs, half as many (formats.md 1.1).
SAFETENSORS: dict[str, DType] = {
    "BOOL": DType("bool", 8),
    "F4": DType("float4_e2m1", 4),
    "F6_E2M3": DType("float6_e2m3", 6),
    "F6_E3M2": DType("float6_e3m2", 6),
    "U8": DType("uint8", 8),
    "I8": DType("int8", 8),
    "F8_E5M2": DType("float8_e5m2", 8),
    "F8_E4M3": DType("float8_e4m3fn", 8),
    "F8_E8M0": DType("float8_e8m0fnu", 8),
    "F8_E4M3FNUZ": DType("float8_e4m3fnuz", 8),
    "F8_E5M2FNUZ": DType("float8_e5m2fnuz", 8),
    "I16": DType("int16", 16),
    "U16": DType("uint16", 16),
    "F16": DType("float16", 16),
    "BF16": DType("bfloat16", 16),
    "I32": DType("int32", 32),
    "U32": DType("uint32", 32),
    "F32": DType("float32", 32),
    "C64": DType("complex64", 64),
    "F64": DType("float64", 64),
    "I64": DType("int64", 64),
    "U64": DType("uint64", 64),
}


# torch dtypes as pickles name them (``GLOBAL torch <name>``), with aliases, by torch's own element size.
# Sub-byte torch dtypes (uint1..7, int1..7, float4_e2m1fn_x2, bits*) occupy one byte per element in torch.
TORCH: dict[str, DType] = {
    **{n: DType("float32", 32) for n in ("float32", "float")},
    **{n: DType("float64", 64) for n in ("float64", "double")},
    **{n: DType("float16", 16) for n in ("float16", "half")},
    "bfloat16": DType("bfloat16", 16),
    **{n: DType("int64", 64) for n in ("int64", "long")},
    **{n: DType("int32", 32) for n in ("int32", "int")},
    **{n: DType("int16", 16) for n in ("int16", "short")},
    "int8": DType("int8", 8),
    "uint8": DType("uint8", 8),
    "uint16": DType("uint16", 16),
    "uint32": DType("uint32", 32),
    "uint64": DType("uint64", 64),
    "bool": DType("bool", 8),
    **{n: DType("complex32", 32) for n in ("complex32", "chalf")},
    **{n: DType("complex64", 64) for n in ("complex64", "cfloat")},
    **{n: DType("complex128", 128) for n in ("complex128", "cdouble")},
    **{n: DType(n, 8) for n in ("float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz")},
    "float8_e8m0fnu": DType("float8_e8m0fnu", 8),
    "float4_e2m1fn_x2": DType("float4_e2m1fn_x2", 8),
    **{n: DType(n, 8) for n in ("bits8", "bits1x8", "bits2x4", "bits4x2")},
    "bits16": DType("bits16", 16),
    **{f"uint{i}": DType(f"uint{i}", 8) for i in range(1, 8)},
    **{f"int{i}": DType(f"int{i}", 8) for i in range(1, 8)},
    "qint8": DType("qint8", 8),
    "quint8": DType("quint8", 8),
    "qint32": DType("qint32", 32),
    "quint4x2": DType("quint4x2", 8),
    "quint2x4": DType("quint2x4", 8),
}

# Typed storage classes (``GLOBAL torch <Name>Storage``) -> the dtype of their elements.
TORCH_STORAGES: dict[str, DType] = {
    f"{prefix}Storage": TORCH[dtype]
    for prefix, dtype in (
        ("Float", "float32"),
        ("Double", "float64"),
        ("Half", "float16"),
        ("BFloat16", "bfloat16"),
        ("Long", "int64"),
        ("Int", "int32"),
        ("Short", "int16"),
        ("Char", "int8"),
        ("Byte", "uint8"),
        ("Bool", "bool"),
        ("ComplexFloat", "complex64"),
        ("ComplexDouble", "complex128"),
        ("QInt8", "qint8"),
        ("QUInt8", "quint8"),
        ("QInt32", "qint32"),
        ("QUInt4x2", "quint4x2"),
        ("QUInt2x4", "quint2x4"),
    )
}


class GGMLType(NamedTuple):
    """A ggml tensor type: its name (torch's spelling for the unquantized ones), elements and bytes per block."""

    name: str
    block: int
    bytes: int


# gguf-py constants.py GGML_QUANT_SIZES (QK_K = 256). Removed ids (4, 5, 31-33, 36-38) are absent: unknown.
GGML: dict[int, GGMLType] = {
    i: GGMLType(n, b, s)
    for i, n, b, s in (
        (0, "float32", 1, 4),
        (1, "float16", 1, 2),
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
        (24, "int8", 1, 1),
        (25, "int16", 1, 2),
        (26, "int32", 1, 4),
        (27, "int64", 1, 8),
        (28, "float64", 1, 8),
        (29, "IQ1_M", 256, 56),
        (30, "bfloat16", 1, 2),
        (34, "TQ1_0", 256, 54),
        (35, "TQ2_0", 256, 66),
        (39, "MXFP4", 32, 17),
        (40, "NVFP4", 64, 36),
        (41, "Q1_0", 128, 18),
    )
}

# Canonical name -> bits, over every table above (the unquantized ggml types share torch's names).
_BITS: dict[str, int] = {
    **{d.name: d.bits for d in SAFETENSORS.values()},
    **{d.name: d.bits for d in TORCH.values()},
}


def bits(name: str) -> int | None:
    """Bits per element of the dtype called ``name`` in any table above; ``None`` for a packed or unknown one."""
    return _BITS.get(name)
