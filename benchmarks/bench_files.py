"""Counting a Llama-2-70B-shaped sharded safetensors checkpoint: paramcount vs a bare stdlib loop vs safe_open.

The 14 shards have real headers and their data as holes (sparse files, about 138 GB apparent, a few MB on disk),
beside their index and a config.json naming LlamaForCausalLM; paramcount counts the folder, so its architecture
decides every tensor's role from the generated table (issue #10), torch not imported.
Each tool runs as a whole process, as a user runs it; best wall time of N runs and peak RSS are printed with
ratios. Bars: paramcount <= 2.5x the stdlib loop in every run (issue #9; #3 set 3x), >= 10x faster than
safe_open(framework="pt"), peak RSS <= 60 MB. The run also checks that the paramcount process imported none of
the standard library modules the count does not need (typing, argparse and its locale/shutil, pathlib, ...).
The same folder is measured twice: as ``save_pretrained`` writes it, and with the per-layer
``rotary_emb.inv_freq`` tensors of older Llama conversions, which transformers ignores at load by rule: paramcount
must say so from its table (a note, no warning), not build the model (issue #19).
Then ``paramcount check`` of the second folder against its own config.json (bar: <= 1.5x its count) and
``paramcount diff`` of the two (bar: <= 2x one count; the same parameters, as the inv_freq tensors are ignored).
Run: `.venv/bin/python benchmarks/bench_files.py [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import CHILD_ENV, paramcount_cli, python, run

LAYERS, HIDDEN, INTERMEDIATE, VOCAB, KV = 80, 8192, 28672, 32000, 1024
EXPECTED = 68_976_648_192
SHARDS = 14

STDLIB_LOOP = """
import json, struct, sys, math, pathlib
index = json.loads(pathlib.Path(sys.argv[1]).read_text())
total = 0
for shard in sorted(set(index["weight_map"].values())):
    with open(pathlib.Path(sys.argv[1]).parent / shard, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
print(total)
"""

SAFE_OPEN = """
import json, sys, pathlib
from safetensors import safe_open
index = json.loads(pathlib.Path(sys.argv[1]).read_text())
total = 0
for shard in sorted(set(index["weight_map"].values())):
    with safe_open(str(pathlib.Path(sys.argv[1]).parent / shard), framework="pt") as f:
        for name in f.keys():
            shape = f.get_slice(name).get_shape()
            n = 1
            for d in shape:
                n *= d
            total += n
print(total)
"""


def tensors(stale: bool = False) -> list[tuple[str, list[int]]]:
    """The checkpoint's tensors; ``stale``: with the per-layer ``rotary_emb.inv_freq`` of older Llama conversions,
    which transformers ignores at load by rule (issue #19: they must not make paramcount build the model)."""
    out = [("model.embed_tokens.weight", [VOCAB, HIDDEN])]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
            (p + "self_attn.k_proj.weight", [KV, HIDDEN]),
            (p + "self_attn.v_proj.weight", [KV, HIDDEN]),
            (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
            (p + "mlp.gate_proj.weight", [INTERMEDIATE, HIDDEN]),
            (p + "mlp.up_proj.weight", [INTERMEDIATE, HIDDEN]),
            (p + "mlp.down_proj.weight", [HIDDEN, INTERMEDIATE]),
            (p + "input_layernorm.weight", [HIDDEN]),
            (p + "post_attention_layernorm.weight", [HIDDEN]),
        ]
        if stale:
            out.append((p + "self_attn.rotary_emb.inv_freq", [64]))
    return [*out, ("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])]


def write_checkpoint(folder: Path, stale: bool = False) -> Path:
    """14 sparse bf16 shards with real headers, and their index."""
    items = tensors(stale)
    per_shard = -(-len(items) // SHARDS)
    weight_map: dict[str, str] = {}
    total_size = 0
    for s in range(SHARDS):
        name = f"model-{s + 1:05d}-of-{SHARDS:05d}.safetensors"
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for tensor, shape in items[s * per_shard : (s + 1) * per_shard]:
            size = 2
            for d in shape:
                size *= d
            header[tensor] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[tensor] = name
        body = json.dumps(header).encode()
        body += b" " * (-len(body) % 8)
        with open(folder / name, "wb") as f:
            f.write(struct.pack("<Q", len(body)) + body)
            f.truncate(8 + len(body) + offset)  # the data: a hole
        total_size += offset
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": total_size}, "weight_map": weight_map}))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "vocab_size": VOCAB,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return index


# Standard library modules a count of safetensors headers does not need (issue #9 measured each with -X importtime).
UNNEEDED = ("typing", "shutil", "bz2", "lzma", "fnmatch", "pathlib", "urllib", "ipaddress",
            "dataclasses", "decimal", "contextlib", "torch")  # fmt: skip


def unneeded_imports(index: Path) -> list[str]:
    """The modules of :data:`UNNEEDED` that a paramcount CLI run on ``index`` imported."""
    code = (
        "import sys, io\n"
        "from paramcount.cli import main\n"
        f"sys.argv = ['paramcount', 'count', {str(index.parent)!r}, '--format', 'json']\n"
        "out = io.StringIO()\n"
        "sys.stdout, real = out, sys.stdout\n"
        "main()\n"
        "sys.stdout = real\n"
        f"print(' '.join(m for m in {UNNEEDED!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=CHILD_ENV)
    return result.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="write the checkpoint here and keep it")
    args = parser.parse_args()
    failures = []
    folders = []
    for stale in (False, True):
        folder = (args.keep / ("inv_freq" if stale else "plain")) if args.keep else None
        folder = folder or Path(tempfile.mkdtemp(prefix="paramcount-70b-"))
        folder.mkdir(parents=True, exist_ok=True)
        failures += measure(folder, stale, args.repeats)
        folders.append(folder)
    failures += check_and_diff(folders[0], folders[1], args.repeats)
    if args.keep is None:
        for folder in folders:
            for p in folder.iterdir():
                p.unlink()
            os.rmdir(folder)
    print("all bars met" if not failures else f"{len(failures)} bar(s) missed")
    return 1 if failures else 0


def check_and_diff(plain: Path, stale: Path, repeats: int) -> list[str]:
    """``paramcount check`` of the inv_freq folder against its own config.json, and ``paramcount diff`` of the two
    folders, each against one count of the inv_freq folder, whole processes (issue #19)."""
    count_s, _, _ = run(paramcount_cli("count", str(stale), "--format", "json"), repeats)
    check_s, check_mb, check_out = run(paramcount_cli("check", str(stale), "--format", "json"), repeats)
    diff_s, diff_mb, diff_out = run(paramcount_cli("diff", str(plain), str(stale), "--format", "json"), repeats)
    load, diff = json.loads(check_out)["load"], json.loads(diff_out)["diff"]
    print(f"\n{'command':<40}{'best s':>8}{'peak MB':>9}")
    print(f"{'count (inv_freq folder)':<40}{count_s:>8.3f}")
    print(f"{'check (inv_freq folder, its config)':<40}{check_s:>8.3f}{check_mb:>9.1f}  loads: {load['loads']}, "
          f"ignored: {len(load['ignored_keys'])}, shapes checked: {load['shapes_checked']}")  # fmt: skip
    print(f"{'diff (plain vs inv_freq folder)':<40}{diff_s:>8.3f}{diff_mb:>9.1f}  same: {diff['same']}")
    print(f"check / count: {check_s / count_s:.2f}x (bar <= 1.5x); diff / count: {diff_s / count_s:.2f}x (bar <= 2x)")
    failures = []
    if check_s > 1.5 * count_s:
        failures.append(f"check took {check_s / count_s:.2f}x a count")
    if diff_s > 2 * count_s:
        failures.append(f"diff took {diff_s / count_s:.2f}x a count")
    if not (load["loads"] and load["shapes_checked"] and len(load["ignored_keys"]) == LAYERS):
        failures.append(f"check's answer: {load['loads']=}, {load['shapes_checked']=}")
    if not diff["same"]:
        failures.append("diff found the folders different")
    for failure in failures:
        print(f"FAIL {failure}")
    return failures


def measure(folder: Path, stale: bool, repeats: int) -> list[str]:
    """One checkpoint's runs and the bars it misses."""
    index = write_checkpoint(folder, stale)
    apparent = sum(p.stat().st_size for p in folder.iterdir())
    what = "with legacy rotary_emb.inv_freq in every layer" if stale else "as save_pretrained writes it"
    print(f"\n{SHARDS} shards {what}, {apparent / 1e9:.1f} GB apparent, in {folder}")
    stdlib_s, stdlib_mb, stdlib_out = run(python(STDLIB_LOOP, str(index)), repeats)
    pc_s, pc_mb, pc_out = run(paramcount_cli("count", str(folder), "--format", "json"), repeats)
    so_s, so_mb, so_out = run(python(SAFE_OPEN, str(index)), max(1, repeats // 2))
    document = json.loads(pc_out)
    counted = document["parameters"]["total"]
    architecture = document.get("architecture", {})
    source = architecture.get("source")
    print(
        f"architecture: {architecture.get('class')} from the {source}; ignored at load: "
        f"{architecture.get('ignored', {}).get('count', 0)}; warnings: {len(document.get('warnings', []))}"
    )
    print(f"{'tool':<28}{'best s':>8}{'peak MB':>9}  count")
    print(f"{'stdlib struct+json loop':<28}{stdlib_s:>8.3f}{stdlib_mb:>9.1f}  {int(stdlib_out):,}")
    print(f"{'paramcount CLI':<28}{pc_s:>8.3f}{pc_mb:>9.1f}  {counted:,}")
    print(f"{'safe_open(framework=pt)':<28}{so_s:>8.3f}{so_mb:>9.1f}  {int(so_out):,}")
    print(f"paramcount / stdlib loop: {pc_s / stdlib_s:.2f}x (bar <= 2.5x)")
    print(f"safe_open / paramcount: {so_s / pc_s:.1f}x (bar >= 10x)")
    failures = []
    if counted != EXPECTED:
        failures.append(f"count {counted:,} != {EXPECTED:,}")
    if source != "table":
        failures.append(f"the architecture came from {source}, not the table")
    if document.get("warnings"):
        failures.append(f"warnings: {document['warnings'][:2]}")
    if stale and architecture.get("ignored", {}).get("count") != LAYERS:
        failures.append("the legacy inv_freq tensors are not reported as ignored at load")
    if pc_s > 2.5 * stdlib_s:
        failures.append("slower than 2.5x the stdlib loop")
    imported = unneeded_imports(index)
    print(f"unneeded standard library imports: {', '.join(imported) or 'none'}")
    if imported:
        failures.append(f"imports {', '.join(imported)}")
    if so_s < 10 * pc_s:
        failures.append("less than 10x faster than safe_open")
    if pc_mb > 60:
        failures.append(f"peak RSS {pc_mb:.1f} MB > 60 MB")
    for failure in failures:
        print(f"FAIL {failure}")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
