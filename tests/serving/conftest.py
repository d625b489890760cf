"""The service, started in-process once for the whole test session, on a store seeded with the
shipped tuning logs.

Once, because a process can start ``LorienService`` only once: metrics go to prometheus_client's
process-wide registry, and a second start fails on the duplicates (BentoML's request metrics for a
second ``to_asgi()`` app, the service's ``lorien_answers`` counter for a second start of the same
app). The environment it is started with (its own Lorien home, BentoML home, store and token) is
restored as soon as it has started: the service reads it only when it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

TOKEN = "test-token"


@dataclass(frozen=True)
class InProcessService:
    """The running service: its ASGI app, a client on it, and the store it serves from."""

    app: Any
    client: Any  # starlette.testclient.TestClient
    store_uri: str
    token: str = TOKEN

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    home = tmp_path_factory.mktemp("in_process")
    store_uri = f"sqlite:///{home / 'store.db'}"
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LORIEN_HOME", str(home))
            env.setenv("BENTOML_HOME", str(home / "bentoml"))
            env.setenv("BENTOML_DO_NOT_TRACK", "True")
            env.setenv("LORIEN_STORE", store_uri)
            env.setenv("LORIEN_SERVICE_TOKEN", TOKEN)
            env.setenv("LORIEN_HEALTH_COUNTS_S", "0")  # /health counts again (in the background) each time
            for name in ("LORIEN_LOGS", "LORIEN_MODEL", "LORIEN_REFILL", "LORIEN_REFILL_TRIALS"):
                env.delenv(name, raising=False)

            from starlette.testclient import TestClient

            from lorien.config import open_store
            from lorien.datasets.seed import seed_store
            from lorien.serving.service import LorienService
            from lorien.training.shipped import ensure_shipped_model

            ensure_shipped_model()
            with open_store(store_uri, create=True) as store:
                seed_store(store)
            app = LorienService.to_asgi()
            client = stack.enter_context(TestClient(app))
        yield InProcessService(app=app, client=client, store_uri=store_uri)
