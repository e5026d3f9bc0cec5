"""``count`` and ``verify``: resolve a target to a source, tally it, check it."""

from __future__ import annotations

import os

from paramcount._gc import collection_paused
from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, UsageError
from paramcount.limits import budget
from paramcount.roles import experts_of
from paramcount.sources import looks_like_spec
from paramcount.tally import tally

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import torch

    from paramcount.limits import Limits
    from paramcount.records import Inventory
    from paramcount.report import Report

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
    if depth is not None and depth < 0:
        raise UsageError(f"depth must be >= 0 or None, not {depth}")
    from paramcount.sources.architecture import check_mode

    check_mode(architecture)
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and not looks_like_spec(obj.strip())):
        from paramcount.sources import files
        from paramcount.sources.resolve import resolve

        resolved = resolve(os.fspath(obj))
        with collection_paused(), budget():
            if resolved.remote is not None:
                from paramcount.sources import remote

                if base is not None:
                    raise UsageError("--base is for a local adapter folder", fix="download the adapter, or drop --base")
                found = remote.inventory(
                    resolved.remote,
                    os.fspath(obj),
                    _limits(limits),
                    architecture=architecture,
                    file=file,
                    cache=cache,
                    progress=progress,
                    note=resolved.note,
                )
                return tally(_experts(found, experts_per_token), depth=depth)
            found = files.inventory(
                resolved.path,
                _limits(limits),
                architecture=architecture,
                trust_remote_code=trust_remote_code,
                base=None if base is None else os.fspath(base),
                file=file,
            )
            if resolved.kind == "hub":
                found = found._replace(target=os.fspath(obj), notes=(resolved.note, *found.notes))
            if base is not None and found.adapter is None:
                raise _base_without_adapter(os.fspath(obj))
            return tally(_experts(found, experts_per_token), depth=depth)
    if base is not None:
        raise _base_without_adapter(str(obj) if isinstance(obj, str) else type(obj).__name__)
    from paramcount.sources import module as _module

    if _module.is_tensor_mapping(obj):
        with collection_paused():
            return tally(_module.mapping_inventory(obj), depth=depth)  # type: ignore[arg-type]
    model, target, notes = _model(obj, device)
    with collection_paused():
        found = _module.inventory(model, target=target)
        # the instance's own config only: a model's __getattr__ is the user's code, and may raise
        config = vars(model).get("config") if hasattr(model, "__dict__") else None
        found = _experts(found._replace(experts=experts_of(config), config=config), experts_per_token)
        found = found._replace(notes=notes + found.notes, warnings=found.warnings + _untied_heads(model))
        if group is None and not distributed:
            return tally(found, depth=depth)
    from paramcount.report import Distributed
    from paramcount.sources.distributed import gather

    merged, storage, scheme = gather(found, group, tied=_ties_embeddings(model))
    with collection_paused():
        report = tally(merged, depth=depth)
    return report.replace(distributed=Distributed(len(storage), scheme, storage))


def verify(
    obj: object,
    expected: int | float | str | Mapping[str, int | float | str],
    *,
    tolerance: int | str | None = None,
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
    """Count a model and check the count; raise if it differs.

    Args:
        obj: as for :func:`count`.
        expected: the expected total, as an int or a string (``"7850"``, ``"7,850"``, ``"124.4M"``, ``"6.74B"``,
            ``"1.2e9"``), or a mapping from ``"total"``, ``"trainable"``, ``"frozen"``, ``"buffers"`` to such values.
            A rounded figure matches within its printed precision.
        tolerance: replaces the printed precision: an absolute count (``1000``) or a percentage (``"0.5%"``).
        depth: as for :func:`count`.
        device: as for :func:`count`.
        limits: as for :func:`count`.
        group: as for :func:`count`: every rank checks the same global figures.
        distributed: as for :func:`count`.
        architecture: as for :func:`count`.
        trust_remote_code: as for :func:`count`.
        base: as for :func:`count`.
        file: as for :func:`count`.
        cache: as for :func:`count`.
        progress: as for :func:`count`.
        experts_per_token: as for :func:`count`.

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
    report = count(
        obj,
        depth=depth,
        device=device,
        limits=limits,
        group=group,
        distributed=distributed,
        architecture=architecture,
        trust_remote_code=trust_remote_code,
        base=base,
        file=file,
        cache=cache,
        progress=progress,
        experts_per_token=experts_per_token,
    )
    return compare(report, expectations)


def memory(
    obj: object,
    *,
    mode: str = "inference",
    dtype: str | None = None,
    batch: int = 1,
    seq: int | None = None,
    kv_dtype: str | None = None,
    optimizer: str = "adamw",
    precision: str = "mixed",
    gpus: int = 1,
    strategy: str = "ddp",
    convention: str = "paper",
    activations: str | None = None,
    gpu_memory: int | str | None = None,
    **options: Any,
) -> Report:
    """Count a model and estimate the memory one device needs to serve or train it.

    Args:
        obj: as for :func:`count`.
        mode: ``"inference"`` (weights, buffers, KV cache) or ``"training"`` (also gradients, optimizer states,
            master weights, partitioned by ``strategy``).
        dtype: the weights' dtype to assume (``"bfloat16"``, ``"bf16"``, ``"int4"``); default: as stored.
        batch: sequences per batch (KV cache and activations).
        seq: tokens per sequence; without it there is no KV cache and activations cannot be measured.
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
    from paramcount import footprint as _memory

    plan = _memory.plan(
        mode=mode, dtype=dtype, batch=batch, seq=seq, kv_dtype=kv_dtype, optimizer=optimizer, precision=precision,
        gpus=gpus, strategy=strategy, convention=convention, activations=activations, gpu_memory=gpu_memory,
    )  # fmt: skip
    if options.get("depth") is not None:
        raise UsageError("memory counts every module (FSDP's unit is a block found among them)", fix="drop depth")
    report = count(obj, **options)

    def model() -> Any:
        if isinstance(obj, str) and looks_like_spec(obj.strip()):
            return _model(obj, "meta")[0]
        if isinstance(obj, (str, os.PathLike)):
            config = report.config
            if not isinstance(config, dict) or config.get("source") == "gguf":  # a GGUF file's metadata: no class
                raise TargetError(
                    "activations are measured on the model a config.json describes, and this target has none",
                    target=report.target,
                    fix="count a folder or Hub id with a config.json, or leave out --activations",
                )
            from paramcount.sources.architecture import build_model

            return build_model(config, report.target)
        return _model(obj, "meta")[0]

    config = None
    if plan.seq is not None:  # the KV cache's geometry, as transformers' configuration class reads it
        from paramcount.sources.architecture import normalised_config

        config = normalised_config(report.config, report.target)
    with collection_paused():
        estimate = _memory.estimate(report, plan, config=config, model=model)
    warning = _memory.beyond_context(report, plan.seq)
    warnings = report.warnings + ((warning,) if warning else ())
    return report.replace(memory=estimate, warnings=warnings)


def _experts(found: Inventory, experts_per_token: int | None) -> Inventory:
    """The inventory with ``experts_per_token`` in place of its configuration's top-k, when one is given."""
    if experts_per_token is None:
        return found
    if experts_per_token < 1:
        raise UsageError(f"experts per token must be >= 1, not {experts_per_token}")
    if found.experts is None:
        return found._replace(
            warnings=(
                *found.warnings,
                f"--experts-per-token {experts_per_token} is not used: the configuration does not say how many "
                "experts the model routes among",
            )
        )
    return found._replace(experts=(experts_per_token, found.experts[1]))


def _ties_embeddings(model: object) -> bool:
    """Whether the model, or a module in it, carries a configuration with ``tie_word_embeddings`` set."""
    import torch

    if not isinstance(model, torch.nn.Module):
        return False
    for module in model.modules():
        config = vars(module).get("config")  # a plain attribute, as transformers stores it; no __getattr__ call
        if getattr(config, "tie_word_embeddings", False) is True:
            return True
    return False


def _base_without_adapter(target: str) -> UsageError:
    return UsageError(
        f"--base (base=) names the base model of a PEFT adapter folder, and {target!r} is not one",
        fix="drop --base, or point TARGET at the adapter folder (the one holding adapter_config.json)",
    )


def _untied_heads(model: object) -> tuple[str, ...]:
    """A warning for a transformers model whose config ties its output head to its input embeddings but whose
    head is a different tensor now (torchao's ``quantize_`` or a user's assignment replaced one of them)."""
    import sys

    if "transformers" not in sys.modules:
        return ()
    from paramcount.sources import hf

    return hf.untied_heads(model)


def _limits(limits: Limits | Mapping[str, int | str] | None) -> Limits:
    from paramcount.limits import DEFAULT, Limits, parse_limits

    if limits is None or isinstance(limits, Limits):
        return limits or DEFAULT
    return parse_limits([f"{name.replace('_', '-')}={value}" for name, value in limits.items()])


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
    from paramcount.sources.architecture import check_mode

    if check_mode(architecture) == "off":
        raise UsageError("check needs the architecture's rules: --architecture off has none", fix="drop it")
    options: dict[str, Any] = {
        "depth": depth,
        "limits": limits,
        "file": file,
        "cache": cache,
        "progress": progress,
    }
    if model is not None and not _is_config_target(model):
        built, name, _ = _model(model, device)
        report = count(weights, architecture="off", **options)
        _has_tensors(report, weights)
        return report.replace(load=_torch_load(report, built, name or type(built).__name__))
    holder = Checking(None if model is None else _config_document(model, limits))
    token = CHECKING.set(holder)
    try:
        report = count(weights, architecture=architecture, **options)
    finally:
        CHECKING.reset(token)
    _has_tensors(report, weights)
    if holder.result is None:
        raise TargetError(
            "names no model to check the weights against: there is no config.json beside them",
            target=_name(weights),
            fix="pass --model TARGET (a config.json, a model folder, a Hub id, or 'module:callable(args)')",
        )
    return report.replace(load=holder.result)


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
            f"diff compares two targets, but both are {_name(a)!r}",
            fix="name two different files, folders or revisions (org/name@v1 org/name@v2)",
        )
    options: dict[str, Any] = {"architecture": architecture, "device": device, "limits": limits, "depth": depth}
    report_a, tensors_a, prefix_a = _side(a, options, cache, progress)
    report_b, tensors_b, prefix_b = _side(b, options, cache, progress)
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


def _side(obj: object, options: dict[str, Any], cache: bool, progress: bool) -> tuple[Report, dict[str, Any], str]:
    """One side's report, its tensors under the model's names (its architecture's, where it has one; each tensor
    once, persistent ones only), and the base-model prefix taken off them (``""`` for none)."""
    from paramcount.records import Kind
    from paramcount.sources import CHECKING, Checking

    holder = Checking(None, shapes=False)
    token = CHECKING.set(holder)
    try:
        if isinstance(obj, (str, os.PathLike)) and not looks_like_spec(os.fspath(obj).strip()):
            report = count(obj, cache=cache, progress=progress, **options)
        else:
            report = count(obj, **{k: v for k, v in options.items() if k != "architecture"})
    finally:
        CHECKING.reset(token)
    prefix = _prefix_of(report, obj)
    if isinstance(holder.keys, dict):
        return report, holder.keys, prefix
    tensors: dict[str, Any] = {}
    seen: set[object] = set()
    for r in report.records:
        if r.kind not in (Kind.PARAMETER, Kind.BUFFER) or r.persistent is False:
            continue  # a non-persistent buffer is not in a checkpoint
        if r.identity is not None:
            if r.identity in seen:
                continue  # a tied name: the model holds the tensor once
            seen.add(r.identity)
        name = r.name[len(prefix) + 1 :] if prefix and r.name.startswith(prefix + ".") else r.name
        tensors[name] = (r.shape, r.dtype, r.elements or 0)
    return report, tensors, prefix


def _prefix_of(report: Report, obj: object) -> str:
    """The base-model prefix of a side's class: a live transformers model's, else the table's for its class."""
    prefix = getattr(obj, "base_model_prefix", None)
    if isinstance(prefix, str):
        return prefix
    section = report.architecture
    if section is None or section.name is None or section.model_type is None:
        return ""
    from paramcount.sources.architecture import Choice, from_table

    document = report.config if isinstance(report.config, dict) else {}
    known = from_table(document, Choice(section.name, section.model_type, section.chosen, False))
    return known.prefix if known is not None else ""


def _name(obj: object) -> str:
    return os.fspath(obj) if isinstance(obj, (str, os.PathLike)) else f"<{type(obj).__name__}>"


def _is_config_target(model: object) -> bool:
    """Whether ``model`` names a configuration (a path, an id, a URL) rather than code or a live module."""
    if isinstance(model, os.PathLike):
        return True
    return isinstance(model, str) and not looks_like_spec(model.strip())


def _has_tensors(report: Report, weights: object) -> None:
    from paramcount.sources import module as _module

    built = report.format is None and not _module.is_tensor_mapping(weights)  # a model from config.json or code
    if not built and not report.records:
        raise TargetError(
            "holds no tensors: there are no weights to check",
            target=_name(weights),
            fix="name the weights file or folder as WEIGHTS",
        )
    if built:
        raise TargetError(
            "holds no weights to check (a model built from its config.json has no stored tensors)",
            target=_name(weights),
            fix="name a weights file or a folder with weights as WEIGHTS, and the model with --model",
        )


def _config_document(model: object, limits: Limits | Mapping[str, int | str] | None) -> dict[str, Any]:
    """The ``config.json`` document ``model`` names: a file, a folder holding one, or a Hub id or URL."""
    import json

    target = os.fspath(model)  # type: ignore[call-overload]
    path = os.path.join(target, "config.json") if os.path.isdir(target) else target
    document: Any = None
    if os.path.isfile(path) and path.endswith(".json"):
        cap = _limits(limits).json_bytes
        try:
            with open(path, "rb") as f:
                text = f.read(cap + 1)
        except OSError as e:
            raise TargetError(f"cannot be read ({e.strerror})", target=path, fix="check the path") from None
        if len(text) > cap:
            raise TargetError(f"is over {cap:,} bytes", target=path, fix="raise the json-bytes limit") from None
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise TargetError("is not JSON", target=path, fix="name the model's config.json") from None
    elif os.path.isdir(target):
        raise TargetError("has no config.json", target=target, fix="name a folder that holds the model's config.json")
    elif os.path.exists(target):
        raise TargetError(
            "is not a model: --model takes a config.json, a model folder, a Hub id or 'module:callable(args)'",
            target=target,
            fix="name the model's config.json",
        )
    else:
        document = count(target, architecture="off", limits=limits).config
    if not isinstance(document, dict) or not ("model_type" in document or "architectures" in document):
        raise TargetError(
            "is not a model's configuration (no model_type or architectures)",
            target=path if os.path.exists(path) else target,
            fix="name the model's config.json",
        )
    return document


def _torch_load(report: Report, model: Any, name: str) -> Any:
    """What ``model.load_state_dict(weights, strict=False)`` reports, shape mismatches apart."""
    from paramcount.records import Kind, Load, Mismatch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    stored = {r.name: r for r in report.records if r.kind is not Kind.AUXILIARY}
    mismatched = tuple(
        Mismatch(k, r.shape, expected[k])
        for k, r in stored.items()
        if k in expected and r.shape is not None and r.shape != expected[k]
    )
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in model.state_dict().items()}
    changes = tuple(
        (k, str(r.dtype), dtypes[k]) for k, r in stored.items() if k in dtypes and r.dtype and r.dtype != dtypes[k]
    )
    return Load(
        loader="torch",
        model=name,
        missing_keys=tuple(k for k in expected if k not in stored),
        unexpected_keys=tuple(k for k in stored if k not in expected),
        mismatched_keys=mismatched,
        dtype_changes=changes,
    )


def _model(obj: object, device: str) -> tuple[torch.nn.Module, str | None, tuple[str, ...]]:
    """The model to walk, the name to report it by, and notes on how it was obtained."""
    from paramcount.sources import module as _module

    if isinstance(obj, str):
        return _build(obj, device)
    if _module.is_module(obj):
        return obj, None, ()  # type: ignore[return-value]  # is_module checked it without importing torch
    raise TypeError(
        f"count() takes a torch.nn.Module, a mapping of names to tensors, a TARGET string or a path, not "
        f"{type(obj).__name__}"
    )


def _build(text: str, device: str) -> tuple[torch.nn.Module, str, tuple[str, ...]]:
    from paramcount.sources import spec as _spec

    text = text.strip()
    _spec.preflight(text)  # a misspelt module fails here, before torch is imported
    try:
        import torch
    except ImportError:
        raise TargetError(
            "building a model needs PyTorch, which is not installed", target=text, fix="pip install 'paramcount[torch]'"
        ) from None
    model = _spec.build(text, device=device)
    if isinstance(model, type) and issubclass(model, torch.nn.Module):
        raise TargetError(
            f"names the class {model.__name__}, not a model",
            target=text,
            fix="call it, e.g. 'package.module:Model(args)'",
        )
    if not isinstance(model, torch.nn.Module):
        raise TargetError(
            f"evaluates to {type(model).__name__}, not a torch.nn.Module",
            target=text,
            fix="name a module instance or a callable that returns one",
        )
    built = f"built on the {device} device" + (" (no weight memory allocated)" if device == "meta" else "")
    return model, text, (built,)
