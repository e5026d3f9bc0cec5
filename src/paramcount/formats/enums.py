"""Third-party ``Enum`` classes a whole-model pickle may look members up in: a generated table.

``torch.save(model)`` pickles an ``Enum`` member as a call of its class with the member's value
(``transformers.backbone_utils.BackboneType("transformers")``). Loading makes ``EnumType.__call__`` look the value
up among the members, running none of the package's code beyond importing it; called with anything else, the class
runs its ``_missing_`` or builds a new class. The table (``enums.json``: class -> member values) is generated from
the installed transformers by ``scripts/enums.py`` (``make architectures``); a test checks it against transformers.

>>> dict(members())["transformers.backbone_utils.BackboneType"] == {"timm", "transformers"}
True
"""

from __future__ import annotations

import functools
import json
import os

__all__ = ["members"]


@functools.cache
def members() -> tuple[tuple[str, frozenset[object]], ...]:
    """``(module.Class, values of its members)`` for every class in the table."""
    with open(os.path.join(os.path.dirname(__file__), "enums.json"), encoding="utf-8") as f:
        document = json.load(f)
    return tuple((name, frozenset(values)) for name, values in sorted(document["enums"].items()))
