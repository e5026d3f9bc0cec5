"""Distributed live models, counted across real processes (gloo on CPU, file:// init, timeouts): every rank gets
the same global report, and its total equals the unsharded model's count."""

from __future__ import annotations

import json
import os
import sys
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.multiprocessing.spawn import spawn

import paramcount

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = timedelta(seconds=60)


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16), nn.LayerNorm(16), nn.Linear(16, 6))


def unsharded() -> int:
    return sum(p.numel() for p in mlp().parameters())


def fsdp2(model: nn.Sequential, world: int) -> nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))
    for layer in model:
        if any(True for _ in layer.parameters()):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def fsdp1(model: nn.Sequential, world: int, *, use_orig_params: bool) -> nn.Module:
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel(model, use_orig_params=use_orig_params, device_id=torch.device("cpu"))


def tensor_parallel(model: nn.Sequential, world: int) -> nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (world,))
    return parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})


class Stage(nn.Module):
    """One pipeline stage of a tied language model: the embedding lives on the first and the last stage."""

    def __init__(self, rank: int, world: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        if rank in (0, world - 1):
            self.embed = nn.Embedding(50, 16)  # tied: first and last stage hold it, under the same name
        self.add_module(f"block{rank}", nn.Linear(16, 16))
        if rank == world - 1:
            self.norm = nn.LayerNorm(16)


class HFStage(nn.Module):
    """A stage as torch.distributed.pipelining splits a transformers model: the input embedding on the first stage,
    the output head tied to it on the last, under their own names, and the model's config on every stage."""

    def __init__(self, rank: int, world: int) -> None:
        super().__init__()
        import types

        torch.manual_seed(0)
        self.config = types.SimpleNamespace(tie_word_embeddings=True)
        if rank == 0:
            self.model = nn.Module()
            self.model.embed_tokens = nn.Embedding(50, 16)
        self.add_module(f"block{rank}", nn.Linear(16, 16))
        if rank == world - 1:
            self.norm = nn.LayerNorm(16)
            self.lm_head = nn.Linear(16, 50, bias=False)


def pipeline_total(world: int) -> int:
    return 50 * 16 + (16 * 16 + 16) * world + 32


def _worker(rank: int, world: int, init: str, out: str, scheme: str) -> None:
    """One rank: its count, then the process group destroyed and what the model kept of it collected before the
    interpreter's finalization, where a gloo group's destructor can abort the process (SIGABRT 'terminate called
    without an active exception', seen once in a full-suite run with FSDP1, whose modules hold the group)."""
    import gc

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=TIMEOUT)
    try:
        _count_rank(rank, world, out, scheme)
        dist.barrier()
    finally:
        dist.destroy_process_group()
        gc.collect()


def _count_rank(rank: int, world: int, out: str, scheme: str) -> None:
    """The rank's model built and counted (its objects freed when this returns)."""
    if scheme == "pipeline":
        model: nn.Module = Stage(rank, world)
    elif scheme == "pipeline-hf":
        model = HFStage(rank, world)
    elif scheme == "replicated":
        model = nn.parallel.DistributedDataParallel(mlp())
    elif scheme.startswith("fsdp1"):
        model = fsdp1(mlp(), world, use_orig_params=scheme == "fsdp1-orig")
    else:
        model = {"fsdp2": fsdp2, "tp": tensor_parallel}[scheme](mlp(), world)
    report = paramcount.count(model, distributed=True)
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump(report.to_dict(), f)
    if scheme == "fsdp2":
        from torch.distributed.checkpoint.state_dict_saver import save

        save({"model": model.state_dict()}, checkpoint_id=f"{out}/dcp")  # each rank writes its shards


def run(tmp_path: Path, scheme: str, world: int) -> list[dict[str, Any]]:
    init = f"file://{tmp_path / 'init'}"
    spawn(_worker, args=(world, init, str(tmp_path), scheme), nprocs=world, join=True)  # type: ignore[no-untyped-call]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
@pytest.mark.parametrize(
    ("scheme", "world"), [("fsdp2", 2), ("tp", 2), ("fsdp2", 4), ("tp", 4), ("fsdp1", 2), ("fsdp1-orig", 2)]
)
def test_sharded_models_count_globally_on_every_rank(tmp_path: Path, scheme: str, world: int) -> None:
    reports = run(tmp_path, scheme, world)
    expected = unsharded()
    for report in reports:
        report.pop("notes")
        assert report == reports[0]  # every rank: the same report
    report = reports[0]
    assert report["parameters"]["total"] == expected
    distributed = report["distributed"]
    assert distributed["world_size"] == world
    assert distributed["scheme"] == ("fsdp1" if scheme.startswith("fsdp1") else "dtensor")
    stored = sum(r["stored_elements"] for r in distributed["per_rank"])
    if scheme.startswith("fsdp1"):
        # not the flat parameter's padded size: each rank holds an equal share of the padded flat buffer
        assert expected <= stored <= expected + world
        assert [row["path"] for row in report["modules"][:3]] == ["", "0", "1"]  # no _fsdp_wrapped_module
        return
    if scheme == "fsdp2":
        assert stored == expected  # each element lives on exactly one rank (Shard(0); uneven shards included)
        # The DCP checkpoint those ranks wrote counts to the same global number, from its files alone.
        from_files = paramcount.count(str(tmp_path / "dcp"))
        assert from_files.format == "dcp"
        assert from_files.parameters.total == expected
        assert len(from_files.files) == 1 + world  # .metadata and one .distcp per rank
    else:
        assert expected < stored < expected * world  # sharded weights once, replicated biases/norms on every rank


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
@pytest.mark.parametrize("world", [2, 4])
def test_pipeline_stages_add_up_and_a_tied_embedding_counts_once(tmp_path: Path, world: int) -> None:
    reports = run(tmp_path, "pipeline", world)
    for report in reports:
        assert report["parameters"]["total"] == pipeline_total(world)
        assert report["distributed"]["scheme"] == "pipeline"
    stored = [r["stored_elements"] for r in reports[0]["distributed"]["per_rank"]]
    block = 16 * 16 + 16
    middle = [block] * (world - 2)
    assert stored == [50 * 16 + block, *middle, 50 * 16 + block + 32]


def test_deepspeed_zero3_partitioned_parameters_count_by_ds_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """DeepSpeed's own attributes on real parameters: data emptied, ds_shape/ds_numel/ds_tensor set (as
    partition_parameters.py does); DeepSpeed itself does not install here (see "Develop" in docs/getting-started.md)."""
    import types

    monkeypatch.setitem(sys.modules, "deepspeed", types.ModuleType("deepspeed"))
    model = mlp()
    expected = unsharded()
    for p in model.parameters():
        shape = p.shape
        partition = torch.zeros((p.numel() + 1) // 2)  # this rank's half, padded
        p.data = torch.empty(0)
        p.ds_shape, p.ds_numel, p.ds_tensor = shape, shape.numel(), partition  # type: ignore[attr-defined]
    assert sum(p.numel() for p in model.parameters()) == 0  # what every naive count says
    report = paramcount.count(model)
    assert report.parameters.total == expected
    assert sum(r.stored_elements or 0 for r in report.records) == sum(
        (s + 1) // 2 for s in (512, 32, 512, 16, 16, 16, 96, 6)
    )


def _no_compiled_ops(deepspeed: Any) -> None:
    """Tell DeepSpeed that none of its C++ ops can be built, as on a machine without a compiler.

    Otherwise its communication backend JIT-compiles ``deepspeed_shm_comm`` with g++ on first use (80 s, into the
    home cache, again whenever the venv path changes), and ``make test`` would need a C++ toolchain. These tests need
    none of DeepSpeed's kernels: gloo carries the collectives.
    """
    deepspeed.ops.__compatible_ops__ = {}


def _init_deepspeed(rank: int, world: int, out: str) -> Any:
    """DeepSpeed's communication set up over gloo with a ``file://`` rendezvous, and the module.

    The environment variables only keep DeepSpeed from looking for MPI; the rendezvous is a file in the test's
    folder. With ``env://`` rank 0 served a TCPStore from a background thread and the ranks raced its teardown
    (SIGABRT 'terminate called without an active exception' in about one full-suite run in three), besides
    racing other processes for a free port.
    """
    import logging

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT="0", RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["TORCH_EXTENSIONS_DIR"] = f"{out}/torch_extensions"  # where a JIT build would land (none may)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import deepspeed

    _no_compiled_ops(deepspeed)
    deepspeed.init_distributed(
        dist_backend="gloo", timeout=TIMEOUT, init_method=f"file://{out}/init", rank=rank, world_size=world
    )
    return deepspeed


def _shut_down_deepspeed(deepspeed: Any) -> None:
    """Destroy the process groups through DeepSpeed, which also drops the references it keeps to them
    (``torch.distributed.destroy_process_group`` alone leaves them to die in interpreter finalization, where a gloo
    group's destructor aborts the process: SIGABRT 'terminate called without an active exception', seen once in
    four full-suite runs), then collect what the model left so no group outlives the interpreter."""
    import gc

    deepspeed.comm.destroy_process_group()
    gc.collect()


def _deepspeed_worker(rank: int, world: int, out: str) -> None:
    deepspeed = _init_deepspeed(rank, world, out)
    try:
        _count_zero3(deepspeed, rank, world, out)
        dist.barrier()
    finally:
        _shut_down_deepspeed(deepspeed)


def _count_zero3(deepspeed: Any, rank: int, world: int, out: str) -> None:
    """A model built under zero.Init, counted naively and by paramcount, results written; the model dies here."""
    with deepspeed.zero.Init(config_dict_or_path={"zero_optimization": {"stage": 3}, "train_batch_size": world}):
        model = mlp()
    naive = sum(p.numel() for p in model.parameters())
    report = paramcount.count(model, distributed=True).to_dict()
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"naive": naive, "report": report}, f)


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
def test_real_deepspeed_zero3_on_cpu(tmp_path: Path) -> None:
    """DeepSpeed's zero.Init partitions a model across 2 CPU processes: naive counts say 0, paramcount the total."""
    pytest.importorskip("deepspeed")
    spawn(_deepspeed_worker, args=(2, str(tmp_path)), nprocs=2, join=True)  # type: ignore[no-untyped-call]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for result in results:
        assert result["naive"] == 0
        assert result["report"]["parameters"]["total"] == unsharded()
        assert result["report"]["distributed"]["scheme"] == "deepspeed-zero3"
    per_rank = results[0]["report"]["distributed"]["per_rank"]
    assert unsharded() <= sum(r["stored_elements"] for r in per_rank) <= unsharded() + 2 * 8  # partitions, padded
    assert not (tmp_path / "torch_extensions").exists()  # no C++ op was compiled: make test needs no compiler


def _deepspeed_save_worker(rank: int, out: str) -> None:
    deepspeed = _init_deepspeed(rank, 1, out)
    try:
        _save_zero3(deepspeed, out)
    finally:
        _shut_down_deepspeed(deepspeed)


def _save_zero3(deepspeed: Any, out: str) -> None:
    """A ZeRO-3 engine with a frozen first layer saves its checkpoint under ``out``; the engine dies here."""
    model = mlp()
    model[0].requires_grad_(False)
    config = {
        "train_batch_size": 1,
        "zero_optimization": {"stage": 3},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(trainable, lr=0.1), config=config)
    engine.save_checkpoint(out)


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
def test_deepspeed_model_states_file_counts_from_param_shapes(tmp_path: Path) -> None:
    """A real ZeRO-3 checkpoint: its module tensors are empty placeholders; param_shapes are read statically."""
    pytest.importorskip("deepspeed")
    spawn(_deepspeed_save_worker, args=(str(tmp_path),), nprocs=1, join=True)  # type: ignore[no-untyped-call]
    (states,) = tmp_path.glob("global_step*/*model_states.pt")
    report = paramcount.count(str(states))
    assert report.parameters.total == unsharded()
    assert report.parameters.frozen == 16 * 32 + 32  # frozen_param_shapes
    assert report.verdict == "ok"
    assert not (tmp_path / "torch_extensions").exists()  # no C++ op was compiled: make test needs no compiler


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
def test_data_parallel_replicas_count_once(tmp_path: Path) -> None:
    reports = run(tmp_path, "replicated", 2)
    for report in reports:
        assert report["parameters"]["total"] == unsharded()
        assert report["distributed"]["scheme"] == "replicated"
        assert [r["stored_elements"] for r in report["distributed"]["per_rank"]] == [unsharded(), unsharded()]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process tests run on Linux")
def test_pipeline_tie_under_two_names_counts_once(tmp_path: Path) -> None:
    reports = run(tmp_path, "pipeline-hf", 2)
    for report in reports:
        assert report["parameters"]["total"] == pipeline_total(2)  # lm_head.weight counted as the embedding
        assert any("lm_head.weight" in note for note in report["notes"])
