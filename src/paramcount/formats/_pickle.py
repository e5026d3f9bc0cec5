"""The inert pickle evaluator: what loading a pickle would do, without importing, calling or executing anything.

**It reads the bytes the way CPython's unpicklers read them.** The opcodes are decoded here, not by
:mod:`pickletools`, following ``Modules/_pickle.c`` (the C unpickler ``pickle.load`` and ``torch.load`` use) and
``Lib/pickle.py`` (the pure-Python one, PyPy's): text arguments end at the first NUL byte as C strings do
(``I1\\x00junk`` is the integer 1), integers take C's ``strtol`` base prefixes and Python's (``0x1``, ``07``,
``0o7``, ``0b1``, ``1_0``), a float may be written the way either accepts it, ``STOP`` returns the top of the
stack whatever lies below, and ``BUILD``, ``APPENDS``, ``SETITEMS`` and ``ADDITEMS`` that change nothing in either
are no-ops. Where the two unpicklers differ, the evaluator goes on as long as one of them would: it may judge a
payload no loader reaches (a false alarm on a crafted file), never miss one a loader runs. The tests check this
against both unpicklers of every CPython on the machine (``tests/oracles.py``), and a differential fuzz target
keeps checking it (``fuzz/``).

The machine is simulated with inert values: ``GLOBAL``/``STACK_GLOBAL``/``INST`` push a :class:`Global` that names
an object without resolving it; ``REDUCE``, ``NEWOBJ``, ``INST`` and ``OBJ`` push a :class:`Call` recording what
would have been called; ``BUILD``, ``SETITEM(S)``, ``APPEND(S)`` and ``ADDITEMS`` record their operands on the
value they change; persistent ids become :class:`PersId`. Nothing is ever looked up in ``sys.modules``, imported
or called.

**What loading does with each global decides the verdict** (:meth:`Result` fields, SECURITY.md):

* *called* (``REDUCE``, ``INST``, ``OBJ``, or called by an allowlisted function that calls its argument, such as
  ``torch._tensor._rebuild_from_type_v2(func, ...)`` or a tensor's backward hooks): unsafe unless allowlisted;
* *changed* (the target of ``BUILD``, ``SETITEM(S)``, ``APPEND(S)``, ``ADDITEMS``): unsafe always, since it alters
  a module, class or function of the loading process (a later global would resolve to what the file put there);
* *instantiated* (``NEWOBJ``, or the class argument of an allowlisted rebuild): untrusted, its module is imported
  and its class's code runs;
* *held* (only referenced): judged by what the name reaches, :func:`held` — a tensor operation of torch or a
  function of a third-party package is untrusted (importing its package runs that package's code, nothing more);
  a standard-library function, a torch function that is not a tensor operation (``torch.utils.collect_env.run``,
  ``torch.hub.load``), and any name reached through attributes (``torch`` + ``os.system``: ``torch.os`` is the
  ``os`` module) are unsafe.

Where the evaluator cannot follow what a loader would do, the pickle is unsafe rather than malformed: an opcode
whose argument runs past the end of its ``FRAME`` (the C unpickler reading from a file takes it from after the
frame), a ``FRAME`` inside a frame, a ``STOP`` that leaves bytes of its frame unread, ``EXT1/2/4`` (a global named
through ``copyreg``'s registry), and a ``STACK_GLOBAL`` whose operands are values only known at load time.

**Mutations** follow torch's weights-only unpickler (``torch/_weights_only_unpickler.py``) for the *malformed*
verdict: ``SETITEM(S)`` only on dicts and ``OrderedDict``, ``APPEND(S)`` only on lists, ``ADDITEMS`` only on sets,
``BUILD`` only on instances of classes that take state. Anything else is recorded and evaluation goes on, so that
a payload after it is still seen: a change to a rebuilt tensor or storage is **unsafe** (CVE-2026-24747, memory
corruption in torch before 2.10), any other is **malformed**.

**Limits** fail closed (:class:`paramcount.limits.Limits`): ``pickle_opcodes``, ``pickle_memo``, ``pickle_stack``,
``pickle_items``, ``nesting`` per pickle, and ``total_pickle_opcodes`` over a whole count
(:func:`paramcount.limits.budget`); callers enforce ``pickle_bytes`` before reading the bytes.

>>> import pickle
>>> result = evaluate(pickle.dumps({"a": [1, 2.5, "x"]}, protocol=2), Allowlist(frozenset()))
>>> result.root, result.unsafe, result.end
({'a': [1, 2.5, 'x']}, (), 39)
>>> evaluate(b"cos\\nsystem\\n(S'echo hi'\\ntR.", Allowlist(frozenset())).unsafe
('os.system at offset 0, called by REDUCE at offset 24',)
>>> evaluate(b"I1\\x00ignored\\n.", Allowlist(frozenset())).root  # C reads the line up to its NUL
1
"""

from __future__ import annotations

import codecs
import functools
import re
import struct
import sys
import warnings
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from types import MappingProxyType

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import FormatError, UnsafeTargetError, quote
from paramcount.formats.torch_functions import is_tensor_operation
from paramcount.limits import DEFAULT, Limits, charge, exceeded, remaining

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from paramcount.blob import Blob
    from paramcount.errors import ParamcountError

__all__ = [
    "Allowlist",
    "Call",
    "Global",
    "MalformedPickleError",
    "PersId",
    "Result",
    "TruncatedPickleError",
    "check",
    "check_stream",
    "error",
    "evaluate",
    "held",
    "judge",
    "read_stream",
    "unsafe_error",
]


class Global:
    """A reference to ``module.name``, never resolved. ``offset`` is where the opcode that named it starts.

    Attributes:
        proto: the pickle protocol in force when it was named: below 3, Python 2 names are mapped the way
            ``find_class`` maps them (``__builtin__`` is ``builtins``, ``commands`` is ``subprocess``).
        called: offset and opcode of the first call of it, if any.
        instantiated: whether loading creates an instance of it (``NEWOBJ``, a rebuild's class argument).
        changed: offset and opcode of the first opcode that changes it (``BUILD`` on a module), if any.
        via: the reconstructor that names it (a ``kernels`` function rebuilt by module and name, a ``getattr`` of a
            torch class), if any.
        operand: used only as an argument of such a reconstructor (``getattr`` itself, the class it reads):
            judged through the object the reconstructor reaches, not on its own.
    """

    __slots__ = (
        "allowed",
        "called",
        "changed",
        "instantiated",
        "key",
        "module",
        "name",
        "offset",
        "operand",
        "proto",
        "resolved",
        "via",
    )

    def __init__(self, module: str, name: str, offset: int, proto: int = 4) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.proto = proto
        #: ``(module, name)`` as ``find_class`` looks them up: Python 2 names mapped below protocol 3
        self.resolved = _resolve(module, name, proto)
        #: the resolved pair as one ``module.name`` string
        self.key = f"{self.resolved[0]}.{self.resolved[1]}"
        self.allowed: bool | None = None  # whether the evaluating allowlist allows it, once asked
        self.called: tuple[int, str] | None = None
        self.instantiated = False
        self.changed: tuple[int, str] | None = None
        self.via: str | None = None
        self.operand = False

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def shown(self) -> str:
        """The name for a message: as is when it is a plain dotted name, else quoted and cut."""
        name = self.qualname
        if len(name) <= 120 and name.isascii() and all(part.isidentifier() for part in name.split(".")):
            return name
        return quote(name)

    def __repr__(self) -> str:
        return f"Global({self.qualname!r})"


def _resolve(module: str, name: str, proto: int) -> tuple[str, str]:
    if proto >= 3:
        return module, name
    pair = (module, name)
    if pair in NAME_MAPPING:
        mapped: tuple[str, str] = NAME_MAPPING[pair]
        return mapped
    return IMPORT_MAPPING.get(module, module), name


class Call:
    """What ``func(*args)`` (or ``cls.__new__(cls, *args)``) would have returned, with what was done to it later.

    Attributes:
        func: the callable, usually a :class:`Global`.
        args: the arguments, as inert values.
        opcode: ``"REDUCE"``, ``"NEWOBJ"``, ``"NEWOBJ_EX"``, ``"INST"`` or ``"OBJ"``.
        offset: where that opcode is.
        state: the operand of a ``BUILD`` applied to the result, if any.
        items: ``SETITEM`` pairs applied to the result (an ``OrderedDict``), in order.
        appended: ``APPEND`` and ``ADDITEMS`` values applied to the result.
        attributes: instance attributes the ``BUILD`` states gave it (a loader looks ``__setstate__``, ``extend``,
            ``append`` and ``add`` up on the instance, so a later ``BUILD`` or ``APPEND`` calls what they hold).
    """

    __slots__ = ("_appended", "_attributes", "_items", "args", "func", "names", "offset", "opcode", "state")

    def __init__(self, func: Any, args: Any, opcode: str, offset: int) -> None:
        self.func = func
        self.args = args
        self.opcode = opcode
        self.offset = offset
        self.state: Any = None
        self._items: dict[Any, Any] | None = None  # created on first use: most calls never get items
        self._appended: list[Any] | None = None
        self._attributes: dict[Any, Any] | None = None
        #: the global a reconstructor's result is (``getattr(torch._C._VariableFunctionsClass, "tanh")``), if any
        self.names: Global | None = None

    @property
    def items(self) -> dict[Any, Any]:
        if self._items is None:
            self._items = {}
        return self._items

    @property
    def appended(self) -> list[Any]:
        if self._appended is None:
            self._appended = []
        return self._appended

    @property
    def attributes(self) -> dict[Any, Any]:
        if self._attributes is None:
            self._attributes = {}
        return self._attributes

    def calls(self, qualname: str) -> bool:
        """Whether this is a call of the global ``qualname``."""
        return isinstance(self.func, Global) and self.func.qualname == qualname

    def calls_any(self, qualnames: set[str] | frozenset[str]) -> bool:
        """Whether this is a call of one of the globals ``qualnames``."""
        return isinstance(self.func, Global) and self.func.qualname in qualnames

    def __repr__(self) -> str:
        # Bounded whatever the arguments hold (a tuple with 2^80 paths, a chain of a million calls): messages quote
        # values that may be calls.
        func = self.func.shown if isinstance(self.func, Global) else type(self.func).__name__
        return f"<{self.opcode} of {func} at offset {self.offset}>"


class PersId:
    """A persistent id (``BINPERSID``/``PERSID``): how torch pickles reference storages kept outside the pickle."""

    __slots__ = ("offset", "pid")

    def __init__(self, pid: Any, offset: int) -> None:
        self.pid = pid
        self.offset = offset

    def __repr__(self) -> str:
        return f"<persistent id at offset {self.offset}>"


class Opaque:
    """A number paramcount does not compute: an integer of more digits than a loader converts cheaply (Python's
    limit is 4,300 decimal digits), kept as a value that equals only itself."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


class InertSet(list["Any"]):  # quoted: typing is not imported at run time (paramcount._typing)
    """A ``set`` built by ``EMPTY_SET``/``ADDITEMS``, kept as a list (its items need not be hashable here)."""


class Allowlist(NamedTuple):
    """Globals a pickle may use, and what loading does with the arguments and results of those it calls.

    Attributes:
        names: ``module.name`` strings that are safe to call or hold (matched as a module and a plain name: a
            dotted name such as ``torch`` + ``_utils._rebuild_tensor_v2`` reaches the object through attributes
            and matches nothing).
        prefixes: ``(module, name prefix)`` pairs safe as well.
        arguments: ``(callable, position, role)``: what an allowlisted callable does with an argument. ``"class"``:
            it creates an instance of it (``_rebuild_from_type_v2``'s new type); ``"called"``: it calls it
            (``_rebuild_from_type_v2``'s function); ``"hooks"``: it keeps it as a tensor's backward hooks, whose
            values autograd calls; ``"state"``: it sets its items as attributes of its result (a later ``BUILD``
            calls a ``__setstate__`` set that way), calling its ``items()``; ``"mapping"``: it calls its ``keys()``
            (``OrderedDict(x)``).
        mutable: ``(callable, opcodes)`` pairs: allowlisted callables whose results the opcodes named (a
            space-separated string of ``SETITEM``, ``APPEND``, ``ADDITEMS``, ``BUILD``) may change, as torch's
            weights-only unpickler lets ``BUILD`` and ``SETITEM`` change an ``OrderedDict``.
        protected: allowlisted callables whose results are tensors or storages: changing one after it is built is
            unsafe (persistent ids, torch's storages, are always protected).
        reconstructors: ``(callable, module position, name position)``: functions of third-party packages that
            whole-model saves call to rebuild an object by module and name (``kernels``' ``_rebuild_kernel_func``
            imports the module and instantiates the type of its attribute). Loading runs them, so they are
            untrusted, and the object they name is judged as a global held by the pickle.
        encodings: the encodings ``_codecs.encode`` may be called with (a codec name can make it import).
        builders: callables outside the allowlist that only build a value from their arguments and call nothing
            (``functools.partial``: the function it wraps is called later, if ever, so it is judged as held).
            Loading calls them, so the pickle is untrusted, not unsafe.
        enums: ``(class, member values)`` of third-party ``Enum`` classes (a generated table,
            ``formats/enums.json``). Calling one with one of its members' values looks the member up and runs none
            of the package's code (untrusted); any other call of it is unsafe (its ``_missing_`` runs, or it
            builds a new class).
        setstate: classes (``module.name``) whose ``__setstate__`` does more with a state than store it, and the
            ``__setstate__`` each resolves to (a generated table, ``formats/setstate.json``): giving an instance
            of one a state (``BUILD``, a rebuild's state) runs that code with what the file chose, unsafe.
        metaclasses: classes (``module.name``) whose instances are classes: instantiating one builds a class from
            what the file chose, as ``type`` does (unsafe).
    """

    names: frozenset[str]
    prefixes: tuple[tuple[str, str], ...] = ()
    arguments: tuple[tuple[str, int, str], ...] = ()
    mutable: tuple[tuple[str, str], ...] = ()
    protected: frozenset[str] = frozenset()
    reconstructors: tuple[tuple[str, int, int], ...] = ()
    encodings: frozenset[str] = frozenset({"latin1", "latin-1", "latin_1"})
    builders: frozenset[str] = frozenset()
    enums: tuple[tuple[str, frozenset[object]], ...] = ()
    setstate: Mapping[str, str] = MappingProxyType({})
    metaclasses: frozenset[str] = frozenset()

    def allows(self, g: Global) -> bool:
        if g.allowed is None:
            module, name = g.resolved
            g.allowed = "." not in name and (
                g.key in self.names or any(module == m and name.startswith(p) for m, p in self.prefixes)
            )
        return g.allowed

    def union(self, other: Allowlist) -> Allowlist:
        """Both allowlists at once."""
        return Allowlist(
            self.names | other.names,
            self.prefixes + other.prefixes,
            self.arguments + other.arguments,
            self.mutable + other.mutable,
            self.protected | other.protected,
            self.reconstructors + other.reconstructors,
            self.encodings | other.encodings,
            self.builders | other.builders,
            self.enums + other.enums,
            {**self.setstate, **other.setstate},
            self.metaclasses | other.metaclasses,
        )


class Result(NamedTuple):
    """A pickle evaluated inertly.

    Attributes:
        root: the value ``pickle.load`` would have returned, as inert values.
        end: offset just past the ``STOP`` opcode.
        protocol: the protocol the first ``PROTO`` opcode declared (0 when absent).
        unsafe: one line per global outside the allowlist that is called, changed or held unsafely, and per unsafe
            change to a tensor or storage (empty when safe).
        classes: ``module.name`` of what loading imports without calling it unsafely: classes it instantiates,
            torch tensor operations and third-party functions it holds, reconstructors it runs. Names that are not
            plain dotted identifiers are quoted and cut.
        class_findings: the same globals as lines with their offsets, for a caller that judges them unsafe.
        malformed: one line per change the pickle makes that torch's weights-only unpickler refuses.
        globals: every global, in order of appearance.
        opcodes: opcodes run.
    """

    root: Any
    end: int
    protocol: int
    unsafe: tuple[str, ...]
    classes: tuple[str, ...]
    class_findings: tuple[str, ...]
    malformed: tuple[str, ...]
    globals: tuple[Global, ...]
    opcodes: int = 0


class MalformedPickleError(ValueError):
    """The bytes are not a well-formed pickle, or exceed a limit.

    Attributes:
        offset: where the problem was found.
        unsafe: findings from before the problem: when not empty, the pickle is unsafe, not merely malformed.
        classes: what the pickle imported before the problem (instantiated classes, held functions): a loader would
            have imported them before failing, and the pickle cannot be counted, so they make it unsafe too.
        limit: ``(field, value)`` of the limit exceeded, when that is the problem.
        fix: what to do, when it is not the usual advice for a malformed file.
    """

    def __init__(
        self,
        problem: str,
        offset: int,
        unsafe: tuple[str, ...] = (),
        *,
        limit: tuple[str, int] | None = None,
        fix: str | None = None,
        classes: tuple[str, ...] = (),
    ) -> None:
        self.problem = problem
        self.offset = offset
        self.unsafe = unsafe
        self.classes = classes
        self.limit = limit
        self.fix = fix
        super().__init__(f"{problem} (at byte {offset})")


class TruncatedPickleError(MalformedPickleError):
    """The bytes ended before the pickle did: a caller holding only a prefix may retry with more."""


class _EvasionError(MalformedPickleError):
    """The bytes read differently to the loaders, or name what only loading can tell: unsafe whatever they hold."""


_HIGHEST_PROTOCOL = 5
_FIRST_WINDOW = 1 << 16  # bytes read first for a pickle in a stream; grown sixteenfold while it is truncated
# Bytes that fail to evaluate before this offset, with nothing unsafe in them, are not a pickle at all.
_NOT_A_PICKLE = 16
_SHOWN_FINDINGS = 1000  # characters of findings an unsafe error shows
_MAX_KEY_VALUES = 100_000  # values a tuple used as a dict key may hold, nested ones included
_MAX_DIGITS = 4300  # Python's default limit on decimal digits converted (sys.int_info.default_max_str_digits)
_REFUSED = "which torch's weights-only unpickler refuses"
_CHECK_EVERY = 255  # opcodes between checks of the stack size (it grows by at most one value an opcode)
# Values no mutating opcode can change in either unpickler: it fails there, and nothing after runs.
_NEWOBJ = frozenset({"NEWOBJ", "NEWOBJ_EX"})  # the opcodes that make an instance of a class: cls.__new__(cls, ...)
_SCALARS = frozenset({type(None), int, float, complex, str, bytes, bool})
_IMMUTABLE = (tuple, str, bytes, int, float, complex, bool, type(None), Opaque)

# Number syntax of the text opcodes (INT, LONG, FLOAT, PUT, GET), as the two unpicklers accept it; compiled on
# first use (protocol 0 and 1 pickles only).
_SPACE = rb"[ \t\n\x0b\x0c\r]*"


@functools.cache
def _syntax() -> tuple[re.Pattern[bytes], ...]:
    """C's ``strtol(s, &end, 0)`` (optional space and sign, then hexadecimal, octal (a leading 0) or decimal digits);
    ``PyLong_FromString(s, NULL, 0)`` (Python's literal syntax, underscores included) and its base-10 form;
    ``PyOS_string_to_double`` (C: no space, no underscores, a prefix up to a newline or NUL); ``float(bytes)`` (pure
    Python: surrounding space, underscores between digits)."""
    strtol = re.compile(_SPACE + rb"([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))")
    pylong = re.compile(
        _SPACE
        + rb"([+-]?)(?:0[xX]((?:_?[0-9a-fA-F])+)|0[oO]((?:_?[0-7])+)|0[bB]((?:_?[01])+)"
        + rb"|(0(?:_?0)*)|([1-9](?:_?[0-9])*))"
        + _SPACE
        + rb"\Z"
    )
    pylong10 = re.compile(_SPACE + rb"([+-]?)([0-9](?:_?[0-9])*)" + _SPACE + rb"\Z")
    c_float = re.compile(rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf(?:inity)?|nan))")
    py_float = re.compile(
        _SPACE
        + rb"[+-]?(?:(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
        + rb"(?:[eE][+-]?[0-9](?:_?[0-9])*)?|(?i:inf(?:inity)?|nan))"
        + _SPACE
        + rb"\Z"
    )
    return strtol, pylong, pylong10, c_float, py_float


_BASES = (16, 8, 2, 10, 10)
# Opcodes with a counted argument, and the width of the count: SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8,
# SHORT_BINSTRING, BINSTRING.
_COUNTED = {0x43: 1, 0x42: 4, 0x8E: 8, 0x96: 8, 0x55: 1, 0x54: 4}
# Opcodes with a newline-terminated argument: INT, LONG, FLOAT, STRING, UNICODE, PUT, GET, PERSID.
_TEXT = frozenset(b"ILFSVpgP")
#: What an opcode whose argument is a line of text counts for against the opcode limits: parsing it the way both
#: unpicklers do (a C integer, a Python literal, a quoted string, two names) costs several plain opcodes.
_TEXT_COST = 4
#: What a BUILD counts for: judging it (the state's methods, the class's __setstate__, the attributes it gives)
#: costs several plain opcodes, and a 5 MB pickle can ask for it two million times (an attacker review). A
#: whole-model save has one BUILD an object: a few thousand.
_BUILD_COST = 8


def _underflow(at: int) -> MalformedPickleError:
    return MalformedPickleError("pops an empty stack", at)


def evaluate(
    data: bytes, allowlist: Allowlist, limits: Limits | None = None, *, persistent: bool = True, complete: bool = True
) -> Result:
    """Evaluate one pickle at the start of ``data`` inertly.

    Args:
        data: the pickle, possibly followed by other bytes (a legacy torch stream holds several pickles in a row).
        allowlist: the globals that are safe.
        limits: bounds; ``len(data)`` itself must be within ``limits.pickle_bytes``, which callers enforce before
            reading the bytes.
        persistent: the loader has a ``persistent_load`` (torch's object pickles do); without one, both
            unpicklers stop at ``PERSID``/``BINPERSID``.
        complete: ``data`` runs to the end of its file (a ``FRAME`` longer than the rest is then the rest, as the
            pure-Python unpickler reads it); else it is a window of a longer file, and running out is truncation.

    Raises:
        TruncatedPickleError: ``data`` ended before ``STOP``.
        MalformedPickleError: the pickle is malformed or exceeds a limit; ``unsafe`` lists unsafe findings before.
    """
    limits = limits or DEFAULT
    machine = _Machine(allowlist, limits, data, persistent, complete=complete)
    charged = True
    try:
        with warnings.catch_warnings():
            # Protocol-0 strings decode with codecs.escape_decode, which warns about invalid escapes ("\o"); a
            # hostile pickle's text is not the user's problem, and its bytes are read all the same.
            warnings.simplefilter("ignore")
            machine.run()
    except _EvasionError as e:
        raise MalformedPickleError(e.problem, e.offset, (*machine.unsafe(), e.problem)) from None
    except MalformedPickleError as e:
        # A caller holding only a prefix retries with more bytes (read_stream): the count pays for that run only.
        charged = not isinstance(e, TruncatedPickleError)
        raise type(e)(e.problem, e.offset, machine.unsafe(), limit=e.limit, classes=machine.classes()[1]) from None
    except MemoryError:
        raise MalformedPickleError(
            "needs more memory than this process has to evaluate",
            machine.position,
            machine.unsafe(),
            fix="lower the limits it fills (--limit pickle-bytes=64MiB, pickle-memo, pickle-items; limits= in Python) "
            "or free memory",
        ) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as e:
        # An argument neither unpickler decodes (invalid UTF-8, a bad escape), an unhashable dict key: both stop.
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        problem = text if len(text) <= 160 else text[:160] + "\u2026"
        raise MalformedPickleError(
            f"malformed pickle ({problem})", machine.position, machine.unsafe(), classes=machine.classes()[1]
        ) from None
    finally:
        if charged:
            charge(machine.count, limits)
    classes, class_findings = machine.classes()
    if machine.short_frame is not None and not machine.unsafe():
        # the C unpickler stopped at the FRAME; what the pure-Python one read after it is judged, and was safe
        problem, at = machine.short_frame
        raise MalformedPickleError(problem, at, classes=class_findings)
    return Result(
        machine.root,
        machine.end,
        machine.protocol,
        machine.unsafe(),
        classes,
        class_findings,
        tuple(machine.malformed),
        tuple(machine.globals),
        machine.count,
    )


def unsafe_error(target: str, where: str, findings: tuple[str, ...], problem: str | None = None) -> UnsafeTargetError:
    """The exit-4 error for a pickle that would run code, listing its findings with their offsets (the first eight,
    in at most 1,000 characters: the line stays short whatever names the file uses)."""
    shown = "; ".join(findings[:8])
    if len(shown) > _SHOWN_FINDINGS:
        shown = shown[:_SHOWN_FINDINGS] + "\u2026"
    shown += f"; and {len(findings) - 8} more" if len(findings) > 8 else ""
    after = f" (and then: {problem[:200]})" if problem and problem not in findings else ""
    return UnsafeTargetError(
        f"unsafe: unpickling {where} would run code or corrupt memory; {len(findings)} finding(s): {shown}{after}",
        target=target,
        fix="do not torch.load or unpickle this file; nothing in it was run",
    )


def looks_like_pickle(head: bytes, *, complete: bool) -> bool:
    """Whether the first bytes of a file are a pickle stream as far as they go: they evaluate, run out before
    ``STOP``, name an unsafe global, or fail only after :data:`_NOT_A_PICKLE` bytes."""
    try:
        evaluate(head, Allowlist(frozenset()), _SNIFF_LIMITS, complete=complete)
    except TruncatedPickleError as e:
        return bool(e.unsafe) or e.offset >= _NOT_A_PICKLE or not complete
    except MalformedPickleError as e:
        return bool(e.unsafe) or e.offset >= _NOT_A_PICKLE
    return True


def stops_early(head: bytes, *, complete: bool) -> bool:
    """Whether both unpicklers stop within ``head`` (before its end, or at the end of a whole file) without
    having named any global: the common answer for a file that is not a pickle, found without an allowlist."""
    machine = _Machine(Allowlist(frozenset()), _SNIFF_LIMITS, head, persistent=False, complete=complete)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            machine.run()
    except TruncatedPickleError:
        return complete and not machine.globals
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError):
        return not machine.globals
    return False


def error(e: MalformedPickleError, *, target: str, where: str) -> ParamcountError:
    """The paramcount error for a pickle that failed to evaluate: unsafe when findings came first, else malformed
    (or over a limit)."""
    if e.limit is not None and not e.unsafe:
        return exceeded(e.limit[0], f"{where} {e.problem} (at byte {e.offset})", e.limit[1], target=target)
    if e.unsafe or e.classes:
        return unsafe_error(target, where, (*e.unsafe, *e.classes), e.problem)
    if e.limit is not None:
        return exceeded(e.limit[0], f"{where} {e.problem} (at byte {e.offset})", e.limit[1], target=target)
    return FormatError(f"{where}: {e}", target=target, rule="pickle", fix=e.fix)


def judge(result: Result, *, target: str, where: str, classes_are_unsafe: bool = False) -> Result:
    """Raise for an evaluated pickle that would run code or that torch would refuse; else return it.

    Args:
        target: the file, for messages.
        where: the pickle within it (``"data.pkl"``), for messages.
        classes_are_unsafe: instance classes and held functions make the pickle unsafe too (a pickle that is not
            the object of a checkpoint has no reason to hold any).

    Raises:
        UnsafeTargetError: loading the pickle would run code (or change a tensor after its checks).
        FormatError: the pickle changes values torch's weights-only unpickler does not let it change.
    """
    unsafe = result.unsafe + (result.class_findings if classes_are_unsafe else ())
    if unsafe:
        raise unsafe_error(target, where, unsafe)
    if result.malformed:
        more = f" (and {len(result.malformed) - 1} more)" if len(result.malformed) > 1 else ""
        raise FormatError(
            f"{where}: {result.malformed[0]}{more}",
            target=target,
            rule="pickle-refused",
        )
    return result


def check(
    data: bytes,
    *,
    target: str,
    where: str,
    limits: Limits,
    allowlist: Allowlist,
    classes_are_unsafe: bool = False,
    persistent: bool = True,
) -> Result:
    """:func:`evaluate` and :func:`judge` one pickle held in memory, with paramcount's errors.

    Raises:
        UnsafeTargetError: loading the pickle would run code.
        FormatError: the pickle is malformed, or exceeds a limit.
    """
    try:
        result = evaluate(data, allowlist, limits, persistent=persistent)
    except MalformedPickleError as e:
        raise error(e, target=target, where=where) from e
    return judge(result, target=target, where=where, classes_are_unsafe=classes_are_unsafe)


def read_stream(
    blob: Blob, offset: int, allowlist: Allowlist, limits: Limits, *, persistent: bool = True, first: bytes = b""
) -> Result:
    """Evaluate the pickle at ``offset`` of ``blob``, reading growing windows so that little more than it is read.

    Args:
        first: bytes of the blob from ``offset`` already held (a sniffed head): tried first, without a read.

    Raises:
        MalformedPickleError: as :func:`evaluate`; also when the pickle runs past ``limits.pickle_bytes``.
    """
    window = _FIRST_WINDOW
    data = first[: limits.pickle_bytes]
    while True:
        if not data:
            length = min(window, blob.size - offset, limits.pickle_bytes)
            data = blob.read(offset, length)
        length = len(data)
        try:
            return evaluate(data, allowlist, limits, persistent=persistent, complete=length >= blob.size - offset)
        except TruncatedPickleError as e:
            if length >= blob.size - offset:
                raise
            if length >= limits.pickle_bytes:
                raise MalformedPickleError(
                    f"runs past its first {length} bytes", e.offset, e.unsafe, limit=("pickle_bytes", length)
                ) from None
            window = max(window, length) * 16
            data = b""


def check_stream(
    blob: Blob,
    offset: int,
    *,
    target: str,
    where: str,
    limits: Limits,
    allowlist: Allowlist,
    classes_are_unsafe: bool = True,
    persistent: bool = True,
) -> Result:
    """:func:`read_stream` and :func:`judge`, with paramcount's errors (instance classes unsafe by default).

    Raises:
        UnsafeTargetError: loading the pickle would run code.
        FormatError: the pickle is malformed, or exceeds a limit.
    """
    try:
        result = read_stream(blob, offset, allowlist, limits, persistent=persistent)
    except MalformedPickleError as e:
        raise error(e, target=target, where=where) from e
    return judge(result, target=target, where=where, classes_are_unsafe=classes_are_unsafe)


def held(g: Global) -> str | None:
    """Why holding the global ``g`` (neither calling nor instantiating it) is unsafe; ``None`` when it is only
    untrusted.

    Holding a global makes a loader import its module and walk to the name: a third-party package's code runs as
    it is imported, nothing is called. The name is judged by what it reaches, not by how it starts:

    >>> held(Global("torch._C._nn", "gelu", 0)) is None  # a tensor operation, as BART's modules hold it
    True
    >>> held(Global("transformers.activations", "gelu_new", 0)) is None  # a third-party package's function
    True
    >>> held(Global("torch", "os.system", 0))
    "names an object through attributes (module 'torch', name 'os.system'), which can reach anything"
    >>> held(Global("torch.utils.collect_env", "run", 0))
    'a torch function that is not a tensor operation'
    >>> held(Global("posix", "system", 0))
    'a function of the standard library'
    """
    module, name = g.resolved
    top = module.partition(".")[0]
    if top == "torch" and is_tensor_operation(module, name):
        return None
    if "." in name or not name.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        shown = f"module {quote(module, 60)}, name {quote(name, 60)}"
        return f"names an object through attributes ({shown}), which can reach anything"
    if top == "torch":
        return "a torch function that is not a tensor operation"
    if top in _stdlib():
        return "a function of the standard library"
    return None


@functools.cache
def _stdlib() -> frozenset[str]:
    """Top-level modules of the standard library, Python 2 names included (``find_class`` maps them)."""
    return frozenset(sys.stdlib_module_names) | frozenset(m.partition(".")[0] for m in IMPORT_MAPPING)


_SNIFF_LIMITS = DEFAULT._replace(pickle_opcodes=100_000)


class _Machine:
    """The pickle machine over inert values (the module docstring says what each opcode does)."""

    def __init__(
        self, allowlist: Allowlist, limits: Limits, data: bytes, persistent: bool, *, complete: bool = False
    ) -> None:
        self.allowlist = allowlist
        self.limits = limits
        self.data = data
        self.persistent = persistent
        self.complete = complete  # data runs to the end of the file
        self.short_frame: tuple[str, int] | None = None  # a FRAME claimed more than the file holds: why, where
        self.roles: dict[str, list[tuple[int, str]]] = {}
        for callable_, position, role in allowlist.arguments:
            self.roles.setdefault(callable_, []).append((position, role))
        self.reconstructors = {name: (m, n) for name, m, n in allowlist.reconstructors}
        self.mutable = {name: frozenset(opcodes.split()) for name, opcodes in allowlist.mutable}
        self.enums = dict(allowlist.enums)
        self.globals: list[Global] = []
        self.findings: list[str] = _Findings()  # unsafe changes to tensors and storages, unjudgeable arguments
        self.reported: dict[int, Global] = {}  # classes whose __setstate__ was found unsafe, by id
        self.malformed: list[str] = []
        self.root: Any = None
        self.end = 0
        self.protocol = 0
        self.position = 0
        self.count = 0
        self.items = 0  # container items added so far
        self.walked = 0  # values inside tuple dict keys and pairs of BUILD states walked so far
        self.wide = 0  # bytes that strings decoded so far may take beyond their encoded size (see _widen)
        self.hooked: dict[int, Any] = {}  # values _hooks has walked, by id

    # -- verdicts ---------------------------------------------------------------------------------------------

    def unsafe(self) -> tuple[str, ...]:
        """Unsafe globals (called, changed or held unsafely) and unsafe changes so far, in order of appearance."""
        lines = []
        for g in self.globals:
            if g.changed is not None:
                offset, opcode = g.changed
                lines.append(
                    f"{g.shown} at offset {g.offset}, changed by {opcode} at offset {offset} (a module, class or "
                    "function of the loading process: later globals would resolve to what the file put there)"
                )
                continue
            if self.allowlist.allows(g) or (g.operand and g.called is None and not g.instantiated):
                continue
            if g.called is not None:
                if g.qualname in self.reconstructors or self._builds(g):
                    continue  # untrusted: see classes()
                offset, opcode = g.called
                lines.append(f"{g.shown} at offset {g.offset}, called by {opcode} at offset {offset}")
            elif g.instantiated:
                if g.resolved[0].partition(".")[0] in _stdlib() and g.key not in PLAIN_DATA:
                    lines.append(
                        f"{g.shown} at offset {g.offset}, instantiated: a class of the standard library that is not "
                        "plain data (its objects can run code the file chose when they are used)"
                    )
                elif _through_attributes(g):
                    lines.append(
                        f"{g.shown} at offset {g.offset}, instantiated: a class reached through attributes, which can "
                        "be anything (torch.builtins is the builtins module)"
                    )
            elif g.via not in (_OF_INSTANCE, _OF_CLASS):
                why = held(g)
                if why is not None:
                    via = f" (rebuilt by {g.via})" if g.via else ""
                    lines.append(f"{g.shown} at offset {g.offset}, referenced{via}: {why}")
        return (*lines, *self.findings)

    def classes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What loading imports without an unsafe use: names, and lines with offsets."""
        names: dict[str, None] = {}
        lines = []
        for g in self.globals:
            if g.changed is not None or g.called is not None or self.allowlist.allows(g):
                if g.called is not None and g.shown not in names:
                    if g.qualname in self.reconstructors:
                        names[g.shown] = None
                        lines.append(f"{g.shown} at offset {g.offset}, called to rebuild an object")
                    elif self._builds(g):
                        names[g.shown] = None
                        how = "an Enum member looked up" if g.key in self.enums else "called"
                        lines.append(f"{g.shown} at offset {g.offset}, {how}")
                continue
            if g.operand or (not g.instantiated and g.via not in (_OF_INSTANCE, _OF_CLASS) and held(g) is not None):
                continue
            if g.instantiated and (
                (g.resolved[0].partition(".")[0] in _stdlib() and g.key not in PLAIN_DATA) or _through_attributes(g)
            ):
                continue  # unsafe: see unsafe()
            if g.shown not in names:
                names[g.shown] = None
                how = "instantiated" if g.instantiated else f"referenced ({g.via})" if g.via else "referenced"
                lines.append(f"{g.shown} at offset {g.offset}, {how}")
        return tuple(names), tuple(lines)

    def _builds(self, g: Global) -> bool:
        """Whether ``g`` is a builder or an Enum class (every call of which was a member lookup, see
        :meth:`_call`): calling it is untrusted."""
        return g.key in self.allowlist.builders or g.key in self.enums

    # -- the machine --------------------------------------------------------------------------------------------

    def run(self) -> None:
        data = self.data
        size = len(data)
        limits = self.limits
        cap = min(limits.pickle_opcodes, remaining(limits))
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        depth = 0  # values held in stacks saved by MARK
        frame_end = -1  # where the current FRAME's bytes end (-1: none)
        bound = size  # arguments must end by here: the data's end, or the current frame's
        pos = at = 0
        count = 0
        unpack_from = struct.unpack_from
        find = data.find
        call = self._call
        change = self._change
        put = self._put
        add_items = self._add_items

        def pop_mark() -> list[Any]:
            nonlocal stack, depth
            if not marks:
                raise MalformedPickleError("an opcode needs a MARK but none is open", self.position)
            items = stack
            stack = marks.pop()
            depth -= len(stack)
            return items

        try:
            while True:
                if pos >= bound:
                    if pos == frame_end:
                        frame_end = -1
                        bound = size
                    if pos >= size:
                        raise TruncatedPickleError("ends before its STOP opcode", pos)
                self.position = at = pos
                op = data[pos]
                pos += 1
                count += 1
                if count > cap:
                    field = "pickle_opcodes" if cap == limits.pickle_opcodes else "total_pickle_opcodes"
                    raise MalformedPickleError("runs too many opcodes", at, limit=(field, getattr(limits, field)))
                if not count & _CHECK_EVERY and len(stack) + depth > limits.pickle_stack:
                    raise MalformedPickleError(
                        "holds too many values on its stack", at, limit=("pickle_stack", limits.pickle_stack)
                    )
                # Most frequent opcodes of real checkpoints first.
                if op == 0x71:  # BINPUT
                    if pos + 1 > bound:
                        self._overrun(pos + 1, frame_end)
                    if not stack:
                        raise _underflow(at)
                    put(memo, data[pos], stack[-1])
                    pos += 1
                elif op == 0x68:  # BINGET
                    if pos + 1 > bound:
                        self._overrun(pos + 1, frame_end)
                    index = data[pos]
                    if index not in memo:
                        raise MalformedPickleError(f"reads memo entry {index}, which was never stored", at)
                    stack.append(memo[index])
                    pos += 1
                elif op in {0x58, 0x8C, 0x8D}:  # BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                    width = 4 if op == 0x58 else 1 if op == 0x8C else 8
                    start = pos + width
                    if start > bound:
                        self._overrun(start, frame_end)
                    stop = start + int.from_bytes(data[pos:start], "little")
                    if stop > bound:
                        self._overrun(stop, frame_end)
                    raw = data[start:stop]
                    if not raw.isascii():
                        self._widen(len(raw))
                    stack.append(raw.decode("utf-8", "surrogatepass"))
                    pos = stop
                elif op == 0x4B:  # BININT1
                    if pos + 1 > bound:
                        self._overrun(pos + 1, frame_end)
                    stack.append(data[pos])
                    pos += 1
                elif op == 0x28:  # MARK
                    if len(marks) >= limits.nesting:
                        raise MalformedPickleError("nests MARKs too deep", at, limit=("nesting", limits.nesting))
                    marks.append(stack)
                    depth += len(stack)
                    stack = []
                elif op == 0x74:  # TUPLE
                    items = pop_mark()  # pop first: stack is rebound (formats.md 3, pitfall 1)
                    add_items(len(items))
                    stack.append(tuple(items))
                elif op in {0x72, 0x6A}:  # LONG_BINPUT, LONG_BINGET
                    if pos + 4 > bound:
                        self._overrun(pos + 4, frame_end)
                    (index,) = unpack_from("<I", data, pos)
                    pos += 4
                    if op == 0x72:
                        if not stack:
                            raise _underflow(at)
                        put(memo, index, stack[-1])
                    elif index in memo:
                        stack.append(memo[index])
                    else:
                        raise MalformedPickleError(f"reads memo entry {index}, which was never stored", at)
                elif op == 0x94:  # MEMOIZE
                    if not stack:
                        raise _underflow(at)
                    put(memo, len(memo), stack[-1])
                elif op == 0x52:  # REDUCE
                    if len(stack) < 2:
                        raise _underflow(at)
                    args = stack.pop()
                    stack[-1] = call(stack[-1], args, "REDUCE")
                elif 0x85 <= op <= 0x87:  # TUPLE1, TUPLE2, TUPLE3
                    n = op - 0x84
                    if len(stack) < n:
                        raise _underflow(at)
                    items = stack[-n:]
                    del stack[-n:]
                    stack.append(tuple(items))
                elif op == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif op == 0x4E:  # NONE
                    stack.append(None)
                elif op == 0x88:  # NEWTRUE
                    stack.append(True)
                elif op == 0x89:  # NEWFALSE
                    stack.append(False)
                elif op == 0x7D:  # EMPTY_DICT
                    stack.append({})
                elif op == 0x5D:  # EMPTY_LIST
                    stack.append([])
                elif op in {0x75, 0x65, 0x90}:  # SETITEMS, APPENDS, ADDITEMS
                    items = pop_mark()
                    if not stack:
                        raise _underflow(at)
                    name = "SETITEMS" if op == 0x75 else "APPENDS" if op == 0x65 else "ADDITEMS"
                    if op == 0x75 and len(items) % 2:
                        raise MalformedPickleError("SETITEMS has an odd number of items", at)
                    if items:  # with nothing to add, both unpicklers change nothing
                        add_items(len(items) // 2 if op == 0x75 else len(items))
                        change(stack[-1], name, items)
                elif op == 0x73:  # SETITEM
                    if len(stack) < 3:
                        raise _underflow(at)
                    value = stack.pop()
                    key = stack.pop()
                    add_items(1)
                    change(stack[-1], "SETITEM", [key, value])
                elif op == 0x61:  # APPEND
                    if len(stack) < 2:
                        raise _underflow(at)
                    value = stack.pop()
                    add_items(1)
                    change(stack[-1], "APPEND", [value])
                elif op == 0x62:  # BUILD
                    if len(stack) < 2:
                        raise _underflow(at)
                    state = stack.pop()
                    count += _BUILD_COST - 1
                    change(stack[-1], "BUILD", [state])
                elif op == 0x4A:  # BININT
                    if pos + 4 > bound:
                        self._overrun(pos + 4, frame_end)
                    stack.append(unpack_from("<i", data, pos)[0])
                    pos += 4
                elif op == 0x4D:  # BININT2
                    if pos + 2 > bound:
                        self._overrun(pos + 2, frame_end)
                    stack.append(unpack_from("<H", data, pos)[0])
                    pos += 2
                elif op == 0x51:  # BINPERSID
                    if not stack:
                        raise _underflow(at)
                    if not self.persistent:
                        raise MalformedPickleError("has a persistent id, which a plain pickle.load refuses", at)
                    # torch's persistent_load compares, hashes and formats the id's items before it looks anything up
                    self._opaque_within(stack[-1], "a persistent id (its loader compares, hashes and formats it)")
                    stack[-1] = PersId(stack[-1], at)
                elif op in {0x63, 0x69}:  # GLOBAL, INST
                    count += _TEXT_COST - 1
                    # INST pops its MARK first (stack is rebound; the fuzzer found it). Without one the C unpickler
                    # fails at once; the pure-Python one reads both lines and imports the module first (the
                    # pickle-oracle fuzz target found it), so the global is recorded before the failure.
                    unmarked = op == 0x69 and not marks
                    items = pop_mark() if op == 0x69 and not unmarked else []
                    end = find(b"\n", pos, bound)
                    stop = find(b"\n", end + 1, bound) if end >= 0 else -1
                    if stop < 0:
                        # Outside a frame, the pure-Python unpickler's readline returns the rest; inside a frame
                        # that runs to the end of the file, only a frame used up exactly falls back to reading the
                        # file, which gives b"": the module line ending the data imports with an empty name.
                        if frame_end < 0 or (self.short_frame is not None and end + 1 == len(data)):
                            self._last_line_global(pos, end)
                        self._overrun_line(pos, frame_end)
                    raw_module, raw_name = data[pos:end], data[end + 1 : stop]
                    pos = stop + 1
                    if not raw_module:
                        raise MalformedPickleError("GLOBAL or INST has an empty module name", at)
                    if not (raw_module.isascii() and raw_name.isascii()):
                        self._widen(len(raw_module) + len(raw_name))
                    g = self._new_global(raw_module.decode("utf-8"), raw_name.decode("utf-8"))
                    if not raw_name:  # find_class imports the module, then finds no attribute "": both fail after it
                        raise MalformedPickleError("GLOBAL or INST has an empty name", at)
                    if unmarked:
                        raise MalformedPickleError("an opcode needs a MARK but none is open", at)
                    stack.append(g if op == 0x63 else call(g, tuple(items), "INST"))
                elif op == 0x93:  # STACK_GLOBAL
                    if len(stack) < 2:
                        raise _underflow(at)
                    name = stack.pop()
                    module = stack.pop()
                    if type(module) is not str or type(name) is not str:
                        if any(isinstance(v, (Global, Call)) for v in (module, name)):
                            raise _EvasionError(
                                f"STACK_GLOBAL at offset {at} takes its module or name from a value only known at "
                                "load time (an attribute of a module, the result of a call)",
                                at,
                            )
                        raise MalformedPickleError("STACK_GLOBAL operands are not two strings", at)
                    stack.append(self._new_global(module, name))
                elif op in {0x81, 0x92}:  # NEWOBJ, NEWOBJ_EX
                    if len(stack) < (2 if op == 0x81 else 3):
                        raise _underflow(at)
                    if op == 0x81:
                        args = stack.pop()
                        stack[-1] = call(stack[-1], args, "NEWOBJ")
                    else:
                        kwargs = stack.pop()
                        args = stack.pop()
                        stack[-1] = call(stack[-1], (args, kwargs), "NEWOBJ_EX")
                elif op == 0x80:  # PROTO
                    if pos + 1 > bound:
                        self._overrun(pos + 1, frame_end)
                    proto = data[pos]
                    pos += 1
                    if proto > _HIGHEST_PROTOCOL:
                        raise MalformedPickleError(f"declares pickle protocol {proto}; the highest is 5", at)
                    self.protocol = self.protocol or proto
                    self.proto = proto
                elif op == 0x95:  # FRAME
                    if pos + 8 > bound:
                        self._overrun(pos + 8, frame_end)
                    if frame_end >= 0:
                        raise _EvasionError(f"opens a frame at offset {at} inside the frame ending at {frame_end}", at)
                    (n,) = unpack_from("<Q", data, pos)
                    pos += 8
                    if pos + n > size:
                        if not self.complete:  # a window of the file: read more
                            raise TruncatedPickleError(f"its frame at offset {at} runs past the end of the data", at)
                        # The C unpickler stops here; the pure-Python one reads the rest of the file as the frame
                        # (its file_read returns what there is) and goes on (the pickle-oracle fuzz target found it).
                        problem = f"its FRAME at offset {at} claims {n} bytes, more than the file holds"
                        self.short_frame = (problem, at)
                        n = size - pos
                    if n:
                        frame_end = bound = pos + n
                elif op == 0x2E:  # STOP
                    if frame_end >= 0 and pos < frame_end and self.short_frame is None:
                        raise _EvasionError(
                            f"stops at offset {at} with {frame_end - pos} bytes of its frame unread: the next pickle "
                            "would start elsewhere for the C unpickler",
                            at,
                        )
                    if not stack:
                        raise MalformedPickleError("STOP with no value above its last MARK", at)
                    self.root = stack[-1]  # both unpicklers return the top value and drop the rest
                    self.end = pos
                    return
                elif op == 0x30:  # POP
                    if stack:
                        stack.pop()
                    else:
                        pop_mark()  # POP of a MARK discards it, as both unpicklers do
                elif op == 0x31:  # POP_MARK
                    pop_mark()
                elif op == 0x32:  # DUP
                    if not stack:
                        raise _underflow(at)
                    stack.append(stack[-1])
                elif op in {0x8A, 0x8B}:  # LONG1, LONG4
                    width = 1 if op == 0x8A else 4
                    start = pos + width
                    if start > bound:
                        self._overrun(start, frame_end)
                    n = data[pos] if op == 0x8A else unpack_from("<i", data, pos)[0]
                    if n < 0:
                        raise MalformedPickleError("LONG4 has a negative byte count", at)
                    stop = start + n
                    if stop > bound:
                        self._overrun(stop, frame_end)
                    raw = data[start:stop]
                    stack.append(int.from_bytes(raw, "little", signed=True) if n <= 2 * _MAX_DIGITS else Opaque(n))
                    pos = stop
                elif op == 0x47:  # BINFLOAT
                    if pos + 8 > bound:
                        self._overrun(pos + 8, frame_end)
                    stack.append(unpack_from(">d", data, pos)[0])
                    pos += 8
                elif op in _COUNTED:  # SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8, SHORT_BINSTRING, BINSTRING
                    width = _COUNTED[op]
                    start = pos + width
                    if start > bound:
                        self._overrun(start, frame_end)
                    stop = start + int.from_bytes(data[pos:start], "little")
                    if stop > bound:
                        self._overrun(stop, frame_end)
                    if op == 0x96:
                        stack.append(bytearray(data[start:stop]))
                    elif op in {0x55, 0x54}:
                        stack.append(data[start:stop].decode("latin-1"))  # the loader's encoding: ASCII, UTF-8, bytes
                    else:
                        stack.append(data[start:stop])
                    pos = stop
                elif op in _TEXT:  # INT, LONG, FLOAT, STRING, UNICODE, PUT, GET, PERSID
                    count += _TEXT_COST - 1
                    end = find(b"\n", pos, bound)
                    if end < 0:
                        self._overrun_line(pos, frame_end)
                    text = data[pos : end + 1]
                    pos = end + 1
                    if op == 0x49 and 1 < len(text) < 20 and text[0] != 0x30 and text[:-1].isdigit():
                        stack.append(int(text))  # the common spelling: decimal, no sign or leading zero
                    elif op in {0x49, 0x4C}:  # INT, LONG
                        number = _int_line(text, at) if op == 0x49 else _long_line(text, at)
                        if type(number) is Opaque:
                            self.malformed.append(
                                f"{_opcode_name(op)} at offset {at} has {number.digits} decimal digits, which "
                                f"Python refuses to convert past {_MAX_DIGITS} unless told otherwise"
                            )
                        stack.append(number)
                    elif op == 0x46:  # FLOAT
                        plain = len(text) < 40 and text[:-1].replace(b".", b"", 1).isdigit()  # digits, maybe a point
                        stack.append(float(text) if plain else _float_line(text, at))
                    elif op == 0x53:  # STRING
                        body = text[:-1]
                        if len(body) < 2 or body[0] != body[-1] or body[:1] not in (b"'", b'"'):
                            raise MalformedPickleError("the STRING opcode argument must be quoted", at)
                        stack.append(codecs.escape_decode(body[1:-1])[0].decode("latin-1"))
                    elif op == 0x56:  # UNICODE
                        if len(text) > 64 or not text.isascii():  # an escape can make a string wide
                            self._widen(len(text))
                        stack.append(codecs.raw_unicode_escape_decode(text[:-1])[0])
                    elif op == 0x50:  # PERSID
                        if not self.persistent:
                            raise MalformedPickleError("has a persistent id, which a plain pickle.load refuses", at)
                        stack.append(PersId(text[:-1].decode("latin-1"), at))
                    elif op == 0x70:  # PUT
                        if not stack:
                            raise _underflow(at)
                        index = int(text) if len(text) < 20 and text[:-1].isdigit() else _index_line(text, at)
                        if index < 0:
                            raise MalformedPickleError(f"stores memo entry {index}, a negative index", at)
                        put(memo, index, stack[-1])
                    else:  # GET
                        index = int(text) if len(text) < 20 and text[:-1].isdigit() else _index_line(text, at)
                        if index not in memo:
                            raise MalformedPickleError(f"reads memo entry {index}, which was never stored", at)
                        stack.append(memo[index])
                elif op == 0x6C:  # LIST
                    items = pop_mark()
                    add_items(len(items))
                    stack.append(items)
                elif op == 0x64:  # DICT
                    items = pop_mark()
                    if len(items) % 2:
                        raise MalformedPickleError("DICT has an odd number of items", at)
                    add_items(len(items) // 2)
                    for key in items[::2]:
                        self._check_key(key)
                    stack.append(dict(zip(items[::2], items[1::2], strict=True)))
                elif op == 0x8F:  # EMPTY_SET
                    stack.append(InertSet())
                elif op == 0x91:  # FROZENSET
                    items = pop_mark()
                    add_items(len(items))
                    for member in items:
                        self._opaque_within(member, "FROZENSET (which hashes its members)")
                    stack.append(tuple(items))
                elif op == 0x6F:  # OBJ
                    items = pop_mark()
                    if not items:
                        raise MalformedPickleError("OBJ without a class", at)
                    stack.append(call(items[0], tuple(items[1:]), "OBJ"))
                elif 0x82 <= op <= 0x84:  # EXT1, EXT2, EXT4
                    width = 1 if op == 0x82 else 2 if op == 0x83 else 4
                    if pos + width > bound:
                        self._overrun(pos + width, frame_end)
                    code = int.from_bytes(data[pos : pos + width], "little", signed=width == 4)
                    if code <= 0:
                        raise MalformedPickleError("EXT specifies a code <= 0", at)
                    raise _EvasionError(
                        f"EXT{width} at offset {at} names a global through copyreg's extension registry, which "
                        "paramcount cannot see",
                        at,
                    )
                elif op == 0x98:  # READONLY_BUFFER
                    if not stack:
                        raise _underflow(at)
                    self.malformed.append(
                        f"READONLY_BUFFER at offset {at}, an out-of-band buffer opcode torch's weights-only unpickler "
                        "refuses"
                    )
                elif op == 0x97:  # NEXT_BUFFER
                    raise MalformedPickleError("NEXT_BUFFER needs out-of-band buffers, which a file cannot supply", at)
                else:
                    raise MalformedPickleError(f"has the invalid opcode {bytes([op])!r}", at)
        finally:
            self.count = count
            self.position = at

    def _overrun(self, end: int, frame_end: int) -> None:
        """An argument ending at ``end`` runs past the data (truncation) or past its frame (unsafe)."""
        name = _opcode_name(self.data[self.position])
        if frame_end >= 0 and end > frame_end and not (self.short_frame and frame_end == len(self.data)):
            raise _EvasionError(
                f"{name} at offset {self.position} runs past the end of its frame ({frame_end}): the C unpickler "
                "reading from a file would take its argument from after the frame, pickle.loads and the pure-Python "
                "unpickler would not",
                self.position,
            )
        at = self.position
        needs, left = end - at - 1, len(self.data) - at - 1
        raise TruncatedPickleError(f"{name} at offset {at} needs {needs} bytes; {left} remain", at)

    def _last_line_global(self, pos: int, end: int) -> None:
        """A ``GLOBAL``/``INST`` whose lines run to the data's end without a newline: the pure-Python unpickler's
        ``readline`` returns the rest, ``[:-1]`` drops its last byte, and ``find_class`` imports the module before the
        load fails (the C unpickler refuses the line first). The global is recorded, so that what it imports is
        judged; the caller then reports the truncation."""
        data = self.data
        if end < 0:
            raw_module, raw_name = data[pos:-1], b""
        else:
            raw_module, raw_name = data[pos:end], data[end + 1 : -1]
        if not raw_module:
            return
        self._widen(len(raw_module) + len(raw_name))
        try:
            module, name = raw_module.decode("utf-8"), raw_name.decode("utf-8")
        except UnicodeDecodeError:
            return  # the pure-Python unpickler fails to decode before it imports anything
        self._new_global(module, name)

    def _overrun_line(self, pos: int, frame_end: int) -> None:
        """A text argument from ``pos`` has no newline before the data's end (truncation) or its frame's (unsafe)."""
        if frame_end >= 0 and self.data.find(b"\n", pos) >= 0:
            self._overrun(frame_end + 1, frame_end)
        name = _opcode_name(self.data[self.position])
        raise TruncatedPickleError(
            f"{name} at offset {self.position} has no newline to end its argument", self.position
        )

    proto = 0  # the protocol in force (PROTO may appear again mid-stream)

    def _put(self, memo: dict[int, Any], index: int, value: Any) -> None:
        if len(memo) >= self.limits.pickle_memo and index not in memo:
            raise MalformedPickleError(
                "stores too many memo entries", self.position, limit=("pickle_memo", self.limits.pickle_memo)
            )
        memo[index] = value

    def _add_items(self, n: int) -> None:
        self.items += n
        if self.items > self.limits.pickle_items:
            raise MalformedPickleError(
                "adds too many items to its containers", self.position, limit=("pickle_items", self.limits.pickle_items)
            )

    def _widen(self, n: int) -> None:
        """Charge decoding ``n`` bytes that may become a wide string (one character outside Latin-1 makes Python
        store every character in up to 4 bytes: 256 MB of ASCII and one emoji decode to 1 GB) against
        ``pickle_bytes``, before decoding them."""
        self.wide += 4 * n
        if self.wide > self.limits.pickle_bytes:
            raise MalformedPickleError(
                f"holds strings that would take more than {self.limits.pickle_bytes} bytes decoded",
                self.position,
                limit=("pickle_bytes", self.limits.pickle_bytes),
            )

    def _new_global(self, module: str, name: str, proto: int | None = None) -> Global:
        if len(self.globals) >= self.limits.pickle_globals:
            raise MalformedPickleError(
                "names too many globals",
                self.position,
                limit=("pickle_globals", self.limits.pickle_globals),
            )
        g = Global(module, name, self.position, self.proto if proto is None else proto)
        self.globals.append(g)
        return g

    def _call(self, func: Any, args: Any, opcode: str) -> Call:
        """The inert result of calling ``func``, marking what loading does with the globals involved."""
        offset = self.position
        if isinstance(func, Call) and func.names is not None:
            func = func.names  # calling what a reconstructor reached: a call of that global (and its result is)
        result = Call(func, args, opcode, offset)
        if isinstance(func, (Call, PersId)):
            # an object loading made (a partial, an instance, a class built by type()) or only the loader knows
            if opcode in _NEWOBJ:
                self.findings.append(
                    f"{opcode} at offset {offset} instantiates {_made(func)}: a class only known at load time"
                )
            else:
                self._calls(func, opcode, chosen=True)
            return result
        if not isinstance(func, Global):
            return result
        if opcode in _NEWOBJ and func.key not in self.allowlist.builders:
            func.instantiated = True
            # cls.__new__(cls, *args) uses its arguments: frozenset and torch.Size iterate them, an Enum looks its
            # value up (hashing and comparing it)
            self._opaque_within(args, f"{opcode} of {func.shown} (whose __new__ takes its arguments apart)", lists=True)
            self._enum_lookup(func, args, opcode, "NEWOBJ", "instantiated")
            if func.key in self.allowlist.metaclasses:
                self.findings.append(
                    f"{opcode} at offset {offset} instantiates the metaclass {func.shown}: it builds a class from "
                    "the name, bases and namespace the file chose, as type does"
                )
            return result
        key = func.key
        if key == "builtins.getattr" and self._getattr(func, args, result):
            return result
        if func.called is None:
            func.called = (offset, opcode)
        if not self.allowlist.allows(func):
            reconstructor = self.reconstructors.get(func.qualname)
            if reconstructor is not None:
                self._reconstruct(func, args, reconstructor, result)
            self._enum_lookup(func, args, opcode, "REDUCE", "called")
            return result
        arguments = args if isinstance(args, tuple) else ()
        for position, role in self.roles.get(key, ()):
            if position >= len(arguments):
                continue
            value = arguments[position]
            if role == "class" and isinstance(value, Global):
                value.instantiated = True
            elif role == "class" and isinstance(value, (Call, PersId)):
                self.findings.append(
                    f"{func.shown} at offset {offset} makes an instance of {_made(value)}: a class only known at "
                    "load time"
                )
            elif role == "called":
                self._called_argument(value, func, opcode)
            elif role == "hooks":
                self._hooks(value, func, opcode)
            elif role == "state":
                # _set_obj_state tests the state (or each part of a pair), calls its items() and, for a tuple of
                # another length, formats it into its error: an instance there runs its class's code
                how = f"{opcode} of {func.shown} (which tests and takes apart its state)"
                self._opaque_within(value, how, lists=True)
                self._methods_called(value, "items", f"{opcode} of {func.shown}, with its state", pair=True)
                self._give_attributes(result, value)
                for made, kind in self.roles.get(key, ()):
                    # _rebuild_from_type_v2 calls the new type's __setstate__ with the state unless it is Tensor's
                    cls = arguments[made] if kind == "class" and made < len(arguments) else None
                    if isinstance(cls, Global) and self.allowlist.setstate.get(cls.key) != "torch.Tensor":
                        self._setstate(cls, f"{opcode} of {func.shown} at offset {offset} gives a state to")
            elif role == "mapping":
                self._methods_called(value, "keys", f"{opcode} of {func.shown}, with its argument")
        kept = {position for position, role in self.roles.get(key, ()) if role in ("state", "hooks")}
        for position, value in enumerate(arguments):
            if position not in kept:
                how = f"{opcode} of {func.shown} (which iterates, indexes or reads it)"
                self._opaque_within(value, how, lists=True)
        if key == "_codecs.encode":
            encoding = arguments[1] if len(arguments) > 1 else "utf-8"
            if not (isinstance(encoding, str) and encoding.lower() in self.allowlist.encodings):
                self.findings.append(
                    f"_codecs.encode at offset {func.offset}, called by {opcode} at offset {offset} with the "
                    f"encoding {quote(encoding, 40)}: looking a codec up by name can import a module"
                )
        return result

    def _enum_lookup(self, func: Global, args: Any, opcode: str, lookup: str, how: str) -> None:
        """An ``Enum`` class of the table (``func``) called or instantiated: a member lookup (``lookup`` with one of
        its members' values) is untrusted; anything else runs its ``_missing_`` or builds a new class, unsafe."""
        members = self.enums.get(func.key)
        if members is None:
            return
        if (
            opcode == lookup
            and isinstance(args, tuple)
            and len(args) == 1
            and type(args[0]) in (str, int, float, bool, type(None))
            and args[0] in members
        ):
            return
        self.findings.append(
            f"{func.shown} at offset {func.offset}, {how} by {opcode} at offset {self.position} with arguments "
            "other than one of its members' values (an Enum class then runs its _missing_ or builds a new class)"
        )

    def _called_argument(self, value: Any, by: Global, opcode: str) -> None:
        """An argument an allowlisted function calls (``_rebuild_from_type_v2``'s ``func``, a backward hook)."""
        self._calls(value, f"{opcode} of {by.shown}")

    def _calls(self, value: Any, how: str, depth: int = 0, *, chosen: bool = True) -> None:
        """Loading calls ``value`` (``how`` says why, for the message).

        Only a global or a call's result can be called: anything else fails in the loader, except a persistent id,
        whose object only the loader knows. What a reconstructor reached is a global, then called. Calling a
        builder's result (a ``functools.partial``) calls the function it wraps (its first argument, or the first
        item of a ``BUILD`` state). Any other call's result is an object loading made — an instance, whose class's
        ``__call__`` runs, or a class made by ``type()`` — and calling it with arguments the file chose
        (``chosen``: every call but autograd's of a backward hook) is unsafe.
        """
        if isinstance(value, Call) and value.names is not None:
            value = value.names
        if isinstance(value, Global):
            if value.called is None:
                value.called = (self.position, how)
        elif isinstance(value, PersId):
            self.findings.append(
                f"{how} at offset {self.position} calls a persistent id's object, which only the loader knows"
            )
        elif isinstance(value, Call) and isinstance(value.func, Global) and value.func.key in self.allowlist.builders:
            if depth >= 100:
                self.findings.append(f"{how} at offset {self.position} calls a chain of more than 100 partials")
                return
            wrapped = [value.args[0]] if isinstance(value.args, tuple) and value.args else []
            if type(value.state) is tuple and value.state:
                wrapped.append(value.state[0])
            for inner in wrapped:
                self._calls(inner, f"{how}, through {value.func.shown}", depth + 1, chosen=chosen)
        elif isinstance(value, Call) and chosen:
            self.findings.append(f"{how} at offset {self.position} calls {_made(value)} with arguments it chose")

    def _hooks(self, value: Any, by: Global, opcode: str) -> None:
        """Backward hooks given to a rebuilt tensor (an ``OrderedDict``, empty in every file torch writes):
        autograd calls what they hold, so every global found in them is called. Each value is walked once per
        pickle (a hooks list shared by a million rebuilds is not walked a million times), and the walk is charged
        to ``pickle_values``."""
        pending = [value]
        seen = self.hooked
        while pending:
            item = pending.pop()
            if id(item) in seen:
                continue
            seen[id(item)] = item  # kept alive, so that its id is not reused
            if len(seen) > self.limits.pickle_values:
                raise MalformedPickleError(
                    "holds backward hooks of too many values",
                    self.position,
                    limit=("pickle_values", self.limits.pickle_values),
                )
            if isinstance(item, Global):
                self._calls(item, f"{opcode} of {by.shown}", chosen=False)
            elif isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, (list, tuple)):
                pending.extend(item)
            elif isinstance(item, Call):
                pending.extend((item.args, item.state, item._items or {}, item._appended or []))

    def _getattr(self, func: Global, args: Any, result: Call) -> bool:
        """``getattr(global, "name")``, how ``pickle`` writes a function such as ``torch.tanh``
        (``torch._C._VariableFunctionsClass.tanh``): the object it reaches is judged as a global the pickle holds
        under the dotted name, which :func:`held` allows only for torch's tensor operations. Whether the call was
        taken that way."""
        if not (isinstance(args, tuple) and len(args) == 2 and type(args[1]) is str):
            return False
        owner, attribute = args
        if isinstance(owner, Call):
            # A method of an instance (pickle writes a bound method as getattr(instance, name)): the class's
            # code finds it, or the instance's state, which is judged where it is given.
            if not (owner.opcode in _NEWOBJ and isinstance(owner.func, Global) and _plain(attribute)):
                return False
            module, name = owner.func.resolved
            via = _OF_INSTANCE
        elif isinstance(owner, Global):
            module, name = owner.resolved
            # A method of a third-party class (IBert's SymmetricQuantFunction.apply) is that package's code; a
            # torch class's attribute is judged by the table of tensor operations (held()).
            via = _OF_CLASS if _plain(attribute) and _third_party(module) and name.isidentifier() else "getattr"
            owner.operand = True
        else:
            return False
        target = self._new_global(module, f"{name}.{attribute}", proto=4)
        target.via = via
        func.operand = True
        result.names = target
        return True

    def _reconstruct(self, func: Global, args: Any, positions: tuple[int, int], result: Call) -> None:
        """A third-party reconstructor that imports a module and takes an attribute named by its arguments: the
        object it reaches is judged as a global the pickle holds."""
        arguments = args if isinstance(args, tuple) else ()
        m, n = positions
        module = arguments[m] if len(arguments) > m else None
        name = arguments[n] if len(arguments) > n else None
        if type(module) is not str or type(name) is not str:
            self.findings.append(
                f"{func.shown} at offset {func.offset}, called at offset {self.position} with a module or name that is "
                "not a string"
            )
            return
        target = self._new_global(module, name, proto=4)  # import_module and getattr: no Python 2 mapping
        target.via = func.shown
        result.names = target

    def _instance_methods(self, target: Call, opcode: str, items: list[Any]) -> None:
        """The methods a loader looks up on an instance to apply ``opcode`` to it, when earlier ``BUILD`` states
        put them there: ``BUILD`` calls ``inst.__setstate__``, ``APPEND(S)`` ``inst.extend`` or ``inst.append``,
        ``ADDITEMS`` ``inst.add``, and an instance attribute hides the class's method
        (a known gadget: ``BUILD {"__setstate__": f}`` then ``BUILD x`` calls ``f(x)``). ``torch.nn.Module``'s
        ``__getattr__`` finds a name missing from the class in the module's parameters, buffers and submodules, so
        those are searched too. What is found is called; then the new state's attributes are recorded."""
        for name in _LOOKED_UP.get(opcode, ()):
            for value in _found(target, name):
                self._calls(value, f"{opcode}, as the instance's {name}")
        if opcode == "BUILD":
            self._give_attributes(target, items[0])

    def _opaque_within(self, value: Any, how: str, *, lists: bool = False) -> None:
        """:meth:`_opaque_used` for ``value`` and everything in it that using it reaches: the items of tuples
        (hashing a tuple hashes them, at any depth) and, with ``lists``, of lists (a callable that takes it apart).
        Each container is walked once, charged to ``pickle_values``."""
        self._opaque_used(value, how)
        kinds = (tuple, list) if lists else (tuple,)
        if type(value) not in kinds:
            return
        pending, seen = [value], set()
        while pending:
            item = pending.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            self._walk(len(item), "holds containers of too many values where loading hashes or reads them")
            for inner in item:
                if type(inner) in kinds:
                    pending.append(inner)
                else:
                    self._opaque_used(inner, how)

    def _opaque_used(self, value: Any, how: str) -> None:
        """Loading uses ``value`` in a way that runs its class's code (hashes it, iterates it, calls one of its
        methods): unsafe when it is an instance of a class the file chose (``NEWOBJ``), whose methods then run with
        the state the file gave it (a torch datapipe's ``__iter__`` calls the function in its state). An instance
        only held, stored in a container or a state, runs nothing; plain data (``argparse.Namespace``) has no such
        methods, and an allowlisted class's were read (DCP's frozen ``MetadataIndex`` is hashed as a dict key)."""
        if _opaque(value) and not self.allowlist.allows(value.func):  # allowlisted: DCP's dataclasses, audited
            self.findings.append(
                f"{_made(value)} is used by {how} at offset {self.position}: its class's code runs with the state "
                "the file gave it"
            )

    def _setstate(self, cls: Any, how: str) -> None:
        """An instance of ``cls`` is given a state: its class's ``__setstate__`` runs with it (any state, even
        ``None``: both unpicklers call it whenever the class has one). One that is not known to only store it is
        unsafe; a class outside the table runs its package's code, as instantiating it does (untrusted)."""
        if not isinstance(cls, Global) or id(cls) in self.reported:
            return
        owner = self.allowlist.setstate.get(cls.key)
        if owner is not None:
            self.reported[id(cls)] = cls  # once per global: a pickle can give its instances states a million times
            self.findings.append(
                f"{how} an instance of {cls.shown} (offset {cls.offset}), whose __setstate__ ({owner}) does more with "
                "the state than store it: loading runs it with what the file chose"
            )

    def _methods_called(self, value: Any, name: str, how: str, *, pair: bool = False) -> None:
        """A loader calls the method ``name`` of ``value``, a value the file chose: the pure-Python unpickler's
        ``BUILD`` and torch's ``_set_obj_state`` call ``state.items()`` (for a state of any type), ``OrderedDict(x)``
        calls ``x.keys()``. An attribute a ``BUILD`` state gave an instance hides its class's method and is what is
        called; the attribute of a global (a module's or a class's: only the package knows what it is) and a
        persistent id's object are called too. ``pair``: a state, which may be a ``(state, slotstate)`` pair."""
        parts = value if pair and type(value) is tuple and len(value) == 2 else (value,)
        for part in parts:
            if isinstance(part, (Global, PersId)):
                self._calls(part, f"{how}'s {name}()")
            elif isinstance(part, Call):
                for found in _found(part, name):
                    self._calls(found, f"{how}'s {name}(), an attribute its BUILD state set")

    def _give_attributes(self, target: Call, state: Any) -> None:
        """Record the instance attributes ``state`` gives ``target`` (a ``BUILD`` state, or the state a rebuild
        sets with ``setattr``): a dict or any dict subclass (C's ``PyDict_Check``: an ``OrderedDict``, its items
        set by ``SETITEM`` or passed as pairs), or a ``(state, slotstate)`` pair of them."""
        parts = state if type(state) is tuple and len(state) == 2 else (state,)
        for part in parts:
            self._walk(_PAIR_COST * _pair_count(part), "gives instances too many attributes in its BUILD states")
            for key, value in _pairs(part):
                if type(key) is str:
                    target.attributes[key] = value
                    if key in _TOUCHED_STATE:
                        self._opaque_used(value, f"BUILD (a __setstate__ tests names against the state's {key})")

    def _check_key(self, key: Any) -> None:
        """Refuse a dict key whose hash would never finish: a tuple nested over itself (2^80 paths in 500 bytes).

        Hashing a tuple visits every path through it; the C unpickler would hang on such a key too. Every tuple key
        is measured before it is hashed, and all of them together share the ``pickle_values`` budget.
        """
        self._opaque_within(key, "a dict key (hashed as it is set, with everything in it)")
        if type(key) is not tuple or not key:
            return
        size = _tree_size(key, _MAX_KEY_VALUES)
        if size > _MAX_KEY_VALUES:
            raise MalformedPickleError(
                f"a dict key is a tuple of more than {_MAX_KEY_VALUES} nested values: hashing it would not end",
                self.position,
            )
        self._walk(size, "holds tuple dict keys of too many nested values")

    def _walk(self, n: int, problem: str) -> None:
        """Charge ``n`` values walked (a tuple key hashed, the pairs of a state given to an instance) to the
        pickle's ``pickle_values``: each walk is linear, but a pickle can ask for the same walk a million times."""
        self.walked += n
        if self.walked > self.limits.pickle_values:
            raise MalformedPickleError(problem, self.position, limit=("pickle_values", self.limits.pickle_values))

    def _change(self, target: Any, opcode: str, items: list[Any]) -> None:
        """Apply a mutating opcode to ``target`` where torch's weights-only unpickler would, else record a finding.

        Evaluation goes on either way (unless both unpicklers would fail on ``target``), so that a payload after
        the change is still seen.
        """
        given = items[0]
        if (
            opcode == "BUILD"
            and type(target) is Call
            and (type(given) in _SCALARS or (type(given) in (dict, tuple, list) and not given))
            and not target._attributes
            and isinstance(target.func, Global)
            and not self.allowlist.allows(target.func)
        ):
            # The cheapest BUILD to repeat, so the one a hostile pickle repeats (millions of times in 5 MB): a state
            # with no items (None, a number, a string, an empty container) for an instance of a class outside the
            # allowlist. What the general path below does with it: its class's __setstate__ runs; nothing else.
            if target.opcode in _NEWOBJ and target.func.key in self.allowlist.setstate:
                self._setstate(target.func, f"BUILD at offset {self.position} gives a state to")
            target.state = given
            return
        kind = opcode.rstrip("S") if opcode != "ADDITEMS" else opcode  # SETITEMS -> SETITEM, APPENDS -> APPEND
        if opcode == "BUILD":
            # a state that is an instance of a class the file chose (or a pair part that is one): any __setstate__,
            # and the pure-Python default, takes it apart (Module.__setstate__'s __dict__.update iterates it)
            for part in given if type(given) is tuple and len(given) == 2 else (given,):
                self._opaque_used(part, "BUILD (a __setstate__ takes its state apart)")
            if isinstance(given, (Global, Call, PersId, tuple)):
                # the pure-Python unpickler calls state.items() (and slotstate.items()) whatever their type, and a
                # __setstate__ that updates a __dict__ with it calls its keys()
                for method in ("items", "keys"):
                    self._methods_called(given, method, f"BUILD at offset {self.position}, with its state", pair=True)
            if isinstance(target, Call) and target.opcode in _NEWOBJ:
                self._setstate(target.func, f"BUILD at offset {self.position} gives a state to")
        if isinstance(target, Call):
            self._instance_methods(target, opcode, items)
        if kind == "SETITEM":
            for key in items[::2]:
                self._check_key(key)
        if kind == "ADDITEMS":
            for member in items:
                self._opaque_within(member, "ADDITEMS (which hashes what it adds to a set)")
        if kind in ("SETITEM", "APPEND", "ADDITEMS"):
            self._opaque_used(target, f"{opcode} (which calls a method of the object it changes)")
        if kind == "SETITEM" and type(target) is dict:
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]  # TypeError for an unhashable key: malformed, as in C
            return
        if (kind == "APPEND" and type(target) is list) or (kind == "ADDITEMS" and type(target) is InertSet):
            target.extend(items)
            return
        if kind == "BUILD" and _no_state(items[0]) and not isinstance(target, (Global, Call, PersId)):
            # Neither unpickler changes anything (no state, or empty dicts); torch's refuses all the same.
            self.malformed.append(f"BUILD at offset {self.position} on {_kind(target)}, {_REFUSED}")
            return
        if isinstance(target, Global):
            if target.changed is None:
                target.changed = (self.position, opcode)
            return
        if isinstance(target, Call) and isinstance(target.func, Global):
            func = target.func
            allowed = not self.allowlist.allows(func) or kind in self.mutable.get(func.qualname, ())
            if allowed:
                if kind == "SETITEM":
                    for i in range(0, len(items), 2):
                        target.items[items[i]] = items[i + 1]
                elif kind == "BUILD":
                    target.state = items[0]
                else:
                    target.appended.extend(items)
                return
            protected = func.qualname in self.allowlist.protected
        else:
            protected = isinstance(target, PersId)
        if protected and (kind != "BUILD" or not _no_state(items[0])):
            what = "a storage (persistent id)" if isinstance(target, PersId) else _kind(target)
            self.findings.append(
                f"{opcode} at offset {self.position} changes {what} after it is built (the CVE-2026-24747 class: "
                "memory corruption in torch before 2.10)"
            )
            return
        if kind == "BUILD" and _no_state(items[0]):
            self.malformed.append(f"BUILD at offset {self.position} on {_kind(target)}, {_REFUSED}")
            return
        if isinstance(target, _IMMUTABLE) or _lacks(target, kind):
            # Both unpicklers fail here (no __setitem__, append, add or __dict__): nothing after it runs.
            raise MalformedPickleError(f"{opcode} on {_kind(target)}, which it cannot change", self.position)
        self.malformed.append(f"{opcode} at offset {self.position} changes {_kind(target)}, {_REFUSED}")


def _through_attributes(g: Global) -> bool:
    """Whether ``g`` names its object through attributes (``torch`` + ``builtins.map``, or ``getattr`` of a
    module's attribute), which can reach any object: a module another imports is its attribute."""
    module, name = g.resolved
    return "." in name or not name.isidentifier() or not all(part.isidentifier() for part in module.split("."))


def _opaque(value: Any) -> bool:
    """An instance of a class the file chose (``NEWOBJ``), other than plain data."""
    return (
        isinstance(value, Call)
        and value.opcode in _NEWOBJ
        and isinstance(value.func, Global)
        and value.func.key not in PLAIN_DATA
    )


#: Names in a state that ``torch.nn.Module.__setstate__`` (through ``Module.__setattr__`` and ``__getattr__``,
#: ``name in self._parameters``) and ``RNNBase.__setstate__`` (``self._all_weights[0][0]``, iterating
#: ``_flat_weights``) use, and ``PretrainedConfig.__getattribute__`` (``key in attribute_map``): an instance of a
#: class the file chose there runs its ``__contains__``, ``__getitem__`` or ``__iter__`` (the attacker review put a
#: torch datapipe in ``_parameters``).
_TOUCHED_STATE = frozenset(
    {"_parameters", "_buffers", "_modules", "_all_weights", "_flat_weights", "_flat_weights_names", "attribute_map"}
)


class _Findings(list["str"]):  # quoted: typing is not imported at run time (paramcount._typing)
    """Findings, the first 1,000 kept: a pickle can repeat one a million times (one per BUILD), and the error
    line shows the first few."""

    def append(self, line: str) -> None:
        if len(self) < 1000:
            super().append(line)


def _made(value: Call | PersId) -> str:
    """What an object loading made is, for a message."""
    if isinstance(value, PersId):
        return "a persistent id's object, which only the loader knows"
    func = value.func
    what = func.shown if isinstance(func, Global) else "an object made while loading"
    return f"the result of {value.opcode} of {what} at offset {value.offset}"


#: Classes of the standard library a checkpoint may instantiate (``NEWOBJ``): plain data, whose objects run no code
#: the file chose (argparse's ``Namespace`` holds a training script's arguments in many checkpoints). Any other
#: class of the standard library instantiated is unsafe: ``type`` makes a class whose special methods the file
#: writes, ``operator.methodcaller`` and ``code.InteractiveInterpreter`` are calls in waiting.
PLAIN_DATA = frozenset({"argparse.Namespace", "types.SimpleNamespace"})

_OF_INSTANCE = "getattr of an instance"
_OF_CLASS = "getattr of a third-party class"


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    """The items a dict-like value holds as the evaluator sees them: a dict's, or a call result's (``SETITEM``
    pairs, and the pairs or mapping passed to it, as ``OrderedDict([(k, v)])`` takes them)."""
    if type(value) is dict:
        return list(value.items())
    if not isinstance(value, Call):
        return []
    found = list(value._items.items()) if value._items else []
    args = value.args if isinstance(value.args, tuple) else ()
    if args:
        first = args[0]
        if type(first) is dict:
            found.extend(first.items())
        elif isinstance(first, (list, tuple)):
            found.extend(tuple(p) for p in first if isinstance(p, (list, tuple)) and len(p) == 2)
    return found


#: What a pair of a state given to an instance costs against ``pickle_values``: recording it is several times the
#: work of walking a value (a 2 MB pickle can give a million pairs to a million instances).
_PAIR_COST = 4


def _pair_count(value: Any) -> int:
    """How many pairs :func:`_pairs` walks for ``value``, counted without walking them."""
    if type(value) is dict:
        return len(value)
    if not isinstance(value, Call):
        return 0
    count = len(value._items) if value._items else 0
    args = value.args if isinstance(value.args, tuple) else ()
    if args and isinstance(args[0], (dict, list, tuple)):
        count += len(args[0])
    return count


def _found(target: Call, name: str) -> list[Any]:
    """What an attribute lookup of ``name`` on the instance ``target`` finds among what its ``BUILD`` states gave
    it: the attribute itself, and (``torch.nn.Module``'s ``__getattr__``) a parameter, buffer or submodule."""
    attributes = target._attributes
    if not attributes:
        return []
    found = [attributes[name]] if name in attributes else []
    for where in _MODULE_DICTS:
        inner = attributes.get(where)
        inner = inner.items if isinstance(inner, Call) and inner._items else inner
        if isinstance(inner, dict) and name in inner:
            found.append(inner[name])
    return found


def _plain(attribute: str) -> bool:
    """An attribute name ``pickle`` writes for a method: an identifier, not a special name."""
    return attribute.isidentifier() and not attribute.startswith("__")


def _third_party(module: str) -> bool:
    """Whether ``module`` belongs to neither torch nor the standard library."""
    top = module.partition(".")[0]
    return top != "torch" and top not in _stdlib()


# What each unpickler looks up on an instance to change it: C's APPEND and APPENDS call extend, else append;
# Python's APPEND calls append, its APPENDS extend, else append.
_LOOKED_UP = {
    "BUILD": ("__setstate__",),
    "APPEND": ("extend", "append"),
    "APPENDS": ("extend", "append"),
    "ADDITEMS": ("add",),
}
_MODULE_DICTS = ("_parameters", "_buffers", "_modules")  # where torch.nn.Module.__getattr__ looks


def _opcode_name(op: int) -> str:
    """The name of opcode byte ``op`` (``"BINBYTES8"``), for a message."""
    return _NAMES.get(op, f"opcode {bytes([op])!r}")


# Opcodes with arguments, by name (pickletools.opcodes; a test checks the table), for messages.
_NAMES = {
    0x49: "INT",
    0x4A: "BININT",
    0x4B: "BININT1",
    0x4D: "BININT2",
    0x4C: "LONG",
    0x8A: "LONG1",
    0x8B: "LONG4",
    0x53: "STRING",
    0x54: "BINSTRING",
    0x55: "SHORT_BINSTRING",
    0x42: "BINBYTES",
    0x43: "SHORT_BINBYTES",
    0x8E: "BINBYTES8",
    0x96: "BYTEARRAY8",
    0x56: "UNICODE",
    0x58: "BINUNICODE",
    0x8C: "SHORT_BINUNICODE",
    0x8D: "BINUNICODE8",
    0x46: "FLOAT",
    0x47: "BINFLOAT",
    0x50: "PERSID",
    0x67: "GET",
    0x68: "BINGET",
    0x6A: "LONG_BINGET",
    0x70: "PUT",
    0x71: "BINPUT",
    0x72: "LONG_BINPUT",
    0x82: "EXT1",
    0x83: "EXT2",
    0x84: "EXT4",
    0x63: "GLOBAL",
    0x69: "INST",
    0x80: "PROTO",
    0x95: "FRAME",
}


def _no_state(state: Any) -> bool:
    """Whether ``BUILD`` with ``state`` changes nothing in one of the unpicklers (pure Python skips falsy states
    and a pair of falsy states; C skips ``None`` and ``(None, None or {})``)."""
    if type(state) is tuple and len(state) == 2:
        return not _truthy(state[0]) and not _truthy(state[1])
    return not _truthy(state)


def _truthy(value: Any) -> bool:
    if isinstance(value, (Global, Call, PersId, Opaque)):
        return True  # an object of unknown truth: assume it changes something
    return bool(value)


def _lacks(target: Any, kind: str) -> bool:
    """Whether ``target`` (a plain value) has no way to take ``kind`` in either unpickler."""
    if isinstance(target, bytearray):
        return kind in ("ADDITEMS", "BUILD")  # it has __setitem__, append and extend
    if isinstance(target, InertSet):
        return kind != "ADDITEMS"  # a set has add, nothing else
    if isinstance(target, list):
        return kind in ("ADDITEMS", "BUILD")
    if isinstance(target, dict):
        return kind != "SETITEM"
    return False


def _int_line(text: bytes, at: int) -> int | bool | Opaque:
    """The value of an ``INT`` line as C reads it (strtol base 0 up to a newline or NUL, else PyLong_FromString):
    a superset of what the pure-Python unpickler accepts."""
    c = text.split(b"\0", 1)[0]
    if not c:  # strtol finds no digits and stops at the NUL that starts the line: C reads 0
        return False if len(text) == 3 else 0
    m = _syntax()[0].match(c)
    if m is not None and (m.end() == len(c) or c[m.end()] == 0x0A):
        sign, hexa, octal, decimal = m.groups()
        digits = hexa or octal or decimal
        if len(digits) <= 20:
            value = int(digits, 16 if hexa else 8 if octal else 10) * (-1 if sign == b"-" else 1)
            if -(2**63) <= value < 2**63:  # strtol's range (a C long): beyond, errno is ERANGE
                return bool(value) if len(text) == 3 and value in (0, 1) else value
    return _pylong(c, at, "INT")


def _long_line(text: bytes, at: int) -> int | Opaque:
    """A ``LONG`` line: an ``L`` before the newline is dropped, then Python's literal syntax up to a NUL."""
    if len(text) >= 2 and text[-2:-1] == b"L":
        text = text[:-2] + b"\0"
    return _pylong(text.split(b"\0", 1)[0], at, "LONG")


def _pylong(c: bytes, at: int, opcode: str) -> int | Opaque:
    m = _syntax()[1].match(c)
    if m is None:
        raise MalformedPickleError(f"{opcode} argument {quote(c, 40)} is not an integer", at)
    sign = m.group(1)
    for base, found in zip(_BASES, m.groups()[1:], strict=True):
        if found is not None:
            digits = found.replace(b"_", b"")
            if len(digits) > _MAX_DIGITS and base == 10:
                return Opaque(len(digits))  # refused by default (the caller records it), converted without the limit
            value = int(digits, base)
            return -value if sign == b"-" else value
    raise AssertionError("unreachable")  # pragma: no cover


def _index_line(text: bytes, at: int) -> int:
    """A ``PUT``/``GET`` index: base-10 Python syntax up to a NUL (C) or the newline (pure Python)."""
    m = _syntax()[2].match(text.split(b"\0", 1)[0])
    if m is None:
        raise MalformedPickleError(f"memo index {quote(text, 40)} is not an integer", at)
    digits = m.group(2).replace(b"_", b"")
    if len(digits) > _MAX_DIGITS:
        raise MalformedPickleError(f"memo index has {len(digits)} digits", at)
    value = int(digits)
    return -value if m.group(1) == b"-" else value


def _float_line(text: bytes, at: int) -> float:
    """A ``FLOAT`` line as either unpickler reads it: C takes a prefix up to a newline or NUL, without space or
    underscores; pure Python takes the whole line with surrounding space and underscores."""
    c = text.split(b"\0", 1)[0]
    m = _syntax()[3].match(c)
    if m is not None and (m.end() == len(c) or c[m.end()] == 0x0A):
        literal = m.group()
        value = float(literal)
        if value not in (float("inf"), float("-inf")) or b"n" in literal.lower():
            return value  # (C raises OverflowError past the largest float; pure Python, below, takes inf)
    if b"\0" not in text[:-1] and _syntax()[4].match(text[:-1]) is not None:
        return float(text[:-1].replace(b"_", b""))
    raise MalformedPickleError(f"FLOAT argument {quote(text[:-1], 40)} is not a number", at)


def _tree_size(value: tuple[Any, ...], cap: int) -> int:
    """How many values hashing or comparing ``value`` visits (shared sub-tuples counted every time), up to
    ``cap + 1``; computed over the shared structure once, iteratively."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, ...]] = [value]
    while stack:
        node = stack[-1]
        if id(node) in sizes:
            stack.pop()
            continue
        pending = [child for child in node if type(child) is tuple and id(child) not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[id(node)] = min(cap + 1, 1 + sum(sizes.get(id(child), 1) for child in node))
    return sizes[id(value)]


def _kind(value: Any) -> str:
    """What a value is, with its article: ``"a list"``, ``"an int"``, ``"a value built by torch.Size"``."""
    if isinstance(value, Call):
        return f"a value built by {value.func.shown}" if isinstance(value.func, Global) else "a value built by a call"
    if isinstance(value, Global):
        return f"a global ({value.shown})"
    kinds: dict[type, str] = {InertSet: "set", dict: "dict", list: "list"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
