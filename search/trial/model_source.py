"""Where a space's model comes from: a hub id, a local folder, or a model shipped in a package.

Also the built-in config presets of the paper's four models, so ``ttsearch plan`` works without the
hub (a meta-device model has the real module sizes and holds no weights).
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Callable

from vocab.errors import UsageError

PACKAGE_PREFIX = "package:"


def resolve_model_path(name_or_path: str) -> str:
    """``package:<module>`` -> ``<module>.get_model_path()``; a local folder -> its absolute path;
    anything else is returned unchanged (a hub id)."""
    if name_or_path.startswith(PACKAGE_PREFIX):
        module_name = name_or_path[len(PACKAGE_PREFIX):]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise UsageError(
                f"package {module_name!r} is not installed", where="model.name_or_path",
                expected="an installed package with get_model_path(), a local folder or a hub id",
            ) from None
        getter = getattr(module, "get_model_path", None)
        if getter is None:
            raise UsageError(f"package {module_name!r} has no get_model_path()", where="model.name_or_path")
        return str(getter())
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return str(local.resolve())
    return name_or_path


def _llama2_7b() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)


def _llama3_8b() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0)


def _deberta_base() -> Any:
    from transformers import DebertaConfig

    return DebertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         vocab_size=50265, max_relative_positions=-1, relative_attention=True,
                         pos_att_type=["c2p", "p2c"], position_biased_input=False)


def _roberta_base() -> Any:
    from transformers import RobertaConfig

    return RobertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)


# Hub id -> config factory (sizes from the models' published config.json files).
CONFIG_PRESETS: dict[str, Callable[[], Any]] = {
    "meta-llama/Llama-2-7b-hf": _llama2_7b,
    "meta-llama/Meta-Llama-3-8B": _llama3_8b,
    "microsoft/deberta-base": _deberta_base,
    "FacebookAI/roberta-base": _roberta_base,
    "roberta-base": _roberta_base,
}


def hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _looks_like_a_path(name_or_path: str) -> bool:
    """A local path, not a hub id ('namespace/name' has one slash and no leading '/', '.' or '~')."""
    return name_or_path.startswith(("/", "./", "../", "~")) or name_or_path.count("/") > 1 or Path(name_or_path).exists()


def load_model_config(name_or_path: str, *, allow_preset: bool = True) -> Any:
    """The transformers config of the space's model: local folder, hub, or (offline) a preset."""
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path)
    is_local = Path(path).is_dir()
    if not is_local and _looks_like_a_path(path):
        raise UsageError(f"no model folder at {path}", where="model.name_or_path",
                         expected="an existing local model folder (with config.json), or a hub id such as "
                                  "'sentence-transformers/all-MiniLM-L6-v2'")
    if not is_local and allow_preset and name_or_path in CONFIG_PRESETS and hub_is_offline():
        return CONFIG_PRESETS[name_or_path]()
    try:
        return AutoConfig.from_pretrained(path, local_files_only=is_local or hub_is_offline())
    except (OSError, ValueError) as exc:
        if allow_preset and name_or_path in CONFIG_PRESETS:
            return CONFIG_PRESETS[name_or_path]()
        known = ", ".join(sorted(CONFIG_PRESETS))
        raise UsageError(
            f"cannot load the config of {name_or_path!r}: {str(exc).splitlines()[0]}",
            where="model.name_or_path",
            expected=f"a local model folder, a reachable hub id, 'package:<module>', or a preset ({known})",
        ) from None


def model_family(config: Any, override: str | None = None) -> str:
    """A short family name for defaults and paper reference points (bert, roberta, deberta, llama...)."""
    return (override or getattr(config, "model_type", "unknown")).replace("_", "-")


def build_meta_model(config: Any, num_labels: int) -> Any:
    """A sequence-classification model on the meta device: real module sizes, no memory, no weights."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(config)
    config.num_labels = num_labels
    try:
        with torch.device("meta"):
            return AutoModelForSequenceClassification.from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:  # transformers' own checks
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"the model's config.json does not build a {getattr(config, 'model_type', '?')} model: "
                         f"{first[:200]}", where="model.name_or_path",
                         expected="a model folder whose config.json transformers can build") from None
