"""LoHa, the method added through the registry (its MethodSpec in vocab/methods.py, one PeftMethod in
search/trial/baselines.py): counted as PEFT builds it, planned, saved and loaded exactly."""
from __future__ import annotations

from pathlib import Path

import torch

from search.trial.baselines import BaselineConfig, apply_baseline, count_baseline, load_baseline, save_baseline
from search.trial.methods import training_method
from search.trial.model_source import build_meta_model
from tests.search.test_baselines import _model, tiny_bert
from tests.search.test_bad_input import QUICKSTART, run_main

CONFIG = BaselineConfig("loha", {"rank": 4, "alpha": 4.0}, targets=["query", "value"])


def test_loha_counts_two_low_rank_pairs_per_matrix() -> None:
    live = apply_baseline(_model(tiny_bert()), CONFIG)
    planned = count_baseline(apply_baseline(build_meta_model(tiny_bert(), 2), CONFIG), CONFIG)
    assert count_baseline(live, CONFIG) == planned
    # hada_w1_a (32 x 4), hada_w1_b (4 x 32), hada_w2_a, hada_w2_b on query and value of 2 layers
    assert planned["adapter"] == 2 * 2 * 2 * 4 * (32 + 32)
    assert planned["head"] == 32 * 2 + 2
    assert training_method("loha").trains_base_weights is False


def test_loha_checkpoint_round_trip_is_exact(tmp_path: Path) -> None:
    model = apply_baseline(_model(tiny_bert()), CONFIG)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    x = torch.randint(0, 120, (3, 9))
    expected = model(input_ids=x).logits
    save_baseline(model, CONFIG, tmp_path)
    fresh = apply_baseline(_model(tiny_bert()), CONFIG)
    assert not torch.allclose(fresh(input_ids=x).logits, expected)
    load_baseline(fresh, CONFIG, tmp_path)
    assert torch.equal(fresh(input_ids=x).logits, expected)


def test_plan_lists_loha_beside_tt_lora(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_main(["plan", str(QUICKSTART), "--set", "baselines.loha={rank: 8}"]) == 0
    out = capsys.readouterr().out
    # MiniLM's 12 query/value matrices of 384 x 384 at rank 8: 12 x 2 x 8 x (384 + 384)
    assert "LoHa" in out and f"{12 * 2 * 8 * 768:,}" in out
