"""paramcount memory beside accelerate's ``estimate-memory`` and DeepSpeed's ZeRO estimators, on the same models.

Run: ``.venv/bin/python benchmarks/compare_memory.py``. Every model is built from its configuration; nothing is
downloaded. accelerate's figures come from its own functions, called as ``accelerate estimate-memory`` calls them
(``init_empty_weights`` + ``AutoModel.from_config`` + ``calculate_maximum_sizes`` + ``estimate_training_usage``);
only its Hub lookup is skipped, which for a repository without ``auto_map`` changes nothing. DeepSpeed's come
from ``estimate_zero2_model_states_mem_needs`` / ``estimate_zero3_model_states_mem_needs``, fed by DeepSpeed's own
``model_to_params`` on the model built on the meta device (what a user of ``*_all_live`` gets) and by paramcount's
count.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.simplefilter("ignore")

import torch  # noqa: E402

import paramcount  # noqa: E402

CONFIGS = Path(__file__).resolve().parent.parent / "tests" / "configs"
GB = 10**9


def _models() -> dict[str, tuple[str, Any]]:
    """name -> (a paramcount TARGET, the transformers config)."""
    from transformers import AutoConfig, GPT2Config, T5Config

    found: dict[str, tuple[str, Any]] = {}
    for name in ("Llama-3.1-8B", "Llama-3.1-70B"):
        found[name] = (str(CONFIGS / name), AutoConfig.from_pretrained(CONFIGS / name))
    found["t5-small"] = ("transformers:T5ForConditionalGeneration(transformers:T5Config())", T5Config())
    found["gpt2"] = ("transformers:GPT2LMHeadModel(transformers:GPT2Config())", GPT2Config())
    return found


def _accelerate(config: Any) -> tuple[float, float]:
    """accelerate estimate-memory's float16 'Total Size' and 'Training using Adam', in bytes."""
    from accelerate import init_empty_weights
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes
    from transformers import AutoModel

    auto: Any = AutoModel
    with init_empty_weights():
        model = auto.from_config(config)  # estimate.py's constructor when auto_map names no AutoModelFor*
    total, _ = calculate_maximum_sizes(model)
    return total / 2, max(estimate_training_usage(total, "float16").values())


def _deepspeed(config: Any, psi: int, gpus: int) -> tuple[int, int, int]:
    """DeepSpeed's ZeRO-3 GPU bytes per device: from model_to_params on meta, and from the exact Ψ; and Ψ on meta."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs, model_to_params
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto: Any = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(config)
    meta_psi, largest = model_to_params(model)
    on_meta = estimate_zero3_model_states_mem_needs(
        meta_psi, largest, num_gpus_per_node=gpus, cpu_offload=False, cpu_offload_params=False
    )[1]
    exact = estimate_zero3_model_states_mem_needs(
        psi, largest, num_gpus_per_node=gpus, cpu_offload=False, cpu_offload_params=False
    )[1]
    return on_meta, exact, meta_psi


def main() -> int:
    logging.disable(logging.WARNING)
    gpus = 8
    rows = []
    for name, (target, config) in _models().items():
        with contextlib.redirect_stdout(io.StringIO()):
            served = paramcount.memory(target, dtype="float16")
            trained = paramcount.memory(target, mode="training", dtype="float16")
            zero3 = paramcount.memory(target, mode="training", dtype="float16", gpus=gpus, strategy="zero3")
            accelerate_total, accelerate_training = _accelerate(config)
        assert served.memory
        assert trained.memory
        assert zero3.memory
        assert served.parameters.total
        psi = served.parameters.total
        on_meta, exact, meta_psi = _deepspeed(config, psi, gpus)
        d = zero3.memory.per_device
        states = d.weights + d.gradients + d.master_weights + d.optimizer + d.gathered
        rows.append(
            (
                name,
                psi,
                served.memory.per_device.weights,
                accelerate_total,
                trained.memory.per_device.total,
                accelerate_training,
                states,
                exact,
                on_meta,
                meta_psi,
            )
        )
    print(f"{'model':14} {'parameters':>15}  fp16 weights (paramcount / accelerate)  training AdamW fp16, 1 device")
    for r in rows:
        print(
            f"{r[0]:14} {r[1]:>15,}  {r[2] / GB:10.2f} GB / {r[3] / GB:7.2f} GB ({r[3] / r[2] - 1:+.1%})"
            f"       {r[4] / GB:9.2f} GB / {r[5] / GB:8.2f} GB"
        )
    print(f"\nZeRO-3 on {gpus} devices, model states per device (paramcount paper terms / DeepSpeed with exact Ψ /")
    print("DeepSpeed's model_to_params on a meta-built model, which dedups parameters by data_ptr, 0 on meta):")
    for r in rows:
        print(f"{r[0]:14} {r[6] / GB:9.2f} GB / {r[7] / GB:9.2f} GB / {r[8] / GB:9.4f} GB (Ψ seen on meta: {r[9]:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
