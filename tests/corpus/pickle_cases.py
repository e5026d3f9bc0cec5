"""Pickles that read differently to a scanner and to the unpickler that would run them, pickles outside torch
zips, and changes to rebuilt tensors (issue #9, part 2): each must be unsafe (exit 4) or malformed (exit 3),
never counted as "ok".

The evasions are built byte by byte; :func:`frame_evasion` is proven in ``tests/test_unsafe.py`` to run its
payload under CPython's C unpickler reading from a file object (as ``torch.load`` does), while ``pickletools``
sees only strings.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import TYPE_CHECKING

from tests.corpus import CANARY, Case
from tests.crafted import dumps, tensor, torch_zip
from tests.test_unsafe import payloads

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _command(folder: Path) -> bytes:
    return f"touch {folder / CANARY}".encode()


def protocol_0_payload(folder: Path) -> bytes:
    """``os.system("touch CANARY")`` in protocol 0: text opcodes only, no PROTO."""
    return b"cos\nsystem\n(S'" + _command(folder) + b"'\ntR."


def frame_evasion(folder: Path) -> bytes:
    """A FRAME whose last opcode's argument claims more bytes than the frame holds.

    The C unpickler, reading from a file object without ``peek`` (``torch.load`` wraps ``data.pkl`` in a BytesIO),
    takes that argument from after the frame and drops the frame's last five bytes; ``pickletools`` reads on. The
    two then stand five bytes apart: the C unpickler runs the protocol-0 payload, which ``pickletools`` reads as
    the content of a BINSTRING whose opcode and length are the last five bytes of the first string.
    """
    swallowed = 0x0170  # BINSTRING length whose four little-endian bytes are ASCII, as the C unpickler's string must be
    payload = protocol_0_payload(folder)  # GLOBAL ... REDUCE STOP: the C unpickler stops at its STOP
    assert len(payload) <= swallowed, len(payload)
    payload += b" " * (swallowed - len(payload))
    n = 40
    string = b"x" * (n - 5) + b"T" + struct.pack("<I", swallowed)  # ASCII; its tail is pickletools' next opcode
    tail = b"abcde"  # the frame's last bytes: the C unpickler never reads them
    frame = b"\x8c" + bytes([n]) + tail
    return b"\x80\x04\x95" + struct.pack("<Q", len(frame)) + frame + string + payload + b"0."


def many_long_names(folder: Path) -> bytes:
    """Thirteen calls of globals with 150-character names (found by the fuzzer: a 2,021-character error line)."""
    calls = b"".join(b"(i" + b"m" * 150 + b"\n" + b"f" * 150 + b"\n0" for _ in range(13))
    return calls + b"N."


def _many_big_keys() -> bytes:
    shared = b")q\x00" + b"h\x00h\x00\x86q\x00" * 15
    keys = b"".join(b"h\x00J" + i.to_bytes(4, "little") + b"\x86K\x01" for i in range(3000))
    return b"\x80\x02" + shared + b"0}(" + keys + b"u."


def _nested_frame(folder: Path) -> bytes:
    inner = b"\x95" + struct.pack("<Q", 1) + b"N"
    outer = b"N0" + inner + b"."
    return b"\x80\x04\x95" + struct.pack("<Q", len(outer)) + outer


def _stop_inside_frame(folder: Path) -> bytes:
    """STOP with frame bytes left: in a legacy stream the next pickle would start at a different offset for the
    C unpickler (after the frame) than for pickletools (after STOP)."""
    body = b"N." + protocol_0_payload(folder)
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def _frame_past_end(folder: Path) -> bytes:
    return b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N."


def _proto_2_mid_stream(folder: Path) -> bytes:
    """PROTO 2 after PROTO 4: the C unpickler then maps Python 2 names (``__builtin__``) again; still a global."""
    return b"\x80\x04N0\x80\x02c__builtin__\neval\n(S'1'\ntR."


def _memo_overwrite(folder: Path) -> bytes:
    """A benign global stored at memo 0, then ``posix.system`` over it; GET 0 and REDUCE calls the second."""
    return b"\x80\x02ctorch\nSize\nq\x000cposix\nsystem\nq\x000h\x00(S'" + _command(folder) + b"'\ntR."


def _tensor_body() -> bytes:
    """A rebuilt float tensor as it sits inside a protocol-2 pickle (no PROTO, no STOP)."""
    return dumps(tensor("0", 4, (4,), (1,)))[2:-1]


def _setitem_on_tensor(folder: Path) -> bytes:
    """The CVE-2026-24747 pattern: SETITEM on a rebuilt tensor (heap corruption in torch before 2.10)."""
    return b"\x80\x02}X\x01\x00\x00\x00w" + _tensor_body() + b"K\x00K\x07ss."


def _append_on_tensor(folder: Path) -> bytes:
    return b"\x80\x02}X\x01\x00\x00\x00w" + _tensor_body() + b"K\x07as."


def _setitem_on_storage(folder: Path) -> bytes:
    """SETITEM on a storage persistent id before it is handed to the rebuild."""
    pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
    return b"\x80\x02" + pid + b"K\x00K\x01s."


def _in_zip(build: Callable[[Path], bytes], *, records: dict[str, int] | None = None) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        return str(torch_zip(folder / "model.pt", build(folder), records or {"0": 16}))

    return write


def _raw(build: Callable[[Path], bytes], name: str = "model.pt") -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        (folder / name).write_bytes(build(folder))
        return str(folder / name)

    return write


def _zip_members(members: Callable[[Path], list[tuple[str, bytes]]], name: str = "model.pt") -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        import warnings

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point of one case
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
                for member, data in members(folder):
                    archive.writestr(member, data)
        (folder / name).write_bytes(buffer.getvalue())
        return str(folder / name)

    return write


GOOD = dumps({"w": tensor("0", 4, (4,), (1,))})


def npy(header: bytes, body: bytes) -> bytes:
    """A version-1 ``.npy`` file: magic, header padded to a multiple of 64 with a newline, then ``body``."""
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


OBJECTS_HEADER = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"


def _npy_objects(folder: Path) -> bytes:
    return npy(OBJECTS_HEADER, b"\x80\x02" + protocol_0_payload(folder))


def _npy_numbers(folder: Path) -> bytes:
    return npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", bytes(8))


def cases() -> list[Case]:
    unsafe: list[tuple[str, Callable[[Path], str]]] = [
        ("frame-evasion", _in_zip(frame_evasion)),
        ("nested-frame", _in_zip(_nested_frame)),
        ("stop-inside-frame", _in_zip(_stop_inside_frame)),
        ("ext1", _in_zip(lambda folder: b"\x80\x02\x82\x01.")),
        ("proto-2-mid-stream", _in_zip(_proto_2_mid_stream)),
        ("memo-overwritten", _in_zip(_memo_overwrite)),
        ("setitem-on-tensor", _in_zip(_setitem_on_tensor)),
        ("append-on-tensor", _in_zip(_append_on_tensor)),
        ("setitem-on-storage", _in_zip(_setitem_on_storage)),
        ("protocol-0-as-pt", _raw(protocol_0_payload)),
        ("many-long-names", _raw(many_long_names)),
        # INST of an allowlisted class, then a payload: INST's result once went to the wrong stack, evaluation
        # stopped at the next opcode, and the payload after it was never seen (exit 3)
        ("inst-then-payload", _in_zip(lambda f: b"(itorch\nSize\n0" + protocol_0_payload(f))),
        ("protocol-1-as-bin", _raw(lambda f: b"cposix\nsystem\nq\x00(X\x05\x00\x00\x00touchtR.", "pytorch_model.bin")),
        ("stop-inside-frame-as-pt", _raw(_stop_inside_frame)),
        ("npy-object-array", _raw(_npy_objects, "weights.npy")),
        ("npz-object-array", _zip_members(lambda f: [("w.npy", _npy_objects(f))], "weights.npz")),
        (  # torch refuses two top folders; another loader may still unpickle b/data.pkl
            "zip-two-tops-payload",
            _zip_members(
                lambda f: [
                    ("a/data.pkl", GOOD),
                    ("a/data/0", bytes(16)),
                    ("b/data.pkl", payloads(f / CANARY)["global-os-system"]),
                ]
            ),
        ),
        (  # which data.pkl a loader takes varies: both are judged
            "zip-duplicate-data-pkl-payload",
            _zip_members(
                lambda f: [("a/data.pkl", GOOD), ("a/data/0", bytes(16)), ("a/data.pkl", protocol_0_payload(f))]
            ),
        ),
        (
            "zip-extra-pickle-payload",
            _zip_members(
                lambda f: [("a/data.pkl", GOOD), ("a/data/0", bytes(16)), ("a/extra.pkl", protocol_0_payload(f))]
            ),
        ),
    ]
    malformed: list[tuple[str, Callable[[Path], str], str | None]] = [
        ("frame-past-end", _in_zip(_frame_past_end), "pickle"),
        ("proto-6-mid-stream", _in_zip(lambda f: b"\x80\x02N0\x80\x06" + protocol_0_payload(f)), "pickle"),
        ("put-negative", _in_zip(lambda f: b"\x80\x02Np-1\n."), "pickle"),
        # pickletools quotes the bytes it cannot read; the error line once carried all 3,000 of them (fuzzer)
        ("long-bad-float", _in_zip(lambda f: b"F" + b"Z" * 3000 + b"\n."), "pickle"),
        # a dict key that is a tuple nested 80 times over itself: hashing it would never end (a hang before)
        (
            "dag-dict-key",
            _in_zip(lambda f: b"\x80\x02)q\x00" + b"h\x00h\x00\x86q\x00" * 80 + b"}h\x00K\x01s."),
            "pickle",
        ),
        # 3,000 keys each sharing a 65,535-value tuple: together past the pickle-values budget
        ("many-big-dict-keys", _in_zip(lambda f: _many_big_keys()), "limit-pickle-values"),
        (
            "setitem-on-bytearray",
            _in_zip(lambda f: b"\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00abK\x00K\x01s."),
            "pickle-refused",
        ),
        ("readonly-buffer", _in_zip(lambda f: b"\x80\x05C\x01x\x98."), "pickle-refused"),
        ("next-buffer", _in_zip(lambda f: b"\x80\x05\x97."), "pickle"),
        ("plain-pickle-as-pt", _raw(lambda f: b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."), None),
        ("npy-numbers", _raw(_npy_numbers, "weights.npy"), None),
        (
            "npy-benign-objects",
            _raw(lambda f: npy(OBJECTS_HEADER, b"\x80\x02]q\x00."), "weights.npy"),
            None,
        ),
    ]
    return [
        *(Case(f"pickle-unsafe-{name}", "pickle", build, 4, malicious=True) for name, build in unsafe),
        *(Case(f"pickle-{name}", "pickle", build, 3, rule=rule) for name, build, rule in malformed),
    ]
