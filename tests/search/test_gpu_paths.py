"""The paths of a GPU trial: bf16-mixed autocast with float32 masters, TF32, a trial with a GPU share.

Marked ``gpu``: tests/conftest.py skips them where torch sees no CUDA device (CI's CPUs), so they run
on a GPU machine, where ``benchmarks/gpu_check.sh`` runs them. The two bf16-mixed tests also run on the
CPU where it has native bf16 (AMX / AVX512-BF16: this project's CI machines), unmarked, since a
``bf16-mixed`` trial autocasts there too (search/trial/training.py). Real parts throughout: the offline
MiniLM with TT-LoRA on query+value, real SST-2 rows, the trainable's own ``search/trial/training.py`` recipe
and ``pick_device``; the end-to-end test runs the real CLI with an embedded Ray.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from search.space.schema import TrainSection, load_space
from search.tasks import EncodedSplits, encode_splits, load_splits, prepare_tokenizer
from search.trial.model_cache import TrialModelSpec, load_base_model, with_newly_initialised
from search.trial.training import (autocast, autocast_dtype, build_optimizer, compute_dtype, cpu_has_native_bf16,
                                   evaluate, steps_per_epoch, train_one_epoch)
from tests.search.helpers import REPO_ROOT, SMALL_QUICKSTART, results, run_cli, trial_dirs
from ttlora_core import TTLoRAConfig, TTLoRALinear, apply_ttlora, ttlora_layers
from vocab.experiment_folder import MetricKey

QUICKSTART = REPO_ROOT / "spaces" / "quickstart.yaml"
CUDA = torch.device("cuda")
# the devices of the bf16-mixed tests: CUDA (marked gpu) and a CPU with native bf16
BF16_DEVICES = [pytest.param(CUDA, marks=pytest.mark.gpu, id="cuda"),
                pytest.param(torch.device("cpu"), id="cpu",
                             marks=pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16"))]
TTLORA = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=4)
BF16_TRAIN = TrainSection(max_epochs=1, batch_size=32, eval_batch_size=64, max_length=32, learning_rate=5e-3,
                          precision="bf16-mixed")


@pytest.fixture(scope="module")
def sst2(shared_data_dir: Path, minilm_path: str) -> EncodedSplits:
    """128 training and 64 validation rows of SST-2, tokenised for MiniLM (4 training steps of 32)."""
    from transformers import AutoTokenizer

    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(minilm_path))
    splits = load_splits("sst2", shared_data_dir, limit_train=128, limit_val=64, seed=0)
    return encode_splits(splits, tokenizer, BF16_TRAIN.max_length)


def ttlora_minilm(minilm_path: str, device: torch.device) -> nn.Module:
    """The float32 MiniLM on ``device``, loaded the trainable's way, with TT-LoRA [8,6,8,8,6,8] rank 4 on query+value."""
    model = load_base_model(TrialModelSpec(minilm_path, 2, "float32", 0, device.type))
    return apply_ttlora(model, with_newly_initialised(model, TTLORA))


def _record_linear_output_dtypes(model: nn.Module) -> tuple[list[torch.dtype], list]:
    """Forward hooks on every linear layer (plain and TT-LoRA) that record their output dtype."""
    dtypes: list[torch.dtype] = []
    handles = [module.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
               for module in model.modules() if isinstance(module, (nn.Linear, TTLoRALinear))]
    return dtypes, handles


def test_bf16_mixed_autocasts_only_where_bf16_is_native() -> None:
    """The rule a trial follows: bf16-mixed autocasts to bf16 on CUDA, and on the CPU exactly when the
    CPU has bf16 in hardware (Linux x86: ``avx512_bf16`` or ``amx_bf16`` among /proc/cpuinfo's flags;
    plain AVX512 emulates it); fp32 never autocasts."""
    import platform

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype(cuda, "bf16-mixed") == torch.bfloat16
    assert autocast_dtype(cuda, "fp32") is None and autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16-mixed") == (torch.bfloat16 if cpu_has_native_bf16() else None)
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() == "x86_64" and cpuinfo.exists():
        flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        native = {"avx512_bf16", "amx_bf16"} & flags
        assert cpu_has_native_bf16() == bool(native), f"bf16 flags {sorted(native)}, avx512f: {'avx512f' in flags}"


def _first_batch(sst2: EncodedSplits, device: torch.device) -> dict[str, torch.Tensor]:
    batch = next(iter(sst2["train"].batches(BF16_TRAIN.batch_size)))
    return {k: v.to(device) for k, v in batch.items()}


@pytest.mark.parametrize("device", BF16_DEVICES)
def test_bf16_autocast_runs_linears_in_bf16_and_keeps_fp32_masters(minilm_path: str, sst2: EncodedSplits,
                                                                   device: torch.device) -> None:
    """Under ``autocast(device, "bf16-mixed")`` every linear layer (TT-LoRA's included) computes in bf16,
    while the TT cores and every trainable parameter, and their gradients, stay float32."""
    model, batch = ttlora_minilm(minilm_path, device), _first_batch(sst2, device)
    assert compute_dtype(model, BF16_TRAIN, device) == "bfloat16"  # what the trial reports
    assert compute_dtype(model, BF16_TRAIN.model_copy(update={"precision": "fp32"}), device) == "float32"
    assert len(ttlora_layers(model)) == 12  # query + value in 6 layers
    dtypes, handles = _record_linear_output_dtypes(model)
    try:
        with autocast(device, "bf16-mixed"):
            loss = model(**batch).loss
        assert dtypes and set(dtypes) == {torch.bfloat16}, f"linear output dtypes under bf16-mixed: {set(dtypes)}"
        loss.backward()
        dtypes.clear()
        with autocast(device, "fp32"):  # the other precision: no autocast, float32 activations
            model(**batch)
        assert set(dtypes) == {torch.float32}
    finally:
        for handle in handles:
            handle.remove()
    cores = [core for layer in ttlora_layers(model).values() for core in layer.cores]
    assert cores and all(core.dtype == torch.float32 for core in cores)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {p.dtype for p in trainable} == {torch.float32}
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in trainable)


@pytest.mark.parametrize("device", BF16_DEVICES)
def test_bf16_mixed_epoch_updates_fp32_masters(minilm_path: str, sst2: EncodedSplits, device: torch.device) -> None:
    """``train_one_epoch`` with ``train.precision: bf16-mixed``: the loss is finite, every TT core and
    trainable parameter moves and stays float32 (a bf16 master would round small updates to nothing),
    the optimizer state is float32, and ``evaluate`` under the same autocast scores the model."""
    model = ttlora_minilm(minilm_path, device)
    optimizer, scheduler = build_optimizer(model, BF16_TRAIN, steps_per_epoch(sst2["train"], BF16_TRAIN.batch_size))
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    trained = train_one_epoch(model, optimizer, scheduler, sst2["train"], BF16_TRAIN, device, epoch=1)
    assert torch.isfinite(torch.tensor(trained.train_loss)) and trained.tokens > 0 and trained.train_seconds > 0
    after = dict(model.named_parameters())
    unchanged = [name for name, value in before.items() if torch.equal(after[name].detach(), value)]
    assert not unchanged, f"parameters a bf16-mixed epoch did not move: {unchanged}"
    assert any(".cores." in name for name in before)
    assert {after[name].dtype for name in before} == {torch.float32}
    state_dtypes = {t.dtype for s in optimizer.state.values() for k, t in s.items() if k in ("exp_avg", "exp_avg_sq")}
    assert state_dtypes == {torch.float32}
    val = evaluate(model, sst2["validation"], BF16_TRAIN, device, "sst2")
    assert torch.isfinite(torch.tensor(val.loss)) and 0.0 <= val.score <= 1.0


@pytest.mark.gpu
def test_gpu_share_picks_cuda_and_enables_tf32() -> None:
    """A space with ``resources.gpu: 0.25`` (set the CLI's ``--set`` way) makes ``pick_device`` return
    CUDA and switch TF32 matmuls on; ``resources.gpu: 0`` stays on the CPU."""
    from search.trial.trainable import pick_device

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        device = pick_device(load_space(QUICKSTART, ["resources.gpu=0.25", "num_samples=4"]))
        assert device.type == "cuda"
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert (torch.ones(4, 4, device=device) @ torch.ones(4, 4, device=device)).sum().item() == 64.0
        assert pick_device(load_space(QUICKSTART, ["resources.gpu=0"])).type == "cpu"
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.gpu
@pytest.mark.slow
def test_one_trial_search_on_a_gpu_share(tmp_path: Path, shared_data_dir: Path) -> None:
    """The real CLI, an embedded Ray, one trial holding 0.25 GPU in bf16-mixed: it finishes on CUDA
    (the trainable reports GPU seconds only for a CUDA trial) and reports its tokens/s."""
    proc = run_cli(["run", str(QUICKSTART), "--storage", str(tmp_path), "--data-dir", str(shared_data_dir),
                    *SMALL_QUICKSTART, "--set", "num_samples=1", "--set", "train.max_epochs=1",
                    "--set", "scheduler.type=none", "--set", "scheduler.max_t=1", "--set", "resources.gpu=0.25",
                    "--set", "train.precision=bf16-mixed", "--no-live"], timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"
    assert "1 trials: 1 finished, 0 failed." in proc.stdout
    (trial,) = trial_dirs(tmp_path / "quickstart")
    final = results(trial)[-1]
    assert final[MetricKey.GPU_SECONDS.value] > 0
    assert final[MetricKey.TOKENS_PER_SECOND.value] > 0
    assert final[MetricKey.COMPUTE_DTYPE.value] == "bfloat16"
