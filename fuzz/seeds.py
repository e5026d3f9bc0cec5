"""Write small valid seed inputs for each fuzz target into ``fuzz/corpus/<reader>/`` (git-ignored).

Run: ``python fuzz/seeds.py [OUT]``. Uses the real writers: torch.save (zip and legacy), safetensors, the gguf
writer, torch.distributed.checkpoint, pickle and numpy.save.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any


def write(out: Path) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from torch import nn

    for reader in ("safetensors", "torchzip", "legacy", "gguf", "dcp", "pickle", "numpy"):
        (out / reader).mkdir(parents=True, exist_ok=True)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    states: dict[str, dict[Any, Any]] = {
        "state_dict": model.state_dict(),
        "mixed": {
            "bf16": torch.zeros(2, 3, dtype=torch.bfloat16),
            "fp8": torch.zeros(4, dtype=torch.float8_e4m3fn),
            "view": torch.arange(8.0)[2:5],
            "expanded": torch.zeros(1, 4).expand(3, 4),
            "scalar": torch.tensor(1.0),
        },
        "nested": {"model": model.state_dict(), "optimizer": {"state": {0: {"step": torch.tensor(1.0)}}}, "epoch": 1},
        # LONG1 and LONG4 integers (a mutated LONG4 grows past what str() renders) and a non-string key.
        "integers": {"w": torch.zeros(2), "steps": 10**700, 2**70: torch.zeros(1)},
    }
    states["mixed"]["tied"] = states["mixed"]["bf16"]
    for name, state in states.items():
        torch.save(state, out / "torchzip" / f"{name}.pt")
        torch.save(state, out / "legacy" / f"{name}.pt", _use_new_zipfile_serialization=False)
    torch.save(model, out / "torchzip" / "module.pt")
    import io
    import pickle

    plain = {"a": [1, 2.5, "x"], "b": 10**700}
    for protocol in range(6):
        (out / "pickle" / f"plain-{protocol}.pkl").write_bytes(pickle.dumps(plain, protocol=protocol))
    for name, array in (("numbers", np.zeros(3)), ("objects", np.array(["a", {"b": 1}], dtype=object))):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=True)
        (out / "numpy" / f"{name}.npy").write_bytes(buffer.getvalue())
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "safetensors" / "model.safetensors")
    )
    save_file({"a": torch.zeros(2, dtype=torch.float16), "b": torch.zeros(1, 3)}, str(out / "safetensors" / "b.st"))

    import gguf

    writer = gguf.GGUFWriter(str(out / "gguf" / "model.gguf"), "llama")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b"])
    writer.add_tensor("token_embd.weight", np.zeros((2, 32), dtype=np.float16))
    writer.add_tensor(
        "blk.0.attn_q.weight", np.zeros((2, 18), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_0
    )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    from torch.distributed.checkpoint.state_dict_saver import save

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save({"model": nn.Linear(2, 2).state_dict()}, checkpoint_id=folder)
        (out / "dcp" / "metadata").write_bytes((Path(folder) / ".metadata").read_bytes())


def oracle_seeds(out: Path) -> None:
    """The differential targets start from the readers' seeds and from the loader cases of the corpus (payloads
    behind text arguments, no-ops, zips torch opens, NumPy spellings), so that mutations explore near them."""
    import shutil

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.corpus import cases

    for oracle, reader in (("pickle-oracle", "pickle"), ("zip-oracle", "torchzip"), ("npy-oracle", "numpy")):
        (out / oracle).mkdir(parents=True, exist_ok=True)
        for seed in (out / reader).iterdir():
            shutil.copy(seed, out / oracle / seed.name)
    with tempfile.TemporaryDirectory() as folder:
        for case in cases():
            if case.group not in ("loader", "pickle", "torch"):
                continue
            place = Path(folder) / case.name
            place.mkdir()
            target = Path(case.build(place))
            if not target.is_file():
                continue
            data = target.read_bytes()
            if len(data) > 1 << 20:
                continue
            kind = "zip-oracle" if data[:2] == b"PK" else "npy-oracle" if data[:6] == b"\x93NUMPY" else "pickle-oracle"
            (out / kind / f"case-{case.name}").write_bytes(data)


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus"
    write(where)
    oracle_seeds(where)
