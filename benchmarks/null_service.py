"""A BentoML service whose ``/schedule`` does nothing but answer a constant hit: the floor that
``benchmarks/service_latency.py`` compares Lorien's service overhead with (same BentoML, same
server settings, same request, the same answer's bytes: a real hit read once from the file that
``LORIEN_NULL_ANSWER`` names; no look-up)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bentoml


class NullSchedules:
    def __init__(self) -> None:
        self.answer: dict[str, Any] = json.loads(Path(os.environ["LORIEN_NULL_ANSWER"]).read_text())

    @bentoml.api
    def schedule(self, target: str, key: str | None = None, dialect: str = "tvm",
                 predict: bool = True) -> dict[str, Any]:
        return {**self.answer, "key": key or ""}


NullService = bentoml.service(name="nullschedules", traffic={"timeout": 600})(NullSchedules)
