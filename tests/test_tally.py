"""The tally on plain records: no torch, every rule of the counting contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paramcount.records import Inventory, Kind, ModuleRecord, Note, TensorRecord
from paramcount.tally import tally

P, B = Kind.PARAMETER, Kind.BUFFER


def rec(
    name: str,
    shape: tuple[int, ...] | None,
    *,
    kind: Kind = P,
    identity: object = None,
    trainable: bool | None = True,
    persistent: bool | None = None,
    dtype: str = "float32",
    itemsize: float = 4,
) -> TensorRecord:
    module = name.rpartition(".")[0]
    return TensorRecord.of(
        name,
        module,
        kind,
        shape,
        dtype,
        itemsize=itemsize,
        identity=identity if identity is not None else name,
        trainable=trainable if kind is P else None,
        persistent=persistent,
    )


def test_ties_count_once_and_are_attributed_to_the_first_name() -> None:
    records = (
        rec("emb.weight", (100, 16), identity="w"),
        rec("norm.weight", (16,)),
        rec("head.weight", (100, 16), identity="w"),
    )
    report = tally(Inventory("toy", records))
    assert report.parameters.total == 1616
    assert [(g.names, g.elements) for g in report.tied] == [(("emb.weight", "head.weight"), 1600)]
    own = {row.path: row.own_parameters for row in report.modules}
    assert own == {"": 0, "emb": 1600, "norm": 16, "head": 0}


def test_records_without_identity_are_never_merged() -> None:
    a = TensorRecord.of("a", "", P, (3,), "float32", itemsize=4, identity=None, trainable=True)
    report = tally(Inventory("toy", (a, a)))
    assert report.parameters.total == 6
    assert report.tied == ()


def test_buffers_are_counted_apart_and_split_by_persistence() -> None:
    records = (
        rec("bn.weight", (8,)),
        rec("bn.running_mean", (8,), kind=B, persistent=True),
        rec("bn.num_batches_tracked", (), kind=B, persistent=True, dtype="int64", itemsize=8),
        rec("mask", (4, 4), kind=B, persistent=False),
    )
    report = tally(Inventory("toy", records))
    assert report.parameters.total == 8
    assert (report.buffers.total, report.buffers.persistent, report.buffers.non_persistent) == (25, 9, 16)
    assert {d.dtype: (d.parameters, d.buffers, d.buffer_bytes) for d in report.by_dtype} == {
        "float32": (8, 24, 96),
        "int64": (0, 1, 8),
    }


def test_unknown_persistence_makes_the_split_unknown_but_not_the_total() -> None:
    report = tally(Inventory("toy", (rec("x", (4,), kind=B, persistent=None),)))
    assert (report.buffers.total, report.buffers.persistent, report.buffers.non_persistent) == (4, None, None)


def test_uninitialized_parameter_makes_the_total_unknown_never_zero() -> None:
    records = (rec("stem.weight", (4, 4)), rec("head.weight", None), rec("head.bias", None))
    report = tally(Inventory("toy", records))
    p = report.parameters
    assert (p.total, p.trainable, p.frozen, p.initialized, p.uninitialized_tensors) == (None, None, 0, 16, 2)
    assert any("uninitialized" in w for w in report.warnings)
    head = next(row for row in report.modules if row.path == "head")
    assert (head.parameters, head.uninitialized_tensors) == (0, 2)
    root = report.modules[0]
    assert root.uninitialized_tensors == 2


def test_unknown_trainability_makes_the_split_unknown() -> None:
    report = tally(Inventory("file", (rec("w", (10,), trainable=None),)))
    assert (report.parameters.total, report.parameters.trainable, report.parameters.frozen) == (10, None, None)


def test_frozen_and_trainable_add_up() -> None:
    records = (rec("a.w", (10,), trainable=False), rec("b.w", (5,)))
    p = tally(Inventory("toy", records)).parameters
    assert (p.total, p.trainable, p.frozen) == (15, 5, 10)


def test_module_rows_reconcile_with_explicit_modules_and_reuse() -> None:
    modules = (
        ModuleRecord("", "Net"),
        ModuleRecord("enc", "Seq", 0),
        ModuleRecord("enc.0", "Linear", 1),
        ModuleRecord("dec", "Seq", 0),
        ModuleRecord("dec.0", "Linear", 3, shared_with="enc.0"),
    )
    records = (rec("enc.0.weight", (4, 4)), rec("enc.0.bias", (4,)))
    report = tally(Inventory("toy", records, modules))
    rows = {row.path: (row.parameters, row.own_parameters, row.shared_with) for row in report.modules}
    assert rows == {
        "": (20, 0, None),
        "enc": (20, 0, None),
        "enc.0": (20, 20, None),
        "dec": (0, 0, None),
        "dec.0": (0, 0, "enc.0"),
    }


def test_modules_are_derived_from_names_when_the_source_has_none() -> None:
    records = (rec("a.b.c.weight", (2, 3)), rec("a.x", (5,)), rec("top", (1,)))
    report = tally(Inventory("toy", records))
    assert [(row.path, row.depth, row.parameters) for row in report.modules] == [
        ("", 0, 12),
        ("a", 1, 11),
        ("a.b", 2, 6),
        ("a.b.c", 3, 6),
    ]
    assert sum(row.own_parameters for row in report.modules) == report.parameters.total


def test_a_record_naming_an_unlisted_module_counts_at_its_nearest_ancestor() -> None:
    modules = (ModuleRecord("", "Net"), ModuleRecord("a", "Seq", 0))
    report = tally(Inventory("toy", (rec("a.ghost.weight", (3,)),), modules))
    assert {row.path: row.own_parameters for row in report.modules} == {"": 0, "a": 3}


def test_owners_are_found_far_from_the_previous_record_and_backwards() -> None:
    """The owner search looks a few rows past the previous owner first; records that jump further, or back to an
    earlier module, must land on the same rows as a dict of every path would give them."""
    modules = (ModuleRecord("", "Net"), *(ModuleRecord(f"m{i}", "Linear", 0) for i in range(30)))
    order = [29, 0, 17, 3, 3, 28, 1, 2, 12, 0]
    records = tuple(rec(f"m{i}.w{j}", (i + 1,)) for j, i in enumerate(order))
    report = tally(Inventory("toy", records, modules))
    expected = {f"m{i}": 0 for i in range(30)}
    for i in order:
        expected[f"m{i}"] += i + 1
    assert {row.path: row.own_parameters for row in report.modules if row.path} == expected
    assert report.modules[0].parameters == sum(i + 1 for i in order)


@pytest.mark.parametrize(
    ("depth", "paths"), [(0, [""]), (1, ["", "a"]), (None, ["", "a", "a.b"])], ids=["0", "1", "all"]
)
def test_depth_limits_rows_not_totals(depth: int | None, paths: list[str]) -> None:
    report = tally(Inventory("toy", (rec("a.b.w", (7,)),)), depth=depth)
    assert [row.path for row in report.modules] == paths
    assert report.parameters.total == 7
    assert report.modules[0].parameters == 7


def test_expanded_views_count_logical_elements_and_warn() -> None:
    record = TensorRecord("t", "", P, (1000, 16), 16_000, "float32", 16, 64, "t", True, None, (Note.EXPANDED,))
    report = tally(Inventory("toy", (record,)))
    assert report.parameters.total == 16_000
    assert report.by_dtype[0].parameter_bytes == 64
    assert any("expanded" in w and "16000 logical over 16 stored" in w for w in report.warnings)


def test_warnings_from_the_source_come_first() -> None:
    report = tally(Inventory("toy", (rec("w", None),), warnings=("from source",)))
    assert report.warnings[0] == "from source"
    assert len(report.warnings) == 2


def test_by_dtype_is_sorted_by_parameters() -> None:
    records = (
        rec("a", (2,), dtype="float16", itemsize=2),
        rec("b", (5,)),
        rec("c", (3,), dtype="bfloat16", itemsize=2),
    )
    report = tally(Inventory("toy", records))
    assert [d.dtype for d in report.by_dtype] == ["float32", "bfloat16", "float16"]
    assert sum(d.parameters for d in report.by_dtype) == report.parameters.total


def test_tally_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from paramcount.tally import tally; from paramcount.records import Inventory;"
        "tally(Inventory('x', ())); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_source_that_leaves_out_the_root_row_gets_a_clear_error() -> None:
    """Such an inventory once sent the tally into an endless loop, looking for an ancestor of "a" that was never
    listed; run in a child process with a timeout, so that a regression fails instead of hanging the suite."""
    code = (
        "from paramcount.tally import tally\n"
        "from paramcount.records import Inventory, Kind, ModuleRecord, TensorRecord\n"
        "w = TensorRecord.of('a.w', 'a', Kind.PARAMETER, (2,), 'float32', itemsize=4, identity=None)\n"
        "try:\n"
        "    tally(Inventory('toy', (w,), modules=(ModuleRecord('a', 'Linear'),)))\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert "must list the root module '' first" in result.stdout
