"""Remote targets against a local Hub emulator (tests/hub_emulator.py) driven by the real huggingface_hub client.

Every repository is built in the test from real writers (save_pretrained, torch.save, the gguf writer), served
from disk by the emulator, and counted twice: from the Hub and from the same folder on disk. The two JSON
documents must be equal apart from where the numbers came from (``source``, ``target`` and file names).
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import paramcount
from paramcount.errors import TargetError
from paramcount.remote import blob as remote
from paramcount.remote import http as remote_http
from tests.hub_emulator import HubEmulator, Repo, hub_environment
from tests.tiny import tiny_model

if TYPE_CHECKING:
    from collections.abc import Iterator

torch = pytest.importorskip("torch")
pytest.importorskip("huggingface_hub")

TOKEN = "hf_emulator_token"


def _local_json(path: Path | str, **kwargs: Any) -> dict[str, Any]:
    return _comparable(paramcount.count(path, **kwargs).to_dict())


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what names where it came from."""
    return {k: v for k, v in document.items() if k not in ("source", "target", "files")}


def _state_dict_file(folder: Path, elements: int) -> None:
    """A ``pytorch_model.bin`` (torch's zip) holding ``elements`` float32 values in a few tensors."""
    torch.manual_seed(0)
    state = {f"layer{i}.weight": torch.zeros(elements // 4) for i in range(4)}
    torch.save(state, folder / "pytorch_model.bin")


def _bench(name: str) -> Any:
    """A module of benchmarks/ (the 70B-shaped checkpoint writer is shared with bench_files and bench_remote)."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def _bench_dcp(folder: Path) -> None:
    """A torch.distributed.checkpoint folder of a small model, written in one process."""
    import warnings

    from torch.distributed.checkpoint.state_dict_saver import save

    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "torch.distributed is disabled ... single process"
        save({"model": model.state_dict()}, checkpoint_id=str(folder))


def _stored_elements(path: Path) -> int:
    """What the Hub's metadata says for a safetensors file: the elements of every stored tensor."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return sum(_product(f.get_slice(name).get_shape()) for name in f.keys())  # noqa: SIM118 -- not a dict


def _product(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _gguf(path: Path, kind: str) -> None:
    gguf = importlib.import_module("gguf")
    import numpy as np

    q = gguf.GGMLQuantizationType
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(3000)])  # a vocabulary past the first read
    writer.add_tensor("token_embd.weight", np.zeros((8, 64), dtype=np.float16))
    if kind == "Q8_0":
        writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 2 * 34), dtype=np.uint8), raw_dtype=q.Q8_0)
    elif kind == "Q4_0":
        writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 2 * 18), dtype=np.uint8), raw_dtype=q.Q4_0)
    else:
        writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubEmulator]:
    root = tmp_path_factory.mktemp("repos")
    files = root / "files"
    files.mkdir()
    with HubEmulator(token=TOKEN, files_root=files) as server:
        gpt2 = root / "gpt2"
        tiny_model("GPT2LMHeadModel", "gpt2").save_pretrained(gpt2)
        stored = _stored_elements(gpt2 / "model.safetensors")
        server.add("org/gpt2", Repo(gpt2, safetensors={"parameters": {"F32": stored}, "total": stored}))
        server.add("org/gpt2-meta", Repo(gpt2, safetensors={"parameters": {"F32": 1}, "total": 1}))

        sharded = root / "sharded"
        tiny_model("LlamaForCausalLM", "llama").save_pretrained(sharded, max_shard_size="40KB")
        server.add("org/sharded", Repo(sharded))

        bin_only = root / "bin-only"
        bin_only.mkdir()
        _state_dict_file(bin_only, 1_000_000)  # 4 MB of data the count must not fetch
        server.add("org/bin-only", Repo(bin_only))

        ggufs = root / "gguf"
        ggufs.mkdir()
        for kind in ("F16", "Q8_0", "Q4_0"):
            _gguf(ggufs / f"model.{kind}.gguf", kind)
        (ggufs / "README.md").write_text("a GGUF repository")
        server.add("org/gguf", Repo(ggufs))

        gated = root / "gated"
        gated.mkdir()
        _state_dict_file(gated, 4000)
        server.add("org/gated", Repo(gated, gated=True))
        server.add("org/private", Repo(gated, private=True))

        llama_70b = root / "llama-70b"  # 14 sparse shards: real headers, 138 GB of holes
        llama_70b.mkdir()
        _bench("bench_files").write_checkpoint(llama_70b)
        server.add("org/llama-70b", Repo(llama_70b))

        pipeline = root / "pipeline"
        pipeline.mkdir()
        tiny_model("CLIPTextModel", "clip_text_model").save_pretrained(pipeline / "text_encoder")
        diffusers: Any = importlib.import_module("diffusers")
        diffusers.AutoencoderKL(block_out_channels=(32,), norm_num_groups=8, latent_channels=4).save_config(
            pipeline / "vae"
        )
        index = {
            "_class_name": "StableDiffusionPipeline",
            "vae": ["diffusers", "AutoencoderKL"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "scheduler": ["diffusers", "PNDMScheduler"],
        }
        (pipeline / "model_index.json").write_text(json.dumps(index))
        server.add("org/pipeline", Repo(pipeline))

        legacy = root / "legacy"  # torch's pre-1.6 stream: pickles, then the storages' data
        legacy.mkdir()
        torch.save(
            {f"w{i}": torch.zeros(100_000) for i in range(3)},
            legacy / "model.pt",
            _use_new_zipfile_serialization=False,
        )
        server.add("org/legacy", Repo(legacy))

        dcp = root / "dcp"
        _bench_dcp(dcp)
        server.add("org/dcp", Repo(dcp))

        big = root / "big"  # a file well past the first read, for servers that misbehave on it
        big.mkdir()
        _state_dict_file(big, 400_000)
        for mode in ("ignore-range", "truncate", "lying-length", "redirect-loop", "rate-limit", "error", "bad-range"):
            server.add(f"bad/{mode}", Repo(big, mode=mode))
        server.add("bad/stall", Repo(gated, mode="stall"))

        (files / "model.safetensors").write_bytes((gpt2 / "model.safetensors").read_bytes())
        for name in os.listdir(sharded):
            (files / name).write_bytes((sharded / name).read_bytes())
        server.repos_root = root  # type: ignore[attr-defined]
        yield server


@pytest.fixture(autouse=True)
def environment(hub: HubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in hub_environment(hub, tmp_path).items():
        monkeypatch.setenv(key, value)
    for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(remote_http, "BACKOFF", 0.0)
    hub.reset()


def _root(hub: HubEmulator) -> Path:
    return hub.repos_root  # type: ignore[attr-defined,no-any-return]


# --- counts equal the local counts -------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["gpt2", "sharded", "bin-only", "gguf", "pipeline", "llama-70b", "legacy", "dcp"])
def test_a_hub_repository_counts_as_its_folder_does(hub: HubEmulator, repo: str) -> None:
    report = paramcount.count(f"org/{repo}")
    assert _comparable(report.to_dict()) == _local_json(_root(hub) / repo)
    assert report.source is not None
    assert report.source.repo == f"org/{repo}"
    assert report.source.commit == hub.repos[f"org/{repo}"].commit
    assert report.source.requests == hub.requests  # every request the server saw is accounted for


def test_memory_of_a_hub_repository_equals_its_folder_s(hub: HubEmulator) -> None:
    local = paramcount.memory(_root(hub) / "sharded", seq=12, batch=2, mode="inference").memory
    remote_plan = paramcount.memory("org/sharded", seq=12, batch=2).memory
    assert local is not None and remote_plan is not None
    assert local.kv is not None and local.per_device.kv_cache > 0  # the repository's config.json was read
    assert remote_plan.per_device == local.per_device
    assert remote_plan.kv == local.kv


def test_a_sharded_repository_reads_only_headers(hub: HubEmulator) -> None:
    report = paramcount.count("hf://org/sharded")
    folder = _root(hub) / "sharded"
    shards = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))
    assert len(shards) > 3
    assert report.source is not None
    assert sorted(n for n in report.source.files if n.endswith(".safetensors")) == shards
    on_disk = sum((folder / n).stat().st_size for n in shards)
    assert report.source.bytes_fetched == hub.file_bytes()
    assert report.parameters.total == sum(p.numel() for p in tiny_model("LlamaForCausalLM", "llama").parameters())
    # each shard costs at most one first read (64 KiB), never its data when the data is larger
    assert hub.bytes_sent < len(shards) * remote.FIRST_READ + 20_000 or hub.bytes_sent < on_disk


def test_a_70b_repository_costs_under_a_megabyte_and_a_few_dozen_requests(hub: HubEmulator) -> None:
    report = paramcount.count("org/llama-70b", cache=False)
    assert report.parameters.total == _bench("bench_files").EXPECTED == 68_976_648_192
    assert report.architecture is not None
    assert report.architecture.name == "LlamaForCausalLM"
    assert hub.bytes_sent < 1_500_000  # the bar; 14 x 64 KiB first reads and the JSON files
    assert hub.requests <= 1 + 2 + 14 * 2  # listing; config and index; a redirect and a range per shard
    assert report.source is not None
    assert report.source.requests == hub.requests


def test_a_bin_repository_fetches_its_pickle_and_directory_not_its_storages(hub: HubEmulator) -> None:
    report = paramcount.count("org/bin-only")
    assert report.parameters.total == 1_000_000
    size = (_root(hub) / "bin-only" / "pytorch_model.bin").stat().st_size
    assert size > 4_000_000
    assert hub.bytes_sent < 200_000
    assert report.source is not None
    assert report.source.bytes_fetched == hub.file_bytes()


def test_a_legacy_stream_is_read_up_to_its_storages(hub: HubEmulator) -> None:
    report = paramcount.count("org/legacy")
    assert report.parameters.total == 300_000
    size = (_root(hub) / "legacy" / "model.pt").stat().st_size
    assert size > 1_200_000
    assert hub.file_bytes() < 2 * remote.FIRST_READ


def test_a_gguf_repository_gets_a_row_per_file_and_file_picks_one(hub: HubEmulator) -> None:
    report = paramcount.count("org/gguf")
    rows = {v.file: v for v in report.variants}
    assert set(rows) == {"model.F16.gguf", "model.Q8_0.gguf", "model.Q4_0.gguf"}
    assert {v.parameters for v in rows.values()} == {8 * 64 + 64 * 64}
    assert rows["model.Q4_0.gguf"].quantization == "Q4_0"
    assert rows["model.F16.gguf"].counted
    assert rows["model.Q4_0.gguf"].stored_bytes is not None
    assert rows["model.Q4_0.gguf"].stored_bytes < rows["model.F16.gguf"].stored_bytes  # type: ignore[operator]
    one = paramcount.count("org/gguf", file="model.Q4_0.gguf")
    assert one.variants == ()
    assert _comparable(one.to_dict()) == _local_json(_root(hub) / "gguf" / "model.Q4_0.gguf")
    with pytest.raises(TargetError, match=r"has no file 'nope\.gguf'"):
        paramcount.count("org/gguf", file="nope.gguf")


def test_hf_urls_name_a_file_or_a_revision(hub: HubEmulator) -> None:
    by_path = paramcount.count("hf://org/gguf/model.Q8_0.gguf")
    assert _comparable(by_path.to_dict()) == _local_json(_root(hub) / "gguf" / "model.Q8_0.gguf")
    commit = hub.repos["org/gpt2"].commit
    pinned = paramcount.count(f"org/gpt2@{commit}")
    assert pinned.source is not None
    assert pinned.source.commit == commit


def test_the_hub_metadata_is_compared_and_a_disagreement_named(hub: HubEmulator) -> None:
    agreeing = paramcount.count("org/gpt2")
    assert agreeing.source is not None
    assert agreeing.source.hub_parameters == agreeing.parameters.total
    assert not any("Hub's metadata" in w for w in agreeing.warnings)
    report = paramcount.count("org/gpt2-meta")
    assert report.source is not None
    assert report.source.hub_parameters == 1
    assert any("the Hub's metadata says 1 parameters" in w and f"{report.parameters.total:,}" in w
               for w in report.warnings)  # fmt: skip


# --- plain URLs ----------------------------------------------------------------------------------------------------


def test_a_url_of_a_file_and_of_an_index(hub: HubEmulator) -> None:
    report = paramcount.count(f"{hub.url}/files/model.safetensors")
    assert _comparable(report.to_dict()) == _local_json(_root(hub) / "gpt2" / "model.safetensors")
    index = paramcount.count(f"{hub.url}/files/model.safetensors.index.json")
    assert _comparable(index.to_dict()) == _local_json(_root(hub) / "sharded" / "model.safetensors.index.json")
    assert index.source is not None
    assert index.source.kind == "url"
    assert all(not authorization for _, authorization in hub.authorizations)


def test_a_url_that_is_not_there(hub: HubEmulator) -> None:
    with pytest.raises(TargetError, match=r"not found \(HTTP 404\)") as caught:
        paramcount.count(f"{hub.url}/files/missing.safetensors")
    assert caught.value.status == 404  # the status is data, for callers that branch on it


# --- the cache and offline -----------------------------------------------------------------------------------------


def test_a_second_count_reads_headers_from_the_cache(hub: HubEmulator, tmp_path: Path) -> None:
    first = paramcount.count("org/sharded")
    hub.reset()
    second = paramcount.count("org/sharded")
    assert _comparable(second.to_dict()) == _comparable(first.to_dict())
    assert second.source is not None
    assert [entry[1] for entry in hub.log] == ["/api/models/org/sharded/revision/main?blobs=true"]
    assert second.source.bytes_fetched == 0
    assert second.source.cached_bytes > 0


def test_no_cache_neither_reads_nor_writes_it(hub: HubEmulator, tmp_path: Path) -> None:
    paramcount.count("org/gpt2", cache=False)
    assert not (tmp_path / "paramcount").exists()
    hub.reset()
    paramcount.count("org/gpt2", cache=False)
    assert hub.bytes_sent > 0


def test_offline_counts_from_the_cache_and_says_so(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    online = paramcount.count("org/gpt2")
    hub.reset()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = paramcount.count("org/gpt2")
    assert hub.requests == 0
    assert offline.source is not None
    assert offline.source.offline
    assert any("offline" in n for n in offline.notes)
    assert _comparable(offline.to_dict())["parameters"] == _comparable(online.to_dict())["parameters"]
    with pytest.raises(TargetError, match="HF_HUB_OFFLINE is set"):
        paramcount.count("org/sharded")


def test_an_unreachable_hub_falls_back_to_the_cache(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    paramcount.count("org/gpt2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    with pytest.raises(TargetError, match="cannot reach the Hub"):
        paramcount.count("org/gpt2")  # the cache is per endpoint: this one has never been reached


def test_a_cached_snapshot_with_weights_is_counted_without_the_hub(hub: HubEmulator, tmp_path: Path) -> None:
    from huggingface_hub import hf_hub_download

    for name in ("config.json", "model.safetensors"):
        hf_hub_download("org/gpt2", name, endpoint=hub.url, cache_dir=os.environ["HF_HUB_CACHE"])
    hub.reset()
    report = paramcount.count("org/gpt2")
    assert hub.requests == 0
    assert report.source is None
    assert any("local Hugging Face cache" in n for n in report.notes)


# --- gated, private, unknown ---------------------------------------------------------------------------------------


def test_a_gated_repository_asks_for_a_token_and_works_with_one(
    hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TargetError, match=r"gated or private.*set HF_TOKEN") as caught:
        paramcount.count("org/gated")
    assert caught.value.status in (401, 403)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    report = paramcount.count("org/gated")
    assert report.parameters.total == 4000
    assert TOKEN not in json.dumps(report.to_dict())


def test_private_and_unknown_repositories_and_revisions(hub: HubEmulator) -> None:
    with pytest.raises(TargetError, match="no model 'org/private' on the Hub"):
        paramcount.count("org/private")
    with pytest.raises(TargetError, match="no model 'org/nothing'"):
        paramcount.count("hf://org/nothing")
    with pytest.raises(TargetError, match="no revision 'v9'"):
        paramcount.count("org/gpt2@v9")


# --- misbehaving servers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("ignore-range", "ignored the Range request"),
        ("truncate", "truncated"),
        ("lying-length", "truncated"),
        ("redirect-loop", "redirects in a loop"),
        ("rate-limit", r"rate limited \(HTTP 429\)"),
        ("error", r"server failed \(HTTP 500\)"),
        ("bad-range", "Content-Range"),
    ],
)
def test_a_misbehaving_server_is_one_clear_error(hub: HubEmulator, mode: str, message: str) -> None:
    with pytest.raises(TargetError, match=message) as caught:
        paramcount.count(f"bad/{mode}")
    assert "\n" not in str(caught.value)
    assert hub.bytes_sent < 3_000_000  # the file is 1.6 MB: nothing streamed it whole more than once


def test_a_stalled_server_times_out(hub: HubEmulator) -> None:
    with pytest.raises(TargetError, match="timed out"):
        paramcount.count("bad/stall", limits={"remote-timeout": 1, "remote-attempts": 1})


def test_remote_bytes_limit_stops_the_transfer(hub: HubEmulator) -> None:
    with pytest.raises(TargetError, match=r"remote-bytes"):
        paramcount.count("org/sharded", limits={"remote-bytes": 20_000}, cache=False)


def test_a_header_over_its_limit_is_refused_before_it_is_fetched(hub: HubEmulator) -> None:
    with pytest.raises(TargetError, match="header-bytes"):
        paramcount.count("org/gpt2", limits={"header-bytes": 100}, cache=False)
    assert hub.bytes_sent < remote.FIRST_READ + 10_000


# --- the command line ----------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramcount", *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_cli_counts_a_hub_id_without_torch_and_keeps_the_token_out(hub: HubEmulator, tmp_path: Path) -> None:
    env = {**os.environ, "HF_TOKEN": TOKEN, "PYTHONWARNINGS": "ignore"}
    probe = "import sys, paramcount.cli as c; r = c.main(sys.argv[1:]); assert 'torch' not in sys.modules; sys.exit(r)"
    done = subprocess.run(
        [sys.executable, "-c", probe, "count", "org/gated", "--format", "json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["parameters"]["total"] == 4000
    assert document["source"]["repo"] == "org/gated"
    assert document["source"]["requests"] >= 2
    assert TOKEN not in done.stdout + done.stderr
    sent = {path.split("/")[1]: a for path, a in hub.authorizations if a}
    assert sent.get("api") == f"Bearer {TOKEN}"  # the token went to the Hub's API and resolve endpoints ...
    assert "storage" not in sent  # ... and never to its storage host
    failed = _cli("count", "bad/error", env={**env, "HF_TOKEN": TOKEN + "x"})
    assert failed.returncode == 3
    assert failed.stdout == ""
    assert failed.stderr.count("\n") == 1
    assert TOKEN not in failed.stderr


def test_the_cli_prints_no_progress_when_piped_and_exits_3_on_errors(hub: HubEmulator) -> None:
    env = dict(os.environ)
    done = _cli("count", "org/sharded", env=env)
    assert done.returncode == 0
    assert done.stderr == ""
    assert "\nsource: hub: org/sharded@main (commit " in done.stdout
    missing = _cli("count", "org/nothing", env=env)
    assert missing.returncode == 3
    assert missing.stderr.startswith(
        "paramcount: error: org/nothing: is not a file or folder, and there is no model 'org/nothing' on the Hub"
    )


# --- object stores through fsspec ----------------------------------------------------------------------------------


def test_an_s3_folder_and_object_count_as_their_local_copies(
    hub: HubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is the local S3-compatible server")
    pytest.importorskip("s3fs")
    boto3 = importlib.import_module("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for key, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="models")
        folder = _root(hub) / "sharded"
        for name in os.listdir(folder):
            client.upload_file(str(folder / name), "models", f"llama/{name}")
        whole = paramcount.count("s3://models/llama")
        assert _comparable(whole.to_dict()) == _local_json(folder)
        assert whole.source is not None
        assert whole.source.kind == "s3"
        assert whole.source.requests > 0
        one = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))[0]
        single = paramcount.count(f"s3://models/llama/{one}")
        assert _comparable(single.to_dict()) == _local_json(folder / one)
        with pytest.raises(TargetError, match="not found"):
            paramcount.count("s3://models/nothing.safetensors")
    finally:
        server.stop()


def test_a_server_that_is_not_there_and_a_malformed_hub_url(hub: HubEmulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(TargetError, match="cannot connect"):
        paramcount.count(f"http://127.0.0.1:{closed}/model.safetensors")
    with pytest.raises(TargetError, match="not a Hub URL"):
        paramcount.count("hf://org/../etc")
    for empty in ("hf://org/name@", "hf://org/name@/model.safetensors"):  # was read as the repo 'org', path 'name@'
        with pytest.raises(TargetError, match=r"not a Hub URL paramcount understands; write hf://org/name"):
            paramcount.count(empty)
    with pytest.raises(TargetError, match=r"cannot connect \(.*SSL"):  # TLS spoken to a plain HTTP server
        paramcount.count(f"{hub.url.replace('http://', 'https://')}/files/model.safetensors")


def test_a_progress_bar_goes_to_a_terminal_and_quiet_silences_it(hub: HubEmulator) -> None:
    import pty

    def stderr_of(*extra: str) -> str:
        """The command's stderr as a terminal shows it (read while it runs: Linux drops what is left unread)."""
        import fcntl
        import struct
        import termios
        import threading

        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 x 0
        chunks: list[bytes] = []

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    return
                if not chunk:
                    return
                chunks.append(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "paramcount", "count", "org/sharded", "--no-cache", *extra],
                check=False,
                stdout=subprocess.PIPE,
                stderr=follower,
                env=dict(os.environ),
                timeout=120,
            )
        finally:
            os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
        assert done.returncode == 0
        return b"".join(chunks).decode(errors="replace")

    assert "reading org/sharded" in stderr_of()
    assert stderr_of("--quiet") == ""


# --- check and diff of Hub repositories: headers and config.json only ---------------------------------------------


def test_diff_of_two_hub_repositories_and_check_against_a_hub_config(hub: HubEmulator, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = tiny_model("LlamaForCausalLM", "llama")
    folders = []
    for name, vocabulary in (("diff-v1", 128), ("diff-v2", 136)):
        model.resize_token_embeddings(vocabulary)
        folder = tmp_path / name
        model.config.architectures = ["LlamaForCausalLM"]
        model.config.save_pretrained(folder)
        save_file({k: v.contiguous().clone() for k, v in model.state_dict().items()}, folder / "model.safetensors")
        hub.add(f"org/{name}", Repo(folder))
        folders.append(folder)
    found = paramcount.diff("org/diff-v1", "org/diff-v2").diff
    assert found is not None and not found.same
    assert sorted(c.name for c in found.changed) == ["embed_tokens.weight", "lm_head.weight"]
    assert found.parameters_b - found.parameters_a == 2 * 8 * 64  # type: ignore[operator]
    load = paramcount.check(folders[0], model="org/diff-v2").load
    assert load is not None and load.shapes_checked
    assert sorted(m.name for m in load.mismatched_keys) == ["lm_head.weight", "model.embed_tokens.weight"]
    assert {m.expected for m in load.mismatched_keys} == {(136, 64)}
