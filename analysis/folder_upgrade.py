"""Older experiment folders read as the current format (``vocab.experiment_folder.FOLDER_FORMAT_VERSION``):
one upgrade step per format, applied to each trial's reports as they are read (``analysis/loading.py``),
so nothing downstream branches on a folder's age."""
from __future__ import annotations

from typing import Any

from vocab.experiment_folder import FOLDER_FORMAT_VERSION, MetricKey
from vocab.methods import METHOD_KEY, TTLORA, flat_trial_config

METHOD = MetricKey.METHOD.value
ADAPTER_PARAMS = MetricKey.ADAPTER_PARAMS.value
TTLORA_PARAMS = MetricKey.TTLORA_PARAMS.value


def upgrade_reports(rows: list[dict[str, Any]], params: dict[str, Any], format_version: int) -> list[dict[str, Any]]:
    """A trial's reports in the current format. 1 -> 2 (reports from before methods): each report names
    the trial's method (its config's, else TT-LoRA), and a TT-LoRA report without ``adapter_params`` gets
    its TT-core count there. Only adds missing keys, so a current folder's reports come back unchanged."""
    if format_version >= FOLDER_FORMAT_VERSION:
        return rows
    method = str(flat_trial_config(params).get(METHOD_KEY) or TTLORA)
    upgraded = []
    for row in rows:
        row = {METHOD: method, **row}
        if ADAPTER_PARAMS not in row and row[METHOD] == TTLORA and TTLORA_PARAMS in row:
            row[ADAPTER_PARAMS] = row[TTLORA_PARAMS]
        upgraded.append(row)
    return upgraded


__all__ = ["upgrade_reports"]
