"""The command line: every exit code, one-line errors, formats, golden outputs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from paramcount.cli import main

if TYPE_CHECKING:
    from tests.conftest import Golden

ROOT = Path(__file__).resolve().parents[1]
LINEAR = "torch.nn:Linear(784, 10)"
TIED = "paramcount.examples:tied_language_model()"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh interpreter, as a user runs it."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "paramcount", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("target", "fmt", "name"),
    [
        (LINEAR, "table", "linear.txt"),
        (LINEAR, "json", "linear.json"),
        (LINEAR, "csv", "linear.csv"),
        (LINEAR, "markdown", "linear.md"),
        (TIED, "table", "tied.txt"),
        (TIED, "json", "tied.json"),
        ("tests.zoo:LazyHead()", "table", "lazy.txt"),
        ("tests.zoo:WithBatchNorm()", "table", "batchnorm.txt"),
        ("tests.zoo:SharedModule()", "table", "shared_module.txt"),
        ("tests.zoo:ExpandedParameter()", "json", "expanded.json"),
    ],
    ids=str,
)
def test_golden_outputs(capsys: pytest.CaptureFixture[str], golden: Golden, target: str, fmt: str, name: str) -> None:
    code, out, err = run(capsys, "count", target, "--format", fmt)
    assert (code, err) == (0, "")
    golden.check(name, out)


def test_json_document_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "count", TIED, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema_version"] == 1
    assert doc["target"] == TIED
    assert doc["parameters"] == {
        "total": 64_128,
        "trainable": 64_128,
        "frozen": 0,
        "uninitialized_tensors": 0,
        "initialized": 64_128,
        "tensors": 3,
    }
    assert doc["buffers"] == {"total": 0, "persistent": 0, "non_persistent": 0, "tensors": 0}
    assert doc["by_dtype"] == {"float32": {"parameters": 64_128, "bytes": 256_512, "buffers": 0, "buffer_bytes": 0}}
    assert doc["tied"] == [{"names": ["embed.weight", "head.weight"], "parameters": 64_000, "kind": "parameter"}]
    assert [m["path"] for m in doc["modules"]] == ["", "embed", "norm", "head"]
    assert set(doc["modules"][0]) >= {"path", "type", "depth", "parameters", "own_parameters", "buffers"}
    assert isinstance(doc["warnings"], list)


def test_csv_rows_reconcile(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "count", TIED, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["path"] == "" and int(rows[0]["parameters"]) == 64_128
    assert sum(int(r["own_parameters"]) for r in rows) == 64_128


def test_depth_option(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "count", "tests.zoo:SharedModule()", "--format", "json", "--depth", "1")
    assert [m["path"] for m in json.loads(out)["modules"]] == ["", "encoder", "decoder"]
    _, out, _ = run(capsys, "count", "tests.zoo:SharedModule()", "--format", "json", "--depth", "all")
    assert len(json.loads(out)["modules"]) == 7
    _, out, _ = run(capsys, "count", "tests.zoo:SharedModule()", "--format", "json", "--depth", "0")
    assert [m["path"] for m in json.loads(out)["modules"]] == [""]


def test_verify_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", LINEAR, "--expect", "7,850")
    assert (code, err) == (0, "")
    assert out == f"ok: {LINEAR}: 7,850 parameters (expected total 7,850)\n"


def test_verify_several_figures_and_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "verify", "tests.zoo:FrozenBackbone()", "--expect", "1716", "--expect-trainable", "330",
        "--expect-frozen", "1.39K", "--expect-buffers", "0",
    )  # fmt: skip
    assert code == 0
    assert run(capsys, "verify", LINEAR, "--expect", "7800", "--tolerance", "50")[0] == 0
    assert run(capsys, "verify", LINEAR, "--expect", "7800", "--tolerance", "1%")[0] == 0
    assert run(capsys, "verify", LINEAR, "--expect", "7800", "--tolerance", "49")[0] == 1


def test_verify_json_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", LINEAR, "--expect", "7850", "--format", "json")
    assert code == 0 and json.loads(out)["parameters"]["total"] == 7850


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("verify", LINEAR, "--expect", "7000"), 1, "verification failed: parameters 7,850, expected 7,000"),
        (("verify", "tests.zoo:FrozenBackbone()", "--expect", "1", "--expect-frozen", "1"), 1, "; frozen parameters"),
        (("verify", LINEAR), 2, "verify needs an expectation"),
        (("verify", LINEAR, "--expect", "lots"), 2, "cannot read expected count 'lots'"),
        (("verify", LINEAR, "--expect", "1", "--tolerance", "x"), 2, "cannot read tolerance 'x'"),
        (("count", LINEAR, "--format", "yaml"), 2, "invalid choice: 'yaml'"),
        (("count", LINEAR, "--depth", "-1"), 2, "expected a depth >= 0 or 'all'"),
        (("count",), 2, "the following arguments are required: TARGET"),
        (("frobnicate",), 2, "invalid choice: 'frobnicate'"),
        ((), 2, "the following arguments are required: COMMAND"),
        (("count", LINEAR, "--device", "quantum"), 2, "invalid device 'quantum'"),
        (("count", "no_such_module_xyz:Model()"), 3, "cannot import module 'no_such_module_xyz'"),
        (("count", "torch.nn:Linear(1, 2, 3, 4, 5, 6)"), 3, "calling torch.nn:Linear failed"),
        (("count", "torch.nn:Linear(__import__('os'))"), 3, "unsupported expression"),
        (("count", "missing.safetensors"), 3, "no such file or folder"),
        (("count", "tests.zoo:data_dependent()"), 3, "--device cpu"),
    ],
    ids=["mismatch", "two-mismatches", "no-expectation", "bad-expect", "bad-tolerance", "bad-format", "bad-depth",
         "no-target", "bad-command", "no-command", "bad-device", "import", "constructor", "not-literal", "path",
         "meta-only"],
)  # fmt: skip
def test_errors_are_one_line_with_the_documented_exit_code(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, message: str
) -> None:
    exit_code, out, err = run(capsys, *args)
    assert exit_code == code
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("paramcount: error: ")
    assert message in err
    assert "Traceback" not in err


def test_unsafe_exit_code_is_four() -> None:
    from paramcount import UnsafeTargetError

    assert UnsafeTargetError("pickle calls os.system", target="x.pt").exit_code == 4


def test_subprocess_exit_codes_and_no_traceback() -> None:
    ok = cli("count", LINEAR)
    assert ok.returncode == 0 and "7,850" in ok.stdout and ok.stderr == ""
    failed = cli("verify", LINEAR, "--expect", "1")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    usage = cli("count", LINEAR, "--format", "yaml")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    broken = cli("count", "no_such_module_xyz:M()")
    assert broken.returncode == 3 and "Traceback" not in broken.stderr and broken.stderr.count("\n") == 1


def test_debug_shows_the_traceback() -> None:
    result = cli("count", "no_such_module_xyz:M()", env={"PARAMCOUNT_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "TargetError" in result.stderr


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("paramcount 0.")
    with pytest.raises(SystemExit):
        main(["count", "--help"])
    assert "--depth" in capsys.readouterr().out
