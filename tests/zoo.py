"""Small models, each reproducing one counting bug from the landscape (../shared/reference/landscape.md).

Every model comes with its expected figures worked out by hand in ``ZOO`` below (an oracle independent of
paramcount and of ``parameters()``), so a test fails if paramcount and the arithmetic disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Callable


class TiedEmbeddingHead(nn.Module):
    """An output head sharing the embedding's weight. torchinfo 1.8 and summing ``state_dict`` count it twice
    (torchinfo #322/#377; transformers #14960)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.embed.weight


class SharedModule(nn.Module):
    """One Linear reached through two parents: counted once per parent by torchinfo 1.8 and thop
    (torchinfo #327, flops-counter #106)."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(32, 32)
        self.encoder = nn.Sequential(shared, nn.ReLU())
        self.decoder = nn.Sequential(shared, nn.ReLU())


class OwnParameter(nn.Module):
    """A Parameter owned by a non-leaf module: thop misses it (landscape 2.1, "Parameter on a non-leaf module")."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(32))
        self.body = nn.Sequential(nn.Linear(32, 32))
        self.pos = nn.Parameter(torch.zeros(4, 32))


class UnusedBranch(nn.Module):
    """A branch forward() never runs: hook-based counters (thop 0.1.1) count 0 for it."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(32, 32)
        self.unused = nn.Linear(32, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.used(x)
        return out


class FrozenBackbone(nn.Module):
    """A frozen backbone under a trainable head: ptflops and calflops silently drop the frozen part (ptflops #103)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(32, 32), nn.Linear(32, 10))
        self.head = nn.Linear(10, 30)
        for p in self.backbone.parameters():
            p.requires_grad_(False)


class LazyHead(nn.Module):
    """A lazy layer before any forward: sum(numel) raises, Lightning counts 0 (landscape 2.1, formats.md 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 16)
        self.head = nn.LazyLinear(4)


class WithBatchNorm(nn.Module):
    """BatchNorm running statistics are buffers, not parameters; summing a state dict counts them (fvcore #72)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)


class NonPersistentBuffer(nn.Module):
    """A non-persistent buffer is not in state_dict; buffers() has no persistent filter (pytorch #85235)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.register_buffer("mask", torch.ones(16, 16), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))


class ParameterContainers(nn.Module):
    """ParameterList and ParameterDict hold parameters without a leaf layer."""

    def __init__(self) -> None:
        super().__init__()
        self.plist = nn.ParameterList([nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(5))])
        self.pdict = nn.ParameterDict({"alpha": nn.Parameter(torch.zeros(2, 2)), "beta": nn.Parameter(torch.zeros(7))})


class SharedStorage(nn.Module):
    """Two distinct Parameter objects over one storage view: parameters() keeps both (3200, formats.md 8);
    DeepSpeed's data_ptr dedupe collapses every meta tensor into one."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = nn.Parameter(self.embed.weight.data)


class ExpandedParameter(nn.Module):
    """A stride-0 expanded Parameter: 16,000 logical elements over 16 stored (formats.md 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(1, 16).expand(1000, 16))


class ThreeWayTie(nn.Module):
    """One weight reached by three names (the T5 pattern): torchinfo 1.8 counts it up to three times."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Embedding(50, 8)
        self.encoder_embed = nn.Embedding(50, 8)
        self.decoder_embed = nn.Embedding(50, 8)
        self.encoder_embed.weight = self.shared.weight
        self.decoder_embed.weight = self.shared.weight


def data_dependent() -> nn.Module:
    """A constructor that reads tensor values, which meta tensors do not have (torchvision regnet_y_*)."""
    width = int(torch.arange(4).sum().item())
    return nn.Linear(width, width)


@dataclass(frozen=True)
class Case:
    """A zoo model and its hand-computed figures."""

    build: Callable[[], nn.Module]
    total: int | None
    trainable: int | None
    frozen: int | None
    buffers: int = 0
    persistent: int = 0
    non_persistent: int = 0
    uninitialized: int = 0
    initialized: int | None = None
    ties: tuple[tuple[str, ...], ...] = ()
    own: dict[str, int] = field(default_factory=dict)


ZOO: dict[str, Case] = {
    "tied_embedding_head": Case(
        TiedEmbeddingHead,
        total=100 * 16 + 2 * 16,
        trainable=1632,
        frozen=0,
        ties=(("embed.weight", "head.weight"),),
        own={"embed": 1600, "norm": 32, "head": 0},
    ),
    "shared_module": Case(
        SharedModule,
        total=32 * 32 + 32,
        trainable=1056,
        frozen=0,
        own={"encoder.0": 1056, "decoder.0": 0},
    ),
    "own_parameter": Case(
        OwnParameter,
        total=32 + 4 * 32 + 32 * 32 + 32,
        trainable=1216,
        frozen=0,
        own={"": 32 + 128, "body.0": 1056},
    ),
    "unused_branch": Case(UnusedBranch, total=1056 + 32 * 1000 + 1000, trainable=34056, frozen=0),
    "frozen_backbone": Case(
        FrozenBackbone,
        total=(32 * 32 + 32) + (32 * 10 + 10) + (10 * 30 + 30),
        trainable=330,
        frozen=1056 + 330,
    ),
    "lazy_head": Case(
        LazyHead,
        total=None,
        trainable=None,
        frozen=0,
        uninitialized=2,
        initialized=8 * 16 + 16,
        own={"stem": 144, "head": 0},
    ),
    "batchnorm": Case(
        WithBatchNorm,
        total=(3 * 8 * 3 * 3 + 8) + (8 + 8),
        trainable=240,
        frozen=0,
        buffers=8 + 8 + 1,
        persistent=17,
        non_persistent=0,
    ),
    "non_persistent_buffer": Case(
        NonPersistentBuffer,
        total=16 * 16 + 16,
        trainable=272,
        frozen=0,
        buffers=256 + 1,
        persistent=1,
        non_persistent=256,
    ),
    "parameter_containers": Case(
        ParameterContainers, total=12 + 5 + 4 + 7, trainable=28, frozen=0, own={"plist": 17, "pdict": 11}
    ),
    "shared_storage": Case(
        SharedStorage,
        total=1600,
        trainable=1600,
        frozen=0,
        ties=(("embed.weight", "head.weight"),),
        own={"embed": 1600, "head": 0},
    ),
    "expanded_parameter": Case(ExpandedParameter, total=16_000, trainable=16_000, frozen=0),
    "three_way_tie": Case(
        ThreeWayTie,
        total=400,
        trainable=400,
        frozen=0,
        ties=(("shared.weight", "encoder_embed.weight", "decoder_embed.weight"),),
    ),
}
