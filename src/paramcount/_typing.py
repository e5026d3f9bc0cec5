"""What paramcount needs from :mod:`typing` at run time, without importing it.

Importing ``typing`` (with the ``contextlib`` it pulls in) costs about 6 ms, a tenth of a whole ``paramcount``
run on a checkpoint's headers (benchmarks/bench_files.py). Type checkers read this module's ``TYPE_CHECKING``
branch and so see ``typing`` itself; at run time ``TYPE_CHECKING`` is ``False`` and :data:`NamedTuple` builds the
classes ``typing.NamedTuple`` builds: fields from the class's annotations, defaults from its assignments, and its
docstring, methods and properties copied over.

They are made here rather than by :func:`collections.namedtuple`, which compiles each class's ``__new__`` from
source: that cost about 150 us a class, 5 ms for the 40 classes a count imports, a tenth of a count of a
checkpoint's headers. Here ``__new__`` is compiled once per number of fields and its arguments renamed per class;
the other methods are shared. The classes behave as ``collections.namedtuple``'s (tests/test_package.py compares
them).

Modules write ``from paramcount._typing import TYPE_CHECKING, NamedTuple`` (ruff knows this module as a typing
module: ``typing-modules`` in pyproject.toml).

>>> class Point(NamedTuple):
...     '''A point.'''
...     x: int
...     y: int = 0
...     def norm(self) -> int:
...         return abs(self.x) + abs(self.y)
>>> Point(3), Point(3, -4).norm(), Point._fields, Point.__doc__
(Point(x=3, y=0), 7, ('x', 'y'), 'A point.')
"""

from __future__ import annotations

import collections
from operator import itemgetter
from types import FunctionType

__all__ = ["TYPE_CHECKING", "NamedTuple"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    # Attributes a class body may not set on a named tuple (typing refuses them too), and the ones it brings.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace"}
        | {"_asdict", "_source", "_index"}
    )
    _SPECIAL = frozenset({"__module__", "__annotations__", "__orig_bases__"})
    # the C field descriptor collections.namedtuple uses, where this Python has it
    _getter = getattr(collections, "_tuplegetter", lambda index, doc: property(itemgetter(index), doc=doc))
    # __new__ for 0 to 24 fields, as collections.namedtuple writes it (a tuple of the arguments, by position or
    # keyword); a class takes the one of its length with the arguments renamed to its fields. Written out because
    # collections.namedtuple compiles one per class (about 150 us each) and paramcount compiles nothing (SECURITY.md).
    t = tuple.__new__
    _NEW = (
        lambda _: t(_, ()),
        lambda _, a: t(_, (a,)),
        lambda _, a, b: t(_, (a, b)),
        lambda _, a, b, c: t(_, (a, b, c)),
        lambda _, a, b, c, d: t(_, (a, b, c, d)),
        lambda _, a, b, c, d, e: t(_, (a, b, c, d, e)),
        lambda _, a, b, c, d, e, f: t(_, (a, b, c, d, e, f)),
        lambda _, a, b, c, d, e, f, g: t(_, (a, b, c, d, e, f, g)),
        lambda _, a, b, c, d, e, f, g, h: t(_, (a, b, c, d, e, f, g, h)),
        lambda _, a, b, c, d, e, f, g, h, i: t(_, (a, b, c, d, e, f, g, h, i)),
        lambda _, a, b, c, d, e, f, g, h, i, j: t(_, (a, b, c, d, e, f, g, h, i, j)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k: t(_, (a, b, c, d, e, f, g, h, i, j, k)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m: t(_, (a, b, c, d, e, f, g, h, i, j, k, m)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n: t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o: t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p: t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p)),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x, y: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x, y)
        ),
        lambda _, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x, y, z: t(
            _, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, u, v, w, x, y, z)
        ),
    )
    del t

    def _new(name, fields, defaults):
        """``__new__`` taking ``fields`` by position or keyword, ``defaults`` for the last ones; ``None`` beyond the
        table (collections.namedtuple then makes the class)."""
        if len(fields) >= len(_NEW):
            return None
        code = _NEW[len(fields)].__code__.replace(co_varnames=("_cls", *fields), co_name="__new__")
        function = FunctionType(code, {"t": tuple.__new__, "__builtins__": {}}, "__new__", defaults or None)
        function.__qualname__ = f"{name}.__new__"
        function.__doc__ = f"Create new instance of {name}({', '.join(fields)})"
        return function

    def _make(cls, iterable):
        """Make a new object from a sequence or iterable."""
        result = tuple.__new__(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def _replace(self, /, **changes):
        """Return a new object replacing the fields given with new values."""
        values = list(self)
        where = self._index
        for field, value in changes.items():
            index = where.get(field)
            if index is None:
                raise ValueError(f"Got unexpected field names: {[f for f in changes if f not in where]!r}")
            values[index] = value
        return tuple.__new__(type(self), values)

    def _repr(self):
        """Return a nicely formatted representation string."""
        return f"{type(self).__name__}({', '.join(f'{f}={v!r}' for f, v in zip(self._fields, self, strict=True))})"

    def _asdict(self):
        """Return a new dict which maps field names to their values."""
        return dict(zip(self._fields, self, strict=True))

    def _getnewargs(self):
        """Return self as a plain tuple. Used by copy and pickle."""
        return tuple(self)

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, namespace):
            if namespace.get("_root", False):
                return super().__new__(mcls, name, bases, namespace)
            if len(bases) != 1:
                raise TypeError(f"{name}: a NamedTuple class can only inherit from NamedTuple")
            annotations = dict(namespace.get("__annotations__", {}))
            fields = tuple(annotations)
            if any(field.startswith("_") for field in fields):
                raise ValueError(f"{name}: field names cannot start with an underscore")
            defaults = tuple(namespace[field] for field in fields if field in namespace)
            if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            new = _new(name, fields, defaults)
            if new is None:
                cls = collections.namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
                new = cls.__new__
            body = {"__doc__": f"{name}({', '.join(fields)})"}
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    body[key] = value
            body.update(
                __module__=namespace["__module__"],
                __slots__=(),
                __annotations__=annotations,
                __new__=new,
                __getnewargs__=_getnewargs,
                _fields=fields,
                _field_defaults=dict(zip(fields[len(fields) - len(defaults) :], defaults, strict=True)),
                _index={field: i for i, field in enumerate(fields)},
                _make=classmethod(_make),
                _replace=_replace,
                _asdict=_asdict,
            )
            body.setdefault("__repr__", _repr)
            body.setdefault("__match_args__", fields)
            body["__replace__"] = _replace  # copy.replace (Python 3.13)
            for index, field in enumerate(fields):
                body[field] = _getter(index, f"Alias for field number {index}")
            return type(name, (tuple,), body)

    class NamedTuple(metaclass=_NamedTupleMeta):
        _root = True
