"""Write paramcount's architecture table from the installed transformers: ``make architectures``.

For every model class transformers maps a ``model_type`` to, build the class on the meta device from the default
configuration (weights not initialised: seconds for the whole run), once with ``tie_word_embeddings`` true and
once false, and record what its ``save_pretrained`` checkpoint holds (:func:`paramcount.sources.hf.describe`):
parameter and persistent-buffer name patterns, the tie groups, and the base-model prefix. One JSON file per
``model_type`` lands in ``src/paramcount/architectures/``, so a count reads only the file it needs.

    python scripts/architectures.py [--only llama,bart] [--out DIR]

The tests rebuild a sample of entries and compare them with the shipped files
(tests/test_architecture.py::test_table_matches_installed_transformers), so a table written by an older
transformers shows up as a failure rather than a wrong count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "paramcount", "architectures")


def classes_by_model_type() -> dict[str, list[str]]:
    """Every model class name each model_type maps to, across transformers' auto mappings."""
    from transformers.models.auto import modeling_auto

    found: dict[str, list[str]] = {}
    for attribute in dir(modeling_auto):
        if not attribute.endswith("_MAPPING_NAMES") or attribute == "CONFIG_MAPPING_NAMES":
            continue
        mapping = getattr(modeling_auto, attribute)
        if not isinstance(mapping, dict):
            continue
        for model_type, names in mapping.items():
            for name in (names,) if isinstance(names, str) else names:
                if isinstance(name, str) and name not in found.setdefault(model_type, []):
                    found[model_type].append(name)
    return found


def with_tie(config: Any, tie: bool) -> Any:
    """A copy of ``config`` with ``tie_word_embeddings`` set, on the text configuration too."""
    config = config.__class__.from_dict(config.to_dict())
    config.tie_word_embeddings = tie
    text = config.get_text_config() if hasattr(config, "get_text_config") else None
    if text is not None and text is not config:
        text.tie_word_embeddings = tie
    return config


def entry(cls: Any, config: Any) -> dict[str, Any]:
    """The table entry of one class: its checkpoint's names when tied and, where they differ, when untied."""
    from paramcount.sources.hf import build, describe

    tied = describe(build(cls, with_tie(config, True), cls.__name__))
    untied = describe(build(cls, with_tie(config, False), cls.__name__))
    tied["parameters"] = sorted(set(tied["parameters"]) | set(untied["parameters"]))
    tied["buffers"] = sorted(set(tied["buffers"]) | set(untied["buffers"]))
    if untied["ties"] != tied["ties"]:
        tied["untied"] = untied["ties"]
    # Shapes of parameters a checkpoint leaves out depend on the configuration: a count builds the model for them.
    tied["unsaved"] = sorted(tied["unsaved"])
    if not tied["unsaved"]:
        del tied["unsaved"]
    return tied


def model_type_file(model_type: str, names: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The table file of one model_type, and the classes that could not be described, with why."""
    import transformers
    from transformers.models.auto import modeling_auto

    from paramcount.sources.hf import quiet, text_config_tie

    config_class = transformers.CONFIG_MAPPING[model_type]
    with quiet():
        config = config_class()
    base = modeling_auto.MODEL_MAPPING_NAMES.get(model_type)
    document: dict[str, Any] = {
        "transformers": transformers.__version__,
        "model_type": model_type,
        "tie_word_embeddings": text_config_tie(config),
        "auto": base if isinstance(base, str) else None,
        "classes": {},
    }
    failed: list[tuple[str, str]] = []
    for name in names:
        cls = getattr(transformers, name, None)
        if cls is None:
            failed.append((name, "not exported by transformers"))
            continue
        try:
            document["classes"][name] = entry(cls, config)
        except Exception as e:  # report every class that cannot be built, keep going
            failed.append((name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]))
    return document, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model_types (default: all)")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    by_type = classes_by_model_type()
    wanted = args.only.split(",") if args.only else sorted(by_type)
    described = failed_count = 0
    for model_type in wanted:
        try:
            document, failed = model_type_file(model_type, by_type.get(model_type, []))
        except Exception as e:  # a config class that cannot be made with defaults
            print(f"{model_type}: config: {type(e).__name__}: {e}"[:240], file=sys.stderr)
            continue
        for name, why in failed:
            print(f"{model_type}: {name}: {why}", file=sys.stderr)
        failed_count += len(failed)
        if document["classes"]:
            described += len(document["classes"])
            with open(os.path.join(args.out, f"{model_type}.json"), "w", encoding="utf-8") as f:
                json.dump(document, f, separators=(",", ":"), sort_keys=True)
                f.write("\n")
    print(
        f"described {described} classes of {len(wanted)} model types, {failed_count} failed, "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
