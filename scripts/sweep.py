"""Every transformers model class: tiny config -> save_pretrained -> paramcount on the folder = the live model?

``make sweep`` (outside CI: minutes). For each class transformers maps a model_type to, build it on the CPU from
a tiny configuration (tests/tiny.py), write it with ``save_pretrained``, count the folder, and compare with the
live model: parameters (torch's ``parameters()``, each tensor once) and persistent buffers (``state_dict()`` minus
parameter names). Prints one line per class that does not match and a summary:

    tried N, built B, saved S, file = live M, mismatched X, count errors E

Classes whose tiny configuration does not build (sizes with constraints the generic shrinking breaks, a missing
optional library) are "not built", not failures of paramcount.

    python scripts/sweep.py [--only llama,bart] [--mode table|build] [--whole-module] [--spelling S,...]

``--spelling`` chooses how each folder is written (default ``pretrained``; ``all`` for every one):

- ``pretrained``: ``save_pretrained`` (the checkpoint spelling: Mixtral's per-expert ``w1``/``w2``/``w3``);
- ``runtime``: config.json and a safetensors file of ``model.state_dict()`` with the names the model has at run
  time (fused ``experts.gate_up_proj``), each tied name stored as its own copy, as a Trainer or accelerate save;
- ``torch``: config.json and ``torch.save(model.state_dict())`` as ``pytorch_model.bin`` (ties share storage).

A folder counts only when transformers itself loads it (``from_pretrained`` with empty missing, unexpected and
mismatched keys); others are "not loadable", not failures of paramcount. On each such folder ``paramcount check``
must say it loads, with empty lists, as transformers does ("check = transformers").

``--perturb`` also writes, for the ``pretrained`` spelling, folders transformers loads with problems — a dropped
tensor, an extra tensor, a config with a larger vocabulary, stale ``rotary_emb.inv_freq`` buffers — and asserts
that ``paramcount check`` reports the missing, unexpected and mismatched keys
``from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)`` reports (a perturbation
transformers itself cannot load is skipped).

With ``--whole-module`` each model is instead written with ``torch.save(model)`` (a pickle of the module, its
classes and the functions it holds, as a whole-model checkpoint is) and the file is counted: it must count like the
live model, with the verdict "untrusted" (loading it would import transformers' classes and, for some models, run
``kernels``' rebuild of a hub function), never "unsafe" and never refused. ``make sweep`` runs both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.tiny import tiny_model

from scripts.architectures import classes_by_model_type


def oracle(model: Any) -> tuple[int, int]:
    parameters = sum(p.numel() for p in model.parameters())
    names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    buffers = sum(t.numel() for name, t in model.state_dict().items() if name not in names)
    return parameters, buffers


SPELLINGS = ("pretrained", "runtime", "torch")


def write(model: Any, target: str, spelling: str) -> None:
    """Write ``model`` to ``target`` in one spelling (see the module's docstring)."""
    import torch

    if spelling == "module":
        torch.save(model, target)
    elif spelling == "pretrained":
        model.save_pretrained(target)
    elif spelling == "runtime":
        from safetensors.torch import save_file

        model.config.save_pretrained(target)
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(target, "model.safetensors"), metadata={"format": "pt"})
    elif spelling == "torch":
        model.config.save_pretrained(target)
        torch.save(model.state_dict(), os.path.join(target, "pytorch_model.bin"))
    else:
        raise SystemExit(f"unknown spelling {spelling!r}: {', '.join(SPELLINGS)}")


PERTURBATIONS = ("dropped", "extra", "vocabulary", "stale")


def perturb(folder: str, how: str) -> None:
    """Break a save_pretrained folder in one way transformers still loads (see the module's docstring)."""
    import json

    from safetensors.torch import load_file, save_file

    path = os.path.join(folder, "model.safetensors")
    if how == "vocabulary":
        config = os.path.join(folder, "config.json")
        with open(config) as f:
            document = json.load(f)
        text = document.get("text_config") if isinstance(document.get("text_config"), dict) else document
        if not isinstance(text.get("vocab_size"), int):
            raise ValueError("no vocabulary")
        text["vocab_size"] += 8
        with open(config, "w") as f:
            json.dump(document, f)
        return
    import torch

    state = load_file(path)
    names = sorted(state)
    if how == "dropped":
        state.pop(names[len(names) // 2])
    elif how == "extra":
        state["paramcount_extra.weight"] = torch.zeros(2, 2)
    elif how == "stale":
        layers = [n for n in names if n.endswith("q_proj.weight")]
        if not layers:
            raise ValueError("no attention layers")
        for n in layers:
            state[n.replace("q_proj.weight", "rotary_emb.inv_freq")] = torch.ones(4)
    save_file(state, path, metadata={"format": "pt"})


def loading_info(cls: Any, folder: str, mismatched: bool = False) -> dict[str, list[Any]] | None:
    """transformers' load report of ``folder``, or ``None`` when it cannot load it."""
    try:
        _, info = cls.from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=mismatched)
    except Exception:  # transformers cannot load this folder
        return None
    return {
        "missing": sorted(info["missing_keys"]),
        "unexpected": sorted(info["unexpected_keys"]),
        "mismatched": sorted((n, tuple(a), tuple(b)) for n, a, b in info["mismatched_keys"]),
    }


def checked(folder: str, mode: str) -> dict[str, list[Any]] | str:
    """paramcount check's report of ``folder`` in transformers' form, or the error it raised."""
    import paramcount

    try:
        load = paramcount.check(folder, architecture=mode).load
    except Exception as e:  # paramcount's failure: reported
        return f"{type(e).__name__}: {str(e)[:200]}"
    assert load is not None
    return {
        "missing": sorted(load.missing_keys),
        "unexpected": sorted(load.unexpected_keys),
        "mismatched": sorted((m.name, m.stored, m.expected) for m in load.mismatched_keys),
    }


def compare_perturbed(model: Any, folder: str, how: str, mode: str, *, label: str) -> bool | None:
    """Whether check = transformers on a perturbed copy of ``folder``; ``None`` when the copy is not loadable."""
    copy = tempfile.mkdtemp(prefix="sweep-perturbed-")
    try:
        shutil.copytree(folder, copy, dirs_exist_ok=True)
        try:
            perturb(copy, how)
        except (ValueError, OSError):  # nothing to perturb this way (no vocabulary, no safetensors file)
            return None
        expected = loading_info(type(model), copy, mismatched=True)
        if expected is None:
            return None
        answer = checked(copy, mode)
        if answer != expected:
            print(f"PERTURBED {label} {how}: paramcount {answer} transformers {expected}", flush=True)
            return False
        return True
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def loads(model: Any, folder: str) -> bool:
    """Whether transformers loads ``folder`` into ``model``'s class with nothing missing, unexpected or mismatched."""
    try:
        _, info = type(model).from_pretrained(folder, output_loading_info=True)
    except Exception:  # transformers cannot load this spelling of this class
        return False
    return not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model_types")
    parser.add_argument("--mode", default="table", choices=("table", "build"))
    parser.add_argument("--whole-module", action="store_true", help="torch.save(model) instead of save_pretrained")
    parser.add_argument("--spelling", default="pretrained", help="pretrained, runtime, torch (comma-separated) or all")
    parser.add_argument("--perturb", action="store_true", help="also compare check with transformers on broken folders")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import transformers

    import paramcount

    transformers.logging.set_verbosity_error()
    by_type = classes_by_model_type()
    wanted = args.only.split(",") if args.only else sorted(by_type)
    spellings = SPELLINGS if args.spelling == "all" else tuple(args.spelling.split(","))
    tried = built = saved = matched = mismatched = errors = unloadable = checks_equal = checks_differ = 0
    perturbed = {True: 0, False: 0}
    sources: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    started = time.perf_counter()
    for model_type in wanted:
        for name in by_type.get(model_type, []):
            try:
                model = tiny_model(name, model_type)
            except Exception:  # the tiny config does not build: not paramcount's failure
                tried += 1 if args.whole_module else len(spellings)
                continue
            for spelling in ("module",) if args.whole_module else spellings:
                tried += 1
                built += 1
                folder = tempfile.mkdtemp(prefix="sweep-")
                try:
                    target = os.path.join(folder, "model.pt") if args.whole_module else folder
                    try:
                        write(model, target, spelling)
                    except Exception:  # cannot be saved (shared untied storage, a local function, ...)
                        continue
                    saved += 1
                    if not args.whole_module and not loads(model, folder):
                        unloadable += 1
                        continue
                    expected = oracle(model)
                    try:
                        report = paramcount.count(target, architecture=args.mode)
                    except Exception as e:  # paramcount's failure: report it
                        errors += 1
                        print(f"ERROR {model_type} {name} {spelling}: {type(e).__name__}: {str(e)[:300]}", flush=True)
                        continue
                    if not args.whole_module:
                        answer = checked(folder, args.mode)
                        empty: dict[str, list[Any]] = {"missing": [], "unexpected": [], "mismatched": []}
                        if answer == empty:
                            checks_equal += 1
                        else:
                            checks_differ += 1
                            print(f"CHECK {model_type} {name} {spelling}: {answer}", flush=True)
                        if args.perturb and spelling == "pretrained":
                            for how in PERTURBATIONS:
                                equal = compare_perturbed(model, folder, how, args.mode, label=f"{model_type} {name}")
                                if equal is not None:
                                    perturbed[equal] += 1
                    if args.whole_module:
                        verdicts[report.verdict or "none"] = verdicts.get(report.verdict or "none", 0) + 1
                        expected = (expected[0], report.buffers.total)  # a module pickle's buffers: all its _buffers
                    got = (report.parameters.total, report.buffers.total)
                    source = report.architecture.source if report.architecture else "none"
                    sources[source] = sources.get(source, 0) + 1
                    if got == expected:
                        matched += 1
                    else:
                        mismatched += 1
                        print(
                            f"MISMATCH {model_type} {name} {spelling}: file {got} live {expected} ({source}) "
                            f"{report.warnings[:2]}",
                            flush=True,
                        )
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    print(
        f"tried {tried}, built {built}, saved {saved}, not loadable by transformers {unloadable}, "
        f"file = live {matched}, mismatched {mismatched}, check = transformers {checks_equal}, check differs "
        f"{checks_differ}, perturbed check = transformers {perturbed[True]}, differs {perturbed[False]}, "
        f"count errors {errors}; knowledge from {sources}; verdicts {verdicts}; {time.perf_counter() - started:.0f} s"
    )
    return 1 if mismatched or errors or checks_differ or perturbed[False] else 0


if __name__ == "__main__":
    sys.exit(main())
