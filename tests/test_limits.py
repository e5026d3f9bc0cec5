"""Limits: every one has a default, a name on the command line, and fails closed with a way to raise it."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from typing import TYPE_CHECKING, Any

import pytest
import torch

import paramcount
from paramcount.errors import FormatError, UsageError
from paramcount.limits import DEFAULT, LIMITS, Limits, parse_limits
from tests.messages import error_line

if TYPE_CHECKING:
    from pathlib import Path


def test_every_limit_is_documented_in_the_limits_table() -> None:
    from pathlib import Path

    # The table of every limit, its default and what it bounds lives on the site's "Files and formats" page.
    page = (Path(__file__).parents[1] / "docs" / "files-and-formats.md").read_text(encoding="utf-8")
    table = page[page.index("## Limits") :]
    for name in LIMITS:
        assert f"| `{name}` |" in table, name


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("pickle-bytes=1GiB", "pickle_bytes", 2**30),
        ("tensors=2_000_000", "tensors", 2_000_000),
        ("zip-entries=2M", "zip_entries", 2_000_000),
        ("elements=1e12", "elements", 10**12),
        ("header-bytes=200,000,000", "header_bytes", 200_000_000),
    ],
)
def test_parse(text: str, field: str, value: int) -> None:
    limits = parse_limits([text])
    assert getattr(limits, field) == value
    assert limits._replace(**{field: getattr(DEFAULT, field)}) == DEFAULT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pickle_bytes=1", r"unknown limit 'pickle_bytes=1'; did you mean pickle-bytes=1\? use NAME=VALUE"),
        ("nope=3", r"unknown limit 'nope=3'; use NAME=VALUE with NAME one of header-bytes, "),
        ("tensors", r"limit 'tensors' needs a value; write tensors=N"),
        ("tensors=0", r"limit tensors must be a positive integer, not '0'; e.g. pickle-bytes=1GiB"),
        ("tensors=-5", r"limit tensors must be a positive integer, not '-5'"),
        ("tensors=lots", r"limit tensors must be a positive integer, not 'lots'"),
    ],
    ids=lambda value: value if "=" in value or value == "tensors" else "",
)
def test_bad_limits_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=rf"\A{message}"):
        parse_limits([text])


def save(path: Path, tensors: int) -> Path:
    torch.save({f"w{i}": torch.zeros(2) for i in range(tensors)}, path)
    return path


def test_lowering_a_limit_refuses_and_raising_it_accepts(tmp_path: Path) -> None:
    path = str(save(tmp_path / "sd.pt", 5))
    with pytest.raises(FormatError, match=error_line(path, "over the limit of 4", "--limit tensors=N")) as caught:
        paramcount.count(path, limits={"tensors": 4})
    assert caught.value.rule == "limit-tensors"
    assert "--limit tensors=N" in str(caught.value)
    assert paramcount.count(path, limits={"tensors": 5}).parameters.total == 10
    with pytest.raises(FormatError, match=error_line(path, "limit of 20", "--limit pickle-opcodes=N")) as caught:
        paramcount.count(path, limits=Limits(pickle_opcodes=20))
    assert caught.value.rule == "limit-pickle-opcodes"
    with pytest.raises(FormatError, match=error_line(path, "limit of 100", "--limit pickle-bytes=N")) as caught:
        paramcount.count(path, limits={"pickle-bytes": "100"})
    assert caught.value.rule == "limit-pickle-bytes"
    with pytest.raises(FormatError, match=error_line(path, "limit of 3", "--limit zip-entries=N")) as caught:
        paramcount.count(path, limits={"zip_entries": 3})
    assert caught.value.rule == "limit-zip-entries"
    with pytest.raises(FormatError, match=error_line(path, "limit of 9", "--limit elements=N")) as caught:
        paramcount.count(path, limits={"elements": 9})
    assert caught.value.rule == "limit-elements"


def test_cli_limit_flag(tmp_path: Path) -> None:
    path = str(save(tmp_path / "sd.pt", 3))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paramcount", "count", path, "--format", "json", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    refused = run("--limit", "tensors=2")
    assert refused.returncode == 3
    assert "over the limit of 2 (tensors)" in refused.stderr
    accepted = run("--limit", "tensors=2", "--limit", "tensors=3")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["parameters"]["total"] == 6
    assert run("--limit", "bogus=1").returncode == 2


# --- every limit, breached ------------------------------------------------------------------------------------------


def _state_dict(folder: Path) -> str:
    return str(save(folder / "sd.pt", 5))


def _zip_pickle(pkl: bytes, *, deflate: bool = False) -> Any:
    def build(folder: Path) -> str:
        path = folder / "crafted.pt"
        with zipfile.ZipFile(path, "w") as archive:
            kind = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            archive.writestr("archive/data.pkl", pkl, compress_type=kind)
            archive.writestr("archive/version", b"3\n")
        return str(path)

    return build


def _safetensors(folder: Path) -> str:
    from safetensors.torch import save_file

    path = folder / "model.safetensors"
    save_file({f"w{i}": torch.zeros(2, 3) for i in range(5)}, str(path))
    return str(path)


def _index(folder: Path) -> str:
    _safetensors(folder)
    index = {"metadata": {}, "weight_map": {f"w{i}": "model.safetensors" for i in range(5)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return str(folder / "model.safetensors.index.json")


def _gguf(folder: Path) -> str:
    def text(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    kv = [
        text(b"general.name") + struct.pack("<I", 8) + text(b"a model name"),
        text(b"general.list") + struct.pack("<IIQ", 9, 4, 3) + struct.pack("<3I", 1, 2, 3),
        text(b"general.alignment") + struct.pack("<II", 4, 32),
    ]
    infos = text(b"w") + struct.pack("<I", 2) + struct.pack("<2Q", 4, 2) + struct.pack("<IQ", 0, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(kv) + infos
    path = folder / "model.gguf"
    path.write_bytes(head + b"\0" * (-len(head) % 32) + b"\0" * 32)
    return str(path)


def _npy(folder: Path) -> str:
    import numpy as np

    path = folder / "array.npy"
    np.save(path, np.zeros(3))
    return str(path)


# limit name -> (what breaks it, the lowered value); remote-bytes, remote-timeout and remote-attempts are breached
# against a local server in tests/test_remote.py.
BREACHES: dict[str, tuple[Any, int]] = {
    "header-bytes": (_safetensors, 10),
    "json-bytes": (_index, 10),
    "pickle-bytes": (_state_dict, 100),
    "pickle-opcodes": (_state_dict, 20),
    "pickle-memo": (_state_dict, 3),
    "pickle-stack": (_zip_pickle(b"\x80\x02(" + b"N" * 100_000 + b"t."), 1000),
    "nesting": (_zip_pickle(b"\x80\x02" + b"(" * 10 + b"N" + b"t" * 10 + b"."), 5),
    "pickle-values": (_state_dict, 5),
    "pickle-items": (_state_dict, 3),
    "pickle-globals": (_state_dict, 1),
    "total-pickle-opcodes": (_state_dict, 20),
    "total-inflated-bytes": (_zip_pickle(b"\x80\x02}q\x00" + b"N0" * 1000 + b".", deflate=True), 100),
    "header-entries": (_safetensors, 3),
    "gguf-keys": (_gguf, 2),
    "npy-header-bytes": (_npy, 10),
    "zip-entries": (_state_dict, 3),
    "gguf-string-bytes": (_gguf, 5),
    "gguf-array-elements": (_gguf, 2),
    "tensors": (_state_dict, 4),
    "dimensions": (_safetensors, 1),
    "elements": (_state_dict, 9),
}


def test_every_limit_but_the_remote_ones_has_a_breach_here() -> None:
    assert set(BREACHES) == set(LIMITS) - {"remote-bytes", "remote-timeout", "remote-attempts"}


@pytest.mark.parametrize("name", sorted(BREACHES))
def test_each_limit_breached_is_one_line_exit_3_naming_it(name: str, tmp_path: Path) -> None:
    build, value = BREACHES[name]
    target = build(tmp_path)
    if name != "npy-header-bytes":  # a NumPy file is never a checkpoint; its header is read to judge its pickle
        paramcount.count(target)  # the file itself is fine under the defaults
    with pytest.raises(FormatError, match=error_line(target, f"limit of {value}", f"--limit {name}=N")) as caught:
        paramcount.count(target, limits={name: value})
    assert caught.value.rule == f"limit-{name}"
    done = subprocess.run(
        [sys.executable, "-m", "paramcount", "count", target, "--limit", f"{name}={value}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and f"({name})" in done.stderr and f"--limit {name}=N" in done.stderr


def test_an_opcode_with_a_text_argument_counts_four_times(tmp_path: Path) -> None:
    """Parsing a protocol-0 argument costs several plain opcodes: the budget says so (5 + 10 x 5 = 55 > 40)."""
    (tmp_path / "plain").mkdir()
    plain = _zip_pickle(b"\x80\x02}" + b"K\x010" * 10 + b".")(tmp_path / "plain")  # 23 opcodes
    text = _zip_pickle(b"\x80\x02}" + b"I1\n0" * 10 + b".")(tmp_path)
    assert paramcount.count(plain, limits={"pickle_opcodes": 40}).parameters.total == 0
    with pytest.raises(FormatError, match=error_line(text, "limit of 40", "--limit pickle-opcodes=N")) as caught:
        paramcount.count(text, limits={"pickle_opcodes": 40})
    assert caught.value.rule == "limit-pickle-opcodes"


def test_a_string_that_could_decode_wide_is_charged_before_it_is_decoded(tmp_path: Path) -> None:
    """256 MB of ASCII and one emoji decode to 1 GB in Python: non-ASCII text counts 4 bytes a byte."""
    ascii_text = "a" * 100
    wide = "a" * 96 + "\U0001f600"  # 100 bytes of UTF-8
    for text, refused in ((ascii_text, False), (wide, True)):
        raw = text.encode()
        path = _zip_pickle(b"\x80\x04}\x8c" + bytes([len(raw)]) + raw + b"0.")(tmp_path)
        if refused:
            with pytest.raises(FormatError, match=error_line(path, "limit of 300", "--limit pickle-bytes=N")) as caught:
                paramcount.count(path, limits={"pickle_bytes": 300})
            assert caught.value.rule == "limit-pickle-bytes"
            assert "decoded" in str(caught.value)
        else:
            assert paramcount.count(path, limits={"pickle_bytes": 300}).parameters.total == 0


def test_a_state_given_again_and_again_is_charged_each_time(tmp_path: Path) -> None:
    """One OrderedDict of 1,000 pairs given as the BUILD state of an instance 10,000 times: a 20 KB pickle asking
    for 10 million attribute settings (the attacker review's 5 MB file asked for 10^12). Each pair given costs 4
    against pickle-values, so the evaluation stops after about 5,000 of them, naming the limit."""
    pairs = b"](\x8c\x01aK\x01\x86q\x01" + b"h\x01" * 999 + b"e"
    build = (
        b"\x80\x04" + b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93" + pairs + b"\x85Rq\x02"  # the state, in memo 2
        b"\x8c\x08argparse\x8c\tNamespace\x93)\x81"  # an instance (plain data)
         + b"h\x02b" * 10_000 + b"0}."
    )
    path = _zip_pickle(build)(tmp_path)
    with pytest.raises(FormatError, match=error_line(path, "BUILD states", "--limit pickle-values=N")) as caught:
        paramcount.count(path)
    assert caught.value.rule == "limit-pickle-values"
    assert "BUILD states" in str(caught.value)


def test_paths_repeated_down_a_deep_graph_are_charged(tmp_path: Path) -> None:
    """Every value's path repeats its parent's: 300 dicts nested under one memoized 2,000-character key would name
    their values with 90 million characters (the attacker review's 145 KB file asked for 500 GB). Each 16
    characters built count as a value walked, so a low pickle-values stops it, naming the limit."""
    key = b"X" + struct.pack("<I", 2000) + b"k" * 2000 + b"\x94"  # memo 0
    pkl = b"\x80\x04}" + key + b"}" + b"h\x00}" * 299 + b"h\x00N" + b"s" * 301 + b"."
    path = _zip_pickle(pkl)(tmp_path)
    assert paramcount.count(path).parameters.total == 0  # fine under the defaults
    with pytest.raises(FormatError, match=error_line(path, "paths", "--limit pickle-values=N")) as caught:
        paramcount.count(path, limits={"pickle_values": 100_000})
    assert caught.value.rule == "limit-pickle-values"
    assert "paths" in str(caught.value)


def test_running_out_of_memory_is_one_line_exit_3(tmp_path: Path) -> None:
    """Under an address-space cap below what the defaults allow, the count ends in one line, not a traceback."""
    unit = b"B" + struct.pack("<I", 2**20) + b"x" * 2**20 + b"\x94"
    path = tmp_path / "big.pkl"
    path.write_bytes(b"\x80\x04" + unit * 120 + b"N.")
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (200 * 2**20, 200 * 2**20))"
    code = f"{cap}\nimport sys\nfrom paramcount.cli import main\nsys.exit(main(['count', {str(path)!r}]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 3, done.stderr[-500:]
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "memory" in done.stderr
