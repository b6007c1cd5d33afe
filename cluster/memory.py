"""Estimate the GPU memory one TT-LoRA trial needs, and whether a GPU fraction can hold it.

Why: Ray's fractional GPUs (``resources: {gpu: 0.25}``) share a device's compute but not its memory:
Ray only counts, it never checks bytes. Four trials on one GPU each need their own frozen model,
activations and optimizer state; if they do not fit, trials die with CUDA out-of-memory midway
through a search. ``ttsearch plan`` calls these pure functions (no torch, no GPU) to warn first.

The estimate (bytes), for one trial:

- frozen weights: ``param_count_frozen * dtype_bytes`` (no gradients, no optimizer state);
- trainable (TT cores + task head): fp32 weights 4 + fp32 gradients 4 + AdamW's two fp32 moments 8
  = 16 bytes per parameter;
- activations kept for the backward pass. Adapters sit in every layer, so backward runs through the
  whole stack and each layer keeps its activations. The base weights are frozen, so autograd does
  not keep the inputs of the frozen linear layers (it needs them only for weight gradients); it
  keeps the adapters' input and what the nonlinearities, norms and attention need. That is less
  than the full fine-tuning figure of Korthikanti et al. 2022 (34h + 5as bytes per token at 16 bits).
  Per layer and token, with ``d`` bytes per activation value, hidden ``h``, MLP width ``f``,
  ``a`` heads, ``s`` tokens per sequence and ``m`` bytes per dropout-mask value (1 on CUDA, which
  stores boolean masks; ``d`` on CPU):

  ``layer_style="bert"`` (post-LayerNorm, GELU MLP, dropout: BERT, RoBERTa, GPT-2): adapter input
  ``d*h``; q, k, v ``3*d*h``; eager attention: softmax output, its dropout mask and the dropped
  probabilities ``(2*d + m)*a*s``; fused attention (SDPA/Flash): output ``d*h`` + fp32
  log-sum-exp ``4*a``; two LayerNorms ``2*(d*h + 8)``; GELU input ``d*f``; two hidden dropout
  masks ``2*m*h``.
  ``layer_style="deberta"`` (DeBERTa v1, disentangled attention): "bert" plus ``4*d*a*s + 6*d*h``
  for the content-to-position and position-to-content maps (fitted to measurements).
  ``layer_style="llama"`` (RMSNorm computed in fp32, gated SiLU MLP, no dropout: LLaMA, Mistral,
  Qwen): adapter input ``d*h``; fused attention q, k, v, output ``4*d*h`` + ``4*a``, eager q, k, v
  ``3*d*h`` + fp32 softmax ``4*a*s`` (+ its ``d*a*s`` copy below fp32); two RMSNorms ``2*(4*h + 4)``;
  MLP gate, up and SiLU outputs ``3*d*f``.

  Each style was checked against the bytes autograd actually saves (saved-tensor hooks) on tiny
  random models of each family and on the real MiniLM, on CPU in fp32 and bf16, with TT-LoRA on
  the attention projections: within 10 % (tests/cluster/test_memory.py). With gradient
  checkpointing only each layer's input (``d*h``) is kept, plus one layer's full set while it is
  recomputed. A causal-LM head adds fp32 logits and their gradient: ``8 * vocab``.
- CUDA context and library workspaces: ``runtime_overhead_bytes`` (default 1 GiB per process);
- allocator slack: ``fragmentation`` (default 10 %) on all tensor bytes.

It is an estimate to catch settings that cannot fit, not a promise that others will.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from vocab.errors import UsageError

GIB = 1024**3
MIB = 1024**2

# Total device memory as nvidia-smi reports it (MiB), SXM parts.
GPU_MEMORY_BYTES: dict[str, int] = {
    "H100-80GB": 81_559 * MIB,
    "H200-141GB": 143_771 * MIB,
}
GPU_NAME_ALIASES: dict[str, str] = {"H100": "H100-80GB", "H200": "H200-141GB"}

TRAINABLE_BYTES_PER_PARAM = 16  # fp32 weight 4 + fp32 grad 4 + AdamW exp_avg 4 + exp_avg_sq 4
DEFAULT_RUNTIME_OVERHEAD_BYTES = 1 * GIB
DEFAULT_FRAGMENTATION = 0.10
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
LAYER_STYLES = ("bert", "deberta", "llama")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one trial needs on its GPU, by component."""

    frozen_weights_bytes: int
    trainable_state_bytes: int  # TT cores + head: weights, gradients, optimizer moments
    activation_bytes: int
    runtime_overhead_bytes: int
    fragmentation_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.frozen_weights_bytes + self.trainable_state_bytes + self.activation_bytes
                + self.runtime_overhead_bytes + self.fragmentation_bytes)

    def breakdown(self) -> dict[str, int]:
        """Components and total in bytes, for tables and JSON."""
        parts = asdict(self)
        parts["total_bytes"] = self.total_bytes
        return parts

    def describe(self) -> str:
        """One line in GiB, e.g. ``"14.2 GiB (weights 12.6, adapter+optimizer 0.0, ...)"``."""
        return (f"{self.total_bytes / GIB:.1f} GiB (frozen weights {self.frozen_weights_bytes / GIB:.1f}, "
                f"adapter+optimizer {self.trainable_state_bytes / GIB:.2f}, "
                f"activations {self.activation_bytes / GIB:.1f}, "
                f"CUDA runtime {self.runtime_overhead_bytes / GIB:.1f}, "
                f"allocator slack {self.fragmentation_bytes / GIB:.1f})")


def _require_positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok or math.isnan(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name} is {value!r}", where=f"memory estimate: {name}",
                         expected=f"a number {bound}")


def activation_bytes_per_token_per_layer(
    hidden: int, intermediate: int, heads: int, seq_len: int, value_bytes: float, attention: str,
    layer_style: str = "bert", dropout_mask_bytes: float = 1.0,
) -> float:
    """Bytes one layer keeps per token for the backward pass (formulas in the module docstring)."""
    d, h, f, a, s, m = value_bytes, hidden, intermediate, heads, seq_len, dropout_mask_bytes
    if layer_style == "llama":
        if attention == "eager":
            attention_bytes = 3 * d * h + 4 * a * s + (d * a * s if d != 4 else 0)
        else:
            attention_bytes = 4 * d * h + 4 * a
        return d * h + attention_bytes + 2 * (4 * h + 4) + 3 * d * f
    if attention == "eager":
        attention_bytes = 3 * d * h + (2 * d + m) * a * s
    else:
        attention_bytes = 4 * d * h + 4 * a
    kept = d * h + attention_bytes + 2 * (d * h + 8) + d * f + 2 * m * h
    if layer_style == "deberta":
        kept += 4 * d * a * s + 6 * d * h
    return kept


def _check_sizes(allow_zero: bool = False, **values: float) -> None:
    for name, value in values.items():
        _require_positive(name, value, allow_zero=allow_zero)


def _check_choice(name: str, value: str, choices: tuple[str, ...] | list[str], joiner: str) -> None:
    if value not in choices:
        raise UsageError(f"{name} is {value!r}", where=f"memory estimate: {name}",
                         expected=joiner.join(repr(choice) for choice in choices))


def estimate_trial_memory(
    param_count_frozen: int, dtype_bytes: float, tt_params: int, batch_size: int, seq_len: int, hidden: int,
    layers: int, *, intermediate: int | None = None, heads: int | None = None, head_params: int = 0,
    vocab_size: int = 0, activation_dtype_bytes: float | None = None, attention: str = "sdpa",
    layer_style: str = "bert", dropout_mask_bytes: float = 1.0, gradient_checkpointing: bool = False,
    runtime_overhead_bytes: int = DEFAULT_RUNTIME_OVERHEAD_BYTES, fragmentation: float = DEFAULT_FRAGMENTATION,
) -> MemoryEstimate:
    """Estimate one trial's GPU memory (see the module docstring for every term).

    ``dtype_bytes``: bytes per frozen weight (4 fp32, 2 bf16/fp16, 1 int8, 0.5 4-bit).
    ``intermediate`` defaults to ``4 * hidden``, ``heads`` to ``hidden // 64``.
    ``activation_dtype_bytes`` defaults to ``dtype_bytes``, but at least 2 (quantised weights
    still compute in 16 bits). ``vocab_size`` > 0 adds causal-LM logits; leave 0 for
    classification heads. ``attention`` is ``"sdpa"`` (fused; no seq_len^2 term) or ``"eager"``
    (also right for SDPA on CPU in training with attention dropout, where PyTorch falls back to
    the math kernel). ``layer_style`` is ``"bert"`` (BERT, RoBERTa, GPT-2), ``"deberta"`` (v1) or
    ``"llama"`` (LLaMA-style decoders). ``dropout_mask_bytes``: 1 on CUDA (boolean masks); pass
    ``activation_dtype_bytes`` to estimate a CPU run.
    """
    _check_sizes(param_count_frozen=param_count_frozen, dtype_bytes=dtype_bytes, batch_size=batch_size,
                 seq_len=seq_len, hidden=hidden, layers=layers)
    _check_sizes(allow_zero=True, tt_params=tt_params, head_params=head_params, dropout_mask_bytes=dropout_mask_bytes,
                 vocab_size=vocab_size, runtime_overhead_bytes=runtime_overhead_bytes, fragmentation=fragmentation)
    _check_choice("attention", attention, ATTENTION_IMPLEMENTATIONS, " or ")
    _check_choice("layer_style", layer_style, LAYER_STYLES, ", ")
    ffn = 4 * hidden if intermediate is None else intermediate
    n_heads = max(1, hidden // 64) if heads is None else heads
    value_bytes = max(dtype_bytes, 2.0) if activation_dtype_bytes is None else activation_dtype_bytes
    _check_sizes(intermediate=ffn, heads=n_heads, activation_dtype_bytes=value_bytes)

    tokens = batch_size * seq_len
    per_layer = activation_bytes_per_token_per_layer(hidden, ffn, n_heads, seq_len, value_bytes, attention,
                                                     layer_style, dropout_mask_bytes)
    if gradient_checkpointing:
        kept = layers * value_bytes * hidden + per_layer  # layer inputs + one recomputed layer
    else:
        kept = layers * per_layer
    kept += value_bytes * hidden  # embedding output
    activations = tokens * kept + batch_size * seq_len * vocab_size * 8  # fp32 logits + their grad

    frozen = param_count_frozen * dtype_bytes
    trainable = (tt_params + head_params) * TRAINABLE_BYTES_PER_PARAM
    slack = fragmentation * (frozen + trainable + activations)
    return MemoryEstimate(frozen_weights_bytes=int(frozen), trainable_state_bytes=int(trainable),
                          activation_bytes=int(activations), runtime_overhead_bytes=int(runtime_overhead_bytes),
                          fragmentation_bytes=int(slack))


# transformers model_type -> layer style of the activation formula
_LAYER_STYLE_BY_FAMILY = {
    "bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert", "electra": "bert",
    "gpt2": "bert", "deberta": "deberta", "deberta-v2": "deberta",
    "llama": "llama", "mistral": "llama", "qwen2": "llama", "qwen3": "llama", "gemma": "llama",
}


def layer_style_for_family(model_family: str) -> str:
    """Layer style for a transformers ``model_type`` (e.g. ``"roberta"`` -> ``"bert"``).

    DeBERTa-v2/v3 use "deberta" too, though their relative-position span makes it approximate.
    """
    style = _LAYER_STYLE_BY_FAMILY.get(model_family.lower())
    if style is None:
        raise UsageError(f"no memory model for model family {model_family!r}", where="model",
                         expected=f"one of {', '.join(sorted(_LAYER_STYLE_BY_FAMILY))}")
    return style


def gpu_memory_bytes(gpu_name: str) -> int:
    """Device memory of a named GPU; ``UsageError`` listing the known names otherwise."""
    canonical = GPU_NAME_ALIASES.get(gpu_name.upper(), gpu_name.upper())
    if canonical not in GPU_MEMORY_BYTES:
        raise UsageError(f"unknown GPU {gpu_name!r}", where="gpu",
                         expected=f"one of {', '.join(GPU_MEMORY_BYTES)}")
    return GPU_MEMORY_BYTES[canonical]


def check_gpu_fraction(estimate: MemoryEstimate, gpu_fraction: float, gpu_name: str) -> str | None:
    """A warning when ``gpu_fraction`` of ``gpu_name`` cannot hold ``estimate``; None when it can.

    A fraction f lets 1/f trials share one device, so each may use f of its memory. A fraction
    above 1 still holds the model on one device (trials do not shard the model), so its budget is
    one whole GPU. ``gpu_fraction == 0`` (a CPU trial) never warns.
    """
    if isinstance(gpu_fraction, bool) or not isinstance(gpu_fraction, (int, float)) or not (
            gpu_fraction >= 0) or math.isinf(gpu_fraction):
        raise UsageError(f"gpu fraction is {gpu_fraction!r}", where="resources.gpu",
                         expected="a number >= 0, e.g. 0.25 for four trials per GPU")
    device_bytes = gpu_memory_bytes(gpu_name)
    if gpu_fraction == 0:
        return None
    budget = device_bytes * min(gpu_fraction, 1.0)
    need = estimate.total_bytes
    if need <= budget:
        return None
    name = GPU_NAME_ALIASES.get(gpu_name.upper(), gpu_name.upper())
    if need > device_bytes:
        advice = (f"it does not fit on one {name} even alone; lower the batch size or sequence "
                  "length, use gradient checkpointing, or load the frozen model in fewer bytes")
    else:
        trials_per_gpu = max(1, math.floor(device_bytes / need))
        advice = (f"at most {trials_per_gpu} such trial(s) fit per GPU: use resources.gpu >= "
                  f"{1 / trials_per_gpu:.3g}, or shrink batch size / sequence length")
    return (f"a trial needs about {estimate.describe()}, but resources.gpu = {gpu_fraction:g} of an "
            f"{name} gives it {budget / GIB:.1f} GiB; {advice}")
