"""Which modules of a model get a TT-LoRA adapter, and which form the task head.

Pure module-tree walking: no parameters are read, so everything here works on models built on
the ``meta`` device (``ttsearch plan`` counts parameters of 7B models without loading them).
"""

from __future__ import annotations

import re

from torch import nn
from transformers.pytorch_utils import Conv1D

from .config import REGEX_PREFIX, TTLoRAConfig
from .layer import TTLoRALinear

# model_type (transformers config) -> default target suffixes, as used by the paper and PEFT.
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta": ["in_proj"],
    "deberta-v2": ["query_proj", "value_proj"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "mixtral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "gemma2": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
}

# Top-level children that hold a freshly initialised task head (PEFT's modules_to_save for SEQ_CLS, plus QA).
HEAD_NAMES = ("classifier", "score", "qa_outputs")

# model_type -> top-level children besides the head that a task model builds fresh when it loads a base
# checkpoint (DeBERTa's ContextPooler: a random 768x768 projection under the classifier). They are
# trained and saved like the head. From the model's loading info, ``missing_keys_to_modules`` finds
# such modules for any family; this table is the rule when no loading info is at hand.
NEWLY_INITIALISED_MODULES: dict[str, tuple[str, ...]] = {
    "deberta": ("pooler",),
    "deberta-v2": ("pooler",),
}

SUPPORTED_LAYER_TYPES = (nn.Linear, Conv1D)


def default_targets(model: nn.Module) -> list[str]:
    """Default target suffixes for ``model``'s family, read from ``model.config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in DEFAULT_TARGETS:
        raise ValueError(
            f"TTLoRAConfig.targets: no default targets for model_type {model_type!r}; "
            f"known families: {sorted(DEFAULT_TARGETS)}. Set targets explicitly, e.g. ['q_proj', 'v_proj']."
        )
    return list(DEFAULT_TARGETS[model_type])


def suffix_matches(module_name: str, suffix: str) -> bool:
    """True when ``suffix`` equals the trailing dotted components of ``module_name``."""
    return module_name == suffix or module_name.endswith("." + suffix)


def layer_features(module: nn.Module) -> tuple[int, int]:
    """(out_features, in_features) of a supported layer in torch's weight layout."""
    if isinstance(module, TTLoRALinear):
        return module.out_features, module.in_features
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if isinstance(module, Conv1D):
        in_features, out_features = module.weight.shape  # Conv1D stores (in, out)
        return int(out_features), int(in_features)
    raise TypeError(f"unsupported layer type {type(module).__name__}")


def head_module_names(model: nn.Module) -> list[str]:
    """Names of the top-level task-head modules (``classifier``, ``score``, ``qa_outputs``) present."""
    return [name for name, _ in model.named_children() if name in HEAD_NAMES]


def missing_keys_to_modules(missing_keys: list[str], model: nn.Module) -> list[str]:
    """The modules whose parameters ``from_pretrained`` initialised fresh (its loading info's
    ``missing_keys``), outside the task head, one name per module, in model order."""
    heads = set(head_module_names(model))
    params = dict(model.named_parameters())
    modules = []
    for key in missing_keys:
        if key not in params or key.split(".")[0] in heads:
            continue  # a buffer, or the head (trained anyway)
        module = key.rsplit(".", 1)[0]
        if module not in modules:
            modules.append(module)
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return sorted(modules, key=lambda name: order.get(name, len(order)))


def saved_module_names(model: nn.Module, config: TTLoRAConfig) -> list[str]:
    """Modules trained in full and saved with the adapter: the task head (``train_head``) plus
    ``config.modules_to_save``, or, when that is None, the family's newly initialised modules."""
    names = head_module_names(model) if config.train_head else []
    if config.modules_to_save is not None:
        extra = list(config.modules_to_save)
    else:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        children = {name for name, _ in model.named_children()}
        extra = [n for n in NEWLY_INITIALISED_MODULES.get(model_type, ()) if n in children] if config.train_head else []
    for name in extra:
        try:
            model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"TTLoRAConfig.modules_to_save: {type(model).__name__} has no module {name!r}") from None
    return names + [n for n in extra if n not in names]


def head_parameters(model: nn.Module, head_names: list[str], trainable_only: bool = False) -> list[nn.Parameter]:
    """Parameters of the named head modules, each tensor once (tied weights are shared)."""
    seen: set[int] = set()
    found: list[nn.Parameter] = []
    for head_name in head_names:
        for param in model.get_submodule(head_name).parameters():
            if (param.requires_grad or not trainable_only) and id(param) not in seen:
                seen.add(id(param))
                found.append(param)
    return found


def count_head_parameters(model: nn.Module, head_names: list[str], trainable_only: bool = False) -> int:
    """Parameters of the named head modules, each tensor counted once (tied weights are shared).
    The one head counter: planning (meta models) and ``count_parameters`` (live models) both use it."""
    return sum(param.numel() for param in head_parameters(model, head_names, trainable_only))


def _candidate_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All named modules except those inside a TTLoRALinear (its frozen base layer)."""
    found: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in inside):
            continue
        if isinstance(module, TTLoRALinear):
            inside.append(name)
        found.append((name, module))
    return found


def find_target_modules(model: nn.Module, config: TTLoRAConfig) -> dict[str, tuple[int, int]]:
    """Map full module name -> (out_features, in_features) for every module ``config`` targets.

    Works on meta-device models. Raises ValueError when a target suffix matches nothing, when a
    match is not an ``nn.Linear`` / GPT-2 ``Conv1D``, or when a target is the task head.
    """
    targets = config.targets if config.targets is not None else default_targets(model)
    candidates = _candidate_modules(model)
    heads = set(head_module_names(model))
    saved = saved_module_names(model, config)

    if isinstance(targets, str) and targets.startswith(REGEX_PREFIX):
        pattern = re.compile(targets[len(REGEX_PREFIX):])
        matched = [(n, m) for n, m in candidates if pattern.fullmatch(n)]
        if not matched:
            raise ValueError(f"TTLoRAConfig.targets: regex {targets!r} matched no module name")
    else:
        suffixes = [targets] if isinstance(targets, str) else list(targets)
        matched = []
        for suffix in suffixes:
            hits = [(n, m) for n, m in candidates if suffix_matches(n, suffix)]
            if not hits:
                linear_names = sorted({n.rsplit(".", 1)[-1] for n, m in candidates if isinstance(m, SUPPORTED_LAYER_TYPES)})
                raise ValueError(
                    f"TTLoRAConfig.targets: {suffix!r} matched no module of {type(model).__name__}; "
                    f"linear layers here end in: {linear_names[:20]}"
                )
            matched.extend(hits)

    result: dict[str, tuple[int, int]] = {}
    for name, module in matched:
        if name.split(".")[0] in heads:
            raise ValueError(
                f"TTLoRAConfig.targets: {name!r} is part of the task head; the head is trained in full "
                "(train_head=True) and cannot also get an adapter"
            )
        inside = next((s for s in saved if name == s or name.startswith(s + ".")), None)
        if inside is not None:
            raise ValueError(f"TTLoRAConfig.targets: {name!r} is inside {inside!r}, which is trained in full "
                             "(modules_to_save) and cannot also get an adapter")
        if not isinstance(module, SUPPORTED_LAYER_TYPES + (TTLoRALinear,)):
            raise ValueError(
                f"TTLoRAConfig.targets: {name!r} is a {type(module).__name__}; TT-LoRA wraps nn.Linear "
                "and transformers Conv1D only (use a more specific suffix or regex)"
            )
        result[name] = layer_features(module)
    # keep the model's module order (stable seeding and file order)
    order = {name: i for i, (name, _) in enumerate(candidates)}
    return dict(sorted(result.items(), key=lambda item: order[item[0]]))
