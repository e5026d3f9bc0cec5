"""Counting a Llama-2-7B-shaped PyTorch .bin, and GGUF / DCP headers whose data grows 1000x.

1. ``pytorch_model.bin``: 6,738,415,616 fp16 parameters (13.5 GB apparent) written by ``torch.save`` under
   ``torch.serialization.skip_data()``, so the data is a hole. paramcount's CLI against
   ``torch.load(path, mmap=True, weights_only=True)`` plus a sum, each as a whole process; best wall time of N runs
   and each process's own peak RSS (its ``VmHWM``, see ``measure.py``). Bars (issue #3): >= 5x faster, peak RSS
   <= 100 MB, torch not imported by paramcount (checked in the same process).
2. GGUF and DCP: the same tensor names with every dimension scaled so the data is 1000x larger (sparse files);
   paramcount's time must not grow with it (ratio printed; bar: within 1.5x, noise allowing).

Run: ``.venv/bin/python benchmarks/bench_bin.py [--repeats N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import struct
import tempfile
from pathlib import Path

from measure import paramcount_cli, python, run

LAYERS, HIDDEN, INTERMEDIATE, VOCAB = 32, 4096, 11008, 32000
EXPECTED = 6_738_415_616

TORCH_LOAD = """
import sys, torch
state = torch.load(sys.argv[1], mmap=True, weights_only=True)
print(sum(t.numel() for t in state.values()))
"""

PARAMCOUNT_NO_TORCH = """
import json, sys
from paramcount.cli import main
code = main(["count", sys.argv[1], "--format", "json"])
assert "torch" not in sys.modules, "paramcount imported torch"
sys.exit(code)
"""


def llama_7b() -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out += [(p + f"self_attn.{n}_proj.weight", (HIDDEN, HIDDEN)) for n in "qkvo"]
        out += [
            (p + "mlp.gate_proj.weight", (INTERMEDIATE, HIDDEN)),
            (p + "mlp.up_proj.weight", (INTERMEDIATE, HIDDEN)),
        ]
        out += [(p + "mlp.down_proj.weight", (HIDDEN, INTERMEDIATE))]
        out += [(p + "input_layernorm.weight", (HIDDEN,)), (p + "post_attention_layernorm.weight", (HIDDEN,))]
    return [*out, ("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]


def write_bin(path: Path) -> None:
    import torch

    # torch.empty maps memory lazily and skip_data() writes no data: neither touches the 13.5 GB.
    state = {name: torch.empty(shape, dtype=torch.float16) for name, shape in llama_7b()}
    with torch.serialization.skip_data():
        torch.save(state, path)


def write_gguf(path: Path, scale: int) -> None:
    """A GGUF of 64 F32 tensors of 1024 x (16 * scale) elements; the data is a hole."""
    infos = b""
    offset = 0
    for i in range(64):
        name = f"blk.{i}.weight".encode()
        ne = (16 * scale, 1024)
        infos += struct.pack("<Q", len(name)) + name + struct.pack("<I2QIQ", 2, *ne, 0, offset)
        offset += ne[0] * ne[1] * 4
    header = b"GGUF" + struct.pack("<IQQ", 3, 64, 0) + infos
    header += b"\0" * (-len(header) % 32)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + offset)


def write_dcp(folder: Path, scale: int) -> None:
    """A DCP folder of 64 fp32 tensors (1024 x 16*scale) in 2 chunks each, written with DCP's own classes."""
    import torch
    from torch.distributed.checkpoint.filesystem import _StorageInfo
    from torch.distributed.checkpoint.metadata import (
        BytesStorageMetadata,
        ChunkStorageMetadata,
        Metadata,
        MetadataIndex,
        TensorProperties,
        TensorStorageMetadata,
    )

    folder.mkdir(parents=True, exist_ok=True)
    entries: dict[str, TensorStorageMetadata | BytesStorageMetadata] = {}
    storage: dict[MetadataIndex, _StorageInfo] = {}
    offset = 0
    rows = 16 * scale
    for i in range(64):
        fqn = f"model.{i}.weight"
        chunks = []
        for half in range(2):
            chunk = ChunkStorageMetadata(torch.Size([half * rows // 2, 0]), torch.Size([rows // 2, 1024]))
            chunks.append(chunk)
            length = rows // 2 * 1024 * 4 + 1024
            storage[MetadataIndex(fqn, chunk.offsets)] = _StorageInfo("__0_0.distcp", offset, length)
            offset += length
        props = TensorProperties(dtype=torch.float32)
        entries[fqn] = TensorStorageMetadata(props, torch.Size([rows, 1024]), chunks)
    metadata = Metadata(state_dict_metadata=entries, storage_data=storage)
    (folder / ".metadata").write_bytes(pickle.dumps(metadata, protocol=4))
    with (folder / "__0_0.distcp").open("wb") as f:
        f.truncate(offset)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="paramcount-bin-"))
    folder.mkdir(parents=True, exist_ok=True)
    failures = []

    path = folder / "pytorch_model.bin"
    if not path.exists():
        write_bin(path)
    print(
        f"pytorch_model.bin: {path.stat().st_size / 1e9:.1f} GB apparent, "
        f"{path.stat().st_blocks * 512 / 1e6:.1f} MB on disk"
    )
    pc_s, pc_mb, pc_out = run(python(PARAMCOUNT_NO_TORCH, str(path)), args.repeats)
    tl_s, tl_mb, tl_out = run(python(TORCH_LOAD, str(path)), args.repeats)
    counted = json.loads(pc_out)["parameters"]["total"]
    print(f"{'tool':<44}{'best s':>8}{'peak MB':>9}  count")
    print(f"{'paramcount CLI (torch not imported)':<44}{pc_s:>8.3f}{pc_mb:>9.1f}  {counted:,}")
    print(f"{'torch.load(mmap=True, weights_only=True)+sum':<44}{tl_s:>8.3f}{tl_mb:>9.1f}  {int(tl_out):,}")
    print(f"torch.load / paramcount: {tl_s / pc_s:.1f}x (bar >= 5x)")
    if counted != EXPECTED or int(tl_out) != EXPECTED:
        failures.append(f"counts {counted:,} / {int(tl_out):,} != {EXPECTED:,}")
    if tl_s < 5 * pc_s:
        failures.append("less than 5x faster than torch.load")
    if pc_mb > 100:
        failures.append(f"peak RSS {pc_mb:.1f} MB > 100 MB")

    for kind, writer in (("gguf", write_gguf), ("dcp", write_dcp)):
        targets = {}
        for scale in (1, 1000):
            targets[scale] = folder / f"{kind}-{scale}" if kind == "dcp" else folder / f"x{scale}.gguf"
            writer(targets[scale], scale)
        times = {1: float("inf"), 1000: float("inf")}
        for _ in range(args.repeats):  # interleaved, so that drift on a shared machine hits both alike
            for scale, target in targets.items():
                seconds, _, _ = run(paramcount_cli("count", str(target), "--format", "json"), 1)
                times[scale] = min(times[scale], seconds)
        for scale, target in targets.items():
            document = json.loads(run(paramcount_cli("count", str(target), "--format", "json"), 1)[2])
            total = document["tensors"]["elements"]
            data = sum(p.stat().st_size for p in ([target] if target.is_file() else target.iterdir()))
            print(f"{kind} x{scale:<5} {data / 1e9:8.2f} GB apparent  {total:>14,} elements  {times[scale]:.3f} s")
        print(f"{kind}: 1000x the data took {times[1000] / times[1]:.2f}x the time (bar: within 1.5x)")
        if times[1000] > 1.5 * times[1]:
            failures.append(f"{kind} time grew with data size")

    for failure in failures:
        print(f"FAIL {failure}")
    print("all bars met" if not failures else f"{len(failures)} bar(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
