"""TARGET strings that name a model in code: ``package.module:attribute`` or ``package.module:callable(args)``.

Arguments are Python literals (numbers, strings, bytes, booleans, ``None``, tuples, lists, dicts, sets) or
nested references and calls of the same form, positional or keyword::

    torch.nn:Linear(784, 10)
    transformers:GPT2LMHeadModel(transformers:GPT2Config(n_layer=2))
    torch.nn:Linear(8, 8, dtype=torch:float16)

The string is parsed with :mod:`ast` and walked by a closed set of rules; nothing is passed to ``eval``. Only
the modules the string names are imported and only the callables it names are called. Building happens under
``torch.device(device)``: ``"meta"`` by default, so no weight memory is allocated.

>>> parse("torch.nn:Linear(784, 10, bias=False)")
Call(func=Ref(module='torch.nn', attribute='Linear'), args=(784, 10), kwargs=(('bias', False),))
"""

from __future__ import annotations

import ast
import importlib
import io
import os
import sys
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from paramcount.errors import TargetError, UsageError
from paramcount.sources import looks_like_spec

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Call", "Ref", "build", "looks_like_spec", "parse"]

_PLACEHOLDER = "__paramcount_ref_{}__"


@dataclass(frozen=True, slots=True)
class Ref:
    """``module:attribute``; ``attribute`` may be dotted (``Outer.Inner``)."""

    module: str
    attribute: str

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


@dataclass(frozen=True, slots=True)
class Call:
    """``func(*args, **dict(kwargs))``."""

    func: Ref
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]


def parse(text: str) -> Ref | Call:
    """Parse a TARGET string without importing anything.

    Args:
        text: the spec, e.g. ``"torch.nn:Linear(784, 10)"``.

    Returns:
        A :class:`Ref` or a :class:`Call` whose arguments are literals, refs and calls.

    Raises:
        TargetError: the string is not a valid spec; the message names the offending part.
    """
    refs: list[Ref] = []
    try:
        source = _replace_refs(text, refs)
        tree = ast.parse(source.strip(), mode="eval")
    except tokenize.TokenError:
        raise TargetError(
            "not a valid model spec: a bracket or a string is not closed",
            target=text,
            fix="write 'package.module:callable(args)' or 'package.module:attribute'",
        ) from None
    except SyntaxError as e:  # IndentationError too
        raise TargetError(
            f"not a valid model spec: {_restore(e.msg or 'invalid syntax', refs)}",
            target=text,
            fix="write 'package.module:callable(args)' or 'package.module:attribute'",
        ) from None
    node = _convert(tree.body, refs, text)
    if not isinstance(node, (Ref, Call)):
        raise TargetError(
            "a model spec must be a reference or a call, not a literal",
            target=text,
            fix="write 'package.module:callable(args)' or 'package.module:attribute'",
        )
    return node


def _tokens(text: str) -> Iterator[tokenize.TokenInfo]:
    skip = {tokenize.ENCODING, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in skip:
            yield token


def _replace_refs(text: str, refs: list[Ref]) -> str:
    """Swap every ``a.b:c.d`` for a placeholder name so the rest is a Python expression."""
    if "\n" in text or "\r" in text:
        raise TargetError("a model spec must be one line", target=text, fix="remove the line breaks")
    tokens = list(_tokens(text))
    pieces: list[str] = []
    cursor = 0
    i = 0
    while i < len(tokens):
        end = _match_ref(tokens, i)
        if end is None:
            i += 1
            continue
        first, last = tokens[i], tokens[end - 1]
        module, _, attribute = text[first.start[1] : last.end[1]].replace(" ", "").partition(":")
        pieces.append(text[cursor : first.start[1]])
        pieces.append(_PLACEHOLDER.format(len(refs)))
        refs.append(Ref(module=module, attribute=attribute))
        cursor = last.end[1]
        i = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _match_ref(tokens: list[tokenize.TokenInfo], i: int) -> int | None:
    """End index (exclusive) of a ``NAME(.NAME)* : NAME(.NAME)*`` run starting at ``i``, if one does."""
    if i > 0 and tokens[i - 1].string == ".":
        return None
    j = _dotted(tokens, i)
    if j is None or j >= len(tokens) or tokens[j].string != ":":
        return None
    return _dotted(tokens, j + 1)


def _dotted(tokens: list[tokenize.TokenInfo], i: int) -> int | None:
    if i >= len(tokens) or tokens[i].type != tokenize.NAME:
        return None
    i += 1
    while i + 1 < len(tokens) and tokens[i].string == "." and tokens[i + 1].type == tokenize.NAME:
        i += 2
    return i


def _convert(node: ast.expr, refs: list[Ref], text: str) -> Any:
    """The closed set of expressions a spec may contain; everything else is refused."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        ref = _placeholder(node.id, refs)
        if ref is None:
            raise TargetError(
                f"unknown name {node.id!r} in model spec",
                target=text,
                fix="refer to objects as 'package.module:name' and quote strings",
            )
        return ref
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _convert(node.operand, refs, text)
        if isinstance(operand, (int, float, complex)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_convert(item, refs, text) for item in node.elts]
        return {ast.Tuple: tuple, ast.List: list, ast.Set: _Set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return _Dict(
            (_convert(k, refs, text), _convert(v, refs, text))
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        func = _placeholder(node.func.id, refs)
        starred = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        if func is not None and not starred:
            return Call(
                func=func,
                args=tuple(_convert(a, refs, text) for a in node.args),
                kwargs=tuple((k.arg, _convert(k.value, refs, text)) for k in node.keywords if k.arg is not None),
            )
    raise TargetError(
        f"unsupported expression {_restore(ast.unparse(node), refs)!r} in model spec",
        target=text,
        fix="use literals and 'package.module:callable(args)' calls only",
    )


class _Set(tuple[Any, ...]):
    """A set literal, built as a set only at call time so parse results stay hashable and comparable."""


class _Dict(tuple[tuple[Any, Any], ...]):
    """A dict literal, built as a dict only at call time."""


def _restore(text: str, refs: list[Ref]) -> str:
    """``text`` with every placeholder name put back as the ``module:attribute`` the user wrote."""
    prefix, suffix = _PLACEHOLDER.split("{}")
    for i in range(len(refs) - 1, -1, -1):  # longest numbers first: ref_10 before ref_1
        text = text.replace(f"{prefix}{i}{suffix}", str(refs[i]))
    return text


def _placeholder(name: str, refs: list[Ref]) -> Ref | None:
    prefix, suffix = _PLACEHOLDER.split("{}")
    if name.startswith(prefix) and name.endswith(suffix):
        return refs[int(name[len(prefix) : -len(suffix)])]
    return None


def preflight(text: str) -> None:
    """Parse ``text`` and check that the top-level package of every module it names exists, importing nothing.

    Lets a typo fail in milliseconds, before torch is imported (seconds, and hundreds of MB of address space).

    Raises:
        TargetError: the spec is malformed or names a package that is not installed.
    """
    import importlib.util

    pending: list[Any] = [parse(text)]
    while pending:
        node = pending.pop()
        if isinstance(node, Ref):
            top = node.module.partition(".")[0]
            if top not in sys.modules and importlib.util.find_spec(top) is None:
                raise TargetError(
                    f"cannot import module {node.module!r} (no module named {top!r})",
                    target=text,
                    fix="check the module name and that its package is installed in this environment",
                )
        elif isinstance(node, Call):
            pending.extend(reversed((node.func, *node.args, *(v for _, v in node.kwargs))))  # left to right
        elif isinstance(node, (tuple, list, _Set, _Dict)):
            items = [item for entry in node for item in (entry if isinstance(node, _Dict) else (entry,))]
            pending.extend(reversed(items))


def build(text: str, *, device: str = "meta") -> object:
    """Import, resolve and call what a TARGET string names, under ``torch.device(device)``.

    Args:
        text: the spec.
        device: the default device while building; ``"meta"`` allocates no weight memory.

    Returns:
        Whatever the spec evaluates to (the caller checks that it is a model).

    Raises:
        TargetError: the spec is malformed, a module does not import, an attribute is missing, or a call raises.
        UsageError: ``device`` is not a torch device.
    """
    node = parse(text)
    import torch

    try:
        default_device = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise UsageError(f"invalid device {device!r} ({_first_line(e)})", fix="use 'meta' or 'cpu'") from None
    with default_device, _ExitGuard():
        return _evaluate(node, text, device)


class _ExitedError(BaseException):
    """``os._exit(status)`` called by a TARGET's code while paramcount guards it."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.code = status


class _ExitGuard:
    """While a TARGET's code runs, ``os._exit`` raises instead of ending the process.

    ``os._exit(0)`` would end ``paramcount verify`` with exit code 0, which a CI gate reads as success. A forked
    child of the model's code still exits as it asks. An exit from C code (``exit()``) cannot be intercepted:
    ``paramcount verify`` prints ``ok: ...`` on success, which a gate can check for as well.
    """

    def __enter__(self) -> None:
        self.original = original = os._exit
        parent = os.getpid()

        def guarded(status: int) -> NoReturn:
            if os.getpid() != parent:
                original(status)
            raise _ExitedError(status)

        os._exit = guarded

    def __exit__(self, *exc_info: object) -> None:
        os._exit = self.original


def _evaluate(node: Any, text: str, device: str) -> Any:
    if isinstance(node, Ref):
        return _resolve(node, text)
    if isinstance(node, Call):
        func = _resolve(node.func, text)
        args = [_evaluate(a, text, device) for a in node.args]
        kwargs = {k: _evaluate(v, text, device) for k, v in node.kwargs}
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except (SystemExit, _ExitedError) as e:
            raise _exited(f"calling {node.func}", e, text) from e
        except BaseException as e:  # GeneratorExit too: a constructor that does not return has not built
            fix = "check the arguments"
            if device == "meta" and _about_meta(e):
                fix = "the constructor needs real tensor data, which the meta device has none of: build it with "
                fix += "--device cpu (device='cpu' in Python)"
            raise TargetError(
                f"calling {node.func} failed: {type(e).__name__}: {_first_line(e)}", target=text, fix=fix
            ) from e
    if isinstance(node, _Set):
        return {_evaluate(item, text, device) for item in node}
    if isinstance(node, _Dict):
        return {_evaluate(k, text, device): _evaluate(v, text, device) for k, v in node}
    if isinstance(node, (tuple, list)):
        return type(node)(_evaluate(item, text, device) for item in node)
    return node


def _resolve(ref: Ref, text: str) -> Any:
    try:
        obj = importlib.import_module(ref.module)
    except KeyboardInterrupt:
        raise
    except (SystemExit, _ExitedError) as e:
        raise _exited(f"importing {ref.module!r}", e, text) from e
    except BaseException as e:
        raise TargetError(
            f"cannot import module {ref.module!r} ({type(e).__name__}: {_first_line(e)})",
            target=text,
            fix="check the module name and that its package is installed in this environment",
        ) from e
    for part in ref.attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(
                f"{ref.module!r} has no attribute {ref.attribute!r}",
                target=text,
                fix="check the spelling of the name after ':'",
            ) from None
    return obj


def _exited(what: str, exit: SystemExit | _ExitedError, text: str) -> TargetError:
    how = "os._exit" if isinstance(exit, _ExitedError) else "sys.exit"
    return TargetError(
        f"{what} tried to end the process ({how}({exit.code!r})) instead of returning a model",
        target=text,
        fix="name a callable that returns the model; nothing was counted",
    )


def _about_meta(error: BaseException) -> bool:
    """Whether a failure (or one it was raised from) is about meta tensors having no data."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 8:
        if "meta" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
