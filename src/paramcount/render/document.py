"""The JSON document of a report: the one place its keys are spelled (``schema_version`` 2).

Most blocks are a record's own fields (tuples as lists, enumerations as their values), with the few keys
:data:`RENAMED` lists; the few blocks that are shaped differently from any record (module rows, dtypes and roles
keyed by name, the load and diff verdicts) are written out below. ``schema/report.schema.json`` describes the
document; ``tests/test_cli.py`` validates every document the tests make against it.

Keys listed in the documentation keep their meaning across releases; new keys may be added.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from paramcount.records import Architecture, Diff, Load
    from paramcount.report import Report

__all__ = ["SCHEMA_VERSION", "document", "plain", "tensor_rows"]

#: The version of the JSON document. 2 added module rows' ``trainable``, ``frozen``, ``share`` and ``run``, and
#: ``verification``; every key of version 1 keeps its meaning.
SCHEMA_VERSION = 2

#: the document's key of each field it renames, by record (by class name, so that writing a document imports none of
#: the modules that define them); every other field keeps its name, and a new field comes in by itself
RENAMED: dict[str, dict[str, str]] = {
    "TieGroup": {"elements": "parameters"},
    "KVCache": {"per_token": "bytes_per_token", "kinds": "layer_kinds"},
    "Memory": {"kv": "kv_cache"},
}
#: the fields of the records whose document lists them in another order than the record (schema version 1's)
ORDER: dict[str, tuple[str, ...]] = {
    "ParameterCounts": ("total", "trainable", "frozen", "uninitialized_tensors", "initialized", "tensors"),
    "TieGroup": ("names", "elements", "kind"),
}

_SCALARS = frozenset({int, str, float, bool, type(None)})


def plain(value: Any) -> Any:
    """``value`` as plain JSON values: a record as a dict (:data:`RENAMED`, :data:`ORDER`), a tuple as a list, an
    enumeration as its value; dicts keep their keys."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, tuple):
        fields = getattr(value, "_fields", None)
        if fields is None:
            return [plain(v) for v in value]
        name = type(value).__name__
        renamed = RENAMED.get(name, {})
        return {renamed.get(field, field): plain(getattr(value, field)) for field in ORDER.get(name, fields)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return plain(value.value)  # an enumeration (Kind, Role)


def document(report: Report, *, tensors: bool = False) -> dict[str, Any]:
    """The JSON document of ``report``; with ``tensors``, ``tensors.list`` holds every tensor record."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "target": report.target,
        "parameters": plain(report.parameters),
        "buffers": plain(report.buffers),
        "by_dtype": {
            row.dtype: {
                "parameters": row.parameters,
                "bytes": row.parameter_bytes,
                "buffers": row.buffers,
                "buffer_bytes": row.buffer_bytes,
            }
            for row in report.by_dtype
        },
        "tied": plain(report.tied),
        "modules": _module_rows(report),
        "depth": report.depth,
        "warnings": list(report.warnings),
        "notes": list(report.notes),
    }
    if report.format is not None:
        doc["format"] = report.format
        doc["files"] = list(report.files)
        if report.tensors is not None:
            doc["tensors"] = plain(report.tensors)
        doc["excluded"] = plain(report.excluded)
        doc["verdict"] = report.verdict
    for key in ("distributed", "architecture", "adapter", "quantization"):
        value = getattr(report, key)
        if value is not None:
            doc[key] = _architecture(value) if key == "architecture" else plain(value)
    if report.roles:
        doc["roles"] = {r.role: {"tensors": r.tensors, "parameters": r.parameters} for r in report.roles}
    for key in ("conventions", "memory"):
        value = getattr(report, key)
        if value is not None:
            doc[key] = plain(value)
    if report.load is not None:
        doc["load"] = _load(report.load)
    if report.diff is not None:
        doc["diff"] = _diff(report.diff)
    if report.verification is not None:
        doc["verification"] = {
            "passed": all(c.passed for c in report.verification),
            "checks": plain(report.verification),
        }
    if report.variants:
        doc["variants"] = plain(report.variants)
    if report.source is not None:
        doc["source"] = plain(report.source)
    if tensors:
        doc.setdefault("tensors", {})["list"] = tensor_rows(report)
    return doc


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


def _architecture(a: Architecture) -> dict[str, Any]:
    """The ``architecture`` block: the class the rules came from, and the names each rule set aside."""
    return {
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


def _load(load: Load) -> dict[str, Any]:
    """The ``load`` block of ``paramcount check``."""
    return {
        "loader": load.loader,
        "class": load.model,
        "missing_keys": list(load.missing_keys),
        "unexpected_keys": list(load.unexpected_keys),
        "mismatched_keys": plain(load.mismatched_keys),
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
