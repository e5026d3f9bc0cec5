"""Coverage-guided fuzzing of one reader with atheris: ``python fuzz/fuzz.py READER [libFuzzer options] [CORPUS]``.

READER is one of safetensors, torchzip, legacy, gguf, dcp, pickle, numpy, or a differential target that checks
paramcount against the real loader on the same bytes: pickle-oracle, zip-oracle, npy-oracle (``differential.py``).
Seeds come from ``fuzz/seeds.py``;
``make fuzz`` runs every reader for ``FUZZ_SECONDS`` each. A finding is any exception other than a paramcount
error, an error message that is not one short line, a crash, a timeout (``-timeout``) or running out of memory
(``-rss_limit_mb``); libFuzzer writes the input to a file.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["paramcount"]):
    from differential import TARGETS as ORACLES
    from targets import TARGETS, run  # fuzz/ is run as a script folder: targets.py sits beside this file


def main() -> None:
    reader = sys.argv.pop(1)
    target = {**TARGETS, **ORACLES}[reader]
    atheris.Setup(sys.argv, lambda data: run(target, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
