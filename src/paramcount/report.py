"""The Report: what the tally concluded, as integers, tuples and records. Renderers turn it into text.

Every figure a renderer shows is a field here; nothing in this module formats a number.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.records import INDEX_DIGITS

if TYPE_CHECKING:
    from typing import Any

    from paramcount.footprint import Memory
    from paramcount.records import Adapter, Architecture, Diff, Kind, Load, Source, TensorRecord, Variant
    from paramcount.roles import Conventions

__all__ = [
    "SCHEMA_VERSION",
    "BufferCounts",
    "Check",
    "Distributed",
    "DtypeCount",
    "Exclusion",
    "ModuleRow",
    "ParameterCounts",
    "Quantization",
    "RankStorage",
    "Report",
    "RoleCount",
    "Run",
    "TensorCounts",
    "TieGroup",
]


class ParameterCounts(NamedTuple):
    """Unique parameters, counted in logical elements.

    Attributes:
        total: all parameters; ``None`` when some are uninitialized (their count is unknown).
        trainable: parameters with ``requires_grad``; ``None`` when unknowable.
        frozen: parameters without ``requires_grad``; ``None`` when unknowable.
        initialized: parameters whose count is known (equals ``total`` when nothing is uninitialized).
        tensors: unique parameter tensors, initialized or not.
        uninitialized_tensors: lazy parameters whose shape is not known yet.
    """

    total: int | None
    trainable: int | None
    frozen: int | None
    initialized: int
    tensors: int
    uninitialized_tensors: int


class BufferCounts(NamedTuple):
    """Unique buffers, never added to parameters.

    Attributes:
        total: elements in all buffers whose shape is known.
        persistent: elements in buffers saved by ``state_dict``; ``None`` when unknowable.
        non_persistent: elements in buffers left out of ``state_dict``; ``None`` when unknowable.
        tensors: unique buffer tensors.
    """

    total: int
    persistent: int | None
    non_persistent: int | None
    tensors: int


class DtypeCount(NamedTuple):
    """Parameters and buffers of one dtype: logical elements and the bytes stored for them."""

    dtype: str
    parameters: int
    parameter_bytes: int
    buffers: int
    buffer_bytes: int


class TieGroup(NamedTuple):
    """Every name that reaches one tensor; the tensor is counted once, for ``names[0]``.

    Attributes:
        names: all names, first owner first.
        kind: the role of the tensor (its first name's role).
        elements: logical elements of the tensor (``None`` if uninitialized).
    """

    names: tuple[str, ...]
    kind: Kind
    elements: int | None


class ModuleRow(NamedTuple):
    """One module path. Rows reconcile: ``own_parameters`` over all rows sums to ``parameters.total``.

    A named tuple, like the records, because a wide model has one per module (see ``TensorRecord``).

    Attributes:
        path: dotted module path (``""`` is the root).
        type: class name.
        depth: 0 for the root, 1 for its children, ...
        parameters: parameters attributed to this module and its descendants.
        own_parameters: parameters attributed to this module itself.
        buffers: buffer elements attributed to this module and its descendants.
        uninitialized_tensors: lazy parameters in this subtree.
        shared_with: the first path of the same module object when it is reused, else ``None``; a reused
            module's tensors are attributed to that first path, so this row counts 0 for them.
        trainable: parameters of the subtree with ``requires_grad``; ``None`` when unknowable (files).
        frozen: parameters of the subtree without ``requires_grad``; ``None`` when unknowable.
    """

    path: str
    type: str
    depth: int
    parameters: int
    own_parameters: int
    buffers: int
    uninitialized_tensors: int = 0
    shared_with: str | None = None
    trainable: int | None = None
    frozen: int | None = None


class TensorCounts(NamedTuple):
    """Every stored tensor of a file, whatever its role.

    Attributes:
        count: stored entries (names).
        elements: elements of unique tensors (views of one storage counted once).
        unique_storages: distinct storages.
        bytes: bytes of unique tensors as stored.
    """

    count: int  # type: ignore[assignment]  # shadows tuple.count on purpose: the JSON key is "count"
    elements: int
    unique_storages: int
    bytes: int


class Exclusion(NamedTuple):
    """A class of stored tensors left out of the parameter count, and why."""

    what: str
    kind: Kind
    tensors: int
    elements: int
    reason: str


class Quantization(NamedTuple):
    """A quantized model's three figures.

    Attributes:
        scheme: what was found (``"gptq 4-bit"``, ``"bitsandbytes nf4"``, ``"fp8"``).
        logical_parameters: parameters the model has: packed weights counted by their unquantized shapes.
        stored_bytes: bytes the parameters occupy as stored (packed).
        overhead_bytes: bytes of quantization auxiliaries (scales, zero points, absmax, group indices, quant maps).
    """

    scheme: str
    logical_parameters: int | None
    stored_bytes: int
    overhead_bytes: int


class RankStorage(NamedTuple):
    """What one rank of a distributed model stores: elements and bytes of the unique tensors in its memory."""

    rank: int
    stored_elements: int
    bytes: int


class Distributed(NamedTuple):
    """How a distributed model's count was gathered.

    Attributes:
        world_size: ranks in the process group.
        scheme: sharding found (``"dtensor"``, ``"deepspeed-zero3"``, ``"pipeline"``, ``"replicated"``).
        per_rank: each rank's storage, in rank order.
    """

    world_size: int
    scheme: str
    per_rank: tuple[RankStorage, ...]


class Check(NamedTuple):
    """One figure :func:`paramcount.verify` compared.

    Attributes:
        figure: ``"total"``, ``"trainable"``, ``"frozen"`` or ``"buffers"``.
        expected: the expectation as written (``"124.4M"``).
        expected_value: its value.
        tolerance: the allowed difference in effect (the written precision, or ``--tolerance``).
        actual: the counted figure; ``None`` when unknown.
        passed: whether ``actual`` is within ``tolerance`` of ``expected_value``.
    """

    figure: str
    expected: str
    expected_value: int
    tolerance: int
    actual: int | None
    passed: bool


class RoleCount(NamedTuple):
    """Parameters of one role (:mod:`paramcount.roles`): unique tensors and their logical elements."""

    role: str
    tensors: int
    parameters: int


class Run(NamedTuple):
    """Consecutive numbered siblings that are the same block: one type, the same tensors (shapes, dtypes, kinds,
    trainability) in the same order, no ties — ``layers.0`` to ``layers.31``.

    Attributes:
        first: the row index of the first block in ``report.modules``.
        paths: every block's path, in order.
        each: parameters of one block.
    """

    first: int
    paths: tuple[str, ...]
    each: int


class Report:
    """The answer for one target. ``to_dict()`` gives the JSON document (schema version 1).

    Attributes:
        target: how the target was named.
        parameters: parameter counts.
        buffers: buffer counts.
        by_dtype: per-dtype parameters, buffers and bytes, sorted by parameters, largest first.
        tied: tie groups (tensors reached by more than one name), in module order.
        modules: module rows in pre-order, limited to ``depth`` when one was asked for.
        warnings: counting hazards found (uninitialized parameters, expanded views, ...).
        notes: how the target was read (device, wrappers removed).
        records: every tensor record the source produced, in order.
        depth: the module depth the rows were limited to, or ``None`` for all.
        format: the file format read, ``None`` for a live model.
        files: the files read.
        tensors: counts over every stored tensor (files only).
        excluded: stored tensors left out of ``parameters``, by class, with reasons (files only).
        verdict: ``"ok"`` or ``"untrusted"`` (files only).
        quantization: logical parameters, stored and overhead bytes of a quantized model; ``None`` otherwise.
        distributed: world size, scheme and per-rank storage of a model counted across a process group.
        architecture: how a model folder's stored tensors were matched with its configuration's architecture
            (class, how it was chosen, matched, unexpected and missing names); ``None`` without a configuration.
        adapter: a PEFT adapter's method, rank, targets, and its figures beside its base model's.
        source: where a remote target's numbers came from: repository, commit, files, bytes fetched, requests.
        variants: each of several files that hold the same model (a GGUF repository's quantizations).
        verification: what :func:`paramcount.verify` compared, figure by figure; ``None`` for a plain count.
        roles: parameters by role (embedding, attention, MLP, routed and shared experts, router, norm, head, other).
        conventions: total, non-embedding (transformers' and Kaplan's), trainable and active parameters per token.
        repeats: pairs of module rows, a row and its next sibling, that are the same block (the same type, and the
            same tensor shapes, dtypes, kinds and trainability throughout its subtree, by a fingerprint the tally
            computed, and the same sums; neither row a reused module); the raw material of :meth:`runs`. Internal;
            not in the JSON.
        config: the model's configuration when the target has one (a live model's config object, a folder's or
            repository's ``config.json`` document); what :func:`paramcount.memory` reads attention geometry from.
            Not in the JSON.
        memory: bytes per device for inference or training (:func:`paramcount.memory`); ``None`` for a count.
        load: what loading the weights into a model would do (:func:`paramcount.check`); ``None`` otherwise.
        diff: how this model's tensors differ from another's (:func:`paramcount.diff`); ``None`` otherwise.

    Immutable. A plain class with slots rather than a frozen dataclass: importing :mod:`dataclasses` and building
    the classes costs about 30 ms, a quarter of counting a 70B checkpoint's headers (benchmarks/bench_files.py).
    The small summaries above are named tuples for the same reason.
    """

    __slots__ = (
        "adapter",
        "architecture",
        "buffers",
        "by_dtype",
        "config",
        "conventions",
        "depth",
        "diff",
        "distributed",
        "excluded",
        "files",
        "format",
        "load",
        "memory",
        "modules",
        "notes",
        "parameters",
        "quantization",
        "records",
        "repeats",
        "roles",
        "source",
        "target",
        "tensors",
        "tied",
        "variants",
        "verdict",
        "verification",
        "warnings",
    )
    target: str
    parameters: ParameterCounts
    buffers: BufferCounts
    by_dtype: tuple[DtypeCount, ...]
    tied: tuple[TieGroup, ...]
    modules: tuple[ModuleRow, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    records: tuple[TensorRecord, ...]
    depth: int | None
    format: str | None
    files: tuple[str, ...]
    tensors: TensorCounts | None
    excluded: tuple[Exclusion, ...]
    verdict: str | None
    quantization: Quantization | None
    distributed: Distributed | None
    architecture: Architecture | None
    adapter: Adapter | None
    source: Source | None
    variants: tuple[Variant, ...]
    verification: tuple[Check, ...] | None
    repeats: tuple[tuple[int, int], ...]
    roles: tuple[RoleCount, ...]
    conventions: Conventions | None
    config: object
    memory: Memory | None
    load: Load | None
    diff: Diff | None

    def __init__(
        self,
        *,
        target: str,
        parameters: ParameterCounts,
        buffers: BufferCounts,
        by_dtype: tuple[DtypeCount, ...],
        tied: tuple[TieGroup, ...],
        modules: tuple[ModuleRow, ...],
        warnings: tuple[str, ...],
        notes: tuple[str, ...],
        records: tuple[TensorRecord, ...],
        depth: int | None = None,
        format: str | None = None,
        files: tuple[str, ...] = (),
        tensors: TensorCounts | None = None,
        excluded: tuple[Exclusion, ...] = (),
        verdict: str | None = None,
        quantization: Quantization | None = None,
        distributed: Distributed | None = None,
        architecture: Architecture | None = None,
        adapter: Adapter | None = None,
        source: Source | None = None,
        variants: tuple[Variant, ...] = (),
        verification: tuple[Check, ...] | None = None,
        repeats: tuple[tuple[int, int], ...] = (),
        roles: tuple[RoleCount, ...] = (),
        conventions: Conventions | None = None,
        config: object = None,
        memory: Memory | None = None,
        load: Load | None = None,
        diff: Diff | None = None,
    ) -> None:
        values = locals()
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Report is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Report is immutable: cannot delete {name!r}")

    def replace(self, **changes: Any) -> Report:
        """A copy with some fields changed."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        return Report(**(fields | changes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Report):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # holds lists of rows; equal reports need not hash alike

    def runs(self) -> dict[int, Run]:
        """Repeated blocks among the module rows: each block's row index -> its run (runs of 2 or more).

        A run is consecutive siblings named by consecutive integers (``layers.0``, ``layers.1``, ...), each the same
        block as the next, none a reused module, none holding a tied tensor. The cost is one step per repeated
        row, not per row.
        """
        rows = self.modules
        start_of: dict[int, int] = {}  # a block -> the first block of its chain of equal siblings
        for i, j in self.repeats:  # the tally checked each pair: same fingerprint and sums, no reused module
            start_of[j] = start_of.get(i, i)
            start_of.setdefault(i, i)
        chains: dict[int, list[int]] = {}
        for i, first in start_of.items():
            chains.setdefault(first, []).append(i)
        tied = [name for group in self.tied for name in group.names]
        found: dict[int, Run] = {}
        for block in chains.values():
            block.sort()
            for part in _numbered(rows, block):
                paths = tuple(rows[i].path for i in part)
                if tied and any(name.startswith(path + ".") for path in paths for name in tied):
                    continue  # a tie inside a block makes it unlike its neighbours
                run = Run(part[0], paths, rows[part[0]].parameters)
                for i in part:
                    found[i] = run
        return found

    def __str__(self) -> str:
        """The report as the command line's table (all module rows the report holds, repeated blocks collapsed)."""
        from paramcount.render import render

        return render(self, "table")

    def _repr_html_(self) -> str:
        """The report in a notebook: summary, collapsible module tree, dtypes, ties and warnings."""
        from paramcount.render.html import fragment

        return fragment(self)

    def show(self) -> None:
        """Display the report: as HTML in a Jupyter notebook, as the table anywhere else."""
        import sys

        shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":  # a notebook kernel
            from IPython.display import HTML, display

            display(HTML(self._repr_html_()))
        else:
            from paramcount.render._text import encodable

            sys.stdout.write(encodable(str(self), getattr(sys.stdout, "encoding", None)))

    def __repr__(self) -> str:
        total = self.parameters.total
        return f"Report(target={self.target!r}, parameters.total={total!r}, format={self.format!r})"

    def to_dict(self, *, tensors: bool = False) -> dict[str, Any]:
        """The JSON document for this report (``schema_version`` 2): the only place its keys are spelled.

        Keys listed in the README keep their meaning across releases; new keys may be added.

        Args:
            tensors: add ``tensors.list``, one entry per tensor record (:func:`tensor_rows`).

        Returns:
            A dict of plain JSON values (dicts, lists, ints, strings, ``None``); ``json.dumps`` writes it as is.
        """
        from paramcount._gc import collection_paused

        with collection_paused():
            document = _document(self)
            if tensors:
                document.setdefault("tensors", {})["list"] = tensor_rows(self)
            return document


#: The version of the JSON document :meth:`Report.to_dict` returns. 2 added module rows' ``trainable``,
#: ``frozen``, ``share`` and ``run``, and ``verification``; every key of version 1 keeps its meaning.
SCHEMA_VERSION = 2


def _index(name: str) -> bool:
    """Whether a module's name is a list index (a long run of digits is a name, not a number to subtract)."""
    return name.isdecimal() and len(name) <= INDEX_DIGITS


def _numbered(rows: tuple[ModuleRow, ...], block: list[int]) -> list[list[int]]:
    """A chain of equal siblings split into runs named by consecutive integers (``0``, ``1``, ...), 2 or more long;
    one comparison of the first and last names when, as in a ModuleList, they are consecutive already."""
    names = [rows[i].path.rpartition(".")[2] for i in block]
    if all(_index(name) for name in names) and int(names[-1]) - int(names[0]) == len(block) - 1:
        return [block]
    parts: list[list[int]] = []
    current: list[int] = []
    previous: int | None = None
    for i, name in zip(block, names, strict=True):
        number = int(name) if _index(name) else None
        if number is None or previous is None or number != previous + 1:
            if len(current) > 1:
                parts.append(current)
            current = [] if number is None else [i]
        else:
            current.append(i)
        previous = number
    if len(current) > 1:
        parts.append(current)
    return parts


def _module_rows(report: Report) -> list[dict[str, Any]]:
    whole = report.parameters.total or report.parameters.initialized
    scale = 1_000_000 / whole if whole else 0.0
    # Unpacked by position (ModuleRow's field order) rather than read by name: one row per module.
    rows: list[dict[str, Any]] = [
        {
            "path": path,
            "type": type_name,
            "depth": depth,
            "parameters": total,
            "own_parameters": own,
            "buffers": buffers,
            "uninitialized_tensors": lazy,
            "shared_with": shared_with,
            "trainable": trainable,
            "frozen": frozen,
            "share": int(total * scale + 0.5) / 1_000_000 if whole else None,  # six decimals
            "run": None,
        }
        for path, type_name, depth, total, own, buffers, lazy, shared_with, trainable, frozen in report.modules
    ]
    for i, run in report.runs().items():  # blocks of runs only: a few rows of most models
        rows[i]["run"] = {"first": run.paths[0], "count": len(run.paths)}
    return rows


def _memory(m: Memory) -> dict[str, Any]:
    """The ``memory`` block: the plan, bytes per device by kind, the KV cache and activations, the fit."""
    d = m.per_device
    return {
        "mode": m.mode,
        "devices": m.devices,
        "strategy": m.strategy,
        "optimizer": m.optimizer,
        "precision": m.precision,
        "convention": m.convention,
        "batch": m.batch,
        "seq": m.seq,
        "per_device": {
            "weights": d.weights,
            "buffers": d.buffers,
            "gradients": d.gradients,
            "optimizer": d.optimizer,
            "master_weights": d.master_weights,
            "gathered": d.gathered,
            "kv_cache": d.kv_cache,
            "activations": d.activations,
            "total": d.total,
        },
        "kv_cache": None
        if m.kv is None
        else {
            "bytes": m.kv.bytes,
            "bytes_per_token": m.kv.per_token,
            "layers": m.kv.layers,
            "layer_kinds": m.kv.kinds,
            "dtype": m.kv.dtype,
            "latent": m.kv.latent,
        },
        "activations": None
        if m.activations is None
        else {
            "bytes": m.activations.bytes,
            "tensors": m.activations.tensors,
            "attention": list(m.activations.attention),
            "dtype": m.activations.dtype,
        },
        "capacity": m.capacity,
        "device_name": m.device_name,
        "fits": m.fits,
        "headroom": m.headroom,
        "assumptions": list(m.assumptions),
    }


def _document(report: Report) -> dict[str, Any]:
    p, b = report.parameters, report.buffers
    doc = {
        "schema_version": SCHEMA_VERSION,
        "target": report.target,
        "parameters": {
            "total": p.total,
            "trainable": p.trainable,
            "frozen": p.frozen,
            "uninitialized_tensors": p.uninitialized_tensors,
            "initialized": p.initialized,
            "tensors": p.tensors,
        },
        "buffers": {
            "total": b.total,
            "persistent": b.persistent,
            "non_persistent": b.non_persistent,
            "tensors": b.tensors,
        },
        "by_dtype": {
            row.dtype: {
                "parameters": row.parameters,
                "bytes": row.parameter_bytes,
                "buffers": row.buffers,
                "buffer_bytes": row.buffer_bytes,
            }
            for row in report.by_dtype
        },
        "tied": [{"names": list(g.names), "parameters": g.elements, "kind": g.kind.value} for g in report.tied],
        "modules": _module_rows(report),
        "depth": report.depth,
        "warnings": list(report.warnings),
        "notes": list(report.notes),
    }
    if report.format is not None:
        doc["format"] = report.format
        doc["files"] = list(report.files)
        if report.tensors is not None:
            t = report.tensors
            doc["tensors"] = {
                "count": t.count,
                "elements": t.elements,
                "unique_storages": t.unique_storages,
                "bytes": t.bytes,
            }
        doc["excluded"] = [
            {"what": e.what, "kind": e.kind.value, "tensors": e.tensors, "elements": e.elements, "reason": e.reason}
            for e in report.excluded
        ]
        doc["verdict"] = report.verdict
    if report.distributed is not None:
        d = report.distributed
        doc["distributed"] = {
            "world_size": d.world_size,
            "scheme": d.scheme,
            "per_rank": [{"rank": r.rank, "stored_elements": r.stored_elements, "bytes": r.bytes} for r in d.per_rank],
        }
    if report.architecture is not None:
        a = report.architecture
        doc["architecture"] = {
            "class": a.name,
            "model_type": a.model_type,
            "chosen_by": a.chosen,
            "source": a.source,
            "matched": a.matched,
            "unexpected": {"count": len(a.unexpected), "names": list(a.unexpected)},
            "missing": {"count": len(a.missing), "names": list(a.missing)},
            "tied_copies": {"count": len(a.tied_copies), "names": list(a.tied_copies)},
            "ignored": {"count": len(a.ignored), "names": list(a.ignored)},
            "converted": a.converted,
        }
    if report.adapter is not None:
        ad = report.adapter
        doc["adapter"] = {
            "method": ad.method,
            "rank": ad.rank,
            "alpha": ad.alpha,
            "target_modules": list(ad.target_modules),
            "modules_to_save": list(ad.modules_to_save),
            "base": ad.base,
            "adapter_parameters": ad.adapter_parameters,
            "base_parameters": ad.base_parameters,
            "saved_copies": list(ad.saved_copies),
            "peft_trainable": ad.peft_trainable,
            "peft_all": ad.peft_all,
        }
    if report.quantization is not None:
        q = report.quantization
        doc["quantization"] = {
            "scheme": q.scheme,
            "logical_parameters": q.logical_parameters,
            "stored_bytes": q.stored_bytes,
            "overhead_bytes": q.overhead_bytes,
        }
    if report.roles:
        doc["roles"] = {r.role: {"tensors": r.tensors, "parameters": r.parameters} for r in report.roles}
    if report.conventions is not None:
        c = report.conventions
        doc["conventions"] = {
            "total": c.total,
            "non_embedding": c.non_embedding,
            "kaplan_non_embedding": c.kaplan_non_embedding,
            "trainable": c.trainable,
            "active_per_token": c.active_per_token,
            "experts_per_token": c.experts_per_token,
            "experts": c.experts,
        }
    if report.memory is not None:
        doc["memory"] = _memory(report.memory)
    if report.load is not None:
        doc["load"] = _load(report.load)
    if report.diff is not None:
        doc["diff"] = _diff(report.diff)
    if report.verification is not None:
        doc["verification"] = {
            "passed": all(c.passed for c in report.verification),
            "checks": [
                {
                    "figure": c.figure,
                    "expected": c.expected,
                    "expected_value": c.expected_value,
                    "tolerance": c.tolerance,
                    "actual": c.actual,
                    "passed": c.passed,
                }
                for c in report.verification
            ],
        }
    if report.variants:
        doc["variants"] = [
            {
                "file": v.file,
                "format": v.format,
                "quantization": v.quantization,
                "parameters": v.parameters,
                "stored_bytes": v.stored_bytes,
                "counted": v.counted,
            }
            for v in report.variants
        ]
    if report.source is not None:
        s = report.source
        doc["source"] = {
            "kind": s.kind,
            "url": s.url,
            "repo": s.repo,
            "revision": s.revision,
            "commit": s.commit,
            "files": list(s.files),
            "bytes_fetched": s.bytes_fetched,
            "requests": s.requests,
            "cached_bytes": s.cached_bytes,
            "offline": s.offline,
            "hub_parameters": s.hub_parameters,
            "alternatives": list(s.alternatives),
        }
    return doc


def _load(load: Load) -> dict[str, Any]:
    """The ``load`` block of ``paramcount check``."""
    return {
        "loader": load.loader,
        "class": load.model,
        "missing_keys": list(load.missing_keys),
        "unexpected_keys": list(load.unexpected_keys),
        "mismatched_keys": [
            {"name": m.name, "stored": list(m.stored), "expected": list(m.expected)} for m in load.mismatched_keys
        ],
        "ignored_keys": list(load.ignored_keys),
        "converted_keys": load.converted_keys,
        "dtype_changes": [{"name": n, "stored": a, "loaded": b} for n, a, b in load.dtype_changes],
        "shapes_checked": load.shapes_checked,
        "loads": load.loads,
    }


def _diff(diff: Diff) -> dict[str, Any]:
    """The ``diff`` block of ``paramcount diff``."""

    def side(shape: tuple[int, ...] | None, dtype: str | None) -> dict[str, Any]:
        return {"shape": None if shape is None else list(shape), "dtype": dtype}

    a, b = diff.parameters_a, diff.parameters_b
    return {
        "a": diff.a,
        "b": diff.b,
        "only_in_a": list(diff.only_in_a),
        "only_in_b": list(diff.only_in_b),
        "changed": [{"name": c.name, "a": side(*c.a), "b": side(*c.b)} for c in diff.changed],
        "parameters": {"a": a, "b": b, "delta": None if a is None or b is None else b - a},
        "modules": [
            {"module": m.module, "instances": m.instances, "a": m.a, "b": m.b, "delta": m.b - m.a} for m in diff.modules
        ],
        "strict_dtype": diff.strict_dtype,
        "same": diff.same,
    }


def tensor_rows(report: Report) -> list[dict[str, Any]]:
    """Every tensor record as a row (``--tensors``): name, shape (``None`` while lazy), dtype, kind, role (a
    parameter's role in the model, or why a tensor is not a parameter), trainable (``None`` when unknowable),
    elements and stored bytes."""
    from paramcount.roles import Roles

    types = {m.path: m.type for m in report.modules}
    roles = Roles()
    rows = []
    for r in report.records:
        if r.kind.value == "parameter":
            module, _, tensor = r.name.rpartition(".")
            role = roles.of(types.get(r.module, ""), module, tensor, None if r.shape is None else len(r.shape))
        else:
            first = r.notes[0] if r.notes else None
            role = first.value if first is not None and hasattr(first, "value") else r.kind.value
            role = str(role)
        rows.append(
            {
                "name": r.name,
                "shape": None if r.shape is None else list(r.shape),
                "dtype": r.dtype,
                "kind": r.kind.value,
                "role": role,
                "trainable": r.trainable if r.kind.value == "parameter" else None,
                "elements": r.elements,
                "bytes": r.stored_bytes,
            }
        )
    return rows
