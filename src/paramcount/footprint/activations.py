"""Activations, measured: what autograd saves for backward in one forward of a live model, on fake tensors.

The one place :func:`paramcount.memory` runs a model; :mod:`paramcount.footprint` calls it for
``--activations measure`` and keeps torch out of its own imports.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, UsageError
from paramcount.footprint.results import Activations

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = ["measure"]


def measure(model: Any, batch: int, seq: int, dtype: str, target: str) -> Activations:
    """What autograd saves in one forward of ``model`` over ``batch x seq`` tokens, on fake tensors.

    Every parameter and buffer is replaced, for the call only (``torch.func.functional_call``), by a fake tensor
    of its shape in ``dtype`` (floating ones) on the CPU: meta storage, no memory, no compute, the CPU's kernel
    choices (its attention path). The input ids and attention mask are real (``batch x seq`` int64 each), so the
    model's checks of them answer as for an unpadded batch. A saved-tensor hook records each saved tensor's
    storage once; the parameters' own storages are left out (they are the weights).

    Raises:
        TargetError: the forward does not run on fake tensors (data-dependent control flow, such as routing that
            loops over the experts tokens chose), or the model does not take ``input_ids``.
    """
    import logging

    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.func import functional_call

    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise UsageError(
            f"activations cannot be measured in {dtype}",
            fix="pass --dtype bfloat16 (dtype='bfloat16' in Python), or float32",
        )
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fakes: dict[str, Any] = {}
    made: dict[int, Any] = {}
    with mode:
        for name, tensor in _tensors(model):
            fake = made.get(id(tensor))
            if fake is None:
                kind = torch_dtype if tensor.is_floating_point() else tensor.dtype
                fake = torch.empty(tuple(tensor.shape), dtype=kind, device="cpu")
                if isinstance(tensor, torch.nn.Parameter):
                    fake.requires_grad_(tensor.requires_grad)
                made[id(tensor)] = fake
            fakes[name] = fake
    held = {fake.untyped_storage()._cdata for fake in made.values()}
    saved: dict[int, int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key not in held and key not in saved:
            saved[key] = storage.nbytes()
        return tensor

    ids = torch.zeros(batch, seq, dtype=torch.long)
    inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones(batch, seq, dtype=torch.long)}
    config = vars(model).get("config")
    if getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids
    if getattr(config, "use_cache", None) is not None:
        inputs["use_cache"] = False
    was_training = model.training
    logger = logging.getLogger("torch._subclasses.fake_tensor")  # logs a failing op's traceback at ERROR
    level = logger.level
    try:
        logger.setLevel(logging.CRITICAL)
        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            output = functional_call(model, fakes, (), inputs, tie_weights=False, strict=False)
    except Exception as e:  # the model's own code on fake tensors: any failure is "cannot be measured"
        raise TargetError(
            f"its forward cannot run on fake tensors to measure activations ({type(e).__name__}: "
            f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else 'no message'})",
            target=target,
            fix="leave out --activations (activations= in Python): code that needs the data (such as routing tokens "
            "to experts) or a kernel "
            "without a fake-tensor rule cannot be measured",
        ) from None
    finally:
        logger.setLevel(level)
        model.train(was_training)
    return Activations(sum(saved.values()), len(saved), _attention_kernels(output), dtype)


def _tensors(model: Any) -> Iterator[tuple[str, Any]]:
    yield from model.named_parameters(remove_duplicate=False)
    yield from model.named_buffers(remove_duplicate=False)


def _attention_kernels(output: Any) -> tuple[str, ...]:
    """The attention kernels in the autograd graph behind ``output`` (``SoftmaxBackward0`` for eager attention)."""
    roots = []
    values = output.values() if hasattr(output, "values") else (output if isinstance(output, tuple) else (output,))
    for value in values:
        fn = getattr(value, "grad_fn", None)
        if fn is not None:
            roots.append(fn)
    seen: set[int] = set()
    found: dict[str, None] = {}
    while roots:
        fn = roots.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        name = type(fn).__name__
        if "Attention" in name or "Softmax" in name:  # SDPA's kernels, its math path (SafeSoftmax), eager softmax
            found[name.removesuffix("Backward0").removesuffix("Backward1")] = None
        roots.extend(parent for parent, _ in fn.next_functions)
    return tuple(found)
