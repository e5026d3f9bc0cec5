"""Counting a model from its config.json: paramcount's CLI vs a plain transformers script, whole processes.

The plain script is what a user writes without paramcount: import transformers, read the config, build the class
on the meta device, sum ``numel()``. paramcount does the same build (weights left uninitialised, as there is no
data on the meta device to initialise) and then its full report. Best wall time of N runs for each, with the
ratio. Bar (issue #10): paramcount <= 1.1x the plain script, and the same count.

Run: ``.venv/bin/python benchmarks/bench_config.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from measure import paramcount_cli, python, run

PLAIN = """
import sys, torch, transformers
config = transformers.AutoConfig.from_pretrained(sys.argv[1])
with torch.device("meta"):
    model = getattr(transformers, config.architectures[0])(config)
print(sum(p.numel() for p in model.parameters()))
"""

MODELS = [("LlamaForCausalLM", "llama"), ("MixtralForCausalLM", "mixtral"), ("T5ForConditionalGeneration", "t5")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import transformers

    failures = []
    print(f"{'config':<30}{'plain s':>9}{'paramcount s':>14}{'ratio':>7}  count")
    with tempfile.TemporaryDirectory(prefix="paramcount-config-") as root:
        for name, model_type in MODELS:
            config = transformers.CONFIG_MAPPING[model_type]()
            config.architectures = [name]
            folder = Path(root) / name
            config.save_pretrained(folder)
            plain_s, _, plain_out = run(python(PLAIN, str(folder)), args.repeats)
            pc_s, _, pc_out = run(
                paramcount_cli("count", str(folder / "config.json"), "--format", "json"), args.repeats
            )
            counted = json.loads(pc_out)["parameters"]["total"]
            ratio = pc_s / plain_s
            print(f"{name:<30}{plain_s:>9.2f}{pc_s:>14.2f}{ratio:>6.2f}x  {counted:,}")
            if counted != int(plain_out):
                failures.append(f"{name}: {counted:,} != {int(plain_out):,}")
            if ratio > 1.1:
                failures.append(f"{name}: {ratio:.2f}x the plain script (bar <= 1.1x)")
    for failure in failures:
        print(f"FAIL {failure}")
    print("all bars met" if not failures else f"{len(failures)} bar(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
