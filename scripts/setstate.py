"""Regenerate ``src/paramcount/formats/setstate.json`` from the installed torch, transformers and kernels
(``make architectures``).

A whole-model ``torch.save`` pickles an object as ``NEWOBJ`` of its class and a ``BUILD`` of its state; loading
calls the class's ``__setstate__`` with the state the file chose. ``torch.nn.Module``'s updates the instance's
``__dict__``; others do more: ``torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper``'s unpickles a
second pickle from the state (an attacker review's finding), ``torch.optim.Optimizer``'s calls ``setdefault`` on
values of the state. The table lists every class of these packages, under every ``module`` + ``name`` a pickle can
reach it by, whose ``__setstate__`` is not one of the audited implementations below: a pickle that gives one of them
a state is unsafe. Classes of other packages are not known (SECURITY.md, "What untrusted trusts").

Every module of each package is imported (tests and ``__main__`` modules aside); a module that does not import here
is left out, and so are the classes only it holds.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pkgutil
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "paramcount" / "formats" / "setstate.json"
PACKAGES = ("torch", "transformers", "kernels")
SKIPPED = (".tests", ".testing", "._test", ".test_", "__main__", ".benchmarks")

#: ``__setstate__`` implementations read and found to do nothing with the state but store it: they set attributes
#: from it, fill defaults, test membership (``"x" in state``), index it, iterate it and take weak references. The
#: objects in the state are the file's own either way (an instance of a class the file chose is judged where it is
#: made); what these methods do not do is call a method of the state or of a value in it by name (the file could put
#: one there), import, or unpickle. Read in torch 2.13, transformers 5.25, kernels 0.19.
AUDITED = {
    "builtins.BaseException": "setattr of each item",
    # Module's defaults go through Module.__setattr__, which tests names against the state's _parameters, _buffers
    # and _modules (RNNBase's also indexes _all_weights and iterates _flat_weights): the evaluator requires those
    # to be plain containers (_pickle._TOUCHED_STATE)
    "torch.nn.modules.module.Module": "__dict__.update(state) (a dict: the BUILD state rule covers keys()), defaults",
    "torch.nn.modules.conv._ConvNd": "Module's, then a default padding_mode",
    "torch.ao.nn.quantized.modules.conv._ConvNd": "attributes from state[0..14], set_weight_bias(prepack of tensors)",
    "torch.nn.modules.rnn.RNNBase": "Module's, then weight names built from strings, getattr of them, weakrefs",
    "torch.nn.modules.activation.MultiheadAttention": "a default by item assignment, then Module's",
    "torch.nn.modules.activation.Softmax": "Module's, then a default dim",
    "torch.nn.modules.activation.LogSoftmax": "Module's, then a default dim",
    "torch.nn.modules.activation.Softmin": "Module's, then a default dim",
    "torch.nn.modules.pooling.AvgPool3d": "Module's, then __dict__.setdefault of three defaults",
    "torch.nn.modules.upsampling.Upsample": "a default by item assignment, then Module's",
    "torch.nn.modules.transformer.TransformerEncoderLayer": "Module's, then a default activation (F.relu)",
    "torch.nn.modules.transformer.TransformerDecoderLayer": "a default activation by item assignment, then Module's",
    "torch.nn.modules.module._WrappedHook": "stores the hook (called when the module runs, not when it loads)",
    "torch.utils.hooks.RemovableHandle": "weak references to state[0] and state[2]'s items, an id",
    "dataclasses._dataclass_setstate": "object.__setattr__ per field, zipped with the state (frozen dataclasses)",
    "torch.utils._ordered_set.OrderedSet": "dict.fromkeys(state)",
    "transformers.feature_extraction_utils.BatchFeature": "state['data'] if present",
    "transformers.tokenization_utils_base.BatchEncoding": "state['data'] and state['encodings'] if present",
}


def owner(cls: type) -> str | None:
    """The qualified name of the ``__setstate__`` ``cls`` resolves to; ``None`` for ``object``'s (none)."""
    for klass in cls.__mro__:
        method = vars(klass).get("__setstate__")
        if method is None:
            continue
        if klass is object:
            return None
        function = getattr(method, "__func__", method)
        module = getattr(function, "__module__", None) or klass.__module__
        name = getattr(function, "__qualname__", None) or f"{klass.__qualname__}.__setstate__"
        if name.endswith(".__setstate__"):  # a method defined in the class: named by its class
            return f"{klass.__module__}.{klass.__qualname__}"
        return f"{module}.{name}"  # a function assigned as __setstate__ (dataclass helpers)
    return None


def import_all(package: str) -> None:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda name: None):
        if any(part in info.name for part in SKIPPED):
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                importlib.import_module(info.name)
        except BaseException:  # an optional dependency is missing, or the module exits: left out
            continue


def document() -> dict[str, object]:
    """The table for the installed packages: ``{"classes": {"module.name": "__setstate__ owner"}, "metaclasses":
    {"module.name": "class"}}`` (a metaclass's instances are classes: instantiating one builds a class from the
    name, bases and namespace the file chose, as ``type`` does)."""
    versions: dict[str, object] = {}
    table: dict[str, str] = {}
    metaclasses: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for package in PACKAGES:
            import_all(package)
            versions[package] = importlib.import_module(package).__version__
        for name, module in sorted(sys.modules.items()):
            if name.partition(".")[0] not in PACKAGES or module is None:
                continue
            try:
                attributes = dir(module)
            except Exception:  # a module object that cannot list itself: nothing reachable is known
                continue
            for attribute in attributes:
                try:
                    value = getattr(module, attribute)
                except Exception:  # a lazy attribute whose import fails: a loader fails too
                    continue
                if not isinstance(value, type):
                    continue
                if issubclass(value, type):
                    metaclasses[f"{name}.{attribute}"] = f"{value.__module__}.{value.__qualname__}"
                found = owner(value)
                if found is not None and found not in AUDITED:
                    table[f"{name}.{attribute}"] = found
    return {
        "versions": versions,
        "classes": dict(sorted(table.items())),
        "metaclasses": dict(sorted(metaclasses.items())),
    }


def main() -> int:
    table = document()
    OUT.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    classes = table["classes"]
    assert isinstance(classes, dict)
    metaclasses = table["metaclasses"]
    assert isinstance(metaclasses, dict)
    print(
        f"{OUT}: {len(classes)} class names, {len(set(classes.values()))} __setstate__ implementations, "
        f"{len(metaclasses)} metaclass names"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
