"""The dispatcher: any object or TARGET, with one set of :class:`Options`, becomes an :class:`Inventory`.

The one place that decides what a target is and which source reads it (DESIGN.md, "How an input finds its
reader"): a path, URL or Hugging Face id (:mod:`.resolve`, then :mod:`.files` or :mod:`.remote`), a mapping of
names to tensors, a ``module:callable(args)`` TARGET built on a device (:mod:`.spec`), a live module
(:mod:`.module`), across a process group (:mod:`.distributed`). The fixes a count needs after its source are made
here too, once: the experts per token asked for, the notes of how a model was built, the warning for a head that
no longer shares its tensor with the embedding. The API above only tallies, compares and estimates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from paramcount._gc import collection_paused
from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import TargetError, UsageError
from paramcount.limits import DEFAULT, Limits, budget
from paramcount.roles import experts_of
from paramcount.sources import names_code

if TYPE_CHECKING:
    from typing import Any

    import torch

    from paramcount.records import Inventory

__all__ = ["Options", "config_document", "inventory", "live_model", "model_of", "name_of", "names_config", "options"]


class Options(NamedTuple):
    """How to count a target: the keyword arguments :func:`paramcount.count`, ``verify``, ``memory``, ``check`` and
    ``diff`` share, checked once by :func:`options`. Each is documented on :func:`paramcount.count`."""

    depth: int | None = None
    device: str = "meta"
    limits: Limits = DEFAULT
    group: Any = None
    distributed: bool = False
    architecture: str = "table"
    trust_remote_code: bool = False
    base: str | None = None
    file: str | None = None
    cache: bool = True
    progress: bool = False
    experts_per_token: int | None = None


def options(**given: Any) -> Options:
    """The options with every value checked: one clear line for the first that is wrong.

    Raises:
        TypeError: an unknown keyword (with the nearest known one), as Python says for a function's keywords.
        UsageError: a value out of range.
    """
    unknown = [name for name in given if name not in Options._fields]
    if unknown:
        from difflib import get_close_matches

        near = get_close_matches(unknown[0], Options._fields, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}{hint}")
    base = given.pop("base", None)
    limits = _limits(given.pop("limits", None))
    found = Options(**given, limits=limits, base=None if base is None else os.fspath(base))
    for name in ("depth", "experts_per_token"):
        value = getattr(found, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"must be a whole number or None, not {value!r}", option=name)
    for name in ("distributed", "trust_remote_code", "cache", "progress"):
        if not isinstance(getattr(found, name), bool):
            raise UsageError(f"must be True or False, not {getattr(found, name)!r}", option=name)
    if found.depth is not None and found.depth < 0:
        raise UsageError(f"must be >= 0 or None, not {found.depth}", option="depth")
    if found.experts_per_token is not None and found.experts_per_token < 1:
        raise UsageError(f"must be >= 1, not {found.experts_per_token}", option="experts_per_token")
    from paramcount.sources.architecture import check_mode

    check_mode(found.architecture)
    return found


def _limits(limits: Limits | Mapping[str, int | str] | None) -> Limits:
    """A mapping of the limits to change (``{"pickle_bytes": 2**30}``, ``{"pickle-bytes": "1GiB"}``) as limits."""
    from paramcount.limits import parse_limits

    if limits is None:
        return DEFAULT
    if isinstance(limits, Limits):
        return limits
    if not isinstance(limits, Mapping):
        raise UsageError(
            f"must be a Limits value or a mapping of limit names to values, not {type(limits).__name__}",
            option="limits",
            fix='e.g. limits={"pickle_bytes": "1GiB"}',
        )
    return parse_limits([f"{name.replace('_', '-')}={value}" for name, value in limits.items()])


def inventory(obj: object, options: Options) -> Inventory:
    """The records of ``obj``, whatever it is, read as ``options`` say.

    Raises:
        TargetError: the target cannot be built or read, or is not a model.
        UsageError: an option that does not apply to this target (``base`` for anything but an adapter folder).
        TypeError: ``obj`` is not a kind of target paramcount knows.
    """
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and not names_code(obj)):
        return _experts(_path(os.fspath(obj), options), options.experts_per_token)
    if options.base is not None:
        raise _base_without_adapter(str(obj) if isinstance(obj, str) else type(obj).__name__)
    from paramcount.sources import module as _module

    if _module.is_tensor_mapping(obj):
        with collection_paused():
            return _module.mapping_inventory(obj)  # type: ignore[arg-type]  # is_tensor_mapping checked it
    model, target, notes = model_of(obj, options.device)
    with collection_paused():
        found = _module.inventory(model, target=target)
        # the instance's own config only: a model's __getattr__ is the user's code, and may raise
        config = vars(model).get("config") if hasattr(model, "__dict__") else None
        found = found._replace(
            experts=experts_of(config),
            config=config,
            notes=notes + found.notes,
            warnings=found.warnings + _untied_heads(model),
        )
        found = _experts(found, options.experts_per_token)
    if options.group is None and not options.distributed:
        return found
    from paramcount.records import Distributed
    from paramcount.sources.distributed import gather

    merged, storage, scheme = gather(found, options.group, tied=_ties_embeddings(model))
    return merged._replace(distributed=Distributed(len(storage), scheme, storage))


def _path(target: str, options: Options) -> Inventory:
    """A path, URL or Hugging Face id, resolved in the documented order (:mod:`paramcount.sources.resolve`)."""
    from paramcount.sources.resolve import resolve

    resolved = resolve(target)
    with collection_paused(), budget():
        if resolved.remote is not None:
            if options.base is not None:
                raise UsageError(
                    "is for a local adapter folder", option="base", fix="download the adapter, or leave it out"
                )
            from paramcount.sources import remote

            return remote.inventory(
                resolved.remote,
                target,
                options.limits,
                architecture=options.architecture,
                file=options.file,
                cache=options.cache,
                progress=options.progress,
                note=resolved.note,
            )
        from paramcount.sources import files

        found = files.inventory(
            resolved.path,
            options.limits,
            architecture=options.architecture,
            trust_remote_code=options.trust_remote_code,
            base=options.base,
            file=options.file,
        )
    if resolved.kind == "hub":  # a Hugging Face id found in the local cache: named as the user named it
        found = found._replace(target=target, notes=(resolved.note, *found.notes))
    if options.base is not None and found.adapter is None:
        raise _base_without_adapter(target)
    return found


def _experts(found: Inventory, experts_per_token: int | None) -> Inventory:
    """The inventory with ``experts_per_token`` in place of its configuration's top-k, when one is given."""
    if experts_per_token is None:
        return found
    if found.experts is None:
        return found._replace(
            warnings=(
                *found.warnings,
                f"experts per token ({experts_per_token}, --experts-per-token) is not used: the configuration does "
                "not say how many "
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
        f"names the base model of a PEFT adapter folder, and {target!r} is not one",
        option="base",
        fix="leave it out, or point the target at the adapter folder (the one holding adapter_config.json)",
    )


def _untied_heads(model: object) -> tuple[str, ...]:
    """A warning for a transformers model whose config ties its output head to its input embeddings but whose
    head is a different tensor now (torchao's ``quantize_`` or a user's assignment replaced one of them)."""
    import sys

    if "transformers" not in sys.modules:
        return ()
    from paramcount.sources import hf

    return hf.untied_heads(model)


def model_of(obj: object, device: str) -> tuple[torch.nn.Module, str | None, tuple[str, ...]]:
    """A live module, or the one a ``module:callable(args)`` TARGET builds on ``device``; its name; how it was built.

    Raises:
        TargetError: the TARGET cannot be imported or built, or does not give a module.
        TypeError: ``obj`` is neither a module nor a TARGET string.
    """
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


def name_of(obj: object) -> str:
    """What messages call a target: its path or TARGET string, else ``<type>``."""
    return os.fspath(obj) if isinstance(obj, (str, os.PathLike)) else f"<{type(obj).__name__}>"


def names_config(model: object) -> bool:
    """Whether ``model`` names a configuration (a path, an id, a URL) rather than code or a live module."""
    if isinstance(model, os.PathLike):
        return True
    return isinstance(model, str) and not names_code(model)


def live_model(obj: object, config: object, target: str) -> Any:
    """The model a counted target describes, to run (``--activations measure``): a TARGET's or a live module, built
    on the meta device, or the class a ``config.json`` names.

    Raises:
        TargetError: the target has no configuration naming a class (a GGUF file, a lone checkpoint).
    """
    if isinstance(obj, str) and names_code(obj):
        return model_of(obj, "meta")[0]
    if isinstance(obj, (str, os.PathLike)):
        if not isinstance(config, dict) or config.get("source") == "gguf":  # a GGUF file's metadata: no class
            raise TargetError(
                "activations are measured on the model a config.json describes, and this target has none",
                target=target,
                fix="count a folder or Hub id with a config.json, or leave out --activations (activations= in Python)",
            )
        from paramcount.sources.architecture import build_model

        return build_model(config, target)
    return model_of(obj, "meta")[0]


def config_document(model: object, limits: Limits) -> dict[str, Any]:
    """The ``config.json`` document ``model`` names: a file, a folder holding one, or a Hub id or URL."""
    import json

    target = os.fspath(model)  # type: ignore[call-overload]
    path = os.path.join(target, "config.json") if os.path.isdir(target) else target
    document: Any = None
    if os.path.isfile(path) and path.endswith(".json"):
        cap = limits.json_bytes
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
            "is not a model: --model (model= in Python) takes a config.json, a model folder, a Hub id or "
            "'module:callable(args)'",
            target=target,
            fix="name the model's config.json",
        )
    else:
        document = inventory(target, Options(architecture="off", limits=limits)).config
    if not isinstance(document, dict) or not ("model_type" in document or "architectures" in document):
        raise TargetError(
            "is not a model's configuration (no model_type or architectures)",
            target=path if os.path.exists(path) else target,
            fix="name the model's config.json",
        )
    return document
