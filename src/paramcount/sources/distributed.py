"""One global inventory from every rank of a process group, through ``torch.distributed`` itself.

Each rank describes what it holds (:mod:`paramcount.sources.module`: DTensor and FSDP2 parameters by their global
shapes, bitsandbytes and torchao by their logical ones, ZeRO-3 parameters by ``ds_shape``); one
``all_gather_object`` brings every rank's records to every rank, and the union is counted:

* a name held by several ranks is one tensor (a DTensor or FSDP2 parameter, a replicated or tensor-parallel
  weight, an embedding tied across the first and last pipeline stage under one name) — counted once, from the
  lowest rank that holds it;
* names held by one rank only (pipeline stages) are added up;
* what each rank stores (its local shards, replicas and plain tensors) is reported per rank.

Every rank gets the same report. No home-made transport: the gather is torch's collective on the group the user
passes (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.classify import tie_output_head
from paramcount.records import RankStorage

if TYPE_CHECKING:
    from typing import Any

    import torch.distributed as dist

    from paramcount.records import Inventory, ModuleRecord, TensorRecord

__all__ = ["gather"]


def gather(
    inventory: Inventory, group: dist.ProcessGroup | None, *, tied: bool = False
) -> tuple[Inventory, tuple[RankStorage, ...], str]:
    """The union of every rank's inventory, per-rank storage, and the sharding schemes seen.

    Args:
        inventory: this rank's inventory of its part of the model.
        group: the process group; ``None`` for the default one.
        tied: this rank's model says its output head is tied to its input embedding (``tie_word_embeddings``):
            when any rank says so, a head and an embedding of one shape held by different ranks (the last and
            first pipeline stage) are one tensor.

    Returns:
        The merged inventory (the same on every rank), per-rank storage in rank order, and a scheme description.
    """
    import torch.distributed as dist

    local = (*_portable(inventory, dist.get_rank(group)), tied)
    world = dist.get_world_size(group)
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, local, group=group)
    records: list[TensorRecord] = []
    modules: list[ModuleRecord] = []
    module_paths: dict[str, int] = {}
    seen: set[str] = set()
    storage = []
    schemes: set[str] = set()
    quantization: set[str] = set()
    any_tied = any(item[4] for item in gathered)
    for rank, (rank_records, rank_modules, rank_schemes, rank_quantization, _) in enumerate(gathered):
        schemes.update(rank_schemes)
        if rank_quantization:
            quantization.add(rank_quantization)
        elements = stored = 0
        identities: set[Any] = set()
        for record in rank_records:
            key = record.identity
            if key is None or key not in identities:
                identities.add(key)
                elements += record.stored_elements or 0
                stored += record.stored_bytes or 0
            if record.name in seen:
                continue
            seen.add(record.name)
            records.append(record)
        storage.append(RankStorage(rank, elements, stored))
        for module in rank_modules:
            if module.path not in module_paths:
                parent = module_paths.get(module.path.rpartition(".")[0], 0) if module.path else -1
                module_paths[module.path] = len(modules)
                modules.append(module._replace(parent=parent, shared_with=None))
    notes = [f"gathered from {world} ranks with all_gather_object; every rank reports the same"]
    if any_tied:
        records, tie = tie_output_head(records)
        if tie is not None:
            notes.append(f"the model ties its output head to its embedding: {tie[0]!r} is counted as {tie[1]!r}")
    if not schemes:
        # No sharded tensors: every rank holds the same names (data parallel) or its own part (pipeline stages).
        names = [{record.name for record in rank_records} for rank_records, *_ in gathered]
        schemes.add("replicated" if all(n == names[0] for n in names) else "pipeline")
    merged = inventory._replace(
        tensors=tuple(records),
        modules=tuple(modules),
        quantization=", ".join(sorted(quantization)) or None,
        notes=(*inventory.notes, *notes),
    )
    return merged, tuple(storage), ", ".join(sorted(schemes))


def _portable(inventory: Inventory, rank: int) -> tuple[list[TensorRecord], list[ModuleRecord], list[str], str | None]:
    """This rank's records with identities that survive pickling, and the sharding schemes its tensors use."""
    schemes = sorted({note for r in inventory.tensors for note in r.notes if note in _SHARDING})
    records = []
    for r in inventory.tensors:
        # Identities name process-local objects (storage pointers): keep them as opaque, hashable strings so that
        # ties within a rank still match after the gather.
        identity = None if r.identity is None else f"rank {rank}: {r.identity!r}"
        records.append(r._replace(identity=identity))
    return records, list(inventory.modules), [_SHARDING[s] for s in schemes], inventory.quantization


_SHARDING = {"sharded": "dtensor", "zero3": "deepspeed-zero3", "fsdp1": "fsdp1"}
