"""transformers' loading rules replayed on tensor names, without torch: what ``from_pretrained`` does with each key.

transformers 5 does not load a checkpoint name for name. Each stored key is first renamed by the class's weight
transforms (:mod:`transformers.conversion_mapping`: legacy ``gamma``/``beta``, moved prefixes, Mixtral's per-expert
``w1``/``w3`` collected into one fused ``gate_up_proj``), then given or stripped the base model's prefix, and only
then looked up in the model's state dict. After loading, ties fill the names a checkpoint stores once, and the
class's ``_keys_to_ignore_on_load_missing`` / ``_keys_to_ignore_on_load_unexpected`` (plus the stale
``rotary_emb.inv_freq`` and ``position_ids`` buffers of older checkpoints) are removed from the report.

``make architectures`` records each class's transforms in the table exactly as transformers builds them (the
processed source and target patterns, scopes and prefixes); this module compiles them the same way and applies them
in the same order (:func:`load`), so that a count and ``paramcount check`` name the keys transformers would. The
tests compare :func:`load` with ``from_pretrained(..., output_loading_info=True)`` on real folders.
"""

from __future__ import annotations

import re

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.records import index_value

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

__all__ = ["ConversionError", "Loaded", "Rules", "Transform", "converted_shape", "load", "natural_key", "rules_of"]

#: the transform kinds the table may hold (transformers' class names in the comments)
KINDS = frozenset(
    {
        "rename",  # WeightRenaming, PrefixChange
        "convert",  # WeightConverter: many stored keys collected into one (fused experts), or one split in several
        "group",  # GroupWeightRename: paired renames activated by their first pattern
        "offset",  # Inkling2IndexOffsetWeightRename: a rename that shifts the captured layer index
        "pairs",  # LayerPairCollapse: attention and MLP blocks stored as alternate layers
    }
)


class Transform(NamedTuple):
    """One of transformers' weight transforms, as the table stores it (patterns already processed)."""

    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    scope: str | None = None
    base: str | None = None
    offset: int = 0
    ops: tuple[tuple[str, tuple[int, ...]], ...] = ()


class _Compiled:
    """A :class:`Transform` with its regular expression built as ``WeightTransform.__init__`` builds it."""

    __slots__ = ("_pattern", "_regex", "active", "base", "bodies", "kind", "offset", "scope", "sources", "targets")

    def __init__(self, transform: Transform) -> None:
        self.kind = transform.kind
        self.sources = transform.sources
        self.targets = transform.targets
        self.scope = transform.scope
        self.base = transform.base
        self.offset = transform.offset
        self.active = False
        branches = []
        self.bodies: list[str] = []
        # longest first: a key is matched by the first branch that matches
        for i, source in sorted(enumerate(self.sources), key=lambda item: -len(item[1])):
            body = source.replace("*.", r".*\.")
            last = body.removesuffix("\n")[-1:]  # re.search(r"[a-zA-Z0-9]$", body), whose $ passes a final newline
            if last.isascii() and last.isalnum():
                body += r"(?!\w)"  # a pattern ends on a name boundary: `weight` is not `weight_scale`
            branches.append(f"(?P<g{i}>{body})")
            self.bodies.append(body)
        self._pattern = "|".join(branches)
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled expression, made on first use: most checkpoints hold no name any transform matches, which
        one search of all their patterns at once tells (:func:`load`), and compiling each costs more than that."""
        if self._regex is None:
            self._regex = re.compile(self._pattern)
        return self._regex

    def _scoped(self, key: str) -> tuple[str | None, str, re.Match[str]] | None:
        prefix = None
        if self.scope is not None:
            scope = f"{self.scope}." if self.scope else ""
            base = f"{self.base}." if self.base else ""
            if key.startswith(base + scope):
                prefix = base + scope
            elif key.startswith(scope):
                prefix = scope
            else:
                return None
            key = key.removeprefix(prefix)
        found = self.regex.search(key)
        return None if found is None else (prefix, key, found)

    def rename(self, key: str) -> tuple[str, str | None]:
        """``(renamed key, the source pattern that matched)``, or ``(key, None)``: ``rename_source_key``."""
        if self.kind == "pairs":
            return self._pairs(key)
        scoped = self._scoped(key)
        if scoped is None:
            return key, None
        prefix, rest, found = scoped
        group = next(name for name, value in found.groupdict().items() if value is not None)
        index = int(group[1:])
        if self.kind == "group":
            if index == 0:
                self.active = True
            elif not self.active:
                return key, None
            replacement = self.targets[index]
            if re.search(r"\\\d", replacement):
                start = self.regex.groupindex[group]
                replacement = re.sub(r"\\(\d+)", lambda m: found.group(start + int(m.group(1))) or "", replacement)
        elif self.kind == "offset":
            captured = found.group(self.regex.groupindex[group] + 1) or "0"
            replacement = self.targets[0].replace(r"\1", str(int(captured) + self.offset))
            index = int(group[1:])
        else:
            replacement = self.targets[0]
            if r"\1" in replacement:
                replacement = replacement.replace(r"\1", found.group(self.regex.groupindex[group] + 1) or "")
        renamed = rest.replace(found.group(0), replacement, 1)
        return (prefix or "") + renamed, self.sources[index]

    _PAIR = r"layers\.(\d+)\.(mixer|attn_alpha|mlp_alpha)(?=\.|$)"  # compiled (and cached by re) on first use

    def _pairs(self, key: str) -> tuple[str, str | None]:
        found = re.search(self._PAIR, key)
        if found is None:
            return key, None
        index, name = int(found[1]), found[2]
        name = {"attn_alpha": "lambda_1", "mlp_alpha": "lambda_2"}.get(name, ("self_attn", "mlp")[index % 2])
        return key[: found.start()] + f"layers.{index // 2}.{name}" + key[found.end() :], self.sources[0]


class Rules(NamedTuple):
    """What transformers' loader of one class does with stored names.

    Attributes:
        prefix: the base model's attribute (``"model"``), added to or stripped from keys as the model needs.
        transforms: the weight transforms, in transformers' order (renamings before converters at load).
        ignore_missing: regular expressions of model keys never reported missing.
        ignore_unexpected: regular expressions of stored keys never reported unexpected (with the stale
            ``rotary_emb.inv_freq`` / ``position_ids`` patterns where the model has such buffers).
        tie_keys: ``(target, source)`` pairs of model keys tied at load, in the model's order; as layer-index
            patterns (:func:`paramcount.sources.architecture.pattern`) or exact names.
    """

    prefix: str
    transforms: tuple[Transform, ...] = ()
    ignore_missing: tuple[str, ...] = ()
    ignore_unexpected: tuple[str, ...] = ()
    tie_keys: tuple[tuple[str, str], ...] = ()


def rules_of(entry: Mapping[str, Any], legacy: Sequence[Mapping[str, Any]] = ()) -> Rules:
    """The :class:`Rules` of a table entry (``legacy``: the transforms every class shares, stored once)."""
    transforms = [_transform(t) for t in entry.get("transforms", ())]
    if entry.get("legacy", True):
        transforms.extend(_transform(t) for t in legacy)
    return Rules(
        prefix=str(entry.get("prefix") or ""),
        transforms=tuple(transforms),
        ignore_missing=tuple(entry.get("ignore_missing", ())),
        ignore_unexpected=tuple(entry.get("ignore_unexpected", ())),
        tie_keys=tuple((str(a), str(b)) for a, b in entry.get("tie_keys", ())),
    )


def _transform(data: Mapping[str, Any]) -> Transform:
    return Transform(
        kind=str(data["kind"]),
        sources=tuple(data["sources"]),
        targets=tuple(data["targets"]),
        scope=data.get("scope"),
        base=data.get("base"),
        offset=int(data.get("offset", 0)),
        ops=tuple((str(name), tuple(int(a) for a in args)) for name, *args in data.get("ops", ())),
    )


class ConversionError(ValueError):
    """A converter's collected tensors do not fit together (transformers reports the target missing)."""


def converted_shape(
    ops: Sequence[tuple[str, tuple[int, ...]]],
    collected: Mapping[str, list[tuple[int, ...]]],
    expected: Sequence[int | None] | None = None,
) -> tuple[int, ...] | None:
    """The shape a converter makes of the shapes it collected (per source pattern, in load order), for the ops
    paramcount can follow (stacking experts, concatenating, transposing); ``None`` for any other.

    Raises:
        ConversionError: the collected tensors cannot be stacked or concatenated (an expert missing, or of another
            shape): transformers' conversion fails on them too.

    >>> converted_shape([("MergeModulelist", (0,)), ("Concatenate", (1,))], {"w1": [(4, 8)] * 3, "w3": [(4, 8)] * 3})
    (3, 8, 8)
    """
    shapes: list[tuple[int, ...]] | None = None
    groups = [list(v) for v in collected.values()]
    for name, args in ops:
        dim = args[0] if args else 0
        if name == "MergeModulelist":
            if any(len(set(g)) != 1 for g in groups):
                raise ConversionError("tensors of different shapes cannot be stacked")
            shapes = [(*g[0][:dim], len(g), *g[0][dim:]) for g in groups]
            groups = [[shape] for shape in shapes]
        elif name == "Concatenate":
            flat = [shape for g in groups for shape in g]
            rest = {shape[:dim] + shape[dim + 1 :] for shape in flat}
            if not flat or len(rest) != 1 or any(len(shape) <= dim for shape in flat):
                raise ConversionError("tensors of different shapes cannot be concatenated")
            first = flat[0]
            groups = [[(*first[:dim], sum(shape[dim] for shape in flat), *first[dim + 1 :])]]
        elif name == "Transpose" and len(args) in (2, 3):
            swapped = []
            for g in groups:
                out = []
                for shape in g:
                    if len(args) == 3:  # check_dims: a tensor already of the model's shape is not transposed
                        if expected is None or any(e is None for e in expected):
                            return None
                        if tuple(shape) == tuple(expected):
                            out.append(shape)
                            continue
                    as_list = list(shape)
                    as_list[args[0]], as_list[args[1]] = as_list[args[1]], as_list[args[0]]
                    out.append(tuple(as_list))
                swapped.append(out)
            groups = swapped
        else:
            return None
    flat = [shape for g in groups for shape in g]
    return flat[0] if len(flat) == 1 else None


def natural_key(name: str) -> list[tuple[Any, ...]]:
    """transformers' sort key for state-dict names (``dot_natural_key``): the order keys are renamed in.

    >>> sorted(["layers.10.w", "layers.2.w", "shard_11", "shard_2"], key=natural_key)
    ['layers.2.w', 'layers.10.w', 'shard_2', 'shard_11']
    """
    parts: list[tuple[Any, ...]] = []
    for part in name.split("."):
        if part.isdecimal():  # transformers' isdigit() fails on int("²"): such a part is sorted as text here
            parts.append((0, index_value(part)))
        else:
            text = part.rstrip("0123456789")
            digits = part[len(text) :]
            parts.append((1, text, index_value(digits)) if digits else (1, text))
    return parts


class Loaded(NamedTuple):
    """What the loader does with a set of stored names.

    Attributes:
        keys: for each stored name, the model keys it loads into (``()``: none; a fused converter's first target
            carries all its sources).
        unexpected: model-spelled keys the loader reports unexpected, before the ignore rules.
        converted: stored names a converter collected, with the converter and the source pattern that matched.
    """

    keys: dict[str, tuple[str, ...]]
    unexpected: dict[str, tuple[str, ...]]
    converted: dict[str, tuple[Transform, str]]


def load(names: Iterable[str], rules: Rules, expected: Callable[[str], bool]) -> Loaded:
    """Rename every stored name as ``convert_and_load_state_dict_in_model`` does.

    ``expected(key)`` says whether the model's state dict has ``key``.
    """
    compiled = [_Compiled(t) for t in rules.transforms]
    renamings = [c for c in compiled if c.kind != "convert"]
    converters = [c for c in compiled if c.kind == "convert"]
    # Most names match no transform: one search of all their patterns at once tells, where every transform is an
    # unscoped plain rename or converter (a name none of them matches is left as it is by each in turn).
    plain = all(c.kind in ("rename", "convert") and c.scope is None for c in compiled)
    anything = re.compile("|".join(f"(?:{b})" for c in compiled for b in c.bodies)) if plain and compiled else None
    by_pattern = {source: c for c in converters for source in c.sources}
    keys: dict[str, tuple[str, ...]] = {}
    unexpected: dict[str, tuple[str, ...]] = {}
    converted: dict[str, tuple[Transform, str]] = {}
    transform_of = {id(c): t for c, t in zip(compiled, rules.transforms, strict=True)}
    # transformers renames in natural order; only a group rename's state depends on it
    ordered = sorted(names, key=natural_key) if any(c.kind == "group" for c in compiled) else names
    for original in ordered:
        if anything is not None and anything.search(original) is None:
            renamed, source = _rename(original, [], [], rules.prefix, expected)
        else:
            renamed, source = _rename(original, renamings, converters, rules.prefix, expected)
        found = expected(renamed)
        if not found and expected(original):
            renamed, source = _rename(original, [], [], rules.prefix, expected)
            found = expected(renamed)
        converter = by_pattern.get(source) if source is not None else None
        targets: tuple[str, ...] = (renamed,)
        if converter is not None:
            targets = tuple(dict.fromkeys(renamed.replace(converter.targets[0], t) for t in converter.targets))
            converted[original] = (transform_of[id(converter)], source or "")
        if found:
            keys[original] = targets
        else:
            keys[original] = ()
            unexpected[original] = targets
    return Loaded(keys, unexpected, converted)


_STRIPS: dict[str, re.Pattern[str]] = {}


def _strip(prefix: str) -> re.Pattern[str]:
    found = _STRIPS.get(prefix)
    if found is None:
        found = _STRIPS[prefix] = re.compile(f"^{prefix}.")
    return found


def _stripped(prefix: str, key: str) -> str:
    """``re.sub(f"^{prefix}.", "", key, count=1)`` for a ``key`` that starts with ``prefix``."""
    if _PLAIN_PREFIX.fullmatch(prefix) is None:
        return _strip(prefix).sub("", key, count=1)
    return key[len(prefix) + 1 :] if len(key) > len(prefix) and key[len(prefix)] != "\n" else key


_PLAIN_PREFIX = re.compile(r"[A-Za-z0-9_.]*")


def _rename(
    key: str,
    renamings: list[_Compiled],
    converters: list[_Compiled],
    prefix: str,
    expected: Callable[[str], bool],
) -> tuple[str, str | None]:
    renamed = key
    for renaming in renamings:
        renamed, _ = renaming.rename(renamed)
    source = None
    for converter in converters:
        renamed, source = converter.rename(renamed)
        if source is not None:
            break
    # as transformers writes it (re.sub(f"^{prefix}.", "", key)): the prefix's dot is a regular expression's "any
    # character"; a prefix of names and dots that the key starts with is stripped with that character by slicing
    if renamed.startswith(prefix) and expected(stripped := _stripped(prefix, renamed)):
        renamed = stripped
    elif expected(f"{prefix}.{renamed}"):
        renamed = f"{prefix}.{renamed}"
    return renamed, source
