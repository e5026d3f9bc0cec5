"""A diffusers pipeline folder (``model_index.json``) -> the records of every model component, and their total.

``model_index.json`` maps component names to ``[library, class]``: ``unet``, ``transformer``, ``vae``,
``text_encoder``, ``text_encoder_2``, ... are models; tokenizers, schedulers and feature extractors are not and are
skipped. Each model component is its own sub-folder, counted from its weights when it has them (a transformers
component with its architecture's knowledge) or else from its ``config.json`` on the meta device (transformers
components through transformers, diffusers components through diffusers). Records are named
``component.tensor``, so the module table at depth 1 is the per-component table and the total is the pipeline's.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote
from paramcount.records import Inventory, unique_parameters

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paramcount.blob import Folder

__all__ = ["MODEL_INDEX", "diffusers_inventory", "inventory"]

MODEL_INDEX = "model_index.json"
# Components that hold no weights, by the class names diffusers and transformers give them.
_NOT_MODELS = ("Tokenizer", "Scheduler", "FeatureExtractor", "ImageProcessor", "Processor")


def inventory(
    folder: Folder,
    target: str,
    *,
    read_json: Callable[[str], Any],
    count_component: Callable[[str], Inventory],
) -> Inventory:
    """Records of every model component of the pipeline in ``folder``.

    Args:
        folder: the pipeline folder.
        target: how the user named it.
        read_json: reads a JSON file of the folder by name.
        count_component: counts one component's sub-folder, by name (weights, or its config on the meta device).
    """
    index = read_json(MODEL_INDEX)
    if not isinstance(index, dict):
        raise TargetError(f"{MODEL_INDEX} is not a JSON object", target=target, fix="check the pipeline folder")
    names = set(folder.names())
    tensors = []
    notes = [f"diffusers pipeline {quote(str(index.get('_class_name', 'unknown')), 80)}: every model component counted"]
    warnings: list[str] = []
    files: list[str] = []
    formats: set[str] = set()
    stored_bytes = storages = 0
    counted = 0
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
            continue
        library, class_name = spec
        if library is None or class_name is None:
            continue  # an optional component this pipeline does not have
        if any(part in str(class_name) for part in _NOT_MODELS):
            continue
        if component not in names:
            warnings.append(f"component {quote(component, 40)} ({class_name}) has no sub-folder: left out")
            continue
        found = count_component(component)
        counted += 1
        for r in found.tensors:
            tensors.append(
                r._replace(
                    name=f"{component}.{r.name}",
                    module=f"{component}.{r.module}" if r.module else component,
                    identity=None if r.identity is None else (component, r.identity),
                )
            )
        how = "from its weights" if found.format is not None else "from its config on the meta device"
        notes.append(f"{component} ({class_name}, {how}): {unique_parameters(found.tensors):,} parameters")
        warnings.extend(f"{component}: {w}" for w in found.warnings)
        files.extend(found.files)
        if found.format is not None:
            formats.add(found.format)
            stored_bytes += found.stored_bytes or 0
            storages += found.storages or 0
    if not counted:
        raise TargetError(
            f"{MODEL_INDEX} lists no model component with a sub-folder", target=target, fix="check the pipeline folder"
        )
    return Inventory(
        target=target,
        tensors=tuple(tensors),
        warnings=tuple(warnings),
        notes=tuple(notes),
        format=(formats.pop() if len(formats) == 1 else "mixed") if formats else None,
        files=tuple(files),
        verdict="ok" if formats else None,
        storages=storages if formats else None,
        stored_bytes=stored_bytes if formats else None,
    )


def diffusers_inventory(document: dict[str, Any], target: str) -> Inventory:
    """A diffusers model (a UNet, a VAE, a DiT) built on the meta device from its ``config.json``."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        raise TargetError(
            "counting a diffusers component from its config needs diffusers, which is not installed",
            target=target,
            fix="pip install diffusers, or download the component's weights",
        )
    import torch

    from paramcount.sources import hf
    from paramcount.sources import module as live

    with hf.quiet():
        import diffusers

    name = document.get("_class_name")
    cls = getattr(diffusers, name, None) if isinstance(name, str) else None
    if not isinstance(cls, type) or not hasattr(cls, "from_config"):
        raise TargetError(
            f"config.json names the diffusers class {quote(name)}, which diffusers {diffusers.__version__} does not "
            "have",
            target=target,
            fix="upgrade diffusers, or check the config",
        )
    try:
        with hf.quiet(), torch.device("meta"):
            model = cls.from_config(document)
    except Exception as e:  # the library's own code validating the config: any exception is a bad config
        raise TargetError(
            f"diffusers cannot build {name} from this config ({type(e).__name__}: {quote(str(e), 120)})",
            target=target,
            fix="check the config's values",
        ) from None
    found = live.inventory(model, target=target)
    return found._replace(notes=(f"built {name} from config.json on the meta device: no weights read", *found.notes))
