"""The sections of a human-readable report, as cells of text; table.py and markdown.py lay them out."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.numbers import exact, human, human_bytes

if TYPE_CHECKING:
    from paramcount.report import ModuleRow, Report

__all__ = ["Section", "sections", "source_line"]


class Section(NamedTuple):
    """A titled table of text cells; ``numeric`` marks right-aligned columns."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]


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
    return line


def sections(report: Report, *, tree: bool) -> list[Section]:
    """Summary, modules, dtypes and tie groups, in reading order; empty sections are left out.

    Args:
        report: the report.
        tree: draw module paths as a tree (text) rather than as full dotted paths (markdown).
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
        labels = (
            _tree_labels(report.modules) if tree else [f"`{m.path}`" if m.path else "(root)" for m in report.modules]
        )
        rows: list[tuple[str, ...]] = []
        for label, m in zip(labels, report.modules, strict=True):
            shown = exact(m.parameters) + (f" + {m.uninitialized_tensors} lazy" if m.uninitialized_tensors else "")
            kind = m.type + (f" (same as {m.shared_with})" if m.shared_with is not None else "")
            rows.append((label, kind, shown, exact(m.own_parameters), exact(m.buffers)))
        depth = "all depths" if report.depth is None else f"depth \u2264 {report.depth}"
        result.append(
            Section(
                f"Modules ({depth}; shared tensors counted at their first owner)",
                ("module", "type", "parameters", "own", "buffers"),
                tuple(rows),
                (False, False, True, True, True),
            )
        )

    if report.by_dtype:
        rows = [
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
            )
        )

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
    return result


def _tree_labels(rows: tuple[ModuleRow, ...]) -> list[str]:
    """``├─ name`` / ``└─ name`` labels for pre-ordered rows with depths."""
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
        name = row.path.rpartition(".")[2]
        labels.append(stem + ("\u2514\u2500 " if last[i] else "\u251c\u2500 ") + name)
        open_levels.append(not last[i])
    return labels
