"""One table of dtypes across formats: canonical name (torch's spelling) and bits per element.

>>> SAFETENSORS["BF16"]
DType(name='bfloat16', bits=16)
>>> SAFETENSORS["F4"].bits
4
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SAFETENSORS", "TORCH", "TORCH_STORAGES", "DType"]


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
