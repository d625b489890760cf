"""The cost model that ships with Lorien: a LightGBM ranker trained on the tuning-log data set.

It is kept in LightGBM's text format (``shipped/cost_model.txt``, no pickle) with its metadata and
evaluation beside it (``shipped/cost_model.json``), and registered in the BentoML model store on
first use. Retrain it after the logs or the features change with ``lorien train --shipped``
(:func:`train_shipped_model`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lorien.errors import NotFound
from lorien.records import content_hash

SHIPPED = Path(__file__).resolve().parent / "shipped"
MODEL_TEXT = SHIPPED / "cost_model.txt"
MODEL_METADATA = SHIPPED / "cost_model.json"
#: The registered name of the shipped cost model, the service's default.
DEFAULT_MODEL = "lorien-cost-model"


def ensure_shipped_model(tag: str = DEFAULT_MODEL) -> str:
    """Register the shipped cost model under ``tag`` unless that model is registered; returns the
    tag in use. ``DEFAULT_MODEL`` (its latest version) is registered again when the latest one is
    not the model this Lorien ships (an upgrade brings a retrained model, possibly of another
    feature version); other names must have been registered with ``lorien train``.

    Raises:
        NotFound: ``tag`` is not the shipped model's name and is not registered.
    """
    import bentoml

    digest = content_hash(MODEL_TEXT.read_text(), MODEL_METADATA.read_text())
    try:
        found = bentoml.models.get(tag)
        if tag != DEFAULT_MODEL or found.info.metadata.get("shipped_digest") == digest:
            return str(found.tag)
    except bentoml.exceptions.NotFound:
        if tag.split(":")[0] != DEFAULT_MODEL:
            raise NotFound(f"no registered cost model {tag!r} (register one with lorien train --out)"
                           ) from None
    from lorien.training.cost_models import LightGBMRankingCostModel
    from lorien.training.registry import register_model

    model = LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text())
    return register_model(DEFAULT_MODEL, model, {**shipped_metadata(), "shipped_digest": digest})


def shipped_metadata() -> dict[str, Any]:
    """The shipped model's metadata: its feature version, training data and evaluation."""
    return json.loads(MODEL_METADATA.read_text())


def write_shipped_model(model: Any, metadata: dict[str, Any]) -> Path:
    """Replace the shipped model with ``model`` (a fitted :class:`LightGBMRankingCostModel`) and
    its ``metadata``; returns the model file. Used by ``lorien train --shipped``."""
    SHIPPED.mkdir(exist_ok=True)
    MODEL_TEXT.write_text(model.to_text())
    MODEL_METADATA.write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    return MODEL_TEXT
