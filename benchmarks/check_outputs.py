"""Differential check for speed work: every output of a set of models, from this tree and from a baseline tree.

Writes, for each model, ``count(model).to_dict()`` (with and without ``tensors``, and at ``depth=1``), every
renderer's output (table, json, csv, markdown, html; expanded and with tensors where the renderer takes them) and
the report's internal fields (repeats, runs, roles, conventions), then compares them with the same outputs made by
``--baseline`` (a ``src`` folder, e.g. one written by ``git archive <commit> src | tar -x -C /tmp/base``), run in a
subprocess. Exit status 1 if any output differs. The models: tests/zoo.py, bench_modules' wide models (frozen,
lazy and buffer variants too), transformers' GPT-2, Llama-3.1-8B (tests/configs) and Mixtral built on meta, a state
dict and a safetensors file.

    python benchmarks/check_outputs.py --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent


def models() -> Iterator[tuple[str, Callable[[], object]]]:
    """``(name, build)`` for every model the check counts; ``build`` returns what ``count`` takes."""
    import torch
    from torch import nn

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_modules import wide_model  # noqa: I001 -- from benchmarks/, put on the path above
    from tests.zoo import ZOO

    for name, case in ZOO.items():
        yield f"zoo-{name}", case.build
    for shape in ("small", "nested"):
        yield f"wide-{shape}", partial(wide_model, 40, shape)

    def partly_frozen() -> nn.Module:
        model = wide_model(30, "nested")
        for i, p in enumerate(model.parameters()):
            p.requires_grad_(i % 7 != 0)
        return model

    def with_buffers() -> nn.Module:
        torch.manual_seed(0)
        blocks = [nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)) for _ in range(6)]
        blocks.insert(3, nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
        lazy = nn.Sequential(nn.Linear(4, 4), nn.LazyLinear(3))
        return nn.Sequential(nn.ModuleList(blocks), lazy, nn.Embedding(10, 4))

    def tied_blocks() -> nn.Module:
        model = wide_model(6, "small")
        blocks: Any = model  # a Sequential of Blocks
        blocks[2].linear.weight = blocks[4].linear.weight  # a tie inside a run breaks it
        model.add_module("again", blocks[1])  # a reused module
        return model

    yield "wide-partly-frozen", partly_frozen
    yield "wide-buffers-lazy", with_buffers
    yield "wide-tied", tied_blocks
    from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, MixtralConfig

    def on_meta(build: Callable[[], nn.Module]) -> nn.Module:
        with torch.device("meta"):
            return build()

    yield "gpt2", lambda: on_meta(lambda: GPT2LMHeadModel(GPT2Config()))
    llama = AutoConfig.from_pretrained(ROOT / "tests" / "configs" / "Llama-3.1-8B")
    build = AutoModelForCausalLM.from_config
    yield "llama-3.1-8b", lambda: on_meta(lambda: build(llama))  # type: ignore[no-untyped-call]
    yield "mixtral", lambda: on_meta(lambda: build(MixtralConfig(num_hidden_layers=4)))  # type: ignore[no-untyped-call]
    yield "state-dict", lambda: wide_model(3, "nested").to_empty(device="cpu").state_dict()

    def safetensors_file() -> str:
        from safetensors.torch import save_file

        torch.manual_seed(0)
        model = nn.Sequential(*(nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8)) for _ in range(5)))
        model.register_buffer("steps", torch.zeros(3))
        path = Path(tempfile.mkdtemp()) / "model.safetensors"
        save_file(model.state_dict(), str(path))
        return str(path)

    yield "file", safetensors_file


def outputs() -> dict[str, Any]:
    """Every output of every model, as JSON values (renders as strings)."""
    import paramcount
    from paramcount.render import render

    found: dict[str, Any] = {}
    for name, build in models():
        obj = build()
        report = paramcount.count(obj)
        target = report.target
        out: dict[str, Any] = {
            "to_dict": report.to_dict(),
            "to_dict tensors": report.to_dict(tensors=True),
            "depth 1": paramcount.count(obj, depth=1).to_dict(),
            "repeats": [list(pair) for pair in report.repeats],
            "runs": {str(i): list(run) for i, run in report.runs().items()},
            "roles": [list(r) for r in report.roles],
            "conventions": list(report.conventions or ()),
            "modules": [list(row) for row in report.modules],
        }
        for form in ("table", "json", "csv", "markdown", "html"):
            out[form] = render(report, form)
            out[form + " tensors"] = render(report, form, tensors=True)
            if form in ("table", "markdown"):
                out[form + " expand"] = render(report, form, expand=True)
        text = json.dumps(out, default=str)
        if isinstance(obj, str):  # a file: its temporary path differs from run to run
            text = text.replace(str(Path(obj).parent), "<dir>")
        found[name] = json.loads(text.replace(target, "<target>"))
        print(f"{name}: {report.parameters.total} parameters, {len(report.modules)} rows", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, help="a src folder to compare with")
    parser.add_argument("--dump", type=Path, help="write this tree's outputs here (JSON) and stop")
    args = parser.parse_args()
    os.environ["COLUMNS"] = "120"
    os.environ["NO_COLOR"] = "1"
    if args.dump is not None:
        args.dump.write_text(json.dumps(outputs(), indent=1))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "baseline.json"
        environment = dict(os.environ, PYTHONPATH=str(args.baseline.resolve()))
        subprocess.run([sys.executable, __file__, "--dump", str(dump)], env=environment, check=True)
        baseline = json.loads(dump.read_text())
    current = outputs()
    differ = [
        f"{model}: {key}"
        for model in sorted(baseline.keys() | current.keys())
        for key in sorted(baseline.get(model, {}).keys() | current.get(model, {}).keys())
        if baseline.get(model, {}).get(key) != current.get(model, {}).get(key)
    ]
    for line in differ:
        print(f"DIFFERS {line}")
    print(f"{len(current)} models, {sum(len(v) for v in current.values())} outputs; {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
