"""Forward+backward cost of one adapted linear layer: frozen base alone, PEFT LoRA r=8, TT-LoRA paths.

A benchmark, not a test. Variants run interleaved (round-robin, each round in a fresh random
order), and the median over rounds is reported, so a slow spell on a shared machine hits every
variant alike. Prints, per (matrix, tokens) case, milliseconds per step and the ratios to the
base layer alone and to LoRA r=8.

    python benchmarks/bench_layer.py                 # 768x2304 and 768x768 at 1,024 and 16,384 tokens
    python benchmarks/bench_layer.py --tokens 1024 --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ttlora_core import TTLoRALinear
from ttlora_core.tt_math import FusedLowRankLinear


@dataclass
class Case:
    label: str
    out_features: int
    in_features: int
    shapes: dict[str, list[int]]  # variant suffix -> TT shape


CASES = [
    Case("768x2304", 2304, 768, {"split [12,8,8,3,8,8,12]": [12, 8, 8, 3, 8, 8, 12]}),
    Case("768x768", 768, 768, {"split [12,8,8,8,8,12]": [12, 8, 8, 8, 8, 12], "block [64,16,9,64]": [64, 16, 9, 64]}),
]


class _Holder(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.proj = layer


def make_variants(case: Case, rank: int, dtype: torch.dtype) -> dict[str, nn.Module | Callable[[Tensor], Tensor]]:
    """Name -> module (or function of x) computing the layer output."""
    from peft import LoraConfig, inject_adapter_in_model

    torch.manual_seed(0)
    base = nn.Linear(case.in_features, case.out_features).to(dtype).requires_grad_(False)
    variants: dict[str, nn.Module | Callable[[Tensor], Tensor]] = {"base layer (frozen)": base}
    lora_base = nn.Linear(case.in_features, case.out_features).to(dtype)
    lora_base.load_state_dict(base.state_dict())
    holder = inject_adapter_in_model(LoraConfig(r=8, lora_alpha=16, target_modules=["proj"], lora_dropout=0.0), _Holder(lora_base))
    for name, param in holder.named_parameters():
        param.requires_grad_("lora_" in name)
        if "lora_B" in name:
            nn.init.normal_(param, std=0.02)  # non-zero like a trained adapter
    variants["PEFT LoRA r=8"] = holder.proj
    for label, shape in case.shapes.items():
        layer = TTLoRALinear(base, shape, rank, alpha=8.0, init="gaussian", generator=torch.Generator().manual_seed(0))
        variants[f"TT-LoRA {label} (auto: {layer.path})"] = layer
        dense = TTLoRALinear(base, shape, rank, alpha=8.0, init="gaussian", generator=torch.Generator().manual_seed(0), path="dense")
        variants[f"TT-LoRA {label}, dense ΔW rebuilt"] = dense
        if layer.path == "block":
            def kron_factors(x: Tensor, layer: TTLoRALinear = layer) -> Tensor:
                p_factor, s_factor = (f.to(x.dtype) for f in layer.factors())  # dense kron side: (out, R), (R, in)
                base = layer.base_layer
                return FusedLowRankLinear.apply(x, base.weight, base.bias, p_factor, s_factor, layer.alpha)

            variants[f"TT-LoRA {label}, dense kron factors (before)"] = kron_factors
        if layer.split is not None:
            def unfused(x: Tensor, layer: TTLoRALinear = layer) -> Tensor:
                p_factor, s_factor = (f.to(x.dtype) for f in layer.factors())  # (out, r_s), (r_s, in)
                return layer.base_layer(x) + layer.alpha * ((x @ s_factor.t()) @ p_factor.t())  # (T, out)

            variants[f"TT-LoRA {label}, P,S plain autograd"] = unfused
    return variants


def time_step(fn: Callable[[Tensor], Tensor], params: list[Tensor], x: Tensor, grad_out: Tensor, iters: int) -> float:
    """Seconds per forward+backward (input gradient included, as inside a network)."""
    start = time.perf_counter()
    for _ in range(iters):
        for param in params:
            param.grad = None
        x.grad = None
        y = fn(x)
        y.backward(grad_out)
    return (time.perf_counter() - start) / iters


def run_case(case: Case, tokens: int, rank: int, rounds: int, dtype: torch.dtype, seed: int) -> dict[str, float]:
    variants = make_variants(case, rank, dtype)
    x = torch.randn(tokens, case.in_features, dtype=dtype, requires_grad=True)
    grad_out = torch.randn(tokens, case.out_features, dtype=dtype)
    iters = max(1, 4096 // tokens)
    trainable = [p for v in variants.values() if isinstance(v, nn.Module) for p in v.parameters() if p.requires_grad]
    params = {name: trainable for name in variants}  # every step clears every adapter's grads: same overhead for all
    for name, fn in variants.items():  # warm-up
        time_step(fn, params[name], x, grad_out, 1)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            samples[name].append(time_step(variants[name], params[name], x, grad_out, iters))
    return {name: statistics.median(values) for name, values in samples.items()}


def print_table(title: str, results: dict[str, float]) -> None:
    base = results["base layer (frozen)"]
    lora = results["PEFT LoRA r=8"]
    width = max(len(name) for name in results)
    print(f"\n{title}")
    print(f"{'variant':<{width}}  {'ms/step':>9}  {'x base':>7}  {'x LoRA':>7}")
    for name, seconds in results.items():
        print(f"{name:<{width}}  {seconds * 1e3:9.2f}  {seconds / base:7.2f}  {seconds / lora:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported); 16k-token cases use at most 3")
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 by default: on a shared, oversubscribed box every small multithreaded op waits for a descheduled thread (2-thread runs here measured LoRA at 2.3x and TT-LoRA at 4.6x the base layer)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.dtype}, TT rank {args.rank}; "
          "forward+backward incl. input gradient; median of interleaved rounds")
    for tokens in args.tokens:
        for case in CASES:
            rounds = args.rounds if tokens <= 4096 else min(args.rounds, 3)
            results = run_case(case, tokens, args.rank, rounds, dtype, args.seed)
            print_table(f"{case.label} (out={case.out_features}, in={case.in_features}), {tokens} tokens, {rounds} rounds", results)


if __name__ == "__main__":
    main()
