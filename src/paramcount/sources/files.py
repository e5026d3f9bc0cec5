"""Checkpoint files and model folders -> records, from headers only. No torch, no tensor data, no code.

A target is a single file, a sharded set through an index (``model.safetensors.index.json``,
``pytorch_model.bin.index.json``), or a Hugging Face-style folder holding any of them, with ``config.json``'s
``tie_word_embeddings`` and quantization honoured. Every file is read by the reader the format registry
(:data:`paramcount.formats.READERS`) finds for its content; this module knows no format, only how weights files
make up a model: which files a folder's weights are, how an index maps tensors to shards, and what a model's
configuration says about ties and quantization.
"""

from __future__ import annotations

import json
import os
import re
import stat

from paramcount import quant
from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.blob import Folder, LocalFile, LocalFolder, confined
from paramcount.classify import tie_output_head
from paramcount.errors import FormatError, TargetError, UsageError, quote
from paramcount.formats import SNIFF_BYTES, WEIGHT_SUFFIXES, Format, detect, polyglot, unrecognised
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.quant import Scheme, scheme_from_config
from paramcount.records import Inventory, Kind, ModuleRecord, Role, TensorRecord, unique_parameters
from paramcount.roles import experts_of
from paramcount.sources import CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from paramcount.blob import Blob
    from paramcount.formats import FileRead

__all__ = ["WEIGHT_SETS", "inventory", "remote_file", "remote_folder"]

# Hugging Face folder conventions: the weight sets of a folder, in the order they are preferred (transformers
# prefers safetensors to pickles; a sharded set's index before a single file of the same format).
_WEIGHT_SETS = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "model.pt",
    "model.pth",
    "model.ckpt",
)
_INDEXES = tuple(name for name in _WEIGHT_SETS if name.endswith(".index.json"))
WEIGHT_SETS = frozenset(_WEIGHT_SETS)
_DCP_METADATA = ".metadata"
_MODEL_INDEX = "model_index.json"  # a diffusers pipeline
_ADAPTER_CONFIG = "adapter_config.json"  # a PEFT adapter (sources/adapter.py, imported for one only)
# model-00001-of-00004.safetensors: one shard of a set, named as transformers and huggingface_hub name them
_SHARD_NAME = re.compile(r"-(\d+)-of-(\d+)\.[^.]+$")


class _Shard(NamedTuple):
    """One weights file of a target: how to open it, what to call it, and the folder beside it."""

    label: str
    open: Callable[[], Blob]
    folder: Folder | None


def inventory(
    target: str,
    limits: Limits = DEFAULT,
    *,
    architecture: str = "table",
    trust_remote_code: bool = False,
    base: str | None = None,
    file: str | None = None,
) -> Inventory:
    """Records for every tensor stored at ``target`` (a file or a model folder), within ``limits``.

    A folder's ``config.json`` names its architecture, which decides each stored tensor's role
    (:mod:`paramcount.sources.architecture`; ``architecture`` is the mode: ``"table"``, ``"build"`` or ``"off"``).
    A ``config.json``, or a folder holding one and no weights, is the model it describes, built on the meta
    device; ``trust_remote_code`` lets a config whose ``auto_map`` names the folder's own code run that code.
    A PEFT adapter folder is counted by :mod:`paramcount.sources.adapter`, with ``base`` (a path or a cached id)
    as its base model when given. ``file`` picks one file of a folder (one of a GGUF repository's quantizations).

    Raises:
        TargetError: the path is missing, unreadable, or not a checkpoint paramcount reads.
        FormatError: a file breaks a rule of its format.
        UnsafeTargetError: a pickle in it would run code if loaded.
    """
    try:
        info = os.stat(target)
    except FileNotFoundError:
        if os.path.lexists(target):
            raise TargetError("is a link to nothing", target=target, fix="check where the link points") from None
        raise TargetError("no such file or folder", target=target, fix=_missing_hint(target)) from None
    except OSError as e:  # permission to the folders above it, a link loop, a name too long
        raise TargetError(f"cannot be reached ({e.strerror})", target=target, fix="check the path") from None
    except ValueError as e:  # an embedded NUL
        raise TargetError(f"is not a usable path ({e})", target=target, fix="check the path") from None
    if stat.S_ISDIR(info.st_mode):
        folder = LocalFolder(target)
        if file is not None:
            return _pick(folder, file, target, limits, code_folder=target, trust_remote_code=trust_remote_code)
        return _folder(
            folder,
            target,
            limits,
            architecture=architecture,
            trust_remote_code=trust_remote_code,
            base=base,
        )
    if file is not None:
        raise UsageError(
            f"picks a file of a folder or repository, but {target!r} is a file", option="file", fix="leave it out"
        )
    # The file the user named is read wherever it links to; the files beside it must stay in its folder.
    where = os.path.dirname(target) or "."
    shard = _Shard(os.path.basename(target), lambda: LocalFile(target), LocalFolder(where))
    return _file(shard, target, limits, code_folder=where, trust_remote_code=trust_remote_code)


def remote_folder(folder: Folder, target: str, limits: Limits, *, architecture: str = "table") -> Inventory:
    """A remote repository or store folder, counted as a local folder is; its own model code never runs."""
    return _folder(folder, target, limits, architecture=architecture, code_folder=None)


def remote_file(folder: Folder, name: str, target: str, limits: Limits) -> Inventory:
    """One file of a remote repository or folder (with the files beside it that an index names)."""
    return _pick(folder, name, target, limits, code_folder=None, trust_remote_code=False)


def _pick(
    folder: Folder, name: str, target: str, limits: Limits, *, code_folder: str | None, trust_remote_code: bool
) -> Inventory:
    """The file ``name`` of a folder or repository (``--file``), counted alone."""
    if not folder.is_file(name):
        shown = ", ".join(quote(n, 60) for n in folder.names() if n.endswith(WEIGHT_SUFFIXES))[:300]
        raise TargetError(
            f"has no file {quote(name)}" + (f" (weight files: {shown})" if shown else ""),
            target=target,
            fix="name one of its files with --file (file= in Python)",
        )
    return _file(_inside(folder, name), target, limits, code_folder=code_folder, trust_remote_code=trust_remote_code)


def _file(shard: _Shard, target: str, limits: Limits, *, code_folder: str | None, trust_remote_code: bool) -> Inventory:
    """One file: weights, an index (with the shards beside it) or a ``config.json``."""
    assert shard.folder is not None
    with shard.open() as blob:
        head, size = blob.read(0, min(SNIFF_BYTES, blob.size)), blob.size
    if _looks_like_json(head) and detect(head, size, shard.label) is None:  # an index or a config named directly
        document = _read_json(shard, limits)
        if isinstance(document, dict) and "weight_map" not in document and _names_model(document):
            from paramcount.sources.architecture import config_inventory

            return config_inventory(document, code_folder, target, trust_remote_code=trust_remote_code)
        return _index(shard.folder, shard, target, config=None, limits=limits, document=document)
    inventory = _combine(target, [shard], weight_map=None, config=_NO_CONFIG, limits=limits)
    match = _SHARD_NAME.search(shard.label)
    if match and int(match[2]) > 1:
        part, parts = int(match[1]), int(match[2])
        inventory = inventory._replace(
            warnings=(
                *inventory.warnings,
                f"this file is shard {part} of {parts} (by its name): it holds part of the model; count the folder "
                "or its index for the whole",
            )
        )
    return inventory


def _missing_hint(target: str) -> str:
    """How to fix a path that does not exist: for ``torch.nn.Linear(2, 2)``, the model spec it was meant to be; for
    a typo, the nearest name in its folder; for ``org/name`` beside a folder ``org``, the Hub URL it may have meant."""
    from paramcount.sources.resolve import names_hub_model

    head, paren, rest = target.strip().partition("(")
    parts = head.strip().split(".")
    if paren and len(parts) >= 2 and all(part.isidentifier() for part in parts):
        spec = f"{'.'.join(parts[:-1])}:{parts[-1]}({rest}"
        return f"to name a model in code, separate its module with a colon: {spec!r}"
    sibling = _nearest_sibling(target)
    hint = "check the path" if sibling is None else f"did you mean {quote(sibling)}?"
    if names_hub_model(target):  # the Hub model resolve() would have taken it for, were its folder not here
        hint += f" (for the Hugging Face model, write hf://{target})"
    return hint


def _nearest_sibling(target: str) -> str | None:
    """The name in ``target``'s folder closest to its own (a typo's likely meaning), if one is close."""
    import difflib

    parent, name = os.path.split(target.rstrip("/"))
    try:
        names = os.listdir(parent or ".") if name else []
    except (OSError, ValueError):
        return None
    stem = name.rpartition(".")[0] if name.endswith(WEIGHT_SUFFIXES) else name  # "lama_st.safetensors" for "llama_st"
    found = difflib.get_close_matches(name, names[:10_000], n=1, cutoff=0.6) or difflib.get_close_matches(
        stem, names[:10_000], n=1, cutoff=0.6
    )
    return os.path.join(parent, found[0]) if found else None


def _folder(
    folder: Folder,
    target: str,
    limits: Limits,
    *,
    architecture: str = "table",
    trust_remote_code: bool = False,
    base: str | None = None,
    code_folder: str | bool | None = True,
) -> Inventory:
    """A model folder (or a remote repository): its adapter, pipeline, checkpoint or preferred weight set.

    ``code_folder`` is where a config's own model code would run from: the folder itself (``True``), or ``None``
    for a remote repository, whose code is never downloaded.
    """
    where = folder.name if code_folder is True else code_folder if isinstance(code_folder, str) else None
    names = folder.names()
    if _ADAPTER_CONFIG in names and folder.is_file(_ADAPTER_CONFIG):
        return _adapter(folder, target, limits, architecture, base)
    if _MODEL_INDEX in names and folder.is_file(_MODEL_INDEX):
        from paramcount.sources import pipeline

        components = [n for n in names if not folder.is_file(n)]
        folder.prefetch([f"{c}/{f}" for c in components for f in ("config.json", *_WEIGHT_SETS)])
        return pipeline.inventory(
            folder,
            target,
            read_json=lambda name: _read_json(_inside(folder, name), limits),
            count_component=lambda name: _component(folder.sub(name), limits, architecture, where is not None),
        )
    if _DCP_METADATA in names and folder.is_file(_DCP_METADATA):
        return _combine(target, [_inside(folder, _DCP_METADATA)], weight_map=None, config=_NO_CONFIG, limits=limits)
    present = [n for n in _WEIGHT_SETS if n in names and folder.is_file(n)]
    folder.prefetch(["config.json", "quantize_config.json", *present[:1]])  # at once, on a remote folder
    config = _config(folder, limits)._replace(mode=architecture)
    if present:
        chosen = present[0]
        if chosen in _INDEXES:
            found = _index(folder, _inside(folder, chosen), target, config=config, limits=limits)
        else:
            found = _combine(target, [_inside(folder, chosen)], weight_map=None, config=config, limits=limits)
        if len(present) > 1:
            others = ", ".join(present[1:])
            found = found._replace(notes=(*found.notes, f"counted {chosen}; the folder also holds {others}"))
        return found
    candidates = [n for n in names if n.endswith(WEIGHT_SUFFIXES) and folder.is_file(n)]
    if len(candidates) == 1:
        return _combine(target, [_inside(folder, candidates[0])], weight_map=None, config=config, limits=limits)
    if candidates and all(n.endswith(".gguf") for n in candidates):
        return _variants(folder, candidates, target, limits)
    shards = _shard_set(candidates, target)
    if shards is not None:
        folder.prefetch(shards)
        found = _combine(target, [_inside(folder, n) for n in shards], weight_map=None, config=config, limits=limits)
        note = (
            f"no index found: the {len(shards)} shards {shards[0]} ... {shards[-1]} were taken as one complete set "
            "(every number up to -of-N present) and summed"
        )
        return found._replace(notes=(*found.notes, note))
    if candidates:
        shown = ", ".join(quote(n, 60) for n in candidates[:4])
        raise TargetError(
            f"holds {len(candidates)} weight files ({shown}) and no index",
            target=target,
            fix=f"name one file, e.g. --file {candidates[0]} (file= in Python)",
        )
    if config.document is not None:  # a configuration without weights: the model it describes
        from paramcount.sources.architecture import config_inventory

        return config_inventory(config.document, where, target, trust_remote_code=trust_remote_code)
    raise TargetError(
        f"holds no weights: no index, no {_DCP_METADATA} and no {', '.join(WEIGHT_SUFFIXES)} file",
        target=target,
        fix="check the folder",
    )


def _shard_set(names: list[str], target: str) -> list[str] | None:
    """``names`` in shard order when they are all the shards of one set (``model-00001-of-00003.safetensors`` ...
    ``-00003-of-00003``: one stem and suffix, one N, every number from 1 to N once); ``None`` when they are not
    all shards of one set. A set with a shard missing, or numbered inconsistently, is refused naming what is
    wrong: counting what is there would count part of the model.
    """
    if len(names) < 2:
        return None
    parts: dict[str, tuple[int, str, str]] = {}  # name -> (number, the number as written, the N as written)
    groups = set()
    for name in names:
        match = _SHARD_NAME.search(name)
        if match is None or len(match[1]) > 9 or len(match[2]) > 9:  # no set has a billion shards
            return None
        groups.add((name[: match.start()], name[match.end(2) :]))
        parts[name] = (int(match[1]), match[1], match[2])
    if len(groups) > 1:
        return None
    (stem, suffix), first = next(iter(groups)), min(names)
    counts = sorted({int(written) for _, _, written in parts.values()})
    shown = quote(f"{stem}-*-of-*{suffix}", 80)
    if len(counts) > 1:
        raise TargetError(
            f"holds shards of {shown} that disagree on how many there are ({', '.join(map(str, counts))}) and no index",
            target=target,
            fix="keep one complete set of shards (or add its index, model.safetensors.index.json)",
        )
    total = counts[0]
    numbers = sorted(number for number, _, _ in parts.values())
    _, digits, written = parts[first]
    width = len(digits)
    present = {n for n in numbers if 1 <= n <= total}
    if len(present) < total:
        missing: list[str] = []  # the first few; at most len(present) + 5 steps, whatever N the names claim
        n = 1
        while len(missing) < 5 and n <= total:
            if n not in present:
                missing.append(quote(f"{stem}-{n:0{width}d}-of-{written}{suffix}", 80))
            n += 1
        more = total - len(present) - len(missing)
        shown_missing = ", ".join(missing) + (f" and {more} more" if more else "")
        raise TargetError(
            f"holds {len(present)} of the {total} shards of {shown} and no index: missing {shown_missing}",
            target=target,
            fix="download every shard (a count of the shards that are here would count part of the model)",
        )
    if len(numbers) != total or numbers[0] < 1 or numbers[-1] > total:
        raise TargetError(
            f"holds shards of {shown} numbered outside 1 to {total}, or twice ({', '.join(map(str, numbers))}), and "
            "no index",
            target=target,
            fix="keep one complete set of shards (or add its index)",
        )
    return sorted(names, key=lambda name: parts[name][0])


def _variants(folder: Folder, names: list[str], target: str, limits: Limits) -> Inventory:
    """Several GGUF files, each the same model at another quantization: one row each; the widest is counted."""
    from paramcount.records import Variant

    folder.prefetch(names)
    found = {
        name: _combine(target, [_inside(folder, name)], weight_map=None, config=_NO_CONFIG, limits=limits)
        for name in names
    }
    rows = []
    for name, inventory in found.items():
        by_type: dict[str, int] = {}
        for r in inventory.tensors:
            if r.kind is Kind.PARAMETER and r.elements:
                by_type[r.dtype] = by_type.get(r.dtype, 0) + r.elements
        main = max(by_type, key=lambda d: by_type[d]) if by_type else None
        rows.append(
            Variant(
                name, inventory.format or "gguf", main, unique_parameters(inventory.tensors), inventory.stored_bytes
            )
        )
    counted = max(rows, key=lambda v: (v.stored_bytes or 0, v.file))
    chosen = found[counted.file]
    figures = {v.parameters for v in rows}
    warnings = list(chosen.warnings)
    if len(figures) > 1:
        shown = "; ".join(f"{v.file}: {v.parameters:,}" for v in rows)
        warnings.append(f"the GGUF files do not hold the same number of parameters ({shown})")
    return chosen._replace(
        notes=(
            *chosen.notes,
            f"{len(rows)} GGUF files, one row each under variants; totals are {counted.file}'s (the largest); "
            "--file NAME (file= in Python) counts another",
        ),
        warnings=tuple(warnings),
        variants=tuple(v._replace(counted=v.file == counted.file) for v in sorted(rows, key=lambda v: v.file)),
    )


def _adapter(folder: Folder, target: str, limits: Limits, architecture: str, base: str | None) -> Inventory:
    """A PEFT adapter folder, with its base model when one is named or at hand."""
    from paramcount.sources import adapter
    from paramcount.sources.resolve import resolve

    def base_inventory(name: str) -> Inventory:
        if name == folder.name:  # the folder holds the base model's weights too
            names = [n for n in folder.names() if n != adapter.ADAPTER_CONFIG and not n.startswith("adapter_model")]
            view = _Without(folder, names)
            return _folder(view, target, limits, architecture=architecture)
        resolved = resolve(name)
        if resolved.kind == "spec":
            raise TargetError(
                "a base model must be a path or a Hugging Face id, not code",
                target=name,
                fix="save the base model with save_pretrained and pass its folder",
            )
        return inventory(resolved.path, limits, architecture=architecture)

    return adapter.inventory(
        folder,
        target,
        limits,
        read_json=lambda name: _read_json(_inside(folder, name), limits),
        read_weights=lambda name: _combine(
            target, [_inside(folder, name)], weight_map=None, config=_NO_CONFIG, limits=limits
        ),
        base=base,
        base_inventory=base_inventory,
    )


class _Without(Folder):
    """A folder seen without some of its files: a model folder that also holds an adapter, seen as the model."""

    def __init__(self, folder: Folder, names: list[str]) -> None:
        self.name = folder.name
        self._folder = folder
        self._names = tuple(names)

    def names(self) -> tuple[str, ...]:
        return self._names

    def is_file(self, relative: str) -> bool:
        return self._folder.is_file(relative)

    def open(self, relative: str) -> Blob:
        return self._folder.open(relative)

    def sub(self, relative: str) -> Folder:
        return self._folder.sub(relative)

    def prefetch(self, relatives: list[str]) -> None:
        self._folder.prefetch(relatives)


def _component(folder: Folder, limits: Limits, architecture: str, local: bool) -> Inventory:
    """One model component of a diffusers pipeline: its weights, else its config (transformers or diffusers)."""
    names = folder.names()
    weights = [n for n in names if n.endswith(WEIGHT_SUFFIXES) or n.endswith(".index.json")]
    if not weights and "config.json" in names:
        document = _read_json(_inside(folder, "config.json"), limits)
        if isinstance(document, dict) and "_class_name" in document and not _names_model(document):
            from paramcount.sources.pipeline import diffusers_inventory

            return diffusers_inventory(document, folder.name)
    return _folder(folder, folder.name, limits, architecture=architecture, code_folder=True if local else None)


def _inside(folder: Folder, name: str) -> _Shard:
    """A file of ``folder``, opened through it (so that a link out of the folder is refused)."""
    return _Shard(name, lambda: folder.open(name), folder)


def _looks_like_json(head: bytes) -> bool:
    return head.lstrip(b" \t\r\n").startswith(b"{")


def _read_json(shard: _Shard, limits: Limits) -> Any:
    with shard.open() as blob:
        if blob.size > limits.json_bytes:
            raise exceeded("json_bytes", f"{shard.label} is {blob.size} bytes", limits.json_bytes, target=blob.name)
        raw = blob.read(0, blob.size)
        where = blob.name
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(
            f"{shard.label} is not valid JSON ({quote(str(e).splitlines()[0], 80)})", target=where, rule="json"
        ) from e


class _Config(NamedTuple):
    """What a model folder's configuration says about counting its weights."""

    tie: bool | None
    scheme: Scheme | None
    #: config.json, when it names an architecture (``model_type`` or ``architectures``)
    document: dict[str, Any] | None = None
    #: how the architecture is found: ``"table"``, ``"build"`` or ``"off"``
    mode: str = "table"


_NO_CONFIG = _Config(None, None)


def _config(folder: Folder, limits: Limits) -> _Config:
    """``tie_word_embeddings`` and the quantization scheme, from ``config.json`` and ``quantize_config.json``."""
    documents = []
    for name in ("config.json", "quantize_config.json"):
        if folder.is_file(name):
            document = _read_json(_inside(folder, name), limits)
            documents.append(document if isinstance(document, dict) else None)
        else:
            documents.append(None)
    config, quantize_config = documents
    tie = config.get("tie_word_embeddings") if config else None
    return _Config(
        tie if isinstance(tie, bool) else None,
        scheme_from_config(config, quantize_config),
        config if config is not None and _names_model(config) else None,
    )


def _names_model(document: dict[str, Any]) -> bool:
    """Whether a JSON document is a model's configuration (it names a model type or an architecture)."""
    return "model_type" in document or "architectures" in document


def _index(
    folder: Folder, index: _Shard, target: str, *, config: _Config | None, limits: Limits, document: Any = None
) -> Inventory:
    if document is None:
        document = _read_json(index, limits)
    where = os.path.join(folder.name, index.label)
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise FormatError("has no 'weight_map' object of tensor names to shard files", target=where, rule="index")
    if config is None:
        config = _config(folder, limits)
    shards: list[_Shard] = []
    for shard in dict.fromkeys(weight_map.values()):
        if os.path.isabs(shard) or (isinstance(folder, LocalFolder) and not confined(folder.name, folder.path(shard))):
            raise FormatError(
                f"weight_map names shard {quote(shard)}, which lies outside the folder {quote(folder.name)}",
                target=where,
                rule="index-path",
            )
        if not folder.is_file(shard):
            raise TargetError(
                f"shard {quote(shard)} named by the index is missing", target=target, fix="download every shard"
            )
        shards.append(_inside(folder, shard))
    folder.prefetch([shard.label for shard in shards])
    inventory = _combine(target, shards, weight_map=weight_map, config=config, limits=limits)
    metadata = document.get("metadata")
    warnings = list(inventory.warnings)
    if isinstance(metadata, dict):
        stored = sum(r.stored_bytes or 0 for r in inventory.tensors if Role.NOT_IN_INDEX not in r.notes)
        total_size = metadata.get("total_size")
        if type(total_size) is int and total_size != stored:
            warnings.append(f"the index's total_size is {total_size} bytes but its shards hold {stored}")
        claimed = metadata.get("total_parameters")
        held = unique_parameters(inventory.tensors)
        if type(claimed) is int and claimed != held:
            warnings.append(f"the index's total_parameters is {claimed} but its shards hold {held}")
    return inventory._replace(
        warnings=tuple(warnings),
        notes=(*inventory.notes, f"read {len(shards)} shard header(s) through {index.label}"),
        files=(where, *inventory.files),
    )


# Formats whose reader judges the file from byte 0 as torch.load and pickle.load read it (or that those loaders
# read another way: a NumPy array).
_READ_FROM_BYTE_ZERO = frozenset({Format.TORCH_LEGACY, Format.PICKLE, Format.DCP, Format.NUMPY, Format.TORCH_TAR})


def _read(shard: _Shard, limits: Limits) -> tuple[FileRead, str]:
    """One weights file, read by the reader its content calls for; and its name for messages."""
    with shard.open() as blob:
        head = blob.read(0, min(SNIFF_BYTES, blob.size))
        reader = detect(head, blob.size, shard.label)
        if reader is None:
            raise unrecognised(blob.name, head)
        if reader.format not in _READ_FROM_BYTE_ZERO:
            # torch.load, pickle.load and numpy.load would unpickle the file from byte 0 whatever it also is
            polyglot.judge(blob, head, limits)
        return reader.read(blob, limits, shard.folder), blob.name


def _combine(
    target: str,
    shards: list[_Shard],
    *,
    weight_map: dict[str, str] | None,
    config: _Config,
    limits: Limits,
) -> Inventory:
    """Records of every tensor in ``shards``, cross-checked with the index's ``weight_map`` when there is one."""
    records: list[TensorRecord] = []
    seen: dict[str, str] = {}
    files: list[str] = []
    formats: set[str] = set()
    notes: list[str] = []
    warnings: list[str] = []
    untrusted: list[str] = []
    storages = stored_bytes = 0
    values: dict[str, bytes] = {}
    modules: tuple[ModuleRecord, ...] = ()
    described: Mapping[str, object] | None = None  # what a single file says of its configuration (GGUF)
    for shard in shards:
        read, name = _read(shard, limits)
        files.append(name)
        files.extend(read.files)
        formats.add(read.format.value)
        storages += read.storages
        stored_bytes += read.stored_bytes
        notes.extend(read.notes)
        warnings.extend(read.warnings)
        untrusted.extend(read.untrusted)
        values.update(read.values)
        if len(shards) == 1:
            modules, described = read.modules, read.config
        label = shard.label
        for record in read.records:
            r = record
            if r.identity is not None:
                r = r._replace(identity=(label, r.identity))  # identities are unique within a file, not across
            if r.name in seen:
                raise FormatError(
                    f"is stored in both {quote(seen[r.name])} and {quote(label)}",
                    target=target,
                    rule="index-duplicate",
                    tensor=r.name,
                )
            seen[r.name] = label
            if weight_map is not None:
                if r.name in weight_map and weight_map[r.name] != label:
                    raise FormatError(
                        f"is in shard {quote(label)} but the index maps it to {quote(weight_map[r.name])}",
                        target=target,
                        rule="index-shard",
                        tensor=r.name,
                    )
                if r.name not in weight_map:
                    r = r._replace(kind=Kind.TENSOR, notes=(Role.NOT_IN_INDEX,), trainable=None, persistent=None)
            records.append(r)
        if len(records) > limits.tensors:
            raise exceeded("tensors", f"holds {len(records)} tensors", limits.tensors, target=target)
    elements = sum(r.elements or 0 for r in records)
    if elements > limits.elements:
        raise exceeded("elements", f"holds {elements} elements in all", limits.elements, target=target)
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(seen))
        if missing:
            raise FormatError(
                f"{len(missing)} tensor(s) listed in the index are in no shard (first: {quote(missing[0])})",
                target=target,
                rule="index-missing",
            )
    if not records:
        warnings.append("the weights hold no tensors")
    unlisted = sum(1 for r in records if r.notes[:1] == (Role.NOT_IN_INDEX,))
    if unlisted:
        warnings.append(f"{unlisted} stored tensor(s) are missing from the index's weight_map and are not counted")
    records, scheme = quant.logical(records, config.scheme, values)
    if scheme is not None:
        notes.append(f"quantized ({scheme}): packed weights are counted by their logical, unquantized shapes")
    section = None
    checking = CHECKING.get()
    if checking is not None and isinstance(checking.document, dict):  # paramcount check --model: its config
        config = config._replace(document=checking.document)
    if config.document is not None:
        from paramcount.sources import architecture

        records, section, found_notes, found_warnings = architecture.apply(
            records, config.document, config.mode, target
        )
        notes.extend(found_notes)
        warnings.extend(found_warnings)
    else:
        if config.tie:
            records, tie = tie_output_head(records)
            if tie is not None:
                notes.append(f"config.json sets tie_word_embeddings: {tie[0]!r} is counted as {tie[1]!r}")
        guessed = [r.name for r in records if r.notes[:1] == (Role.KNOWN_BUFFER,)]
        if guessed:
            shown = ", ".join(quote(n, 80) for n in guessed[:5]) + (" and more" if len(guessed) > 5 else "")
            warnings.append(
                f"{len(guessed)} tensor(s) are taken for buffers by their names alone ({shown}); count the model's "
                "folder, with its config.json, to have its architecture decide"
            )
    warnings.extend(f"untrusted: {reason}" for reason in dict.fromkeys(untrusted))
    return Inventory(
        target=target,
        tensors=tuple(records),
        modules=modules,
        warnings=tuple(warnings),
        notes=tuple(notes),
        format=formats.pop() if len(formats) == 1 else "mixed",
        files=tuple(files),
        verdict="untrusted" if untrusted else "ok",
        storages=storages,
        stored_bytes=stored_bytes,
        quantization=scheme,
        architecture=section,
        experts=None if config.document is None else experts_of(config.document),
        config=config.document if config.document is not None else described,
    )
