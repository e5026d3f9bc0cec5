"""The inert pickle evaluator: a pickle's structure without importing, calling or executing anything.

The opcodes are decoded by the standard library's :func:`pickletools.genops` and the pickle machine is simulated
with inert values (reference/formats.md 3): ``GLOBAL``/``STACK_GLOBAL`` push a :class:`Global` that names a
callable without resolving it; ``REDUCE``, ``NEWOBJ``, ``INST`` and ``OBJ`` push a :class:`Call` that records what
would have been called; ``BUILD``, ``SETITEM(S)`` and ``APPEND(S)`` on a call record their operands on it;
persistent ids become :class:`PersId`. Nothing is ever looked up in ``sys.modules``, imported or called.

Every global is then judged against an allowlist the caller passes (:class:`Allowlist`): a global outside it that
is called, or merely present, makes the pickle **unsafe**; one used only as the class of an instance
(``NEWOBJ``, as a whole-module ``torch.save(model)`` does) makes it **untrusted**. A parse error after an unsafe
global is still unsafe: ``pickle.load`` would already have run it.

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
from typing import Any, NamedTuple

from paramcount.limits import DEFAULT, Limits

__all__ = [
    "Allowlist",
    "Call",
    "Global",
    "MalformedPickleError",
    "PersId",
    "Result",
    "TruncatedPickleError",
    "evaluate",
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
        appended: ``APPEND`` values applied to the result.
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


class InertSet(list[Any]):
    """A ``set`` built by ``EMPTY_SET``/``ADDITEMS``, kept as a list (its items need not be hashable here)."""


class Allowlist(NamedTuple):
    """Globals a pickle may use.

    Attributes:
        names: ``module.name`` strings that are safe to call or hold.
        prefixes: ``(module, name prefix)`` pairs safe as well.
        class_arguments: ``(callable, position)`` pairs: allowlisted callables whose argument at ``position`` is a
            class they instantiate (torch's ``_rebuild_from_type_v2`` takes a tensor subclass), so a global there
            is judged as an instance class, like the class of ``NEWOBJ``.
    """

    names: frozenset[str]
    prefixes: tuple[tuple[str, str], ...] = ()
    class_arguments: tuple[tuple[str, int], ...] = ()

    def allows(self, g: Global) -> bool:
        if g.qualname in self.names:
            return True
        return any(g.module == m and g.name.startswith(p) for m, p in self.prefixes)


class Result(NamedTuple):
    """A pickle evaluated inertly.

    Attributes:
        root: the value ``pickle.load`` would have returned, as inert values.
        end: offset just past the ``STOP`` opcode.
        protocol: the protocol the ``PROTO`` opcode declared (0 when absent).
        unsafe: one line per global outside the allowlist that is called or held (empty when safe).
        classes: ``module.name`` of globals outside the allowlist used only as instance classes (a module pickle).
        globals: every global, in order of appearance.
    """

    root: Any
    end: int
    protocol: int
    unsafe: tuple[str, ...]
    classes: tuple[str, ...]
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


_MARK = object()
#: opcodes that reference the copyreg extension registry or out-of-band buffers: refused
_REFUSED = {"EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}


def evaluate(data: bytes, allowlist: Allowlist, limits: Limits | None = None) -> Result:
    """Evaluate one pickle at the start of ``data`` inertly.

    Args:
        data: the pickle, possibly followed by other bytes (a legacy torch stream holds several pickles in a row).
        allowlist: the globals that are safe.
        limits: bounds; ``len(data)`` itself must be within ``limits.pickle_bytes``, which callers enforce before
            reading the bytes.

    Raises:
        TruncatedPickleError: ``data`` ended before ``STOP``.
        MalformedPickleError: the pickle is malformed or exceeds a limit; ``unsafe`` lists unsafe globals seen before.
    """
    machine = _Machine(limits or DEFAULT, dict(allowlist.class_arguments))
    stream = _Stream(data)
    try:
        with warnings.catch_warnings():
            # pickletools decodes protocol-0 strings with codecs.escape_decode, which warns about invalid escapes
            # ("\o"); a hostile pickle's text is not the user's problem, and its bytes are read all the same.
            warnings.simplefilter("ignore")
            machine.run(stream)
    except MalformedPickleError as e:
        raise type(e)(e.problem, e.offset, _judge(machine.globals, allowlist)[0], limit=e.limit) from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError, MemoryError) as e:
        unsafe = _judge(machine.globals, allowlist)[0]
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        if stream.short:
            raise TruncatedPickleError(f"ends before its STOP opcode ({problem})", machine.position, unsafe) from None
        raise MalformedPickleError(f"malformed pickle ({problem})", machine.position, unsafe) from None
    unsafe, classes = _judge(machine.globals, allowlist)
    return Result(machine.root, machine.end, machine.protocol, unsafe, classes, tuple(machine.globals))


def _judge(globals_: list[Global], allowlist: Allowlist) -> tuple[tuple[str, ...], tuple[str, ...]]:
    unsafe: list[str] = []
    classes: dict[str, None] = {}
    for g in globals_:
        if allowlist.allows(g):
            continue
        if g.called is not None:
            offset, opcode = g.called
            unsafe.append(f"{g.qualname} at offset {g.offset}, called by {opcode} at offset {offset}")
        elif g.instantiated:
            classes[g.qualname] = None
        else:
            unsafe.append(f"{g.qualname} at offset {g.offset}, referenced")
    return tuple(unsafe), tuple(classes)


class _Machine:
    def __init__(self, limits: Limits, class_arguments: dict[str, int]) -> None:
        self.limits = limits
        self.class_arguments = class_arguments
        self.globals: list[Global] = []
        self.root: Any = None
        self.end = 0
        self.protocol = 0
        self.position = 0

    def run(self, stream: _Stream) -> None:
        limits = self.limits
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        depth = 0  # values held in frames saved by MARK

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
            if count > limits.pickle_opcodes:
                raise MalformedPickleError(
                    "runs too many opcodes", self.position, limit=("pickle_opcodes", limits.pickle_opcodes)
                )
            if len(stack) + depth > limits.pickle_stack:
                raise MalformedPickleError(
                    "holds too many values on its stack", self.position, limit=("pickle_stack", limits.pickle_stack)
                )
            name = opcode.name
            operand: Any = arg
            if name in ("BINPUT", "LONG_BINPUT", "PUT"):
                put(operand)
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                get(operand)
            elif name == "MEMOIZE":
                put(len(memo))
            elif name == "MARK":
                if len(marks) >= limits.nesting:
                    raise MalformedPickleError("nests MARKs too deep", self.position, limit=("nesting", limits.nesting))
                marks.append(stack)
                depth += len(stack)
                stack = []
            elif name in (
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
            ):
                stack.append(arg)
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
                    raise MalformedPickleError("DICT has an odd number of items", self.position)
                stack.append(dict(zip(items[::2], items[1::2], strict=True)))
            elif name == "EMPTY_SET":
                stack.append(InertSet())
            elif name == "FROZENSET":
                stack.append(tuple(pop_mark()))
            elif name == "ADDITEMS":
                items = pop_mark()
                target = top()
                if not isinstance(target, InertSet):
                    raise MalformedPickleError("ADDITEMS on something that is not a set", self.position)
                target.extend(items)
            elif name == "APPEND":
                value = pop()
                self._append(top(), [value])
            elif name == "APPENDS":
                items = pop_mark()
                self._append(top(), items)
            elif name == "SETITEM":
                value, key = pop(), pop()
                self._setitems(top(), [key, value])
            elif name == "SETITEMS":
                items = pop_mark()
                if len(items) % 2:
                    raise MalformedPickleError("SETITEMS has an odd number of items", self.position)
                self._setitems(top(), items)
            elif name == "BUILD":
                state = pop()
                target = top()
                if not isinstance(target, Call):
                    raise MalformedPickleError("BUILD on a value that is not an object", self.position)
                target.state = state
            elif name in ("GLOBAL", "INST"):
                module, _, attribute = str(arg).partition(" ")
                g = new_global(module, attribute)
                if name == "GLOBAL":
                    stack.append(g)
                else:
                    stack.append(call(g, tuple(pop_mark()), "INST"))
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
                    raise MalformedPickleError("OBJ without a class", self.position)
                stack.append(call(items[0], tuple(items[1:]), "OBJ"))
            elif name == "BINPERSID":
                stack.append(PersId(pop(), self.position))
            elif name == "PERSID":
                stack.append(PersId(arg, self.position))
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
                self.protocol = operand
            elif name == "FRAME":
                pass
            elif name == "STOP":
                if marks or len(stack) != 1:
                    raise MalformedPickleError(f"STOP with {len(stack)} values and {len(marks)} MARKs open", pos)
                self.root = stack[0]
                self.end = pos + 1
                return
            elif name in _REFUSED:
                raise MalformedPickleError(f"uses the {name} opcode, which paramcount refuses", self.position)
            else:  # a new opcode in a future Python: fail closed
                raise MalformedPickleError(f"uses the unknown opcode {name}", self.position)
        raise MalformedPickleError("ends without a STOP opcode", self.position)  # pragma: no cover (genops raises)

    def _append(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Call):
            target.appended.extend(items)
        else:
            raise MalformedPickleError("APPEND to a value that is not a list", self.position)

    def _setitems(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, dict):
            destination = target
        elif isinstance(target, Call):
            destination = target.items
        else:
            raise MalformedPickleError("SETITEM on a value that is not a dict", self.position)
        for i in range(0, len(items), 2):
            destination[items[i]] = items[i + 1]  # TypeError for an unhashable key -> malformed
