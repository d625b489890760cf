"""Registered cost models: the BentoML model store, one model per tag, with Lorien's metadata.

Where the store lives is BentoML's ``BENTOML_HOME``; the command line points it under Lorien's data
folder unless it is set. The model is pickled by this process and read back only from the local
model store, never from the network.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

from lorien.errors import NotFound

MODEL_FILE = "cost_model.pkl"
LABEL = {"owner": "lorien", "kind": "cost-model"}


def register_model(name: str, model: Any, metadata: dict[str, Any]) -> str:
    """Save a fitted cost model under ``name``; returns its tag (``name:version``)."""
    import bentoml

    with bentoml.models.create(name, labels=LABEL, metadata=_plain(metadata)) as stored:
        path = Path(stored.path)
        (path / MODEL_FILE).write_bytes(pickle.dumps(model))
        tag = str(stored.tag)
    return tag


def load_model(tag: str) -> tuple[Any, dict[str, Any]]:
    """The cost model and metadata registered under ``tag`` (``name`` means its latest version).

    Raises:
        NotFound: no such model in the store.
    """
    import bentoml

    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise NotFound(f"no registered cost model {tag!r}") from None
    model = pickle.loads((Path(stored.path) / MODEL_FILE).read_bytes())
    return model, dict(stored.info.metadata)


def _plain(value: Any) -> Any:
    """Metadata as BentoML accepts it: basic JSON values, with None and NaN entries left out
    (BentoML rejects None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _missing(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if not _missing(v)]
    if isinstance(value, str | int | float | bool):
        return value
    return json.loads(json.dumps(value, default=str))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
