"""Quantized checkpoints count their logical parameters: GPTQ, AWQ (GEMM, GEMV), compressed-tensors, bitsandbytes
4-bit and FP8 files synthesized with the documented shapes and a config.json; the oracle is the unquantized
architecture's own count, built on meta by transformers."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pytest
import torch
from safetensors.torch import save_file

import paramcount

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

transformers = pytest.importorskip("transformers")

LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_llama() -> tuple[dict[str, tuple[int, ...]], int]:
    """Shapes of a tiny Llama's state dict and its parameter count, from transformers on meta."""
    config = transformers.LlamaConfig(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, vocab_size=512
    )
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    return shapes, sum(p.numel() for p in model.parameters())


def write(folder: Path, pack: Callable[[str, tuple[int, int]], dict[str, torch.Tensor]], config: dict[str, Any]) -> int:
    """A folder with model.safetensors where every linear layer's weight is packed by ``pack``; returns the oracle."""
    shapes, expected = tiny_llama()
    tensors: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        prefix, _, last = name.rpartition(".")
        if last == "weight" and prefix.rpartition(".")[2] in LINEARS:
            out_features, in_features = shape
            tensors |= {f"{prefix}.{k}": v for k, v in pack(prefix, (out_features, in_features)).items()}
        else:
            tensors[name] = torch.zeros(shape, dtype=torch.float16)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "tie_word_embeddings": False, **config}))
    return expected


def gptq(bits: int, group: int) -> Callable[[str, tuple[int, int]], dict[str, torch.Tensor]]:
    def pack(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
        out_features, in_features = shape
        groups = math.ceil(in_features / group)
        return {
            "qweight": torch.zeros(in_features // 32 * bits, out_features, dtype=torch.int32),
            "qzeros": torch.zeros(groups, out_features // 32 * bits, dtype=torch.int32),
            "scales": torch.zeros(groups, out_features, dtype=torch.float16),
            "g_idx": torch.zeros(in_features, dtype=torch.int32),
        }

    return pack


def awq_gemm(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    out_features, in_features = shape
    return {
        "qweight": torch.zeros(in_features, out_features // 8, dtype=torch.int32),
        "qzeros": torch.zeros(in_features // 64, out_features // 8, dtype=torch.int32),
        "scales": torch.zeros(in_features // 64, out_features, dtype=torch.float16),
    }


def awq_gemv(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    out_features, in_features = shape
    return {
        "qweight": torch.zeros(out_features, in_features // 8, dtype=torch.int32),
        "qzeros": torch.zeros(out_features, in_features // 64 // 8 + 1, dtype=torch.int32),
        "scales": torch.zeros(out_features, in_features // 64 + 7, dtype=torch.float16),  # GEMV pads the scales
    }


def compressed(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    out_features, in_features = shape
    return {
        "weight_packed": torch.zeros(out_features, math.ceil(in_features / 8), dtype=torch.int32),
        "weight_shape": torch.tensor(shape, dtype=torch.int32),
        "weight_scale": torch.zeros(out_features, in_features // 64, dtype=torch.float16),
        "weight_zero_point": torch.zeros(out_features, in_features // 64, dtype=torch.int32),
    }


def nf4(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    numel = math.prod(shape)
    state = json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": list(shape)}).encode()
    return {
        "weight": torch.zeros(numel // 2, 1, dtype=torch.uint8),
        "weight.absmax": torch.zeros(numel // 64, dtype=torch.float32),
        "weight.quant_map": torch.zeros(16, dtype=torch.float32),
        "weight.quant_state.bitsandbytes__nf4": torch.tensor(list(state), dtype=torch.uint8),
    }


def fp8(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    out_features, in_features = shape
    return {
        "weight": torch.zeros(shape, dtype=torch.float8_e4m3fn),
        "weight_scale_inv": torch.zeros(math.ceil(out_features / 128), math.ceil(in_features / 128)),
    }


CASES = [
    (
        "gptq-4bit",
        gptq(4, 64),
        {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 64}},
        "gptq 4-bit",
    ),
    (
        "gptq-8bit",
        gptq(8, 32),
        {"quantization_config": {"quant_method": "gptq", "bits": 8, "group_size": 32}},
        "gptq 8-bit",
    ),
    (
        "gptq-3bit",
        gptq(3, 64),
        {"quantization_config": {"quant_method": "gptq", "bits": 3, "group_size": 64}},
        "gptq 3-bit",
    ),
    (
        "gptq-2bit",
        gptq(2, 32),
        {"quantization_config": {"quant_method": "gptq", "bits": 2, "group_size": 32}},
        "gptq 2-bit",
    ),
    ("gptq-no-config", gptq(4, 64), {}, "gptq 4-bit"),
    ("awq-gemm", awq_gemm, {"quantization_config": {"quant_method": "awq", "bits": 4, "version": "gemm"}}, "awq 4-bit"),
    ("awq-gemv", awq_gemv, {"quantization_config": {"quant_method": "awq", "bits": 4, "version": "gemv"}}, "awq 4-bit"),
    (
        "compressed-tensors",
        compressed,
        {
            "quantization_config": {
                "quant_method": "compressed-tensors",
                "format": "pack-quantized",
                "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 64}}},
            }
        },
        "compressed-tensors 4-bit",
    ),
    (
        "bitsandbytes-nf4",
        nf4,
        {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}},
        "bitsandbytes nf4",
    ),
    ("fp8", fp8, {"quantization_config": {"quant_method": "fp8"}}, "fp8"),
]


@pytest.mark.parametrize(("pack", "config", "scheme"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_logical_count_equals_the_unquantized_model(
    tmp_path: Path, pack: Callable[[str, tuple[int, int]], dict[str, torch.Tensor]], config: dict[str, Any], scheme: str
) -> None:
    expected = write(tmp_path, pack, config)
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == expected
    assert report.quantization is not None
    assert report.quantization.scheme == scheme
    assert report.quantization.logical_parameters == expected
    assert report.quantization.overhead_bytes > 0
    document = report.to_dict()
    assert document["quantization"]["logical_parameters"] == expected
    assert not any("expanded" in w for w in report.warnings)
    stored = sum(row.parameter_bytes for row in report.by_dtype)
    assert report.quantization.stored_bytes == stored
    if scheme != "fp8":
        assert stored < expected * 2  # packed below fp16


def test_an_unquantized_folder_has_no_quantization_section(tmp_path: Path) -> None:
    shapes, expected = tiny_llama()
    save_file({n: torch.zeros(s, dtype=torch.float16) for n, s in shapes.items()}, str(tmp_path / "model.safetensors"))
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == expected
    assert report.quantization is None
    assert "quantization" not in report.to_dict()


def nvfp4(prefix: str, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    out_features, in_features = shape
    return {
        "weight_packed": torch.zeros(out_features, in_features // 2, dtype=torch.uint8),
        "weight_scale": torch.zeros(out_features, in_features // 16, dtype=torch.float8_e4m3fn),
        "weight_global_scale": torch.zeros(1),
        "input_global_scale": torch.zeros(1),
    }


def test_nvfp4_compressed_tensors_without_weight_shape(tmp_path: Path) -> None:
    config = {"quantization_config": {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}}
    expected = write(tmp_path, nvfp4, config)
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == expected  # global scales are overhead too
    assert report.quantization is not None
    assert report.quantization.scheme == "compressed-tensors 4-bit"


def test_mxfp4_experts(tmp_path: Path) -> None:
    """gpt-oss style: expert weights as *_blocks (uint8, 16 bytes = 32 FP4 values per group) and *_scales."""
    experts, hidden, intermediate = 4, 64, 128
    tensors = {
        "model.layers.0.mlp.experts.gate_up_proj_blocks": torch.zeros(
            experts, 2 * intermediate, hidden // 32, 16, dtype=torch.uint8
        ),
        "model.layers.0.mlp.experts.gate_up_proj_scales": torch.zeros(
            experts, 2 * intermediate, hidden // 32, dtype=torch.uint8
        ),
        "model.layers.0.mlp.experts.down_proj_blocks": torch.zeros(
            experts, hidden, intermediate // 32, 16, dtype=torch.uint8
        ),
        "model.layers.0.mlp.experts.down_proj_scales": torch.zeros(
            experts, hidden, intermediate // 32, dtype=torch.uint8
        ),
        "model.layers.0.mlp.experts.down_proj_bias": torch.zeros(experts, hidden),
    }
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "mxfp4"}}))
    report = paramcount.count(str(tmp_path))
    unquantized = experts * (2 * intermediate * hidden + hidden * intermediate + hidden)
    assert report.parameters.total == unquantized
    assert report.quantization is not None
    assert report.quantization.scheme == "mxfp4"
    assert [e.what for e in report.excluded] == ["quantization-auxiliary"]


@pytest.mark.parametrize(
    ("tensors", "config", "expected"),
    [
        (  # an 8-byte nf4 weight whose quant state claims 10^192 values: the bytes hold 16
            {
                "l.weight": torch.zeros(8, 1, dtype=torch.uint8),
                "l.weight.absmax": torch.zeros(1),
                "l.weight.quant_state.bitsandbytes__nf4": torch.tensor(
                    list(json.dumps({"quant_type": "nf4", "shape": [10**64] * 3}).encode()), dtype=torch.uint8
                ),
            },
            {},
            16,
        ),
        (  # a 2 x 1 word int4 weight whose weight_shape claims 2^31 x 2^31: the words hold 2 x 8
            {
                "l.weight_packed": torch.zeros(2, 1, dtype=torch.int32),
                "l.weight_shape": torch.tensor([2**31 - 1, 2**31 - 1], dtype=torch.int32),
                "l.weight_scale": torch.zeros(2, 1, dtype=torch.float16),
            },
            {"quantization_config": {"quant_method": "compressed-tensors"}},
            16,
        ),
        (  # the same weight with a true weight_shape of 2 x 7 (its last word padded): believed
            {
                "l.weight_packed": torch.zeros(2, 1, dtype=torch.int32),
                "l.weight_shape": torch.tensor([2, 7], dtype=torch.int32),
                "l.weight_scale": torch.zeros(2, 1, dtype=torch.float16),
            },
            {"quantization_config": {"quant_method": "compressed-tensors"}},
            14,
        ),
    ],
    ids=["nf4-state-too-big", "weight-shape-too-big", "weight-shape-padded"],
)
def test_a_stated_shape_is_believed_only_where_the_packed_bytes_hold_it(
    tmp_path: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any], expected: int
) -> None:
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    report = paramcount.count(str(tmp_path))
    assert report.parameters.total == expected
    assert report.quantization is not None
