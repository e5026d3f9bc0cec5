"""Number formatting shared by the renderers and by error messages. Pure and tiny.

>>> exact(124439808), human(124439808), human(7850), human(6738415616), human(999), human(999_999)
('124,439,808', '124.4 M', '7.85 K', '6.74 B', '999', '1.00 M')
>>> human_bytes(31400), human_bytes(512)
('30.7 KiB', '512 B')
"""

from __future__ import annotations

__all__ = ["exact", "human", "human_bytes"]

_COUNT_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))
_COUNT_UNITS_ASCENDING = tuple(reversed(_COUNT_UNITS))
_BYTE_UNITS = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def exact(n: int) -> str:
    """An integer with thousands separators: ``7,850``."""
    return f"{n:,}"


def human(n: int) -> str:
    """A count in K, M, B or T with three or four significant digits: ``7.85 K``, ``124.4 M``."""
    if abs(n) < 1000:
        return str(n)
    # Smallest unit first, so that 999,999 becomes "1.00 M" rather than "1000.0 K".
    for size, unit in _COUNT_UNITS_ASCENDING:
        value = n / size
        if round(abs(value), 1) < 1000 or unit == _COUNT_UNITS[0][1]:
            return f"{value:.2f} {unit}" if round(abs(value), 2) < 100 else f"{value:.1f} {unit}"
    raise AssertionError("unreachable: the largest unit always returns")


def human_bytes(n: int) -> str:
    """A byte count in binary units: ``30.7 KiB``."""
    for size, unit in _BYTE_UNITS:
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
