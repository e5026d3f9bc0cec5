"""The public functions: options -> inventory (:mod:`paramcount.sources.target`) -> tally -> compare / estimate."""

from __future__ import annotations

import os

from paramcount._gc import collection_paused
from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, UsageError
from paramcount.sources.target import Options, inventory, live_model, model_of, name_of, names_config, options
from paramcount.tally import tally

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TypedDict

    from typing_extensions import Unpack

    from paramcount.limits import Limits
    from paramcount.report import Report

    class CountOptions(TypedDict, total=False):
        """:func:`count`'s keyword arguments, which ``verify`` and ``memory`` take too (:class:`Options`)."""

        depth: int | None
        device: str
        limits: Limits | Mapping[str, int | str] | None
        group: Any
        distributed: bool
        architecture: str
        trust_remote_code: bool
        base: str | os.PathLike[str] | None
        file: str | None
        cache: bool
        progress: bool
        experts_per_token: int | None


__all__ = ["check", "count", "diff", "memory", "verify"]


def count(
    obj: object,
    *,
    depth: int | None = None,
    device: str = "meta",
    limits: Limits | Mapping[str, int | str] | None = None,
    group: Any = None,
    distributed: bool = False,
    architecture: str = "table",
    trust_remote_code: bool = False,
    base: str | os.PathLike[str] | None = None,
    file: str | None = None,
    cache: bool = True,
    progress: bool = False,
    experts_per_token: int | None = None,
) -> Report:
    """Count the parameters of a model.

    Args:
        obj: a ``torch.nn.Module`` (wrappers such as ``DistributedDataParallel`` and ``torch.compile`` are looked
            through); a state dict or any mapping of names to tensors (nested mappings too, as ``torch.load``
            returns a training checkpoint); a TARGET string naming a model in code:
            ``"package.module:callable(args)"`` or ``"package.module:attribute"``; or the path (a string or an
            ``os.PathLike``) of a checkpoint file or model folder (safetensors, PyTorch zip or legacy, GGUF, DCP);
            a ``config.json`` or a folder holding one without weights (the model it describes, built on the meta
            device); a URL (``"hf://org/name"``, ``"https://host/model.safetensors"``, ``"s3://bucket/key"``),
            read by range requests, headers only; or a Hugging Face id (``"org/name"``, ``"org/name@revision"``),
            from the local cache when it holds the weights, else from the Hub (``HF_ENDPOINT``, ``HF_TOKEN``). A
            string is resolved in that order: an existing path, then code, then a URL, then an id (``org/name``
            beside a folder ``org`` is a missing path, with the nearest name in that folder).
        depth: keep module rows up to this depth (0 = the root only); ``None`` keeps all. Totals never depend on it.
        device: the default device while building a TARGET string; ``"meta"`` allocates no memory.
        limits: resource limits for reading files (:class:`paramcount.limits.Limits`), or a mapping of the
            ones to change: ``{"pickle_bytes": 2**30}`` or ``{"pickle-bytes": "1GiB"}``.
        group: a ``torch.distributed`` process group: every rank of it must call ``count`` on its part of the model
            (its shards, its pipeline stage), and every rank gets the same global report, with what each rank
            stores under ``report.distributed``. A collective: all ranks must call it.
        distributed: the same over the default process group.
        architecture: how a model folder's ``config.json`` decides what its stored tensors are: ``"table"``
            (paramcount's generated table, with a meta-device build for what it does not know), ``"build"``
            (always build the model on the meta device) or ``"off"`` (name rules only).
        trust_remote_code: let a ``config.json`` whose ``auto_map`` names the folder's own model code run that
            code (from the folder only; nothing is downloaded).
        base: for a PEFT adapter folder, its base model (a path or a cached Hugging Face id), counted frozen
            beside the adapter; by default the folder's own weights or ``base_model_name_or_path`` when local.
        file: one file of a folder or repository to count alone (a GGUF repository's quantization).
        cache: keep fetched header bytes in paramcount's cache and reuse them (remote targets).
        progress: a progress bar on stderr while a remote target's files are read.
        experts_per_token: for a mixture of experts, the experts each token uses in ``active_per_token``
            (``report.conventions``), instead of the configuration's ``num_experts_per_tok``.

    Returns:
        The report; ``report.to_dict()`` is the JSON document.

    Raises:
        TargetError: the target cannot be built or read, or is not a model.
        UsageError: ``depth`` is negative.
        TypeError: ``obj`` is none of the above.

    >>> import torch
    >>> count(torch.nn.Linear(784, 10)).parameters.total
    7850
    >>> count("torch.nn:Linear(784, 10)").parameters.trainable
    7850
    >>> count(torch.nn.Linear(784, 10).state_dict()).parameters.total
    7850
    """
    given = options(
        depth=depth, device=device, limits=limits, group=group, distributed=distributed, architecture=architecture,
        trust_remote_code=trust_remote_code, base=base, file=file, cache=cache, progress=progress,
        experts_per_token=experts_per_token,
    )  # fmt: skip
    return _count(obj, given)


def _count(obj: object, given: Options) -> Report:
    found = inventory(obj, given)
    with collection_paused():
        return tally(found, depth=given.depth)


def verify(
    obj: object,
    expected: int | float | str | Mapping[str, int | float | str],
    *,
    tolerance: int | str | None = None,
    **options_: Unpack[CountOptions],
) -> Report:
    """Count a model and check the count; raise if it differs.

    Args:
        obj: as for :func:`count`.
        expected: the expected total, as an int or a string (``"7850"``, ``"7,850"``, ``"124.4M"``, ``"6.74B"``,
            ``"1.2e9"``), or a mapping from ``"total"``, ``"trainable"``, ``"frozen"``, ``"buffers"`` to such values.
            A rounded figure matches within its printed precision.
        tolerance: replaces the printed precision: an absolute count (``1000``) or a percentage (``"0.5%"``).
        **options: :func:`count`'s keyword arguments (``depth``, ``limits``, ``group``: every rank checks the same
            global figures, ...).

    Returns:
        The report, when every figure matches.

    Raises:
        VerificationError: an ``AssertionError`` listing every mismatch.
        UsageError: an expectation or tolerance cannot be read.
        TargetError: the target cannot be built or is not a model.

    >>> import torch
    >>> verify(torch.nn.Linear(784, 10), "7.85K").parameters.total
    7850
    """
    from paramcount.expectation import compare, parse_expectations

    expectations = parse_expectations(expected, tolerance)  # a typo fails before any model is built
    return compare(_count(obj, options(**options_)), expectations)


def memory(
    obj: object,
    *,
    mode: str = "inference",
    dtype: str | None = None,
    batch: int = 1,
    seq: int | str | None = None,
    kv_dtype: str | None = None,
    optimizer: str = "adamw",
    precision: str = "mixed",
    gpus: int = 1,
    strategy: str = "ddp",
    convention: str = "paper",
    activations: str | None = None,
    gpu_memory: int | str | None = None,
    **options_: Unpack[CountOptions],
) -> Report:
    """Count a model and estimate the memory one device needs to serve or train it.

    Args:
        obj: as for :func:`count`.
        mode: ``"inference"`` (weights, buffers, KV cache) or ``"training"`` (also gradients, optimizer states,
            master weights, partitioned by ``strategy``).
        dtype: the weights' dtype to assume (``"bfloat16"``, ``"bf16"``, ``"int4"``); default: as stored.
        batch: sequences per batch (KV cache and activations).
        seq: tokens per sequence (``8192`` or ``"8k"``); without it there is no KV cache and activations cannot
            be measured.
        kv_dtype: the KV cache's dtype; default: the weights' floating dtype.
        optimizer: ``"adamw"``, ``"adamw-8bit"``, ``"sgd"``, ``"sgd-momentum"`` or ``"adafactor"``.
        precision: ``"mixed"`` (16-bit weights, fp32 master weights and states) or ``"pure"``.
        gpus: devices; inference replicates the model on each, training partitions by ``strategy``.
        strategy: ``"ddp"``, ``"zero1"``, ``"zero2"``, ``"zero3"`` or ``"fsdp"`` (full shard) for training;
            ``"ddp"`` (replicas) or ``"tp"`` (tensor parallel: matrices and KV heads split) for inference.
        convention: ``"paper"`` (the ZeRO paper's terms) or ``"deepspeed"`` (DeepSpeed's ZeRO-2/3 estimators).
        activations: ``"measure"``: run the forward on fake tensors and sum what autograd saves for backward.
        gpu_memory: one device's memory, in bytes or as ``"80GiB"``, ``"80GB"`` or a device name (``"H100"``),
            for the fits / does not fit answer.
        **options: :func:`count`'s keyword arguments (``limits``, ``architecture``, ``file``, ...), but ``depth``.

    Returns:
        The report with ``report.memory`` (:class:`paramcount.footprint.results.Memory`) filled in.

    Raises:
        UsageError: an option's value is not one of those above, or ``seq`` is given for a model without a
            configuration to derive its KV cache from.
        TargetError: as for :func:`count`; or the activations cannot be measured (the forward does not run on
            fake tensors).

    >>> report = memory("torch.nn:Linear(784, 10)", mode="training", optimizer="sgd")
    >>> report.memory.per_device.total  # 7,850 fp32 weights and their gradients
    62800
    """
    from paramcount.footprint.caches import beyond_context
    from paramcount.footprint.engine import estimate
    from paramcount.footprint.plan import plan as checked_plan

    plan = checked_plan(
        mode=mode, dtype=dtype, batch=batch, seq=seq, kv_dtype=kv_dtype, optimizer=optimizer, precision=precision,
        gpus=gpus, strategy=strategy, convention=convention, activations=activations, gpu_memory=gpu_memory,
    )  # fmt: skip
    given = options(**options_)
    if given.depth is not None:
        raise UsageError(
            "is not for memory, which counts every module (FSDP's unit is a block found among them)",
            option="depth",
            fix="leave it out",
        )
    report = _count(obj, given)
    config = None
    if plan.seq is not None:  # the KV cache's geometry, as transformers' configuration class reads it
        from paramcount.sources.architecture import normalised_config

        config = normalised_config(report.config, report.target)
    with collection_paused():
        needs = estimate(report, plan, config=config, model=lambda: live_model(obj, report.config, report.target))
    warning = beyond_context(report, plan.seq)
    return report.replace(memory=needs, warnings=report.warnings + ((warning,) if warning else ()))


def check(
    weights: object,
    model: object = None,
    *,
    architecture: str = "table",
    device: str = "meta",
    limits: Limits | Mapping[str, int | str] | None = None,
    depth: int | None = None,
    file: str | None = None,
    cache: bool = True,
    progress: bool = False,
) -> Report:
    """Would these weights load into that model? The loader's own answer, without loading anything.

    Args:
        weights: what :func:`count` reads as weights: a file, an index, a model folder, a URL, a Hub id, or a state
            dict.
        model: the model to load them into: ``None`` for the class the weights' own ``config.json`` names; a
            ``config.json``, a folder holding one, or a Hub id or URL (its ``config.json``): transformers' loader;
            a ``module:callable(args)`` TARGET or a live ``torch.nn.Module``: torch's ``load_state_dict``.
        architecture: ``"table"`` (default: the names from paramcount's table, the shapes from a meta-device
            build when transformers is installed) or ``"build"``.
        device, limits, depth, file, cache, progress: as for :func:`count`.

    Returns:
        The weights' report as that model counts them, with ``report.load``: for a transformers class, the keys
        ``from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)`` would report missing,
        unexpected and mismatched, and those its rules ignore; for a plain module, what
        ``load_state_dict(strict=False)`` reports, shape mismatches listed apart. ``report.load.loads`` is true when
        nothing is missing, unexpected or mismatched.

    Raises:
        TargetError: the weights hold no tensors, or ``model`` is not a model (or names none).
        UsageError: ``architecture="off"``.
    """
    from paramcount.sources import CHECKING, Checking

    given = options(architecture=architecture, limits=limits, depth=depth, file=file, cache=cache, progress=progress)
    if given.architecture == "off":
        raise UsageError("off leaves check without the loader's rules", option="architecture", fix="use table or build")
    if model is not None and not names_config(model):
        from paramcount.sources.module import torch_load

        built, name, _ = model_of(model, device)
        report = _count(weights, given._replace(architecture="off"))
        _has_tensors(report, weights)
        return report.replace(load=torch_load(report.records, built, name or type(built).__name__))
    from paramcount.sources.target import config_document

    holder = Checking(None if model is None else config_document(model, given.limits))
    token = CHECKING.set(holder)
    try:
        report = _count(weights, given)
    finally:
        CHECKING.reset(token)
    _has_tensors(report, weights)
    if holder.result is None:
        raise TargetError(
            "names no model to check the weights against: there is no config.json beside them",
            target=name_of(weights),
            fix="name the model: --model TARGET, or model= in Python (a config.json, a model folder, a Hub id, or "
            "'module:callable(args)')",
        )
    return report.replace(load=holder.result)


def _has_tensors(report: Report, weights: object) -> None:
    from paramcount.sources import module as _module

    built = report.format is None and not _module.is_tensor_mapping(weights)  # a model from config.json or code
    if not built and not report.records:
        raise TargetError(
            "holds no tensors: there are no weights to check",
            target=name_of(weights),
            fix="name the weights file or folder as WEIGHTS",
        )
    if built:
        raise TargetError(
            "holds no weights to check (a model built from its config.json has no stored tensors)",
            target=name_of(weights),
            fix="name a weights file or a folder with weights as WEIGHTS, and the model with --model (model= in "
            "Python)",
        )


def diff(
    a: object,
    b: object,
    *,
    strict_dtype: bool = False,
    architecture: str = "table",
    device: str = "meta",
    limits: Limits | Mapping[str, int | str] | None = None,
    depth: int | None = None,
    cache: bool = True,
    progress: bool = False,
) -> Report:
    """Compare two models' tensors: what one holds that the other does not, shapes and dtypes that changed, and
    the parameters each module gains or loses.

    Args:
        a, b: anything :func:`count` takes: files, folders, ids with revisions (``org/name@v1``), URLs, specs,
            ``config.json`` files, live modules and state dicts.
        strict_dtype: count a dtype change as a difference (by default it is listed, and the models are the same).
        architecture, device, limits, depth, cache, progress: as for :func:`count`.

    Returns:
        B's report with ``report.diff``. Names are compared after each side's architecture normalised them: the
        fused and per-expert spellings of the same experts are one tensor, and a base model's prefix is not a
        difference. ``report.diff.same`` is true when both hold the same tensors with the same shapes.

    Raises:
        UsageError: ``a`` and ``b`` are the same path.
        TargetError: either cannot be read or is not a model.
    """
    from paramcount.compare import compare

    if _same_path(a, b):
        raise UsageError(
            f"diff compares two targets, but both are {name_of(a)!r}",
            fix="name two different files, folders or revisions (org/name@v1 org/name@v2)",
        )
    given = options(
        architecture=architecture, device=device, limits=limits, depth=depth, cache=cache, progress=progress
    )
    report_a, tensors_a, prefix_a = _side(a, given)
    report_b, tensors_b, prefix_b = _side(b, given)
    # a side whose names were not normalised (a lone file, a live module) loses the other side's base prefix
    for prefix, tensors in ((prefix_a, tensors_b), (prefix_b, tensors_a)):
        if prefix and any(name.startswith(prefix + ".") for name in tensors):
            for name in [n for n in tensors if n.startswith(prefix + ".")]:
                tensors.setdefault(name[len(prefix) + 1 :], tensors.pop(name))
    found = compare(
        report_a.target,
        report_b.target,
        tensors_a,
        tensors_b,
        parameters_a=report_a.parameters.total,
        parameters_b=report_b.parameters.total,
        strict_dtype=strict_dtype,
    )
    warnings = tuple(f"A: {w}" for w in report_a.warnings) + report_b.warnings
    return report_b.replace(diff=found, warnings=warnings)


def _same_path(a: object, b: object) -> bool:
    if not isinstance(a, (str, os.PathLike)) or not isinstance(b, (str, os.PathLike)):
        return a is b
    first, second = os.fspath(a), os.fspath(b)
    if first == second:
        return True
    try:
        return os.path.exists(first) and os.path.samefile(first, second)
    except OSError:
        return False


def _side(obj: object, given: Options) -> tuple[Report, dict[str, Any], str]:
    """One side's report, its tensors under the model's names (its architecture's, where it has one; each tensor
    once, persistent ones only), and the base-model prefix taken off them (``""`` for none)."""
    from paramcount.compare import stored_tensors
    from paramcount.sources import CHECKING, Checking
    from paramcount.sources.architecture import prefix_of

    holder = Checking(None, shapes=False)
    token = CHECKING.set(holder)
    try:
        report = _count(obj, given if names_config(obj) else given._replace(architecture="table"))
    finally:
        CHECKING.reset(token)
    prefix = prefix_of(obj, report.architecture, report.config)
    if isinstance(holder.keys, dict):
        return report, holder.keys, prefix
    return report, stored_tensors(report.records, prefix), prefix
