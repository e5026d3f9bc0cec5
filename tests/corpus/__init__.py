"""The corpus of hostile and broken inputs: every case is built at test time, nothing binary is checked in.

A :class:`Case` writes its files into an empty folder and returns the command-line TARGET to run. Each case says
the exit code it demands: 3 for malformed (or unreadable) input, 4 for input whose loading would run code.
Malicious cases carry a payload that would create ``folder / CANARY`` if anything in it ran.

Groups and their builders: :mod:`.safetensors_cases` (files and indexes), :mod:`.torch_cases` (zip, legacy and
pickles, malicious ones included), :mod:`.gguf_cases`, :mod:`.dcp_cases` (DCP and model folders) and
:mod:`.pickle_cases` (pickles that read differently to a scanner and to the unpickler, pickles outside torch
zips, NumPy files, changes to rebuilt tensors) and :mod:`.target_cases` (bad command-line targets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["CANARY", "Case", "cases"]

#: The file a malicious payload would create in its case folder.
CANARY = "CANARY"


class Case(NamedTuple):
    """One corpus entry.

    Attributes:
        name: unique, readable id.
        group: ``safetensors``, ``torch``, ``pickle``, ``gguf``, ``dcp`` or ``target``.
        build: writes the case into the given empty folder and returns the TARGET argument.
        exit: the exit code the case demands (3 or 4).
        malicious: the case carries a payload; it runs under an audit hook and its canary must not appear.
        rule: the ``FormatError.rule`` the error must name, when the case is about one rule (checked in-process).
        unprivileged: run without root's power to read any file (``setpriv`` drops CAP_DAC_OVERRIDE when the
            tests run as root).
        oracle: ``(loader, global)``: the real loader (``pickle``, ``torch``, ``numpy``: tests/oracles.py) that would
            resolve ``global`` from this file, the verdict the case rests on (tests/test_differential.py checks it);
            ``(loader, global, "called")``: that the loader would call it, too.
    """

    name: str
    group: str
    build: Callable[[Path], str]
    exit: int
    malicious: bool = False
    rule: str | None = None
    unprivileged: bool = False
    oracle: tuple[str, ...] | None = None


def cases() -> list[Case]:
    """Every case, in group order; names are unique."""
    from tests.corpus import (
        dcp_cases,
        gguf_cases,
        loader_cases,
        pickle_cases,
        safetensors_cases,
        target_cases,
        torch_cases,
    )

    found = [
        *safetensors_cases.cases(),
        *torch_cases.cases(),
        *pickle_cases.cases(),
        *gguf_cases.cases(),
        *dcp_cases.cases(),
        *target_cases.cases(),
        *loader_cases.cases(),
    ]
    names = [c.name for c in found]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"duplicate case names: {sorted(duplicates)}"
    return found
