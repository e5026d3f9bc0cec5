"""The whole hostile-input corpus (tests/corpus/): every case in its own process, bounded, one error line.

Each case runs the CLI in a subprocess with a 512 MB address-space limit and a CPU-time limit. It must exit with
the code the case demands (3 malformed, 4 unsafe), print exactly one line on stderr and no traceback, and finish
its count in under a second. Malicious cases run under an audit hook that records any import, exec, compile,
process spawn or file opened for writing after start-up, and their canary file must not appear. Cases about one
rule are also run in-process to check that the error names that rule.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
import torch

import paramcount
from paramcount.errors import FormatError, ParamcountError
from tests.corpus import CANARY, Case, cases
from tests.messages import error_line

if TYPE_CHECKING:
    from pathlib import Path

ADDRESS_SPACE = 512 * 2**20
CPU_SECONDS = 20
WALL_SECONDS = 60
MAX_COUNT_SECONDS = 1.0
MAX_ERROR_CHARACTERS = 2000  # names from a file are quoted and cut: one line stays short whatever the file holds

RUNNER = r"""
import contextlib, io, json, os, sys, time
import paramcount.cli, paramcount.sources.files, paramcount.tally, paramcount.report, paramcount.limits
import importlib, paramcount.formats, paramcount.render.table
for _reader in paramcount.formats.READERS:  # every reader module, imported before the audit hook is installed
    importlib.import_module(f"paramcount.formats.{_reader.module}")
# and the standard library modules paramcount imports only when a file needs them (a tar, compressed zip members)
import tarfile, bz2, lzma
target, malicious, warm = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
violations = []
FORBIDDEN = ("exec", "import", "compile", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
             "os.forkpty", "subprocess.Popen", "ctypes.dlopen", "pickle.find_class", "marshal.loads",
             "os.remove", "os.rename", "os.unlink", "shutil.rmtree", "socket.connect")
def hook(event, args):
    writing = event == "open" and (
        (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
        or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)))
    if event in FORBIDDEN or writing:
        violations.append(f"{event} {args!r:.200}")
        raise RuntimeError(f"audit: {event}")
if malicious:
    # The CLI's own lazy imports (argparse imports locale) happen before the hook is installed.
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        paramcount.cli.main(["count", warm])
        paramcount.cli.main(["count", warm + ".missing"])
    sys.addaudithook(hook)
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = paramcount.cli.main(["count", target])
elapsed = time.perf_counter() - start
sys.__stdout__.write(json.dumps({"code": code, "seconds": elapsed, "violations": violations,
                                 "stdout": out.getvalue()[:500]}) + "\n")
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _unprivileged() -> list[str]:
    """A command prefix that takes root's power to read any file away (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a file cannot be made unreadable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _run(case: Case, target: str, warm: str) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PARAMCOUNT_DEBUG", None)
    prefix = _unprivileged() if case.unprivileged else []
    result = subprocess.run(
        [*prefix, sys.executable, "-c", RUNNER, target, "1" if case.malicious else "0", warm],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        check=False,
        timeout=WALL_SECONDS,
        env=env,
        preexec_fn=_limits,
    )
    lines = result.stdout.strip().splitlines()
    outcome: dict[str, Any] = json.loads(lines[-1]) if lines else {"code": None}
    outcome["returncode"] = result.returncode
    outcome["stderr"] = result.stderr
    return outcome


def test_the_corpus_has_every_group_it_promises() -> None:
    found = cases()
    groups = Counter(c.group for c in found)
    assert len(found) >= 150
    assert groups["safetensors"] >= 40
    assert groups["torch"] >= 40
    assert sum(c.malicious for c in found if c.group == "torch") >= 20
    assert groups["pickle"] >= 20
    assert groups["gguf"] >= 30
    assert groups["dcp"] >= 15
    assert groups["target"] >= 10
    assert all(c.exit in (3, 4) for c in found)


def test_every_corpus_case_fails_cleanly_and_runs_nothing(tmp_path: Path) -> None:
    warm = tmp_path / "warm.pt"
    torch.save({"w": torch.zeros(2)}, warm)
    warm.chmod(0o644)
    built: list[tuple[Case, str, Path]] = []
    for case in cases():
        folder = tmp_path / case.name
        folder.mkdir()
        built.append((case, case.build(folder), folder))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        outcomes = list(pool.map(lambda item: _run(item[0], item[1], str(warm)), built))
    failures = []
    for (case, _target, folder), outcome in zip(built, outcomes, strict=True):
        stderr = outcome["stderr"].strip()
        problems = []
        if outcome["code"] != case.exit:
            problems.append(f"exit {outcome['code']} (process {outcome['returncode']}), expected {case.exit}")
        if len(stderr.splitlines()) != 1 or not stderr.startswith("paramcount: error: "):
            problems.append(f"stderr is not one error line: {stderr[:300]!r}")
        if len(stderr) > MAX_ERROR_CHARACTERS:
            problems.append(f"the error line has {len(stderr)} characters: {stderr[:200]!r}")
        if "Traceback" in stderr:
            problems.append("traceback")
        if outcome.get("seconds", 0) >= MAX_COUNT_SECONDS:
            problems.append(f"took {outcome['seconds']:.2f} s")
        if outcome.get("violations"):
            problems.append(f"audit: {outcome['violations']}")
        if (folder / CANARY).exists():
            problems.append("the canary exists: a payload ran")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("case", [c for c in cases() if c.rule and not c.malicious], ids=lambda c: c.name)
def test_rule_cases_name_their_rule(tmp_path: Path, case: Case) -> None:
    target = case.build(tmp_path)
    with pytest.raises(ParamcountError, match=error_line(target)) as caught:
        paramcount.count(target)
    assert isinstance(caught.value, FormatError), caught.value
    assert caught.value.rule == case.rule, str(caught.value)
