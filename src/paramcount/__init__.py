"""paramcount: count and verify the parameters of PyTorch models, exactly.

>>> import paramcount
>>> report = paramcount.count("torch.nn:Linear(784, 10)")
>>> report.parameters.total
7850
"""

from __future__ import annotations

from paramcount._gc import collection_paused

# Importing the package builds a few thousand functions, classes and tables that live as long as the process: the
# collector, paused meanwhile, files them as old instead of traversing them again and again (about 1 ms of a
# command's 60, benchmarks/bench_files.py).
with collection_paused():
    from paramcount._api import check, count, diff, memory, verify
    from paramcount._version import __version__
    from paramcount.errors import (
        FormatError,
        ParamcountError,
        TargetError,
        UnsafeTargetError,
        UsageError,
        VerificationError,
    )
    from paramcount.report import Report

__all__ = [
    "FormatError",
    "ParamcountError",
    "Report",
    "TargetError",
    "UnsafeTargetError",
    "UsageError",
    "VerificationError",
    "__version__",
    "check",
    "count",
    "diff",
    "memory",
    "verify",
]


def __dir__() -> list[str]:
    return __all__
