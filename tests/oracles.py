"""The real loaders as differential oracles: what each would resolve, call and read, with nothing run.

paramcount promises what a loader would do (SECURITY.md). These oracles *are* the loaders, instrumented:

* :func:`unpickle` runs CPython's own unpicklers, the C ``pickle.Unpickler`` and the pure-Python
  ``pickle._Unpickler``, with ``find_class`` replaced by a recorder that returns an inert stand-in class for every
  global (``functools.partial`` and ``type`` excepted: the real ones, which store what they are given and call it
  when it is used): the
  exact globals a real load resolves, in order, up to the point where it would fail, and which of them it calls or
  instantiates. Allowlisted callables that call or instantiate an argument are emulated from torch's
  source (``_rebuild_from_type_v2(func, new_type, args, state)`` calls ``func(*args)`` and makes a ``new_type``),
  so a gadget through them is seen too. It runs in-process (the fuzzers use it) and needs no torch.
* :func:`run_loaders` runs, in a throwaway process with a memory limit, ``torch.load(weights_only=False)`` with a
  recording ``pickle_module`` (torch's own zip reader, legacy and tar paths; allowlisted globals resolve to the real
  torch objects, everything else to recorded stand-ins), ``torch.load(weights_only=True)``,
  ``torch._C.PyTorchFileReader`` (which ``data.pkl`` record torch reads, by miniz's case-insensitive lookup),
  ``pickle.load`` with the recorder, and ``numpy.load(allow_pickle=True)`` with numpy's own pickle calls recorded.

No stand-in ever does anything: its methods accept any arguments and return another stand-in; calling it, creating
it and changing it are only written down.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import pickle
import subprocess
import sys
import types
from typing import Any, NamedTuple

__all__ = ["UNPICKLING", "Resolved", "Trace", "run_loaders", "unpickle"]


class Resolved(NamedTuple):
    """One global a loader resolved: ``module`` and ``name`` as passed to ``find_class``, and what it did with it."""

    module: str
    name: str
    called: bool
    instantiated: bool
    changed: bool


class Trace(NamedTuple):
    """What one load did: the globals resolved in order, and how it ended (``error`` is ``None`` on success)."""

    globals: tuple[Resolved, ...]
    error: str | None
    value: Any = None


# What torch's allowlisted rebuilds do with their arguments, read in torch/_tensor.py and torch/_utils.py:
# (module, name) -> ((position, "called" | "class"), ...). Backward hooks are stored, not called, at load time.
TORCH_ROLES: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {
    ("torch._tensor", "_rebuild_from_type_v2"): ((0, "called"), (1, "class")),
    ("torch._utils", "_rebuild_wrapper_subclass"): ((0, "class"),),
    ("numpy.core.multiarray", "_reconstruct"): ((0, "class"),),
    ("numpy._core.multiarray", "_reconstruct"): ((0, "class"),),
}


# Real objects that calling and building run nothing of their own: a functools.partial only stores the function
# it wraps, and calls it when it is called (a stand-in then records that call).
# ``type`` is real too: a class a pickle builds with it is a real class, whose special methods (a __hash__ a
# stand-in partial) run when loading uses them, as a dict key is hashed.
HARMLESS: dict[tuple[str, str], Any] = {
    ("functools", "partial"): functools.partial,
    ("builtins", "type"): type,
    ("__builtin__", "type"): type,
    # plain data (paramcount's PLAIN_DATA): an attribute a state gives it answers a method a loader calls by name
    ("argparse", "Namespace"): argparse.Namespace,
    ("types", "SimpleNamespace"): types.SimpleNamespace,
}

#: Classes of torch whose real code the loader oracle runs (the corpus's gadgets through them; the functions the file
#: gives them are stand-ins): a ``__setstate__`` that unpickles its state (``pickle.loads`` is recorded like the
#: loader's own unpickler), a datapipe whose iteration calls its ``fn``, a module whose ``__setstate__`` tests names
#: against its ``_parameters``, a serializer whose ``append`` calls its ``_serialize_fn``, a metaclass, a SymInt whose
#: ``__hash__`` calls its node's ``is_nested_int``.
UNPICKLING = (
    "torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper",
    "torch.utils.data.datapipes.iter.callable.MapperIterDataPipe",
    "torch.nn.modules.linear.Identity",
    "torch.utils._appending_byte_serializer.AppendingByteSerializer",
    "torch.utils.data.datapipes._typing._DataPipeMeta",
    "torch.SymInt",
)


class _Record:
    """The globals one load resolved, shared by its stand-ins."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, module: str, name: str) -> int:
        self.entries.append({"module": module, "name": name, "called": False, "instantiated": False, "changed": False})
        return len(self.entries) - 1

    def mark(self, index: int, what: str) -> None:
        self.entries[index][what] = True

    def resolved(self) -> tuple[Resolved, ...]:
        return tuple(Resolved(**e) for e in self.entries)


class _StandInMeta(type):
    """Calling a stand-in class records a call of its global (REDUCE, INST, OBJ) and makes an inert instance."""

    _record: _Record
    _index: int

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        cls._record.mark(cls._index, "called")
        roles = getattr(cls, "_roles", ())
        for position, role in roles:
            if position < len(args):
                _apply_role(args, position, role)
        return object.__new__(cls)  # type: ignore[arg-type]

    def __setattr__(cls, name: str, value: Any) -> None:
        if not name.startswith("_"):
            cls._record.mark(cls._index, "changed")
        super().__setattr__(name, value)

    def __setitem__(cls, key: Any, value: Any) -> None:  # SETITEM on the global itself (a dict like sys.modules)
        cls._record.mark(cls._index, "changed")

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in ("append", "extend", "add"):  # APPEND(S), ADDITEMS on the global itself
            cls._record.mark(cls._index, "changed")
        return _Inert()


class _SetState:
    """``__setstate__``: on an instance, what ``object``'s default does (a dict state updates the instance's
    ``__dict__``, a ``(state, slotstate)`` pair sets attributes as well), so that an attribute a state gives the
    instance (``__setstate__``, ``extend``) hides the class's, as on a real object; looked up on the global itself
    (BUILD on a module, a class), the change a real load would make to that object is recorded."""

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            owner._record.mark(owner._index, "changed")
            return lambda *args: None

        def default(state: Any) -> None:
            slots = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slots = state
            if isinstance(state, dict):
                instance.__dict__.update(state)
            if isinstance(slots, dict):
                for key, value in slots.items():
                    object.__setattr__(instance, key, value)

        return default


def _apply_role(args: tuple[Any, ...], position: int, role: str) -> None:
    value = args[position]
    if role == "called" and callable(value):
        call_args = args[2] if len(args) > 2 and isinstance(args[2], tuple) else ()
        value(*call_args)
    elif role == "class" and isinstance(value, _StandInMeta):
        value.__new__(value)  # type: ignore[call-overload]


class _StandIn(metaclass=_StandInMeta):
    """An instance of a global the loader would have created. Its methods take anything and do nothing."""

    _roles: tuple[tuple[int, str], ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # NEWOBJ: cls.__new__(cls, *args)
        cls._record.mark(cls._index, "instantiated")
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    __setstate__ = _SetState()

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, *args: Any) -> None:
        pass

    def extend(self, *args: Any) -> None:
        pass

    def add(self, *args: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        type(self)._record.mark(type(self)._index, "called")
        return _Inert()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __iter__(self) -> Any:
        return iter(())


class _Inert:
    """A value read off a stand-in: accepts everything, does nothing."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _Inert()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __iter__(self) -> Any:
        return iter(())

    def __setstate__(self, *args: Any) -> None:
        pass


def stand_in(record: _Record, module: str, name: str, roles: tuple[tuple[int, str], ...] = ()) -> type:
    """A fresh stand-in class for ``module.name``, recorded as resolved."""
    index = record.add(module, name)
    return _StandInMeta(
        "StandIn", (_StandIn,), {"_record": record, "_index": index, "_roles": roles, "__module__": module}
    )


def recording(base: type, record: _Record, *, persistent: bool, real: Any = None) -> type:
    """An unpickler class over ``base`` whose ``find_class`` records and answers with stand-ins (or, for the
    names ``real(module, name)`` accepts, the real object, resolved by the base class)."""

    class Recording(base):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            # What find_class itself refuses: an empty module before anything is imported (__import__ raises
            # ValueError); an empty name or name part after the module is imported (no module has an attribute "").
            if not module:
                raise ValueError("Empty module name")
            if "" in name.split("."):
                record.add(module, name)
                raise AttributeError(f"Can't get attribute {name!r} on {module!r}")
            if (module, name) in HARMLESS:
                record.add(module, name)
                return HARMLESS[(module, name)]
            if real is not None and real(module, name):
                record.add(module, name)
                return super().find_class(module, name)
            return stand_in(record, module, name, TORCH_ROLES.get((module, name), ()))

        if persistent:

            def persistent_load(self, pid: Any) -> Any:
                return _Inert()

    return Recording


def unpickle(data: bytes, *, c: bool = True, persistent: bool = False, offset: int = 0) -> Trace:
    """Load ``data`` (from ``offset``, as a file) with CPython's C or pure-Python unpickler, every global replaced by
    a recorded stand-in. Never raises: the error a real load would meet ends the trace."""
    record = _Record()
    base = pickle.Unpickler if c else pickle._Unpickler
    unpickler = recording(base, record, persistent=persistent)(io.BytesIO(data[offset:]))
    try:
        value = unpickler.load()
    except RecursionError:
        return Trace(record.resolved(), "RecursionError")
    except Exception as e:  # the loader's own failure: what a real load would meet here
        return Trace(record.resolved(), f"{type(e).__name__}: {str(e)[:200]}")
    return Trace(record.resolved(), None, value)


RUNNER = r"""
import io, json, os, pickle, resource, signal, sys, warnings
sys.path.insert(0, sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
warnings.simplefilter("ignore")
from tests.oracles import _Record, recording, stand_in, TORCH_ROLES

def allowed_by(names):
    def real(module, name):
        return f"{module}.{name}" in names and "." not in name
    return real

def timeout(*_):
    raise TimeoutError("the loader ran past its time")

# A safety net: should a loader ever reach the real pickle (a module not patched), nothing it calls may run.
FORBIDDEN = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen", "socket.connect",
             "webbrowser.open")
def guard(event, args):
    if event in FORBIDDEN:
        raise RuntimeError(f"audit: a loader tried {event}")
sys.addaudithook(guard)

signal.signal(signal.SIGALRM, timeout)
for line in open(sys.argv[1]):
    job = json.loads(line)
    path, loader, names = job["path"], job["loader"], frozenset(job.get("allowed", ()))
    record = _Record()
    result = {"loader": loader, "path": path}
    # a __setstate__ that unpickles its state (tests.oracles.UNPICKLING) goes through the same recording
    pickle.loads = lambda data, *args, **kwargs: recording(pickle.Unpickler, record, persistent=False)(
        io.BytesIO(data)
    ).load()
    signal.alarm(10)
    try:
        if loader in ("torch", "torch-weights-only"):
            import torch
            class Module:
                __name__ = "recording"
                Unpickler = recording(pickle.Unpickler, record, persistent=False, real=allowed_by(names))
                @staticmethod
                def load(f, **kwargs):
                    return Module.Unpickler(f, **kwargs).load()
            if loader == "torch":
                torch.load(path, weights_only=False, pickle_module=Module, map_location="cpu")
            else:
                torch.load(path, weights_only=True, map_location="cpu")
            result["error"] = None
        elif loader == "torch-reader":
            import torch
            reader = torch._C.PyTorchFileReader(path)
            data = bytes(reader.get_record("data.pkl"))
            result["record"] = data.hex()
            result["error"] = None
        elif loader in ("pickle", "pickle-python"):
            base = pickle.Unpickler if loader == "pickle" else pickle._Unpickler
            with open(path, "rb") as f:
                recording(base, record, persistent=False)(f).load()
            result["error"] = None
        elif loader == "numpy":
            import numpy
            try:
                import numpy.lib._format_impl as fmt
            except ImportError:
                import numpy.lib.format as fmt
            class Module:
                @staticmethod
                def load(f, **kwargs):
                    return recording(pickle.Unpickler, record, persistent=False)(f, **kwargs).load()
                Unpickler = pickle.Unpickler
                UnpicklingError = pickle.UnpicklingError
            fmt.pickle = Module
            try:
                import numpy.lib._npyio_impl as npyio
            except ImportError:
                import numpy.lib.npyio as npyio
            npyio.pickle = Module
            loaded = numpy.load(path, allow_pickle=True)
            if hasattr(loaded, "files"):
                for key in loaded.files:
                    loaded[key]
            result["error"] = None
        else:
            raise ValueError(loader)
    except BaseException as e:
        result["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        signal.alarm(0)
    result["globals"] = record.entries
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
"""


def run_loaders(jobs: list[dict[str, Any]], *, timeout: float = 30) -> list[dict[str, Any]]:
    """Run each job (``{"path", "loader", "allowed"}``) in a throwaway process, in order; each result carries the
    globals recorded and the error (``None`` when the loader succeeded). A loader stuck in C code past ``timeout``
    seconds (hashing a key nested over itself, say) is killed; its result's error is ``"timeout"``.

    Loaders: ``torch`` (``torch.load(weights_only=False)`` with a recording pickle module; the names in
    ``allowed`` resolve to the real torch objects), ``torch-weights-only``, ``torch-reader`` (the bytes of the
    ``data.pkl`` record ``torch._C.PyTorchFileReader`` returns, hex), ``pickle`` and ``pickle-python``
    (``load`` of the file), ``numpy`` (``numpy.load(allow_pickle=True)``, every member of an ``.npz`` read).
    """
    import select
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results: list[dict[str, Any]] = []
    pending = list(jobs)
    with tempfile.TemporaryDirectory() as folder:
        while pending:
            listing = os.path.join(folder, f"jobs-{len(results)}.jsonl")
            with open(listing, "w") as f:
                f.writelines(json.dumps(job) + "\n" for job in pending)
            with subprocess.Popen(
                [sys.executable, "-c", RUNNER, listing, root],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            ) as process:
                assert process.stdout is not None
                first = True
                while pending:
                    wait = timeout + (60 if first else 0)  # the first job pays for importing torch
                    ready, _, _ = select.select([process.stdout], [], [], wait)
                    line = process.stdout.readline() if ready else ""
                    if not line:
                        process.kill()
                        results.append({**pending.pop(0), "error": "timeout", "globals": []})
                        break
                    results.append(json.loads(line))
                    pending.pop(0)
                    first = False
    return results
