"""The confirmation's finalist record: what the confirmation folder keeps of it."""
from __future__ import annotations

import json

from vocab.finalist import Finalist


def test_the_request_records_identity_not_size_so_older_confirmations_still_resume() -> None:
    """A confirmation folder written before finalists carried their size recorded id, method and values;
    the same finalist with its size must give that same request, or resuming it would be refused as
    "another confirmation"."""
    recorded_before = {"trial_id": "abc_00001", "method": "lora", "values": {"rank": 8, "learning_rate": 1e-3}}
    finalist = Finalist("abc_00001", "lora", {"rank": 8, "learning_rate": 1e-3}, adapter_params=73_728.0)
    assert finalist.request() == recorded_before
    assert json.loads(json.dumps(finalist.request())) == recorded_before  # as the meta file stores it
    values = {"rank": 4}
    request = Finalist("t", "ttlora", values).request()
    request["values"]["rank"] = 5  # type: ignore[index]
    assert values == {"rank": 4}  # the request is a copy: recording it cannot change the finalist
