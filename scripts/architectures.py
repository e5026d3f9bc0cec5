"""Write paramcount's architecture table from the installed transformers: ``make architectures``.

For every model class transformers maps a ``model_type`` to, build the class on the meta device from the default
configuration (weights not initialised: seconds for the whole run), once with ``tie_word_embeddings`` true and
once false, and record what its ``save_pretrained`` checkpoint holds (:func:`paramcount.sources.hf.describe`):
parameter and persistent-buffer name patterns, the tie groups, and the base-model prefix. One JSON file per
``model_type`` lands in ``src/paramcount/architectures/``, so a count reads only the file it needs.

    python scripts/architectures.py [--only llama,bart] [--out DIR]

The tests rebuild a sample of entries and compare them with the shipped files
(tests/test_architecture.py::test_table_matches_installed_transformers), so a table written by an older
transformers shows up as a failure rather than a wrong count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from fractions import Fraction
from itertools import combinations
from typing import Any

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "paramcount", "architectures")


def classes_by_model_type() -> dict[str, list[str]]:
    """Every model class name each model_type maps to, across transformers' auto mappings."""
    from transformers.models.auto import modeling_auto

    found: dict[str, list[str]] = {}
    for attribute in dir(modeling_auto):
        if not attribute.endswith("_MAPPING_NAMES") or attribute == "CONFIG_MAPPING_NAMES":
            continue
        mapping = getattr(modeling_auto, attribute)
        if not isinstance(mapping, dict):
            continue
        for model_type, names in mapping.items():
            for name in (names,) if isinstance(names, str) else names:
                if isinstance(name, str) and name not in found.setdefault(model_type, []):
                    found[model_type].append(name)
    return found


def with_tie(config: Any, tie: bool) -> Any:
    """A copy of ``config`` with ``tie_word_embeddings`` set, on the text configuration too."""
    config = config.__class__.from_dict(config.to_dict())
    config.tie_word_embeddings = tie
    text = config.get_text_config() if hasattr(config, "get_text_config") else None
    if text is not None and text is not config:
        text.tie_word_embeddings = tie
    return config


def entry(cls: Any, config: Any) -> dict[str, Any]:
    """The table entry of one class: what its loader expects and does, when tied and, where they differ, untied."""
    from paramcount.sources.hf import build, describe

    tied = describe(build(cls, with_tie(config, True), cls.__name__))
    untied = describe(build(cls, with_tie(config, False), cls.__name__))
    keys = tied.pop("keys")
    untied_keys = untied.pop("keys")
    default_shapes = tied["shapes"]
    tie_dependent = tie_dependent_patterns(tied["shapes"], untied["shapes"])
    for described in (tied, untied):  # shapes follow the configuration: the table keeps formulas instead
        del described["shapes"], described["dtypes"]
    tied["parameters"] = sorted(set(tied["parameters"]) | set(untied["parameters"]))
    tied["buffers"] = sorted(set(tied["buffers"]) | set(untied["buffers"]))
    if untied["ties"] != tied["ties"] or untied["tie_keys"] != tied["tie_keys"]:
        tied["untied"] = untied["ties"]
        tied["untied_keys"] = untied["tie_keys"]
    # Shapes of parameters a checkpoint leaves out depend on the configuration: a count builds the model for them.
    tied["unsaved"] = sorted(tied["unsaved"])
    for key in ("unsaved", "ties", "tie_keys", "transforms", "ignore_missing", "ignore_unexpected"):
        if not tied[key]:
            del tied[key]
    stacks = stacks_of(keys)
    if stacks is None or stacks_of(untied_keys) != stacks:
        tied["uniform"] = False  # layers differ from one another: only a build lists missing keys exactly
    else:
        tied["stacks"] = {name: {"length": n, "config": configured(cls, config, name, n)} for name, n in stacks.items()}
    base, base_shapes = shallow(cls, with_tie(config, True), tied.get("stacks", {}), default_shapes)
    formulas = shape_formulas(cls, base, base_shapes)
    if formulas:
        tied["shapes"] = formulas
    # Keys the config class derives when config.json leaves them out (Llama's head_dim = hidden_size / heads,
    # num_key_value_heads = heads): the formulas above hold when config.json sets them; for each set of them it
    # leaves out, formulas found with the class deriving them (at most two such keys: four variants).
    derived = derived_keys(config)
    hints = ("dim", "size", "head", "layer", "expert", "vocab", "intermediate", "hidden")
    unknown = sorted(
        k
        for k, v in config.to_dict().items()
        if v is None and (k.startswith(("num_", "n_")) or any(h in k for h in hints))
    )
    if len(derived) > 2:
        tied["shape_derived"] = {}  # too many: a config.json that leaves one out checks no shape
    elif derived:
        variants: dict[str, Any] = {}
        for size in range(1, len(derived) + 1):
            for left_out in combinations(derived, size):
                document = base.to_dict()
                for key in left_out:
                    document[key] = None
                try:
                    smaller = base.__class__.from_dict(document)
                    shapes = describe(build(cls, smaller, "derived"))["shapes"]
                except Exception:  # the class cannot derive it after all: no formulas for this variant
                    variants[",".join(left_out)] = {}
                    continue
                variants[",".join(left_out)] = shape_formulas(cls, smaller, shapes, left_out)
        tied["shape_derived"] = variants
    if derived or unknown:
        tied["shape_keys"] = {"derived": derived, "unknown": unknown}
    drop_tie_dependent(tied, tie_dependent)
    validate_formulas(cls, base, tied)
    return tied


def validate_formulas(cls: Any, base: Any, entry: dict[str, Any]) -> None:
    """Check the formulas against one more build, with every key they read tripled at once (products and sums of
    keys show there, which one key at a time can miss); a dimension predicted wrong loses its formula, and a variant
    whose build fails loses all of them (a count then compares those shapes only after a build)."""
    from paramcount.sources.architecture import expected_shape, pattern
    from paramcount.sources.hf import build, describe

    variants = [("", entry.get("shapes") or {})]
    variants += [(name, formulas) for name, formulas in (entry.get("shape_derived") or {}).items()]
    for name, formulas in variants:
        if not formulas:
            continue
        document = json.loads(json.dumps(base.to_dict()))
        for key in filter(None, name.split(",")):
            document[key] = None
        keys = {k for formula in formulas.values() for dim in formula if dim for k in dim[2]}
        for path in keys:
            *parents, leaf = path.split(".")
            place = document
            for parent in parents:
                place = place[parent]
            place[leaf] *= 3
        try:
            shapes = describe(build(cls, base.__class__.from_dict(document), "validation"))["shapes"]
        except Exception:  # the tripled configuration does not build: the formulas stay unconfirmed
            formulas.clear()
            continue
        actual: dict[str, set[tuple[int, ...]]] = {}
        for tensor, shape in shapes.items():
            actual.setdefault(pattern(tensor), set()).add(tuple(shape))
        for p, formula in list(formulas.items()):
            predicted = expected_shape(formula, document)
            seen = actual.get(p, set())
            for i, dim in enumerate(predicted):
                if dim is not None and (not seen or any(len(s) != len(predicted) or s[i] != dim for s in seen)):
                    formula[i] = None
            if all(d is None for d in formula):
                del formulas[p]
    if "shapes" in entry and not entry["shapes"]:
        del entry["shapes"]


def tie_dependent_patterns(tied: dict[str, list[int]], untied: dict[str, list[int]]) -> set[str]:
    """Patterns whose default shape differs with ``tie_word_embeddings`` (ImageGPT's head is ``vocab_size - 1`` rows
    untied, the embedding itself tied): the formulas, found tied, do not hold for them."""
    from paramcount.sources.architecture import pattern

    return {pattern(n) for n in tied.keys() & untied.keys() if tied[n] != untied[n]}


def drop_tie_dependent(entry: dict[str, Any], patterns: set[str]) -> None:
    """Remove the formulas of ``patterns`` from an entry's shapes and their variants."""
    for formulas in [entry.get("shapes") or {}, *(entry.get("shape_derived") or {}).values()]:
        for name in patterns:
            formulas.pop(name, None)
    if "shapes" in entry and not entry["shapes"]:
        del entry["shapes"]


def derived_keys(config: Any) -> list[str]:
    """Integer config keys whose constructor default is ``None`` (the class derives them), sorted."""
    import inspect

    try:
        parameters = inspect.signature(config.__class__.__init__).parameters
    except (TypeError, ValueError):
        return []
    values = config.to_dict()
    return sorted(k for k, p in parameters.items() if p.default is None and type(values.get(k)) is int)


def shallow(cls: Any, config: Any, stacks: dict[str, Any], shapes: dict[str, list[int]]) -> tuple[Any, Any]:
    """The configuration with every layer stack one layer deep (faster to build), and its shapes; the default
    configuration when that does not build."""
    from paramcount.sources.hf import build, describe

    document = config.to_dict()
    changed = json.loads(json.dumps(document))
    paths = {info["config"][0] for info in stacks.values() if info["config"]}
    for path in paths:
        *parents, leaf = path.split(".")
        place = changed
        for parent in parents:
            place = place[parent]
        length = place.get(leaf)
        if type(length) is int and length > 1:
            for name, other in list(place.items()):
                if name != leaf and isinstance(other, list) and len(other) == length:
                    place[name] = other[:1]
            place[leaf] = 1
    if not paths:
        return config, shapes
    try:
        smaller = config.__class__.from_dict(changed)
        return smaller, describe(build(cls, smaller, "shallow"))["shapes"]
    except Exception:  # the one-layer configuration does not build: use the default
        return config, shapes


#: how doubling a key may change a dimension: the exponent of that key in the dimension's formula
_POWERS = {Fraction(1, 4): -2, Fraction(1, 2): -1, Fraction(1): 0, Fraction(2): 1, Fraction(4): 2}


def shape_formulas(
    cls: Any, config: Any, shapes: dict[str, list[int]], left_out: tuple[str, ...] = ()
) -> dict[str, list[Any]]:
    """Each tensor pattern's shape as formulas of config.json keys, found by building the class with each key that
    could set a dimension doubled: ``{"model.embed_tokens.weight": [[1, 1, {"vocab_size": 1}], [1, 1,
    {"hidden_size": 1}]]}``, each dimension ``[numerator, denominator, {key: exponent}]`` (``null``: a dimension
    paramcount cannot express this way, e.g. a sum). A dimension a key changes other than by a power of two, or whose
    key's change did not build, is ``null``; a count checks a dimension only when config.json sets every key of it."""
    from paramcount.sources.architecture import pattern
    from paramcount.sources.hf import build, describe

    by_pattern: dict[str, tuple[int, ...] | None] = {}
    for name, shape in shapes.items():
        key = pattern(name)
        if key in by_pattern and by_pattern[key] != tuple(shape):
            by_pattern[key] = None  # instances of one pattern differ (a pyramid): no formula
        else:
            by_pattern.setdefault(key, tuple(shape))
    dims = {d for shape in by_pattern.values() if shape for d in shape}
    document = config.to_dict()
    for key in left_out:  # the class derives these: they stay out of every perturbed configuration
        document[key] = None
    candidates: list[tuple[str, int]] = []
    for key, value in document.items():
        nested = value.items() if isinstance(value, dict) else ()
        for path, v in [(key, value)] + [(f"{key}.{k}", v) for k, v in nested]:
            # a key of 1 may still multiply a dimension (a depth the one-layer base set to 1): doubled to 2 too
            if type(v) is int and v >= 1 and any(d % v == 0 for d in dims) and not path.endswith(("_id", "_ids")):
                candidates.append((path, v))
    exponents: dict[str, list[dict[str, int] | None]] = {
        p: [{} for _ in shape] for p, shape in by_pattern.items() if shape is not None
    }
    for path, value in candidates:
        changed = json.loads(json.dumps(document))
        *parents, leaf = path.split(".")
        place = changed
        for parent in parents:
            place = place[parent]
        place[leaf] = value * 2
        try:
            after = describe(build(cls, config.__class__.from_dict(changed), "perturbed"))["shapes"]
        except Exception:  # the doubled value does not build: every dimension it could set is unknown
            after = None
        seen: dict[str, tuple[int, ...]] = {}
        for name, shape in (after or {}).items():
            seen.setdefault(pattern(name), tuple(shape))
        for p, dims_of in exponents.items():
            base = by_pattern[p]
            assert base is not None
            new = seen.get(p)
            for i, d in enumerate(base):
                if dims_of[i] is None:
                    continue
                if d == 0:  # an empty dimension: no ratio to read
                    dims_of[i] = None
                    continue
                if after is None or new is None or len(new) != len(base):
                    if d % value == 0 or after is not None:
                        dims_of[i] = None
                    continue
                ratio = Fraction(new[i], d)
                exponent = _POWERS.get(ratio)
                found = dims_of[i]
                if exponent is None or found is None:
                    dims_of[i] = None
                elif exponent:
                    found[path] = exponent
    values = dict(candidates)
    formulas: dict[str, list[Any]] = {}
    for p, dims_of in exponents.items():
        base = by_pattern[p]
        assert base is not None
        out: list[Any] = []
        for d, by_key in zip(base, dims_of, strict=True):
            if not by_key:
                out.append(None)  # a constant or an unknown: not checked
                continue
            c = Fraction(d)
            for key, e in by_key.items():
                c /= Fraction(values[key]) ** e
            out.append([c.numerator, c.denominator, dict(sorted(by_key.items()))])
        if any(x is not None for x in out):
            formulas[p] = out
    return formulas


def stacks_of(keys: list[str]) -> dict[str, int] | None:
    """Each module list's length (``{"model.layers": 32}``), when every layer holds the same names; else ``None``."""
    from paramcount.sources.architecture import expand, pattern

    lengths: dict[str, dict[str, int]] = {}
    for key in keys:
        parts = key.split(".")
        for j, part in enumerate(parts):
            if part.isdigit():
                concrete = ".".join(parts[:j])
                per = lengths.setdefault(pattern(concrete), {})
                per[concrete] = max(per.get(concrete, 0), int(part) + 1)
    stacks: dict[str, int] = {}
    for name, per in lengths.items():
        if len(set(per.values())) != 1:
            return None
        stacks[name] = next(iter(per.values()))
    patterns = sorted({pattern(k) for k in keys})
    if {n for p in patterns for n in expand(p, stacks)} != set(keys):
        return None
    return stacks


_PERTURBED: dict[tuple[str, str], dict[str, int] | None] = {}


def configured(cls: Any, config: Any, stack: str, length: int) -> list[str]:
    """The config.json key (a path: ``text_config.num_hidden_layers``, with its aliases) whose value is the length
    of ``stack``, found by building the class with each candidate key changed; ``[]`` when none is."""
    from paramcount.sources.hf import build, describe

    document = config.to_dict()
    value = 1 if length > 1 else 2
    found: list[str] = []
    for path in candidates(document, length)[:12]:
        key = (cls.__name__, path)
        if key not in _PERTURBED:
            changed = json.loads(json.dumps(document))
            *parents, leaf = path.split(".")
            place = changed
            for parent in parents:
                place = place[parent]
            for name, other in list(place.items()):  # per-layer lists (layer_types) follow the layer count
                if leaf != name and isinstance(other, list) and len(other) == length:
                    place[name] = other[:value] if value < length else other + other[-1:] * (value - length)
            place[leaf] = value
            try:
                _PERTURBED[key] = stacks_of(
                    describe(build(cls, config.__class__.from_dict(changed), "perturbed"))["keys"]
                )
            except Exception:  # the changed value is not a valid configuration: not this key
                _PERTURBED[key] = None
        stacks = _PERTURBED[key]
        if stacks is not None and stacks.get(stack) == value:
            found.append(path)
    if not found:
        return []
    path = found[0]
    *parents, leaf = path.split(".")
    owner = config
    for parent in parents:
        owner = getattr(owner, parent, None)
    aliases = [a for a, b in (getattr(owner, "attribute_map", None) or {}).items() if b == leaf]
    return [path] + [".".join([*parents, a]) for a in aliases]


def candidates(document: dict[str, Any], length: int) -> list[str]:
    """Config keys (one level into sub-configurations) whose value is ``length``, likeliest first."""
    found: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            found.extend(f"{key}.{k}" for k, v in value.items() if type(v) is int and v == length)
        elif type(value) is int and value == length:
            found.append(key)
    hints = ("layer", "depth", "expert", "block", "num_", "n_")
    return sorted(found, key=lambda k: (not any(h in k.rpartition(".")[2] for h in hints), k))


def model_type_file(model_type: str, names: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The table file of one model_type, and the classes that could not be described, with why."""
    import transformers
    from transformers.models.auto import modeling_auto

    from paramcount.sources.hf import quiet, text_config_tie

    config_class = transformers.CONFIG_MAPPING[model_type]
    with quiet():
        config = config_class()
    base = modeling_auto.MODEL_MAPPING_NAMES.get(model_type)
    document: dict[str, Any] = {
        "transformers": transformers.__version__,
        "model_type": model_type,
        "tie_word_embeddings": text_config_tie(config),
        "auto": base if isinstance(base, str) else None,
        "classes": {},
    }
    failed: list[tuple[str, str]] = []
    for name in names:
        cls = getattr(transformers, name, None)
        if cls is None:
            failed.append((name, "not exported by transformers"))
            continue
        try:
            document["classes"][name] = entry(cls, config)
        except Exception as e:  # report every class that cannot be built, keep going
            failed.append((name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]))
    return document, failed


#: the renames transformers applies to every class's checkpoints (``LayerNorm.gamma``), stored once; not a model_type
LEGACY = "legacy.rules.json"


def write_legacy(out: str) -> None:
    import transformers
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping

    from paramcount.sources.hf import transform_entry

    transforms = [transform_entry(t) for t in get_checkpoint_conversion_mapping("legacy") or []]  # type: ignore[no-untyped-call]
    if any(t is None for t in transforms):
        raise SystemExit(
            "transformers' legacy renames include a kind paramcount cannot replay: extend sources/loader.py"
        )
    with open(os.path.join(out, LEGACY), "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "transforms": transforms}, f, separators=(",", ":"))
        f.write("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model_types (default: all)")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    write_legacy(args.out)
    by_type = classes_by_model_type()
    wanted = args.only.split(",") if args.only else sorted(by_type)
    described = failed_count = 0
    for model_type in wanted:
        try:
            document, failed = model_type_file(model_type, by_type.get(model_type, []))
        except Exception as e:  # a config class that cannot be made with defaults
            print(f"{model_type}: config: {type(e).__name__}: {e}"[:240], file=sys.stderr)
            continue
        for name, why in failed:
            print(f"{model_type}: {name}: {why}", file=sys.stderr)
        failed_count += len(failed)
        if document["classes"]:
            described += len(document["classes"])
            with open(os.path.join(args.out, f"{model_type}.json"), "w", encoding="utf-8") as f:
                json.dump(document, f, separators=(",", ":"), sort_keys=True)
                f.write("\n")
    print(
        f"described {described} classes of {len(wanted)} model types, {failed_count} failed, "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
