"""Records to Report: deduplicate, attribute, group and sum. Pure Python; tested with plain records.

The counting contract (DESIGN.md):

* a tensor is counted once however many names reach it; records with equal ``identity`` are one tensor;
* it is attributed to its first name in module order (the first record), and the other names form a tie group;
* buffers are counted apart from parameters and never added to them;
* a parameter whose shape is unknown (lazy) makes ``total`` unknown (``None``), never 0.

>>> from paramcount.records import Inventory, Kind, TensorRecord
>>> w = TensorRecord.of("emb.weight", "emb", Kind.PARAMETER, (100, 16), "float32", itemsize=4, identity="w")
>>> head = TensorRecord.of("head.weight", "head", Kind.PARAMETER, (100, 16), "float32", itemsize=4, identity="w")
>>> report = tally(Inventory(target="toy", tensors=(w, head)))
>>> report.parameters.total, report.tied[0].names
(1600, ('emb.weight', 'head.weight'))
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter, sub, xor

from paramcount._typing import TYPE_CHECKING
from paramcount.classify import REASONS
from paramcount.records import Inventory, Kind, ModuleRecord, Note, Role, TensorRecord
from paramcount.report import (
    BufferCounts,
    DtypeCount,
    Exclusion,
    ModuleRow,
    ParameterCounts,
    Quantization,
    Report,
    RoleCount,
    TensorCounts,
    TieGroup,
)
from paramcount.roles import ROLES, Roles, conventions

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

__all__ = ["tally"]

# Expanded views are listed by name in warnings up to this many; the rest are counted.
_MAX_NAMED_IN_WARNING = 5


def tally(inventory: Inventory, *, depth: int | None = None) -> Report:
    """Count an inventory.

    Args:
        inventory: what a source found.
        depth: keep module rows up to this depth (0 = root only); ``None`` keeps all. Totals never depend on it.

    Returns:
        The report.

    Raises:
        ValueError: the inventory lists modules but not the root module ``""`` first (a bug in its source).
    """
    if inventory.modules and inventory.modules[0].path != "":
        raise ValueError(
            f"the inventory of {inventory.target!r} lists modules starting with {inventory.modules[0].path!r}; a "
            "source must list the root module '' first (ModuleRecord('', type_name))"
        )
    sums = _Sums(inventory)
    modules = sums.module_rows()
    repeats = tuple(sums.repeats)
    roles = sums.roles()
    if depth is not None:
        kept = [i for i, row in enumerate(modules) if row.depth <= depth]
        modules = tuple(modules[i] for i in kept)
        if repeats:
            position = {old: new for new, old in enumerate(kept)}
            repeats = tuple((position[i], position[j]) for i, j in repeats if i in position)
    return Report(
        target=inventory.target,
        parameters=sums.parameters,
        buffers=sums.buffers,
        by_dtype=sums.dtype_counts(),
        tied=tuple(TieGroup(tuple(r.name for r in group), group[0].kind, group[0].elements) for group in sums.ties),
        modules=modules,
        warnings=inventory.warnings + sums.warnings(),
        notes=inventory.notes,
        records=inventory.tensors,
        depth=depth,
        format=inventory.format,
        files=inventory.files,
        tensors=None if inventory.format is None else sums.tensor_counts(inventory),
        excluded=() if inventory.format is None else sums.exclusions(),
        verdict=inventory.verdict,
        quantization=None if inventory.quantization is None else sums.quantization(inventory.quantization),
        architecture=inventory.architecture,
        adapter=inventory.adapter,
        source=inventory.source,
        variants=inventory.variants,
        repeats=repeats,
        roles=roles,
        conventions=conventions(
            sums.parameters.total,
            sums.parameters.trainable,
            {r.role: r.parameters for r in roles},
            inventory.experts,
        ),
        config=inventory.config,
        distributed=inventory.distributed,
    )


_MASK = (1 << 60) - 1  # fingerprints are kept to 60 bits so that the arithmetic stays on small integers
_LOOKAHEAD = 8  # module rows the owner search tries after the previous owner before it builds a dict


def _unique(records: tuple[TensorRecord, ...]) -> tuple[Sequence[TensorRecord], dict[int, list[TensorRecord]]]:
    """The first record of each tensor (records with equal identities are one), and the tie groups: the position of
    a tensor's first record among the first records -> all its records. One set of the identities says whether any
    two are equal: in most models none are."""
    keys = list(map(itemgetter(8), records))
    distinct = set(keys)
    if len(distinct) + (keys.count(None) - 1 if None in distinct else 0) == len(keys):
        return records, {}
    primaries: list[TensorRecord] = []
    first_of: dict[Hashable, int] = {}
    ties: dict[int, list[TensorRecord]] = {}
    for r, key in zip(records, keys, strict=True):
        if key is not None:
            first = first_of.setdefault(key, len(primaries))
            if first != len(primaries):
                ties.setdefault(first, [primaries[first]]).append(r)
                continue
        primaries.append(r)
    return primaries, ties


def _dtype_sums(primaries: Sequence[TensorRecord]) -> dict[str, _DtypeSums] | None:
    """Parameters and buffers by dtype, or ``None`` when the records have at most one dtype (the caller's sums are
    then that dtype's): a second pass over the records only for models that mix dtypes."""
    if len(set(map(itemgetter(5), primaries))) <= 1:
        return None
    dtypes: dict[str, _DtypeSums] = {}
    parameter, buffer = Kind.PARAMETER, Kind.BUFFER
    for r in primaries:
        kind, elements = r.kind, r.elements
        if elements is None or (kind is not parameter and kind is not buffer):
            continue
        row = dtypes.get(r.dtype)
        if row is None:
            row = dtypes[r.dtype] = _DtypeSums()
        if kind is parameter:
            row.parameters += elements
            row.parameter_bytes += r.stored_bytes or 0
        else:
            row.buffers += elements
            row.buffer_bytes += r.stored_bytes or 0
    return dtypes


class _DtypeSums:
    """What one dtype adds up to: logical elements and stored bytes, of parameters and of buffers."""

    __slots__ = ("buffer_bytes", "buffers", "parameter_bytes", "parameters")

    def __init__(self) -> None:
        self.parameters = self.parameter_bytes = self.buffers = self.buffer_bytes = 0


class _Excluded:
    """A class of stored tensors left out of the parameter count: its kind, how many, how many elements."""

    __slots__ = ("elements", "kind", "tensors")

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.tensors = self.elements = 0


class _Owned:
    """Per module position: parameters (all, trainable, frozen), buffer elements and lazy parameters attributed to
    the module itself. A parameter whose trainability is unknown (a file's) is in ``parameters`` only."""

    __slots__ = ("buffers", "frozen", "parameters", "signature", "trainable", "uninitialized")

    def __init__(self, count: int) -> None:
        self.signature = [0] * count  # a hash of the module's own tensors' shapes, dtypes, kinds, trainability
        self.parameters = [0] * count
        self.trainable = [0] * count
        self.frozen = [0] * count
        self.buffers = [0] * count
        self.uninitialized = [0] * count


class _Sums:
    """One pass over the records: deduplicate, attribute to modules, and sum by kind, trainability and dtype.

    A single loop over local variables, because a wide model has tens of thousands of records and the per-module
    report has to keep pace with bare sums (benchmarks/bench_modules.py); the results are kept in named fields.
    """

    def __init__(self, inventory: Inventory) -> None:
        modules = inventory.modules or _modules_from_names(inventory.tensors)
        paths = [m.path for m in modules]
        count = len(paths)
        position: dict[str, int] | None = None  # path -> first row, built only if the forward scan below misses
        owned = _Owned(count)
        own_parameters, own_buffers, own_uninitialized = owned.parameters, owned.buffers, owned.uninitialized
        own_trainable, own_frozen, own_signature = owned.trainable, owned.frozen, owned.signature
        primaries, ties = _unique(inventory.tensors)
        # Roles (paramcount.roles) are decided in this loop, once per kind of module (its type, its path without
        # layer indices) and tensor name, kept as the role's position: two list updates per parameter.
        role_index = {name: i for i, name in enumerate(ROLES)}
        role_tensors, role_elements = [0] * len(ROLES), [0] * len(ROLES)
        roles = Roles()
        decide, by_shape = roles.of, roles.by_shape
        kinds: dict[tuple[str, str], dict[str, int]] = {}
        decided: dict[str, int] | None = None
        cut = 0
        buffer_tensors = known_buffers = persistent = non_persistent = 0
        parameter_bytes = buffer_bytes = 0  # by dtype only where there are several (self.dtypes)
        trainable_unknown = frozen_unknown = persistence_unknown = False
        uninitialized: list[str] = []
        expanded: list[TensorRecord] = []
        excluded: dict[Role | Note | str, _Excluded] = {}
        overhead = 0
        parameter, buffer, auxiliary, quantized = Kind.PARAMETER, Kind.BUFFER, Kind.AUXILIARY, Note.QUANTIZED
        last_module: str | None = None
        owner = 0
        # Sums over the whole model (parameters, trainable, frozen, buffers) are the sums of the rows' own sums,
        # taken after the loop: one list update per tensor instead of two.
        for r in primaries:
            # One unpacking instead of a named-field lookup per use.
            name, module, kind, shape, elements, dtype, stored_elements, stored_bytes, _, trainable, persist, _ = r
            if kind is not parameter:
                # Grouped by role for the report's list of what a file's parameter count leaves out.
                what = r.notes[0] if r.notes else kind.value
                group = excluded.get(what)
                if group is None:
                    group = excluded[what] = _Excluded(kind)
                group.tensors += 1
                group.elements += elements or 0
                if kind is auxiliary:
                    overhead += stored_bytes or 0
                if kind is not buffer:
                    continue
            if module is not last_module:
                # Records come in module order and modules in pre-order, so the owner is nearly always the
                # previous owner or a few rows after it; a dict of every path is built only when it is not.
                # (Building and probing a dict of 200,000 paths cost a fifth of a count at that size: its
                # probes miss the cache, benchmarks/bench_modules.py, scaling.)
                last_module = module
                decided = None  # the module's kind, looked up at its first parameter
                stop = owner + _LOOKAHEAD if owner + _LOOKAHEAD < count else count
                while owner < stop and paths[owner] != module:
                    owner += 1
                if owner == stop:
                    if position is None:
                        position = {}
                        for i, path in enumerate(paths):
                            position.setdefault(path, i)
                    found = position.get(module)
                    if found is None:
                        # A source that names a module it did not list: count it at its nearest listed ancestor.
                        found = position[_nearest(module, position)]
                    owner = found
            own_signature[owner] += hash(shape) ^ hash(dtype)  # trainability and kind: in the row's own sums
            if kind is parameter:
                if elements is None:
                    # Uninitialized: trainable or frozen, its size unknown, so every sum it belongs to is unknown.
                    own_uninitialized[owner] += 1
                    uninitialized.append(name)
                    trainable_unknown = trainable_unknown or trainable is not False
                    frozen_unknown = frozen_unknown or trainable is not True
                    continue
                own_parameters[owner] += elements
                parameter_bytes += stored_bytes or 0
                if decided is None:
                    cut = len(module) + 1 if module else 0
                    decided = kinds.setdefault((modules[owner].type, module.translate(_DIGITS)[-80:]), {})
                tensor = name[cut:]
                role = decided.get(tensor)
                if role is None:
                    rank = None if shape is None else len(shape)
                    role = role_index[decide(modules[owner].type, module, tensor, rank)]
                    if not by_shape(modules[owner].type, module, tensor):  # else decided per shape, by Roles
                        decided[tensor] = role
                role_tensors[role] += 1
                role_elements[role] += elements
                if trainable is True:
                    own_trainable[owner] += elements
                elif trainable is False:
                    own_frozen[owner] += elements
                else:
                    trainable_unknown = frozen_unknown = True
            else:
                buffer_tensors += 1
                if elements is None or persist is None:
                    persistence_unknown = True
                if elements is None:
                    continue
                own_buffers[owner] += elements
                buffer_bytes += stored_bytes or 0
                known_buffers += 1
                if persist:
                    persistent += elements
                else:
                    non_persistent += elements
            if (
                stored_elements is not None
                and stored_elements < elements
                and quantized not in r.notes
                and Note.NOT_STORED not in r.notes
            ):
                expanded.append(r)

        self.modules = modules
        self.owned = owned
        self.primaries = primaries
        self.ties = [ties[first] for first in sorted(ties)]
        self.uninitialized = uninitialized
        self.role_tensors, self.role_elements = role_tensors, role_elements
        parameters = sum(own_parameters)
        dtypes = _dtype_sums(primaries)
        if dtypes is None:  # one dtype: the sums above are its sums
            dtypes = {}
            if sum(role_tensors) or known_buffers:
                row = dtypes[primaries[0].dtype] = _DtypeSums()
                row.parameters, row.parameter_bytes = parameters, parameter_bytes
                row.buffers, row.buffer_bytes = persistent + non_persistent, buffer_bytes
        self.dtypes = dtypes
        self.parameters = ParameterCounts(
            total=None if uninitialized else parameters,
            trainable=None if trainable_unknown else sum(own_trainable),
            frozen=None if frozen_unknown else sum(own_frozen),
            initialized=parameters,
            tensors=sum(role_tensors) + len(uninitialized),
            uninitialized_tensors=len(uninitialized),
        )
        self.buffers = BufferCounts(
            total=persistent + non_persistent,
            persistent=None if persistence_unknown else persistent,
            non_persistent=None if persistence_unknown else non_persistent,
            tensors=buffer_tensors,
        )
        self.expanded = expanded
        self.excluded = excluded
        self.overhead = overhead

    def tensor_counts(self, inventory: Inventory) -> TensorCounts:
        primaries = self.primaries
        storages = inventory.storages if inventory.storages is not None else len(primaries)
        stored = inventory.stored_bytes
        if stored is None:
            stored = sum(r.stored_bytes or 0 for r in primaries)
        elements = sum(r.elements for r in primaries if r.elements is not None)
        return TensorCounts(len(inventory.tensors), elements, storages, stored)

    def quantization(self, scheme: str) -> Quantization:
        parameter_bytes = sum(row.parameter_bytes for row in self.dtypes.values())
        return Quantization(scheme, self.parameters.total, parameter_bytes, self.overhead)

    def exclusions(self) -> tuple[Exclusion, ...]:
        found = []
        for what, group in self.excluded.items():
            reason = REASONS.get(what) if isinstance(what, Role) else None
            found.append(
                Exclusion(
                    what.value if isinstance(what, (Role, Note)) else what,
                    group.kind,
                    group.tensors,
                    group.elements,
                    reason or f"a {group.kind.value}, not a parameter",
                )
            )
        return tuple(found)

    def dtype_counts(self) -> tuple[DtypeCount, ...]:
        rows = [
            DtypeCount(dtype, row.parameters, row.parameter_bytes, row.buffers, row.buffer_bytes)
            for dtype, row in self.dtypes.items()
        ]
        rows.sort(key=lambda row: (-row.parameters, -row.buffers, row.dtype))
        return tuple(rows)

    def module_rows(self) -> tuple[ModuleRow, ...]:
        """Per-module rows; each unique tensor was attributed to its first owner only, so rows reconcile.

        Also sets ``self.repeats``: the rows whose next sibling is the same block (same type, tensors and children,
        compared by a fingerprint of the subtree; the same sums, trainable and frozen included; neither a reused
        module), which :meth:`paramcount.report.Report.runs` turns into runs.
        """
        modules = self.modules
        owned = self.owned
        own_parameters, own_buffers = owned.parameters, owned.buffers
        count = len(modules)
        # Sums that are known to be zero or derivable are not accumulated in the main pass: most models have no
        # lazy parameter, and every parameter of a live model is trainable or frozen (benchmarks/bench_modules.py).
        lazy = any(owned.uninitialized)
        known = self.parameters.trainable is not None and self.parameters.frozen is not None and not lazy
        parameters, uninitialized, frozen = own_parameters.copy(), owned.uninitialized.copy(), owned.frozen.copy()
        paths, type_names, parents, shared = zip(*modules, strict=False) if modules else ((), (), (), ())
        # Subtree sums that equal another or are all zero are not accumulated: a live model's parameters are
        # commonly all trainable, and a wide model's blocks commonly hold no buffer (benchmarks/bench_modules.py).
        trainable, buffers = owned.trainable, own_buffers
        if known and not self.parameters.frozen:
            trainable = parameters  # every parameter is trainable: the same sums, accumulated once below
        elif not known or self.parameters.trainable:
            trainable = _subtree_sums(trainable, parents)
        if any(buffers):
            buffers = _subtree_sums(buffers, parents)
        # A subtree's fingerprint mixes its type, its own tensors' signature and its children's fingerprints in
        # order (integer arithmetic: cheaper than hashing tuples, a wide model has 200,000 rows).
        own = list(map(xor, map(hash, type_names), owned.signature))  # a row's type and its own tensors
        below, fingerprints = [0] * count, [0] * count
        next_child = [-1] * count  # by parent: the child after the one being visited (the reverse pass's last)
        repeats: list[tuple[int, int]] = []
        mask = _MASK
        # Parents are listed before their children, so one reverse pass accumulates whole subtrees.
        for i in range(count - 1, 0, -1):
            fingerprint = fingerprints[i] = (own[i] ^ below[i] * 31) & mask
            parent = parents[i]
            if parent >= 0:
                below[parent] = (below[parent] * 1_000_003 + fingerprint) & mask
                after = next_child[parent]
                next_child[parent] = i
                # The subtrees of i and of its next sibling are complete: the same block also has the same sums
                # (the fingerprint leaves kinds and trainability out) and is not a reused module.
                if (
                    after >= 0
                    and fingerprints[after] == fingerprint
                    and parameters[i] == parameters[after]
                    and own_parameters[i] == own_parameters[after]
                    and buffers[i] == buffers[after]
                    and trainable[i] == trainable[after]
                    and shared[i] is None
                    and shared[after] is None
                ):
                    repeats.append((i, after))
                parameters[parent] += parameters[i]
        shown_trainable: list[int | None]
        shown_frozen: list[int | None]
        if known:  # every parameter is one or the other: a row's frozen count is what is not trainable
            shown_trainable = trainable  # type: ignore[assignment]
            shown_frozen = [0] * count if trainable is parameters else list(map(sub, parameters, trainable))
        else:  # a second pass for the sums a file's or a lazy model's rows need, and what they say of repeats
            for i in range(count - 1, 0, -1):
                parent = parents[i]
                if parent >= 0:
                    frozen[parent] += frozen[i]
                    uninitialized[parent] += uninitialized[i]
            repeats = [(i, j) for i, j in repeats if frozen[i] == frozen[j] and uninitialized[i] == uninitialized[j]]
            # Trainable and frozen are known only where every parameter of the subtree is one or the other.
            both = [
                t + f == p and not u for t, f, p, u in zip(trainable, frozen, parameters, uninitialized, strict=True)
            ]
            shown_trainable = [t if k else None for t, k in zip(trainable, both, strict=True)]
            shown_frozen = [f if k else None for f, k in zip(frozen, both, strict=True)]
        repeats.reverse()
        self.repeats = repeats
        # Depth is the number of dots plus one, the root's 0; named tuples built without their Python-level
        # __new__ (see sources/module.py), all in C: map over zip.
        depths = list(map(int.__add__, map(str.count, paths, repeat(".")), repeat(1)))
        if paths.count(""):  # the root; a source may list other rows at the root's path
            for i in (i for i, path in enumerate(paths) if not path) if paths.count("") > 1 else (paths.index(""),):
                depths[i] = 0
        columns = zip(
            paths, type_names, depths, parameters, own_parameters, buffers, uninitialized, shared, shown_trainable,
            shown_frozen, strict=True,
        )  # fmt: skip
        return tuple(map(tuple.__new__, repeat(ModuleRow), columns))

    def roles(self) -> tuple[RoleCount, ...]:
        """Parameters and tensors per role (:mod:`paramcount.roles`), in :data:`paramcount.roles.ROLES` order."""
        counts, sums = self.role_tensors, self.role_elements
        return tuple(RoleCount(name, counts[i], sums[i]) for i, name in enumerate(ROLES) if counts[i])

    def warnings(self) -> tuple[str, ...]:
        warnings = []
        if self.uninitialized:
            warnings.append(
                f"{len(self.uninitialized)} parameter tensor(s) are uninitialized (lazy modules: "
                f"{_names(self.uninitialized)}); their size is unknown until a forward pass materializes them, "
                "so the total is unknown"
            )
        if self.expanded:
            first = self.expanded[0]
            warnings.append(
                f"{len(self.expanded)} tensor(s) are expanded views that repeat stored values "
                f"({_names([r.name for r in self.expanded])}); they count their logical elements "
                f"({first.name!r}: {first.elements} logical over {first.stored_elements} stored)"
            )
        return tuple(warnings)


_DIGITS = str.maketrans("", "", "0123456789")


def _subtree_sums(own: list[int], parents: tuple[int, ...]) -> list[int]:
    """Each row's value plus its descendants' (rows list parents before children)."""
    sums = own.copy()
    for i in range(len(sums) - 1, 0, -1):
        parent = parents[i]
        if parent >= 0:
            sums[parent] += sums[i]
    return sums


def _nearest(path: str, known: dict[str, int]) -> str:
    """``path`` or its closest ancestor among ``known``; :func:`tally` made sure the root ``""`` is known."""
    while path not in known:
        path = path.rpartition(".")[0]
    return path


def _modules_from_names(records: tuple[TensorRecord, ...]) -> tuple[ModuleRecord, ...]:
    """Module paths implied by dotted tensor owners, parents first, for sources without module structure."""
    position: dict[str, int] = {"": 0}
    modules = [ModuleRecord("", "")]
    for r in records:
        path = r.module
        if path in position:
            continue
        unseen = []  # the path and its ancestors up to the first one already listed ("" always is)
        while path not in position:
            unseen.append(path)
            path = path.rpartition(".")[0]
        parent = position[path]
        for path in reversed(unseen):
            position[path] = len(modules)
            modules.append(ModuleRecord(path, "", parent))
            parent = position[path]
    return tuple(modules)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMED_IN_WARNING])
    hidden = len(names) - _MAX_NAMED_IN_WARNING
    return f"{shown} and {hidden} more" if hidden > 0 else shown
