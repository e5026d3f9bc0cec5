"""What paramcount needs from :mod:`typing` at run time, without importing it.

Importing ``typing`` (with the ``contextlib`` it pulls in) costs about 6 ms, a tenth of a whole ``paramcount``
run on a checkpoint's headers (benchmarks/bench_files.py). Type checkers read this module's ``TYPE_CHECKING``
branch and so see ``typing`` itself; at run time ``TYPE_CHECKING`` is ``False`` and :data:`NamedTuple` builds the
same classes ``typing.NamedTuple`` builds, through :func:`collections.namedtuple`: fields from the class's
annotations, defaults from its assignments, and its docstring, methods and properties copied over.

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

from collections import namedtuple

__all__ = ["TYPE_CHECKING", "NamedTuple"]

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    # Attributes a class body may not set on a named tuple (typing refuses them too), and the ones it brings.
    _PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults"})
    _SPECIAL = frozenset({"__module__", "__qualname__", "__annotations__", "__orig_bases__"})

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, namespace):
            if namespace.get("_root", False):
                return super().__new__(mcls, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            cls.__annotations__ = dict(namespace.get("__annotations__", {}))
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        _root = True
