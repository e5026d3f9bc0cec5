"""Live nn.Module counting: the zoo against hand-computed oracles, invariants, wrappers, no mutation."""

from __future__ import annotations

import copy
import datetime
import os
from typing import TYPE_CHECKING, Any

import pytest
import torch
from torch import nn

import paramcount
from paramcount.records import Kind, TensorRecord
from paramcount.sources.module import inventory
from tests import zoo
from tests.zoo import ZOO, Case, TiedEmbeddingHead

if TYPE_CHECKING:
    from pathlib import Path

    from paramcount.report import Report


def check_reconciles(report: Report) -> None:
    """Rows add up: each row is its own count plus its children's, and the root holds the total."""
    rows = report.modules
    children: dict[str, int] = {}
    for row in rows:
        if row.path:
            parent = row.path.rpartition(".")[0]
            children[parent] = children.get(parent, 0) + row.parameters
    for row in rows:
        assert row.parameters == row.own_parameters + children.get(row.path, 0), row.path
    assert rows[0].path == ""
    assert rows[0].parameters == report.parameters.initialized
    assert sum(row.own_parameters for row in rows) == report.parameters.initialized


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("name", sorted(ZOO), ids=sorted(ZOO))
def test_zoo_matches_hand_computed_counts(name: str, device: str) -> None:
    case: Case = ZOO[name]
    with torch.device(device):
        model = case.build()
    report = paramcount.count(model)
    p, b = report.parameters, report.buffers
    assert (p.total, p.trainable, p.frozen) == (case.total, case.trainable, case.frozen)
    assert p.uninitialized_tensors == case.uninitialized
    assert p.initialized == (case.initialized if case.initialized is not None else case.total)
    assert (b.total, b.persistent, b.non_persistent) == (case.buffers, case.persistent, case.non_persistent)
    assert [g.names for g in report.tied] == list(case.ties)
    own = {row.path: row.own_parameters for row in report.modules}
    for path, expected in case.own.items():
        assert own[path] == expected, path
    check_reconciles(report)


@pytest.mark.parametrize("name", sorted(n for n in ZOO if ZOO[n].total is not None), ids=str)
def test_zoo_matches_parameters_oracle_where_it_applies(name: str) -> None:
    """``parameters()`` dedupes by object; it agrees except where storage sharing or views fool it."""
    model = ZOO[name].build()
    report = paramcount.count(model)
    naive = sum(p.numel() for p in model.parameters())
    if name == "shared_storage":
        assert naive == 3200  # distinct Parameter objects over one storage: parameters() counts both
        assert report.parameters.total == 1600
    else:
        assert report.parameters.total == naive


def test_state_dict_sum_is_wrong_for_ties_and_buffers() -> None:
    """The reason paramcount exists: the same model summed from its state dict is off twice."""
    model = ZOO["batchnorm"].build()
    assert sum(t.numel() for t in model.state_dict().values()) == 240 + 17
    tied = TiedEmbeddingHead()
    assert sum(t.numel() for t in tied.state_dict().values()) == 1632 + 1600
    assert paramcount.count(tied).parameters.total == 1632


def test_lazy_parameters_never_count_as_zero_or_crash() -> None:
    model = ZOO["lazy_head"].build()
    assert isinstance(model, zoo.LazyHead)
    report = paramcount.count(model)
    assert report.parameters.total is None
    lazy = [r for r in report.records if r.shape is None]
    assert sorted(r.name for r in lazy) == ["head.bias", "head.weight"]
    assert all(r.notes == ("uninitialized",) for r in lazy)
    # After a forward pass the same model counts exactly, as the oracle says.
    model.head(torch.zeros(2, 16))
    assert paramcount.count(model).parameters.total == 144 + 16 * 4 + 4


def test_expanded_parameter_records_stored_span() -> None:
    report = paramcount.count(ZOO["expanded_parameter"].build())
    (record,) = report.records
    assert (record.elements, record.stored_elements, record.stored_bytes) == (16_000, 16, 64)
    assert record.notes == ("expanded",)
    assert report.by_dtype[0].parameter_bytes == 64


def test_views_with_different_offsets_are_different_tensors() -> None:
    base = torch.zeros(10, 4)
    model = nn.Module()
    model.a = nn.Parameter(base[:5])
    model.b = nn.Parameter(base[5:])
    model.c = nn.Parameter(base[:5])  # same storage, offset, shape and stride as a: the same tensor
    report = paramcount.count(model)
    assert report.parameters.total == 40
    assert [g.names for g in report.tied] == [("a", "c")]


def test_dtypes_and_bytes_come_from_the_tensors() -> None:
    model = nn.Sequential(nn.Linear(4, 4).to(torch.float16), nn.Linear(4, 2).to(torch.bfloat16))
    model.register_buffer("ids", torch.zeros(3, dtype=torch.int64))
    report = paramcount.count(model)
    dtypes = {d.dtype: (d.parameters, d.parameter_bytes, d.buffers, d.buffer_bytes) for d in report.by_dtype}
    assert dtypes == {"float16": (20, 40, 0, 0), "bfloat16": (10, 20, 0, 0), "int64": (0, 0, 3, 24)}


def test_meta_model_counts_exactly_without_memory() -> None:
    with torch.device("meta"):
        model = nn.Linear(4096, 4096)
    report = paramcount.count(model)
    assert report.parameters.total == 4096 * 4096 + 4096
    assert report.by_dtype[0].parameter_bytes == (4096 * 4096 + 4096) * 4


def test_records_built_fast_equal_records_built_by_keyword() -> None:
    """The walk builds records with tuple.__new__ for speed; field order must match the named fields."""
    found = inventory(nn.Linear(3, 2))
    weight = found.tensors[0]
    assert isinstance(weight, TensorRecord)
    assert weight.name == "weight"
    assert weight.module == ""
    assert weight.kind is Kind.PARAMETER
    assert (tuple(weight.shape or ()), weight.elements, weight.dtype) == ((2, 3), 6, "float32")
    assert (weight.stored_elements, weight.stored_bytes, weight.trainable, weight.persistent) == (6, 24, True, None)
    assert weight.notes == ()
    assert found.modules[0].path == ""
    assert found.modules[0].type == "Linear"
    assert found.modules[0].parent == -1


def _snapshot(model: nn.Module) -> list[tuple[Any, ...]]:
    state: list[tuple[Any, ...]] = []
    for name, module in model.named_modules(remove_duplicate=False):
        hooks = {k: len(v) for k, v in vars(module).items() if k.endswith("hooks") and isinstance(v, dict)}
        state.append((name, module.training, sorted(vars(module)), hooks))
    for name, p in model.named_parameters(remove_duplicate=False):
        values = None if isinstance(p, nn.UninitializedParameter) else p.detach().clone()
        state.append((name, id(p), p.device, p.dtype, p.requires_grad, values))
    for name, b in model.named_buffers(remove_duplicate=False):
        state.append((name, id(b), b.device, b.detach().clone()))
    return state


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, torch.Tensor):
                if not torch.equal(u, v):
                    return False
            elif u != v:
                return False
    return True


@pytest.mark.parametrize("name", sorted(ZOO), ids=sorted(ZOO))
def test_counting_never_mutates_the_model(name: str) -> None:
    model = ZOO[name].build()
    model.train(False)
    model.user_marker = "kept"  # type: ignore[assignment]  # an attribute of the user's, kept as is
    before = _snapshot(model)
    paramcount.count(model, depth=1)
    paramcount.verify(model, {"buffers": ZOO[name].buffers})
    assert _same(before, _snapshot(model))
    assert not model.training


def test_data_parallel_and_compile_wrappers_are_looked_through() -> None:
    inner = TiedEmbeddingHead()
    wrapped = torch.compile(nn.DataParallel(inner))
    report = paramcount.count(wrapped)
    assert report.parameters.total == 1632
    assert [row.path for row in report.modules][:2] == ["", "embed"]
    assert any("torch.compile" in note for note in report.notes)
    assert any("DataParallel" in note for note in report.notes)


def test_distributed_data_parallel_is_looked_through(tmp_path: Path) -> None:
    import torch.distributed as dist

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo",
        init_method=f"file://{tmp_path / 'rendezvous'}",
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        ddp = nn.parallel.DistributedDataParallel(TiedEmbeddingHead())
        report = paramcount.count(ddp)
        assert report.parameters.total == 1632
        assert report.modules[1].path == "embed"  # no "module." prefix
        assert any("DistributedDataParallel" in note for note in report.notes)
    finally:
        dist.destroy_process_group()


def test_cyclic_and_repeatedly_reused_modules_terminate() -> None:
    """Each module object is walked once: a cycle or a 40-level diamond costs one visit per module."""
    root = nn.Sequential(nn.Linear(2, 2))
    root.add_module("loop", root)  # a cycle back to the root
    assert paramcount.count(root).parameters.total == 6

    layer: nn.Module = nn.Linear(2, 2)
    for _ in range(40):
        layer = nn.Sequential(layer, layer)  # 2**40 paths to the innermost Linear
    report = paramcount.count(layer)
    assert report.parameters.total == 6
    assert len(report.modules) == 2 * 40 + 1


def test_deepcopy_is_a_different_model() -> None:
    model = TiedEmbeddingHead()
    twin = copy.deepcopy(model)
    assert paramcount.count(twin).parameters.total == 1632  # deepcopy keeps the tie


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
def test_garbage_collector_state_is_restored(enabled: bool) -> None:
    import gc

    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        paramcount.count(TiedEmbeddingHead())
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def test_objects_the_user_froze_stay_frozen() -> None:
    import gc

    # Frozen objects live in the permanent generation, which gc.get_objects() does not list. The freeze count is
    # no oracle: a frozen object that some library frees during the call lowers it.
    kept = [[index] for index in range(100)]
    gc.freeze()
    try:
        paramcount.count(TiedEmbeddingHead())
        tracked = {id(obj) for obj in gc.get_objects()}
        assert not any(id(obj) in tracked for obj in kept)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    tracked = {id(obj) for obj in gc.get_objects()}
    assert all(id(obj) in tracked for obj in kept)
