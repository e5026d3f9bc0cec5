"""The JSON document, schema version 1: the only place its keys are spelled.

Keys listed in the README keep their meaning across releases; new keys may be added.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["SCHEMA_VERSION", "document", "render"]

SCHEMA_VERSION = 1


def document(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (dicts, lists, ints, strings, ``None``)."""
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
        "modules": [
            {
                "path": m.path,
                "type": m.type,
                "depth": m.depth,
                "parameters": m.parameters,
                "own_parameters": m.own_parameters,
                "buffers": m.buffers,
                "uninitialized_tensors": m.uninitialized_tensors,
                "shared_with": m.shared_with,
            }
            for m in report.modules
        ],
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
    if report.quantization is not None:
        q = report.quantization
        doc["quantization"] = {
            "scheme": q.scheme,
            "logical_parameters": q.logical_parameters,
            "stored_bytes": q.stored_bytes,
            "overhead_bytes": q.overhead_bytes,
        }
    return doc


def render(report: Report) -> str:
    """The JSON document as text: one top-level key per line, one list item (a module, a tie) per line.

    Each line is encoded by the C encoder; ``indent=2`` would route a 50,000-module document through the
    pure-Python encoder, which took half of a file count's time (benchmarks/bench_files.py).
    """
    lines = []
    for key, value in document(report).items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
