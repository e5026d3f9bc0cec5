"""torch's tensor operations, by the names a pickle can hold them under: a generated table.

A whole-model ``torch.save`` holds some functions as module attributes (BART's ``activation_fn`` is
``torch._C._nn.gelu``). Loading such a pickle imports torch and takes the function, calls nothing; a tensor operation
held that way is harmless to count (the file is still *untrusted*: loading it imports what it names). Any other torch
function a pickle holds is unsafe: ``torch.utils.collect_env.run`` runs commands, ``torch.hub.load`` downloads and
runs code, ``torch.from_file`` opens files. The table (``torch_functions.json``) is generated from the installed
torch by ``scripts/torch_functions.py`` (``make architectures``); a test checks it against torch.

>>> is_tensor_operation("torch._C._nn", "gelu"), is_tensor_operation("torch.nn.functional", "silu")
(True, True)
>>> is_tensor_operation("torch.hub", "load"), is_tensor_operation("torch", "from_file")
(False, False)
"""

from __future__ import annotations

import functools
import json
import os

__all__ = ["is_tensor_operation", "operations"]


@functools.cache
def operations() -> dict[str, frozenset[str]]:
    """Module name -> names of tensor operations reachable under it."""
    with open(os.path.join(os.path.dirname(__file__), "torch_functions.json"), encoding="utf-8") as f:
        document = json.load(f)
    return {module: frozenset(names) for module, names in document["operations"].items()}


def is_tensor_operation(module: str, name: str) -> bool:
    """Whether ``module`` + ``name`` (as ``find_class`` looks them up) is one of torch's tensor operations."""
    return name in operations().get(module, frozenset())
