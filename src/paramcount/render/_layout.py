"""The sections of a human-readable report, as cells of text; table.py and markdown.py lay them out."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.numbers import exact, human, human_bytes
from paramcount.render._text import printable

if TYPE_CHECKING:
    from paramcount.report import ModuleRow, Report

__all__ = ["Section", "convention_rows", "memory", "sections", "share", "source_line", "trainability", "verification"]


class Section(NamedTuple):
    """A titled table of text cells; ``numeric`` marks right-aligned columns; ``optional`` lists the columns a
    narrow terminal may drop, first to drop first."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    optional: tuple[int, ...] = ()


def _count(n: int | None) -> tuple[str, str]:
    if n is None:
        return "unknown", ""
    return exact(n), human(n) if n >= 1000 else ""


def source_line(report: Report) -> str | None:
    """Where a remote target's numbers came from and what reading it cost, in one line; ``None`` for local ones."""
    src = report.source
    if src is None:
        return None
    where = src.repo or src.url
    at = f"@{src.revision} (commit {src.commit[:12]})" if src.commit else ""
    requests = f"{src.requests} request" + ("" if src.requests == 1 else "s")
    cost = f"{human_bytes(src.bytes_fetched)} fetched in {requests}"
    if src.cached_bytes:
        cost += f", {human_bytes(src.cached_bytes)} of headers from paramcount's cache"
    if src.offline:
        cost += ", offline"
    line = f"{src.kind}: {where}{at}, {cost}"
    if src.hub_parameters is not None:
        line += f"; the Hub's metadata says {exact(src.hub_parameters)} parameters"
    return printable(line)


def _shown(section: Section) -> Section:
    """``section`` with every cell safe for a terminal (names from files keep no control characters)."""
    return section._replace(
        title=printable(section.title),
        headers=tuple(printable(h) for h in section.headers),
        rows=tuple(tuple(printable(cell) for cell in row) for row in section.rows),
    )


def code(text: str) -> str:
    """``text`` as one Markdown code span, whatever backticks it holds (a fence longer than any run of them).

    >>> code("layers.0"), code("a`b")
    ('`layers.0`', '``a`b``')
    """
    longest = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def sections(report: Report, *, tree: bool, expand: bool = False, tensors: bool = False) -> list[Section]:
    """Summary, modules, dtypes and tie groups, in reading order; empty sections are left out.

    Args:
        report: the report.
        tree: draw module paths as a tree (text) rather than as full dotted paths (markdown).
        expand: show every block of a run of repeated blocks instead of one row for the run.
        tensors: add a section listing every stored or registered tensor.
    """
    p, b = report.parameters, report.buffers
    summary = [("Parameters", *_count(p.total)), ("  trainable", *_count(p.trainable)), ("  frozen", *_count(p.frozen))]
    if p.uninitialized_tensors:
        summary.append(("  uninitialized tensors", exact(p.uninitialized_tensors), "count unknown"))
        summary.append(("  initialized", *_count(p.initialized)))
    summary.append(("Buffers", *_count(b.total)))
    if b.tensors:
        summary.append(("  persistent", *_count(b.persistent)))
        summary.append(("  non-persistent", *_count(b.non_persistent)))
    if report.by_dtype:  # a memory estimate shows its own bytes instead
        parameter_bytes = sum(row.parameter_bytes for row in report.by_dtype)
        summary.append(("Parameter memory", human_bytes(parameter_bytes), ""))
    if report.distributed is not None:
        d = report.distributed
        stored = ", ".join(f"{human_bytes(r.bytes)}" for r in d.per_rank[:8]) + (" ..." if len(d.per_rank) > 8 else "")
        summary.append(("Distributed", f"{d.world_size} ranks", f"{d.scheme}; stored per rank: {stored}"))
    if report.quantization is not None:
        q = report.quantization
        summary.append(("Quantized", q.scheme, "logical parameters above; packed as stored:"))
        summary.append(("  stored", human_bytes(q.stored_bytes), f"overhead {human_bytes(q.overhead_bytes)}"))
    if report.tensors is not None:
        t = report.tensors
        summary.append(("Stored tensors", exact(t.count), f"{exact(t.elements)} elements, {human_bytes(t.bytes)}"))
    if report.verdict is not None:
        summary.append(("Verdict", report.verdict, ""))
    result = [Section("", ("", "", ""), tuple(summary), (False, True, True))]
    if report.memory is not None:
        result.extend(memory(report))
    if report.verification is not None:
        result.append(verification(report))
    if report.load is not None:
        result.append(load(report))
    if report.diff is not None:
        result.append(difference(report))

    if report.variants:
        files: list[tuple[str, ...]] = [
            (
                v.file + (" *" if v.counted else ""),
                v.quantization or "",
                exact(v.parameters),
                "" if v.stored_bytes is None else human_bytes(v.stored_bytes),
            )
            for v in report.variants
        ]
        result.append(
            Section(
                "Files (* counted above)",
                ("file", "type", "parameters", "stored"),
                tuple(files),
                (False, False, True, True),
            )
        )

    if report.modules:
        result.append(_modules(report, tree=tree, expand=expand))

    if report.by_dtype:
        rows: list[tuple[str, ...]] = [
            (
                d.dtype,
                exact(d.parameters),
                human_bytes(d.parameter_bytes),
                exact(d.buffers),
                human_bytes(d.buffer_bytes),
            )
            for d in report.by_dtype
        ]
        result.append(
            Section(
                "By dtype",
                ("dtype", "parameters", "bytes", "buffers", "buffer bytes"),
                tuple(rows),
                (False, True, True, True, True),
                optional=(4, 3),
            )
        )

    if report.roles:
        whole = report.parameters.initialized
        rows = [
            (r.role.replace("_", " "), exact(r.tensors), exact(r.parameters), share(r.parameters, whole))
            for r in report.roles
        ]
        result.append(
            Section("By role", ("role", "tensors", "parameters", "share"), tuple(rows), (False, True, True, True))
        )
    if report.conventions is not None and report.conventions.total is not None:
        result.append(_conventions(report))

    if report.excluded:
        rows = [(e.what, e.kind.value, exact(e.tensors), exact(e.elements), e.reason) for e in report.excluded]
        result.append(
            Section(
                "Stored but not counted as parameters",
                ("class", "kind", "tensors", "elements", "reason"),
                tuple(rows),
                (False, False, True, True, False),
            )
        )

    if tensors and report.records:
        result.append(_tensors(report))

    if report.tied:
        rows = [
            (" = ".join(g.names), g.kind.value, "unknown" if g.elements is None else exact(g.elements))
            for g in report.tied
        ]
        result.append(
            Section(
                "Tied tensors (counted once, for the first name)",
                ("names", "kind", "elements"),
                tuple(rows),
                (False, False, True),
            )
        )
    return [_shown(section) for section in result]


def _modules(report: Report, *, tree: bool, expand: bool) -> Section:
    """The module rows, with repeated blocks collapsed to one row each run unless ``expand``."""
    runs = {} if expand else report.runs()
    whole = report.parameters.total or report.parameters.initialized
    shown: list[ModuleRow] = []
    names: list[str] = []
    kinds: list[str] = []
    cells: list[tuple[str, ...]] = []
    hide_below = -1  # while > -1: skip rows deeper than this (the inside of a collapsed run)
    for i, m in enumerate(report.modules):
        if hide_below >= 0:
            if m.depth > hide_below:
                continue
            hide_below = -1
        run = runs.get(i)
        if run is not None and run.first != i:
            hide_below = m.depth
            continue
        last = m.path.rpartition(".")[2] if m.path else "(root)"
        kind = m.type + (f" (same as {m.shared_with})" if m.shared_with is not None else "")
        total, trainable, frozen = m.parameters, m.trainable, m.frozen
        if run is not None:
            hide_below = m.depth
            count = len(run.paths)
            final = run.paths[-1].rpartition(".")[2]
            last = f"{last}\u2013{final}"
            what = f"{count} \u00d7 {m.type}" if m.type else f"{count} blocks"
            kind = f"{what}, {exact(run.each)} each"
            total = run.each * count
            trainable = None if trainable is None else trainable * count
            frozen = None if frozen is None else frozen * count
        shown.append(m)
        names.append(last)
        kinds.append(kind)
        lazy = f" + {m.uninitialized_tensors} lazy" if m.uninitialized_tensors and run is None else ""
        cells.append(
            (
                exact(total) + lazy,
                share(total, whole),
                trainability(total, trainable, frozen),
                exact(m.own_parameters) if run is None else "",
                exact(m.buffers if run is None else m.buffers * len(run.paths)),
            )
        )
    if tree:
        labels = _tree_labels(tuple(shown), names)
    else:
        labels = []
        for m, name in zip(shown, names, strict=True):
            path = m.path.rpartition(".")[0] + "." + name if "." in m.path else name
            labels.append(code(printable(path)) if m.path else "(root)")
    rows = tuple((label, kind, *rest) for label, kind, rest in zip(labels, kinds, cells, strict=True))
    depth = "all depths" if report.depth is None else f"depth \u2264 {report.depth}"
    collapsed = "; repeated blocks collapsed, --expand shows each" if runs else ""
    return Section(
        f"Modules ({depth}; shared tensors counted at their first owner{collapsed})",
        ("module", "type", "parameters", "share", "trainable", "own", "buffers"),
        rows,
        (False, False, True, True, False, True, True),
        optional=(5, 6, 3),
    )


_FIGURES = {"total": "parameters", "trainable": "trainable", "frozen": "frozen", "buffers": "buffers"}


def verification(report: Report) -> Section:
    """What ``verify`` compared: each figure's expectation, the tolerance in effect, the count, the outcome."""
    rows = tuple(
        (
            _FIGURES.get(c.figure, c.figure),
            c.expected,
            f"\u00b1{exact(c.tolerance)}" if c.tolerance else "exact",
            "unknown" if c.actual is None else exact(c.actual),
            "ok" if c.passed else "FAILED",
        )
        for c in report.verification or ()
    )
    return _shown(
        Section(
            "Verification",
            ("figure", "expected", "tolerance", "counted", "result"),
            rows,
            (False, True, True, True, False),
        )
    )


_LISTED = 20  # names per problem in the table; the JSON has them all


def _listed(what: str, items: list[str]) -> list[tuple[str, str, str]]:
    """Rows naming ``items`` under ``what`` with their count (the first :data:`_LISTED` of them)."""
    if not items:
        return [(what, "0", "")]
    rows = [
        (what if i == 0 else "", f"{len(items):,}" if i == 0 else "", item) for i, item in enumerate(items[:_LISTED])
    ]
    if len(items) > _LISTED:
        rows.append(("", "", f"... and {len(items) - _LISTED:,} more (--format json lists all)"))
    return rows


def load(report: Report) -> Section:
    """What ``check`` found: would the weights load into the model, and every problem, named."""
    found = report.load
    assert found is not None
    rows: list[tuple[str, str, str]] = [
        ("loader", found.loader, ""),
        ("model", found.model or "unknown", ""),
        ("loads", "yes" if found.loads else "NO", ""),
    ]

    def names(what: str, items: list[str]) -> None:
        rows.extend(_listed(what, items))

    names("missing", list(found.missing_keys))
    names("unexpected", list(found.unexpected_keys))
    shape = "\u00d7".join
    names(
        "mismatched",
        [
            f"{m.name}: stored {shape(map(str, m.stored))}, model {shape(map(str, m.expected))}"
            for m in found.mismatched_keys
        ],
    )
    if not found.shapes_checked:
        rows.append(("", "", "shapes not checked: the model's shapes need transformers"))
    names("ignored at load", list(found.ignored_keys))
    rows.append(("renamed or fused", f"{found.converted_keys:,}", ""))
    names("dtype changes", [f"{n}: {a} -> {b}" for n, a, b in found.dtype_changes])
    return Section("Load check", ("", "", ""), tuple(rows), (False, True, False))


def difference(report: Report) -> Section:
    """What ``diff`` found: the tensors only one side holds, what changed, and each module's parameters."""
    found = report.diff
    assert found is not None
    a, b = found.parameters_a, found.parameters_b
    delta = "" if a is None or b is None else f"{b - a:+,}"
    rows: list[tuple[str, str, str]] = [
        ("A", "", found.a),
        ("B", "", found.b),
        ("same", "yes" if found.same else "NO", ""),
        ("parameters", delta, f"{'unknown' if a is None else exact(a)} -> {'unknown' if b is None else exact(b)}"),
    ]

    def names(what: str, items: list[str]) -> None:
        rows.extend(_listed(what, items))

    def shown(side: tuple[tuple[int, ...] | None, str | None]) -> str:
        shape = "?" if side[0] is None else "\u00d7".join(map(str, side[0])) or "scalar"
        return f"{shape} {side[1] or '?'}"

    names("only in A", list(found.only_in_a))
    names("only in B", list(found.only_in_b))
    names("changed", [f"{c.name}: {shown(c.a)} -> {shown(c.b)}" for c in found.changed])
    names(
        "modules",
        [
            f"{m.module}{f' (x{m.instances})' if m.instances > 1 else ''}: {exact(m.a)} -> {exact(m.b)} "
            f"({m.b - m.a:+,} each)"
            for m in found.modules
        ],
    )
    return Section("Diff", ("", "", ""), tuple(rows), (False, True, False))


def _tensors(report: Report) -> Section:
    """Every tensor record: name, shape, dtype, kind, role, trainability and stored bytes (``--tensors``)."""
    from paramcount.render.document import tensor_rows

    rows = []
    for r in tensor_rows(report):
        shape = "lazy" if r["shape"] is None else "\u00d7".join(str(d) for d in r["shape"]) or "scalar"
        trainable = "" if r["trainable"] is None else ("trainable" if r["trainable"] else "frozen")
        stored = "" if r["bytes"] is None else human_bytes(r["bytes"])
        rows.append((r["name"], shape, r["dtype"] or "", r["kind"], r["role"], trainable, stored))
    return Section(
        "Tensors",
        ("name", "shape", "dtype", "kind", "role", "trainable", "bytes"),
        tuple(rows),
        (False, True, False, False, False, False, True),
    )


def _conventions(report: Report) -> Section:
    """Each convention's figure with its formula named."""
    rows = [(name, *_count(value), formula) for name, value, formula in convention_rows(report)]
    return Section(
        "Conventions", ("convention", "parameters", "", "formula"), tuple(rows), (False, True, True, False), (3,)
    )


def convention_rows(report: Report) -> list[tuple[str, int | None, str]]:
    """The conventions every format shows, as ``(name, figure or None for unknown, formula)``: "active per token"
    only for a mixture of experts (with its figure when the configuration gives the experts per token)."""
    c = report.conventions
    assert c is not None
    rows: list[tuple[str, int | None, str]] = [
        ("total", c.total, "every parameter, once"),
        ("non-embedding", c.non_embedding, "total - every nn.Embedding: transformers' exclude_embeddings"),
        ("Kaplan N", c.kaplan_non_embedding, "total - token and position embeddings (Kaplan et al. 2020)"),
        ("trainable", c.trainable, "requires_grad"),
    ]
    if c.experts is not None:
        formula = f"all but the routed experts + {c.experts_per_token}/{c.experts} of them"
        rows.append(("active per token", c.active_per_token, formula))
    elif any(r.role == "routed_expert" for r in report.roles):
        rows.append(("active per token", None, "the configuration gives no experts per token"))
    return rows


def share(part: int, whole: int | None) -> str:
    """``part`` as a share of ``whole`` for every format: one decimal, ``<0.1%`` for a part too small to show
    (never ``0.0%`` for a part that holds parameters), empty when the whole is unknown or zero.

    >>> share(4_096, 8_030_261_248), share(0, 10), share(1, 3), share(5, None)
    ('<0.1%', '0.0%', '33.3%', '')
    """
    if not whole:
        return ""
    if part and part * 1000 < whole:
        return "<0.1%"
    return f"{part / whole:.1%}"


def trainability(total: int, trainable: int | None, frozen: int | None) -> str:
    """``trainable``, ``frozen``, ``partial 12%`` (the trainable share), or empty when unknown or empty."""
    if trainable is None or frozen is None or not total:
        return ""
    if not frozen:
        return "trainable"
    if not trainable:
        return "frozen"
    return f"partial {trainable / total:.0%}"


def _tree_labels(rows: tuple[ModuleRow, ...], names: list[str] | None = None) -> list[str]:
    """``├─ name`` / ``└─ name`` labels for pre-ordered rows with depths (``names``: the last part shown)."""
    last = [True] * len(rows)
    sibling_after: list[bool] = []  # by depth, scanning from the end: does a later sibling exist?
    for i in range(len(rows) - 1, -1, -1):
        d = rows[i].depth
        del sibling_after[d + 1 :]
        while len(sibling_after) <= d:
            sibling_after.append(False)
        last[i] = not sibling_after[d]
        sibling_after[d] = True
    labels = []
    open_levels: list[bool] = []  # by depth: is the ancestor at this depth followed by a sibling?
    for i, row in enumerate(rows):
        if row.depth == 0:
            labels.append("(root)")
            open_levels = [False]
            continue
        del open_levels[row.depth :]
        while len(open_levels) < row.depth:
            open_levels.append(False)
        stem = "".join("\u2502  " if is_open else "   " for is_open in open_levels[1:])
        name = names[i] if names is not None else row.path.rpartition(".")[2]
        labels.append(stem + ("\u2514\u2500 " if last[i] else "\u251c\u2500 ") + name)
        open_levels.append(not last[i])
    return labels


def memory(report: Report) -> list[Section]:
    """The memory estimate: bytes per device by kind and the fit (renderers list ``memory.assumptions`` after)."""
    m = report.memory
    if m is None:
        return []
    d = m.per_device
    if m.mode == "training":
        plan = f"training, {m.strategy} on {m.devices} device{'s' if m.devices > 1 else ''}, {m.optimizer}"
        plan += ", mixed precision" if d.master_weights else ""
        plan += ", DeepSpeed's convention" if m.convention == "deepspeed" else ""
    else:
        plan = f"inference on {m.devices} device{'s' if m.devices > 1 else ''}"
        plan += ", tensor parallel" if m.strategy == "tp" else ""
    if m.seq is not None:
        plan += f", batch {exact(m.batch)} \u00d7 {exact(m.seq)} tokens"
    parts = (
        ("weights", d.weights),
        ("buffers", d.buffers),
        ("gradients", d.gradients),
        ("optimizer states", d.optimizer),
        ("master weights", d.master_weights),
        ("gathered unit", d.gathered),
        ("KV cache", d.kv_cache),
        ("activations", d.activations),
    )
    rows: list[tuple[str, ...]] = []
    for name, value in parts:
        if value is None:  # training without measured activations: say so rather than show nothing
            if m.mode == "training":
                rows.append((name, "not counted", "", ""))
        elif value or name == "weights":
            rows.append((name, human_bytes(value), exact(value), share(value, d.total)))
    rows.append(("total", human_bytes(d.total), exact(d.total), ""))
    if m.capacity is not None:
        device = f"{m.device_name} ({human_bytes(m.capacity)})" if m.device_name else human_bytes(m.capacity)
        headroom = m.headroom or 0
        verdict = f"fits, {human_bytes(headroom)} free" if m.fits else f"does not fit: {human_bytes(-headroom)} over"
        rows.append((device, verdict, "", ""))
    section = Section(f"Memory per device: {plan}", ("", "", "bytes", "share"), tuple(rows), (False, True, True, True))
    return [_shown(section)]
