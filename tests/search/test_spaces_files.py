"""The shipped search spaces (spaces/*.yaml, spaces/models/*.yaml): they load, plan against the
real module sizes of their models, and hold the paper's configurations with the worked numbers of
docs/ARCHITECTURE.md, "Worked parameter counts".

No Ray, no weights: ``build_plan`` builds meta-device models from the offline config presets
(conftest sets HF_HUB_OFFLINE=1), so even the LLaMA-7B/8B plans take about a second.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from search.plan.plan_types import Plan, PlanRow
from search.plan.space_plan import build_plan
from search.space.schema import SearchSpace, load_space, read_yaml_mapping
from search.tasks.loading import load_splits
from tests.paper_tables import markdown_table, read_paper_tables
from vocab.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
SPACES = REPO_ROOT / "spaces"
MODEL_FILES = sorted((SPACES / "models").glob("*.yaml"))
TOP_FILES = sorted(SPACES.glob("*.yaml"))
PAPER_FILES = [path for path in TOP_FILES if path.stem.endswith("_paper")]  # Table IV pinned
TASK_FILES = [path for path in TOP_FILES if not path.stem.startswith("quickstart") and path not in PAPER_FILES]
ALL_FILES = TOP_FILES + MODEL_FILES

GLUE_TASKS = ("mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb")
SUPERGLUE_TASKS = ("cb", "boolq", "wsc", "copa")
PAPER_MATRIX = {f"{model}_{task}" for model in ("roberta", "deberta") for task in GLUE_TASKS} | {
    f"{model}_{task}" for model in ("llama2", "llama3") for task in SUPERGLUE_TASKS
}

# Table III / IV column or row -> model file (the shared tables name the models so).
TABLE_III_COLUMNS = {"DeBERTa-base": ("deberta-base.yaml",), "RoBERTa-base": ("roberta-base.yaml",),
                     "LLaMA2-7B / LLaMA3-8B": ("llama2-7b.yaml", "llama3-8b.yaml")}
TABLE_IV_ROWS = {"DeBERTa-base": "deberta_mrpc_paper", "RoBERTa-base": "roberta_mrpc_paper",
                 "LLaMA2-7B": "llama2_boolq_paper", "LLaMA3-8B": "llama3_boolq_paper"}
# The departures the model files' headers document: the damaged RoBERTa shape (product 294,912)
# repaired with eight 2s, and the LLaMA cell's sixth shape taken from the research code.
SHAPE_REPAIRS = {(8, 6, 2, 2, 2, 2, 2, 2, 2, 6, 8): [8, 6, 2, 2, 2, 2, 2, 2, 2, 2, 6, 8]}
SHAPES_ADDED = {"llama2-7b.yaml": [[16, 16, 16, 4, 4, 16, 16]], "llama3-8b.yaml": [[16, 16, 16, 4, 4, 16, 16]]}

# Task-file prefix -> (model file, hub id, targets, dtype).
MODEL_OF_PREFIX: dict[str, tuple[str, str, list[str], str]] = {
    "roberta": ("models/roberta-base.yaml", "FacebookAI/roberta-base", ["query", "value"], "float32"),
    "deberta": ("models/deberta-base.yaml", "microsoft/deberta-base", ["in_proj"], "float32"),
    "llama2": ("models/llama2-7b.yaml", "meta-llama/Llama-2-7b-hf", ["q_proj", "v_proj"], "bfloat16"),
    "llama3": ("models/llama3-8b.yaml", "meta-llama/Meta-Llama-3-8B", ["q_proj", "v_proj"], "bfloat16"),
}

LLAMA3_PAPER_SHAPES = {
    "q_proj": [16, 4, 4, 4, 2, 2, 2, 2, 4, 4, 4, 16],  # the paper's shape (docs/ARCHITECTURE.md, worked counts)
    "v_proj": [16, 4, 2, 2, 2, 2, 2, 2, 4, 4, 4, 16],  # its 1024x4096 partner (spaces/models/llama3-8b.yaml)
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def tt_params_by_formula(shape: list[int], rank: int) -> int:
    """sum_i r_{i-1} * k_i * r_i with r_0 = r_d = 1 and rank r inside (docs/ARCHITECTURE.md, worked counts)."""
    ranks = [1] + [rank] * (len(shape) - 1) + [1]
    return sum(ranks[i] * k * ranks[i + 1] for i, k in enumerate(shape))


def plan_of(path: Path, overrides: list[str] | None = None) -> Plan:
    return build_plan(load_space(path, overrides), str(path))


def find_row(plan: Plan, shape: Any, rank: int) -> PlanRow:
    rows = [row for row in plan.rows if row.shape == shape and row.rank == rank]
    assert len(rows) == 1, f"{plan.space_name}: expected one plan row for shape {shape} at rank {rank}, got {rows}"
    return rows[0]


def split_point(shape: list[int], out_features: int) -> int | None:
    """The index s with prod(shape[:s]) == out_features (None when there is none)."""
    for index in range(1, len(shape)):
        if math.prod(shape[:index]) == out_features:
            return index
    return None


def test_the_paper_matrix_of_task_files_exists() -> None:
    assert {path.stem for path in TASK_FILES} == PAPER_MATRIX
    assert {path.stem for path in PAPER_FILES} == set(TABLE_IV_ROWS.values())
    assert (SPACES / "llama2_boolq.yaml").is_file()
    assert {path.stem for path in MODEL_FILES} == {"roberta-base", "deberta-base", "llama2-7b", "llama3-8b"}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(SPACES)))
def test_every_file_loads_and_is_named_after_itself(path: Path) -> None:
    space = load_space(path)
    assert isinstance(space, SearchSpace)
    assert space.name == path.stem  # the experiment folder name matches the file the user ran


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: p.stem)
def test_task_file_extends_its_model_and_keeps_the_paper_protocol(path: Path) -> None:
    prefix, task = path.stem.split("_", 1)
    model_file, hub_id, targets, dtype = MODEL_OF_PREFIX[prefix]
    assert read_yaml_mapping(path)["extends"] == model_file
    space = load_space(path)
    assert space.task == task
    assert space.model.name_or_path == hub_id and space.model.dtype == dtype
    assert space.ttlora.targets == targets
    assert (space.train.max_epochs, space.train.patience) == (20, 5)
    assert (space.scheduler.type, space.max_t, space.scheduler.reduction_factor) == ("hyperband", 20, 3.0)
    assert space.scheduler.metric == "val_loss"
    # Fractional GPUs share a device, not its memory: every file states a share it was sized for.
    assert 0 < space.resources.gpu <= 1


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(SPACES)))
def test_every_file_plans_and_its_counts_follow_the_formula(path: Path) -> None:
    """Every shape fits every target of the real (meta-device) model, and each configuration's TT
    parameter count equals the closed form summed over the target matrices."""
    plan = plan_of(path)
    assert plan.rows, f"{path}: no structural configuration"
    for row in plan.rows:
        expected = 0
        for module_name, (out_features, in_features) in plan.target_dims.items():
            shape = row.per_target_shapes[module_name.rsplit(".", 1)[-1]]
            assert math.prod(shape) == out_features * in_features, (module_name, shape)
            expected += tt_params_by_formula(shape, row.rank)
        assert row.tt_params == expected, (row.shape, row.rank)


@pytest.mark.parametrize(
    ("file_name", "overrides", "expected"),
    [
        # docs/ARCHITECTURE.md, worked counts: 1,760 x 64 q_proj/v_proj matrices of LLaMA-2-7B
        ("llama2_boolq.yaml", ["search.shape=[16,16,16,16,16,16]", "search.rank=5"], 112_640),
        # 912 x 24 query/value matrices of RoBERTa-base
        ("roberta_mrpc.yaml", ["search.shape=[64,16,9,64]", "search.rank=4"], 21_888),
        # 1,840 x 12 fused in_proj matrices of DeBERTa-base
        ("deberta_mrpc.yaml", ["search.shape=[64,36,12,64]", "search.rank=5"], 22_080),
        # 32 x (3,520 q_proj + 3,120 v_proj) for LLaMA-3-8B (v_proj is 1024 x 4096)
        ("llama3_cb.yaml", ["search.shape={q_proj: [16,4,4,4,2,2,2,2,4,4,4,16], v_proj: [16,4,2,2,2,2,2,2,4,4,4,16]}",
                            "search.rank=10"], 212_480),
    ],
)
def test_worked_numbers_with_the_shape_and_rank_pinned(file_name: str, overrides: list[str], expected: int) -> None:
    plan = plan_of(SPACES / file_name, overrides)
    assert [row.tt_params for row in plan.rows] == [expected]


@pytest.mark.parametrize(
    ("model_file", "shape", "rank", "expected"),
    [
        ("roberta-base.yaml", [64, 16, 9, 64], 4, 21_888),
        ("deberta-base.yaml", [64, 36, 12, 64], 5, 22_080),
        ("deberta-base.yaml", [12, 8, 8, 3, 8, 8, 12], 5, 995 * 12),  # the paper's worked example: 995 each
        ("llama2-7b.yaml", [16, 16, 16, 16, 16, 16], 5, 112_640),
        ("llama3-8b.yaml", LLAMA3_PAPER_SHAPES, 10, 32 * (3_520 + 3_120)),
    ],
)
def test_each_model_file_searches_the_papers_configuration(model_file: str, shape: Any, rank: int,
                                                           expected: int) -> None:
    """Without any override, the paper's (shape, rank) is one of the configurations searched."""
    row = find_row(plan_of(SPACES / "models" / model_file), shape, rank)
    assert row.tt_params == expected


def test_llama3_gives_v_proj_a_gqa_partner_for_every_q_proj_shape() -> None:
    """LLaMA-3-8B's v_proj is 1024 x 4096; each q_proj shape gets a partner with the same core count
    and the same input-side cores after a split point (the rule spaces/models/llama3-8b.yaml states)."""
    plan = plan_of(SPACES / "models" / "llama3-8b.yaml")
    dims = {name.rsplit(".", 1)[-1]: tuple(d) for name, d in plan.target_dims.items()}
    assert dims == {"q_proj": (4096, 4096), "v_proj": (1024, 4096)}
    candidates = load_space(SPACES / "models" / "llama3-8b.yaml").search.shape.discrete_values()
    assert LLAMA3_PAPER_SHAPES in candidates
    for candidate in candidates:
        q_shape, v_shape = candidate["q_proj"], candidate["v_proj"]
        q_split, v_split = split_point(q_shape, 4096), split_point(v_shape, 1024)
        assert q_split is not None and v_split is not None, candidate
        assert len(q_shape) == len(v_shape)
        assert q_shape[q_split:] == v_shape[v_split:]
        assert math.prod(v_shape) == 1024 * 4096


def test_boolq_keeps_hub_splits_and_the_documented_local_override_works(shared_data_dir: Path) -> None:
    """The hub has train/validation (the paper's setting); the local copy has val only, and the
    override the file documents splits it 80/20 deterministically."""
    space = load_space(SPACES / "llama2_boolq.yaml")
    assert (space.data.train_split, space.data.val_split) == ("train", "validation")
    with pytest.raises(UsageError, match=re.escape("val[:80%]")):
        load_splits("boolq", shared_data_dir, space.data.train_split, space.data.val_split)
    local = load_space(SPACES / "llama2_boolq.yaml",
                       [f"data.dir={shared_data_dir}", "data.train_split=val[:80%]", "data.val_split=val[80%:]"])
    splits = load_splits("boolq", local.data.dir, local.data.train_split, local.data.val_split)
    assert (len(splits["train"]), len(splits["validation"])) == (2_616, 654)  # of the 3,270 val rows


def test_every_model_file_records_its_sources() -> None:
    for path in MODEL_FILES:
        header = path.read_text().split("\nname:", 1)[0]
        assert "arXiv:2408.01008" in header and "Table III" in header, path  # sources and differences
    for path in TASK_FILES:
        model_file = MODEL_OF_PREFIX[path.stem.split("_", 1)[0]][0]
        assert model_file in path.read_text().split("\nextends:", 1)[0], path


def test_cli_plan_of_llama2_boolq_prints_112640_for_the_papers_shape() -> None:
    """`ttsearch plan spaces/llama2_boolq.yaml`, unpinned: the [16]*6, rank-5 row shows 112,640."""
    ttsearch = Path(sys.executable).with_name("ttsearch")
    assert ttsearch.is_file(), f"console script not installed next to {sys.executable} (pip install -e .)"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    done = subprocess.run([str(ttsearch), "plan", "spaces/llama2_boolq.yaml"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("16x16x16x16x16x16 ")]
    assert [row[:3] for row in rows if row[1] == "5"] == [["16x16x16x16x16x16", "5", "112,640"]]


# --- Table III / IV, parsed from the shared tables (tests/paper_tables.py) ---------------------

@pytest.fixture(scope="module")
def paper_tables(shared_data_dir: Path) -> str:
    return read_paper_tables(shared_data_dir)


def numbers(cell: str) -> list[float]:
    """The numbers of a cell before any parenthesised note: "1, 2, 4 (a note)" -> [1, 2, 4]."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", cell.split("(", 1)[0])]


def table_iii(text: str) -> dict[str, dict[str, list[Any]]]:
    """Model file -> {"shape": [...], "rank": [...], "alpha": [...], "learning_rate": [...]}."""
    header, *rows = markdown_table(text, "## Table III")
    columns = [next(key for key in TABLE_III_COLUMNS if cell.startswith(key)) for cell in header[1:]]
    cells: dict[str, dict[str, list[Any]]] = {column: {} for column in columns}
    row_names = {"tensor shapes": "shape", "TT ranks": "rank", "alpha": "alpha", "learning rate": "learning_rate"}
    for row in rows:
        name = row_names[row[0]]
        for column, cell in zip(columns, row[1:], strict=True):
            if cell == "same":
                cell = row[1]
            if name == "shape":
                cells[column][name] = [[int(k) for k in s.strip("[]").split(",")] for s in re.findall(r"\[[\d, ]+\]", cell)]
            else:
                cells[column][name] = numbers(cell)
    return {file: cells[column] for column in columns for file in TABLE_III_COLUMNS[column]}


def q_shape(candidate: Any) -> list[int]:
    return candidate["q_proj"] if isinstance(candidate, dict) else candidate


@pytest.mark.parametrize("model_file", ["deberta-base.yaml", "roberta-base.yaml", "llama2-7b.yaml", "llama3-8b.yaml"])
def test_each_model_file_searches_table_iii(paper_tables: str, model_file: str) -> None:
    """Ranks, alphas and learning rates are Table III's; the shapes are too, apart from the
    documented repair and addition (LLaMA-3's v_proj partners aside)."""
    table = table_iii(paper_tables)[model_file]
    space = load_space(SPACES / "models" / model_file)
    assert sorted(space.search.rank.values) == sorted(int(r) for r in table["rank"])
    assert sorted(space.search.alpha.values) == sorted(table["alpha"])
    assert sorted(space.search.learning_rate.values) == pytest.approx(sorted(table["learning_rate"]))
    plan = plan_of(SPACES / "models" / model_file)
    dims = {name.rsplit(".", 1)[-1]: d for name, d in plan.target_dims.items()}
    out_features, in_features = dims.get("q_proj", next(iter(dims.values())))  # Table III shapes q_proj, not v_proj
    expected = []
    for shape in table["shape"]:
        if math.prod(shape) != out_features * in_features:
            assert tuple(shape) in SHAPE_REPAIRS, f"{model_file}: Table III's {shape} has the wrong product, unrepaired"
            shape = SHAPE_REPAIRS[tuple(shape)]
        expected.append(shape)
    searched = [q_shape(candidate) for candidate in space.search.shape.values]
    assert sorted(searched) == sorted(expected + SHAPES_ADDED.get(model_file, []))


def test_each_model_file_has_lora_r8_beside_ttlora() -> None:
    """The paper's main baseline runs in every model space, with a recipe's (discrete) rates."""
    for path in MODEL_FILES:
        space = load_space(path)
        assert space.methods() == ["ttlora", "lora"], path
        lora = space.baseline_params("lora")
        assert lora["rank"].values == (8,) and lora["alpha"].kind == lora["dropout"].kind == "fixed", path
        assert lora["learning_rate"].kind == "choice" and all(1e-4 <= lr <= 5e-4 for lr in lora["learning_rate"].values)


@pytest.mark.parametrize("model", list(TABLE_IV_ROWS))
def test_paper_files_pin_table_iv(paper_tables: str, model: str) -> None:
    """Each *_paper.yaml extends its task space and fixes Table IV's row: one configuration per
    alpha Table IV lists, no scheduler, one sample, and one LoRA trial."""
    row = next(r for r in markdown_table(paper_tables, "## Table IV")[1:] if r[0] == model)
    shape, rank, alphas, learning_rate = [int(k) for k in row[1].strip("[]").split(",")], int(row[2]), numbers(row[3]), numbers(row[4])
    path = SPACES / f"{TABLE_IV_ROWS[model]}.yaml"
    assert read_yaml_mapping(path)["extends"] == path.stem.removesuffix("_paper") + ".yaml"
    space = load_space(path)
    assert (space.num_samples, space.scheduler.type) == (1, "none")
    searched = space.searched_params()
    assert searched["shape"].kind == "fixed" and q_shape(searched["shape"].values[0]) == shape
    assert searched["rank"].values == (rank,) and searched["learning_rate"].values == pytest.approx(learning_rate)
    assert sorted(searched["alpha"].values) == sorted(alphas)
    assert searched["alpha"].kind == ("fixed" if len(alphas) == 1 else "grid")
    assert all(spec.kind == "fixed" for name, spec in searched.items() if name not in ("alpha",))
    assert all(spec.kind == "fixed" for spec in space.baseline_params("lora").values())
    assert len(plan_of(path).rows) == 1  # the structural configuration is Table IV's alone
    header = path.read_text().split("\nextends:", 1)[0]
    assert "Table IV" in header and "arXiv:2408.01008" in header
