"""Real architectures from transformers, built from default configs on the meta device (no download, no memory).

Expected figures are the published parameter counts: GPT-2 small 124,439,808 (transformers #14960; torchinfo 1.8
reports 163,037,184 because it counts the tied head twice), BERT-base 109,482,240, t5-small 60,506,624 (three
names reach one embedding; accelerate's init_empty_weights breaks the tie and reports 93,405,696).
"""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

import paramcount  # noqa: E402 -- after the skip, so a missing transformers skips rather than errors


def test_gpt2_counts_the_tied_head_once() -> None:
    report = paramcount.count("transformers:GPT2LMHeadModel(transformers:GPT2Config())")
    assert report.parameters.total == 124_439_808
    assert report.parameters.trainable == 124_439_808
    assert [g.names for g in report.tied] == [("transformer.wte.weight", "lm_head.weight")]
    lm_head = next(row for row in report.modules if row.path == "lm_head")
    assert lm_head.parameters == 0  # attributed to transformer.wte, its first owner
    assert report.modules[0].parameters == 124_439_808


def test_gpt2_verify_with_rounded_figure() -> None:
    paramcount.verify("transformers:GPT2LMHeadModel(transformers:GPT2Config())", "124.4M")


def test_bert_base() -> None:
    report = paramcount.count("transformers:BertModel(transformers:BertConfig())")
    assert report.parameters.total == 109_482_240
    # position_ids and token_type_ids are buffers, never parameters
    assert report.buffers.tensors >= 1
    assert report.tied == ()


def test_t5_small_three_way_tie() -> None:
    report = paramcount.count("transformers:T5Model(transformers:T5Config())")
    assert report.parameters.total == 60_506_624
    names = {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
    assert [set(g.names) for g in report.tied] == [names]
