"""PyTorch zip, legacy and pickle inputs: malformed ones (exit 3) and malicious ones (exit 4), formats.md 9 #17-#42."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tests.corpus import CANARY, Case
from tests.crafted import Pid, Rebuild, dumps, tensor, torch_zip
from tests.test_unsafe import legacy_with_payload, payloads

if TYPE_CHECKING:
    from collections.abc import Callable

GOOD_PKL = dumps({"w": tensor("0", 4, (4,), (1,))})


def _crafted(obj: Any, records: dict[str, int]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        return str(torch_zip(folder / "model.pt", dumps(obj), records))

    return build


def _data_pkl(data: bytes, records: dict[str, int] | None = None) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        return str(torch_zip(folder / "model.pt", data, records or {}))

    return build


def _zip(
    members: list[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_STORED,
    patch: Callable[[bytes], bytes] | None = None,
) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        import warnings

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point of one case
            with zipfile.ZipFile(buffer, "w", compression) as archive:
                for name, data in members:
                    archive.writestr(name, data)
        data = buffer.getvalue()
        (folder / "model.pt").write_bytes(patch(data) if patch else data)
        return str(folder / "model.pt")

    return build


def _saved(obj: Any, mutate: Callable[[bytes], bytes], *, legacy: bool = False) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        path = folder / "model.pt"
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        path.write_bytes(mutate(path.read_bytes()))
        return str(path)

    return build


def _malicious(name: str) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        return str(torch_zip(folder / "model.pt", payloads(folder / CANARY)[name], {"0": 16}))

    return build


def _polyglot(folder: Path) -> str:
    good = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, good)
    (folder / "model.pt").write_bytes(b"\x80\x02" + payloads(folder / CANARY)["global-os-system"] + good.getvalue())
    return str(folder / "model.pt")


def _raw_pickle(folder: Path) -> str:
    (folder / "model.pkl").write_bytes(b"\x80\x02" + payloads(folder / CANARY)["global-os-system"])
    return str(folder / "model.pkl")


def _legacy_payload(folder: Path) -> str:
    (folder / "model.pt").write_bytes(legacy_with_payload(folder / CANARY))
    return str(folder / "model.pt")


def _torchscript(folder: Path) -> str:
    path = torch_zip(folder / "model.pt", dumps({}), {})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/constants.pkl", b"\x80\x02).")
        archive.writestr("archive/code/__torch__.py", f"import os\nos.system('touch {folder / CANARY}')\n".encode())
    return str(path)


def legacy_tar(folder: Path) -> str:
    path = folder / "model.pt"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            data = pickle.dumps(name, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def _central(member: bytes, offset: int, value: int) -> Callable[[bytes], bytes]:
    def patch(data: bytes) -> bytes:
        out = bytearray(data)
        at = out.index(b"PK\x01\x02", out.rindex(member) - 46)
        struct.pack_into("<L", out, at + offset, value)
        return bytes(out)

    return patch


def _encrypt(data: bytes) -> bytes:
    out = bytearray(data)
    out[out.index(b"PK\x01\x02") + 8] |= 1
    return bytes(out)


def _wrong_local_name(data: bytes) -> bytes:
    at = data.index(b"a/data/0")
    return data[:at] + b"a/data/9" + data[at + 8 :]


def _count_mismatch(data: bytes) -> bytes:
    at = len(data) - 3 * 4 - 8
    return data[:at] + struct.pack("<q", 4) + data[at + 8 :]


MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
UNTYPED = Pid("storage", torch.storage.UntypedStorage, "0", "cpu", 6)
GOOD = [("a/data.pkl", GOOD_PKL), ("a/data/0", bytes(16)), ("a/version", b"3\n")]


def cases() -> list[Case]:
    malformed = [
        ("numel-vs-record", _crafted({"w": tensor("0", 10**9, (4,), (1,))}, {"0": 16}), "zip-record"),
        ("view-out-of-bounds", _crafted({"w": tensor("0", 4, (100, 100), (100, 1))}, {"0": 16}), "pickle-bounds"),
        ("offset-out-of-bounds", _crafted({"w": tensor("0", 4, (2,), (1,), offset=3)}, {"0": 16}), "pickle-bounds"),
        # An integer past str()'s 4,300 digits (LONG4, 2 KB) in an error message raised ValueError: a traceback.
        (
            "huge-storage-offset",
            _crafted({"w": tensor("0", 4, (2,), (1,), offset=10**5000)}, {"0": 16}),
            "pickle-shape",
        ),
        ("huge-storage-size", _crafted({"w": tensor("0", 10**5000, (2,), (1,))}, {"0": 16}), "pickle-storage"),
        ("negative-size", _crafted({"w": tensor("0", 4, (-1, 2), (2, 1))}, {"0": 16}), "pickle-shape"),
        ("stride-length", _crafted({"w": tensor("0", 4, (2, 2), (1,))}, {"0": 16}), "pickle-shape"),
        ("missing-record", _crafted({"w": tensor("7", 4, (4,), (1,))}, {"0": 16}), "zip-record"),
        ("key-escape", _crafted({"w": tensor("../../x", 4, (4,), (1,))}, {"0": 16}), "pickle-storage"),
        (
            "pid-wrong-tag",
            _crafted({"w": Rebuild(torch._utils._rebuild_tensor_v2, Pid("module", 1), 0, (1,), (1,))}, {}),
            "pickle-storage",
        ),
        (
            "pid-four-tuple",
            _crafted(
                {
                    "w": Rebuild(
                        torch._utils._rebuild_tensor_v2, Pid("storage", torch.FloatStorage, "0", "cpu"), 0, (1,), (1,)
                    )
                },
                {"0": 4},
            ),
            "pickle-storage",
        ),
        (
            "dtype-not-a-global",
            _crafted(
                {"w": Rebuild(torch._utils._rebuild_tensor_v3, UNTYPED, 0, (3,), (1,), False, OrderedDict(), "uint16")},
                {"0": 6},
            ),
            "pickle-dtype",
        ),
        ("too-many-dims", _crafted({"w": tensor("0", 1, (1,) * 65, (1,) * 65)}, {"0": 4}), "limit-dimensions"),
        ("bytes8-bomb", _data_pkl(b"\x80\x04\x8e" + struct.pack("<Q", 2**36) + b"abc"), "pickle"),
        ("huge-int", _data_pkl(b"I" + b"9" * 5000 + b"\n."), "pickle-refused"),
        ("binget-unset", _data_pkl(b"\x80\x02h\x63."), "pickle"),
        ("tuple-without-mark", _data_pkl(b"\x80\x02t."), "pickle"),
        ("pop-empty", _data_pkl(b"\x80\x020."), "pickle"),
        ("setitem-on-list", _data_pkl(b"\x80\x02]K\x01K\x02s."), "pickle-refused"),
        ("build-on-int", _data_pkl(b"\x80\x02K\x01}b."), "pickle-refused"),
        ("empty-data-pkl", _data_pkl(b""), "pickle"),
        ("deep-marks", _data_pkl(b"\x80\x02" + b"(" * 100_001 + b"."), "limit-nesting"),
        ("two-top-folders", _zip([*GOOD[::2], ("b/data/0", bytes(16))]), "zip-layout"),
        ("data-pkl-too-deep", _zip([("a/b/data.pkl", GOOD_PKL), *GOOD[1:]]), "zip-layout"),
        ("no-data-pkl", _zip([("a/version", b"3"), ("a/data/0", bytes(16))]), "zip-layout"),
        ("no-version-record", _zip(GOOD[:2]), "zip-layout"),  # torch's reader requires one
        ("version-too-new", _zip([*GOOD[:2], ("a/version", b"99\n")]), "zip-layout"),
        ("truncated-end-record", _zip(GOOD, patch=lambda d: d[:-30]), "zip-end"),
        # torch's reader takes offsets as written (zipfile would shift them): the directory is not where it says
        ("prepended-bytes", _zip(GOOD, patch=lambda d: b"PK\x03\x04" + bytes(60) + d), "zip-end"),
        ("encrypted", _zip(GOOD, patch=_encrypt), "zip-encrypted"),
        ("bzip2-member", _zip(GOOD, compression=zipfile.ZIP_BZIP2), "zip-method"),  # miniz reads stored, deflated
        # miniz reads a stored member's claimed size past its data (its size check needs a zero time field)
        ("stored-size-past-end", _zip(GOOD, patch=_central(b"a/version", 24, 10**6)), "zip-bounds"),
        ("data-past-directory", _zip(GOOD, patch=_central(b"a/data/0", 20, 10**6)), "zip-end"),
        # names are bytes to torch's reader: the storage's record is simply missing
        ("name-not-utf8", _zip(GOOD, patch=lambda d: d.replace(b"a/data/0", b"a/data/\xff")), "zip-record"),
        ("legacy-truncated", _saved({"w": torch.zeros(3)}, lambda d: d[:-1], legacy=True), "legacy"),
        (  # no magic number: not a legacy stream but a pickle of plain values (not a checkpoint)
            "legacy-bad-magic",
            _saved({"w": torch.zeros(3)}, lambda d: pickle.dumps(12345, protocol=2) + d[len(MAGIC) :], legacy=True),
            None,
        ),
        ("legacy-count-mismatch", _saved({"w": torch.zeros(3)}, _count_mismatch, legacy=True), "legacy"),
        ("legacy-tar", legacy_tar, None),
    ]
    found = [Case(f"torch-{name}", "torch", build, 3, rule=rule) for name, build, rule in malformed]
    found += [
        Case(f"torch-unsafe-{name}", "torch", _malicious(name), 4, malicious=True) for name in payloads(Path(CANARY))
    ]
    found += [
        Case("torch-unsafe-pickle-prepended-to-zip", "torch", _polyglot, 4, malicious=True),
        Case("torch-unsafe-raw-pickle", "torch", _raw_pickle, 4, malicious=True),
        Case("torch-unsafe-legacy-stream", "torch", _legacy_payload, 4, malicious=True),
        Case("torch-unsafe-torchscript", "torch", _torchscript, 4, malicious=True),
        # Tensor subclasses rebuilt by calling their own code (torchao style) cannot be counted without it.
        Case(
            "torch-unsafe-unknown-subclass-reduce",
            "torch",
            _data_pkl(b"\x80\x02ctorchao.dtypes.affine_quantized_tensor\nAffineQuantizedTensor\n(K\x04K\x04\x86tR."),
            4,
            malicious=True,
        ),
        Case(
            "torch-unsafe-subclass-rebuild-function",
            "torch",
            _data_pkl(
                b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(cthirdparty.tensors\nrebuild\ncthirdparty.tensors\n"
                b"Packed\n)NtR."
            ),
            4,
            malicious=True,
        ),
    ]
    return found
