"""One table of dtypes across formats: canonical name (torch's spelling) and bits per element.

>>> SAFETENSORS["BF16"]
DType(name='bfloat16', bits=16)
>>> SAFETENSORS["F4"].bits
4
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SAFETENSORS", "DType"]


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
