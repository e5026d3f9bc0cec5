"""Counting remote repositories on a local Hub emulator with 30 ms added to every request (issue #11).

1. A Llama-2-70B-shaped repository: 14 sparse safetensors shards (real headers, data as holes), their index and a
   config.json; and the same with the per-layer ``rotary_emb.inv_freq`` of older conversions, which transformers
   ignores at load (issue #19: no meta build; that no torch import happens is checked by benchmarks/bench_files.py
   and tests/test_loader.py, as this process imports torch to write the .bin). paramcount
   (``paramcount.count("org/llama-70b", cache=False)``: listing, config, index and the 14 headers) against
   ``huggingface_hub.get_safetensors_metadata`` (index and the 14 headers, no architecture), both in this process
   through the same emulator, interleaved, best of N. Bars: paramcount <= 1.2x its wall time, and <= 1.5 MB sent
   by the server for paramcount's count.
2. A Llama-2-7B-shaped ``.bin``-only repository (``torch.save`` zip, data as holes): paramcount fetches the zip's
   end records, its central directory and data.pkl, not its 291 storages. Bar: <= 2 MB sent.

The emulator counts requests and body bytes it sent (tests/hub_emulator.py). Run:
`.venv/bin/python benchmarks/bench_remote.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.hub_emulator import HubEmulator, Repo, hub_environment

from bench_bin import write_bin
from bench_files import EXPECTED, write_checkpoint

LATENCY = 0.030


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paramcount-remote-"))
    big, binary = root / "llama-70b", root / "llama-7b-bin"
    stale = root / "llama-70b-inv-freq"
    big.mkdir()
    stale.mkdir()
    binary.mkdir()
    write_checkpoint(big)
    write_checkpoint(stale, stale=True)
    write_bin(binary / "pytorch_model.bin")
    failures = []
    with HubEmulator(latency=LATENCY) as hub:
        os.environ.update(hub_environment(hub, root / "cache"))
        hub.add("org/llama-70b", Repo(big))
        hub.add("org/llama-70b-inv-freq", Repo(stale))
        hub.add("org/llama-7b-bin", Repo(binary))

        import paramcount

        for repo, what in (("org/llama-70b", "as save_pretrained writes it"),
                           ("org/llama-70b-inv-freq", "with legacy rotary_emb.inv_freq in every layer")):  # fmt: skip
            failures += race(hub, repo, what, args.repeats)

        hub.reset()
        start = time.perf_counter()
        report = paramcount.count("org/llama-7b-bin", cache=False)
        seconds = time.perf_counter() - start
        size = (binary / "pytorch_model.bin").stat().st_size
        print(
            f"7B-shaped pytorch_model.bin ({size / 1e9:.1f} GB): {report.parameters.total:,} parameters in "
            f"{seconds:.3f} s, {hub.requests} requests, {hub.bytes_sent:,} bytes sent (bar <= 2 MB)"
        )
        if hub.bytes_sent > 2_000_000:
            failures.append(f"{hub.bytes_sent:,} bytes sent for the 7B .bin (bar 2 MB)")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


def race(hub: HubEmulator, repo: str, what: str, repeats: int) -> list[str]:
    """paramcount against get_safetensors_metadata on one repository, interleaved; the bars it misses."""
    import huggingface_hub

    import paramcount

    def ours() -> int:
        return paramcount.count(repo, cache=False).parameters.total or 0

    def theirs() -> int:
        metadata = huggingface_hub.get_safetensors_metadata(repo)
        return sum(sum(f.parameter_count.values()) for f in metadata.files_metadata.values())

    times: dict[str, list[float]] = {"paramcount": [], "get_safetensors_metadata": []}
    sent: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    for _ in range(repeats):  # interleaved, so that drift on a shared machine hits both alike
        for name, call in (("paramcount", ours), ("get_safetensors_metadata", theirs)):
            hub.reset()
            start = time.perf_counter()
            counts[name] = call()
            times[name].append(time.perf_counter() - start)
            sent[name] = (hub.requests, hub.bytes_sent)
    latency = f"{LATENCY * 1000:.0f} ms per request"
    print(f"\n70B-shaped repository {what}, 14 shards, {latency}; best and median of {repeats}")
    print(f"{'tool':<28}{'best s':>8}{'median s':>10}{'requests':>10}{'bytes sent':>12}  count")
    for name, values in times.items():
        requests, size = sent[name]
        print(f"{name:<28}{min(values):>8.3f}{statistics.median(values):>10.3f}{requests:>10}{size:>12,}  "
              f"{counts[name]:,}")  # fmt: skip
    ratio = min(times["paramcount"]) / min(times["get_safetensors_metadata"])
    print(f"paramcount / get_safetensors_metadata: {ratio:.2f}x (bar <= 1.2x)")
    failures = []
    if ratio > 1.2:
        failures.append(f"{repo}: {ratio:.2f}x the wall time of get_safetensors_metadata")
    if sent["paramcount"][1] > 1_500_000:
        failures.append(f"{repo}: {sent['paramcount'][1]:,} bytes sent for the 70B count (bar 1.5 MB)")
    if counts["paramcount"] != EXPECTED:
        failures.append(f"{repo}: paramcount counted {counts['paramcount']:,}, not {EXPECTED:,}")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
