"""Task registry and data loading on the real GLUE/SuperGLUE files in ../shared/data (no hub)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from search.tasks import TASKS, get_task, load_splits, resolve_data_dir
from search.tasks.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from vocab.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = (REPO_ROOT / ".." / "shared" / "data").resolve()
BOOLQ_SPLITS = {"train_split": "val[:80%]", "val_split": "val[80%:]"}


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (DATA_DIR / "glue").is_dir():
        pytest.fail(f"benchmark data not found at {DATA_DIR}: ../shared must sit beside the repo")
    return DATA_DIR


def test_registry_has_the_paper_tasks_with_consistent_metrics() -> None:
    assert set(TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte",
                          "boolq", "cb", "copa", "wsc", "superglue_rte"}
    paper_metric = {"mnli": "accuracy", "cola": "matthews_corrcoef", "stsb": "spearmanr", "mrpc": "f1",
                    "qqp": "f1", "cb": "f1_macro", "wsc": "f1"}
    for name, task in TASKS.items():
        assert task.name == name
        assert task.score_name == paper_metric.get(name, "accuracy")
        assert task.metric_names[0] == task.score_name
        known = REGRESSION_METRICS if task.is_regression else CLASSIFICATION_METRICS
        assert set(task.metric_names) <= set(known)
        assert task.is_regression == (name == "stsb")
        assert len(task.label_names) == (0 if task.is_regression else task.num_labels)
        assert task.train_split in task.split_names and task.val_split in task.split_names
        assert task.formulation
        if not task.is_regression:
            assert "accuracy" in task.metric_names
    assert TASKS["mnli"].val_split == "validation_matched"
    assert TASKS["stsb"].problem_type == "regression"


@pytest.mark.parametrize("spelling, name", [
    ("SST-2", "sst2"), ("sst-2", "sst2"), ("STS-B", "stsb"), ("glue/rte", "rte"), ("RTE", "rte"),
    ("superglue/rte", "superglue_rte"), ("SuperGLUE_RTE", "superglue_rte"), ("super_glue/boolq", "boolq"),
    ("BoolQ", "boolq"), ("wsc.fixed", "wsc"), ("nyu-mll/glue/mrpc", "mrpc"), (" CoLA ", "cola"),
])
def test_get_task_accepts_aliases(spelling: str, name: str) -> None:
    assert get_task(spelling).name == name


@pytest.mark.parametrize("bad", ["sst3", "", "glue/boolq", "wnli"])
def test_unknown_task_is_a_usage_error_listing_known_tasks(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        get_task(bad)
    assert repr(bad) in str(info.value) and "superglue_rte" in str(info.value)


# (task, split kwargs, train rows, val rows, train label counts or None, val label counts or None)
# Counts from ../shared/data/README.md (official split sizes and published label counts).
EXPECTED = [
    ("cola", {}, 8551, 1043, {1: 6023, 0: 2528}, None),
    ("sst2", {}, 67349, 872, {1: 37569, 0: 29780}, None),
    ("mrpc", {}, 3668, 408, {1: 2474, 0: 1194}, None),
    ("stsb", {}, 5749, 1500, None, None),
    ("rte", {}, 2490, 277, None, None),
    ("superglue_rte", {}, 2490, 277, None, None),
    ("cb", {}, 250, 56, None, {1: 28, 0: 23, 2: 5}),  # contradiction 28, entailment 23, neutral 5
    ("copa", {}, 400, 100, None, None),
    ("wsc", {}, 554, 104, None, None),
    ("boolq", BOOLQ_SPLITS, 2616, 654, None, None),
]


@pytest.mark.parametrize("name, kwargs, n_train, n_val, train_counts, val_counts", EXPECTED)
def test_local_tasks_load_with_official_sizes(data_dir: Path, name: str, kwargs: dict, n_train: int,
                                              n_val: int, train_counts: dict | None, val_counts: dict | None) -> None:
    splits = load_splits(get_task(name), data_dir, **kwargs)
    assert (len(splits["train"]), len(splits["validation"])) == (n_train, n_val)
    if train_counts:
        assert Counter(ex.label for ex in splits["train"]) == train_counts
    if val_counts:
        assert Counter(ex.label for ex in splits["validation"]) == val_counts
    task = get_task(name)
    for example in splits["train"][:50] + splits["validation"][:50]:
        assert isinstance(example.text_a, str) and example.text_a
        if task.is_regression:
            assert isinstance(example.label, float) and 0.0 <= example.label <= 5.0
        else:
            assert example.label in range(task.num_labels)


def test_boolq_val_has_the_published_label_counts(data_dir: Path) -> None:
    splits = load_splits("boolq", data_dir, train_split="val[:50%]", val_split="val[50%:]")
    labels = Counter(ex.label for part in splits.values() for ex in part)
    assert labels == {1: 2033, 0: 1237}


def test_file_quirks_are_read_correctly(data_dir: Path) -> None:
    rte = load_splits("rte", data_dir)["train"]
    assert rte[2164].text_a.startswith(' "That film')  # unquoted TSV: the quote is text
    mrpc = load_splits("mrpc", data_dir)["train"]  # BOM before the header
    assert mrpc[0].text_a.startswith("Amrozi accused his brother") and mrpc[0].label == 1
    cola_dev = load_splits("cola", data_dir)["validation"]  # no header, no final newline
    last_line = (data_dir / "glue/CoLA/dev.tsv").read_text(encoding="utf-8").split("\n")[-1]
    assert cola_dev[-1].text_a == last_line.split("\t")[3] and cola_dev[-1].label == int(last_line.split("\t")[1])
    stsb = load_splits("stsb", data_dir)["train"]
    assert stsb[0].label == 5.0 and stsb[1].label == 3.8


def test_formulations_on_real_rows(data_dir: Path) -> None:
    copa = load_splits("copa", data_dir)
    assert copa["train"][0].text_a == "My body cast a shadow over the grass. What was the cause?"
    assert copa["train"][0].text_b == "1: The sun was rising. 2: The grass was cut."
    assert copa["validation"][0].text_a.endswith(" What happened as a result?") and copa["validation"][0].label == 1
    wsc = load_splits("wsc", data_dir)["train"][0]
    assert wsc.text_b == 'Does "He" refer to "Mark"?' and wsc.label == 0
    cb = load_splits("cb", data_dir)["validation"][0]
    assert cb.text_b == "Valence was helping" and cb.label == 1  # contradiction -> 1
    boolq = load_splits("boolq", data_dir, **BOOLQ_SPLITS)["train"][0]
    assert boolq.text_a == "does ethanol take more energy make that produces"
    assert boolq.text_b.startswith("Ethanol fuel -- ") and boolq.label == 0
    rte = load_splits("superglue_rte", data_dir)["train"][0]
    assert rte.text_b == "Weapons of Mass Destruction Found in Iraq." and rte.label == 1  # not_entailment


def test_split_expressions_slice_like_hugging_face_datasets(data_dir: Path) -> None:
    from datasets import ReadInstruction  # the reference semantics

    for spec in ["val[:80%]", "val[80%:]", "val[:33%]", "val[-10%:]", "val[10:20]", "val[-5:]", "val[:7]+val[-3:]"]:
        splits = load_splits("cb", data_dir, train_split="train", val_split=spec)
        full = load_splits("cb", data_dir)["validation"]
        reference = ReadInstruction.from_spec(spec).to_absolute({"val": len(full)})
        expected = [full[i] for part in reference for i in range(part.from_, part.to)]
        assert splits["validation"] == expected, spec
    aliases = [load_splits("mrpc", data_dir, val_split=name)["validation"] for name in ("validation", "dev", "val")]
    assert aliases[0] == aliases[1] == aliases[2]


def test_limits_are_deterministic_and_stratified(data_dir: Path) -> None:
    first = load_splits("sst2", data_dir, limit_train=100, limit_val=40, seed=3)
    again = load_splits("sst2", data_dir, limit_train=100, limit_val=40, seed=3)
    other = load_splits("sst2", data_dir, limit_train=100, limit_val=40, seed=4)
    assert first == again and first["train"] != other["train"]
    # 37569/67349 positive = 55.78 of 100 -> 56 (largest remainder), 44 negative
    assert Counter(ex.label for ex in first["train"]) == {1: 56, 0: 44}
    cb = load_splits("cb", data_dir, limit_train=20)["train"]  # 115/119/16 of 250 -> 9.2/9.52/1.28
    assert Counter(ex.label for ex in cb) == {0: 9, 1: 10, 2: 1}
    full_copa = load_splits("copa", data_dir)
    assert load_splits("copa", data_dir, limit_train=10_000) == full_copa
    stsb = load_splits("stsb", data_dir, limit_train=30, seed=1)["train"]
    assert len(stsb) == 30 and stsb == load_splits("stsb", data_dir, limit_train=30, seed=1)["train"]


@pytest.mark.parametrize("expression, fragment", [
    ("val[:80", "val[:80"), ("val[a:b]", "val[a:b]"), ("val[10%:20]", "mixes percent"),
    ("val[:150%]", "-100..100"), ("nosuch[:10]", "nosuch"), ("train[:5000]", "out of range"),
    ("val[50%:50%]", "selects no rows"), ("", "empty split expression"),
])
def test_bad_split_expressions_name_the_problem(data_dir: Path, expression: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        load_splits("cb", data_dir, train_split="train", val_split=expression or " ")
    assert fragment in str(info.value)


def test_test_splits_and_overlaps_are_refused(data_dir: Path) -> None:
    with pytest.raises(UsageError, match="'test'.*no labels"):
        load_splits("cb", data_dir, val_split="test")
    with pytest.raises(UsageError, match="share 5 rows"):
        load_splits("boolq", data_dir, train_split="val[:100]", val_split="val[95:200]")


def test_held_out_arrangement_validation_from_train_and_dev_as_test(data_dir: Path) -> None:
    """val_from_train: a stratified, seeded 10% of train decides; the official dev set is the test split."""
    splits = load_splits("mrpc", data_dir, val_from_train=0.1, test_split="validation", seed=0)
    full = load_splits("mrpc", data_dir)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (3301, 367, 408)
    assert splits["test"] == full["validation"]
    key = lambda ex: (ex.text_a, ex.text_b, ex.label)  # noqa: E731
    # train and validation partition the official train rows (a multiset: MRPC repeats a few pairs)
    assert Counter(map(key, splits["train"])) + Counter(map(key, splits["validation"])) == Counter(map(key, full["train"]))
    positives = Counter(ex.label for ex in full["train"])[1] / len(full["train"])
    assert abs(Counter(ex.label for ex in splits["validation"])[1] / 367 - positives) < 0.01  # stratified
    assert load_splits("mrpc", data_dir, val_from_train=0.1, seed=1)["validation"] != splits["validation"]
    with pytest.raises(UsageError, match="share"):
        load_splits("mrpc", data_dir, test_split="train[:10]")
    with pytest.raises(UsageError, match="val_split and val_from_train"):
        load_splits("mrpc", data_dir, val_split="validation", val_from_train=0.1)


def test_missing_data_gives_the_expected_path_and_layout(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_splits("sst2", tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and "glue/SST-2/train.tsv" in str(info.value)
    with pytest.raises(UsageError) as info:
        load_splits("boolq", data_dir)  # default train split: BoolQ has val only here
    message = str(info.value)
    assert "superglue/BoolQ/train.jsonl" in message and "val.jsonl" in message and "val[:80%]" in message
    with pytest.raises(UsageError, match="must be a positive integer"):
        load_splits("cb", data_dir, limit_train=0)


def test_data_dir_may_point_at_the_benchmark_or_task_folder(data_dir: Path) -> None:
    from_root = load_splits("superglue_rte", data_dir, limit_train=10, limit_val=5)
    assert load_splits("superglue_rte", data_dir / "superglue", limit_train=10, limit_val=5) == from_root
    assert load_splits("superglue_rte", data_dir / "superglue" / "RTE", limit_train=10, limit_val=5) == from_root
    with pytest.raises(UsageError, match="val.jsonl"):  # GLUE's RTE folder holds tsv files
        load_splits("superglue_rte", data_dir / "glue")


def test_malformed_local_files_name_file_and_line(tmp_path: Path) -> None:
    cb_dir = tmp_path / "superglue" / "CB"
    cb_dir.mkdir(parents=True)
    good = '{"premise": "p", "hypothesis": "h", "label": "neutral", "idx": 0}\n'
    (cb_dir / "train.jsonl").write_text(good + '{"premise": "p", "hypothesis": "h", "label": "maybe", "idx": 1}\n')
    (cb_dir / "val.jsonl").write_text(good)
    with pytest.raises(UsageError) as info:
        load_splits("cb", tmp_path)
    assert "train.jsonl:2" in str(info.value) and "'maybe'" in str(info.value) and "neutral" in str(info.value)
    sst_dir = tmp_path / "glue" / "SST-2"
    sst_dir.mkdir(parents=True)
    (sst_dir / "train.tsv").write_text("sentence\tlabel\nfine\t1\nbroken\t0\textra\n")
    (sst_dir / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    with pytest.raises(UsageError, match=r"train.tsv:3: 3 tab-separated fields, expected 2"):
        load_splits("sst2", tmp_path)


def test_resolve_data_dir_precedence() -> None:
    env = {"TTSEARCH_DATA_DIR": "/from/env"}
    assert resolve_data_dir("/cli", "/space", env) == Path("/cli")
    assert resolve_data_dir(None, "/space", env) == Path("/space")
    assert resolve_data_dir("", None, env) == Path("/from/env")
    assert resolve_data_dir(None, None, {}) is None


def test_hub_path_fails_fast_and_clearly_when_offline() -> None:
    code = (
        "from search.tasks import load_splits\n"
        "from vocab.errors import UsageError\n"
        "try:\n    load_splits('sst2', None)\n"
        "except UsageError as exc:\n    print('USAGE', exc)\n"
    )
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("USAGE"), result.stdout + result.stderr
    assert "nyu-mll/glue" in result.stdout and "--data-dir" in result.stdout and "TTSEARCH_DATA_DIR" in result.stdout
    assert elapsed < 45  # offline: an error, not minutes of hub retries (imports alone take seconds on a busy CI)


def test_uncollected_glue_tasks_read_the_official_headers(tmp_path: Path) -> None:
    """MNLI, QNLI and QQP are not in ../shared/data: check their readers on rows in the official columns."""
    mnli_header = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                   "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n")
    files = {
        "glue/MNLI/train.tsv": mnli_header + "0\t1\t1e\tgov\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tA man.\tA person.\t"
                                             "entailment\tentailment\n",
        "glue/MNLI/dev_matched.tsv": mnli_header + "0\t2\t2c\tgov\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tIt rains.\t"
                                                   "It is dry.\tcontradiction\tcontradiction\n",
        "glue/QNLI/train.tsv": "index\tquestion\tsentence\tlabel\n0\tWho?\tHe did.\tnot_entailment\n",
        "glue/QNLI/dev.tsv": "index\tquestion\tsentence\tlabel\n0\tWhen?\tToday.\tentailment\n",
        "glue/QQP/train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\tHow?\tHow so?\t1\n",
        "glue/QQP/dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t3\t4\tWhy?\tWhere?\t0\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    mnli = load_splits("mnli", tmp_path)  # "validation" means validation_matched -> dev_matched.tsv
    assert (mnli["train"][0].text_a, mnli["train"][0].text_b, mnli["train"][0].label) == ("A man.", "A person.", 0)
    assert mnli["validation"][0].label == 2  # contradiction
    qnli = load_splits("qnli", tmp_path)
    assert (qnli["train"][0].text_a, qnli["train"][0].label, qnli["validation"][0].label) == ("Who?", 1, 0)
    qqp = load_splits("qqp", tmp_path)
    assert (qqp["train"][0].text_b, qqp["train"][0].label, qqp["validation"][0].label) == ("How so?", 1, 0)
    with pytest.raises(UsageError, match="dev_mismatched.tsv"):
        load_splits("mnli", tmp_path, val_split="validation_mismatched")
