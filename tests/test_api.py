"""The Python API as a user meets it: what ``count`` and ``verify`` accept, and what they leave untouched."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import torch

import paramcount
from paramcount.errors import TargetError, UsageError

if TYPE_CHECKING:
    import pathlib


def tied() -> torch.nn.Sequential:
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 10, bias=False))
    model[2].weight = model[0].weight
    return model


def test_a_path_object_counts_like_its_string(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(tied().state_dict(), path)
    assert paramcount.count(path).to_dict() == paramcount.count(str(path)).to_dict()


def test_a_state_dict_counts_like_the_model() -> None:
    model = tied()
    live = paramcount.count(model)
    state = paramcount.count(model.state_dict())
    assert state.parameters.total == live.parameters.total == 10 * 4 + 4 + 4  # the tie once; BN stats excluded
    assert state.buffers.total == live.buffers.total == 4 + 4 + 1
    assert state.parameters.trainable is None  # a state dict's tensors are detached: trainability is unknown
    assert [e.what for e in state.excluded] == ["batchnorm-statistics"]
    assert [g.names for g in state.tied] == [("0.weight", "2.weight")]
    parameters = paramcount.count(dict(model.named_parameters()))
    assert parameters.parameters.trainable == live.parameters.total  # Parameters keep requires_grad


def test_a_loaded_training_checkpoint_counts_only_the_model() -> None:
    model = tied()
    checkpoint = {"model": model.state_dict(), "optimizer": {"state": {0: {"exp_avg": torch.zeros(40)}}}, "epoch": 3}
    report = paramcount.count(checkpoint)
    assert report.parameters.total == 48
    assert {e.what: e.elements for e in report.excluded}["optimizer-state"] == 40


def test_a_mapping_without_tensors_is_refused() -> None:
    with pytest.raises(TargetError, match="holds no tensors"):
        paramcount.count({"epoch": 3})


def test_other_objects_are_type_errors() -> None:
    with pytest.raises(TypeError, match="not int"):
        paramcount.count(42)


def test_expected_counts_must_be_whole() -> None:
    model = torch.nn.Linear(784, 10)
    with pytest.raises(UsageError, match=r"'202048\.5' is not a whole number of parameters"):
        paramcount.verify(model, 202048.5)
    with pytest.raises(UsageError, match="not a whole number"):
        paramcount.verify(model, "7850.5")
    assert paramcount.verify(model, 7850.0).parameters.total == 7850
    assert paramcount.verify(model, {"total": 7850.0, "trainable": "7.85K"}).parameters.total == 7850


FREEZE = """
import gc, torch, paramcount
from paramcount._gc import _Paused
model = torch.nn.Sequential(*(torch.nn.Linear(4, 4) for _ in range(50)))
frozen_before = gc.get_freeze_count()
{setup}
frozen = gc.get_freeze_count()
for _ in range(3):
    assert paramcount.count(model).parameters.total == 50 * 20
if {froze}:
    assert frozen > 0, frozen  # the setup froze a heap, so the check below can fail
    # still frozen (objects freed meanwhile leave the count): an unfreeze would have emptied it
    assert gc.get_freeze_count() >= 0.99 * frozen, (frozen, gc.get_freeze_count())
else:
    # nothing was frozen, and a count's own freeze/unfreeze pair leaves nothing frozen behind
    assert frozen == frozen_before == gc.get_freeze_count() == 0, (frozen, gc.get_freeze_count())
assert gc.isenabled() == {enabled}
print(frozen, _Paused.frozen_heap)
"""


@pytest.mark.parametrize(
    ("setup", "enabled", "frozen_heap"),
    [("", True, "False"), ("gc.freeze()", True, "True"), ("gc.disable(); gc.freeze()", False, "False")],
    ids=["plain", "frozen-heap", "collector-off"],
)
def test_a_count_leaves_the_collector_as_it_found_it(setup: str, enabled: bool, frozen_heap: str) -> None:
    """A preforking server's frozen heap stays frozen (it is detected once, not walked on every count), and a
    process that runs with the collector off keeps it off."""
    code = FREEZE.format(setup=setup, enabled=enabled, froze="freeze" in setup)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    frozen, seen = result.stdout.split()
    assert (int(frozen) > 0) == bool(setup)
    assert seen == frozen_heap


def test_one_options_value_is_shared_by_count_verify_and_memory() -> None:
    """count's keyword arguments, the Options value the dispatcher reads and the TypedDict that types verify's and
    memory's **options are one list (issue #20): an option added to one and not the others fails here."""
    import ast
    import inspect

    from paramcount._api import count
    from paramcount.sources.target import Options

    keywords = [p.name for p in inspect.signature(count).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert keywords == list(Options._fields)
    import paramcount._api as api

    tree = ast.parse(inspect.getsource(api))
    typed = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "CountOptions")
    annotated = [s.target.id for s in typed.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    assert annotated == list(Options._fields)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'limit'; did you mean 'limits'\?"):
        paramcount.verify("torch.nn:Linear(2, 2)", 6, limit={"tensors": 10})  # type: ignore[call-arg]
