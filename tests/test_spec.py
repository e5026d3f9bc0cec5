"""TARGET strings: parsed with ast, never eval'd; built on meta by default."""

from __future__ import annotations

import pytest
import torch

import paramcount
from paramcount.errors import TargetError, UsageError
from paramcount.sources.spec import Call, Ref, build, looks_like_spec, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("torch.nn:Linear", Ref("torch.nn", "Linear")),
        ("torch.nn:Linear(784, 10)", Call(Ref("torch.nn", "Linear"), (784, 10), ())),
        ("  torch.nn : Linear ( 1 , 2 ) ", Call(Ref("torch.nn", "Linear"), (1, 2), ())),
        ("m:f(bias=False, n=-3, x=1.5e3, s='a:b', t=(1, [2]), d={'k': None})", None),
        ("transformers:GPT2LMHeadModel(transformers:GPT2Config())", None),
        ("a.b:C.D(x=e:f)", Call(Ref("a.b", "C.D"), (), (("x", Ref("e", "f")),))),
    ],
    ids=["attribute", "call", "spaces", "literals", "nested-call", "nested-attribute"],
)
def test_parse(text: str, expected: Ref | Call | None) -> None:
    node = parse(text)
    if expected is not None:
        assert node == expected
    assert isinstance(node, (Ref, Call))


def test_parse_literals_in_detail() -> None:
    node = parse("m:f(bias=False, n=-3, x=1.5e3, s='a:b', t=(1, [2]), d={'k': None})")
    assert isinstance(node, Call)
    kwargs = dict(node.kwargs)
    assert kwargs["bias"] is False and kwargs["n"] == -3 and kwargs["x"] == 1500.0
    assert kwargs["s"] == "a:b"  # a colon inside a string is not a reference
    assert kwargs["t"] == (1, [2])


def test_nested_calls_are_parsed_not_evaluated() -> None:
    node = parse("transformers:GPT2LMHeadModel(transformers:GPT2Config(n_layer=2))")
    assert node == Call(
        Ref("transformers", "GPT2LMHeadModel"), (Call(Ref("transformers", "GPT2Config"), (), (("n_layer", 2),)),), ()
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("torch.nn:Linear(784,", "not a valid model spec"),
        ("torch.nn:Linear(__import__('os').system('true'))", "unsupported expression"),
        ("torch.nn:Linear(1 + 2)", r"unsupported expression '1 \+ 2'"),
        ("torch.nn:Linear(*[1, 2])", "unsupported expression"),
        ("torch.nn:Linear(**{'a': 1})", "unsupported expression"),
        ("torch.nn:Linear(lambda: 1)", "not a valid model spec|unsupported expression"),
        ("torch.nn:Linear(x.y)", "unsupported expression 'x.y'"),
        ("torch.nn:Linear(x)", "unknown name 'x'"),
        ("torch.nn:Linear(1)(2)", "unsupported expression"),
        ("torch.nn:Linear(1)\n.x", "one line"),
        ("'just a string'", "unsupported expression|a reference or a call"),
    ],
    ids=["unclosed", "dunder-import", "arithmetic", "star-args", "star-kwargs", "lambda", "attribute-of-name",
         "bare-name", "call-of-call", "two-lines", "literal"],
)  # fmt: skip
def test_parse_refuses_everything_else(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse(text)


def test_looks_like_spec() -> None:
    assert looks_like_spec("torch.nn:Linear(1, 2)")
    assert looks_like_spec("pkg.models:model")
    assert not looks_like_spec("model.safetensors")
    assert not looks_like_spec("C:\\weights\\model.bin")
    assert not looks_like_spec("./dir/model.pt")


def test_build_on_meta_by_default() -> None:
    model = build("torch.nn:Linear(784, 10)")
    assert isinstance(model, torch.nn.Linear)
    assert model.weight.device.type == "meta"


def test_build_on_cpu_when_asked() -> None:
    model = build("torch.nn:Linear(4, 2, bias=False)", device="cpu")
    assert isinstance(model, torch.nn.Linear)
    assert model.weight.device.type == "cpu" and model.bias is None


def test_keyword_arguments_and_attribute_arguments() -> None:
    report = paramcount.count("torch.nn:Linear(in_features=8, out_features=8, dtype=torch:float16)")
    assert report.parameters.total == 72
    assert report.by_dtype[0].dtype == "float16"


def test_attribute_target(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    module = types.ModuleType("paramcount_test_models")
    module.net = torch.nn.Linear(3, 3)  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "paramcount_test_models", module)
    assert paramcount.count("paramcount_test_models:net").parameters.total == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no_such_module_xyz:Model()", "cannot import module 'no_such_module_xyz'"),
        ("torch.nn:NoSuchLayer()", "'torch.nn' has no attribute 'NoSuchLayer'"),
        ("torch.nn:Linear(1, 2, 3, 4, 5, 6)", "calling torch.nn:Linear failed: TypeError"),
        ("torch.nn:Linear", "names the class Linear, not a model"),
        ("math:pi", "evaluates to float, not a torch.nn.Module"),
        ("model.safetensors", "no such file or folder"),
    ],
    ids=["import", "attribute", "constructor", "class", "not-a-module", "path"],
)
def test_build_errors_name_target_and_fix(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message) as info:
        paramcount.count(text)
    assert str(info.value).startswith(text)
    assert info.value.fix


def test_constructor_that_reads_data_fails_on_meta_with_a_hint_and_builds_on_cpu() -> None:
    with pytest.raises(TargetError, match="build it with --device cpu"):
        paramcount.count("tests.zoo:data_dependent()")
    assert paramcount.count("tests.zoo:data_dependent()", device="cpu").parameters.total == 6 * 6 + 6


def test_invalid_device_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="invalid device 'quantum'"):
        paramcount.count("torch.nn:Linear(1, 1)", device="quantum")


def test_a_misspelt_module_fails_before_torch_is_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from paramcount.cli import main\n"
        "assert main(['count', 'nonexistent_pkg_xyz:Model(other_missing:x)']) == 3\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "cannot import module 'nonexistent_pkg_xyz'" in result.stderr
