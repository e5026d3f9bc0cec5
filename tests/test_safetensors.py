"""safetensors files, indexes and folders: real writers as oracles, every validation rule on crafted files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import paramcount
from paramcount.errors import FormatError, TargetError
from tests.messages import error_line

if TYPE_CHECKING:
    from pathlib import Path


def raw(header: Any, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A safetensors file from a header (dict, or bytes taken as is) and a data buffer."""
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body) if length is None else length) + body + data


def f32(shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}


# (id, file bytes, rule paramcount reports). Each is checked against the safetensors library too.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty", b"", "header-too-small"),
    ("seven-bytes", b"\x02\x00\x00", "header-too-small"),
    ("header-too-large", struct.pack("<Q", 100_000_001) + b"{}", "limit-header-bytes"),
    ("header-max-u64", struct.pack("<Q", 2**64 - 1) + b"{}", "limit-header-bytes"),
    ("header-past-end", raw(b"{}", length=1000), "header-length"),
    ("bom", raw(b"\xef\xbb\xbf{}"), "header-json"),
    ("bad-utf8", raw(b'{"\xff": 1}'), "header-utf8"),
    ("trailing-nul", raw(b"{}\x00\x00"), "header-json"),
    ("array", raw(b"[1, 2]"), "header-json"),
    ("deep-nesting", raw(b"[" * 100_000), "header-json"),
    ("nan-dim", raw(b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}', b"\0" * 4), "header-json"),
    ("float-dim", raw(b'{"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}', b"\0" * 4), "header-json"),
    ("bool-dim", raw({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4), "header-json"),
    ("negative-dim", raw({"a": f32([-1], 0, 4)}, b"\0" * 4), "header-json"),
    ("huge-int", raw(b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}'),
     "header-json"),
    ("21-digit-dim", raw(b'{"a": {"dtype": "F32", "shape": [' + b"1" + b"0" * 20 + b'], "data_offsets": [0, 4]}}'),
     "header-json"),
    ("2-to-the-64-dim", raw({"a": f32([2**64], 0, 4)}, b"\0" * 4), "header-json"),
    ("2-to-the-64-offset", raw({"a": f32([1], 0, 2**64)}, b"\0" * 4), "header-json"),
    # serde reads -0 as the float -0.0, refuses a field of an entry named twice and half a surrogate pair anywhere
    ("minus-zero-offset", raw(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [-0, 1]}}', b"\0"), "header-json"),
    ("minus-zero-dim", raw(b'{"a": {"dtype": "U8", "shape": [-0], "data_offsets": [0, 0]}}'), "header-json"),
    ("field-twice", raw(b'{"a": {"dtype": "U8", "shape": [1], "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
     "header-json"),
    ("lone-surrogate-name", raw(b'{"a\\ud800": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
     "header-json"),
    ("lone-surrogate-extra", raw(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": "\\udc00"}}',
                                 b"\0"), "header-json"),
    ("offsets-missing", raw({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "header-json"),
    ("offsets-three", raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, b"\0" * 4), "header-json"),
    ("unknown-dtype", raw({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16), "header-json"),
    ("lowercase-dtype", raw({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "header-json"),
    ("metadata-not-strings", raw({"__metadata__": {"n": 1}}), "header-json"),
    ("gap", raw({"a": f32([2], 4, 12)}, b"\0" * 12), "offsets"),
    ("overlap", raw({"a": f32([2], 0, 8), "b": f32([2], 4, 12)}, b"\0" * 12), "offsets"),
    ("alias", raw({"a": f32([2], 0, 8), "b": f32([2], 0, 8)}, b"\0" * 8), "offsets"),
    ("reversed", raw({"a": f32([0], 4, 0)}, b"\0" * 4), "offsets"),
    ("size-mismatch", raw({"a": f32([3], 0, 8)}, b"\0" * 8), "size"),
    ("overflow", raw({"a": f32([2**32, 2**32], 0, 0)}), "overflow"),
    ("misaligned-f4", raw({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\0" * 2), "misaligned"),
    ("trailing-byte", raw({"a": f32([1], 0, 4)}, b"\0" * 5), "incomplete"),
    ("missing-byte", raw({"a": f32([1], 0, 4)}, b"\0" * 3), "incomplete"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "rule"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_files_fail_with_their_rule_like_the_reference(
    tmp_path: Path, case: str, data: bytes, rule: str
) -> None:
    path = tmp_path / f"{case}.safetensors"
    path.write_bytes(data)
    # Oracle: the safetensors library refuses every one of these files too.
    reference = pytest.raises(Exception, match="Error while deserializing header")
    with reference, safe_open(str(path), framework="numpy") as f:
        list(f.keys())
    with pytest.raises(FormatError, match=error_line(path)) as info:
        paramcount.count(str(path))
    assert info.value.rule == rule
    assert str(path) in str(info.value)


def test_a_tensor_named_twice_counts_the_last_entry_as_every_loader_does(tmp_path: Path) -> None:
    """serde (the reference) keeps the last of two entries named alike; so do safe_open and torch.load, so the file
    is a model the loaders read, not a malformed one: it is counted their way, with a warning."""
    first, last = json.dumps(f32([2], 0, 8)).encode(), json.dumps(f32([1], 0, 4)).encode()
    path = tmp_path / "dup.safetensors"
    path.write_bytes(raw(b'{"a": ' + first + b', "a": ' + last + b"}", b"\0" * 4))
    with safe_open(str(path), framework="numpy") as f:
        oracle = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    assert oracle == {"a": [1]}
    report = paramcount.count(str(path))
    assert {r.name: list(r.shape or ()) for r in report.records} == oracle
    assert any("names 1 tensor(s) twice" in w and "'a'" in w for w in report.warnings)
    # when the entry the reference drops was the only one at offset 0, the last one leaves a gap: both refuse
    path.write_bytes(raw(b'{"a": ' + first + b', "a": ' + json.dumps(f32([1], 4, 8)).encode() + b"}", b"\0" * 8))
    with pytest.raises(Exception, match="invalid offset"):
        safe_open(str(path), framework="numpy")
    with pytest.raises(FormatError, match=error_line(path)) as info:
        paramcount.count(str(path))
    assert info.value.rule == "offsets"


ACCEPTED: list[tuple[str, bytes, int]] = [
    ("empty-object", raw({}), 0),
    ("whitespace", raw(b'  {"a": ' + json.dumps(f32([1], 0, 4)).encode() + b"}  ", b"\0" * 4), 1),
    ("unknown-field", raw({"a": {**f32([2], 0, 8), "extra": [1, 2]}}, b"\0" * 8), 2),
    ("zero-elements", raw({"a": f32([0, 5], 0, 0), "b": f32([1], 0, 4)}, b"\0" * 4), 1),
    ("scalar", raw({"a": f32([], 0, 4)}, b"\0" * 4), 1),
    ("empty-name", raw({"": f32([1], 0, 4)}, b"\0" * 4), 1),
    ("f4-even", raw({"a": {"dtype": "F4", "shape": [4, 6], "data_offsets": [0, 12]}}, b"\0" * 12), 24),
    ("metadata", raw({"__metadata__": {"format": "pt"}, "a": f32([1], 0, 4)}, b"\0" * 4), 1),
    # digits that are not numbers to int() ("²"), and decimal digits of other scripts, in names
    ("unicode-digits", raw({"w1²": f32([1], 0, 4), "h.².x": f32([1], 4, 8), "٣.w": f32([1], 8, 12)}, b"\0" * 12), 3),
    ("21-digit-name", raw({"w" + "1" * 21: f32([1], 0, 4)}, b"\0" * 4), 1),
    (
        "5000-digit-names",
        raw({f"h.{'7' * 5000}.w": f32([1], 0, 4), f"h.{'7' * 4999}.w": f32([1], 4, 8)}, b"\0" * 8),
        2,
    ),  # more digits than int() reads
    (
        "minus-zero-unknown-field",
        raw(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": -0}}', b"\0"),
        1,
    ),
    (
        "unknown-field-twice",
        raw(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1, "x": 2}}', b"\0"),
        1,
    ),
    ("surrogate-pair", raw(b'{"a\\ud83d\\ude00": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"), 1),
    (  # padded to 101 bytes: a header of 99 starts the file with "c" (the known limit below)
        "metadata-twice",
        raw(b'{"__metadata__": {"k": "1", "k": "2"}, "a": ' + json.dumps(f32([1], 0, 4)).encode() + b"}  ", b"\0" * 4),
        1,
    ),
]


@pytest.mark.parametrize(("case", "data", "total"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_edge_cases_the_reference_accepts(tmp_path: Path, case: str, data: bytes, total: int) -> None:
    path = tmp_path / f"{case}.safetensors"
    path.write_bytes(data)
    (length,) = struct.unpack("<Q", data[:8])
    names = json.loads(data[8 : 8 + length]).keys() - {"__metadata__"}
    with safe_open(str(path), framework="numpy") as f:  # oracle: the library reads it
        assert sorted(f.keys()) == sorted(names)
    assert paramcount.count(str(path)).parameters.total == total


@pytest.mark.xfail(strict=True, reason="known limit: judged as the pickle torch.load would read from byte 0")
def test_a_header_length_whose_first_byte_is_a_pickle_global_is_counted(tmp_path: Path) -> None:
    """A header of 99 (or 105) bytes makes the file's first byte "c" (or "i"), GLOBAL to a pickle; the safetensors
    writer pads headers to 8 bytes so never writes one, other writers may. The library reads such a file and
    ``torch.load`` would only fail to import a module named by the header's bytes; paramcount refuses it as unsafe
    (exit 4). Found in review; left for the pickle judge's owners (SECURITY.md) to decide."""
    header = json.dumps({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode()
    path = tmp_path / "c.safetensors"
    path.write_bytes(raw(header + b" " * (99 - len(header)), b"\0"))
    with safe_open(str(path), framework="numpy") as f:
        assert list(f.keys()) == ["a"]
    assert paramcount.count(str(path)).parameters.total == 1


def test_real_file_counts_like_the_library(tmp_path: Path) -> None:
    tensors = {
        "embed.weight": torch.zeros(100, 16, dtype=torch.bfloat16),
        "layer.weight": torch.zeros(16, 16, dtype=torch.float16),
        "layer.bias": torch.zeros(16),
        "flags": torch.zeros(3, dtype=torch.bool),
        "fp8": torch.zeros(4, 4, dtype=torch.float8_e4m3fn),
        "bn.running_mean": torch.zeros(16),
        "bn.running_var": torch.ones(16),
        "bn.num_batches_tracked": torch.zeros((), dtype=torch.int64),
        "rotary.inv_freq": torch.zeros(8),
    }
    path = tmp_path / "weights.bin"  # detection by content, not by extension
    save_file(tensors, str(path))
    with safe_open(str(path), framework="pt") as f:
        oracle = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)  # noqa: SIM118 -- safe_open has no __iter__
    report = paramcount.count(str(path))
    buffers = {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "rotary.inv_freq"}
    expected = sum(torch.Size(shape).numel() for name, shape in oracle.items() if name not in buffers)
    assert report.parameters.total == expected == 1600 + 256 + 16 + 3 + 16
    assert report.parameters.trainable is None  # unknowable in a file
    assert report.buffers.total == 16 + 16 + 1 + 8
    assert report.tensors is not None
    assert report.tensors.count == len(tensors)
    assert report.tensors.bytes == path.stat().st_size - 8 - struct.unpack("<Q", path.read_bytes()[:8])[0]
    dtypes = {d.dtype: (d.parameters, d.parameter_bytes) for d in report.by_dtype}
    assert dtypes["bfloat16"] == (1600, 3200) and dtypes["float8_e4m3fn"] == (16, 16) and dtypes["bool"] == (3, 3)
    excluded = {e.what: (e.tensors, e.elements) for e in report.excluded}
    assert excluded == {"batchnorm-statistics": (3, 33), "rotary-frequencies": (1, 8)}
    doc = report.to_dict()
    assert doc["format"] == "safetensors" and doc["verdict"] == "ok" and doc["files"] == [str(path)]
    assert all(e["reason"] for e in doc["excluded"])


def _save_sharded(folder: Path, tie: bool) -> int:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=2, vocab_size=1000, n_positions=128, tie_word_embeddings=tie
    )
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(folder, max_shard_size="100KB")
    return sum(p.numel() for p in model.parameters())


def test_sharded_folder_index_and_shards_agree_with_the_live_model(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    live = _save_sharded(folder, tie=True)
    assert live == 172_288
    for target in (folder, folder / "model.safetensors.index.json"):
        report = paramcount.count(str(target))
        assert report.parameters.total == live
        assert len(report.files) > 2
        assert report.warnings == ()


def test_untied_head_is_counted_and_tied_head_once(tmp_path: Path) -> None:
    untied = tmp_path / "untied"
    live = _save_sharded(untied, tie=False)
    assert paramcount.count(str(untied)).parameters.total == live == 172_288 + 64_000
    # A file that stores a tied head anyway (torch.save-style exports do) is counted once under the config.
    folder = tmp_path / "tied"
    folder.mkdir()
    embed = torch.zeros(1000, 64)
    save_file(
        {"transformer.wte.weight": embed, "lm_head.weight": embed.clone(), "ln.weight": torch.zeros(64)},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(json.dumps({"tie_word_embeddings": True}))
    report = paramcount.count(str(folder))
    assert report.parameters.total == 64_000 + 64
    assert [set(g.names) for g in report.tied] == [{"transformer.wte.weight", "lm_head.weight"}]
    (folder / "config.json").write_text(json.dumps({"tie_word_embeddings": False}))
    assert paramcount.count(str(folder)).parameters.total == 128_000 + 64


def _index(folder: Path, weight_map: dict[str, str], **metadata: int) -> Path:
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps({"metadata": metadata, "weight_map": weight_map}))
    return path


def test_index_cross_checks(tmp_path: Path) -> None:
    save_file({"a": torch.zeros(2), "b": torch.zeros(3)}, str(tmp_path / "s1.safetensors"))
    save_file({"c": torch.zeros(4)}, str(tmp_path / "s2.safetensors"))
    index = _index(tmp_path, {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}, total_size=36)
    assert paramcount.count(str(index)).parameters.total == 9

    _index(tmp_path, {"a": "s1.safetensors", "c": "s2.safetensors"})  # b stored but not listed
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == 6
    assert [(e.what, e.tensors, e.elements) for e in report.excluded] == [("not-in-index", 1, 3)]
    assert any("missing from the index" in w for w in report.warnings)

    _index(tmp_path, {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}, total_size=999)
    assert any("total_size is 999" in w for w in paramcount.count(str(tmp_path)).warnings)


@pytest.mark.parametrize(
    ("weight_map", "rule", "message"),
    [
        ({"a": "../outside.safetensors"}, "index-path", "outside the folder"),
        ({"a": "/etc/passwd"}, "index-path", "outside the folder"),
        ({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s1.safetensors"}, "index-missing", "in no shard"),
        ({"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}, "index-shard", "maps it to"),
    ],
    ids=["dotdot", "absolute", "listed-but-absent", "wrong-shard"],
)
def test_bad_indexes_are_refused(tmp_path: Path, weight_map: dict[str, str], rule: str, message: str) -> None:
    (tmp_path / "model").mkdir()
    folder = tmp_path / "model"
    save_file({"a": torch.zeros(2), "b": torch.zeros(3)}, str(folder / "s1.safetensors"))
    save_file({"c": torch.zeros(4)}, str(folder / "s2.safetensors"))
    save_file({"a": torch.zeros(2)}, str(tmp_path / "outside.safetensors"))
    _index(folder, weight_map)
    with pytest.raises(FormatError, match=message) as info:
        paramcount.count(str(folder))
    assert info.value.rule == rule


def test_symlinked_shard_outside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    save_file({"a": torch.zeros(2)}, str(tmp_path / "outside.safetensors"))
    (folder / "s1.safetensors").symlink_to(tmp_path / "outside.safetensors")
    _index(folder, {"a": "s1.safetensors"})
    with pytest.raises(FormatError, match="outside the folder"):
        paramcount.count(str(folder))


def test_tensor_in_two_shards_and_missing_shard(tmp_path: Path) -> None:
    save_file({"a": torch.zeros(2)}, str(tmp_path / "s1.safetensors"))
    save_file({"a": torch.zeros(2)}, str(tmp_path / "s2.safetensors"))
    _index(tmp_path, {"a": "s1.safetensors", "b": "s2.safetensors"})
    with pytest.raises(FormatError, match="stored in both"):
        paramcount.count(str(tmp_path))
    _index(tmp_path, {"a": "s1.safetensors", "b": "s3.safetensors"})
    with pytest.raises(TargetError, match=r"'s3\.safetensors' named by the index is missing"):
        paramcount.count(str(tmp_path))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such file or folder"),
        ("empty-folder", "holds no weights: no index"),
        ("two-files", r"holds 2 weight files \('a.safetensors', 'b.safetensors'\) and no index"),
        ("zip-not-torch", "is a zip whose first member 'data.pkl' is outside any folder"),
        ("text", "not a checkpoint format paramcount recognises"),
        ("fifo", "not a regular file"),
    ],
    ids=str,
)
def test_targets_that_are_not_checkpoints(tmp_path: Path, setup: str, message: str) -> None:
    import os

    target = tmp_path / "target"
    if setup == "empty-folder":
        target.mkdir()
    elif setup == "two-files":
        target.mkdir()
        save_file({"a": torch.zeros(1)}, str(target / "a.safetensors"))
        save_file({"a": torch.zeros(1)}, str(target / "b.safetensors"))
    elif setup == "zip-not-torch":
        import zipfile

        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("data.pkl", b"")
    elif setup == "text":
        target.write_text("hello, world\n")
    elif setup == "fifo":
        os.mkfifo(target)
    with pytest.raises(TargetError, match=message):
        paramcount.count(str(target))


def test_cli_on_a_file_does_not_import_torch_and_exits_3_on_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    good.write_bytes(raw({"w": f32([2, 2], 0, 16)}, b"\0" * 16))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(raw({"w": f32([3], 0, 8)}, b"\0" * 8))
    code = (
        "import sys, json; from paramcount.cli import main\n"
        f"assert main(['count', {str(good)!r}, '--format', 'json']) == 0\n"
        f"assert main(['count', {str(bad)!r}]) == 3\n"
        "assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["parameters"]["total"] == 4
    assert result.stderr.count("\n") == 1
    assert "tensor 'w': holds 8 bytes but its shape and dtype need 12" in result.stderr


def test_a_70b_sharded_checkpoint_reads_under_1_mb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Llama-2-70B shapes in 14 sparse shards (138 GB apparent): only headers and the index are read."""
    from paramcount.blob import LocalFile

    layers, hidden, intermediate, vocab, kv = 80, 8192, 28672, 32000, 1024
    names = [("model.embed_tokens.weight", [vocab, hidden]), ("lm_head.weight", [vocab, hidden])]
    names.append(("model.norm.weight", [hidden]))
    for i in range(layers):
        p = f"model.layers.{i}."
        names += [(p + f"self_attn.{n}_proj.weight", [hidden if n in "qo" else kv, hidden]) for n in "qkvo"]
        names += [(p + f"mlp.{n}_proj.weight", [intermediate, hidden]) for n in ("gate", "up")]
        names += [(p + "mlp.down_proj.weight", [hidden, intermediate])]
        names += [(p + n, [hidden]) for n in ("input_layernorm.weight", "post_attention_layernorm.weight")]
    weight_map = {}
    per_shard = -(-len(names) // 14)
    for s in range(14):
        shard = f"model-{s + 1:05d}-of-00014.safetensors"
        header, offset = {}, 0
        for name, shape in names[s * per_shard : (s + 1) * per_shard]:
            size = 2 * shape[0] * (shape[1] if len(shape) > 1 else 1)
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[name] = shard
        with (tmp_path / shard).open("wb") as f:
            f.write(raw(header))
            f.truncate(f.tell() + offset)  # the data is a hole
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    read = 0
    original = LocalFile.read

    def counting(self: LocalFile, offset: int, length: int) -> bytes:
        nonlocal read
        read += length
        return original(self, offset, length)

    monkeypatch.setattr(LocalFile, "read", counting)
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == 68_976_648_192
    assert sum((tmp_path / f).stat().st_size for f in set(weight_map.values())) > 137e9
    assert read < 2**20, f"read {read} bytes"


def test_a_hugging_face_cache_snapshot_counts_through_its_blob_links(tmp_path: Path) -> None:
    """The hub cache keeps files in <repo>/blobs and links them from <repo>/snapshots/<revision>/."""
    repo = tmp_path / "models--org--tiny"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / "0123abc"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (blobs / "aaa").write_bytes(raw({"a": f32([2, 2], 0, 16)}, b"\0" * 16))
    (blobs / "bbb").write_bytes(raw({"b": f32([3], 0, 12)}, b"\0" * 12))
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (blobs / "ccc").write_text(json.dumps(index))
    (blobs / "ddd").write_text(json.dumps({"tie_word_embeddings": False}))
    for link, blob in (
        ("model-1.safetensors", "aaa"),
        ("model-2.safetensors", "bbb"),
        ("model.safetensors.index.json", "ccc"),
        ("config.json", "ddd"),
    ):
        (snapshot / link).symlink_to(f"../../blobs/{blob}")
    assert paramcount.count(str(snapshot)).parameters.total == 7
    (snapshot / "model-2.safetensors").unlink()
    (tmp_path / "elsewhere.safetensors").write_bytes((blobs / "bbb").read_bytes())
    (snapshot / "model-2.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    with pytest.raises(FormatError, match=error_line(snapshot, "lies outside the folder")) as caught:
        paramcount.count(str(snapshot))
    assert caught.value.rule == "index-path"


def test_one_shard_of_a_set_says_so(tmp_path: Path) -> None:
    """Counting model-00001-of-00004.safetensors alone gives a quarter of a model: the report must say so."""
    save_file({"a": torch.zeros(4)}, str(tmp_path / "model-00001-of-00004.safetensors"))
    report = paramcount.count(str(tmp_path / "model-00001-of-00004.safetensors"))
    assert report.parameters.total == 4
    assert any("shard 1 of 4" in w and "count the folder or its index" in w for w in report.warnings)
    save_file({"a": torch.zeros(4)}, str(tmp_path / "model-00001-of-00001.safetensors"))
    assert paramcount.count(str(tmp_path / "model-00001-of-00001.safetensors")).warnings == ()


def _shards(folder: Path, count: int, of: int | None = None) -> list[Path]:
    """``count`` shards of a set of ``of`` (default: ``count``), each with tensors of its own shapes."""
    paths = []
    for i in range(1, count + 1):
        path = folder / f"model-{i:05d}-of-{of or count:05d}.safetensors"
        save_file({f"layers.{i}.weight": torch.zeros(3 + i, 5), f"layers.{i}.bias": torch.zeros(3 + i)}, str(path))
        paths.append(path)
    return paths


def test_a_complete_set_of_shards_without_an_index_is_summed(tmp_path: Path) -> None:
    """Issue: a folder of a complete -of-0000N set without an index was refused, and the hint (--file) led to a
    one-shard count; the whole set is summed, with a note. Oracle: safetensors' own reader, shard by shard."""
    import math

    paths = _shards(tmp_path, 3)
    held = 0
    for path in paths:
        with safe_open(str(path), "pt") as f:
            held += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118  # a handle
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == held == 4 * 6 + 5 * 6 + 6 * 6
    assert len(report.files) == 3
    assert any("no index found" in n and "3 shards" in n and "complete set" in n for n in report.notes)
    assert report.warnings == ()


def test_an_incomplete_or_inconsistent_set_of_shards_is_refused(tmp_path: Path) -> None:
    _shards(tmp_path, 4)
    (tmp_path / "model-00002-of-00004.safetensors").unlink()
    (tmp_path / "model-00004-of-00004.safetensors").unlink()
    with pytest.raises(
        TargetError, match=r"holds 2 of the 4 shards of 'model-\*-of-\*\.safetensors' and no index"
    ) as e:
        paramcount.count(str(tmp_path))
    message = str(e.value)
    assert "missing 'model-00002-of-00004.safetensors', 'model-00004-of-00004.safetensors'" in message
    assert "download every shard" in message and "--file" not in message
    save_file({"x": torch.zeros(2)}, str(tmp_path / "model-00002-of-00003.safetensors"))
    with pytest.raises(TargetError, match=r"disagree on how many there are \(3, 4\) and no index"):
        paramcount.count(str(tmp_path))


def test_module_rows_from_a_file_come_in_natural_order(tmp_path: Path) -> None:
    """The writer sorts names as strings (layers.10 before layers.2); the report numbers them as a model does."""
    tensors = {f"layers.{i}.weight": torch.zeros(2) for i in range(12)}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    report = paramcount.count(str(tmp_path / "model.safetensors"))
    rows = [row.path for row in report.modules if row.depth == 2]
    assert rows == [f"layers.{i}" for i in range(12)]
