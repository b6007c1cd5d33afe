"""Several methods in one space: the schema, the Tune param space Tune itself expands, and plan counts."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from search.plan.space_plan import build_plan
from search.space.schema import dump_space_yaml, load_space, parse_space, parse_yaml_text
from search.space.tune_param_space import tune_num_samples, tune_param_space
from vocab.methods import METHODS, flat_trial_config

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "spaces" / "quickstart.yaml"


def variants(space) -> list[dict]:
    """Tune's own expansion (grids, domains, sample_from), seeded like the driver's searcher."""
    from ray.tune.search.variant_generator import generate_variants

    configs = []
    for _ in range(tune_num_samples(space)):
        configs += [flat_trial_config(c["config"]) for _, c in
                    generate_variants({"config": tune_param_space(space)}, random_state=np.random.RandomState(0))]
    return configs


def test_baseline_defaults_are_the_methods_own() -> None:
    space = load_space(QUICKSTART, ["baselines.lora={}", "baselines.full={}", "train.weight_decay=0.01"])
    assert space.methods() == ["ttlora", "lora", "full"]
    lora, full = space.baseline_params("lora"), space.baseline_params("full")
    assert lora["rank"].values == (8,) and lora["alpha"].values == (16.0,)
    assert lora["learning_rate"].values == (METHODS["lora"].defaults["learning_rate"],)  # not TT-LoRA's range
    assert full["learning_rate"].values == (2e-5,)
    assert lora["weight_decay"].values == (0.01,)  # training rows it does not set: train.<name>
    assert space.baseline_targets("lora") == ["query", "value"]  # TT-LoRA's targets


def test_a_space_with_baselines_dumps_and_loads_back() -> None:
    space = load_space(QUICKSTART, ["baselines.lora.rank={grid: [4, 8]}", "baselines.lora.targets=[query]",
                                    "baselines.vera.num_samples=2"])
    again = parse_space(parse_yaml_text(dump_space_yaml(space)), "dumped")
    assert again == space and again.methods() == ["ttlora", "lora", "vera"]


def test_each_method_gets_its_draws_interleaved() -> None:
    space = load_space(QUICKSTART, ["num_samples=3", "baselines.lora.learning_rate={loguniform: [1.0e-4, 1.0e-3]}",
                                    "baselines.ia3.num_samples=1", "baselines.ia3.learning_rate={uniform: [1.0e-3, 5.0e-3]}"])
    configs = variants(space)
    # spread evenly: ia3's one draw in the middle, not at the start
    assert [c["method"] for c in configs] == ["ttlora", "lora", "ttlora", "lora", "ia3", "ttlora", "lora"]
    lora = [c for c in configs if c["method"] == "lora"]
    assert len({c["learning_rate"] for c in lora}) == 3  # each draw sampled on its own
    assert all(1e-4 <= c["learning_rate"] <= 1e-3 and "shape" not in c for c in lora)
    assert all(2e-3 <= c["learning_rate"] <= 2e-2 for c in configs if c["method"] == "ttlora")  # its own range


def by_method(configs: list[dict], method: str, rows: tuple[str, ...]) -> list[tuple]:
    return [tuple(c[row] for row in rows) for c in configs if c["method"] == method]


def test_a_methods_draws_do_not_depend_on_the_other_methods() -> None:
    """Each row of each draw has its own generator (seed, method, draw, row): one method's trial count or
    another row's range does not move a draw, a method's first draws stay when it gets more, the seed does."""
    lora_rows, tt_rows = ("rank", "learning_rate"), ("alpha", "learning_rate")
    sets = ["baselines.lora.rank={grid: [1, 8]}", "baselines.lora.learning_rate={loguniform: [5.0e-4, 5.0e-3]}",
            "baselines.lora.num_samples=3"]
    four = variants(load_space(QUICKSTART, ["num_samples=4", *sets]))
    twelve = variants(load_space(QUICKSTART, ["num_samples=12", *sets]))
    assert sorted(by_method(four, "lora", lora_rows)) == sorted(by_method(twelve, "lora", lora_rows))
    assert len(set(by_method(four, "lora", lora_rows))) == 6  # 2 ranks x 3 rates, each rate its own draw
    assert set(by_method(four, "ttlora", tt_rows)) <= set(by_method(twelve, "ttlora", tt_rows))  # nested
    # quickstart's range [2e-3, 2e-2] halved: every rate halves (same quantile), every alpha stays
    half = variants(load_space(QUICKSTART, ["num_samples=4", *sets, "search.learning_rate={loguniform: [1.0e-3, 1.0e-2]}"]))
    assert [(a, pytest.approx(lr / 2)) for a, lr in by_method(four, "ttlora", tt_rows)] == \
        by_method(half, "ttlora", tt_rows)
    assert by_method(half, "lora", lora_rows) == by_method(four, "lora", lora_rows)
    other_seed = variants(load_space(QUICKSTART, ["num_samples=4", *sets, "train.seed=1"]))
    assert by_method(other_seed, "lora", lora_rows) != by_method(four, "lora", lora_rows)


def test_max_params_holds_in_a_space_with_baselines() -> None:
    """``search.max_params`` caps TT-LoRA's draws inside their branches (it used to add the capped
    structure at the top level, where each branch's own values overrode it, and leak into LoRA's configs)."""
    from ray.tune.search.variant_generator import generate_variants

    from search.strategies.factory import build_search_alg

    space = load_space(QUICKSTART, ["search.shape=[[8, 6, 8, 8, 6, 8], auto]", "search.cores=4", "search.rank=[4, 5]",
                                    "search.max_params=10000", "num_samples=24", "baselines.lora={}"])
    plan = build_plan(space, str(QUICKSTART))
    allowed = {(str(r.structure["shape"]), r.structure["rank"]) for r in plan.sampled_rows}
    assert allowed == {("[8, 6, 8, 8, 6, 8]", 4), ("[8, 6, 8, 8, 6, 8]", 5), ("auto", 4)}  # auto at rank 5: 12,480
    _, param_space = build_search_alg(space, plan, tune_param_space(space))
    configs = [flat_trial_config(c) for _, c in generate_variants(param_space, random_state=np.random.RandomState(0))]
    tt = [(str(c["shape"]), c["rank"]) for c in configs if c["method"] == "ttlora"]
    assert len(tt) == 24 and set(tt) == allowed  # every allowed structure drawn, none above the cap
    lora = [c for c in configs if c["method"] == "lora"]
    assert len(lora) == 1 and all("shape" not in c and "cores" not in c and c["rank"] == 8 for c in lora)


def test_a_discrete_baseline_runs_each_configuration_once() -> None:
    space = load_space(QUICKSTART, ["num_samples=5", "baselines.lora.rank=[1, 2, 4]",
                                    "baselines.lora.learning_rate=[5.0e-4, 1.0e-3]"])
    lora = [(c["rank"], c["learning_rate"]) for c in variants(space) if c["method"] == "lora"]
    grid = {(r, lr) for r in (1, 2, 4) for lr in (5e-4, 1e-3)}
    assert len(lora) == 5 and set(lora) <= grid  # 6 configurations > 5 draws: 5 random draws
    few = load_space(QUICKSTART, ["num_samples=8", "baselines.lora.rank=[4, 8]"])
    lora = Counter(c["rank"] for c in variants(few) if c["method"] == "lora")
    assert lora == {4: 1, 8: 1}  # 2 configurations <= 8 draws: once each, not 8 repeats of the same seed


def test_ttlora_grids_stay_inside_its_branch() -> None:
    space = load_space(QUICKSTART, ["num_samples=1", "search.shape={grid: [[16, 24, 24, 16], auto]}",
                                    "search.cores={grid: [3, 4]}", "baselines.bitfit={}"])
    configs = variants(space)
    tt = sorted((str(c["shape"]), c["cores"]) for c in configs if c["method"] == "ttlora")
    assert tt == [("[16, 24, 24, 16]", 3), ("auto", 3), ("auto", 4)]  # the explicit shape once
    assert [c["method"] for c in configs].count("bitfit") == 1  # not once per TT-LoRA grid point


def test_plan_counts_per_method() -> None:
    space = load_space(QUICKSTART, ["num_samples=2", "baselines.lora.rank={grid: [4, 8]}", "baselines.vera={}",
                                    "baselines.ia3={}", "baselines.bitfit={}"])
    plan = build_plan(space, str(QUICKSTART))
    by_method = {m.method: m for m in plan.methods}
    assert {m: p.trials for m, p in by_method.items()} == {"ttlora": 2, "lora": 2, "vera": 1, "ia3": 1, "bitfit": 1}
    layers = 6 * 2  # MiniLM: 6 layers x (query, value), 384 x 384
    assert [r.adapter_params for r in by_method["lora"].rows] == [layers * 4 * 768, layers * 8 * 768]
    assert by_method["vera"].rows[0].adapter_params == layers * (256 + 384)  # d (rank) + b (out) per matrix
    assert by_method["ia3"].rows[0].adapter_params == layers * 384
    assert all(r.head_params == 384 * 2 + 2 for m in by_method.values() for r in m.rows)


def test_plan_lora_r8_on_llama2_7b_is_the_papers_4_19m() -> None:
    space = load_space(REPO / "spaces" / "llama2_boolq.yaml", ["baselines.lora.rank=[8, 16]"])
    lora = next(m for m in build_plan(space, "llama2_boolq.yaml").methods if m.method == "lora")
    assert [r.adapter_params for r in lora.rows] == [4_194_304, 8_388_608]  # 32 layers x (q, v) x r (4096 + 4096)


def test_plan_text_lists_methods(capsys: pytest.CaptureFixture) -> None:
    from ttsearch.main import main

    main(["plan", str(QUICKSTART), "--set", "baselines.lora.rank=[4, 8]"])
    out = capsys.readouterr().out
    assert "LoRA: 2 trials" in out and "36,864 params" in out and "73,728 params" in out


def test_a_baseline_only_space_draws_its_own_trials() -> None:
    space = load_space(QUICKSTART, ["ttlora.enabled=false", "num_samples=3",
                                    "baselines.lora.learning_rate={loguniform: [1.0e-4, 1.0e-3]}"])
    configs = variants(space)
    assert [c["method"] for c in configs] == ["lora"] * 3 and len({c["learning_rate"] for c in configs}) == 3
    fixed = load_space(QUICKSTART, ["ttlora.enabled=false", "num_samples=3", "baselines.lora.rank=[4, 8]"])
    assert sorted(c["rank"] for c in variants(fixed)) == [4, 8]  # each configuration once
    plan = build_plan(fixed, str(QUICKSTART))
    assert [(m.method, m.trials) for m in plan.methods] == [("lora", 2)] and plan.rows == []


def test_enabled_false_drops_an_inherited_baseline() -> None:
    paper = REPO / "spaces" / "roberta_mrpc_paper.yaml"
    assert load_space(paper).methods() == ["ttlora", "lora"]  # LoRA r=8 from models/roberta-base.yaml
    space = load_space(paper, ["baselines.lora.enabled=false"])
    assert space.methods() == ["ttlora"] and "baselines" not in dump_space_yaml(space)
    assert tune_num_samples(space) == 1 and "method" in tune_param_space(space)
