"""What a memory plan may ask for, and its values checked: modes, optimizers, strategies, dtypes, device capacities.

>>> capacity("80GiB"), capacity("H100")
((85899345920, None), (85899345920, 'H100'))
"""

from __future__ import annotations

import math

from paramcount.dtypes import bits as dtype_bits
from paramcount.errors import UsageError, quote
from paramcount.footprint.results import Plan

__all__ = [
    "CONVENTIONS",
    "GPUS",
    "MAX_SEQ",
    "MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "STRATEGIES",
    "bits",
    "capacity",
    "dtype_name",
    "plan",
    "tokens",
]

MODES = ("inference", "training")
OPTIMIZERS = ("adamw", "adamw-8bit", "sgd", "sgd-momentum", "adafactor")
STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp", "tp")
PRECISIONS = ("mixed", "pure")
CONVENTIONS = ("paper", "deepspeed")

_GIB = 2**30
_GB = 10**9
#: device memory as the vendor states it (bytes); nvidia-smi shows a little less (the driver reserves some)
GPUS: dict[str, int] = {
    "A100-40GB": 40 * _GIB,
    "A100": 80 * _GIB,
    "A100-80GB": 80 * _GIB,
    "H100": 80 * _GIB,
    "H100-NVL": 94 * _GIB,
    "H200": 141 * _GB,
    "B200": 180 * _GB,
    "GB200": 186 * _GB,
    "MI250X": 128 * _GIB,
    "MI300X": 192 * _GIB,
    "MI325X": 256 * _GIB,
    "L4": 24 * _GIB,
    "L40S": 48 * _GIB,
    "A10": 24 * _GIB,
    "A10G": 24 * _GIB,
    "T4": 16 * _GIB,
    "V100": 32 * _GIB,
    "V100-16GB": 16 * _GIB,
    "RTX-3090": 24 * _GIB,
    "RTX-4090": 24 * _GIB,
    "RTX-5090": 32 * _GIB,
}
# dtype spellings people use on command lines -> the canonical name of paramcount.dtypes
_DTYPES = {
    "fp32": "float32", "float": "float32", "f32": "float32", "fp16": "float16", "half": "float16", "f16": "float16",
    "bf16": "bfloat16", "fp8": "float8_e4m3fn", "float8": "float8_e4m3fn", "e4m3": "float8_e4m3fn",
    "e5m2": "float8_e5m2", "fp64": "float64", "double": "float64", "int4": "int4", "nf4": "int4", "fp4": "int4",
}  # fmt: skip
_SUB_BYTE = {"int4": 4}


def dtype_name(text: str, option: str = "dtype") -> str:
    """The canonical name of a dtype spelt ``bf16``, ``bfloat16``, ``torch.float16`` ...; a UsageError otherwise.

    >>> dtype_name("bf16"), dtype_name("torch.float16"), dtype_name("int8")
    ('bfloat16', 'float16', 'int8')
    """
    name = text.strip().lower().removeprefix("torch.")
    name = _DTYPES.get(name, name)
    if name not in _SUB_BYTE and dtype_bits(name) is None:
        raise UsageError(
            f"{text!r} is not a dtype paramcount knows",
            option=option,
            fix="use e.g. float32, bfloat16, float16, float8_e4m3fn, int8 or int4",
        )
    return name


def bits(name: str) -> int | None:
    return _SUB_BYTE.get(name) or dtype_bits(name)


def capacity(text: str) -> tuple[int, str | None]:
    """One device's memory, and its name when one was given: ``80GiB``, ``80GB``, ``81559MiB``, a byte count, or
    a device name (``H100``, :data:`GPUS`)."""
    raw = text.strip().replace("_", "").replace(",", "")
    key = raw.upper().replace(" ", "-")
    for name, size in GPUS.items():
        if key in (name, name.replace("-", ""), "NVIDIA-" + name):
            return size, name
    units = {"TIB": 2**40, "GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "TB": 10**12, "GB": 10**9, "MB": 10**6, "B": 1}
    number, factor = key, 1
    for unit, scale in units.items():
        if key.endswith(unit) and key[: -len(unit)]:
            number, factor = key[: -len(unit)], scale
            break
    try:
        amount = float(number)
    except ValueError:
        amount = 0.0
    value = int(amount * factor) if math.isfinite(amount) else 0
    if value <= 0:
        raise UsageError(
            f"{text!r} is neither a size nor a device paramcount knows",
            option="gpu_memory",
            fix=f"give a size (80GiB, 80GB) or one of {', '.join(GPUS)}",
        )
    return value, None


#: the longest context paramcount plans for (2^24 tokens): beyond it a ``seq`` is a typo
MAX_SEQ = 2**24


def plan(
    *,
    mode: str,
    dtype: str | None,
    batch: int,
    seq: int | str | None,
    kv_dtype: str | None,
    optimizer: str,
    precision: str,
    gpus: int,
    strategy: str,
    convention: str,
    activations: str | None,
    gpu_memory: int | str | None,
) -> Plan:
    """The memory plan with every value checked: one clear line for the first that is wrong.

    Each error names the keyword at fault as :attr:`UsageError.option` (``"gpu_memory"``); its message spells it as
    Python does, and the command line spells it as a flag (``--gpu-memory``).
    """
    for name, value, allowed in (
        ("mode", mode, MODES),
        ("optimizer", optimizer, OPTIMIZERS),
        ("precision", precision, PRECISIONS),
        ("strategy", strategy, STRATEGIES),
        ("convention", convention, CONVENTIONS),
        ("activations", activations, (None, "measure")),
    ):
        if value not in allowed:
            shown = ", ".join(a for a in allowed if a is not None)
            raise UsageError(f"must be one of {shown}, not {value!r}", option=name)
    if isinstance(seq, str):
        seq = tokens(seq)
    for name, number in (("batch", batch), ("gpus", gpus), ("seq", seq)):
        if number is None and name == "seq":
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise UsageError(f"must be a whole number >= 1, not {number!r}", option=name)
    if seq is not None and seq > MAX_SEQ:
        raise UsageError(f"{seq:,} is beyond any model's context ({MAX_SEQ:,} tokens at most)", option="seq")
    if batch > MAX_SEQ:
        raise UsageError(f"{batch:,} is beyond what paramcount plans for ({MAX_SEQ:,} at most)", option="batch")
    if mode == "inference" and strategy not in ("ddp", "tp"):
        raise UsageError(
            f"{strategy} is for training", option="strategy", fix="plan training (mode training), or leave it out"
        )
    if mode == "training" and strategy == "tp":
        raise UsageError(
            "tp is modelled for inference only", option="strategy", fix="use zero1, zero2, zero3 or fsdp for training"
        )
    size: int | None = None
    device_name = None
    if isinstance(gpu_memory, int) and not isinstance(gpu_memory, bool):
        if gpu_memory < 1:
            raise UsageError(f"must be positive, not {gpu_memory}", option="gpu_memory")
        size = gpu_memory
    elif isinstance(gpu_memory, str):
        size, device_name = capacity(gpu_memory)
    elif gpu_memory is not None:
        raise UsageError(f"must be a size or a device name, not {gpu_memory!r}", option="gpu_memory")
    return Plan(
        mode=mode,
        dtype=None if dtype is None else dtype_name(dtype),
        batch=batch,
        seq=seq,
        kv_dtype=None if kv_dtype is None else dtype_name(kv_dtype, "kv_dtype"),
        optimizer=optimizer,
        precision=precision,
        gpus=gpus,
        strategy=strategy,
        convention=convention,
        activations=activations,
        capacity=size,
        device_name=device_name,
    )


def tokens(text: str) -> int:
    """A token count as context lengths are quoted: a whole number >= 1, or with ``k`` for 1,024 (``8k`` = 8,192).

    >>> tokens("8k"), tokens("131,072")
    (8192, 131072)
    """
    raw = text.strip().replace(",", "").replace("_", "")
    scale = 1
    if raw[-1:] in ("k", "K"):
        raw, scale = raw[:-1], 1024
    if not (0 < len(raw) <= 18 and raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise UsageError(f"must be a whole number >= 1 (or 8k = 8,192), not {quote(text, 60)}", option="seq")
    return int(raw) * scale
