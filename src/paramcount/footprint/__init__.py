"""Bytes per device, from a report: weights, gradients, optimizer states, master weights, KV cache, activations.

Every figure is a sum over the report's unique parameter tensors (a tie is held once), at each tensor's stored
dtype or the one asked for, and every assumption behind it is spelled out in :attr:`Memory.assumptions`.

Training states follow what the code that holds them allocates:

- gradients: one per trainable element, in the weights' dtype;
- mixed precision (16-bit weights): an fp32 master copy of every trainable weight, optimizer states in fp32;
  ``pure`` precision keeps everything in the weights' dtype (``torch.optim`` on a bf16 model);
- ``adamw``: two states per element, and PyTorch's ``step`` (a 4-byte fp32 scalar tensor per parameter) under
  ``ddp`` and ``fsdp``; DeepSpeed's flat partitions keep one counter per group, left out;
- ``adamw-8bit`` (bitsandbytes): two uint8 states plus one fp32 absmax per 256-element block each for tensors of
  4,096 elements or more, two fp32 states below that, and the two 256-entry quantization maps the optimizer shares;
- ``sgd``: nothing; ``sgd-momentum``: one momentum buffer;
- ``adafactor`` (transformers, ``beta1=None``): in fp32 (it casts 16-bit gradients), for a tensor of two or more
  dimensions a row and a column second moment (``shape[:-1]`` and ``shape[:-2] + shape[-1:]``), else a full one,
  and a 4-byte RMS scalar tensor per tensor.

For inference ``tp`` (tensor parallelism, as vLLM and Megatron shard a model) splits every matrix and embedding
over N devices, keeps vectors whole, and gives each device the ceiling of its share of the KV heads (at least one:
fewer KV heads than devices are replicated) or the whole latent of multi-head latent attention.

Partitioned over N devices as in the ZeRO paper (Rajbhandari et al. 2020): ``zero1`` partitions optimizer states
and master weights, ``zero2`` also gradients, ``zero3`` and ``fsdp`` also weights (each device holds the ceiling
of its share), and the two gather one unit at a time: the largest module's own parameters for ZeRO-3, the
largest repeated block (or the whole model when none repeats) for FSDP, as weights and gradients. Mixed-precision
AdamW gives the paper's 2Ψ + 2Ψ + 12Ψ. The ``deepspeed`` convention reproduces DeepSpeed's estimators instead
(``estimate_zero2_model_states_mem_needs``: 2Ψ + 18Ψ/N, which adds an fp32 gradient partition;
``estimate_zero3_model_states_mem_needs``: 18Ψ/N + 4 bytes per element of the largest layer).

The KV cache is what transformers' ``DynamicCache`` holds after a prefill of ``seq`` tokens: key and value per
attention layer, ``num_key_value_heads x head_dim`` each per token; sliding-window (and chunked) layers keep the
last ``window - 1`` tokens; layers without attention (linear attention, state-space, MLP-only) hold none; layers
that reuse another layer's cache hold none; multi-head latent attention holds its compressed latent
(``kv_lora_rank + qk_rope_head_dim`` per token, one head), as transformers 5 and serving engines keep it.

The engine is a package named so that the function :func:`paramcount.memory` is not shadowed: :mod:`.plan` (what
a plan may ask for), :mod:`.results` (the result types, a leaf), :mod:`.tensors` (the report's unique tensors),
:mod:`.training` (states and partitions), :mod:`.caches` (the KV cache) and :mod:`.activations` (measured on fake
tensors), with :func:`.engine.estimate` the entry point. It reads a report, a plan and a configuration handed to
it; it never imports :mod:`paramcount.sources`. This module imports none of them: a report's JSON document needs the
result types (a leaf) without the engine.
"""
