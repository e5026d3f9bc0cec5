"""The cyclic garbage collector, paused while paramcount builds many objects at once.

A count allocates a few objects per tensor and module, and its JSON document one dict per module, and frees none
of them until it returns, so every collection in between traverses a growing heap for nothing: at 200,000 modules
collections doubled the time of a count (benchmarks/bench_modules.py).
"""

from __future__ import annotations

import gc

__all__ = ["collection_paused"]


class _Paused:
    """Pause Python's cyclic garbage collector, and file what was built meanwhile as old when done.

    Re-enabling the collector alone would traverse every object built meanwhile at the next allocation; instead a
    ``gc.freeze()``/``gc.unfreeze()`` pair moves the objects tracked so far into the oldest generation without
    traversing them. Reference counting frees them as usual, and a full
    collection still looks at them like at any long-lived object.

    That pair would also unfreeze objects the process froze itself (a preforking server's ``gc.freeze()``), so it
    is skipped in a process with a frozen heap. Telling whether there is one walks the whole frozen heap
    (``gc.get_freeze_count()``: 70 ms in a server that preloaded torch), so it is asked until the answer is yes,
    which is remembered for the life of the process. A process that runs with the collector off is left alone.
    """

    frozen_heap = False  # set once a count has seen objects in the permanent generation

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        if self.enabled:
            gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if not self.enabled:
            return
        if not _Paused.frozen_heap:
            _Paused.frozen_heap = gc.get_freeze_count() > 0
        if not _Paused.frozen_heap:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def collection_paused() -> _Paused:
    """A context manager that pauses the collector (see :class:`_Paused`); it may be nested.

    >>> with collection_paused():
    ...     rows = [{"row": i} for i in range(1000)]
    >>> gc.isenabled()
    True
    """
    return _Paused()
