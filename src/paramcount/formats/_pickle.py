"""The inert pickle evaluator: a pickle's structure without importing, calling or executing anything.

The opcodes are decoded by the standard library's :func:`pickletools.genops` and the pickle machine is simulated
with inert values (reference/formats.md 3): ``GLOBAL``/``STACK_GLOBAL`` push a :class:`Global` that names a
callable without resolving it; ``REDUCE``, ``NEWOBJ``, ``INST`` and ``OBJ`` push a :class:`Call` that records what
would have been called; ``BUILD``, ``SETITEM(S)``, ``APPEND(S)`` and ``ADDITEMS`` record their operands on the
value they change; persistent ids become :class:`PersId`. Nothing is ever looked up in ``sys.modules``, imported
or called.

**Globals** are judged against an allowlist the caller passes (:class:`Allowlist`): a global outside it that is
called, or merely present, makes the pickle **unsafe**; one used only as the class of an instance (``NEWOBJ``, as a
whole-module ``torch.save(model)`` does), and a function of the ``torch`` package that is only referenced (never
called: a module's ``activation = torch.nn.functional.gelu``), make it **untrusted**. A parse error after an unsafe
global is still unsafe: ``pickle.load`` would already have run it.

**The evaluator reads what CPython's unpickler reads.** Where ``pickletools`` and the C unpickler could disagree
on which opcodes a file holds, the file is refused as unsafe, because such a file is built to show a scanner one
program and the unpickler another:

* an opcode whose argument runs past the end of the ``FRAME`` it starts in (the C unpickler, reading from a
  file object, takes the argument from after the frame and skips the frame's tail, where ``pickletools`` reads
  on: hidden opcodes), a ``FRAME`` opened inside another, and a ``STOP`` that leaves bytes of its frame unread
  (the next pickle of a stream would start elsewhere for the two);
* ``EXT1``/``EXT2``/``EXT4``, which name a global through ``copyreg``'s extension registry.

Where the C unpickler stops, so does the evaluator: a stack or memo underflow, a negative ``PUT`` index, a
``PROTO`` above 5, ``NEXT_BUFFER`` without buffers. Nothing after such an error would run.

**Mutations follow torch's weights-only unpickler** (``torch/_weights_only_unpickler.py``): ``SETITEM(S)`` only on
dicts and ``OrderedDict``, ``APPEND(S)`` only on lists, ``ADDITEMS`` only on sets, ``BUILD`` only on instances of
classes that take state. Instances of classes outside the allowlist (a module pickle's) may be changed like in
the C unpickler. Anything else is recorded and evaluation goes on, so that a payload after it is still seen: a
change to a rebuilt tensor or storage is **unsafe** (the CVE-2026-24747 class, memory corruption in torch before
2.10), any other is **malformed**.

Limits are explicit and fail closed (:class:`paramcount.limits.Limits`: ``pickle_opcodes``, ``pickle_memo``,
``pickle_stack``, ``nesting``; callers enforce ``pickle_bytes`` before reading the bytes).

>>> import pickle
>>> result = evaluate(pickle.dumps({"a": [1, 2.5, "x"]}, protocol=2), Allowlist(frozenset()))
>>> result.root, result.unsafe, result.end
({'a': [1, 2.5, 'x']}, (), 39)
>>> evaluate(b"cos\\nsystem\\n(S'echo hi'\\ntR.", Allowlist(frozenset())).unsafe
('os.system at offset 0, called by REDUCE at offset 24',)
"""

from __future__ import annotations

import io
import pickletools
import warnings

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import FormatError, UnsafeTargetError, quote
from paramcount.limits import DEFAULT, Limits, exceeded

if TYPE_CHECKING:
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
    "judge",
    "read_stream",
    "unsafe_error",
]


class Global:
    """A reference to ``module.name``, never resolved. ``offset`` is where the opcode that named it starts."""

    __slots__ = ("called", "instantiated", "module", "name", "offset")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        #: offset and opcode of the first REDUCE/INST/OBJ that called it, if any
        self.called: tuple[int, str] | None = None
        #: whether NEWOBJ used it as the class of a new instance
        self.instantiated = False

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
    """

    __slots__ = ("appended", "args", "func", "items", "offset", "opcode", "state")

    def __init__(self, func: Any, args: Any, opcode: str, offset: int) -> None:
        self.func = func
        self.args = args
        self.opcode = opcode
        self.offset = offset
        self.state: Any = None
        self.items: dict[Any, Any] = {}
        self.appended: list[Any] = []

    def calls(self, qualname: str) -> bool:
        """Whether this is a call of the global ``qualname``."""
        return isinstance(self.func, Global) and self.func.qualname == qualname

    def calls_any(self, qualnames: set[str] | frozenset[str]) -> bool:
        """Whether this is a call of one of the globals ``qualnames``."""
        return isinstance(self.func, Global) and self.func.qualname in qualnames

    def __repr__(self) -> str:
        return f"Call({self.func!r}, {self.args!r})"


class PersId:
    """A persistent id (``BINPERSID``/``PERSID``): how torch pickles reference storages kept outside the pickle."""

    __slots__ = ("offset", "pid")

    def __init__(self, pid: Any, offset: int) -> None:
        self.pid = pid
        self.offset = offset

    def __repr__(self) -> str:
        return f"PersId({self.pid!r})"


class InertSet(list["Any"]):  # quoted: typing is not imported at run time (paramcount._typing)
    """A ``set`` built by ``EMPTY_SET``/``ADDITEMS``, kept as a list (its items need not be hashable here)."""


class Allowlist(NamedTuple):
    """Globals a pickle may use, and what may be done to the values they return.

    Attributes:
        names: ``module.name`` strings that are safe to call or hold.
        prefixes: ``(module, name prefix)`` pairs safe as well.
        class_arguments: ``(callable, position)`` pairs: allowlisted callables whose argument at ``position`` is a
            class they instantiate (torch's ``_rebuild_from_type_v2`` takes a tensor subclass), so a global there
            is judged as an instance class, like the class of ``NEWOBJ``.
        mutable: ``(callable, opcodes)`` pairs: allowlisted callables whose results the opcodes named (a
            space-separated string of ``SETITEM``, ``APPEND``, ``ADDITEMS``, ``BUILD``) may change, as torch's
            weights-only unpickler lets ``BUILD`` and ``SETITEM`` change an ``OrderedDict``.
        protected: allowlisted callables whose results are tensors or storages: changing one after it is built is
            unsafe (persistent ids, torch's storages, are always protected).
    """

    names: frozenset[str]
    prefixes: tuple[tuple[str, str], ...] = ()
    class_arguments: tuple[tuple[str, int], ...] = ()
    mutable: tuple[tuple[str, str], ...] = ()
    protected: frozenset[str] = frozenset()

    def allows(self, g: Global) -> bool:
        if g.qualname in self.names:
            return True
        return any(g.module == m and g.name.startswith(p) for m, p in self.prefixes)

    def union(self, other: Allowlist) -> Allowlist:
        """Both allowlists at once."""
        return Allowlist(
            self.names | other.names,
            self.prefixes + other.prefixes,
            self.class_arguments + other.class_arguments,
            self.mutable + other.mutable,
            self.protected | other.protected,
        )


class Result(NamedTuple):
    """A pickle evaluated inertly.

    Attributes:
        root: the value ``pickle.load`` would have returned, as inert values.
        end: offset just past the ``STOP`` opcode.
        protocol: the protocol the first ``PROTO`` opcode declared (0 when absent).
        unsafe: one line per global outside the allowlist that is called or held, and per unsafe change to a
            tensor or storage (empty when safe).
        classes: ``module.name`` of globals outside the allowlist used only as instance classes, and of torch
            functions only referenced (a module pickle): loading would import them. Names that are not plain
            dotted identifiers are quoted and cut.
        class_findings: the same globals as lines with their offsets, for a caller that judges them unsafe.
        malformed: one line per change the pickle makes that torch's weights-only unpickler refuses.
        globals: every global, in order of appearance.
    """

    root: Any
    end: int
    protocol: int
    unsafe: tuple[str, ...]
    classes: tuple[str, ...]
    class_findings: tuple[str, ...]
    malformed: tuple[str, ...]
    globals: tuple[Global, ...]


class MalformedPickleError(ValueError):
    """The bytes are not a well-formed pickle, or exceed a limit.

    Attributes:
        offset: where the problem was found.
        unsafe: findings from before the problem: when not empty, the pickle is unsafe, not merely malformed.
    """

    def __init__(
        self, problem: str, offset: int, unsafe: tuple[str, ...] = (), *, limit: tuple[str, int] | None = None
    ) -> None:
        self.problem = problem
        self.offset = offset
        self.unsafe = unsafe
        #: ``(field, value)`` of the limit exceeded, when that is the problem
        self.limit = limit
        super().__init__(f"{problem} (at byte {offset})")


class TruncatedPickleError(MalformedPickleError):
    """The bytes ended before the pickle did: a caller holding only a prefix may retry with more."""


class _EvasionError(MalformedPickleError):
    """The bytes read differently to ``pickletools`` and to the C unpickler: unsafe whatever they hold."""


class _Stream(io.BytesIO):
    """A BytesIO that remembers whether a read came back short, which tells truncation from other damage."""

    short = False

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if size is not None and size >= 0 and len(data) < size:
            self.short = True
        return data

    def readline(self, size: int | None = -1, /) -> bytes:
        data = super().readline(size)
        if not data.endswith(b"\n"):
            self.short = True
        return data


_HIGHEST_PROTOCOL = 5
_FIRST_WINDOW = 1 << 16  # bytes read first for a pickle in a stream; grown fourfold while it is truncated
# Bytes that fail to evaluate before this offset, with nothing unsafe in them, are not a pickle at all.
_NOT_A_PICKLE = 16
_SHOWN_FINDINGS = 1000  # characters of findings an unsafe error shows
_MAX_KEY_VALUES = 100_000  # values a tuple used as a dict key may hold, nested ones included
# Opcodes that only push their decoded argument.
_PUSH_ARGUMENT = frozenset(
    (
        "BININT",
        "BININT1",
        "BININT2",
        "INT",
        "LONG",
        "LONG1",
        "LONG4",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "FLOAT",
        "BINFLOAT",
    )
)
# Values no mutating opcode can change in the C unpickler either: it fails there, and nothing after runs.
_IMMUTABLE = (tuple, str, bytes, int, float, complex, bool, type(None))


def evaluate(data: bytes, allowlist: Allowlist, limits: Limits | None = None) -> Result:
    """Evaluate one pickle at the start of ``data`` inertly.

    Args:
        data: the pickle, possibly followed by other bytes (a legacy torch stream holds several pickles in a row).
        allowlist: the globals that are safe.
        limits: bounds; ``len(data)`` itself must be within ``limits.pickle_bytes``, which callers enforce before
            reading the bytes.

    Raises:
        TruncatedPickleError: ``data`` ended before ``STOP``.
        MalformedPickleError: the pickle is malformed or exceeds a limit; ``unsafe`` lists unsafe findings before.
    """
    machine = _Machine(allowlist, limits or DEFAULT, len(data))
    stream = _Stream(data)
    try:
        with warnings.catch_warnings():
            # pickletools decodes protocol-0 strings with codecs.escape_decode, which warns about invalid escapes
            # ("\o"); a hostile pickle's text is not the user's problem, and its bytes are read all the same.
            warnings.simplefilter("ignore")
            machine.run(stream)
    except _EvasionError as e:
        raise MalformedPickleError(e.problem, e.offset, (*machine.unsafe(), e.problem)) from None
    except MalformedPickleError as e:
        raise type(e)(e.problem, e.offset, machine.unsafe(), limit=e.limit) from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError, MemoryError) as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        # pickletools' messages quote the bytes they failed on ("could not convert string to float: b'...'")
        problem = text if len(text) <= 160 else text[:160] + "\u2026"
        if stream.short:
            raise TruncatedPickleError(
                f"ends before its STOP opcode ({problem})", machine.position, machine.unsafe()
            ) from None
        raise MalformedPickleError(f"malformed pickle ({problem})", machine.position, machine.unsafe()) from None
    classes, class_findings = machine.classes()
    return Result(
        machine.root,
        machine.end,
        machine.protocol,
        machine.unsafe(),
        classes,
        class_findings,
        tuple(machine.malformed),
        tuple(machine.globals),
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
        evaluate(head, Allowlist(frozenset()))
    except TruncatedPickleError as e:
        return bool(e.unsafe) or e.offset >= _NOT_A_PICKLE or not complete
    except MalformedPickleError as e:
        return bool(e.unsafe) or e.offset >= _NOT_A_PICKLE
    return True


def error(e: MalformedPickleError, *, target: str, where: str) -> ParamcountError:
    """The paramcount error for a pickle that failed to evaluate: unsafe when findings came first, else malformed
    (or over a limit)."""
    if e.unsafe:
        return unsafe_error(target, where, e.unsafe, e.problem)
    if e.limit is not None:
        return exceeded(e.limit[0], f"{where} {e.problem} (at byte {e.offset})", e.limit[1], target=target)
    return FormatError(f"{where}: {e}", target=target, rule="pickle")


def judge(result: Result, *, target: str, where: str, classes_are_unsafe: bool = False) -> Result:
    """Raise for an evaluated pickle that would run code or that torch would refuse; else return it.

    Args:
        target: the file, for messages.
        where: the pickle within it (``"data.pkl"``), for messages.
        classes_are_unsafe: instance classes and referenced torch functions make the pickle unsafe too (a pickle
            that is not the object of a checkpoint has no reason to hold any).

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
            f"{where}: {result.malformed[0]}{more}; torch's weights-only unpickler refuses it",
            target=target,
            rule="pickle-refused",
        )
    return result


def check(
    data: bytes, *, target: str, where: str, limits: Limits, allowlist: Allowlist, classes_are_unsafe: bool = False
) -> Result:
    """:func:`evaluate` and :func:`judge` one pickle held in memory, with paramcount's errors.

    Raises:
        UnsafeTargetError: loading the pickle would run code.
        FormatError: the pickle is malformed, or exceeds a limit.
    """
    try:
        result = evaluate(data, allowlist, limits)
    except MalformedPickleError as e:
        raise error(e, target=target, where=where) from e
    return judge(result, target=target, where=where, classes_are_unsafe=classes_are_unsafe)


def read_stream(blob: Blob, offset: int, allowlist: Allowlist, limits: Limits) -> Result:
    """Evaluate the pickle at ``offset`` of ``blob``, reading growing windows so that little more than it is read.

    Raises:
        MalformedPickleError: as :func:`evaluate`; also when the pickle runs past ``limits.pickle_bytes``.
    """
    window = _FIRST_WINDOW
    while True:
        length = min(window, blob.size - offset, limits.pickle_bytes)
        try:
            return evaluate(blob.read(offset, length), allowlist, limits)
        except TruncatedPickleError as e:
            if length == blob.size - offset:
                raise
            if length == limits.pickle_bytes:
                raise MalformedPickleError(
                    f"runs past its first {length} bytes", e.offset, e.unsafe, limit=("pickle_bytes", length)
                ) from None
            window *= 4


def check_stream(
    blob: Blob,
    offset: int,
    *,
    target: str,
    where: str,
    limits: Limits,
    allowlist: Allowlist,
    classes_are_unsafe: bool = True,
) -> Result:
    """:func:`read_stream` and :func:`judge`, with paramcount's errors (instance classes unsafe by default).

    Raises:
        UnsafeTargetError: loading the pickle would run code.
        FormatError: the pickle is malformed, or exceeds a limit.
    """
    try:
        result = read_stream(blob, offset, allowlist, limits)
    except MalformedPickleError as e:
        raise error(e, target=target, where=where) from e
    return judge(result, target=target, where=where, classes_are_unsafe=classes_are_unsafe)


class _Machine:
    def __init__(self, allowlist: Allowlist, limits: Limits, size: int) -> None:
        self.allowlist = allowlist
        self.limits = limits
        self.size = size
        self.class_arguments = dict(allowlist.class_arguments)
        self.mutable = {name: frozenset(opcodes.split()) for name, opcodes in allowlist.mutable}
        self.globals: list[Global] = []
        self.findings: list[str] = []  # unsafe changes to tensors and storages
        self.malformed: list[str] = []
        self.root: Any = None
        self.end = 0
        self.protocol = 0
        self.position = 0
        self.key_values = 0  # values inside tuple dict keys so far (what hashing them visits)

    def unsafe(self) -> tuple[str, ...]:
        """Unsafe globals (called or held) and unsafe changes so far, in order of appearance."""
        lines = []
        for g in self.globals:
            if self.allowlist.allows(g):
                continue
            if g.called is not None:
                offset, opcode = g.called
                lines.append(f"{g.shown} at offset {g.offset}, called by {opcode} at offset {offset}")
            elif not (g.instantiated or _is_torch(g)):  # those two are untrusted classes (see classes())
                lines.append(f"{g.shown} at offset {g.offset}, referenced")
        return (*lines, *self.findings)

    def classes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Instance classes and referenced torch functions outside the allowlist: names, and lines with offsets."""
        names: dict[str, None] = {}
        lines = []
        for g in self.globals:
            if self.allowlist.allows(g) or g.called is not None:
                continue
            if (g.instantiated or _is_torch(g)) and g.shown not in names:
                names[g.shown] = None
                how = "instantiated" if g.instantiated else "referenced"
                lines.append(f"{g.shown} at offset {g.offset}, {how}")
        return tuple(names), tuple(lines)

    def run(self, stream: _Stream) -> None:
        limits = self.limits
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        depth = 0  # values held in frames saved by MARK
        frame_end: int | None = None  # where the current FRAME's bytes end
        previous = 0  # where the previous opcode started

        def pop_mark() -> list[Any]:
            nonlocal stack, depth
            if not marks:
                raise MalformedPickleError("an opcode needs a MARK but none is open", self.position)
            items = stack
            stack = marks.pop()
            depth -= len(stack)
            return items

        def pop() -> Any:
            if not stack:
                raise MalformedPickleError("pops an empty stack", self.position)
            return stack.pop()

        def top() -> Any:
            if not stack:
                raise MalformedPickleError("reads an empty stack", self.position)
            return stack[-1]

        def put(index: int) -> None:
            if index < 0:
                raise MalformedPickleError(f"stores memo entry {index}, a negative index", self.position)
            if len(memo) >= limits.pickle_memo and index not in memo:
                raise MalformedPickleError(
                    "its memo has too many entries", self.position, limit=("pickle_memo", limits.pickle_memo)
                )
            memo[index] = top()

        def get(index: int) -> None:
            if index not in memo:
                raise MalformedPickleError(f"reads memo entry {index}, which was never stored", self.position)
            stack.append(memo[index])

        def call(func: Any, args: Any, opcode: str) -> Call:
            if isinstance(func, Global):
                if opcode in ("NEWOBJ", "NEWOBJ_EX"):
                    func.instantiated = True
                elif func.called is None:
                    func.called = (self.position, opcode)
                position = self.class_arguments.get(func.qualname)
                if position is not None and isinstance(args, tuple) and len(args) > position:
                    cls = args[position]
                    if isinstance(cls, Global):
                        cls.instantiated = True
            return Call(func, args, opcode, self.position)

        def new_global(module: Any, name: Any) -> Global:
            if not isinstance(module, str) or not isinstance(name, str):
                raise MalformedPickleError("STACK_GLOBAL operands are not two strings", self.position)
            g = Global(module, name, self.position)
            self.globals.append(g)
            return g

        for count, (opcode, arg, at) in enumerate(pickletools.genops(stream), 1):
            pos = self.position = at if at is not None else self.position
            if frame_end is not None and previous < frame_end < pos:
                raise _EvasionError(
                    f"the opcode at offset {previous} runs past the end of its frame ({frame_end}): pickletools and "
                    "the C unpickler would read different opcodes after it",
                    previous,
                )
            previous = pos
            if count > limits.pickle_opcodes:
                raise MalformedPickleError(
                    "runs too many opcodes", pos, limit=("pickle_opcodes", limits.pickle_opcodes)
                )
            if len(stack) + depth > limits.pickle_stack:
                raise MalformedPickleError(
                    "holds too many values on its stack", pos, limit=("pickle_stack", limits.pickle_stack)
                )
            name = opcode.name
            operand: Any = arg
            if name in _PUSH_ARGUMENT:
                stack.append(arg)
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                put(operand)
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                get(operand)
            elif name == "MEMOIZE":
                put(len(memo))
            elif name == "MARK":
                if len(marks) >= limits.nesting:
                    raise MalformedPickleError("nests MARKs too deep", pos, limit=("nesting", limits.nesting))
                marks.append(stack)
                depth += len(stack)
                stack = []
            elif name == "NONE":
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE1":
                stack.append((pop(),))
            elif name == "TUPLE2":
                b = pop()
                stack.append((pop(), b))
            elif name == "TUPLE3":
                c, b = pop(), pop()
                stack.append((pop(), b, c))
            elif name == "TUPLE":
                items = pop_mark()  # pop first: stack is rebound (formats.md 3, pitfall 1)
                stack.append(tuple(items))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                items = pop_mark()
                stack.append(items)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = pop_mark()
                if len(items) % 2:
                    raise MalformedPickleError("DICT has an odd number of items", pos)
                for key in items[::2]:
                    self._check_key(key)
                stack.append(dict(zip(items[::2], items[1::2], strict=True)))
            elif name == "EMPTY_SET":
                stack.append(InertSet())
            elif name == "FROZENSET":
                stack.append(tuple(pop_mark()))
            elif name == "ADDITEMS":
                items = pop_mark()
                self._change(top(), "ADDITEMS", items)
            elif name == "APPEND":
                value = pop()
                self._change(top(), "APPEND", [value])
            elif name == "APPENDS":
                items = pop_mark()
                self._change(top(), "APPENDS", items)
            elif name == "SETITEM":
                value, key = pop(), pop()
                self._change(top(), "SETITEM", [key, value])
            elif name == "SETITEMS":
                items = pop_mark()
                if len(items) % 2:
                    raise MalformedPickleError("SETITEMS has an odd number of items", pos)
                self._change(top(), "SETITEMS", items)
            elif name == "BUILD":
                state = pop()
                self._change(top(), "BUILD", [state])
            elif name in ("GLOBAL", "INST"):
                module, _, attribute = str(arg).partition(" ")
                g = new_global(module, attribute)
                if name == "GLOBAL":
                    stack.append(g)
                else:
                    items = pop_mark()  # pop first: stack is rebound (formats.md 3, pitfall 1; the fuzzer found it)
                    stack.append(call(g, tuple(items), "INST"))
            elif name == "STACK_GLOBAL":
                attribute = pop()
                stack.append(new_global(pop(), attribute))
            elif name == "REDUCE":
                args = pop()
                stack.append(call(pop(), args, "REDUCE"))
            elif name == "NEWOBJ":
                args = pop()
                stack.append(call(pop(), args, "NEWOBJ"))
            elif name == "NEWOBJ_EX":
                kwargs, args = pop(), pop()
                stack.append(call(pop(), (args, kwargs), "NEWOBJ_EX"))
            elif name == "OBJ":
                items = pop_mark()
                if not items:
                    raise MalformedPickleError("OBJ without a class", pos)
                stack.append(call(items[0], tuple(items[1:]), "OBJ"))
            elif name == "BINPERSID":
                stack.append(PersId(pop(), pos))
            elif name == "PERSID":
                stack.append(PersId(arg, pos))
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()  # POP of a MARK discards it, as pickle's own loader does
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(top())
            elif name == "PROTO":
                if operand > _HIGHEST_PROTOCOL:
                    raise MalformedPickleError(f"declares pickle protocol {operand}; the highest is 5", pos)
                self.protocol = self.protocol or operand
            elif name == "FRAME":
                if frame_end is not None and pos < frame_end:
                    raise _EvasionError(f"opens a frame at offset {pos} inside the frame ending at {frame_end}", pos)
                frame_end = pos + 9 + operand
                if frame_end > self.size:
                    # The C unpickler reads a whole frame before its first opcode: a frame past the end is truncation.
                    raise TruncatedPickleError(f"its frame at offset {pos} runs past the end of the data", pos)
            elif name == "STOP":
                if frame_end is not None and pos + 1 < frame_end:
                    raise _EvasionError(
                        f"stops at offset {pos} with {frame_end - pos - 1} bytes of its frame unread: the next pickle "
                        "would start elsewhere for the C unpickler",
                        pos,
                    )
                if marks or len(stack) != 1:
                    raise MalformedPickleError(f"STOP with {len(stack)} values and {len(marks)} MARKs open", pos)
                self.root = stack[0]
                self.end = pos + 1
                return
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise _EvasionError(
                    f"{name} at offset {pos} names a global through copyreg's extension registry, which paramcount "
                    "cannot see",
                    pos,
                )
            elif name == "READONLY_BUFFER":
                top()  # the C unpickler wraps any buffer-like value and goes on
                self.malformed.append(f"READONLY_BUFFER at offset {pos}, an out-of-band buffer opcode")
            elif name == "NEXT_BUFFER":
                raise MalformedPickleError("NEXT_BUFFER needs out-of-band buffers, which a file cannot supply", pos)
            else:  # a new opcode in a future Python: fail closed
                raise MalformedPickleError(f"uses the unknown opcode {name}", pos)
        raise MalformedPickleError("ends without a STOP opcode", self.position)  # pragma: no cover (genops raises)

    def _check_key(self, key: Any) -> None:
        """Refuse a dict key whose hash would never finish: a tuple nested over itself (2^80 paths in 500 bytes).

        Hashing a tuple visits every path through it; the C unpickler would hang on such a key too. Every tuple key
        is measured before it is hashed, and all of them together share the ``pickle_values`` budget.
        """
        if type(key) is not tuple or not key:
            return
        size = _tree_size(key, _MAX_KEY_VALUES)
        if size > _MAX_KEY_VALUES:
            raise MalformedPickleError(
                f"a dict key is a tuple of more than {_MAX_KEY_VALUES} nested values: hashing it would not end",
                self.position,
            )
        self.key_values += size
        if self.key_values > self.limits.pickle_values:
            raise MalformedPickleError(
                "its tuple dict keys hold too many nested values",
                self.position,
                limit=("pickle_values", self.limits.pickle_values),
            )

    def _change(self, target: Any, opcode: str, items: list[Any]) -> None:
        """Apply a mutating opcode to ``target`` where torch's weights-only unpickler would, else record a finding.

        Evaluation goes on either way (unless the C unpickler itself would fail on ``target``), so that a payload
        after the change is still seen.
        """
        kind = opcode.rstrip("S") if opcode != "ADDITEMS" else opcode  # SETITEMS -> SETITEM, APPENDS -> APPEND
        if kind == "SETITEM":
            for key in items[::2]:
                self._check_key(key)
        if kind == "SETITEM" and type(target) is dict:
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]  # TypeError for an unhashable key: malformed, as in C
            return
        if (kind == "APPEND" and type(target) is list) or (kind == "ADDITEMS" and type(target) is InertSet):
            target.extend(items)
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
        if protected and (kind != "BUILD" or items[0]):
            what = "a storage (persistent id)" if isinstance(target, PersId) else _kind(target)
            self.findings.append(
                f"{opcode} at offset {self.position} changes {what} after it is built (the CVE-2026-24747 class: "
                "memory corruption in torch before 2.10)"
            )
            return
        if kind == "BUILD" and not items[0]:
            # No state: the C unpickler changes nothing; torch's refuses all the same.
            self.malformed.append(f"BUILD at offset {self.position} on {_kind(target)}")
            return
        if isinstance(target, _IMMUTABLE) or (kind != "SETITEM" and isinstance(target, dict)):
            # The C unpickler fails here too (no __setitem__, append, add or __dict__): nothing after it runs.
            raise MalformedPickleError(f"{opcode} on {_kind(target)}, which it cannot change", self.position)
        self.malformed.append(f"{opcode} at offset {self.position} changes {_kind(target)}")


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


def _is_torch(g: Global) -> bool:
    """Whether a global lies in the torch package (loading a checkpoint imports torch anyway)."""
    return g.module == "torch" or g.module.startswith("torch.")


def _kind(value: Any) -> str:
    """What a value is, with its article: ``"a list"``, ``"an int"``, ``"a value built by torch.Size"``."""
    if isinstance(value, Call):
        return f"a value built by {value.func.shown}" if isinstance(value.func, Global) else "a value built by a call"
    if isinstance(value, Global):
        return f"a global ({value.shown})"
    kinds: dict[type, str] = {InertSet: "set", dict: "dict", list: "list"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
