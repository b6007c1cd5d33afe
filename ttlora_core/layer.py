"""TTLoRALinear: a frozen linear layer plus a tensor-train ΔW, y = W0 x + b + alpha * ΔW x.

Forward paths (chosen automatically, overridable through ``path``):

* ``"split"``: the shape has a split point s, ΔW = P @ S with P (out, r_s), S (r_s, in); one
  fused autograd function computes the base output and adds alpha * P (S x) in place, saving only
  x and S x (docs/ARCHITECTURE.md, "Forward paths": the fastest measured training path).
* ``"block"``: no split point; the cores straddling the row/column boundary are merged into one
  block, giving exact factors P (out, R), S (R, in) with R = min(r_{s0} u, v r_{s1}) (e.g. the
  paper's RoBERTa shape [64, 16, 9, 64] on 768x768: R = 12 r). One of them is a Kronecker product
  with an identity, so training runs x through the three small factors instead
  (:mod:`ttlora_core.block_linear`), in a fused function like the split path's.
* ``"dense"``: rebuild ΔW and run one matmul with W0 + alpha ΔW (the reference; also chosen for
  "block" shapes whose R makes the factors larger than a dense ΔW).

Dtype policy: cores are float32 master parameters whatever the base dtype. Each forward builds P
and S in float32 (tiny) and casts them to the compute dtype (the base weight's dtype, or the
autocast dtype), so a bf16/fp16 base runs bf16/fp16 matmuls while the optimizer updates float32
cores. Merging adds alpha * ΔW in float32 and rounds once to the base dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

from .block_linear import DENSE_ROWS_MAX_INNER, FusedBlockLinear, block_factors, block_three_factors, dense_rows
from .core_init import init_cores
from .tt_arithmetic import ShapeError, full_ranks, split_index, tt_param_count
from .tt_math import FusedLowRankLinear, block_plan, reconstruct, split_factors

PATHS = ("auto", "split", "block", "dense")


class TTLoRALinear(nn.Module):
    """A frozen ``nn.Linear`` or GPT-2 ``Conv1D`` with a trainable tensor-train update.

    Attributes: ``base_layer`` (the wrapped module, frozen), ``shape`` ([k1..kd]), ``ranks``
    ([1, r1, ..., 1]), ``alpha``, ``cores`` (``nn.ParameterList`` of (r_{i-1}, k_i, r_i) float32),
    ``merged``, ``split`` (split index or None), ``path`` (the forward in use).
    """

    def __init__(
        self,
        base_layer: nn.Module,
        shape: list[int],
        rank: int | list[int],
        alpha: float,
        init: str = "gaussian",
        generator: torch.Generator | None = None,
        path: str = "auto",
    ) -> None:
        super().__init__()
        if isinstance(base_layer, nn.Linear):
            self.fan_in_fan_out = False
            out_features, in_features = base_layer.out_features, base_layer.in_features
        elif isinstance(base_layer, Conv1D):
            self.fan_in_fan_out = True  # Conv1D: y = x @ W + b with W stored (in, out)
            in_features, out_features = base_layer.weight.shape
        else:
            raise TypeError(f"TTLoRALinear wraps nn.Linear or transformers Conv1D, got {type(base_layer).__name__}")
        self.base_layer = base_layer
        self.out_features, self.in_features = int(out_features), int(in_features)
        self.shape = [int(k) for k in shape]
        product = 1
        for k in self.shape:
            product *= k
        if product != self.out_features * self.in_features:
            raise ShapeError(
                f"layer (out, in) = ({self.out_features}, {self.in_features}) needs prod(shape) = "
                f"{self.out_features * self.in_features}; shape {self.shape} has product {product}"
            )
        self.ranks = full_ranks(rank, len(self.shape))
        self.alpha = float(alpha)
        self.split = split_index(self.shape, self.out_features)
        self._block = None if self.split is not None else block_plan(self.shape, self.ranks, self.out_features)
        self.merged = False
        for param in base_layer.parameters():
            param.requires_grad_(False)
        device = base_layer.weight.device
        self.cores = nn.ParameterList(
            nn.Parameter(core) for core in init_cores(self.shape, self.ranks, self.out_features, self.in_features, init, generator, device)
        )
        self.path = self._auto_path() if path == "auto" else path
        if self.path not in PATHS[1:]:
            raise ValueError(f"TTLoRALinear.path: expected one of {PATHS}, got {path!r}")
        if self.path == "split" and self.split is None:
            raise ValueError(f"TTLoRALinear.path: 'split' needs a split point; shape {self.shape} has none for out={self.out_features}")

    def _auto_path(self) -> str:
        if self.split is not None:
            return "split"
        assert self._block is not None
        if self._block.inner * (self.out_features + self.in_features) < self.out_features * self.in_features:
            return "block"
        return "dense"

    # -- views of the frozen base ---------------------------------------------------------
    @property
    def weight(self) -> Tensor:
        """The base layer's weight in its own layout, so code that reads ``.weight`` keeps working.

        Like PEFT's LoRA layers this is W0 without ΔW (unless merged); the only reader among the
        supported families is DeBERTa-v1's ``query_states`` branch, used by its MLM decoder only.
        """
        return self.base_layer.weight

    @property
    def bias(self) -> Tensor | None:
        return self.base_layer.bias

    def base_weight_out_in(self) -> Tensor:
        """W0 as an (out, in) view regardless of Linear / Conv1D storage."""
        weight = self.base_layer.weight
        return weight.t() if self.fan_in_fan_out else weight  # Conv1D (in, out) -> (out, in) view

    # -- ΔW --------------------------------------------------------------------------------
    def delta_weight(self) -> Tensor:
        """Dense ΔW (out, in) in float32, without alpha (the effective weight is W0 + alpha * ΔW)."""
        return reconstruct(list(self.cores), self.out_features, self.in_features)

    def factors(self) -> tuple[Tensor, Tensor]:
        """Exact float32 factors P (out, R), S (R, in) with ΔW = P @ S (R = r_s at a split point)."""
        cores = list(self.cores)
        if self.split is not None:
            return split_factors(cores, self.split)
        assert self._block is not None
        return block_factors(cores, self._block)

    @property
    def factor_rank(self) -> int:
        """Inner size R of :meth:`factors` (r_s with a split point)."""
        if self.split is not None:
            return self.ranks[self.split]
        assert self._block is not None
        return self._block.inner

    def num_core_params(self) -> int:
        return tt_param_count(self.shape, self.ranks)

    # -- forward ---------------------------------------------------------------------------
    def _compute_dtype(self, x: Tensor) -> torch.dtype:
        if torch.is_autocast_enabled(x.device.type):
            return torch.get_autocast_dtype(x.device.type)
        return self.base_layer.weight.dtype

    def forward(self, x: Tensor) -> Tensor:
        if self.merged:
            return self.base_layer(x)
        dtype = self._compute_dtype(x)
        weight = self.base_weight_out_in().to(dtype)
        bias = self.base_layer.bias
        bias = bias.to(dtype) if bias is not None else None
        x = x.to(dtype)
        if self.path == "dense":
            delta = self.delta_weight().to(dtype)
            with torch.autocast(x.device.type, enabled=False):
                return nn.functional.linear(x, weight + self.alpha * delta, bias)  # (..., in) -> (..., out)
        frozen_base = not (weight.requires_grad or (bias is not None and bias.requires_grad))
        if self.path == "block" and frozen_base:
            return self._block_forward(x, weight, bias, dtype)
        p_factor, s_factor = self.factors()
        p_factor, s_factor = p_factor.to(dtype), s_factor.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            if not frozen_base:
                # unfrozen base (not the usual case): plain autograd composition
                y = nn.functional.linear(x, weight, bias)  # (..., out)
                return y + self.alpha * ((x @ s_factor.t()) @ p_factor.t())  # (..., R) -> (..., out)
            return FusedLowRankLinear.apply(x, weight, bias, p_factor, s_factor, self.alpha)

    def _block_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None, dtype: torch.dtype) -> Tensor:
        """No split point: x through the column chain, the block and the row side (block_linear)."""
        plan = self._block
        assert plan is not None
        left, middle, right = block_three_factors(list(self.cores), plan)
        rows_dense = middle.shape[0] <= DENSE_ROWS_MAX_INNER  # u * r0 small: one dense GEMM is faster
        row_factor = dense_rows(left, plan.u) if rows_dense else left
        with torch.autocast(x.device.type, enabled=False):
            return FusedBlockLinear.apply(x, weight, bias, row_factor.to(dtype), middle.to(dtype), right.to(dtype),
                                          self.alpha, plan.u, plan.v, rows_dense)

    # -- merge -----------------------------------------------------------------------------
    @torch.no_grad()
    def merge(self) -> None:
        """Fold alpha * ΔW into W0 (refusing non-finite values); afterwards forward = base layer."""
        if self.merged:
            return
        delta = self.alpha * self.delta_weight()  # (out, in) float32
        if not torch.isfinite(delta).all():
            raise ValueError(
                f"TTLoRALinear.merge: alpha * ΔW has non-finite values (shape {self.shape}, alpha {self.alpha}); "
                "W0 left unchanged"
            )
        self._add_to_base(delta)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract alpha * ΔW again (exact up to rounding in the base dtype)."""
        if not self.merged:
            return
        self._add_to_base(-self.alpha * self.delta_weight())
        self.merged = False

    def _add_to_base(self, delta_out_in: Tensor) -> None:
        weight = self.base_layer.weight
        delta = delta_out_in.t() if self.fan_in_fan_out else delta_out_in  # into the storage layout
        weight.copy_((weight.float() + delta.to(weight.device)).to(weight.dtype))

    def extra_repr(self) -> str:
        return (
            f"out={self.out_features}, in={self.in_features}, shape={self.shape}, ranks={self.ranks}, "
            f"alpha={self.alpha}, path={self.path!r}, merged={self.merged}"
        )
