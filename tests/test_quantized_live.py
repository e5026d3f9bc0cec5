"""Live quantized models count their logical parameters: real bitsandbytes layers quantized on CPU and real
torchao ``quantize_``; the oracle is the same model before quantization."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
import torch
from torch import nn

import paramcount


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32), nn.LayerNorm(32))


def quiet_import(name: str) -> Any:
    """Import a quantization library without its import-time warnings and log lines failing the suite."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pytest.importorskip(name)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
def test_bitsandbytes_4bit_and_8bit(quant_type: str) -> None:
    bnb = quiet_import("bitsandbytes")
    reference = model()
    quantized: Any = nn.Sequential(
        bnb.nn.Linear4bit(128, 64, quant_type=quant_type, compress_statistics=True),
        nn.ReLU(),
        bnb.nn.Linear8bitLt(64, 32, has_fp16_weights=False),
        nn.LayerNorm(32),
    )
    quantized.load_state_dict(reference.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized[0].weight = quantized[0].weight._quantize("cpu")  # bitsandbytes' CPU quantization
        quantized[2] = quantized[2].to("cpu")
    packed: Any = quantized[0].weight
    assert packed.numel() == 128 * 64 // 2  # what a naive count sees
    report = paramcount.count(quantized)
    assert report.parameters.total == sum(p.numel() for p in reference.parameters())
    assert report.quantization is not None
    assert report.quantization.scheme == ", ".join(sorted(["bitsandbytes int8", f"bitsandbytes {quant_type}"]))
    state = packed.quant_state
    overhead = sum(
        t.numel() * t.element_size() for t in (state.absmax, state.code, state.state2.absmax, state.state2.code)
    )
    overhead += quantized[2].weight.SCB.numel() * quantized[2].weight.SCB.element_size()
    assert report.quantization.overhead_bytes == overhead
    by_dtype = {row.dtype: row for row in report.by_dtype}
    assert by_dtype[f"bitsandbytes-{quant_type}"].parameters == 128 * 64
    assert by_dtype[f"bitsandbytes-{quant_type}"].parameter_bytes == 128 * 64 // 2
    assert by_dtype["int8"].parameters == 64 * 32


@pytest.mark.parametrize("config", ["Int8WeightOnlyConfig", "Int8DynamicActivationInt8WeightConfig"])
def test_torchao_quantize(config: str) -> None:
    quantization = quiet_import("torchao.quantization")
    quantized = model()
    expected = sum(p.numel() for p in quantized.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantization.quantize_(quantized, getattr(quantization, config)())
    weight: Any = quantized[0].weight
    assert type(weight).__module__.startswith("torchao")
    report = paramcount.count(quantized)
    assert report.parameters.total == expected
    assert report.quantization is not None
    assert report.quantization.scheme.startswith("torchao ")
    assert not any("claim" in w for w in report.warnings)
    int8 = {row.dtype: row for row in report.by_dtype}["int8"]
    assert (int8.parameters, int8.parameter_bytes) == (128 * 64 + 64 * 32, 128 * 64 + 64 * 32)
    names, _ = weight.__tensor_flatten__()
    inner = [getattr(weight, n) for n in names]
    data = max(inner, key=lambda t: t.untyped_storage().nbytes())
    overhead = sum(t.untyped_storage().nbytes() for t in inner if t is not data)
    assert report.quantization.overhead_bytes >= overhead  # both layers' scales and zero points


class QuantLinear(nn.Module):
    """A GPTQ layer as AutoGPTQ builds it (qlinear_cuda_old.py): the packed weight and its auxiliaries are buffers."""

    def __init__(self, in_features: int, out_features: int, bits: int = 4, group_size: int = 32) -> None:
        super().__init__()
        groups = in_features // group_size
        self.register_buffer("qweight", torch.zeros(in_features // 32 * bits, out_features, dtype=torch.int32))
        self.register_buffer("qzeros", torch.zeros(groups, out_features // 32 * bits, dtype=torch.int32))
        self.register_buffer("scales", torch.zeros(groups, out_features, dtype=torch.float16))
        self.register_buffer("g_idx", torch.zeros(in_features, dtype=torch.int32))
        self.register_buffer("bias", torch.zeros(out_features, dtype=torch.float16))


def test_gptq_layers_with_packed_buffers_count_logical_parameters() -> None:
    quantized = nn.Sequential(QuantLinear(128, 64), nn.ReLU(), QuantLinear(64, 32), nn.LayerNorm(32))
    weights = 128 * 64 + 64 * 32
    report = paramcount.count(quantized)
    assert report.parameters.total == weights + 32 + 32  # packed weights by logical shape + the LayerNorm
    assert report.parameters.frozen == weights
    assert report.buffers.total == 64 + 32  # the biases stay buffers, as registered
    assert report.quantization is not None
    assert report.quantization.scheme == "gptq 4-bit"
    assert report.quantization.overhead_bytes > 0
