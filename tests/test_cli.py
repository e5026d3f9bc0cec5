"""The command line: every exit code, one-line errors, formats, golden outputs."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import strategies as st

import paramcount
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


def cli(*args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh interpreter, as a user runs it (``env``: None unsets a variable)."""
    changes = env or {}
    full_env = {k: v for k, v in {**os.environ, "PYTHONPATH": str(ROOT), **changes}.items() if v is not None}
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
    assert code == 0
    golden.check(name, out)
    report = paramcount.count(target)
    assert err == "".join(f"paramcount: warning: {w}\n" for w in report.warnings)  # warnings go to stderr


def test_warnings_go_to_stderr_and_stay_in_documents(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = run(capsys, "count", "tests.zoo:LazyHead()")
    assert "warning" not in out and err.startswith("paramcount: warning: 2 parameter tensor(s) are uninit")
    _, out, err = run(capsys, "count", "tests.zoo:LazyHead()", "--format", "json")
    assert "uninitialized" in json.loads(out)["warnings"][0] and err.count("\n") == 1
    _, out, _ = run(capsys, "count", "tests.zoo:LazyHead()", "--format", "markdown")
    assert "**warning:**" in out


def test_json_document_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "count", TIED, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema_version"] == 2
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
    assert out.splitlines()[-1] == f"ok: {LINEAR}: 7,850 parameters (expected total 7,850)"
    # what was compared: figure, expectation as written, tolerance in effect, count, outcome
    assert out.splitlines()[:4] == [
        "Verification",
        "figure      expected  tolerance  counted  result",
        "──────────  ────────  ─────────  ───────  ──────",
        "parameters     7,850      exact    7,850  ok",
    ]


def test_verify_reports_what_it_compared_on_failure_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", LINEAR, "--expect", "124.4M", "--format", "json")
    assert code == 1
    assert err.startswith("paramcount: error: ") and err.count("\n") == 1
    block = json.loads(out)["verification"]
    assert block == {
        "passed": False,
        "checks": [
            {
                "figure": "total",
                "expected": "124.4M",
                "expected_value": 124_400_000,
                "tolerance": 50_000,
                "actual": 7850,
                "passed": False,
            }
        ],
    }
    code, out, _ = run(capsys, "verify", LINEAR, "--expect", "7850", "--expect-trainable", "7,000")
    assert code == 1
    assert "trainable      7,000      exact    7,850  FAILED" in out
    assert "parameters      7850      exact    7,850  ok" in out


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
        (("verify", LINEAR, "--expect", "1", "--tolerance", ""), 2, "cannot read tolerance ''"),
        (("verify", LINEAR, "--expect", "1", "--tolerance", " "), 2, "cannot read tolerance ' '"),
        (("verify", LINEAR, "--expect", "1", "--tolerance", "_"), 2, "cannot read tolerance '_'"),
        (("verify", LINEAR, "--expect", "202048.5"), 2, "'202048.5' is not a whole number of parameters"),
        (("verify", LINEAR, "--expect", "1", "--expect", "2"), 2, "--expect is given twice ('1' and '2')"),
        (("verify", LINEAR, "--exp", "7850"), 2, "unknown option '--exp' for verify (did you mean --expand or"),
        (("count", LINEAR, "--form", "json"), 2, "unknown option '--form'"),
        (("count", LINEAR, "--format"), 2, "--format needs a value"),
        (("count", LINEAR, "--format", "yaml"), 2, "must be one of table, json, csv, markdown, html, not 'yaml'"),
        (("count", LINEAR, "--depth", "-1"), 2, "--depth must be a number >= 0 or 'all', not '-1'"),
        (("count", LINEAR, LINEAR), 2, "count takes one TARGET, got 2"),
        (("count",), 2, "count needs a TARGET"),
        (("frobnicate",), 2, "unknown command 'frobnicate'"),
        ((), 2, "name a command: count, verify, check, diff or memory"),
        (("count", LINEAR, "--device", "quantum"), 2, "invalid device 'quantum'"),
        (("count", "no_such_module_xyz:Model()"), 3, "cannot import module 'no_such_module_xyz'"),
        (("count", "torch.nn:Linear(1, 2, 3, 4, 5, 6)"), 3, "calling torch.nn:Linear failed"),
        (("count", "torch.nn:Linear(__import__('os'))"), 3, "unsupported expression"),
        (("count", "missing.safetensors"), 3, "no such file or folder"),
        (("count", "tests.zoo:data_dependent()"), 3, "--device cpu"),
        (("verify", "sys:exit(0)", "--expect", "1"), 3, "tried to end the process (sys.exit(0))"),
        (("verify", "os:_exit(0)", "--expect", "1"), 3, "tried to end the process (os._exit(0))"),
        (("count", "torch.nn.Linear(2, 2)"), 3, "separate its module with a colon: 'torch.nn:Linear(2, 2)'"),
        (("count", "torch.nn:Linear(2,"), 3, "not a valid model spec: a bracket or a string is not closed"),
        (("count", "torch.nn:Linear(2, 2) +"), 3, "not a valid model spec: invalid syntax"),
        (("verify", LINEAR, "--expected", "1"), 2, "unknown option '--expected' for verify (did you mean --expect?)"),
        (("count", LINEAR, "--formt", "json"), 2, "unknown option '--formt' for count (did you mean --format?)"),
        (("count", LINEAR, "--limit", "pickle_bytes=1MiB"), 2, "unknown limit 'pickle_bytes=1MiB'; did you mean "
                                                                "pickle-bytes=1MiB? use NAME=VALUE"),
        (("count", LINEAR, "--limit", "zzz=1"), 2, "unknown limit 'zzz=1'; use NAME=VALUE with NAME one of"),
    ],
    ids=["mismatch", "two-mismatches", "no-expectation", "bad-expect", "bad-tolerance", "empty-tolerance",
         "space-tolerance", "underscore-tolerance", "fractional-expect", "repeated-expect", "abbreviation",
         "abbreviated-format", "missing-value", "bad-format", "bad-depth", "two-targets", "no-target", "bad-command",
         "no-command", "bad-device", "import", "constructor", "not-literal", "path", "meta-only", "sys-exit",
         "os-exit", "dotted-call", "unclosed", "syntax", "near-option", "near-option-typo", "near-limit",
         "unknown-limit"],
)  # fmt: skip
def test_errors_are_one_line_with_the_documented_exit_code(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, message: str
) -> None:
    exit_code, out, err = run(capsys, *args)
    assert exit_code == code
    # stdout stays empty, except that a failed verify shows what it compared (tested below)
    assert out == "" or (code == 1 and out.startswith("Verification\n"))
    assert err.count("\n") == 1 and err.startswith("paramcount: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_typo_beside_its_folder_is_a_missing_path_not_a_hub_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ck/llama_stt` beside `ck/llama_st` was taken for a Hub id and the error talked about the network (issue #20):
    beside its folder it is a path that does not exist, with the nearest name and the Hub URL it may have meant."""
    (tmp_path / "ck" / "llama_st").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # were the Hub asked, this would fail differently
    for target, told in (
        ("ck/llama_stt", "did you mean 'ck/llama_st'? (for the Hugging Face model, write hf://ck/llama_stt)"),
        ("ck/lama_st.safetensors", "did you mean 'ck/llama_st'?"),
        ("./ck/llama_stt", "did you mean './ck/llama_st'?"),
        ("ck/zzz", "check the path (for the Hugging Face model, write hf://ck/zzz)"),
    ):
        code, out, err = run(capsys, "count", target)
        assert (code, out) == (3, "") and err == f"paramcount: error: {target}: no such file or folder; {told}\n"


def test_an_existing_file_whose_name_looks_like_code_is_read_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A downloaded file named like a model spec (`os:system('...')`) was imported and called: an existing path wins
    over code, in the CLI and the library alike (the resolve order the help documents)."""
    monkeypatch.chdir(tmp_path)
    name = "os:system('touch ran')"
    (tmp_path / name).write_bytes(b"not a checkpoint")
    code, out, err = run(capsys, "count", name)
    assert (code, out) == (3, "") and err == f"paramcount: error: {name}: not a checkpoint format paramcount " + (
        "recognises; name a safetensors, PyTorch (.pt/.bin/.ckpt), GGUF or DCP checkpoint, an index or a model folder\n"
    )
    with pytest.raises(paramcount.TargetError, match="not a checkpoint format"):
        paramcount.count(name)
    assert not (tmp_path / "ran").exists()
    import torch
    from safetensors.torch import save_file

    spec = "tests.zoo:FrozenBackbone()"
    save_file({"w": torch.zeros(3, 4)}, str(tmp_path / spec))
    assert paramcount.count(spec).parameters.total == 12  # the file, not the zoo model
    assert run(capsys, "count", spec, "--format", "json")[0] == 0


def test_an_output_that_is_being_read_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`count tied.pt --output tied.pt` overwrote the checkpoint with its own report (a review found it): an output
    that is the target, or a file inside a target folder, is refused (exit 2) and left as it was."""
    import torch

    weights = tmp_path / "model.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2, 2)}, str(weights))
    before = weights.read_bytes()
    for target, output, where in (
        (weights, weights, "the target"),
        (tmp_path, weights, "a file inside the folder"),
    ):
        code, out, err = run(capsys, "count", str(target), "--output", str(output))
        assert (code, out) == (2, "") and f"it is {where} being read; name a file elsewhere" in err, err
    assert weights.read_bytes() == before
    assert run(capsys, "count", str(weights), "--output", str(tmp_path / "report.txt"))[0] == 0  # a new file: fine


def test_an_output_of_a_dash_is_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--output -` wrote a file named '-' (a review found it); as Unix tools read it, '-' is standard output."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "count", LINEAR, "--format", "json", "--output", "-")
    assert (code, err) == (0, "") and json.loads(out)["parameters"]["total"] == 7850
    assert not (tmp_path / "-").exists()


def test_what_no_one_foresaw_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's client raising its own kind of error (botocore's NoCredentialsError, an IsADirectoryError for
    zip://, httpx's InvalidURL) printed a traceback and exited 1, the code of a failed verification. Each is one line
    with exit 3 now, and the CLI's last boundary turns a bug into one line too."""
    for target, told in (("http://[::1", "is not a valid URL"), ("zip://", "cannot open this URL (IsADirectoryError")):
        code, out, err = run(capsys, "count", target)
        assert (code, out) == (3, "") and err.count("\n") == 1 and told in err, err

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(paramcount, "count", broken)
    code, out, err = run(capsys, "count", LINEAR)
    assert (code, out) == (3, "") and err.count("\n") == 1 and "unexpected RuntimeError (a bug)" in err
    assert "PARAMCOUNT_DEBUG=1" in err


def test_an_output_that_cannot_be_written_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output was checked only after the answer (a build of seconds) was computed (issue #20). The target here
    would fail with exit 3 if it were reached; the unwritable --output is refused first, exit 2."""
    for output, problem in (
        (str(tmp_path), "it is a folder"),
        (str(tmp_path / "missing" / "x.json"), "it is in a folder that does not exist"),
        ("", "it is empty"),
    ):
        code, out, err = run(capsys, "count", "no_such_module_xyz:M()", "--output", output)
        assert (code, out) == (2, "") and err.count("\n") == 1 and problem in err, err
    written = tmp_path / "answer.json"
    code, _, _ = run(capsys, "count", LINEAR, "--format", "json", "--output", str(written))
    assert code == 0 and json.loads(written.read_text())["parameters"]["total"] == 7850


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


def test_names_with_digits_that_are_not_numbers_render_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A "²" is a digit to str.isdigit but no number to int(): such names once crashed the natural sort of a
    file's names, the runs of the module table and diff's order with a traceback."""
    import struct

    names = ["layers.1.w", "layers.².w", "layers.2.w", "w1²", "٣.w", "²"]
    header: dict[str, object] = {n: {"dtype": "F32", "shape": [2], "data_offsets": [8 * i, 8 * i + 8]}
                                 for i, n in enumerate(names)}  # fmt: skip
    body = json.dumps(header).encode()
    path = tmp_path / "digits.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body + bytes(8 * len(names)))
    for fmt in ("table", "json", "csv", "markdown", "html"):
        code, out, err = run(capsys, "count", str(path), "--format", fmt, "--tensors")
        assert code == 0 and err == "" and "Traceback" not in out, (fmt, err)
    code, out, _ = run(capsys, "count", str(path), "--format", "json")
    assert json.loads(out)["parameters"]["total"] == 2 * len(names)
    other = tmp_path / "other.safetensors"
    other.write_bytes(struct.pack("<Q", len(body)) + body.replace(b'"w1\\u00b2"', b'"w2\\u00b2"') + bytes(48))
    code, out, err = run(capsys, "diff", str(path), str(other), "--format", "json")
    assert code == 1 and "differ: 1 only in A, 1 only in B" in err
    assert json.loads(out)["diff"]["only_in_a"] == ["w1²"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_answer_that_cannot_be_written_is_a_one_line_error() -> None:
    """stdout on a full disk once ended in a traceback (a broken pipe was the only write error handled)."""
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "paramcount", "count", LINEAR],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot write the answer to standard output" in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = cli("count", "no_such_module_xyz:M()", env={"PARAMCOUNT_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "TargetError" in result.stderr


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("paramcount 0.")
    for argv in (["--help"], ["count", "--help"], ["verify", "-h"], ["count", "model.pt", "--help"]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        # TARGET can be a file, an index, a folder or code; the exit codes are listed
        assert "a checkpoint file" in text and "a model folder" in text and "'package.module:callable(args)'" in text
        assert "exit codes:" in text and "4  unsafe" in text
    assert main(["count", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "paramcount count model.safetensors" in text and "pickle-bytes" in text


def test_the_tolerance_reaches_the_library_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "verify", LINEAR, "--expect", "7800", "--tolerance", "1_000")[0] == 0
    assert run(capsys, "verify", LINEAR, "--expect", "7800", "--tolerance=50")[0] == 0
    assert run(capsys, "verify", LINEAR, "--expect=7.85K")[0] == 0


def test_a_target_that_starts_with_a_dash_follows_the_separator(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "count", "--", "-model.safetensors")
    assert code == 3 and "'-model.safetensors'" not in err and "-model.safetensors: no such file" in err


def test_a_model_in_the_current_folder_imports_as_python_m_would(tmp_path: Path) -> None:
    (tmp_path / "mymodel.py").write_text("import torch\n\ndef Net():\n    return torch.nn.Linear(3, 2)\n")
    script = Path(sys.executable).parent / "paramcount"
    result = subprocess.run(
        [str(script), "count", "mymodel:Net()", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["parameters"]["total"] == 8


def test_library_chatter_stays_off_stderr() -> None:
    """transformers logs a warning for this config ('make sure config.is_decoder=False'); the CLI keeps it quiet."""
    target = "transformers:BertForMaskedLM(transformers:BertConfig(is_decoder=True, num_hidden_layers=1))"
    result = cli("count", target, "--depth", "0", env={"TRANSFORMERS_VERBOSITY": None})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    loud = cli("count", target, "--depth", "0", env={"PARAMCOUNT_DEBUG": "1", "TRANSFORMERS_VERBOSITY": None})
    assert "is_decoder" in loud.stderr  # the same run shows it when asked to show everything


def test_the_device_hint_appears_only_for_meta_failures(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "count", "torch.nn:Linear(1, 2, 3, 4, 5, 6)")
    assert "--device cpu" not in err and "check the arguments" in err
    _, _, err = run(capsys, "count", "tests.zoo:data_dependent()")
    assert "build it with --device cpu" in err


# ---- every argument list: an exit code in 0..4, never a traceback, one line for an error -------------------------


def _arguments(paths: dict[str, str]) -> st.SearchStrategy[list[str]]:
    targets = st.sampled_from(
        [
            paths["file"],
            paths["folder"],
            paths["empty"],
            paths["fifo"],
            paths["missing"],
            "/dev/null",
            LINEAR,
            "torch.nn:Linear(2,",
            "torch.nn.Linear(2, 2)",
            "no_such_pkg_xyz:M()",
            "-",
            "",
            " ",
            "ünïcode:Ⅻ()",
        ]
    )
    options = st.sampled_from(
        [
            "--depth", "--format", "--device", "--limit", "--expect", "--expect-trainable", "--expect-frozen",
            "--expect-buffers", "--tolerance", "--exp", "--form", "--dep", "--frobnicate", "-x", "--", "-h",
        ]
    )  # fmt: skip
    values = st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "_",
                "0",
                "1",
                "-1",
                "all",
                "7850",
                "7,850",
                "7.85K",
                "202048.5",
                "1e400",
                "NaN",
                "1%",
                "0.5%",
                "%",
                "9" * 400,
                "json",
                "csv",
                "table",
                "markdown",
                "yaml",
                "meta",
                "cpu",
                "quantum",
                "pickle-bytes=1GiB",
                "tensors=0",
                "nope=1",
                "=",
                "\x00",
            ]
        ),
        st.text(max_size=12),
    )
    token = st.one_of(options, values, targets, st.tuples(options, values).map(lambda p: f"{p[0]}={p[1]}"))
    command = st.sampled_from(["count", "verify", "frobnicate", "--version", "--help", "", "COUNT"])
    return st.tuples(command, st.lists(token, max_size=6)).map(lambda c: [c[0], *c[1]])


def test_any_argument_list_gives_a_documented_exit_code_and_no_traceback(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"\x08" + bytes(7) + b"{}      ")
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo")
    paths = {
        "file": str(tmp_path / "model" / "model.safetensors"),
        "folder": str(tmp_path / "model"),
        "empty": str(tmp_path / "empty"),
        "fifo": str(tmp_path / "fifo"),
        "missing": str(tmp_path / "missing.pt"),
    }

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_arguments(paths))
    def check(argv: list[str]) -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        text = err.getvalue()
        assert 0 <= code <= 4, (argv, code, text)
        assert "Traceback" not in text, argv
        if code:
            assert text.count("\n") == 1 and text.startswith("paramcount: error: "), (argv, text)

    check()


# --- output hygiene: names from files, encodings, number arguments (issue 18) -------------------------------------

_HOSTILE_NAMES = (
    "clear\x1b[2J\x1b]0;pwned\x07.weight",  # CSI clear screen, OSC window title
    "over\rwrite.weight",  # carriage return
    "c1\x9b31m.weight",  # C1 CSI
    "rtl\u202egpj.exe.weight",  # bidi override
    "<img src=x onerror=alert(1)>.weight",  # HTML in Markdown
    "=HYPERLINK(1).weight",  # a spreadsheet formula
    "tick`<b>`.weight",  # a backtick closing a code span early
)
# What must never reach a terminal raw: C0 controls but the newline, DEL, C1 controls, bidi and other format marks.
_RAW = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F)) if c != 0x0A}
_RAW |= {chr(c) for c in range(0x2066, 0x206A)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A safetensors file whose tensor names carry terminal escapes, HTML, a formula and a backtick."""
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path_factory.mktemp("hostile") / "model.safetensors"
    save_file({name: np.zeros((2, 3), dtype=np.float32) for name in _HOSTILE_NAMES}, str(path))
    return str(path)


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_names_from_a_file_cannot_drive_the_terminal_or_the_page(hostile: str, fmt: str, tmp_path: Path) -> None:
    args = ["count", hostile, "--format", fmt, "--tensors", "--depth", "all"]
    page = tmp_path / "page.html"
    done = cli(*args, *(["--output", str(page)] if fmt == "html" else []))
    assert done.returncode == 0, done.stderr
    out = page.read_text(encoding="utf-8") if fmt == "html" else done.stdout
    if fmt == "html":  # the JSON document the script draws from keeps the exact names; the rest is markup
        start = out.index('<script type="application/json"')
        out = out[:start] + out[out.index("</script>", start) :]
    assert not _RAW & set(out + done.stderr)
    assert "\\x1b[2J" in out and "\\u202e" in out and "\\r" in out
    if fmt == "markdown":  # the oracle: a CommonMark renderer with GFM tables, as GitHub renders a comment
        from markdown_it import MarkdownIt

        out = MarkdownIt("commonmark").enable("table").render(out)
        assert "&lt;img src=x onerror=alert(1)&gt;" in out and "tick`&lt;b&gt;`" in out
        assert "<b>" not in out
    if fmt != "table":  # a terminal draws no HTML; a page and rendered Markdown would
        assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out


def test_csv_neutralises_formulas_and_json_keeps_every_name_exactly(hostile: str) -> None:
    text = cli("count", hostile, "--format", "csv", "--depth", "all").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    paths = {row["path"] for row in rows}
    assert "'=HYPERLINK(1)" in paths and not any(p.startswith(("=", "+", "-", "@")) for p in paths)
    assert not _RAW & set(text)  # a carriage return in a name would split its row for csv.reader
    document = json.loads(cli("count", hostile, "--format", "json", "--depth", "all").stdout)
    owners = {name.rpartition(".")[0] for name in _HOSTILE_NAMES}
    assert owners <= {m["path"] for m in document["modules"]}
    assert len(rows) == len(document["modules"])


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_encode_the_table_gets_ascii(encoding: str) -> None:
    for args in (("count", TIED), ("count", "--help"), ("verify", LINEAR, "--expect", "7.8K")):
        done = subprocess.run(
            [sys.executable, "-m", "paramcount", *args],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding},
            timeout=120,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr.decode(encoding)
        assert b"Traceback" not in done.stderr
        text = done.stdout.decode(encoding)  # everything is in the stream's encoding: the stand-ins were used
        assert "Error" not in text
    assert "|- " in cli_ascii("count", TIED, "--depth", "all")
    # drawn in ASCII before the columns are measured: a cut name still fits the width, rows stay aligned
    narrow = cli_ascii("count", str(ROOT / "tests" / "configs" / "Llama-3.1-8B"), "--depth", "3", env={"COLUMNS": "60"})
    table = narrow[narrow.index("module") :].split("\n\n")[0].splitlines()
    assert all(len(line) <= 60 for line in narrow.splitlines() if not line.startswith(("note", " ")))
    assert len({line.index("trainable") for line in table if line.endswith("trainable")}) == 1


def cli_ascii(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "paramcount", *args],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii", **(env or {})},
        timeout=120,
        check=True,
    )
    return done.stdout.decode("ascii")


_DIGITS_5000 = "1" * 5000


@pytest.mark.parametrize(
    "args",
    [
        ("verify", LINEAR, "--expect", _DIGITS_5000),
        ("verify", LINEAR, "--expect", "1e999"),
        ("verify", LINEAR, "--expect", "7850", "--tolerance", _DIGITS_5000),
        ("verify", LINEAR, "--expect", "7850", "--tolerance", _DIGITS_5000 + "%"),
        ("count", LINEAR, "--depth", _DIGITS_5000),
        ("count", LINEAR, "--experts-per-token", _DIGITS_5000),
        ("count", LINEAR, "--limit", f"tensors={_DIGITS_5000}"),
        ("count", LINEAR, "--limit", f"{_DIGITS_5000}=1"),
        ("memory", LINEAR, "--seq", _DIGITS_5000),
        ("memory", LINEAR, "--gpus", _DIGITS_5000),
        ("memory", LINEAR, "--batch", _DIGITS_5000),
    ],
    ids=lambda a: " ".join(x[:12] for x in a[:1] + a[2:]),
)
def test_a_huge_number_argument_is_one_short_usage_line(capsys: pytest.CaptureFixture[str], args: tuple[str]) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and len(err) < 600, err[:700]  # the unknown-limit line lists every limit


def test_a_huge_python_expectation_is_a_usage_error() -> None:
    with pytest.raises(paramcount.errors.UsageError, match=r"more than 10\^18"):
        paramcount.verify(LINEAR, expected=10**5000)


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin", "model.gguf"])
def test_a_git_lfs_pointer_in_place_of_the_weights_says_to_pull_them(tmp_path: Path, name: str) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 498003616\n"
    (tmp_path / name).write_text(pointer)
    for target in (tmp_path / name, tmp_path):
        done = cli("count", str(target))
        assert done.returncode == 3 and "git lfs pull" in done.stderr, done.stderr


def test_a_reader_that_closes_stderr_does_not_change_the_exit_code() -> None:
    """`paramcount count ... 2>&1 | head`: a warning written after the reader left is not a failure (exit 0)."""
    with subprocess.Popen(
        [sys.executable, "-m", "paramcount", "count", "tests.zoo:LazyHead()"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    ) as process:
        assert process.stderr is not None
        process.stderr.close()
        assert process.wait(timeout=120) == 0


def test_a_limit_without_a_value_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "count", LINEAR, "--limit", "pickle-bytes")
    assert code == 2 and "limit 'pickle-bytes' needs a value" in err
