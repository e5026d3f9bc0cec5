"""paramcount's verdicts against the real loaders, on every file of the corpus (tests/oracles.py).

For every file a corpus case builds, the real loaders run in a throwaway process with every global outside the
allowlist replaced by a recorded stand-in: ``torch.load`` (torch's zip reader, legacy and tar paths),
``torch.load(weights_only=True)``, ``pickle.load`` with the C and the pure-Python unpickler, and
``numpy.load(allow_pickle=True)``. The invariants (SECURITY.md):

* a global a plain loader (``pickle.load``, ``numpy.load``) would resolve outside the allowlist: paramcount exits 4;
* a global ``torch.load`` would call or change outside the allowlist: exit 4; one it would only import or
  instantiate, or call to build a value (``functools.partial``, an ``Enum`` member's lookup): exit 4, or exit 0
  with the global named in the untrusted warning;
* a file ``torch.load(weights_only=True)`` loads is never refused as malformed (exit 3): paramcount counts it or
  finds it unsafe;
* the ``data.pkl`` paramcount reads is the record torch's own reader returns (``torch._C.PyTorchFileReader``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

import paramcount
from paramcount.errors import ParamcountError
from paramcount.formats import zip
from paramcount.formats.pickled import ALLOWLIST as PLAIN
from paramcount.formats.torchpickle import ALLOWLIST as TORCH
from tests.corpus import CANARY, cases
from tests.oracles import UNPICKLING, run_loaders

if TYPE_CHECKING:
    from pathlib import Path

LOADERS = ("torch", "torch-weights-only", "torch-reader", "pickle", "pickle-python", "numpy")


def _allowed(allowlist: Any, module: str, name: str) -> bool:
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    pairs = {(module, name), NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))}
    return any("." not in n and f"{m}.{n}" in allowlist.names for m, n in pairs)


def _verdict(target: str) -> tuple[int, tuple[str, ...], str]:
    """paramcount's exit code for ``target``, the untrusted warnings, and the error line (with its rule)."""
    try:
        report = paramcount.count(target)
    except ParamcountError as e:
        return e.exit_code, (), f"{e} [{getattr(e, 'rule', '')}]"
    return 0, report.warnings if report.verdict == "untrusted" else (), ""


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and p.name != CANARY)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every corpus case built, its verdict, and what each loader did with each of its files."""
    root = tmp_path_factory.mktemp("differential")
    built: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    for case in cases():
        folder = root / case.name
        folder.mkdir()
        target = case.build(folder)
        if case.unprivileged:
            continue
        files = [target] if os.path.isfile(target) else [f for f in _files(folder) if f.endswith(".metadata")]
        built.append({"case": case, "target": target, "files": files, "verdict": _verdict(target)})
        for file in files:
            allowed = sorted({*PLAIN.names, *UNPICKLING})
            jobs.extend({"path": file, "loader": loader, "allowed": allowed} for loader in LOADERS)
    results = run_loaders(jobs)
    by_file: dict[tuple[str, str], dict[str, Any]] = {(r["path"], r["loader"]): r for r in results}
    for item in built:
        item["loaders"] = {(f, loader): by_file[(f, loader)] for f in item["files"] for loader in LOADERS}
    return built


def test_a_global_a_plain_loader_resolves_outside_the_allowlist_makes_the_file_unsafe(
    corpus: list[dict[str, Any]],
) -> None:
    failures = []
    for item in corpus:
        code, _, line = item["verdict"]
        for (_file, loader), result in item["loaders"].items():
            if loader not in ("pickle", "pickle-python", "numpy"):
                continue
            outside = [g for g in result["globals"] if not _allowed(PLAIN, g["module"], g["name"])]
            if outside and code != 4:
                first = f"{outside[0]['module']}.{outside[0]['name']}"
                failures.append(f"{item['case'].name}: {loader} resolves {first}, exit {code}: {line[:150]}")
    assert not failures, "\n".join(failures)


def test_what_torch_load_would_call_is_unsafe_and_what_it_imports_is_named(corpus: list[dict[str, Any]]) -> None:
    failures = []
    for item in corpus:
        code, untrusted, line = item["verdict"]
        for (_file, loader), result in item["loaders"].items():
            if loader != "torch":
                continue
            for g in result["globals"]:
                if _allowed(PLAIN, g["module"], g["name"]) and not g["changed"]:
                    continue
                # A builder or an Enum lookup may be untrusted: the evaluator judges its arguments (unit tests).
                builds = f"{g['module']}.{g['name']}" in TORCH.builders | {name for name, _ in TORCH.enums}
                dangerous = (g["called"] and not builds) or g["changed"]
                named = any(g["name"] in warning for warning in untrusted)
                if code == 4 or (not dangerous and code == 0 and named):
                    continue
                failures.append(
                    f"{item['case'].name}: torch.load {'calls' if dangerous else 'imports'} "
                    f"{g['module']}.{g['name']}, exit {code}: {line[:150]}"
                )
    assert not failures, "\n".join(failures)


def test_a_file_torch_loads_safely_is_never_called_malformed(corpus: list[dict[str, Any]]) -> None:
    failures = []
    for item in corpus:
        code, _, line = item["verdict"]
        for (_file, loader), result in item["loaders"].items():
            if loader == "torch-weights-only" and result["error"] is None and code == 3 and "[limit-" not in line:
                failures.append(
                    f"{item['case'].name}: torch.load(weights_only=True) loads it; paramcount: {line[:190]}"
                )
    assert not failures, "\n".join(failures)


def test_paramcount_reads_the_data_pkl_torch_reads(corpus: list[dict[str, Any]]) -> None:
    from paramcount.blob import LocalFile

    checked = 0
    failures = []
    for item in corpus:
        for (file, loader), result in item["loaders"].items():
            if loader != "torch-reader" or result["error"] is not None:
                continue
            with LocalFile(file) as blob:
                directory = zip.miniz(blob)
                first = directory.entries[0].raw
                entry = zip.locate(directory, first[: first.index(b"/") + 1] + b"data.pkl")
                ours = zip.extract(blob, entry, directory, limit=2**30) if entry is not None else None
            checked += 1
            if ours is None or ours.hex() != result["record"]:
                failures.append(f"{item['case'].name}: paramcount reads another data.pkl than torch")
    assert checked >= 50
    assert not failures, "\n".join(failures)


def test_each_case_rests_on_what_its_loader_really_does(corpus: list[dict[str, Any]]) -> None:
    """A case's recorded verdict (``Case.oracle``): the loader named resolves the global named from its file."""
    checked = 0
    failures = []
    for item in corpus:
        oracle = item["case"].oracle
        if oracle is None:
            continue
        loader, qualname, *how = oracle
        resolved = {
            f"{g['module']}.{g['name']}"
            for (_file, used), result in item["loaders"].items()
            if used == loader
            for g in result["globals"]
            if not how or g["called"]
        }
        checked += 1
        if qualname not in resolved:
            failures.append(
                f"{item['case'].name}: {loader} does not {how[0] if how else 'resolve'} {qualname} "
                f"(it does {sorted(resolved)})"
            )
    assert checked >= 50
    assert not failures, "\n".join(failures)
