"""``paramcount memory``: every figure against what PyTorch, transformers, bitsandbytes and DeepSpeed allocate or
compute themselves.

- training states: a tiny model on the CPU takes one real ``optimizer.step()``; the bytes of its parameters,
  gradients and ``optimizer.state`` tensors (each storage once) are the oracle;
- the KV cache: a tiny model's real prefill; the bytes of the keys and values its ``DynamicCache`` holds;
- activations: the bytes a saved-tensor hook records in a real CPU forward, by this file's own hook;
- ZeRO: DeepSpeed's ``estimate_zero2/zero3_model_states_mem_needs`` and the ZeRO paper's formulas.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import paramcount
from paramcount import UsageError
from paramcount.cli import main
from paramcount.footprint.plan import GPUS, capacity

CONFIGS = Path(__file__).parent / "configs"
LLAMA_8B = CONFIGS / "Llama-3.1-8B"
LLAMA_70B = CONFIGS / "Llama-3.1-70B"


def _storage_bytes(tensors: list[Any]) -> int:
    """Bytes of the storages behind ``tensors``, each storage once."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            seen.setdefault(storage._cdata, storage.nbytes())
    return sum(seen.values())


def _held_after_step(model: torch.nn.Module, optimizer: Any, extra: tuple[Any, ...] = ()) -> int:
    """What the process holds for training after one step: parameters, gradients, optimizer state tensors."""
    tensors: list[Any] = [*extra]
    for p in model.parameters():
        tensors += [p, p.grad]
    for state in optimizer.state.values():
        tensors += list(state.values())
    return _storage_bytes(tensors)


def _mlp(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8)).to(dtype)
    model[0].bias.requires_grad_(False)  # a frozen tensor: no gradient, no state
    return model


def _optimizers() -> dict[str, Any]:
    from transformers.optimization import Adafactor

    made = {
        "adamw": torch.optim.AdamW,
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
        "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        "adafactor": Adafactor,
    }
    try:
        import bitsandbytes

        made["adamw-8bit"] = bitsandbytes.optim.AdamW8bit  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - the dev install has it
        pass
    return made


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", ["adamw", "sgd", "sgd-momentum", "adafactor", "adamw-8bit"])
def test_training_states_are_what_one_optimizer_step_allocates(name: str, dtype: torch.dtype) -> None:
    make = _optimizers().get(name)
    if make is None:
        pytest.skip("bitsandbytes is not installed")
    model = _mlp(dtype)
    optimizer = make([p for p in model.parameters() if p.requires_grad])
    model(torch.randn(4, 64, dtype=dtype)).float().sum().backward()
    optimizer.step()
    held = _held_after_step(model, optimizer)

    estimate = paramcount.memory(model, mode="training", optimizer=name, precision="pure").memory
    assert estimate is not None
    assert estimate.per_device.total == held
    assert estimate.per_device.master_weights == 0


def test_mixed_precision_holds_fp32_master_weights_and_states() -> None:
    model = _mlp(torch.bfloat16)
    trained = [p for p in model.parameters() if p.requires_grad]
    master = [p.detach().float().requires_grad_() for p in trained]  # what mixed-precision training keeps
    optimizer = torch.optim.AdamW(master)
    model(torch.randn(4, 64, dtype=torch.bfloat16)).float().sum().backward()
    for m, p in zip(master, trained, strict=True):
        assert p.grad is not None
        m.grad = p.grad.float()
    optimizer.step()
    for m in master:
        m.grad = None  # the fp32 gradient is a step's temporary; the bf16 one stays
    held = _held_after_step(model, optimizer, extra=tuple(master))

    estimate = paramcount.memory(model, mode="training", optimizer="adamw", precision="mixed").memory
    assert estimate is not None
    d = estimate.per_device
    assert d.total == held
    trainable = sum(p.numel() for p in trained)
    assert d.master_weights == 4 * trainable
    assert d.gradients == 2 * trainable


def test_lora_holds_states_for_the_adapter_only() -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    model = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["0", "2"]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    model(torch.randn(4, 64)).sum().backward()
    optimizer.step()
    held = _held_after_step(model, optimizer)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.parameters())

    estimate = paramcount.memory(model, mode="training").memory
    assert estimate is not None
    assert estimate.per_device.total == held
    assert estimate.per_device.gradients == 4 * trainable
    assert any("frozen parameters" in a for a in estimate.assumptions)


# --- the KV cache ---------------------------------------------------------------------------------------------------

_SMALL = {"vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4}
KV_CASES: dict[str, dict[str, Any]] = {
    "llama-gqa": {"model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 2},
    "mistral-sliding": {
        "model_type": "mistral", "num_attention_heads": 4, "num_key_value_heads": 2, "sliding_window": 8,
    },
    "gemma2-alternating": {
        "model_type": "gemma2", "num_attention_heads": 4, "num_key_value_heads": 2, "sliding_window": 8, "head_dim": 32,
    },
    "deepseek-v3-mla": {
        "model_type": "deepseek_v3", "num_attention_heads": 4, "num_key_value_heads": 4, "kv_lora_rank": 16,
        "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4,
        "num_experts_per_tok": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 1, "n_group": 1,
        "topk_group": 1,
    },
    "gpt2-mha": {"model_type": "gpt2", "n_embd": 64, "n_layer": 3, "n_head": 4, "vocab_size": 128},
    "qwen3-next-hybrid": {
        "model_type": "qwen3_next", "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "linear_num_value_heads": 4, "linear_num_key_heads": 2, "linear_key_head_dim": 16,
        "linear_value_head_dim": 16, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 32,
        "layer_types": ["linear_attention", "full_attention", "linear_attention", "full_attention"],
    },
}  # fmt: skip


def _config(case: str) -> Any:
    from transformers import AutoConfig

    values = dict(KV_CASES[case])
    model_type = values.pop("model_type")
    if model_type != "gpt2":
        values = {**_SMALL, **values}
    return AutoConfig.for_model(model_type, **values)


def _causal(config: Any, **options: Any) -> torch.nn.Module:
    """transformers' causal language model for ``config``, built on the current device."""
    import transformers

    auto: Any = transformers.AutoModelForCausalLM
    model: torch.nn.Module = auto.from_config(config, **options)
    return model


def _prefilled_cache_bytes(model: torch.nn.Module, batch: int, seq: int) -> int:
    with torch.no_grad():
        out = model(input_ids=torch.randint(1, 100, (batch, seq)), use_cache=True)
    cache = out["past_key_values"] if "past_key_values" in out else out["cache"]
    held = 0
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                held += t.numel() * t.element_size()
    return held


@pytest.mark.parametrize("case", list(KV_CASES))
@pytest.mark.parametrize("seq", [5, 19])
def test_kv_cache_is_what_transformers_holds_after_a_prefill(case: str, seq: int, tmp_path: Path) -> None:
    config = _config(case)
    torch.manual_seed(0)
    model = _causal(config).eval()
    held = _prefilled_cache_bytes(model, 2, seq)
    assert held > 0

    live = paramcount.memory(model, seq=seq, batch=2).memory
    assert live is not None and live.kv is not None
    assert live.per_device.kv_cache == held
    # the same from the config.json alone (a folder without weights), as a user plans before downloading
    config.save_pretrained(tmp_path)
    planned = paramcount.memory(tmp_path / "config.json", seq=seq, batch=2, kv_dtype="float32").memory
    assert planned is not None
    assert planned.per_device.kv_cache == held


def test_kv_cache_dtype_and_layer_kinds_are_reported() -> None:
    report = paramcount.memory(LLAMA_8B, seq=8192, kv_dtype="fp8")
    m = report.memory
    assert m is not None and m.kv is not None
    # 2 (K and V) x 32 layers x 8 KV heads x 128 dims x 1 byte per token
    assert m.kv.per_token == 2 * 32 * 8 * 128
    assert m.per_device.kv_cache == 8192 * 2 * 32 * 8 * 128
    assert m.kv.kinds == {"full": 32}
    assert m.kv.dtype == "float8_e4m3fn"


def test_multi_head_latent_attention_says_which_form_is_held() -> None:
    config = _config("deepseek-v3-mla")
    model = _causal(config)
    m = paramcount.memory(model, seq=32).memory
    assert m is not None and m.kv is not None and m.kv.latent
    assert m.kv.per_token == 4 * (16 + 8) * 4  # 4 layers x (kv_lora_rank + rope) x fp32
    assert any("compressed latent" in a and "expanded K/V" in a for a in m.assumptions)
    split = paramcount.memory(model, seq=32, gpus=2, strategy="tp").memory
    assert split is not None and split.kv is not None
    assert split.per_device.kv_cache == m.per_device.kv_cache  # the latent is not split by heads: each holds it


# --- activations ----------------------------------------------------------------------------------------------------


def _real_saved_bytes(model: torch.nn.Module, batch: int, seq: int) -> int:
    """What autograd saves in a real CPU forward: each saved storage once, the parameters' own left out."""
    weights = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}
    keep: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage()._cdata
        if key not in weights and key not in saved:
            saved[key] = t.untyped_storage().nbytes()
            keep.append(t)  # alive until the end, so that no address is reused
        return t

    ids = torch.randint(1, 100, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    return sum(saved.values())


ACTIVATION_CASES = {
    "llama-sdpa": ("llama-gqa", "sdpa", torch.float32),
    "llama-eager": ("llama-gqa", "eager", torch.float32),
    "gemma2-eager-bf16": ("gemma2-alternating", "eager", torch.bfloat16),
    "gpt2-sdpa": ("gpt2-mha", "sdpa", torch.float32),
}


@pytest.mark.parametrize("name", list(ACTIVATION_CASES))
def test_activations_on_fake_tensors_equal_a_real_cpu_forward(name: str, tmp_path: Path) -> None:
    case, attention, dtype = ACTIVATION_CASES[name]
    config = _config(case)
    config._attn_implementation = attention
    torch.manual_seed(0)
    model = _causal(config, attn_implementation=attention).to(dtype).train()
    real = _real_saved_bytes(model, 2, 16)

    m = paramcount.memory(model, mode="training", seq=16, batch=2, activations="measure").memory
    assert m is not None and m.activations is not None
    assert m.per_device.activations == real
    assert m.activations.attention, "the attention path taken is named"
    if attention == "eager":
        assert "Softmax" in m.activations.attention
    # the caller's model is left as it was: its own tensors, its mode
    assert all(p.device.type == "cpu" and not p.is_meta for p in model.parameters())
    assert model.training


def test_activations_of_a_config_are_measured_without_memory() -> None:
    report = paramcount.memory(LLAMA_8B, mode="training", seq=4096, batch=1, activations="measure")
    m = report.memory
    assert m is not None and m.activations is not None
    # Korthikanti et al.'s s*b*h*(34 + 5*a*s/h) per layer is the order of magnitude without flash attention;
    # SDPA's fused kernel saves far less than the 5*a*s/h term: the measure lies between s*b*h*10 and that bound
    s, b, h, a, layers = 4096, 1, 4096, 32, 32
    assert s * b * h * 10 * layers < m.activations.bytes < s * b * h * (34 + 5 * a * s / h) * layers
    assert m.activations.dtype == "bfloat16"


def test_a_forward_that_cannot_run_on_fake_tensors_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    class Routed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.embed(input_ids)
            return hidden[hidden.sum(-1) > 0]  # data-dependent shape

    with pytest.raises(paramcount.TargetError, match="cannot run on fake tensors"):
        paramcount.memory(Routed(), mode="training", seq=8, activations="measure")
    assert "Traceback" not in capsys.readouterr().err


# --- ZeRO and FSDP --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gpus", [1, 8, 64])
@pytest.mark.parametrize("config", [LLAMA_8B, LLAMA_70B], ids=["8B", "70B"])
def test_deepspeed_convention_equals_deepspeed_s_own_estimators(config: Path, gpus: int) -> None:
    stage2 = pytest.importorskip("deepspeed.runtime.zero.stage_1_and_2")
    stage3 = pytest.importorskip("deepspeed.runtime.zero.stage3")
    z2 = paramcount.memory(config, mode="training", strategy="zero2", gpus=gpus, convention="deepspeed")
    z3 = paramcount.memory(config, mode="training", strategy="zero3", gpus=gpus, convention="deepspeed")
    psi = z2.parameters.total
    assert psi is not None
    # DeepSpeed's model_to_params, on a real module: the largest number of parameters one module owns directly
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in _meta_model(config).modules())
    _, expected2 = stage2.estimate_zero2_model_states_mem_needs(psi, num_gpus_per_node=gpus, cpu_offload=False)
    _, expected3, _ = stage3.estimate_zero3_model_states_mem_needs(
        psi, largest, num_gpus_per_node=gpus, cpu_offload=False, cpu_offload_params=False
    )
    assert z2.memory is not None and z3.memory is not None
    d2, d3 = z2.memory.per_device, z3.memory.per_device
    assert d2.weights + d2.gradients + d2.master_weights + d2.optimizer == expected2
    assert d3.weights + d3.gradients + d3.master_weights + d3.optimizer + d3.gathered == expected3


def _meta_model(config: Path) -> torch.nn.Module:
    from transformers import AutoConfig

    with torch.device("meta"):
        return _causal(AutoConfig.from_pretrained(config))


@pytest.mark.parametrize("gpus", [1, 8])
def test_paper_convention_is_the_zero_paper_s_formulas(gpus: int) -> None:
    psi = 8_030_261_248  # Llama-3.1-8B
    k, n = 12, gpus
    paper = {  # Rajbhandari et al. 2020, figure 1: bytes per device of model states, mixed-precision Adam
        "zero1": 2 * psi + 2 * psi + k * psi / n,
        "zero2": 2 * psi + (2 + k) * psi / n,
        "zero3": (2 + 2 + k) * psi / n,
    }
    for strategy, expected in paper.items():
        m = paramcount.memory(LLAMA_8B, mode="training", strategy=strategy, gpus=gpus).memory
        assert m is not None
        d = m.per_device
        assert d.weights + d.gradients + d.master_weights + d.optimizer == expected, strategy
    ddp = paramcount.memory(LLAMA_8B, mode="training", gpus=gpus).memory
    assert ddp is not None
    d = ddp.per_device
    tensors = 291  # PyTorch's AdamW adds a 4-byte step tensor per parameter tensor
    assert d.weights + d.gradients + d.master_weights + d.optimizer == 16 * psi + 4 * tensors


def test_fsdp_gathers_one_decoder_layer_and_zero3_the_largest_module() -> None:
    fsdp = paramcount.memory(LLAMA_8B, mode="training", strategy="fsdp", gpus=8).memory
    zero3 = paramcount.memory(LLAMA_8B, mode="training", strategy="zero3", gpus=8).memory
    assert fsdp is not None and zero3 is not None
    layer = 4 * 4096 * 4096 - 2 * 4096 * 3072 + 3 * 4096 * 14336 + 2 * 4096  # one Llama-3.1-8B decoder layer
    assert fsdp.per_device.gathered == layer * (2 + 2)
    assert zero3.per_device.gathered == 128256 * 4096 * (2 + 2)  # the embedding is the largest module


def test_lora_on_zero3_partitions_only_what_is_trained() -> None:
    peft = pytest.importorskip("peft")
    base = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 256))
    model = peft.get_peft_model(base, peft.LoraConfig(r=8, target_modules=["0", "1"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    m = paramcount.memory(model, mode="training", strategy="zero2", gpus=4, precision="pure").memory
    assert m is not None
    assert m.per_device.gradients == math.ceil(4 * trainable / 4)
    assert m.per_device.optimizer == math.ceil(2 * 4 * trainable / 4)


# --- fits, the plan's values, the command line --------------------------------------------------------------------


def test_fits_with_headroom_against_a_named_device() -> None:
    m = paramcount.memory(LLAMA_8B, dtype="bf16", seq=8192, gpu_memory="H100").memory
    assert m is not None
    weights = 8_030_261_248 * 2
    kv = 8192 * 2 * 32 * 8 * 128 * 2
    assert m.per_device.weights == weights
    assert m.per_device.kv_cache == kv
    assert m.capacity == 80 * 2**30 and m.device_name == "H100"
    assert m.fits is True
    assert m.headroom == 80 * 2**30 - m.per_device.total
    small = paramcount.memory(LLAMA_8B, dtype="bf16", seq=8192, gpu_memory="16GB").memory
    assert small is not None and small.fits is False and small.headroom is not None and small.headroom < 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80GiB", 80 * 2**30),
        ("80GB", 80 * 10**9),
        ("81559MiB", 81559 * 2**20),
        ("1000", 1000),
        ("a100-40gb", 40 * 2**30),
    ],
)
def test_device_memory_is_read_as_written(text: str, expected: int) -> None:
    assert capacity(text)[0] == expected


def test_every_known_device_reads_back_by_name() -> None:
    for name, size in GPUS.items():
        assert capacity(name) == (size, name)


def test_quantized_weights_take_their_stored_bytes_and_overhead(tmp_path: Path) -> None:
    from tests.test_quantized_files import gptq, write

    quantization = {"quant_method": "gptq", "bits": 4, "group_size": 32}
    logical = write(tmp_path, gptq(4, 32), {"quantization_config": quantization})
    shapes = _shapes(tmp_path)
    stored = sum(math.prod(shape) * width for shape, width in shapes.values())
    m = paramcount.memory(tmp_path, mode="training").memory
    assert m is not None
    assert m.per_device.weights == stored  # packed values, scales, zeros and group indices, as the file holds them
    assert m.per_device.weights < logical * 2
    # packed weights are frozen (QLoRA trains adapters beside them): only the fp16 tensors get gradients
    packed = ("qweight", "qzeros", "scales", "g_idx")
    dense = sum(math.prod(shape) for name, (shape, _) in shapes.items() if not name.endswith(packed))
    assert m.per_device.gradients == 2 * dense


def _shapes(folder: Path) -> dict[str, tuple[tuple[int, ...], int]]:
    """Each stored tensor's shape and bytes per element, read by safetensors itself."""
    from safetensors import safe_open

    widths = {"I32": 4, "F16": 2}
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return {k: (tuple(f.get_slice(k).get_shape()), widths[f.get_slice(k).get_dtype()]) for k in f.keys()}  # noqa: SIM118


BAD = [
    (["--optimizer", "lion"], "--optimizer must be one of"),
    (["--gpus", "0"], "--gpus must be a whole number"),
    (["--seq", "16777217"], "beyond any model's context"),
    (["--seq", "lots"], "--seq must be a whole number"),
    (["--strategy", "zero3"], "--strategy zero3 is for training"),
    (["--mode", "training", "--convention", "deepspeed"], "reproduces DeepSpeed's ZeRO-2 and ZeRO-3"),
    (["--gpu-memory", "huge"], "neither a size nor a device"),
    (["--dtype", "float7"], "not a dtype paramcount knows"),
    (["--activations", "guess"], "--activations must be one of measure"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_options_get_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", str(LLAMA_8B), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_seq_for_a_model_without_attention_fields_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "torch.nn:Linear(784, 10)", "--seq", "128"]) == 2
    err = capsys.readouterr().err
    assert "needs the model's configuration" in err and len(err.strip().splitlines()) == 1


def test_seq_for_a_config_without_attention_fields_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import ResNetConfig

    ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1]).save_pretrained(tmp_path)
    assert main(["memory", str(tmp_path / "config.json"), "--seq", "128"]) == 2
    err = capsys.readouterr().err
    assert "no attention fields" in err and len(err.strip().splitlines()) == 1


def test_lazy_parameters_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "torch.nn:LazyLinear(10)"]) == 3
    assert "uninitialized" in capsys.readouterr().err


def test_the_command_prints_the_breakdown_and_the_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["memory", str(LLAMA_8B), "--dtype", "bf16", "--seq", "8k", "--gpu-memory", "H100"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Memory per device: inference on 1 device, batch 1 × 8,192 tokens" in out
    assert "16,060,522,496" in out  # 8,030,261,248 bf16 weights
    assert "1,073,741,824" in out  # the KV cache at 8k
    assert "fits" in out
    assert "- KV cache: 1 × 8,192 tokens in bfloat16" in out


def test_json_memory_block_follows_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    code = main(
        ["memory", str(LLAMA_70B), "--mode", "training", "--dtype", "bf16", "--gpus", "8", "--strategy", "zero3",
         "--gpu-memory", "H200", "--format", "json"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    schema = json.loads((Path(paramcount.__file__).parent / "schema" / "report.schema.json").read_text())
    jsonschema.validate(doc, schema)
    memory = doc["memory"]
    psi = 70_553_706_496
    per = memory["per_device"]
    assert per["weights"] + per["gradients"] + per["master_weights"] + per["optimizer"] == 16 * psi // 8
    assert per["total"] == sum(v for k, v in per.items() if k != "total" and v is not None)
    assert memory["fits"] is False and memory["headroom"] == 141 * 10**9 - per["total"]
    assert memory["assumptions"]


def test_tensor_parallel_inference_splits_matrices_and_kv_heads() -> None:
    psi_vectors = (2 * 32 + 1) * 4096  # Llama-3.1-8B's norms: two per layer and the final one
    matrices = 8_030_261_248 - psi_vectors
    for gpus, heads_each in ((2, 4), (4, 2), (8, 1), (16, 1)):  # 8 KV heads: replicated past 8 devices
        m = paramcount.memory(LLAMA_8B, seq=8192, gpus=gpus, strategy="tp").memory
        assert m is not None and m.strategy == "tp"
        assert m.per_device.weights == math.ceil(2 * matrices / gpus) + 2 * psi_vectors
        assert m.per_device.kv_cache == 8192 * 2 * 32 * heads_each * 128 * 2
    with pytest.raises(UsageError, match="inference only"):
        paramcount.memory(LLAMA_8B, mode="training", strategy="tp", gpus=2)


def test_a_sequence_past_the_model_s_context_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", str(LLAMA_8B), "--seq", "256k"]) == 0
    err = capsys.readouterr().err
    assert "longer than the model's context (131,072 tokens" in err
    assert main(["memory", str(LLAMA_8B), "--seq", "128k"]) == 0
    assert "longer than" not in capsys.readouterr().err


def test_the_python_api_rejects_bad_values_naming_the_keyword_not_the_flag() -> None:
    with pytest.raises(UsageError, match=r"^batch must be a whole number >= 1, not 0$") as caught:
        paramcount.memory("torch.nn:Linear(4, 4)", batch=0)
    assert caught.value.option == "batch"
    with pytest.raises(UsageError, match=r"^precision must be one of mixed, pure, not 'half'$"):
        paramcount.memory("torch.nn:Linear(4, 4)", precision="half")
    with pytest.raises(UsageError, match=r"^gpu_memory 'lots' is neither a size nor a device"):
        paramcount.memory("torch.nn:Linear(4, 4)", gpu_memory="lots")
    with pytest.raises(UsageError, match=r"^kv_dtype 'sixteen' is not a dtype"):
        paramcount.memory("torch.nn:Linear(4, 4)", kv_dtype="sixteen")


def test_the_command_line_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "torch.nn:Linear(4, 4)", "--gpu-memory", "lots"]) == 2
    assert "error: --gpu-memory 'lots' is neither a size nor a device" in capsys.readouterr().err
    assert main(["memory", "torch.nn:Linear(4, 4)", "--kv-dtype", "sixteen"]) == 2
    assert "error: --kv-dtype 'sixteen' is not a dtype" in capsys.readouterr().err
    assert main(["memory", "torch.nn:Linear(4, 4)", "--strategy", "zero3"]) == 2
    assert "error: --strategy zero3 is for training" in capsys.readouterr().err


def test_a_model_folder_with_weights_uses_the_stored_dtype(tmp_path: Path) -> None:
    config = _config("llama-gqa")
    model: Any = _causal(config).to(torch.bfloat16)
    model.save_pretrained(tmp_path)
    m = paramcount.memory(tmp_path, seq=10).memory
    assert m is not None
    stored = sum(p.numel() for p in model.parameters()) * 2
    assert m.per_device.weights == stored
    assert m.kv is not None and m.kv.dtype == "bfloat16"
    assert m.per_device.kv_cache == _prefilled_cache_bytes(model, 1, 10)
    shutil.rmtree(tmp_path)


# --- GGUF files: the geometry from their metadata ------------------------------------------------------------------


def _gguf_like(path: Path, architecture: str, config: Any, **extra: Any) -> None:
    """A GGUF file with ``config``'s attention geometry in its metadata and one tensor, as llama.cpp's converter
    writes the keys (gguf-py's own writer)."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(extra.pop("head_count_kv", config.num_key_value_heads))
    writer.add_embedding_length(config.hidden_size)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    if getattr(config, "sliding_window", None):
        writer.add_sliding_window(config.sliding_window)
    for name, value in extra.items():
        getattr(writer, f"add_{name}")(value)
    writer.add_tensor("token_embd.weight", np.zeros((8, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize(("case", "architecture"), [("llama-gqa", "llama"), ("gemma2-alternating", "gemma2")])
def test_a_gguf_file_s_metadata_gives_its_kv_cache(case: str, architecture: str, tmp_path: Path) -> None:
    config = _config(case)
    torch.manual_seed(0)
    held = _prefilled_cache_bytes(_causal(config).eval(), 2, 19)  # the same geometry, run by transformers
    _gguf_like(tmp_path / "model.gguf", architecture, config)
    m = paramcount.memory(tmp_path / "model.gguf", seq=19, batch=2, kv_dtype="float32").memory
    assert m is not None and m.kv is not None
    assert m.per_device.kv_cache == held
    assert any("GGUF metadata" in a for a in m.assumptions)


def test_a_gguf_sliding_pattern_and_per_layer_kv_heads(tmp_path: Path) -> None:
    config = _config("mistral-sliding")  # 4 layers, 2 KV heads of 16, a window of 8
    # layer 1 has no attention (0 KV heads); layers 0 and 3 slide (the pattern), layer 2 is global
    _gguf_like(
        tmp_path / "hybrid.gguf", "llama", config, head_count_kv=[2, 0, 2, 2], sliding_window_pattern=[1, 0, 0, 1]
    )
    m = paramcount.memory(tmp_path / "hybrid.gguf", seq=100, kv_dtype="bf16").memory
    assert m is not None and m.kv is not None
    per_token_per_layer = 2 * 2 * 16 * 2  # K and V, 2 heads of 16, 2 bytes
    assert m.per_device.kv_cache == per_token_per_layer * (7 + 100 + 7)  # two windows of 8 - 1, one full layer
    assert m.kv.kinds == {"sliding": 2, "none": 1, "full": 1}
