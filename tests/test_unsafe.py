"""Malicious pickles are reported as unsafe (exit 4) and never run: checked under an audit hook, with a canary.

Each payload would create a canary file if unpickled (one is unpickled in a throwaway process to prove it). The
CLI then reads every payload in a subprocess whose audit hook fails on any import, exec, process spawn or file
opened for writing; afterwards the canary must not exist.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import torch

from tests.crafted import dumps, tensor, torch_zip

if TYPE_CHECKING:
    from pathlib import Path

_HOOK = r"""
import io, json, os, sys, contextlib
import paramcount.cli, paramcount.sources.files, paramcount.tally, paramcount.report
import importlib, paramcount.formats, paramcount.render.table
for _reader in paramcount.formats.READERS:  # every reader module, imported before the audit hook is installed
    importlib.import_module(f"paramcount.formats.{_reader.module}")
# and the standard library modules paramcount imports only when a file needs them (a tar, compressed zip members)
import tarfile, bz2, lzma
FORBIDDEN = ("exec", "import", "compile", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
             "subprocess.Popen", "ctypes.dlopen", "pickle.find_class", "marshal.loads", "os.remove", "os.rename")
violations = []
def hook(event, args):
    if event in FORBIDDEN or (event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+")) \
            or (event == "open" and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
        violations.append(f"{event} {args!r:.200}")
        raise RuntimeError(f"audit: {event}")
targets = json.loads(sys.argv[1])
results = {}
# Warm up: the CLI's own lazy imports (argparse imports locale) happen before the hook is installed.
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    assert paramcount.cli.main(["count", sys.argv[2]]) == 0
    assert paramcount.cli.main(["count", sys.argv[2] + ".missing"]) == 3
sys.addaudithook(hook)
for name, path in targets.items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = paramcount.cli.main(["count", path])
    results[name] = [code, err.getvalue()]
print(json.dumps({"results": results, "violations": violations}))
"""


def payloads(canary: Path) -> dict[str, bytes]:
    """data.pkl payloads; each runs ``touch canary`` (or writes it) when unpickled."""
    command = f"touch {canary}".encode()
    p0 = b"cos\nsystem\n(S'" + command + b"'\ntR."
    memo_decoys = (
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x05torch\x94\x8c\x04Size\x94"  # memo 0..3
        b"00"  # pop the two decoy strings off the stack; the memo keeps them
        b"00"
        b"h\x00h\x01\x93"  # STACK_GLOBAL of memo 0 and 1: os.system
        b"\x8c" + bytes([len(command)]) + command + b"\x85R."
    )
    return {
        "global-os-system": p0,
        "stack-global-memo-decoys": memo_decoys,
        "payload-then-garbage": p0[:-1] + b"\xff\xfe",
        "payload-no-stop": p0[:-1],
        "getattr-import-gadget": b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR(S'"
        + command
        + b"'\ntR.",
        "importlib": b"cimportlib\nimport_module\n(S'os'\ntR.",
        "pip-main": b"cpip\nmain\n(]S'--version'\natR.",
        "collect-env-run": b"ctorch.utils.collect_env\nrun\n(S'" + command + b"'\ntR.",
        "uuid-command": b"cuuid\n_get_command_stdout\n(S'touch'\nS'" + str(canary).encode() + b"'\ntR.",
        "inst": b"(S'" + command + b"'\nios\nsystem\n.",
        "obj": b"(cos\nsystem\nS'" + command + b"'\no.",
        "memo-overwrite": b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00cos\nsystem\nq\x00h\x00(S'"
        + command
        + b"'\ntR.",
        "subprocess-popen-proto4": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\nsubprocess\x8c\x05Popen\x93"
        b"]\x8c\x05touch\x8c" + bytes([len(str(canary))]) + str(canary).encode() + b"\x86\x85R.",
        "marshal-loads": b"cmarshal\nloads\n(C\x00\x85R.",
        "subclasses-chain": b"c__builtin__\ngetattr\n(c__builtin__\nobject\nS'__subclasses__'\ntR)R.",
        "payload-in-tensor-args": b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\n(S'"
        + command
        + b"'\ntRK\x00)tR.",
        "builtins-eval": b'\x80\x02c__builtin__\neval\nS\'__import__("os").system("' + command + b"\")'\n\x85R.",
        "exec-in-state-dict": dumps({"w": tensor("0", 4, (4,), (1,))})[:-2]
        + b"X\x01\x00\x00\x00xcos\nsystem\n(S'"
        + command
        + b"'\ntRs.",
    }


def legacy_with_payload(canary: Path) -> bytes:
    head = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}))
    return head + b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


def dcp_with_payload(folder: Path, canary: Path) -> Path:
    folder.mkdir()
    (folder / ".metadata").write_bytes(b"\x80\x04cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR.")
    return folder


def test_a_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    """The canary works: unpickling one payload in a throwaway process creates it."""
    canary = tmp_path / "canary"
    payload = payloads(canary)["global-os-system"]
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.loads({payload!r})"], check=True, timeout=60)
    assert canary.exists()


def test_the_frame_evasion_fools_pickletools_and_runs_under_the_c_unpickler(tmp_path: Path) -> None:
    """The corpus case is real: pickletools sees strings only; torch.load's way of unpickling (a C Unpickler over a
    BytesIO) runs the payload. paramcount refuses it as unsafe for the opcode that crosses its frame."""
    import pickletools

    import paramcount
    from paramcount.errors import UnsafeTargetError
    from tests.corpus.pickle_cases import frame_evasion

    folder = tmp_path / "case"
    folder.mkdir()
    data = frame_evasion(folder)
    names = [op.name for op, _, _ in pickletools.genops(data)]
    assert "GLOBAL" not in names and "REDUCE" not in names, names
    code = f"import io, pickle; pickle.Unpickler(io.BytesIO({data!r})).load()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (folder / "CANARY").exists()
    (folder / "CANARY").unlink()
    with pytest.raises(UnsafeTargetError, match="runs past the end of its frame"):
        paramcount.count(str(torch_zip(tmp_path / "x.pt", data, {})))
    assert not (folder / "CANARY").exists()


def test_malicious_files_are_unsafe_and_nothing_runs(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    targets: dict[str, str] = {}
    for name, payload in payloads(canary).items():
        targets[name] = str(torch_zip(tmp_path / f"{name}.pt", payload, {"0": 16}))
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(2)}, good)
    evil = payloads(canary)["global-os-system"]
    (tmp_path / "polyglot.pt").write_bytes(b"\x80\x02" + evil + good.read_bytes())
    targets["pickle-prepended-to-zip"] = str(tmp_path / "polyglot.pt")
    (tmp_path / "raw.pkl").write_bytes(b"\x80\x02" + evil)
    targets["raw-pickle"] = str(tmp_path / "raw.pkl")
    (tmp_path / "legacy.pt").write_bytes(legacy_with_payload(canary))
    targets["legacy-stream"] = str(tmp_path / "legacy.pt")
    targets["dcp-metadata"] = str(dcp_with_payload(tmp_path / "dcp", canary))
    scripted = tmp_path / "scripted.pt"
    torch_zip(scripted, dumps({}), {})
    with __import__("zipfile").ZipFile(scripted, "a") as archive:
        archive.writestr("archive/constants.pkl", b"\x80\x02).")
        archive.writestr("archive/code/__torch__.py", b"import os\nos.system('touch canary')\n")
    targets["torchscript"] = str(scripted)

    result = subprocess.run(
        [sys.executable, "-c", _HOOK, json.dumps(targets), str(good)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["violations"] == []
    assert not canary.exists()
    assert len(report["results"]) == len(targets) >= 20
    for name, (code, stderr) in report["results"].items():
        assert code == 4, f"{name}: exit {code}: {stderr}"
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, f"{name}: {stderr}"
        assert "Traceback" not in stderr
        assert "nothing in it was run" in lines[0] or "TorchScript" in lines[0], lines[0]
    assert "os.system at offset 0, called by REDUCE" in report["results"]["global-os-system"][1]
    assert "os.system" in report["results"]["stack-global-memo-decoys"][1]
    assert "importlib.import_module" in report["results"]["importlib"][1]
    assert "and then" in report["results"]["payload-then-garbage"][1]


def test_the_offset_reported_is_where_the_global_is(tmp_path: Path) -> None:
    payload = b"\x80\x02}q\x00cos\nsystem\nq\x01."
    path = torch_zip(tmp_path / "x.pt", payload, {})
    result = subprocess.run(
        [sys.executable, "-m", "paramcount", "count", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 4
    assert f"os.system at offset {payload.index(b'cos')}, referenced" in result.stderr
