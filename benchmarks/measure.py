"""Tools run as whole processes: best wall time, the process's own peak RSS, and its output.

The peak is the child's ``VmHWM`` from ``/proc/self/status``, which the child reads as it exits. ``ru_maxrss``
(from ``wait4`` or ``RUSAGE_CHILDREN``) does not measure it on Linux: a process inherits its parent's high-water
mark across fork and exec, so once a benchmark had imported torch (220 MB) every child it started measured at
least 220 MB, paramcount's 17 MB count included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

__all__ = ["CHILD_ENV", "paramcount_cli", "python", "run"]

# Tools run as users run them: with Python's bytecode cache. An inherited PYTHONDONTWRITEBYTECODE=1 would make
# every paramcount run recompile its modules (about 40 ms) while the stdlib peers load cached bytecode.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

_MARK = "bench-peak-kb "
_REPORT_PEAK = f"""
import atexit as _atexit, os as _os
def _report_peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    _os.write(2, ("\\n{_MARK}" + kb + "\\n").encode())
_atexit.register(_report_peak)
"""


def python(code: str, *args: str) -> list[str]:
    """A command that runs ``code`` in a fresh interpreter with ``args``, reporting its peak RSS as it exits."""
    return [sys.executable, "-c", _REPORT_PEAK + code, *args]


def paramcount_cli(*args: str) -> list[str]:
    """The ``paramcount`` command with ``args``: its console script (beside this Python), run as a script."""
    script = os.path.join(os.path.dirname(sys.executable), "paramcount")
    code = f"import sys\nsys.argv[0] = {script!r}\nexec(compile(open({script!r}).read(), {script!r}, 'exec'))"
    return python(code, *args)


def run(argv: list[str], repeats: int) -> tuple[float, float, str]:
    """Best wall time over ``repeats`` runs, the largest peak RSS (MB) of one run, and the last run's stdout.

    ``argv`` comes from :func:`python` or :func:`paramcount_cli`. Raises SystemExit if a run fails.
    """
    best, peak, out = float("inf"), 0.0, ""
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=CHILD_ENV, check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{argv[-1]}: exit {result.returncode}: {result.stderr.strip()[-500:]}")
        kb = [line.removeprefix(_MARK) for line in result.stderr.splitlines() if line.startswith(_MARK)]
        if not kb:
            raise SystemExit(f"{argv[-1]}: the child did not report its peak RSS")
        best = min(best, elapsed)
        peak = max(peak, int(kb[-1]) / 1024)
        out = result.stdout
    return best, peak, out
