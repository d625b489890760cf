"""A BentoML service whose ``/schedule`` does nothing but answer a constant hit: the floor that
``benchmarks/service_latency.py`` compares Lorien's service overhead with (same BentoML, same
server settings, same request and answer shapes, no look-up)."""

from __future__ import annotations

from typing import Any

import bentoml

HIT: dict[str, Any] = {"key": "", "status": "tuned", "match": "exact", "record": {}, "job": {},
                       "measure_job": {}, "seconds": 0.0, "detail": ""}


class NullSchedules:
    @bentoml.api
    def schedule(self, target: str, key: str | None = None, dialect: str = "tvm",
                 predict: bool = True) -> dict[str, Any]:
        return {**HIT, "key": key or ""}


NullService = bentoml.service(name="nullschedules", traffic={"timeout": 600})(NullSchedules)
