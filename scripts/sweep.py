"""Every transformers model class: tiny config -> save_pretrained -> paramcount on the folder = the live model?

``make sweep`` (outside CI: minutes). For each class transformers maps a model_type to, build it on the CPU from
a tiny configuration (tests/tiny.py), write it with ``save_pretrained``, count the folder, and compare with the
live model: parameters (torch's ``parameters()``, each tensor once) and persistent buffers (``state_dict()`` minus
parameter names). Prints one line per class that does not match and a summary:

    tried N, built B, saved S, file = live M, mismatched X, count errors E

Classes whose tiny configuration does not build (sizes with constraints the generic shrinking breaks, a missing
optional library) are "not built", not failures of paramcount.

    python scripts/sweep.py [--only llama,bart] [--mode table|build] [--whole-module]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model_types")
    parser.add_argument("--mode", default="table", choices=("table", "build"))
    parser.add_argument("--whole-module", action="store_true", help="torch.save(model) instead of save_pretrained")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import transformers

    import paramcount

    transformers.logging.set_verbosity_error()
    by_type = classes_by_model_type()
    wanted = args.only.split(",") if args.only else sorted(by_type)
    tried = built = saved = matched = mismatched = errors = 0
    sources: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    started = time.perf_counter()
    for model_type in wanted:
        for name in by_type.get(model_type, []):
            tried += 1
            try:
                model = tiny_model(name, model_type)
            except Exception:  # the tiny config does not build: not paramcount's failure
                continue
            built += 1
            folder = tempfile.mkdtemp(prefix="sweep-")
            try:
                target = os.path.join(folder, "model.pt") if args.whole_module else folder
                try:
                    if args.whole_module:
                        import torch

                        torch.save(model, target)
                    else:
                        model.save_pretrained(folder)
                except Exception:  # it cannot be saved (a model with shared, untied storage, a local function, ...)
                    continue
                saved += 1
                expected = oracle(model)
                try:
                    report = paramcount.count(target, architecture=args.mode)
                except Exception as e:  # paramcount's failure: report it
                    errors += 1
                    print(f"ERROR {model_type} {name}: {type(e).__name__}: {str(e)[:300]}", flush=True)
                    continue
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
                    print(f"MISMATCH {model_type} {name}: file {got} live {expected} ({source})", flush=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    print(
        f"tried {tried}, built {built}, saved {saved}, file = live {matched}, mismatched {mismatched}, "
        f"count errors {errors}; knowledge from {sources}; verdicts {verdicts}; {time.perf_counter() - started:.0f} s"
    )
    return 1 if mismatched or errors else 0


if __name__ == "__main__":
    sys.exit(main())
