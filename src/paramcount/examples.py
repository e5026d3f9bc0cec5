"""Small built-in models for the demo and the README; torch is imported only when one is built.

>>> model = tied_language_model()
>>> sum(p.numel() for p in model.parameters())  # parameters() deduplicates the tie
64128
>>> sum(t.numel() for t in model.state_dict().values())  # a state dict counts it twice
128128
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["tied_language_model"]


def tied_language_model(vocab_size: int = 1000, dim: int = 64) -> torch.nn.Sequential:
    """An embedding, a LayerNorm and an output head that shares the embedding's weight (the GPT-2 pattern).

    Args:
        vocab_size: rows of the embedding and outputs of the head.
        dim: embedding width.

    Returns:
        ``Sequential(embed, norm, head)`` with ``head.weight is embed.weight``.
    """
    from collections import OrderedDict

    from torch import nn

    embed = nn.Embedding(vocab_size, dim)
    head = nn.Linear(dim, vocab_size, bias=False)
    head.weight = embed.weight
    return nn.Sequential(OrderedDict(embed=embed, norm=nn.LayerNorm(dim), head=head))
