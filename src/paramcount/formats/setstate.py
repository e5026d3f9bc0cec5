"""Classes whose ``__setstate__`` runs code with the state a pickle gives them: a generated table.

A whole-model pickle makes an object by ``NEWOBJ`` of its class and gives it its state by ``BUILD``, which calls
the class's ``__setstate__``. ``torch.nn.Module``'s stores the state; some do more with it (a torch datapipe wrapper
unpickles a second pickle from it). The table (``setstate.json``: ``module.name`` -> the ``__setstate__`` it
resolves to) lists every class of torch, transformers and kernels, under every name a pickle can reach it by, whose
``__setstate__`` is not one of the implementations ``scripts/setstate.py`` lists as audited, and their metaclasses
(instantiating one builds a class, as ``type`` does); it is generated from the installed packages
(``make architectures``) and a test checks it against them.

>>> classes()["torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper"]
'torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper'
>>> "torch.nn.modules.linear.Linear" in classes()  # Module's __setstate__, audited
False
"""

from __future__ import annotations

import functools
import json
import os

__all__ = ["classes", "metaclasses"]


@functools.cache
def _document() -> dict[str, dict[str, str]]:
    with open(os.path.join(os.path.dirname(__file__), "setstate.json"), encoding="utf-8") as f:
        document: dict[str, dict[str, str]] = json.load(f)
    return document


def classes() -> dict[str, str]:
    """``{module.name: the __setstate__ it resolves to}`` for every class in the table."""
    return _document()["classes"]


def metaclasses() -> frozenset[str]:
    """Every ``module.name`` of a metaclass of torch, transformers or kernels: instantiating one builds a class.

    >>> "torch.utils.data.datapipes._typing._DataPipeMeta" in metaclasses()
    True
    """
    return frozenset(_document()["metaclasses"])
