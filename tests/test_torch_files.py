"""PyTorch checkpoints (zip and legacy), read inertly: torch itself is the oracle on trusted fixtures written here,
and every validation rule has a crafted file."""

from __future__ import annotations

import functools
import io
import json
import pickle
import re
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pytest
import torch
from torch import nn

import paramcount
from paramcount.errors import FormatError, TargetError, UnsafeTargetError
from tests.crafted import Pid, Rebuild, UnknownSubclass, dumps, tensor, torch_zip
from tests.messages import error_line

if TYPE_CHECKING:
    from pathlib import Path


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def live_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_oracle(path: Path) -> dict[str, int]:
    """Counts from torch.load of a trusted fixture: entries, unique tensors' elements, storages and their bytes."""
    loaded = torch.load(path, weights_only=True)
    found: list[torch.Tensor] = []
    pending: list[Any] = [loaded]
    while pending:
        value = pending.pop()
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    views: dict[tuple[Any, ...], int] = {}
    storages: dict[int, int] = {}
    for t in found:
        storage = t.untyped_storage()
        views[(storage.data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)] = t.numel()
        storages[storage.data_ptr()] = storage.nbytes()
    return {
        "count": len(found),
        "elements": sum(views.values()),
        "unique_storages": len(storages),
        "bytes": sum(storages.values()),
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_counts_like_the_live_model(tmp_path: Path, legacy: bool) -> None:
    model = small_model()
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    report = paramcount.count(str(path))
    assert report.format == ("torch-legacy" if legacy else "torch-zip")
    assert report.parameters.total == live_parameters(model) == 4 * 8 + 8 + 16 + 8 * 3 + 3
    assert report.buffers.total == sum(b.numel() for b in model.buffers())
    assert report.to_dict()["tensors"] == torch_oracle(path)
    (excluded,) = report.excluded
    assert (excluded.what, excluded.tensors, excluded.elements) == ("batchnorm-statistics", 3, 8 + 8 + 1)
    assert report.verdict == "ok"


def test_whole_module_pickle_is_counted_structurally_and_untrusted(tmp_path: Path) -> None:
    model = small_model()
    model[0].requires_grad_(False)
    model[1].register_buffer("scratch", torch.zeros(5), persistent=False)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    report = paramcount.count(str(path))
    assert report.parameters.total == live_parameters(model)
    assert report.parameters.frozen == 4 * 8 + 8
    assert report.parameters.trainable == live_parameters(model) - 40
    assert report.buffers.total == sum(b.numel() for b in model.buffers())
    assert (report.buffers.persistent, report.buffers.non_persistent) == (17, 5)
    assert report.verdict == "untrusted"
    (warning,) = [w for w in report.warnings if w.startswith("untrusted")]
    assert "torch.nn.modules.linear.Linear" in warning
    assert "torch.nn.modules.batchnorm.BatchNorm1d" in warning
    types = {row.path: row.type for row in report.modules}
    assert types == {"": "Sequential", "0": "Linear", "1": "BatchNorm1d", "2": "ReLU", "3": "Linear"}


class _Activated(torch.nn.Module):
    """A module holding a function as an attribute, as BART's and RT-DETR's activations do."""

    def __init__(self, function: Any) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.function = function


def test_a_torch_function_only_referenced_is_untrusted_not_unsafe(tmp_path: Path) -> None:
    """torch.save(BART) references torch._C._nn.gelu without calling it: untrusted like its classes (exit 0)."""
    path = tmp_path / "bart-like.pt"
    torch.save(_Activated(torch._C._nn.gelu), path)
    report = paramcount.count(str(path))
    assert report.verdict == "untrusted"
    assert report.parameters.total == 8
    (warning,) = [w for w in report.warnings if w.startswith("untrusted")]
    assert "torch._C._nn.gelu" in warning


def test_any_other_function_only_referenced_is_unsafe(tmp_path: Path) -> None:
    """A function outside torch held by a module is code the model would run: unsafe (exit 4), not untrusted."""
    import os

    path = tmp_path / "evil.pt"
    torch.save(_Activated(os.system), path)
    with pytest.raises(UnsafeTargetError, match=r"posix\.system at offset \d+, referenced"):
        paramcount.count(str(path))


class _WholeModel(torch.nn.Module):
    """What whole-model saves of transformers' models hold besides modules (issue 18's sweep): an activation
    bound with functools.partial (Gemma), an Enum member (BackboneType), a third-party class's method (IBert's
    SymmetricQuantFunction.apply) and a bound method of the model kept as a load hook (Mamba)."""

    def __init__(self) -> None:
        from transformers.backbone_utils import BackboneType
        from transformers.models.ibert.quant_modules import SymmetricQuantFunction

        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.activation = functools.partial(torch.nn.functional.gelu, approximate="tanh")
        self.backbone_type = BackboneType.TRANSFORMERS
        self.quantize = SymmetricQuantFunction.apply
        self._register_load_state_dict_pre_hook(self.load_hook)  # type: ignore[no-untyped-call]

    def load_hook(self, *args: Any) -> None:
        pass


def test_what_whole_model_saves_hold_is_untrusted_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(_WholeModel(), path)
    loaded = torch.load(path, weights_only=False)  # the oracle: a trusted fixture, loaded for real
    report = paramcount.count(str(path))
    assert report.verdict == "untrusted"
    assert report.parameters.total == live_parameters(loaded) == 8
    (warning,) = [w for w in report.warnings if w.startswith("untrusted")]
    for name in (
        "functools.partial",
        "transformers.backbone_utils.BackboneType",
        "transformers.models.ibert.quant_modules.SymmetricQuantFunction.apply",
        "tests.test_torch_files._WholeModel.load_hook",
    ):
        assert name in warning


def _global(module: str, name: str) -> bytes:
    return b"".join(b"\x8c" + bytes([len(p)]) + p.encode() for p in (module, name)) + b"\x93"


_MODEL = _global("tests.test_torch_files", "_WholeModel") + b")\x81"  # NEWOBJ: an instance
_GETATTR = _global("builtins", "getattr")


@pytest.mark.parametrize(
    ("pkl", "finding"),
    [
        (_global("transformers.backbone_utils", "BackboneType") + b"\x8c\x03bad\x85R", "other than one of its members"),
        (_global("transformers.backbone_utils", "BackboneType") + b"\x8c\x04timm\x8c\x01x\x86R", "other than one"),
        (_global("functools", "partial") + _global("posix", "system") + b"\x85R", "posix.system at offset"),
        (_GETATTR + _MODEL + b"\x8c\x08__init__\x86R", "getattr"),
        (_GETATTR + _MODEL + b"\x8c\x09load_hook\x86R)R", "load_hook at offset 74, called by REDUCE"),
        (_GETATTR + _global("transformers.models.bert.modeling_bert", "Bert") + b"\x8c\x07__new__\x86R", "getattr"),
        # torch.builtins is the builtins module: getattr reaches builtins.map, whose instance calls what it holds
        # when iterated (the fourth attacker review ran numpy.savetxt through it with torch.load)
        (
            _GETATTR + _global("torch", "builtins") + b"\x8c\x03map\x86R" + _global("numpy", "savetxt") + b"]\x86\x81",
            "reached through attributes",
        ),
        # the same instance iterated by set(): its class's code runs
        (
            _global("builtins", "set")
            + _GETATTR
            + _global("torch", "builtins")
            + b"\x8c\x03map\x86R"
            + _global("numpy", "savetxt")
            + b"]\x86\x81\x85R",
            "which iterates, indexes or reads it",
        ),
    ],
    ids=[
        "enum-not-a-member",
        "enum-two-arguments",
        "partial-of-os-system",
        "dunder-of-instance",
        "method-called",
        "dunder-of-class",
        "class-through-attributes",
        "class-through-attributes-iterated",
    ],
)
def test_what_whole_model_saves_may_hold_turns_unsafe_when_misused(tmp_path: Path, pkl: bytes, finding: str) -> None:
    path = torch_zip(tmp_path / "evil.pt", b"\x80\x04" + pkl + b".", {})
    with pytest.raises(UnsafeTargetError, match=error_line(path, re.escape(finding))):
        paramcount.count(str(path))


def _setstate_gadget(target: str) -> bytes:
    """BUILD gives a real nn.Linear an instance attribute, then the unpickler looks it up and calls it."""
    linear = _global("torch.nn.modules.linear", "Linear") + b")\x81"
    if target == "__setstate__":
        return b"\x80\x04" + linear + b"}\x8c\x0c__setstate__" + _global("victim", "run") + b"sb\x8c\x01xb."
    # nn.Module.__getattr__ finds "extend" among the submodules
    modules = b"}\x8c\x08_modules}\x8c\x06extend" + _global("victim", "run") + b"ss"
    return b"\x80\x04" + linear + modules + b"b(\x8c\x01xe."


@pytest.mark.parametrize("target", ["__setstate__", "_modules"])
def test_a_function_the_unpickler_finds_on_an_instance_is_called(tmp_path: Path, target: str) -> None:
    """The oracle: CPython's unpickler with the real nn.Linear calls victim.run; paramcount finds it called."""
    calls: list[Any] = []

    class Oracle(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) == ("victim", "run"):
                return lambda *args: calls.append(args)
            return super().find_class(module, name)

    data = _setstate_gadget(target)
    Oracle(io.BytesIO(data)).load()
    assert calls == [(["x"],)] if target == "_modules" else calls == [("x",)]
    path = torch_zip(tmp_path / "evil.pt", data, {})
    with pytest.raises(UnsafeTargetError, match=r"victim\.run at offset \d+, called by (BUILD|APPENDS), as the"):
        paramcount.count(str(path))


def test_training_checkpoint_separates_model_from_optimizer_state(tmp_path: Path) -> None:
    model = small_model()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    moments = sum(t.numel() for s in state["state"].values() for t in s.values())
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "optimizer": state, "epoch": 3}, path)
    report = paramcount.count(str(path))
    assert report.parameters.total == live_parameters(model)
    excluded = {e.what: e for e in report.excluded}
    assert excluded["optimizer-state"].elements == moments == 2 * live_parameters(model) + 6
    assert excluded["optimizer-state"].tensors == 3 * 6
    assert report.to_dict()["tensors"]["count"] == torch_oracle(path)["count"]


def test_lightning_checkpoint_keys(tmp_path: Path) -> None:
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    path = tmp_path / "epoch=0-step=1.ckpt"
    torch.save(
        {
            "epoch": 0,
            "global_step": 1,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "optimizer_states": [optimizer.state_dict()],
            "lr_schedulers": [{"last_epoch": 1, "base_lrs": [0.1]}],
            "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5)}},
            "loops": {},
        },
        path,
    )
    report = paramcount.count(str(path))
    assert report.parameters.total == live_parameters(model)
    excluded = {e.what: (e.tensors, e.elements) for e in report.excluded}
    assert excluded["optimizer-state"] == (6, live_parameters(model))  # one momentum buffer per parameter
    assert excluded["training-state"] == (1, 1)


def test_optimizer_state_dict_alone_has_no_parameters(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "optimizer.pt"
    torch.save(optimizer.state_dict(), path)
    report = paramcount.count(str(path))
    assert report.parameters.total == 0
    assert [(e.what, e.elements) for e in report.excluded] == [("optimizer-state", 2 * 8 + 2)]


def test_dtypes_views_ties_and_expanded_tensors_match_torch(tmp_path: Path) -> None:
    base = torch.arange(12, dtype=torch.float32)
    state = {
        "bf16": torch.zeros(3, 2, dtype=torch.bfloat16),
        "fp8": torch.zeros(5, dtype=torch.float8_e4m3fn),
        "u16": torch.zeros(5, dtype=torch.uint16),
        "c64": torch.zeros(2, dtype=torch.complex64),
        "scalar": torch.tensor(3.0),
        "empty": torch.zeros(0, 4),
        "slice": base[2:6],
        "transposed": base.view(3, 4).t(),
        "expanded": torch.zeros(1, 16).expand(1000, 16),
        "long": torch.zeros(3, dtype=torch.int64),
    }
    state["tied"] = state["bf16"]
    path = tmp_path / "mixed.pt"
    torch.save(state, path)
    report = paramcount.count(str(path))
    oracle = torch_oracle(path)
    assert report.to_dict()["tensors"] == oracle
    assert report.parameters.total == oracle["elements"]
    by_dtype = {row.dtype: row.parameters for row in report.by_dtype}
    assert by_dtype["bfloat16"] == 6
    assert by_dtype["float8_e4m3fn"] == 5
    assert by_dtype["uint16"] == 5
    assert by_dtype["complex64"] == 2
    assert by_dtype["float32"] == 1 + 0 + 4 + 12 + 16_000
    assert any("expanded" in w for w in report.warnings)
    assert [t.names for t in report.tied] == [("bf16", "tied")]


def test_meta_state_dict_counts_without_storages(tmp_path: Path) -> None:
    with torch.device("meta"):
        model = small_model()
    path = tmp_path / "meta.pt"
    torch.save(model.state_dict(), path)
    report = paramcount.count(str(path))
    assert report.parameters.total == live_parameters(model)
    assert report.to_dict()["tensors"]["bytes"] == 0


def tied_gpt2(path: Path, *, untie_on_disk: bool = False) -> int:
    """A GPT-2 state dict (data skipped: a sparse file), tied as transformers ties it; returns its entry count."""
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    model = model.to_empty(device="cpu")
    model.tie_weights()
    state = model.state_dict()
    if untie_on_disk:
        state["lm_head.weight"] = torch.empty_like(state["lm_head.weight"])
    with torch.serialization.skip_data():
        torch.save(state, path)
    return len(state)


def test_tied_gpt2_bin_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    entries = tied_gpt2(path)
    report = paramcount.count(str(path))
    assert report.parameters.total == 124_439_808
    tensors = report.to_dict()["tensors"]
    assert (tensors["count"], tensors["unique_storages"]) == (entries, entries - 1)
    assert [t.names for t in report.tied] == [("transformer.wte.weight", "lm_head.weight")]


def test_model_folder_with_config_ties_an_untied_bin(tmp_path: Path) -> None:
    tied_gpt2(tmp_path / "pytorch_model.bin", untie_on_disk=True)
    assert paramcount.count(str(tmp_path / "pytorch_model.bin")).parameters.total == 124_439_808 + 38_597_376
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "tie_word_embeddings": True}))
    assert paramcount.count(str(tmp_path)).parameters.total == 124_439_808


def test_sharded_bin_through_its_index(tmp_path: Path) -> None:
    model = small_model()
    state = model.state_dict()
    names = list(state)
    first, second = names[:3], names[3:]
    torch.save({k: state[k] for k in first}, tmp_path / "pytorch_model-00001-of-00002.bin")
    torch.save({k: state[k] for k in second}, tmp_path / "pytorch_model-00002-of-00002.bin")
    weight_map = dict.fromkeys(first, "pytorch_model-00001-of-00002.bin")
    weight_map |= dict.fromkeys(second, "pytorch_model-00002-of-00002.bin")
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == live_parameters(model)
    assert len(report.files) == 3


def test_sharded_bin_without_its_index_is_summed_when_complete(tmp_path: Path) -> None:
    """A complete pytorch_model-0000N-of-0000M.bin set without an index is one model; torch.load is the oracle."""
    model = small_model()
    state = model.state_dict()
    names = list(state)
    torch.save({k: state[k] for k in names[:3]}, tmp_path / "pytorch_model-00001-of-00002.bin")
    torch.save({k: state[k] for k in names[3:]}, tmp_path / "pytorch_model-00002-of-00002.bin")
    held = sum(
        t.numel()
        for i in (1, 2)
        for k, t in torch.load(tmp_path / f"pytorch_model-0000{i}-of-00002.bin", weights_only=True).items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))  # the BatchNorm's buffers
    )
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == held == live_parameters(model)
    assert any("no index found" in n for n in report.notes)
    (tmp_path / "pytorch_model-00001-of-00002.bin").unlink()
    (tmp_path / "pytorch_model-00003-of-00002.bin").write_bytes(b"")
    with pytest.raises(TargetError, match=r"missing 'pytorch_model-00001-of-00002\.bin'"):
        paramcount.count(str(tmp_path))


def test_cli_verify_on_a_checkpoint_and_no_torch_import(tmp_path: Path) -> None:
    import subprocess
    import sys

    model = small_model()
    path = tmp_path / "sd.bin"
    torch.save(model.state_dict(), path)
    code = (
        "import sys; from paramcount.cli import main\n"
        f"assert main(['verify', {str(path)!r}, '--expect', '83']) == 0\n"
        f"assert main(['verify', {str(path)!r}, '--expect', '84']) == 1\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert live_parameters(model) == 83


# ---- crafted files: each zip / pickle rule ----------------------------------------------------------------------


def craft(tmp_path: Path, obj: Any, records: dict[str, int], **kwargs: Any) -> str:
    return str(torch_zip(tmp_path / "crafted.pt", dumps(obj), records, **kwargs))


def test_a_crafted_state_dict_reads_like_torch(tmp_path: Path) -> None:
    path = craft(tmp_path, {"w": tensor("0", 6, (2, 3), (3, 1))}, {"0": 24})
    assert paramcount.count(path).parameters.total == 6
    assert torch.load(path, weights_only=True)["w"].shape == (2, 3)


@pytest.mark.parametrize(
    ("obj", "records", "rule"),
    [
        ({"w": tensor("0", 10**9, (4,), (1,))}, {"0": 16}, "zip-record"),  # numel claims more than the record
        ({"w": tensor("0", 4, (100, 100), (100, 1))}, {"0": 16}, "pickle-bounds"),  # view outside its storage
        ({"w": tensor("0", 4, (2,), (1,), offset=3)}, {"0": 16}, "pickle-bounds"),
        ({"w": tensor("0", 4, (-1, 2), (2, 1))}, {"0": 16}, "pickle-shape"),  # negative size
        ({"w": tensor("0", 4, (2, 2), (1,))}, {"0": 16}, "pickle-shape"),  # sizes and strides differ in length
        ({"w": tensor("0", 4, (2.0,), (1,))}, {"0": 16}, "pickle-shape"),
        ({"w": tensor("7", 4, (4,), (1,))}, {"0": 16}, "zip-record"),  # record missing
        ({"w": tensor("../../x", 4, (4,), (1,))}, {"0": 16}, "pickle-storage"),
        ({"w": Rebuild(torch._utils._rebuild_tensor_v2, Pid("module", 1), 0, (1,), (1,))}, {}, "pickle-storage"),
        (
            {
                "w": Rebuild(
                    torch._utils._rebuild_tensor_v2, Pid("storage", torch.FloatStorage, "0", "cpu", -1), 0, (1,), (1,)
                )
            },
            {"0": 4},
            "pickle-storage",
        ),
        (
            {
                "w": Rebuild(
                    torch._utils._rebuild_tensor_v2, Pid("storage", torch.FloatStorage, "0", "cpu"), 0, (1,), (1,)
                )
            },
            {"0": 4},
            "pickle-storage",
        ),
    ],
    ids=[
        "numel-vs-record",
        "view-out-of-bounds",
        "offset-out-of-bounds",
        "negative-size",
        "stride-length",
        "float-size",
        "missing-record",
        "key-escape",
        "wrong-pid-tag",
        "negative-numel",
        "four-tuple-pid",
    ],
)
def test_crafted_tensor_rules(tmp_path: Path, obj: Any, records: dict[str, int], rule: str) -> None:
    path = craft(tmp_path, obj, records)
    with pytest.raises(FormatError, match=error_line(path)) as caught:
        paramcount.count(path)
    assert caught.value.rule == rule
    assert caught.value.tensor in ("w", "v", None)


def test_keys_that_are_not_strings_name_their_tensors_in_bounded_text(tmp_path: Path) -> None:
    """torch.load accepts any dict key; a 5,001-digit integer (2 KB of LONG4) is one str() refuses to render."""
    obj = {10**5000: tensor("0", 4, (4,), (1,)), 7: tensor("1", 2, (2,), (1,))}
    path = craft(tmp_path, obj, {"0": 16, "1": 8})
    # The oracle: torch's full unpickler (safe here: the test wrote the file; weights-only has no LONG4 opcode).
    assert sum(t.numel() for t in torch.load(path, weights_only=False).values()) == 6
    report = paramcount.count(path)
    assert report.parameters.total == 6
    assert {r.name: r.elements for r in report.records} == {"<an integer of about 5001 digits>": 4, "7": 2}


def test_stride_zero_view_counts_logical_elements_over_its_bytes(tmp_path: Path) -> None:
    report = paramcount.count(craft(tmp_path, {"w": tensor("0", 1, (10**6, 10**6), (0, 0))}, {"0": 4}))
    assert report.parameters.total == 10**12
    assert report.to_dict()["tensors"]["bytes"] == 4
    assert any("expanded" in w for w in report.warnings)


def zip_bytes(
    members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_STORED, version: bool = True
) -> bytes:
    """A zip of ``members`` (with the ``version`` record torch's reader requires, under the first member's folder)."""
    import io

    if version and members and "/" in members[0][0]:
        members = [*members, (members[0][0].split("/")[0] + "/version", b"3\n")]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which is the point of one case
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


GOOD_PKL = dumps({"w": tensor("0", 4, (4,), (1,))})
GOOD = [("a/data.pkl", GOOD_PKL), ("a/data/0", bytes(16))]


def torch_total(path: str) -> int | None:
    """The oracle: the elements torch.load(weights_only=True) loads from a file this test wrote (safe: its allowlist
    runs no code), or ``None`` when torch refuses the file."""
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # torch's refusal, of any kind
        return None
    views = {(t.untyped_storage().data_ptr(), t.storage_offset(), t.shape, t.stride()): t for t in loaded.values()}
    return int(sum(t.numel() for t in views.values()))  # one view of one storage under two names: one tensor (tied)


def agrees_with_torch(tmp_path: Path, data: bytes) -> tuple[int | None, Any]:
    """Write ``data``; return torch's total and paramcount's report (or its error), having checked they agree:
    a file torch loads is counted to the same total, a file torch refuses is refused (exit 3)."""
    path = tmp_path / "x.pt"
    path.write_bytes(data)
    expected = torch_total(str(path))
    if expected is None:
        with pytest.raises(FormatError, match=error_line(path)) as caught:
            paramcount.count(str(path))
        return None, caught.value
    report = paramcount.count(str(path))
    assert report.parameters.total == expected
    return expected, report


def patch_central(data: bytes, member: bytes, **fields: int) -> bytes:
    """Rewrite central-directory fields of ``member`` (flags at +8, time at +12, csize at +20, usize at +24)."""
    out = bytearray(data)
    at = out.index(b"PK\x01\x02", out.rindex(member) - 46)
    for name, value in fields.items():
        offset = {"flags": 8, "time": 12, "csize": 20, "usize": 24}[name]
        struct.pack_into("<H" if name in ("flags", "time") else "<L", out, at + offset, value)
    return bytes(out)


def _wrong_local_name(data: bytes) -> bytes:
    at = data.index(b"a/data/0")  # the first occurrence is the local header's name
    return data[:at] + b"a/data/9" + data[at + 8 :]


@pytest.mark.parametrize(
    ("make", "loads", "rule"),
    [
        (lambda: zip_bytes(GOOD), True, None),
        (lambda: zip_bytes([*GOOD, ("a/data.pkl", GOOD_PKL)]), True, None),  # a duplicate: torch reads one
        (lambda: zip_bytes([("a/DATA.PKL", GOOD_PKL), GOOD[1]]), True, None),  # found case-insensitively
        (lambda: _wrong_local_name(zip_bytes(GOOD)), True, None),  # torch's reader ignores local names
        (lambda: zip_bytes(GOOD, compression=zipfile.ZIP_DEFLATED), True, None),
        (lambda: zip_bytes(GOOD, version=False), False, "zip-layout"),  # torch requires a version record
        (lambda: zip_bytes([("a/data.pkl", GOOD_PKL), ("b/data/0", bytes(16))]), False, "zip-layout"),
        (lambda: zip_bytes([("a/b/data.pkl", GOOD_PKL), ("a/data/0", bytes(16))]), False, "zip-layout"),
        (lambda: zip_bytes(GOOD)[:-30], False, "zip-end"),
        (lambda: b"PK\x03\x04" + bytes(60) + zip_bytes(GOOD), False, "zip-end"),  # offsets taken as written
        (lambda: zip_bytes(GOOD, compression=zipfile.ZIP_BZIP2), False, "zip-method"),
        (lambda: patch_central(zip_bytes(GOOD), b"a/data.pkl", flags=1), False, "zip-encrypted"),
        # a stored member's claimed size is read (miniz compares the sizes only when the time field is 0), no CRC
        # is checked: the byte after data.pkl's STOP comes along and is ignored
        (lambda: patch_central(zip_bytes(GOOD), b"a/data.pkl", usize=len(GOOD_PKL) + 1), True, None),
        (lambda: patch_central(zip_bytes(GOOD), b"a/data.pkl", usize=len(GOOD_PKL) + 1, time=0), False, "zip-end"),
        (lambda: patch_central(zip_bytes(GOOD), b"a/data/0", csize=10**6, usize=10**6), False, "zip-end"),
        (lambda: zip_bytes(GOOD).replace(b"a/data/0", b"a/data/\xff"), False, "zip-record"),  # names are bytes
        (lambda: zip_bytes([("a/data.pkl", GOOD_PKL + b"\x00"), GOOD[1]]), True, None),  # bytes after STOP
    ],
    ids=[
        "valid",
        "duplicate-member",
        "upper-case-data-pkl",
        "local-name-differs",
        "deflated",
        "no-version",
        "two-top-folders",
        "pickle-too-deep",
        "truncated-end",
        "prepended-bytes",
        "bzip2",
        "encrypted",
        "stored-sizes-differ",
        "stored-sizes-differ-time-zero",
        "data-past-directory",
        "name-not-utf8",
        "bytes-after-stop",
    ],
)
def test_zip_archives_are_read_as_torch_reads_them(tmp_path: Path, make: Any, loads: bool, rule: str | None) -> None:
    """torch.load is the oracle: what it loads is counted to its total, what it refuses is refused with the rule
    its reader broke."""
    expected, outcome = agrees_with_torch(tmp_path, make())
    assert (expected is not None) == loads
    if rule is not None:
        assert outcome.rule == rule, str(outcome)


def test_what_torch_tolerates_is_counted_with_a_warning(tmp_path: Path) -> None:
    cases = {
        "duplicate": (zip_bytes([*GOOD, ("a/data.pkl", GOOD_PKL)]), "appear twice"),
        "deflated": (zip_bytes(GOOD, compression=zipfile.ZIP_DEFLATED), "compressed"),
        "after-stop": (zip_bytes([("a/data.pkl", GOOD_PKL + b"\x00"), GOOD[1]]), "after its STOP opcode"),
        "local-name": (_wrong_local_name(zip_bytes(GOOD)), "named differently in their local headers"),
    }
    for name, (data, warning) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        expected, report = agrees_with_torch(folder, data)
        assert expected == 4, name
        assert any(warning in w for w in report.warnings), (name, report.warnings)


def test_a_storage_described_two_ways_keeps_its_first_description_as_torch_does(tmp_path: Path) -> None:
    obj = {"w": tensor("0", 4, (4,), (1,)), "v": tensor("0", 8, (4,), (1,))}
    expected, report = agrees_with_torch(tmp_path, _crafted_bytes(obj))
    assert expected == 4  # two names for one view of one storage: a tie
    assert any("described two ways" in w for w in report.warnings)


def _crafted_bytes(obj: Any, records: dict[str, int] | None = None) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", dumps(obj))
        for key, size in (records or {"0": 16}).items():
            archive.writestr(f"archive/data/{key}", bytes(size))
        archive.writestr("archive/version", b"3\n")
    return buffer.getvalue()


def test_an_untyped_storage_viewed_in_whole_elements_loads_as_torch_loads_it(tmp_path: Path) -> None:
    untyped = Pid("storage", torch.storage.UntypedStorage, "0", "cpu", 6)
    odd = Rebuild(torch._utils._rebuild_tensor_v3, untyped, 0, (1,), (1,), False, OrderedDict(), torch.float32)
    expected, _ = agrees_with_torch(tmp_path, _crafted_bytes({"w": odd}, {"0": 6}))
    assert expected == 1
    too_big = Rebuild(torch._utils._rebuild_tensor_v3, untyped, 0, (2,), (1,), False, OrderedDict(), torch.float32)
    folder = tmp_path / "big"
    folder.mkdir()
    expected, error = agrees_with_torch(folder, _crafted_bytes({"w": too_big}, {"0": 6}))
    assert expected is None
    assert error.rule == "pickle-bounds"


def test_corrupt_deflate_stream_is_unsafe(tmp_path: Path) -> None:
    """torch's reader does not refuse a data.pkl whose deflate stream is corrupt from its first byte: it unpickles
    the buffer it allocated, uninitialised (torch.load fails or not depending on what the memory held)."""
    data = bytearray(zip_bytes([("a/data.pkl", GOOD_PKL * 4)], compression=zipfile.ZIP_DEFLATED))
    start = data.index(b"a/data.pkl") + len("a/data.pkl")
    data[start : start + 8] = b"\xff" * 8  # the deflate stream begins right after the local header's name
    path = tmp_path / "x.pt"
    path.write_bytes(bytes(data))
    assert len(torch._C.PyTorchFileReader(str(path)).get_record("data.pkl")) == len(GOOD_PKL) * 4  # no refusal
    with pytest.raises(UnsafeTargetError, match="uninitialised memory"):
        paramcount.count(str(path))


@pytest.mark.parametrize(
    ("pkl", "problem"),
    [
        (b"\x80\x04\x8e" + struct.pack("<Q", 2**36) + b"abc", "BINBYTES8 at offset 2 needs"),  # length-claim bomb
        (b"I" + b"9" * 5000 + b"\n.", "digits"),
        (b"\x80\x02h\x63.", "never stored"),  # BINGET without PUT
        (b"\x80\x02t.", "MARK"),  # TUPLE without MARK
        (b"\x80\x020.", "MARK"),  # POP on an empty stack
        (b"\x80\x02]K\x01K\x02s.", "SETITEM at offset 7 changes a list"),  # torch refuses; the C unpickler may not
        (b"\x80\x02K\x01}b.", "BUILD at offset 5 on an int"),  # no state: a no-op for C, refused by torch
        (b"\x80\x02K\x01K\x02a.", "APPEND on an int, which it cannot change"),  # C fails too: evaluation stops
        (b"\x80\x02\x80\x06N.", "protocol 6"),  # PROTO above 5 mid-stream: the C unpickler stops there
        (b"\x80\x02Np-1\n.", "negative index"),  # PUT with a negative index: refused by the C unpickler too
    ],
    ids=[
        "bytes8-bomb",
        "huge-int",
        "binget-unset",
        "tuple-without-mark",
        "pop-empty",
        "setitem-list",
        "build-int",
        "append-int",
        "proto-6",
        "put-negative",
    ],
)
def test_malformed_pickles_exit_3(tmp_path: Path, pkl: bytes, problem: str) -> None:
    path = torch_zip(tmp_path / "x.pt", pkl, {})
    with pytest.raises(FormatError, match=problem) as caught:
        paramcount.count(str(path))
    assert caught.value.rule in ("pickle", "pickle-refused")
    assert caught.value.exit_code == 3


def test_dag_bomb_and_deep_nesting_are_walked_once(tmp_path: Path) -> None:
    x: list[Any] = []
    for _ in range(80):
        x = [x, x]
    bomb = {"dag": x, "w": tensor("0", 4, (4,), (1,))}
    assert paramcount.count(craft(tmp_path, bomb, {"0": 16})).parameters.total == 4
    n = 10_000  # ten times the recursion limit: walked iteratively
    deep = b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."
    assert paramcount.count(str(torch_zip(tmp_path / "deep.pt", deep, {}))).parameters.total == 0
    # 100,000 levels name their values with 10^10 characters of paths: refused by a named limit, not built
    n = 100_000
    deeper = b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."
    deeper_path = torch_zip(tmp_path / "deeper.pt", deeper, {})
    with pytest.raises(FormatError, match=error_line(deeper_path, "paths", "--limit pickle-values=N")) as caught:
        paramcount.count(str(deeper_path))
    assert caught.value.rule == "limit-pickle-values"


def test_legacy_stream_rules(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(3)}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert paramcount.count(str(path)).parameters.total == 3
    (tmp_path / "trailing.pt").write_bytes(data + b"\0")
    (tmp_path / "short.pt").write_bytes(data[:-1])
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    assert data.startswith(magic)
    (tmp_path / "magic.pt").write_bytes(pickle.dumps(12345, protocol=2) + data[len(magic) :])
    count_at = len(data) - 3 * 4 - 8
    (tmp_path / "count.pt").write_bytes(data[:count_at] + struct.pack("<q", 4) + data[count_at + 8 :])
    for name in ("short", "count"):
        assert torch_total(str(tmp_path / f"{name}.pt")) is None, name
        with pytest.raises(FormatError, match=error_line(tmp_path / f"{name}.pt")) as caught:
            paramcount.count(str(tmp_path / f"{name}.pt"))
        assert caught.value.rule == "legacy", name
    # torch reads the storages it needs and ignores what follows: so does the count, with a warning
    assert torch_total(str(tmp_path / "trailing.pt")) == 3
    report = paramcount.count(str(tmp_path / "trailing.pt"))
    assert report.parameters.total == 3
    assert any("1 bytes after its last storage" in w for w in report.warnings)
    # Without the magic number it is no legacy stream: a pickle of plain values, which is not a checkpoint.
    with pytest.raises(TargetError, match="pickle of plain Python values"):
        paramcount.count(str(tmp_path / "magic.pt"))


def test_torchscript_is_refused_as_a_program(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated in 2.13
        torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeTargetError, match="TorchScript"):
        paramcount.count(str(path))


def test_unknown_tensor_subclass_is_untrusted(tmp_path: Path) -> None:
    wrapper = Rebuild(
        torch._utils._rebuild_wrapper_subclass,
        UnknownSubclass,  # a class outside the allowlist, referenced by GLOBAL, never imported by paramcount
        torch.float32,
        (10**6, 10**6),
        (10**6, 1),
        0,
        torch.strided,
        torch.device("cpu"),
        False,
    )
    report = paramcount.count(craft(tmp_path, {"w": wrapper}, {}))
    assert report.parameters.total == 10**12
    assert report.verdict == "untrusted"


def test_a_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    path.write_text("not a model")
    with pytest.raises(TargetError, match="not a checkpoint format"):
        paramcount.count(str(path))


def test_legacy_tar_is_recognised_and_refused_clearly(tmp_path: Path) -> None:
    from tests.corpus.torch_cases import legacy_tar

    path = legacy_tar(tmp_path)
    with pytest.raises(TargetError, match=r"tar archive, the earliest torch\.save format"):
        paramcount.count(str(path))


def test_zip_limits_on_the_container(tmp_path: Path) -> None:
    from paramcount.blob import LocalFile
    from paramcount.formats import zip as zip_format
    from paramcount.formats.torchzip import read
    from paramcount.limits import Limits

    path = tmp_path / "x.pt"
    path.write_bytes(zip_bytes(GOOD))
    refused = pytest.raises(FormatError, match=error_line(path, "", "--limit zip-entries=N"))
    with LocalFile(path) as blob, refused as caught:
        zip_format.miniz(blob, max_entries=1)
    assert caught.value.rule == "limit-zip-entries"
    refused = pytest.raises(FormatError, match=error_line(path, "", "--limit pickle-bytes=N"))
    with LocalFile(path) as blob, refused as caught:
        read(blob, Limits(pickle_bytes=len(GOOD_PKL) - 1))
    assert caught.value.rule == "limit-pickle-bytes"
    no_local = path.read_bytes().replace(b"PK\x03\x04", b"PK\x03\x05")
    (tmp_path / "nolocal.pt").write_bytes(b"PK\x03\x04" + no_local[4:])  # the first local header stays
    with pytest.raises(FormatError, match=error_line(tmp_path / "nolocal.pt")) as caught:
        paramcount.count(str(tmp_path / "nolocal.pt"))
    assert caught.value.rule == "zip-local"


def test_pickle_tensor_rules(tmp_path: Path) -> None:
    untyped = Pid("storage", torch.storage.UntypedStorage, "0", "cpu", 6)
    v3 = Rebuild(torch._utils._rebuild_tensor_v3, untyped, 0, (3,), (1,), False, OrderedDict(), torch.uint16)
    assert paramcount.count(craft(tmp_path, {"w": v3}, {"0": 6})).parameters.total == 3
    bad_dtype = Rebuild(torch._utils._rebuild_tensor_v3, untyped, 0, (3,), (1,), False, OrderedDict(), "uint16")
    nested = Rebuild(torch._utils._rebuild_nested_tensor, tensor("0", 4, (4,), (1,)), None, None, None)
    cases = [({"w": bad_dtype}, {"0": 6}, "pickle-dtype")]
    cases.append(({"w": nested}, {"0": 16}, "pickle-unsupported"))
    for obj, records, rule in cases:
        path = craft(tmp_path, obj, records)
        with pytest.raises(FormatError, match=error_line(path)) as caught:
            paramcount.count(path)
        assert caught.value.rule == rule


def test_quantization_auxiliaries_are_excluded(tmp_path: Path) -> None:
    state = {
        "q_proj.qweight": torch.zeros(64, 256, dtype=torch.int32),
        "q_proj.qzeros": torch.zeros(4, 32, dtype=torch.int32),
        "q_proj.scales": torch.zeros(4, 256, dtype=torch.float16),
        "q_proj.g_idx": torch.zeros(512, dtype=torch.int32),
        "norm.weight": torch.zeros(256),
    }
    path = tmp_path / "gptq.bin"
    torch.save(state, path)
    report = paramcount.count(str(path))
    (excluded,) = report.excluded
    assert (excluded.what, excluded.tensors, excluded.elements) == ("quantization-auxiliary", 3, 128 + 1024 + 512)
    assert excluded.kind.value == "auxiliary"
    assert report.parameters.total == 512 * 256 + 256  # qweight counted by its logical shape: g_idx x scales
    assert report.quantization is not None
    assert report.quantization.scheme == "gptq 4-bit"


def test_which_of_two_data_pkl_spellings_is_read_follows_torchs_reader(tmp_path: Path) -> None:
    """miniz finds a name case-insensitively by a binary search over its own (unstable) heap sort: which of
    ``data.pkl`` and ``data.PKL`` torch reads depends on the members' order. paramcount reads the same one in every
    order of four members and the version record (torch's reader, ``torch._C.PyTorchFileReader``, is the oracle)."""
    import itertools

    from paramcount.blob import LocalFile
    from paramcount.formats import zip as zip_format

    members = [
        ("archive/data.pkl", GOOD_PKL),
        ("archive/data.PKL", dumps({"v": tensor("1", 2, (2,), (1,))})),
        ("archive/data/0", bytes(16)),
        ("archive/data/1", bytes(8)),
    ]
    chosen = set()
    for order in itertools.permutations(members):
        path = tmp_path / "x.pt"
        path.write_bytes(zip_bytes([*order, ("archive/version", b"3\n")], version=False))
        torch_reads = bytes(torch._C.PyTorchFileReader(str(path)).get_record("data.pkl"))
        with LocalFile(path) as blob:
            directory = zip_format.miniz(blob)
            entry = zip_format.locate(directory, b"archive/data.pkl")
            assert entry is not None
            assert zip_format.extract(blob, entry, directory, limit=2**20) == torch_reads, [m[0] for m in order]
        chosen.add(torch_reads)
        assert paramcount.count(str(path)).parameters.total == (4 if torch_reads == GOOD_PKL else 2)
    assert len(chosen) == 2  # both spellings are read, depending on the order


def test_a_data_pkl_marked_as_a_directory_is_unsafe_as_torch_reads_uninitialised_memory(tmp_path: Path) -> None:
    """Found by the zip-oracle fuzz target: miniz extracts nothing from an entry whose DOS attributes say
    directory, and torch's getRecord returns the buffer it allocated for the claimed size as it was."""
    import io

    pkl = b"\x80\x02}q\x00." + b"\x00" * 50
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pkl)
        archive.writestr("archive/version", b"3\n")
    data = bytearray(buffer.getvalue())
    at = data.find(b"PK\x01\x02")
    data[at + 38 : at + 42] = struct.pack("<I", 0x10)  # external attributes: the DOS directory bit
    path = tmp_path / "directory.pt"
    path.write_bytes(bytes(data))
    record = bytes(torch._C.PyTorchFileReader(io.BytesIO(bytes(data))).get_record("data.pkl"))
    assert len(record) == len(pkl)  # the oracle: torch hands over the claimed size, not the stored bytes
    with pytest.raises(UnsafeTargetError, match="uninitialised memory"):
        paramcount.count(str(path))


def _datapipe_bytes() -> bytes:
    """NEWOBJ of torch's MapperIterDataPipe, its state making iteration call numpy.savetxt (protocol 4)."""
    state = b"}(" + b"\x8c\x08datapipe]\x8c\x01xa" + b"\x8c\x02fn" + _global("numpy", "savetxt") + b"u"
    return _global("torch.utils.data.datapipes.iter.callable", "MapperIterDataPipe") + b")\x81" + state + b"b"


_PWS = _global("torch._utils", "_rebuild_parameter_with_state")


@pytest.mark.parametrize(
    "value",
    [
        _global("builtins", "frozenset") + _datapipe_bytes() + b"\x85\x85\x81",  # frozenset.__new__ iterates it
        _global("torch", "Size") + _datapipe_bytes() + b"\x85\x85\x81",  # so does torch.Size.__new__
        _global("torch.nn.modules.linear", "Identity") + b")\x81" + _datapipe_bytes() + b"b",  # the whole state
        b"(\x8c\x07storage" + _global("torch", "FloatStorage") + _datapipe_bytes() + b"\x8c\x03cpuK\x04tQ",  # pid key
        _PWS + b"(N\x89" + _global("collections", "OrderedDict") + b")R" + _datapipe_bytes() + b"tR",  # rebuild state
    ],
    ids=["newobj-frozenset", "newobj-size", "module-state", "persistent-id", "rebuild-state"],
)
def test_an_instance_the_file_chose_is_unsafe_wherever_loading_takes_it_apart(tmp_path: Path, value: bytes) -> None:
    """The fifth attacker review's places where torch.load runs the class's code of an instance the file made
    (a datapipe's iteration calls the function in its state): the arguments of NEWOBJ, a BUILD state that is an
    instance, a persistent id's items (torch's persistent_load hashes the key), a rebuild's state (_set_obj_state
    tests it and calls its items())."""
    path = torch_zip(tmp_path / "evil.pt", b"\x80\x04}\x8c\x01g" + value + b"s.", {})
    with pytest.raises(UnsafeTargetError, match="its class's code runs"):
        paramcount.count(str(path))


def _deflated_data_pkl(stream: bytes, size: int) -> bytes:
    """A torch zip whose ``data.pkl`` is the raw deflate ``stream``, its entry claiming ``size`` bytes."""
    data = bytearray(zip_bytes([("archive/data.pkl", b"\0" * len(stream)), ("archive/data/0", bytes(16))]))
    name_length, extra_length = struct.unpack_from("<2H", data, 26)
    start = 30 + name_length + extra_length
    data[start : start + len(stream)] = stream
    central = data.find(b"PK\x01\x02")
    for at in (0, central):  # method and uncompressed size, in the local header and the directory
        struct.pack_into("<H", data, at + (8 if at == 0 else 10), 8)
        struct.pack_into("<I", data, at + (22 if at == 0 else 24), size)
    return bytes(data)


def _deflate(data: bytes, flush: int = zlib.Z_FINISH) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(flush)


MALICIOUS_PKL = b"\x80\x02" + _global("os", "system") + b"X\x04\x00\x00\x00true\x85R."


@pytest.mark.parametrize(
    ("stream", "size", "expected"),
    [
        # the stream gives more than the entry says: torch reads the first `size` bytes (a malicious pickle)
        (_deflate(MALICIOUS_PKL + b"}" * 40), len(MALICIOUS_PKL), "unsafe"),
        # the stream ends short: torch's reader refuses it ("unexpected decompressed size")
        (_deflate(GOOD_PKL), len(GOOD_PKL) + 50, "malformed"),
        # not deflate at all (the fuzz target's finding): torch unpickles the buffer it allocated, uninitialised
        (b"\xff" * 64, len(GOOD_PKL), "unsafe"),
        # a whole pickle, then a broken block: torch reads the pickle and ignores the uninitialised rest
        (_deflate(GOOD_PKL, zlib.Z_SYNC_FLUSH) + b"\xff\xff", len(GOOD_PKL) + 10, 4),
        # a whole pickle, then no more input
        (_deflate(GOOD_PKL, zlib.Z_SYNC_FLUSH), len(GOOD_PKL) + 10, 4),
        # the stream breaks inside the pickle: the rest of it would be uninitialised memory
        (_deflate(GOOD_PKL, zlib.Z_SYNC_FLUSH)[:20], len(GOOD_PKL), "unsafe"),
    ],
    ids=["longer", "shorter", "not-deflate", "broken-after-stop", "cut-after-stop", "cut-inside"],
)
def test_a_deflated_data_pkl_is_extracted_as_torchs_reader_extracts_it(
    tmp_path: Path, stream: bytes, size: int, expected: int | str
) -> None:
    """miniz inflates into a buffer of the entry's size and reports an error only when the stream ends short; on
    any other failure torch's getRecord uses the buffer as it is. paramcount reads what torch's reader decodes
    (``torch._C.PyTorchFileReader`` is the oracle) and calls unsafe what would come from uninitialised memory."""
    from paramcount.blob import LocalFile
    from paramcount.formats import zip as zip_format

    path = tmp_path / "deflated.pt"
    path.write_bytes(_deflated_data_pkl(stream, size))
    try:
        torch_reads: bytes | None = bytes(torch._C.PyTorchFileReader(str(path)).get_record("data.pkl"))
    except RuntimeError:
        torch_reads = None
    with LocalFile(path) as blob:
        directory = zip_format.miniz(blob)
        entry = zip_format.locate(directory, b"archive/data.pkl")
        assert entry is not None
        ours: bytes | FormatError
        try:
            ours = zip_format.extract(blob, entry, directory, limit=2**20)
        except FormatError as e:
            ours = e
    if isinstance(ours, zip_format.PartialMemberError):
        # torch reads the decoded prefix, then its buffer as it was
        assert torch_reads is not None and torch_reads[: len(ours.prefix)] == ours.prefix
    elif isinstance(ours, FormatError):
        assert torch_reads is None
    else:
        assert ours == torch_reads
    if expected == "unsafe":
        with pytest.raises(UnsafeTargetError, match=error_line(path)):
            paramcount.count(str(path))
    elif expected == "malformed":
        with pytest.raises(FormatError, match=error_line(path)):
            paramcount.count(str(path))
    else:
        report = paramcount.count(str(path))
        assert report.parameters.total == expected
        assert any("uninitialised" in w for w in report.warnings)


def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


@pytest.mark.parametrize(
    "pkl",
    [
        # one hooks list of 100,000 values shared by 100,000 rebuilds: walked once, not 10^10 times
        b"\x80\x02"
        + _g("torch._utils", "_rebuild_tensor_v2")
        + b"q\x000(NK\x00))\x89("
        + b"]" * 100_000
        + b"ltq\x010"
        + b"h\x00h\x01R0" * 100_000
        + b"}.",
        # a dict key holding a tuple with 2^80 paths, quoted in no message at its full size
        b"\x80\x02}" + _g("collections", "OrderedDict") + b")" + b"2\x86" * 80 + b"\x85RK\x01s.",
    ],
    ids=["shared-hooks", "huge-key"],
)
def test_work_a_small_pickle_asks_for_is_bounded(tmp_path: Path, pkl: bytes) -> None:
    """Found by the attacker review: both ran for minutes. A hang here is a failure, whatever the machine."""
    import subprocess
    import sys

    path = torch_zip(tmp_path / "bounded.pt", pkl, {})
    argv = [sys.executable, "-m", "paramcount", "count", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 3, 4) and "Traceback" not in done.stderr
