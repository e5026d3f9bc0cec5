"""Per-module report of a wide model on meta: paramcount vs fvcore vs torchinfo, same process, ratios printed.

paramcount is timed as a user gets its whole answer, ``count(model).to_dict()``; fvcore as
``parameter_count(model)``. Two model shapes: ``small`` blocks of Linear(16, 16), ReLU, LayerNorm(16) (issue #2),
and ``nested`` blocks of Sequential(Linear(8, 8), LayerNorm(8), Linear(8, 8), Sequential(Linear(8, 8))): more
modules and tensors per parameter (issue #9). The nested shape is measured again after ``gc.freeze()``, as in a
preforking server.

Bars: at 5,000 blocks paramcount takes <= 1.5x fvcore's time for both shapes, after gc.freeze too (before issue
#9, every count there walked the whole frozen heap: 70 ms); it is >= 10x faster than torchinfo; and 10x the
modules costs <= 12x the time of ``count(model)`` (issue #2's measurement, when fvcore grew 10.3x: a margin of
1.16), or <= 1.15x the growth of a bare ``named_parameters()`` walk of the same models in the same run where that
floor itself grows past 10.4x: on this VM it has since grown 11.6-12.3x, and fvcore 11.6-12.5x, because walking
200,000 module objects spread over 150 MB misses the CPU caches for every tool. Run with `make bench`;
`--torchinfo-max N` limits torchinfo to models with at most N blocks (it is quadratic: 50,000 blocks took 416 s
in the issue's measurement).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from typing import TYPE_CHECKING

import torch
from torch import nn

import paramcount

if TYPE_CHECKING:
    from collections.abc import Callable


class Block(nn.Module):
    """A small block: Linear(16, 16), ReLU, LayerNorm(16) = 4 modules and 4 parameter tensors (304 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.act = nn.ReLU()
        self.norm = nn.LayerNorm(16)


def nested_block() -> nn.Module:
    """Five modules and four parameter tensors (ten small tensors) for 264 parameters."""
    return nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 8)))


SHAPES: dict[str, Callable[[], nn.Module]] = {"small": Block, "nested": nested_block}


def wide_model(blocks: int, shape: str = "small") -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(*(SHAPES[shape]() for _ in range(blocks)))


def bare_walk(model: nn.Module) -> list[tuple[str, torch.Size]]:
    """The least any per-name counter does: every name and shape. How its time grows with the model is this
    machine's floor for the scaling bar (dicts and sets of 200,000 entries outgrow the CPU caches)."""
    return [(name, p.shape) for name, p in model.named_parameters()]


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best CPU time of each function, runs interleaved so that machine noise hits all of them alike.

    CPU time of this process (``time.process_time``), not wall time: on a shared virtual machine the wall clock
    also counts time the host gave to others.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            start = time.process_time()
            result = fn()
            times[name].append(time.process_time() - start)
            del result  # freeing the result is not part of producing it, for any of the tools
    return {name: min(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--torchinfo-max", type=int, default=5_000)
    args = parser.parse_args()

    from fvcore.nn import parameter_count
    from torchinfo import summary

    print(f"torch {torch.__version__}, python {sys.version.split()[0]}; best CPU time of {args.repeats} runs")
    print("paramcount = count(model).to_dict(); fvcore = parameter_count(model)")
    columns = ("shape", "blocks", "modules", "paramcount s", "fvcore s", "torchinfo s", "pc/fvcore", "ti/pc")
    widths = (14, 8, 8, 13, 9, 12, 10, 7)
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    results: dict[tuple[str, int], float] = {}
    failures = []
    runs = [("small", blocks) for blocks in args.blocks] + [("nested", 5_000), ("nested+frozen", 5_000)]
    for label, blocks in runs:
        shape = label.removesuffix("+frozen")
        model = wide_model(blocks, shape)
        if label.endswith("+frozen"):
            gc.freeze()  # what a preforking server does before it forks: every later count runs beside it
        modules = sum(1 for _ in model.modules())
        report = paramcount.count(model)
        expected = sum(p.numel() for p in model.parameters())
        if report.parameters.total != expected or len(report.modules) != modules:
            failures.append(
                f"{label} {blocks} blocks: paramcount counted {report.parameters.total}, expected {expected}"
            )
        del report  # every tool is timed on the same heap: the model alone
        tools = {
            "paramcount": lambda m=model: paramcount.count(m).to_dict(),
            "fvcore": lambda m=model: parameter_count(m),
        }
        if shape == "small":
            tools["count"] = lambda m=model: paramcount.count(m)  # for the scaling bar, as issue #2 measured it
            tools["walk"] = lambda m=model: bare_walk(m)  # the machine's own scaling floor
        best = best_of(tools, args.repeats)  # type: ignore[arg-type]
        pc, fv = best["paramcount"], best["fvcore"]
        ti = float("nan")
        if shape == "small" and blocks <= args.torchinfo_max:
            ti = best_of({"torchinfo": lambda m=model: summary(m, depth=100, verbose=0)}, 3)["torchinfo"]  # type: ignore[misc]
        results[(label, blocks)] = best.get("count", pc)
        results[("fvcore " + label, blocks)] = fv
        results[("walk " + label, blocks)] = best.get("walk", math.nan)
        cells = (label, f"{blocks:,}", f"{modules:,}", f"{pc:.3f}", f"{fv:.3f}", f"{ti:.3f}", f"{pc / fv:.2f}")
        print(" ".join(f"{c:>{w}}" for c, w in zip((*cells, f"{ti / pc:.1f}"), widths, strict=True)))
        if blocks == 5_000:
            if pc > 1.5 * fv:
                failures.append(f"{label} 5,000 blocks: paramcount {pc / fv:.2f}x fvcore (bar: <= 1.5x)")
            if not math.isnan(ti) and ti < 10 * pc:
                failures.append(f"5,000 blocks: torchinfo only {ti / pc:.1f}x slower (bar: >= 10x)")
    if ("small", 5_000) in results and ("small", 50_000) in results:
        growth, fvcore_growth, floor = (
            results[(prefix + "small", 50_000)] / results[(prefix + "small", 5_000)]
            for prefix in ("", "fvcore ", "walk ")
        )
        bar = max(12.0, 1.15 * floor)
        print(
            f"scaling, 5,000 -> 50,000 blocks (10x the modules): count() {growth:.1f}x the time (bar: <= {bar:.1f}x); "
            f"fvcore {fvcore_growth:.1f}x; a bare named_parameters() walk {floor:.1f}x"
        )
        if growth > bar:
            failures.append(f"scaling {growth:.1f}x (bar: <= {bar:.1f}x)")
    for failure in failures:
        print(f"FAIL {failure}")
    print("all bars met" if not failures else f"{len(failures)} bar(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
